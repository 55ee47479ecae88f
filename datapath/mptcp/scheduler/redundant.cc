#include "datapath/mptcp/scheduler/redundant.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

#include "datapath/mptcp/scheduler/candidates.h"

namespace braid::mptcp {

ScheduleDecision RedundantScheduler::Select(std::span<const SubflowSnapshot> subflows,
                                            const ScheduleContext& context) {
  const Candidates candidates(subflows, context);
  std::array<const SubflowSnapshot*, Candidates::kMaxSubflows> ready{};
  size_t n = 0;
  for (const SubflowSnapshot* s : candidates) {
    if (s->send_space > 0) ready[n++] = s;
  }
  if (n == 0) return {};
  // More ready subflows than a decision holds: keep the fastest copies.
  const size_t chosen = std::min(n, ScheduleDecision::kMaxChoices);
  std::partial_sort(
      ready.begin(), ready.begin() + chosen, ready.begin() + n,
      [](const SubflowSnapshot* a, const SubflowSnapshot* b) { return RttBefore(*a, *b); });
  ScheduleDecision d;
  uint64_t max_bytes = kSendBurstBytes;
  for (size_t i = 0; i < chosen; ++i) {
    d.Add(ready[i]->id);
    max_bytes = std::min(max_bytes, std::max<uint64_t>(ready[i]->send_space, ready[i]->mss));
  }
  d.max_bytes = std::max<uint64_t>(max_bytes, 1);
  return d;
}

}  // namespace braid::mptcp
