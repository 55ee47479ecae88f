// ARP (RFC 826) through NetStack: golden request/reply handling, learning, resolution with queued
// frames flushed in order, the per-destination rate limit, timeouts, failure, gratuitous ARP.
#include <gtest/gtest.h>

#include "datapath/net/net_stack.h"
#include "tests/unit/datapath/net/net_fixture.h"

namespace braid::net::test {
namespace {

using wire::ArpOperation;

// A request from the peer (192.0.2.2, 02:00:00:00:00:aa) for our address 192.0.2.1, padded to
// the 60-byte minimum as it comes off the wire.
const Bytes kPeerRequest = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // Ethernet destination: broadcast
    0x02, 0x00, 0x00, 0x00, 0x00, 0xaa,  // Ethernet source: the peer
    0x08, 0x06,                          // ethertype ARP
    0x00, 0x01,                          // hardware type Ethernet
    0x08, 0x00,                          // protocol type IPv4
    0x06, 0x04,                          // address lengths
    0x00, 0x01,                          // operation: request
    0x02, 0x00, 0x00, 0x00, 0x00, 0xaa,  // sender hardware address
    0xc0, 0x00, 0x02, 0x02,              // sender protocol address 192.0.2.2
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // target hardware address: unknown
    0xc0, 0x00, 0x02, 0x01,              // target protocol address 192.0.2.1
    0,    0,    0,    0,    0,    0,    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // padding
};

// Our reply: unicast to the sender, with our MAC for 192.0.2.1.
const Bytes kOurReply = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0xaa,  // Ethernet destination: the requester
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  // Ethernet source: us
    0x08, 0x06,                          // ethertype ARP
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04,  // Ethernet/IPv4
    0x00, 0x02,                          // operation: reply
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  // sender hardware address: ours
    0xc0, 0x00, 0x02, 0x01,              // sender protocol address 192.0.2.1
    0x02, 0x00, 0x00, 0x00, 0x00, 0xaa,  // target hardware address: the requester
    0xc0, 0x00, 0x02, 0x02,              // target protocol address 192.0.2.2
    0,    0,    0,    0,    0,    0,    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // padding to 60
};

// Our request for 192.0.2.2, asked from 192.0.2.1.
const Bytes kOurRequestForPeer = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // broadcast
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  // us
    0x08, 0x06,                          // ARP
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04,  // Ethernet/IPv4
    0x00, 0x01,                          // request
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  // sender hardware address: ours
    0xc0, 0x00, 0x02, 0x01,              // sender protocol address 192.0.2.1
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // target hardware address: unknown
    0xc0, 0x00, 0x02, 0x02,              // target protocol address 192.0.2.2
    0,    0,    0,    0,    0,    0,    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // padding
};

// The peer's reply to it.
const Bytes kPeerReply = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  // to us
    0x02, 0x00, 0x00, 0x00, 0x00, 0xaa,  // from the peer
    0x08, 0x06,                          // ARP
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04,  // Ethernet/IPv4
    0x00, 0x02,                          // reply
    0x02, 0x00, 0x00, 0x00, 0x00, 0xaa,  // sender hardware address: the peer
    0xc0, 0x00, 0x02, 0x02,              // 192.0.2.2
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  // target hardware address: ours
    0xc0, 0x00, 0x02, 0x01,              // 192.0.2.1
    0,    0,    0,    0,    0,    0,    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // padding
};

// RFC 5227 §3 announcement of 192.0.2.1.
const Bytes kGratuitous = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // broadcast
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  // us
    0x08, 0x06,                          // ARP
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04,  // Ethernet/IPv4
    0x00, 0x01,                          // request
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  // sender hardware address: ours
    0xc0, 0x00, 0x02, 0x01,              // sender protocol address 192.0.2.1
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // target hardware address zero
    0xc0, 0x00, 0x02, 0x01,              // target protocol address: ours again
    0,    0,    0,    0,    0,    0,    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // padding
};

class ArpTest : public NetFixture {};

