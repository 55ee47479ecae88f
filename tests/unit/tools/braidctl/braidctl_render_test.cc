// What braidctl prints for each answer: the tables' rows and units, counters under their metric
// names, and JSON that protobuf's own parser reads back into the same message.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/util/time_util.h>

#include <chrono>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/braidctl/render.h"

namespace braid::braidctl {
namespace {

using google::protobuf::util::MessageDifferencer;
using google::protobuf::util::TimeUtil;
using ::testing::HasSubstr;
using ::testing::Not;

RenderOptions Options(bool raw = false) {
  return {.raw = raw,
          .now = std::chrono::system_clock::time_point(std::chrono::seconds(1700000600))};
}

v1::GetStatusResponse Status() {
  v1::GetStatusResponse s;
  s.set_version("0.1.0");
  s.set_node_name("node-a");
  *s.mutable_start_time() = TimeUtil::SecondsToTimestamp(1700000000);
  *s.mutable_uptime() = TimeUtil::MillisecondsToDuration(600000);
  s.set_pod_count(2);
  s.set_connection_count(5);
  v1::WorkerStatus* w = s.add_workers();
  w->set_id(0);
  w->set_lcore(3);
  w->set_iterations(2000);
  w->set_busy_iterations(500);
  w->set_rx_frames(77);
  *w->mutable_cpu_time() = TimeUtil::MillisecondsToDuration(1500);
  v1::PathStatus* p = s.add_paths();
  p->set_name("path0");
  p->set_port("0000:3b:02.0");
  p->set_mac("02:00:00:00:00:01");
  p->set_mtu(1500);
  p->add_addresses("192.0.2.2/24");
  p->add_addresses("2001:db8::2/64");
  p->set_ipv4_gateway("192.0.2.1");
  p->set_link_state(v1::LINK_STATE_UP);
  p->set_speed_mbps(25000);
  p->set_full_duplex(true);
  p->mutable_counters()->set_rx_packets(10);
  p->mutable_counters()->set_rx_bytes(3 << 20);
  p->mutable_counters()->set_rx_missed(2);
  p->mutable_counters()->set_rx_no_mbuf(1);
  p = s.add_paths();
  p->set_name("path1");
  p->set_link_state(v1::LINK_STATE_DOWN);
  p->set_vlan(100);
  return s;
}

v1::Subflow Subflow(uint64_t connection, uint32_t id) {
  v1::Subflow s;
  s.set_connection_id(connection);
  s.set_id(id);
  s.set_state(v1::SUBFLOW_STATE_ESTABLISHED);
  s.set_initial(id == 0);
  s.set_backup(id == 1);
  s.mutable_local()->set_address(id == 0 ? "192.0.2.2" : "2001:db8::2");
  s.mutable_local()->set_port(40000 + id);
  s.mutable_remote()->set_address(id == 0 ? "198.51.100.7" : "2001:db8:1::7");
  s.mutable_remote()->set_port(443);
  s.set_path("path" + std::to_string(id));
  s.set_bytes_sent(1572864);
  s.set_bytes_received(100);
  v1::TcpInfo* tcp = s.mutable_tcp();
  tcp->set_state(v1::TCP_STATE_SYN_SENT);
  *tcp->mutable_srtt() = TimeUtil::MicrosecondsToDuration(12345);
  tcp->set_cwnd_bytes(14480);
  (*tcp->mutable_counters())["retransmits"] = 4;
  return s;
}

TEST(BraidctlRenderTest, StatusSummaryWorkersAndPaths) {
  const std::string text = RenderStatus(Status(), Options());
  EXPECT_THAT(text, HasSubstr("version:      0.1.0\n"));
  EXPECT_THAT(text, HasSubstr("node:         node-a\n"));
  EXPECT_THAT(text, HasSubstr("started:      2023-11-14T22:13:20Z\n"));
  EXPECT_THAT(text, HasSubstr("uptime:       10m0s\n"));
  EXPECT_THAT(text, HasSubstr("connections:  5\n"));
  EXPECT_THAT(text, HasSubstr("WORKER  LCORE  ITERATIONS   BUSY  RX FRAMES  TX FRAMES   CPU"));
  EXPECT_THAT(text, HasSubstr("     0      3        2000  25.0%         77          0  1.5s"));
  // Drops add the device's two kinds (ring full, no mbuf); the addresses come last.
  EXPECT_THAT(text, HasSubstr("PATH   LINK   SPEED  RX PACKETS  RX BYTES  TX PACKETS  TX BYTES  "
                              "DROPS  ERRORS  ADDRESSES\n"
                              "path0  up    25Gb/s          10   3.0 MiB           0       0 B  "
                              "    3       0  192.0.2.2/24,2001:db8::2/64\n"
                              "path1  down       -           0       0 B           0       0 B  "
                              "    0       0  -\n"));
  EXPECT_THAT(RenderStatus(Status(), Options(/*raw=*/true)), HasSubstr("3145728"));
}

TEST(BraidctlRenderTest, PathsShowEveryField) {
  const std::string text = RenderPaths(Status().paths(), Options());
  EXPECT_THAT(text,
              HasSubstr("PATH   PORT          MAC                LINK   SPEED  DUPLEX  AUTONEG"));
  EXPECT_THAT(text, HasSubstr("path0  0000:3b:02.0  02:00:00:00:00:01  up    25Gb/s  full    off"));
  EXPECT_THAT(text, HasSubstr("192.0.2.1  192.0.2.2/24,2001:db8::2/64\n"));
  // A down link's duplex and autonegotiation mean nothing; no VLAN shows as "-".
  EXPECT_THAT(text, HasSubstr("path1  -             -                  down       -  -       -"));
  EXPECT_THAT(text, HasSubstr(" 100 "));
}

TEST(BraidctlRenderTest, SubflowsWithUnitsAndTcpState) {
  google::protobuf::RepeatedPtrField<v1::Subflow> subflows;
  *subflows.Add() = Subflow(42, 0);
  *subflows.Add() = Subflow(42, 1);
  v1::Subflow gone = Subflow(42, 2);
  gone.clear_tcp();
  gone.set_state(v1::SUBFLOW_STATE_CLOSED);
  gone.set_stale(true);
  *subflows.Add() = gone;
  const std::string text = RenderSubflows(subflows, Options());
  EXPECT_THAT(text, HasSubstr("CONN  ID  STATE        FLAGS    LOCAL                REMOTE       "
                              "        PATH   TCP       RTT(ms)      CWND     SENT  RECEIVED  "
                              "RETRANS\n"));
  EXPECT_THAT(text, HasSubstr("  42   0  established  initial  192.0.2.2:40000      "
                              "198.51.100.7:443     path0  SYN-SENT    12.35  14.1 KiB  1.5 MiB"
                              "     100 B        4\n"));
  EXPECT_THAT(text, HasSubstr("  42   1  established  backup   [2001:db8::2]:40001"));
  EXPECT_THAT(text, HasSubstr("  42   2  closed       stale"));
  EXPECT_THAT(text, HasSubstr("path2  -               -         -  1.5 MiB     100 B        -\n"))
      << "no TCP state once the subflow's TCP connection is gone";
  EXPECT_THAT(RenderSubflows(subflows, Options(/*raw=*/true)),
              HasSubstr("12.35  14480  1572864       100        4"));
}

TEST(BraidctlRenderTest, ConnectionsAndTheirSubflows) {
  v1::ListConnectionsResponse response;
  v1::Connection* c = response.add_connections();
  c->set_id(42);
  c->set_worker(1);
  c->mutable_pod()->set_namespace_("default");
  c->mutable_pod()->set_name("web-0");
  c->set_role(v1::CONNECTION_ROLE_CLIENT);
  c->mutable_local()->set_address("192.0.2.2");
  c->mutable_local()->set_port(40000);
  c->mutable_remote()->set_address("198.51.100.7");
  c->mutable_remote()->set_port(443);
  c->set_fully_established(true);
  c->set_subflow_count(2);
  c->set_scheduler("blest");
  c->set_bytes_sent(2048);
  *c->add_subflows() = Subflow(42, 0);
  c = response.add_connections();
  c->set_id(43);
  c->set_fallback(true);
  c->set_role(v1::CONNECTION_ROLE_SERVER);

  const std::string plain = RenderConnections(response, false, Options());
  EXPECT_THAT(plain, HasSubstr("ID  WORKER  POD            ROLE    LOCAL            REMOTE"));
  EXPECT_THAT(plain, HasSubstr("42       1  default/web-0  client  192.0.2.2:40000  "
                               "198.51.100.7:443  established         2  blest      2.0 KiB"));
  EXPECT_THAT(plain, HasSubstr("43       0  -              server  -                -"
                               "                 fallback"));
  EXPECT_THAT(plain, Not(HasSubstr("CONN")));
  const std::string with_subflows = RenderConnections(response, true, Options());
  EXPECT_THAT(with_subflows, HasSubstr("\nCONN  ID  STATE"));
  EXPECT_THAT(with_subflows, HasSubstr("  42   0  established  initial"));
}

TEST(BraidctlRenderTest, PodsWithAgeAndAddressesLast) {
  v1::ListPodsResponse response;
  v1::Pod* pod = response.add_pods();
  pod->mutable_pod()->set_namespace_("default");
  pod->mutable_pod()->set_name("web-0");
  pod->set_ifname("eth0");
  pod->mutable_options()->set_scheduler("blest");
  pod->set_app_count(1);
  pod->set_connection_count(3);
  *pod->mutable_attach_time() = TimeUtil::SecondsToTimestamp(1700000000);
  v1::PathIpConfig* path = pod->add_paths();
  path->set_path("path0");
  path->add_ips()->set_address("10.10.0.2/24");
  path->add_ips()->set_address("fd00:10::2/64");
  path = pod->add_paths();
  path->set_path("path1");
  path->add_ips()->set_address("10.20.0.2/24");
  EXPECT_EQ(RenderPods(response, Options()),
            "NAMESPACE  NAME   IFNAME  SCHEDULER  APPS  ENDPOINTS  CONNECTIONS    AGE  ADDRESSES\n"
            "default    web-0  eth0    blest         1          0            3  10m0s  "
            "path0=10.10.0.2/24,fd00:10::2/64 path1=10.20.0.2/24\n");
}

TEST(BraidctlRenderTest, CountersByMetricNameZerosOnlyWhenAsked) {
  v1::ListCountersResponse response;
  v1::Counter* c = response.add_counters();
  c->set_subsystem("mptcp");
  c->set_name("mp_capable_syn_tx");
  c->set_value(7);
  c->set_help("MP_CAPABLE SYNs sent");
  c->set_worker(0);
  c = response.add_counters();
  c->set_subsystem("net");
  c->set_name("drops");
  c->set_reason("truncated");
  c->set_value(0);
  c->set_help("frames dropped");
  EXPECT_EQ(CounterMetricName(response.counters(1)), "braid_net_drops_total{reason=\"truncated\"}");

  EXPECT_EQ(RenderCounters(response, false, false),
            "COUNTER                              VALUE  HELP\n"
            "braid_mptcp_mp_capable_syn_tx_total      7  MP_CAPABLE SYNs sent\n");
  const std::string all = RenderCounters(response, true, true);
  EXPECT_EQ(all,
            "COUNTER                                    WORKER  VALUE  HELP\n"
            "braid_mptcp_mp_capable_syn_tx_total             0      7  MP_CAPABLE SYNs sent\n"
            "braid_net_drops_total{reason=\"truncated\"}     all      0  frames dropped\n");
}

TEST(BraidctlRenderTest, JsonReadsBackIntoTheSameMessage) {
  const v1::GetStatusResponse status = Status();
  absl::StatusOr<std::string> json = ToJson(status);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(json->back(), '\n');
  // Zeros are printed too, and enums by name.
  EXPECT_THAT(*json, HasSubstr("\"txFrames\": \"0\""));
  EXPECT_THAT(*json, HasSubstr("\"linkState\": \"LINK_STATE_DOWN\""));
  v1::GetStatusResponse back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*json, &back).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(back, status)) << back.DebugString();

