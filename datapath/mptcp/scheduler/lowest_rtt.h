// "default": the lowest-RTT scheduler, the default of mptcp.org's out-of-tree kernel
// (mptcp_sched.c, get_available_subflow) with the upstream kernel's burst stickiness
// (net/mptcp/protocol.c, mptcp_subflow_get_send() and msk->snd_burst).
//
// Rule: among the candidates (candidates.h: active, not excluded, best tier) that have send space,
// choose the lowest smoothed RTT; a subflow without an RTT sample ranks after every measured one,
// ties go to the lowest id. The chunk is min(send_space, kSendBurstBytes).
//
// Burst stickiness: once a subflow is chosen for new data it starts a burst of kSendBurstBytes,
// and later calls keep choosing it — even if another subflow has become faster — while it is
// still a candidate with send space and the burst is not used up (OnSent counts the bytes). The
// chunk is then also bounded by what is left of the burst. Like the kernel, this keeps one
// subflow busy for about 64 KB instead of re-deciding, and re-ordering, on every chunk.
// Reinjections (RFC 8684 §3.3.6) never use or disturb the burst: they pick the fastest
// candidate afresh and their bytes do not count.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "datapath/mptcp/scheduler/scheduler.h"

namespace braid::mptcp {

class LowestRttScheduler final : public Scheduler {
 public:
  static constexpr std::string_view kName = SchedulerRegistry::kDefault;

  std::string_view name() const override { return kName; }
  ScheduleDecision Select(std::span<const SubflowSnapshot> subflows,
                          const ScheduleContext& context) override;
  void OnSent(uint32_t id, uint64_t bytes) override;

 private:
  static constexpr uint32_t kNoSubflow = UINT32_MAX;

  uint32_t burst_id_ = kNoSubflow;  // the subflow of the current burst
  uint64_t burst_sent_ = 0;         // bytes sent on it since the burst began
  bool last_was_reinjection_ = false;
};

}  // namespace braid::mptcp
