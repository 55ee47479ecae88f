// Cross-state rules, each asserted on the exact segments: RFC 5961 (blind RST/SYN/data
// injection), RFC 7323 timestamps and PAWS, keepalive (RFC 1122 §4.2.3.6), and the TcpHooks
// contract of adapter.h (options on every segment, payload sizing, input verdicts).
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <random>
#include <string>

#include "tests/unit/datapath/tcp/tcp_fixture.h"

namespace braid::tcp::testing {
namespace {

constexpr uint32_t D(uint32_t n) { return TcpTest::kIss + 1 + n; }
constexpr uint32_t P(uint32_t n) { return TcpTest::kIrs + 1 + n; }

// ---- RFC 5961
// ---------------------------------------------------------------------------------------

using Rfc5961 = TcpTest;

TEST_F(Rfc5961, RstExactlyAtRcvNxtResets) {
  Establish();
  Send(I(kRst, P(0)));
  ExpectNoSegments();
  EXPECT_EQ(conn_->state(), TcpState::kClosed);
  EXPECT_EQ(conn_->TakeEvents().reset, TcpEvent::ResetReason::kPeerReset);
  EXPECT_EQ(conn_->Info().counters[TcpCounter::kResetsIn], 1u);
}

TEST_F(Rfc5961, RstInTheWindowButNotAtRcvNxtGetsAChallengeAck) {
  Establish();
  Send(I(kRst, P(1000)));
  // §3.2: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
  ExpectSegments({O(kAck, D(0), P(0))});
  EXPECT_EQ(conn_->state(), TcpState::kEstablished);
  EXPECT_EQ(conn_->Info().counters[TcpCounter::kChallengeAcks], 1u);
}

TEST_F(Rfc5961, RstOutsideTheWindowIsDroppedSilently) {
  Establish();
  Send(I(kRst, P(0) - 1));
  Send(I(kRst, P(4 << 20)));
  ExpectNoSegments();
  EXPECT_EQ(conn_->state(), TcpState::kEstablished);
}

TEST_F(Rfc5961, SynInASynchronizedStateGetsAChallengeAck) {
  Establish();
  Send(I(kSyn, P(5000)));
  // §4.2: whatever its sequence number (in the window here), a challenge ACK, no reset.
  ExpectSegments({O(kAck, D(0), P(0))});
  EXPECT_EQ(conn_->state(), TcpState::kEstablished);
}

TEST_F(Rfc5961, ChallengeAcksAreRateLimitedPerConnection) {
  Establish();
  const Instant t0 = now_;
  Send(I(kRst, P(1000)));
  ExpectSegments({O(kAck, D(0), P(0))});
  Send(I(kRst, P(2000)));
  Send(I(kSyn, P(2000)));
  ExpectNoSegments();  // at most one per 500 ms (§7)
  AdvanceTo(t0 + 500ms);
  Send(I(kRst, P(3000)));
  ExpectSegments({O(kAck, D(0), P(0))});
  EXPECT_EQ(conn_->Info().counters[TcpCounter::kChallengeAcks], 2u);
}

TEST_F(Rfc5961, AckBelowSndUnaMinusMaxSndWndIsDroppedWithAChallengeAck) {
  Establish();
  AppSend(100);
  TakeSegments();
  Advance(10ms);
  Send(I(kAck, P(0), D(100)));  // window 131072 from now on
  // §5.2: SEG.ACK < SND.UNA - MAX.SND.WND: the whole segment is discarded, data included.
  Send(I(kPshAck, P(0), D(100) - 131073).Data(10));
  ExpectSegments({O(kAck, D(100), P(0))});
  EXPECT_EQ(conn_->Info().receive_queue, 0u);
  EXPECT_EQ(conn_->Info().counters[TcpCounter::kAckTooOld], 1u);
  // Within MAX.SND.WND below SND.UNA: an old ACK, the data is taken.
  Advance(1s);
  Send(I(kPshAck, P(0), D(100) - 131072).Data(10));
  EXPECT_EQ(conn_->Info().receive_queue, 10u);
}

TEST_F(Rfc5961, AckOfUnsentDataIsAnsweredAndTheSegmentDropped) {
  Establish();
  Send(I(kPshAck, P(0), D(5)).Data(10));
  ExpectSegments({O(kAck, D(0), P(0))});
  EXPECT_EQ(conn_->Info().receive_queue, 0u);
  EXPECT_EQ(conn_->Info().counters[TcpCounter::kAckUnsent], 1u);
}

// ---- RFC 7323 timestamps and PAWS
// -----------------------------------------------------------------

using Timestamps = TcpTest;

TEST_F(Timestamps, TsValIsEngineMillisecondsPlusTheOffsetAndWraps) {
  Establish();
  // 10 010 ms + 0xFFFFFFF0 wraps to 9 994.
  AppSend(10);
  std::vector<Captured> segs = TakeSegments();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].header.options.timestamps, (TcpTimestamps{9994, kPeerTsVal}));
}

