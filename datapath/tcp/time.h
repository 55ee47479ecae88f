// Engine time. The TCP and MPTCP engines are sans-I/O (architecture.md §4): they never read a
// clock; time arrives as an Instant parameter. EngineClock has no now(): production passes the
// runtime's monotonic clock, tests a scripted one, the simulator its virtual clock, all as
// nanoseconds since an arbitrary epoch.
#pragma once

#include <chrono>
#include <cstdint>

namespace braid::tcp {

struct EngineClock {
  using rep = int64_t;
  using period = std::nano;
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<EngineClock>;
  static constexpr bool is_steady = true;
};

using Instant = EngineClock::time_point;
using Duration = std::chrono::nanoseconds;

inline constexpr Instant InstantFromNanos(int64_t ns) { return Instant(Duration(ns)); }
inline constexpr int64_t NanosSinceEpoch(Instant t) { return t.time_since_epoch().count(); }

}  // namespace braid::tcp