TEST_F(ArpTest, AnswersRequestForOurAddress) {
  AddUp();
  EXPECT_EQ(Rx(kPeerRequest), RxOutcome::Consumed());
  auto frames = sink_.Take();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].port, 0);
  EXPECT_EQ(frames[0].bytes, kOurReply) << Hex(frames[0].bytes);
  EXPECT_EQ(frames[0].offload, TxOffload{});
  EXPECT_EQ(Count(NetCounter::kArpRequestsReceived), 1u);
  EXPECT_EQ(Count(NetCounter::kArpRepliesSent), 1u);
  EXPECT_EQ(Count(NetCounter::kRxConsumed), 1u);
}

TEST_F(ArpTest, LearnsTheSenderOfARequestToUs) {
  AddUp();
  Rx(kPeerRequest, T(5));
  auto n = stack_.Neighbor(0, kPeerIp);
  ASSERT_TRUE(n.has_value());
  // RFC 4861 §7.2.3 semantics, as Linux uses for ARP: learned but unconfirmed.
  EXPECT_EQ(n->state, NeighborState::kStale);
  EXPECT_EQ(n->mac, kPeerMac);
  // A segment to the peer now goes out at once, no request needed.
  sink_.Take();
  TcpSpec s;
  stack_.Transmit({kOurIp, 40000, kPeerIp, 80}, Outbound(s));
  auto frames = sink_.Take();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(MacAddress::FromBytes(frames[0].bytes.data()), kPeerMac);
  EXPECT_EQ(stack_.Neighbor(0, kPeerIp)->state, NeighborState::kDelay);
}

TEST_F(ArpTest, RequestForAnotherHostIsNotAnswered) {
  AddUp();
  Bytes req = Eth(MacAddress::Broadcast(), kPeerMac, wire::kEtherTypeArp,
                  Arp(ArpOperation::kRequest, kPeerMac, kPeerIp, {}, V4("192.0.2.77")));
  EXPECT_EQ(Rx(req), Drop(NetDrop::kArpNotForUs));
  EXPECT_TRUE(sink_.frames.empty());
  EXPECT_FALSE(stack_.Neighbor(0, kPeerIp).has_value());  // nothing learned from it
}

TEST_F(ArpTest, ProbeForOurAddressIsAnswered) {
  AddUp();
  // RFC 5227 §2.1.1: sender address zero.
  Bytes probe = Eth(MacAddress::Broadcast(), kPeerMac, wire::kEtherTypeArp,
                    Arp(ArpOperation::kRequest, kPeerMac, Ipv4Address{}, {}, kOurIp));
  EXPECT_EQ(Rx(probe), RxOutcome::Consumed());
  auto frames = sink_.Take();
  ASSERT_EQ(frames.size(), 1u);
  auto eth = wire::EthernetFrame::Check(frames[0].bytes);
  ASSERT_TRUE(eth.ok());
  EXPECT_EQ(eth->destination(), kPeerMac);
  auto arp = wire::ArpRepr::Parse(*wire::ArpPacket::Check(eth->payload()));
  ASSERT_TRUE(arp.ok());
  EXPECT_EQ(*arp, (wire::ArpRepr{ArpOperation::kReply, kOurMac, kOurIp, kPeerMac, Ipv4Address{}}));
  EXPECT_FALSE(stack_.Neighbor(0, Ipv4Address{}).has_value());
}

TEST_F(ArpTest, GratuitousArpWhenTheInterfaceComesUp) {
  InterfaceId id = 0;
  ASSERT_EQ(stack_.AddInterface(Path0Config(), &id), NetError::kOk);
  EXPECT_TRUE(sink_.frames.empty());  // down: silent
  ASSERT_EQ(stack_.SetInterfaceUp(id, true, T(0)), NetError::kOk);
  auto frames = sink_.Take();
  // The ARP announcement, then unsolicited NAs for the link-local and the global address.
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0].bytes, kGratuitous) << Hex(frames[0].bytes);
  EXPECT_EQ(Count(NetCounter::kArpGratuitousSent), 1u);
  EXPECT_EQ(Count(NetCounter::kNdUnsolicitedSent), 2u);
}

