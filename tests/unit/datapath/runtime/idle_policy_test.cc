#include "datapath/runtime/idle_policy.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "datapath/tcp/time.h"

namespace braid::runtime {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using tcp::Duration;
using tcp::Instant;

const Instant kT0 = tcp::InstantFromNanos(5'000'000'000);
constexpr Duration kZero = Duration::zero();

TEST(IdleModeTest, ParsesAndNamesTheModes) {
  EXPECT_EQ(ParseIdleMode("busy"), IdleMode::kBusyPoll);
  EXPECT_EQ(ParseIdleMode("adaptive"), IdleMode::kAdaptive);
  for (const char* bad : {"", "Busy", "adaptive ", "spin", "sleep"}) {
    EXPECT_EQ(ParseIdleMode(bad), std::nullopt) << bad;
  }
  for (IdleMode mode : {IdleMode::kBusyPoll, IdleMode::kAdaptive}) {
    EXPECT_EQ(ParseIdleMode(IdleModeName(mode)), mode);
  }
}

TEST(IdleConfigTest, DefaultsAreValid) {
  const IdleConfig config;
  EXPECT_EQ(config.mode, IdleMode::kAdaptive);
  EXPECT_EQ(config.spin, microseconds(200));
  EXPECT_EQ(config.min_sleep, microseconds(10));
  EXPECT_EQ(config.max_sleep, milliseconds(1));
  EXPECT_TRUE(config.Validate().ok());
}

TEST(IdleConfigTest, RejectsBadDurationsNamingTheField) {
  struct Case {
    IdleConfig config;
    std::string field;
  };
  const std::vector<Case> cases = {
      {IdleConfig{.spin = microseconds(-1)}, "spin"},
      {IdleConfig{.min_sleep = kZero}, "min_sleep"},
      {IdleConfig{.min_sleep = microseconds(-10)}, "min_sleep"},
      {IdleConfig{.min_sleep = milliseconds(2), .max_sleep = milliseconds(1)}, "max_sleep"},
      {IdleConfig{.max_sleep = std::chrono::seconds(2)}, "max_sleep"},
  };
  for (const Case& c : cases) {
    const absl::Status status = c.config.Validate();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_NE(status.message().find(c.field), std::string::npos) << status.message();
  }
  // Edges that are fine: no spin, a fixed sleep, the longest sleep.
  EXPECT_TRUE((IdleConfig{.spin = kZero}).Validate().ok());
  EXPECT_TRUE(
      (IdleConfig{.min_sleep = microseconds(50), .max_sleep = microseconds(50)}).Validate().ok());
  EXPECT_TRUE((IdleConfig{.max_sleep = IdleConfig::kMaxSleepLimit}).Validate().ok());
}

TEST(IdlePolicyTest, BusyPollNeverSleeps) {
  IdlePolicy policy(IdleConfig{.mode = IdleMode::kBusyPoll});
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(policy.OnIteration(kT0 + milliseconds(i), false, std::nullopt), kZero);
  }
  EXPECT_EQ(policy.stats().iterations, 1000u);
  EXPECT_EQ(policy.stats().idle_iterations, 1000u);
  EXPECT_EQ(policy.stats().busy_iterations, 0u);
}

TEST(IdlePolicyTest, SpinsAfterWorkThenSleepsDoublingUpToTheMaximum) {
  IdlePolicy policy(IdleConfig{});
  EXPECT_EQ(policy.OnIteration(kT0, true, std::nullopt), kZero);
  // Polls for the whole spin after the last work.
  for (int us = 1; us < 200; us += 7) {
    EXPECT_EQ(policy.OnIteration(kT0 + microseconds(us), false, std::nullopt), kZero) << us;
  }
  Instant now = kT0 + microseconds(200);
  std::vector<Duration> sleeps;
  for (int i = 0; i < 9; ++i) {
    const Duration d = policy.OnIteration(now, false, std::nullopt);
    sleeps.push_back(d);
    now += d;
  }
  EXPECT_EQ(sleeps, (std::vector<Duration>{microseconds(10), microseconds(20), microseconds(40),
                                           microseconds(80), microseconds(160), microseconds(320),
                                           microseconds(640), milliseconds(1), milliseconds(1)}));
}

TEST(IdlePolicyTest, WorkResetsToPollingAndRestartsTheDoubling) {
  IdlePolicy policy(IdleConfig{.spin = microseconds(100)});
  Instant now = kT0;
  policy.OnIteration(now, true, std::nullopt);
  now += microseconds(100);
  EXPECT_EQ(policy.OnIteration(now, false, std::nullopt), microseconds(10));
  now += microseconds(10);
  EXPECT_EQ(policy.OnIteration(now, false, std::nullopt), microseconds(20));
  now += microseconds(20);
  EXPECT_EQ(policy.OnIteration(now, true, std::nullopt), kZero);  // work: poll
  EXPECT_EQ(policy.OnIteration(now + microseconds(99), false, std::nullopt), kZero);
  EXPECT_EQ(policy.OnIteration(now + microseconds(100), false, std::nullopt), microseconds(10));
}

TEST(IdlePolicyTest, NeverSleepsPastTheNextDeadline) {
  IdlePolicy policy(IdleConfig{.spin = kZero});
  Instant now = kT0;
  EXPECT_EQ(policy.OnIteration(now, true, std::nullopt), kZero);
  // Grow the sleep to the maximum.
  for (int i = 0; i < 10; ++i) now += policy.OnIteration(now, false, std::nullopt);
  EXPECT_EQ(policy.OnIteration(now, false, std::nullopt), milliseconds(1));
  now += milliseconds(1);
  EXPECT_EQ(policy.OnIteration(now, false, now + microseconds(300)), microseconds(300));
  EXPECT_EQ(policy.OnIteration(now, false, now + microseconds(10)), microseconds(10));
  // Closer than min_sleep, due, or overdue: poll until it fires.
  EXPECT_EQ(policy.OnIteration(now, false, now + microseconds(9)), kZero);
  EXPECT_EQ(policy.OnIteration(now, false, now), kZero);
  EXPECT_EQ(policy.OnIteration(now, false, now - milliseconds(5)), kZero);
  // A far deadline does not shorten the sleep.
  EXPECT_EQ(policy.OnIteration(now, false, now + std::chrono::seconds(5)), milliseconds(1));
}

TEST(IdlePolicyTest, TheFirstIterationStartsTheSpin) {
  IdlePolicy policy(IdleConfig{.spin = microseconds(50)});
  EXPECT_EQ(policy.OnIteration(kT0, false, std::nullopt), kZero);
  EXPECT_EQ(policy.OnIteration(kT0 + microseconds(49), false, std::nullopt), kZero);
  EXPECT_EQ(policy.OnIteration(kT0 + microseconds(50), false, std::nullopt), microseconds(10));
}

TEST(IdlePolicyTest, CountsIterations) {
  IdlePolicy policy(IdleConfig{});
  for (int i = 0; i < 30; ++i) policy.OnIteration(kT0 + microseconds(i), i % 3 == 0, std::nullopt);
  EXPECT_EQ(policy.stats().iterations, 30u);
  EXPECT_EQ(policy.stats().busy_iterations, 10u);
  EXPECT_EQ(policy.stats().idle_iterations, 20u);
  EXPECT_EQ(policy.stats().sleeps, 0u);  // deciding to sleep is not sleeping
}

TEST(IdlePolicyTest, OutOfRangeConfigIsClamped) {
  // max_sleep below min_sleep: a fixed sleep of min_sleep.
  IdlePolicy policy(
      IdleConfig{.spin = kZero, .min_sleep = microseconds(40), .max_sleep = microseconds(5)});
  EXPECT_EQ(policy.config().max_sleep, microseconds(40));
  Instant now = kT0;
  policy.OnIteration(now, true, std::nullopt);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(policy.OnIteration(now, false, std::nullopt), microseconds(40));
    now += microseconds(40);
  }
}

