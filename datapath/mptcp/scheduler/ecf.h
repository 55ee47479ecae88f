// "ecf": Earliest Completion First. Y. Lim, E. M. Nahum, D. Towsley, R. J. Gibbens, "ECF: An MPTCP
// Path Scheduler to Manage Heterogeneous Paths", ACM CoNEXT 2017 (Algorithm 1); mptcp.org's
// out-of-tree mptcp_ecf.c.
//
// The problem: when the fastest subflow's window is full, the default scheduler puts the next data
// on a slower subflow, even when waiting one fast round trip would deliver everything sooner.
//
// Rule: among the candidates (candidates.h), x_f is the lowest-RTT subflow, with or without space.
// If it has send space it takes the chunk (min(send_space, kSendBurstBytes)). Otherwise x_s is the
// lowest-RTT subflow among the rest with space, and with k the bytes waiting (ScheduleContext::
// unsent, at least one segment), delta = max(RTTVAR_f, RTTVAR_s) and beta = 1/4:
//   n = 1 + k / CWND_f                       (fast rounds to send all of k on x_f)
//   if n * RTT_f < (1 + waiting * beta) * (RTT_s + delta):   (x_f, waited for, finishes first)
//     if (k / CWND_s) * RTT_s >= 2 * RTT_f + delta:          (and x_s is really slower for k)
//       waiting = 1; send nothing (wait for x_f)
//     else use x_s
//   else waiting = 0; use x_s
// CWND in bytes, like k. `waiting` is the hysteresis: once ECF has decided to wait it keeps
// waiting until the inequality fails by the beta margin, so it does not flip between the two
// decisions on every chunk. It lives in the scheduler, one per connection.
//
// Unless both subflows have an RTT sample there is nothing to compare: x_s is used, as by the
// default scheduler.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "datapath/mptcp/scheduler/scheduler.h"

namespace braid::mptcp {

struct EcfConfig {
  // beta = 1 / beta_inverse (mptcp_ecf.c's mptcp_ecf_r_beta); 0 disables the hysteresis.
  uint32_t beta_inverse = 4;
};

class EcfScheduler final : public Scheduler {
 public:
  static constexpr std::string_view kName = "ecf";

  explicit EcfScheduler(const EcfConfig& config = {}) : config_(config) {}

  std::string_view name() const override { return kName; }
  ScheduleDecision Select(std::span<const SubflowSnapshot> subflows,
                          const ScheduleContext& context) override;

  bool waiting() const { return waiting_; }

 private:
  EcfConfig config_;
  bool waiting_ = false;
};

}  // namespace braid::mptcp
