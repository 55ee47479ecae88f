// IPv6 neighbour discovery (RFC 4861) through NetStack: golden NS/NA, solicited-node multicast,
// DAD solicitations, resolution with queued frames, unsolicited NA on up, validation rules.
#include <gtest/gtest.h>

#include "datapath/net/net_stack.h"
#include "tests/unit/datapath/net/net_fixture.h"

namespace braid::net::test {
namespace {

// The peer (2001:db8:1::2) asks for our 2001:db8:1::1 at its solicited-node group.
const Bytes kPeerSolicitation = {
    0x33, 0x33, 0xff, 0x00, 0x00, 0x01,  // Ethernet: the group ff02::1:ff00:1 (RFC 2464 §7)
    0x02, 0x00, 0x00, 0x00, 0x00, 0xaa,  // from the peer
    0x86, 0xdd,                          // IPv6
    0x60, 0x00, 0x00, 0x00,              // version 6, traffic class 0, flow label 0
    0x00, 0x20,                          // payload length 32
    0x3a,                                // next header ICMPv6
    0xff,                                // hop limit 255
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00,  // source 2001:db8:1::2
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,  //
    0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // destination ff02::1:ff00:1
    0x00, 0x00, 0x00, 0x01, 0xff, 0x00, 0x00, 0x01,  //
    0x87, 0x00, 0x1b, 0x7d,                          // type 135 NS, code 0, checksum
    0x00, 0x00, 0x00, 0x00,                          // reserved
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00,  // target 2001:db8:1::1
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,  //
    0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0xaa,  // source link-layer address option
};

// Our answer: solicited, override, unicast to the solicitor.
const Bytes kOurAdvertisement = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0xaa,  // to the peer's link-layer address (from its option)
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  // from us
    0x86, 0xdd,                          // IPv6
    0x60, 0x00, 0x00, 0x00,              // version 6
    0x00, 0x20,                          // payload length 32
    0x3a,                                // ICMPv6
    0xff,                                // hop limit 255
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00,  // source: the target, 2001:db8:1::1
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,  //
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00,  // destination: the solicitor
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,  //
    0x88, 0x00, 0x8a, 0x70,                          // type 136 NA, code 0, checksum
    0x60, 0x00, 0x00, 0x00,                          // R=0 S=1 O=1
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00,  // target 2001:db8:1::1
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,  //
    0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  // target link-layer address option
};

// RFC 4861 §7.2.6, for our link-local address fe80::ff:fe00:1 (EUI-64 of 02:00:00:00:00:01).
const Bytes kUnsolicitedLinkLocal = {
    0x33, 0x33, 0x00, 0x00, 0x00, 0x01,              // Ethernet: all-nodes
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01,              // us
    0x86, 0xdd,                                      // IPv6
    0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff,  // payload 32, ICMPv6, hop limit 255
    0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // source fe80::ff:fe00:1
    0x00, 0x00, 0x00, 0xff, 0xfe, 0x00, 0x00, 0x01,  //
    0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // destination ff02::1
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,  //
    0x88, 0x00, 0x59, 0x9b,                          // NA, checksum
    0x20, 0x00, 0x00, 0x00,                          // R=0 S=0 O=1
    0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // target fe80::ff:fe00:1
    0x00, 0x00, 0x00, 0xff, 0xfe, 0x00, 0x00, 0x01,  //
    0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  // target link-layer address option
};

// Our solicitation for the peer 2001:db8:1::2, from the source of the segment waiting for it.
const Bytes kOurSolicitation = {
    0x33, 0x33, 0xff, 0x00, 0x00, 0x02,              // Ethernet: the group ff02::1:ff00:2
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01,              // us
    0x86, 0xdd,                                      // IPv6
    0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff,  // payload 32, ICMPv6, hop limit 255
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00,  // source 2001:db8:1::1
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,  //
    0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // destination ff02::1:ff00:2
    0x00, 0x00, 0x00, 0x01, 0xff, 0x00, 0x00, 0x02,  //
    0x87, 0x00, 0x1c, 0x25,                          // NS, checksum
    0x00, 0x00, 0x00, 0x00,                          // reserved
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00,  // target 2001:db8:1::2
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,  //
    0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  // source link-layer address option
};

class NdTest : public NetFixture {
 protected:
  // An ND message from `src` to `dst` through the wire emitters.
  Bytes Nd(const wire::Icmpv6Repr& icmp, const Ipv6Address& src, const Ipv6Address& dst,
           uint8_t hop_limit = 255, const MacAddress& eth_dst = kOurMac) {
    return Eth(eth_dst, kPeerMac, wire::kEtherTypeIpv6,
               Ip6(src, dst, wire::IpProtocol::kIcmpv6, Icmp6(icmp, src, dst), hop_limit));
  }
  static wire::Icmpv6Repr Na(const Ipv6Address& target, bool solicited, bool override_flag,
                             std::optional<MacAddress> tlla) {
    wire::Icmpv6Repr na;
    na.type = wire::Icmpv6Type::kNeighborAdvertisement;
    na.target = target;
    na.solicited_flag = solicited;
    na.override_flag = override_flag;
    na.target_link_address = tlla;
    return na;
  }
  static wire::Icmpv6Repr Ns(const Ipv6Address& target, std::optional<MacAddress> slla) {
    wire::Icmpv6Repr ns;
    ns.type = wire::Icmpv6Type::kNeighborSolicitation;
    ns.target = target;
    ns.source_link_address = slla;
    return ns;
  }
};

TEST_F(NdTest, LinkLocalAddressIsDerivedFromTheMac) {
  AddUp();
  EXPECT_EQ(stack_.interface(0)->link_local, V6("fe80::ff:fe00:1"));
}

TEST_F(NdTest, AnswersSolicitationAtTheSolicitedNodeGroup) {
  AddUp();
  EXPECT_EQ(Rx(kPeerSolicitation), RxOutcome::Consumed());
  auto frames = sink_.Take();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].bytes, kOurAdvertisement) << Hex(frames[0].bytes);
  EXPECT_EQ(Count(NetCounter::kNdSolicitationsReceived), 1u);
  EXPECT_EQ(Count(NetCounter::kNdAdvertisementsSent), 1u);
  // The solicitor is learned from its option (RFC 4861 §7.2.3): STALE.
  auto n = stack_.Neighbor(0, kPeerIp6);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->state, NeighborState::kStale);
  EXPECT_EQ(n->mac, kPeerMac);
}

