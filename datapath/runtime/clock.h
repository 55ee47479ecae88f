// The runtime's clock: CLOCK_MONOTONIC as engine time (tcp/time.h). Read once per loop iteration
// by a worker and passed down as `now`; the engines never read it themselves (architecture.md §4).
// clock_gettime(CLOCK_MONOTONIC) is a vDSO call (~20 ns), cheap enough per burst, and unlike the
// TSC it needs no calibration and is the same clock as the kernel's timers and sleeps.
#pragma once

#include <time.h>

#include <cstdint>

#include "datapath/tcp/time.h"

namespace braid::runtime {

inline tcp::Instant MonotonicNow() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return tcp::InstantFromNanos(int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec);
}

}  // namespace braid::runtime
