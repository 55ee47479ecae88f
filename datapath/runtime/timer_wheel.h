// A worker's timers on one hierarchical hashed timing wheel (Varghese & Lauck, "Hashed and
// Hierarchical Timing Wheels", 1987; the shape of Linux's kernel/time/timer.c): the TCP engine's
// and the net layer's next deadlines and the applications' timers (report intervals, timeouts,
// pacing), all owned by the worker's thread (architecture.md §5).
//
// Time is cut into ticks of `tick` since `start`. Four levels of 256 slots hold timers by how
// far their tick is from the wheel's current tick, by the highest byte in which the two differ:
//   level 0: same 256-tick block as now, one slot per tick    (2.56 ms at 10 us ticks)
//   level 1: same 2^16-tick block, one slot per 256 ticks     (655 ms)
//   level 2: same 2^24-tick block, one slot per 2^16 ticks    (168 s)
//   level 3: same 2^32-tick block, one slot per 2^24 ticks    (11.9 h)
//   overflow: a list for anything farther.
// Choosing the level by the differing byte (rather than by the distance) keeps every level within
// one revolution: a level-L slot only ever holds ticks after the current one, in increasing order
// of slot index, and every timer on a lower level is due before every timer on a higher one. That
// makes "earliest pending timer" a bitmap search plus one slot, and lets Advance jump from one
// occupied slot (or block boundary that needs a cascade) to the next without visiting empty ticks:
// a jump of hours costs a handful of steps, not 10^9 ticks.
//
// Precision: the tick bounds only the work, not the accuracy. Advance(now) fires exactly the
// timers whose deadline is <= now; the slot of the current tick is filtered by deadline (and
// skipped at once while `now` is before its earliest deadline, so polling many times per tick
// stays O(1)).
//
// Storage is a slab of `capacity` timers allocated in the constructor; lists are intrusive and
// doubly linked (O(1) cancel), free timers form an intrusive free list. Nothing allocates after
// construction.
#pragma once

#include <algorithm>
#include <array>
#include <cassert>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "datapath/tcp/time.h"

namespace braid::runtime {

struct TimerWheelConfig {
  tcp::Duration tick = std::chrono::microseconds(10);
  size_t capacity = 65536;  // timers pending at once; Schedule refuses more (counted `full`)

  absl::Status Validate() const;
};

// Names one scheduled timer. The generation changes each time the timer's slab entry is freed, so
// a handle kept after its timer fired or was cancelled is refused, never confused with the timer
// that reuses the entry (like tcp::ConnectionId).
struct TimerHandle {
  uint32_t index = std::numeric_limits<uint32_t>::max();
  uint32_t generation = 0;
  bool valid() const { return index != std::numeric_limits<uint32_t>::max(); }
  friend bool operator==(const TimerHandle&, const TimerHandle&) = default;
};

// X(enumerator, metric, help)
#define BRAID_TIMER_WHEEL_COUNTERS(X)                                                         \
  X(kScheduled, "scheduled", "timers scheduled")                                              \
  X(kRescheduled, "rescheduled", "timers moved to a new deadline (or re-armed while firing)") \
  X(kCancelled, "cancelled", "timers cancelled before they fired")                            \
  X(kFired, "fired", "timers fired")                                                          \
  X(kCascaded, "cascaded", "timers moved to a finer level or out of the overflow list")       \
  X(kFull, "full", "Schedule calls refused: every timer of the slab in use")                  \
  X(kSlotsVisited, "slots_visited", "occupied slots and cascades Advance processed (empty skipped)")

enum class TimerWheelCounter : uint8_t {
#define BRAID_TIMER_WHEEL_COUNTER_ENUM(name, metric, help) name,
  BRAID_TIMER_WHEEL_COUNTERS(BRAID_TIMER_WHEEL_COUNTER_ENUM)
#undef BRAID_TIMER_WHEEL_COUNTER_ENUM
};
#define BRAID_TIMER_WHEEL_COUNTER_COUNT(name, metric, help) +1
inline constexpr size_t kTimerWheelCounterCount =
    0 BRAID_TIMER_WHEEL_COUNTERS(BRAID_TIMER_WHEEL_COUNTER_COUNT);
#undef BRAID_TIMER_WHEEL_COUNTER_COUNT
std::string_view TimerWheelCounterName(TimerWheelCounter counter);  // the metric name
std::string_view TimerWheelCounterHelp(TimerWheelCounter counter);

struct TimerWheelCounters {
  std::array<uint64_t, kTimerWheelCounterCount> values{};
  uint64_t operator[](TimerWheelCounter c) const { return values[static_cast<size_t>(c)]; }
  void Add(TimerWheelCounter c, uint64_t n = 1) { values[static_cast<size_t>(c)] += n; }
};

class TimerWheel {
 public:
  static constexpr int kLevels = 4;
  static constexpr int kSlotBits = 8;
  static constexpr size_t kSlots = size_t{1} << kSlotBits;
  static constexpr size_t kMaxCapacity = size_t{1} << 30;

