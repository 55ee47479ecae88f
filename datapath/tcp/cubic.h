// CUBIC congestion control (RFC 9438) with HyStart++ slow start (RFC 9406).
//
// Windows are kept in bytes; the RFC's formulas are in segments and seconds, so each use divides
// by SMSS and converts engine time to seconds. The arithmetic is IEEE double, deterministic as
// long as the build does not use -ffast-math (it does not): the same inputs give the same windows
// in production, in tests and in the simulator.
//
// Region by region (RFC 9438 §4.2–4.5): on each new ACK in congestion avoidance, with t the time
// since the epoch began (application-limited time excluded) and RTT the smoothed RTT,
//   W_cubic(t) = C·(t − K)³ + W_max,  K = ∛((W_max − cwnd_epoch)/C),
//   target = clamp(W_cubic(t + RTT), cwnd, 1.5·cwnd),
//   W_est += α_cubic · segments_acked / cwnd    (α_cubic = 3(1 − β)/(1 + β), then 1 once
//                                                W_est ≥ cwnd_prior),
// and cwnd = W_est when W_cubic(t) < W_est (Reno-friendly region), otherwise
// cwnd += (target − cwnd)/cwnd per segment acked (concave below W_max, convex above).
//
// Fast recovery ownership is the same as NewReno's (newreno.h): this controller sets ssthresh and
// cwnd on entering recovery (RFC 9438 §4.6, "immediately upon entering loss recovery") and does
// not grow cwnd until OnRecoveryExit(); the RFC 6675 pipe, PRR's sndcnt or the RFC 6582 inflation
// stay in the connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include "datapath/tcp/cc_types.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/seq.h"

namespace braid::tcp {

// HyStart++ constants, RFC 9406 §4.3.
inline constexpr Duration kHyStartMinRttThresh = std::chrono::milliseconds(4);
inline constexpr Duration kHyStartMaxRttThresh = std::chrono::milliseconds(16);
inline constexpr uint32_t kHyStartMinRttDivisor = 8;
inline constexpr uint32_t kHyStartNRttSample = 8;
inline constexpr uint32_t kHyStartCssGrowthDivisor = 4;
inline constexpr uint32_t kHyStartCssRounds = 5;

// slow_start_limit_segments value for "L = infinity" (RFC 9406 §4.3: paced senders).
inline constexpr uint32_t kNoSlowStartLimit = 0;

struct CubicConfig {
  // RFC 9438 §5.1: C SHOULD be 0.4 (segments/second³). A value that is not positive and finite is
  // replaced by 0.4.
  double c = 0.4;
  // β_cubic in thousandths; RFC 9438 §4.6: SHOULD be 0.7. Kept as an integer ratio so ssthresh =
  // flight_size·β is exact in bytes. 0 or >= 1000 is replaced by 700.
  uint32_t beta_permille = 700;
  // RFC 9438 §4.7 (SHOULD be on, except for a lone flow).
  bool fast_convergence = true;
  // HyStart++ (RFC 9406) in the initial slow start; RFC 9438 §4.10 says CUBIC SHOULD use it.
  bool hystart = true;
  // L of RFC 9406 §4.2–4.3: the most cwnd grows on one ACK in slow start, in SMSS. 8 for a
  // sender without pacing; kNoSlowStartLimit for a paced one. (NewReno uses RFC 3465's 2.) Slow
  // start after an RTO uses 1 (RFC 3465 §2.3).
  uint32_t slow_start_limit_segments = 8;
};

// HyStart++ state (RFC 9406 §4.2): standard slow start, Conservative Slow Start, or finished
// (congestion avoidance, or a slow start other than the initial one).
enum class HyStartPhase : uint8_t { kSlowStart, kConservativeSlowStart, kDone };

// K = ∛((W_max − cwnd_epoch)/C) in seconds (RFC 9438 §4.2 eq 2); 0 when cwnd_epoch >= W_max.
double CubicK(double w_max_segments, double cwnd_epoch_segments, double c);
// W_cubic(t) = C·(t − K)³ + W_max in segments (RFC 9438 §4.2 eq 1).
double CubicWindow(double t_seconds, double k_seconds, double w_max_segments, double c);
// α_cubic = 3(1 − β)/(1 + β) (RFC 9438 §4.3).
double CubicAlpha(uint32_t beta_permille);

class Cubic {
 public:
  static constexpr std::string_view kName = "cubic";

  explicit Cubic(const CcCommonConfig& common, const CubicConfig& config = {});

