#include "datapath/mptcp/scheduler/lowest_rtt.h"

#include <algorithm>

#include "datapath/mptcp/scheduler/candidates.h"

namespace braid::mptcp {

ScheduleDecision LowestRttScheduler::Select(std::span<const SubflowSnapshot> subflows,
                                            const ScheduleContext& context) {
  last_was_reinjection_ = context.reinjection;
  const Candidates candidates(subflows, context);
  if (candidates.empty()) return {};

  if (!context.reinjection && burst_sent_ < kSendBurstBytes) {
    const SubflowSnapshot* current = candidates.Find(burst_id_);
    if (current != nullptr && current->send_space > 0) {
      ScheduleDecision d =
          ChooseOne(current->id, std::min(ChunkBytes(*current), kSendBurstBytes - burst_sent_));
      d.may_extend = true;
      return d;
    }
  }

  const SubflowSnapshot* best = candidates.FastestWithSpace();
  if (best == nullptr) return {};
  if (!context.reinjection) {
    burst_id_ = best->id;
    burst_sent_ = 0;
  }
  ScheduleDecision d = ChooseOne(best->id, ChunkBytes(*best));
  d.may_extend = !context.reinjection;
  return d;
}

void LowestRttScheduler::OnSent(uint32_t id, uint64_t bytes) {
  if (last_was_reinjection_ || id != burst_id_) return;
  // Saturating: a burst never counts more than its size.
  burst_sent_ += std::min(bytes, kSendBurstBytes - burst_sent_);
}

}  // namespace braid::mptcp
