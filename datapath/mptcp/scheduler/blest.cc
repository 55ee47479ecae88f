#include "datapath/mptcp/scheduler/blest.h"

#include <algorithm>
#include <cmath>

#include "datapath/mptcp/scheduler/candidates.h"

namespace braid::mptcp {

namespace {

uint64_t Outstanding(const SubflowSnapshot& s) { return s.in_flight + s.queued; }

// X: bytes the fast subflow sends during one RTT of the slow one (BLEST §III, Reno-like growth of
// one segment per round).
double FastBytesDuringSlowRtt(const SubflowSnapshot& fast, const SubflowSnapshot& slow) {
  const double rtts =
      static_cast<double>(slow.srtt.count()) / static_cast<double>(fast.srtt.count());
  const double mss = static_cast<double>(std::max<uint32_t>(fast.mss, 1));
  const double cwnd_segments = static_cast<double>(fast.cwnd) / mss;
  return mss * (cwnd_segments + (rtts - 1) / 2) * rtts;
}

}  // namespace

BlestScheduler::BlestScheduler(const BlestConfig& config)
    : config_(config),
      lambda_permille_(
          std::clamp(config.lambda_permille, config.min_lambda_permille,
                     std::max(config.min_lambda_permille, config.max_lambda_permille))) {}

void BlestScheduler::UpdateLambda(tcp::Instant now, const SubflowSnapshot& slow) {
  if (!lambda_clock_started_) {
    lambda_clock_started_ = true;
    last_lambda_update_ = now;
    return;
  }
  const tcp::Duration interval = slow.min_rtt.count() > 0 ? slow.min_rtt : slow.srtt;
  if (now - last_lambda_update_ < interval) return;
  const uint32_t lo = config_.min_lambda_permille;
  const uint32_t hi = std::max(config_.min_lambda_permille, config_.max_lambda_permille);
  if (blocked_since_update_) {
    lambda_permille_ = std::min(hi, lambda_permille_ + config_.lambda_step_up_permille);
  } else {
    lambda_permille_ = lambda_permille_ > lo + config_.lambda_step_down_permille
                           ? lambda_permille_ - config_.lambda_step_down_permille
                           : lo;
  }
  blocked_since_update_ = false;
  last_lambda_update_ = now;
}

ScheduleDecision BlestScheduler::Select(std::span<const SubflowSnapshot> subflows,
                                        const ScheduleContext& context) {
  const Candidates candidates(subflows, context);
  const SubflowSnapshot* fast = candidates.Fastest();
  if (fast == nullptr) return {};
  // The fast subflow has congestion-window room for waiting data that the peer's window does not
  // let it use: the blocking BLEST tries to avoid, and lambda's signal.
  if (!context.reinjection && context.send_window < std::min(fast->send_space, context.unsent)) {
    blocked_since_update_ = true;
  }
  if (fast->send_space > 0) return ChooseOne(fast->id, ChunkBytes(*fast));

  const SubflowSnapshot* slow = candidates.FastestWithSpace(fast);
  if (slow == nullptr) return {};
  if (fast->srtt.count() <= 0 || slow->srtt.count() <= 0) {
    return ChooseOne(slow->id, ChunkBytes(*slow));
  }

  UpdateLambda(context.now, *slow);
  const double fast_bytes =
      FastBytesDuringSlowRtt(*fast, *slow) * static_cast<double>(lambda_permille_) / 1000.0;
  // The peer's whole window less the slow subflow's outstanding data, which stays in it for a slow
  // RTT. What the other subflows have outstanding counts as room: the fast subflow's is
  // acknowledged well within that RTT (mptcp_blest.c's snd_wnd - slow_bytes).
  uint64_t window = context.send_window;
  for (const SubflowSnapshot& s : subflows) window += Outstanding(s);
  const uint64_t slow_outstanding = Outstanding(*slow);
  const double room =
      window > slow_outstanding ? static_cast<double>(window - slow_outstanding) : 0.0;
  const double slow_segment = static_cast<double>(std::max<uint32_t>(slow->mss, 1));
  if (fast_bytes > room - slow_segment) return {};  // sending on slow would block fast
  const double clear = std::floor(room - fast_bytes);
  const uint64_t max_bytes = clear >= static_cast<double>(kSendBurstBytes)
                                 ? kSendBurstBytes
                                 : static_cast<uint64_t>(clear);
  return ChooseOne(slow->id, std::min(ChunkBytes(*slow), max_bytes));
}

}  // namespace braid::mptcp
