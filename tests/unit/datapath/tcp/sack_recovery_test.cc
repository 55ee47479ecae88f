#include "datapath/tcp/sack_recovery.h"

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

// RFC 6675 alone: RACK off, so only DupAcks and IsLost decide.
LossDriver SackOnlyDriver() {
  LossDriver d;
  d.use_rack = false;
  return d;
}

// Ten segments, segment 3 (the one across the 2^32 wrap) dropped once.
TEST(SackRecoveryTest, ThirdDuplicateAckStartsRecoveryAtTheHole) {
  LossDriver d = SackOnlyDriver();
  SackReceiver rx(S(0));
  d.SendNew(0, 10, T(0));
  for (int n = 0; n < 3; ++n) EXPECT_THAT(d.Ack(rx.ReceiveSeg(n), T(40 + n)), IsEmpty());
  EXPECT_EQ(d.recovery.dup_acks(), 0u);

  EXPECT_THAT(d.Ack(rx.ReceiveSeg(4), T(43)), IsEmpty());
  EXPECT_EQ(d.recovery.dup_acks(), 1u);
  EXPECT_FALSE(d.recovery.IsLost(d.queue, S(3)));
  EXPECT_EQ(d.recovery.Pipe(d.queue), 6 * kMss);  // 3 and 5..9
  EXPECT_THAT(d.Ack(rx.ReceiveSeg(5), T(44)), IsEmpty());
  EXPECT_EQ(d.recovery.dup_acks(), 2u);
  EXPECT_EQ(d.recovery.state(), RecoveryState::kOpen);

  // DupThresh: fast retransmit of HighACK + 1, RecoveryPoint = HighData.
  EXPECT_THAT(d.Ack(rx.ReceiveSeg(6), T(45)), ElementsAre(Rtx(3)));
  EXPECT_TRUE(d.last_events.entered);
  EXPECT_THAT(d.last_events.fast_retransmit,
              Optional(NextSegment{Rule::kFastRetransmit, S(3), S(4)}));
  EXPECT_EQ(d.recovery.state(), RecoveryState::kFastRecovery);
  EXPECT_THAT(d.recovery.recovery_point(), Optional(S(10)));
  EXPECT_THAT(d.recovery.high_rxt(), Optional(S(4)));
  EXPECT_THAT(d.recovery.rescue_rxt(), Optional(S(4)));
  EXPECT_TRUE(d.recovery.IsLost(d.queue, S(3)));
  EXPECT_FALSE(d.recovery.IsLost(d.queue, S(7)));
  EXPECT_EQ(Scoreboard(d.queue), "[3,4)R [4,7)S [7,8). [8,9). [9,10).");
  // The lost original no longer counts, its retransmission does.
  EXPECT_EQ(d.recovery.Pipe(d.queue), 4 * kMss);

  EXPECT_THAT(d.Ack(rx.ReceiveSeg(7), T(46)), IsEmpty());
  EXPECT_EQ(d.recovery.Pipe(d.queue), 3 * kMss);
  EXPECT_EQ(d.recovery.NextSeg(d.queue, 0).rule, Rule::kNone);

  // The retransmission arrives: a partial ACK, still below the RecoveryPoint. HighACK is now
  // above RescueRxt and 8, 9 are outstanding with nothing SACKed above them: rule 4 resends the
  // highest one (RFC 6675's guard against a lost tail).
  EXPECT_THAT(d.Ack(rx.ReceiveSeg(3), T(85)), ElementsAre(Rtx(9)));
  EXPECT_EQ(d.queue.snd_una(), S(8));
  EXPECT_EQ(d.recovery.state(), RecoveryState::kFastRecovery);
  EXPECT_EQ(d.recovery.dup_acks(), 0u);
  EXPECT_THAT(d.recovery.rescue_rxt(), Optional(S(10)));
  EXPECT_THAT(d.Ack(rx.ReceiveSeg(8), T(86)), IsEmpty());
  EXPECT_FALSE(d.last_events.exited);
  d.Ack(rx.ReceiveSeg(9), T(87));
  EXPECT_TRUE(d.last_events.exited);
  EXPECT_EQ(d.last_events.exited_from, RecoveryState::kFastRecovery);
  EXPECT_EQ(d.recovery.state(), RecoveryState::kOpen);
  EXPECT_THAT(d.rules, ElementsAre(Rule::kFastRetransmit, Rule::kRescue));
  // The rescue was not needed: its D-SACK arrives. One of two retransmissions was redundant, so
  // the episode as a whole was not spurious.
  d.Ack(rx.ReceiveSeg(9), T(125));
  EXPECT_THAT(d.last_ack.dsack, Optional(Segs(9, 9)));
  EXPECT_FALSE(d.last_events.spurious);
  EXPECT_EQ(d.recovery.undo_retrans(), 1u);
}

