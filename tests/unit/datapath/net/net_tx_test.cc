// The send path: TCP segments framed (golden bytes), checksums in software or left to the device,
// VLAN tags, errors, and source-address route selection over three paths.
#include <gtest/gtest.h>

#include "datapath/net/net_stack.h"
#include "tests/unit/datapath/net/net_fixture.h"

namespace braid::net::test {
namespace {

// SYN 192.0.2.1:40000 -> 192.0.2.2:80, seq 1000, window 65535, MSS 1460.
const Bytes kSynFrame = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0xaa,  // Ethernet destination: the resolved peer
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  // source: us
    0x08, 0x00,                          // IPv4
    0x45, 0x00,                          // version 4, IHL 5, DSCP/ECN 0
    0x00, 0x2c,                          // total length 44
    0x00, 0x00,                          // identification 0 (RFC 6864 §4.1)
    0x40, 0x00,                          // DF (path MTU discovery), offset 0
    0x40, 0x06,                          // TTL 64, TCP
    0xb6, 0xc8,                          // header checksum
    0xc0, 0x00, 0x02, 0x01,              // source 192.0.2.1
    0xc0, 0x00, 0x02, 0x02,              // destination 192.0.2.2
    0x9c, 0x40, 0x00, 0x50,              // ports 40000 -> 80
    0x00, 0x00, 0x03, 0xe8,              // sequence number 1000
    0x00, 0x00, 0x00, 0x00,              // acknowledgment number
    0x60, 0x02,                          // data offset 6, SYN
    0xff, 0xff,                          // window
    0x73, 0xaa,                          // checksum
    0x00, 0x00,                          // urgent pointer
    0x02, 0x04, 0x05, 0xb4,              // MSS 1460
    0x00, 0x00,                          // Ethernet padding to 60
};

class TxTest : public NetFixture {
 protected:
  static TcpSpec Syn() {
    TcpSpec s;
    s.src_port = 40000;
    s.dst_port = 80;
    s.seq = 1000;
    s.options.mss = 1460;
    return s;
  }
};

TEST_F(TxTest, SynToAResolvedNeighbour) {
  AddUp();
  Learn(kPeerIp, kPeerMac);
  const uint64_t frames_before = Count(NetCounter::kTxFrames);
  TcpSpec s = Syn();
  stack_.Transmit({kOurIp, 40000, kPeerIp, 80}, Outbound(s));
  auto frames = sink_.Take();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].port, 0);
  EXPECT_EQ(frames[0].bytes, kSynFrame) << Hex(frames[0].bytes);
  EXPECT_EQ(frames[0].offload, TxOffload{});
  EXPECT_EQ(Count(NetCounter::kTxSegments), 1u);
  EXPECT_EQ(Count(NetCounter::kTxFrames), frames_before + 1);
}

TEST_F(TxTest, ChecksumLeftToTheDevice) {
  InterfaceConfig c = Path0Config();
  c.tx_tcp_checksum_offload = true;
  AddUp(c);
  Learn(kPeerIp, kPeerMac);
  TcpSpec s = Syn();
  stack_.Transmit({kOurIp, 40000, kPeerIp, 80}, Outbound(s));
  auto frames = sink_.Take();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].offload, (TxOffload{true, true, 14, 20, 24}));
  // The checksum field holds the pseudo-header sum, not complemented (rte_ipv4_phdr_cksum).
  EXPECT_EQ(frames[0].bytes[14 + 20 + 16], 0x84);
  EXPECT_EQ(frames[0].bytes[14 + 20 + 17], 0x22);
  // What the device does: the complement of the sum over the segment from there.
  std::span<uint8_t> seg(frames[0].bytes.data() + 34, 24);
  wire::InternetChecksum device;
  device.Add(seg);
  uint16_t final_sum = device.Finish();
  seg[16] = static_cast<uint8_t>(final_sum >> 8);
  seg[17] = static_cast<uint8_t>(final_sum);
  EXPECT_EQ(frames[0].bytes, kSynFrame) << Hex(frames[0].bytes);
  EXPECT_EQ(Count(NetCounter::kTxChecksumOffloaded), 1u);
}

