// The fuzz target's seed corpus (tests/fuzz/corpus/net_rx/) holds real frames: each one, given to
// a stack set up as the fuzz target sets it up, has the outcome its name promises. This keeps the
// seeds meaningful (a seed that silently stopped reaching its layer would fuzz nothing).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>

#include "datapath/net/net_stack.h"
#include "tests/unit/datapath/net/net_fixture.h"

namespace braid::net::test {
namespace {

Bytes ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The fuzz target's stack: path0 untagged, path1 on VLAN 100, SYNs waiting for 192.0.2.2 and
// 2001:db8:1::2.
struct FuzzStack {
  FuzzStack() : stack(TestConfig(), sink) {
    stack.AttachTcp(&backend);
    InterfaceConfig path1;
    path1.port = 0;
    path1.vlan = 100;
    path1.mac = Mac("02:00:00:00:01:01");
    path1.ipv4 = {{V4("198.51.100.1"), 24}};
    path1.ipv6 = {{V6("2001:db8:2::1"), 64}};
    InterfaceId id = 0;
    EXPECT_EQ(stack.AddInterface(Path0Config(), &id), NetError::kOk);
    EXPECT_EQ(stack.SetInterfaceUp(id, true, T(0)), NetError::kOk);
    EXPECT_EQ(stack.AddInterface(path1, &id), NetError::kOk);
    EXPECT_EQ(stack.SetInterfaceUp(id, true, T(0)), NetError::kOk);
    TcpSpec s;
    stack.Transmit({kOurIp, 40000, kPeerIp, 80}, Outbound(s));
    stack.Transmit({kOurIp6, 40000, kPeerIp6, 80}, Outbound(s));
  }
  RecordingSink sink;
  RecordingBackend backend;
  NetStack stack;
};

TEST(NetCorpusTest, SeedsHaveTheirOutcome) {
  const RxOutcome delivered = RxOutcome::Delivered();
  const RxOutcome consumed = RxOutcome::Consumed();
  const std::map<std::string, RxOutcome> expected = {
      {"arp_request", consumed},
      {"arp_reply", consumed},
      {"arp_gratuitous", consumed},
      {"arp_probe", consumed},
      {"ipv4_syn", delivered},
      {"ipv4_syn_mptcp", delivered},
      {"ipv4_data", delivered},
      {"ipv6_syn", delivered},
      {"vlan_syn", delivered},
      {"vlan_syn6", delivered},
      {"ipv6_hbh_tcp", delivered},
      {"ipv4_echo", consumed},
      {"ipv6_echo", consumed},
      {"ipv6_ns", consumed},
      {"ipv6_ns_dad", consumed},
      {"ipv6_na", consumed},
      {"ipv4_frag_needed", consumed},
      {"ipv4_frag_needed_nomtu", consumed},
      {"ipv4_port_unreachable", consumed},
      {"ipv4_time_exceeded", consumed},
      {"ipv6_packet_too_big", consumed},
      {"ipv6_unreachable", consumed},
      {"ipv4_fragment", Drop(NetDrop::kIpv4Fragment)},
      {"ipv6_fragment", Drop(NetDrop::kIpv6Fragment)},
      {"ipv4_options", Drop(NetDrop::kIpv4Options)},
      {"truncated", Drop(NetDrop::kTruncated)},
      {"ipv4_bad_checksum", Drop(NetDrop::kIpv4BadChecksum)},
      {"tcp_bad_checksum", Drop(NetDrop::kTcpBadChecksum)},
      {"udp", Drop(NetDrop::kIpv4UnknownProtocol)},
      {"lldp", Drop(NetDrop::kNotForUsMac)},
  };
  const std::filesystem::path dir =
      std::filesystem::path(BRAID_SOURCE_DIR) / "tests/fuzz/corpus/net_rx";
  size_t seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    auto it = expected.find(name);
    if (it == expected.end()) continue;  // seeds the fuzzer added are not checked
    ++seen;
    FuzzStack f;
    RxOutcome got = f.stack.Receive(0, ReadFile(entry.path()), T(1));
    EXPECT_EQ(got.kind, it->second.kind) << name;
    if (got.kind == RxOutcome::Kind::kDropped) {
      EXPECT_EQ(NetDropName(got.drop), NetDropName(it->second.drop)) << name;
    }
  }
  EXPECT_EQ(seen, expected.size());
}

}  // namespace
}  // namespace braid::net::test
