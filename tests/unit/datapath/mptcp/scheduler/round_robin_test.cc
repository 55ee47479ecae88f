#include "datapath/mptcp/scheduler/round_robin.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
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

// Select and send the whole chunk `n` times; the ids in order.
std::vector<uint32_t> Turns(RoundRobinScheduler& scheduler,
                            const std::vector<SubflowSnapshot>& subflows, int n) {
  std::vector<uint32_t> ids;
  for (int i = 0; i < n; ++i) {
    const ScheduleDecision d = scheduler.Select(subflows, NewData());
    if (d.empty()) break;
    ids.push_back(d.subflows[0]);
    scheduler.OnSent(d.subflows[0], d.max_bytes);
  }
  return ids;
}

TEST(RoundRobinSchedulerTest, RotatesInIdOrder) {
  RoundRobinScheduler scheduler;
  EXPECT_EQ(scheduler.name(), "roundrobin");
  // Snapshot order and RTT do not matter.
  const std::vector<SubflowSnapshot> subflows = {
      FakeSubflow(3).Rtt(milliseconds(1)), FakeSubflow(1).Rtt(milliseconds(90)), FakeSubflow(2)};
  EXPECT_THAT(Turns(scheduler, subflows, 7), ElementsAre(1, 2, 3, 1, 2, 3, 1));
}

TEST(RoundRobinSchedulerTest, ASubflowWithoutSpaceLosesItsTurn) {
  RoundRobinScheduler scheduler;
  std::vector<SubflowSnapshot> subflows = {FakeSubflow(1), FakeSubflow(2).Full(), FakeSubflow(3)};
  EXPECT_THAT(Turns(scheduler, subflows, 4), ElementsAre(1, 3, 1, 3));
  subflows[1] = FakeSubflow(2);
  EXPECT_THAT(Turns(scheduler, subflows, 3), ElementsAre(1, 2, 3));
}

TEST(RoundRobinSchedulerTest, TheTurnMovesOnlyWhenDataWasSent) {
  RoundRobinScheduler scheduler;
  const std::vector<SubflowSnapshot> subflows = {FakeSubflow(1), FakeSubflow(2)};
  EXPECT_THAT(Chosen(scheduler.Select(subflows, NewData())), ElementsAre(1));
  EXPECT_THAT(Chosen(scheduler.Select(subflows, NewData())), ElementsAre(1));
  scheduler.OnSent(1, 0);  // nothing went out
  EXPECT_THAT(Chosen(scheduler.Select(subflows, NewData())), ElementsAre(1));
  scheduler.OnSent(1, 10);
  EXPECT_THAT(Chosen(scheduler.Select(subflows, NewData())), ElementsAre(2));
}

TEST(RoundRobinSchedulerTest, EverySubflowGetsTheSameShareOverManyTurns) {
  RoundRobinScheduler scheduler;
  const std::vector<SubflowSnapshot> subflows = {
      FakeSubflow(1).Rtt(milliseconds(5)).Space(1 << 20),
      FakeSubflow(4).Rtt(milliseconds(50)).Space(1 << 20),
      FakeSubflow(9).Rtt(milliseconds(500)).Space(1 << 20)};
  std::map<uint32_t, int> turns;
  std::map<uint32_t, uint64_t> bytes;
  for (int i = 0; i < 300; ++i) {
    const ScheduleDecision d = scheduler.Select(subflows, NewData());
    ASSERT_EQ(d.count, 1u);
    ++turns[d.subflows[0]];
    bytes[d.subflows[0]] += d.max_bytes;
    scheduler.OnSent(d.subflows[0], d.max_bytes);
  }
  EXPECT_EQ(turns, (std::map<uint32_t, int>{{1, 100}, {4, 100}, {9, 100}}));
  EXPECT_EQ(bytes, (std::map<uint32_t, uint64_t>{
                       {1, 100 * 16 * kMss}, {4, 100 * 16 * kMss}, {9, 100 * 16 * kMss}}));
}