TEST_F(Timestamps, PawsDropsASegmentWithAnOlderTsValAndAcks) {
  Establish();
  Send(I(kPshAck, P(0), D(0)).Data(10).Ts(kPeerTsVal - 1, last_tsval_));
  // RFC 7323 §5.3 R1: drop, send an ACK.
  ExpectSegments({O(kAck, D(0), P(0))});
  EXPECT_EQ(conn_->Info().receive_queue, 0u);
  EXPECT_EQ(conn_->Info().counters[TcpCounter::kPawsDrops], 1u);
  // A TSval half the space ahead (modulo 2^32) is newer, not older.
  Send(I(kPshAck, P(0), D(0)).Data(10).Ts(kPeerTsVal + 0x7fffffff, last_tsval_));
  EXPECT_EQ(conn_->Info().receive_queue, 10u);
}

TEST_F(Timestamps, PawsForgetsTsRecentAfter24DaysIdle) {
  Establish();
  Advance(std::chrono::hours(24 * 24) + 1s);
  // §5.5: TS.Recent is invalid after 24 days; the old-looking TSval is accepted.
  Send(I(kPshAck, P(0), D(0)).Data(10).Ts(kPeerTsVal - 1000, last_tsval_));
  EXPECT_EQ(conn_->Info().receive_queue, 10u);
  EXPECT_EQ(conn_->Info().counters[TcpCounter::kPawsDrops], 0u);
}

TEST_F(Timestamps, TsRecentComesOnlyFromSegmentsAtLastAckSent) {
  Establish();
  // Out of order (SEG.SEQ > Last.ACK.sent): its TSval is not echoed (§4.3 (2)).
  Send(I(kPshAck, P(100), D(0)).Data(10).Ts(kPeerTsVal + 5, last_tsval_));
  ExpectSegments(
      {O(kAck, D(0), P(0)).Ts(TsVal(now_), kPeerTsVal).Sack({{TcpSeq(P(100)), TcpSeq(P(110))}})});
  // The segment that fills the hole is at Last.ACK.sent: echoed.
  Send(I(kPshAck, P(0), D(0)).Data(100).Ts(kPeerTsVal + 6, last_tsval_));
  ExpectSegments(
      {O(kAck, D(0), P(110)).Ts(TsVal(now_), kPeerTsVal + 6).Win(WinField(kRcvBuf - 110))});
}

TEST_F(Timestamps, ChallengedRstOrSynDoesNotMoveTsRecent) {
  Establish();
  // A blind in-window RST and SYN with a TSval far ahead: challenged, and TS.Recent stays, so the
  // real peer's next segment is not taken for an old duplicate by PAWS.
  Send(I(kRst, P(500)).Ts(kPeerTsVal + 0x40000000, 0));
  ExpectSegments({O(kAck, D(0), P(0))});
  Advance(1s);
  Send(I(kSyn, P(700)).Ts(kPeerTsVal + 0x40000000, 0));
  ExpectSegments({O(kAck, D(0), P(0))});
  Send(I(kPshAck, P(0), D(0)).Data(10));
  EXPECT_EQ(conn_->Info().receive_queue, 10u);
  EXPECT_EQ(conn_->Info().counters[TcpCounter::kPawsDrops], 0u);
}

