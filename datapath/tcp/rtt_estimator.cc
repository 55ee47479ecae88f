#include "datapath/tcp/rtt_estimator.h"

#include <algorithm>

namespace braid::tcp {

void WindowedMinRtt::Update(Duration sample, Instant now) {
  const Sample s{sample, now};
  // A new minimum, or a window that has entirely aged out, restarts all three slots.
  if (empty_ || sample <= best_[0].rtt || now - best_[2].at > window_) {
    ResetTo(s);
    empty_ = false;
    return;
  }
  if (sample <= best_[1].rtt) {
    best_[1] = best_[2] = s;
  } else if (sample <= best_[2].rtt) {
    best_[2] = s;
  }

  // Age the slots: the best expires after a full window and the next ones move up; while the best
  // is fresh, refresh the second and third so that they hold candidates from later sub-windows
  // (the last 3/4 and the last 1/2 of the window) for when it expires.
  const Duration age = now - best_[0].at;
  if (age > window_) {
    best_[0] = best_[1];
    best_[1] = best_[2];
    best_[2] = s;
    if (now - best_[0].at > window_) {
      best_[0] = best_[1];
      best_[1] = best_[2];
      best_[2] = s;
    }
  } else if (best_[1].at == best_[0].at && age > window_ / 4) {
    best_[1] = best_[2] = s;
  } else if (best_[2].at == best_[1].at && age > window_ / 2) {
    best_[2] = s;
  }
}

RttEstimator::RttEstimator(const RttEstimatorConfig& config)
    : config_(config), no_sample_rto_(config.initial_rto), min_rtt_(config.min_rtt_window) {}

void RttEstimator::OnRttSample(Duration rtt, Instant now) {
  if (rtt < Duration::zero()) return;
  if (!has_sample_) {
    // RFC 6298 §2.2.
    srtt_ = rtt;
    rttvar_ = rtt / 2;
    has_sample_ = true;
  } else {
    // RFC 6298 §2.3, alpha = 1/8 and beta = 1/4; RTTVAR is updated first, from the old SRTT.
    const Duration err = srtt_ > rtt ? srtt_ - rtt : rtt - srtt_;
    rttvar_ = (3 * rttvar_ + err) / 4;
    srtt_ = (7 * srtt_ + rtt) / 8;
  }
  latest_rtt_ = rtt;
  min_rtt_.Update(rtt, now);
  // Karn's algorithm: the backed-off RTO is kept until a valid sample arrives.
  backoff_ = 0;
}

void RttEstimator::OnRetransmitTimeout() {
  // Saturate well before the shift could matter; rto() caps at max_rto anyway.
  if (backoff_ < 64) ++backoff_;
}

void RttEstimator::ApplyHandshakeFallback() {
  if (has_sample_) return;
  no_sample_rto_ = std::max(no_sample_rto_, config_.handshake_fallback_rto);
  backoff_ = 0;
}

Duration RttEstimator::Clamp(Duration rto) const {
  return std::min(std::max(rto, config_.min_rto), config_.max_rto);
}

Duration RttEstimator::base_rto() const {
  if (!has_sample_) return Clamp(no_sample_rto_);
  return Clamp(srtt_ + std::max(config_.granularity, 4 * rttvar_));
}

Duration RttEstimator::rto() const {
  Duration rto = base_rto();
  // RFC 6298 §5.5, doubling per consecutive expiry; stop once the cap is reached (no overflow).
  for (uint32_t i = 0; i < backoff_ && rto < config_.max_rto; ++i) rto *= 2;
  return std::min(rto, config_.max_rto);
}

}  // namespace braid::tcp
