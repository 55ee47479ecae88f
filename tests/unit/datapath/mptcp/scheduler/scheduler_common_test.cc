// The rules every built-in policy keeps (scheduler.h, candidates.h), run against each of them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "datapath/mptcp/scheduler/scheduler.h"
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
using ::testing::UnorderedElementsAre;

const std::vector<std::string> kBuiltIns = {"default", "roundrobin", "redundant", "blest", "ecf"};

const SubflowSnapshot* FindId(const std::vector<SubflowSnapshot>& subflows, uint32_t id) {
  for (const SubflowSnapshot& s : subflows) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

// Checks the contract of Scheduler::Select on one answer; returns the chosen ids.
std::vector<uint32_t> CheckedChoice(const ScheduleDecision& d,
                                    const std::vector<SubflowSnapshot>& subflows,
                                    const ScheduleContext& context) {
  std::vector<uint32_t> ids = Chosen(d);
  if (d.empty()) return ids;
  EXPECT_GE(d.max_bytes, 1u);
  EXPECT_LE(d.max_bytes, kSendBurstBytes);
  std::vector<uint32_t> sorted = ids;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end()) << "an id twice";
  // What the chosen tier excludes: a backup while a healthy regular one is eligible, a stale
  // one while a healthy one is.
  bool healthy_regular = false;
  bool healthy = false;
  for (const SubflowSnapshot& s : subflows) {
    if (!s.active || s.id >= 64 || (context.exclude & Bit(s.id))) continue;
    healthy_regular |= !s.stale && !s.backup;
    healthy |= !s.stale;
  }
  for (uint32_t id : ids) {
    const SubflowSnapshot* s = FindId(subflows, id);
    if (s == nullptr) {
      ADD_FAILURE() << "chose id " << id << ", which is not in the snapshot";
      continue;
    }
    EXPECT_TRUE(s->active) << "chose inactive " << id;
    EXPECT_LT(id, 64u);
    if (id < 64) {
      EXPECT_EQ(context.exclude & Bit(id), 0u) << "chose excluded " << id;
    }
    EXPECT_GT(s->send_space, 0u) << "chose " << id << " without send space";
    if (healthy_regular) {
      EXPECT_FALSE(s->backup) << "chose backup " << id;
    }
    if (healthy) {
      EXPECT_FALSE(s->stale) << "chose stale " << id;
    }
    // The connection gives a chosen subflow at most its space, or one MSS (scheduler.h).
    EXPECT_LE(d.max_bytes, std::max<uint64_t>(s->send_space, s->mss)) << "id " << id;
  }
  return ids;
}

class CommonRulesTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto created = registry_.Create(GetParam());
    ASSERT_TRUE(created.ok()) << created.status();
    scheduler_ = std::move(created).value();
  }

  std::vector<uint32_t> Select(const std::vector<SubflowSnapshot>& subflows,
                               const ScheduleContext& context = NewData()) {
    last_ = scheduler_->Select(subflows, context);
    return CheckedChoice(last_, subflows, context);
  }

  SchedulerRegistry registry_;
  std::unique_ptr<Scheduler> scheduler_;
  ScheduleDecision last_;
};

TEST(CommonRulesListTest, CoversEveryBuiltIn) {
  std::vector<std::string> names = kBuiltIns;
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, SchedulerRegistry().Names());
}

TEST_P(CommonRulesTest, ChoosesTheOnlyEligibleSubflow) {
  EXPECT_THAT(Select({FakeSubflow(4)}), ElementsAre(4));
  EXPECT_EQ(last_.max_bytes, 10 * kMss);
}

TEST_P(CommonRulesTest, NeverChoosesAnInactiveSubflow) {
  // The inactive one is the fastest and has the most space.
  const std::vector<SubflowSnapshot> subflows = {
      FakeSubflow(1).Rtt(milliseconds(1)).Space(50 * kMss).Inactive(),
      FakeSubflow(2).Rtt(milliseconds(20))};
  EXPECT_THAT(Select(subflows), ElementsAre(2));
  EXPECT_THAT(Select({FakeSubflow(1).Inactive(), FakeSubflow(2).Inactive()}), IsEmpty());
}

