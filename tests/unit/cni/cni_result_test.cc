// cni/result.h: host-local's addresses split by path, the ADD result in each spec version,
// chained mode's prevResult merged in front, and the attachment read back for CHECK.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cni/error.h"
#include "cni/result.h"

namespace braid::cni {
namespace {

NetworkConfig Config(std::string_view version, std::string_view prev_result = "") {
  JsonValue config = *ParseJson(R"({
    "cniVersion": "1.1.0", "name": "braid",
    "paths": [
      {"name": "path0", "ranges": [{"subnet": "10.10.0.0/24"}, {"subnet": "fd00:10::/64"}],
       "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]},
      {"name": "path1", "ranges": [{"subnet": "10.20.0.0/24"}],
       "routes": [{"dst": "192.0.2.0/24", "gw": "10.20.0.254"}]}],
    "ipam": {"type": "host-local"}})");
  if (!prev_result.empty()) SetField(config, "prevResult", *ParseJson(prev_result));
  absl::StatusOr<NetworkConfig> parsed = ParseNetworkConfig(config, Command::kAdd, version);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return *parsed;
}

CniEnv Env() {
  CniEnv env;
  env.command = Command::kAdd;
  env.container_id = "c1";
  env.ifname = "eth0";
  env.netns = "/var/run/netns/pod";
  return env;
}

// What host-local answered in 0.4.0 and 1.0.0 (with its default gateways).
constexpr char kHostLocal040[] = R"({"cniVersion": "0.4.0", "ips": [
    {"version": "4", "address": "10.10.0.2/24", "gateway": "10.10.0.1"},
    {"version": "6", "address": "fd00:10:0:0::2/64", "gateway": "fd00:10::1"},
    {"version": "4", "address": "10.20.0.2/24", "gateway": "10.20.0.1"}],
  "dns": {"nameservers": ["10.10.0.53"]}})";

std::string Split(const NetworkConfig& config, std::string_view host_local) {
  const absl::StatusOr<std::vector<v1::PathIpConfig>> paths =
      SplitByPath(config, *ParseJson(host_local));
  if (!paths.ok()) {
    const CniError error = ToCniError(paths.status());
    return "error " + std::to_string(error.code) + ": " + error.msg;
  }
  std::string out;
  for (const v1::PathIpConfig& path : *paths) {
    out += path.path() + ":";
    for (const v1::IpAddressConfig& ip : path.ips())
      out += " " + ip.address() + " via " + ip.gateway();
    for (const v1::Route& route : path.routes()) {
      out += " route " + route.destination() +
             (route.gateway().empty() ? "" : " gw " + route.gateway());
    }
    out += ";";
  }
  return out;
}

v1::CniAddResponse Response(const NetworkConfig& config) {
  v1::CniAddResponse response;
  response.set_socket_path("@braid/node");
  const absl::StatusOr<std::vector<v1::PathIpConfig>> paths =
      SplitByPath(config, *ParseJson(kHostLocal040));
  EXPECT_TRUE(paths.ok()) << paths.status();
  for (const v1::PathIpConfig& path : *paths) *response.add_paths() = path;
  return response;
}

TEST(ResultTest, SplitsHostLocalsAddressesByPath) {
  const std::string expected =
      "path0: 10.10.0.2/24 via 10.10.0.1 fd00:10::2/64 via fd00:10::1 route 0.0.0.0/0 route ::/0;"
      "path1: 10.20.0.2/24 via 10.20.0.1 route 192.0.2.0/24 gw 10.20.0.254;";
  EXPECT_EQ(Split(Config("1.1.0"), kHostLocal040), expected);
  EXPECT_EQ(Split(Config("1.1.0"), R"({"cniVersion": "1.0.0", "ips": [
      {"address": "10.20.0.2/24", "gateway": "10.20.0.1"},
      {"address": "10.10.0.2/24", "gateway": "10.10.0.1"},
      {"address": "fd00:10::2/64", "gateway": "fd00:10::1"}]})"),
            expected)
      << "the subnet, not the position, decides the path";
}