TEST_F(Timestamps, SegmentWithoutTimestampsIsDroppedOnceNegotiated) {
  Establish();
  Send(I(kPshAck, P(0), D(0)).Data(10).NoTs());
  ExpectNoSegments();
  EXPECT_EQ(conn_->Info().receive_queue, 0u);
  // A RST needs none (§3.2).
  Send(I(kRst, P(0)).NoTs());
  EXPECT_EQ(conn_->state(), TcpState::kClosed);
}

TEST_F(Timestamps, RttIsSampledFromTsecr) {
  Establish();
  AppSend(100);
  TakeSegments();
  const uint32_t tsval = last_tsval_;
  Advance(50ms);
  Send(I(kAck, P(0), D(100)).Ts(peer_tsval_, tsval));
  // The queue's own sample (not retransmitted, 50 ms) and TSecr agree.
  EXPECT_EQ(conn_->Info().srtt, 15ms);  // 7/8·10 + 1/8·50
}

// ---- Keepalive (RFC 1122 §4.2.3.6, RFC 9293 §3.8.4)
// ------------------------------------------------

using Keepalive = TcpTest;

TEST_F(Keepalive, IdleConnectionIsProbedThenResetWhenThePeerIsGone) {
  config_.keepalive = true;
  config_.keepalive_idle = 7200s;
  config_.keepalive_interval = 75s;
  config_.keepalive_probes = 3;
  Establish();
  const Instant t0 = now_;  // the last segment received
  ExpectNothing(t0 + 7200s - 1ns);
  // SEG.SEQ = SND.NXT - 1, no data: the peer must answer.
  AdvanceTo(t0 + 7200s);
  ExpectSegments({O(kAck, D(0) - 1, P(0))});
  AdvanceTo(t0 + 7275s);
  ExpectSegments({O(kAck, D(0) - 1, P(0))});
  AdvanceTo(t0 + 7350s);
  ExpectSegments({O(kAck, D(0) - 1, P(0))});
  ExpectNothing(t0 + 7425s - 1ns);
  AdvanceTo(t0 + 7425s);
  ExpectSegments({O(kRstAck, D(0), P(0)).Win(0)});
  EXPECT_EQ(conn_->state(), TcpState::kClosed);
  EXPECT_EQ(conn_->TakeEvents().reset, TcpEvent::ResetReason::kTimeout);
  EXPECT_EQ(conn_->Info().counters[TcpCounter::kKeepaliveProbes], 3u);
}

TEST_F(Keepalive, AnsweredProbeRestartsTheIdleTime) {
  config_.keepalive = true;
  Establish();
  const Instant t0 = now_;
  AdvanceTo(t0 + config_.keepalive_idle);
  ExpectSegments({O(kAck, D(0) - 1, P(0))});
  Advance(10ms);
  Send(I(kAck, P(0), D(0)));  // the answer
  const Instant t1 = now_;
  ExpectNothing(t1 + config_.keepalive_idle - 1ns);
  AdvanceTo(t1 + config_.keepalive_idle);
  ExpectSegments({O(kAck, D(0) - 1, P(0))});
}

TEST_F(Keepalive, SwitchedOnLaterCountsFromTheLastSegmentReceived) {
  Establish();
  const Instant t0 = now_;
  EXPECT_EQ(conn_->PollAt(), std::nullopt);
  Advance(100s);
  conn_->SetKeepalive(true);
  EXPECT_EQ(conn_->PollAt(), t0 + config_.keepalive_idle);
  conn_->SetKeepalive(false);
  EXPECT_EQ(conn_->PollAt(), std::nullopt);
}