TEST_F(TxTest, Ipv6SegmentWithPayloadInTwoPieces) {
  AddUp();
  stack_.Resolve(0, kPeerIp6, T(0));
  wire::Icmpv6Repr na;
  na.type = wire::Icmpv6Type::kNeighborAdvertisement;
  na.target = kPeerIp6;
  na.solicited_flag = true;
  na.override_flag = true;
  na.target_link_address = kPeerMac;
  Rx(Eth(kOurMac, kPeerMac, wire::kEtherTypeIpv6,
         Ip6(kPeerIp6, kOurIp6, wire::IpProtocol::kIcmpv6, Icmp6(na, kPeerIp6, kOurIp6), 255)));
  sink_.Take();

  TcpSpec s;
  s.flags = wire::TcpFlag::kAck | wire::TcpFlag::kPsh;
  s.seq = 5;
  s.ack = 9;
  const Bytes head = {'h', 'e', 'l'};
  const Bytes tail = {'l', 'o'};
  tcp::OutboundSegment out = Outbound(s);
  out.header.payload_len = 5;
  out.payload_head = head;
  out.payload_tail = tail;
  stack_.Transmit({kOurIp6, 40000, kPeerIp6, 80}, out);
  auto frames = sink_.Take();
  ASSERT_EQ(frames.size(), 1u);
  auto eth = wire::EthernetFrame::Check(frames[0].bytes);
  EXPECT_EQ(eth->destination(), kPeerMac);
  EXPECT_EQ(eth->ethertype(), wire::kEtherTypeIpv6);
  auto ip = wire::Ipv6Packet::Check(eth->payload());
  ASSERT_TRUE(ip.ok());
  EXPECT_EQ(wire::Ipv6Repr::Parse(*ip),
            (wire::Ipv6Repr{kOurIp6, kPeerIp6, wire::IpProtocol::kTcp, 64, 0, 0, 25}));
  auto tcp = wire::TcpSegment::Check(ip->payload());
  ASSERT_TRUE(tcp.ok());
  EXPECT_TRUE(tcp->VerifyChecksumV6(kOurIp6, kPeerIp6));
  EXPECT_EQ(Bytes(tcp->payload().begin(), tcp->payload().end()), (Bytes{'h', 'e', 'l', 'l', 'o'}));
  EXPECT_EQ(tcp->flags(), wire::TcpFlag::kAck | wire::TcpFlag::kPsh);
}

TEST_F(TxTest, VlanInterfaceTagsItsFrames) {
  InterfaceConfig c = Path0Config();
  c.vlan = 100;
  AddUp(c);
  Rx(Eth(MacAddress::Broadcast(), kPeerMac, wire::kEtherTypeArp,
         Arp(wire::ArpOperation::kRequest, kPeerMac, kPeerIp, {}, kOurIp), 100));
  auto frames = sink_.Take();
  ASSERT_EQ(frames.size(), 1u);  // the ARP reply, tagged
  EXPECT_EQ(frames[0].bytes[12], 0x81);
  EXPECT_EQ(frames[0].bytes[15], 100);
  TcpSpec s = Syn();
  stack_.Transmit({kOurIp, 40000, kPeerIp, 80}, Outbound(s));
  frames = sink_.Take();
  ASSERT_EQ(frames.size(), 1u);
  auto eth = wire::EthernetFrame::Check(frames[0].bytes);
  ASSERT_TRUE(eth->has_vlan());
  EXPECT_EQ(eth->vlan_tci() & 0x0fff, 100);
  EXPECT_EQ(eth->ethertype(), wire::kEtherTypeIpv4);
  // Same bytes as untagged from the IP header on.
  EXPECT_EQ(Bytes(frames[0].bytes.begin() + 18, frames[0].bytes.begin() + 18 + 44),
            Bytes(kSynFrame.begin() + 14, kSynFrame.begin() + 14 + 44));
}