TEST(RoundRobinSchedulerTest, ATurnIsSixteenSegmentsByDefault) {
  RoundRobinScheduler scheduler;
  auto chunk = [&](const FakeSubflow& f) {
    return scheduler.Select(std::vector<SubflowSnapshot>{f}, NewData()).max_bytes;
  };
  EXPECT_EQ(chunk(FakeSubflow(1).Space(1 << 20)), 16 * kMss);
  EXPECT_EQ(chunk(FakeSubflow(1).Space(1 << 20).Mss(1460)), 16u * 1460);
  // 16 jumbo segments are more than one burst.
  EXPECT_EQ(chunk(FakeSubflow(1).Space(1 << 20).Mss(9000)), kSendBurstBytes);
  // No MSS known yet: one burst.
  EXPECT_EQ(chunk(FakeSubflow(1).Space(1 << 20).Mss(0)), kSendBurstBytes);
  // Less space than a turn: the space.
  EXPECT_EQ(chunk(FakeSubflow(1).Space(5000)), 5000u);
}

TEST(RoundRobinSchedulerTest, TheQuantumIsConfigurable) {
  RoundRobinScheduler scheduler(RoundRobinConfig{.quantum_bytes = 3000});
  const std::vector<SubflowSnapshot> subflows = {FakeSubflow(1).Space(1 << 20),
                                                 FakeSubflow(2).Space(2000)};
  ScheduleDecision d = scheduler.Select(subflows, NewData());
  EXPECT_THAT(Chosen(d), ElementsAre(1));
  EXPECT_EQ(d.max_bytes, 3000u);
  scheduler.OnSent(1, 3000);
  d = scheduler.Select(subflows, NewData());
  EXPECT_THAT(Chosen(d), ElementsAre(2));
  EXPECT_EQ(d.max_bytes, 2000u);
  RoundRobinScheduler huge(RoundRobinConfig{.quantum_bytes = 1 << 20});
  EXPECT_EQ(huge.Select(subflows, NewData()).max_bytes, kSendBurstBytes);
}

TEST(RoundRobinSchedulerTest, SubflowsThatComeAndGoKeepTheirPlaceInTheCycle) {
  RoundRobinScheduler scheduler;
  std::vector<SubflowSnapshot> subflows = {FakeSubflow(1), FakeSubflow(2)};
  EXPECT_THAT(Turns(scheduler, subflows, 2), ElementsAre(1, 2));
  // 5 joins: it comes after 2, before the cycle restarts.
  subflows.push_back(FakeSubflow(5));
  EXPECT_THAT(Turns(scheduler, subflows, 4), ElementsAre(5, 1, 2, 5));
  // 5, which had the last turn, leaves: the cycle continues from where it was.
  subflows.pop_back();
  EXPECT_THAT(Turns(scheduler, subflows, 3), ElementsAre(1, 2, 1));
  // 2, whose turn it is next, leaves.
  subflows = {FakeSubflow(1), FakeSubflow(3)};
  EXPECT_THAT(Turns(scheduler, subflows, 2), ElementsAre(3, 1));
}

TEST(RoundRobinSchedulerTest, RotatesOverBackupsOnlyWhenNoRegularSubflowIsActive) {
  RoundRobinScheduler scheduler;
  std::vector<SubflowSnapshot> subflows = {FakeSubflow(1).Backup(), FakeSubflow(2),
                                           FakeSubflow(3).Backup(), FakeSubflow(4)};
  EXPECT_THAT(Turns(scheduler, subflows, 3), ElementsAre(2, 4, 2));
  subflows[1] = FakeSubflow(2).Inactive();
  subflows[3] = FakeSubflow(4).Inactive();
  EXPECT_THAT(Turns(scheduler, subflows, 3), ElementsAre(3, 1, 3));
}

TEST(RoundRobinSchedulerTest, NothingWhenNoCandidateHasSpace) {
  RoundRobinScheduler scheduler;
  EXPECT_THAT(Turns(scheduler, {FakeSubflow(1).Full(), FakeSubflow(2).Full()}, 3), IsEmpty());
}

}  // namespace
}  // namespace braid::mptcp