// ---- TcpHooks (adapter.h)
// ---------------------------------------------------------------------------

class Hooks : public TcpTest {
 protected:
  Hooks() { hooks_ = &hooks; }
  // An MPTCP-like option of `len` bytes (kind 30).
  void UseOption(uint8_t len) {
    hooks.option.assign(len, 0xab);
    hooks.option[0] = wire::kTcpOptionMptcp;
    hooks.option[1] = len;
  }
  wire::TcpOptionsRepr WithOption(wire::TcpOptionsRepr o) const {
    EXPECT_TRUE(o.AppendRaw(hooks.option));
    return o;
  }
  wire::TcpOptionsRepr Ts(uint32_t ecr = kPeerTsVal) const {
    wire::TcpOptionsRepr o;
    o.timestamps = TcpTimestamps{TsVal(now_), ecr};
    return o;
  }
  RecordingHooks hooks;
};

TEST_F(Hooks, EverySegmentCarriesTheUpperLayersOptions) {
  UseOption(4);
  TcpError err;
  conn_ =
      TcpConnection::Connect(config_, flow_, TcpSeq(kIss), kTsOffset, hooks_, now_, sink_, &err);
  wire::TcpOptionsRepr syn_opts = *SynOut().options;
  ExpectSegments({O(kSyn, kIss).Win(65535).Opts(WithOption(syn_opts))});
  // The SYN's own options take 20 bytes: 20 left.
  ASSERT_EQ(hooks.spaces.size(), 1u);
  EXPECT_EQ(hooks.spaces[0], 20u);
  EXPECT_EQ(hooks.written[0].iss, TcpSeq(kIss));
  Advance(10ms);
  Send(PeerSynAck());
  ExpectSegments({O(kAck, D(0), P(0)).Opts(WithOption(Ts()))});
  EXPECT_EQ(hooks.spaces.back(), 28u);  // 40 - 12 (timestamps)
  EXPECT_EQ(hooks.written.back().irs, TcpSeq(kIrs));
  // Data, its retransmission (flagged), the FIN, and the RST all carry it.
  AppSend(100);
  ExpectSegments({O(kPshAck, D(0), P(0)).Len(100).Opts(WithOption(Ts()))});
  EXPECT_FALSE(hooks.written.back().retransmission);
  EXPECT_EQ(hooks.written.back().payload_len, 100u);
  AdvanceTo(now_ + 200ms);  // TLP (one segment: capped at the RTO)
  ExpectSegments({O(kPshAck, D(0), P(0)).Len(100).Opts(WithOption(Ts()))});
  EXPECT_TRUE(hooks.written.back().retransmission);
  ASSERT_EQ(conn_->Shutdown(now_, sink_), TcpError::kOk);
  ExpectSegments({O(kFinAck, D(100), P(0)).Opts(WithOption(Ts()))});
  conn_->Abort(now_, sink_);
  ExpectSegments({O(kRstAck, D(101), P(0)).Win(0).Opts(WithOption(Ts()))});
  EXPECT_EQ(hooks.written.back().flags, kRstAck);
}

TEST_F(Hooks, ZeroWindowProbeAndChallengeAckCarryTheOptionsToo) {
  Establish();
  UseOption(8);
  Send(I(kAck, P(0), D(0)).Win(0));
  AppSend(10);
  AdvanceTo(now_ + 200ms);
  ExpectSegments({O(kAck, D(0) - 1, P(0)).Opts(WithOption(Ts()))});
  Send(I(kRst, P(100)));
  ExpectSegments({O(kAck, D(0), P(0)).Opts(WithOption(Ts()))});
}

