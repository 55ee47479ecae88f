#include "datapath/tcp/olia.h"

#include <cmath>
#include <optional>
#include <utility>

namespace braid::tcp {

namespace {

// Beyond this a threshold means "no change in any time that matters"; it keeps llround defined.
constexpr double kMaxBytesPerSmss = 4.6e18;

}  // namespace

Olia::Olia(const CcCommonConfig& common, const NewRenoConfig& config,
           std::shared_ptr<CoupledGroup> group)
    : reno_(common, config), member_(std::move(group)) {}

void Olia::OnAck(const AckEvent& ack) {
  srtt_ = ack.srtt;
  since_loss_ += ack.bytes_acked;
  const uint64_t acked = reno_.AckSlowStart(ack);
  // The group reads this path's window after slow start, its latest RTT and its l2.
  Publish();
  if (acked == 0) return;
  const std::optional<double> increase =
      member_.counted() ? member_.group()->OliaIncreasePerByte(*member_.slot()) : std::nullopt;
  if (!increase) {
    reno_.AvoidanceStep(acked, reno_.cwnd());
  } else {
    // Rounded, not truncated: a lone path's increase is 1/cwnd give or take an ulp, and its
    // inverse must come back as exactly cwnd for OLIA to be NewReno there.
    const double bytes_per_smss = 1.0 / std::abs(*increase);
    if (bytes_per_smss < kMaxBytesPerSmss) {
      reno_.AvoidanceStep(acked, static_cast<uint64_t>(std::llround(bytes_per_smss)),
                          *increase > 0);
    }
  }
  Publish();
}

void Olia::StartLossInterval() {
  // A second loss with nothing acknowledged since the first is part of the same interval (so is
  // the Linux implementation's reading of the paper).
  if (since_loss_ == 0) {
    interval_undo_valid_ = false;
    return;
  }
  interval_undo_valid_ = true;
  undo_between_losses_ = between_losses_;
  between_losses_ = since_loss_;
  since_loss_ = 0;
}

void Olia::OnCongestionEvent(const CongestionEvent& ev) {
  StartLossInterval();
  reno_.OnCongestionEvent(ev);
  Publish();
}

void Olia::OnRecoveryExit(Instant now) {
  reno_.OnRecoveryExit(now);
  Publish();
}

void Olia::OnRetransmitTimeout(const RtoEvent& ev) {
  if (!ev.repeat) StartLossInterval();
  reno_.OnRetransmitTimeout(ev);
  Publish();
}

bool Olia::OnSpuriousCongestion(Instant now) {
  const bool undone = reno_.OnSpuriousCongestion(now);
  if (undone && interval_undo_valid_) {
    // The loss did not happen: the interval it closed is still running.
    since_loss_ += between_losses_;
    between_losses_ = undo_between_losses_;
  }
  interval_undo_valid_ = false;
  Publish();
  return undone;
}

void Olia::OnIdleRestart(const IdleRestartEvent& ev) {
  reno_.OnIdleRestart(ev);
  Publish();
}

void Olia::SetSmss(uint32_t smss) {
  reno_.SetSmss(smss);
  Publish();
}

void Olia::Publish() {
  member_.Publish({.cwnd = reno_.cwnd(),
                   .srtt = srtt_,
                   .smss = reno_.smss(),
                   .bytes_between_losses = between_losses_,
                   .bytes_since_loss = since_loss_});
}

}  // namespace braid::tcp