TEST_F(NdTest, AnswersUnicastSolicitationForTheLinkLocalAddress) {
  AddUp();
  const Ipv6Address ll = V6("fe80::ff:fe00:1");
  const Ipv6Address peer_ll = V6("fe80::aa");
  EXPECT_EQ(Rx(Nd(Ns(ll, std::nullopt), peer_ll, ll)), RxOutcome::Consumed());
  auto frames = sink_.Take();
  ASSERT_EQ(frames.size(), 1u);
  // Without a source link-layer option the answer goes to the frame's source MAC.
  EXPECT_EQ(MacAddress::FromBytes(frames[0].bytes.data()), kPeerMac);
  auto ip = wire::Ipv6Packet::Check(std::span<const uint8_t>(frames[0].bytes).subspan(14));
  ASSERT_TRUE(ip.ok());
  EXPECT_EQ(ip->source(), ll);
  EXPECT_EQ(ip->destination(), peer_ll);
  EXPECT_FALSE(stack_.Neighbor(0, peer_ll).has_value());  // nothing to learn
}

TEST_F(NdTest, DuplicateAddressDetectionForOurAddressIsAnsweredToAllNodes) {
  AddUp();
  // RFC 4862 §5.4.2: from ::, to the target's solicited-node group, no source option.
  Bytes dad = Nd(Ns(kOurIp6, std::nullopt), Ipv6Address{}, kOurIp6.SolicitedNodeMulticast(), 255,
                 kOurIp6.SolicitedNodeMulticast().MulticastMac());
  EXPECT_EQ(Rx(dad), RxOutcome::Consumed());
  auto frames = sink_.Take();
  ASSERT_EQ(frames.size(), 1u);
  auto ip = wire::Ipv6Packet::Check(std::span<const uint8_t>(frames[0].bytes).subspan(14));
  ASSERT_TRUE(ip.ok());
  EXPECT_EQ(ip->destination(), V6("ff02::1"));
  auto walk = ip->WalkExtensionHeaders();
  auto na = wire::Icmpv6Packet::Check(walk->upper_layer);
  ASSERT_TRUE(na.ok());
  EXPECT_EQ(na->type(), wire::Icmpv6Type::kNeighborAdvertisement);
  EXPECT_FALSE(na->na_solicited());  // RFC 4861 §7.2.4
  EXPECT_TRUE(na->na_override());
  EXPECT_EQ(stack_.neighbor_count(), 0u);
}

