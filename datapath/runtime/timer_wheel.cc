// The timing wheel's bookkeeping; the layout and its invariants are described in timer_wheel.h.
// Invariant (I): a timer filed on level L >= 1 has the same bytes above L as cur_ and a larger
// byte L (its slot); on level 0, the same bytes above 0 and a byte 0 (its slot) >= cur_'s. So
// slots at or below cur_'s byte on levels >= 1, and below it on level 0, are always empty.
#include "datapath/runtime/timer_wheel.h"

#include <algorithm>
#include <bit>

#include "absl/strings/str_cat.h"

namespace braid::runtime {
namespace {

constexpr std::array<std::string_view, kTimerWheelCounterCount> kCounterNames = {
#define BRAID_TIMER_WHEEL_COUNTER_NAME(name, metric, help) metric,
    BRAID_TIMER_WHEEL_COUNTERS(BRAID_TIMER_WHEEL_COUNTER_NAME)
#undef BRAID_TIMER_WHEEL_COUNTER_NAME
};
constexpr std::array<std::string_view, kTimerWheelCounterCount> kCounterHelp = {
#define BRAID_TIMER_WHEEL_COUNTER_HELP(name, metric, help) help,
    BRAID_TIMER_WHEEL_COUNTERS(BRAID_TIMER_WHEEL_COUNTER_HELP)
#undef BRAID_TIMER_WHEEL_COUNTER_HELP
};

constexpr int kBits = TimerWheel::kSlotBits;
constexpr uint64_t kSlotMask = TimerWheel::kSlots - 1;

// The level a tick is filed on relative to the current tick `cur` (tick >= cur): the highest byte
// in which they differ; kLevels (overflow) beyond the last level.
int LevelOf(uint64_t tick, uint64_t cur) {
  const uint64_t diff = tick ^ cur;
  for (int level = 0; level < TimerWheel::kLevels; ++level) {
    if ((diff >> (kBits * (level + 1))) == 0) return level;
  }
  return TimerWheel::kLevels;
}

size_t SlotOf(uint64_t tick, int level) { return (tick >> (kBits * level)) & kSlotMask; }

}  // namespace

std::string_view TimerWheelCounterName(TimerWheelCounter counter) {
  return kCounterNames[static_cast<size_t>(counter)];
}

std::string_view TimerWheelCounterHelp(TimerWheelCounter counter) {
  return kCounterHelp[static_cast<size_t>(counter)];
}

absl::Status TimerWheelConfig::Validate() const {
  if (tick <= tcp::Duration::zero()) {
    return absl::InvalidArgumentError(
        absl::StrCat("timer wheel tick must be positive, got ", tick.count(), " ns"));
  }
  if (capacity == 0 || capacity > TimerWheel::kMaxCapacity) {
    return absl::InvalidArgumentError(absl::StrCat("timer wheel capacity must be in [1, ",
                                                   TimerWheel::kMaxCapacity, "], got ", capacity));
  }
  return absl::OkStatus();
}

TimerWheel::TimerWheel(const TimerWheelConfig& config, tcp::Instant start)
    : start_ns_(tcp::NanosSinceEpoch(start)),
      tick_ns_(std::max<int64_t>(config.tick.count(), 1)),
      capacity_(std::min(config.capacity, kMaxCapacity)),
      nodes_(capacity_ + kListCount) {
  for (uint16_t list = 0; list < kListCount; ++list) {
    Node& sentinel = nodes_[Sentinel(list)];
    sentinel.prev = sentinel.next = Sentinel(list);
    sentinel.list = list;
  }
  // The free list hands out low indices first.
  for (size_t i = capacity_; i-- > 0;) {
    nodes_[i].next = free_head_;
    free_head_ = static_cast<uint32_t>(i);
  }
}

uint64_t TimerWheel::TickOf(int64_t ns) const {
  if (ns <= start_ns_) return 0;
  // The difference of two int64 fits a uint64 when positive.
  return (static_cast<uint64_t>(ns) - static_cast<uint64_t>(start_ns_)) /
         static_cast<uint64_t>(tick_ns_);
}

int TimerWheel::FirstSlotFrom(int level, size_t from) const {
  const auto& words = occupied_[level];
  for (size_t w = from / 64; w < words.size(); ++w) {
    uint64_t bits = words[w];
    if (w == from / 64) bits &= ~uint64_t{0} << (from % 64);
    if (bits != 0) return static_cast<int>(w * 64 + std::countr_zero(bits));
  }
  return kNoSlot;
}

void TimerWheel::Link(uint32_t index, uint16_t list) {
  const uint32_t head = Sentinel(list);
  Node& node = nodes_[index];
  node.list = list;
  node.prev = nodes_[head].prev;
  node.next = head;
  nodes_[node.prev].next = index;
  nodes_[head].prev = index;
  if (list < kOverflowList)
    occupied_[list / kSlots][(list % kSlots) / 64] |= uint64_t{1} << (list % 64);
  if (list == kOverflowList) {
    ++overflow_size_;
    if (overflow_min_valid_) overflow_min_tick_ = std::min(overflow_min_tick_, node.tick);
  }
}

void TimerWheel::Unlink(uint32_t index) {
  Node& node = nodes_[index];
  nodes_[node.prev].next = node.next;
  nodes_[node.next].prev = node.prev;
  const uint16_t list = node.list;
  if (list < kOverflowList && ListEmpty(list)) {
    occupied_[list / kSlots][(list % kSlots) / 64] &= ~(uint64_t{1} << (list % 64));
  }
  if (list == kOverflowList) {
    --overflow_size_;
    if (node.tick == overflow_min_tick_) overflow_min_valid_ = false;
  }
  node.prev = node.next = kNil;
}

void TimerWheel::Place(uint32_t index) {
  Node& node = nodes_[index];
  node.tick = std::max(TickOf(node.deadline), cur_);
  const int level = LevelOf(node.tick, cur_);
  if (level == kLevels) {
    Link(index, kOverflowList);
    return;
  }
  if (node.tick == cur_) cur_min_ = std::min(cur_min_, node.deadline);
  Link(index, static_cast<uint16_t>(level * kSlots + SlotOf(node.tick, level)));
}

void TimerWheel::Insert(uint32_t index) {
  // During Advance, new deadlines wait until the wheel has reached `now`: filed now, one due in
  // the slot being processed would fire in this same Advance, and a callback that re-arms itself
  // at `now` would never let Advance return.
  if (in_advance_) {
    Link(index, kDeferredList);
  } else {
    Place(index);
  }
  NoteAdded(nodes_[index].deadline);
}

void TimerWheel::Free(uint32_t index) {
  Node& node = nodes_[index];
  node.state = State::kFree;
  ++node.generation;
  node.next = free_head_;
  free_head_ = index;
}

void TimerWheel::NoteAdded(int64_t deadline) {
  if (next_deadline_valid_ && (!next_deadline_ || deadline < *next_deadline_)) {
    next_deadline_ = deadline;
  }
}

void TimerWheel::NoteRemoved(int64_t deadline) {
  // Removing any timer but the earliest leaves the earliest unchanged.
  if (next_deadline_valid_ && next_deadline_ && deadline == *next_deadline_) {
    next_deadline_valid_ = false;
  }
}

TimerHandle TimerWheel::Schedule(tcp::Instant deadline, uint64_t cookie) {
  if (free_head_ == kNil) {
    counters_.Add(TimerWheelCounter::kFull);
    return TimerHandle{};
  }
  const uint32_t index = free_head_;
  Node& node = nodes_[index];
  free_head_ = node.next;
  node.state = State::kPending;
  node.deadline = tcp::NanosSinceEpoch(deadline);
  node.cookie = cookie;
  Insert(index);
  ++size_;
  counters_.Add(TimerWheelCounter::kScheduled);
  return TimerHandle{index, node.generation};
}

bool TimerWheel::Pending(TimerHandle handle) const {
  return handle.index < capacity_ && nodes_[handle.index].generation == handle.generation &&
         nodes_[handle.index].state == State::kPending;
}

std::optional<tcp::Instant> TimerWheel::Deadline(TimerHandle handle) const {
  if (!Pending(handle)) return std::nullopt;
  return tcp::InstantFromNanos(nodes_[handle.index].deadline);
}

bool TimerWheel::Cancel(TimerHandle handle) {
  if (!Pending(handle)) return false;
  Unlink(handle.index);
  --size_;
  NoteRemoved(nodes_[handle.index].deadline);
  Free(handle.index);
  counters_.Add(TimerWheelCounter::kCancelled);
  return true;
}

bool TimerWheel::Reschedule(TimerHandle handle, tcp::Instant deadline) {
  if (handle.index >= capacity_ || nodes_[handle.index].generation != handle.generation) {
    return false;
  }
  Node& node = nodes_[handle.index];
  if (node.state == State::kPending) {
    Unlink(handle.index);
    NoteRemoved(node.deadline);
  } else if (node.state == State::kFiring) {
    node.state = State::kPending;
    ++size_;
  } else {
    return false;
  }
  node.deadline = tcp::NanosSinceEpoch(deadline);
  Insert(handle.index);
  counters_.Add(TimerWheelCounter::kRescheduled);
  return true;
}

std::optional<int64_t> TimerWheel::ComputeNextDeadline() const {
  std::optional<int64_t> best;
  auto scan = [&](uint16_t list) {
    for (uint32_t i = nodes_[Sentinel(list)].next; i != Sentinel(list); i = nodes_[i].next) {
      if (!best || nodes_[i].deadline < *best) best = nodes_[i].deadline;
    }
  };
  // Only non-empty inside Advance (a callback asking).
  scan(kExpiringList);
  scan(kDeferredList);
  // By (I), every timer on a level is due before every timer on the levels above, and within a
  // level slots are in time order: the earliest is in the first occupied slot of the lowest
  // occupied level (a level-0 slot holds one tick, but past deadlines filed under the current
  // tick make scanning it worthwhile too). The overflow list only matters when the levels are
  // empty.
  for (int level = 0; level < kLevels; ++level) {
    const int slot = FirstSlotFrom(level, 0);
    if (slot == kNoSlot) continue;
    scan(static_cast<uint16_t>(level * kSlots + static_cast<size_t>(slot)));
    return best;
  }
  scan(kOverflowList);
  return best;
}

std::optional<tcp::Instant> TimerWheel::NextDeadline() const {
  if (!next_deadline_valid_) {
    next_deadline_ = ComputeNextDeadline();
    next_deadline_valid_ = true;
  }
  if (!next_deadline_) return std::nullopt;
  return tcp::InstantFromNanos(*next_deadline_);
}

uint64_t TimerWheel::OverflowMinTick() {
  if (!overflow_min_valid_) {
    overflow_min_tick_ = kNever;
    for (uint32_t i = nodes_[Sentinel(kOverflowList)].next; i != Sentinel(kOverflowList);
         i = nodes_[i].next) {
      overflow_min_tick_ = std::min(overflow_min_tick_, nodes_[i].tick);
    }
    overflow_min_valid_ = true;
  }
  return overflow_min_tick_;
}

void TimerWheel::SetCurrentTick(uint64_t tick) {
  cur_ = tick;
  cur_min_ = std::numeric_limits<int64_t>::min();
}

void TimerWheel::CollectDue(int64_t now_ns) {
  const uint16_t list = static_cast<uint16_t>(cur_ & kSlotMask);
  if (ListEmpty(list) || now_ns < cur_min_) return;
  counters_.Add(TimerWheelCounter::kSlotsVisited);
  int64_t remaining_min = std::numeric_limits<int64_t>::max();
  uint32_t i = nodes_[Sentinel(list)].next;
  while (i != Sentinel(list)) {
    const uint32_t next = nodes_[i].next;
    if (nodes_[i].deadline <= now_ns) {
      Unlink(i);
      Link(i, kExpiringList);
    } else {
      remaining_min = std::min(remaining_min, nodes_[i].deadline);
    }
    i = next;
  }
  cur_min_ = remaining_min;
}

TimerWheel::Step TimerWheel::NextStep() {
  // The next occupied tick of the current 256-tick block, else the start of the first block (of
  // the lowest level that has one) whose slot must be cascaded, else the overflow's block.
  if (const int slot = FirstSlotFrom(0, (cur_ & kSlotMask) + 1); slot != kNoSlot) {
    return Step{(cur_ & ~kSlotMask) | static_cast<uint64_t>(slot), 0};
  }
  for (int level = 1; level < kLevels; ++level) {
    const int slot = FirstSlotFrom(level, SlotOf(cur_, level) + 1);
    if (slot == kNoSlot) continue;
    const int above = kBits * (level + 1);
    return Step{((cur_ >> above) << above) | (static_cast<uint64_t>(slot) << (kBits * level)),
                level};
  }
  if (overflow_size_ != 0) {
    const int above = kBits * kLevels;
    return Step{(OverflowMinTick() >> above) << above, kLevels};
  }
  return Step{};
}

void TimerWheel::Cascade(int level) {
  counters_.Add(TimerWheelCounter::kSlotsVisited);
  if (level == kLevels) {
    // Only the timers of the block just entered leave the overflow list.
    uint32_t i = nodes_[Sentinel(kOverflowList)].next;
    while (i != Sentinel(kOverflowList)) {
      const uint32_t next = nodes_[i].next;
      if (LevelOf(nodes_[i].tick, cur_) < kLevels) {
        Unlink(i);
        Place(i);
        counters_.Add(TimerWheelCounter::kCascaded);
      }
      i = next;
    }
    return;
  }
  const uint16_t list = static_cast<uint16_t>(level * kSlots + SlotOf(cur_, level));
  while (!ListEmpty(list)) {
    const uint32_t i = nodes_[Sentinel(list)].next;
    Unlink(i);
    Place(i);  // onto a lower level, in order: equal ticks keep their relative order
    counters_.Add(TimerWheelCounter::kCascaded);
  }
}

bool TimerWheel::StepToward(uint64_t target) {
  if (cur_ >= target) return false;
  const Step step = NextStep();
  if (step.tick > target) {
    // Nothing happens up to target. (I) still holds there: target shares with cur_ every byte
    // above the level of the next step, and no timer is filed before that step.
    SetCurrentTick(target);
    return false;
  }
  // Every timer of the current tick fired (all were due, since target is a later tick), and by
  // (I) the levels below the cascaded one are empty: the jump loses nothing.
  SetCurrentTick(step.tick);
  if (step.level != 0) Cascade(step.level);
  return true;
}

void TimerWheel::BeginAdvance() { in_advance_ = true; }

void TimerWheel::EndAdvance() {
  in_advance_ = false;
  while (!ListEmpty(kDeferredList)) {
    const uint32_t i = nodes_[Sentinel(kDeferredList)].next;
    Unlink(i);
    Place(i);
  }
}

}  // namespace braid::runtime