TEST(ResultTest, HostLocalAddressesMustFitThePaths) {
  EXPECT_EQ(Split(Config("1.1.0"), R"({"ips": [{"address": "10.10.0.2/24"},
      {"address": "10.20.0.2/24"}, {"address": "172.16.0.2/24"}]})"),
            "error 5: host-local's result: ips[2].address: \"172.16.0.2/24\" is in none of the "
            "paths' ranges");
  EXPECT_EQ(Split(Config("1.1.0"), R"({"ips": [{"address": "10.10.0.2"}]})"),
            "error 5: host-local's result: ips[0].address: \"10.10.0.2\" is not an address with a "
            "prefix length");
  EXPECT_EQ(Split(Config("1.1.0"), R"({"ips": [{"address": "10.10.0.2/24"}]})"),
            "error 5: host-local's result: no address for path \"path1\"");
  EXPECT_EQ(Split(Config("1.1.0"), R"({"dns": {}})"),
            "error 5: host-local's result: no address for path \"path0\"");
}

TEST(ResultTest, AddResultPerVersion) {
  const std::string ips = R"({"address":"10.10.0.2/24","gateway":"10.10.0.1","interface":0},)"
                          R"({"address":"fd00:10::2/64","gateway":"fd00:10::1","interface":0},)"
                          R"({"address":"10.20.0.2/24","gateway":"10.20.0.1","interface":0}],)";
  const std::string routes =
      R"("routes":[{"dst":"0.0.0.0/0","gw":"10.10.0.1"},{"dst":"::/0","gw":"fd00:10::1"},)"
      R"({"dst":"192.0.2.0/24","gw":"10.20.0.254"}],"dns":{"nameservers":["10.10.0.53"]}})";
  const JsonValue dns = *ParseJson(R"({"nameservers": ["10.10.0.53"]})");
  for (const char* version : {"1.0.0", "1.1.0"}) {
    const NetworkConfig config = Config(version);
    const std::string socket =
        std::string(version) == "1.1.0" ? R"(,"socketPath":"@braid/node")" : "";
    EXPECT_EQ(WriteJson(BuildAddResult(config, Env(), Response(config), &dns)),
              R"({"cniVersion":")" + std::string(version) +
                  R"(","interfaces":[{"name":"eth0","sandbox":"/var/run/netns/pod")" + socket +
                  R"(}],"ips":[)" + ips + routes);
  }
  for (const char* version : {"0.3.0", "0.3.1", "0.4.0"}) {
    const NetworkConfig config = Config(version);
    EXPECT_EQ(
        WriteJson(BuildAddResult(config, Env(), Response(config), &dns)),
        R"({"cniVersion":")" + std::string(version) +
            R"(","interfaces":[{"name":"eth0","sandbox":"/var/run/netns/pod"}],"ips":[)"
            R"({"version":"4","address":"10.10.0.2/24","gateway":"10.10.0.1","interface":0},)"
            R"({"version":"6","address":"fd00:10::2/64","gateway":"fd00:10::1","interface":0},)"
            R"({"version":"4","address":"10.20.0.2/24","gateway":"10.20.0.1","interface":0}],)" +
            routes);
  }
  // No dns from host-local (or an empty one): none in the result.
  const NetworkConfig config = Config("1.1.0");
  const JsonValue empty = JsonObject();
  EXPECT_EQ(FindField(BuildAddResult(config, Env(), Response(config), &empty), "dns"), nullptr);
  EXPECT_EQ(FindField(BuildAddResult(config, Env(), Response(config), nullptr), "dns"), nullptr);
}

constexpr char kPrevResult040[] = R"({"cniVersion": "0.4.0",
  "interfaces": [{"name": "cni0", "mac": "aa:bb:cc:dd:ee:01"},
                 {"name": "eth0", "mac": "aa:bb:cc:dd:ee:02", "sandbox": "/var/run/netns/pod"}],
  "ips": [{"version": "4", "address": "10.99.0.5/24", "gateway": "10.99.0.1", "interface": 1}],
  "routes": [{"dst": "0.0.0.0/0", "gw": "10.99.0.1"}],
  "dns": {"search": ["cluster.local"]}})";

