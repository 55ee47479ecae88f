// Every drop reason of net_drop.def has a scenario here that produces it, and the list of
// scenarios is checked against the reason list, so a new reason without a test fails the build's
// tests. Each scenario runs on a fresh stack with path0 up.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "datapath/net/net_counters.h"
#include "datapath/net/net_stack.h"
#include "datapath/wire/bytes.h"
#include "tests/unit/datapath/net/net_fixture.h"

namespace braid::net::test {
namespace {

struct Env {
  explicit Env(NetStackConfig config = TestConfig()) : stack(config, sink) {
    stack.AttachTcp(&backend);
    InterfaceId id = 0;
    EXPECT_EQ(stack.AddInterface(Path0Config(), &id), NetError::kOk);
    EXPECT_EQ(stack.SetInterfaceUp(id, true, T(0)), NetError::kOk);
    sink.Take();
  }
  RxOutcome Rx(const Bytes& frame, uint16_t port = 0) { return stack.Receive(port, frame, T(1)); }
  void Tx(const tcp::FlowKey& flow, const TcpSpec& s = {}) {
    stack.SetNow(T(1));
    stack.Transmit(flow, Outbound(s));
  }
  RecordingSink sink;
  RecordingBackend backend;
  NetStack stack;
};

// Recomputes the IPv4 header checksum of the packet at `ip` (IHL from its first byte).
void FixIpv4Checksum(uint8_t* ip) {
  size_t len = size_t{ip[0] & 0x0fu} * 4;
  ip[10] = ip[11] = 0;
  uint16_t sum = wire::ComputeChecksum({ip, len});
  wire::StoreBe16(ip + 10, sum);
}

Bytes Ipv4Frame(const Bytes& ip) { return Eth(kOurMac, kPeerMac, wire::kEtherTypeIpv4, ip); }
Bytes Ipv6Frame(const Bytes& ip) { return Eth(kOurMac, kPeerMac, wire::kEtherTypeIpv6, ip); }

Bytes EchoV4(bool bad_checksum = false) {
  wire::Icmpv4Repr echo;
  echo.type = wire::Icmpv4Type::kEchoRequest;
  echo.echo_ident = 1;
  Bytes icmp = Icmp4(echo);
  if (bad_checksum) icmp[2] ^= 0xff;
  return Ipv4Frame(Ip4(kPeerIp, kOurIp, wire::IpProtocol::kIcmp, icmp));
}

Bytes ErrorV4(uint8_t code, uint16_t mtu, const Bytes& quoted) {
  wire::Icmpv4Repr icmp;
  icmp.type = wire::Icmpv4Type::kDestinationUnreachable;
  icmp.code = code;
  icmp.next_hop_mtu = mtu;
  icmp.data = quoted;
  return Ipv4Frame(Ip4(kRemoteIp, kOurIp, wire::IpProtocol::kIcmp, Icmp4(icmp)));
}

Bytes OurSegment4() {
  return Ip4(kOurIp, kRemoteIp, wire::IpProtocol::kTcp, Tcp(kOurIp, kRemoteIp, {}));
}

Bytes Nd6(const wire::Icmpv6Repr& icmp, const Ipv6Address& src, const Ipv6Address& dst,
          uint8_t hop_limit = 255) {
  return Ipv6Frame(Ip6(src, dst, wire::IpProtocol::kIcmpv6, Icmp6(icmp, src, dst), hop_limit));
}

wire::Icmpv6Repr NsFor(const Ipv6Address& target) {
  wire::Icmpv6Repr ns;
  ns.type = wire::Icmpv6Type::kNeighborSolicitation;
  ns.target = target;
  ns.source_link_address = kPeerMac;
  return ns;
}

using Scenario = std::function<void(Env&)>;

const std::map<NetDrop, Scenario>& Scenarios() {
  static const auto* scenarios = new std::map<NetDrop, Scenario>{
      // --- Link layer ---
      {NetDrop::kTruncated, [](Env& e) { e.Rx(Bytes(13, 0)); }},
      {NetDrop::kUnknownPort, [](Env& e) { e.Rx(TcpFrame4(kPeerIp, kOurIp), 9); }},
      {NetDrop::kVlanNotOurs,
       [](Env& e) {
         e.Rx(Eth(kOurMac, kPeerMac, wire::kEtherTypeIpv4,
                  Ip4(kPeerIp, kOurIp, wire::IpProtocol::kTcp, Tcp(kPeerIp, kOurIp, {})), 7));
       }},
      {NetDrop::kInterfaceDown,
       [](Env& e) {
         e.stack.SetInterfaceUp(0, false, T(1));
         e.Rx(TcpFrame4(kPeerIp, kOurIp));
       }},
      {NetDrop::kBadSourceMac,
       [](Env& e) { e.Rx(TcpFrame4(kPeerIp, kOurIp, {}, Mac("01:00:5e:00:00:01"))); }},
      {NetDrop::kLoopedBack, [](Env& e) { e.Rx(TcpFrame4(kPeerIp, kOurIp, {}, kOurMac)); }},
      {NetDrop::kNotForUsMac,
       [](Env& e) { e.Rx(TcpFrame4(kPeerIp, kOurIp, {}, kPeerMac, Mac("02:00:00:00:00:99"))); }},
      {NetDrop::kBadEthertype,
       [](Env& e) { e.Rx(Eth(kOurMac, kPeerMac, 0x88cc, Bytes(46, 0))); }},  // LLDP
      {NetDrop::kLinkBroadcastUnicastIp,
       [](Env& e) { e.Rx(TcpFrame4(kPeerIp, kOurIp, {}, kPeerMac, MacAddress::Broadcast())); }},
      // --- ARP ---
      {NetDrop::kArpMalformed,
       [](Env& e) {
         e.Rx(Eth(MacAddress::Broadcast(), kPeerMac, wire::kEtherTypeArp, Bytes(20, 0)));
       }},
      {NetDrop::kArpUnsupportedOp,
       [](Env& e) {
         Bytes arp = Arp(wire::ArpOperation::kRequest, kPeerMac, kPeerIp, {}, kOurIp);
         arp[7] = 3;  // RARP request (RFC 903)
         e.Rx(Eth(MacAddress::Broadcast(), kPeerMac, wire::kEtherTypeArp, arp));
       }},
      {NetDrop::kArpBadSender,
       [](Env& e) {
         e.Rx(Eth(MacAddress::Broadcast(), kPeerMac, wire::kEtherTypeArp,
                  Arp(wire::ArpOperation::kRequest, kPeerMac, V4("224.0.0.5"), {}, kOurIp)));
       }},
      {NetDrop::kArpAddressConflict,
       [](Env& e) {
         e.Rx(Eth(MacAddress::Broadcast(), kPeerMac, wire::kEtherTypeArp,
                  Arp(wire::ArpOperation::kReply, kPeerMac, kOurIp, {}, kOurIp)));
       }},
      {NetDrop::kArpNotForUs,
       [](Env& e) {
         e.Rx(Eth(MacAddress::Broadcast(), kPeerMac, wire::kEtherTypeArp,
                  Arp(wire::ArpOperation::kRequest, kPeerMac, kPeerIp, {}, V4("192.0.2.3"))));
       }},
      {NetDrop::kArpUnsolicitedReply,
       [](Env& e) {
         e.Rx(Eth(kOurMac, kPeerMac, wire::kEtherTypeArp,
                  Arp(wire::ArpOperation::kReply, kPeerMac, kPeerIp, kOurMac, kOurIp)));
       }},
      // --- IPv4 ---
      {NetDrop::kIpv4Malformed,
       [](Env& e) {
         Bytes ip = Ip4(kPeerIp, kOurIp, wire::IpProtocol::kTcp, Tcp(kPeerIp, kOurIp, {}));
         ip[3] += 1;  // total length past the frame
         e.Rx(Ipv4Frame(ip));
       }},
      {NetDrop::kIpv4BadChecksum,
       [](Env& e) {
         Bytes ip = Ip4(kPeerIp, kOurIp, wire::IpProtocol::kTcp, Tcp(kPeerIp, kOurIp, {}));
         ip[10] ^= 0x01;
         e.Rx(Ipv4Frame(ip));
       }},
      {NetDrop::kIpv4Options,
       [](Env& e) {
         Bytes tcp = Tcp(kPeerIp, kOurIp, {});
         Bytes ip = Ip4(kPeerIp, kOurIp, wire::IpProtocol::kTcp, tcp);
         ip.insert(ip.begin() + 20, {1, 1, 1, 0});  // NOP NOP NOP EOL
         ip[0] = 0x46;
         wire::StoreBe16(ip.data() + 2, static_cast<uint16_t>(ip.size()));
         FixIpv4Checksum(ip.data());
         e.Rx(Ipv4Frame(ip));
       }},
      {NetDrop::kIpv4Fragment,
       [](Env& e) {
         Bytes ip = Ip4(kPeerIp, kOurIp, wire::IpProtocol::kTcp, Tcp(kPeerIp, kOurIp, {}));
         ip[6] = 0x20;  // MF
         FixIpv4Checksum(ip.data());
         e.Rx(Ipv4Frame(ip));
       }},
      {NetDrop::kIpv4BadSource,
       [](Env& e) {
         e.Rx(Ipv4Frame(Ip4(V4("127.0.0.1"), kOurIp, wire::IpProtocol::kTcp,
                            Tcp(V4("127.0.0.1"), kOurIp, {}))));
       }},
      {NetDrop::kIpv4NotForUs, [](Env& e) { e.Rx(TcpFrame4(kPeerIp, V4("192.0.2.99"))); }},
      {NetDrop::kIpv4UnknownProtocol,
       [](Env& e) { e.Rx(Ipv4Frame(Ip4(kPeerIp, kOurIp, wire::IpProtocol::kUdp, Bytes(8, 0)))); }},
      // --- IPv6 ---
      {NetDrop::kIpv6Malformed,
       [](Env& e) {
         Bytes ip = Ip6(kPeerIp6, kOurIp6, wire::IpProtocol::kTcp, Tcp(kPeerIp6, kOurIp6, {}));
         ip[5] += 1;  // payload length past the frame
         e.Rx(Ipv6Frame(ip));
       }},
      {NetDrop::kIpv6BadExtensionHeader,
       [](Env& e) {
         // A Hop-by-Hop header claiming 16 bytes in a 8-byte payload.
         e.Rx(Ipv6Frame(
             Ip6(kPeerIp6, kOurIp6, wire::IpProtocol::kHopByHop, Bytes{6, 1, 0, 0, 0, 0, 0, 0})));
       }},
      {NetDrop::kIpv6Fragment,
       [](Env& e) {
         Bytes frag = {static_cast<uint8_t>(wire::IpProtocol::kTcp), 0, 0, 1, 0, 0, 0, 7};
         Bytes tcp = Tcp(kPeerIp6, kOurIp6, {});
         frag.insert(frag.end(), tcp.begin(), tcp.end());
         e.Rx(Ipv6Frame(Ip6(kPeerIp6, kOurIp6, wire::IpProtocol::kIpv6Fragment, frag)));
       }},
      {NetDrop::kIpv6BadSource,
       [](Env& e) {
         e.Rx(Ipv6Frame(
             Ip6(V6("ff02::1"), kOurIp6, wire::IpProtocol::kTcp, Tcp(V6("ff02::1"), kOurIp6, {}))));
       }},
      {NetDrop::kIpv6NotForUs, [](Env& e) { e.Rx(TcpFrame6(kPeerIp6, V6("2001:db8:1::99"))); }},
      {NetDrop::kIpv6UnknownProtocol,
       [](Env& e) {
         e.Rx(Ipv6Frame(Ip6(kPeerIp6, kOurIp6, wire::IpProtocol::kUdp, Bytes(8, 0))));
       }},
      // --- ICMP ---
      {NetDrop::kIcmpv4Malformed,
       [](Env& e) { e.Rx(Ipv4Frame(Ip4(kPeerIp, kOurIp, wire::IpProtocol::kIcmp, Bytes(4, 0)))); }},
      {NetDrop::kIcmpv4BadChecksum, [](Env& e) { e.Rx(EchoV4(/*bad_checksum=*/true)); }},
      {NetDrop::kIcmpv6Malformed,
       [](Env& e) {
         e.Rx(Ipv6Frame(Ip6(kPeerIp6, kOurIp6, wire::IpProtocol::kIcmpv6, Bytes(4, 0))));
       }},
      {NetDrop::kIcmpv6BadChecksum,
       [](Env& e) {
         wire::Icmpv6Repr echo;
         echo.type = wire::Icmpv6Type::kEchoRequest;
         Bytes icmp = Icmp6(echo, kPeerIp6, kOurIp6);
         icmp[3] ^= 0x01;
         e.Rx(Ipv6Frame(Ip6(kPeerIp6, kOurIp6, wire::IpProtocol::kIcmpv6, icmp)));
       }},
      {NetDrop::kIcmpUnsupported,
       [](Env& e) {
         wire::Icmpv4Repr reply;
         reply.type = wire::Icmpv4Type::kEchoReply;
         e.Rx(Ipv4Frame(Ip4(kPeerIp, kOurIp, wire::IpProtocol::kIcmp, Icmp4(reply))));
       }},
      {NetDrop::kEchoRateLimited,
       [](Env& e) {
         for (int i = 0; i < 51; ++i) e.Rx(EchoV4());  // Linux's icmp_msgs_burst is 50
       }},
      {NetDrop::kEchoNotUnicast,
       [](Env& e) {
         wire::Icmpv6Repr echo;
         echo.type = wire::Icmpv6Type::kEchoRequest;
         const Ipv6Address all = V6("ff02::1");
         e.Rx(Eth(all.MulticastMac(), kPeerMac, wire::kEtherTypeIpv6,
                  Ip6(kPeerIp6, all, wire::IpProtocol::kIcmpv6, Icmp6(echo, kPeerIp6, all))));
       }},
      {NetDrop::kIcmpErrorNotTcp,
       [](Env& e) {
         e.Rx(ErrorV4(wire::kIcmpv4PortUnreachable, 0,
                      Ip4(kOurIp, kRemoteIp, wire::IpProtocol::kUdp, Bytes(8, 0))));
       }},
      {NetDrop::kIcmpErrorNotOurs,
       [](Env& e) {
         e.Rx(ErrorV4(wire::kIcmpv4HostUnreachable, 0,
                      Ip4(kRemoteIp, kPeerIp, wire::IpProtocol::kTcp, Bytes(20, 0))));
       }},
      {NetDrop::kPmtuNotLower,
       [](Env& e) { e.Rx(ErrorV4(wire::kIcmpv4FragmentationNeeded, 1500, OurSegment4())); }},
      {NetDrop::kIcmpEventQueueFull,
       [](Env& e) {
         for (int i = 0; i < 257; ++i) {
           e.Rx(ErrorV4(wire::kIcmpv4FragmentationNeeded, 1400, OurSegment4()));
         }
       }},
      // --- Neighbour discovery ---
      {NetDrop::kNdBadHopLimit, [](Env& e) { e.Rx(Nd6(NsFor(kOurIp6), kPeerIp6, kOurIp6, 64)); }},
      {NetDrop::kNdInvalid, [](Env& e) { e.Rx(Nd6(NsFor(V6("ff02::2")), kPeerIp6, kOurIp6)); }},
      {NetDrop::kNdNotForUs,
       [](Env& e) { e.Rx(Nd6(NsFor(V6("2001:db8:1::5")), kPeerIp6, kOurIp6)); }},
      {NetDrop::kNdNoEntry,
       [](Env& e) {
         wire::Icmpv6Repr na;
         na.type = wire::Icmpv6Type::kNeighborAdvertisement;
         na.target = kPeerIp6;
         na.target_link_address = kPeerMac;
         e.Rx(Nd6(na, kPeerIp6, kOurIp6));
       }},
      // --- TCP ---
      {NetDrop::kTcpMalformed,
       [](Env& e) { e.Rx(Ipv4Frame(Ip4(kPeerIp, kOurIp, wire::IpProtocol::kTcp, Bytes(12, 0)))); }},
      {NetDrop::kTcpBadChecksum,
       [](Env& e) {
         Bytes tcp = Tcp(kPeerIp, kOurIp, {});
         tcp[17] ^= 0x01;
         e.Rx(Ipv4Frame(Ip4(kPeerIp, kOurIp, wire::IpProtocol::kTcp, tcp)));
       }},
      {NetDrop::kTcpBadPort,
       [](Env& e) {
         TcpSpec s;
         s.src_port = 0;
         e.Rx(TcpFrame4(kPeerIp, kOurIp, s));
       }},
      {NetDrop::kNoTcpBackend,
       [](Env& e) {
         e.stack.AttachTcp(nullptr);
         e.Rx(TcpFrame4(kPeerIp, kOurIp));
       }},
      // --- Send ---
      {NetDrop::kTxBadFlow,
       [](Env& e) {
         e.Tx({kOurIp, 40000, kPeerIp6, 80});
       }},
      {NetDrop::kNoRoute,
       [](Env& e) {
         e.Tx({V4("203.0.113.9"), 40000, kPeerIp, 80});
       }},
      {NetDrop::kTxLocalDestination,
       [](Env& e) {
         e.Tx({kOurIp, 40000, kOurIp, 80});
       }},
      {NetDrop::kTxTooBig,
       [](Env& e) {
         TcpSpec s;
         s.payload = Bytes(1461, 0);
         e.Tx({kOurIp, 40000, kPeerIp, 80}, s);
       }},
      {NetDrop::kTxEmitFailed,
       [](Env& e) {
         TcpSpec s;
         s.options.window_scale = 15;  // not encodable
         e.Tx({kOurIp, 40000, kPeerIp, 80}, s);
       }},
      {NetDrop::kNeighborQueueFull,
       [](Env& e) {
         for (int i = 0; i < 17; ++i) e.Tx({kOurIp, 40000, kPeerIp, 80});
       }},
      {NetDrop::kNeighborTableFull,
       [](Env& e) {
         // 1024 INCOMPLETE entries (the default capacity) cannot be evicted.
         e.stack.AddAddress(0, V4("10.0.0.1"), 8, T(1));
         for (uint32_t i = 2; i <= 1025; ++i) {
           e.stack.Resolve(0, Ipv4Address::FromU32(0x0a000000u + i), T(1));
         }
         e.Tx({V4("10.0.0.1"), 40000, V4("10.9.9.9"), 80});
       }},
      {NetDrop::kNeighborUnreachable,
       [](Env& e) {
         e.Tx({kOurIp, 40000, kPeerIp, 80});
         for (int64_t t = 0; t <= 4000; t += 100) e.stack.Poll(T(t));
       }},
  };
  return *scenarios;
}

TEST(NetDropTest, EveryReasonHasAScenario) {
  for (size_t i = 0; i < kNetDropCount; ++i) {
    auto reason = static_cast<NetDrop>(i);
    EXPECT_TRUE(Scenarios().count(reason)) << "no scenario for " << NetDropName(reason);
  }
}

TEST(NetDropTest, NamesAreUniqueSnakeCase) {
  std::map<std::string, int> seen;
  for (size_t i = 0; i < kNetDropCount; ++i) {
    std::string name(NetDropName(static_cast<NetDrop>(i)));
    EXPECT_FALSE(name.empty());
    EXPECT_EQ(name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_"), std::string::npos)
        << name;
    EXPECT_EQ(seen[name]++, 0) << name;
    EXPECT_FALSE(NetDropDescription(static_cast<NetDrop>(i)).empty());
  }
  for (size_t i = 0; i < kNetCounterCount; ++i) {
    std::string name(NetCounterName(static_cast<NetCounter>(i)));
    EXPECT_EQ(seen[name]++, 0) << name;
  }
  EXPECT_EQ(NetDropName(NetDrop::kCount), "invalid");
}

class NetDropScenarioTest : public ::testing::TestWithParam<NetDrop> {};

TEST_P(NetDropScenarioTest, ProducesItsReason) {
  NetStackConfig config = TestConfig();
  Env env(config);
  auto it = Scenarios().find(GetParam());
  ASSERT_NE(it, Scenarios().end());
  it->second(env);
  const NetCounters& c = env.stack.counters();
  EXPECT_GE(c.dropped(GetParam()), 1u) << NetDropName(GetParam());
  // Nothing else was dropped on receive apart from the reason under test (scenarios that need
  // repetition drop nothing before the reason appears).
  for (size_t i = 0; i < kNetDropCount; ++i) {
    if (static_cast<NetDrop>(i) == GetParam()) continue;
    EXPECT_EQ(c.drops[i], 0u) << "scenario for " << NetDropName(GetParam()) << " also dropped "
                              << NetDropName(static_cast<NetDrop>(i));
  }
  EXPECT_EQ(c[NetCounter::kRxFrames],
            c[NetCounter::kRxDelivered] + c[NetCounter::kRxConsumed] + c[NetCounter::kRxDropped]);
}

std::vector<NetDrop> AllReasons() {
  std::vector<NetDrop> all;
  for (size_t i = 0; i < kNetDropCount; ++i) all.push_back(static_cast<NetDrop>(i));
  return all;
}

INSTANTIATE_TEST_SUITE_P(AllReasons, NetDropScenarioTest, ::testing::ValuesIn(AllReasons()),
                         [](const ::testing::TestParamInfo<NetDrop>& param_info) {
                           return std::string(NetDropName(param_info.param));
                         });

}  // namespace
}  // namespace braid::net::test
