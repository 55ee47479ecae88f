#include "datapath/mptcp/scheduler/lowest_rtt.h"

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

TEST(LowestRttSchedulerTest, IsTheDefault) {
  LowestRttScheduler scheduler;
  EXPECT_EQ(scheduler.name(), "default");
}

TEST(LowestRttSchedulerTest, ChoosesTheLowestSmoothedRtt) {
  LowestRttScheduler scheduler;
  const std::vector<SubflowSnapshot> subflows = {FakeSubflow(1).Rtt(milliseconds(30)),
                                                 FakeSubflow(2).Rtt(milliseconds(10)).Space(4000),
                                                 FakeSubflow(3).Rtt(milliseconds(20))};
  const ScheduleDecision d = scheduler.Select(subflows, NewData());
  EXPECT_THAT(Chosen(d), ElementsAre(2));
  EXPECT_EQ(d.max_bytes, 4000u);
}

TEST(LowestRttSchedulerTest, SkipsAFastestSubflowWithoutSpace) {
  LowestRttScheduler scheduler;
  const std::vector<SubflowSnapshot> subflows = {FakeSubflow(1).Rtt(milliseconds(30)),
                                                 FakeSubflow(2).Rtt(milliseconds(10)).Full(),
                                                 FakeSubflow(3).Rtt(milliseconds(20))};
  EXPECT_THAT(Chosen(scheduler.Select(subflows, NewData())), ElementsAre(3));
}

TEST(LowestRttSchedulerTest, ASubflowWithoutRttSampleRanksLast) {
  LowestRttScheduler scheduler;
  const std::vector<SubflowSnapshot> subflows = {FakeSubflow(1).NoRttSample(),
                                                 FakeSubflow(2).Rtt(milliseconds(500))};
  EXPECT_THAT(Chosen(scheduler.Select(subflows, NewData())), ElementsAre(2));
  LowestRttScheduler fresh;
  const std::vector<SubflowSnapshot> none_measured = {FakeSubflow(4).NoRttSample(),
                                                      FakeSubflow(3).NoRttSample()};
  EXPECT_THAT(Chosen(fresh.Select(none_measured, NewData())), ElementsAre(3));
}

TEST(LowestRttSchedulerTest, EqualRttsGoToTheLowestId) {
  LowestRttScheduler scheduler;
  const std::vector<SubflowSnapshot> subflows = {FakeSubflow(5).Rtt(milliseconds(10)),
                                                 FakeSubflow(3).Rtt(milliseconds(10)),
                                                 FakeSubflow(4).Rtt(milliseconds(10))};
  EXPECT_THAT(Chosen(scheduler.Select(subflows, NewData())), ElementsAre(3));
}

TEST(LowestRttSchedulerTest, MaxBytesIsTheSpaceUpToOneBurst) {
  LowestRttScheduler scheduler;
  EXPECT_EQ(scheduler.Select(std::vector<SubflowSnapshot>{FakeSubflow(1).Space(7000)}, NewData())
                .max_bytes,
            7000u);
  LowestRttScheduler other;
  EXPECT_EQ(other.Select(std::vector<SubflowSnapshot>{FakeSubflow(1).Space(1 << 20)}, NewData())
                .max_bytes,
            kSendBurstBytes);
}

// The kernel's snd_burst: once chosen, a subflow keeps the data for one burst even if another one
// becomes faster meanwhile.
TEST(LowestRttSchedulerTest, KeepsTheChosenSubflowForOneBurst) {
  LowestRttScheduler scheduler;
  std::vector<SubflowSnapshot> subflows = {FakeSubflow(1).Rtt(milliseconds(20)).Space(1 << 20),
                                           FakeSubflow(2).Rtt(milliseconds(30)).Space(1 << 20)};
  ASSERT_THAT(Chosen(scheduler.Select(subflows, NewData())), ElementsAre(1));
  scheduler.OnSent(1, 20000);

  subflows[1] = FakeSubflow(2).Rtt(milliseconds(5)).Space(1 << 20);  // 2 is now the faster one
  ScheduleDecision d = scheduler.Select(subflows, NewData());
  EXPECT_THAT(Chosen(d), ElementsAre(1));
  EXPECT_EQ(d.max_bytes, kSendBurstBytes - 20000);  // what is left of the burst
  scheduler.OnSent(1, 40000);
  d = scheduler.Select(subflows, NewData());
  EXPECT_THAT(Chosen(d), ElementsAre(1));
  EXPECT_EQ(d.max_bytes, kSendBurstBytes - 60000);
  scheduler.OnSent(1, kSendBurstBytes - 60000);

  // Burst used up: decide again, and a new burst starts on the faster subflow.
  d = scheduler.Select(subflows, NewData());
  EXPECT_THAT(Chosen(d), ElementsAre(2));
  EXPECT_EQ(d.max_bytes, kSendBurstBytes);
  scheduler.OnSent(2, 1000);
  EXPECT_THAT(Chosen(scheduler.Select(subflows, NewData())), ElementsAre(2));
}

