// ICMP errors quoting our segments, at connection level: path MTU reports (RFC 1191, RFC 8201)
// lower the sending MSS and resend at once, at the new size, what no longer fits, without a
// congestion response (Linux's tcp_simple_retransmit); reports quoting nothing in flight (RFC 5927
// §4.1) or a larger MTU change nothing; soft errors (RFC 1122 §4.2.3.9) never abort and are
// still known when the connection times out. Every segment sent is asserted exactly.
#include <gtest/gtest.h>

#include "tests/unit/datapath/tcp/tcp_fixture.h"

namespace braid::tcp::testing {
namespace {

constexpr uint32_t kSeg = TcpTest::kPayloadMss;  // 1448
// Our data segment n starts at S(n); the peer's byte 0 is P0.
constexpr uint32_t S(uint32_t n) { return TcpTest::kIss + 1 + n * kSeg; }
constexpr uint32_t P0 = TcpTest::kIrs + 1;
// A 1280-byte IPv4 path: 1280 - 20 - 20 = 1240 bytes of payload and options, 12 of them the
// timestamps every segment carries.
constexpr uint32_t kMtu = 1280;
constexpr uint32_t kSmallSeg = kMtu - 40 - 12;  // 1228

class PathMtu : public TcpTest {
 protected:
  // ESTABLISHED, and the peer's window as its ACKs announce it.
  void Start() {
    Establish();
    Send(I(kAck, P0, S(0)));
    ExpectNoSegments();
  }
  void Report(uint32_t mtu, uint32_t quoted_seq) {
    conn_->OnPathMtu(mtu, TcpSeq(quoted_seq), now_, sink_);
    NoteSent();
  }
  uint64_t Counter(TcpCounter c) const { return conn_->Info().counters[c]; }
};

TEST_F(PathMtu, TooLargeSegmentsAreResentAtOnceAtTheNewSizeWithoutCwndReduction) {
  Start();
  AppSend(3 * kSeg);
  ExpectSegments(
      {O(kAck, S(0), P0).Len(kSeg), O(kAck, S(1), P0).Len(kSeg), O(kPshAck, S(2), P0).Len(kSeg)});
  const TcpInfo before = conn_->Info();
  EXPECT_EQ(before.snd_mss, kSeg);
  EXPECT_EQ(before.cwnd, 10u * kSeg);  // RFC 6928 initial window

  Advance(3ms);
  Report(kMtu, S(1));
  // The three 1448-byte segments are cut into 1228-byte pieces across their old boundaries, the
  // whole flight at once: it is what the window held before, in as many segments.
  ExpectSegments({O(kAck, S(0), P0).Len(kSmallSeg), O(kAck, S(0) + kSmallSeg, P0).Len(kSmallSeg),
                  O(kAck, S(0) + 2 * kSmallSeg, P0).Len(kSmallSeg),
                  O(kPshAck, S(0) + 3 * kSmallSeg, P0).Len(3 * kSeg - 3 * kSmallSeg)});
  TcpInfo after = conn_->Info();
  EXPECT_EQ(after.snd_mss, kSmallSeg);
  // The window keeps its size in segments (RFC 1191 §6.4: no congestion response) and slow start
  // goes on. Like Linux after tcp_simple_retransmit, the sender is in the loss state until the
  // resent flight is acknowledged.
  EXPECT_EQ(after.cwnd, 10u * kSmallSeg);
  EXPECT_EQ(after.ssthresh, before.ssthresh);
  EXPECT_EQ(after.ca_state, CaState::kLoss);
  EXPECT_EQ(after.counters[TcpCounter::kPmtuUpdates], 1u);
  EXPECT_EQ(after.counters[TcpCounter::kPmtuRetransmits], 4u);
  EXPECT_EQ(after.counters[TcpCounter::kRetransmits], 4u);
  EXPECT_EQ(after.counters[TcpCounter::kRecoveries], 0u);
  EXPECT_EQ(after.counters[TcpCounter::kFastRetransmits], 0u);
  EXPECT_EQ(after.counters[TcpCounter::kRtoRetransmits], 0u);

  // The same report for the other dropped segments (a burst of too-big segments brings a burst of
  // reports) changes nothing (RFC 1191 §6.4).
  Report(kMtu, S(2));
  ExpectNoSegments();
  EXPECT_EQ(Counter(TcpCounter::kPmtuIgnored), 1u);

  // Everything arrives; new data goes out at the new size.
  Advance(10ms);
  Send(I(kAck, P0, S(3)));
  ExpectNoSegments();
  EXPECT_EQ(conn_->Info().ca_state, CaState::kOpen);
  EXPECT_GE(conn_->Info().cwnd, 10u * kSmallSeg);
  AppSend(2 * kSmallSeg + 100);
  ExpectSegments({O(kAck, S(3), P0).Len(kSmallSeg), O(kAck, S(3) + kSmallSeg, P0).Len(kSmallSeg),
                  O(kPshAck, S(3) + 2 * kSmallSeg, P0).Len(100)});
  EXPECT_EQ(Counter(TcpCounter::kRtoExpirations), 0u);
}

TEST_F(PathMtu, SegmentsThatStillFitAndSackedOnesAreNotResent) {
  Start();
  AppSend(3 * kSeg + 500);
  ExpectSegments({O(kAck, S(0), P0).Len(kSeg), O(kAck, S(1), P0).Len(kSeg),
                  O(kAck, S(2), P0).Len(kSeg), O(kPshAck, S(3), P0).Len(500)});
  Advance(3ms);
  // Segment 1 arrived (it went before the path changed).
  Send(I(kAck, P0, S(0)).Sack({{TcpSeq(S(1)), TcpSeq(S(2))}}));
  ExpectNoSegments();
  Report(kMtu, S(0));
  // Segments 0 and 2, each in two pieces; a retransmission never runs into a SACKed or a
  // fitting segment.
  ExpectSegments(
      {O(kAck, S(0), P0).Len(kSmallSeg), O(kAck, S(0) + kSmallSeg, P0).Len(kSeg - kSmallSeg),
       O(kAck, S(2), P0).Len(kSmallSeg), O(kAck, S(2) + kSmallSeg, P0).Len(kSeg - kSmallSeg)});
  EXPECT_EQ(Counter(TcpCounter::kPmtuRetransmits), 4u);
  EXPECT_EQ(Counter(TcpCounter::kRecoveries), 0u);
}

TEST_F(PathMtu, StaleOrOutOfWindowQuotesAreIgnored) {
  Start();
  AppSend(2 * kSeg);
  TakeSegments();
  // RFC 5927 §4.1: SND.UNA <= SEG.SEQ < SND.NXT, nothing else.
  for (uint32_t quoted : {S(0) - 1, S(2), S(2) + 1000, S(0) - 70000, S(0) + 0x80000000u}) {
    Report(kMtu, quoted);
  }
  ExpectNoSegments();
  EXPECT_EQ(conn_->Info().snd_mss, kSeg);
  EXPECT_EQ(Counter(TcpCounter::kPmtuIgnored), 5u);
  EXPECT_EQ(Counter(TcpCounter::kPmtuUpdates), 0u);
  // Once everything is acknowledged, a report about the old segments is stale too.
  Advance(10ms);
  Send(I(kAck, P0, S(2)));
  Report(kMtu, S(1));
  ExpectNoSegments();
  EXPECT_EQ(conn_->Info().snd_mss, kSeg);
  EXPECT_EQ(Counter(TcpCounter::kPmtuIgnored), 6u);
}

TEST_F(PathMtu, ALargerMtuNeverRaisesTheMss) {
  Start();
  AppSend(kSeg);
  TakeSegments();
  // The interface's own MTU (our 1460-byte MSS) is the first estimate (RFC 1191 §3).
  Report(1500, S(0));
  Report(9000, S(0));
  ExpectNoSegments();
  EXPECT_EQ(Counter(TcpCounter::kPmtuIgnored), 2u);
  Report(kMtu, S(0));
  ExpectSegments(
      {O(kAck, S(0), P0).Len(kSmallSeg), O(kPshAck, S(0) + kSmallSeg, P0).Len(kSeg - kSmallSeg)});
  // RFC 1191 §3, RFC 8201 §4: no increase from a report, only from probing (which we do not do).
  Report(1400, S(0));
  Report(1500, S(0));
  ExpectNoSegments();
  EXPECT_EQ(conn_->Info().snd_mss, kSmallSeg);
  EXPECT_EQ(Counter(TcpCounter::kPmtuIgnored), 4u);
  EXPECT_EQ(Counter(TcpCounter::kPmtuUpdates), 1u);
  // Lower again: again at once.
  Report(1000, S(0));
  ExpectSegments(
      {O(kAck, S(0), P0).Len(1000 - 40 - 12), O(kAck, S(0) + 948, P0).Len(kSmallSeg - 948)});
  EXPECT_EQ(conn_->Info().snd_mss, 948u);
  EXPECT_EQ(Counter(TcpCounter::kPmtuUpdates), 2u);
}

TEST_F(PathMtu, TinyReportsStopAtLinuxsMinimumMss) {
  Start();
  AppSend(100);
  TakeSegments();
  // The net layer keeps IPv4 reports at 552 or more; the engine alone still never goes below
  // tcp_min_snd_mss (48) less the timestamps.
  Report(60, S(0));
  ExpectSegments({O(kAck, S(0), P0).Len(48 - 12), O(kAck, S(0) + 36, P0).Len(36),
                  O(kPshAck, S(0) + 72, P0).Len(28)});
  EXPECT_EQ(conn_->Info().snd_mss, 36u);
}

TEST_F(PathMtu, Ipv6FloorIs1280) {
  flow_.local = wire::Ipv6Address{{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};
  flow_.remote = wire::Ipv6Address{{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}};
  peer_mss_ = 1440;
  // Start() by hand: our SYN announces 20 bytes less than the fixture's SynOut().
  TcpError err = TcpError::kInvalidState;
  conn_ =
      TcpConnection::Connect(config_, flow_, TcpSeq(kIss), kTsOffset, nullptr, now_, sink_, &err);
  ASSERT_EQ(err, TcpError::kOk);
  ASSERT_EQ(TakeSegments().size(), 1u);
  Advance(10ms);
  expected_window_field_ = WinField(Clamp());
  Send(PeerSynAck());
  ExpectSegments({O(kAck, kIss + 1, kIrs + 1)});
  ASSERT_EQ(conn_->state(), TcpState::kEstablished);
  constexpr uint32_t kV6Seg = 1440 - 12;
  AppSend(2 * kV6Seg);
  ExpectSegments({O(kAck, S(0), P0).Len(kV6Seg), O(kPshAck, S(0) + kV6Seg, P0).Len(kV6Seg)});
  // 1280 - 40 - 20 = 1220, less the timestamps.
  constexpr uint32_t kV6Small = 1280 - 60 - 12;
  Report(1280, S(0));
  ExpectSegments({O(kAck, S(0), P0).Len(kV6Small), O(kAck, S(0) + kV6Small, P0).Len(kV6Small),
                  O(kPshAck, S(0) + 2 * kV6Small, P0).Len(2 * kV6Seg - 2 * kV6Small)});
  EXPECT_EQ(conn_->Info().snd_mss, kV6Small);
  // RFC 8201 §4: never below the IPv6 minimum link MTU, whatever the report says.
  Report(1000, S(0));
  ExpectNoSegments();
  EXPECT_EQ(conn_->Info().snd_mss, kV6Small);
  EXPECT_EQ(Counter(TcpCounter::kPmtuIgnored), 1u);
}

TEST_F(PathMtu, OptionsComeOffThePathMss) {
  RecordingHooks hooks;
  hooks.reserve = 8;  // e.g. MPTCP's DSS
  hooks_ = &hooks;
  Start();
  EXPECT_EQ(conn_->Info().snd_mss, kMss - 12u - 8u);
  AppSend(kMss - 20);
  TakeSegments();
  hooks.spaces.clear();
  Report(kMtu, S(0));
  const std::vector<Captured> sent = TakeSegments();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].header.payload_len, kMtu - 40 - 12 - 8);
  // The hook was offered exactly the room the path leaves beside the payload and timestamps.
  ASSERT_FALSE(hooks.spaces.empty());
  EXPECT_EQ(hooks.spaces[0], 8u);
  EXPECT_EQ(conn_->Info().snd_mss, kMtu - 40 - 12 - 8);
}

TEST_F(PathMtu, AReportDuringTheHandshakeSizesTheConnection) {
  Connect();
  conn_->OnPathMtu(kMtu, TcpSeq(kIss), now_, sink_);
  ExpectNoSegments();
  EXPECT_EQ(Counter(TcpCounter::kPmtuUpdates), 1u);
  Advance(10ms);
  expected_window_field_ = WinField(Clamp());
  Send(PeerSynAck());
  ExpectSegments({O(kAck, kIss + 1, kIrs + 1)});
  ASSERT_EQ(conn_->state(), TcpState::kEstablished);
  EXPECT_EQ(conn_->Info().snd_mss, kSmallSeg);
  EXPECT_EQ(conn_->Info().cwnd, 10u * kSmallSeg);
  AppSend(kSmallSeg + 1);
  ExpectSegments({O(kAck, S(0), P0).Len(kSmallSeg), O(kPshAck, S(0) + kSmallSeg, P0).Len(1)});
}

TEST_F(PathMtu, FinIsResentWithTheDataItFollows) {
  Start();
  // A closed window holds the data back until the FIN is queued: they leave as one segment.
  Send(I(kAck, P0, S(0)).Win(0));
  AppSend(kSeg);
  ASSERT_EQ(conn_->Shutdown(now_, sink_), TcpError::kOk);
  ExpectNoSegments();
  Send(I(kAck, P0, S(0)));
  ExpectSegments({O(kFinPshAck, S(0), P0).Len(kSeg)});
  Report(kMtu, S(0));
  ExpectSegments({O(kAck, S(0), P0).Len(kSmallSeg),
                  O(kFinPshAck, S(0) + kSmallSeg, P0).Len(kSeg - kSmallSeg)});
  Advance(10ms);
  Send(I(kAck, P0, S(1) + 1));
  EXPECT_EQ(conn_->state(), TcpState::kFinWait2);
}

TEST_F(PathMtu, WithoutSackTheFlightIsResentToo) {
  peer_sack_ = false;
  Start();
  AppSend(2 * kSeg);
  TakeSegments();
  Report(kMtu, S(0));
  ExpectSegments({O(kAck, S(0), P0).Len(kSmallSeg), O(kAck, S(0) + kSmallSeg, P0).Len(kSmallSeg),
                  O(kPshAck, S(0) + 2 * kSmallSeg, P0).Len(2 * kSeg - 2 * kSmallSeg)});
  EXPECT_EQ(conn_->Info().cwnd, 10u * kSmallSeg);
  Advance(10ms);
  Send(I(kAck, P0, S(2)));
  ExpectNoSegments();
  EXPECT_EQ(conn_->Info().ca_state, CaState::kOpen);
}

// Segments 0 and 1 had passed the router before its MTU went down; 2 and 3 had not. All four are
// resent, and the peer answers the needless copies with duplicate ACKs: without SACK they look
// like a loss signal, but the loss episode the report started holds off fast recovery until the
// resent flight is acknowledged (Linux's CA_Loss).
TEST_F(PathMtu, DuplicateAcksForNeedlessCopiesStartNoFastRecovery) {
  peer_sack_ = false;
  Start();
  AppSend(4 * kSeg);
  TakeSegments();
  Advance(3ms);
  Report(kMtu, S(2));
  ExpectSegments({O(kAck, S(0), P0).Len(kSmallSeg), O(kAck, S(0) + kSmallSeg, P0).Len(kSmallSeg),
                  O(kAck, S(0) + 2 * kSmallSeg, P0).Len(kSmallSeg),
                  O(kAck, S(0) + 3 * kSmallSeg, P0).Len(kSmallSeg),
                  O(kPshAck, S(0) + 4 * kSmallSeg, P0).Len(4 * kSeg - 4 * kSmallSeg)});
  Advance(3ms);
  Send(I(kAck, P0, S(2)));                              // the originals of 0 and 1
  for (int i = 0; i < 4; ++i) Send(I(kAck, P0, S(2)));  // their copies
  ExpectNoSegments();
  EXPECT_EQ(Counter(TcpCounter::kDuplicateAcksIn), 4u);
  EXPECT_EQ(Counter(TcpCounter::kRecoveries), 0u);
  EXPECT_EQ(conn_->Info().ca_state, CaState::kLoss);
  Send(I(kAck, P0, S(4)));
  EXPECT_EQ(conn_->Info().ca_state, CaState::kOpen);
  EXPECT_GE(conn_->Info().cwnd, 10u * kSmallSeg);
  EXPECT_EQ(Counter(TcpCounter::kFastRetransmits), 0u);
  EXPECT_EQ(Counter(TcpCounter::kPmtuRetransmits), 5u);
}

// ---- Soft errors (RFC 1122 §4.2.3.9)
// -------------------------------------------------------------

class SoftError : public PathMtu {};

TEST_F(SoftError, NeverAbortsAndIsReportedWithTheTimeout) {
  config_.max_retransmits = 3;
  Start();
  AppSend(100);
  TakeSegments();
  conn_->OnSoftError(TcpSeq(S(0)));
  EXPECT_EQ(conn_->state(), TcpState::kEstablished);
  EXPECT_TRUE(conn_->Info().soft_error);
  EXPECT_EQ(Counter(TcpCounter::kSoftErrors), 1u);
  EXPECT_FALSE(conn_->TakeEvents().any());
  // Nothing answers: a tail loss probe, three RTOs, and the connection gives up: a timeout.
  for (int i = 0; i < 50 && conn_->state() != TcpState::kClosed; ++i) RunNextTimer();
  ASSERT_EQ(conn_->state(), TcpState::kClosed);
  EXPECT_EQ(conn_->TakeEvents().reset, TcpEvent::ResetReason::kTimeout);
  EXPECT_TRUE(conn_->Info().soft_error);
}

TEST_F(SoftError, AnAcceptableAckForgetsIt) {
  Start();
  AppSend(2 * kSeg);
  TakeSegments();
  conn_->OnSoftError(TcpSeq(S(1)));
  EXPECT_TRUE(conn_->Info().soft_error);
  Advance(10ms);
  Send(I(kAck, P0, S(1)));
  EXPECT_FALSE(conn_->Info().soft_error);
  EXPECT_EQ(Counter(TcpCounter::kSoftErrors), 1u);
}

TEST_F(SoftError, InSynSentItWaitsForTheSynRetries) {
  config_.syn_retries = 2;
  Connect();
  conn_->OnSoftError(TcpSeq(kIss));
  EXPECT_EQ(conn_->state(), TcpState::kSynSent);
  EXPECT_TRUE(conn_->Info().soft_error);
  for (int i = 0; i < 50 && conn_->state() != TcpState::kClosed; ++i) RunNextTimer();
  ASSERT_EQ(conn_->state(), TcpState::kClosed);
  EXPECT_EQ(conn_->TakeEvents().reset, TcpEvent::ResetReason::kTimeout);
  EXPECT_TRUE(conn_->Info().soft_error);
}

TEST_F(SoftError, StaleQuotesAreIgnored) {
  Start();
  AppSend(100);
  TakeSegments();
  conn_->OnSoftError(TcpSeq(S(0) - 1));
  conn_->OnSoftError(TcpSeq(S(0) + 100));
  EXPECT_FALSE(conn_->Info().soft_error);
  EXPECT_EQ(Counter(TcpCounter::kSoftErrorsIgnored), 2u);
  EXPECT_EQ(Counter(TcpCounter::kSoftErrors), 0u);
}

}  // namespace
}  // namespace braid::tcp::testing
