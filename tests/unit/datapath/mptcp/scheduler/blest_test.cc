#include "datapath/mptcp/scheduler/blest.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "tests/unit/datapath/mptcp/scheduler/fake_subflows.h"

namespace braid::mptcp {
namespace {

using std::chrono::milliseconds;
using testing::Chosen;
using ::testing::ElementsAre;
using testing::FakeSubflow;
using ::testing::IsEmpty;
using testing::kMss;
using testing::NewData;

// The paper's setting: a fast subflow with a full window of 10 segments at 10 ms, a slow one with
// room at 40 ms. rtts = 40 / 10 = 4; during one slow RTT the fast subflow sends
//   X = MSS * (CWND_F + (rtts - 1) / 2) * rtts = 1000 * (10 + 1.5) * 4 = 46000 bytes,
// lambda * X = 1.2 * 46000 = 55200. The whole window is send_window + the 10000 bytes the fast
// subflow has in flight; the slow one has nothing outstanding. Sending on the slow one is fine
// while 55200 <= window - MSS_S * (0 + 1) = send_window + 10000 - 1000.
std::vector<SubflowSnapshot> FastFullSlowFree() {
  return {FakeSubflow(1).Rtt(milliseconds(10)).Window(10 * kMss, 10 * kMss),
          FakeSubflow(2).Rtt(milliseconds(40)).Window(10 * kMss, 0)};
}

TEST(BlestSchedulerTest, UsesTheFastSubflowWhileItHasSpace) {
  BlestScheduler scheduler;
  EXPECT_EQ(scheduler.name(), "blest");
  const std::vector<SubflowSnapshot> subflows = {
      FakeSubflow(1).Rtt(milliseconds(10)).Window(10 * kMss, 7 * kMss),
      FakeSubflow(2).Rtt(milliseconds(40))};
  // Even with a window too small for anything else.
  const ScheduleDecision d = scheduler.Select(subflows, NewData(testing::kPlenty, 1000));
  EXPECT_THAT(Chosen(d), ElementsAre(1));
  EXPECT_EQ(d.max_bytes, 3 * kMss);
}

TEST(BlestSchedulerTest, WaitsWhenTheSlowSubflowWouldBlockTheFastOne) {
  BlestScheduler scheduler;
  // 55200 > 40000 + 10000 - 1000 = 49000.
  EXPECT_THAT(Chosen(scheduler.Select(FastFullSlowFree(), NewData(testing::kPlenty, 40000))),
              IsEmpty());
}

TEST(BlestSchedulerTest, SendsOnTheSlowSubflowWhenTheWindowIsLarge) {
  BlestScheduler scheduler;
  // 55200 <= 100000 + 10000 - 1000; the slow subflow's 10000 bytes of space all fit.
  const ScheduleDecision d =
      scheduler.Select(FastFullSlowFree(), NewData(testing::kPlenty, 100000));
  EXPECT_THAT(Chosen(d), ElementsAre(2));
  EXPECT_EQ(d.max_bytes, 10 * kMss);
}

TEST(BlestSchedulerTest, TheInequalityAtItsEdge) {
  // 46200 + 10000 - 1000 = 55200: exactly lambda * X, not more, so the slow subflow may take one
  // segment and no more.
  BlestScheduler scheduler;
  ScheduleDecision d = scheduler.Select(FastFullSlowFree(), NewData(testing::kPlenty, 46200));
  EXPECT_THAT(Chosen(d), ElementsAre(2));
  EXPECT_EQ(d.max_bytes, kMss);
  // One byte less and it would block.
  d = scheduler.Select(FastFullSlowFree(), NewData(testing::kPlenty, 46199));
  EXPECT_THAT(Chosen(d), IsEmpty());
}

TEST(BlestSchedulerTest, TheChunkOnTheSlowSubflowLeavesTheFastOneItsShare) {
  BlestScheduler scheduler;
  // Room 48200 + 10000 = 58200; 58200 - 55200 = 3000 bytes may go on the slow subflow.
  const ScheduleDecision d = scheduler.Select(FastFullSlowFree(), NewData(testing::kPlenty, 48200));
  EXPECT_THAT(Chosen(d), ElementsAre(2));
  EXPECT_EQ(d.max_bytes, 3000u);
}

TEST(BlestSchedulerTest, WhatTheFastSubflowHasInFlightIsRoomForIt) {
  BlestScheduler scheduler;
  std::vector<SubflowSnapshot> subflows = FastFullSlowFree();
  // The same fast window, but 6 segments of it queued and 4 in flight: still 10000 outstanding,
  // so still 3000 bytes for the slow one.
  subflows[0] = FakeSubflow(1).Rtt(milliseconds(10)).Window(10 * kMss, 4 * kMss).Space(0);
  SubflowSnapshot& fast = subflows[0];
  fast.queued = 6 * kMss;
  ScheduleDecision d = scheduler.Select(subflows, NewData(testing::kPlenty, 48200));
  EXPECT_THAT(Chosen(d), ElementsAre(2));
  EXPECT_EQ(d.max_bytes, 3000u);
  // Nothing outstanding on the fast subflow (its window full of nothing: space 0 by its send
  // buffer): 10000 bytes less room, the slow one would block it.
  fast.in_flight = 0;
  fast.queued = 0;
  d = scheduler.Select(subflows, NewData(testing::kPlenty, 48200));
  EXPECT_THAT(Chosen(d), IsEmpty());
}

TEST(BlestSchedulerTest, TheSlowSubflowsOwnOutstandingDataIsAlreadyOutOfTheWindow) {
  BlestScheduler scheduler;
  std::vector<SubflowSnapshot> subflows = FastFullSlowFree();
  // 5 segments in flight on the slow subflow: the peer's whole window is 5000 bytes larger than
  // send_window says, and those 5000 bytes are the slow subflow's own; the answer is unchanged.
  subflows[1] = FakeSubflow(2).Rtt(milliseconds(40)).Window(15 * kMss, 5 * kMss);
  ScheduleDecision d = scheduler.Select(subflows, NewData(testing::kPlenty, 48200));
  EXPECT_THAT(Chosen(d), ElementsAre(2));
  EXPECT_EQ(d.max_bytes, 3000u);
  EXPECT_THAT(Chosen(scheduler.Select(subflows, NewData(testing::kPlenty, 46199))), IsEmpty());
}

TEST(BlestSchedulerTest, LambdaScalesTheEstimate) {
  // lambda = 1: X = 46000 <= 40000 + 10000 - 1000 = 49000, where lambda = 1.2 waits.
  BlestScheduler scheduler(BlestConfig{.lambda_permille = 1000});
  EXPECT_EQ(scheduler.lambda_permille(), 1000u);
  const ScheduleDecision d = scheduler.Select(FastFullSlowFree(), NewData(testing::kPlenty, 40000));
  EXPECT_THAT(Chosen(d), ElementsAre(2));
  EXPECT_EQ(d.max_bytes, 4000u);  // 50000 - 46000
}

TEST(BlestSchedulerTest, AFasterSlowSubflowIsLessLikelyToBlock) {
  BlestScheduler scheduler;
  std::vector<SubflowSnapshot> subflows = FastFullSlowFree();
  // rtts = 2: X = 1000 * (10 + 0.5) * 2 = 21000, lambda * X = 25200 <= 40000 + 10000 - 1000.
  subflows[1] = FakeSubflow(2).Rtt(milliseconds(20));
  EXPECT_THAT(Chosen(scheduler.Select(subflows, NewData(testing::kPlenty, 40000))), ElementsAre(2));
}

TEST(BlestSchedulerTest, LambdaGrowsAfterBlockingAndShrinksWithout) {
  BlestScheduler scheduler;
  const std::vector<SubflowSnapshot> subflows = FastFullSlowFree();  // slow min_rtt 40 ms
  auto at = [](int ms, uint64_t send_window) {
    ScheduleContext c = NewData(testing::kPlenty, send_window);
    c.now = tcp::InstantFromNanos(int64_t{ms} * 1'000'000);
    return c;
  };
  // The fast subflow with 3 segments of room but only 2500 bytes of window: blocked.
  std::vector<SubflowSnapshot> blocked = subflows;
  blocked[0] = FakeSubflow(1).Rtt(milliseconds(10)).Window(10 * kMss, 7 * kMss);
  scheduler.Select(subflows, at(0, 100000));  // starts the clock
  EXPECT_EQ(scheduler.lambda_permille(), 1200u);
  scheduler.Select(blocked, at(10, 2500));
  scheduler.Select(subflows, at(30, 100000));
  EXPECT_EQ(scheduler.lambda_permille(), 1200u);  // less than one slow RTT since the start
  scheduler.Select(subflows, at(40, 100000));
  EXPECT_EQ(scheduler.lambda_permille(), 1240u);
  scheduler.Select(subflows, at(80, 100000));  // an RTT without blocking
  EXPECT_EQ(scheduler.lambda_permille(), 1230u);
  for (int i = 0; i < 10; ++i) {
    scheduler.Select(blocked, at(100 + 40 * i, 0));
    scheduler.Select(subflows, at(120 + 40 * i, 100000));
  }
  EXPECT_EQ(scheduler.lambda_permille(), 1300u);  // capped
  for (int i = 0; i < 40; ++i) scheduler.Select(subflows, at(600 + 40 * i, 100000));
  EXPECT_EQ(scheduler.lambda_permille(), 1000u);  // floored
}

TEST(BlestSchedulerTest, OnlyAFastSubflowHeldBackByThePeersWindowCountsAsBlocked) {
  const std::vector<SubflowSnapshot> slow_considered = FastFullSlowFree();
  auto at = [](int ms, uint64_t unsent, uint64_t send_window) {
    ScheduleContext c = NewData(unsent, send_window);
    c.now = tcp::InstantFromNanos(int64_t{ms} * 1'000'000);
    return c;
  };
  std::vector<SubflowSnapshot> fast_room = slow_considered;
  fast_room[0] = FakeSubflow(1).Rtt(milliseconds(10)).Window(10 * kMss, 7 * kMss);  // 3000 room
  struct Case {
    std::vector<SubflowSnapshot> subflows;
    uint64_t unsent;
    uint64_t send_window;
    uint32_t lambda_after;
    bool reinjection = false;
  };
  const Case cases[] = {
      {fast_room, 100000, 2999, 1240},     // window below the fast subflow's room: blocked
      {fast_room, 100000, 3000, 1190},     // the window lets it fill its room
      {fast_room, 2000, 1999, 1240},       // less waiting than room, and less window than that
      {fast_room, 2000, 2000, 1190},       // all the waiting data fits the window
      {slow_considered, 100000, 0, 1190},  // the fast subflow is limited by its own window
      {fast_room, 100000, 0, 1190, true},  // reinjected data is already inside the window
  };
  for (const Case& c : cases) {
    BlestScheduler scheduler;
    scheduler.Select(slow_considered, at(0, 100000, 100000));
    ScheduleContext context = at(1, c.unsent, c.send_window);
    context.reinjection = c.reinjection;
    scheduler.Select(c.subflows, context);
    scheduler.Select(slow_considered, at(40, 100000, 100000));
    EXPECT_EQ(scheduler.lambda_permille(), c.lambda_after)
        << "unsent " << c.unsent << " window " << c.send_window;
  }
}

TEST(BlestSchedulerTest, LambdaChangesAtMostOncePerMinRttOfTheSlowSubflow) {
  BlestScheduler scheduler;
  std::vector<SubflowSnapshot> subflows = FastFullSlowFree();
  subflows[1] = FakeSubflow(2).Rtt(milliseconds(40)).MinRtt(milliseconds(25));
  auto at = [](int ms) {
    ScheduleContext c = NewData(testing::kPlenty, 100000);
    c.now = tcp::InstantFromNanos(int64_t{ms} * 1'000'000);
    return c;
  };
  scheduler.Select(subflows, at(0));
  scheduler.Select(subflows, at(24));
  EXPECT_EQ(scheduler.lambda_permille(), 1200u);
  scheduler.Select(subflows, at(25));
  EXPECT_EQ(scheduler.lambda_permille(), 1190u);
  scheduler.Select(subflows, at(49));
  EXPECT_EQ(scheduler.lambda_permille(), 1190u);
  scheduler.Select(subflows, at(50));
  EXPECT_EQ(scheduler.lambda_permille(), 1180u);
}

TEST(BlestSchedulerTest, WithoutRttSamplesItBehavesLikeTheDefault) {
  BlestScheduler scheduler;
  std::vector<SubflowSnapshot> subflows = FastFullSlowFree();
  // No estimate: the slow subflow takes all its space, though only 10000 bytes of window are
  // left beyond its own data.
  subflows[1] = FakeSubflow(2).NoRttSample().Window(20 * kMss, 0);
  const ScheduleDecision d = scheduler.Select(subflows, NewData(testing::kPlenty, 0));
  EXPECT_THAT(Chosen(d), ElementsAre(2));
  EXPECT_EQ(d.max_bytes, 20 * kMss);
}

TEST(BlestSchedulerTest, NothingWhenNoOtherSubflowHasSpace) {
  BlestScheduler scheduler;
  std::vector<SubflowSnapshot> subflows = FastFullSlowFree();
  subflows[1] = FakeSubflow(2).Rtt(milliseconds(40)).Full();
  EXPECT_THAT(Chosen(scheduler.Select(subflows, NewData())), IsEmpty());
}

TEST(BlestSchedulerTest, TheSlowSubflowIsTheFastestOfTheRest) {
  BlestScheduler scheduler;
  std::vector<SubflowSnapshot> subflows = FastFullSlowFree();
  subflows.push_back(FakeSubflow(3).Rtt(milliseconds(30)));
  // rtts = 3 for subflow 3: X = 1000 * (10 + 1) * 3 = 33000, lambda * X = 39600 <= 49000.
  EXPECT_THAT(Chosen(scheduler.Select(subflows, NewData(testing::kPlenty, 40000))), ElementsAre(3));
}

}  // namespace
}  // namespace braid::mptcp
