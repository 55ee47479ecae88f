#include "datapath/mptcp/scheduler/round_robin.h"

#include <algorithm>

#include "datapath/mptcp/scheduler/candidates.h"

namespace braid::mptcp {

ScheduleDecision RoundRobinScheduler::Select(std::span<const SubflowSnapshot> subflows,
                                             const ScheduleContext& context) {
  const Candidates candidates(subflows, context);
  // The next id after last_id_ in cyclic order: the smallest id above it, else the smallest.
  const SubflowSnapshot* next = nullptr;
  const SubflowSnapshot* first = nullptr;
  for (const SubflowSnapshot* s : candidates) {
    if (s->send_space == 0) continue;
    if (first == nullptr || s->id < first->id) first = s;
    if (sent_any_ && s->id > last_id_ && (next == nullptr || s->id < next->id)) next = s;
  }
  if (next == nullptr) next = first;
  if (next == nullptr) return {};

  uint64_t quantum = config_.quantum_bytes;
  if (quantum == 0) quantum = next->mss > 0 ? kTrainSegments * next->mss : kSendBurstBytes;
  return ChooseOne(next->id, std::min(ChunkBytes(*next), quantum));
}

void RoundRobinScheduler::OnSent(uint32_t id, uint64_t bytes) {
  if (bytes == 0) return;
  sent_any_ = true;
  last_id_ = id;
}

}  // namespace braid::mptcp
