// Coupling state of MPTCP's coupled congestion controllers (LIA, RFC 6356; OLIA, Khalili et al.,
// "MPTCP is not Pareto-optimal", CoNEXT 2012). One MPTCP connection owns a CoupledGroup and shares
// it (std::shared_ptr, through TcpConfig::coupling) with the controllers of its subflows. Each
// controller publishes what the others need — cwnd, smoothed RTT, SMSS and, for OLIA, its
// inter-loss byte counts — and reads back the group-wide terms of its increase, computed on demand
// from a small fixed table: nothing allocates after construction.
//
// Single-threaded: one worker owns a connection and all its subflows, so there is no locking.
//
// Who is counted: only members with an RTT estimate (srtt > 0), as the Linux MPTCP controllers
// count only subflows that can send and have an srtt. A subflow that has not measured a round trip
// has not carried data, and both algorithms divide by the RTT.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

#include "datapath/tcp/time.h"

namespace braid::tcp {

// What one member publishes. Windows and byte counts are bytes.
struct CoupledMemberState {
  uint64_t cwnd = 0;
  // RttEstimator::srtt(); zero before the first sample, and the member is then left out.
  Duration srtt{0};
  uint32_t smss = 0;
  // OLIA's inter-loss counts (Khalili et al.): l1, the bytes acknowledged between the last
  // two losses, and l2, the bytes acknowledged since the last loss. l_r = max(l1, l2).
  uint64_t bytes_between_losses = 0;
  uint64_t bytes_since_loss = 0;
};

// OLIA's path sets over the group's members, one bit per slot.
struct OliaSets {
  // R: the paths counted (members with an RTT estimate).
  uint32_t paths = 0;
  // B, the presumably best paths: those with the largest l_r / rtt_r², which ranks paths as the
  // throughput of a TCP flow with loss probability 1/l_r does (√l_r / rtt_r, squared).
  uint32_t best = 0;
  // M: the paths with the largest cwnd.
  uint32_t max_cwnd = 0;

  uint32_t best_not_max() const { return best & ~max_cwnd; }
  // α_r (Khalili et al.): when B\M is not empty, 1/(|R|·|B\M|) for r in B\M and
  // −1/(|R|·|M|) for r in M, so that window moves from the largest paths to the best ones;
  // otherwise 0 for every path. 0 for a slot outside R.
  double Alpha(size_t slot) const;
};

class CoupledGroup {
 public:
  // As many subflows as Linux lets one MPTCP connection have (MPTCP_SUBFLOWS_MAX).
  static constexpr size_t kMaxMembers = 16;  // MptcpConnection::kMaxSubflows

  // A free slot, or nullopt when all kMaxMembers are taken; the caller then runs uncoupled.
  std::optional<size_t> Register();
  // Frees the slot (a closed subflow leaves the sums at once). A free or out-of-range slot is
  // ignored.
  void Unregister(size_t slot);
  // Replaces what the slot's member last published. Ignored for a free or out-of-range slot.
  void Publish(size_t slot, const CoupledMemberState& state);

  // Registered members, measured or not.
  size_t size() const { return size_; }
  bool registered(size_t slot) const { return slot < kMaxMembers && used_[slot]; }
  // Whether the slot counts: registered, with an RTT estimate and a window.
  bool counted(size_t slot) const;
  const CoupledMemberState& member(size_t slot) const { return members_[slot]; }

  // --- LIA (RFC 6356 §3), over the counted members ---
  // cwnd_total = Σ_i cwnd_i.
  uint64_t TotalCwnd() const;
  // alpha = cwnd_total · max_i(cwnd_i/rtt_i²) / (Σ_i cwnd_i/rtt_i)²: 1 for a lone member, below 1
  // for paths of equal RTT. 0 when no member is counted.
  double LiaAlpha() const;
  // cwnd_total / alpha = (Σ_i cwnd_i/rtt_i)² / max_i(cwnd_i/rtt_i²), in bytes: the increase
  // min(alpha·N·SMSS/cwnd_total, N·SMSS/cwnd_i) is one SMSS per max(this, cwnd_i) bytes acked.
  // Computed without alpha so a lone member gets its own cwnd back. nullopt when none is counted.
  std::optional<double> LiaTotalOverAlpha() const;

  // --- OLIA (Khalili et al.), over the counted members ---
  OliaSets ComputeOliaSets() const;
  // The window increase for one byte acknowledged on `slot`, in SMSS:
  //   (w_r/rtt_r²) / (Σ_p w_p/rtt_p)² + α_r / w_r,
  // the paper's per-packet increase with windows in bytes. Negative when the path should shrink.
  // nullopt when the slot is not counted.
  std::optional<double> OliaIncreasePerByte(size_t slot) const;

 private:
  std::array<CoupledMemberState, kMaxMembers> members_{};
  std::array<bool, kMaxMembers> used_{};
  size_t size_ = 0;
};

// A controller's membership of a group. It takes a slot when it first publishes and gives it back
// when destroyed, so a subflow that closes leaves the sums with its controller. A copy belongs to
// the same group but holds no slot until it publishes itself: temporaries made while a connection
// builds its controller never take one. Without a group, or with the group full, it is detached
// and its controller runs uncoupled.
class CoupledMember {
 public:
  CoupledMember() = default;
  explicit CoupledMember(std::shared_ptr<CoupledGroup> group) : group_(std::move(group)) {}
  CoupledMember(const CoupledMember& other) : group_(other.group_) {}
  CoupledMember& operator=(const CoupledMember& other);
  CoupledMember(CoupledMember&& other) noexcept;
  CoupledMember& operator=(CoupledMember&& other) noexcept;
  ~CoupledMember() { Leave(); }

  // Registers on first use (if there is room), then publishes.
  void Publish(const CoupledMemberState& state);
  // Gives the slot back now; a later Publish() registers again.
  void Leave();

  // The group and slot, when registered; the group may be shared with no slot held.
  const CoupledGroup* group() const { return group_.get(); }
  std::optional<size_t> slot() const { return slot_; }
  // Registered and with an RTT estimate: the coupled terms apply.
  bool counted() const { return slot_.has_value() && group_->counted(*slot_); }

 private:
  std::shared_ptr<CoupledGroup> group_;
  std::optional<size_t> slot_;
};

}  // namespace braid::tcp
