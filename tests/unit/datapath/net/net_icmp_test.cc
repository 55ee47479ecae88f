// ICMP and ICMPv6 through NetStack: golden echo replies, the echo rate limit, and errors quoting
// our TCP segments turned into events for the right flow (path MTU and soft errors).
#include <gtest/gtest.h>

#include "datapath/net/net_stack.h"
#include "tests/unit/datapath/net/net_fixture.h"

namespace braid::net::test {
namespace {

const Bytes kEchoRequestV4 = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01,                   // Ethernet destination: us
    0x02, 0x00, 0x00, 0x00, 0x00, 0xaa,                   // source: the pinger
    0x08, 0x00,                                           // IPv4
    0x45, 0x00,                                           // version 4, IHL 5, DSCP/ECN 0
    0x00, 0x24,                                           // total length 36
    0x12, 0x34,                                           // identification
    0x00, 0x00,                                           // no flags, offset 0
    0x40, 0x01,                                           // TTL 64, protocol ICMP
    0xe4, 0xa1,                                           // header checksum
    0xc0, 0x00, 0x02, 0x02,                               // source 192.0.2.2
    0xc0, 0x00, 0x02, 0x01,                               // destination 192.0.2.1
    0x08, 0x00, 0xae, 0xcd,                               // echo request, code 0, checksum
    0x00, 0x2a, 0x00, 0x01,                               // identifier 42, sequence 1
    'b',  'r',  'a',  'i',  'd',  '!',  '!', '\n',        // data
    0,    0,    0,    0,    0,    0,    0,   0,    0, 0,  // Ethernet padding
};

const Bytes kEchoReplyV4 = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0xaa,             // back to the pinger's MAC
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01,             // from us
    0x08, 0x00,                                     // IPv4
    0x45, 0x00,                                     // version 4, IHL 5, DSCP/ECN 0
    0x00, 0x24,                                     // total length 36
    0x00, 0x00,                                     // identification 0 (atomic, RFC 6864 §4.1)
    0x40, 0x00,                                     // DF
    0x40, 0x01,                                     // TTL 64, ICMP
    0xb6, 0xd5,                                     // header checksum
    0xc0, 0x00, 0x02, 0x01,                         // source 192.0.2.1
    0xc0, 0x00, 0x02, 0x02,                         // destination 192.0.2.2
    0x00, 0x00, 0xb6, 0xcd,                         // echo reply, code 0, checksum
    0x00, 0x2a, 0x00, 0x01,                         // identifier and sequence echoed
    'b',  'r',  'a',  'i',  'd',  '!',  '!', '\n',  // data echoed
    0,    0,    0,    0,    0,    0,    0,   0,    0, 0,  // padding to 60
};

const Bytes kEchoRequestV6 = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01,              // us
    0x02, 0x00, 0x00, 0x00, 0x00, 0xaa,              // the pinger
    0x86, 0xdd,                                      // IPv6
    0x60, 0x00, 0x00, 0x00,                          // version 6
    0x00, 0x10,                                      // payload length 16
    0x3a, 0x40,                                      // ICMPv6, hop limit 64
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00,  // source 2001:db8:1::2
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,  //
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00,  // destination 2001:db8:1::1
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,  //
    0x80, 0x00, 0xdb, 0x0b,                          // echo request, checksum
    0x00, 0x2a, 0x00, 0x01,                          // identifier 42, sequence 1
    'b',  'r',  'a',  'i',  'd',  '!',  '!',  '\n',  // data
};

const Bytes kEchoReplyV6 = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0xaa,              // the pinger
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01,              // us
    0x86, 0xdd,                                      // IPv6
    0x60, 0x00, 0x00, 0x00,                          // version 6
    0x00, 0x10,                                      // payload length 16
    0x3a, 0x40,                                      // ICMPv6, hop limit 64
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00,  // source 2001:db8:1::1
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,  //
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00,  // destination 2001:db8:1::2
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,  //
    0x81, 0x00, 0xda, 0x0b,                          // echo reply, checksum
    0x00, 0x2a, 0x00, 0x01,                          // identifier and sequence echoed
    'b',  'r',  'a',  'i',  'd',  '!',  '!',  '\n',  // data echoed
};

