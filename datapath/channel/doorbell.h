// Doorbells and the race-free sleep protocol between the service and an app.
//
// A side with nothing to do blocks on its doorbell; the other side rings it after publishing
// work, but only while the sleeper's flag (RegionHeader::app_sleeping / service_sleeping) says
// it is asleep, so a busy channel costs no system calls. The classic lost wake-up — a ring sent
// while the other side was still deciding to sleep — is excluded by ordering both halves around
// a full fence (a Dekker pair):
//   sleeper: flag = 1; fence; re-check for work; block on the doorbell (with a timeout); flag = 0
//   waker:   publish;  fence; if flag: ring
// Either the sleeper's re-check sees the work, or the waker sees the flag. The waker also swaps
// the flag back to 0 when it rings, so a burst of publishes rings once per sleep. A flag is not
// a count: one sleeper per flag (threads of one side that wait together share one sleep).
//
// The doorbell itself is one end of a unix stream socketpair, not an eventfd: an eventfd is a
// single open file shared by both processes, so an app could clear its O_NONBLOCK and then fill
// its counter, and the service's next ring would block forever. Each process owns its own end of
// a socketpair and its own file status flags, every send and receive here is MSG_DONTWAIT, and a
// dead peer shows as end-of-file (kPeerGone) instead of silence. Ringing one end wakes the
// other: the service's end and the app's end of the same pair are "the service doorbell" and
// "the app doorbell".
//
// This header depends on the standard library and Linux only (the SDK includes it).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <utility>

#include "datapath/channel/shm.h"
#include "datapath/channel/unique_fd.h"

namespace braid::channel {

enum class WaitResult : uint8_t {
  kWork,      // the re-check found work: did not block
  kRung,      // the other end rang
  kTimeout,   // nothing within the timeout
  kPeerGone,  // the other end is closed: the peer process is gone
  kError,     // poll/recv failed (errno says why)
};

const char* WaitResultName(WaitResult result);

class Doorbell {
 public:
  struct Pair;

  // A connected pair: `service` stays in the service, `app` is handed to the app (SendWelcome).
  // On failure returns nothing and sets *error (if given) to the errno value.
  static std::optional<Pair> CreatePair(int* error = nullptr);
  // Adopts an end received from the other process.
  static Doorbell FromFd(UniqueFd fd) { return Doorbell(std::move(fd)); }

  Doorbell() = default;
  Doorbell(Doorbell&&) noexcept = default;
  Doorbell& operator=(Doorbell&&) noexcept = default;

  bool valid() const { return fd_.valid(); }
  // For poll/epoll: readable when the other end rang (or closed).
  int fd() const { return fd_.get(); }
  UniqueFd Release() { return std::move(fd_); }

  // Wakes the other end. Never blocks: a full socket buffer means rings are already pending,
  // which counts as rung. False when the other end is gone or on error.
  bool Ring() const;
  // Blocks until the other end rings, `timeout` passes, or the other end closes. Does not
  // consume the ring: call Drain() after waking.
  WaitResult Wait(std::chrono::milliseconds timeout) const;
  // Consumes pending rings without blocking, a bounded amount per call (a peer ringing
  // non-stop costs the caller spurious wake-ups, never an endless loop). False when the other
  // end is gone or on error.
  bool Drain() const;

 private:
  explicit Doorbell(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

struct Doorbell::Pair {
  Doorbell service;
  Doorbell app;
};

// Sleeper, step 1: announce the sleep. The fence orders the flag before the re-check.
inline void AnnounceSleep(std::atomic<uint32_t>& my_flag) {
  my_flag.store(1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

// Sleeper, last step: awake again.
inline void EndSleep(std::atomic<uint32_t>& my_flag) {
  my_flag.store(0, std::memory_order_relaxed);
}

// Waker: call after publishing (ring pushes or pops, FIFO writes or consumes) with the other
// side's flag and this side's doorbell end. Rings when the other side sleeps; returns whether
// it rang (false also when the other end is gone). The flag may be any value an untrusted peer
// wrote: non-zero reads as asleep.
inline bool WakePeer(std::atomic<uint32_t>& peer_flag, const Doorbell& my_bell) {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (peer_flag.load(std::memory_order_relaxed) == 0) return false;
  if (peer_flag.exchange(0, std::memory_order_relaxed) == 0) return false;  // another waker did
  return my_bell.Ring();
}

// The sleeper's whole protocol: announce, re-check `has_work` (a callable returning bool),
// block up to `timeout`, drain, end. kWork when the re-check found work; otherwise what Wait
// said (kRung after a successful drain, kPeerGone when the other end is closed). A wake-up may
// be spurious: the caller re-checks for work in any case.
template <typename HasWork>
WaitResult SleepUntilWork(std::atomic<uint32_t>& my_flag, const Doorbell& my_bell,
                          HasWork&& has_work, std::chrono::milliseconds timeout) {
  AnnounceSleep(my_flag);
  if (has_work()) {
    EndSleep(my_flag);
    return WaitResult::kWork;
  }
  WaitResult result = my_bell.Wait(timeout);
  EndSleep(my_flag);
  if (result == WaitResult::kRung && !my_bell.Drain()) result = WaitResult::kPeerGone;
  return result;
}

struct SpinPolicy {
  uint32_t spins = 256;  // checks of has_work before sleeping
  std::chrono::milliseconds timeout{1000};
};

// Polls `has_work` up to policy.spins times, then sleeps as SleepUntilWork. Spinning first
// keeps the doorbell (two system calls and two context switches) off a busy channel.
template <typename HasWork>
WaitResult SpinThenSleep(std::atomic<uint32_t>& my_flag, const Doorbell& my_bell,
                         HasWork&& has_work, SpinPolicy policy = {}) {
  for (uint32_t i = 0; i < policy.spins; ++i) {
    if (has_work()) return WaitResult::kWork;
    CpuRelax();
  }
  return SleepUntilWork(my_flag, my_bell, has_work, policy.timeout);
}

}  // namespace braid::channel