TEST_F(TxTest, Errors) {
  AddUp();
  Learn(kPeerIp, kPeerMac);
  TcpSpec s = Syn();
  // The source is not ours: no path to leave by.
  stack_.Transmit({V4("192.0.2.99"), 40000, kPeerIp, 80}, Outbound(s));
  EXPECT_EQ(Dropped(NetDrop::kNoRoute), 1u);
  // Families mixed; a multicast peer.
  stack_.Transmit({kOurIp, 40000, kPeerIp6, 80}, Outbound(s));
  stack_.Transmit({kOurIp, 40000, V4("224.0.0.1"), 80}, Outbound(s));
  EXPECT_EQ(Dropped(NetDrop::kTxBadFlow), 2u);
  // Larger than the MTU: never fragmented.
  TcpSpec big = Syn();
  big.flags = wire::TcpFlag::kAck;
  big.payload = Bytes(1500 - 20 - 24 + 1, 0);
  stack_.Transmit({kOurIp, 40000, kPeerIp, 80}, Outbound(big));
  EXPECT_EQ(Dropped(NetDrop::kTxTooBig), 1u);
  big.payload.pop_back();
  stack_.Transmit({kOurIp, 40000, kPeerIp, 80}, Outbound(big));  // exactly the MTU: sent
  auto frames = sink_.Take();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].bytes.size(), 14u + 1500u);
  // Options that do not fit the header.
  TcpSpec crowded = Syn();
  crowded.options.window_scale = 7;
  crowded.options.sack_permitted = true;
  crowded.options.timestamps = wire::TcpTimestamps{1, 2};
  for (uint32_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(
        crowded.options.sack_blocks.TryAppend({wire::TcpSeq(i * 10), wire::TcpSeq(i * 10 + 5)}));
  }
  stack_.Transmit({kOurIp, 40000, kPeerIp, 80}, Outbound(crowded));
  EXPECT_EQ(Dropped(NetDrop::kTxEmitFailed), 1u);
  EXPECT_EQ(Count(NetCounter::kTxDropped), 5u);
  EXPECT_EQ(Count(NetCounter::kTxSegments), 6u);
  EXPECT_TRUE(sink_.frames.empty());
}

// --- Three paths ---

InterfaceConfig PathConfig(uint16_t n) {
  InterfaceConfig c;
  c.name = "path" + std::to_string(n);
  c.port = n;
  c.mac = MacAddress{{0x02, 0, 0, 0, static_cast<uint8_t>(n), 0x01}};
  c.ipv4 = {{Ipv4Address{{10, static_cast<uint8_t>(n), 0, 1}}, 24}};
  c.ipv6 = {{Ipv6Address{{0x20, 0x01, 0x0d, 0xb8, 0, static_cast<uint8_t>(n), 0, 0, 0, 0, 0, 0, 0,
                          0, 0, 1}},
             64}};
  c.ipv4_gateway = Ipv4Address{{10, static_cast<uint8_t>(n), 0, 254}};
  c.ipv6_gateway = Ipv6Address{
      {0x20, 0x01, 0x0d, 0xb8, 0, static_cast<uint8_t>(n), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfe}};
  return c;
}

MacAddress GatewayMac(uint16_t n) { return {{0x02, 0, 0, 0, static_cast<uint8_t>(n), 0xfe}}; }

class ThreePathTest : public NetFixture {
 protected:
  void SetUp() override {
    for (uint16_t n = 0; n < 3; ++n) {
      InterfaceId id = AddUp(PathConfig(n));
      ASSERT_EQ(id, n);
      // Each gateway announces itself on its path.
      const Ipv4Address gw = *PathConfig(n).ipv4_gateway;
      const Ipv4Address us = PathConfig(n).ipv4[0].address;
      Rx(Eth(MacAddress::Broadcast(), GatewayMac(n), wire::kEtherTypeArp,
             Arp(wire::ArpOperation::kRequest, GatewayMac(n), gw, {}, us)),
         T(1), n);
    }
    sink_.Take();
  }
};

TEST_F(ThreePathTest, EachSourceLeavesThroughItsOwnPath) {
  const Ipv4Address remote = V4("198.51.100.7");
  TcpSpec s;
  for (uint16_t n : {2, 0, 1}) {
    const Ipv4Address source = PathConfig(n).ipv4[0].address;
    stack_.Transmit({source, static_cast<uint16_t>(40000 + n), remote, 443}, Outbound(s));
    auto frames = sink_.Take();
    ASSERT_EQ(frames.size(), 1u) << n;
    EXPECT_EQ(frames[0].port, n);
    auto eth = wire::EthernetFrame::Check(frames[0].bytes);
    EXPECT_EQ(eth->destination(), GatewayMac(n));
    EXPECT_EQ(eth->source(), PathConfig(n).mac);
    auto ip = wire::Ipv4Packet::Check(eth->payload());
    EXPECT_EQ(ip->source(), source);
    EXPECT_EQ(ip->destination(), remote);
  }
}

