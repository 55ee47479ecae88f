#include "datapath/tcp/lia.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <utility>

namespace braid::tcp {

namespace {

// Beyond this a threshold means "no growth in any time that matters"; it keeps llround defined.
constexpr double kMaxBytesPerSmss = 4.6e18;

}  // namespace

Lia::Lia(const CcCommonConfig& common, const NewRenoConfig& config,
         std::shared_ptr<CoupledGroup> group)
    : reno_(common, config), member_(std::move(group)) {}

uint64_t Lia::BytesPerSmss() const {
  const uint64_t own = reno_.cwnd();
  if (!member_.counted()) return own;
  const std::optional<double> total_over_alpha = member_.group()->LiaTotalOverAlpha();
  // Also rejects NaN.
  if (!total_over_alpha || !(*total_over_alpha < kMaxBytesPerSmss)) return own;
  // Rounded, not truncated: a lone member's (cwnd/rtt)²/(cwnd/rtt²) is its cwnd give or take an
  // ulp, and must come back as exactly cwnd for LIA to be NewReno there.
  return std::max(own, static_cast<uint64_t>(std::llround(*total_over_alpha)));
}

void Lia::OnAck(const AckEvent& ack) {
  srtt_ = ack.srtt;
  const uint64_t acked = reno_.AckSlowStart(ack);
  // The group reads this member's window after slow start and its latest RTT.
  Publish();
  if (acked == 0) return;
  reno_.AvoidanceStep(acked, BytesPerSmss());
  Publish();
}

void Lia::OnCongestionEvent(const CongestionEvent& ev) {
  reno_.OnCongestionEvent(ev);
  Publish();
}

void Lia::OnRecoveryExit(Instant now) {
  reno_.OnRecoveryExit(now);
  Publish();
}

void Lia::OnRetransmitTimeout(const RtoEvent& ev) {
  reno_.OnRetransmitTimeout(ev);
  Publish();
}

bool Lia::OnSpuriousCongestion(Instant now) {
  const bool undone = reno_.OnSpuriousCongestion(now);
  Publish();
  return undone;
}

void Lia::OnIdleRestart(const IdleRestartEvent& ev) {
  reno_.OnIdleRestart(ev);
  Publish();
}

void Lia::SetSmss(uint32_t smss) {
  reno_.SetSmss(smss);
  Publish();
}

void Lia::Publish() {
  member_.Publish({.cwnd = reno_.cwnd(), .srtt = srtt_, .smss = reno_.smss()});
}

}  // namespace braid::tcp