TEST_F(Hooks, OnInputSeesEverySegmentWithItsOptionsFirst) {
  Establish();
  const size_t before = hooks.inputs.size();
  In in = I(kPshAck, P(0), D(0)).Data(10);
  const uint8_t mp[] = {30, 4, 0x20, 0x01};
  ASSERT_TRUE(in.options.AppendRaw(mp));
  Send(in);
  ASSERT_EQ(hooks.inputs.size(), before + 1);
  EXPECT_EQ(hooks.inputs.back().payload_len, 10u);
  EXPECT_EQ(hooks.inputs.back().seq, TcpSeq(P(0)));
  EXPECT_EQ(hooks.inputs.back().irs, TcpSeq(kIrs));
  ASSERT_EQ(hooks.input_options.back().raw_options.size(), 1u);
  EXPECT_EQ(hooks.input_options.back().raw_options[0].kind(), 30);
}

TEST_F(Hooks, DropVerdictIgnoresTheSegmentAndCountsIt) {
  Establish();
  hooks.verdict = InputVerdict::kDrop;
  Send(I(kPshAck, P(0), D(0)).Data(10));
  Send(I(kRst, P(0)));
  ExpectNoSegments();
  EXPECT_EQ(conn_->state(), TcpState::kEstablished);
  EXPECT_EQ(conn_->Info().receive_queue, 0u);
  EXPECT_EQ(conn_->Info().counters[TcpCounter::kDroppedByHook], 2u);
}

TEST_F(Hooks, ResetVerdictSendsRstWithTheHooksOptionsAndCloses) {
  Establish();
  UseOption(4);
  hooks.verdict = InputVerdict::kReset;
  Send(I(kPshAck, P(0), D(0)).Data(10));
  ExpectSegments({O(kRstAck, D(0), P(0)).Win(0).Opts(WithOption(Ts()))});
  EXPECT_EQ(conn_->state(), TcpState::kClosed);
  EXPECT_EQ(conn_->TakeEvents().reset, TcpEvent::ResetReason::kHookReset);
}

TEST_F(Hooks, DataOptionReserveShrinksThePayload) {
  hooks.reserve = 20;
  Establish();
  EXPECT_EQ(conn_->Info().snd_mss, 1460u - 12u - 20u);
  AppSend(2000);
  ExpectSegments({O(kAck, D(0), P(0)).Len(1428), O(kPshAck, D(1428), P(0)).Len(572)});
}

TEST_F(Hooks, PlanDataSegmentSizesEachSegment) {
  // Records of 3000 bytes: the segment that starts one carries 28 option bytes, the others 8.
  hooks.reserve = 28;
  hooks.reserve_at = [](TcpSeq seq) -> size_t { return (seq - TcpSeq(D(0))) % 3000 == 0 ? 28 : 8; };
  hooks.max_payload = [](TcpSeq seq) {
    return 3000 - static_cast<uint32_t>(seq - TcpSeq(D(0))) % 3000;
  };
  Establish();
  // SMSS, for the congestion window, stays the worst case.
  EXPECT_EQ(conn_->Info().snd_mss, 1460u - 12u - 28u);
  AppSend(6000);
  ExpectSegments({O(kAck, D(0), P(0)).Len(1420), O(kAck, D(1420), P(0)).Len(1440),
                  O(kAck, D(2860), P(0)).Len(140), O(kAck, D(3000), P(0)).Len(1420),
                  O(kAck, D(4420), P(0)).Len(1440), O(kPshAck, D(5860), P(0)).Len(140)});
}

TEST_F(Hooks, PlanDataSegmentIsCappedByTheWorstCase) {
  hooks.reserve = 20;
  hooks.reserve_at = [](TcpSeq) -> size_t { return 36; };  // more than it promised
  Establish();
  AppSend(2000);
  ExpectSegments({O(kAck, D(0), P(0)).Len(1428), O(kPshAck, D(1428), P(0)).Len(572)});
}

