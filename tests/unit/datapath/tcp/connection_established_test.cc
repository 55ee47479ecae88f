// ESTABLISHED: sending (segmentation, Nagle, windows, SWS avoidance, persist), receiving
// (delayed and quick ACKs, SACK and D-SACK generation, reassembly, window updates), and the
// application calls. Sequence numbers cross 2^32 on both sides (tcp_fixture.h).
#include <gtest/gtest.h>

#include "tests/unit/datapath/tcp/tcp_fixture.h"

namespace braid::tcp::testing {
namespace {

// Our data byte n and the peer's.
constexpr uint32_t D(uint32_t n) { return TcpTest::kIss + 1 + n; }
constexpr uint32_t P(uint32_t n) { return TcpTest::kIrs + 1 + n; }
constexpr uint32_t kSeg = TcpTest::kPayloadMss;  // 1448

using Established = TcpTest;

// ---- Sending ------------------------------------------------------------------------------------

TEST_F(Established, DataCrossesTheWrapAndIsAcked) {
  Establish();
  const SendResult r = AppSend(300);
  EXPECT_EQ(r.accepted, 300u);
  EXPECT_EQ(r.first_seq, TcpSeq(D(0)));
  ExpectSegments({O(kPshAck, D(0), P(0)).Len(300)});
  ASSERT_LT(D(300), D(0));  // wrapped
  Advance(10ms);
  Send(I(kAck, P(0), D(300)));
  ExpectNoSegments();
  const ConnectionEvents ev = conn_->TakeEvents();
  EXPECT_EQ(ev.acked_bytes, 300u);
  EXPECT_EQ(conn_->Info().snd_una, TcpSeq(D(300)));
  EXPECT_EQ(conn_->Info().counters[TcpCounter::kBytesAcked], 300u);
  EXPECT_EQ(conn_->PollAt(), std::nullopt);  // nothing outstanding, no timer
}

TEST_F(Established, WriteIsCutIntoFullSegmentsAndAPushedTail) {
  Establish();
  AppSend(3 * kSeg + 100);
  ExpectSegments({O(kAck, D(0), P(0)).Len(kSeg), O(kAck, D(kSeg), P(0)).Len(kSeg),
                  O(kAck, D(2 * kSeg), P(0)).Len(kSeg), O(kPshAck, D(3 * kSeg), P(0)).Len(100)});
}

TEST_F(Established, InitialWindowLimitsTheFirstFlightAndSlowStartOpensIt) {
  Establish();
  AppSend(30 * kSeg);
  std::vector<Out> ten;
  for (uint32_t i = 0; i < 10; ++i) ten.push_back(O(kAck, D(i * kSeg), P(0)).Len(kSeg));
  ExpectSegments(ten);  // RFC 6928: IW = 10 segments
  Advance(10ms);
  // RFC 5681 §3.1 with RFC 3465 L = 2: an ACK of two segments grows cwnd by two, so four go.
  Send(I(kAck, P(0), D(2 * kSeg)));
  ExpectSegments({O(kAck, D(10 * kSeg), P(0)).Len(kSeg), O(kAck, D(11 * kSeg), P(0)).Len(kSeg),
                  O(kAck, D(12 * kSeg), P(0)).Len(kSeg), O(kAck, D(13 * kSeg), P(0)).Len(kSeg)});
  EXPECT_EQ(conn_->Info().cwnd, 12u * kSeg);
}

TEST_F(Established, NagleHoldsASmallSegmentWhileAnotherIsUnacknowledged) {
  Establish();
  AppSend(100);
  ExpectSegments({O(kPshAck, D(0), P(0)).Len(100)});
  AppSend(50);
  AppSend(50);
  ExpectNoSegments();
  Advance(10ms);
  Send(I(kAck, P(0), D(100)));
  ExpectSegments({O(kPshAck, D(100), P(0)).Len(100)});
}

TEST_F(Established, NagleOffSendsEverySmallWrite) {
  Establish();
  conn_->SetNagle(false);
  AppSend(100);
  AppSend(50);
  ExpectSegments({O(kPshAck, D(0), P(0)).Len(100), O(kPshAck, D(100), P(0)).Len(50)});
}

TEST_F(Established, PeerWindowLimitsSendingAndSenderAvoidsSillyWindows) {
  Establish();
  // 24 << 7 = 3072 bytes of window.
  Send(I(kAck, P(0), D(0)).Win(24));
  AppSend(5000);
  // Two full segments; the 176 bytes left of the window are below Max(SND.WND)/2: wait
  // (RFC 9293 §3.8.6.2.1).
  ExpectSegments({O(kAck, D(0), P(0)).Len(kSeg), O(kAck, D(kSeg), P(0)).Len(kSeg)});
  Advance(10ms);
  Send(I(kAck, P(0), D(2 * kSeg)).Win(24));
  ExpectSegments(
      {O(kAck, D(2 * kSeg), P(0)).Len(kSeg), O(kPshAck, D(3 * kSeg), P(0)).Len(5000 - 3 * kSeg)});
  EXPECT_EQ(conn_->Info().snd_wnd, 3072u);
}

TEST_F(Established, ZeroWindowIsProbedWithBackoffUntilItOpens) {
  Establish();
  Send(I(kAck, P(0), D(0)).Win(0));
  AppSend(100);
  ExpectNoSegments();
  // Persist timer (RFC 9293 §3.8.6.1): the RTO (200 ms), doubling. Linux's probe: an ACK with
  // SND.UNA - 1 and no data.
  const Instant t0 = now_;
  for (int64_t at : {200, 600, 1400}) {
    ExpectNothing(t0 + std::chrono::milliseconds(at) - 1ns);
    AdvanceTo(t0 + std::chrono::milliseconds(at));
    ExpectSegments({O(kAck, D(0) - 1, P(0))});
    Send(I(kAck, P(0), D(0)).Win(0));  // the peer answers: still closed
    ExpectNoSegments();
  }
  EXPECT_EQ(conn_->Info().counters[TcpCounter::kZeroWindowProbes], 3u);
  Advance(100ms);
  Send(I(kAck, P(0), D(0)).Win(1));  // 128 bytes
  ExpectSegments({O(kPshAck, D(0), P(0)).Len(100)});
  EXPECT_EQ(conn_->PollAt(), now_ + 200ms);  // the RTO now, not the persist timer
}

TEST_F(Established, UnansweredZeroWindowProbesGiveUp) {
  config_.max_retransmits = 3;
  Establish();
  Send(I(kAck, P(0), D(0)).Win(0));
  AppSend(100);
  const Instant t0 = now_;
  for (int64_t at : {200, 600, 1400}) {
    AdvanceTo(t0 + std::chrono::milliseconds(at));
    ExpectSegments({O(kAck, D(0) - 1, P(0))});
  }
  ExpectNothing(t0 + 3000ms - 1ns);
  AdvanceTo(t0 + 3000ms);
  ExpectSegments({O(kRstAck, D(0), P(0)).Win(0)});
  EXPECT_EQ(conn_->TakeEvents().reset, TcpEvent::ResetReason::kTimeout);
}

TEST_F(Established, SmallWindowIsFilledByThePersistTimer) {
  Establish();
  Send(I(kAck, P(0), D(0)).Win(1));  // 128 bytes: below half the largest window seen
  AppSend(1000);
  ExpectNoSegments();
  AdvanceTo(now_ + 200ms);
  // The override: what the window allows goes out.
  ExpectSegments({O(kAck, D(0), P(0)).Len(128)});
}

TEST_F(Established, SendBufferFullThenWritableWhenAcknowledged) {
  config_.send_buffer = 4096;
  Establish();
  const SendResult r = AppSend(5000);
  EXPECT_EQ(r.accepted, 4096u);
  ExpectSegments({O(kAck, D(0), P(0)).Len(kSeg), O(kAck, D(kSeg), P(0)).Len(kSeg),
                  O(kPshAck, D(2 * kSeg), P(0)).Len(4096 - 2 * kSeg)});
  EXPECT_EQ(AppSend(10).accepted, 0u);
  EXPECT_FALSE(conn_->TakeEvents().writable);
  Advance(10ms);
  Send(I(kAck, P(0), D(kSeg)));
  const ConnectionEvents ev = conn_->TakeEvents();
  EXPECT_TRUE(ev.writable);
  EXPECT_EQ(ev.acked_bytes, kSeg);
}

TEST_F(Established, IdleRestartReturnsCwndToTheInitialWindow) {
  Establish();
  AppSend(10 * kSeg);
  TakeSegments();
  Advance(10ms);
  Send(I(kAck, P(0), D(10 * kSeg)));
  EXPECT_EQ(conn_->Info().cwnd, 12u * kSeg);  // RFC 3465 L = 2
  // RFC 5681 §4.1: idle longer than the RTO.
  Advance(1s);
  AppSend(100);
  TakeSegments();
  EXPECT_EQ(conn_->Info().cwnd, 10u * kSeg);
}

// ---- Receiving ----------------------------------------------------------------------------------

TEST_F(Established, OneSegmentIsAckedByTheDelayedAckTimerTwoAtOnce) {
  Establish();
  Send(I(kPshAck, P(0), D(0)).Data(kSeg));
  ExpectNothing(now_ + 40ms - 1ns);
  Advance(1ns);
  // RFC 5681 §4.2; the right edge stays where it was announced (window rounded up).
  ExpectSegments({O(kAck, D(0), P(kSeg)).Win(WinField(kRcvBuf - kSeg))});
  EXPECT_EQ(conn_->Info().counters[TcpCounter::kDelayedAcks], 1u);
  Send(I(kAck, P(kSeg), D(0)).Data(kSeg));
  ExpectNoSegments();
  Send(I(kPshAck, P(2 * kSeg), D(0)).Data(kSeg));
  // Two full segments since the last ACK: at once.
  ExpectSegments({O(kAck, D(0), P(3 * kSeg)).Win(WinField(kRcvBuf - 3 * kSeg))});
  EXPECT_EQ(conn_->PollAt(), std::nullopt);
}

TEST_F(Established, QuickAckModeAcksEverySegmentAfterTheHandshake) {
  config_.quickack_segments = 2;
  Establish();
  Send(I(kPshAck, P(0), D(0)).Data(100));
  ExpectSegments({O(kAck, D(0), P(100)).Win(WinField(kRcvBuf - 100))});
  Send(I(kPshAck, P(100), D(0)).Data(100));
  ExpectSegments({O(kAck, D(0), P(200)).Win(WinField(kRcvBuf - 200))});
  Send(I(kPshAck, P(200), D(0)).Data(100));
  ExpectNoSegments();  // quick ACKs used up: delayed again
  EXPECT_EQ(conn_->Info().counters[TcpCounter::kQuickAcks], 2u);
}

TEST_F(Established, OutOfOrderSegmentIsAckedAtOnceWithSackAndTheHoleFillAlso) {
  Establish();
  Send(I(kPshAck, P(kSeg), D(0)).Data(kSeg, 2));
  // RFC 5681 §4.2 and RFC 2018 §4.
  ExpectSegments({O(kAck, D(0), P(0)).Sack({{TcpSeq(P(kSeg)), TcpSeq(P(2 * kSeg))}})});
  Send(I(kPshAck, P(3 * kSeg), D(0)).Data(kSeg, 4));
  // The most recent block first.
  ExpectSegments({O(kAck, D(0), P(0))
                      .Sack({{TcpSeq(P(3 * kSeg)), TcpSeq(P(4 * kSeg))},
                             {TcpSeq(P(kSeg)), TcpSeq(P(2 * kSeg))}})});
  EXPECT_EQ(conn_->Info().out_of_order, 2 * kSeg);
  Send(I(kAck, P(0), D(0)).Data(kSeg, 1));
  // The edge moves: the new window is rounded up to the scale's unit (32 bytes), so the edge
  // lands 16 bytes beyond the buffer (1045680 bytes free, 32678 units announced); it then stays.
  ExpectSegments(
      {O(kAck, D(0), P(2 * kSeg)).Win(32678).Sack({{TcpSeq(P(3 * kSeg)), TcpSeq(P(4 * kSeg))}})});
  Send(I(kAck, P(2 * kSeg), D(0)).Data(kSeg, 3));
  ExpectSegments({O(kAck, D(0), P(4 * kSeg)).Win(WinField(kRcvBuf + 16 - 4 * kSeg))});
  std::vector<uint8_t> buf(10000);
  const ReceiveResult r = AppReceive(buf);
  ASSERT_EQ(r.bytes, 4 * kSeg);
  for (uint32_t i = 0; i < 4; ++i) EXPECT_EQ(buf[i * kSeg], i + 1) << i;
  EXPECT_EQ(conn_->Info().counters[TcpCounter::kOutOfOrderSegments], 2u);
}

TEST_F(Established, OutOfOrderMemoryIsBoundedAndRefusalsAreCounted) {
  config_.receive_buffer = 16384;  // 16 held ranges at most (one per KiB)
  Establish();
  for (uint32_t i = 0; i < 20; ++i) {
    Send(I(kPshAck, P(100 + i * 200), D(0)).Data(10));
  }
  const TcpInfo info = conn_->Info();
  EXPECT_EQ(info.out_of_order, 16u * 10);
  EXPECT_EQ(info.counters[TcpCounter::kOutOfOrderSegments], 16u);
  EXPECT_EQ(info.counters[TcpCounter::kOutOfOrderDrops], 4u);
  // Every one was still answered at once, with the most recent block that was kept first.
  std::vector<Captured> segs = TakeSegments();
  ASSERT_EQ(segs.size(), 20u);
  EXPECT_EQ(segs.back().header.ack, TcpSeq(P(0)));
  ASSERT_FALSE(segs.back().header.options.sack_blocks.empty());
  EXPECT_EQ(segs.back().header.options.sack_blocks[0].left, TcpSeq(P(100 + 15 * 200)));
}

TEST_F(Established, DuplicateSegmentIsReportedWithDsack) {
  Establish();
  Send(I(kPshAck, P(0), D(0)).Data(kSeg));
  ExpectNoSegments();
  Send(I(kPshAck, P(0), D(0)).Data(kSeg));
  // RFC 2883 §4: entirely old: a D-SACK block for it, at once.
  ExpectSegments({O(kAck, D(0), P(kSeg))
                      .Win(WinField(kRcvBuf - kSeg))
                      .Sack({{TcpSeq(P(0)), TcpSeq(P(kSeg))}})});
  // Partly old: the duplicate part.
  Send(I(kPshAck, P(1000), D(0)).Data(kSeg));
  ExpectSegments({O(kAck, D(0), P(1000 + kSeg))
                      .Win(WinField(kRcvBuf - 1000 - kSeg))
                      .Sack({{TcpSeq(P(1000)), TcpSeq(P(kSeg))}})});
  EXPECT_EQ(conn_->Info().counters[TcpCounter::kDuplicateSegmentsIn], 1u);
}

TEST_F(Established, SegmentOutsideTheWindowIsAnsweredWithAnAck) {
  Establish();
  Send(I(kPshAck, P(2 << 20), D(0)).Data(100));
  ExpectSegments({O(kAck, D(0), P(0))});
  EXPECT_EQ(conn_->Info().counters[TcpCounter::kUnacceptableSegments], 1u);
  // A keepalive or window probe from the peer (SEG.SEQ = RCV.NXT - 1) too.
  Send(I(kAck, P(0) - 1, D(0)));
  ExpectSegments({O(kAck, D(0), P(0))});
}

TEST_F(Established, ReceiveWindowShrinksWithDataOpensOnReadsAvoidingSillyWindows) {
  config_.receive_buffer = 16384;  // window scale 0
  Establish();
  EXPECT_EQ(expected_window_field_, 16384);
  for (uint32_t i = 0; i < 8; i += 2) {
    Send(I(kAck, P(i * kSeg), D(0)).Data(kSeg));
    Send(I(kPshAck, P((i + 1) * kSeg), D(0)).Data(kSeg));
    // The right edge stays (RFC 7323 §2.4): the window shrinks by what arrived.
    ExpectSegments({O(kAck, D(0), P((i + 2) * kSeg)).Win(16384 - (i + 2) * kSeg)});
  }
  std::vector<uint8_t> buf(1000);
  AppReceive(buf);
  // 1000 bytes freed: less than one MSS, no update (RFC 1122 §4.2.3.3).
  ExpectNoSegments();
  buf.resize(5000);
  AppReceive(buf);
  // Now the window more than doubles by more than an MSS: announce it.
  ExpectSegments({O(kAck, D(0), P(8 * kSeg)).Win(16384 - 8 * kSeg + 6000)});
  EXPECT_EQ(conn_->Info().counters[TcpCounter::kWindowUpdates], 1u);
}

TEST_F(Established, WindowEdgeNeverCreepsPastTheBufferWithUnalignedSegments) {
  // 33-byte segments with a 32-byte scale unit: rounding each window up to the unit would move
  // the edge forward on every ACK while the application reads nothing (RFC 7323 Appendix F).
  Establish();
  uint32_t n = 0;
  for (int i = 0; i < 40000; ++i) {
    Send(I(kPshAck, P(n), D(0)).Data(33));
    const TcpInfo info = conn_->Info();
    // Every byte acknowledged is held: nothing is silently lost.
    ASSERT_EQ(info.rcv_nxt - TcpSeq(P(0)), static_cast<int32_t>(info.receive_queue));
    if (info.receive_queue == n) break;  // refused: the window is closed
    n += 33;
  }
  EXPECT_LE(n, kRcvBuf + 32);
  EXPECT_GE(n, kRcvBuf - 33);
  TakeSegments();
  AdvanceTo(now_ + 40ms);
  Send(I(kPshAck, P(n), D(0)).Data(33));
  std::vector<Captured> segs = TakeSegments();
  ASSERT_FALSE(segs.empty());
  EXPECT_EQ(segs.back().header.window, 0);
}

TEST_F(Established, ZeroReceiveWindowDropsTextButTakesTheAck) {
  config_.receive_buffer = 4096;
  Establish();
  AppSend(100);
  TakeSegments();
  Send(I(kAck, P(0), D(0)).Data(kSeg));
  Send(I(kAck, P(kSeg), D(0)).Data(kSeg));
  ExpectSegments({O(kAck, D(100), P(2 * kSeg)).Win(4096 - 2 * kSeg)});
  Send(I(kPshAck, P(2 * kSeg), D(0)).Data(4096 - 2 * kSeg));
  Advance(40ms);
  ExpectSegments({O(kAck, D(100), P(4096)).Win(0)});
  // One more byte while the window is zero: dropped, acknowledged at once, its ACK processed.
  Send(I(kPshAck, P(4096), D(100)).Data(1));
  ExpectSegments({O(kAck, D(100), P(4096)).Win(0)});
  EXPECT_EQ(conn_->Info().snd_una, TcpSeq(D(100)));
  EXPECT_EQ(conn_->Info().receive_queue, 4096u);
}

TEST_F(Established, UrgentDataIsDeliveredInLine) {
  Establish();
  In urg = I(TcpFlag::kUrg | TcpFlag::kPsh | TcpFlag::kAck, P(0), D(0)).Data(10, 0x42);
  Send(urg);
  std::vector<uint8_t> buf(100);
  const ReceiveResult r = AppReceive(buf);
  EXPECT_EQ(r.bytes, 10u);
  EXPECT_EQ(buf[9], 0x42);
}

TEST_F(Established, ReceiveReportsSequenceNumbersAndThePeersFin) {
  Establish();
  Send(I(kPshAck, P(0), D(0)).Data(100));
  Send(I(kFinAck, P(100), D(0)).Data(50));
  TakeSegments();
  std::vector<uint8_t> buf(120);
  ReceiveResult r = AppReceive(buf);
  EXPECT_EQ(r.bytes, 120u);
  EXPECT_EQ(r.first_seq, TcpSeq(P(0)));
  EXPECT_FALSE(r.fin);
  r = AppReceive(buf);
  EXPECT_EQ(r.bytes, 30u);
  EXPECT_EQ(r.first_seq, TcpSeq(P(120)));
  EXPECT_TRUE(r.fin);
  const ConnectionEvents ev = conn_->TakeEvents();
  EXPECT_TRUE(ev.readable);
  EXPECT_TRUE(ev.peer_fin);
}

TEST_F(Established, EarlyFinWaitsForTheHole) {
  Establish();
  Send(I(kFinAck, P(100), D(0)).Data(50));
  ExpectSegments({O(kAck, D(0), P(0)).Sack({{TcpSeq(P(100)), TcpSeq(P(150))}})});
  EXPECT_EQ(conn_->state(), TcpState::kEstablished);
  Send(I(kPshAck, P(0), D(0)).Data(100));
  // Hole filled, FIN processed: one ACK for both.
  ExpectSegments({O(kAck, D(0), P(151)).Win(WinField(kRcvBuf - 150))});
  EXPECT_EQ(conn_->state(), TcpState::kCloseWait);
}

TEST_F(Established, ReceiveWindowAutoTuningGrowsWithTheApplication) {
  config_.receive_buffer = 4 << 20;  // scale 7
  config_.receive_buffer_autotune = true;
  Establish();
  EXPECT_EQ(expected_window_field_, 512);  // 65535 rounded up to the 128-byte unit
  uint32_t n = 0;
  uint16_t last_window = 0;
  std::vector<uint8_t> buf(1 << 20);
  // The peer sends what the window allows each 10 ms; we read everything at once.
  for (int round = 0; round < 12; ++round) {
    const uint32_t wnd = conn_->Info().rcv_wnd;
    for (uint32_t sent = 0; sent + kSeg <= wnd; sent += kSeg, n += kSeg) {
      Send(I(kAck, P(n), D(0)).Data(kSeg).Ts(peer_tsval_, last_tsval_));
    }
    AppReceive(buf);
    for (const Captured& c : TakeSegments()) last_window = c.header.window;
    Advance(10ms);
    peer_tsval_ += 10;
  }
  // DRS: twice what was read per RTT; capped by the buffer.
  EXPECT_GT(conn_->Info().rcv_wnd, 512u * 1024);
  EXPECT_GT(last_window, 512);
}

// ---- Application calls --------------------------------------------------------------------------

TEST_F(Established, AbortSendsRst) {
  Establish();
  conn_->Abort(now_, sink_);
  ExpectSegments({O(kRstAck, D(0), P(0)).Win(0)});
  EXPECT_EQ(conn_->state(), TcpState::kClosed);
  const ConnectionEvents ev = conn_->TakeEvents();
  EXPECT_EQ(ev.reset, TcpEvent::ResetReason::kAbortedLocally);
  EXPECT_TRUE(ev.closed);
  EXPECT_EQ(conn_->Info().counters[TcpCounter::kResetsOut], 1u);
  // CLOSED answers with RST (RFC 9293 §3.10.7.1).
  Send(I(kPshAck, P(0), D(0)).Data(10).NoTs());
  ExpectSegments({O(kRst, D(0)).Win(0).NoTs()});
}

TEST_F(Established, CloseWithUnreadDataResets) {
  Establish();
  Send(I(kPshAck, P(0), D(0)).Data(100));
  EXPECT_EQ(conn_->Close(now_, sink_), TcpError::kOk);
  // RFC 2525 §2.17.
  ExpectSegments({O(kRstAck, D(0), P(100)).Win(0)});
  EXPECT_EQ(conn_->state(), TcpState::kClosed);
}

TEST_F(Established, SendAfterShutdownIsRefused) {
  Establish();
  ASSERT_EQ(conn_->Shutdown(now_, sink_), TcpError::kOk);
  TakeSegments();
  EXPECT_EQ(AppSend(10).accepted, 0u);
  EXPECT_EQ(conn_->Shutdown(now_, sink_), TcpError::kInvalidState);
}

TEST_F(Established, InfoReportsBuffersAndCounters) {
  Establish();
  AppSend(3000);
  Send(I(kPshAck, P(0), D(0)).Data(500));
  const TcpInfo info = conn_->Info();
  EXPECT_EQ(info.send_queue, 3000u);
  EXPECT_EQ(info.unsent, 0u);
  EXPECT_EQ(info.receive_queue, 500u);
  EXPECT_EQ(info.bytes_in_flight, 3000u);
  EXPECT_EQ(info.counters[TcpCounter::kBytesSent], 3000u);
  EXPECT_EQ(info.counters[TcpCounter::kBytesReceived], 500u);
  EXPECT_EQ(info.counters[TcpCounter::kDataSegmentsOut], 3u);
  EXPECT_EQ(info.counters[TcpCounter::kDataSegmentsIn], 1u);
  EXPECT_EQ(TcpStateName(info.state), "ESTABLISHED");
  EXPECT_EQ(CaStateName(info.ca_state), "open");
  EXPECT_EQ(TcpCounterName(TcpCounter::kChallengeAcks), "challenge_acks");
}

}  // namespace
}  // namespace braid::tcp::testing