TEST_F(ThreePathTest, SourceRoutingIgnoresBetterRoutesOnOtherPaths) {
  // Path 2 has a specific route to the remote's network; a flow from path 0's address still uses
  // path 0's default route, while the route lookup without a source prefers path 2.
  Route r;
  r.prefix = V4("198.51.100.0");
  r.prefix_len = 24;
  r.interface = 2;
  r.gateway = wire::IpAddress(V4("10.2.0.253"));
  ASSERT_EQ(stack_.AddRoute(r), NetError::kOk);
  const Ipv4Address remote = V4("198.51.100.7");
  auto from0 = stack_.RouteFrom(V4("10.0.0.1"), remote);
  ASSERT_TRUE(from0.has_value());
  EXPECT_EQ(from0->interface, 0u);
  EXPECT_EQ(from0->neighbor, wire::IpAddress(V4("10.0.0.254")));
  EXPECT_EQ(from0->route.kind, RouteKind::kDefault);
  auto any = stack_.RouteTo(remote);
  ASSERT_TRUE(any.has_value());
  EXPECT_EQ(any->interface, 2u);
  EXPECT_EQ(any->neighbor, wire::IpAddress(V4("10.2.0.253")));
  EXPECT_EQ(any->source, wire::IpAddress(V4("10.2.0.1")));
  EXPECT_EQ(any->route.kind, RouteKind::kStatic);
  // On-link on its own path: the destination is its own next hop.
  auto onlink = stack_.RouteFrom(V4("10.1.0.1"), V4("10.1.0.9"));
  ASSERT_TRUE(onlink.has_value());
  EXPECT_EQ(onlink->interface, 1u);
  EXPECT_EQ(onlink->neighbor, wire::IpAddress(V4("10.1.0.9")));
  EXPECT_EQ(onlink->route.kind, RouteKind::kConnected);
  // Another path's subnet from path 1's address: through path 1's gateway, not path 0.
  auto cross = stack_.RouteFrom(V4("10.1.0.1"), V4("10.0.0.9"));
  ASSERT_TRUE(cross.has_value());
  EXPECT_EQ(cross->interface, 1u);
  EXPECT_EQ(cross->neighbor, wire::IpAddress(V4("10.1.0.254")));
}

TEST_F(ThreePathTest, Ipv6SourcesToo) {
  const Ipv6Address remote = V6("2001:db8:99::7");
  for (uint16_t n = 0; n < 3; ++n) {
    auto hop = stack_.RouteFrom(PathConfig(n).ipv6[0].address, remote);
    ASSERT_TRUE(hop.has_value());
    EXPECT_EQ(hop->interface, n);
    EXPECT_EQ(hop->neighbor, wire::IpAddress(*PathConfig(n).ipv6_gateway));
  }
  // Link-local destinations: only with a source (which says which link).
  EXPECT_FALSE(stack_.RouteTo(V6("fe80::1")).has_value());
  auto ll = stack_.RouteFrom(stack_.interface(1)->link_local, V6("fe80::1"));
  ASSERT_TRUE(ll.has_value());
  EXPECT_EQ(ll->interface, 1u);
  EXPECT_EQ(ll->neighbor, wire::IpAddress(V6("fe80::1")));
}

TEST_F(ThreePathTest, APathWithoutARouteDoesNotBorrowAnother) {
  InterfaceConfig c = PathConfig(3);
  c.ipv4_gateway.reset();
  AddUp(c);
  TcpSpec s;
  stack_.Transmit({V4("10.3.0.1"), 40000, V4("198.51.100.7"), 443}, Outbound(s));
  EXPECT_EQ(Dropped(NetDrop::kNoRoute), 1u);
  EXPECT_FALSE(stack_.RouteFrom(V4("10.3.0.1"), V4("198.51.100.7")).has_value());
  EXPECT_TRUE(stack_.RouteFrom(V4("10.3.0.1"), V4("10.3.0.7")).has_value());
}

}  // namespace
}  // namespace braid::net::test
