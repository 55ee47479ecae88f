#include "datapath/tcp/cubic.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <vector>

#include "datapath/tcp/cc_types.h"
#include "datapath/tcp/time.h"
#include "tests/unit/datapath/tcp/cc_ack_clock.h"

namespace braid::tcp {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::AckClock;

constexpr uint32_t kSmss = 1000;
const Instant kT0 = InstantFromNanos(7'000'000'000);

CcCommonConfig Common(uint32_t iw_segments = 10) {
  CcCommonConfig c;
  c.smss = kSmss;
  c.initial_window_segments = iw_segments;
  return c;
}

CubicConfig NoHyStart() {
  CubicConfig c;
  c.hystart = false;
  return c;
}

AckEvent Ack(uint64_t bytes, Instant now, Duration srtt = milliseconds(100)) {
  AckEvent a;
  a.now = now;
  a.bytes_acked = bytes;
  a.srtt = srtt;
  return a;
}

double Segments(double bytes) { return bytes / kSmss; }

// A CUBIC flow that had a loss at a flight of `w_max_segments` and is now in congestion avoidance
// at β·W_max, its recovery over.
Cubic AfterLoss(uint32_t w_max_segments, const CubicConfig& config = NoHyStart()) {
  Cubic cu(Common(w_max_segments), config);
  cu.OnCongestionEvent({kT0, uint64_t{w_max_segments} * kSmss, false});
  cu.OnRecoveryExit(kT0);
  return cu;
}

TEST(CubicFormulaTest, KForAKnownWmax) {
  // RFC 9438 §4.2 eq 2: K = ∛((W_max − cwnd_epoch)/C); after a β = 0.7 reduction of W_max = 100
  // that is ∛(30/0.4) = ∛75 s.
  EXPECT_DOUBLE_EQ(CubicK(100, 70, 0.4), std::cbrt(75.0));
  EXPECT_NEAR(CubicK(100, 70, 0.4), 4.2171633265, 1e-9);
  // The same as RFC 8312's ∛(W_max·(1 − β)/C) when cwnd_epoch = β·W_max.
  EXPECT_NEAR(CubicK(1000, 700, 0.4), std::cbrt(1000 * 0.3 / 0.4), 1e-12);
  EXPECT_EQ(CubicK(70, 70, 0.4), 0.0);
  EXPECT_EQ(CubicK(50, 70, 0.4), 0.0);
}

TEST(CubicFormulaTest, WindowFunction) {
  const double k = CubicK(100, 70, 0.4);
  // W_cubic(K) = W_max exactly; W_cubic(0) = cwnd_epoch.
  EXPECT_EQ(CubicWindow(k, k, 100, 0.4), 100.0);
  EXPECT_NEAR(CubicWindow(0, k, 100, 0.4), 70.0, 1e-9);
  // Symmetric about K: concave before, convex after.
  EXPECT_NEAR(CubicWindow(k - 1, k, 100, 0.4), 100 - 0.4, 1e-9);
  EXPECT_NEAR(CubicWindow(k + 1, k, 100, 0.4), 100 + 0.4, 1e-9);
  EXPECT_NEAR(CubicWindow(k + 2, k, 100, 0.4), 100 + 3.2, 1e-9);
}

TEST(CubicFormulaTest, Alpha) {
  // RFC 9438 §4.3: 3(1 − 0.7)/(1 + 0.7) = 0.9/1.7.
  EXPECT_DOUBLE_EQ(CubicAlpha(700), 0.9 / 1.7);
  EXPECT_DOUBLE_EQ(CubicAlpha(500), 1.0);  // β = 0.5 is Reno
}

TEST(CubicTest, InitialState) {
  Cubic cu(Common());
  EXPECT_EQ(cu.name(), "cubic");
  EXPECT_EQ(cu.cwnd(), 10 * kSmss);
  EXPECT_EQ(cu.ssthresh(), kInfiniteSsthresh);
  EXPECT_TRUE(cu.InSlowStart());
  EXPECT_EQ(cu.hystart_phase(), HyStartPhase::kSlowStart);
  EXPECT_EQ(Cubic(Common(), NoHyStart()).hystart_phase(), HyStartPhase::kDone);
  EXPECT_FALSE(cu.epoch_start().has_value());
}

TEST(CubicTest, BetaReductionOnLoss) {
  Cubic cu(Common(100), NoHyStart());
  cu.OnCongestionEvent({kT0, 100 * kSmss, false});
  // RFC 9438 §4.6: ssthresh = cwnd = flight_size·0.7; W_max and cwnd_prior = cwnd before.
  EXPECT_EQ(cu.ssthresh(), 70 * kSmss);
  EXPECT_EQ(cu.cwnd(), 70 * kSmss);
  EXPECT_EQ(cu.cwnd_prior(), 100 * kSmss);
  EXPECT_EQ(cu.w_max(), 100.0 * kSmss);
  EXPECT_TRUE(cu.in_recovery());

  // flight_size, not cwnd, is what β multiplies.
  Cubic limited(Common(100), NoHyStart());
  limited.OnCongestionEvent({kT0, 40 * kSmss, false});
  EXPECT_EQ(limited.ssthresh(), 28 * kSmss);
  EXPECT_EQ(limited.w_max(), 100.0 * kSmss);
}

TEST(CubicTest, ReductionFloors) {
  // Loss: cwnd and ssthresh at least 2·SMSS; ECE: cwnd may go down to 1·SMSS.
  Cubic loss(Common(), NoHyStart());
  loss.OnCongestionEvent({kT0, kSmss, false});
  EXPECT_EQ(loss.cwnd(), 2 * kSmss);
  EXPECT_EQ(loss.ssthresh(), 2 * kSmss);

  Cubic ecn(Common(), NoHyStart());
  ecn.OnCongestionEvent({kT0, kSmss, true});
  EXPECT_EQ(ecn.cwnd(), kSmss);
  EXPECT_EQ(ecn.ssthresh(), 2 * kSmss);
}

TEST(CubicTest, NoGrowthDuringRecovery) {
  Cubic cu(Common(100), NoHyStart());
  cu.OnCongestionEvent({kT0, 100 * kSmss, false});
  AckEvent ack = Ack(10 * kSmss, kT0 + milliseconds(100));
  ack.in_recovery = true;
  cu.OnAck(ack);
  EXPECT_EQ(cu.cwnd(), 70 * kSmss);
  EXPECT_FALSE(cu.epoch_start().has_value());
}

TEST(CubicTest, EpochStartsOnFirstAvoidanceAck) {
  Cubic cu = AfterLoss(100);
  const Instant t1 = kT0 + milliseconds(100);
  cu.OnAck(Ack(kSmss, t1));
  ASSERT_TRUE(cu.epoch_start().has_value());
  EXPECT_EQ(*cu.epoch_start(), t1);
  EXPECT_EQ(cu.cwnd_epoch(), 70 * kSmss);
  EXPECT_DOUBLE_EQ(cu.k_seconds(), std::cbrt(75.0));
  EXPECT_EQ(cu.w_max(), 100.0 * kSmss);
  EXPECT_DOUBLE_EQ(cu.alpha(), CubicAlpha(700));
  // W_est started at cwnd_epoch and took this ACK: + α·1000·1000/70000 bytes.
  EXPECT_DOUBLE_EQ(cu.w_est(), 70'000.0 + CubicAlpha(700) * 1000.0 * 1000.0 / 70'000.0);
}

TEST(CubicTest, FastConvergenceLowersWmax) {
  Cubic cu = AfterLoss(100);
  ASSERT_EQ(cu.cwnd(), 70 * kSmss);
  // A second loss below W_max: the saturation point is falling, release bandwidth (§4.7).
  cu.OnCongestionEvent({kT0, 70 * kSmss, false});
  EXPECT_DOUBLE_EQ(cu.w_max(), 59'500.0);  // 70 SMSS · (1 + β)/2
  EXPECT_EQ(cu.cwnd(), 49 * kSmss);

  CubicConfig no_fc = NoHyStart();
  no_fc.fast_convergence = false;
  Cubic plain = AfterLoss(100, no_fc);
  plain.OnCongestionEvent({kT0, 70 * kSmss, false});
  EXPECT_EQ(plain.w_max(), 70.0 * kSmss);
  EXPECT_EQ(plain.cwnd(), 49 * kSmss);
}

TEST(CubicTest, ConcaveThenConvexOverAnAckClock) {
  // W_max = 1000 segments, reduced to 700; RTT 100 ms; K = ∛750 ≈ 9.086 s ≈ 91 RTTs.
  Cubic cu = AfterLoss(1000);
  AckClock clock(cu, kT0, milliseconds(100));
  const double w_max = 1000;
  const double k = std::cbrt(750.0);
  std::vector<double> cwnd{Segments(static_cast<double>(cu.cwnd()))};
  for (int flight = 0; flight < 200; ++flight) {
    cwnd.push_back(Segments(static_cast<double>(clock.RunFlight())));
  }
  ASSERT_TRUE(cu.epoch_start().has_value());
  EXPECT_DOUBLE_EQ(cu.k_seconds(), k);

  // After flight n the epoch (opened by flight 0's first ACK) is n RTTs old, and cwnd has been
  // chasing W_cubic(t + RTT): it follows the curve, a little behind it.
  for (int n = 1; n <= 200; ++n) {
    const double t = (n - 1) * 0.1;
    const double curve = CubicWindow(t + 0.1, k, w_max, 0.4);
    EXPECT_NEAR(cwnd[n], curve, 0.015 * curve) << "flight " << n;
  }
  auto growth = [&](int from, int to) { return cwnd[to] - cwnd[from]; };
  // Concave: fast at first, flattening towards W_max...
  EXPECT_GT(growth(0, 10), 5 * growth(80, 90));
  EXPECT_GT(growth(40, 50), growth(80, 90));
  for (int n = 0; n <= 85; ++n) EXPECT_LE(cwnd[n], w_max) << "flight " << n;
  // ...a plateau around t = K...
  EXPECT_NEAR(cwnd[91], w_max, 5);
  EXPECT_LT(growth(85, 97), 0.01 * w_max);
  // ...then convex, accelerating past it.
  EXPECT_GT(growth(110, 120), 5 * growth(90, 100));
  EXPECT_GT(growth(190, 200), growth(150, 160));
  EXPECT_GT(cwnd[200], 1.5 * w_max);
  // The Reno estimate stayed below the curve all along (not the Reno-friendly region).
  EXPECT_LT(Segments(cu.w_est()), cwnd[200]);
}

TEST(CubicTest, RenoFriendlyRegionDominatesAtSmallBdp) {
  // W_max = 20 segments at RTT 1 ms: W_cubic barely moves in 100 RTTs (K ≈ 2.47 s) while the
  // Reno estimate grows α per RTT, then 1 per RTT once it passes cwnd_prior = 20 (§4.3).
  Cubic cu = AfterLoss(20);
  AckClock clock(cu, kT0, milliseconds(1));
  std::vector<double> cwnd{Segments(static_cast<double>(cu.cwnd()))};
  for (int flight = 0; flight < 100; ++flight) {
    cwnd.push_back(Segments(static_cast<double>(clock.RunFlight())));
  }
  const double k = std::cbrt(15.0);
  // α_cubic ≈ 0.53 segments per RTT at first...
  EXPECT_NEAR(cwnd[10] - cwnd[0], 10 * CubicAlpha(700), 1.0);
  EXPECT_DOUBLE_EQ(cu.alpha(), 1.0);
  // ...then one segment per RTT, like Reno.
  EXPECT_NEAR(cwnd[100] - cwnd[50], 50, 2);
  for (int n = 10; n <= 100; ++n) {
    EXPECT_GT(cwnd[n], CubicWindow((n - 1) * 0.001 + 0.001, k, 20, 0.4) + 1) << "flight " << n;
  }
  EXPECT_NEAR(cwnd[100], Segments(cu.w_est()), 1);
}

TEST(CubicTest, UndoRestoresTheStateBeforeTheLoss) {
  Cubic cu = AfterLoss(1000);
  AckClock clock(cu, kT0, milliseconds(100));
  for (int flight = 0; flight < 20; ++flight) clock.RunFlight();
  const uint64_t cwnd = cu.cwnd();
  const uint64_t ssthresh = cu.ssthresh();
  const double w_max = cu.w_max();
  const double k = cu.k_seconds();
  const double w_est = cu.w_est();
  const uint64_t cwnd_prior = cu.cwnd_prior();
  const Instant epoch = *cu.epoch_start();

  cu.OnCongestionEvent({clock.now(), cwnd, false});
  ASSERT_LT(cu.cwnd(), cwnd);
  ASSERT_NE(cu.w_max(), w_max);
  // RFC 9438 §4.9.2: the loss was spurious; everything comes back.
  EXPECT_TRUE(cu.OnSpuriousCongestion(clock.now()));
  EXPECT_EQ(cu.cwnd(), cwnd);
  EXPECT_EQ(cu.ssthresh(), ssthresh);
  EXPECT_EQ(cu.w_max(), w_max);
  EXPECT_EQ(cu.k_seconds(), k);
  EXPECT_EQ(cu.w_est(), w_est);
  EXPECT_EQ(cu.cwnd_prior(), cwnd_prior);
  ASSERT_TRUE(cu.epoch_start().has_value());
  EXPECT_EQ(*cu.epoch_start(), epoch);
  EXPECT_FALSE(cu.in_recovery());
  EXPECT_FALSE(cu.OnSpuriousCongestion(clock.now()));  // one undo per reduction
  // Growth continues on the restored curve.
  EXPECT_GT(clock.RunFlight(), cwnd);
}

TEST(CubicTest, UndoAfterSpuriousTimeout) {
  Cubic cu = AfterLoss(100);
  cu.OnRetransmitTimeout({kT0, 70 * kSmss, false});
  ASSERT_EQ(cu.cwnd(), kSmss);
  EXPECT_TRUE(cu.OnSpuriousCongestion(kT0));
  EXPECT_EQ(cu.cwnd(), 70 * kSmss);
  EXPECT_EQ(cu.ssthresh(), 70 * kSmss);
  EXPECT_EQ(cu.w_max(), 100.0 * kSmss);
}

TEST(CubicTest, NoUndoOnceCwndIsBackAbovePrior) {
  Cubic cu(Common(), NoHyStart());
  cu.OnCongestionEvent({kT0, 4 * kSmss, false});  // cwnd_prior 10 SMSS, cwnd 2.8 SMSS
  cu.OnRecoveryExit(kT0);
  AckClock clock(cu, kT0, milliseconds(100));
  for (int flight = 0; flight < 80; ++flight) clock.RunFlight();
  ASSERT_GT(cu.cwnd(), cu.cwnd_prior());
  const uint64_t cwnd = cu.cwnd();
  // §4.9.2: "CUBIC SHOULD continue to use the current and the most recent values".
  EXPECT_FALSE(cu.OnSpuriousCongestion(clock.now()));
  EXPECT_EQ(cu.cwnd(), cwnd);
}

TEST(CubicTest, TimeoutUsesLossWindowThenKZero) {
  Cubic cu(Common(100), NoHyStart());
  cu.OnRetransmitTimeout({kT0, 100 * kSmss, false});
  EXPECT_EQ(cu.cwnd(), kSmss);  // RFC 5681 §3.1 loss window
  EXPECT_EQ(cu.ssthresh(), 70 * kSmss);
  EXPECT_EQ(cu.cwnd_prior(), 100 * kSmss);
  cu.OnRetransmitTimeout({kT0, kSmss, true});  // backed-off repeat: ssthresh kept
  EXPECT_EQ(cu.ssthresh(), 70 * kSmss);

  // Slow start after an RTO: one SMSS per ACK at most (RFC 3465 §2.3).
  Instant now = kT0;
  cu.OnAck(Ack(3 * kSmss, now += milliseconds(1)));
  EXPECT_EQ(cu.cwnd(), 2 * kSmss);
  for (int i = 0; i < 68; ++i) cu.OnAck(Ack(kSmss, now += milliseconds(1)));
  EXPECT_EQ(cu.cwnd(), 70 * kSmss);
  EXPECT_FALSE(cu.epoch_start().has_value());
  // §4.8: the first avoidance epoch after the timeout has K = 0 and W_max = cwnd_epoch.
  cu.OnAck(Ack(kSmss, now += milliseconds(1)));
  ASSERT_TRUE(cu.epoch_start().has_value());
  EXPECT_EQ(cu.k_seconds(), 0.0);
  EXPECT_EQ(cu.w_max(), 70.0 * kSmss);
  EXPECT_EQ(cu.cwnd_epoch(), 70 * kSmss);
}

TEST(CubicTest, SlowStartIncreaseLimit) {
  Cubic cu(Common(), NoHyStart());
  cu.OnAck(Ack(10 * kSmss, kT0));
  EXPECT_EQ(cu.cwnd(), 18 * kSmss);  // RFC 9406 §4.3: L = 8 without pacing

  CubicConfig paced = NoHyStart();
  paced.slow_start_limit_segments = kNoSlowStartLimit;
  Cubic unlimited(Common(), paced);
  unlimited.OnAck(Ack(10 * kSmss, kT0));
  EXPECT_EQ(unlimited.cwnd(), 20 * kSmss);
}

TEST(CubicTest, ApplicationLimitedTimeIsNotCubicTime) {
  Cubic cu = AfterLoss(100);
  const Instant t1 = kT0 + milliseconds(100);
  cu.OnAck(Ack(kSmss, t1));
  const uint64_t cwnd = cu.cwnd();
  AckEvent idle_ack = Ack(kSmss, t1 + seconds(5));
  idle_ack.cwnd_limited = false;
  cu.OnAck(idle_ack);
  EXPECT_EQ(cu.cwnd(), cwnd);
  // RFC 9438 §4.2: the five application-limited seconds are taken out of t.
  EXPECT_EQ(*cu.epoch_start(), t1 + seconds(5));
}

TEST(CubicTest, IdleRestart) {
  CcCommonConfig common = Common(100);
  common.restart_after_idle = false;
  Cubic keep(common, NoHyStart());
  keep.OnCongestionEvent({kT0, 100 * kSmss, false});
  keep.OnRecoveryExit(kT0);
  const Instant t1 = kT0 + milliseconds(100);
  keep.OnAck(Ack(kSmss, t1));
  const uint64_t kept = keep.cwnd();
  keep.OnIdleRestart({t1 + seconds(10), seconds(10), seconds(1)});
  // The idle time moves the epoch (RFC 9438 §5.8); the window is kept.
  EXPECT_EQ(*keep.epoch_start(), t1 + seconds(10));
  EXPECT_EQ(keep.cwnd(), kept);

  Cubic restart = AfterLoss(100);
  restart.OnAck(Ack(kSmss, t1));
  const uint64_t before = restart.cwnd();
  restart.OnIdleRestart({t1 + seconds(10), seconds(10), seconds(1)});
  // RFC 5681 §4.1: back to IW (100 segments here, so min(IW, cwnd) = cwnd: no change)...
  EXPECT_EQ(restart.cwnd(), before);

  Cubic small_iw(Common(10), NoHyStart());
  for (int i = 0; i < 45; ++i) small_iw.OnAck(Ack(2 * kSmss, kT0));  // slow start to 100 SMSS
  ASSERT_EQ(small_iw.cwnd(), 100 * kSmss);
  small_iw.OnCongestionEvent({kT0, 100 * kSmss, false});
  small_iw.OnRecoveryExit(kT0);
  small_iw.OnAck(Ack(kSmss, t1));
  small_iw.OnIdleRestart({t1 + seconds(10), seconds(10), seconds(1)});
  // ...which with IW = 10 segments shrinks cwnd; ssthresh keeps 3/4 of the old window.
  EXPECT_EQ(small_iw.cwnd(), 10 * kSmss);
  EXPECT_EQ(small_iw.ssthresh(), 70 * kSmss);
  EXPECT_FALSE(small_iw.epoch_start().has_value());
}

TEST(CubicTest, SetSmssKeepsWindowsInSegments) {
  Cubic cu = AfterLoss(100);
  cu.SetSmss(500);
  EXPECT_EQ(cu.smss(), 500u);
  EXPECT_EQ(cu.cwnd(), 35'000u);
  EXPECT_EQ(cu.ssthresh(), 35'000u);
  EXPECT_EQ(cu.w_max(), 50'000.0);
  EXPECT_EQ(cu.cwnd_prior(), 50'000u);
}

// HyStart++ (RFC 9406). Flights of the ACK clock are slow-start rounds; the RTT of each flight is
// scripted.
class HyStartTest : public ::testing::Test {
 protected:
  std::vector<HyStartPhase> RunFlights(Cubic& cu, AckClock<Cubic>& clock, int flights) {
    std::vector<HyStartPhase> phases;
    for (int i = 0; i < flights; ++i) {
      clock.RunFlight();
      phases.push_back(cu.hystart_phase());
    }
    return phases;
  }
};

TEST_F(HyStartTest, SteadyRttKeepsStandardSlowStart) {
  Cubic cu(Common());
  AckClock clock(cu, kT0, milliseconds(100));
  for (int flight = 1; flight <= 6; ++flight) {
    EXPECT_EQ(clock.RunFlight(), (10u << flight) * kSmss);
    EXPECT_EQ(cu.hystart_phase(), HyStartPhase::kSlowStart);
  }
}

TEST_F(HyStartTest, DelayIncreaseBelowThresholdIsIgnored) {
  Cubic cu(Common());
  AckClock clock(cu, kT0, milliseconds(100));
  // RttThresh = clamp(100/8, 4, 16) = 12.5 ms; +10 ms is not enough.
  clock.rtt_for_flight = [](uint64_t f) { return f < 3 ? milliseconds(100) : milliseconds(110); };
  for (HyStartPhase p : RunFlights(cu, clock, 7)) EXPECT_EQ(p, HyStartPhase::kSlowStart);
  EXPECT_EQ(cu.cwnd(), (10u << 7) * kSmss);
}

TEST_F(HyStartTest, DelayIncreaseEntersCssThenAvoidance) {
  Cubic cu(Common());
  AckClock clock(cu, kT0, milliseconds(100));
  clock.rtt_for_flight = [](uint64_t f) { return f < 3 ? milliseconds(100) : milliseconds(120); };
  for (HyStartPhase p : RunFlights(cu, clock, 3)) EXPECT_EQ(p, HyStartPhase::kSlowStart);
  ASSERT_EQ(cu.cwnd(), 80 * kSmss);

  // The first round whose samples are all 120 ms (rounds straddle flights by an ACK or two)
  // exits to Conservative Slow Start.
  int flights = 0;
  while (cu.hystart_phase() == HyStartPhase::kSlowStart && flights < 3) {
    clock.RunFlight();
    ++flights;
  }
  ASSERT_EQ(cu.hystart_phase(), HyStartPhase::kConservativeSlowStart);
  EXPECT_TRUE(cu.InSlowStart());

  // CSS grows by a quarter of the bytes acked (CSS_GROWTH_DIVISOR = 4): ×1.25 per round.
  const uint64_t before = cu.cwnd();
  clock.RunFlight();
  ASSERT_EQ(cu.hystart_phase(), HyStartPhase::kConservativeSlowStart);
  EXPECT_NEAR(static_cast<double>(cu.cwnd()) / static_cast<double>(before), 1.25, 0.02);

  // At most CSS_ROUNDS rounds, then congestion avoidance with ssthresh = cwnd.
  while (cu.hystart_phase() == HyStartPhase::kConservativeSlowStart && flights < 12) {
    clock.RunFlight();
    ++flights;
  }
  EXPECT_EQ(cu.hystart_phase(), HyStartPhase::kDone);
  EXPECT_FALSE(cu.InSlowStart());
  EXPECT_EQ(cu.cwnd_prior(), cu.ssthresh());
  EXPECT_GE(cu.cwnd(), cu.ssthresh());
  EXPECT_LE(cu.cwnd(), cu.ssthresh() + 2 * kSmss);
  // RFC 9438 §4.10: no W_max yet, so the first epoch has K = 0 and W_max = cwnd_epoch.
  ASSERT_TRUE(cu.epoch_start().has_value());
  EXPECT_EQ(cu.k_seconds(), 0.0);
  EXPECT_EQ(cu.w_max(), static_cast<double>(cu.cwnd_epoch()));
  EXPECT_EQ(cu.cwnd_epoch(), cu.ssthresh());
}

TEST_F(HyStartTest, RttFallingBackDuringCssResumesSlowStart) {
  Cubic cu(Common());
  AckClock clock(cu, kT0, milliseconds(100));
  clock.rtt_for_flight = [](uint64_t f) {
    return f >= 3 && f <= 5 ? milliseconds(120) : milliseconds(100);
  };
  const std::vector<HyStartPhase> phases = RunFlights(cu, clock, 10);
  size_t css = 0;
  while (css < phases.size() && phases[css] != HyStartPhase::kConservativeSlowStart) ++css;
  ASSERT_LT(css, phases.size()) << "never entered CSS";
  size_t resumed = css;
  while (resumed < phases.size() && phases[resumed] != HyStartPhase::kSlowStart) ++resumed;
  ASSERT_LT(resumed, phases.size()) << "never resumed slow start";
  for (HyStartPhase p : phases) EXPECT_NE(p, HyStartPhase::kDone);
  EXPECT_EQ(cu.ssthresh(), kInfiniteSsthresh);
  // Back to doubling.
  const double before = static_cast<double>(cu.cwnd());
  EXPECT_NEAR(static_cast<double>(clock.RunFlight()) / before, 2.0, 0.01);
}

TEST_F(HyStartTest, DisabledIgnoresDelay) {
  Cubic cu(Common(), NoHyStart());
  AckClock clock(cu, kT0, milliseconds(100));
  clock.rtt_for_flight = [](uint64_t f) { return f < 3 ? milliseconds(100) : milliseconds(200); };
  for (HyStartPhase p : RunFlights(cu, clock, 7)) EXPECT_EQ(p, HyStartPhase::kDone);
  EXPECT_EQ(cu.cwnd(), (10u << 7) * kSmss);
  EXPECT_EQ(cu.ssthresh(), kInfiniteSsthresh);
}

TEST_F(HyStartTest, LossEndsHyStart) {
  Cubic cu(Common());
  AckClock clock(cu, kT0, milliseconds(100));
  clock.RunFlight();
  cu.OnCongestionEvent({clock.now(), clock.InFlight(), false});
  EXPECT_EQ(cu.hystart_phase(), HyStartPhase::kDone);
  // A spurious loss undone: HyStart++ comes back with the rest of the state.
  EXPECT_TRUE(cu.OnSpuriousCongestion(clock.now()));
  EXPECT_EQ(cu.hystart_phase(), HyStartPhase::kSlowStart);
}

}  // namespace
}  // namespace braid::tcp
