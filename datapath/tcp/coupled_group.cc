#include "datapath/tcp/coupled_group.h"

#include <algorithm>
#include <bit>
#include <utility>

namespace braid::tcp {

namespace {

static_assert(CoupledGroup::kMaxMembers <= 32, "OliaSets keeps one bit per slot in a uint32_t");

double Seconds(Duration d) { return static_cast<double>(d.count()) * 1e-9; }

uint32_t Bit(size_t slot) { return uint32_t{1} << slot; }

// Sums over the counted members, in bytes and seconds.
struct RateSums {
  bool any = false;
  double sum_rate = 0;      // Σ_i cwnd_i / rtt_i
  double max_rate_rtt = 0;  // max_i cwnd_i / rtt_i²
  uint64_t total_cwnd = 0;  // Σ_i cwnd_i
};

}  // namespace

double OliaSets::Alpha(size_t slot) const {
  if (slot >= CoupledGroup::kMaxMembers || (paths & Bit(slot)) == 0) return 0;
  const uint32_t collected = best_not_max();
  if (collected == 0) return 0;
  const double r = std::popcount(paths);
  if ((collected & Bit(slot)) != 0) return 1.0 / (r * std::popcount(collected));
  if ((max_cwnd & Bit(slot)) != 0) return -1.0 / (r * std::popcount(max_cwnd));
  return 0;
}

std::optional<size_t> CoupledGroup::Register() {
  for (size_t i = 0; i < kMaxMembers; ++i) {
    if (used_[i]) continue;
    used_[i] = true;
    members_[i] = CoupledMemberState{};
    ++size_;
    return i;
  }
  return std::nullopt;
}

void CoupledGroup::Unregister(size_t slot) {
  if (!registered(slot)) return;
  used_[slot] = false;
  members_[slot] = CoupledMemberState{};
  --size_;
}

void CoupledGroup::Publish(size_t slot, const CoupledMemberState& state) {
  if (registered(slot)) members_[slot] = state;
}

bool CoupledGroup::counted(size_t slot) const {
  return registered(slot) && members_[slot].srtt > Duration::zero() && members_[slot].cwnd > 0;
}

namespace {

RateSums SumRates(const CoupledGroup& group) {
  RateSums s;
  for (size_t i = 0; i < CoupledGroup::kMaxMembers; ++i) {
    if (!group.counted(i)) continue;
    const CoupledMemberState& m = group.member(i);
    const double w = static_cast<double>(m.cwnd);
    const double rtt = Seconds(m.srtt);
    s.any = true;
    s.sum_rate += w / rtt;
    s.max_rate_rtt = std::max(s.max_rate_rtt, w / (rtt * rtt));
    s.total_cwnd += m.cwnd;
  }
  return s;
}

}  // namespace

uint64_t CoupledGroup::TotalCwnd() const { return SumRates(*this).total_cwnd; }

double CoupledGroup::LiaAlpha() const {
  const RateSums s = SumRates(*this);
  if (!s.any) return 0;
  // RFC 6356 §3.
  return static_cast<double>(s.total_cwnd) * s.max_rate_rtt / (s.sum_rate * s.sum_rate);
}

std::optional<double> CoupledGroup::LiaTotalOverAlpha() const {
  const RateSums s = SumRates(*this);
  if (!s.any) return std::nullopt;
  return s.sum_rate * s.sum_rate / s.max_rate_rtt;
}

OliaSets CoupledGroup::ComputeOliaSets() const {
  OliaSets sets;
  // l_r / rtt_r² per slot, computed once so that equal inputs compare equal (ties go to B).
  std::array<double, kMaxMembers> quality{};
  uint64_t max_cwnd = 0;
  double best_quality = 0;
  for (size_t i = 0; i < kMaxMembers; ++i) {
    if (!counted(i)) continue;
    const CoupledMemberState& m = members_[i];
    const double rtt = Seconds(m.srtt);
    const uint64_t l = std::max(m.bytes_between_losses, m.bytes_since_loss);
    quality[i] = static_cast<double>(l) / (rtt * rtt);
    sets.paths |= Bit(i);
    max_cwnd = std::max(max_cwnd, m.cwnd);
    best_quality = std::max(best_quality, quality[i]);
  }
  for (size_t i = 0; i < kMaxMembers; ++i) {
    if ((sets.paths & Bit(i)) == 0) continue;
    if (members_[i].cwnd == max_cwnd) sets.max_cwnd |= Bit(i);
    if (quality[i] == best_quality) sets.best |= Bit(i);
  }
  return sets;
}

std::optional<double> CoupledGroup::OliaIncreasePerByte(size_t slot) const {
  if (!counted(slot)) return std::nullopt;
  const RateSums s = SumRates(*this);
  const CoupledMemberState& m = members_[slot];
  const double w = static_cast<double>(m.cwnd);
  const double rtt = Seconds(m.srtt);
  // Khalili et al.: (w_r/rtt_r²)/(Σ_p w_p/rtt_p)² + α_r/w_r per packet acknowledged, per
  // byte once windows are in bytes.
  return (w / (rtt * rtt)) / (s.sum_rate * s.sum_rate) + ComputeOliaSets().Alpha(slot) / w;
}

CoupledMember& CoupledMember::operator=(const CoupledMember& other) {
  if (this != &other) {
    Leave();
    group_ = other.group_;
  }
  return *this;
}

CoupledMember::CoupledMember(CoupledMember&& other) noexcept
    : group_(std::move(other.group_)), slot_(std::exchange(other.slot_, std::nullopt)) {}

CoupledMember& CoupledMember::operator=(CoupledMember&& other) noexcept {
  if (this != &other) {
    Leave();
    group_ = std::move(other.group_);
    slot_ = std::exchange(other.slot_, std::nullopt);
  }
  return *this;
}

void CoupledMember::Publish(const CoupledMemberState& state) {
  if (group_ == nullptr) return;
  if (!slot_) {
    slot_ = group_->Register();
    if (!slot_) return;
  }
  group_->Publish(*slot_, state);
}

void CoupledMember::Leave() {
  if (slot_ && group_ != nullptr) group_->Unregister(*slot_);
  slot_.reset();
}

}  // namespace braid::tcp
