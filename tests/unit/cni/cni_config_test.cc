// cni/config.h: the network configuration, every error with the key it names, and host-local's
// configuration built from the paths.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cni/config.h"
#include "cni/error.h"

namespace braid::cni {
namespace {

constexpr char kBase[] = R"({
  "cniVersion": "1.1.0", "name": "braid", "type": "braid-cni",
  "paths": [
    {"name": "path0",
     "ranges": [{"subnet": "10.10.0.0/24", "gateway": "10.10.0.1",
                 "rangeStart": "10.10.0.10", "rangeEnd": "10.10.0.99"},
                {"subnet": "fd00:10::/64"},
                {"subnet": "10.11.0.0/24"}],
     "routes": [{"dst": "0.0.0.0/0"}, {"dst": "fd00:99::/64", "gw": "fd00:10::fe"}]},
    {"name": "path1", "ranges": [{"subnet": "10.20.0.0/24"}]}],
  "ipam": {"type": "host-local", "dataDir": "/run/braid/ipam", "resolvConf": "/etc/resolv.conf"}
})";

// kBase with `key` set to `json` (or removed when `json` is empty).
JsonValue With(std::string_view key, std::string_view json) {
  JsonValue config = *ParseJson(kBase);
  if (json.empty()) {
    config.mutable_struct_value()->mutable_fields()->erase(std::string(key));
  } else {
    SetField(config, key, *ParseJson(json));
  }
  return config;
}

std::string ErrorOf(const JsonValue& config, Command command = Command::kAdd) {
  const absl::StatusOr<NetworkConfig> parsed = ParseNetworkConfig(config, command, "1.1.0");
  if (parsed.ok()) return "ok";
  const CniError error = ToCniError(parsed.status());
  return std::to_string(error.code) + " " + error.msg;
}

TEST(ConfigTest, ReadsEveryKey) {
  JsonValue config = *ParseJson(kBase);
  SetField(config, "agentSocket", JsonString("/run/other/agent.sock"));
  SetField(config, "timeoutSeconds", JsonNumber(2.5));
  SetField(config, "args", *ParseJson(R"({"cni": {"scheduler": "blest"}})"));
  SetField(config, "prevResult", *ParseJson(R"({"cniVersion": "1.1.0", "ips": []})"));
  const absl::StatusOr<NetworkConfig> parsed = ParseNetworkConfig(config, Command::kAdd, "1.0.0");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->cni_version, "1.0.0");
  EXPECT_EQ(parsed->name, "braid");
  EXPECT_EQ(parsed->agent_socket, "/run/other/agent.sock");
  EXPECT_EQ(parsed->agent_timeout, std::chrono::milliseconds(2500));
  ASSERT_EQ(parsed->paths.size(), 2);
  const PathConfig& path0 = parsed->paths[0];
  EXPECT_EQ(path0.name, "path0");
  ASSERT_EQ(path0.ranges.size(), 3);
  EXPECT_EQ(path0.ranges[0].subnet.ToString(), "10.10.0.0/24");
  EXPECT_EQ(path0.ranges[0].gateway->ToString(), "10.10.0.1");
  EXPECT_EQ(path0.ranges[0].range_start->ToString(), "10.10.0.10");
  EXPECT_EQ(path0.ranges[0].range_end->ToString(), "10.10.0.99");
  EXPECT_FALSE(path0.ranges[1].gateway);
  ASSERT_EQ(path0.routes.size(), 2);
  EXPECT_EQ(path0.routes[0].dst.ToString(), "0.0.0.0/0");
  EXPECT_FALSE(path0.routes[0].gw);
  EXPECT_EQ(path0.routes[1].gw->ToString(), "fd00:10::fe");
  EXPECT_EQ(parsed->options.size(), 1);
  ASSERT_TRUE(parsed->prev_result);
  EXPECT_EQ(WriteJson(parsed->ipam),
            R"({"dataDir":"/run/braid/ipam","resolvConf":"/etc/resolv.conf","type":"host-local"})");
}

TEST(ConfigTest, Defaults) {
  const absl::StatusOr<NetworkConfig> parsed =
      ParseNetworkConfig(*ParseJson(kBase), Command::kDel, "1.1.0");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->agent_socket, "/run/braid/agent.sock");
  EXPECT_EQ(parsed->agent_timeout, std::chrono::seconds(10));
  EXPECT_FALSE(parsed->prev_result);
  // Options are read for ADD only: a bad one does not keep DEL from cleaning up.
  EXPECT_EQ(ErrorOf(With("args", R"({"cni": {"paths": [1]}})"), Command::kDel), "ok");
}

