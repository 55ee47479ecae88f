#include "agent/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "datapath/channel/service/service_app.h"

namespace braid::agent {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The message of a config that must fail.
std::string Error(const std::string& yaml) {
  absl::StatusOr<AgentConfig> c = ParseConfig(yaml);
  EXPECT_FALSE(c.ok()) << yaml;
  if (c.ok()) return "";
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(c.status().message());
}

constexpr char kPath0[] =
    "paths:\n  - {name: p0, kind: af_packet, netdev: veth0, "
    "ipv4_subnet: 10.0.1.0/24}\n";

TEST(AgentConfig, EmptyDocumentGivesDefaults) {
  absl::StatusOr<AgentConfig> c = ParseConfig("");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->node.state_dir, "/var/lib/braid");
  EXPECT_EQ(c->node.run_dir, "/run/braid");
  EXPECT_EQ(c->api.cni_socket, "/run/braid/agent.sock");
  EXPECT_EQ(c->api.metrics_listen, "0.0.0.0:9470");
  EXPECT_EQ(c->datapath.workers, 1u);
  EXPECT_FALSE(c->datapath.hugepages);
  EXPECT_EQ(c->datapath.idle.mode, runtime::IdleMode::kAdaptive);
  EXPECT_TRUE(c->paths.empty());
  EXPECT_EQ(c->mptcp.scheduler, "default");
  EXPECT_EQ(c->mptcp.path_manager.policy, "kernel");
  EXPECT_EQ(c->mptcp.path_manager.limits.subflows, 2u);
  EXPECT_EQ(c->congestion_control, "cubic");
  EXPECT_EQ(c->channel.geometry, channel::DefaultServiceGeometry());
  EXPECT_EQ(c->channel.limits.orphan_linger, 30s);
  EXPECT_EQ(c->sriov.sysfs_root, "/");
  EXPECT_EQ(c->log.level, LogLevel::kInfo);
  // Comments only is an empty document too.
  EXPECT_TRUE(ParseConfig("# nothing\n").ok());
}