  // Slow start (with HyStart++ in the initial one) below ssthresh, the CUBIC update above it
  // (header comment). No growth in recovery or when not cwnd-limited; an application-limited ACK
  // also stops CUBIC's clock for the time since the previous ACK (RFC 9438 §4.2, §5.8).
  void OnAck(const AckEvent& ack);
  // RFC 9438 §4.6–4.7: W_max (with fast convergence), cwnd_prior = cwnd,
  // ssthresh = max(flight_size·β, 2·SMSS), cwnd = max(flight_size·β, 2·SMSS) on loss or
  // max(flight_size·β, 1·SMSS) on ECE. Ends HyStart++ and the epoch; saves the undo state.
  void OnCongestionEvent(const CongestionEvent& ev);
  // Recovery ended: growth resumes, and the next ACK opens a new epoch.
  void OnRecoveryExit(Instant now);
  // RFC 9438 §4.8: ssthresh as in §4.6 (first expiry only), cwnd = 1·SMSS (RFC 5681 §3.1); the
  // first avoidance epoch after it uses K = 0 and W_max = cwnd_epoch.
  void OnRetransmitTimeout(const RtoEvent& ev);
  // RFC 9438 §4.9: restores cwnd, cwnd_prior, ssthresh, W_max, K, t_epoch and W_est as saved by the
  // last reduction, if cwnd < cwnd_prior. One undo per reduction; returns whether it restored.
  bool OnSpuriousCongestion(Instant now);
  // Idle time never counts as avoidance time (RFC 9438 §5.8): t_epoch moves forward by `idle`.
  // Then RFC 5681 §4.1 as in NewReno::OnIdleRestart; a reduced cwnd starts a new epoch.
  void OnIdleRestart(const IdleRestartEvent& ev);
  // New SMSS: windows keep their size in segments (see NewReno::SetSmss). A zero SMSS is ignored.
  void SetSmss(uint32_t smss);

  uint64_t cwnd() const { return s_.cwnd; }
  uint64_t ssthresh() const { return s_.ssthresh; }
  uint32_t smss() const { return common_.smss; }
  bool InSlowStart() const { return s_.cwnd < s_.ssthresh; }
  bool in_recovery() const { return s_.in_recovery; }
  std::string_view name() const { return kName; }

  // Introspection, for tests and debug output. Bytes unless named otherwise.
  double w_max() const { return s_.w_max; }
  double k_seconds() const { return s_.k; }
  double w_est() const { return s_.w_est; }
  double alpha() const { return s_.alpha; }
  uint64_t cwnd_prior() const { return s_.cwnd_prior; }
  uint64_t cwnd_epoch() const { return s_.cwnd_epoch; }
  // t_epoch, when an avoidance epoch is running (shifted forward by excluded idle and
  // application-limited time).
  std::optional<Instant> epoch_start() const {
    return s_.epoch_running ? std::optional<Instant>(s_.epoch_start) : std::nullopt;
  }
  HyStartPhase hystart_phase() const { return s_.hystart.phase; }
  const CubicConfig& config() const { return config_; }

 private:
  struct HyStartState {
    HyStartPhase phase = HyStartPhase::kDone;
    bool round_open = false;
    wire::TcpSeq window_end;                    // windowEnd: the round ends when SND.UNA reaches it
    Duration last_round_min = Duration::max();  // lastRoundMinRTT
    Duration current_round_min = Duration::max();  // currentRoundMinRTT
    Duration css_baseline = Duration::max();       // cssBaselineMinRtt
    uint32_t rtt_samples = 0;                      // rttSampleCount
    uint32_t css_rounds = 0;                       // CSS rounds begun, the partial first included
  };

  // Everything a spurious-loss undo may restore.
  struct State {
    uint64_t cwnd = 0;
    uint64_t ssthresh = kInfiniteSsthresh;
    uint64_t cwnd_prior = 0;
    double w_max = 0;  // 0: no congestion event yet (or an RTO): the next epoch uses K = 0
    double k = 0;
    bool epoch_running = false;
    Instant epoch_start;
    uint64_t cwnd_epoch = 0;
    double w_est = 0;
    double alpha = 0;
    double carry = 0;  // fractional bytes of cwnd growth not yet applied
    bool in_recovery = false;
    bool after_rto = false;
    HyStartState hystart;
  };

  // Returns the bytes of this ACK left for congestion avoidance (slow start reached ssthresh).
  uint64_t SlowStart(const AckEvent& ack);
  void HyStartNewRound(const AckEvent& ack);
  void HyStartSample(const AckEvent& ack);
  void HyStartEnterAvoidance();
  void CongestionAvoidance(const AckEvent& ack, uint64_t acked);
  void StartEpoch(Instant now);
  uint64_t BetaOf(uint64_t bytes) const;

  CcCommonConfig common_;
  CubicConfig config_;
  State s_;
  State undo_;
  bool undo_valid_ = false;
  // Time of the previous ACK, to exclude application-limited time from t.
  bool have_last_ack_ = false;
  Instant last_ack_;
};

}  // namespace braid::tcp