TEST_F(ArpTest, GratuitousArpOnDemandAndForANewAddress) {
  AddUp();
  ASSERT_EQ(stack_.Announce(0, T(10)), NetError::kOk);
  auto frames = sink_.Take();
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0].bytes, kGratuitous);

  // A pod's address added to the up path is announced at once, alone.
  ASSERT_EQ(stack_.AddAddress(0, V4("192.0.2.50"), 24, T(20)), NetError::kOk);
  frames = sink_.Take();
  ASSERT_EQ(frames.size(), 1u);
  auto arp = wire::ArpRepr::Parse(
      *wire::ArpPacket::Check(std::span<const uint8_t>(frames[0].bytes).subspan(14)));
  ASSERT_TRUE(arp.ok());
  EXPECT_EQ(arp->sender_ip, V4("192.0.2.50"));
  EXPECT_EQ(arp->target_ip, V4("192.0.2.50"));
  // And answered for.
  Bytes req = Eth(MacAddress::Broadcast(), kPeerMac, wire::kEtherTypeArp,
                  Arp(ArpOperation::kRequest, kPeerMac, kPeerIp, {}, V4("192.0.2.50")));
  EXPECT_EQ(Rx(req, T(21)), RxOutcome::Consumed());
  EXPECT_EQ(sink_.Take().size(), 1u);
}

TEST_F(ArpTest, ResolutionQueuesFramesAndFlushesThemInOrder) {
  AddUp();
  const tcp::FlowKey flow{kOurIp, 40000, kPeerIp, 80};
  stack_.SetNow(T(100));
  for (uint32_t i = 0; i < 3; ++i) {
    TcpSpec s;
    s.flags = wire::TcpFlag::kAck;
    s.seq = 1000 + i * 10;
    s.payload = Bytes(10, static_cast<uint8_t>('a' + i));
    stack_.Transmit(flow, Outbound(s));
  }
  // One request, nothing else yet.
  auto frames = sink_.Take();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].bytes, kOurRequestForPeer) << Hex(frames[0].bytes);
  auto n = stack_.Neighbor(0, kPeerIp);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->state, NeighborState::kIncomplete);
  EXPECT_EQ(n->queued, 3u);
  EXPECT_EQ(Count(NetCounter::kNeighborQueued), 3u);

  EXPECT_EQ(Rx(kPeerReply, T(150)), RxOutcome::Consumed());
  frames = sink_.Take();
  ASSERT_EQ(frames.size(), 3u);
  for (uint32_t i = 0; i < 3; ++i) {
    auto eth = wire::EthernetFrame::Check(frames[i].bytes);
    ASSERT_TRUE(eth.ok());
    EXPECT_EQ(eth->destination(), kPeerMac);
    EXPECT_EQ(eth->source(), kOurMac);
    auto ip = wire::Ipv4Packet::Check(eth->payload());
    ASSERT_TRUE(ip.ok());
    auto tcp = wire::TcpSegment::Check(ip->payload());
    ASSERT_TRUE(tcp.ok());
    EXPECT_TRUE(tcp->VerifyChecksumV4(kOurIp, kPeerIp));
    EXPECT_EQ(tcp->seq(), wire::TcpSeq(1000 + i * 10));
    EXPECT_EQ(tcp->payload()[0], 'a' + i);
  }
  n = stack_.Neighbor(0, kPeerIp);
  EXPECT_EQ(n->state, NeighborState::kReachable);
  EXPECT_EQ(n->mac, kPeerMac);
  EXPECT_EQ(n->queued, 0u);
  EXPECT_EQ(Count(NetCounter::kNeighborFlushed), 3u);
  EXPECT_EQ(Count(NetCounter::kNeighborResolved), 1u);
  EXPECT_EQ(Count(NetCounter::kArpRepliesReceived), 1u);
}