TEST_F(NdTest, UnsolicitedAdvertisementsWhenTheInterfaceComesUp) {
  InterfaceId id = 0;
  ASSERT_EQ(stack_.AddInterface(Path0Config(), &id), NetError::kOk);
  ASSERT_EQ(stack_.SetInterfaceUp(id, true, T(0)), NetError::kOk);
  auto frames = sink_.Take();
  ASSERT_EQ(frames.size(), 3u);  // gratuitous ARP, then link-local, then global
  EXPECT_EQ(frames[1].bytes, kUnsolicitedLinkLocal) << Hex(frames[1].bytes);
  auto ip = wire::Ipv6Packet::Check(std::span<const uint8_t>(frames[2].bytes).subspan(14));
  ASSERT_TRUE(ip.ok());
  EXPECT_EQ(ip->source(), kOurIp6);
  EXPECT_EQ(ip->destination(), V6("ff02::1"));
}

TEST_F(NdTest, ResolutionBySolicitationThenSolicitedAdvertisement) {
  AddUp();
  stack_.SetNow(T(100));
  const tcp::FlowKey flow{kOurIp6, 40000, kPeerIp6, 80};
  for (uint32_t i = 0; i < 2; ++i) {
    TcpSpec s;
    s.seq = 500 + i;
    stack_.Transmit(flow, Outbound(s));
  }
  auto frames = sink_.Take();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].bytes, kOurSolicitation) << Hex(frames[0].bytes);
  EXPECT_EQ(stack_.Neighbor(0, kPeerIp6)->state, NeighborState::kIncomplete);

  EXPECT_EQ(Rx(Nd(Na(kPeerIp6, true, true, kPeerMac), kPeerIp6, kOurIp6), T(120)),
            RxOutcome::Consumed());
  frames = sink_.Take();
  ASSERT_EQ(frames.size(), 2u);
  for (uint32_t i = 0; i < 2; ++i) {
    auto eth = wire::EthernetFrame::Check(frames[i].bytes);
    EXPECT_EQ(eth->destination(), kPeerMac);
    auto ip = wire::Ipv6Packet::Check(eth->payload());
    ASSERT_TRUE(ip.ok());
    EXPECT_EQ(ip->hop_limit(), 64);
    auto tcp = wire::TcpSegment::Check(ip->payload());
    ASSERT_TRUE(tcp.ok());
    EXPECT_TRUE(tcp->VerifyChecksumV6(kOurIp6, kPeerIp6));
    EXPECT_EQ(tcp->seq(), wire::TcpSeq(500 + i));
  }
  EXPECT_EQ(stack_.Neighbor(0, kPeerIp6)->state, NeighborState::kReachable);
  EXPECT_EQ(Count(NetCounter::kNdAdvertisementsReceived), 1u);
}

TEST_F(NdTest, UnsolicitedAdvertisementResolvesToStale) {
  AddUp();
  ASSERT_EQ(stack_.Resolve(0, kPeerIp6, T(0)), NetError::kOk);
  sink_.Take();
  Rx(Nd(Na(kPeerIp6, false, true, kPeerMac), kPeerIp6, V6("ff02::1"), 255,
        V6("ff02::1").MulticastMac()),
     T(5));
  EXPECT_EQ(stack_.Neighbor(0, kPeerIp6)->state, NeighborState::kStale);
}