// Segments 2, 5 and 9 (the tail) of ten are lost; cwnd is 4 segments. Each rule of NextSeg
// gets its turn: the fast retransmit, rule 1 once three segments are SACKed above segment 5,
// and the rescue retransmission (rule 4) of the tail that no SACK can reveal.
TEST(SackRecoveryTest, NextSegRulesOverSeveralHolesAndATailLoss) {
  LossDriver d = SackOnlyDriver();
  d.cwnd = 4 * kMss;
  SackReceiver rx(S(0));
  d.SendNew(0, 10, T(0));
  d.Ack(rx.ReceiveSeg(0), T(40));
  d.Ack(rx.ReceiveSeg(1), T(41));
  d.Ack(rx.ReceiveSeg(3), T(43));
  d.Ack(rx.ReceiveSeg(4), T(44));
  EXPECT_THAT(d.Ack(rx.ReceiveSeg(6), T(46)), ElementsAre(Rtx(2)));
  EXPECT_THAT(d.recovery.recovery_point(), Optional(S(10)));
  // Segment 5 has only one SACKed segment above it: not lost, still counted in pipe.
  EXPECT_FALSE(d.recovery.IsLost(d.queue, S(5)));
  EXPECT_EQ(d.recovery.Pipe(d.queue), 5 * kMss);  // rtx 2, 5, 7, 8, 9

  EXPECT_THAT(d.Ack(rx.ReceiveSeg(7), T(47)), IsEmpty());  // pipe 4: cwnd full
  EXPECT_EQ(d.recovery.Pipe(d.queue), 4 * kMss);

  // Three SACKed segments above 5 now: rule 1.
  EXPECT_THAT(d.Ack(rx.ReceiveSeg(8), T(48)), ElementsAre(Rtx(5)));
  EXPECT_TRUE(d.recovery.IsLost(d.queue, S(5)));
  EXPECT_THAT(d.recovery.high_rxt(), Optional(S(6)));
  EXPECT_EQ(Scoreboard(d.queue), "[2,3)R [3,5)S [5,6)R [6,9)S [9,10).");
  EXPECT_EQ(d.recovery.Pipe(d.queue), 3 * kMss);  // rtx 2, rtx 5, 9

  // The retransmission of 2 arrives: partial ACK; HighACK passes RescueRxt, and segment 9 is
  // neither lost (nothing SACKed above it) nor below the highest SACK: rule 4 sends it.
  EXPECT_THAT(d.Ack(rx.ReceiveSeg(2), T(86)), ElementsAre(Rtx(9)));
  EXPECT_THAT(d.recovery.rescue_rxt(), Optional(S(10)));
  EXPECT_THAT(d.recovery.high_rxt(), Optional(S(6)));           // rule 4 leaves HighRxt alone
  EXPECT_EQ(d.recovery.NextSeg(d.queue, 0).rule, Rule::kNone);  // one rescue per episode

  EXPECT_THAT(d.Ack(rx.ReceiveSeg(5), T(88)), IsEmpty());
  EXPECT_EQ(d.queue.snd_una(), S(9));
  EXPECT_THAT(d.Ack(rx.ReceiveSeg(9), T(126)), IsEmpty());
  EXPECT_TRUE(d.last_events.exited);
  EXPECT_THAT(d.rules, ElementsAre(Rule::kFastRetransmit, Rule::kLost, Rule::kRescue));
}

// Rule 3: with room in cwnd, a hole below the highest SACK is retransmitted before it is lost.
TEST(SackRecoveryTest, RuleThreeFillsHolesNotYetLost) {
  LossDriver d = SackOnlyDriver();
  SackReceiver rx(S(0));
  d.SendNew(0, 10, T(0));
  for (int n : {0, 1, 3, 4}) d.Ack(rx.ReceiveSeg(n), T(40 + n));
  EXPECT_THAT(d.Ack(rx.ReceiveSeg(6), T(46)), ElementsAre(Rtx(2), Rtx(5)));
  EXPECT_THAT(d.rules, ElementsAre(Rule::kFastRetransmit, Rule::kHole));
  EXPECT_FALSE(d.recovery.IsLost(d.queue, S(5)));
  // New data, when there is some, comes before rule 3 (rule 2).
  EXPECT_EQ(d.recovery.NextSeg(d.queue, 300), (NextSegment{Rule::kNewData, S(10), S(10) + 300}));
}

