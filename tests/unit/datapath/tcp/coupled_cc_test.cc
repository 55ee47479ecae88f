// MPTCP coupled congestion control: the CoupledGroup's terms against hand computation, LIA
// (RFC 6356) and OLIA (Khalili et al.) against NewReno and against RFC 6356's goals, membership as
// subflows come and go, the registry, and a connection built with TcpConfig::coupling.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "datapath/tcp/cc_types.h"
#include "datapath/tcp/congestion_control.h"
#include "datapath/tcp/coupled_group.h"
#include "datapath/tcp/lia.h"
#include "datapath/tcp/newreno.h"
#include "datapath/tcp/olia.h"
#include "datapath/tcp/time.h"
#include "tests/unit/datapath/tcp/cc_ack_clock.h"
#include "tests/unit/datapath/tcp/tcp_fixture.h"

namespace braid::tcp {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::AckClock;

constexpr uint32_t kSmss = 1000;
const Instant kT0 = InstantFromNanos(5'000'000'000);

CcCommonConfig Common() {
  CcCommonConfig c;
  c.smss = kSmss;
  return c;
}

CoupledMemberState Member(uint64_t cwnd, Duration srtt, uint64_t between_losses = 0,
                          uint64_t since_loss = 0) {
  return {.cwnd = cwnd,
          .srtt = srtt,
          .smss = kSmss,
          .bytes_between_losses = between_losses,
          .bytes_since_loss = since_loss};
}

AckEvent Ack(uint64_t bytes, Duration srtt, Instant now = kT0) {
  AckEvent a;
  a.now = now;
  a.bytes_acked = bytes;
  a.rtt_sample = srtt;
  a.srtt = srtt;
  a.min_rtt = srtt;
  return a;
}

// Congestion avoidance with cwnd = ssthresh = `segments`·SMSS: a loss at twice that flight, and
// the end of its recovery.
template <typename Cc>
void ToAvoidance(Cc& cc, uint64_t segments) {
  cc.OnCongestionEvent({kT0, 2 * segments * kSmss, false});
  cc.OnRecoveryExit(kT0);
}

std::shared_ptr<CoupledGroup> Group() { return std::make_shared<CoupledGroup>(); }

// ---- CoupledGroup: membership ------------------------------------------------------------------

TEST(CoupledGroupTest, SlotsAreAFixedTable) {
  CoupledGroup g;
  for (size_t i = 0; i < CoupledGroup::kMaxMembers; ++i) EXPECT_EQ(g.Register(), i);
  EXPECT_EQ(g.Register(), std::nullopt);
  EXPECT_EQ(g.size(), CoupledGroup::kMaxMembers);
  g.Unregister(3);
  EXPECT_FALSE(g.registered(3));
  EXPECT_EQ(g.size(), CoupledGroup::kMaxMembers - 1);
  EXPECT_EQ(g.Register(), 3u);
  // Free and out-of-range slots are ignored.
  g.Unregister(99);
  g.Publish(99, Member(1, milliseconds(1)));
  EXPECT_EQ(g.size(), CoupledGroup::kMaxMembers);
}

TEST(CoupledGroupTest, OnlyMembersWithAnRttEstimateCount) {
  CoupledGroup g;
  const size_t a = *g.Register();
  const size_t b = *g.Register();
  g.Publish(a, Member(10'000, milliseconds(10)));
  g.Publish(b, Member(50'000, Duration::zero()));
  EXPECT_TRUE(g.counted(a));
  EXPECT_FALSE(g.counted(b));
  EXPECT_EQ(g.TotalCwnd(), 10'000u);
  EXPECT_DOUBLE_EQ(g.LiaAlpha(), 1.0);

  CoupledGroup empty;
  EXPECT_EQ(empty.LiaAlpha(), 0.0);
  EXPECT_EQ(empty.LiaTotalOverAlpha(), std::nullopt);
  EXPECT_EQ(empty.OliaIncreasePerByte(0), std::nullopt);
}

// ---- CoupledGroup: LIA's alpha, RFC 6356 §3 -----------------------------------------------------

TEST(CoupledGroupTest, LiaAlphaOfALoneMemberIsOne) {
  CoupledGroup g;
  g.Publish(*g.Register(), Member(37'000, milliseconds(23)));
  EXPECT_DOUBLE_EQ(g.LiaAlpha(), 1.0);
  EXPECT_DOUBLE_EQ(*g.LiaTotalOverAlpha(), 37'000.0);
}

TEST(CoupledGroupTest, LiaAlphaForTwoMembersByHand) {
  CoupledGroup g;
  g.Publish(*g.Register(), Member(10'000, milliseconds(10)));
  g.Publish(*g.Register(), Member(20'000, milliseconds(40)));
  // cwnd/rtt: 1e6 and 5e5 bytes/s, sum 1.5e6; cwnd/rtt²: 1e8 and 1.25e7, max 1e8.
  // alpha = 30000 · 1e8 / (1.5e6)² = 3e12 / 2.25e12 = 4/3.
  EXPECT_EQ(g.TotalCwnd(), 30'000u);
  EXPECT_NEAR(g.LiaAlpha(), 4.0 / 3.0, 1e-12);
  EXPECT_NEAR(*g.LiaTotalOverAlpha(), 22'500.0, 1e-6);
}

TEST(CoupledGroupTest, LiaAlphaForThreeMembersByHand) {
  CoupledGroup g;
  g.Publish(*g.Register(), Member(10'000, milliseconds(10)));
  g.Publish(*g.Register(), Member(20'000, milliseconds(40)));
  g.Publish(*g.Register(), Member(30'000, milliseconds(20)));
  // The third adds 1.5e6 to the sum (3e6) and 7.5e7 to the max's candidates (max stays 1e8):
  // alpha = 60000 · 1e8 / 9e12 = 2/3, cwnd_total/alpha = 90000.
  EXPECT_EQ(g.TotalCwnd(), 60'000u);
  EXPECT_NEAR(g.LiaAlpha(), 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(*g.LiaTotalOverAlpha(), 90'000.0, 1e-6);
}

TEST(CoupledGroupTest, LiaAlphaWithEqualRttsIsTheLargestShare) {
  // Equal RTTs: alpha = cwnd_total · max cwnd / cwnd_total² = max cwnd / cwnd_total.
  CoupledGroup g;
  g.Publish(*g.Register(), Member(10'000, milliseconds(25)));
  g.Publish(*g.Register(), Member(30'000, milliseconds(25)));
  EXPECT_NEAR(g.LiaAlpha(), 0.75, 1e-12);
  EXPECT_NEAR(*g.LiaTotalOverAlpha(), 40'000.0 * 40'000.0 / 30'000.0, 1e-6);
}

TEST(CoupledGroupTest, UnregisteringAMemberUpdatesAlpha) {
  CoupledGroup g;
  g.Publish(*g.Register(), Member(10'000, milliseconds(10)));
  g.Publish(*g.Register(), Member(20'000, milliseconds(40)));
  const size_t third = *g.Register();
  g.Publish(third, Member(30'000, milliseconds(20)));
  EXPECT_NEAR(g.LiaAlpha(), 2.0 / 3.0, 1e-12);
  g.Unregister(third);
  EXPECT_EQ(g.TotalCwnd(), 30'000u);
  EXPECT_NEAR(g.LiaAlpha(), 4.0 / 3.0, 1e-12);
}

// ---- CoupledGroup: OLIA's sets and increase -----------------------------------------------------

TEST(CoupledGroupTest, OliaBestPathWithoutTheLargestWindowTakesFromTheLargest) {
  CoupledGroup g;
  const size_t big = *g.Register();
  const size_t best = *g.Register();
  // Same RTT; the smaller window delivers four times as many bytes between losses.
  g.Publish(big, Member(20'000, milliseconds(10), 100'000, 20'000));
  g.Publish(best, Member(10'000, milliseconds(10), 0, 400'000));
  const OliaSets s = g.ComputeOliaSets();
  EXPECT_EQ(s.paths, 0b11u);
  EXPECT_EQ(s.max_cwnd, 0b01u);
  EXPECT_EQ(s.best, 0b10u);
  EXPECT_EQ(s.best_not_max(), 0b10u);
  EXPECT_DOUBLE_EQ(s.Alpha(best), 1.0 / 2);  // 1/(|R|·|B\M|)
  EXPECT_DOUBLE_EQ(s.Alpha(big), -1.0 / 2);  // −1/(|R|·|M|)
  EXPECT_DOUBLE_EQ(s.Alpha(5), 0.0);         // not a path

  // Σ w/rtt = 3e6 bytes/s. big: (2e4/1e-4)/9e12 − 0.5/2e4 = 2.2222e-5 − 2.5e-5 < 0: it shrinks.
  // best: (1e4/1e-4)/9e12 + 0.5/1e4 = 1.1111e-5 + 5e-5.
  EXPECT_NEAR(*g.OliaIncreasePerByte(big), 2e8 / 9e12 - 2.5e-5, 1e-15);
  EXPECT_NEAR(*g.OliaIncreasePerByte(best), 1e8 / 9e12 + 5e-5, 1e-15);
}

TEST(CoupledGroupTest, OliaAlphaIsZeroWhenTheBestPathHasTheLargestWindow) {
  CoupledGroup g;
  g.Publish(*g.Register(), Member(30'000, milliseconds(10), 500'000, 0));
  g.Publish(*g.Register(), Member(10'000, milliseconds(10), 100'000, 0));
  const OliaSets s = g.ComputeOliaSets();
  EXPECT_EQ(s.best, 0b01u);
  EXPECT_EQ(s.max_cwnd, 0b01u);
  EXPECT_EQ(s.best_not_max(), 0u);
  EXPECT_EQ(s.Alpha(0), 0.0);
  EXPECT_EQ(s.Alpha(1), 0.0);
  // α = 0: only the coupled term, (w_r/rtt²)/(Σ w/rtt)² = w_r/W² for equal RTTs.
  EXPECT_NEAR(*g.OliaIncreasePerByte(1), 10'000.0 / (40'000.0 * 40'000.0), 1e-15);
}

TEST(CoupledGroupTest, OliaTiedBestPathsShareThePositiveAlpha) {
  CoupledGroup g;
  g.Publish(*g.Register(), Member(30'000, milliseconds(20), 100'000, 0));
  g.Publish(*g.Register(), Member(10'000, milliseconds(20), 0, 900'000));
  g.Publish(*g.Register(), Member(12'000, milliseconds(20), 900'000, 5'000));
  const OliaSets s = g.ComputeOliaSets();
  EXPECT_EQ(s.paths, 0b111u);
  EXPECT_EQ(s.max_cwnd, 0b001u);
  EXPECT_EQ(s.best, 0b110u);  // l = max(l1, l2) = 900000 for both
  EXPECT_DOUBLE_EQ(s.Alpha(1), 1.0 / 6);
  EXPECT_DOUBLE_EQ(s.Alpha(2), 1.0 / 6);
  EXPECT_DOUBLE_EQ(s.Alpha(0), -1.0 / 3);
}

TEST(CoupledGroupTest, OliaTiedLargestWindowsShareTheNegativeAlpha) {
  CoupledGroup g;
  g.Publish(*g.Register(), Member(30'000, milliseconds(20), 100'000, 0));
  g.Publish(*g.Register(), Member(30'000, milliseconds(20), 200'000, 0));
  g.Publish(*g.Register(), Member(12'000, milliseconds(20), 900'000, 0));
  // A path outside R changes nothing.
  g.Publish(*g.Register(), Member(90'000, Duration::zero(), 9'000'000, 0));
  const OliaSets s = g.ComputeOliaSets();
  EXPECT_EQ(s.paths, 0b0111u);
  EXPECT_EQ(s.max_cwnd, 0b011u);
  EXPECT_EQ(s.best, 0b100u);
  EXPECT_DOUBLE_EQ(s.Alpha(0), -1.0 / 6);
  EXPECT_DOUBLE_EQ(s.Alpha(1), -1.0 / 6);
  EXPECT_DOUBLE_EQ(s.Alpha(2), 1.0 / 3);
  EXPECT_DOUBLE_EQ(s.Alpha(3), 0.0);
}

TEST(CoupledGroupTest, OliaJudgesPathsByBytesBetweenLossesOverRttSquared) {
  CoupledGroup g;
  // Twice the bytes between losses but twice the RTT: l/rtt² is half, so the shorter path is best.
  g.Publish(*g.Register(), Member(10'000, milliseconds(20), 200'000, 0));
  g.Publish(*g.Register(), Member(20'000, milliseconds(10), 100'000, 0));
  EXPECT_EQ(g.ComputeOliaSets().best, 0b10u);
  // Four times the bytes makes them equal: both best.
  g.Publish(0, Member(10'000, milliseconds(20), 400'000, 0));
  EXPECT_EQ(g.ComputeOliaSets().best, 0b11u);
}

// ---- CoupledMember
// -------------------------------------------------------------------------------

TEST(CoupledMemberTest, JoinsOnFirstPublishAndLeavesWhenDestroyed) {
  auto g = Group();
  {
    CoupledMember m(g);
    EXPECT_EQ(m.slot(), std::nullopt);
    EXPECT_EQ(g->size(), 0u);
    m.Publish(Member(10'000, milliseconds(10)));
    ASSERT_EQ(m.slot(), 0u);
    EXPECT_TRUE(m.counted());

    // A copy shares the group but not the slot until it publishes.
    CoupledMember copy(m);
    EXPECT_EQ(copy.group(), g.get());
    EXPECT_EQ(copy.slot(), std::nullopt);
    EXPECT_EQ(g->size(), 1u);
    copy.Publish(Member(20'000, milliseconds(10)));
    EXPECT_EQ(copy.slot(), 1u);
    EXPECT_EQ(g->size(), 2u);

    // A move hands the slot over.
    CoupledMember moved(std::move(copy));
    EXPECT_EQ(moved.slot(), 1u);
    EXPECT_EQ(g->size(), 2u);

    // Copy-assignment gives the old slot back.
    moved = m;
    EXPECT_EQ(moved.slot(), std::nullopt);
    EXPECT_EQ(g->size(), 1u);
  }
  EXPECT_EQ(g->size(), 0u);
}

TEST(CoupledMemberTest, WithoutAGroupOrRoomItStaysDetached) {
  CoupledMember none;
  none.Publish(Member(10'000, milliseconds(10)));
  EXPECT_EQ(none.slot(), std::nullopt);
  EXPECT_FALSE(none.counted());

  auto g = Group();
  std::vector<CoupledMember> members(CoupledGroup::kMaxMembers + 1, CoupledMember(g));
  for (CoupledMember& m : members) m.Publish(Member(10'000, milliseconds(10)));
  EXPECT_EQ(members.back().slot(), std::nullopt);
  EXPECT_FALSE(members.back().counted());
  // Room again: the next publish joins.
  members.front().Leave();
  members.back().Publish(Member(10'000, milliseconds(10)));
  EXPECT_EQ(members.back().slot(), 0u);
}

// ---- NewReno's avoidance at a chosen pace -------------------------------------------------------

TEST(NewRenoAvoidanceStepTest, OneSmssPerChosenNumberOfBytes) {
  NewReno reno(Common());
  ToAvoidance(reno, 10);
  // What OnAck() does in avoidance is AvoidanceStep(acked, cwnd).
  EXPECT_EQ(reno.AckSlowStart(Ack(kSmss, milliseconds(10))), kSmss);
  reno.AvoidanceStep(4'000, 5'000);
  EXPECT_EQ(reno.cwnd(), 10'000u);
  reno.AvoidanceStep(1'500, 5'000);  // 5500 counted: one step, 500 carried over
  EXPECT_EQ(reno.cwnd(), 11'000u);
  reno.AvoidanceStep(4'500, 5'000);
  EXPECT_EQ(reno.cwnd(), 12'000u);
  // At most one step per ACK, whatever the ACK covers.
  reno.AvoidanceStep(50'000, 5'000);
  EXPECT_EQ(reno.cwnd(), 13'000u);
}

TEST(NewRenoAvoidanceStepTest, ShrinkingKeepsTheFlowInAvoidance) {
  NewReno reno(Common());
  ToAvoidance(reno, 4);
  reno.AvoidanceStep(3'000, 4'000);                  // 3000 counted upwards
  reno.AvoidanceStep(3'000, 4'000, /*grow=*/false);  // a new direction starts from zero
  EXPECT_EQ(reno.cwnd(), 4'000u);
  reno.AvoidanceStep(1'000, 4'000, false);
  EXPECT_EQ(reno.cwnd(), 3'000u);
  EXPECT_EQ(reno.ssthresh(), 3'000u);
  EXPECT_FALSE(reno.InSlowStart());
  // Never below 2·SMSS, the least ssthresh RFC 5681 allows.
  for (int i = 0; i < 5; ++i) reno.AvoidanceStep(4'000, 4'000, false);
  EXPECT_EQ(reno.cwnd(), 2'000u);
  EXPECT_EQ(reno.ssthresh(), 2'000u);
  // AckSlowStart leaves nothing for avoidance in recovery or when not cwnd-limited.
  AckEvent recovering = Ack(kSmss, milliseconds(10));
  recovering.in_recovery = true;
  EXPECT_EQ(reno.AckSlowStart(recovering), 0u);
  AckEvent app_limited = Ack(kSmss, milliseconds(10));
  app_limited.cwnd_limited = false;
  EXPECT_EQ(reno.AckSlowStart(app_limited), 0u);
}

// ---- LIA and OLIA against NewReno
// ----------------------------------------------------------------

struct Step {
  uint64_t cwnd;
  uint64_t ssthresh;
  bool operator==(const Step&) const = default;
};

// One script of everything a connection reports — slow start, a loss and its recovery, avoidance
// with delayed ACKs, an RTO, an undo, an idle restart, an SMSS change — with the windows after
// every step.
template <typename Cc>
std::vector<Step> RunScript(Cc& cc) {
  std::vector<Step> trace;
  auto note = [&] { trace.push_back({cc.cwnd(), cc.ssthresh()}); };
  AckClock<Cc> clock(cc, kT0, milliseconds(30));
  for (int i = 0; i < 4; ++i) {
    clock.RunFlight();
    note();
  }
  cc.OnCongestionEvent({clock.now(), clock.InFlight(), false});
  note();
  clock.in_recovery = true;
  clock.RunFlight();
  note();
  clock.in_recovery = false;
  cc.OnRecoveryExit(clock.now());
  note();
  clock.segments_per_ack = 2;
  for (int i = 0; i < 60; ++i) {
    clock.RunFlight();
    note();
  }
  cc.OnRetransmitTimeout({clock.now(), clock.InFlight(), false});
  note();
  clock.Drain();
  for (int i = 0; i < 12; ++i) {
    clock.RunFlight();
    note();
  }
  cc.OnCongestionEvent({clock.now(), clock.InFlight(), true});
  note();
  EXPECT_TRUE(cc.OnSpuriousCongestion(clock.now()));
  note();
  clock.Drain();
  cc.OnIdleRestart({clock.now() + seconds(3), seconds(3), seconds(1)});
  note();
  clock.set_now(clock.now() + seconds(3));
  cc.SetSmss(700);
  note();
  for (int i = 0; i < 40; ++i) {
    clock.RunFlight();
    note();
  }
  return trace;
}

template <typename Cc>
void ExpectSameAsNewReno(Cc& cc) {
  NewReno reno(Common());
  const std::vector<Step> expected = RunScript(reno);
  const std::vector<Step> got = RunScript(cc);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i], expected[i])
        << "step " << i << ": cwnd " << got[i].cwnd << " vs " << expected[i].cwnd;
  }
}

TEST(LiaTest, WithoutAGroupIsNewRenoStepForStep) {
  Lia lia(Common());
  EXPECT_EQ(lia.name(), "lia");
  ExpectSameAsNewReno(lia);
}

TEST(LiaTest, AloneInItsGroupIsNewRenoStepForStep) {
  auto g = Group();
  // Another subflow that has not measured an RTT yet is not counted.
  const size_t idle = *g->Register();
  g->Publish(idle, Member(50'000, Duration::zero()));
  Lia lia(Common(), {}, g);
  ExpectSameAsNewReno(lia);
  EXPECT_TRUE(lia.membership().counted());
  EXPECT_EQ(g->size(), 2u);
  EXPECT_DOUBLE_EQ(g->LiaAlpha(), 1.0);
  EXPECT_EQ(lia.BytesPerSmss(), lia.cwnd());
}

TEST(OliaTest, WithoutAGroupIsNewRenoStepForStep) {
  Olia olia(Common());
  EXPECT_EQ(olia.name(), "olia");
  ExpectSameAsNewReno(olia);
}

TEST(OliaTest, AloneInItsGroupIsNewRenoStepForStep) {
  auto g = Group();
  Olia olia(Common(), {}, g);
  ExpectSameAsNewReno(olia);
  EXPECT_TRUE(olia.membership().counted());
  const OliaSets s = g->ComputeOliaSets();
  EXPECT_EQ(s.best_not_max(), 0u);
}

// ---- LIA: RFC 6356's goals
// -----------------------------------------------------------------------

TEST(LiaTest, PaceIsTheCoupledTermOrTheSubflowsOwn) {
  auto g = Group();
  Lia a(Common(), {}, g);
  Lia b(Common(), {}, g);
  ToAvoidance(a, 10);
  ToAvoidance(b, 20);
  a.OnAck(Ack(0, milliseconds(10)));  // publishes the RTT; a zero-byte ACK grows nothing
  b.OnAck(Ack(0, milliseconds(40)));
  EXPECT_EQ(a.cwnd(), 10'000u);
  EXPECT_EQ(b.cwnd(), 20'000u);
  // The group of LiaAlphaForTwoMembersByHand: cwnd_total/alpha = 22500 > both windows.
  EXPECT_EQ(a.BytesPerSmss(), 22'500u);
  EXPECT_EQ(b.BytesPerSmss(), 22'500u);
  // 22 ACKs of one SMSS: not enough; the 23rd crosses 22500 and adds one SMSS.
  for (int i = 0; i < 22; ++i) a.OnAck(Ack(kSmss, milliseconds(10)));
  EXPECT_EQ(a.cwnd(), 10'000u);
  a.OnAck(Ack(kSmss, milliseconds(10)));
  EXPECT_EQ(a.cwnd(), 11'000u);

  // Once a window exceeds cwnd_total/alpha, the second term (its own cwnd) governs.
  Lia c(Common(), {}, g);
  ToAvoidance(c, 200);
  c.OnAck(Ack(0, milliseconds(400)));
  ASSERT_LT(*g->LiaTotalOverAlpha(), 200'000.0);
  EXPECT_EQ(c.BytesPerSmss(), 200'000u);
}

// Runs two LIA subflows, each on its own ACK clock, in time order until `end`; returns the
// growth of each window.
std::pair<uint64_t, uint64_t> RunTwo(Lia& a, Duration rtt_a, Lia& b, Duration rtt_b,
                                     Duration length) {
  const uint64_t a0 = a.cwnd();
  const uint64_t b0 = b.cwnd();
  AckClock<Lia> ca(a, kT0, rtt_a);
  AckClock<Lia> cb(b, kT0, rtt_b);
  const Instant end = kT0 + length;
  while (true) {
    const Instant next_a = ca.now() + rtt_a;
    const Instant next_b = cb.now() + rtt_b;
    if (std::min(next_a, next_b) > end) break;
    if (next_a <= next_b) {
      ca.RunFlight();
    } else {
      cb.RunFlight();
    }
  }
  return {a.cwnd() - a0, b.cwnd() - b0};
}

// A NewReno flow on one path for `length`, from cwnd = `segments`·SMSS in avoidance.
uint64_t NewRenoGrowth(uint64_t segments, Duration rtt, Duration length) {
  NewReno reno(Common());
  ToAvoidance(reno, segments);
  AckClock<NewReno> clock(reno, kT0, rtt);
  while (clock.now() + rtt <= kT0 + length) clock.RunFlight();
  return reno.cwnd() - segments * kSmss;
}

TEST(LiaTest, EqualRttsAndWindowsGrowTogetherByHalfOfOneTcpFlow) {
  // RFC 6356 goal 2: at a shared bottleneck, no more than one TCP flow. Two equal subflows:
  // cwnd_total/alpha = (2w)²/w = 4w, so each grows SMSS/4 per RTT and the pair SMSS/2.
  auto g = Group();
  Lia a(Common(), {}, g);
  Lia b(Common(), {}, g);
  ToAvoidance(a, 20);
  ToAvoidance(b, 20);
  const auto [da, db] = RunTwo(a, milliseconds(20), b, milliseconds(20), seconds(2));
  const uint64_t reno = NewRenoGrowth(20, milliseconds(20), seconds(2));
  EXPECT_EQ(reno, 100u * kSmss);  // one SMSS per RTT for 100 RTTs
  EXPECT_LE(da + db, reno);
  EXPECT_GE(da + db, 40u * kSmss);
  EXPECT_LE(da + db, 55u * kSmss);
}

TEST(LiaTest, EqualRttsUnequalWindowsGrowByNoMoreThanOneTcpFlow) {
  // alpha = w_max/W = 0.8: the pair grows 0.8·SMSS per RTT at first.
  auto g = Group();
  Lia a(Common(), {}, g);
  Lia b(Common(), {}, g);
  ToAvoidance(a, 40);
  ToAvoidance(b, 10);
  const auto [da, db] = RunTwo(a, milliseconds(20), b, milliseconds(20), seconds(2));
  const uint64_t reno = NewRenoGrowth(40, milliseconds(20), seconds(2));
  EXPECT_LE(da + db, reno);
  EXPECT_GE(da + db, reno / 2);
  // Most of the growth goes where the window is: equal pace per byte, four times the bytes.
  EXPECT_GT(da, 2 * db);
}

TEST(LiaTest, UnequalRttsGainNoMoreThroughputThanOneTcpFlowOnTheBestPath) {
  // RFC 6356 goals 1 and 2 in rate terms: Σ Δcwnd_i/rtt_i is at most what a NewReno flow gains on
  // the best path (here the 10 ms one, where each SMSS per RTT is worth the most rate).
  auto g = Group();
  Lia a(Common(), {}, g);
  Lia b(Common(), {}, g);
  ToAvoidance(a, 20);
  ToAvoidance(b, 40);
  const Duration rtt_a = milliseconds(10);
  const Duration rtt_b = milliseconds(40);
  const auto [da, db] = RunTwo(a, rtt_a, b, rtt_b, seconds(3));
  const double rate_gain = static_cast<double>(da) / 0.010 + static_cast<double>(db) / 0.040;
  const uint64_t best = NewRenoGrowth(20, rtt_a, seconds(3));
  const double best_gain = static_cast<double>(best) / 0.010;
  EXPECT_LE(rate_gain, best_gain);
  EXPECT_GT(rate_gain, best_gain / 4);
  // Each subflow also stays within what TCP would do on its own path.
  EXPECT_LE(da, best);
  EXPECT_LE(db, NewRenoGrowth(40, rtt_b, seconds(3)));
}

TEST(LiaTest, NeverAheadOfNewRenoOnTheSameAcks) {
  // The min's second term: on any sequence of ACKs a subflow never opens faster than NewReno fed
  // the same ACKs, whatever the other subflow does.
  for (const auto& [rtt_a, rtt_b] :
       {std::pair{milliseconds(20), milliseconds(20)}, std::pair{milliseconds(5), milliseconds(80)},
        std::pair{milliseconds(80), milliseconds(5)}}) {
    auto g = Group();
    Lia a(Common(), {}, g);
    Lia b(Common(), {}, g);
    NewReno ra(Common());
    NewReno rb(Common());
    ToAvoidance(a, 12);
    ToAvoidance(ra, 12);
    ToAvoidance(b, 30);
    ToAvoidance(rb, 30);
    for (int i = 0; i < 6000; ++i) {
      // Uneven ACK sizes (delayed ACKs, stretch ACKs) and an uneven mix of subflows.
      const uint64_t bytes = kSmss * (1 + i % 3);
      if (i % 5 < 3) {
        a.OnAck(Ack(bytes, rtt_a));
        ra.OnAck(Ack(bytes, rtt_a));
      } else {
        b.OnAck(Ack(bytes, rtt_b));
        rb.OnAck(Ack(bytes, rtt_b));
      }
      ASSERT_LE(a.cwnd(), ra.cwnd()) << "ACK " << i;
      ASSERT_LE(b.cwnd(), rb.cwnd()) << "ACK " << i;
    }
    EXPECT_GT(a.cwnd(), 12u * kSmss);
    EXPECT_GT(b.cwnd(), 30u * kSmss);
  }
}

TEST(LiaTest, ASubflowThatClosesLeavesTheGroup) {
  auto g = Group();
  Lia a(Common(), {}, g);
  ToAvoidance(a, 10);
  a.OnAck(Ack(0, milliseconds(10)));
  {
    Lia b(Common(), {}, g);
    ToAvoidance(b, 20);
    b.OnAck(Ack(0, milliseconds(40)));
    EXPECT_EQ(g->size(), 2u);
    EXPECT_NEAR(g->LiaAlpha(), 4.0 / 3.0, 1e-12);
    EXPECT_EQ(a.BytesPerSmss(), 22'500u);
  }
  EXPECT_EQ(g->size(), 1u);
  EXPECT_DOUBLE_EQ(g->LiaAlpha(), 1.0);
  EXPECT_EQ(a.BytesPerSmss(), 10'000u);
}

// ---- OLIA
// ----------------------------------------------------------------------------------------

TEST(OliaTest, CountsBytesBetweenLosses) {
  Olia olia(Common());
  olia.OnAck(Ack(5'000, milliseconds(10)));
  EXPECT_EQ(olia.bytes_since_loss(), 5'000u);
  EXPECT_EQ(olia.bytes_between_losses(), 0u);
  olia.OnCongestionEvent({kT0, 15'000, false});
  EXPECT_EQ(olia.bytes_between_losses(), 5'000u);
  EXPECT_EQ(olia.bytes_since_loss(), 0u);
  // ACKs in recovery were delivered too.
  AckEvent in_recovery = Ack(2'000, milliseconds(10));
  in_recovery.in_recovery = true;
  olia.OnAck(in_recovery);
  olia.OnRecoveryExit(kT0);
  olia.OnAck(Ack(1'000, milliseconds(10)));
  EXPECT_EQ(olia.bytes_since_loss(), 3'000u);

  // An ECN-Echo is a congestion signal as well; a second one with nothing acknowledged since
  // belongs to the same interval.
  olia.OnCongestionEvent({kT0, 8'000, true});
  EXPECT_EQ(olia.bytes_between_losses(), 3'000u);
  olia.OnCongestionEvent({kT0, 8'000, true});
  EXPECT_EQ(olia.bytes_between_losses(), 3'000u);
  EXPECT_EQ(olia.bytes_since_loss(), 0u);

  // RTO: the first expiry starts an interval, its repeats do not.
  olia.OnAck(Ack(4'000, milliseconds(10)));
  olia.OnRetransmitTimeout({kT0, 4'000, false});
  EXPECT_EQ(olia.bytes_between_losses(), 4'000u);
  olia.OnAck(Ack(1'000, milliseconds(10)));
  olia.OnRetransmitTimeout({kT0, 4'000, true});
  EXPECT_EQ(olia.bytes_between_losses(), 4'000u);
  EXPECT_EQ(olia.bytes_since_loss(), 1'000u);
}

TEST(OliaTest, AnUndoneLossReopensItsInterval) {
  Olia olia(Common());
  olia.OnAck(Ack(5'000, milliseconds(10)));
  olia.OnCongestionEvent({kT0, 15'000, false});
  olia.OnAck(Ack(2'000, milliseconds(10)));
  olia.OnCongestionEvent({kT0, 8'000, false});
  EXPECT_EQ(olia.bytes_between_losses(), 2'000u);
  olia.OnAck(Ack(1'000, milliseconds(10)));
  ASSERT_TRUE(olia.OnSpuriousCongestion(kT0));
  EXPECT_EQ(olia.bytes_between_losses(), 5'000u);
  EXPECT_EQ(olia.bytes_since_loss(), 3'000u);
}

TEST(OliaTest, WindowMovesFromTheLargestPathToTheBestOne) {
  auto g = Group();
  Olia big(Common(), {}, g);
  Olia best(Common(), {}, g);
  const Duration rtt = milliseconds(20);
  // `big`: a loss after 10 segments, then avoidance at 20. `best`: 400 segments before its loss,
  // then avoidance at 10 — the better path by l/rtt², with the smaller window.
  big.OnAck(Ack(10 * kSmss, rtt));
  ToAvoidance(big, 20);
  best.OnAck(Ack(400 * kSmss, rtt));
  ToAvoidance(best, 10);
  const OliaSets sets = g->ComputeOliaSets();
  ASSERT_EQ(sets.max_cwnd, 0b01u);
  ASSERT_EQ(sets.best, 0b10u);
  // W = 30 segments at equal RTTs: big changes by 20/900 − 1/40 < 0 per segment, best by
  // 10/900 + 1/20 > 0.
  ASSERT_LT(*g->OliaIncreasePerByte(0), 0.0);
  ASSERT_GT(*g->OliaIncreasePerByte(1), 0.0);

  NewReno big_reno(Common());
  ToAvoidance(big_reno, 20);
  int shrinks = 0;
  for (int i = 0; i < 400; ++i) {
    const uint64_t before = big.cwnd();
    big.OnAck(Ack(kSmss, rtt));
    big_reno.OnAck(Ack(kSmss, rtt));
    best.OnAck(Ack(kSmss, rtt));
    if (big.cwnd() < before) {
      ++shrinks;
      // Shrinking is not a loss: ssthresh follows, so there is no slow start back up.
      EXPECT_FALSE(big.InSlowStart());
      EXPECT_EQ(big.ssthresh(), big.cwnd());
    }
  }
  EXPECT_GT(shrinks, 0);
  // The best path took the lead; from then on B\M is empty, α = 0 and both grow at the coupled
  // pace. The largest path ends below what NewReno would have.
  EXPECT_GE(best.cwnd(), big.cwnd());
  EXPECT_GE(best.cwnd(), 2 * 10u * kSmss);
  EXPECT_LT(big.cwnd(), big_reno.cwnd());
  EXPECT_EQ(g->ComputeOliaSets().best_not_max(), 0u);
}

// ---- Registry and connection --------------------------------------------------------------------

TEST(CoupledRegistryTest, CreatesLiaAndOliaWithTheCoupling) {
  CongestionControlRegistry registry;
  EXPECT_TRUE(registry.Contains("lia"));
  EXPECT_TRUE(registry.Contains("olia"));
  auto g = Group();
  CcParams params;
  params.common = Common();
  params.coupling = g;

  auto lia = registry.Create("lia", params);
  ASSERT_TRUE(lia.ok());
  EXPECT_EQ(lia->name(), "lia");
  ASSERT_NE(lia->get_if<Lia>(), nullptr);
  EXPECT_EQ(lia->get_if<Lia>()->membership().group(), g.get());

  auto olia = registry.Create("olia", params);
  ASSERT_TRUE(olia.ok());
  EXPECT_EQ(olia->name(), "olia");
  ASSERT_NE(olia->get_if<Olia>(), nullptr);
  EXPECT_EQ(olia->get_if<Olia>()->membership().group(), g.get());

  // Controllers join when they first hear from their subflow, not when built or copied.
  EXPECT_EQ(g->size(), 0u);
  CongestionController cc = std::move(lia).value();
  cc.OnAck(Ack(kSmss, milliseconds(10)));
  EXPECT_EQ(g->size(), 1u);
  {
    CongestionController copy = cc;
    EXPECT_EQ(g->size(), 1u);
    copy.OnAck(Ack(kSmss, milliseconds(10)));
    EXPECT_EQ(g->size(), 2u);
  }
  EXPECT_EQ(g->size(), 1u);

  // Uncoupled algorithms ignore the coupling.
  auto cubic = registry.Create("cubic", params);
  ASSERT_TRUE(cubic.ok());
  cubic->OnAck(Ack(kSmss, milliseconds(10)));
  EXPECT_EQ(g->size(), 1u);
}

using CoupledConnection = testing::TcpTest;

TEST_F(CoupledConnection, TheSubflowsControllerJoinsTheConfiguredGroup) {
  auto g = Group();
  config_.congestion_control = "lia";
  config_.coupling = g;
  Establish();
  EXPECT_EQ(conn_->Info().congestion_control, "lia");
  AppSend(3 * kPayloadMss);
  Advance(milliseconds(10));
  Send(testing::I(testing::kAck, kIrs + 1, kIss + 1 + 3 * kPayloadMss));
  ASSERT_EQ(g->size(), 1u);
  ASSERT_TRUE(g->counted(0));
  EXPECT_EQ(g->member(0).cwnd, conn_->Info().cwnd);
  EXPECT_EQ(g->member(0).smss, kPayloadMss);
  EXPECT_GT(g->member(0).srtt, Duration::zero());
  // The subflow goes away: so does its share of the group.
  conn_.reset();
  EXPECT_EQ(g->size(), 0u);
}

}  // namespace
}  // namespace braid::tcp