TEST_F(ArpTest, OffLinkDestinationsResolveTheGateway) {
  AddUp();
  stack_.SetNow(T(1));
  TcpSpec s;
  stack_.Transmit({kOurIp, 40000, kRemoteIp, 443}, Outbound(s));
  auto frames = sink_.Take();
  ASSERT_EQ(frames.size(), 1u);
  auto arp = wire::ArpRepr::Parse(
      *wire::ArpPacket::Check(std::span<const uint8_t>(frames[0].bytes).subspan(14)));
  ASSERT_TRUE(arp.ok());
  EXPECT_EQ(arp->target_ip, kGatewayIp);
  EXPECT_TRUE(stack_.Neighbor(0, kGatewayIp).has_value());
  EXPECT_FALSE(stack_.Neighbor(0, kRemoteIp).has_value());
}

TEST_F(ArpTest, RequestsAreRateLimitedPerDestination) {
  AddUp();
  TcpSpec s;
  for (int64_t ms : {0, 100, 500, 999}) {
    stack_.SetNow(T(1000 + ms));
    stack_.Transmit({kOurIp, 40000, kPeerIp, 80}, Outbound(s));
    stack_.Poll(T(1000 + ms));
  }
  EXPECT_EQ(sink_.Take().size(), 1u);  // one request in the first second
  EXPECT_EQ(stack_.PollAt(), T(2000));
  stack_.Poll(T(2000));
  EXPECT_EQ(sink_.Take().size(), 1u);  // the retransmission, a second later
  // On-demand resolution does not bypass it.
  EXPECT_EQ(stack_.Resolve(0, kPeerIp, T(2500)), NetError::kOk);
  EXPECT_TRUE(sink_.Take().empty());
  // Another destination has its own budget.
  EXPECT_EQ(stack_.Resolve(0, V4("192.0.2.3"), T(2500)), NetError::kOk);
  EXPECT_EQ(sink_.Take().size(), 1u);
  EXPECT_EQ(Count(NetCounter::kArpRequestsSent), 3u);
}

TEST_F(ArpTest, UnansweredRequestsFailAndDropTheQueue) {
  AddUp();
  TcpSpec s;
  stack_.SetNow(T(1000));
  stack_.Transmit({kOurIp, 40000, kPeerIp, 80}, Outbound(s));
  stack_.Transmit({kOurIp, 40001, kPeerIp, 80}, Outbound(s));
  for (int64_t t = 1000; t <= 3999; t += 1) stack_.Poll(T(t));
  // RFC 4861 MAX_MULTICAST_SOLICIT: three requests, a second apart.
  EXPECT_EQ(sink_.Take().size(), 3u);
  EXPECT_EQ(stack_.Neighbor(0, kPeerIp)->probes, 3u);
  stack_.Poll(T(4000));
  EXPECT_FALSE(stack_.Neighbor(0, kPeerIp).has_value());
  EXPECT_EQ(Dropped(NetDrop::kNeighborUnreachable), 2u);
  EXPECT_EQ(Count(NetCounter::kTxDropped), 2u);
  EXPECT_EQ(Count(NetCounter::kNeighborFailed), 1u);
  EXPECT_TRUE(sink_.Take().empty());
  // A new segment starts over: a request at once (a second after the last one).
  stack_.Transmit({kOurIp, 40000, kPeerIp, 80}, Outbound(s));
  EXPECT_EQ(sink_.Take().size(), 1u);
}

TEST_F(ArpTest, ReachableGoesStaleThenDelayThenProbe) {
  AddUp();
  TcpSpec s;
  stack_.SetNow(T(0));
  stack_.Transmit({kOurIp, 40000, kPeerIp, 80}, Outbound(s));
  Rx(kPeerReply, T(10));
  sink_.Take();
  EXPECT_EQ(stack_.Neighbor(0, kPeerIp)->state, NeighborState::kReachable);
  // RFC 4861 REACHABLE_TIME (30 s).
  stack_.Poll(T(30009));
  EXPECT_EQ(stack_.Neighbor(0, kPeerIp)->state, NeighborState::kReachable);
  stack_.Poll(T(30010));
  EXPECT_EQ(stack_.Neighbor(0, kPeerIp)->state, NeighborState::kStale);
  // Used while STALE: the frame goes out at once, and the entry waits 5 s for a confirmation.
  stack_.SetNow(T(31000));
  stack_.Transmit({kOurIp, 40000, kPeerIp, 80}, Outbound(s));
  EXPECT_EQ(sink_.Take().size(), 1u);
  EXPECT_EQ(stack_.Neighbor(0, kPeerIp)->state, NeighborState::kDelay);
  stack_.Poll(T(35999));
  EXPECT_TRUE(sink_.frames.empty());
  stack_.Poll(T(36000));
  EXPECT_EQ(stack_.Neighbor(0, kPeerIp)->state, NeighborState::kProbe);
  // The probe is a unicast request to the cached address.
  auto frames = sink_.Take();
  ASSERT_EQ(frames.size(), 1u);
  Bytes unicast_probe = kOurRequestForPeer;
  std::copy(kPeerMac.bytes.begin(), kPeerMac.bytes.end(), unicast_probe.begin());
  EXPECT_EQ(frames[0].bytes, unicast_probe) << Hex(frames[0].bytes);
  // Answered: REACHABLE again.
  Rx(kPeerReply, T(36010));
  EXPECT_EQ(stack_.Neighbor(0, kPeerIp)->state, NeighborState::kReachable);
  EXPECT_EQ(stack_.Neighbor(0, kPeerIp)->probes, 0u);
}

