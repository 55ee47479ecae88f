// The app's end of one channel (docs/channel-protocol.md): the mapped region, the doorbell, the
// unix connection to the service, the slot table, the command ring (one producer at a time under
// a mutex) and the event pump.
//
// Threads. Any thread makes progress by pumping events (Pump); a thread that must wait calls
// Block, which sleeps until the channel made progress (an event applied, a local state change,
// the channel's death), one of the caller's own descriptors is ready, or a deadline. The region
// has a single app sleep flag, and a flag is not a count (doorbell.h): so only one thread at a
// time — the sleeper — announces its sleep and waits on the doorbell. Every other waiter waits on
// its thread's own eventfd, which whoever applies events signals; when the sleeper wakes it
// hands the role over by signalling the others too. Progress is a counter read before the
// caller's last check and compared under the mutex before sleeping, so no wake-up is lost.
//
// Every sleep also watches the unix connection: its hang-up (or a doorbell at end of file, or
// service_state leaving kRunning, or an impossible ring index, or an event that does not decode)
// makes the channel dead, and every socket on it fails with ECONNABORTED from then on.
#pragma once

#include <poll.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "datapath/channel/doorbell.h"
#include "datapath/channel/handover.h"
#include "datapath/channel/layout.h"
#include "datapath/channel/region.h"
#include "datapath/channel/spsc_ring.h"
#include "datapath/channel/unique_fd.h"

namespace braid::sdk {

class Socket;

using Clock = std::chrono::steady_clock;
// No deadline: wait as long as it takes.
using Deadline = std::optional<Clock::time_point>;

// How the library was configured (braid_config with the environment's defaults filled in).
struct Config {
  std::string socket_path = "@braid/node";
  std::string app_name;
  int fallback = 0;  // BRAID_FALLBACK_*
  int wait_ms = 5000;
  int spin_us = 50;
};

// The answer to one command a caller waits for (Channel::Call).
struct PendingOp {
  bool done = false;
  int error = 0;
  channel::EventKind kind = channel::EventKind::kDone;
  channel::InfoArgs info;      // kInfo
  std::vector<uint8_t> value;  // kOptValue records, concatenated
  uint32_t value_total = 0;    // the option's whole length (the first record's aux)
};

// Slots a listener keeps offered to the service for incoming connections (kAcceptInto).
inline constexpr size_t kPostedPerListener = 4;
// How long a new socket waits for a slot that a closed socket still holds.
inline constexpr int kSlotWaitMs = 2000;

class Channel {
 public:
  // Connects to the service at config.socket_path, maps the region and checks it is running.
  static absl::StatusOr<std::shared_ptr<Channel>> Attach(const Config& config);
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  uint64_t epoch() const { return region_.epoch(); }
  const channel::AppRegion& region() const { return region_; }
  int spin_us() const { return spin_us_; }
  // The channel is unusable: the service went away, stopped, broke the protocol, or this
  // process is a fork child of the one that attached it.
  bool dead() const { return dead_.load(std::memory_order_acquire) || foreign(); }
  // This process did not attach the channel (it is a fork child): it never touches it.
  bool foreign() const;
  // dead() after a look at the unix connection and service_state (one poll system call): for
  // decisions that must not trust a channel nobody has waited on lately (a new socket).
  bool CheckAlive();
  // What ended the channel ("" while it lives).
  std::string death_reason() const;
  // Bumped under the mutex whenever events were applied or local state changed.
  uint64_t progress() const { return progress_.load(std::memory_order_acquire); }

  // The state mutex: socket state changed by events, the slot table, pending commands.
  std::mutex& mu() { return mu_; }

  // Reserves a free slot for `socket` (generation bumped); the socket's handle is returned.
  // ENFILE-like exhaustion is reported as ENOBUFS. Requires mu().
  int AllocateSlotLocked(const std::shared_ptr<Socket>& socket, uint32_t* handle);
  // As AllocateSlotLocked, but when every slot is taken and some belong to sockets the app
  // closed (their slots come back with the service's kClosed), waits for one, up to
  // kSlotWaitMs. Must not be called with mu() held.
  int AllocateSlot(const std::shared_ptr<Socket>& socket, uint32_t* handle);
  // Offers `listener` fresh slots (kAcceptInto) up to kPostedPerListener; the commands go to
  // `out`. A listener left short (no free slot) is topped up when a slot is freed. Requires
  // mu().
  void PostAcceptsLocked(const std::shared_ptr<Socket>& listener,
                         std::vector<channel::Command>* out);
  // Gives a slot back (the service released it or never took it). Requires mu().
  void FreeSlotLocked(uint32_t handle);