// RFC 6675 §5 step 3: an ACK that SACKs three segments at once (the ACKs before it were lost)
// is one duplicate ACK, yet IsLost(HighACK + 1) starts recovery.
TEST(SackRecoveryTest, IsLostStartsRecoveryBeforeThreeDuplicateAcks) {
  LossDriver d = SackOnlyDriver();
  d.SendNew(0, 6, T(0));
  d.Ack({S(1), {}}, T(40));
  EXPECT_THAT(d.Ack({S(1), {Segs(2, 4)}}, T(44)), ElementsAre(Rtx(1)));
  EXPECT_EQ(d.recovery.dup_acks(), 1u);
  EXPECT_TRUE(d.last_events.entered);
  EXPECT_THAT(d.recovery.recovery_point(), Optional(S(6)));
}

// IsLost's byte rule: more than (DupThresh - 1) * SMSS SACKed bytes above, in fewer segments.
TEST(SackRecoveryTest, IsLostCountsBytesAsWellAsSegments) {
  RetransmitQueue q(8, S(0));
  SackRecovery recovery({kMss, true});
  ASSERT_EQ(q.OnTransmit(S(0), S(1), T(0), false), TransmitResult::kOk);
  ASSERT_EQ(q.OnTransmit(S(1), S(4), T(0), false), TransmitResult::kOk);  // a 3-MSS burst
  const std::vector<TcpSackBlock> blocks = {Block(S(1), S(3))};
  q.OnAck({S(0), blocks, T(40), std::nullopt, Duration::zero()});
  EXPECT_EQ(q.sacked_segments(), 1u);
  EXPECT_FALSE(recovery.IsLost(q, S(0)));  // exactly 2 * SMSS is not more
  const std::vector<TcpSackBlock> more = {Block(S(1), S(3) + 1)};
  q.OnAck({S(0), more, T(41), std::nullopt, Duration::zero()});
  EXPECT_TRUE(recovery.IsLost(q, S(0)));
  EXPECT_FALSE(recovery.IsLost(q, S(3) + 1));
  // For an octet inside SACKed data only the SACKed octets above it count.
  EXPECT_TRUE(recovery.IsLost(q, S(1) - 1));
  EXPECT_FALSE(recovery.IsLost(q, S(1)));
}

// RFC 6675 §5.1: an RTO ends fast recovery; RecoveryPoint = HighData; no new fast recovery
// before the cumulative ACK reaches it, however many duplicate ACKs arrive.
TEST(SackRecoveryTest, RtoEndsRecoveryAndBlocksReentryUntilRecoveryPoint) {
  LossDriver d = SackOnlyDriver();
  SackReceiver rx(S(0));
  d.SendNew(0, 10, T(0));
  for (int n : {0, 1, 2, 4, 5}) d.Ack(rx.ReceiveSeg(n), T(40 + n));
  EXPECT_THAT(d.Ack(rx.ReceiveSeg(6), T(46)), ElementsAre(Rtx(3)));
  d.SendNew(10, 2, T(47));

  // The retransmission is lost too; the RTO fires. RACK's §6.3 marks decide what is resent
  // (even with dupthresh recovery, the RTO path uses them), one segment per cwnd of 1.
  d.cwnd = kMss;
  EXPECT_THAT(d.OnRto(T(400)), ElementsAre(Rtx(3)));
  EXPECT_EQ(d.recovery.state(), RecoveryState::kRtoRecovery);
  EXPECT_THAT(d.recovery.recovery_point(), Optional(S(12)));
  EXPECT_EQ(Scoreboard(d.queue), "[3,4)R [4,7)S [7,8)L [8,9)L [9,10)L [10,11)L [11,12)L");

  // SACKs during RTO recovery are not duplicate ACKs for fast recovery.
  d.cwnd = 100 * kMss;
  EXPECT_THAT(d.Ack(rx.ReceiveSeg(7), T(401)), ElementsAre(Rtx(8), Rtx(9), Rtx(10), Rtx(11)));
  EXPECT_EQ(d.recovery.state(), RecoveryState::kRtoRecovery);
  EXPECT_EQ(d.recovery.dup_acks(), 0u);
  d.Ack(rx.ReceiveSeg(3), T(440));
  EXPECT_EQ(d.queue.snd_una(), S(8));
  EXPECT_EQ(d.recovery.state(), RecoveryState::kRtoRecovery);
  for (int n : {8, 9, 10, 11}) d.Ack(rx.ReceiveSeg(n), T(441 + n));
  EXPECT_EQ(d.recovery.state(), RecoveryState::kOpen);
  EXPECT_EQ(d.last_events.exited_from, RecoveryState::kRtoRecovery);

  // A fresh loss after the RecoveryPoint starts fast recovery again.
  d.SendNew(12, 6, T(500));
  for (int n : {12, 14, 15}) d.Ack(rx.ReceiveSeg(n), T(540 + n));
  EXPECT_THAT(d.Ack(rx.ReceiveSeg(16), T(556)), ElementsAre(Rtx(13)));
  EXPECT_EQ(d.recovery.state(), RecoveryState::kFastRecovery);
}

