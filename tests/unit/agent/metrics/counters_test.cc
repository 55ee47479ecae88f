// The counter catalog against the datapath's X-macro lists: every entry of every list, valid
// and unique names, and the Collect functions on the counter structs and on a real
// runtime::Worker (built without DPDK ports: no RX queues, no TX queues).
#include "agent/metrics/counters.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "datapath/mptcp/mptcp_config.h"
#include "datapath/net/interface.h"
#include "datapath/runtime/worker.h"
#include "datapath/tcp/socket_api.h"
#include "datapath/tcp/tcp_config.h"
#include "datapath/wire/address.h"

namespace braid::agent::metrics {
namespace {

using ::testing::IsEmpty;

// (metric, reason) -> help, built from the lists themselves, independently of the catalog.
using Expected = std::map<std::pair<std::string, std::string>, std::string>;

std::string Counter(std::string_view subsystem, std::string_view name) {
  return "braid_" + std::string(subsystem) + "_" + std::string(name) + "_total";
}

Expected ExpectedFromLists() {
  Expected e;
  auto add = [&e](std::string metric, std::string reason, std::string help) {
    EXPECT_TRUE(e.emplace(std::make_pair(metric, reason), help).second) << metric << " " << reason;
  };
#define BRAID_NET_COUNTER(x, metric, help) add(Counter("net", metric), "", help);
#include "datapath/net/net_mib.def"
#undef BRAID_NET_COUNTER
#define BRAID_NET_DROP(x, metric, desc) add("braid_net_drops_total", metric, desc);
#include "datapath/net/net_drop.def"
#undef BRAID_NET_DROP
#define BRAID_IO_COUNTER(x, metric, help) add(Counter("io", metric), "", help);
#include "datapath/io/io_mib.def"
#undef BRAID_IO_COUNTER
#define BRAID_IO_DROP(x, metric, desc) add("braid_io_dropped_total", metric, desc);
#include "datapath/io/io_drop.def"
#undef BRAID_IO_DROP
#define BRAID_TCP_BACKEND_COUNTER(x, metric, help) add(Counter("tcp", metric), "", help);
#include "datapath/tcp/native_backend_mib.def"
#undef BRAID_TCP_BACKEND_COUNTER
#define BRAID_TCP_COUNTER(x, metric, help) add(Counter("tcp", "connection_" metric), "", help);
#include "datapath/tcp/tcp_mib.def"
#undef BRAID_TCP_COUNTER
#define BRAID_TCP_LISTENER_COUNTER(x, metric, help) \
  add(Counter("tcp", "listener_" metric), "", help);
#include "datapath/tcp/listener_mib.def"
#undef BRAID_TCP_LISTENER_COUNTER
#define BRAID_SACK_BLOCK_DROP(x, metric, desc) \
  add("braid_tcp_sack_block_drops_total", metric, desc);
#include "datapath/tcp/sack_block_drop.def"
#undef BRAID_SACK_BLOCK_DROP
#define BRAID_TCP_OPTION_DROP(x, metric, desc) add("braid_tcp_option_drops_total", metric, desc);
#include "datapath/wire/tcp_option_drop.def"
#undef BRAID_TCP_OPTION_DROP
#define BRAID_MPTCP_COUNTER(x, metric, help) add(Counter("mptcp", metric), "", help);
#include "datapath/mptcp/mib.def"
#undef BRAID_MPTCP_COUNTER
#define BRAID_MPTCP_OPTION_DROP(x, metric, desc) \
  add("braid_mptcp_option_drops_total", metric, desc);
#include "datapath/wire/mptcp_option_drop.def"
#undef BRAID_MPTCP_OPTION_DROP
#define BRAID_CHANNEL_COUNTER(x, metric, help) add(Counter("channel", metric), "", help);
#include "datapath/channel/service/service_counters.def"
#undef BRAID_CHANNEL_COUNTER
#define BRAID_WIRE_ERROR(x, metric, desc) add("braid_wire_errors_total", metric, desc);
#include "datapath/wire/error.def"
#undef BRAID_WIRE_ERROR
#define BRAID_TIMER(x, metric, help) add(Counter("timer", metric), "", help);
  BRAID_TIMER_WHEEL_COUNTERS(BRAID_TIMER)
#undef BRAID_TIMER
  return e;
}

std::string Key(const CatalogEntry& e) {
  return MetricName(e.subsystem, e.name, e.type) + "{" + std::string(e.reason) + "}";
}
std::string Key(const CounterSample& s) {
  return MetricName(s) + "{" + std::string(s.reason) + "}";
}

std::map<std::string, CatalogEntry> CatalogByKey() {
  std::map<std::string, CatalogEntry> m;
  for (const CatalogEntry& e : Catalog()) m.emplace(Key(e), e);
  return m;
}

// Every sample is a catalog entry, with the catalog's help, type and scale.
void ExpectCataloged(const std::vector<CounterSample>& samples) {
  const std::map<std::string, CatalogEntry> catalog = CatalogByKey();
  for (const CounterSample& s : samples) {
    auto it = catalog.find(Key(s));
    ASSERT_NE(it, catalog.end()) << Key(s);
    EXPECT_EQ(s.help, it->second.help) << Key(s);
    EXPECT_EQ(s.reason_help, it->second.reason_help) << Key(s);
    EXPECT_EQ(s.type, it->second.type) << Key(s);
    EXPECT_EQ(s.scale, it->second.scale) << Key(s);
  }
}

std::map<std::string, uint64_t> Values(const std::vector<CounterSample>& samples) {
  std::map<std::string, uint64_t> m;
  for (const CounterSample& s : samples) EXPECT_TRUE(m.emplace(Key(s), s.value).second) << Key(s);
  return m;
}

TEST(CatalogTest, CoversEveryEntryOfEveryDefList) {
  const Expected expected = ExpectedFromLists();
  std::map<std::pair<std::string, std::string>, const CatalogEntry*> found;
  for (const CatalogEntry& e : Catalog()) {
    found.emplace(std::make_pair(MetricName(e.subsystem, e.name, e.type), std::string(e.reason)),
                  &e);
  }
  for (const auto& [key, help] : expected) {
    auto it = found.find(key);
    ASSERT_NE(it, found.end()) << key.first << "{reason=\"" << key.second << "\"}";
    EXPECT_EQ(key.second.empty() ? it->second->help : it->second->reason_help, help)
        << key.first << " " << key.second;
  }
  // What is not from a .def list or the timer wheel's list: the structs without a list.
  for (const CatalogEntry& e : Catalog()) {
    const auto key = std::make_pair(MetricName(e.subsystem, e.name, e.type), std::string(e.reason));
    if (expected.contains(key)) continue;
    EXPECT_THAT(std::string(e.list), ::testing::AnyOf(::testing::HasSubstr("TcpSocketsCounters"),
                                                      ::testing::HasSubstr("table sizes"),
                                                      ::testing::HasSubstr("WorkerStats")))
        << key.first;
  }
}

TEST(CatalogTest, NamesAreValidAndUnique) {
  const std::regex metric_re("^braid_[a-z0-9_]+$");
  const std::regex reason_re("^[a-z0-9_]+$");
  std::set<std::string> series;
  std::map<std::string, std::tuple<std::string_view, MetricType, bool>> families;
  for (const CatalogEntry& e : Catalog()) {
    const std::string name = MetricName(e.subsystem, e.name, e.type);
    EXPECT_TRUE(std::regex_match(name, metric_re)) << name;
    EXPECT_EQ(name.ends_with("_total"), e.type == MetricType::kCounter) << name;
    EXPECT_FALSE(e.help.empty()) << name;
    EXPECT_FALSE(e.list.empty()) << name;
    EXPECT_GT(e.scale, 0) << name;
    if (!e.reason.empty()) {
      EXPECT_TRUE(std::regex_match(std::string(e.reason), reason_re)) << name << " " << e.reason;
      EXPECT_FALSE(e.reason_help.empty()) << name << " " << e.reason;
    }
    EXPECT_TRUE(series.insert(Key(e)).second) << "duplicate series " << Key(e);
    // A family has one help, one type, and a reason label on all its series or on none.
    auto [it, added] = families.try_emplace(name, e.help, e.type, !e.reason.empty());
    if (!added) {
      EXPECT_EQ(std::get<0>(it->second), e.help) << name;
      EXPECT_EQ(std::get<1>(it->second), e.type) << name;
      EXPECT_EQ(std::get<2>(it->second), !e.reason.empty()) << name;
    }
  }
}

TEST(CatalogTest, MetricNames) {
  EXPECT_EQ(MetricName("net", "drops", MetricType::kCounter), "braid_net_drops_total");
  EXPECT_EQ(MetricName("worker", "busy_ratio", MetricType::kGauge), "braid_worker_busy_ratio");
  CounterSample s{.subsystem = "io", .name = "rx_frames"};
  EXPECT_EQ(MetricName(s), "braid_io_rx_frames_total");
}

// Each Collect function gives its list, in order, with the struct's values.
TEST(CollectTest, ListsCarryTheirValues) {
  net::NetCounters net;
  for (size_t i = 0; i < net.values.size(); ++i) net.values[i] = 100 + i;
  for (size_t i = 0; i < net.drops.size(); ++i) net.drops[i] = 1000 + i;
  std::vector<CounterSample> out;
  CollectNetCounters(net, out);
  ASSERT_EQ(out.size(), net.values.size() + net.drops.size());
  ExpectCataloged(out);
  std::map<std::string, uint64_t> v = Values(out);
  EXPECT_EQ(v["braid_net_rx_frames_total{}"],
            100 + static_cast<size_t>(net::NetCounter::kRxFrames));
  EXPECT_EQ(v["braid_net_drops_total{truncated}"],
            1000 + static_cast<size_t>(net::NetDrop::kTruncated));
  EXPECT_EQ(v["braid_net_drops_total{neighbor_unreachable}"],
            1000 + static_cast<size_t>(net::NetDrop::kNeighborUnreachable));

  io::IoCounters io;
  io.Add(io::IoCounter::kTxChained, 7);
  io.AddDrop(io::IoDrop::kHandoffRingFull, 3);
  out.clear();
  CollectIoCounters(io, out);
  ExpectCataloged(out);
  v = Values(out);
  EXPECT_EQ(v["braid_io_tx_chained_total{}"], 7u);
  EXPECT_EQ(v["braid_io_dropped_total{handoff_ring_full}"], 3u);
  EXPECT_EQ(v["braid_io_dropped_total{tx_no_mbuf}"], 0u);

  tcp::BackendCounters backend;
  backend.Add(tcp::BackendCounter::kTimerStale, 5);
  out.clear();
  CollectBackendCounters(backend, out);
  ExpectCataloged(out);
  EXPECT_EQ(Values(out)["braid_tcp_timer_stale_total{}"], 5u);

  runtime::TcpSocketsCounters sockets;
  sockets.connects = 1;
  sockets.connect_failures = 2;
  sockets.accepted = 3;
  sockets.closed = 4;
  sockets.errors = 5;
  sockets.pmtu_events = 6;
  sockets.icmp_errors = 7;
  sockets.events_unclaimed = 8;
  out.clear();
  CollectTcpSocketsCounters(sockets, out);
  ExpectCataloged(out);
  v = Values(out);
  EXPECT_EQ(v["braid_tcp_sockets_connects_total{}"], 1u);
  EXPECT_EQ(v["braid_tcp_sockets_connect_failures_total{}"], 2u);
  EXPECT_EQ(v["braid_tcp_sockets_accepted_total{}"], 3u);
  EXPECT_EQ(v["braid_tcp_sockets_closed_total{}"], 4u);
  EXPECT_EQ(v["braid_tcp_sockets_errors_total{}"], 5u);
  EXPECT_EQ(v["braid_tcp_sockets_pmtu_events_total{}"], 6u);
  EXPECT_EQ(v["braid_tcp_sockets_icmp_errors_total{}"], 7u);
  EXPECT_EQ(v["braid_tcp_sockets_events_unclaimed_total{}"], 8u);

  mptcp::MptcpCounters mptcp;
  mptcp.Add(mptcp::MptcpCounter::kJoinSynRx, 9);
  out.clear();
  CollectMptcpCounters(mptcp, out);
  ExpectCataloged(out);
  EXPECT_EQ(Values(out)["braid_mptcp_join_syn_rx_total{}"], 9u);

  tcp::TcpCounters conn;
  conn.Add(tcp::TcpCounter::kRtoExpirations, 2);
  out.clear();
  CollectConnectionCounters(conn, out);
  ExpectCataloged(out);
  EXPECT_EQ(Values(out)["braid_tcp_connection_rto_expirations_total{}"], 2u);

  tcp::ListenerCounters listener;
  listener.Add(tcp::ListenerCounter::kCookiesBadMac, 4);
  out.clear();
  CollectListenerCounters(listener, out);
  ExpectCataloged(out);
  EXPECT_EQ(Values(out)["braid_tcp_listener_cookies_bad_mac_total{}"], 4u);

  tcp::SackBlockDrops sack;
  sack.Add(tcp::SackBlockDrop::kTooMany, 2);
  out.clear();
  CollectSackBlockDrops(sack, out);
  ExpectCataloged(out);
  EXPECT_EQ(Values(out)["braid_tcp_sack_block_drops_total{too_many}"], 2u);

  wire::TcpOptionDrops options;
  options.Add(wire::TcpOptionDrop::kDuplicateMss);
  out.clear();
  CollectTcpOptionDrops(options, out);
  ExpectCataloged(out);
  EXPECT_EQ(Values(out)["braid_tcp_option_drops_total{duplicate_mss}"], 1u);

  wire::MptcpOptionDropCounts mptcp_options;
  mptcp_options.Increment(wire::MptcpOptionDrop::kDssBadLength);
  out.clear();
  CollectMptcpOptionDrops(mptcp_options, out);
  ExpectCataloged(out);
  EXPECT_EQ(Values(out)["braid_mptcp_option_drops_total{dss_bad_length}"], 1u);

  channel::ServiceCounters service;
  service.Add(channel::ServiceCounter::kAppsAttached, 3);
  out.clear();
  CollectServiceCounters(service, out);
  ExpectCataloged(out);
  EXPECT_EQ(out.size(), channel::kServiceCounterCount);
  EXPECT_EQ(Values(out)["braid_channel_apps_attached_total{}"], 3u);

  runtime::TimerWheelCounters timers;
  timers.Add(runtime::TimerWheelCounter::kCascaded, 11);
  out.clear();
  CollectTimerWheelCounters(timers, out);
  ExpectCataloged(out);
  EXPECT_EQ(Values(out)["braid_timer_cascaded_total{}"], 11u);
}

TEST(CollectTest, WorkerStatsInBaseUnits) {
  runtime::WorkerStats stats;
  stats.iterations = 400;
  stats.busy_iterations = 100;
  stats.rx_frames = 5;
  stats.tx_frames = 6;
  stats.timers_fired = 7;
  stats.link_changes = 2;
  runtime::IdleStats idle;
  idle.sleeps = 8;
  idle.slept = std::chrono::milliseconds(1500);
  idle.woken = 2;
  idle.sleeps_skipped = 1;
  std::vector<CounterSample> out;
  CollectWorkerStats(stats, idle, std::chrono::milliseconds(2500), out);
  ExpectCataloged(out);
  std::map<std::string, double> exported;
  for (const CounterSample& s : out) exported[Key(s)] = static_cast<double>(s.value) * s.scale;
  EXPECT_EQ(exported["braid_worker_iterations_total{}"], 400);
  EXPECT_EQ(exported["braid_worker_busy_iterations_total{}"], 100);
  EXPECT_EQ(exported["braid_worker_rx_frames_total{}"], 5);
  EXPECT_EQ(exported["braid_worker_tx_frames_total{}"], 6);
  EXPECT_EQ(exported["braid_worker_timers_fired_total{}"], 7);
  EXPECT_EQ(exported["braid_worker_link_changes_total{}"], 2);
  EXPECT_DOUBLE_EQ(exported["braid_worker_cpu_seconds_total{}"], 2.5);
  EXPECT_DOUBLE_EQ(exported["braid_worker_busy_ratio{}"], 0.25);
  EXPECT_EQ(exported["braid_worker_sleeps_total{}"], 8);
  EXPECT_DOUBLE_EQ(exported["braid_worker_sleep_seconds_total{}"], 1.5);
  EXPECT_EQ(exported["braid_worker_sleeps_woken_total{}"], 2);
  EXPECT_EQ(exported["braid_worker_sleeps_skipped_total{}"], 1);

  // No iterations yet: no ratio to divide by.
  out.clear();
  CollectWorkerStats({}, {}, {}, out);
  for (const CounterSample& s : out) EXPECT_EQ(s.value, 0u) << Key(s);
}

class NoopHandler : public tcp::SocketHandler {};

runtime::WorkerConfig TestWorkerConfig() {
  runtime::WorkerConfig config;
  config.id = 3;
  config.mptcp = mptcp::MptcpConfig{};
  return config;
}

// A worker without DPDK ports: no RX queue, no TX queue (what it sends is dropped as
// tx_wrong_port by its WorkerTx), driven by hand.
TEST(CollectWorkerTest, ReadsEveryObjectOfTheWorker) {
  runtime::Worker worker(TestWorkerConfig(), {}, {});
  ASSERT_NE(worker.mptcp(), nullptr);
  const tcp::Instant now = tcp::InstantFromNanos(int64_t{1'000'000} * 1'000'000'000);

  net::InterfaceConfig c;
  c.name = "path0";
  c.port = 0;
  c.mac = wire::MacAddress{{0x02, 0, 0, 0, 0, 1}};
  c.ipv4 = {{wire::Ipv4Address{{192, 0, 2, 1}}, 24}};
  net::InterfaceId id = 0;
  ASSERT_EQ(worker.net().AddInterface(c, &id), net::NetError::kOk);
  ASSERT_EQ(worker.net().SetInterfaceUp(id, true, now), net::NetError::kOk);

  // A frame too short for an Ethernet header.
  const uint8_t runt[4] = {1, 2, 3, 4};
  worker.net().Receive(0, runt, now);
  // A connection: its SYN waits for ARP, whose request goes to a port without a TX queue.
  NoopHandler handler;
  ASSERT_TRUE(worker.sockets()
                  .Connect(wire::IpAddress(wire::Ipv4Address{{192, 0, 2, 2}}), 80, tcp::TcpConfig{},
                           &handler, now)
                  .ok());
  worker.RunOnce(now);
  worker.RunOnce(now + std::chrono::microseconds(1));

  std::vector<CounterSample> out;
  CollectWorkerCounters(worker, out);
  ExpectCataloged(out);
  std::map<std::string, uint64_t> v = Values(out);
  EXPECT_EQ(v["braid_net_rx_frames_total{}"], 1u);
  EXPECT_EQ(v["braid_net_drops_total{truncated}"], 1u);
  EXPECT_EQ(v["braid_net_arp_requests_sent_total{}"], 1u);
  // Every frame the net layer sent (gratuitous ARP, the ARP request) met a port without a TX
  // queue.
  EXPECT_GE(v["braid_net_tx_frames_total{}"], 2u);
  EXPECT_EQ(v["braid_io_dropped_total{tx_wrong_port}"], v["braid_net_tx_frames_total{}"]);
  EXPECT_EQ(v["braid_tcp_connections_opened_total{}"], 1u);
  EXPECT_EQ(v["braid_tcp_sockets_connects_total{}"], 1u);
  EXPECT_EQ(v["braid_tcp_connections{}"], 1u);
  EXPECT_EQ(v["braid_tcp_sockets_open{}"], 1u);
  EXPECT_EQ(v["braid_tcp_time_wait_connections{}"], 0u);
  EXPECT_EQ(v["braid_worker_iterations_total{}"], 2u);
  EXPECT_TRUE(v.contains("braid_mptcp_mp_capable_syn_tx_total{}"));
  // Run has not returned: the CPU time is this thread's, which has certainly used some.
  EXPECT_GT(v["braid_worker_cpu_seconds_total{}"], 0u);

  // Every worker-kept entry of the catalog, and nothing else.
  std::set<std::string> worker_entries;
  for (const CatalogEntry& e : Catalog()) {
    if (e.source == CounterSource::kWorker) worker_entries.insert(Key(e));
  }
  std::set<std::string> collected;
  for (const CounterSample& s : out) collected.insert(Key(s));
  EXPECT_EQ(collected, worker_entries);
}

TEST(CollectWorkerTest, WithoutMptcpHasNoMptcpSeries) {
  runtime::WorkerConfig config;
  runtime::Worker worker(config, {}, {});
  std::vector<CounterSample> out;
  CollectWorkerCounters(worker, out);
  for (const CounterSample& s : out) EXPECT_NE(s.subsystem, "mptcp") << Key(s);
}

// Every catalog entry is produced by exactly one Collect function, except the wire's error codes
// that nothing counts.
TEST(CatalogTest, EveryCountedEntryHasACollectFunction) {
  std::vector<CounterSample> out;
  runtime::Worker worker(TestWorkerConfig(), {}, {});
  CollectWorkerCounters(worker, out);
  CollectServiceCounters({}, out);
  CollectConnectionCounters({}, out);
  CollectListenerCounters({}, out);
  CollectSackBlockDrops({}, out);
  CollectTcpOptionDrops({}, out);
  CollectMptcpOptionDrops({}, out);
  CollectTimerWheelCounters({}, out);
  std::multiset<std::string> collected;
  for (const CounterSample& s : out) collected.insert(Key(s));
  for (const CatalogEntry& e : Catalog()) {
    EXPECT_EQ(collected.count(Key(e)), e.source == CounterSource::kNotCounted ? 0u : 1u)
        << Key(e) << " from " << CounterSourceName(e.source);
  }
  EXPECT_EQ(
      collected.size(), Catalog().size() - [] {
        size_t n = 0;
        for (const CatalogEntry& e : Catalog()) n += e.source == CounterSource::kNotCounted;
        return n;
      }());
}

// agent/metrics/README.md ends with CatalogMarkdown(); BRAID_REGENERATE_DOCS=1 rewrites it.
TEST(CatalogTest, ReadmeListsEveryFamily) {
  const std::string path = BRAID_SOURCE_DIR "/agent/metrics/README.md";
  const std::string marker = "<!-- generated: CatalogMarkdown() in agent/metrics/counters.cc -->\n";
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  std::stringstream text;
  text << in.rdbuf();
  std::string readme = text.str();
  const size_t at = readme.find(marker);
  ASSERT_NE(at, std::string::npos) << "no marker line in " << path;
  const std::string generated = CatalogMarkdown();
  if (std::getenv("BRAID_REGENERATE_DOCS") != nullptr) {
    readme = readme.substr(0, at + marker.size()) + generated;
    std::ofstream(path) << readme;
    return;
  }
  EXPECT_EQ(readme.substr(at + marker.size()), generated)
      << path << " is out of date: run counters_test with BRAID_REGENERATE_DOCS=1";
  for (const CatalogEntry& e : Catalog()) {
    EXPECT_NE(readme.find("`" + MetricName(e.subsystem, e.name, e.type) + "`"), std::string::npos)
        << MetricName(e.subsystem, e.name, e.type);
  }
}

}  // namespace
}  // namespace braid::agent::metrics