TEST_P(CommonRulesTest, NeverChoosesAnExcludedSubflow) {
  const std::vector<SubflowSnapshot> subflows = {FakeSubflow(1).Rtt(milliseconds(1)),
                                                 FakeSubflow(2).Rtt(milliseconds(20)),
                                                 FakeSubflow(3).Rtt(milliseconds(30))};
  ScheduleContext context = NewData();
  context.exclude = Bit(1) | Bit(3);
  EXPECT_THAT(Select(subflows, context), ElementsAre(2));
  EXPECT_THAT(Select(subflows, Reinjection(Bit(1) | Bit(2))), ElementsAre(3));
  EXPECT_THAT(Select(subflows, Reinjection(Bit(1) | Bit(2) | Bit(3))), IsEmpty());
}

TEST_P(CommonRulesTest, NeverChoosesAnIdBeyondTheExcludeMask) {
  const std::vector<SubflowSnapshot> subflows = {FakeSubflow(64).Rtt(milliseconds(1)),
                                                 FakeSubflow(70).Rtt(milliseconds(1)),
                                                 FakeSubflow(63).Rtt(milliseconds(40))};
  EXPECT_THAT(Select(subflows), ElementsAre(63));
  EXPECT_THAT(Select({FakeSubflow(64)}), IsEmpty());
}

TEST_P(CommonRulesTest, ARepeatedIdIsChosenOnce) {
  const std::vector<SubflowSnapshot> subflows = {FakeSubflow(5), FakeSubflow(5)};
  EXPECT_THAT(Select(subflows), ElementsAre(5));
}

TEST_P(CommonRulesTest, BackupsStayOutWhileARegularSubflowIsActive) {
  const std::vector<SubflowSnapshot> subflows = {FakeSubflow(1).Rtt(milliseconds(1)).Backup(),
                                                 FakeSubflow(2).Rtt(milliseconds(40)),
                                                 FakeSubflow(3).Rtt(milliseconds(2)).Backup()};
  EXPECT_THAT(Select(subflows), ElementsAre(2));
}

TEST_P(CommonRulesTest, AFullRegularSubflowStillKeepsBackupsOut) {
  const std::vector<SubflowSnapshot> subflows = {FakeSubflow(1).Full(), FakeSubflow(2).Backup()};
  EXPECT_THAT(Select(subflows), IsEmpty());
}

TEST_P(CommonRulesTest, BackupsCarryDataWhenNoRegularSubflowIsActive) {
  const std::vector<SubflowSnapshot> subflows = {FakeSubflow(1).Inactive(),
                                                 FakeSubflow(2).Backup()};
  EXPECT_THAT(Select(subflows), ElementsAre(2));
  EXPECT_THAT(Select({FakeSubflow(7).Backup()}), ElementsAre(7));
}

TEST_P(CommonRulesTest, AReinjectionGoesToABackupWhenTheRegularOneIsExcluded) {
  // RFC 8684 §3.3.6: data stuck on the only regular subflow is sent again on another one.
  const std::vector<SubflowSnapshot> subflows = {FakeSubflow(1), FakeSubflow(2).Backup()};
  EXPECT_THAT(Select(subflows, Reinjection(Bit(1))), ElementsAre(2));
}

TEST_P(CommonRulesTest, StaleSubflowsOnlyWhenNoHealthyOneIsLeft) {
  const std::vector<SubflowSnapshot> with_healthy = {FakeSubflow(1).Rtt(milliseconds(1)).Stale(),
                                                     FakeSubflow(2).Rtt(milliseconds(40))};
  EXPECT_THAT(Select(with_healthy), ElementsAre(2));
  // Kernel: stale subflows are not "active", so a healthy backup beats a stale regular one.
  const std::vector<SubflowSnapshot> stale_regular = {FakeSubflow(1).Stale(),
                                                      FakeSubflow(2).Backup()};
  EXPECT_THAT(Select(stale_regular), ElementsAre(2));
  // Only stale ones: better than nothing, the regular before the backup.
  const std::vector<SubflowSnapshot> all_stale = {
      FakeSubflow(1).Rtt(milliseconds(1)).Stale().Backup(), FakeSubflow(2).Stale()};
  EXPECT_THAT(Select(all_stale), ElementsAre(2));
}

TEST_P(CommonRulesTest, NothingWhenThereIsNothingToSend) {
  const std::vector<SubflowSnapshot> subflows = {FakeSubflow(1), FakeSubflow(2)};
  EXPECT_THAT(Select(subflows, NewData(0)), IsEmpty());
  // A reinjection has data even with nothing new.
  EXPECT_THAT(Select(subflows, Reinjection(Bit(1))), ElementsAre(2));
  EXPECT_THAT(Select({}, NewData()), IsEmpty());
}