// A partial RTO: the guard holds while SND.UNA is below the RTO's RecoveryPoint.
TEST(SackRecoveryTest, NoFastRecoveryWhileAnRtoEpisodeIsUnfinished) {
  RetransmitQueue q(16, S(0));
  SackRecovery recovery({kMss, true});
  for (int n = 0; n < 8; ++n)
    ASSERT_EQ(q.OnTransmit(S(n), S(n + 1), T(0), false), TransmitResult::kOk);
  recovery.OnRto(q);
  EXPECT_EQ(recovery.state(), RecoveryState::kRtoRecovery);
  EXPECT_EQ(recovery.EnterRecovery(q).entered, false);
  const std::vector<TcpSackBlock> blocks = {Segs(2, 6)};
  const AckResult r = q.OnAck({S(1), blocks, T(300), std::nullopt, Duration::zero()});
  EXPECT_FALSE(recovery.OnAck(q, r).entered);
  EXPECT_EQ(recovery.state(), RecoveryState::kRtoRecovery);
}

// RFC 3708: the "lost" segment was only reordered; the receiver reports the retransmission as a
// duplicate, so the episode was spurious.
TEST(SackRecoveryTest, DsackOfEveryRetransmissionMeansSpuriousRecovery) {
  LossDriver d = SackOnlyDriver();
  SackReceiver rx(S(0));
  d.SendNew(0, 8, T(0));
  for (int n : {0, 1, 3, 4}) d.Ack(rx.ReceiveSeg(n), T(40 + n));
  EXPECT_THAT(d.Ack(rx.ReceiveSeg(5), T(45)), ElementsAre(Rtx(2)));
  EXPECT_EQ(d.recovery.undo_retrans(), 1u);
  EXPECT_THAT(d.Ack(rx.ReceiveSeg(6), T(46)), IsEmpty());
  EXPECT_THAT(d.Ack(rx.ReceiveSeg(7), T(47)), IsEmpty());
  // The original of 2 was late, not lost: recovery ends.
  d.Ack(rx.ReceiveSeg(2), T(50));
  EXPECT_EQ(d.queue.snd_una(), S(8));
  EXPECT_TRUE(d.last_events.exited);
  EXPECT_FALSE(d.last_events.spurious);
  // Its retransmission arrives: D-SACK.
  d.Ack(rx.ReceiveSeg(2), T(85));
  EXPECT_THAT(d.last_ack.dsack, Optional(Segs(2, 2)));
  EXPECT_TRUE(d.last_events.spurious);
  EXPECT_EQ(d.recovery.undo_retrans(), 0u);
  // Reported once.
  d.Ack(rx.ReceiveSeg(2), T(86));
  EXPECT_FALSE(d.last_events.spurious);
}