TEST_F(ArpTest, UnansweredProbesRemoveTheEntry) {
  AddUp();
  Learn(kPeerIp, kPeerMac, T(0));
  TcpSpec s;
  stack_.SetNow(T(1));
  stack_.Transmit({kOurIp, 40000, kPeerIp, 80}, Outbound(s));
  sink_.Take();
  for (int64_t t = 1; t <= 9000; t += 10) stack_.Poll(T(t));
  // DELAY 5 s, then MAX_UNICAST_SOLICIT (3) probes a second apart, then gone.
  EXPECT_EQ(sink_.Take().size(), 3u);
  EXPECT_FALSE(stack_.Neighbor(0, kPeerIp).has_value());
  EXPECT_EQ(Count(NetCounter::kNeighborFailed), 1u);
}

TEST_F(ArpTest, UnusedStaleEntriesExpire) {
  AddUp();
  Learn(kPeerIp, kPeerMac, T(0));
  EXPECT_EQ(stack_.Neighbor(0, kPeerIp)->state, NeighborState::kStale);
  stack_.Poll(T(59999));
  EXPECT_TRUE(stack_.Neighbor(0, kPeerIp).has_value());
  stack_.Poll(T(60001));  // Linux's gc_stale_time: 60 s
  EXPECT_FALSE(stack_.Neighbor(0, kPeerIp).has_value());
  EXPECT_EQ(Count(NetCounter::kNeighborExpired), 1u);
}

TEST_F(ArpTest, GratuitousArpFromAKnownNeighbourUpdatesItsAddress) {
  AddUp();
  Learn(kPeerIp, kPeerMac, T(0));
  const MacAddress moved = Mac("02:00:00:00:00:bb");
  Bytes announce = Eth(MacAddress::Broadcast(), moved, wire::kEtherTypeArp,
                       Arp(ArpOperation::kRequest, moved, kPeerIp, {}, kPeerIp));
  EXPECT_EQ(Rx(announce, T(5)), RxOutcome::Consumed());
  auto n = stack_.Neighbor(0, kPeerIp);
  EXPECT_EQ(n->mac, moved);
  EXPECT_EQ(n->state, NeighborState::kStale);
  EXPECT_EQ(Count(NetCounter::kNeighborMacChanged), 1u);
  EXPECT_EQ(Count(NetCounter::kArpUpdatesReceived), 1u);
  EXPECT_TRUE(sink_.frames.empty());  // not answered
}

TEST_F(ArpTest, ReplyNobodyAskedForIsDropped) {
  AddUp();
  EXPECT_EQ(Rx(kPeerReply), Drop(NetDrop::kArpUnsolicitedReply));
  EXPECT_FALSE(stack_.Neighbor(0, kPeerIp).has_value());
}

TEST_F(ArpTest, SomeoneElseUsingOurAddressIsCounted) {
  AddUp();
  Bytes conflict = Eth(MacAddress::Broadcast(), kPeerMac, wire::kEtherTypeArp,
                       Arp(ArpOperation::kRequest, kPeerMac, kOurIp, {}, kOurIp));
  EXPECT_EQ(Rx(conflict), Drop(NetDrop::kArpAddressConflict));
  EXPECT_TRUE(sink_.frames.empty());
}