class IcmpTest : public NetFixture {
 protected:
  // Our SYN towards `remote`, as a router would quote it: the IP header and the whole segment.
  static Bytes OurSyn4(const Ipv4Address& remote = kRemoteIp, uint32_t seq = 7777) {
    TcpSpec s;
    s.src_port = 40000;
    s.dst_port = 443;
    s.seq = seq;
    return Ip4(kOurIp, remote, wire::IpProtocol::kTcp, Tcp(kOurIp, remote, s));
  }
  static Bytes OurSyn6(const Ipv6Address& remote = kRemoteIp6, uint32_t seq = 7777) {
    TcpSpec s;
    s.src_port = 40000;
    s.dst_port = 443;
    s.seq = seq;
    return Ip6(kOurIp6, remote, wire::IpProtocol::kTcp, Tcp(kOurIp6, remote, s));
  }
  // An ICMPv4 error from a router beyond the gateway.
  static Bytes Error4(wire::Icmpv4Type type, uint8_t code, uint16_t mtu, const Bytes& quoted) {
    wire::Icmpv4Repr icmp;
    icmp.type = type;
    icmp.code = code;
    icmp.next_hop_mtu = mtu;
    icmp.data = quoted;
    const Ipv4Address router = V4("203.0.113.1");
    return Eth(kOurMac, kGatewayMac, wire::kEtherTypeIpv4,
               Ip4(router, kOurIp, wire::IpProtocol::kIcmp, Icmp4(icmp)));
  }
  static Bytes Error6(wire::Icmpv6Type type, uint8_t code, uint32_t mtu, const Bytes& quoted) {
    wire::Icmpv6Repr icmp;
    icmp.type = type;
    icmp.code = code;
    if (type == wire::Icmpv6Type::kPacketTooBig) icmp.mtu = mtu;
    icmp.data = quoted;
    const Ipv6Address router = V6("2001:db8:77::1");
    return Eth(kOurMac, kGatewayMac, wire::kEtherTypeIpv6,
               Ip6(router, kOurIp6, wire::IpProtocol::kIcmpv6, Icmp6(icmp, router, kOurIp6)));
  }
  std::vector<IcmpEvent> Events() {
    std::vector<IcmpEvent> out;
    stack_.DrainEvents([&](const IcmpEvent& e) { out.push_back(e); });
    return out;
  }
};

TEST_F(IcmpTest, EchoReplyV4) {
  AddUp();
  EXPECT_EQ(Rx(kEchoRequestV4), RxOutcome::Consumed());
  auto frames = sink_.Take();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].bytes, kEchoReplyV4) << Hex(frames[0].bytes);
  EXPECT_EQ(Count(NetCounter::kEchoRequestsReceived), 1u);
  EXPECT_EQ(Count(NetCounter::kEchoRepliesSent), 1u);
}

TEST_F(IcmpTest, EchoReplyV6) {
  AddUp();
  EXPECT_EQ(Rx(kEchoRequestV6), RxOutcome::Consumed());
  auto frames = sink_.Take();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].bytes, kEchoReplyV6) << Hex(frames[0].bytes);
}

TEST_F(IcmpTest, EchoReplyOnAVlanKeepsTheTag) {
  InterfaceConfig c = Path0Config();
  c.vlan = 100;
  AddUp(c);
  Bytes tagged(kEchoRequestV4.begin(), kEchoRequestV4.begin() + 12);
  tagged.insert(tagged.end(), {0x81, 0x00, 0x00, 0x64});  // 802.1Q, VID 100
  tagged.insert(tagged.end(), kEchoRequestV4.begin() + 12, kEchoRequestV4.end());
  EXPECT_EQ(Rx(tagged), RxOutcome::Consumed());
  auto frames = sink_.Take();
  ASSERT_EQ(frames.size(), 1u);
  Bytes expected(kEchoReplyV4.begin(), kEchoReplyV4.begin() + 12);
  expected.insert(expected.end(), {0x81, 0x00, 0x00, 0x64});
  expected.insert(expected.end(), kEchoReplyV4.begin() + 12, kEchoReplyV4.end() - 4);
  EXPECT_EQ(frames[0].bytes, expected) << Hex(frames[0].bytes);
}

