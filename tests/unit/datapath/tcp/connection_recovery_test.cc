// Loss recovery at connection level, with specific segments dropped by the script
// (conventions.md "Loss and recovery"): NewReno fast retransmit and partial ACKs (RFC 6582) with
// limited transmit (RFC 3042) for a peer without SACK, RFC 6675 SACK recovery with PRR
// (RFC 6937), RACK reordering windows and TLP (RFC 8985), the RTO with backoff (RFC 6298), and
// undoing a spurious recovery on D-SACK (RFC 3708). Every retransmission is asserted exactly.
#include <gtest/gtest.h>

#include "tests/unit/datapath/tcp/tcp_fixture.h"

namespace braid::tcp::testing {
namespace {

constexpr uint32_t kSeg = TcpTest::kPayloadMss;  // 1448
// Our data segment n starts at S(n); the peer's byte 0 is P0.
constexpr uint32_t S(uint32_t n) { return TcpTest::kIss + 1 + n * kSeg; }
constexpr uint32_t P0 = TcpTest::kIrs + 1;
TcpSackBlock Segs(uint32_t first, uint32_t last) { return {TcpSeq(S(first)), TcpSeq(S(last + 1))}; }

class LossRecovery : public TcpTest {
 protected:
  // ESTABLISHED, and the peer's window as its ACKs will announce it (131072 bytes), so that
  // the duplicate ACKs that follow keep it unchanged (RFC 5681 §2).
  void Start() {
    Establish();
    Send(I(kAck, P0, S(0)));
    ExpectNoSegments();
  }
  // n full segments from segment `first`, the last one pushed when it ends the write.
  std::vector<Out> DataSegs(uint32_t first, uint32_t n, uint32_t write_end) {
    std::vector<Out> v;
    for (uint32_t i = first; i < first + n; ++i) {
      v.push_back(O(i + 1 == write_end ? kPshAck : kAck, S(i), P0).Len(kSeg));
    }
    return v;
  }
  // The peer's ACK of everything below segment `ack`, with SACK blocks.
  void Ack(uint32_t ack, std::vector<TcpSackBlock> sack = {}) {
    Send(I(kAck, P0, S(ack)).Sack(std::move(sack)));
  }
};

// ---- NewReno (RFC 6582) with a peer that does not do SACK
// -------------------------------------------

TEST_F(LossRecovery, NewRenoFastRetransmitAfterThreeDupAcksWithLimitedTransmit) {
  peer_sack_ = false;
  Start();
  AppSend(30 * kSeg);
  ExpectSegments(DataSegs(0, 10, 30));
  Advance(10ms);
  // Segment 0 is lost; 1.. arrive, each answered by a duplicate ACK.
  Ack(0);  // dupack 1: limited transmit (RFC 3042)
  ExpectSegments(DataSegs(10, 1, 30));
  Ack(0);  // dupack 2
  ExpectSegments(DataSegs(11, 1, 30));
  Ack(0);  // dupack 3: fast retransmit (RFC 6582 §3.2 step 2-3)
  ExpectSegments({O(kAck, S(0), P0).Len(kSeg)});
  const TcpInfo info = conn_->Info();
  EXPECT_EQ(info.ca_state, CaState::kRecovery);
  EXPECT_EQ(info.ssthresh, 6u * kSeg);  // FlightSize (12 segments) / 2
  EXPECT_EQ(info.cwnd, 6u * kSeg);
  // cwnd + 3 SMSS inflation = 9 segments < FlightSize 12: each further dupack inflates by one.
  Ack(0);  // 10
  Ack(0);  // 11
  Ack(0);  // 12
  ExpectNoSegments();
  Ack(0);  // 13 > 12: one new segment
  ExpectSegments(DataSegs(12, 1, 30));
  Ack(0);
  ExpectSegments(DataSegs(13, 1, 30));
  Ack(0);
  ExpectSegments(DataSegs(14, 1, 30));
  Ack(0);
  ExpectSegments(DataSegs(15, 1, 30));
  // The retransmission arrives: everything up to the recovery point (segment 12) is acked.
  Advance(10ms);
  Ack(12);
  // Recovery over: cwnd = ssthresh = 6 segments, 4 in flight (12..15): two more.
  ExpectSegments(DataSegs(16, 2, 30));
  EXPECT_EQ(conn_->Info().ca_state, CaState::kOpen);
  EXPECT_EQ(conn_->Info().cwnd, 6u * kSeg);
  EXPECT_EQ(conn_->Info().counters[TcpCounter::kFastRetransmits], 1u);
  EXPECT_EQ(conn_->Info().counters[TcpCounter::kRecoveries], 1u);
  EXPECT_EQ(conn_->Info().counters[TcpCounter::kDuplicateAcksIn], 10u);
}

TEST_F(LossRecovery, NewRenoPartialAckRetransmitsTheNextHole) {
  peer_sack_ = false;
  Start();
  AppSend(10 * kSeg);
  ExpectSegments(DataSegs(0, 10, 10));
  Advance(10ms);
  // Segments 0 and 3 are lost.
  for (int i = 0; i < 3; ++i) Ack(0);
  ExpectSegments({O(kAck, S(0), P0).Len(kSeg)});
  for (int i = 0; i < 5; ++i) Ack(0);
  ExpectNoSegments();
  Advance(10ms);
  // The retransmitted segment 0 fills the first hole: a partial ACK up to segment 3.
  Ack(3);
  // RFC 6582 §3.2 step 5: the first unacknowledged segment, at once.
  ExpectSegments({O(kAck, S(3), P0).Len(kSeg)});
  EXPECT_EQ(conn_->Info().ca_state, CaState::kRecovery);
  Advance(10ms);
  Ack(10);
  ExpectNoSegments();
  EXPECT_EQ(conn_->Info().ca_state, CaState::kOpen);
  EXPECT_EQ(conn_->Info().counters[TcpCounter::kFastRetransmits], 2u);
}

TEST_F(LossRecovery, ChangedWindowIsNotADuplicateAck) {
  peer_sack_ = false;
  Start();
  AppSend(10 * kSeg);
  TakeSegments();
  Send(I(kAck, P0, S(0)).Win(1000));
  Send(I(kAck, P0, S(0)).Win(1001));
  Send(I(kAck, P0, S(0)).Win(1002));
  ExpectNoSegments();
  EXPECT_EQ(conn_->Info().ca_state, CaState::kOpen);
}

// ---- RFC 6675 SACK recovery with PRR ------------------------------------------------------------

TEST_F(LossRecovery, SackRecoveryRetransmitsExactlyTheHoles) {
  config_.rack_tlp = false;
  Start();
  AppSend(10 * kSeg);
  ExpectSegments(DataSegs(0, 10, 10));
  Advance(10ms);
  // Segments 1 and 4 are lost.
  Ack(1);
  ExpectNoSegments();
  Ack(1, {Segs(2, 2)});
  Ack(1, {Segs(2, 3)});
  ExpectNoSegments();
  // Third duplicate ACK (RFC 6675 §5 step 4): retransmit the first hole.
  Ack(1, {Segs(5, 5), Segs(2, 3)});
  ExpectSegments({O(kAck, S(1), P0).Len(kSeg)});
  EXPECT_EQ(conn_->Info().ca_state, CaState::kRecovery);
  // PRR (RFC 6937): pipe (8 segments) is above ssthresh (4.5): proportional credit, half a
  // segment per segment delivered, nothing yet.
  Ack(1, {Segs(5, 6), Segs(2, 3)});
  ExpectNoSegments();
  // Three segments SACKed above segment 4: it is lost (RFC 6675 IsLost), which takes it out of
  // pipe (3 segments now, below ssthresh): the slow-start reduction bound lets it go.
  Ack(1, {Segs(5, 7), Segs(2, 3)});
  ExpectSegments({O(kAck, S(4), P0).Len(kSeg)});
  Ack(1, {Segs(5, 8), Segs(2, 3)});
  Ack(1, {Segs(5, 9), Segs(2, 3)});
  ExpectNoSegments();  // no hole left; RescueRxt (the first retransmission's end) not passed
  Advance(10ms);
  // The cumulative ACK passes RescueRxt: rule 4 sends one rescue retransmission of the highest
  // unSACKed segment (RFC 6675 §4 NextSeg (4)).
  Ack(4, {Segs(5, 9)});
  ExpectSegments({O(kAck, S(4), P0).Len(kSeg)});
  Ack(10);
  ExpectNoSegments();
  const TcpInfo info = conn_->Info();
  EXPECT_EQ(info.ca_state, CaState::kOpen);
  EXPECT_EQ(info.counters[TcpCounter::kRetransmits], 3u);
  EXPECT_EQ(info.counters[TcpCounter::kRecoveries], 1u);
  // NewReno: ssthresh = FlightSize / 2 at entry (9 segments), cwnd = ssthresh on exit.
  EXPECT_EQ(info.cwnd, 9u * kSeg / 2);
}

TEST_F(LossRecovery, DsackUndoesASpuriousFastRetransmit) {
  config_.rack_tlp = false;
  Start();
  AppSend(10 * kSeg);
  TakeSegments();
  const uint64_t cwnd_before = conn_->Info().cwnd;
  Advance(10ms);
  // Segment 0 is only late: 1, 2, 3 arrive first.
  Ack(0, {Segs(1, 1)});
  Ack(0, {Segs(1, 2)});
  Ack(0, {Segs(1, 3)});
  ExpectSegments({O(kAck, S(0), P0).Len(kSeg)});
  EXPECT_LT(conn_->Info().cwnd, cwnd_before);
  // The original arrives, then the retransmission, which the peer reports as a duplicate
  // (RFC 2883): the reduction was spurious (RFC 3708) and is undone.
  Advance(5ms);
  Ack(10);
  Send(I(kAck, P0, S(10)).Sack({Segs(0, 0)}));
  ExpectNoSegments();
  const TcpInfo info = conn_->Info();
  EXPECT_EQ(info.cwnd, cwnd_before);
  EXPECT_EQ(info.counters[TcpCounter::kDsacksIn], 1u);
  EXPECT_EQ(info.counters[TcpCounter::kSpuriousRetransmits], 1u);
}

// ---- RACK-TLP (RFC 8985) ------------------------------------------------------------------------

TEST_F(LossRecovery, RackMarksAReorderedSegmentLostOnlyAfterTheReorderingWindow) {
  Start();
  const Instant t0 = now_;
  AppSend(4 * kSeg);
  ExpectSegments(DataSegs(0, 4, 4));
  Advance(10ms);
  // Segment 1 delivered, 0 not (yet): RACK waits RACK.rtt + reo_wnd from segment 0's
  // transmission, reo_wnd = min_RTT / 4 = 2.5 ms (§6.2 step 4).
  Ack(0, {Segs(1, 1)});
  ExpectNoSegments();
  EXPECT_EQ(conn_->PollAt(), t0 + 12500us);
  ExpectNothing(t0 + 12500us - 1ns);
  AdvanceTo(t0 + 12500us);
  ExpectSegments({O(kAck, S(0), P0).Len(kSeg)});
  EXPECT_EQ(conn_->Info().ca_state, CaState::kRecovery);
}

TEST_F(LossRecovery, RackReorderedSegmentArrivingInTimeIsNotRetransmitted) {
  Start();
  const Instant t0 = now_;
  AppSend(4 * kSeg);
  TakeSegments();
  Advance(10ms);
  Ack(0, {Segs(1, 1)});
  AdvanceTo(t0 + 12ms);
  Ack(4);
  ExpectNothing(t0 + 100ms);
  EXPECT_EQ(conn_->Info().counters[TcpCounter::kRetransmits], 0u);
  EXPECT_EQ(conn_->Info().ca_state, CaState::kOpen);
}

TEST_F(LossRecovery, RackThreeSackedSegmentsNeedNoReorderingWindow) {
  Start();
  AppSend(5 * kSeg);
  TakeSegments();
  Advance(10ms);
  Ack(0, {Segs(1, 1)});
  Ack(0, {Segs(1, 2)});
  ExpectNoSegments();
  // RACK.segs_sacked >= DupThresh with no reordering seen: reo_wnd = 0 (§6.2 step 4).
  Ack(0, {Segs(1, 3)});
  ExpectSegments({O(kAck, S(0), P0).Len(kSeg)});
}

TEST_F(LossRecovery, TailLossProbeAtPtoRetransmitsTheLastSegment) {
  Start();
  const Instant t0 = now_;
  AppSend(4 * kSeg);
  ExpectSegments(DataSegs(0, 4, 4));
  // Nothing comes back. PTO = 2·SRTT = 20 ms (§7.2; more than one segment in flight).
  EXPECT_EQ(conn_->PollAt(), t0 + 20ms);
  ExpectNothing(t0 + 20ms - 1ns);
  AdvanceTo(t0 + 20ms);
  // §7.3: no new data to send: the last segment again.
  ExpectSegments({O(kPshAck, S(3), P0).Len(kSeg)});
  EXPECT_EQ(conn_->Info().counters[TcpCounter::kTlpProbes], 1u);
  // Then the RTO, from the probe.
  EXPECT_EQ(conn_->PollAt(), t0 + 220ms);
  // The probe's ACK reports the tail: segment 0 to 2 are missing, RACK marks them (they were
  // sent before the delivered probe, long enough ago) and recovery starts.
  Advance(10ms);
  Ack(0, {Segs(3, 3)});
  std::vector<Captured> segs = TakeSegments();
  ASSERT_FALSE(segs.empty());
  EXPECT_EQ(segs[0].header.seq.raw(), S(0));
  EXPECT_EQ(conn_->Info().ca_state, CaState::kRecovery);
}

TEST_F(LossRecovery, TailLossProbeSendsNewDataWhenThereIsSome) {
  Start();
  const Instant t0 = now_;
  AppSend(12 * kSeg);
  ExpectSegments(DataSegs(0, 10, 12));  // cwnd
  AdvanceTo(t0 + 20ms);
  // §7.3: unsent data and an open window: the next new segment, beyond cwnd.
  ExpectSegments(DataSegs(10, 1, 12));
}

TEST_F(LossRecovery, SingleSegmentPtoWaitsForTheDelayedAck) {
  Start();
  const Instant t0 = now_;
  AppSend(100);
  TakeSegments();
  // §7.2: one segment in flight: 2·SRTT + max_ack_delay (200 ms), capped by the RTO (200 ms).
  EXPECT_EQ(conn_->PollAt(), t0 + 200ms);
}

// ---- RTO (RFC 6298)
// ---------------------------------------------------------------------------------

TEST_F(LossRecovery, RtoBacksOffExponentiallyThenGivesUp) {
  config_.rack_tlp = false;
  config_.max_retransmits = 4;
  Start();
  const Instant t0 = now_;
  AppSend(100);
  ExpectSegments({O(kPshAck, S(0), P0).Len(100)});
  // RTO = 200 ms (the floor), doubled on each expiry (§5.5).
  uint32_t n = 0;
  for (int64_t at : {200, 600, 1400, 3000}) {
    ExpectNothing(t0 + std::chrono::milliseconds(at) - 1ns);
    AdvanceTo(t0 + std::chrono::milliseconds(at));
    ExpectSegments({O(kPshAck, S(0), P0).Len(100)});
    EXPECT_EQ(conn_->TakeEvents().rto_count, ++n);
    EXPECT_EQ(conn_->Info().ca_state, CaState::kLoss);
  }
  EXPECT_EQ(conn_->Info().backoff, 4u);
  ExpectNothing(t0 + 6200ms - 1ns);
  AdvanceTo(t0 + 6200ms);
  // R2 reached (max_retransmits): RST, and the connection reports the timeout.
  ExpectSegments({O(kRstAck, S(0) + 100, P0).Win(0)});
  EXPECT_EQ(conn_->state(), TcpState::kClosed);
  const ConnectionEvents ev = conn_->TakeEvents();
  EXPECT_EQ(ev.reset, TcpEvent::ResetReason::kTimeout);
  EXPECT_EQ(conn_->Info().counters[TcpCounter::kRtoExpirations], 4u);
}

TEST_F(LossRecovery, RtoRetransmitsOneSegmentThenSlowStartsThroughTheRest) {
  config_.rack_tlp = false;
  Start();
  const Instant t0 = now_;
  AppSend(4 * kSeg);
  TakeSegments();
  AdvanceTo(t0 + 200ms);
  // cwnd = 1 SMSS after the RTO (RFC 5681 §3.1): the first segment only.
  ExpectSegments({O(kAck, S(0), P0).Len(kSeg)});
  EXPECT_EQ(conn_->Info().cwnd, kSeg);
  Advance(10ms);
  Ack(1);
  // Slow start: cwnd 2, the next two lost-marked segments.
  ExpectSegments({O(kAck, S(1), P0).Len(kSeg), O(kAck, S(2), P0).Len(kSeg)});
  Advance(10ms);
  Ack(3);
  ExpectSegments({O(kPshAck, S(3), P0).Len(kSeg)});
  Advance(10ms);
  Ack(4);
  EXPECT_EQ(conn_->Info().ca_state, CaState::kOpen);
  EXPECT_EQ(conn_->PollAt(), std::nullopt);
}

TEST_F(LossRecovery, KarnNoSampleFromARetransmissionButTimestampsGiveOne) {
  config_.rack_tlp = false;
  Start();
  const Instant t0 = now_;
  AppSend(100);
  TakeSegments();
  AdvanceTo(t0 + 200ms);
  TakeSegments();
  const uint32_t rtx_tsval = last_tsval_;
  Advance(30ms);
  // The ACK echoes the retransmission's TSval: a 30 ms sample (RFC 7323 §4), which also
  // clears the backoff.
  Send(I(kAck, P0, S(0) + 100).Ts(peer_tsval_, rtx_tsval));
  const TcpInfo info = conn_->Info();
  EXPECT_EQ(info.srtt, 12500us);  // 7/8 · 10 ms + 1/8 · 30 ms
  EXPECT_EQ(info.backoff, 0u);
}

TEST_F(LossRecovery, KarnWithoutTimestampsTakesNoSample) {
  config_.rack_tlp = false;
  config_.timestamps = false;
  Start();
  const Instant t0 = now_;
  AppSend(100);
  TakeSegments();
  AdvanceTo(t0 + 200ms);
  TakeSegments();
  Advance(30ms);
  Send(I(kAck, P0, S(0) + 100));
  const TcpInfo info = conn_->Info();
  EXPECT_EQ(info.srtt, 10ms);  // unchanged: the ACK is ambiguous (RFC 6298 §3)
  EXPECT_EQ(info.backoff, 1u);
  EXPECT_EQ(info.rto, 400ms);
}

}  // namespace
}  // namespace braid::tcp::testing
