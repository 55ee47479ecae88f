// Software steering's data path (steering.h has the policy): one HandoffRing per worker, into
// which any RX stage puts the frames that worker owns, and which only that worker drains
// (multi-producer, single-consumer rte_ring). A worker that polls a device RX queue runs a
// SoftwareSteering over each burst: its own frames come back to it directly, the others go to
// their owners' rings in one enqueue per owner, and broadcast frames (ARP, neighbour discovery)
// go to every worker with the mbuf's reference count raised (the frame is read-only from then on:
// the net layer never writes received frames). A full ring drops and counts (handoff_ring_full):
// nothing waits, nothing leaks.
#pragma once

#include <rte_mbuf.h>
#include <rte_ring.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "datapath/io/io_counters.h"
#include "datapath/io/mbuf.h"
#include "datapath/io/steering.h"

namespace braid::io {

class HandoffRing {
 public:
  // `size`: a power of two (the ring holds size - 1 frames); `socket`: the consumer's NUMA socket.
  // The name must be unique in the process (RTE_RING_NAMESIZE - 1 characters at most).
  static absl::StatusOr<HandoffRing> Create(const std::string& name, unsigned size, int socket);

  HandoffRing() = default;
  HandoffRing(HandoffRing&& other) noexcept;
  HandoffRing& operator=(HandoffRing&& other) noexcept;
  HandoffRing(const HandoffRing&) = delete;
  HandoffRing& operator=(const HandoffRing&) = delete;
  // Frees the frames still in the ring, then the ring.
  ~HandoffRing();

  // Any thread. Returns how many of `frames` (from the front) the ring took.
  unsigned Enqueue(std::span<rte_mbuf* const> frames) {
    return rte_ring_mp_enqueue_burst(ring_, reinterpret_cast<void* const*>(frames.data()),
                                     static_cast<unsigned>(frames.size()), nullptr);
  }
  // The owning worker only.
  unsigned Dequeue(std::span<rte_mbuf*> out) {
    return rte_ring_sc_dequeue_burst(ring_, reinterpret_cast<void**>(out.data()),
                                     static_cast<unsigned>(out.size()), nullptr);
  }
  unsigned count() const { return ring_ == nullptr ? 0 : rte_ring_count(ring_); }
  unsigned capacity() const { return ring_ == nullptr ? 0 : rte_ring_get_capacity(ring_); }
  const std::string& name() const { return name_; }

 private:
  void Drain();

  rte_ring* ring_ = nullptr;
  std::string name_;
};

// Burst size SoftwareSteering::Dispatch handles in one call.
inline constexpr size_t kMaxDispatchBurst = 64;

// The RX stage of one worker: splits the bursts it receives by owner. Owned by that worker (its
// SteeringTable too: flows moved between workers are applied to it between bursts).
class SoftwareSteering {
 public:
  // `rings[w]` is worker w's ring (all of them, self included; self's is not used here); they and
  // `table` must outlive this object.
  SoftwareSteering(const SteeringTable* table, uint16_t self, std::span<HandoffRing* const> rings);

  // Frames of `burst` that `self` owns are written to `mine` (at least burst.size() entries; it
  // may be the burst's own array) and counted; the rest go to their owners' rings, one enqueue
  // per owner per kMaxDispatchBurst frames. Returns how many are in `mine`. Every mbuf of `burst`
  // ends in exactly one place (mine, a ring, or freed and counted), broadcast frames in every
  // worker's.
  uint16_t Dispatch(std::span<rte_mbuf* const> burst, std::span<rte_mbuf*> mine);

  uint16_t self() const { return self_; }
  const IoCounters& counters() const { return counters_; }

 private:
  void Stage(uint16_t worker, rte_mbuf* m);

  const SteeringTable* table_;
  uint16_t self_;
  std::vector<HandoffRing*> rings_;
  // Per-worker staging for one burst: workers x kMaxDispatchBurst, taken at construction.
  std::vector<rte_mbuf*> staged_;
  std::vector<uint16_t> staged_count_;
  std::vector<uint16_t> touched_;  // workers with something staged, in order
  IoCounters counters_;
};

// A worker's handoff inbox: drains its ring (counted handoff_received).
inline unsigned ReceiveHandoff(HandoffRing& ring, std::span<rte_mbuf*> out, IoCounters& counters) {
  const unsigned n = ring.Dequeue(out);
  counters.Add(IoCounter::kHandoffReceived, n);
  return n;
}

}  // namespace braid::io