// Without DupThresh loss detection only lost marks (RACK, RTO) count.
TEST(SackRecoveryTest, WithoutDupThreshOnlyLostMarksCount) {
  LossDriver d(256, {kMss, /*dupthresh_loss=*/false});
  d.use_rack = false;
  SackReceiver rx(S(0));
  d.SendNew(0, 8, T(0));
  for (int n : {0, 2, 3, 4, 5}) EXPECT_THAT(d.Ack(rx.ReceiveSeg(n), T(40 + n)), IsEmpty());
  EXPECT_EQ(d.recovery.dup_acks(), 4u);
  EXPECT_EQ(d.recovery.state(), RecoveryState::kOpen);
  EXPECT_EQ(d.recovery.Pipe(d.queue), 3 * kMss);  // 1, 6, 7: none presumed lost

  EXPECT_EQ(d.queue.MarkLostAt(0), kMss);
  EXPECT_EQ(d.recovery.Pipe(d.queue), 2 * kMss);
  const RecoveryEvents ev = d.recovery.EnterRecovery(d.queue);
  EXPECT_TRUE(ev.entered);
  EXPECT_THAT(ev.fast_retransmit, Optional(NextSegment{Rule::kFastRetransmit, S(1), S(2)}));
  EXPECT_EQ(d.recovery.EnterRecovery(d.queue).entered, false);  // already in recovery
  // A lost mark below HighRxt is still rule 1 (a lost retransmission).
  d.recovery.OnSent(*ev.fast_retransmit);
  ASSERT_EQ(d.queue.OnTransmit(S(1), S(2), T(50), true), TransmitResult::kOk);
  EXPECT_EQ(d.queue.MarkLostAt(0), kMss);
  EXPECT_EQ(d.recovery.NextSeg(d.queue, 0), (NextSegment{Rule::kLost, S(1), S(2)}));
}

TEST(SackRecoveryTest, RtoWithNothingOutstandingLeavesRecoveryOpen) {
  RetransmitQueue q(4, S(0));
  SackRecovery recovery({kMss, true});
  recovery.OnRto(q);
  EXPECT_EQ(recovery.state(), RecoveryState::kOpen);
  EXPECT_EQ(recovery.high_rxt(), std::nullopt);
}

// The rescue retransmission is one SMSS ending at the highest unSACKed octet, gathered over
// small records.
TEST(SackRecoveryTest, RescueCoversTheLastSmssOfTheTail) {
  RetransmitQueue q(16, S(0));
  SackRecovery recovery({kMss, true});
  ASSERT_EQ(q.OnTransmit(S(0), S(1), T(0), false), TransmitResult::kOk);
  ASSERT_EQ(q.OnTransmit(S(1), S(4), T(0), false), TransmitResult::kOk);
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(q.OnTransmit(S(4) + 300 * i, S(4) + 300 * (i + 1), T(0), false), TransmitResult::kOk);
  }
  const std::vector<TcpSackBlock> blocks = {Block(S(1), S(4))};
  const AckResult r = q.OnAck({S(0), blocks, T(40), std::nullopt, Duration::zero()});
  const RecoveryEvents ev = recovery.OnAck(q, r);
  ASSERT_TRUE(ev.entered);  // IsLost(HighACK + 1): three SMSS SACKed above
  recovery.OnSent(*ev.fast_retransmit);
  // Partial ACK of the retransmission: HighACK passes RescueRxt.
  const AckResult partial = q.OnAck({S(4), {}, T(80), std::nullopt, Duration::zero()});
  EXPECT_FALSE(recovery.OnAck(q, partial).exited);
  EXPECT_EQ(recovery.NextSeg(q, 0), (NextSegment{Rule::kRescue, S(4) + 500, S(4) + 1500}));
}

TEST(SackRecoveryTest, NextSegStaysWithinSmssAndTheHole) {
  RetransmitQueue q(16, S(0));
  SackRecovery recovery({kMss, true});
  // Small segments: a lost run is retransmitted as one SMSS-sized segment.
  for (int i = 0; i < 6; ++i) {
    ASSERT_EQ(q.OnTransmit(S(0) + 400 * i, S(0) + 400 * (i + 1), T(0), false), TransmitResult::kOk);
  }
  for (size_t i = 0; i < 5; ++i) q.MarkLostAt(i);
  EXPECT_EQ(recovery.NextSeg(q, 0), (NextSegment{Rule::kLost, S(0), S(1)}));
  // A SACKed record ends the hole.
  const std::vector<TcpSackBlock> blocks = {Block(S(0) + 400, S(0) + 800)};
  q.OnAck({S(0), blocks, T(40), std::nullopt, Duration::zero()});
  EXPECT_EQ(recovery.NextSeg(q, 0), (NextSegment{Rule::kLost, S(0), S(0) + 400}));
}

}  // namespace
}  // namespace braid::tcp
