#include "datapath/tcp/cubic.h"

#include <algorithm>
#include <cmath>

namespace braid::tcp {

namespace {

double Seconds(Duration d) { return static_cast<double>(d.count()) * 1e-9; }

uint64_t Rescale(uint64_t bytes, uint32_t from, uint32_t to) {
  if (bytes == kInfiniteSsthresh) return bytes;
  if (bytes > kInfiniteSsthresh / to) return bytes / from * to;
  return bytes * to / from;
}

}  // namespace

double CubicK(double w_max_segments, double cwnd_epoch_segments, double c) {
  if (cwnd_epoch_segments >= w_max_segments || c <= 0) return 0;
  return std::cbrt((w_max_segments - cwnd_epoch_segments) / c);
}

double CubicWindow(double t_seconds, double k_seconds, double w_max_segments, double c) {
  const double d = t_seconds - k_seconds;
  return c * d * d * d + w_max_segments;
}

double CubicAlpha(uint32_t beta_permille) {
  const double beta = beta_permille / 1000.0;
  return 3.0 * (1.0 - beta) / (1.0 + beta);
}

Cubic::Cubic(const CcCommonConfig& common, const CubicConfig& config)
    : common_(common), config_(config) {
  if (common_.smss == 0) common_.smss = 1;
  // Out-of-range values would break the formulas; the agent validates config, this keeps the
  // engine safe regardless.
  if (config_.beta_permille == 0 || config_.beta_permille >= 1000) config_.beta_permille = 700;
  if (!(config_.c > 0) || !std::isfinite(config_.c)) config_.c = 0.4;
  s_.cwnd = InitialWindowBytes(common_.smss, common_.initial_window_segments);
  s_.alpha = CubicAlpha(config_.beta_permille);
  s_.hystart.phase = config_.hystart ? HyStartPhase::kSlowStart : HyStartPhase::kDone;
}

uint64_t Cubic::BetaOf(uint64_t bytes) const {
  return bytes / 1000 * config_.beta_permille + bytes % 1000 * config_.beta_permille / 1000;
}

void Cubic::OnAck(const AckEvent& ack) {
  const bool had_last_ack = have_last_ack_;
  const Instant previous_ack = last_ack_;
  have_last_ack_ = true;
  last_ack_ = ack.now;
  // The connection's view of recovery is authoritative (a missed OnRecoveryExit must not freeze
  // cwnd for good).
  if (ack.bytes_acked == 0 || ack.in_recovery) return;
  s_.in_recovery = false;

  uint64_t acked = ack.bytes_acked;
  if (s_.cwnd < s_.ssthresh) {
    acked = SlowStart(ack);
    if (acked == 0) return;
  }
  if (!ack.cwnd_limited) {
    // RFC 9438 §4.2: "t MUST NOT include periods during which cwnd has not been updated due to
    // application-limited behavior" — the time since the previous ACK is taken out of the epoch.
    if (s_.epoch_running && had_last_ack) {
      const Instant from = std::max(previous_ack, s_.epoch_start);
      if (ack.now > from) s_.epoch_start += ack.now - from;
    }
    return;
  }
  CongestionAvoidance(ack, acked);
}

uint64_t Cubic::SlowStart(const AckEvent& ack) {
  HyStartState& h = s_.hystart;
  if (h.phase != HyStartPhase::kDone) {
    HyStartNewRound(ack);
    // CSS may just have run its course: the whole ACK then belongs to congestion avoidance.
    if (h.phase == HyStartPhase::kDone) return ack.cwnd_limited ? ack.bytes_acked : 0;
  }

  uint64_t leftover = 0;
  if (ack.cwnd_limited) {
    // RFC 9406 §4.2: cwnd += min(N, L·SMSS), divided by CSS_GROWTH_DIVISOR in CSS.
    const uint64_t smss = common_.smss;
    uint64_t increase = ack.bytes_acked;
    if (s_.after_rto) {
      increase = std::min<uint64_t>(increase, smss);
    } else if (config_.slow_start_limit_segments != kNoSlowStartLimit) {
      increase = std::min<uint64_t>(increase, uint64_t{config_.slow_start_limit_segments} * smss);
    }
    if (h.phase == HyStartPhase::kConservativeSlowStart) increase /= kHyStartCssGrowthDivisor;
    const uint64_t room = s_.ssthresh - s_.cwnd;
    if (increase < room) {
      s_.cwnd += increase;
      s_.carry = 0;
    } else {
      s_.cwnd = s_.ssthresh;
      s_.after_rto = false;
      leftover = ack.bytes_acked > room ? ack.bytes_acked - room : 0;
    }
  }

  if (h.phase != HyStartPhase::kDone) HyStartSample(ack);
  return leftover;
}

void Cubic::HyStartNewRound(const AckEvent& ack) {
  HyStartState& h = s_.hystart;
  if (h.round_open && ack.snd_una < h.window_end) return;
  // RFC 9406 §4.2: a round ends when the ACK covers windowEnd; the next one ends at SND.NXT.
  const bool completed_round = h.round_open;
  h.round_open = true;
  h.window_end = ack.snd_nxt;
  h.last_round_min = h.current_round_min;
  h.current_round_min = Duration::max();
  h.rtt_samples = 0;
  if (completed_round && h.phase == HyStartPhase::kConservativeSlowStart) {
    // CSS lasts at most CSS_ROUNDS rounds, the partial round it began in included.
    if (h.css_rounds >= kHyStartCssRounds) {
      HyStartEnterAvoidance();
      return;
    }
    ++h.css_rounds;
  }
}

void Cubic::HyStartSample(const AckEvent& ack) {
  HyStartState& h = s_.hystart;
  if (!ack.rtt_sample) return;
  h.current_round_min = std::min(h.current_round_min, *ack.rtt_sample);
  ++h.rtt_samples;
  if (h.rtt_samples < kHyStartNRttSample) return;

  if (h.phase == HyStartPhase::kSlowStart) {
    if (h.current_round_min == Duration::max() || h.last_round_min == Duration::max()) return;
    const Duration thresh = std::clamp(h.last_round_min / kHyStartMinRttDivisor,
                                       kHyStartMinRttThresh, kHyStartMaxRttThresh);
    if (h.current_round_min >= h.last_round_min + thresh) {
      h.css_baseline = h.current_round_min;
      h.phase = HyStartPhase::kConservativeSlowStart;
      h.css_rounds = 1;
    }
  } else if (h.phase == HyStartPhase::kConservativeSlowStart) {
    // The delay fell back below the baseline: the exit was spurious, resume slow start.
    if (h.current_round_min < h.css_baseline) {
      h.css_baseline = Duration::max();
      h.phase = HyStartPhase::kSlowStart;
      h.css_rounds = 0;
    }
  }
}

void Cubic::HyStartEnterAvoidance() {
  // RFC 9406 §4.2: ssthresh = cwnd. RFC 9438 §4.10: W_max is undefined, so cwnd_prior = cwnd and
  // the epoch starts with K = 0 and W_max = cwnd_epoch.
  s_.hystart.phase = HyStartPhase::kDone;
  s_.ssthresh = s_.cwnd;
  s_.cwnd_prior = s_.cwnd;
  s_.w_max = 0;
  s_.epoch_running = false;
}

void Cubic::StartEpoch(Instant now) {
  const double smss = common_.smss;
  const double cwnd = static_cast<double>(s_.cwnd);
  s_.epoch_running = true;
  s_.epoch_start = now;
  s_.cwnd_epoch = s_.cwnd;
  s_.carry = 0;
  if (s_.w_max > cwnd) {
    s_.k = CubicK(s_.w_max / smss, cwnd / smss, config_.c);
  } else {
    // No congestion event to climb back to (first epoch after HyStart++ or an RTO, §4.8, §4.10),
    // or cwnd already above it: the curve starts here, convex at once.
    s_.w_max = cwnd;
    s_.k = 0;
  }
  // RFC 9438 §4.3: W_est starts at cwnd_epoch.
  s_.w_est = cwnd;
  s_.alpha =
      s_.w_est >= static_cast<double>(s_.cwnd_prior) ? 1.0 : CubicAlpha(config_.beta_permille);
}

void Cubic::CongestionAvoidance(const AckEvent& ack, uint64_t acked) {
  if (!s_.epoch_running) StartEpoch(ack.now);
  const double smss = common_.smss;
  const double cwnd = static_cast<double>(s_.cwnd);
  const double t = Seconds(ack.now - s_.epoch_start);
  const double rtt = Seconds(ack.srtt);
  const double w_max = s_.w_max / smss;

  const double w_cubic_now = CubicWindow(t, s_.k, w_max, config_.c) * smss;
  // RFC 9438 §4.2: the target one RTT ahead, kept within [cwnd, 1.5·cwnd].
  const double target =
      std::clamp(CubicWindow(t + rtt, s_.k, w_max, config_.c) * smss, cwnd, 1.5 * cwnd);

  // RFC 9438 §4.3 eq 4 in bytes: segments_acked/cwnd is the same ratio as acked/cwnd in bytes.
  s_.w_est += s_.alpha * static_cast<double>(acked) * smss / cwnd;
  if (s_.w_est >= static_cast<double>(s_.cwnd_prior)) s_.alpha = 1.0;

  if (w_cubic_now < s_.w_est) {
    // Reno-friendly region: cwnd = W_est (never lowered by it).
    if (s_.w_est > cwnd) {
      s_.cwnd = static_cast<uint64_t>(s_.w_est);
      s_.carry = 0;
    }
    return;
  }
  // Concave (cwnd < W_max) and convex regions alike (§4.4, §4.5): (target − cwnd)/cwnd per
  // segment acked, which in bytes is (target − cwnd)/cwnd · acked.
  s_.carry += (target - cwnd) / cwnd * static_cast<double>(acked);
  if (s_.carry >= 1.0) {
    const double whole = std::floor(s_.carry);
    s_.cwnd += static_cast<uint64_t>(whole);
    s_.carry -= whole;
  }
}

void Cubic::OnCongestionEvent(const CongestionEvent& ev) {
  undo_ = s_;
  undo_valid_ = true;
  const uint64_t smss = common_.smss;
  const uint64_t cwnd = s_.cwnd;
  // RFC 9438 §4.7, before the reduction.
  if (config_.fast_convergence && static_cast<double>(cwnd) < s_.w_max) {
    s_.w_max = static_cast<double>(cwnd) * (1000 + config_.beta_permille) / 2000.0;
  } else {
    s_.w_max = static_cast<double>(cwnd);
  }
  // RFC 9438 §4.6.
  const uint64_t reduced = BetaOf(ev.bytes_in_flight);
  s_.cwnd_prior = cwnd;
  s_.cwnd = std::max(reduced, ev.ecn ? smss : 2 * smss);
  s_.ssthresh = std::max(reduced, 2 * smss);
  s_.epoch_running = false;
  s_.carry = 0;
  s_.in_recovery = true;
  s_.after_rto = false;
  // RFC 9406 §4.2: loss or ECE ends HyStart++; §4.3: it is used in the initial slow start only.
  s_.hystart.phase = HyStartPhase::kDone;
}

void Cubic::OnRecoveryExit(Instant /*now*/) {
  if (!s_.in_recovery) return;
  s_.in_recovery = false;
  s_.epoch_running = false;
}

void Cubic::OnRetransmitTimeout(const RtoEvent& ev) {
  const uint64_t smss = common_.smss;
  if (!ev.repeat) {
    undo_ = s_;
    undo_valid_ = true;
    s_.cwnd_prior = s_.cwnd;
    s_.ssthresh = std::max(BetaOf(ev.bytes_in_flight), 2 * smss);
  }
  s_.cwnd = smss;
  // RFC 9438 §4.8: the first epoch after a timeout has K = 0 and W_max = cwnd_epoch.
  s_.w_max = 0;
  s_.k = 0;
  s_.epoch_running = false;
  s_.carry = 0;
  s_.in_recovery = false;
  s_.after_rto = true;
  s_.hystart.phase = HyStartPhase::kDone;
}

bool Cubic::OnSpuriousCongestion(Instant /*now*/) {
  if (!undo_valid_) return false;
  undo_valid_ = false;
  if (s_.cwnd >= s_.cwnd_prior) return false;
  s_ = undo_;
  s_.in_recovery = false;
  return true;
}

void Cubic::OnIdleRestart(const IdleRestartEvent& ev) {
  if (s_.epoch_running && ev.idle > Duration::zero()) {
    s_.epoch_start = std::min(s_.epoch_start + ev.idle, ev.now);
  }
  // The idle time is accounted for here; the next ACK must not count it again.
  have_last_ack_ = true;
  last_ack_ = ev.now;

  if (!common_.restart_after_idle || ev.idle <= ev.rto) return;
  const uint64_t iw = InitialWindowBytes(common_.smss, common_.initial_window_segments);
  const uint64_t restart_window = std::min(iw, s_.cwnd);
  if (restart_window >= s_.cwnd) return;
  s_.ssthresh = std::max(s_.ssthresh, s_.cwnd / 4 * 3);
  s_.cwnd = restart_window;
  s_.epoch_running = false;
  s_.carry = 0;
  // RFC 9406 §4.3 allows HyStart++ for the restart window; delays from before the idle period say
  // nothing about the path now, so its rounds start afresh.
  HyStartState& h = s_.hystart;
  h.round_open = false;
  h.last_round_min = h.current_round_min = Duration::max();
  h.rtt_samples = 0;
}

void Cubic::SetSmss(uint32_t smss) {
  if (smss == 0 || smss == common_.smss) return;
  const uint32_t old = common_.smss;
  const double ratio = static_cast<double>(smss) / old;
  auto rescale = [&](State& st) {
    st.cwnd = std::max<uint64_t>(Rescale(st.cwnd, old, smss), smss);
    st.ssthresh = Rescale(st.ssthresh, old, smss);
    st.cwnd_prior = Rescale(st.cwnd_prior, old, smss);
    st.cwnd_epoch = Rescale(st.cwnd_epoch, old, smss);
    st.w_max *= ratio;
    st.w_est *= ratio;
    st.carry = 0;
  };
  rescale(s_);
  if (undo_valid_) rescale(undo_);
  common_.smss = smss;
}

}  // namespace braid::tcp