  // `config` should pass Validate() (start-up code reports its error); here a tick that is not
  // positive is taken as 1 ns and the capacity is cut to kMaxCapacity (zero refuses every
  // Schedule). Ticks count from `start`.
  TimerWheel(const TimerWheelConfig& config, tcp::Instant start);
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  // Arms a timer; an invalid handle when all `capacity` timers are pending. A deadline at or before
  // the last Advance's `now` fires at the next Advance.
  TimerHandle Schedule(tcp::Instant deadline, uint64_t cookie);
  // False when the handle names no pending timer (stale, already fired, already cancelled).
  bool Cancel(TimerHandle handle);
  // Moves a pending timer to `deadline`, keeping its handle and cookie. Called from `fire` on the
  // timer being fired, it re-arms it under the same handle (periodic timers). False otherwise.
  bool Reschedule(TimerHandle handle, tcp::Instant deadline);
  bool Pending(TimerHandle handle) const;
  std::optional<tcp::Instant> Deadline(TimerHandle handle) const;  // nullopt unless Pending

  // Fires every pending timer whose deadline is <= now, calling fire(TimerHandle, uint64_t cookie)
  // once for each, in order of tick and, within a tick, in the order they were (re)scheduled.
  // Returns how many fired. A timer is no longer pending while it fires. `fire` may Schedule,
  // Cancel and Reschedule any timer, including the one firing (see Reschedule); timers it
  // (re)schedules fire at the earliest in the next Advance, even if already due, so a callback
  // that re-arms at `now` cannot make Advance loop forever. `fire` must not call Advance.
  template <typename Fn>
  size_t Advance(tcp::Instant now, Fn&& fire);

  // Exactly the earliest deadline among pending timers (it may be in the past: such a timer fires
  // at the next Advance), or nullopt when none is pending. Never later than any pending deadline,
  // so a worker that sleeps until it never misses a timer. Cached: recomputed (a bitmap search and
  // a scan of one slot) only after the earliest timer was removed.
  std::optional<tcp::Instant> NextDeadline() const;

  size_t size() const { return size_; }  // pending timers
  size_t capacity() const { return capacity_; }
  tcp::Duration tick() const { return tcp::Duration(tick_ns_); }
  const TimerWheelCounters& counters() const { return counters_; }

 private:
  enum class State : uint8_t { kFree, kPending, kFiring };
  struct Node {
    int64_t deadline = 0;  // nanoseconds since the engine epoch
    uint64_t cookie = 0;
    uint64_t tick = 0;  // the tick it is filed under (its deadline's, or the current one if due)
    uint32_t prev = 0;
    uint32_t next = 0;
    uint32_t generation = 0;
    uint16_t list = 0;
    State state = State::kFree;
  };
  // Lists: one per slot of each level, then these three. Each list's sentinel is a Node at index
  // capacity_ + list, so linking never special-cases an empty list.
  static constexpr uint16_t kOverflowList = kLevels * kSlots;
  static constexpr uint16_t kExpiringList = kOverflowList + 1;  // due, about to fire
  static constexpr uint16_t kDeferredList = kOverflowList + 2;  // (re)scheduled during Advance
  static constexpr uint16_t kListCount = kOverflowList + 3;
  static constexpr uint32_t kNil = std::numeric_limits<uint32_t>::max();
  static constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();
  static constexpr int kNoSlot = -1;