TEST(IcmpRateLimit, EchoRepliesFollowTheTokenBucket) {
  NetStackConfig config = TestConfig();
  config.echo_replies_per_second = 2;  // a token every 500 ms
  config.echo_burst = 2;
  RecordingSink sink;
  NetStack stack(config, sink);
  InterfaceId id = 0;
  ASSERT_EQ(stack.AddInterface(Path0Config(), &id), NetError::kOk);
  ASSERT_EQ(stack.SetInterfaceUp(id, true, T(0)), NetError::kOk);
  sink.Take();
  EXPECT_EQ(stack.Receive(0, kEchoRequestV4, T(1)), RxOutcome::Consumed());
  EXPECT_EQ(stack.Receive(0, kEchoRequestV6, T(1)), RxOutcome::Consumed());
  EXPECT_EQ(stack.Receive(0, kEchoRequestV4, T(1)), Drop(NetDrop::kEchoRateLimited));
  EXPECT_EQ(stack.Receive(0, kEchoRequestV4, T(499)), Drop(NetDrop::kEchoRateLimited));
  EXPECT_EQ(stack.Receive(0, kEchoRequestV4, T(501)), RxOutcome::Consumed());
  EXPECT_EQ(stack.Receive(0, kEchoRequestV4, T(502)), Drop(NetDrop::kEchoRateLimited));
  EXPECT_EQ(sink.Take().size(), 3u);
  EXPECT_EQ(stack.counters()[NetCounter::kEchoRequestsReceived], 6u);
  EXPECT_EQ(stack.counters()[NetCounter::kEchoRepliesSent], 3u);
}

TEST_F(IcmpTest, FragmentationNeededBecomesAPathMtuEvent) {
  AddUp();
  EXPECT_EQ(Rx(Error4(wire::Icmpv4Type::kDestinationUnreachable, wire::kIcmpv4FragmentationNeeded,
                      1400, OurSyn4()),
               T(42)),
            RxOutcome::Consumed());
  auto events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, IcmpEvent::Kind::kPathMtu);
  EXPECT_EQ(events[0].flow, (tcp::FlowKey{kOurIp, 40000, kRemoteIp, 443}));
  EXPECT_EQ(events[0].seq, wire::TcpSeq(7777));
  EXPECT_EQ(events[0].mtu, 1400u);
  EXPECT_EQ(events[0].icmp_type, 3);
  EXPECT_EQ(events[0].icmp_code, 4);
  EXPECT_EQ(events[0].interface, 0u);
  EXPECT_EQ(events[0].at, T(42));
  EXPECT_EQ(Count(NetCounter::kPmtuEvents), 1u);
  EXPECT_TRUE(sink_.frames.empty());  // nothing is sent back
}

TEST_F(IcmpTest, OnlyTheFirstEightBytesOfTheSegmentAreNeeded) {
  AddUp();
  Bytes quoted = OurSyn4();
  quoted.resize(28);  // RFC 792: the IP header and 64 bits
  Rx(Error4(wire::Icmpv4Type::kDestinationUnreachable, wire::kIcmpv4FragmentationNeeded, 1300,
            quoted));
  auto events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].flow, (tcp::FlowKey{kOurIp, 40000, kRemoteIp, 443}));
  EXPECT_EQ(events[0].mtu, 1300u);
}

TEST_F(IcmpTest, RouterWithoutNextHopMtuUsesThePlateaus) {
  AddUp();
  TcpSpec s;
  s.src_port = 40000;
  s.dst_port = 443;
  s.flags = wire::TcpFlag::kAck;
  s.payload = Bytes(1460, 0);  // a full 1500-byte datagram
  Bytes quoted = Ip4(kOurIp, kRemoteIp, wire::IpProtocol::kTcp, Tcp(kOurIp, kRemoteIp, s));
  quoted.resize(28);
  Rx(Error4(wire::Icmpv4Type::kDestinationUnreachable, wire::kIcmpv4FragmentationNeeded, 0,
            quoted));
  auto events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].mtu, 1492u);  // RFC 1191 §7: the plateau below 1500
}

TEST_F(IcmpTest, TinyReportedMtuIsRaisedToTheFloor) {
  AddUp();
  Rx(Error4(wire::Icmpv4Type::kDestinationUnreachable, wire::kIcmpv4FragmentationNeeded, 68,
            OurSyn4()));
  auto events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].mtu, 552u);  // NetStackConfig::ipv4_min_pmtu
}

TEST_F(IcmpTest, MtuNotBelowTheInterfaceIsIgnored) {
  AddUp();
  EXPECT_EQ(Rx(Error4(wire::Icmpv4Type::kDestinationUnreachable, wire::kIcmpv4FragmentationNeeded,
                      1500, OurSyn4())),
            Drop(NetDrop::kPmtuNotLower));
  EXPECT_EQ(Rx(Error6(wire::Icmpv6Type::kPacketTooBig, 0, 9000, OurSyn6())),
            Drop(NetDrop::kPmtuNotLower));
  EXPECT_EQ(stack_.pending_events(), 0u);
}