TEST(LowestRttSchedulerTest, ABurstBoundsTheChunkButNotBelowTheSpace) {
  LowestRttScheduler scheduler;
  const std::vector<SubflowSnapshot> subflows = {FakeSubflow(1).Space(3000)};
  ASSERT_EQ(scheduler.Select(subflows, NewData()).max_bytes, 3000u);
  scheduler.OnSent(1, 3000);
  EXPECT_EQ(scheduler.Select(subflows, NewData()).max_bytes, 3000u);
}

TEST(LowestRttSchedulerTest, TheBurstEndsWhenItsSubflowFillsUp) {
  LowestRttScheduler scheduler;
  std::vector<SubflowSnapshot> subflows = {FakeSubflow(1).Rtt(milliseconds(20)),
                                           FakeSubflow(2).Rtt(milliseconds(30))};
  ASSERT_THAT(Chosen(scheduler.Select(subflows, NewData())), ElementsAre(1));
  scheduler.OnSent(1, 10 * kMss);
  subflows[0] = FakeSubflow(1).Rtt(milliseconds(20)).Full();
  EXPECT_THAT(Chosen(scheduler.Select(subflows, NewData())), ElementsAre(2));
  scheduler.OnSent(2, 1000);
  // 1 has room again but 2 holds the burst now.
  subflows[0] = FakeSubflow(1).Rtt(milliseconds(20));
  EXPECT_THAT(Chosen(scheduler.Select(subflows, NewData())), ElementsAre(2));
}

TEST(LowestRttSchedulerTest, TheBurstEndsWhenItsSubflowIsNoLongerACandidate) {
  const std::vector<SubflowSnapshot> start = {FakeSubflow(1).Rtt(milliseconds(20)),
                                              FakeSubflow(2).Rtt(milliseconds(30))};
  for (int variant = 0; variant < 3; ++variant) {
    LowestRttScheduler scheduler;
    ASSERT_THAT(Chosen(scheduler.Select(start, NewData())), ElementsAre(1));
    scheduler.OnSent(1, 1000);
    std::vector<SubflowSnapshot> later = start;
    ScheduleContext context = NewData();
    if (variant == 0) later[0] = FakeSubflow(1).Rtt(milliseconds(20)).Inactive();
    if (variant == 1) later[0] = FakeSubflow(1).Rtt(milliseconds(20)).Stale();
    if (variant == 2) context.exclude = Bit(1);
    EXPECT_THAT(Chosen(scheduler.Select(later, context)), ElementsAre(2)) << "variant " << variant;
  }
}

TEST(LowestRttSchedulerTest, ReinjectionsNeitherUseNorDisturbTheBurst) {
  LowestRttScheduler scheduler;
  std::vector<SubflowSnapshot> subflows = {FakeSubflow(1).Rtt(milliseconds(20)),
                                           FakeSubflow(2).Rtt(milliseconds(30)),
                                           FakeSubflow(3).Rtt(milliseconds(40))};
  ASSERT_THAT(Chosen(scheduler.Select(subflows, NewData())), ElementsAre(1));
  scheduler.OnSent(1, 1000);
  subflows[2] = FakeSubflow(3).Rtt(milliseconds(5));
  // The fastest candidate, not the burst's subflow.
  EXPECT_THAT(Chosen(scheduler.Select(subflows, Reinjection(Bit(2)))), ElementsAre(3));
  scheduler.OnSent(3, 5000);
  EXPECT_THAT(Chosen(scheduler.Select(subflows, Reinjection(Bit(3)))), ElementsAre(1));
  scheduler.OnSent(1, kSendBurstBytes);  // a reinjection's bytes do not use up the burst
  const ScheduleDecision d = scheduler.Select(subflows, NewData());
  EXPECT_THAT(Chosen(d), ElementsAre(1));
  EXPECT_EQ(d.max_bytes, 10 * kMss);
}

TEST(LowestRttSchedulerTest, BytesSentOnAnotherSubflowDoNotCount) {
  LowestRttScheduler scheduler;
  const std::vector<SubflowSnapshot> subflows = {FakeSubflow(1).Space(1 << 20)};
  ASSERT_THAT(Chosen(scheduler.Select(subflows, NewData())), ElementsAre(1));
  scheduler.OnSent(7, 50000);
  EXPECT_EQ(scheduler.Select(subflows, NewData()).max_bytes, kSendBurstBytes);
}

TEST(LowestRttSchedulerTest, NothingWhenEveryCandidateIsFull) {
  LowestRttScheduler scheduler;
  const std::vector<SubflowSnapshot> subflows = {FakeSubflow(1).Full(), FakeSubflow(2).Full()};
  EXPECT_THAT(Chosen(scheduler.Select(subflows, NewData())), IsEmpty());
}

}  // namespace
}  // namespace braid::mptcp
