// The rules every scheduling policy shares, in one place: which subflows may carry the next chunk
// at all, how subflows compare by RTT, and how large a chunk one subflow may take. Each policy
// builds a Candidates from Select()'s arguments and chooses among them.
//
// Eligibility (the kernel's mptcp_subflow_get_send() and its stale-subflow handling, net/mptcp):
//  - active (SubflowSnapshot::active), not in ScheduleContext::exclude, id < 64 (the exclude mask
//    has 64 bits); a snapshot should not repeat an id, and if it does the id is a candidate once;
//  - then one tier, the first of these that holds anyone: healthy non-backup, healthy backup,
//    stale non-backup, stale backup. Kernel commit "mptcp: faster active backup recovery": stale
//    subflows are not considered active, so when every non-backup subflow is stale the backups
//    carry the data; a stale subflow is used only when no healthy one is left.
//  - The tier depends on what exists, never on send space: a full non-backup subflow keeps the
//    backups out (RFC 8684 §3.3.8: backup subflows are used only when no regular one is
//    available).
//  - Nothing is eligible when there is nothing to send: no unsent data and not a reinjection.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "datapath/mptcp/scheduler/scheduler.h"

namespace braid::mptcp {

class Candidates {
 public:
  // Ids index the 64-bit exclude mask.
  static constexpr size_t kMaxSubflows = 64;

  Candidates(std::span<const SubflowSnapshot> subflows, const ScheduleContext& context);

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  const SubflowSnapshot& operator[](size_t i) const { return *items_[i]; }
  const SubflowSnapshot* const* begin() const { return items_.data(); }
  const SubflowSnapshot* const* end() const { return items_.data() + size_; }

  // The candidate with this id, or nullptr.
  const SubflowSnapshot* Find(uint32_t id) const;
  // The fastest candidate by RttBefore(), or nullptr if there is none.
  const SubflowSnapshot* Fastest() const;
  // The fastest candidate with send space, other than `skip` (may be nullptr), or nullptr.
  const SubflowSnapshot* FastestWithSpace(const SubflowSnapshot* skip = nullptr) const;

 private:
  std::array<const SubflowSnapshot*, kMaxSubflows> items_{};
  size_t size_ = 0;
};

// Orders subflows by smoothed RTT, fastest first. A subflow without an RTT sample (srtt 0) ranks
// after every measured one; equal RTTs go to the lower id, so the order is total and stable.
bool RttBefore(const SubflowSnapshot& a, const SubflowSnapshot& b);

// The chunk one subflow may take: its send space, at most one DSS mapping (kSendBurstBytes),
// at least one byte.
uint64_t ChunkBytes(const SubflowSnapshot& subflow);

// A decision for one subflow.
ScheduleDecision ChooseOne(uint32_t id, uint64_t max_bytes);

}  // namespace braid::mptcp