TEST_F(NdTest, AdvertisementWithoutOverrideKeepsTheCachedAddress) {
  AddUp();
  ASSERT_EQ(stack_.Resolve(0, kPeerIp6, T(0)), NetError::kOk);
  Rx(Nd(Na(kPeerIp6, true, true, kPeerMac), kPeerIp6, kOurIp6), T(1));
  ASSERT_EQ(stack_.Neighbor(0, kPeerIp6)->state, NeighborState::kReachable);
  // RFC 4861 §7.2.5: O clear and a different address: REACHABLE becomes STALE, address kept.
  Rx(Nd(Na(kPeerIp6, true, false, Mac("02:00:00:00:00:bb")), kPeerIp6, kOurIp6), T(2));
  EXPECT_EQ(stack_.Neighbor(0, kPeerIp6)->state, NeighborState::kStale);
  EXPECT_EQ(stack_.Neighbor(0, kPeerIp6)->mac, kPeerMac);
  // O set: replaced.
  Rx(Nd(Na(kPeerIp6, true, true, Mac("02:00:00:00:00:bb")), kPeerIp6, kOurIp6), T(3));
  EXPECT_EQ(stack_.Neighbor(0, kPeerIp6)->mac, Mac("02:00:00:00:00:bb"));
  EXPECT_EQ(stack_.Neighbor(0, kPeerIp6)->state, NeighborState::kReachable);
}

TEST_F(NdTest, RetransmitsSolicitationsThenFails) {
  AddUp();
  TcpSpec s;
  stack_.SetNow(T(0));
  stack_.Transmit({kOurIp6, 40000, kRemoteIp6, 80}, Outbound(s));  // through the gateway
  for (int64_t t = 0; t <= 3000; t += 100) stack_.Poll(T(t));
  auto frames = sink_.Take();
  ASSERT_EQ(frames.size(), 3u);
  auto ip = wire::Ipv6Packet::Check(std::span<const uint8_t>(frames[2].bytes).subspan(14));
  EXPECT_EQ(ip->destination(), kGatewayIp6.SolicitedNodeMulticast());
  EXPECT_FALSE(stack_.Neighbor(0, kGatewayIp6).has_value());
  EXPECT_EQ(Dropped(NetDrop::kNeighborUnreachable), 1u);
}

TEST_F(NdTest, ValidationRules) {
  AddUp();
  // RFC 4861 §7.1.1: hop limit 255 only.
  EXPECT_EQ(Rx(Nd(Ns(kOurIp6, kPeerMac), kPeerIp6, kOurIp6, 254)), Drop(NetDrop::kNdBadHopLimit));
  // A multicast target.
  EXPECT_EQ(Rx(Nd(Ns(V6("ff02::1"), kPeerMac), kPeerIp6, kOurIp6)), Drop(NetDrop::kNdInvalid));
  // From :: with a source link-layer option.
  EXPECT_EQ(Rx(Nd(Ns(kOurIp6, kPeerMac), Ipv6Address{}, kOurIp6.SolicitedNodeMulticast(), 255,
                  kOurIp6.SolicitedNodeMulticast().MulticastMac())),
            Drop(NetDrop::kNdInvalid));
  // Not our address.
  EXPECT_EQ(Rx(Nd(Ns(V6("2001:db8:1::77"), kPeerMac), kPeerIp6, kOurIp6)),
            Drop(NetDrop::kNdNotForUs));
  // RFC 4861 §7.1.2: solicited to a multicast destination.
  EXPECT_EQ(Rx(Nd(Na(kPeerIp6, true, true, kPeerMac), kPeerIp6, V6("ff02::1"), 255,
                  V6("ff02::1").MulticastMac())),
            Drop(NetDrop::kNdInvalid));
  // RFC 4861 §7.2.5: no entry.
  EXPECT_EQ(Rx(Nd(Na(kPeerIp6, true, true, kPeerMac), kPeerIp6, kOurIp6)),
            Drop(NetDrop::kNdNoEntry));
  // A solicited-node group that is not ours.
  EXPECT_EQ(Rx(Nd(Ns(kPeerIp6, kPeerMac), kPeerIp6, kPeerIp6.SolicitedNodeMulticast(), 255,
                  kPeerIp6.SolicitedNodeMulticast().MulticastMac())),
            Drop(NetDrop::kIpv6NotForUs));
  EXPECT_TRUE(sink_.frames.empty());
}

}  // namespace
}  // namespace braid::net::test
