#include "datapath/mptcp/scheduler/redundant.h"

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

TEST(RedundantSchedulerTest, SendsTheSameDataOnEverySubflowFastestFirst) {
  RedundantScheduler scheduler;
  EXPECT_EQ(scheduler.name(), "redundant");
  const std::vector<SubflowSnapshot> subflows = {FakeSubflow(1).Rtt(milliseconds(30)).Space(20000),
                                                 FakeSubflow(2).Rtt(milliseconds(10)).Space(5000),
                                                 FakeSubflow(3).Rtt(milliseconds(20)).Space(40000)};
  const ScheduleDecision d = scheduler.Select(subflows, NewData());
  EXPECT_THAT(Chosen(d), ElementsAre(2, 3, 1));
  EXPECT_EQ(d.max_bytes, 5000u);  // each can take it now
}

TEST(RedundantSchedulerTest, DuplicatesOnEveryCallWithoutState) {
  RedundantScheduler scheduler;
  const std::vector<SubflowSnapshot> subflows = {FakeSubflow(1), FakeSubflow(2)};
  for (int i = 0; i < 3; ++i) {
    const ScheduleDecision d = scheduler.Select(subflows, NewData());
    EXPECT_THAT(Chosen(d), ElementsAre(1, 2));
    scheduler.OnSent(1, d.max_bytes);
    scheduler.OnSent(2, d.max_bytes);
  }
}

TEST(RedundantSchedulerTest, ASpaceBelowOneSegmentCountsAsOneSegment) {
  RedundantScheduler scheduler;
  const std::vector<SubflowSnapshot> subflows = {FakeSubflow(1).Space(300),
                                                 FakeSubflow(2).Space(20000)};
  const ScheduleDecision d = scheduler.Select(subflows, NewData());
  EXPECT_THAT(Chosen(d), ElementsAre(1, 2));
  EXPECT_EQ(d.max_bytes, kMss);
}

TEST(RedundantSchedulerTest, MaxBytesIsAtMostOneBurst) {
  RedundantScheduler scheduler;
  const std::vector<SubflowSnapshot> subflows = {FakeSubflow(1).Space(1 << 20),
                                                 FakeSubflow(2).Space(1 << 21)};
  EXPECT_EQ(scheduler.Select(subflows, NewData()).max_bytes, kSendBurstBytes);
}

TEST(RedundantSchedulerTest, SkipsSubflowsWithoutSpace) {
  RedundantScheduler scheduler;
  const std::vector<SubflowSnapshot> subflows = {FakeSubflow(1).Full(), FakeSubflow(2),
                                                 FakeSubflow(3).Space(2000)};
  const ScheduleDecision d = scheduler.Select(subflows, NewData());
  EXPECT_THAT(Chosen(d), ElementsAre(2, 3));
  EXPECT_EQ(d.max_bytes, 2000u);
}

TEST(RedundantSchedulerTest, WaitsWhenNoSubflowHasSpace) {
  RedundantScheduler scheduler;
  const std::vector<SubflowSnapshot> subflows = {FakeSubflow(1).Full(), FakeSubflow(2).Full(),
                                                 FakeSubflow(3).Backup()};
  EXPECT_THAT(Chosen(scheduler.Select(subflows, NewData())), IsEmpty());
}

TEST(RedundantSchedulerTest, DuplicatesToTheRegularSubflowsOrElseTheBackups) {
  RedundantScheduler scheduler;
  std::vector<SubflowSnapshot> subflows = {FakeSubflow(1), FakeSubflow(2).Backup(), FakeSubflow(3),
                                           FakeSubflow(4).Backup()};
  EXPECT_THAT(Chosen(scheduler.Select(subflows, NewData())), ElementsAre(1, 3));
  subflows[0] = FakeSubflow(1).Inactive();
  subflows[2] = FakeSubflow(3).Stale();
  EXPECT_THAT(Chosen(scheduler.Select(subflows, NewData())), ElementsAre(2, 4));
}

TEST(RedundantSchedulerTest, AReinjectionSkipsTheSubflowsThatHadTheData) {
  RedundantScheduler scheduler;
  const std::vector<SubflowSnapshot> subflows = {FakeSubflow(1), FakeSubflow(2), FakeSubflow(3)};
  EXPECT_THAT(Chosen(scheduler.Select(subflows, Reinjection(Bit(2)))), ElementsAre(1, 3));
}

TEST(RedundantSchedulerTest, KeepsTheFastestWhenThereAreMoreSubflowsThanChoices) {
  RedundantScheduler scheduler;
  std::vector<SubflowSnapshot> subflows;
  // Ten subflows, id i with RTT (20 - i) ms: the eight fastest are ids 9 down to 2. The two left
  // out have little space, which must not shrink the chunk of the others.
  for (uint32_t id = 0; id < 10; ++id) {
    subflows.push_back(FakeSubflow(id).Rtt(milliseconds(20 - id)).Space(id < 2 ? 2000 : 9000));
  }
  const ScheduleDecision d = scheduler.Select(subflows, NewData());
  EXPECT_THAT(Chosen(d), ElementsAre(9, 8, 7, 6, 5, 4, 3, 2));
  EXPECT_EQ(d.max_bytes, 9000u);
}

}  // namespace
}  // namespace braid::mptcp
