#include "datapath/mptcp/scheduler/ecf.h"

#include <algorithm>

#include "datapath/mptcp/scheduler/candidates.h"

namespace braid::mptcp {

ScheduleDecision EcfScheduler::Select(std::span<const SubflowSnapshot> subflows,
                                      const ScheduleContext& context) {
  const Candidates candidates(subflows, context);
  const SubflowSnapshot* fast = candidates.Fastest();
  if (fast == nullptr) return {};
  if (fast->send_space > 0) return ChooseOne(fast->id, ChunkBytes(*fast));

  const SubflowSnapshot* second = candidates.FastestWithSpace(fast);
  if (second == nullptr) return {};
  const ScheduleDecision use_second = ChooseOne(second->id, ChunkBytes(*second));
  if (fast->srtt.count() <= 0 || second->srtt.count() <= 0) return use_second;

  // Doubles: RTT in nanoseconds times bytes overflows 64 bits for long paths with large windows.
  const double rtt_f = static_cast<double>(fast->srtt.count());
  const double rtt_s = static_cast<double>(second->srtt.count());
  const double delta = static_cast<double>(std::max(fast->rttvar, second->rttvar).count());
  const double k = static_cast<double>(std::max<uint64_t>(context.unsent, std::max(fast->mss, 1u)));
  const double cwnd_f = static_cast<double>(std::max<uint64_t>(fast->cwnd, 1));
  const double cwnd_s = static_cast<double>(std::max<uint64_t>(second->cwnd, 1));
  const double beta = config_.beta_inverse > 0 && waiting_ ? 1.0 / config_.beta_inverse : 0.0;

  // n * RTT_f < (1 + waiting * beta) * (RTT_s + delta), multiplied by CWND_f.
  if (rtt_f * (k + cwnd_f) < (1.0 + beta) * cwnd_f * (rtt_s + delta)) {
    // (k / CWND_s) * RTT_s >= 2 * RTT_f + delta, multiplied by CWND_s.
    if (k * rtt_s >= cwnd_s * (2.0 * rtt_f + delta)) {
      waiting_ = true;
      return {};
    }
    return use_second;
  }
  waiting_ = false;
  return use_second;
}

}  // namespace braid::mptcp
