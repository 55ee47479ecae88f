// "roundrobin": mptcp.org's out-of-tree round-robin scheduler (mptcp_rr.c), one chunk per turn.
//
// Rule: the candidates (candidates.h) that have send space take turns in id order, starting after
// the subflow that last sent (OnSent) and wrapping around; a subflow without space loses its turn,
// as with mptcp.org's default cwnd_limited = 1. Each turn is one chunk of
// min(send_space, quantum, kSendBurstBytes) bytes. The quantum is configurable and by default one
// train of 16 segments of the chosen subflow (16 * mss), mptcp.org's "num_segments" batch sized
// for segmentation offload rather than its single segment: a chunk becomes one DSS mapping, and
// one mapping per segment would cost an option per packet for nothing. Turns advance only when
// data was really sent, so a Select() that is not followed by a send skips no one.
//
// Id order, not snapshot order, keeps the rotation fair when subflows come and go: a new subflow
// takes its place in the cycle instead of restarting it.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "datapath/mptcp/scheduler/scheduler.h"

namespace braid::mptcp {

struct RoundRobinConfig {
  // Bytes per turn; 0 means 16 segments of the chosen subflow.
  uint64_t quantum_bytes = 0;
};

class RoundRobinScheduler final : public Scheduler {
 public:
  static constexpr std::string_view kName = "roundrobin";
  static constexpr uint64_t kTrainSegments = 16;

  explicit RoundRobinScheduler(const RoundRobinConfig& config = {}) : config_(config) {}

  std::string_view name() const override { return kName; }
  ScheduleDecision Select(std::span<const SubflowSnapshot> subflows,
                          const ScheduleContext& context) override;
  void OnSent(uint32_t id, uint64_t bytes) override;

 private:
  RoundRobinConfig config_;
  bool sent_any_ = false;
  uint32_t last_id_ = 0;  // the subflow that had the last turn, when sent_any_
};

}  // namespace braid::mptcp
