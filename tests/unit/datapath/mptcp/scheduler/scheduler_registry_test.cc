#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "datapath/mptcp/scheduler/scheduler.h"
#include "tests/unit/datapath/mptcp/scheduler/fake_subflows.h"

namespace braid::mptcp {
namespace {

using ::testing::ElementsAre;
using testing::FakeSubflow;
using ::testing::HasSubstr;
using testing::NewData;

// A policy of the test's own: always the highest id.
class HighestIdScheduler final : public Scheduler {
 public:
  std::string_view name() const override { return "highest"; }
  ScheduleDecision Select(std::span<const SubflowSnapshot> subflows,
                          const ScheduleContext&) override {
    ScheduleDecision d;
    if (subflows.empty()) return d;
    uint32_t id = 0;
    for (const SubflowSnapshot& s : subflows) id = std::max(id, s.id);
    d.Add(id);
    d.max_bytes = 1;
    return d;
  }
};

SchedulerFactory HighestFactory() {
  return [] { return std::make_unique<HighestIdScheduler>(); };
}

TEST(SchedulerRegistryTest, HoldsTheBuiltInsSorted) {
  SchedulerRegistry registry;
  EXPECT_EQ(SchedulerRegistry::kDefault, "default");
  EXPECT_THAT(registry.Names(), ElementsAre("blest", "default", "ecf", "redundant", "roundrobin"));
  for (std::string_view name : {"default", "roundrobin", "redundant", "blest", "ecf"}) {
    EXPECT_TRUE(registry.Contains(name)) << name;
  }
  EXPECT_FALSE(registry.Contains("minrtt"));
  EXPECT_FALSE(registry.Contains(""));
  // Names are exact: no case folding.
  EXPECT_FALSE(registry.Contains("Default"));
}

TEST(SchedulerRegistryTest, CreatesEachBuiltInUnderItsName) {
  SchedulerRegistry registry;
  for (const std::string& name : registry.Names()) {
    auto scheduler = registry.Create(name);
    ASSERT_TRUE(scheduler.ok()) << scheduler.status();
    ASSERT_NE(*scheduler, nullptr);
    EXPECT_EQ((*scheduler)->name(), name);
  }
}

TEST(SchedulerRegistryTest, EachCreateIsANewSchedulerWithItsOwnState) {
  SchedulerRegistry registry;
  auto a = registry.Create("roundrobin");
  auto b = registry.Create("roundrobin");
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_NE(a->get(), b->get());
  const std::vector<SubflowSnapshot> subflows = {FakeSubflow(1), FakeSubflow(2)};
  // a's turn moves on after a send on subflow 1; b, another connection's, still starts at 1.
  (*a)->OnSent(1, 1000);
  EXPECT_THAT(testing::Chosen((*a)->Select(subflows, NewData())), ElementsAre(2));
  EXPECT_THAT(testing::Chosen((*b)->Select(subflows, NewData())), ElementsAre(1));
}

TEST(SchedulerRegistryTest, UnknownNameIsNotFoundNamingItAndTheKnownOnes) {
  SchedulerRegistry registry;
  auto scheduler = registry.Create("minrtt");
  ASSERT_FALSE(scheduler.ok());
  EXPECT_EQ(scheduler.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(scheduler.status().message(),
            "unknown scheduler \"minrtt\"; known: blest, default, ecf, redundant, roundrobin");
  EXPECT_EQ(registry.Create("").status().code(), absl::StatusCode::kNotFound);
}

TEST(SchedulerRegistryTest, RegistersAndCreatesANewPolicy) {
  SchedulerRegistry registry;
  ASSERT_TRUE(registry.Register("highest", HighestFactory()).ok());
  EXPECT_TRUE(registry.Contains("highest"));
  EXPECT_THAT(registry.Names(),
              ElementsAre("blest", "default", "ecf", "highest", "redundant", "roundrobin"));
  auto scheduler = registry.Create("highest");
  ASSERT_TRUE(scheduler.ok());
  EXPECT_EQ((*scheduler)->name(), "highest");
  // Unknown-name errors now list it too.
  EXPECT_THAT(registry.Create("lowest").status().message(), HasSubstr("ecf, highest, redundant"));
}

TEST(SchedulerRegistryTest, RegisterRefusesATakenName) {
  SchedulerRegistry registry;
  ASSERT_TRUE(registry.Register("highest", HighestFactory()).ok());
  absl::Status again = registry.Register("highest", HighestFactory());
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(again.message(), "scheduler \"highest\" is already registered");
  absl::Status builtin = registry.Register("ecf", HighestFactory());
  EXPECT_EQ(builtin.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(builtin.message(), HasSubstr("\"ecf\""));
  // The built-in is still the one created.
  EXPECT_EQ((*registry.Create("ecf"))->name(), "ecf");
}

TEST(SchedulerRegistryTest, RegisterRefusesAnEmptyNameOrANullFactory) {
  SchedulerRegistry registry;
  absl::Status empty = registry.Register("", HighestFactory());
  EXPECT_EQ(empty.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(empty.message(), "scheduler name must not be empty");
  absl::Status null = registry.Register("highest", nullptr);
  EXPECT_EQ(null.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(null.message(), "scheduler \"highest\" has no factory");
  EXPECT_FALSE(registry.Contains("highest"));
  EXPECT_EQ(registry.Names().size(), 5u);
}

TEST(SchedulerRegistryTest, DefaultCannotBeReplaced) {
  SchedulerRegistry registry;
  absl::Status replace = registry.Register("default", HighestFactory());
  EXPECT_EQ(replace.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(replace.message(),
            "scheduler \"default\" is the built-in default and cannot be replaced");
  // Still the lowest-RTT scheduler: subflow 1 is the faster one, "highest" would pick 2.
  auto scheduler = registry.Create("default");
  ASSERT_TRUE(scheduler.ok());
  const std::vector<SubflowSnapshot> subflows = {FakeSubflow(1).Rtt(std::chrono::milliseconds(5)),
                                                 FakeSubflow(2).Rtt(std::chrono::milliseconds(50))};
  EXPECT_THAT(testing::Chosen((*scheduler)->Select(subflows, NewData())), ElementsAre(1));
}

TEST(SchedulerRegistryTest, DefaultCannotBeUnregistered) {
  SchedulerRegistry registry;
  absl::Status removed = registry.Unregister("default");
  EXPECT_EQ(removed.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(removed.message(), "scheduler \"default\" is the default and cannot be removed");
  EXPECT_TRUE(registry.Contains("default"));
  EXPECT_TRUE(registry.Create("default").ok());
}

TEST(SchedulerRegistryTest, UnregistersOtherPolicies) {
  SchedulerRegistry registry;
  ASSERT_TRUE(registry.Unregister("roundrobin").ok());
  EXPECT_FALSE(registry.Contains("roundrobin"));
  auto gone = registry.Create("roundrobin");
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(gone.status().message(),
            "unknown scheduler \"roundrobin\"; known: blest, default, ecf, redundant");

  absl::Status twice = registry.Unregister("roundrobin");
  EXPECT_EQ(twice.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(twice.message(),
            "unknown scheduler \"roundrobin\"; known: blest, default, ecf, redundant");

  // The name is free again.
  ASSERT_TRUE(registry.Register("roundrobin", HighestFactory()).ok());
  EXPECT_EQ((*registry.Create("roundrobin"))->name(), "highest");
  ASSERT_TRUE(registry.Register("custom", HighestFactory()).ok());
  EXPECT_TRUE(registry.Unregister("custom").ok());
  EXPECT_FALSE(registry.Contains("custom"));
}

TEST(SchedulerRegistryTest, AFactoryThatReturnsNothingIsAnInternalError) {
  SchedulerRegistry registry;
  ASSERT_TRUE(registry.Register("broken", [] { return std::unique_ptr<Scheduler>(); }).ok());
  auto scheduler = registry.Create("broken");
  EXPECT_EQ(scheduler.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(scheduler.status().message(), HasSubstr("\"broken\""));
}

}  // namespace
}  // namespace braid::mptcp
