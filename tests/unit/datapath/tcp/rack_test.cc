#include "datapath/tcp/rack.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "tests/unit/datapath/tcp/loss_harness.h"

namespace braid::tcp {
namespace {

using namespace loss_test;  // S(), T(), Segs(), SackReceiver, LossDriver, Scoreboard()
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Optional;
using Rule = NextSegment::Rule;

// Segments 0..3 sent 1 ms apart; SRTT = min_RTT = 40 ms, so reo_wnd = 10 ms. Segment 1 is late.
class RackReorderingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int n = 0; n < 4; ++n) d.SendNew(n, 1, T(n));
    d.Ack(rx.ReceiveSeg(0), T(40));
    EXPECT_EQ(d.rack.xmit_ts(), T(0));
    EXPECT_EQ(d.rack.rtt(), Duration(40ms));
    // Segment 2, sent after 1, is delivered: 1 is lost once T(1) + RACK.rtt + reo_wnd passes.
    EXPECT_THAT(d.Ack(rx.ReceiveSeg(2), T(42)), IsEmpty());
    EXPECT_EQ(d.rack.reo_wnd(), Duration(10ms));
    EXPECT_THAT(d.reorder_deadline, Optional(T(51)));
    EXPECT_THAT(d.Ack(rx.ReceiveSeg(3), T(43)), IsEmpty());
    EXPECT_EQ(d.rack.xmit_ts(), T(3));
    EXPECT_EQ(d.rack.end_seq(), S(4));
    EXPECT_THAT(d.reorder_deadline, Optional(T(51)));
    EXPECT_EQ(Scoreboard(d.queue), "[1,2). [2,4)S");
  }

  LossDriver d;
  SackReceiver rx{S(0)};
};

