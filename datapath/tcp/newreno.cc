#include "datapath/tcp/newreno.h"

#include <algorithm>

namespace braid::tcp {

namespace {

// Scales a byte count kept in units of `from` bytes to units of `to` bytes.
uint64_t Rescale(uint64_t bytes, uint32_t from, uint32_t to) {
  if (bytes == kInfiniteSsthresh) return bytes;
  // Windows stay far below 2^48 bytes and SMSS below 2^16, so the product fits; the guard keeps a
  // corrupt value from wrapping.
  if (bytes > kInfiniteSsthresh / to) return bytes / from * to;
  return bytes * to / from;
}

}  // namespace

NewReno::NewReno(const CcCommonConfig& common, const NewRenoConfig& config)
    : common_(common),
      config_(config),
      cwnd_(InitialWindowBytes(common.smss, common.initial_window_segments)) {
  if (common_.smss == 0) {
    common_.smss = 1;
    cwnd_ = InitialWindowBytes(common_.smss, common_.initial_window_segments);
  }
}

uint64_t NewReno::LossSsthresh(uint64_t flight) const {
  // RFC 5681 §3.1 eq 4.
  return std::max<uint64_t>(flight / 2, 2ULL * common_.smss);
}

void NewReno::OnAck(const AckEvent& ack) {
  const uint64_t acked = AckSlowStart(ack);
  if (acked > 0) AvoidanceStep(acked, cwnd_);
}

uint64_t NewReno::AckSlowStart(const AckEvent& ack) {
  // The connection's view of recovery is authoritative: an ACK outside recovery also clears a
  // recovery whose end was never reported, so a later stray OnRecoveryExit() cannot shrink cwnd.
  if (ack.in_recovery || ack.bytes_acked == 0) return 0;
  in_recovery_ = false;
  if (!ack.cwnd_limited) return 0;
  const uint64_t smss = common_.smss;
  uint64_t acked = ack.bytes_acked;

  if (cwnd_ < ssthresh_) {
    // RFC 5681 §3.1 eq 2 with RFC 3465 §2.2's limit L.
    const uint64_t limit_segments =
        after_rto_ ? 1 : std::max<uint32_t>(config_.abc_limit_segments, 1);
    const uint64_t increase = std::min(acked, limit_segments * smss);
    const uint64_t room = ssthresh_ - cwnd_;
    if (increase < room) {
      cwnd_ += increase;
      return 0;
    }
    // Slow start ends at ssthresh; what was not needed to get there counts in avoidance.
    cwnd_ = ssthresh_;
    after_rto_ = false;
    acked = acked > room ? acked - room : 0;
  }
  return acked;
}

void NewReno::AvoidanceStep(uint64_t acked, uint64_t bytes_per_smss, bool grow) {
  if (grow != ca_growing_) {
    ca_growing_ = grow;
    ca_bytes_acked_ = 0;
  }
  // RFC 3465 §2.1: once bytes_acked reaches the threshold (cwnd for Reno), subtract it and add one
  // SMSS. One step per ACK; any excess carries over to the next ACK.
  const uint64_t smss = common_.smss;
  const uint64_t threshold = std::max<uint64_t>(bytes_per_smss, 1);
  ca_bytes_acked_ += acked;
  if (ca_bytes_acked_ < threshold) return;
  ca_bytes_acked_ -= threshold;
  if (grow) {
    cwnd_ += smss;
    return;
  }
  cwnd_ = std::max(cwnd_ > smss ? cwnd_ - smss : 0, 2 * smss);
  ssthresh_ = std::min(ssthresh_, cwnd_);
}

void NewReno::OnCongestionEvent(const CongestionEvent& ev) {
  undo_valid_ = true;
  undo_cwnd_ = cwnd_;
  undo_ssthresh_ = ssthresh_;
  ssthresh_ = LossSsthresh(ev.bytes_in_flight);
  cwnd_ = ssthresh_;
  ca_bytes_acked_ = 0;
  after_rto_ = false;
  // An ECE reduction is an episode too (Linux's CWR state): no growth until the connection reports
  // its end with OnRecoveryExit().
  in_recovery_ = true;
}

void NewReno::OnRecoveryExit(Instant /*now*/) {
  if (!in_recovery_) return;
  in_recovery_ = false;
  cwnd_ = ssthresh_;
  ca_bytes_acked_ = 0;
}

void NewReno::OnRetransmitTimeout(const RtoEvent& ev) {
  if (!ev.repeat) {
    undo_valid_ = true;
    undo_cwnd_ = cwnd_;
    undo_ssthresh_ = ssthresh_;
    ssthresh_ = LossSsthresh(ev.bytes_in_flight);
  }
  // RFC 5681 §3.1: the loss window, LW = 1 full-sized segment.
  cwnd_ = common_.smss;
  ca_bytes_acked_ = 0;
  after_rto_ = true;
  in_recovery_ = false;
}

bool NewReno::OnSpuriousCongestion(Instant /*now*/) {
  if (!undo_valid_) return false;
  undo_valid_ = false;
  if (cwnd_ >= undo_cwnd_) return false;
  cwnd_ = undo_cwnd_;
  ssthresh_ = undo_ssthresh_;
  ca_bytes_acked_ = 0;
  after_rto_ = false;
  in_recovery_ = false;
  return true;
}

void NewReno::OnIdleRestart(const IdleRestartEvent& ev) {
  if (!common_.restart_after_idle || ev.idle <= ev.rto) return;
  const uint64_t iw = InitialWindowBytes(common_.smss, common_.initial_window_segments);
  const uint64_t restart_window = std::min(iw, cwnd_);
  if (restart_window >= cwnd_) return;
  ssthresh_ = std::max(ssthresh_, cwnd_ / 4 * 3);
  cwnd_ = restart_window;
  ca_bytes_acked_ = 0;
}

void NewReno::SetSmss(uint32_t smss) {
  if (smss == 0 || smss == common_.smss) return;
  const uint32_t old = common_.smss;
  common_.smss = smss;
  cwnd_ = std::max<uint64_t>(Rescale(cwnd_, old, smss), smss);
  ssthresh_ = Rescale(ssthresh_, old, smss);
  if (ssthresh_ != kInfiniteSsthresh) ssthresh_ = std::max<uint64_t>(ssthresh_, 2ULL * smss);
  ca_bytes_acked_ = Rescale(ca_bytes_acked_, old, smss);
  if (undo_valid_) {
    undo_cwnd_ = Rescale(undo_cwnd_, old, smss);
    undo_ssthresh_ = Rescale(undo_ssthresh_, old, smss);
  }
}

}  // namespace braid::tcp