TEST_P(CommonRulesTest, NothingWhenNoCandidateHasSendSpace) {
  const std::vector<SubflowSnapshot> subflows = {FakeSubflow(1).Full(), FakeSubflow(2).Space(0)};
  EXPECT_THAT(Select(subflows), IsEmpty());
}

TEST_P(CommonRulesTest, NeverChoosesASubflowWithoutSendSpace) {
  const std::vector<SubflowSnapshot> subflows = {FakeSubflow(1).Full(),
                                                 FakeSubflow(2).Rtt(milliseconds(11))};
  // BLEST and ECF may prefer to wait for subflow 1; if anything is chosen, it is subflow 2.
  const std::vector<uint32_t> ids = Select(subflows);
  EXPECT_TRUE(ids.empty() || ids == std::vector<uint32_t>{2});
}

TEST_P(CommonRulesTest, MaxBytesIsAtMostOneBurst) {
  // A large MSS, so that round-robin's 16-segment turn is also above one burst.
  EXPECT_THAT(Select({FakeSubflow(1).Window(1 << 24, 0).Mss(9000)}), ElementsAre(1));
  EXPECT_EQ(last_.max_bytes, kSendBurstBytes);
}

TEST_P(CommonRulesTest, MaxBytesIsAtMostTheSendSpace) {
  EXPECT_THAT(Select({FakeSubflow(1).Space(2500)}), ElementsAre(1));
  EXPECT_EQ(last_.max_bytes, 2500u);
  EXPECT_THAT(Select({FakeSubflow(1).Space(1)}), ElementsAre(1));
  // Redundant may round a small space up to one MSS (scheduler.h); the others give the space.
  EXPECT_EQ(last_.max_bytes, GetParam() == "redundant" ? kMss : 1u);
}

// Random snapshots, fixed seed: every answer keeps the contract, also after OnSent.
TEST_P(CommonRulesTest, RandomSnapshotsKeepTheContract) {
  std::mt19937 rng(20240611);
  auto pick = [&](uint32_t n) { return static_cast<uint32_t>(rng() % n); };
  int chosen = 0;
  for (int round = 0; round < 3000; ++round) {
    std::vector<SubflowSnapshot> subflows;
    const uint32_t n = pick(6);
    uint64_t used_ids = 0;  // ids 0..7 and 60..67; a connection never repeats one
    for (uint32_t i = 0; i < n; ++i) {
      const uint32_t slot = pick(16);
      if (used_ids & Bit(slot)) continue;
      used_ids |= Bit(slot);
      FakeSubflow f(slot < 8 ? slot : 52 + slot);
      if (pick(5) == 0) f.Inactive();
      if (pick(4) == 0) f.Backup();
      if (pick(6) == 0) f.Stale();
      if (pick(5) == 0) {
        f.NoRttSample();
      } else {
        f.Rtt(milliseconds(1 + pick(80)), milliseconds(pick(5)));
      }
      f.Mss(pick(10) == 0 ? 0 : 500 + pick(1000));
      const uint64_t cwnd = uint64_t{1000} * (1 + pick(100));
      f.Window(cwnd, pick(3) == 0 ? cwnd : pick(static_cast<uint32_t>(cwnd) + 1));
      subflows.push_back(f);
    }
    ScheduleContext context = NewData(pick(4) == 0 ? 0 : pick(200000), pick(300000));
    context.now = tcp::InstantFromNanos(int64_t{round} * 1'000'000);
    if (pick(4) == 0) {
      context.reinjection = true;
      context.exclude = rng() & 0xff;
    } else if (pick(4) == 0) {
      context.exclude = rng();
    }
    const std::vector<uint32_t> ids = Select(subflows, context);
    if (context.unsent == 0 && !context.reinjection) {
      EXPECT_TRUE(ids.empty());
    }
    if (!ids.empty()) {
      ++chosen;
      scheduler_->OnSent(ids.front(), std::min<uint64_t>(last_.max_bytes, 1 + pick(70000)));
    }
    if (HasFailure()) {
      ADD_FAILURE() << "round " << round;
      break;
    }
  }
  EXPECT_GT(chosen, 500);  // the generator does exercise choices
}

INSTANTIATE_TEST_SUITE_P(BuiltIns, CommonRulesTest, ::testing::ValuesIn(kBuiltIns),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                           return param_info.param;
                         });

}  // namespace
}  // namespace braid::mptcp
