// Closing a connection: FIN-WAIT-1, FIN-WAIT-2, CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT and
// simultaneous close (RFC 9293 §3.6, §3.10.4, §3.10.7.4 steps 5 and 8).
#include <gtest/gtest.h>

#include "tests/unit/datapath/tcp/tcp_fixture.h"

namespace braid::tcp::testing {
namespace {

constexpr uint32_t D(uint32_t n) { return TcpTest::kIss + 1 + n; }
constexpr uint32_t P(uint32_t n) { return TcpTest::kIrs + 1 + n; }

// ---- FIN-WAIT-1
// -----------------------------------------------------------------------------------

using FinWait1 = TcpTest;

TEST_F(FinWait1, AckOfOurFinGoesToFinWait2) {
  ToFinWait2();
  EXPECT_EQ(conn_->PollAt(), std::nullopt);  // not orphaned: no FIN-WAIT-2 timer
}

TEST_F(FinWait1, FinThatAcksOurFinGoesStraightToTimeWait) {
  ToFinWait1();
  Advance(10ms);
  Send(I(kFinAck, P(0), D(1)));
  ExpectSegments({O(kAck, D(1), P(1))});
  EXPECT_EQ(conn_->state(), TcpState::kTimeWait);
  EXPECT_TRUE(conn_->TakeEvents().peer_fin);
}

TEST_F(FinWait1, QueuedDataGoesFirstAndAShortTailCarriesTheFin) {
  Establish();
  AppSend(100);
  AppSend(50);  // held by Nagle
  ExpectSegments({O(kPshAck, D(0), P(0)).Len(100)});
  ASSERT_EQ(conn_->Shutdown(now_, sink_), TcpError::kOk);
  // The FIN lifts Nagle: the tail and the FIN in one segment.
  ExpectSegments({O(kFinPshAck, D(100), P(0)).Len(50)});
  EXPECT_EQ(conn_->state(), TcpState::kFinWait1);
  Advance(10ms);
  Send(I(kAck, P(0), D(151)));
  EXPECT_EQ(conn_->state(), TcpState::kFinWait2);
  EXPECT_EQ(conn_->TakeEvents().acked_bytes, 150u);  // the FIN's octet is not data
}

TEST_F(FinWait1, LostFinIsProbedThenRetransmittedByTheRto) {
  ToFinWait1();
  const Instant t0 = now_;
  // RFC 8985 §7.2: one segment (the FIN) in flight: 2·SRTT + 200 ms, capped by the RTO.
  EXPECT_EQ(conn_->PollAt(), t0 + 200ms);
  AdvanceTo(t0 + 200ms);
  ExpectSegments({O(kFinAck, D(0), P(0))});
  EXPECT_EQ(conn_->Info().counters[TcpCounter::kTlpProbes], 1u);
  // Then the RTO (200 ms from the probe), backed off afterwards.
  ExpectNothing(t0 + 400ms - 1ns);
  AdvanceTo(t0 + 400ms);
  ExpectSegments({O(kFinAck, D(0), P(0))});
  ExpectNothing(t0 + 800ms - 1ns);
  AdvanceTo(t0 + 800ms);
  ExpectSegments({O(kFinAck, D(0), P(0))});
  Send(I(kAck, P(0), D(1)));
  EXPECT_EQ(conn_->state(), TcpState::kFinWait2);
}

TEST_F(FinWait1, DataFromThePeerIsStillReceived) {
  ToFinWait1();
  Send(I(kPshAck, P(0), D(0)).Data(kPayloadMss));
  Send(I(kPshAck, P(kPayloadMss), D(0)).Data(kPayloadMss));
  ExpectSegments({O(kAck, D(1), P(2 * kPayloadMss)).Win(WinField(kRcvBuf - 2 * kPayloadMss))});
  EXPECT_EQ(conn_->state(), TcpState::kFinWait1);
}

TEST_F(FinWait1, RstClosesWithPeerReset) {
  ToFinWait1();
  Send(I(kRst, P(0)));
  EXPECT_EQ(conn_->state(), TcpState::kClosed);
  EXPECT_EQ(conn_->TakeEvents().reset, TcpEvent::ResetReason::kPeerReset);
}

// ---- FIN-WAIT-2
// -----------------------------------------------------------------------------------

using FinWait2 = TcpTest;

TEST_F(FinWait2, PeerFinGoesToTimeWait) { ToTimeWait(); }

TEST_F(FinWait2, DataIsReceivedAndAcknowledged) {
  ToFinWait2();
  Send(I(kPshAck, P(0), D(1)).Data(100));
  AdvanceTo(now_ + 40ms);
  ExpectSegments({O(kAck, D(1), P(100)).Win(WinField(kRcvBuf - 100))});
  std::vector<uint8_t> buf(200);
  EXPECT_EQ(AppReceive(buf).bytes, 100u);
}

TEST_F(FinWait2, OrphanedConnectionTimesOut) {
  ToFinWait2();
  ASSERT_EQ(conn_->Close(now_, sink_), TcpError::kOk);
  ExpectNoSegments();
  const Instant t0 = now_;
  EXPECT_EQ(conn_->PollAt(), t0 + 60s);  // fin_wait2_timeout
  ExpectNothing(t0 + 60s - 1ns);
  EXPECT_EQ(conn_->state(), TcpState::kFinWait2);
  AdvanceTo(t0 + 60s);
  ExpectNoSegments();  // silently, as Linux does
  EXPECT_EQ(conn_->state(), TcpState::kClosed);
  const ConnectionEvents ev = conn_->TakeEvents();
  EXPECT_TRUE(ev.closed);
  EXPECT_EQ(ev.reset, TcpEvent::ResetReason::kNone);
}

TEST_F(FinWait2, OrphanReceivingNewDataResets) {
  ToFinWait2();
  ASSERT_EQ(conn_->Close(now_, sink_), TcpError::kOk);
  Send(I(kPshAck, P(0), D(1)).Data(10));
  ExpectSegments({O(kRstAck, D(1), P(0)).Win(0)});
  EXPECT_EQ(conn_->state(), TcpState::kClosed);
}

// ---- CLOSE-WAIT
// -------------------------------------------------------------------------------------

using CloseWait = TcpTest;

TEST_F(CloseWait, WeCanStillSend) {
  ToCloseWait();
  AppSend(100);
  ExpectSegments({O(kPshAck, D(0), P(1)).Len(100)});
}

TEST_F(CloseWait, RetransmittedPeerFinIsAcknowledgedAgain) {
  ToCloseWait();
  Send(I(kFinAck, P(0), D(0)));
  ExpectSegments({O(kAck, D(0), P(1))});
  EXPECT_EQ(conn_->state(), TcpState::kCloseWait);
  EXPECT_FALSE(conn_->TakeEvents().peer_fin);  // reported once
}

TEST_F(CloseWait, ShutdownSendsFinAndWaitsForItsAck) { ToLastAck(); }

TEST_F(CloseWait, ReceiveReportsTheFin) {
  ToCloseWait();
  std::vector<uint8_t> buf(10);
  const ReceiveResult r = AppReceive(buf);
  EXPECT_EQ(r.bytes, 0u);
  EXPECT_TRUE(r.fin);
}

// ---- CLOSING ------------------------------------------------------------------------------------

using Closing = TcpTest;

TEST_F(Closing, AckOfOurFinGoesToTimeWait) {
  ToClosing();
  Advance(5ms);
  Send(I(kAck, P(1), D(1)));
  ExpectNoSegments();
  EXPECT_EQ(conn_->state(), TcpState::kTimeWait);
}

TEST_F(Closing, OurFinIsRetransmittedUntilAcknowledged) {
  config_.rack_tlp = false;
  ToClosing();
  const Instant fin_sent = now_ - 5ms;
  AdvanceTo(fin_sent + 200ms);
  ExpectSegments({O(kFinAck, D(0), P(1))});
  EXPECT_EQ(conn_->state(), TcpState::kClosing);
}

// ---- LAST-ACK
// -------------------------------------------------------------------------------------

using LastAck = TcpTest;

TEST_F(LastAck, AckOfOurFinCloses) {
  ToLastAck();
  Advance(10ms);
  Send(I(kAck, P(1), D(1)));
  ExpectNoSegments();
  EXPECT_EQ(conn_->state(), TcpState::kClosed);
  const ConnectionEvents ev = conn_->TakeEvents();
  EXPECT_TRUE(ev.closed);
  EXPECT_EQ(ev.reset, TcpEvent::ResetReason::kNone);
  EXPECT_EQ(conn_->PollAt(), std::nullopt);
}

TEST_F(LastAck, FinIsRetransmitted) {
  config_.rack_tlp = false;
  ToLastAck();
  const Instant t0 = now_;
  ExpectNothing(t0 + 200ms - 1ns);
  AdvanceTo(t0 + 200ms);
  ExpectSegments({O(kFinAck, D(0), P(1))});
  EXPECT_EQ(conn_->state(), TcpState::kLastAck);
}

TEST_F(LastAck, RstCloses) {
  ToLastAck();
  Send(I(kRst, P(1)));
  EXPECT_EQ(conn_->state(), TcpState::kClosed);
  EXPECT_TRUE(conn_->TakeEvents().closed);
}

// ---- TIME-WAIT
// --------------------------------------------------------------------------------------

using TimeWait = TcpTest;

TEST_F(TimeWait, LastsTwoMslExactly) {
  ToTimeWait();
  const Instant t0 = now_;
  EXPECT_EQ(conn_->PollAt(), t0 + 60s);
  ExpectNothing(t0 + 60s - 1ns);
  EXPECT_EQ(conn_->state(), TcpState::kTimeWait);
  AdvanceTo(t0 + 60s);
  ExpectNoSegments();
  EXPECT_EQ(conn_->state(), TcpState::kClosed);
  EXPECT_TRUE(conn_->TakeEvents().closed);
}

TEST_F(TimeWait, RetransmittedFinIsAcknowledgedAndRestartsTheTimer) {
  ToTimeWait();
  const Instant t0 = now_;
  AdvanceTo(t0 + 30s);
  Send(I(kFinAck, P(0), D(1)));
  // RFC 9293 §3.10.7.4: acknowledge it, restart the 2·MSL timeout.
  ExpectSegments({O(kAck, D(1), P(1))});
  EXPECT_EQ(conn_->PollAt(), t0 + 90s);
  ExpectNothing(t0 + 90s - 1ns);
  AdvanceTo(t0 + 90s);
  EXPECT_EQ(conn_->state(), TcpState::kClosed);
}

TEST_F(TimeWait, SynGetsAChallengeAck) {
  ToTimeWait();
  Send(I(kSyn, P(1000)));
  ExpectSegments({O(kAck, D(1), P(1))});
  EXPECT_EQ(conn_->state(), TcpState::kTimeWait);
}

TEST_F(TimeWait, RstCloses) {
  ToTimeWait();
  Send(I(kRst, P(1)));
  EXPECT_EQ(conn_->state(), TcpState::kClosed);
  EXPECT_EQ(conn_->TakeEvents().reset, TcpEvent::ResetReason::kNone);
}

// ---- Simultaneous close (RFC 9293 figure 13)
// --------------------------------------------------------

using SimultaneousClose = TcpTest;

TEST_F(SimultaneousClose, CrossingFinsGoThroughClosingToTimeWait) {
  ToClosing();  // our FIN out, theirs in without acknowledging ours: CLOSING, ACK sent
  Advance(1ms);
  // Their ACK of our FIN (the answer to our FIN).
  Send(I(kAck, P(1), D(1)));
  EXPECT_EQ(conn_->state(), TcpState::kTimeWait);
  const Instant t0 = now_;
  AdvanceTo(t0 + 60s);
  EXPECT_EQ(conn_->state(), TcpState::kClosed);
}

TEST_F(SimultaneousClose, BothSidesCloseAtOnceWithData) {
  Establish();
  AppSend(100);
  ASSERT_EQ(conn_->Shutdown(now_, sink_), TcpError::kOk);
  ExpectSegments({O(kPshAck, D(0), P(0)).Len(100), O(kFinAck, D(100), P(0))});
  // Their data and FIN cross ours; they have not seen our data yet.
  Advance(5ms);
  Send(I(kFinPshAck, P(0), D(0)).Data(20));
  ExpectSegments({O(kAck, D(101), P(21)).Win(WinField(kRcvBuf - 20))});
  EXPECT_EQ(conn_->state(), TcpState::kClosing);
  Advance(5ms);
  Send(I(kAck, P(21), D(101)));
  EXPECT_EQ(conn_->state(), TcpState::kTimeWait);
}

}  // namespace
}  // namespace braid::tcp::testing