TEST_F(Hooks, PlanDataSegmentIsToldTheWindowTheSegmentAdvertises) {
  Establish();
  AppSend(3000);
  const std::vector<Captured> segs = TakeSegments();
  ASSERT_EQ(segs.size(), 3u);
  ASSERT_FALSE(hooks.planned_windows.empty());
  // What the hook was told when the last segment was sized, and what WriteOptions saw on it, is
  // the window that segment carries, scaled.
  const uint32_t carried = uint32_t{segs.back().header.window} << OurWscale();
  EXPECT_EQ(hooks.planned_windows.back(), carried);
  EXPECT_EQ(hooks.written.back().window, carried);
  EXPECT_GT(carried, 0u);
}

// What MPTCP reads to tell a working path from a silent one (SendState::last_heard, una_sent).
TEST_F(Hooks, SendStateTellsWhenThePeerWasHeardAndTheOldestSegmentLeft) {
  Establish();
  const Instant established = now_;
  EXPECT_EQ(conn_->GetSendState().last_heard, established);
  EXPECT_FALSE(conn_->GetSendState().una_sent.has_value());
  Advance(5ms);
  const Instant sent = now_;
  AppSend(3000);
  (void)TakeSegments();
  Advance(7ms);
  SendState st = conn_->GetSendState();
  ASSERT_TRUE(st.una_sent.has_value());
  EXPECT_EQ(*st.una_sent, sent);
  EXPECT_EQ(st.last_heard, established);
  // A duplicate ACK moves nothing forward, but the peer was heard.
  Send(I(kAck, P(0), D(0)));
  st = conn_->GetSendState();
  EXPECT_EQ(st.last_heard, now_);
  EXPECT_EQ(*st.una_sent, sent);
  // Everything acknowledged: nothing in flight.
  Advance(1ms);
  Send(I(kAck, P(0), D(3000)));
  st = conn_->GetSendState();
  EXPECT_EQ(st.last_heard, now_);
  EXPECT_FALSE(st.una_sent.has_value());
}

TEST_F(Hooks, PlanDataSegmentCutsSegmentsAtRecordBoundaries) {
  // Records of 1000 bytes from the first data byte.
  hooks.max_payload = [](TcpSeq seq) {
    return 1000 - static_cast<uint32_t>(seq - TcpSeq(D(0))) % 1000;
  };
  Establish();
  AppSend(2500);
  ExpectSegments({O(kAck, D(0), P(0)).Len(1000), O(kAck, D(1000), P(0)).Len(1000),
                  O(kPshAck, D(2000), P(0)).Len(500)});
}

TEST_F(Hooks, SackBlocksAreTrimmedToLeaveTheHookItsSpace) {
  Establish();
  UseOption(12);
  Send(I(kPshAck, P(100), D(0)).Data(10));
  Send(I(kPshAck, P(200), D(0)).Data(10));
  Send(I(kPshAck, P(300), D(0)).Data(10));
  std::vector<Captured> segs = TakeSegments();
  ASSERT_EQ(segs.size(), 3u);
  // Timestamps and the hook's 12 bytes leave room for two blocks only when the options are
  // packed back to back (10 + 12 + 18 = 40): the two most recent ones; the third is dropped.
  const wire::TcpOptionsRepr& last = segs.back().header.options;
  ASSERT_EQ(last.sack_blocks.size(), 2u);
  EXPECT_EQ(last.sack_blocks[0], (TcpSackBlock{TcpSeq(P(300)), TcpSeq(P(310))}));
  EXPECT_EQ(last.sack_blocks[1], (TcpSackBlock{TcpSeq(P(200)), TcpSeq(P(210))}));
  ASSERT_EQ(last.raw_options.size(), 1u);
  EXPECT_EQ(last.raw_options[0].length(), 12);
  // Without the hook's option, three blocks fit.
  hooks.option.clear();
  Send(I(kPshAck, P(400), D(0)).Data(10));
  segs = TakeSegments();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].header.options.sack_blocks.size(), 3u);
}

// ---- Robustness: never assert on what the network sends -----------------------------------------

using Robustness = TcpTest;

