#include "datapath/runtime/idle_policy.h"

#include <poll.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "absl/strings/str_cat.h"
#include "datapath/runtime/clock.h"

namespace braid::runtime {
namespace {

std::string Nanos(tcp::Duration d) { return absl::StrCat(d.count(), " ns"); }

}  // namespace

std::optional<IdleMode> ParseIdleMode(std::string_view name) {
  if (name == "busy") return IdleMode::kBusyPoll;
  if (name == "adaptive") return IdleMode::kAdaptive;
  return std::nullopt;
}

std::string_view IdleModeName(IdleMode mode) {
  switch (mode) {
    case IdleMode::kBusyPoll:
      return "busy";
    case IdleMode::kAdaptive:
      return "adaptive";
  }
  return "unknown";
}

absl::Status IdleConfig::Validate() const {
  if (spin < tcp::Duration::zero()) {
    return absl::InvalidArgumentError(
        absl::StrCat("idle spin must not be negative, got ", Nanos(spin)));
  }
  if (min_sleep <= tcp::Duration::zero()) {
    return absl::InvalidArgumentError(
        absl::StrCat("idle min_sleep must be positive, got ", Nanos(min_sleep)));
  }
  if (max_sleep < min_sleep) {
    return absl::InvalidArgumentError(absl::StrCat(
        "idle max_sleep (", Nanos(max_sleep), ") is below min_sleep (", Nanos(min_sleep), ")"));
  }
  if (max_sleep > kMaxSleepLimit) {
    return absl::InvalidArgumentError(absl::StrCat(
        "idle max_sleep must be at most ", Nanos(kMaxSleepLimit), ", got ", Nanos(max_sleep)));
  }
  return absl::OkStatus();
}

IdlePolicy::IdlePolicy(const IdleConfig& config) : config_(config) {
  config_.spin = std::max(config_.spin, tcp::Duration::zero());
  config_.min_sleep = std::clamp(config_.min_sleep, tcp::Duration(1), IdleConfig::kMaxSleepLimit);
  config_.max_sleep = std::clamp(config_.max_sleep, config_.min_sleep, IdleConfig::kMaxSleepLimit);
  next_sleep_ = config_.min_sleep;
}

tcp::Duration IdlePolicy::OnIteration(tcp::Instant now, bool did_work,
                                      std::optional<tcp::Instant> next_deadline) {
  ++stats_.iterations;
  if (did_work) {
    ++stats_.busy_iterations;
  } else {
    ++stats_.idle_iterations;
  }
  if (did_work || !last_work_) {
    last_work_ = now;
    next_sleep_ = config_.min_sleep;
  }
  // An iteration that did work polls again whatever the spin: more is likely queued behind it.
  if (did_work || config_.mode == IdleMode::kBusyPoll || now - *last_work_ < config_.spin) {
    return tcp::Duration::zero();
  }
  tcp::Duration sleep = next_sleep_;
  if (next_deadline) sleep = std::min(sleep, *next_deadline - now);
  if (sleep < config_.min_sleep) return tcp::Duration::zero();
  next_sleep_ = std::min(next_sleep_ * 2, config_.max_sleep);
  return sleep;
}

void IdlePolicy::Sleep(tcp::Duration d) {
  if (d <= tcp::Duration::zero()) return;
  const tcp::Instant start = MonotonicNow();
  const int64_t wake = tcp::NanosSinceEpoch(start + d);
  const timespec at{.tv_sec = wake / 1'000'000'000, .tv_nsec = wake % 1'000'000'000};
  // clock_nanosleep returns the error instead of setting errno.
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr) == EINTR) {
  }
  ++stats_.sleeps;
  stats_.slept += MonotonicNow() - start;
}

void IdlePolicy::Sleep(tcp::Duration d, WakeSources* wake) {
  if (wake == nullptr) {
    Sleep(d);
    return;
  }
  if (d <= tcp::Duration::zero()) return;
  wake_fds_.clear();
  if (!wake->PrepareSleep(wake_fds_)) {
    for (pollfd& p : wake_fds_) p.revents = 0;
    wake->FinishSleep(wake_fds_);
    ++stats_.sleeps_skipped;
    return;
  }
  for (pollfd& p : wake_fds_) {
    p.events = POLLIN;
    p.revents = 0;
  }
  const tcp::Instant start = MonotonicNow();
  const tcp::Instant end = start + d;
  int ready = 0;
  for (;;) {
    const int64_t left =
        std::max<int64_t>(tcp::NanosSinceEpoch(end) - tcp::NanosSinceEpoch(MonotonicNow()), 0);
    const timespec timeout{.tv_sec = left / 1'000'000'000, .tv_nsec = left % 1'000'000'000};
    ready = ppoll(wake_fds_.data(), wake_fds_.size(), &timeout, nullptr);
    // A signal (EINTR) does not end the sleep early; the deadline stays absolute.
    if (ready >= 0 || errno != EINTR) break;
  }
  if (ready < 0) {
    for (pollfd& p : wake_fds_) p.revents = 0;
  }
  wake->FinishSleep(wake_fds_);
  ++stats_.sleeps;
  if (ready > 0) ++stats_.woken;
  stats_.slept += MonotonicNow() - start;
}

}  // namespace braid::runtime
