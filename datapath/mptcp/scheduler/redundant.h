// "redundant": mptcp.org's out-of-tree redundant scheduler (mptcp_redundant.c), which sends every
// byte on every subflow so that the fastest copy wins: lowest latency at the cost of capacity.
//
// Rule: choose every candidate (candidates.h: active, not excluded, the best tier — so the
// non-backup subflows, or the backups when there is none) that has send space, up to
// ScheduleDecision::kMaxChoices (the fastest, should there be more), and give each the same
// data; the decision lists them fastest first. A subflow without space is skipped
// (it would only delay the copy on the others); if none has space, choose none and wait.
// max_bytes = the smallest of max(send_space, mss) over the chosen, bounded by kSendBurstBytes:
// each chosen subflow can take the chunk now, or, when its space is below one segment, one
// segment (the connection allows a chosen subflow at least one MSS, scheduler.h).
#pragma once

#include <span>
#include <string_view>

#include "datapath/mptcp/scheduler/scheduler.h"

namespace braid::mptcp {

class RedundantScheduler final : public Scheduler {
 public:
  static constexpr std::string_view kName = "redundant";

  std::string_view name() const override { return kName; }
  ScheduleDecision Select(std::span<const SubflowSnapshot> subflows,
                          const ScheduleContext& context) override;
};

}  // namespace braid::mptcp
