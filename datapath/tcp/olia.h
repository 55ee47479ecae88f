// OLIA, the Opportunistic Linked Increases Algorithm (R. Khalili, N. Gast, M. Popovic,
// J.-Y. Le Boudec, "MPTCP is not Pareto-optimal: performance issues and a possible solution",
// CoNEXT 2012; draft-khalili-mptcp-congestion-control): a coupled congestion control for MPTCP
// that, unlike LIA, moves window towards the paths that deliver best without giving up
// responsiveness.
//
// Like LIA it changes only the increase of congestion avoidance; slow start and the responses to
// loss, ECN, RTO and idleness are NewReno's (newreno.h), reused as is. For each ACK on path r, in
// congestion avoidance, the window changes by
//   (w_r/rtt_r²) / (Σ_p w_p/rtt_p)² + α_r / w_r           per packet acknowledged,
// which this controller applies per byte with windows in bytes, as one SMSS per 1/|that| bytes
// acknowledged through NewReno's byte counter. α_r (OliaSets::Alpha in coupled_group.h) is positive
// on the presumably best paths that do not have the largest window and negative on the largest
// ones, so a largest-window path may shrink; it then takes ssthresh down with cwnd and stays in
// congestion avoidance. Best paths are judged by l_r / rtt_r², with l_r the larger of the bytes
// acknowledged between the last two losses and since the last one, kept here and published to the
// group.
//
// Without a group, alone in it, with the group full, or before its path has an RTT estimate, the
// increase is 1/w_r per packet with α_r = 0: NewReno exactly.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "datapath/tcp/cc_types.h"
#include "datapath/tcp/coupled_group.h"
#include "datapath/tcp/newreno.h"
#include "datapath/tcp/time.h"

namespace braid::tcp {

class Olia {
 public:
  static constexpr std::string_view kName = "olia";

  // `group`: the MPTCP connection's coupling state (TcpConfig::coupling), or null.
  explicit Olia(const CcCommonConfig& common, const NewRenoConfig& config = {},
                std::shared_ptr<CoupledGroup> group = nullptr);

  // Counts the bytes for l_r, then NewReno's slow start, then the coupled change above.
  void OnAck(const AckEvent& ack);
  // A loss or ECN-Echo starts a new inter-loss interval (l1 = l2, l2 = 0, unless nothing was
  // acknowledged since the last one), then NewReno's reduction.
  void OnCongestionEvent(const CongestionEvent& ev);
  void OnRecoveryExit(Instant now);
  // The first expiry starts a new inter-loss interval too; repeats of it do not.
  void OnRetransmitTimeout(const RtoEvent& ev);
  // NewReno's undo; a reduction undone also undoes the interval it started.
  bool OnSpuriousCongestion(Instant now);
  void OnIdleRestart(const IdleRestartEvent& ev);
  void SetSmss(uint32_t smss);

  uint64_t cwnd() const { return reno_.cwnd(); }
  uint64_t ssthresh() const { return reno_.ssthresh(); }
  uint32_t smss() const { return reno_.smss(); }
  bool InSlowStart() const { return reno_.InSlowStart(); }
  bool in_recovery() const { return reno_.in_recovery(); }
  std::string_view name() const { return kName; }

  // l1 and l2 of the paper, in bytes.
  uint64_t bytes_between_losses() const { return between_losses_; }
  uint64_t bytes_since_loss() const { return since_loss_; }
  const CoupledMember& membership() const { return member_; }

 private:
  void StartLossInterval();
  void Publish();

  NewReno reno_;
  CoupledMember member_;
  Duration srtt_{0};
  uint64_t between_losses_ = 0;
  uint64_t since_loss_ = 0;
  // l1 before the last interval began, for an undo.
  bool interval_undo_valid_ = false;
  uint64_t undo_between_losses_ = 0;
};

}  // namespace braid::tcp