TEST(AgentConfig, ExampleParses) {
  absl::StatusOr<AgentConfig> c = LoadConfig(BRAID_SOURCE_DIR "/agent/example-config.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->node.name, "node-a");
  EXPECT_EQ(c->api.debug_socket, "/run/braid/debug.sock");
  EXPECT_EQ(c->api.metrics_listen, "[::]:9470");
  EXPECT_EQ(c->datapath.workers, 2u);
  EXPECT_EQ(c->datapath.lcores, (std::vector<uint32_t>{2, 3}));
  EXPECT_TRUE(c->datapath.hugepages);
  EXPECT_EQ(c->datapath.memory_mb, 1024u);
  EXPECT_EQ(c->datapath.idle.spin, 100us);
  EXPECT_EQ(c->datapath.idle.max_sleep, 500us);
  ASSERT_EQ(c->paths.size(), 2u);
  const PathConfig& p0 = c->paths[0];
  EXPECT_EQ(p0.name, "path0");
  EXPECT_EQ(p0.kind, PathKind::kVf);
  EXPECT_EQ(p0.pci, "0000:03:10.1");
  ASSERT_TRUE(p0.ipv4_subnet.has_value());
  EXPECT_EQ(p0.ipv4_subnet->address, *wire::Ipv4Address::Parse("10.0.1.0"));
  EXPECT_EQ(p0.ipv4_subnet->prefix_len, 24);
  EXPECT_EQ(p0.ipv4_gateway, wire::Ipv4Address::Parse("10.0.1.1"));
  ASSERT_TRUE(p0.ipv6_subnet.has_value());
  EXPECT_EQ(p0.ipv6_subnet->prefix_len, 64);
  EXPECT_EQ(p0.mtu, 9000u);
  EXPECT_FALSE(p0.backup);
  const PathConfig& p1 = c->paths[1];
  EXPECT_EQ(p1.kind, PathKind::kAfXdp);
  EXPECT_EQ(p1.netdev, "veth1");
  EXPECT_TRUE(p1.backup);
  EXPECT_EQ(c->mptcp.scheduler, "blest");
  EXPECT_EQ(c->congestion_control, "olia");
  EXPECT_TRUE(c->mptcp.checksum);
  EXPECT_EQ(c->mptcp.path_manager.limits.subflows, 4u);
  EXPECT_EQ(c->mptcp.path_manager.limits.add_addr_accepted, 2u);
  EXPECT_EQ(c->channel.geometry.slots, 128u);
  EXPECT_EQ(c->channel.limits.orphan_linger, 10s);
  ASSERT_EQ(c->sriov.pfs.size(), 1u);
  EXPECT_EQ(c->sriov.pfs[0].netdev, "ens1f0");
  EXPECT_EQ(c->sriov.pfs[0].num_vfs, 4u);
  EXPECT_EQ(c->log.level, LogLevel::kDebug);
}

TEST(AgentConfig, WholeMessageListsEveryError) {
  EXPECT_EQ(Error("datapath:\n  wokers: 2\nlog:\n  level: loud\n"),
            "agent config has 2 errors:\n"
            "datapath.wokers: unknown key, did you mean datapath.workers?\n"
            "log.level: got \"loud\", expected one of error, warning, info, debug");
  EXPECT_EQ(Error("log: {level: loud}\n"),
            "agent config has 1 error:\n"
            "log.level: got \"loud\", expected one of error, warning, info, debug");
}

TEST(AgentConfig, UnknownKeys) {
  EXPECT_THAT(Error("mptcpp: {}\n"), HasSubstr("mptcpp: unknown key, did you mean mptcp?"));
  EXPECT_THAT(Error("zzzzzzzz: 1\n"),
              HasSubstr("zzzzzzzz: unknown key, expected one of api, channel, datapath, log, "
                        "mptcp, node, paths, sriov"));
  EXPECT_THAT(Error("paths:\n  - name: p0\n    mtuu: 1500\n"),
              HasSubstr("paths[0].mtuu: unknown key, did you mean paths[0].mtu?"));
  EXPECT_THAT(Error("log: {level: info}\nlog: {level: debug}\n"),
              HasSubstr("log: key appears twice"));
}

TEST(AgentConfig, WrongTypes) {
  EXPECT_THAT(Error("datapath: 3\n"), HasSubstr("datapath: got a scalar, expected a mapping"));
  EXPECT_THAT(Error("datapath: {workers: [1]}\n"),
              HasSubstr("datapath.workers: got a list, expected an integer from 1 to 128"));
  EXPECT_THAT(Error("datapath: {workers: two}\n"),
              HasSubstr("datapath.workers: got \"two\", expected an integer from 1 to 128"));
  EXPECT_THAT(Error("mptcp: {checksum: yes}\n"),
              HasSubstr("mptcp.checksum: got \"yes\", expected true or false"));
  EXPECT_THAT(Error("paths: {name: a}\n"), HasSubstr("paths: got a mapping, expected a list"));
  EXPECT_THAT(Error("paths: [3]\n"), HasSubstr("paths[0]: got a scalar, expected a mapping"));
  EXPECT_THAT(Error("[1, 2]\n"), HasSubstr("(top level): got a list, expected a mapping"));
  EXPECT_THAT(Error("datapath: {lcores: [1, x]}\n"),
              HasSubstr("datapath.lcores[1]: got \"x\", expected an integer from 0 to 1023"));
}

TEST(AgentConfig, OutOfRange) {
  EXPECT_THAT(Error("datapath: {workers: 0}\n"),
              HasSubstr("datapath.workers: got \"0\", expected an integer from 1 to 128"));
  EXPECT_THAT(Error("datapath: {workers: 99999999999999999999}\n"),
              HasSubstr("datapath.workers: got \"99999999999999999999\""));
  EXPECT_THAT(Error("mptcp: {path_manager: {subflows: 9}}\n"),
              HasSubstr("mptcp.path_manager.subflows: got \"9\", expected an integer from 0 to 8"));
  EXPECT_THAT(Error("channel: {orphan_linger: 2h}\n"),
              HasSubstr("channel.orphan_linger: got \"2h\", expected a duration from 1ms to 1h "
                        "(a number and a unit: ns, us, ms, s, m, h)"));
}

TEST(AgentConfig, Durations) {
  absl::StatusOr<AgentConfig> c = ParseConfig(
      "channel: {orphan_linger: 250ms, adopt_window: 0}\ndatapath: {link_timeout: 2m}\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->channel.limits.orphan_linger, 250ms);
  EXPECT_EQ(c->channel.limits.adopt_window, 0s);
  EXPECT_EQ(c->datapath.link_timeout, 2min);
  EXPECT_THAT(Error("channel: {orphan_linger: 30}\n"),
              HasSubstr("channel.orphan_linger: got \"30\", expected a duration"));
  EXPECT_THAT(Error("channel: {orphan_linger: 1.5s}\n"),
              HasSubstr("channel.orphan_linger: got \"1.5s\""));
  EXPECT_THAT(Error("channel: {orphan_linger: 3 s}\n"),
              HasSubstr("channel.orphan_linger: got \"3 s\""));
}

TEST(AgentConfig, Strings) {
  EXPECT_THAT(Error("api: {metrics_listen: \"0.0.0.0\"}\n"),
              HasSubstr("api.metrics_listen: got \"0.0.0.0\", expected an IP address and port "
                        "such as 0.0.0.0:9470 or [::]:9470"));
  EXPECT_THAT(Error("api: {cni_socket: agent.sock}\n"),
              HasSubstr("api.cni_socket: got \"agent.sock\", expected an absolute path"));
  EXPECT_THAT(Error("mptcp: {scheduler: fastest}\n"),
              HasSubstr("mptcp.scheduler: got \"fastest\", expected a scheduler: blest, default, "
                        "ecf, redundant, roundrobin"));
  EXPECT_THAT(Error("mptcp: {congestion_control: bbr}\n"),
              HasSubstr("mptcp.congestion_control: got \"bbr\", expected a congestion control: "
                        "cubic (default), newreno, lia, olia"));
  EXPECT_THAT(Error("mptcp: {path_manager: {policy: mesh}}\n"),
              HasSubstr("mptcp.path_manager.policy: got \"mesh\", expected a path manager: "));
}

TEST(AgentConfig, PathErrors) {
  EXPECT_THAT(Error("paths:\n  - {name: a, kind: vf, pci: \"03:00.1\", ipv4_subnet: 10.0.0.0/8}\n"),
              HasSubstr("paths[0].pci: got \"03:00.1\", expected a PCI address DDDD:BB:DD.F such "
                        "as 0000:03:10.1"));
  EXPECT_THAT(Error("paths:\n  - {name: a, kind: vf, ipv4_subnet: 10.0.0.0/8}\n"),
              HasSubstr("paths[0].pci: required for kind vf"));
  EXPECT_THAT(Error("paths:\n  - {name: a, kind: af_xdp, ipv4_subnet: 10.0.0.0/8}\n"),
              HasSubstr("paths[0].netdev: required for kind af_xdp"));
  EXPECT_THAT(Error("paths:\n  - {name: a, kind: af_xdp, netdev: v0, pci: \"0000:03:10.1\", "
                    "ipv4_subnet: 10.0.0.0/8}\n"),
              HasSubstr("paths[0].pci: only for kind vf, this path is af_xdp"));
  EXPECT_THAT(Error("paths:\n  - {kind: vf, pci: \"0000:03:10.1\", ipv4_subnet: 10.0.0.0/8}\n"),
              HasSubstr("paths[0].name: required key is missing"));
  EXPECT_THAT(Error("paths:\n  - {name: a, kind: tap, netdev: v0, ipv4_subnet: 10.0.0.0/8}\n"),
              HasSubstr("paths[0].kind: got \"tap\", expected one of vf, af_xdp, af_packet"));
  EXPECT_THAT(Error(std::string(kPath0) +
                    "  - {name: p0, kind: af_packet, netdev: veth0, ipv4_subnet: 10.0.2.0/24}\n"),
              AllOf(HasSubstr("paths[1].name: \"p0\" is already the name of paths[0]"),
                    HasSubstr("paths[1].netdev: \"veth0\" is already used by paths[0]")));
  EXPECT_THAT(Error("paths:\n  - {name: a, kind: af_packet, netdev: v0}\n"),
              HasSubstr("paths[0]: needs ipv4_subnet, ipv6_subnet or both"));
  EXPECT_THAT(Error("paths:\n  - {name: a, kind: af_packet, netdev: v0, "
                    "ipv4_subnet: 10.0.1.5/24}\n"),
              HasSubstr("paths[0].ipv4_subnet: got \"10.0.1.5/24\", expected an IPv4 subnet such "
                        "as 10.0.1.0/24"));
  EXPECT_THAT(Error("paths:\n  - {name: a, kind: af_packet, netdev: v0, "
                    "ipv4_subnet: 10.0.1.0/24, ipv4_gateway: 10.0.2.1}\n"),
              HasSubstr("paths[0].ipv4_gateway: got \"10.0.2.1\", expected an address inside "
                        "10.0.1.0/24"));
  EXPECT_THAT(Error("paths:\n  - {name: a, kind: af_packet, netdev: v0, "
                    "ipv4_subnet: 10.0.1.0/24, ipv6_gateway: \"fd00::1\"}\n"),
              HasSubstr("paths[0].ipv6_gateway: needs paths[0].ipv6_subnet"));
  EXPECT_THAT(Error("paths:\n  - {name: a, kind: af_packet, netdev: v0, "
                    "ipv6_subnet: \"fd00::/64\", mtu: 1000}\n"),
              HasSubstr("paths[0].mtu: got \"1000\", expected at least 1280 on a path with IPv6"));
  EXPECT_THAT(Error("paths:\n  - {name: A_1, kind: af_packet, netdev: v0, "
                    "ipv4_subnet: 10.0.1.0/24}\n"),
              HasSubstr("paths[0].name: got \"A_1\", expected 1 to 32 characters"));
}

TEST(AgentConfig, DatapathStructsValidateToo) {
  EXPECT_THAT(Error("datapath: {idle: {min_sleep: 1ms, max_sleep: 10us}}\n"),
              HasSubstr("datapath.idle: "));
  EXPECT_THAT(Error("channel: {tx_fifo_bytes: 5000}\n"), HasSubstr("channel: "));
  EXPECT_THAT(Error("datapath: {workers: 3, lcores: [0, 1]}\n"),
              HasSubstr("datapath.lcores: has 2 cores, datapath.workers needs 3"));
  EXPECT_THAT(Error("sriov: {pfs: [{netdev: a}, {netdev: a}]}\n"),
              HasSubstr("sriov.pfs[1].netdev: \"a\" appears twice"));
}

TEST(AgentConfig, SyntaxErrorAndMissingFile) {
  EXPECT_THAT(Error("datapath: {workers: 2\n"),
              HasSubstr("agent config: YAML syntax error at line"));
  absl::StatusOr<AgentConfig> c = LoadConfig("/nonexistent/agent.yaml");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("/nonexistent/agent.yaml"));
}

// docs/agent-config.md is generated from the option table; BRAID_REGENERATE_DOCS=1 rewrites it.
TEST(AgentConfig, ReferenceIsInSync) {
  const std::string path = BRAID_SOURCE_DIR "/docs/agent-config.md";
  const std::string generated = ConfigReference();
  if (std::getenv("BRAID_REGENERATE_DOCS") != nullptr) {
    std::ofstream(path) << generated;
  }
  EXPECT_EQ(ReadFile(path), generated)
      << "docs/agent-config.md is out of date: run config_test with BRAID_REGENERATE_DOCS=1";
}

}  // namespace
}  // namespace braid::agent
