// Whether a worker polls again at once or sleeps after a loop iteration (architecture.md §2).
// A worker that is busy must never sleep: a sleep costs at least the kernel's wake-up latency
// (tens of microseconds with the default 50 us timer slack) on every packet. An idle worker must
// not burn its core either: on a small machine (2-core CI) the cores are shared with the peers of
// the test and with the other workers. kAdaptive polls on for `spin` after the last iteration that
// did work (traffic usually comes in bursts), then sleeps, starting at `min_sleep` and doubling up
// to `max_sleep` while nothing happens, never past the next timer. kBusyPoll is the classic DPDK
// loop for dedicated cores.
//
// The worker cannot learn that a frame arrived while it sleeps (no interrupts on a polled queue),
// so `max_sleep` bounds the latency an idle worker adds to the first packet of a new burst.
#pragma once

#include <poll.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "datapath/tcp/time.h"

namespace braid::runtime {

enum class IdleMode : uint8_t { kBusyPoll, kAdaptive };

// "busy", "adaptive" (the config names); nullopt for anything else.
std::optional<IdleMode> ParseIdleMode(std::string_view name);
std::string_view IdleModeName(IdleMode mode);

struct IdleConfig {
  IdleMode mode = IdleMode::kAdaptive;
  // Keep polling this long after the last iteration that did work.
  tcp::Duration spin = std::chrono::microseconds(200);
  // Sleeps double from min_sleep to max_sleep while the worker stays idle.
  tcp::Duration min_sleep = std::chrono::microseconds(10);
  tcp::Duration max_sleep = std::chrono::milliseconds(1);

  // The longest max_sleep accepted: the worker serves its control ring and app channels only
  // between sleeps, so a longer one would stall them.
  static constexpr tcp::Duration kMaxSleepLimit = std::chrono::seconds(1);

  // InvalidArgument naming the field: negative spin, min_sleep not positive, max_sleep below
  // min_sleep or above kMaxSleepLimit.
  absl::Status Validate() const;
};

struct IdleStats {
  uint64_t iterations = 0;
  uint64_t busy_iterations = 0;  // did work
  uint64_t idle_iterations = 0;  // did none
  uint64_t sleeps = 0;           // Sleep calls that slept
  tcp::Duration slept{0};        // measured time inside those
  uint64_t woken = 0;            // sleeps ended early by a WakeSources descriptor
  uint64_t sleeps_skipped = 0;   // sleeps WakeSources called off (work found on re-check)
};

// What can end a worker's sleep early besides its timeout: descriptors that become readable (an
// app's doorbell, a unix connection, a listening socket). A sleep on them follows doorbell.h's
// protocol: PrepareSleep announces the sleep to whoever may wake the worker (their sleep flags),
// re-checks for work, and lists the descriptors; FinishSleep withdraws the announcement and sees
// which descriptors fired.
class WakeSources {
 public:
  virtual ~WakeSources() = default;
  // Appends the descriptors to wait on (POLLIN is asked for each) to `fds`, after announcing the
  // sleep. False when the re-check found work: the worker does not sleep.
  virtual bool PrepareSleep(std::vector<pollfd>& fds) = 0;
  // After the sleep, or at once when PrepareSleep returned false (then `fds` has no events).
  virtual void FinishSleep(std::span<const pollfd> fds) = 0;
};

class IdlePolicy {
 public:
  // `config` should pass Validate(); out-of-range sleeps are clamped into [1 ns, kMaxSleepLimit].
  explicit IdlePolicy(const IdleConfig& config);

  // After each iteration: how long to sleep now; zero means poll again at once. Any work restarts
  // the spin and the sleep doubling; kBusyPoll always returns zero; a sleep never ends after
  // `next_deadline` (the earliest timer, already due or not), and a sleep shorter than min_sleep
  // is not worth the system call, so the worker polls until that deadline instead. The first
  // iteration starts the spin as if it had done work.
  tcp::Duration OnIteration(tcp::Instant now, bool did_work,
                            std::optional<tcp::Instant> next_deadline);

  // Sleeps at least `d` on CLOCK_MONOTONIC (the clock of tcp::Instant in production), to an
  // absolute wake-up time so that signals (EINTR) do not stretch it; zero or negative returns at
  // once. The thread's timer slack (prctl PR_SET_TIMERSLACK, 50 us by default) is added by the
  // kernel.
  void Sleep(tcp::Duration d);
  // As Sleep, but in ppoll on `wake`'s descriptors, so that one of them becoming readable ends
  // the sleep early (doorbell-aware sleeping, architecture.md §6). Without `wake`: Sleep(d).
  void Sleep(tcp::Duration d, WakeSources* wake);

  const IdleStats& stats() const { return stats_; }
  const IdleConfig& config() const { return config_; }

 private:
  IdleConfig config_;
  std::optional<tcp::Instant> last_work_;
  tcp::Duration next_sleep_;  // the next sleep of the doubling
  IdleStats stats_;
  std::vector<pollfd> wake_fds_;  // reused by every sleep on WakeSources
};

}  // namespace braid::runtime