  absl::StatusOr<std::string> paths = PathsJson(status);
  ASSERT_TRUE(paths.ok()) << paths.status();
  v1::GetStatusResponse only_paths;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*paths, &only_paths).ok()) << *paths;
  EXPECT_EQ(only_paths.version(), "");
  ASSERT_EQ(only_paths.paths_size(), 2);
  EXPECT_TRUE(MessageDifferencer::Equals(only_paths.paths(0), status.paths(0)));
  EXPECT_TRUE(MessageDifferencer::Equals(only_paths.paths(1), status.paths(1)));
  EXPECT_THAT(*paths, ::testing::StartsWith("{\n \"paths\": [\n  {\n   \"name\": \"path0\",\n"))
      << "fields in the order of the proto, indented as protobuf indents";
  EXPECT_EQ(*PathsJson(v1::GetStatusResponse()), "{\n \"paths\": []\n}\n");

  absl::StatusOr<std::string> version = VersionJson("0.1.0", &status);
  ASSERT_TRUE(version.ok());
  google::protobuf::Struct parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*version, &parsed).ok()) << *version;
  EXPECT_EQ(parsed.fields().at("client").struct_value().fields().at("version").string_value(),
            "0.1.0");
  EXPECT_EQ(parsed.fields().at("agent").struct_value().fields().at("nodeName").string_value(),
            "node-a");
  EXPECT_EQ(*version,
            "{\n \"client\": {\n  \"version\": \"0.1.0\"\n },\n \"agent\": {\n  \"version\": "
            "\"0.1.0\",\n  \"nodeName\": \"node-a\"\n }\n}\n");
  v1::GetStatusResponse odd;
  odd.set_node_name("a\"b\\c\n");
  version = VersionJson("0.1.0", &odd);
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*version, &parsed).ok()) << *version;
  EXPECT_EQ(parsed.fields().at("agent").struct_value().fields().at("nodeName").string_value(),
            "a\"b\\c\n")
      << "escaped";
  version = VersionJson("0.1.0", nullptr);
  ASSERT_TRUE(version.ok());
  EXPECT_THAT(*version, Not(HasSubstr("agent")));
}

TEST(BraidctlRenderTest, LogLevelsAndPodNames) {
  EXPECT_EQ(LogLevelName(v1::LOG_LEVEL_WARNING), "warning");
  EXPECT_EQ(LogLevelName(v1::LOG_LEVEL_UNSPECIFIED), "-");
  v1::PodRef pod;
  EXPECT_EQ(PodName(pod), "-");
  pod.set_namespace_("a");
  pod.set_name("b");
  EXPECT_EQ(PodName(pod), "a/b");
}

}  // namespace
}  // namespace braid::braidctl