TEST(ResultTest, ChainedModeAppendsToPrevResult) {
  const NetworkConfig config = Config("1.0.0", kPrevResult040);
  const JsonValue ipam_dns = *ParseJson(R"({"nameservers": ["10.10.0.53"]})");
  const JsonValue result = BuildAddResult(config, Env(), Response(config), &ipam_dns);
  EXPECT_EQ(
      WriteJson(result),
      R"({"cniVersion":"1.0.0","interfaces":[{"name":"cni0","mac":"aa:bb:cc:dd:ee:01"},)"
      R"({"name":"eth0","mac":"aa:bb:cc:dd:ee:02","sandbox":"/var/run/netns/pod"},)"
      R"({"name":"eth0","sandbox":"/var/run/netns/pod"}],"ips":[)"
      R"({"address":"10.99.0.5/24","gateway":"10.99.0.1","interface":1},)"
      R"({"address":"10.10.0.2/24","gateway":"10.10.0.1","interface":2},)"
      R"({"address":"fd00:10::2/64","gateway":"fd00:10::1","interface":2},)"
      R"({"address":"10.20.0.2/24","gateway":"10.20.0.1","interface":2}],)"
      R"("routes":[{"dst":"0.0.0.0/0","gw":"10.99.0.1"},{"dst":"0.0.0.0/0","gw":"10.10.0.1"},)"
      R"({"dst":"::/0","gw":"fd00:10::1"},{"dst":"192.0.2.0/24","gw":"10.20.0.254"}],)"
      R"("dns":{"search":["cluster.local"]}})");

  // A 1.0.0 prevResult answered in 0.4.0 gets ips[].version.
  const NetworkConfig old = Config("0.4.0", R"({"cniVersion": "1.0.0",
      "interfaces": [{"name": "lo", "sandbox": "/var/run/netns/pod"}],
      "ips": [{"address": "::1/128", "interface": 0}]})");
  const JsonValue converted = BuildAddResult(old, Env(), Response(old), nullptr);
  EXPECT_EQ(WriteJson(converted.struct_value().fields().at("ips").list_value().values(0)),
            R"({"version":"6","address":"::1/128","interface":0})");
}

std::string FromPrev(const NetworkConfig& config, const CniEnv& env = Env()) {
  const absl::StatusOr<std::vector<v1::PathIpConfig>> paths = PathsFromPrevResult(config, env);
  if (!paths.ok()) {
    const CniError error = ToCniError(paths.status());
    return "error " + std::to_string(error.code) + ": " + error.msg;
  }
  std::string out;
  for (const v1::PathIpConfig& path : *paths) {
    out += path.path() + ":";
    for (const v1::IpAddressConfig& ip : path.ips()) out += " " + ip.address();
    for (const v1::Route& route : path.routes()) out += " route " + route.destination();
    out += ";";
  }
  return out;
}

TEST(ResultTest, CheckReadsTheAttachmentBackFromPrevResult) {
  // The chained result above: the bridge's eth0 (index 1) and Braid's (index 2) share the name.
  const NetworkConfig added = Config("1.0.0", kPrevResult040);
  const JsonValue result = BuildAddResult(added, Env(), Response(added), nullptr);
  const NetworkConfig check = Config("1.0.0", WriteJson(result));
  EXPECT_EQ(FromPrev(check),
            "path0: 10.10.0.2/24 fd00:10::2/64 route 0.0.0.0/0 route ::/0;"
            "path1: 10.20.0.2/24 route 192.0.2.0/24;");

  CniEnv other = Env();
  other.netns = "/var/run/netns/other";
  EXPECT_EQ(FromPrev(check, other),
            "error 7: prevResult.interfaces: no interface \"eth0\" in sandbox "
            "\"/var/run/netns/other\" (braid-cni's ADD result has one)");
  EXPECT_EQ(
      FromPrev(Config("1.0.0", R"({"interfaces": [{"name": "eth0",
      "sandbox": "/var/run/netns/pod"}], "ips": [{"address": "172.16.0.1/24", "interface": 0}]})")),
      "error 7: prevResult.ips[0].address: \"172.16.0.1/24\" is in none of the paths' ranges");
}

TEST(ResultTest, ErrorAndVersionResults) {
  EXPECT_EQ(WriteJson(ErrorResult("1.1.0", CniError{7, "paths: missing", ""})),
            R"({"cniVersion":"1.1.0","code":7,"msg":"paths: missing"})");
  EXPECT_EQ(WriteJson(ErrorResult("0.4.0", CniError{11, "agent: down", "UNAVAILABLE"})),
            R"({"cniVersion":"0.4.0","code":11,"msg":"agent: down","details":"UNAVAILABLE"})");
  EXPECT_EQ(
      WriteJson(VersionResult("1.1.0")),
      R"({"cniVersion":"1.1.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]})");
}

}  // namespace
}  // namespace braid::cni