TEST(ConfigTest, HostLocalGetsOneRangeSetPerPathAndFamily) {
  const absl::StatusOr<NetworkConfig> parsed =
      ParseNetworkConfig(*ParseJson(kBase), Command::kAdd, "1.1.0");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(WriteJson(HostLocalConfig(*parsed, "1.0.0")),
            R"({"cniVersion":"1.0.0","name":"braid","ipam":{"dataDir":"/run/braid/ipam",)"
            R"("ranges":[[{"subnet":"10.10.0.0/24","rangeStart":"10.10.0.10",)"
            R"("rangeEnd":"10.10.0.99","gateway":"10.10.0.1"},{"subnet":"10.11.0.0/24"}],)"
            R"([{"subnet":"fd00:10::/64"}],[{"subnet":"10.20.0.0/24"}]],)"
            R"("resolvConf":"/etc/resolv.conf","type":"host-local"}})");
  EXPECT_EQ(PathOfAddress(*parsed, *IpAddress::Parse("10.11.0.7")), 0);
  EXPECT_EQ(PathOfAddress(*parsed, *IpAddress::Parse("fd00:10::7")), 0);
  EXPECT_EQ(PathOfAddress(*parsed, *IpAddress::Parse("10.20.0.7")), 1);
  EXPECT_FALSE(PathOfAddress(*parsed, *IpAddress::Parse("10.30.0.7")));
}

TEST(ConfigTest, EveryErrorNamesItsKey) {
  const auto path0 = [](std::string_view inner) {
    return R"([{"name": "path0", )" + std::string(inner) + "}]";
  };
  const struct {
    JsonValue config;
    std::string error;
  } cases[] = {
      {*ParseJson("[]"), "6 network configuration: expected a JSON object, got a list"},
      {With("name", ""), "7 name: missing"},
      {With("name", "5"), "7 name: expected a string, got a number"},
      {With("name", R"("my net")"),
       "7 name: \"my net\" must start with a letter or a digit, then letters, digits, '_', '.' "
       "and '-'"},
      {With("agentSocket", R"("run/agent.sock")"),
       "7 agentSocket: \"run/agent.sock\" is not an absolute path"},
      {With("timeoutSeconds", "0"), "7 timeoutSeconds: 0 is outside (0, 300]"},
      {With("timeoutSeconds", "301"), "7 timeoutSeconds: 301 is outside (0, 300]"},
      {With("timeoutSeconds", R"("10")"), "7 timeoutSeconds: expected a number, got a string"},
      {With("paths", ""), "7 paths: missing (braid-cni needs at least one path)"},
      {With("paths", "[]"), "7 paths: missing (braid-cni needs at least one path)"},
      {With("paths", R"({"path0": {}})"), "7 paths: expected a list, got an object"},
      {With("paths", "[1]"), "7 paths[0]: expected an object, got a number"},
      {With("paths", R"([{"ranges": [{"subnet": "10.0.0.0/24"}]}])"), "7 paths[0].name: missing"},
      {With("paths", R"([{"name": "a,b", "ranges": []}])"),
       "7 paths[0].name: \"a,b\" must start with a letter or a digit, then letters, digits, '_', "
       "'.' and '-'"},
      {With("paths", R"([{"name": "p", "ranges": [{"subnet": "10.0.0.0/24"}]},
                         {"name": "p", "ranges": [{"subnet": "10.1.0.0/24"}]}])"),
       "7 paths[1].name: \"p\" names two paths"},
      {With("paths", R"([{"name": "p", "ranges": [{"subnet": "10.0.0.0/24"}], "mtu": 9000}])"),
       "7 paths[0].mtu: unknown key (expected one of: name, ranges, routes)"},
      {With("paths", path0(R"("ranges": [])")),
       "7 paths[0].ranges: missing (a path needs at least one range)"},
      {With("paths", path0(R"("ranges": [{"subnett": "10.0.0.0/24"}])")),
       "7 paths[0].ranges[0].subnett: unknown key (expected one of: subnet, gateway, rangeStart, "
       "rangeEnd)"},
      {With("paths", path0(R"("ranges": [{"gateway": "10.0.0.1"}])")),
       "7 paths[0].ranges[0].subnet: missing"},
      {With("paths", path0(R"("ranges": [{"subnet": "10.0.0.0"}])")),
       "7 paths[0].ranges[0].subnet: \"10.0.0.0\" is not an address with a prefix length (CIDR)"},
      {With("paths", path0(R"("ranges": [{"subnet": "10.0.0.5/24"}])")),
       "7 paths[0].ranges[0].subnet: \"10.0.0.5/24\" has host bits set; the network is "
       "10.0.0.0/24"},
      {With("paths", path0(R"("ranges": [{"subnet": "10.0.0.0/31"}])")),
       "7 paths[0].ranges[0].subnet: \"10.0.0.0/31\" is too small to allocate from (at most /30)"},
      {With("paths", path0(R"("ranges": [{"subnet": "10.0.0.0/24", "gateway": "10.0.1.1"}])")),
       "7 paths[0].ranges[0].gateway: \"10.0.1.1\" is outside the subnet 10.0.0.0/24"},
      {With("paths", path0(R"("ranges": [{"subnet": "10.0.0.0/24", "gateway": "gw"}])")),
       "7 paths[0].ranges[0].gateway: \"gw\" is not an IP address"},
      {With("paths", path0(R"("ranges": [{"subnet": "10.0.0.0/24", "rangeStart": "fd00::1"}])")),
       "7 paths[0].ranges[0].rangeStart: \"fd00::1\" is outside the subnet 10.0.0.0/24"},
      {With("paths", path0(R"("ranges": [{"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.9",
                                          "rangeEnd": "10.0.0.8"}])")),
       "7 paths[0].ranges[0].rangeEnd: \"10.0.0.8\" is before rangeStart \"10.0.0.9\""},
      {With("paths", R"([{"name": "a", "ranges": [{"subnet": "10.0.0.0/16"}]},
                         {"name": "b", "ranges": [{"subnet": "10.0.4.0/24"}]}])"),
       "7 paths[1].ranges[0].subnet: \"10.0.4.0/24\" overlaps paths[0].ranges[0].subnet "
       "\"10.0.0.0/16\""},
      {With("paths", path0(R"("ranges": [{"subnet": "10.0.0.0/24"}], "routes": {})")),
       "7 paths[0].routes: expected a list, got an object"},
      {With("paths",
            path0(R"("ranges": [{"subnet": "10.0.0.0/24"}], "routes": [{"gw": "10.0.0.1"}])")),
       "7 paths[0].routes[0].dst: missing"},
      {With("paths", path0(R"("ranges": [{"subnet": "10.0.0.0/24"}],
                              "routes": [{"dst": "0.0.0.0/0", "via": "10.0.0.1"}])")),
       "7 paths[0].routes[0].via: unknown key (expected one of: dst, gw)"},
      {With("paths", path0(R"("ranges": [{"subnet": "10.0.0.0/24"}],
                              "routes": [{"dst": "0.0.0.0/0", "gw": "fd00::1"}])")),
       "7 paths[0].routes[0].gw: \"fd00::1\" is IPv6 but dst is IPv4"},
      {With("paths",
            path0(R"("ranges": [{"subnet": "10.0.0.0/24"}], "routes": [{"dst": "::/0"}])")),
       "7 paths[0].routes[0].dst: IPv6 route, but path \"path0\" has no IPv6 range"},
      {With("ipam", ""),
       "7 ipam: missing (braid-cni delegates IPAM to host-local: {\"type\": \"host-local\"})"},
      {With("ipam", R"("host-local")"), "7 ipam: expected an object, got a string"},
      {With("ipam", "{}"), "7 ipam.type: missing"},
      {With("ipam", R"({"type": "whereabouts"})"),
       "7 ipam.type: \"whereabouts\" is not supported: braid-cni delegates IPAM to host-local "
       "only"},
      {With("ipam", R"({"type": "host-local", "ranges": []})"),
       "7 ipam.ranges: set by braid-cni from paths[] (ranges and routes per path); remove it"},
      {With("ipam", R"({"type": "host-local", "subnet": "10.0.0.0/24"})"),
       "7 ipam.subnet: set by braid-cni from paths[] (ranges and routes per path); remove it"},
      {With("ipam", R"({"type": "host-local", "dataDir": 1})"),
       "7 ipam.dataDir: expected a string, got a number"},
      {With("prevResult", "[]"), "7 prevResult: expected an object, got a list"},
  };
  for (const auto& c : cases) EXPECT_EQ(ErrorOf(c.config), c.error) << WriteJson(c.config);
}

