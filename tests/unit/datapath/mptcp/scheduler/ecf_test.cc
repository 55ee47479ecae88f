#include "datapath/mptcp/scheduler/ecf.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "tests/unit/datapath/mptcp/scheduler/fake_subflows.h"

namespace braid::mptcp {
namespace {

using std::chrono::milliseconds;
using testing::Bit;
using testing::Chosen;
using ::testing::ElementsAre;
using testing::FakeSubflow;
using ::testing::IsEmpty;
using testing::kMss;
using testing::NewData;
using testing::Reinjection;

// x_f: RTT 10 ms, RTTVAR 1 ms, CWND 10000 bytes, full. x_s: RTT 50 ms, RTTVAR 2 ms, CWND 10000,
// free. delta = 2 ms. With k bytes waiting (all times in ms, multiplied out by CWND):
//   first test:  10 * (k + 10000) < (1 + waiting / 4) * 10000 * 52
//                waiting = 0: k < 42000;  waiting = 1: k < 55000
//   second test: k * 50 >= 10000 * (2 * 10 + 2)  <=>  k >= 4400
std::vector<SubflowSnapshot> FastFullSecondFree() {
  return {FakeSubflow(1).Rtt(milliseconds(10), milliseconds(1)).Window(10 * kMss, 10 * kMss),
          FakeSubflow(2).Rtt(milliseconds(50), milliseconds(2)).Window(10 * kMss, 0)};
}

ScheduleDecision Select(EcfScheduler& scheduler, uint64_t k) {
  return scheduler.Select(FastFullSecondFree(), NewData(k));
}

TEST(EcfSchedulerTest, UsesTheFastestSubflowWhileItHasSpace) {
  EcfScheduler scheduler;
  EXPECT_EQ(scheduler.name(), "ecf");
  std::vector<SubflowSnapshot> subflows = FastFullSecondFree();
  subflows[0] = FakeSubflow(1).Rtt(milliseconds(10)).Window(10 * kMss, 8 * kMss);
  const ScheduleDecision d = scheduler.Select(subflows, NewData(20000));
  EXPECT_THAT(Chosen(d), ElementsAre(1));
  EXPECT_EQ(d.max_bytes, 2 * kMss);
}

TEST(EcfSchedulerTest, WaitsForTheFastestWhenThatFinishesFirst) {
  EcfScheduler scheduler;
  // k = 20000: 10 * 30000 = 300000 < 520000, and 20000 * 50 = 1e6 >= 220000.
  EXPECT_THAT(Chosen(Select(scheduler, 20000)), IsEmpty());
  EXPECT_TRUE(scheduler.waiting());
}

TEST(EcfSchedulerTest, UsesTheSecondWhenLittleIsLeftToSend) {
  EcfScheduler scheduler;
  // k = 3000: the first test holds, but 3000 * 50 = 150000 < 220000: x_s finishes k in time.
  const ScheduleDecision d = Select(scheduler, 3000);
  EXPECT_THAT(Chosen(d), ElementsAre(2));
  EXPECT_EQ(d.max_bytes, 10 * kMss);
  EXPECT_FALSE(scheduler.waiting());
}

TEST(EcfSchedulerTest, UsesTheSecondWhenMuchIsLeftToSend) {
  EcfScheduler scheduler;
  // k = 60000: 10 * 70000 = 700000 >= 520000, waiting for x_f alone would take longer.
  EXPECT_THAT(Chosen(Select(scheduler, 60000)), ElementsAre(2));
  EXPECT_FALSE(scheduler.waiting());
}

TEST(EcfSchedulerTest, TheInequalitiesAtTheirEdges) {
  {
    EcfScheduler scheduler;
    EXPECT_THAT(Chosen(Select(scheduler, 4400)), IsEmpty());  // 220000 >= 220000
  }
  {
    EcfScheduler scheduler;
    EXPECT_THAT(Chosen(Select(scheduler, 4399)), ElementsAre(2));
  }
  {
    EcfScheduler scheduler;
    EXPECT_THAT(Chosen(Select(scheduler, 41999)), IsEmpty());  // 519990 < 520000
  }
  {
    EcfScheduler scheduler;
    EXPECT_THAT(Chosen(Select(scheduler, 42000)), ElementsAre(2));  // 520000, not less
  }
}

TEST(EcfSchedulerTest, OnceWaitingItKeepsWaitingWithinTheBetaMargin) {
  EcfScheduler scheduler;
  ASSERT_THAT(Chosen(Select(scheduler, 20000)), IsEmpty());
  // k = 50000 uses x_s when not waiting (500000 + 100000 >= 520000), but within the margin:
  // 600000 < 1.25 * 520000 = 650000.
  EXPECT_THAT(Chosen(Select(scheduler, 50000)), IsEmpty());
  EXPECT_THAT(Chosen(Select(scheduler, 54999)), IsEmpty());
  // Beyond the margin: use x_s, and stop waiting.
  EXPECT_THAT(Chosen(Select(scheduler, 55000)), ElementsAre(2));
  EXPECT_FALSE(scheduler.waiting());
  EXPECT_THAT(Chosen(Select(scheduler, 50000)), ElementsAre(2));
}

TEST(EcfSchedulerTest, UsingTheSecondForASmallRemainderKeepsTheWaitingState) {
  EcfScheduler scheduler;
  ASSERT_THAT(Chosen(Select(scheduler, 20000)), IsEmpty());
  EXPECT_THAT(Chosen(Select(scheduler, 3000)), ElementsAre(2));
  EXPECT_TRUE(scheduler.waiting());  // Algorithm 1 resets it only when the first test fails
  EXPECT_THAT(Chosen(Select(scheduler, 50000)), IsEmpty());
}

TEST(EcfSchedulerTest, WithoutHysteresisItDecidesAfresh) {
  EcfScheduler scheduler(EcfConfig{.beta_inverse = 0});
  ASSERT_THAT(Chosen(Select(scheduler, 20000)), IsEmpty());
  EXPECT_THAT(Chosen(Select(scheduler, 50000)), ElementsAre(2));
}

TEST(EcfSchedulerTest, DeltaIsTheLargerRttVariation) {
  EcfScheduler scheduler;
  std::vector<SubflowSnapshot> subflows = FastFullSecondFree();
  // RTTVAR_f = 10 ms: delta = 10. First test with k = 50000: 600000 < 10000 * 60 = 600000 fails.
  subflows[0] = FakeSubflow(1).Rtt(milliseconds(10), milliseconds(10)).Full();
  EXPECT_THAT(Chosen(scheduler.Select(subflows, NewData(49999))), IsEmpty());
  EcfScheduler other;
  EXPECT_THAT(Chosen(other.Select(subflows, NewData(50000))), ElementsAre(2));
}

TEST(EcfSchedulerTest, KIsAtLeastOneSegment) {
  EcfScheduler scheduler;
  // A reinjection with nothing new: k = one segment, 1000 * 50 < 220000, use x_s.
  std::vector<SubflowSnapshot> subflows = FastFullSecondFree();
  subflows.push_back(FakeSubflow(3).Rtt(milliseconds(5)));
  EXPECT_THAT(Chosen(scheduler.Select(subflows, Reinjection(Bit(3)))), ElementsAre(2));
  // x_s with a window of two segments: 1000 * 50 >= 2000 * 22, wait.
  subflows[1] = FakeSubflow(2).Rtt(milliseconds(50), milliseconds(2)).Window(2 * kMss, 0);
  EXPECT_THAT(Chosen(scheduler.Select(subflows, Reinjection(Bit(3)))), IsEmpty());
}

TEST(EcfSchedulerTest, WithoutRttSamplesItBehavesLikeTheDefault) {
  EcfScheduler scheduler;
  std::vector<SubflowSnapshot> subflows = FastFullSecondFree();
  subflows[1] = FakeSubflow(2).NoRttSample();
  EXPECT_THAT(Chosen(scheduler.Select(subflows, NewData(20000))), ElementsAre(2));
}

TEST(EcfSchedulerTest, NothingWhenNoOtherSubflowHasSpace) {
  EcfScheduler scheduler;
  std::vector<SubflowSnapshot> subflows = FastFullSecondFree();
  subflows[1] = FakeSubflow(2).Full();
  EXPECT_THAT(Chosen(scheduler.Select(subflows, NewData(60000))), IsEmpty());
}

}  // namespace
}  // namespace braid::mptcp