TEST_F(ArpTest, PerNeighbourQueueIsBounded) {
  AddUp();
  TcpSpec s;
  stack_.SetNow(T(0));
  for (int i = 0; i < 20; ++i) stack_.Transmit({kOurIp, 40000, kPeerIp, 80}, Outbound(s));
  EXPECT_EQ(stack_.Neighbor(0, kPeerIp)->queued, 16u);
  EXPECT_EQ(Dropped(NetDrop::kNeighborQueueFull), 4u);
  Rx(kPeerReply, T(1));
  EXPECT_EQ(sink_.Take().size(), 1u + 16u);  // the request, then the queue
}

class SmallPoolArpTest : public NetFixture {
 protected:
  SmallPoolArpTest() : NetFixture(Config()) {}
  static NetStackConfig Config() {
    NetStackConfig c = TestConfig();
    c.neighbor.queue_total = 3;
    c.neighbor.capacity = 2;
    return c;
  }
};

TEST_F(SmallPoolArpTest, SharedPoolAndTableAreBounded) {
  AddUp();
  TcpSpec s;
  stack_.SetNow(T(0));
  stack_.Transmit({kOurIp, 40000, V4("192.0.2.10"), 80}, Outbound(s));
  stack_.Transmit({kOurIp, 40000, V4("192.0.2.10"), 80}, Outbound(s));
  stack_.Transmit({kOurIp, 40000, V4("192.0.2.11"), 80}, Outbound(s));
  stack_.Transmit({kOurIp, 40000, V4("192.0.2.11"), 80}, Outbound(s));  // pool of 3 is full
  EXPECT_EQ(Dropped(NetDrop::kNeighborQueueFull), 1u);
  // Two INCOMPLETE entries fill the table and cannot be evicted.
  stack_.Transmit({kOurIp, 40000, V4("192.0.2.12"), 80}, Outbound(s));
  EXPECT_EQ(Dropped(NetDrop::kNeighborTableFull), 1u);
  // Learned (STALE) entries can be: once the first two fail, a learned one takes a slot and a
  // new resolution evicts it.
  for (int64_t t = 0; t <= 3000; t += 500) stack_.Poll(T(t));
  EXPECT_EQ(stack_.neighbor_count(), 0u);
  Learn(kPeerIp, kPeerMac, T(3001));
  Learn(V4("192.0.2.3"), Mac("02:00:00:00:00:03"), T(3002));
  EXPECT_EQ(stack_.neighbor_count(), 2u);
  stack_.SetNow(T(3003));
  stack_.Transmit({kOurIp, 40000, V4("192.0.2.12"), 80}, Outbound(s));
  EXPECT_EQ(Count(NetCounter::kNeighborEvicted), 1u);
  EXPECT_FALSE(stack_.Neighbor(0, kPeerIp).has_value());  // the least recently used went
  EXPECT_TRUE(stack_.Neighbor(0, V4("192.0.2.12")).has_value());
}

TEST_F(ArpTest, InterfaceDownFlushesItsNeighbours) {
  AddUp();
  TcpSpec s;
  stack_.SetNow(T(0));
  stack_.Transmit({kOurIp, 40000, kPeerIp, 80}, Outbound(s));
  sink_.Take();
  ASSERT_EQ(stack_.SetInterfaceUp(0, false, T(1)), NetError::kOk);
  EXPECT_EQ(stack_.neighbor_count(), 0u);
  EXPECT_EQ(Dropped(NetDrop::kInterfaceDown), 1u);
  stack_.Transmit({kOurIp, 40000, kPeerIp, 80}, Outbound(s));
  EXPECT_EQ(Dropped(NetDrop::kInterfaceDown), 2u);
  EXPECT_EQ(Rx(kPeerRequest, T(2)), Drop(NetDrop::kInterfaceDown));
  EXPECT_TRUE(sink_.frames.empty());
}

}  // namespace
}  // namespace braid::net::test