  // What Advance does next: fire a level-0 slot, or cascade a level's slot (or the overflow list)
  // at the start of its block.
  struct Step {
    uint64_t tick = kNever;
    int level = 0;  // 0: a level-0 slot; 1..kLevels-1: cascade that level; kLevels: overflow
  };

  uint32_t Sentinel(uint16_t list) const { return static_cast<uint32_t>(capacity_) + list; }
  bool ListEmpty(uint16_t list) const { return nodes_[Sentinel(list)].next == Sentinel(list); }
  uint64_t TickOf(int64_t ns) const;
  int FirstSlotFrom(int level, size_t from) const;
  void Link(uint32_t index, uint16_t list);
  void Unlink(uint32_t index);
  void Place(uint32_t index);  // files a pending timer by its deadline relative to cur_
  void Insert(uint32_t index);
  void Free(uint32_t index);
  void NoteAdded(int64_t deadline);
  void NoteRemoved(int64_t deadline);
  uint64_t OverflowMinTick();
  std::optional<int64_t> ComputeNextDeadline() const;
  void SetCurrentTick(uint64_t tick);
  void CollectDue(int64_t now_ns);
  bool StepToward(uint64_t target);
  Step NextStep();
  void Cascade(int level);
  void BeginAdvance();
  void EndAdvance();

  int64_t start_ns_;
  int64_t tick_ns_;
  size_t capacity_;
  std::vector<Node> nodes_;  // capacity_ timers, then kListCount sentinels
  uint32_t free_head_ = kNil;
  size_t size_ = 0;
  uint64_t cur_ = 0;  // every tick before it has fired; in it, every deadline <= the last `now`
  // A lower bound of the deadlines filed under the current tick: Advance skips that slot while
  // `now` is below it. Unknown (min) after the current tick moves.
  int64_t cur_min_ = std::numeric_limits<int64_t>::min();
  std::array<std::array<uint64_t, kSlots / 64>, kLevels> occupied_{};
  size_t overflow_size_ = 0;
  uint64_t overflow_min_tick_ = kNever;  // valid when overflow_min_valid_
  bool overflow_min_valid_ = true;
  bool in_advance_ = false;
  mutable std::optional<int64_t> next_deadline_;  // valid when next_deadline_valid_
  mutable bool next_deadline_valid_ = true;
  TimerWheelCounters counters_;
};

template <typename Fn>
size_t TimerWheel::Advance(tcp::Instant now, Fn&& fire) {
  assert(!in_advance_ && "fire must not call Advance");
  if (in_advance_) return 0;
  const int64_t now_ns = tcp::NanosSinceEpoch(now);
  const uint64_t target = std::max(TickOf(now_ns), cur_);
  BeginAdvance();
  size_t fired = 0;
  while (true) {
    CollectDue(now_ns);
    while (!ListEmpty(kExpiringList)) {
      const uint32_t index = nodes_[Sentinel(kExpiringList)].next;
      Node& node = nodes_[index];
      Unlink(index);
      --size_;
      node.state = State::kFiring;
      NoteRemoved(node.deadline);
      counters_.Add(TimerWheelCounter::kFired);
      ++fired;
      fire(TimerHandle{index, node.generation}, node.cookie);
      // Still firing unless the callback re-armed it (Reschedule) or re-armed and cancelled it.
      if (node.state == State::kFiring) Free(index);
    }
    if (!StepToward(target)) break;
  }
  EndAdvance();
  return fired;
}

}  // namespace braid::runtime