TEST_F(RackReorderingTest, ReorderedSegmentDeliveredWithinTheWindowIsNotLost) {
  EXPECT_THAT(d.Ack(rx.ReceiveSeg(1), TUs(50'500)), IsEmpty());
  EXPECT_EQ(d.queue.snd_una(), S(4));
  EXPECT_TRUE(d.rack.reordering_seen());
  EXPECT_EQ(d.reorder_deadline, std::nullopt);
  EXPECT_EQ(d.recovery.state(), RecoveryState::kOpen);
  EXPECT_THAT(d.wire, ElementsAre(New(0), New(1), New(2), New(3)));  // nothing resent
}

TEST_F(RackReorderingTest, SegmentIsLostWhenTheWindowHasPassed) {
  EXPECT_THAT(d.OnReorderTimer(TUs(50'999)), IsEmpty());  // a timer that fires early
  EXPECT_THAT(d.reorder_deadline, Optional(T(51)));
  EXPECT_THAT(d.OnReorderTimer(T(51)), ElementsAre(Rtx(1)));
  EXPECT_TRUE(d.last_events.entered);
  EXPECT_EQ(d.recovery.state(), RecoveryState::kFastRecovery);
  EXPECT_EQ(d.reorder_deadline, std::nullopt);
  EXPECT_EQ(Scoreboard(d.queue), "[1,2)R [2,4)S");
  EXPECT_EQ(d.queue[0].xmit_ts, T(51));
}

// The segment RACK declared lost was only late: the receiver reports the retransmission as a
// duplicate (RFC 2883), the recovery was spurious (RFC 3708) and reo_wnd grows (RFC 8985 §6.2
// step 4).
TEST_F(RackReorderingTest, SpuriousRetransmissionDetectedByDsackGrowsReoWnd) {
  EXPECT_THAT(d.OnReorderTimer(T(51)), ElementsAre(Rtx(1)));
  d.Ack(rx.ReceiveSeg(1), T(60));  // the original, late
  EXPECT_TRUE(d.last_events.exited);
  // A never-retransmitted segment would have shown reordering; this one was retransmitted.
  EXPECT_FALSE(d.rack.reordering_seen());
  EXPECT_EQ(d.rack.reo_wnd_mult(), 1u);

  d.Ack(rx.ReceiveSeg(1), T(91));  // the retransmission
  EXPECT_THAT(d.last_ack.dsack, Optional(Segs(1, 1)));
  EXPECT_TRUE(d.last_events.spurious);
  EXPECT_EQ(d.rack.reo_wnd_mult(), 2u);
  EXPECT_EQ(d.rack.reo_wnd_persist(), Rack::kReoWndPersist);
  EXPECT_THAT(d.rack.dsack_round(), Optional(S(4)));
  EXPECT_EQ(d.rack.ReoWnd(d.queue, d.srtt, false), Duration(20ms));
}

// RFC 8985 §6.2 step 4: one increment per round trip with a D-SACK, capped by SRTT, back to 1
// after 16 recoveries without one.
TEST(RackTest, ReoWndGrowsPerDsackRoundAndDecaysAfterSixteenRecoveries) {
  RetransmitQueue q(16, S(0));
  Rack rack({kMss, 200ms});
  for (int n = 0; n < 8; ++n)
    ASSERT_EQ(q.OnTransmit(S(n), S(n + 1), T(0), false), TransmitResult::kOk);
  auto ack = [&](TcpSeq a, std::vector<TcpSackBlock> blocks, Instant now, bool exited = false) {
    const AckResult r = q.OnAck({a, blocks, now, std::nullopt, 40ms});
    return rack.OnAck(q, r, {now, 40ms, 40ms, false, false, exited, false});
  };
  ack(S(2), {Segs(1, 1)}, T(40));
  EXPECT_EQ(rack.reo_wnd_mult(), 2u);
  EXPECT_THAT(rack.dsack_round(), Optional(S(8)));
  ack(S(3), {Segs(2, 2)}, T(41));  // same round: no growth
  EXPECT_EQ(rack.reo_wnd_mult(), 2u);
  ack(S(8), {}, T(80));  // the round ends
  EXPECT_EQ(rack.dsack_round(), std::nullopt);
  for (int n = 8; n < 12; ++n)
    ASSERT_EQ(q.OnTransmit(S(n), S(n + 1), T(80), false), TransmitResult::kOk);
  ack(S(8), {Segs(7, 7)}, T(81));
  EXPECT_EQ(rack.reo_wnd_mult(), 3u);
  EXPECT_EQ(rack.ReoWnd(q, 40ms, false), Duration(30ms));
  ack(S(12), {}, T(120));
  for (int n = 12; n < 16; ++n)
    ASSERT_EQ(q.OnTransmit(S(n), S(n + 1), T(120), false), TransmitResult::kOk);
  ack(S(12), {Segs(11, 11)}, T(121));
  ack(S(16), {}, T(160));
  for (int n = 16; n < 20; ++n)
    ASSERT_EQ(q.OnTransmit(S(n), S(n + 1), T(160), false), TransmitResult::kOk);
  ack(S(16), {Segs(15, 15)}, T(161));
  EXPECT_EQ(rack.reo_wnd_mult(), 5u);
  EXPECT_EQ(rack.ReoWnd(q, 40ms, false), Duration(40ms));  // min(50 ms, SRTT)

  for (int i = 1; i < Rack::kReoWndPersist; ++i) ack(S(16), {}, T(200 + i), /*exited=*/true);
  EXPECT_EQ(rack.reo_wnd_mult(), 5u);
  EXPECT_EQ(rack.reo_wnd_persist(), 1);
  ack(S(16), {}, T(300), /*exited=*/true);
  EXPECT_EQ(rack.reo_wnd_mult(), 1u);
  EXPECT_EQ(rack.ReoWnd(q, 40ms, false), Duration(10ms));
}

// Without reordering seen, RACK is as quick as DupThresh: zero window in recovery or with three
// SACKed segments. Once reordering was seen the window stays.
TEST(RackTest, ReoWndIsZeroUntilReorderingIsSeen) {
  RetransmitQueue q(16, S(0));
  Rack rack({kMss, 200ms});
  for (int n = 0; n < 6; ++n)
    ASSERT_EQ(q.OnTransmit(S(n), S(n + 1), T(0), false), TransmitResult::kOk);
  AckResult r = q.OnAck({S(0), std::vector<TcpSackBlock>{Segs(1, 2)}, T(40), std::nullopt, 40ms});
  rack.OnAck(q, r, {T(40), 40ms, 40ms, false, false, false, false});
  EXPECT_EQ(rack.ReoWnd(q, 40ms, false), Duration(10ms));
  EXPECT_EQ(rack.ReoWnd(q, 40ms, true), Duration::zero());
  r = q.OnAck({S(0), std::vector<TcpSackBlock>{Segs(1, 3)}, T(41), std::nullopt, 40ms});
  rack.OnAck(q, r, {T(41), 40ms, 40ms, false, false, false, false});
  EXPECT_EQ(q.sacked_segments(), 3u);
  EXPECT_EQ(rack.ReoWnd(q, 40ms, false), Duration::zero());
  // Segment 0 arrives after 3 was delivered and was never retransmitted: reordering.
  r = q.OnAck({S(4), {}, T(42), std::nullopt, 40ms});
  EXPECT_TRUE(r.reordering_seen);
  rack.OnAck(q, r, {T(42), 40ms, 40ms, false, false, false, false});
  EXPECT_TRUE(rack.reordering_seen());
  EXPECT_EQ(rack.ReoWnd(q, 40ms, true), Duration(10ms));
  EXPECT_EQ(rack.ReoWnd(q, 0ms, true), Duration(10ms));  // no SRTT: no cap
}

// RACK's edge over DupThresh: a lost retransmission is found as soon as data sent after it is
// delivered, without waiting for the RTO.
TEST(RackTest, LostRetransmissionIsDetectedAndResent) {
  LossDriver d;
  SackReceiver rx(S(0));
  for (int n = 0; n < 6; ++n) d.SendNew(n, 1, T(n));
  d.Ack(rx.ReceiveSeg(0), T(40));
  EXPECT_THAT(d.Ack(rx.ReceiveSeg(2), T(42)), IsEmpty());
  EXPECT_THAT(d.Ack(rx.ReceiveSeg(3), T(43)), IsEmpty());
  // Third SACKed segment: DupThresh and RACK (zero window) agree.
  EXPECT_THAT(d.Ack(rx.ReceiveSeg(4), T(44)), ElementsAre(Rtx(1)));
  EXPECT_EQ(d.rack.reo_wnd(), Duration::zero());
  EXPECT_THAT(d.Ack(rx.ReceiveSeg(5), T(45)), IsEmpty());  // sent before the retransmission

  d.SendNew(6, 1, T(50));
  // The retransmission (T(44)) is lost; segment 6 (T(50)) is delivered at T(90):
  // T(44) + RACK.rtt 40 ms + reo_wnd 0 <= T(90).
  EXPECT_THAT(d.Ack(rx.ReceiveSeg(6), T(90)), ElementsAre(Rtx(1)));
  EXPECT_THAT(d.rules, ElementsAre(Rule::kFastRetransmit, Rule::kLost));
  EXPECT_EQ(d.queue[0].rtx_count, 2);
  EXPECT_EQ(Scoreboard(d.queue), "[1,2)R [2,7)S");
  d.Ack(rx.ReceiveSeg(1), T(130));
  EXPECT_TRUE(d.last_events.exited);
  EXPECT_TRUE(d.queue.empty());
}

// RFC 8985 §6.3.
TEST(RackTest, RtoMarksTheHeadAndWhatIsOldEnough) {
  LossDriver d;
  SackReceiver rx(S(0));
  d.SendNew(0, 1, T(0));
  d.Ack(rx.ReceiveSeg(0), T(40));
  d.SendNew(1, 2, T(50));
  d.SendNew(3, 1, T(280));
  const RackLoss loss = d.rack.OnRto(d.queue, T(300), d.srtt);
  EXPECT_EQ(loss.lost_segments, 2u);
  EXPECT_EQ(loss.lost_bytes, 2 * kMss);
  // 3 was sent 20 ms ago, less than RACK.rtt (40 ms) + reo_wnd (0 in RTO recovery).
  EXPECT_EQ(Scoreboard(d.queue), "[1,2)L [2,3)L [3,4).");

  // The head is lost however recently it was sent.
  LossDriver h;
  h.SendNew(0, 1, T(0));
  h.Ack({S(1), {}}, T(40));
  h.SendNew(1, 1, T(295));
  EXPECT_EQ(h.rack.OnRto(h.queue, T(300), h.srtt).lost_segments, 1u);
  EXPECT_EQ(Scoreboard(h.queue), "[1,2)L");
}

// RFC 8985 §7.2.
TEST(RackTest, PtoIsTwoSrttPlusAckDelayForOneSegmentCappedByRto) {
  RetransmitQueue q(8, S(0));
  Rack rack({kMss, 200ms});
  EXPECT_EQ(rack.PtoDeadline(q, T(0), 40ms, std::nullopt, false), std::nullopt);  // nothing out
  ASSERT_EQ(q.OnTransmit(S(0), S(1), T(0), false), TransmitResult::kOk);
  EXPECT_THAT(rack.PtoDeadline(q, T(0), 40ms, T(1000), false), Optional(T(280)));
  EXPECT_THAT(rack.PtoDeadline(q, T(0), 40ms, T(200), false), Optional(T(200)));
  EXPECT_THAT(rack.PtoDeadline(q, T(0), 0ms, std::nullopt, false), Optional(T(1000)));
  ASSERT_EQ(q.OnTransmit(S(1), S(2), T(0), false), TransmitResult::kOk);
  EXPECT_THAT(rack.PtoDeadline(q, T(10), 40ms, T(1000), false), Optional(T(90)));
  EXPECT_EQ(rack.PtoDeadline(q, T(10), 40ms, T(1000), true), std::nullopt);  // in recovery
  q.OnAck({S(0), std::vector<TcpSackBlock>{Segs(1, 1)}, T(40), std::nullopt, 40ms});
  EXPECT_EQ(rack.PtoDeadline(q, T(40), 40ms, T(1000), false), std::nullopt);  // SACKed data
}

// A tail of three segments is lost. The PTO fires two SRTTs after the last ACK and retransmits
// the last segment; its SACK lets RACK find the other two, and fast recovery repairs the tail
// with no RTO.
TEST(RackTest, TailLossProbeTurnsATailLossIntoFastRecovery) {
  LossDriver d;
  SackReceiver rx(S(0));
  d.SendNew(0, 5, T(0));
  d.Ack(rx.ReceiveSeg(0), T(40));
  d.Ack(rx.ReceiveSeg(1), T(41));
  const std::optional<Instant> pto =
      d.rack.PtoDeadline(d.queue, T(41), d.srtt, T(41) + 200ms, d.recovery.in_recovery());
  ASSERT_THAT(pto, Optional(T(121)));

  EXPECT_THAT(d.OnPto(*pto), Optional(Rtx(4)));
  EXPECT_THAT(d.rack.tlp_end_seq(), Optional(S(5)));
  EXPECT_TRUE(d.rack.tlp_is_retrans());
  EXPECT_EQ(d.OnPto(T(200)), std::nullopt);  // one probe at a time

  // The probe's SACK: RACK.xmit_ts = T(121), so 2 and 3 (sent at T(0)) are lost.
  EXPECT_THAT(d.Ack(rx.ReceiveSeg(4), T(161)), ElementsAre(Rtx(2), Rtx(3)));
  EXPECT_EQ(d.last_rack.loss.lost_segments, 2u);
  EXPECT_EQ(d.last_rack.tlp, TlpOutcome::kNone);
  EXPECT_TRUE(d.last_events.entered);
  EXPECT_EQ(d.rack.tlp_end_seq(), std::nullopt);  // fast recovery ends the probe episode
  d.Ack(rx.ReceiveSeg(2), T(201));
  d.Ack(rx.ReceiveSeg(3), T(202));
  EXPECT_TRUE(d.last_events.exited);
  EXPECT_TRUE(d.queue.empty());
  EXPECT_THAT(d.wire, ElementsAre(New(0), New(1), New(2), New(3), New(4), Rtx(4), Rtx(2), Rtx(3)));
}

// The first probe of a connection needs no ACK before it: §7.3 only forbids a probe after a
// probe with no RTT sample in between (found by the connection tests: a tail lost from the very
// first flight was never probed).
TEST(RackTest, FirstProbeNeedsNoEarlierAck) {
  LossDriver d;
  EXPECT_TRUE(d.rack.rtt_sampled_since_probe());
  d.SendNew(0, 4, T(0));
  EXPECT_THAT(d.OnPto(T(300)), Optional(Rtx(3)));
  EXPECT_FALSE(d.rack.rtt_sampled_since_probe());
}

// Only the last segment is lost: the probe is its retransmission and repairs it. Whether a loss
// was repaired shows only when data sent later is acknowledged (§7.4.2).
TEST(RackTest, ProbeRepairsASingleTailLoss) {
  LossDriver d;
  SackReceiver rx(S(0));
  d.SendNew(0, 4, T(0));
  for (int n = 0; n < 3; ++n) d.Ack(rx.ReceiveSeg(n), T(40 + n));
  // One segment in flight: PTO = 2 * SRTT + max_ack_delay.
  ASSERT_THAT(d.rack.PtoDeadline(d.queue, T(42), d.srtt, std::nullopt, false), Optional(T(322)));
  EXPECT_THAT(d.OnPto(T(322)), Optional(Rtx(3)));
  EXPECT_FALSE(d.rack.rtt_sampled_since_probe());

  d.Ack(rx.ReceiveSeg(3), T(362));
  EXPECT_EQ(d.last_rack.tlp, TlpOutcome::kNone);  // SEG.ACK == TLP.end_seq: not yet known
  EXPECT_THAT(d.rack.tlp_end_seq(), Optional(S(4)));

  d.SendNew(4, 1, T(370));
  d.Ack(rx.ReceiveSeg(4), T(410));
  EXPECT_EQ(d.last_rack.tlp, TlpOutcome::kLossRepaired);
  EXPECT_EQ(d.rack.tlp_end_seq(), std::nullopt);
  EXPECT_TRUE(d.rack.rtt_sampled_since_probe());
}

// The last segment arrived but its ACK was lost: the probe is a duplicate, and the receiver says
// so with a D-SACK (§7.4.2 case 1). Then no new probe before an RTT sample (§7.3).
TEST(RackTest, ProbeFoundRedundantByDsack) {
  LossDriver d;
  SackReceiver rx(S(0));
  d.SendNew(0, 4, T(0));
  for (int n = 0; n < 3; ++n) d.Ack(rx.ReceiveSeg(n), T(40 + n));
  (void)rx.ReceiveSeg(3);  // its ACK is lost
  EXPECT_THAT(d.OnPto(T(322)), Optional(Rtx(3)));
  d.Ack(rx.ReceiveSeg(3), T(362));
  EXPECT_THAT(d.last_ack.dsack, Optional(Segs(3, 3)));
  EXPECT_EQ(d.last_rack.tlp, TlpOutcome::kSpurious);
  EXPECT_EQ(d.rack.tlp_end_seq(), std::nullopt);

  d.SendNew(4, 2, T(370));
  EXPECT_EQ(d.OnPto(T(400)), std::nullopt);  // no RTT sample since the probe
  d.Ack(rx.ReceiveSeg(4), T(410));
  EXPECT_TRUE(d.rack.rtt_sampled_since_probe());
  EXPECT_THAT(d.OnPto(T(500)), Optional(Rtx(5)));
}

// §7.4.2 case 2: a receiver without D-SACK answers the redundant probe with a duplicate ACK.
TEST(RackTest, ProbeFoundRedundantByAPlainDuplicateAck) {
  LossDriver d;
  d.SendNew(0, 4, T(0));
  d.Ack({S(3), {}}, T(42));
  EXPECT_THAT(d.OnPto(T(322)), Optional(Rtx(3)));
  d.Ack({S(4), {}}, T(340));  // the original's ACK, late
  EXPECT_EQ(d.last_rack.tlp, TlpOutcome::kNone);
  d.Ack({S(4), {}}, T(362), /*pure_dup_ack=*/true);  // the probe's
  EXPECT_EQ(d.last_rack.tlp, TlpOutcome::kSpurious);
}

// §7.3: with unsent data the window allows, the probe is new data.
TEST(RackTest, ProbeSendsNewDataWhenItCan) {
  LossDriver d;
  SackReceiver rx(S(0));
  d.SendNew(0, 2, T(0));
  d.Ack(rx.ReceiveSeg(0), T(40));
  d.sendable_new_bytes = 5 * kMss;
  EXPECT_THAT(d.OnPto(T(120)), Optional(New(2)));
  EXPECT_FALSE(d.rack.tlp_is_retrans());
  EXPECT_THAT(d.rack.tlp_end_seq(), Optional(S(3)));
  d.Ack(rx.ReceiveSeg(1), T(121));
  d.Ack(rx.ReceiveSeg(2), T(160));
  EXPECT_EQ(d.last_rack.tlp, TlpOutcome::kNewDataDelivered);
}

TEST(RackTest, RtoEndsAProbeEpisode) {
  LossDriver d;
  d.SendNew(0, 2, T(0));
  d.Ack({S(1), {}}, T(40));
  EXPECT_THAT(d.OnPto(T(320)), Optional(Rtx(1)));
  EXPECT_TRUE(d.rack.tlp_end_seq().has_value());
  d.rack.OnRto(d.queue, T(600), d.srtt);
  EXPECT_EQ(d.rack.tlp_end_seq(), std::nullopt);
}

}  // namespace
}  // namespace braid::tcp