TEST(IdlePolicyTest, SleepSleepsAtLeastTheDurationAndCountsIt) {
  IdlePolicy policy(IdleConfig{});
  policy.Sleep(kZero);
  policy.Sleep(nanoseconds(-5));
  EXPECT_EQ(policy.stats().sleeps, 0u);
  policy.Sleep(microseconds(50));
  EXPECT_EQ(policy.stats().sleeps, 1u);
  EXPECT_GE(policy.stats().slept, microseconds(50));  // an absolute wake-up: never short
}

// A WakeSources over one end of a socketpair: the other end's writes wake the sleeper.
class PairWake final : public WakeSources {
 public:
  PairWake() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds_), 0); }
  ~PairWake() override {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  bool PrepareSleep(std::vector<pollfd>& fds) override {
    ++prepared;
    announced.store(true);
    fds.push_back({fds_[0], POLLIN, 0});
    return !work_waiting;
  }
  void FinishSleep(std::span<const pollfd> fds) override {
    ++finished;
    announced.store(false);
    readable = !fds.empty() && (fds[0].revents & POLLIN) != 0;
  }
  void Ring() const { EXPECT_EQ(::write(fds_[1], "x", 1), 1); }

  bool work_waiting = false;
  std::atomic<bool> announced{false};
  int prepared = 0;
  int finished = 0;
  bool readable = false;

 private:
  int fds_[2] = {-1, -1};
};

TEST(IdlePolicyTest, ASleepOnWakeSourcesEndsWhenADescriptorBecomesReadable) {
  IdlePolicy policy(IdleConfig{});
  PairWake wake;
  // A sleep far longer than the test may take: only the ring can end it in time.
  auto slept =
      std::async(std::launch::async, [&] { policy.Sleep(std::chrono::seconds(60), &wake); });
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!wake.announced.load() && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(microseconds(100));
  }
  wake.Ring();
  ASSERT_EQ(slept.wait_until(end), std::future_status::ready) << "the ring did not end the sleep";
  EXPECT_EQ(wake.prepared, 1);
  EXPECT_EQ(wake.finished, 1);
  EXPECT_TRUE(wake.readable);
  EXPECT_EQ(policy.stats().sleeps, 1u);
  EXPECT_EQ(policy.stats().woken, 1u);
}

TEST(IdlePolicyTest, ASleepOnWakeSourcesTimesOutAndIsCalledOffByTheRecheck) {
  IdlePolicy policy(IdleConfig{});
  PairWake wake;
  policy.Sleep(microseconds(200), &wake);
  EXPECT_EQ(wake.finished, 1);
  EXPECT_FALSE(wake.readable);
  EXPECT_EQ(policy.stats().sleeps, 1u);
  EXPECT_EQ(policy.stats().woken, 0u);
  EXPECT_GE(policy.stats().slept, microseconds(200));

  // Work found at the re-check: no sleep at all, but the announcement is withdrawn.
  wake.work_waiting = true;
  policy.Sleep(std::chrono::seconds(60), &wake);
  EXPECT_EQ(wake.prepared, 2);
  EXPECT_EQ(wake.finished, 2);
  EXPECT_FALSE(wake.announced.load());
  EXPECT_EQ(policy.stats().sleeps, 1u);
  EXPECT_EQ(policy.stats().sleeps_skipped, 1u);
  // Without WakeSources it is the plain sleep.
  policy.Sleep(microseconds(50), nullptr);
  EXPECT_EQ(policy.stats().sleeps, 2u);
}

}  // namespace
}  // namespace braid::runtime