// Seeded random segments around the live sequence numbers (any flags, windows, timestamps, SACK
// blocks, payloads), interleaved with application calls and timers, in every state the
// connection reaches; under ASan/UBSan nothing may crash, and the invariants below hold.
TEST_F(Robustness, RandomSegmentsInEveryStateNeverBreakTheEngine) {
  uint64_t segments = 0;
  std::array<uint32_t, 11> states_seen{};
  for (uint32_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE(seed);
    std::mt19937 rng(seed);
    auto rnd = [&](uint32_t n) { return static_cast<uint32_t>(rng() % n); };
    config_.sack = rnd(4) != 0;
    config_.timestamps = rnd(4) != 0;
    config_.rack_tlp = rnd(2) != 0;
    config_.congestion_control = rnd(2) ? "cubic" : "newreno";
    config_.keepalive = rnd(2) != 0;
    config_.keepalive_idle = 10s;
    sink_.Take();
    if (rnd(2)) {
      Establish();
    } else {
      EstablishPassive();
    }
    std::vector<uint8_t> buf(8192);
    for (int i = 0; i < 1500 && conn_->state() != TcpState::kClosed; ++i) {
      const TcpInfo info = conn_->Info();
      In in;
      in.flags = TcpFlags::FromBits(static_cast<uint8_t>(rng()) | (rnd(8) ? 0x10 : 0));
      if (rnd(4) != 0) in.flags = in.flags & TcpFlags::FromBits(0xf9);  // mostly no SYN/RST
      const int32_t jitter = static_cast<int32_t>(rnd(8000)) - 4000;
      in.seq = info.rcv_nxt.raw() + static_cast<uint32_t>(rnd(3) ? jitter / 8 : jitter * 1000);
      in.ack = info.snd_una.raw() + static_cast<uint32_t>(rnd(3) ? jitter : jitter * 1000);
      in.window = static_cast<uint16_t>(rnd(4) ? rng() : 0);
      if (rnd(3)) in.Data(rnd(3000), static_cast<uint8_t>(i));
      if (rnd(3) == 0) {
        in.ts =
            TcpTimestamps{kPeerTsVal + static_cast<uint32_t>(jitter), static_cast<uint32_t>(rng())};
      }
      if (rnd(3) == 0) in.auto_ts = false;
      for (uint32_t b = rnd(5); b > 0; --b) {
        const uint32_t l = info.snd_una.raw() + static_cast<uint32_t>(jitter) + rnd(20000);
        (void)in.options.sack_blocks.TryAppend({TcpSeq(l), TcpSeq(l + rnd(5000))});
      }
      if (rnd(5) == 0) in.options.mss = static_cast<uint16_t>(rng());
      Send(in);
      ++segments;
      ++states_seen[static_cast<size_t>(conn_->state())];
      switch (rnd(8)) {
        case 0:
          AppSend(rnd(20000));
          break;
        case 1:
          AppReceive(buf);
          break;
        case 2:
          Advance(std::chrono::milliseconds(rnd(3000)));
          break;
        case 3:
          if (rnd(20) == 0) (void)conn_->Shutdown(now_, sink_);
          break;
        default:
          break;
      }
      sink_.Take();
      const TcpInfo after = conn_->Info();
      ASSERT_LE(after.send_queue, config_.send_buffer);
      ASSERT_LE(after.receive_queue, config_.receive_buffer + (1u << OurWscale()));
      ASSERT_LE(after.snd_una, after.snd_nxt);
    }
    conn_.reset();
    config_ = DefaultConfig();
  }
  EXPECT_GT(segments, 20000u);
  std::string seen;
  for (size_t st = 0; st < states_seen.size(); ++st) {
    if (states_seen[st] > 0) seen += std::string(TcpStateName(static_cast<TcpState>(st))) + " ";
  }
  std::printf("random segments: %lu; states reached: %s\n", static_cast<unsigned long>(segments),
              seen.c_str());
}

}  // namespace
}  // namespace braid::tcp::testing
