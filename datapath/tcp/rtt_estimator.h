// Round-trip time estimation and the retransmission timeout (RFC 6298), plus the windowed minimum
// RTT that RACK (RFC 8985) and CUBIC/HyStart++ want. Sans-I/O: samples and their arrival time are
// passed in; nothing here reads a clock.
//
// Contract for the connection:
// - Karn's rule (RFC 6298 §3) is the caller's job. Feed OnRttSample() only with samples from ACKs
//   of segments that were never retransmitted, or from RFC 7323 timestamps (TSecr echoes the send
//   time of the very segment being acknowledged, so it is unambiguous). A sample from an ambiguous
//   ACK must be dropped, not fed.
// - One sample per ACK that acknowledges new data (RFC 6298 §2 requires at least one per RTT;
//   more is fine, RFC 7323 §4.2 notes that the gains then apply per sample).
// - When the retransmission timer fires, call OnRetransmitTimeout() (backoff, §5.5) before
//   re-arming it with rto(). The backed-off value stays until a new valid sample arrives
//   (Karn's algorithm), which resets the backoff.
// - RFC 6298 §5.7: if the SYN or SYN-ACK was retransmitted by the timer (so no sample came from
//   the handshake), call ApplyHandshakeFallback() when the connection is established.
// - Arm the timer per §5.1–5.3: when sending data with none outstanding, and restart it on each
//   ACK of new data; stop it when everything is acknowledged.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>

#include "datapath/tcp/time.h"

namespace braid::tcp {

struct RttEstimatorConfig {
  // RFC 6298 §2.4 says 1 s; Linux uses 200 ms (TCP_RTO_MIN), which is our default. The floor is
  // applied to the whole RTO, as RFC 6298 states it (Linux applies its floor to the variance term).
  Duration min_rto = std::chrono::milliseconds(200);
  // RFC 6298 §2.5: an upper bound is allowed if at least 60 s; Linux uses 120 s (TCP_RTO_MAX).
  Duration max_rto = std::chrono::seconds(120);
  // RFC 6298 §2.1: RTO before the first sample.
  Duration initial_rto = std::chrono::seconds(1);
  // G, the clock granularity of RFC 6298 §2.2–2.3. Engine time is in nanoseconds, but the runtime's
  // timers are coarser; 1 ms is a safe floor for the variance term.
  Duration granularity = std::chrono::milliseconds(1);
  // Span of the windowed minimum RTT (Linux's tcp_min_rtt_wlen default: 300 s).
  Duration min_rtt_window = std::chrono::seconds(300);
  // RFC 6298 §5.7: RTO after a handshake whose SYN (or SYN-ACK) the timer had to retransmit.
  Duration handshake_fallback_rto = std::chrono::seconds(3);
};

// Minimum of the samples seen over a sliding time window, kept in O(1) space with Kathleen
// Nichols' three-sample scheme (the one Linux's win_minmax and BBR use): the best, second-best and
// third-best samples of successive sub-windows, promoted as older ones age out. The estimate is
// never above the true windowed minimum by more than the samples of the last quarter window.
class WindowedMinRtt {
 public:
  explicit WindowedMinRtt(Duration window) : window_(window) {}

  void Update(Duration sample, Instant now);
  void Reset() { empty_ = true; }
  bool empty() const { return empty_; }
  // Duration::zero() when empty.
  Duration Get() const { return empty_ ? Duration::zero() : best_[0].rtt; }

 private:
  struct Sample {
    Duration rtt{0};
    Instant at;
  };
  void ResetTo(Sample s) { best_ = {s, s, s}; }

  Duration window_;
  std::array<Sample, 3> best_{};
  bool empty_ = true;
};

class RttEstimator {
 public:
  explicit RttEstimator(const RttEstimatorConfig& config = {});

  // A valid (Karn-clean) RTT measurement R taken at `now`. Updates SRTT/RTTVAR per RFC 6298 §2.2
  // (first sample) or §2.3 (later ones, RTTVAR first, with the old SRTT), the latest and windowed
  // minimum RTT, and clears the timer backoff. Negative samples are ignored.
  void OnRttSample(Duration rtt, Instant now);

  // The retransmission timer expired: back off, RTO = RTO·2 (RFC 6298 §5.5), up to max_rto.
  void OnRetransmitTimeout();

  // RFC 6298 §5.7: when no sample exists yet, raise the RTO to handshake_fallback_rto (capped by
  // max_rto) for the data phase. No effect once a sample has been taken.
  void ApplyHandshakeFallback();

  // The RTO to arm the retransmission timer with: the base RTO doubled once per consecutive
  // timeout, capped at max_rto.
  Duration rto() const;
  // The RTO before backoff: initial_rto until the first sample, then
  // SRTT + max(G, 4·RTTVAR) (RFC 6298 §2.2–2.3), clamped to [min_rto, max_rto] (§2.4–2.5).
  Duration base_rto() const;
  // Consecutive timeouts since the last valid sample.
  uint32_t backoff() const { return backoff_; }

  bool has_sample() const { return has_sample_; }
  // Zero until the first sample.
  Duration srtt() const { return srtt_; }
  Duration rttvar() const { return rttvar_; }
  Duration latest_rtt() const { return latest_rtt_; }
  // Windowed minimum (min_rtt_window); zero until the first sample.
  Duration min_rtt() const { return min_rtt_.Get(); }

  const RttEstimatorConfig& config() const { return config_; }

 private:
  Duration Clamp(Duration rto) const;

  RttEstimatorConfig config_;
  bool has_sample_ = false;
  Duration srtt_{0};
  Duration rttvar_{0};
  Duration latest_rtt_{0};
  // RTO before the first sample (initial_rto, or the §5.7 fallback).
  Duration no_sample_rto_;
  uint32_t backoff_ = 0;
  WindowedMinRtt min_rtt_;
};

}  // namespace braid::tcp
