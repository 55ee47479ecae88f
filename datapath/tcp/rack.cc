#include "datapath/tcp/rack.h"

#include <algorithm>

namespace braid::tcp {

using wire::TcpSeq;

Rack::Rack(const Options& options) : options_(options) {
  if (options_.smss == 0) options_.smss = 1;
}

Duration Rack::ReoWnd(const RetransmitQueue& queue, Duration srtt, bool in_recovery) const {
  // §6.2 step 4: without evidence of reordering, be as quick as the DupAck threshold would be.
  if (!reordering_seen_) {
    if (in_recovery) return Duration::zero();
    if (queue.sacked_segments() >= kDupThresh) return Duration::zero();
  }
  Duration window = min_rtt_ * reo_wnd_mult_ / 4;
  if (srtt > Duration::zero()) window = std::min(window, srtt);
  return window;
}

RackLoss Rack::DetectLoss(RetransmitQueue& queue, Instant now, Duration reo_wnd) {
  // §6.2 step 5. A record already marked lost has Segment.xmit_ts = INFINITE_TS in the RFC's
  // terms: it waits for its retransmission, which clears the mark and restamps it.
  reo_wnd_ = reo_wnd;
  RackLoss loss;
  if (!xmit_ts_) return loss;
  // §6.2 allows walking the segments in transmission order and stopping at the first one not sent
  // before RACK.xmit_ts (Linux's tsorted_sent_queue). The queue is in sequence order, and when it
  // vouches that transmissions were recorded in time order, nothing above a never-retransmitted
  // record was sent before it: the walk stops at the first such record that does not qualify.
  // Without loss or retransmissions that is the first unSACKed record.
  const bool in_time_order = queue.transmissions_in_time_order();
  for (size_t i = 0; i < queue.size(); ++i) {
    const SegmentRecord& r = queue[i];
    if (r.sacked || r.lost) continue;
    if (!RackSentAfter(*xmit_ts_, end_seq_, r.xmit_ts, r.end)) {
      if (in_time_order && !r.retransmitted) break;
      continue;
    }
    const Instant deadline = r.xmit_ts + rtt_ + reo_wnd;
    if (deadline <= now) {
      loss.lost_bytes += queue.MarkLostAt(i);
      ++loss.lost_segments;
    } else if (!loss.reorder_deadline || *loss.reorder_deadline < deadline) {
      // The RFC arms the timer for the largest remaining time.
      loss.reorder_deadline = deadline;
    }
  }
  return loss;
}

TlpOutcome Rack::ProcessTlpAck(const RetransmitQueue& queue, const AckResult& ack,
                               const AckInput& in) {
  if (!tlp_end_seq_) return TlpOutcome::kNone;
  if (ack.disposition != AckDisposition::kAdvanced &&
      ack.disposition != AckDisposition::kDuplicate) {
    return TlpOutcome::kNone;
  }
  const TcpSeq ack_seq = queue.snd_una();
  const TcpSeq end = *tlp_end_seq_;
  if (ack_seq < end) return TlpOutcome::kNone;
  if (!tlp_is_retrans_) {
    tlp_end_seq_.reset();
    return TlpOutcome::kNewDataDelivered;
  }
  // Case 1: the receiver reports the probe as a duplicate: the original arrived too.
  if (ack.dsack && ack.dsack->right == end) {
    tlp_end_seq_.reset();
    return TlpOutcome::kSpurious;
  }
  // Data sent after the probe is acknowledged, and no D-SACK said the probe was redundant.
  if (end < ack_seq) {
    tlp_end_seq_.reset();
    return TlpOutcome::kLossRepaired;
  }
  // Case 2: a receiver without D-SACK answers the redundant probe with a plain duplicate ACK.
  if (in.pure_dup_ack && !ack.sack_option) {
    tlp_end_seq_.reset();
    return TlpOutcome::kSpurious;
  }
  // SEG.ACK == TLP.end_seq: the ACK of the original and the ACK of a repairing probe look alike;
  // wait for the next ACK to tell.
  return TlpOutcome::kNone;
}

Rack::AckOutput Rack::OnAck(RetransmitQueue& queue, const AckResult& ack, const AckInput& in) {
  AckOutput out;
  if (ack.disposition == AckDisposition::kUnsent) return out;

  // Step 1: min_RTT, kept by the RTT estimator.
  min_rtt_ = in.min_rtt;
  if (in.rtt_sampled || ack.rtt_sample) rtt_sampled_since_probe_ = true;

  // Step 2: the most recently sent delivered segment (the queue applied the filters).
  if (ack.rack_delivery) {
    const RackDelivery& d = *ack.rack_delivery;
    rtt_ = d.rtt;
    if (!xmit_ts_ || RackSentAfter(d.xmit_ts, d.end_seq, *xmit_ts_, end_seq_)) {
      xmit_ts_ = d.xmit_ts;
      end_seq_ = d.end_seq;
    }
  }

  // Step 3.
  if (ack.reordering_seen) reordering_seen_ = true;

  // Step 4: one increment of reo_wnd_mult per round trip that sees a D-SACK (the round ends when
  // SND.UNA passes what was SND.NXT then); after kReoWndPersist recoveries without one, back to 1.
  if (dsack_round_ && *dsack_round_ <= queue.snd_una()) dsack_round_.reset();
  if (!dsack_round_ && ack.dsack) {
    dsack_round_ = queue.snd_nxt();
    reo_wnd_mult_ = std::min(reo_wnd_mult_ + 1, kMaxReoWndMult);
    reo_wnd_persist_ = kReoWndPersist;
  } else if (in.exited_recovery) {
    reo_wnd_persist_ = std::max(reo_wnd_persist_ - 1, 0);
    if (reo_wnd_persist_ <= 0) reo_wnd_mult_ = 1;
  }

  // §7.4.2, before loss detection: a probe's outcome is about this ACK as it came.
  out.tlp = ProcessTlpAck(queue, ack, in);

  // Step 5.
  out.loss = DetectLoss(queue, in.now, ReoWnd(queue, in.srtt, in.in_recovery));
  return out;
}

RackLoss Rack::OnReorderTimer(RetransmitQueue& queue, Instant now, Duration srtt,
                              bool in_recovery) {
  return DetectLoss(queue, now, ReoWnd(queue, srtt, in_recovery));
}

RackLoss Rack::OnRto(RetransmitQueue& queue, Instant now, Duration srtt) {
  tlp_end_seq_.reset();
  // The reordering window as in RTO recovery, which this starts.
  const Duration reo_wnd = ReoWnd(queue, srtt, /*in_recovery=*/true);
  reo_wnd_ = reo_wnd;
  RackLoss loss;
  for (size_t i = 0; i < queue.size(); ++i) {
    const SegmentRecord& r = queue[i];
    if (r.lost) continue;
    if (i != 0 && (r.sacked || now < r.xmit_ts + rtt_ + reo_wnd)) continue;
    loss.lost_bytes += queue.MarkLostAt(i);
    ++loss.lost_segments;
  }
  return loss;
}

std::optional<Instant> Rack::PtoDeadline(const RetransmitQueue& queue, Instant now, Duration srtt,
                                         std::optional<Instant> rto_deadline,
                                         bool in_recovery) const {
  // §7.2: not in recovery, and not with SACKed segments (RACK handles those).
  if (queue.empty() || in_recovery || queue.sacked_segments() != 0) return std::nullopt;
  Duration pto = kPtoWithoutSrtt;
  if (srtt > Duration::zero()) {
    pto = 2 * srtt;
    // A lone segment may wait for the peer's delayed-ACK timer.
    if (queue.flight_size() <= options_.smss) pto += options_.max_ack_delay;
  }
  Instant deadline = now + pto;
  if (rto_deadline && *rto_deadline < deadline) deadline = std::max(*rto_deadline, now);
  return deadline;
}

TlpProbe Rack::OnPtoExpired(const RetransmitQueue& queue, bool new_data_sendable) const {
  // §7.3: at most one probe beyond cwnd at any time, and probes must not starve the RTT
  // estimator of the samples it needs to follow a longer path.
  if (tlp_end_seq_ || !rtt_sampled_since_probe_) return {};
  if (new_data_sendable) return {TlpProbe::Kind::kNewData, queue.snd_nxt(), queue.snd_nxt()};
  if (queue.empty()) return {};
  const SegmentRecord& last = queue[queue.size() - 1];
  const TcpSeq start = TcpSeq::Max(last.start, last.end - options_.smss);
  return {TlpProbe::Kind::kRetransmit, start, last.end};
}

void Rack::OnProbeSent(const RetransmitQueue& queue, bool is_retransmission) {
  tlp_end_seq_ = queue.snd_nxt();
  tlp_is_retrans_ = is_retransmission;
  rtt_sampled_since_probe_ = false;
}

std::ostream& operator<<(std::ostream& os, TlpOutcome outcome) {
  switch (outcome) {
    case TlpOutcome::kNone:
      return os << "none";
    case TlpOutcome::kNewDataDelivered:
      return os << "new-data-delivered";
    case TlpOutcome::kSpurious:
      return os << "spurious";
    case TlpOutcome::kLossRepaired:
      return os << "loss-repaired";
  }
  return os << "?";
}

std::ostream& operator<<(std::ostream& os, TlpProbe::Kind kind) {
  switch (kind) {
    case TlpProbe::Kind::kNone:
      return os << "none";
    case TlpProbe::Kind::kNewData:
      return os << "new-data";
    case TlpProbe::Kind::kRetransmit:
      return os << "retransmit";
  }
  return os << "?";
}

}  // namespace braid::tcp