TEST(ConfigTest, CheckNeedsPrevResult) {
  EXPECT_EQ(ErrorOf(*ParseJson(kBase), Command::kCheck),
            "7 prevResult: missing (CHECK checks the result of the ADD)");
  EXPECT_EQ(ErrorOf(With("prevResult", R"({"cniVersion": "1.1.0"})"), Command::kCheck), "ok");
}

TEST(ConfigTest, GcNeedsTheValidAttachments) {
  EXPECT_EQ(ErrorOf(*ParseJson(kBase), Command::kGc),
            "7 cni.dev/valid-attachments: missing (GC needs the attachments to keep; an empty "
            "list keeps none)");
  const absl::StatusOr<NetworkConfig> parsed = ParseNetworkConfig(
      With("cni.dev/valid-attachments",
           R"([{"containerID": "c1", "ifname": "eth0"}, {"containerID": "c2", "ifname": "net1"}])"),
      Command::kGc, "1.1.0");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->valid_attachments.size(), 2);
  EXPECT_EQ(parsed->valid_attachments[1].container_id(), "c2");
  EXPECT_EQ(parsed->valid_attachments[1].ifname(), "net1");
  // libcni's draft name for the same list.
  EXPECT_EQ(ErrorOf(With("cni.dev/attachments", "[]"), Command::kGc), "ok");
  EXPECT_EQ(ErrorOf(With("cni.dev/valid-attachments", "{}"), Command::kGc),
            "7 cni.dev/valid-attachments: expected a list, got an object");
  EXPECT_EQ(ErrorOf(With("cni.dev/valid-attachments", R"(["c1"])"), Command::kGc),
            "7 cni.dev/valid-attachments[0]: expected an object, got a string");
  EXPECT_EQ(ErrorOf(With("cni.dev/valid-attachments", R"([{"containerID": "c1"}])"), Command::kGc),
            "7 cni.dev/valid-attachments[0].ifname: missing");
}

}  // namespace
}  // namespace braid::cni
