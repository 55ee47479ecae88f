// The receive path's demultiplexing to the TCP engine: flows seen from our side, parsed headers
// and options, VLANs, device offloads, extension headers, padding, and the accounting invariant.
#include <gtest/gtest.h>

#include "datapath/net/net_stack.h"
#include "tests/unit/datapath/net/net_fixture.h"

namespace braid::net::test {
namespace {

class RxTest : public NetFixture {
 protected:
  void TearDown() override {
    // Every frame ended as exactly one of delivered, consumed, dropped.
    const NetCounters& c = stack_.counters();
    uint64_t drops = 0;
    for (size_t i = 0; i < kNetDropCount; ++i) drops += c.drops[i];
    EXPECT_EQ(c[NetCounter::kRxFrames],
              c[NetCounter::kRxDelivered] + c[NetCounter::kRxConsumed] + c[NetCounter::kRxDropped]);
    EXPECT_EQ(drops, c[NetCounter::kRxDropped] + c[NetCounter::kTxDropped]);
  }
};

TEST_F(RxTest, SynIsDeliveredWithTheFlowFromOurSide) {
  AddUp();
  TcpSpec s;
  s.src_port = 40000;
  s.dst_port = 80;
  s.seq = 123456;
  s.options.mss = 1400;
  s.options.window_scale = 7;
  s.options.sack_permitted = true;
  EXPECT_EQ(Rx(TcpFrame4(kPeerIp, kOurIp, s), T(77)), RxOutcome::Delivered());
  ASSERT_EQ(backend_.inputs.size(), 1u);
  const Delivered& d = backend_.inputs[0];
  EXPECT_EQ(d.flow, (tcp::FlowKey{kOurIp, 80, kPeerIp, 40000}));
  EXPECT_EQ(d.header.seq, wire::TcpSeq(123456));
  EXPECT_EQ(d.header.flags, wire::TcpFlags(wire::TcpFlag::kSyn));
  EXPECT_EQ(d.header.options.mss, 1400);
  EXPECT_EQ(d.header.options.window_scale, 7);
  EXPECT_TRUE(d.header.options.sack_permitted);
  EXPECT_TRUE(d.payload.empty());
  EXPECT_EQ(d.now, T(77));
  EXPECT_EQ(Count(NetCounter::kRxDelivered), 1u);
}

TEST_F(RxTest, Ipv6DataIsDelivered) {
  AddUp();
  TcpSpec s;
  s.flags = wire::TcpFlag::kAck | wire::TcpFlag::kPsh;
  s.payload = {'d', 'a', 't', 'a'};
  EXPECT_EQ(Rx(TcpFrame6(kPeerIp6, kOurIp6, s)), RxOutcome::Delivered());
  ASSERT_EQ(backend_.inputs.size(), 1u);
  EXPECT_EQ(backend_.inputs[0].flow, (tcp::FlowKey{kOurIp6, 80, kPeerIp6, 40000}));
  EXPECT_EQ(backend_.inputs[0].payload, s.payload);
  EXPECT_EQ(backend_.inputs[0].header.payload_len, 4u);
}

TEST_F(RxTest, LinkLocalDestinationIsOurs) {
  AddUp();
  const Ipv6Address ll = stack_.interface(0)->link_local;
  EXPECT_EQ(Rx(TcpFrame6(V6("fe80::aa"), ll)), RxOutcome::Delivered());
}

TEST_F(RxTest, PaddingIsNotPayload) {
  AddUp();
  TcpSpec s;
  s.flags = wire::TcpFlag::kAck;
  s.payload = {'x'};
  Bytes frame = TcpFrame4(kPeerIp, kOurIp, s);
  ASSERT_LT(frame.size(), 60u);
  frame.resize(60, 0xee);
  EXPECT_EQ(Rx(frame), RxOutcome::Delivered());
  EXPECT_EQ(backend_.inputs[0].payload, Bytes{'x'});
}

TEST_F(RxTest, ExtensionHeadersAreWalked) {
  AddUp();
  Bytes tcp = Tcp(kPeerIp6, kOurIp6, TcpSpec{});
  // Hop-by-Hop (PadN), then Destination Options (PadN), then TCP.
  Bytes ext = {static_cast<uint8_t>(wire::IpProtocol::kIpv6DestinationOptions),
               0,
               1,
               4,
               0,
               0,
               0,
               0,
               static_cast<uint8_t>(wire::IpProtocol::kTcp),
               0,
               1,
               4,
               0,
               0,
               0,
               0};
  ext.insert(ext.end(), tcp.begin(), tcp.end());
  EXPECT_EQ(Rx(Eth(kOurMac, kPeerMac, wire::kEtherTypeIpv6,
                   Ip6(kPeerIp6, kOurIp6, wire::IpProtocol::kHopByHop, ext))),
            RxOutcome::Delivered());
  // An atomic fragment (offset 0, M clear, RFC 6946) is a whole packet.
  Bytes frag = {static_cast<uint8_t>(wire::IpProtocol::kTcp), 0, 0, 0, 0, 0, 0, 1};
  frag.insert(frag.end(), tcp.begin(), tcp.end());
  EXPECT_EQ(Rx(Eth(kOurMac, kPeerMac, wire::kEtherTypeIpv6,
                   Ip6(kPeerIp6, kOurIp6, wire::IpProtocol::kIpv6Fragment, frag))),
            RxOutcome::Delivered());
}

TEST_F(RxTest, VlansPickTheirInterface) {
  InterfaceConfig a = Path0Config();
  a.port = 1;
  a.vlan = 100;
  InterfaceConfig b;
  b.name = "path1";
  b.port = 1;
  b.vlan = 200;
  b.mac = Mac("02:00:00:00:01:01");
  b.ipv4 = {{V4("198.18.0.1"), 24}};
  AddUp(a);
  AddUp(b);
  EXPECT_EQ(Rx(Eth(kOurMac, kPeerMac, wire::kEtherTypeIpv4,
                   Ip4(kPeerIp, kOurIp, wire::IpProtocol::kTcp, Tcp(kPeerIp, kOurIp, {})), 100),
               T(1), 1),
            RxOutcome::Delivered());
  EXPECT_EQ(Rx(Eth(b.mac, kPeerMac, wire::kEtherTypeIpv4,
                   Ip4(V4("198.18.0.2"), V4("198.18.0.1"), wire::IpProtocol::kTcp,
                       Tcp(V4("198.18.0.2"), V4("198.18.0.1"), {})),
                   200),
               T(1), 1),
            RxOutcome::Delivered());
  // Weak host model (the default, RFC 1122 §3.3.4.2): path0's address is accepted on VLAN 200
  // too, as an MPTCP subflow routed over the other path arrives.
  EXPECT_EQ(Rx(Eth(b.mac, kPeerMac, wire::kEtherTypeIpv4,
                   Ip4(kPeerIp, kOurIp, wire::IpProtocol::kTcp, Tcp(kPeerIp, kOurIp, {})), 200),
               T(1), 1),
            RxOutcome::Delivered());
  // Untagged, or another VLAN, on that port: no interface.
  EXPECT_EQ(Rx(TcpFrame4(kPeerIp, kOurIp), T(1), 1), Drop(NetDrop::kVlanNotOurs));
  EXPECT_EQ(Rx(Eth(kOurMac, kPeerMac, wire::kEtherTypeIpv4,
                   Ip4(kPeerIp, kOurIp, wire::IpProtocol::kTcp, Tcp(kPeerIp, kOurIp, {})), 300),
               T(1), 1),
            Drop(NetDrop::kVlanNotOurs));
  EXPECT_EQ(backend_.inputs.size(), 3u);  // the two per-VLAN ones and the weak-host one
}

TEST_F(RxTest, PriorityTaggedFramesBelongToTheUntaggedInterface) {
  AddUp();
  Bytes frame = TcpFrame4(kPeerIp, kOurIp);
  Bytes tagged(frame.begin(), frame.begin() + 12);
  tagged.insert(tagged.end(), {0x81, 0x00, 0xa0, 0x00});  // PCP 5, VID 0
  tagged.insert(tagged.end(), frame.begin() + 12, frame.end());
  EXPECT_EQ(Rx(tagged), RxOutcome::Delivered());
}

TEST_F(RxTest, DeviceOffloads) {
  InterfaceConfig c = Path0Config();
  c.vlan = 42;
  AddUp(c);
  // The device stripped the tag: RxOffload carries it.
  Bytes frame = TcpFrame4(kPeerIp, kOurIp);
  RxOffload stripped;
  stripped.vlan_stripped = true;
  stripped.vlan_tci = 42;
  EXPECT_EQ(stack_.Receive(0, frame, T(1), stripped), RxOutcome::Delivered());
  EXPECT_EQ(stack_.Receive(0, frame, T(1)), Drop(NetDrop::kVlanNotOurs));
  // The device verified the checksums: a (deliberately) wrong one is trusted.
  Bytes bad = frame;
  bad[14 + 20 + 16] ^= 0xff;  // TCP checksum
  bad[14 + 10] ^= 0xff;       // IPv4 header checksum
  EXPECT_EQ(stack_.Receive(0, bad, T(1), stripped), Drop(NetDrop::kIpv4BadChecksum));
  RxOffload good = stripped;
  good.ipv4_checksum_good = true;
  EXPECT_EQ(stack_.Receive(0, bad, T(1), good), Drop(NetDrop::kTcpBadChecksum));
  good.l4_checksum_good = true;
  EXPECT_EQ(stack_.Receive(0, bad, T(1), good), RxOutcome::Delivered());
}

TEST_F(RxTest, BurstOfMixedFramesIsAccountedOneByOne) {
  AddUp();
  Bytes arp = Eth(MacAddress::Broadcast(), kPeerMac, wire::kEtherTypeArp,
                  Arp(wire::ArpOperation::kRequest, kPeerMac, kPeerIp, {}, kOurIp));
  std::vector<Bytes> burst = {TcpFrame4(kPeerIp, kOurIp), arp, Bytes(5, 0),
                              TcpFrame6(kPeerIp6, kOurIp6), TcpFrame4(kPeerIp, V4("192.0.2.9"))};
  for (const Bytes& f : burst) Rx(f);
  EXPECT_EQ(Count(NetCounter::kRxFrames), 5u);
  EXPECT_EQ(Count(NetCounter::kRxDelivered), 2u);
  EXPECT_EQ(Count(NetCounter::kRxConsumed), 1u);
  EXPECT_EQ(Count(NetCounter::kRxDropped), 2u);
}

}  // namespace
TEST_F(RxTest, AFlowArrivingOnAnotherInterfaceIsAnsweredThere) {
  // Path 0 on port 0 owns kOurIp; path 1 on port 1 has its own subnet. A peer on path 1 reaches
  // kOurIp through path 1 (weak host): the reply must leave on port 1, not by kOurIp's path.
  AddUp(Path0Config());
  InterfaceConfig b;
  b.name = "path1";
  b.port = 1;
  b.mac = Mac("02:00:00:00:01:01");
  b.ipv4 = {{V4("198.18.0.1"), 24}};
  AddUp(b);
  const Ipv4Address peer = V4("198.18.0.2");
  EXPECT_EQ(Rx(Eth(b.mac, kPeerMac, wire::kEtherTypeIpv4,
                   Ip4(peer, kOurIp, wire::IpProtocol::kTcp, Tcp(peer, kOurIp, {}))),
               T(1), 1),
            RxOutcome::Delivered());
  const TcpSpec in;  // what Tcp(peer, kOurIp, {}) sent: ports 40000 -> 80
  TcpSpec reply;
  reply.src_port = in.dst_port;
  reply.dst_port = in.src_port;
  reply.flags = wire::TcpFlag::kSyn | wire::TcpFlag::kAck;
  stack_.Transmit({kOurIp, in.dst_port, peer, in.src_port}, Outbound(reply));
  auto frames = sink_.Take();
  ASSERT_EQ(frames.size(), 1u);  // the ARP request for the peer, on path 1's port
  EXPECT_EQ(frames[0].port, 1);
  EXPECT_EQ(Dropped(NetDrop::kNoRoute), 0u);
}

class StrongHostTest : public NetFixture {
 public:
  StrongHostTest() : NetFixture(StrongConfig()) {}
  static NetStackConfig StrongConfig() {
    NetStackConfig c = TestConfig();
    c.weak_host = false;
    return c;
  }
};

TEST_F(StrongHostTest, AnAddressIsAcceptedOnlyOnItsInterface) {
  InterfaceConfig a = Path0Config();
  a.port = 1;
  a.vlan = 100;
  InterfaceConfig b;
  b.name = "path1";
  b.port = 1;
  b.vlan = 200;
  b.mac = Mac("02:00:00:00:01:01");
  b.ipv4 = {{V4("198.18.0.1"), 24}};
  AddUp(a);
  AddUp(b);
  EXPECT_EQ(Rx(Eth(b.mac, kPeerMac, wire::kEtherTypeIpv4,
                   Ip4(kPeerIp, kOurIp, wire::IpProtocol::kTcp, Tcp(kPeerIp, kOurIp, {})), 200),
               T(1), 1),
            Drop(NetDrop::kIpv4NotForUs));
  EXPECT_EQ(Rx(Eth(kOurMac, kPeerMac, wire::kEtherTypeIpv4,
                   Ip4(kPeerIp, kOurIp, wire::IpProtocol::kTcp, Tcp(kPeerIp, kOurIp, {})), 100),
               T(1), 1),
            RxOutcome::Delivered());
}

}  // namespace braid::net::test
