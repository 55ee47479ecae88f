// The Packet Scheduler: which subflow(s) carry the next chunk of an MPTCP connection's data, the
// counterpart of the kernel's net/mptcp/sched.c. One interface, a registry of policies chosen by
// name per connection, and a default ("default": lowest RTT, like the kernel's) that cannot be
// removed (conventions.md "Policies").
//
// How the connection uses it (mptcp/connection.h): whenever data waits to be sent — new data, or a
// reinjection of data stuck on a failed subflow — and something changed (data queued, an ACK, a
// subflow came or went), the connection takes a snapshot of its subflows and asks Select(). It
// then hands at most `max_bytes` of data (one DSS mapping) to each chosen subflow and asks again,
// until Select returns nothing or the data or window runs out. Select is called per chunk (up to
// 64 KiB, the kernel's MPTCP_SEND_BURST_SIZE), never per packet, so a virtual call is cheap here.
//
// A scheduler only decides; it never sends, never allocates, and keeps per-connection state
// (round-robin position, say) in its own object: the registry creates one per connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "datapath/tcp/time.h"

namespace braid::mptcp {

// What the scheduler may know about one subflow, taken just before Select().
struct SubflowSnapshot {
  uint32_t id = 0;      // the connection's subflow id (stable while the subflow lives)
  bool backup = false;  // backup priority, ours or the peer's (MP_JOIN B flag, MP_PRIO)
  // May carry data now: fully established (RFC 8684 §3.2: a joined subflow after the fourth ACK),
  // not closing, not stale, not failed.
  bool active = false;
  // No progress for several RTOs while data was outstanding (the kernel's "stale" subflow):
  // never chosen for new data while another subflow is active.
  bool stale = false;
  tcp::Duration srtt{0};  // 0 before the first RTT sample
  tcp::Duration rttvar{0};
  tcp::Duration min_rtt{0};
  uint64_t cwnd = 0;               // bytes
  uint64_t in_flight = 0;          // bytes sent, not acknowledged
  uint64_t queued = 0;             // bytes handed to TCP and not yet sent
  uint32_t mss = 0;                // payload bytes per segment
  uint64_t delivery_rate_bps = 0;  // 0 until measured
  // Bytes this subflow can send now without queueing behind its congestion window:
  // max(0, cwnd - in_flight - queued), also bounded by its free send buffer. The connection gives
  // a chosen subflow at most this much (and at least one MSS when it is 0 but the scheduler still
  // chose it, e.g. the redundant scheduler duplicating a small write).
  uint64_t send_space = 0;
};

// What the scheduler may know about the connection.
struct ScheduleContext {
  tcp::Instant now{};
  // Data-level bytes waiting to be sent for the first time (new data).
  uint64_t unsent = 0;
  // Data-level send window left (RFC 8684 §3.3.4): bytes the peer accepts beyond what is in flight.
  uint64_t send_window = 0;
  // Choosing for a reinjection: the data was already sent on the subflows in `exclude`, which
  // must not be chosen again (RFC 8684 §3.3.6).
  bool reinjection = false;
  // Subflow ids not to choose (bit i = id i, ids < 64).
  uint64_t exclude = 0;
};

// The answer: the subflows to put the next chunk on (the same data on each when there are
// several: the redundant scheduler), each with at most `max_bytes`. Empty means "send nothing
// now" — no subflow has room, or a policy prefers to wait for a faster one (BLEST, ECF).
struct ScheduleDecision {
  static constexpr size_t kMaxChoices = 8;
  uint32_t subflows[kMaxChoices] = {};
  size_t count = 0;
  uint64_t max_bytes = 0;
  // The chosen subflow may be handed more than its room (MptcpConnection::ExtendedChunk): the
  // scheduler picked it for being fastest and sized the chunk by room alone, not to bound
  // head-of-line blocking as BLEST and ECF do.
  bool may_extend = false;

  bool empty() const { return count == 0; }
  void Add(uint32_t id) {
    if (count < kMaxChoices) subflows[count++] = id;
  }
  std::span<const uint32_t> chosen() const { return {subflows, count}; }
};

// The kernel's MPTCP_SEND_BURST_SIZE: a scheduler keeps choosing the same subflow for up to this
// many bytes before it looks again, and a DSS mapping is never longer (its length is 16 bits).
inline constexpr uint64_t kSendBurstBytes = 65428;

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  virtual std::string_view name() const = 0;
  // Never returns an id that is not in `subflows`, not active, or excluded; never chooses a
  // backup subflow while a non-backup one is active; max_bytes is at least 1 and at most
  // kSendBurstBytes when the decision is not empty.
  virtual ScheduleDecision Select(std::span<const SubflowSnapshot> subflows,
                                  const ScheduleContext& context) = 0;
  // The connection sent `bytes` on subflow `id` as a result of the last decision (for policies
  // that count bursts or rotate).
  virtual void OnSent(uint32_t /*id*/, uint64_t /*bytes*/) {}
};

using SchedulerFactory = std::function<std::unique_ptr<Scheduler>()>;

// Policies by name. Built-ins: "default" (lowest RTT; cannot be removed or replaced),
// "roundrobin", "redundant", "blest", "ecf". Control plane: build at start, read afterwards.
class SchedulerRegistry {
 public:
  static constexpr std::string_view kDefault = "default";

  SchedulerRegistry();  // registers the built-ins

  // AlreadyExists for a taken name; InvalidArgument for an empty name or a null factory.
  absl::Status Register(std::string name, SchedulerFactory factory);
  // FailedPrecondition for "default"; NotFound for an unknown name.
  absl::Status Unregister(std::string_view name);
  // NotFound naming the unknown scheduler and listing the known ones.
  absl::StatusOr<std::unique_ptr<Scheduler>> Create(std::string_view name) const;
  bool Contains(std::string_view name) const;
  std::vector<std::string> Names() const;  // sorted

 private:
  std::map<std::string, SchedulerFactory, std::less<>> factories_;
};

}  // namespace braid::mptcp