  uint64_t NextCookie() { return next_cookie_.fetch_add(1, std::memory_order_relaxed); }

  // Pushes one command and rings the service if it sleeps. Waits (pumping events) while the
  // command ring is full. False when the channel is dead. Must not be called with mu() held.
  bool Push(const channel::Command& command);
  // Pushes a command answered by events carrying its cookie and waits for the answer: returns
  // 0 or the errno (ECONNABORTED when the channel died first).
  int Call(const channel::Command& command, PendingOp& op);

  // Takes and applies every waiting event. Never blocks on anything but the mutex.
  void Pump();
  void PumpLocked();

  enum class BlockResult { kProgress, kExtraReady, kTimeout, kDead, kInterrupted };
  // Sleeps until progress() differs from `seen`, one of `extra` is ready (revents filled in),
  // `deadline` passes, the channel dies, or a signal interrupts the sleep (kInterrupted:
  // poll and epoll_wait return EINTR then). Pumps before it sleeps. `sigmask`: the signal mask
  // in force while it sleeps (ppoll's), nullptr for the thread's own.
  BlockResult Block(uint64_t seen, std::span<pollfd> extra, Deadline deadline,
                    const sigset_t* sigmask = nullptr);

  // A local state change some waiter may be waiting for (a close, a shutdown): bumps progress
  // and wakes every waiter.
  void Wake();
  void WakeLocked();

  // Marks the channel dead and wakes everyone.
  void MarkDead(const std::string& why);
  void MarkDeadLocked(const std::string& why);

  // Every socket that still owns a slot (for braid_detach). Requires mu().
  std::vector<std::shared_ptr<Socket>> SocketsLocked() const;

  // In a fork child: lets go of the descriptors it inherited without touching shared state.
  void ForgetInChild();

 private:
  struct SlotEntry {
    uint32_t generation = 0;
    bool in_use = false;
    std::shared_ptr<Socket> socket;
  };

  Channel(channel::ChannelConnection connection, channel::AppRegion region, int spin_us);
  void ApplyEventLocked(const channel::EventRecord& record);
  bool ApplyOptValueLocked(const channel::EventRecord& record);
  std::shared_ptr<Socket> SocketForLocked(uint32_t handle) const;
  void SignalWaitersLocked();
  bool CheckStateLocked();
  // Pushes what the pump had to send while holding the state mutex (Push may wait for ring
  // room, which needs the pump: it never runs under the mutex).
  void FlushDeferredLocked();

  channel::UniqueFd connection_;
  channel::Doorbell bell_;
  channel::AppRegion region_;
  const int spin_us_;
  const uint64_t fork_generation_;

  std::mutex command_mu_;  // the command ring's single producer
  channel::RingProducer<channel::CommandRecord> commands_;

  mutable std::mutex mu_;
  channel::RingConsumer<channel::EventRecord> events_;
  std::vector<SlotEntry> slots_;
  std::vector<uint32_t> free_slots_;
  std::vector<std::pair<uint64_t, PendingOp*>> pending_;
  std::vector<channel::CommandRecord> deferred_;
  // Listeners with fewer than kPostedPerListener slots offered: FreeSlotLocked tops them up.
  std::vector<std::weak_ptr<Socket>> short_listeners_;
  bool sleeper_ = false;         // a thread waits on the doorbell
  int sleeper_wake_fd_ = -1;     // that thread's own eventfd
  std::vector<int> waiter_fds_;  // every other waiting thread's eventfd
  std::string death_reason_;

  std::atomic<uint64_t> progress_{1};
  std::atomic<bool> dead_{false};
  std::atomic<uint64_t> next_cookie_{1};
};

// Increments in every fork child (pthread_atfork): a channel attached under another generation
// belongs to an ancestor process.
uint64_t ForkGeneration();
void NoteForkInChild();

// The calling thread's eventfd for Block's wake-ups (created on first use).
int ThreadWakeFd();

}  // namespace braid::sdk
