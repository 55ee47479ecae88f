#include "datapath/runtime/timer_wheel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "datapath/tcp/time.h"

namespace braid::runtime {
namespace {

using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;
using tcp::Duration;
using tcp::Instant;

const Instant kStart = tcp::InstantFromNanos(1'000'000'007);
constexpr Duration kTick = microseconds(10);

TimerWheelConfig Config(size_t capacity = 1024, Duration tick = kTick) {
  return TimerWheelConfig{.tick = tick, .capacity = capacity};
}

struct Fired {
  TimerHandle handle;
  uint64_t cookie;
  Instant at;
};

// Advances `wheel` to `now`, recording what fired.
std::vector<Fired> AdvanceTo(TimerWheel& wheel, Instant now) {
  std::vector<Fired> fired;
  const size_t n = wheel.Advance(now, [&](TimerHandle h, uint64_t cookie) {
    fired.push_back(Fired{h, cookie, now});
  });
  EXPECT_EQ(n, fired.size());
  return fired;
}

std::vector<uint64_t> Cookies(const std::vector<Fired>& fired) {
  std::vector<uint64_t> out;
  for (const Fired& f : fired) out.push_back(f.cookie);
  return out;
}

TEST(TimerWheelConfigTest, ValidateNamesTheBadField) {
  EXPECT_TRUE(TimerWheelConfig{}.Validate().ok());
  EXPECT_EQ(TimerWheelConfig{}.tick, microseconds(10));
  EXPECT_EQ(TimerWheelConfig{}.capacity, 65536u);
  const absl::Status zero_tick = Config(16, Duration::zero()).Validate();
  EXPECT_EQ(zero_tick.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(zero_tick.message().find("tick"), std::string::npos);
  EXPECT_FALSE(Config(16, nanoseconds(-5)).Validate().ok());
  const absl::Status no_capacity = Config(0).Validate();
  EXPECT_EQ(no_capacity.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(no_capacity.message().find("capacity"), std::string::npos);
  EXPECT_FALSE(Config(TimerWheel::kMaxCapacity + 1).Validate().ok());
  EXPECT_TRUE(Config(TimerWheel::kMaxCapacity).Validate().ok());
}

TEST(TimerWheelTest, CounterNamesAreDistinct) {
  std::set<std::string> names;
  for (size_t i = 0; i < kTimerWheelCounterCount; ++i) {
    const auto c = static_cast<TimerWheelCounter>(i);
    EXPECT_FALSE(TimerWheelCounterName(c).empty());
    EXPECT_FALSE(TimerWheelCounterHelp(c).empty());
    names.insert(std::string(TimerWheelCounterName(c)));
  }
  EXPECT_EQ(names.size(), kTimerWheelCounterCount);
  EXPECT_EQ(TimerWheelCounterName(TimerWheelCounter::kFired), "fired");
}

TEST(TimerWheelTest, EmptyWheel) {
  TimerWheel wheel(Config(), kStart);
  EXPECT_EQ(wheel.size(), 0u);
  EXPECT_EQ(wheel.capacity(), 1024u);
  EXPECT_EQ(wheel.tick(), kTick);
  EXPECT_FALSE(wheel.NextDeadline());
  EXPECT_TRUE(AdvanceTo(wheel, kStart + hours(1)).empty());
  EXPECT_FALSE(TimerHandle{}.valid());
}

TEST(TimerWheelTest, FiresInDeadlineOrderOnEveryLevel) {
  TimerWheel wheel(Config(), kStart);
  // One deadline per level and the overflow list, and some close ones, scheduled shuffled.
  std::vector<Duration> offsets = {microseconds(15),   microseconds(25), microseconds(2555),
                                   microseconds(2570), milliseconds(3),  milliseconds(600),
                                   milliseconds(700),  seconds(100),     seconds(170),
                                   hours(11),          hours(12),        hours(24 * 30)};
  std::vector<size_t> order(offsets.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937(7));
  for (size_t i : order) ASSERT_TRUE(wheel.Schedule(kStart + offsets[i], i).valid());
  EXPECT_EQ(wheel.size(), offsets.size());
  EXPECT_EQ(wheel.NextDeadline(), kStart + offsets[0]);

  const std::vector<Fired> fired = AdvanceTo(wheel, kStart + hours(24 * 31));
  std::vector<uint64_t> expected(offsets.size());
  for (size_t i = 0; i < expected.size(); ++i) expected[i] = i;
  EXPECT_EQ(Cookies(fired), expected);
  EXPECT_EQ(wheel.size(), 0u);
  EXPECT_FALSE(wheel.NextDeadline());
  EXPECT_EQ(wheel.counters()[TimerWheelCounter::kFired], offsets.size());
  EXPECT_GT(wheel.counters()[TimerWheelCounter::kCascaded], 0u);
}

TEST(TimerWheelTest, EqualDeadlinesFireInSchedulingOrder) {
  TimerWheel wheel(Config(), kStart);
  // Far enough to be cascaded through two levels on the way down.
  const Instant at = kStart + seconds(3) + microseconds(7);
  for (uint64_t i = 0; i < 50; ++i) ASSERT_TRUE(wheel.Schedule(at, i).valid());
  // More of the same deadline after the first cascade moved the first ones down.
  EXPECT_TRUE(AdvanceTo(wheel, at - milliseconds(1)).empty());
  for (uint64_t i = 50; i < 60; ++i) ASSERT_TRUE(wheel.Schedule(at, i).valid());
  const std::vector<uint64_t> fired = Cookies(AdvanceTo(wheel, at));
  ASSERT_EQ(fired.size(), 60u);
  EXPECT_TRUE(std::is_sorted(fired.begin(), fired.end()));
}

// The tick bounds the work, not the precision: a timer fires at the first Advance whose `now`
// reaches its deadline, whatever the tick and the step.
TEST(TimerWheelTest, FiresAtTheFirstAdvanceAtOrAfterItsDeadline) {
  for (Duration step :
       std::vector<Duration>{nanoseconds(1'001), microseconds(3), kTick, microseconds(37)}) {
    TimerWheel wheel(Config(), kStart);
    std::vector<Instant> deadlines;
    for (int64_t ns : {1, 9'999, 10'000, 10'001, 54'321, 2'559'999, 2'560'000, 2'561'234, 7'000'003,
                       655'360'000, 700'000'001}) {
      deadlines.push_back(kStart + nanoseconds(ns));
      wheel.Schedule(deadlines.back(), deadlines.size() - 1);
    }
    Instant now = kStart;
    size_t fired = 0;
    while (fired < deadlines.size()) {
      for (const Fired& f : AdvanceTo(wheel, now)) {
        ++fired;
        const Instant deadline = deadlines[f.cookie];
        EXPECT_LE(deadline, now) << "early, step " << step.count();  // never early
        EXPECT_LT(now - deadline, step) << "late, step " << step.count();
      }
      // Nothing due is left behind.
      if (auto next = wheel.NextDeadline()) {
        EXPECT_GT(*next, now);
      }
      now += step;
    }
  }
}

TEST(TimerWheelTest, NotDueOneNanosecondBeforeAndDueAtTheDeadline) {
  TimerWheel wheel(Config(), kStart);
  const Instant at = kStart + microseconds(12) + nanoseconds(345);
  const TimerHandle h = wheel.Schedule(at, 1);
  EXPECT_TRUE(AdvanceTo(wheel, at - nanoseconds(1)).empty());
  EXPECT_TRUE(wheel.Pending(h));
  EXPECT_EQ(wheel.Deadline(h), at);
  EXPECT_EQ(Cookies(AdvanceTo(wheel, at)), std::vector<uint64_t>{1});
  EXPECT_FALSE(wheel.Pending(h));
}

TEST(TimerWheelTest, PollingWithinATickDoesNotRescanItsSlot) {
  TimerWheel wheel(Config(), kStart);
  wheel.Schedule(kStart + microseconds(8), 1);  // in tick 0, the current one
  for (int us = 0; us < 8; ++us) EXPECT_TRUE(AdvanceTo(wheel, kStart + microseconds(us)).empty());
  // The first Advance looks at the slot once; the others see `now` below its earliest deadline.
  EXPECT_LE(wheel.counters()[TimerWheelCounter::kSlotsVisited], 1u);
  EXPECT_EQ(AdvanceTo(wheel, kStart + microseconds(8)).size(), 1u);
}

TEST(TimerWheelTest, PastDeadlineFiresAtTheNextAdvance) {
  TimerWheel wheel(Config(), kStart);
  const Instant now = kStart + seconds(5);
  EXPECT_TRUE(AdvanceTo(wheel, now).empty());
  wheel.Schedule(now - seconds(3), 1);  // long past
  wheel.Schedule(now - nanoseconds(1), 2);
  wheel.Schedule(kStart - seconds(1), 3);  // before the wheel's start
  wheel.Schedule(now + nanoseconds(1), 4);
  EXPECT_EQ(wheel.NextDeadline(), kStart - seconds(1));
  EXPECT_EQ(Cookies(AdvanceTo(wheel, now)), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(wheel.NextDeadline(), now + nanoseconds(1));
  EXPECT_EQ(Cookies(AdvanceTo(wheel, now + nanoseconds(1))), std::vector<uint64_t>{4});
}

TEST(TimerWheelTest, CancelAndReschedule) {
  TimerWheel wheel(Config(), kStart);
  const TimerHandle a = wheel.Schedule(kStart + milliseconds(1), 1);
  const TimerHandle b = wheel.Schedule(kStart + milliseconds(2), 2);
  const TimerHandle c = wheel.Schedule(kStart + seconds(20), 3);
  EXPECT_EQ(wheel.NextDeadline(), kStart + milliseconds(1));
  EXPECT_TRUE(wheel.Cancel(a));
  EXPECT_FALSE(wheel.Cancel(a));
  EXPECT_FALSE(wheel.Pending(a));
  EXPECT_EQ(wheel.NextDeadline(), kStart + milliseconds(2));
  EXPECT_TRUE(wheel.Reschedule(c, kStart + microseconds(500)));  // from level 2 to level 0
  EXPECT_EQ(wheel.NextDeadline(), kStart + microseconds(500));
  EXPECT_TRUE(wheel.Reschedule(b, kStart + hours(20)));  // to the overflow list
  EXPECT_EQ(wheel.Deadline(b), kStart + hours(20));
  EXPECT_EQ(wheel.size(), 2u);
  EXPECT_EQ(Cookies(AdvanceTo(wheel, kStart + hours(19))), std::vector<uint64_t>{3});
  EXPECT_EQ(wheel.NextDeadline(), kStart + hours(20));
  EXPECT_EQ(Cookies(AdvanceTo(wheel, kStart + hours(20))), std::vector<uint64_t>{2});
  EXPECT_EQ(wheel.counters()[TimerWheelCounter::kCancelled], 1u);
  EXPECT_EQ(wheel.counters()[TimerWheelCounter::kRescheduled], 2u);
  EXPECT_EQ(wheel.counters()[TimerWheelCounter::kScheduled], 3u);
}

TEST(TimerWheelTest, FireMayCancelRescheduleAndScheduleOthers) {
  TimerWheel wheel(Config(), kStart);
  const TimerHandle first = wheel.Schedule(kStart + microseconds(100), 1);
  const TimerHandle doomed = wheel.Schedule(kStart + microseconds(200), 2);  // due, cancelled
  const TimerHandle moved = wheel.Schedule(kStart + microseconds(300), 3);   // due, moved later
  const TimerHandle same_tick = wheel.Schedule(kStart + microseconds(100), 4);
  TimerHandle added;
  std::vector<uint64_t> fired;
  const Instant now = kStart + milliseconds(1);
  wheel.Advance(now, [&](TimerHandle h, uint64_t cookie) {
    fired.push_back(cookie);
    if (h == first) {
      EXPECT_FALSE(wheel.Pending(first));  // no longer pending while it fires
      EXPECT_TRUE(wheel.Cancel(doomed));
      EXPECT_TRUE(wheel.Cancel(same_tick));  // due in the same tick, not fired yet
      EXPECT_TRUE(wheel.Reschedule(moved, now + microseconds(50)));
      // Already due, but scheduled from inside fire: waits for the next Advance.
      added = wheel.Schedule(now - microseconds(1), 5);
      EXPECT_EQ(wheel.NextDeadline(), now - microseconds(1));
    }
  });
  EXPECT_EQ(fired, std::vector<uint64_t>{1});
  EXPECT_TRUE(wheel.Pending(added));
  EXPECT_EQ(wheel.size(), 2u);
  EXPECT_EQ(wheel.NextDeadline(), now - microseconds(1));
  EXPECT_EQ(Cookies(AdvanceTo(wheel, now)), std::vector<uint64_t>{5});
  EXPECT_EQ(Cookies(AdvanceTo(wheel, now + microseconds(50))), std::vector<uint64_t>{3});
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(TimerWheelTest, FireMayRearmItselfAsAPeriodicTimer) {
  TimerWheel wheel(Config(), kStart);
  const Duration period = milliseconds(7);
  const TimerHandle h = wheel.Schedule(kStart + period, 9);
  int ticks = 0;
  Instant now = kStart;
  for (int i = 0; i < 1000; ++i) {
    now += microseconds(350);
    wheel.Advance(now, [&](TimerHandle fired, uint64_t cookie) {
      EXPECT_EQ(fired, h);
      EXPECT_EQ(cookie, 9u);
      EXPECT_FALSE(wheel.Cancel(fired));  // it has fired: nothing to cancel
      ++ticks;
      // Re-armed at `now` itself, it still waits for the next Advance.
      EXPECT_TRUE(wheel.Reschedule(fired, ticks % 2 == 0 ? now : now + period));
    });
    EXPECT_TRUE(wheel.Pending(h));
  }
  // 350 ms in 7 ms periods, one of which is "now" (fires at the next step) every other time.
  EXPECT_GT(ticks, 50);
  EXPECT_EQ(wheel.size(), 1u);
}

TEST(TimerWheelTest, RearmedThenCancelledInsideFireIsGone) {
  TimerWheel wheel(Config(1), kStart);
  const TimerHandle h = wheel.Schedule(kStart + microseconds(1), 1);
  TimerHandle reused;
  wheel.Advance(kStart + microseconds(1), [&](TimerHandle fired, uint64_t) {
    // The only slab entry is still the firing timer's: full.
    EXPECT_FALSE(wheel.Schedule(kStart, 2).valid());
    EXPECT_TRUE(wheel.Reschedule(fired, kStart + seconds(1)));
    EXPECT_TRUE(wheel.Cancel(fired));
    reused = wheel.Schedule(kStart + seconds(2), 3);  // its entry is free again
  });
  EXPECT_TRUE(reused.valid());
  EXPECT_FALSE(wheel.Pending(h));
  EXPECT_TRUE(wheel.Pending(reused));
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_EQ(wheel.counters()[TimerWheelCounter::kFull], 1u);
}

TEST(TimerWheelTest, StaleHandlesAreRefused) {
  TimerWheel wheel(Config(1), kStart);
  const TimerHandle fired = wheel.Schedule(kStart + microseconds(5), 1);
  EXPECT_EQ(AdvanceTo(wheel, kStart + microseconds(5)).size(), 1u);
  const TimerHandle cancelled = wheel.Schedule(kStart + microseconds(50), 2);
  EXPECT_EQ(cancelled.index, fired.index);  // the same slab entry, a new generation
  EXPECT_TRUE(wheel.Cancel(cancelled));
  const TimerHandle live = wheel.Schedule(kStart + microseconds(90), 3);
  for (TimerHandle stale : {fired, cancelled, TimerHandle{}, TimerHandle{7, live.generation}}) {
    EXPECT_FALSE(wheel.Pending(stale));
    EXPECT_FALSE(wheel.Cancel(stale));
    EXPECT_FALSE(wheel.Reschedule(stale, kStart));
    EXPECT_FALSE(wheel.Deadline(stale));
  }
  EXPECT_TRUE(wheel.Pending(live));
  EXPECT_EQ(Cookies(AdvanceTo(wheel, kStart + microseconds(90))), std::vector<uint64_t>{3});
}

TEST(TimerWheelTest, ScheduleWhenFullIsRefusedAndCounted) {
  TimerWheel wheel(Config(4), kStart);
  std::vector<TimerHandle> handles;
  for (int i = 0; i < 4; ++i) handles.push_back(wheel.Schedule(kStart + milliseconds(i), i));
  for (const TimerHandle& h : handles) EXPECT_TRUE(h.valid());
  EXPECT_FALSE(wheel.Schedule(kStart, 99).valid());
  EXPECT_FALSE(wheel.Schedule(kStart, 99).valid());
  EXPECT_EQ(wheel.counters()[TimerWheelCounter::kFull], 2u);
  EXPECT_EQ(wheel.size(), 4u);
  EXPECT_TRUE(wheel.Cancel(handles[2]));
  EXPECT_TRUE(wheel.Schedule(kStart, 5).valid());  // the same tick as cookie 0, scheduled after
  EXPECT_EQ(Cookies(AdvanceTo(wheel, kStart + seconds(1))), (std::vector<uint64_t>{0, 5, 1, 3}));
}

TEST(TimerWheelTest, ZeroCapacityRefusesEverything) {
  TimerWheel wheel(TimerWheelConfig{.tick = kTick, .capacity = 0}, kStart);
  EXPECT_FALSE(wheel.Schedule(kStart, 1).valid());
  EXPECT_EQ(wheel.counters()[TimerWheelCounter::kFull], 1u);
}

TEST(TimerWheelTest, FarDeadlinesGoThroughTheOverflowList) {
  TimerWheel wheel(Config(), kStart);
  // Beyond 2^32 ticks (11.9 h at 10 us): held in the overflow list, then cascaded in.
  const Instant day = kStart + hours(24) + nanoseconds(3);
  const Instant year = kStart + hours(24 * 365) + microseconds(1);
  const Instant never = Instant::max();
  wheel.Schedule(never, 3);
  wheel.Schedule(year, 2);
  wheel.Schedule(day, 1);
  EXPECT_EQ(wheel.NextDeadline(), day);
  EXPECT_TRUE(AdvanceTo(wheel, day - nanoseconds(1)).empty());
  EXPECT_EQ(Cookies(AdvanceTo(wheel, day)), std::vector<uint64_t>{1});
  EXPECT_EQ(wheel.NextDeadline(), year);
  EXPECT_TRUE(AdvanceTo(wheel, year - nanoseconds(1)).empty());
  EXPECT_EQ(Cookies(AdvanceTo(wheel, year)), std::vector<uint64_t>{2});
  EXPECT_EQ(wheel.NextDeadline(), never);
  EXPECT_EQ(Cookies(AdvanceTo(wheel, never)), std::vector<uint64_t>{3});
  EXPECT_GE(wheel.counters()[TimerWheelCounter::kCascaded], 2u);
}

TEST(TimerWheelTest, ALongJumpVisitsOnlyOccupiedSlots) {
  TimerWheel wheel(Config(), kStart);
  // An empty wheel crossing days of 10 us ticks does nothing.
  EXPECT_TRUE(AdvanceTo(wheel, kStart + hours(100)).empty());
  EXPECT_EQ(wheel.counters()[TimerWheelCounter::kSlotsVisited], 0u);

  const Instant base = kStart + hours(100);
  const std::vector<Duration> offsets = {microseconds(30), milliseconds(1), seconds(1), hours(1),
                                         hours(10),        hours(30),       hours(200)};
  for (size_t i = 0; i < offsets.size(); ++i) wheel.Schedule(base + offsets[i], i);
  const std::vector<Fired> fired = AdvanceTo(wheel, base + hours(1000));
  EXPECT_EQ(fired.size(), offsets.size());
  EXPECT_EQ(Cookies(fired), (std::vector<uint64_t>{0, 1, 2, 3, 4, 5, 6}));
  // 10^11 ticks crossed; each timer costs a few cascades and one slot (4 levels + overflow).
  EXPECT_LE(wheel.counters()[TimerWheelCounter::kSlotsVisited], offsets.size() * 6);
}

// ---------------------------------------------------------------------------------------------
// Randomized: thousands of operations, also from inside fire, against a reference built on a
// std::multimap ordered by deadline.

uint64_t Key(TimerHandle h) { return (uint64_t{h.index} << 32) | h.generation; }

class Reference {
 public:
  void Add(TimerHandle h, int64_t deadline, bool deferred) {
    by_key_[Key(h)] = by_deadline_.emplace(deadline, Key(h));
    if (deferred) deferred_.insert(Key(h));
  }
  bool Contains(TimerHandle h) const { return by_key_.contains(Key(h)); }
  std::optional<int64_t> DeadlineOf(TimerHandle h) const {
    auto it = by_key_.find(Key(h));
    if (it == by_key_.end()) return std::nullopt;
    return it->second->first;
  }
  bool Deferred(TimerHandle h) const { return deferred_.contains(Key(h)); }
  void Remove(TimerHandle h) {
    auto it = by_key_.find(Key(h));
    by_deadline_.erase(it->second);
    by_key_.erase(it);
    deferred_.erase(Key(h));
  }
  size_t size() const { return by_key_.size(); }
  std::optional<Instant> Min() const {
    if (by_deadline_.empty()) return std::nullopt;
    return tcp::InstantFromNanos(by_deadline_.begin()->first);
  }
  // Timers due at `now` that an Advance to `now` must have fired: all but those (re)scheduled
  // during that Advance.
  size_t DueNotDeferred(int64_t now) const {
    size_t n = 0;
    for (auto it = by_deadline_.begin(); it != by_deadline_.end() && it->first <= now; ++it) {
      if (!deferred_.contains(it->second)) ++n;
    }
    return n;
  }
  void EndAdvance() { deferred_.clear(); }

 private:
  std::multimap<int64_t, uint64_t> by_deadline_;
  std::map<uint64_t, std::multimap<int64_t, uint64_t>::iterator> by_key_;
  std::set<uint64_t> deferred_;
};

class TimerWheelRandomTest : public testing::TestWithParam<std::tuple<uint32_t, int64_t>> {};

TEST_P(TimerWheelRandomTest, MatchesTheReference) {
  const auto [seed, tick_ns] = GetParam();
  constexpr size_t kCapacity = 300;
  TimerWheel wheel(Config(kCapacity, nanoseconds(tick_ns)), kStart);
  Reference ref;
  std::mt19937_64 rng(seed);
  std::vector<TimerHandle> issued;  // every handle ever returned, most of them stale by now
  uint64_t next_cookie = 0;
  Instant now = kStart;
  bool in_advance = false;
  std::optional<TimerHandle> firing;  // inside fire, until re-armed
  uint64_t rearms = 0;
  int64_t advance_now = 0;
  int64_t last_now = tcp::NanosSinceEpoch(kStart);
  auto tick_of = [&](int64_t ns) -> uint64_t {
    const int64_t start = tcp::NanosSinceEpoch(kStart);
    return ns <= start ? 0 : static_cast<uint64_t>(ns - start) / static_cast<uint64_t>(tick_ns);
  };

  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  // Offsets on every scale: the past, within a tick, each level, the overflow list.
  auto random_deadline = [&]() -> Instant {
    switch (uniform(0, 9)) {
      case 0:
        return now - nanoseconds(uniform(0, 50'000));
      case 1:
        return now + nanoseconds(uniform(0, 2 * tick_ns));
      case 2:
      case 3:
        return now + nanoseconds(uniform(0, 200'000));
      case 4:
      case 5:
        return now + nanoseconds(uniform(0, 5'000'000));
      case 6:
        return now + nanoseconds(uniform(0, 1'000'000'000));
      case 7:
        return now + nanoseconds(uniform(0, 200'000'000'000));
      case 8:
        return now + nanoseconds(uniform(0, 100 * 3'600'000'000'000));
      default:
        return now + nanoseconds(uniform(0, 20'000));
    }
  };
  auto random_handle = [&]() -> TimerHandle {
    if (issued.empty() || uniform(0, 19) == 0) return TimerHandle{};
    // Mostly recent handles, which are more often live.
    const size_t n = issued.size();
    const size_t back =
        static_cast<size_t>(uniform(0, static_cast<int64_t>(std::min<size_t>(n, 400)) - 1));
    return issued[n - 1 - back];
  };
  auto do_schedule = [&] {
    const Instant d = random_deadline();
    const uint64_t cookie = next_cookie++;
    const TimerHandle h = wheel.Schedule(d, cookie);
    // A timer being fired keeps its entry until fire returns, unless re-armed (then it is in
    // the reference again).
    if (ref.size() + (firing ? 1 : 0) == kCapacity) {
      EXPECT_FALSE(h.valid());
      return;
    }
    ASSERT_TRUE(h.valid());
    EXPECT_FALSE(ref.Contains(h));
    ref.Add(h, tcp::NanosSinceEpoch(d), in_advance);
    issued.push_back(h);
  };
  auto do_cancel = [&](TimerHandle h) {
    const bool expected = ref.Contains(h);
    EXPECT_EQ(wheel.Cancel(h), expected);
    if (expected) ref.Remove(h);
  };
  auto do_reschedule = [&](TimerHandle h, Instant d) {
    // The timer being fired can be re-armed once (until it is pending again).
    const bool rearm = firing && h == *firing;
    const bool expected = ref.Contains(h) || rearm;
    EXPECT_EQ(wheel.Reschedule(h, d), expected);
    if (rearm) {
      firing.reset();
      ++rearms;
    }
    if (ref.Contains(h)) ref.Remove(h);
    if (expected) {
      ref.Add(h, tcp::NanosSinceEpoch(d), in_advance);
    }
  };
  auto check = [&] {
    EXPECT_EQ(wheel.size(), ref.size());
    EXPECT_EQ(wheel.NextDeadline(), ref.Min());
  };

  size_t total_fired = 0;
  for (int op = 0; op < 30000; ++op) {
    const int64_t r = uniform(0, 99);
    if (r < 35) {
      do_schedule();
    } else if (r < 37) {
      // A burst, to reach the capacity now and then.
      for (int i = 0; i < 100; ++i) do_schedule();
    } else if (r < 50) {
      do_cancel(random_handle());
    } else if (r < 60) {
      do_reschedule(random_handle(), random_deadline());
    } else {
      switch (uniform(0, 9)) {
        case 0:
          break;  // the same `now` again
        case 1:
          now += nanoseconds(uniform(0, 200'000'000));
          break;
        case 2:
          if (uniform(0, 9) == 0) now += nanoseconds(uniform(0, 30 * 3'600'000'000'000));
          break;
        case 3:
        case 4:
          now += nanoseconds(uniform(0, 3'000'000));
          break;
        default:
          now += nanoseconds(uniform(1, 20'000));
          break;
      }
      advance_now = tcp::NanosSinceEpoch(now);
      in_advance = true;
      size_t fired_here = 0;
      // Timers fire in tick order; one already due when scheduled counts as due in the tick the
      // wheel had reached then (that of the last Advance's `now`).
      uint64_t last_tick = tick_of(last_now);
      const uint64_t floor_tick = last_tick;
      const size_t n = wheel.Advance(now, [&](TimerHandle h, uint64_t) {
        ++fired_here;
        // Pending, due, and not (re)scheduled during this Advance.
        const std::optional<int64_t> deadline = ref.DeadlineOf(h);
        ASSERT_TRUE(deadline) << "fired a timer that is not pending";
        EXPECT_LE(*deadline, advance_now) << "fired early";
        EXPECT_FALSE(ref.Deferred(h)) << "fired in the Advance that scheduled it";
        const uint64_t tick = std::max(tick_of(*deadline), floor_tick);
        EXPECT_GE(tick, last_tick) << "out of order";
        last_tick = tick;
        ref.Remove(h);
        EXPECT_FALSE(wheel.Pending(h));
        firing = h;
        check();
        // Act from inside fire now and then.
        switch (uniform(0, 9)) {
          case 0:
            do_cancel(random_handle());
            break;
          case 1:
            do_reschedule(h, random_deadline());  // re-arm itself
            break;
          case 2:
            do_reschedule(random_handle(), random_deadline());
            break;
          case 3:
            do_schedule();
            break;
          default:
            break;
        }
        firing.reset();
        check();
      });
      in_advance = false;
      EXPECT_EQ(n, fired_here);
      total_fired += n;
      // Never late: nothing due is left but what was (re)scheduled during the Advance.
      EXPECT_EQ(ref.DueNotDeferred(advance_now), 0u) << "a due timer did not fire";
      ref.EndAdvance();
      last_now = advance_now;
    }
    check();
    if (testing::Test::HasFailure()) {
      ADD_FAILURE() << "seed " << seed << " tick " << tick_ns << " op " << op;
      return;
    }
  }
  EXPECT_GT(total_fired, 1000u);
  // Drain: everything left fires, at the latest when time reaches the last deadline.
  wheel.Advance(Instant::max(), [&](TimerHandle h, uint64_t) { ref.Remove(h); });
  EXPECT_EQ(ref.size(), 0u);
  EXPECT_EQ(wheel.size(), 0u);
  const TimerWheelCounters& c = wheel.counters();
  // Every timer scheduled or re-armed ended cancelled or fired.
  EXPECT_EQ(c[TimerWheelCounter::kScheduled] + rearms,
            c[TimerWheelCounter::kCancelled] + c[TimerWheelCounter::kFired]);
  EXPECT_GT(rearms, 0u);
  EXPECT_GT(c[TimerWheelCounter::kFull], 0u);
  EXPECT_GT(c[TimerWheelCounter::kCascaded], 0u);
}

INSTANTIATE_TEST_SUITE_P(SeedsAndTicks, TimerWheelRandomTest,
                         testing::Combine(testing::Values(1u, 2u, 3u, 4u),
                                          // 10 us (default), 1 ns (the levels span 4.3 s, so
                                          // the overflow list is busy), 1 ms.
                                          testing::Values(int64_t{10'000}, int64_t{1},
                                                          int64_t{1'000'000})));

}  // namespace
}  // namespace braid::runtime
