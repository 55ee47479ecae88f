#include "datapath/tcp/newreno.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>

#include "datapath/tcp/cc_types.h"
#include "datapath/tcp/time.h"
#include "tests/unit/datapath/tcp/cc_ack_clock.h"

namespace braid::tcp {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::AckClock;

constexpr uint32_t kSmss = 1000;
const Instant kT0 = InstantFromNanos(5'000'000'000);

CcCommonConfig Common(uint32_t iw_segments = 10) {
  CcCommonConfig c;
  c.smss = kSmss;
  c.initial_window_segments = iw_segments;
  return c;
}

AckEvent Ack(uint64_t bytes, Instant now = kT0) {
  AckEvent a;
  a.now = now;
  a.bytes_acked = bytes;
  return a;
}

// A NewReno in congestion avoidance with cwnd = ssthresh = `segments`·SMSS, via a loss at twice
// that flight and the end of its recovery.
NewReno InAvoidance(uint64_t segments) {
  NewReno nr(Common());
  nr.OnCongestionEvent({kT0, 2 * segments * kSmss, false});
  nr.OnRecoveryExit(kT0);
  return nr;
}

TEST(NewRenoTest, InitialState) {
  NewReno nr(Common());
  EXPECT_EQ(nr.name(), "newreno");
  EXPECT_EQ(nr.cwnd(), 10 * kSmss);  // RFC 6928
  EXPECT_EQ(nr.ssthresh(), kInfiniteSsthresh);
  EXPECT_TRUE(nr.InSlowStart());
  EXPECT_EQ(nr.smss(), kSmss);

  CcCommonConfig standard;  // SMSS 1460: min(14600, max(2920, 14600))
  EXPECT_EQ(NewReno(standard).cwnd(), 14600u);
  EXPECT_EQ(NewReno(Common(4)).cwnd(), 4 * kSmss);
}

TEST(NewRenoTest, InitialWindowFormula) {
  // RFC 6928 §2: min(10·MSS, max(2·MSS, 14600)).
  EXPECT_EQ(InitialWindowBytes(1460, 10), 14600u);
  EXPECT_EQ(InitialWindowBytes(1000, 10), 10000u);
  EXPECT_EQ(InitialWindowBytes(4000, 10), 14600u);
  EXPECT_EQ(InitialWindowBytes(9000, 10), 18000u);
  EXPECT_EQ(InitialWindowBytes(536, 10), 5360u);
  EXPECT_EQ(InitialWindowBytes(1000, 3), 3000u);
}

TEST(NewRenoTest, SlowStartDoublesPerRtt) {
  NewReno nr(Common());
  AckClock clock(nr, kT0, milliseconds(50));
  uint64_t expected = 10;
  for (int round = 0; round < 6; ++round) {
    expected *= 2;
    EXPECT_EQ(clock.RunFlight(), expected * kSmss) << "round " << round;
  }
  EXPECT_EQ(nr.cwnd(), 640 * kSmss);
}

TEST(NewRenoTest, SlowStartWithDelayedAcksStillDoublesUnderAbc) {
  // RFC 3465: with L = 2·SMSS, an ACK for two segments opens two, so delayed ACKs do not slow
  // slow start down.
  NewReno nr(Common());
  AckClock clock(nr, kT0, milliseconds(50));
  clock.segments_per_ack = 2;
  uint64_t expected = 10;
  for (int round = 0; round < 5; ++round) {
    expected *= 2;
    EXPECT_EQ(clock.RunFlight(), expected * kSmss) << "round " << round;
  }

  // With L = 1·SMSS the same ACKs give 1.5× per round.
  NewReno strict(Common(), NewRenoConfig{.abc_limit_segments = 1});
  AckClock strict_clock(strict, kT0, milliseconds(50));
  strict_clock.segments_per_ack = 2;
  EXPECT_EQ(strict_clock.RunFlight(), 15 * kSmss);
}

TEST(NewRenoTest, AbcLimitsGrowthPerAck) {
  NewReno nr(Common());
  nr.OnAck(Ack(5 * kSmss));  // a stretch ACK for five segments
  EXPECT_EQ(nr.cwnd(), 12 * kSmss);
  nr.OnAck(Ack(2 * kSmss));
  EXPECT_EQ(nr.cwnd(), 14 * kSmss);
  nr.OnAck(Ack(100));  // byte counting: a small segment opens only its size
  EXPECT_EQ(nr.cwnd(), 14 * kSmss + 100);
}

TEST(NewRenoTest, SlowStartStopsAtSsthreshAndCarriesTheRest) {
  NewReno nr = InAvoidance(20);
  nr.OnRetransmitTimeout({kT0, 0, true});  // cwnd 1 SMSS, ssthresh kept at 20 SMSS
  ASSERT_EQ(nr.cwnd(), kSmss);
  ASSERT_EQ(nr.ssthresh(), 20 * kSmss);
  for (int i = 0; i < 19; ++i) nr.OnAck(Ack(kSmss));
  EXPECT_EQ(nr.cwnd(), 20 * kSmss);
  EXPECT_FALSE(nr.InSlowStart());
  // From here on one SMSS per cwnd of bytes.
  for (int i = 0; i < 19; ++i) nr.OnAck(Ack(kSmss));
  EXPECT_EQ(nr.cwnd(), 20 * kSmss);
  nr.OnAck(Ack(kSmss));
  EXPECT_EQ(nr.cwnd(), 21 * kSmss);
}

TEST(NewRenoTest, CongestionAvoidanceOneSmssPerCwndOfBytes) {
  NewReno nr = InAvoidance(20);
  ASSERT_EQ(nr.cwnd(), 20 * kSmss);
  ASSERT_EQ(nr.ssthresh(), 20 * kSmss);
  // RFC 3465 §2.1 / RFC 5681 §3.1: 20 000 bytes acked → +1 SMSS, not one byte earlier.
  for (int i = 0; i < 19; ++i) nr.OnAck(Ack(kSmss));
  nr.OnAck(Ack(kSmss - 1));
  EXPECT_EQ(nr.cwnd(), 20 * kSmss);
  nr.OnAck(Ack(1));
  EXPECT_EQ(nr.cwnd(), 21 * kSmss);
  // The next step needs a full 21 000 bytes.
  nr.OnAck(Ack(20 * kSmss));
  EXPECT_EQ(nr.cwnd(), 21 * kSmss);
  nr.OnAck(Ack(kSmss));
  EXPECT_EQ(nr.cwnd(), 22 * kSmss);
}

TEST(NewRenoTest, CongestionAvoidanceOneSmssPerRtt) {
  NewReno nr = InAvoidance(20);
  AckClock clock(nr, kT0, milliseconds(50));
  for (uint64_t round = 1; round <= 10; ++round) {
    // The flight is cwnd bytes at the start of the round; one SMSS is added once all of it is in.
    EXPECT_EQ(clock.RunFlight(), (20 + round) * kSmss) << "round " << round;
  }
}

TEST(NewRenoTest, SsthreshOnLoss) {
  // RFC 5681 §3.1 eq 4: max(FlightSize/2, 2·SMSS).
  NewReno nr(Common());
  nr.OnCongestionEvent({kT0, 30 * kSmss, false});
  EXPECT_EQ(nr.ssthresh(), 15 * kSmss);
  EXPECT_EQ(nr.cwnd(), 15 * kSmss);
  EXPECT_TRUE(nr.in_recovery());

  NewReno small(Common());
  small.OnCongestionEvent({kT0, 3 * kSmss, false});
  EXPECT_EQ(small.ssthresh(), 2 * kSmss);
  EXPECT_EQ(small.cwnd(), 2 * kSmss);

  NewReno odd(Common());
  odd.OnCongestionEvent({kT0, 30'001, false});
  EXPECT_EQ(odd.ssthresh(), 15'000u);

  NewReno ecn(Common());
  ecn.OnCongestionEvent({kT0, 30 * kSmss, true});
  EXPECT_EQ(ecn.ssthresh(), 15 * kSmss);
}

TEST(NewRenoTest, NoGrowthDuringRecoveryThenCwndIsSsthresh) {
  NewReno nr(Common());
  nr.OnCongestionEvent({kT0, 40 * kSmss, false});
  AckEvent ack = Ack(5 * kSmss);
  ack.in_recovery = true;
  nr.OnAck(ack);
  nr.OnAck(ack);
  EXPECT_EQ(nr.cwnd(), 20 * kSmss);
  nr.OnRecoveryExit(kT0);
  EXPECT_FALSE(nr.in_recovery());
  EXPECT_EQ(nr.cwnd(), 20 * kSmss);
  EXPECT_FALSE(nr.InSlowStart());
}

TEST(NewRenoTest, NoGrowthWhenNotCwndLimited) {
  NewReno nr(Common());
  AckEvent ack = Ack(2 * kSmss);
  ack.cwnd_limited = false;
  nr.OnAck(ack);
  EXPECT_EQ(nr.cwnd(), 10 * kSmss);
}

TEST(NewRenoTest, RtoLossWindow) {
  NewReno nr(Common());
  for (int i = 0; i < 10; ++i) nr.OnAck(Ack(2 * kSmss));  // cwnd 30 SMSS
  ASSERT_EQ(nr.cwnd(), 30 * kSmss);
  nr.OnRetransmitTimeout({kT0, 24 * kSmss, false});
  // RFC 5681 §3.1: cwnd = LW = 1 SMSS, ssthresh = max(FlightSize/2, 2·SMSS).
  EXPECT_EQ(nr.cwnd(), kSmss);
  EXPECT_EQ(nr.ssthresh(), 12 * kSmss);
  // The same segment timing out again: ssthresh is not recomputed.
  nr.OnRetransmitTimeout({kT0, kSmss, true});
  EXPECT_EQ(nr.cwnd(), kSmss);
  EXPECT_EQ(nr.ssthresh(), 12 * kSmss);
  // Slow start after an RTO uses L = 1·SMSS (RFC 3465 §2.3).
  nr.OnAck(Ack(3 * kSmss));
  EXPECT_EQ(nr.cwnd(), 2 * kSmss);
}

TEST(NewRenoTest, RtoEndsRecovery) {
  NewReno nr(Common());
  nr.OnCongestionEvent({kT0, 40 * kSmss, false});
  nr.OnRetransmitTimeout({kT0, 20 * kSmss, false});
  EXPECT_FALSE(nr.in_recovery());
  nr.OnRecoveryExit(kT0);  // a stray exit must not undo the loss window
  EXPECT_EQ(nr.cwnd(), kSmss);
}

TEST(NewRenoTest, UndoRestoresTheReduction) {
  NewReno nr = InAvoidance(20);
  nr.OnCongestionEvent({kT0, 20 * kSmss, false});
  ASSERT_EQ(nr.cwnd(), 10 * kSmss);
  EXPECT_TRUE(nr.OnSpuriousCongestion(kT0));
  EXPECT_EQ(nr.cwnd(), 20 * kSmss);
  EXPECT_EQ(nr.ssthresh(), 20 * kSmss);
  EXPECT_FALSE(nr.in_recovery());
  EXPECT_FALSE(nr.OnSpuriousCongestion(kT0));  // one undo per reduction

  NewReno rto = InAvoidance(20);
  rto.OnRetransmitTimeout({kT0, 20 * kSmss, false});
  EXPECT_TRUE(rto.OnSpuriousCongestion(kT0));
  EXPECT_EQ(rto.cwnd(), 20 * kSmss);
  EXPECT_EQ(rto.ssthresh(), 20 * kSmss);

  NewReno initial(Common());
  EXPECT_FALSE(initial.OnSpuriousCongestion(kT0));  // nothing to undo
}

TEST(NewRenoTest, UndoSkippedOnceCwndHasRecovered) {
  NewReno nr(Common());
  nr.OnCongestionEvent({kT0, 4 * kSmss, false});  // 10 → 2 SMSS
  nr.OnRecoveryExit(kT0);
  for (int i = 0; i < 200; ++i) nr.OnAck(Ack(kSmss));
  ASSERT_GE(nr.cwnd(), 10 * kSmss);
  const uint64_t cwnd = nr.cwnd();
  EXPECT_FALSE(nr.OnSpuriousCongestion(kT0));
  EXPECT_EQ(nr.cwnd(), cwnd);
  EXPECT_EQ(nr.ssthresh(), 2 * kSmss);
}

TEST(NewRenoTest, IdleRestart) {
  NewReno nr = InAvoidance(20);
  for (int i = 0; i < 10; ++i) nr.OnAck(Ack(30 * kSmss));
  ASSERT_EQ(nr.cwnd(), 30 * kSmss);

  // Idle shorter than the RTO: nothing.
  nr.OnIdleRestart({kT0, milliseconds(500), seconds(1)});
  EXPECT_EQ(nr.cwnd(), 30 * kSmss);
  // RFC 5681 §4.1: cwnd = min(IW, cwnd); ssthresh remembers 3/4 of the old window.
  nr.OnIdleRestart({kT0, seconds(2), seconds(1)});
  EXPECT_EQ(nr.cwnd(), 10 * kSmss);
  EXPECT_EQ(nr.ssthresh(), 22'500u);
  EXPECT_TRUE(nr.InSlowStart());

  CcCommonConfig no_restart = Common();
  no_restart.restart_after_idle = false;
  NewReno off(no_restart);
  for (int i = 0; i < 10; ++i) off.OnAck(Ack(2 * kSmss));
  off.OnIdleRestart({kT0, seconds(10), seconds(1)});
  EXPECT_EQ(off.cwnd(), 30 * kSmss);
}

TEST(NewRenoTest, SetSmssKeepsWindowsInSegments) {
  NewReno nr = InAvoidance(20);
  nr.SetSmss(500);
  EXPECT_EQ(nr.smss(), 500u);
  EXPECT_EQ(nr.cwnd(), 10'000u);
  EXPECT_EQ(nr.ssthresh(), 10'000u);
  nr.SetSmss(0);  // ignored
  EXPECT_EQ(nr.smss(), 500u);

  NewReno fresh(Common());
  fresh.SetSmss(1460);
  EXPECT_EQ(fresh.cwnd(), 14'600u);
  EXPECT_EQ(fresh.ssthresh(), kInfiniteSsthresh);
}

}  // namespace
}  // namespace braid::tcp
