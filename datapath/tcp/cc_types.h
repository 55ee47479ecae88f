// What every congestion controller shares: the events the connection reports, the settings common
// to all algorithms, and the concept an algorithm must satisfy to join CongestionController's
// variant (congestion_control.h). Windows are in bytes; time is engine time (time.h), passed in.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

#include "datapath/tcp/time.h"
#include "datapath/wire/seq.h"

namespace braid::tcp {

// RFC 5681 §3.1: the initial ssthresh "SHOULD be set arbitrarily high".
inline constexpr uint64_t kInfiniteSsthresh = std::numeric_limits<uint64_t>::max();

// Settings every algorithm takes.
struct CcCommonConfig {
  // Sender maximum segment size in bytes (RFC 5681 §2: the largest segment the sender can transmit,
  // after IP and TCP options). Never 0.
  uint32_t smss = 1460;
  // RFC 6928: IW = min(10·SMSS, max(2·SMSS, 14600)). The count is configurable; the byte cap scales
  // with it (n·1460), so the default is exactly RFC 6928.
  uint32_t initial_window_segments = 10;
  // RFC 5681 §4.1: shrink cwnd to the restart window after an idle period longer than the RTO
  // (Linux's tcp_slow_start_after_idle, on by default there too).
  bool restart_after_idle = true;
};

// RFC 6928 §2 (RFC 3390 for the 2·SMSS floor), generalised to n segments.
constexpr uint64_t InitialWindowBytes(uint32_t smss, uint32_t segments) {
  const uint64_t n = segments == 0 ? 1 : segments;
  return std::min<uint64_t>(n * smss, std::max<uint64_t>(2ULL * smss, n * 1460ULL));
}

// An ACK that advanced SND.UNA (acknowledged new data). Duplicate ACKs are not reported: the
// connection counts them for fast retransmit itself.
struct AckEvent {
  Instant now;
  // Bytes newly acknowledged by this ACK: SND.UNA's advance (RFC 5681's N). A connection MAY add
  // bytes newly SACKed by this ACK, as Linux does, but must never count a byte twice.
  uint64_t bytes_acked = 0;
  // The RTT sample this ACK produced, absent when Karn's rule forbids one (RFC 6298 §3): only ACKs
  // of segments never retransmitted, or RFC 7323 timestamps echoing a segment's own send time.
  std::optional<Duration> rtt_sample;
  // RttEstimator::srtt() and min_rtt() after this ACK's sample was fed to the estimator; zero
  // before the first sample. CUBIC's target uses the smoothed RTT (RFC 9438 §4.2).
  Duration srtt{0};
  Duration min_rtt{0};
  // FlightSize after this ACK (RFC 5681 §2). Kept for controllers that need it (RFC 7661, coupled
  // MPTCP controllers); NewReno and CUBIC do not read it.
  uint64_t bytes_in_flight = 0;
  // The connection is in fast recovery (RFC 6582 §3.2 / RFC 6675 §5). The ACK that completes
  // recovery is still reported with in_recovery = true, then OnRecoveryExit() is called.
  bool in_recovery = false;
  // The sender was limited by cwnd, not by the application or the peer's window, during the
  // flight this ACK closes (Linux's tcp_is_cwnd_limited). cwnd does not grow otherwise
  // (RFC 9438 §5.8, RFC 7661), and CUBIC's clock does not run (RFC 9438 §4.2).
  bool cwnd_limited = true;
  // SND.UNA after this ACK and SND.NXT now, in the flow's own sequence space (the subflow's for
  // MPTCP). HyStart++ uses them to delimit rounds (RFC 9406 §4.2).
  wire::TcpSeq snd_una;
  wire::TcpSeq snd_nxt;
};

// Loss detected by ACKs (three duplicate ACKs, RFC 6675's IsLost, RFC 8985 RACK) on entering fast
// recovery, or an ECN-Echo (RFC 3168 §6.1.2). Reported once per recovery episode, or once per
// window of data for ECE; either way the controller then holds cwnd until OnRecoveryExit().
struct CongestionEvent {
  Instant now;
  // FlightSize when the loss was detected, before anything is retransmitted (RFC 5681 §3.1 eq 4).
  uint64_t bytes_in_flight = 0;
  // ECN-Echo rather than loss: CUBIC may go down to 1·SMSS (RFC 9438 §4.6).
  bool ecn = false;
};

// The retransmission timer expired (RFC 6298 §5.4–5.5).
struct RtoEvent {
  Instant now;
  // FlightSize when the timer fired (RFC 5681 §3.1 eq 4).
  uint64_t bytes_in_flight = 0;
  // The timer fired again for data the timer already retransmitted (RttEstimator::backoff() > 0
  // before this expiry). RFC 5681 §3.1: ssthresh is set only when "the given segment has not yet
  // been resent by way of the retransmission timer"; a repeat only returns cwnd to the loss
  // window, and keeps the undo state of the first expiry.
  bool repeat = false;
};

// The connection is about to send after a period with nothing in flight.
struct IdleRestartEvent {
  Instant now;
  // Time since the last segment was sent (RFC 5681 §4.1 measures idleness from the last send).
  Duration idle{0};
  // The current RTO (RttEstimator::rto()); restart applies only when idle exceeds it.
  Duration rto{0};
};

// What an algorithm must provide to be an alternative of CongestionController. Calls are made in
// the order documented in congestion_control.h; none may allocate or throw.
template <typename T>
concept CongestionControlAlgorithm = requires(T& cc, const T& ccc, const AckEvent& ack,
                                              const CongestionEvent& ce, const RtoEvent& rto,
                                              const IdleRestartEvent& idle, Instant now,
                                              uint32_t smss) {
  cc.OnAck(ack);
  cc.OnCongestionEvent(ce);
  cc.OnRecoveryExit(now);
  cc.OnRetransmitTimeout(rto);
  { cc.OnSpuriousCongestion(now) } -> std::same_as<bool>;
  cc.OnIdleRestart(idle);
  cc.SetSmss(smss);
  { ccc.cwnd() } -> std::same_as<uint64_t>;
  { ccc.ssthresh() } -> std::same_as<uint64_t>;
  { ccc.smss() } -> std::same_as<uint32_t>;
  { ccc.InSlowStart() } -> std::same_as<bool>;
  { ccc.name() } -> std::same_as<std::string_view>;
};

}  // namespace braid::tcp