TEST_F(IcmpTest, PacketTooBigBecomesAPathMtuEvent) {
  AddUp();
  EXPECT_EQ(Rx(Error6(wire::Icmpv6Type::kPacketTooBig, 0, 1400, OurSyn6(kRemoteIp6, 99)), T(7)),
            RxOutcome::Consumed());
  auto events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, IcmpEvent::Kind::kPathMtu);
  EXPECT_EQ(events[0].flow, (tcp::FlowKey{kOurIp6, 40000, kRemoteIp6, 443}));
  EXPECT_EQ(events[0].seq, wire::TcpSeq(99));
  EXPECT_EQ(events[0].mtu, 1400u);
  EXPECT_EQ(events[0].icmp_type, 2);
}

TEST_F(IcmpTest, PacketTooBigBelowTheIpv6MinimumIsRaisedTo1280) {
  AddUp();
  Rx(Error6(wire::Icmpv6Type::kPacketTooBig, 0, 600, OurSyn6()));
  auto events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].mtu, 1280u);  // RFC 8201 §4
}

TEST_F(IcmpTest, OtherErrorsBecomeSoftErrorEvents) {
  AddUp();
  Rx(Error4(wire::Icmpv4Type::kDestinationUnreachable, wire::kIcmpv4HostUnreachable, 0, OurSyn4()));
  Rx(Error4(wire::Icmpv4Type::kTimeExceeded, wire::kIcmpv4TtlExceeded, 0, OurSyn4()));
  Rx(Error6(wire::Icmpv6Type::kDestinationUnreachable, wire::kIcmpv6AddressUnreachable, 0,
            OurSyn6()));
  Rx(Error6(wire::Icmpv6Type::kTimeExceeded, wire::kIcmpv6HopLimitExceeded, 0, OurSyn6()));
  Rx(Error6(wire::Icmpv6Type::kParameterProblem, wire::kIcmpv6ErroneousHeaderField, 0, OurSyn6()));
  auto events = Events();
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0].kind, IcmpEvent::Kind::kUnreachable);
  EXPECT_EQ(events[0].icmp_code, wire::kIcmpv4HostUnreachable);
  EXPECT_EQ(events[1].kind, IcmpEvent::Kind::kTimeExceeded);
  EXPECT_EQ(events[2].kind, IcmpEvent::Kind::kUnreachable);
  EXPECT_EQ(events[2].flow, (tcp::FlowKey{kOurIp6, 40000, kRemoteIp6, 443}));
  EXPECT_EQ(events[3].kind, IcmpEvent::Kind::kTimeExceeded);
  EXPECT_EQ(events[4].kind, IcmpEvent::Kind::kParameterProblem);
  EXPECT_EQ(Count(NetCounter::kIcmpErrorsReceived), 5u);
  EXPECT_EQ(Count(NetCounter::kPmtuEvents), 0u);
}

TEST_F(IcmpTest, ErrorsThatQuoteNoTcpSegmentOfOursAreDropped) {
  AddUp();
  Bytes udp = Ip4(kOurIp, kRemoteIp, wire::IpProtocol::kUdp, Bytes(8, 0));
  EXPECT_EQ(
      Rx(Error4(wire::Icmpv4Type::kDestinationUnreachable, wire::kIcmpv4PortUnreachable, 0, udp)),
      Drop(NetDrop::kIcmpErrorNotTcp));
  EXPECT_EQ(Rx(Error4(wire::Icmpv4Type::kDestinationUnreachable, wire::kIcmpv4FragmentationNeeded,
                      1400, OurSyn4())),
            RxOutcome::Consumed());
  Bytes not_ours = Ip4(V4("192.0.2.99"), kRemoteIp, wire::IpProtocol::kTcp, Bytes(20, 0));
  EXPECT_EQ(Rx(Error4(wire::Icmpv4Type::kDestinationUnreachable, wire::kIcmpv4FragmentationNeeded,
                      1400, not_ours)),
            Drop(NetDrop::kIcmpErrorNotOurs));
  Bytes not_ours6 = Ip6(kRemoteIp6, kOurIp6, wire::IpProtocol::kTcp, Bytes(20, 0));
  EXPECT_EQ(Rx(Error6(wire::Icmpv6Type::kPacketTooBig, 0, 1400, not_ours6)),
            Drop(NetDrop::kIcmpErrorNotOurs));
  Bytes ext6 = Ip6(kOurIp6, kRemoteIp6, wire::IpProtocol::kIpv6DestinationOptions, Bytes(16, 0));
  EXPECT_EQ(Rx(Error6(wire::Icmpv6Type::kPacketTooBig, 0, 1400, ext6)),
            Drop(NetDrop::kIcmpErrorNotTcp));
}

