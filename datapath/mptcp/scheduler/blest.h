// "blest": BLocking ESTimation scheduler. S. Ferlin, Ö. Alay, O. Mehani, R. Boreli, "BLEST:
// Blocking Estimation-based MPTCP Scheduler for Heterogeneous Networks", IFIP Networking 2016;
// mptcp.org's out-of-tree mptcp_blest.c.
//
// The problem: data sent on a slow subflow occupies the receiver's window until it arrives; if the
// fast subflow meanwhile needs more window than is left, it stalls (head-of-line blocking at the
// receiver), and the connection goes at the slow subflow's pace.
//
// Rule: among the candidates (candidates.h), the fast subflow is the lowest-RTT one, with or
// without space. If it has send space, it takes the chunk (min(send_space, kSendBurstBytes)).
// Otherwise the slow subflow is the lowest-RTT one among the rest with space, and BLEST estimates
// what sending on it would cost. During one slow RTT, rtts = RTT_S / RTT_F fast round trips pass,
// and the fast subflow, its window growing by one segment a round (congestion avoidance), sends
//   X = MSS_F * (CWND_F + (rtts - 1) / 2) * rtts  bytes   (CWND_F in segments).
// If lambda * X > |MPTCP_SW| - MSS_S * (inflight_S + 1) the slow segment would block the fast
// subflow: send nothing and wait for the fast one. Otherwise send on the slow one, and at most
// |MPTCP_SW| - outstanding_S - lambda * X bytes, so that a whole chunk, not only its first segment,
// keeps clear of the fast subflow's share (the paper decides per segment; we choose per chunk).
//
// |MPTCP_SW| is the peer's whole data-level window. ScheduleContext::send_window is what is left
// of it beyond the data in flight, so the window is send_window plus the bytes outstanding (in
// flight or queued) on every subflow of the snapshot; outstanding_S is the slow subflow's part.
//
// lambda scales the estimate: it starts at 1.2 and, at most once per slow-subflow RTT (its
// min_rtt, else srtt) when the slow subflow is considered, grows by 0.04 (to at most 1.3) if the
// connection was blocked by the peer's window since the last update, else shrinks by 0.01 (to at
// least 1.0). mptcp_blest.c adapts it the same way, its "blocked" signal being the meta-level
// window test failing. Here the signal is a Select() for new data in which the fast subflow has
// more congestion-window room for the waiting data than the peer's window allows
// (send_window < min(send_space_F, unsent)): the fast subflow held back by the window.
//
// Unless both subflows have an RTT sample there is nothing to estimate: the slow one is used, as by
// the default scheduler, which also gives it its first sample.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "datapath/mptcp/scheduler/scheduler.h"
#include "datapath/tcp/time.h"

namespace braid::mptcp {

// lambda in thousandths, as in mptcp_blest.c (lambda_1000), so its steps add up exactly.
struct BlestConfig {
  uint32_t lambda_permille = 1200;
  uint32_t min_lambda_permille = 1000;
  uint32_t max_lambda_permille = 1300;
  uint32_t lambda_step_down_permille = 10;  // an interval without blocking
  uint32_t lambda_step_up_permille = 40;    // an interval with blocking
};

class BlestScheduler final : public Scheduler {
 public:
  static constexpr std::string_view kName = "blest";

  explicit BlestScheduler(const BlestConfig& config = {});

  std::string_view name() const override { return kName; }
  ScheduleDecision Select(std::span<const SubflowSnapshot> subflows,
                          const ScheduleContext& context) override;

  uint32_t lambda_permille() const { return lambda_permille_; }

 private:
  void UpdateLambda(tcp::Instant now, const SubflowSnapshot& slow);

  BlestConfig config_;
  uint32_t lambda_permille_;
  bool blocked_since_update_ = false;
  bool lambda_clock_started_ = false;
  tcp::Instant last_lambda_update_{};
};

}  // namespace braid::mptcp
