// Reno congestion control as RFC 5681 specifies it, with Appropriate Byte Counting (RFC 3465):
// slow start, congestion avoidance, the ssthresh of §3.1 eq 4 on loss, the loss window on RTO, the
// restart window after idle (§4.1), and an undo for losses later found spurious.
//
// What this controller owns and what the connection owns during fast recovery:
// - Owned here: ssthresh = max(FlightSize/2, 2·SMSS) on entering recovery, and cwnd = ssthresh —
//   the window RFC 6675 §5 (SACK) and RFC 6937 (PRR, as its target) use, and the value RFC 6582
//   §3.2 step 5 deflates to on a full ACK. cwnd does not grow while in recovery.
// - Owned by the connection: the RFC 6582 §3.2 steps 3–4 inflation (cwnd + 3·SMSS, +SMSS per
//   further duplicate ACK) and the partial-ACK deflation, for a peer without SACK, kept as its own
//   extra allowance on top of cwnd(); with SACK, the RFC 6675 pipe estimate; with PRR, sndcnt.
//   The recovery point ("recover") and the decision to enter and leave recovery are also its own.
#pragma once

#include <cstdint>
#include <string_view>

#include "datapath/tcp/cc_types.h"
#include "datapath/tcp/time.h"

namespace braid::tcp {

struct NewRenoConfig {
  // RFC 3465 §2.2: L, the most cwnd may grow on one ACK in slow start, in SMSS. L = 2 is RFC
  // 3465's recommended limit; slow start that follows an RTO always uses L = 1 (RFC 3465 §2.3),
  // since the ACKs then cover data that had left the network long before.
  uint32_t abc_limit_segments = 2;
};

class NewReno {
 public:
  static constexpr std::string_view kName = "newreno";

  explicit NewReno(const CcCommonConfig& common, const NewRenoConfig& config = {});

  // Slow start (cwnd < ssthresh): cwnd += min(N, L·SMSS), stopping at ssthresh; bytes beyond that
  // count towards congestion avoidance. Congestion avoidance (cwnd >= ssthresh): RFC 3465 §2.1
  // byte counting, cwnd += SMSS each time a full cwnd of bytes has been acknowledged — exactly the
  // one SMSS per RTT that cwnd += SMSS·SMSS/cwnd per ACK approximates. Nothing grows in recovery or
  // when not cwnd-limited.
  void OnAck(const AckEvent& ack);
  // RFC 5681 §3.2 step 2 / RFC 6582 §3.2 step 2: ssthresh = max(FlightSize/2, 2·SMSS) (eq 4),
  // cwnd = ssthresh; saves the state for OnSpuriousCongestion().
  void OnCongestionEvent(const CongestionEvent& ev);
  // Fast recovery ended (RFC 6582 §3.2 step 5): cwnd = ssthresh. No effect unless the controller
  // is in recovery (an RTO or an undo already ended it).
  void OnRecoveryExit(Instant now);
  // RFC 5681 §3.1: ssthresh per eq 4 (first expiry only) and cwnd = LW = 1·SMSS.
  void OnRetransmitTimeout(const RtoEvent& ev);
  // Restores the cwnd and ssthresh saved by the last reduction, if cwnd is still below the saved
  // cwnd (the RFC 9438 §4.9 response, which Linux's undo also applies to Reno). One undo per
  // reduction; returns whether anything was restored.
  bool OnSpuriousCongestion(Instant now);
  // RFC 5681 §4.1: if idle > RTO, cwnd = min(cwnd, RW) with RW = min(IW, cwnd). ssthresh keeps at
  // least 3/4 of the old cwnd (RFC 2861 §3, Linux's tcp_cwnd_restart) so slow start returns there.
  void OnIdleRestart(const IdleRestartEvent& ev);
  // New SMSS (path MTU change): windows keep their size in segments, as in Linux, where cwnd is
  // counted in packets. A zero SMSS is ignored.
  void SetSmss(uint32_t smss);

  uint64_t cwnd() const { return cwnd_; }
  uint64_t ssthresh() const { return ssthresh_; }
  uint32_t smss() const { return common_.smss; }
  bool InSlowStart() const { return cwnd_ < ssthresh_; }
  bool in_recovery() const { return in_recovery_; }
  std::string_view name() const { return kName; }

  // For the coupled MPTCP controllers (lia.h, olia.h), which keep everything of NewReno but the
  // pace of congestion avoidance. OnAck(ack) is AckSlowStart(ack) followed by
  // AvoidanceStep(rest, cwnd(), true).
  //
  // OnAck() up to congestion avoidance: returns the bytes of this ACK left for avoidance, 0 when
  // the ACK grows nothing (recovery, not cwnd-limited) or slow start used all of it.
  uint64_t AckSlowStart(const AckEvent& ack);
  // RFC 3465 §2.1 byte counting at a chosen pace: cwnd moves by one SMSS each time
  // `bytes_per_smss` acknowledged bytes have been counted (at most one step per call; the excess
  // carries over). Upwards if `grow`; downwards otherwise, never below 2·SMSS and taking ssthresh
  // down with cwnd, so that the flow stays in congestion avoidance rather than slow-starting back
  // up. Bytes counted in one direction are dropped when the direction changes.
  void AvoidanceStep(uint64_t acked, uint64_t bytes_per_smss, bool grow = true);

 private:
  uint64_t LossSsthresh(uint64_t flight) const;

  CcCommonConfig common_;
  NewRenoConfig config_;
  uint64_t cwnd_;
  uint64_t ssthresh_ = kInfiniteSsthresh;
  // RFC 3465 §2.1 bytes_acked: bytes acknowledged in congestion avoidance not yet turned into
  // window.
  uint64_t ca_bytes_acked_ = 0;
  // Direction of the bytes in ca_bytes_acked_ (only coupled controllers ever shrink).
  bool ca_growing_ = true;
  bool in_recovery_ = false;
  // In the slow start that follows an RTO (ABC's L = 1).
  bool after_rto_ = false;
  // Saved by the last reduction for OnSpuriousCongestion().
  bool undo_valid_ = false;
  uint64_t undo_cwnd_ = 0;
  uint64_t undo_ssthresh_ = 0;
};

}  // namespace braid::tcp