TEST(IcmpEventQueue, FullQueueDropsTheError) {
  NetStackConfig config = TestConfig();
  config.icmp_event_queue = 1;
  RecordingSink sink;
  NetStack stack(config, sink);
  InterfaceId id = 0;
  ASSERT_EQ(stack.AddInterface(Path0Config(), &id), NetError::kOk);
  ASSERT_EQ(stack.SetInterfaceUp(id, true, T(0)), NetError::kOk);
  TcpSpec s;
  s.src_port = 40000;
  s.dst_port = 443;
  wire::Icmpv4Repr icmp;
  icmp.type = wire::Icmpv4Type::kDestinationUnreachable;
  icmp.code = wire::kIcmpv4FragmentationNeeded;
  icmp.next_hop_mtu = 1400;
  Bytes quoted = Ip4(kOurIp, kRemoteIp, wire::IpProtocol::kTcp, Tcp(kOurIp, kRemoteIp, s));
  icmp.data = quoted;
  Bytes frame = Eth(kOurMac, kGatewayMac, wire::kEtherTypeIpv4,
                    Ip4(kRemoteIp, kOurIp, wire::IpProtocol::kIcmp, Icmp4(icmp)));
  EXPECT_EQ(stack.Receive(0, frame, T(1)), RxOutcome::Consumed());
  EXPECT_EQ(stack.Receive(0, frame, T(1)), Drop(NetDrop::kIcmpEventQueueFull));
  IcmpEvent e;
  EXPECT_TRUE(stack.NextEvent(&e));
  EXPECT_FALSE(stack.NextEvent(&e));
  EXPECT_EQ(stack.Receive(0, frame, T(2)), RxOutcome::Consumed());
}

TEST_F(IcmpTest, UnsupportedTypesAreCounted) {
  AddUp();
  wire::Icmpv4Repr reply;
  reply.type = wire::Icmpv4Type::kEchoReply;
  reply.echo_ident = 1;
  EXPECT_EQ(Rx(Eth(kOurMac, kPeerMac, wire::kEtherTypeIpv4,
                   Ip4(kPeerIp, kOurIp, wire::IpProtocol::kIcmp, Icmp4(reply)))),
            Drop(NetDrop::kIcmpUnsupported));
  // A timestamp request (type 13): well-formed, not handled.
  Bytes ts = {13, 0, 0, 0, 0, 0, 0, 0};
  uint16_t sum = wire::ComputeChecksum(ts);
  ts[2] = static_cast<uint8_t>(sum >> 8);
  ts[3] = static_cast<uint8_t>(sum);
  EXPECT_EQ(Rx(Eth(kOurMac, kPeerMac, wire::kEtherTypeIpv4,
                   Ip4(kPeerIp, kOurIp, wire::IpProtocol::kIcmp, ts))),
            Drop(NetDrop::kIcmpUnsupported));
  // A router advertisement: no SLAAC here.
  wire::Icmpv6Repr ra;
  ra.type = wire::Icmpv6Type::kRouterAdvertisement;
  ra.router_lifetime = 1800;
  const Ipv6Address router = V6("fe80::1");
  EXPECT_EQ(Rx(Eth(V6("ff02::1").MulticastMac(), kGatewayMac, wire::kEtherTypeIpv6,
                   Ip6(router, V6("ff02::1"), wire::IpProtocol::kIcmpv6,
                       Icmp6(ra, router, V6("ff02::1")), 255))),
            Drop(NetDrop::kIcmpUnsupported));
  EXPECT_TRUE(sink_.frames.empty());
}

TEST_F(IcmpTest, MulticastEchoIsNotAnswered) {
  AddUp();
  wire::Icmpv6Repr echo;
  echo.type = wire::Icmpv6Type::kEchoRequest;
  echo.echo_ident = 1;
  const Ipv6Address all = V6("ff02::1");
  EXPECT_EQ(Rx(Eth(all.MulticastMac(), kPeerMac, wire::kEtherTypeIpv6,
                   Ip6(kPeerIp6, all, wire::IpProtocol::kIcmpv6, Icmp6(echo, kPeerIp6, all)))),
            Drop(NetDrop::kEchoNotUnicast));
  EXPECT_TRUE(sink_.frames.empty());
}

}  // namespace
}  // namespace braid::net::test
