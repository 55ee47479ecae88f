#include "datapath/mptcp/scheduler/candidates.h"

#include <algorithm>

namespace braid::mptcp {

namespace {

// Lower is better: healthy before stale, regular before backup, stale weighing more (see the
// header comment). 4 means not eligible at all.
constexpr int kNotEligible = 4;

int Tier(const SubflowSnapshot& s, uint64_t exclude) {
  if (!s.active || s.id >= Candidates::kMaxSubflows) return kNotEligible;
  if ((exclude >> s.id) & 1) return kNotEligible;
  return (s.stale ? 2 : 0) + (s.backup ? 1 : 0);
}

}  // namespace

Candidates::Candidates(std::span<const SubflowSnapshot> subflows, const ScheduleContext& context) {
  if (context.unsent == 0 && !context.reinjection) return;
  int best = kNotEligible;
  for (const SubflowSnapshot& s : subflows) best = std::min(best, Tier(s, context.exclude));
  if (best == kNotEligible) return;
  uint64_t seen = 0;
  for (const SubflowSnapshot& s : subflows) {
    if (Tier(s, context.exclude) != best) continue;
    const uint64_t bit = uint64_t{1} << s.id;
    // A repeated id would let the redundant scheduler name one subflow twice.
    if (seen & bit) continue;
    seen |= bit;
    items_[size_++] = &s;
  }
}

const SubflowSnapshot* Candidates::Find(uint32_t id) const {
  for (const SubflowSnapshot* s : *this) {
    if (s->id == id) return s;
  }
  return nullptr;
}

const SubflowSnapshot* Candidates::Fastest() const {
  const SubflowSnapshot* best = nullptr;
  for (const SubflowSnapshot* s : *this) {
    if (best == nullptr || RttBefore(*s, *best)) best = s;
  }
  return best;
}

const SubflowSnapshot* Candidates::FastestWithSpace(const SubflowSnapshot* skip) const {
  const SubflowSnapshot* best = nullptr;
  for (const SubflowSnapshot* s : *this) {
    if (s == skip || s->send_space == 0) continue;
    if (best == nullptr || RttBefore(*s, *best)) best = s;
  }
  return best;
}

bool RttBefore(const SubflowSnapshot& a, const SubflowSnapshot& b) {
  const bool a_measured = a.srtt.count() > 0;
  const bool b_measured = b.srtt.count() > 0;
  if (a_measured != b_measured) return a_measured;
  if (a.srtt != b.srtt) return a.srtt < b.srtt;
  return a.id < b.id;
}

uint64_t ChunkBytes(const SubflowSnapshot& subflow) {
  return std::clamp<uint64_t>(subflow.send_space, 1, kSendBurstBytes);
}

ScheduleDecision ChooseOne(uint32_t id, uint64_t max_bytes) {
  ScheduleDecision d;
  d.Add(id);
  d.max_bytes = std::clamp<uint64_t>(max_bytes, 1, kSendBurstBytes);
  return d;
}

}  // namespace braid::mptcp
