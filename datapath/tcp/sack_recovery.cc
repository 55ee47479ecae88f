#include "datapath/tcp/sack_recovery.h"

#include <algorithm>

namespace braid::tcp {

using wire::TcpSeq;

SackRecovery::SackRecovery(const Options& options) : options_(options) {
  if (options_.smss == 0) options_.smss = 1;
}

TcpSeq SackRecovery::EffectiveHighRxt(const RetransmitQueue& queue) const {
  return high_rxt_ ? TcpSeq::Max(*high_rxt_, queue.snd_una()) : queue.snd_una();
}

TcpSeq SackRecovery::SegmentEnd(const RetransmitQueue& queue, size_t index, TcpSeq from,
                                bool lost_only) const {
  TcpSeq hole_end = from;
  for (size_t k = index; k < queue.size(); ++k) {
    const SegmentRecord& r = queue[k];
    if (r.sacked || (lost_only && !r.lost)) break;
    hole_end = r.end;
    if (!(hole_end - from < static_cast<int32_t>(options_.smss))) break;
  }
  return TcpSeq::Min(hole_end, from + options_.smss);
}

bool SackRecovery::IsLost(const RetransmitQueue& queue, TcpSeq seq) const {
  // The sums only grow as the walk goes down, so it stops as soon as they are enough; it starts
  // at the highest SACKed record (nothing above it counts), and nothing is walked when even every
  // SACKed segment would not be.
  if (!ExceedsDupThresh(queue.sacked_segments(), queue.sacked_bytes())) return false;
  uint32_t segs = 0;
  uint32_t bytes = 0;
  const TcpSeq above = seq + 1;
  for (size_t i = queue.HighestSackedIndex() + 1; i > 0; --i) {
    const SegmentRecord& r = queue[i - 1];
    if (!(above < r.end)) break;
    if (!r.sacked) continue;
    if (above <= r.start) {
      segs += r.segs;
      bytes += r.len();
    } else {
      bytes += static_cast<uint32_t>(r.end - above);
    }
    if (ExceedsDupThresh(segs, bytes)) return true;
  }
  return false;
}

std::optional<SackRecovery::Boundary> SackRecovery::FindLossBoundary(
    const RetransmitQueue& queue) const {
  if (!MayHaveLossBoundary(queue)) return std::nullopt;
  uint32_t segs = 0;
  uint32_t bytes = 0;
  for (size_t i = queue.HighestSackedIndex() + 1; i > 0; --i) {
    const SegmentRecord& r = queue[i - 1];
    if (!r.sacked) continue;
    segs += r.segs;
    bytes += r.len();
    if (ExceedsDupThresh(segs, bytes)) return Boundary{r.start, i - 1, bytes};
  }
  return std::nullopt;
}

uint32_t SackRecovery::Pipe(const RetransmitQueue& queue) const {
  // §4 SetPipe over every unSACKed record: (a) its original transmission unless presumed lost
  // (marked lost, or IsLost: below the loss boundary), (b) its retransmission while presumed in
  // flight (retransmitted and not marked lost since). From the queue's totals: lost records are
  // never SACKed, so the unSACKed, unmarked bytes are flight - sacked - lost.
  const uint32_t in_flight_rtx = queue.retransmitted_in_flight_bytes();
  std::optional<Boundary> boundary;
  if (MayHaveLossBoundary(queue)) boundary = FindLossBoundary(queue);
  if (!boundary) {
    return queue.flight_size() - queue.sacked_bytes() - queue.lost_bytes() + in_flight_rtx;
  }
  // (a) counts only what starts at or above the boundary (a SACKed record's start, so no unSACKed
  // record straddles it): its bytes, less the SACKed ones (all were summed finding it) and the
  // lost ones (summed below it from the lowest lost record when there are any).
  uint32_t lost_below = 0;
  if (queue.lost_records() > 0) {
    for (size_t i = queue.LowestLostIndex(); i < boundary->index; ++i) {
      if (queue[i].lost) lost_below += queue[i].len();
    }
  }
  const auto above = static_cast<uint32_t>(queue.snd_nxt() - boundary->seq);
  return above - boundary->sacked_bytes - (queue.lost_bytes() - lost_below) + in_flight_rtx;
}

NextSegment SackRecovery::LostSegment(const RetransmitQueue& queue) const {
  std::optional<Boundary> boundary;
  if (MayHaveLossBoundary(queue)) boundary = FindLossBoundary(queue);
  const std::optional<TcpSeq> high_sack = queue.highest_sacked_end();
  const TcpSeq high_rxt = EffectiveHighRxt(queue);
  // The lowest unSACKed octet that is lost: marked lost by RACK or an RTO (anywhere, even below
  // HighRxt: a lost retransmission), or S2 > HighRxt, S2 < the highest SACKed octet and
  // IsLost(S2). The first is the queue's lowest lost record. The second can only be in a record
  // ending above HighRxt: the first unSACKed one from there (the records above start higher,
  // and S2 < boundary < highest SACKed octet once HighRxt is below the latter).
  const size_t lost = queue.LowestLostIndex();
  size_t candidate = queue.size();
  if (boundary && high_sack && high_rxt < *high_sack) {
    size_t i = queue.Find(high_rxt);
    while (i < lost && queue[i].sacked) ++i;
    if (i < lost && queue[i].start < boundary->seq) candidate = i;
  }
  if (lost <= candidate && lost < queue.size()) {
    const SegmentRecord& r = queue[lost];
    return {NextSegment::Rule::kLost, r.start, SegmentEnd(queue, lost, r.start, true)};
  }
  if (candidate < queue.size()) {
    const TcpSeq s2 = TcpSeq::Max(queue[candidate].start, high_rxt);
    return {NextSegment::Rule::kLost, s2, SegmentEnd(queue, candidate, s2, false)};
  }
  return {};
}

NextSegment SackRecovery::NextSegAnyRule(const RetransmitQueue& queue, uint32_t sendable_new_bytes,
                                         uint32_t new_segment_max) const {
  // Rule 1, only when something is marked lost or enough is SACKed for IsLost: in the common
  // case (neither) NextSeg is a few compares.
  if (queue.lost_records() > 0 || MayHaveLossBoundary(queue)) {
    const NextSegment seg = LostSegment(queue);
    if (seg.rule != NextSegment::Rule::kNone) return seg;
  }

  // Rule 2: new data, as much as the segment's size and the caller allow.
  if (sendable_new_bytes > 0) {
    const TcpSeq start = queue.snd_nxt();
    return {NextSegment::Rule::kNewData, start,
            start + std::min(new_segment_max, sendable_new_bytes)};
  }

  if (state_ != RecoveryState::kFastRecovery) return {};

  // Rule 3: the lowest unSACKed octet S3 > HighRxt below the highest SACKed octet: in the first
  // unSACKed record ending above HighRxt, if it starts below the highest SACKed octet.
  const std::optional<TcpSeq> high_sack = queue.highest_sacked_end();
  const TcpSeq high_rxt = EffectiveHighRxt(queue);
  if (high_sack && high_rxt < *high_sack) {
    size_t i = queue.Find(high_rxt);
    while (i < queue.size() && queue[i].sacked) ++i;
    if (i < queue.size() && queue[i].start < *high_sack) {
      const TcpSeq s3 = TcpSeq::Max(queue[i].start, high_rxt);
      return {NextSegment::Rule::kHole, s3, SegmentEnd(queue, i, s3, false)};
    }
  }

  // Rule 4: one rescue retransmission per recovery, of the highest unSACKed octet, when
  // HighACK > RescueRxt (or RescueRxt is undefined).
  if (!rescue_rxt_ || *rescue_rxt_ < queue.snd_una()) {
    for (size_t i = queue.size(); i > 0; --i) {
      if (queue[i - 1].sacked) continue;
      const TcpSeq end = queue[i - 1].end;
      TcpSeq start = queue[i - 1].start;
      for (size_t k = i - 1;
           k > 0 && !queue[k - 1].sacked && end - start < static_cast<int32_t>(options_.smss);
           --k) {
        start = queue[k - 1].start;
      }
      start = TcpSeq::Max(start, end - options_.smss);
      return {NextSegment::Rule::kRescue, start, end};
    }
  }
  return {};
}

bool SackRecovery::MayEnter(const RetransmitQueue& queue) const {
  return state_ == RecoveryState::kOpen && !queue.empty() && !episode_unfinished_;
}

void SackRecovery::StartEpisode(const RetransmitQueue& queue) {
  recovery_point_ = queue.snd_nxt();
  episode_unfinished_ = true;
  high_rxt_ = queue.snd_una();
  rescue_rxt_.reset();
  undo_start_ = queue.snd_una();
  undo_end_ = queue.snd_nxt();
  undo_retrans_ = 0;
}

RecoveryEvents SackRecovery::Enter(const RetransmitQueue& queue) {
  // §5 step 4.1: RecoveryPoint = HighData. The cumulative ACK covering it ends the episode.
  state_ = RecoveryState::kFastRecovery;
  StartEpisode(queue);
  // §5 step 4.3: retransmit the segment starting at HighACK + 1, whatever the scoreboard says.
  const TcpSeq una = queue.snd_una();
  const SegmentRecord& head = queue[0];
  const TcpSeq end =
      head.sacked ? TcpSeq::Min(head.end, una + options_.smss) : SegmentEnd(queue, 0, una, false);
  RecoveryEvents ev;
  ev.entered = true;
  ev.fast_retransmit = NextSegment{NextSegment::Rule::kFastRetransmit, una, end};
  return ev;
}

RecoveryEvents SackRecovery::EnterRecovery(const RetransmitQueue& queue) {
  if (!MayEnter(queue)) return {};
  return Enter(queue);
}

RecoveryEvents SackRecovery::OnAck(const RetransmitQueue& queue, const AckResult& ack) {
  RecoveryEvents ev;
  if (ack.disposition == AckDisposition::kUnsent) return ev;
  const TcpSeq una = queue.snd_una();
  // §5: a cumulative acknowledgment resets DupAcks.
  if (ack.disposition == AckDisposition::kAdvanced) dup_acks_ = 0;

  // §5 (A), §5.1: the cumulative ACK covered the RecoveryPoint.
  if (episode_unfinished_ && recovery_point_ && *recovery_point_ <= una) {
    episode_unfinished_ = false;
    if (state_ != RecoveryState::kOpen) {
      ev.exited = true;
      ev.exited_from = state_;
      state_ = RecoveryState::kOpen;
      high_rxt_.reset();
      rescue_rxt_.reset();
    }
  }

  // RFC 3708 §3: a D-SACK for data of the latest episode takes back its retransmissions.
  if (ack.dsack && undo_start_ && undo_retrans_ > 0 && *undo_start_ <= ack.dsack->left &&
      ack.dsack->right <= undo_end_) {
    undo_retrans_ -= std::min(undo_retrans_, SegmentsIn(ack.dsack->right - ack.dsack->left));
    if (undo_retrans_ == 0) {
      ev.spurious = true;
      undo_start_.reset();
    }
  }

  // §5 step 2: a duplicate ACK (§2: it SACKs new data) outside recovery, cumulative or not.
  if (state_ == RecoveryState::kOpen && ack.duplicate()) {
    ++dup_acks_;
    if (options_.dupthresh_loss && (dup_acks_ >= kDupThresh || IsLost(queue, una)) &&
        MayEnter(queue)) {
      const RecoveryEvents entry = Enter(queue);
      ev.entered = entry.entered;
      ev.fast_retransmit = entry.fast_retransmit;
    }
  }
  return ev;
}

void SackRecovery::OnRto(const RetransmitQueue& queue) {
  dup_acks_ = 0;
  if (queue.empty()) {
    state_ = RecoveryState::kOpen;
    episode_unfinished_ = false;
    high_rxt_.reset();
    rescue_rxt_.reset();
    return;
  }
  state_ = RecoveryState::kRtoRecovery;
  StartEpisode(queue);
}

bool SackRecovery::EnterLossRecovery(const RetransmitQueue& queue) {
  if (!MayEnter(queue)) return false;
  dup_acks_ = 0;
  state_ = RecoveryState::kRtoRecovery;
  StartEpisode(queue);
  // Linux's undo_marker = 0: a D-SACK for these retransmissions must not undo an earlier episode.
  undo_start_.reset();
  return true;
}

void SackRecovery::OnSent(const NextSegment& seg) {
  if (seg.retransmission() && undo_start_) undo_retrans_ += SegmentsIn(seg.len());
  switch (seg.rule) {
    case NextSegment::Rule::kFastRetransmit:
      // §5 step 4.3: both HighRxt and RescueRxt, so no premature rescue follows.
      high_rxt_ = high_rxt_ ? TcpSeq::Max(*high_rxt_, seg.end) : seg.end;
      rescue_rxt_ = seg.end;
      return;
    case NextSegment::Rule::kLost:
    case NextSegment::Rule::kHole:
      // §5 (C.2). Never lowered: a lost retransmission resent below it must not reopen holes
      // already retransmitted above.
      high_rxt_ = high_rxt_ ? TcpSeq::Max(*high_rxt_, seg.end) : seg.end;
      return;
    case NextSegment::Rule::kRescue:
      rescue_rxt_ = recovery_point_ ? *recovery_point_ : seg.end;
      return;
    case NextSegment::Rule::kNewData:
    case NextSegment::Rule::kNone:
      return;
  }
}

std::ostream& operator<<(std::ostream& os, RecoveryState state) {
  switch (state) {
    case RecoveryState::kOpen:
      return os << "open";
    case RecoveryState::kFastRecovery:
      return os << "fast-recovery";
    case RecoveryState::kRtoRecovery:
      return os << "rto-recovery";
  }
  return os << "?";
}

std::ostream& operator<<(std::ostream& os, NextSegment::Rule rule) {
  switch (rule) {
    case NextSegment::Rule::kNone:
      return os << "none";
    case NextSegment::Rule::kFastRetransmit:
      return os << "fast-retransmit";
    case NextSegment::Rule::kLost:
      return os << "rule1-lost";
    case NextSegment::Rule::kNewData:
      return os << "rule2-new-data";
    case NextSegment::Rule::kHole:
      return os << "rule3-hole";
    case NextSegment::Rule::kRescue:
      return os << "rule4-rescue";
  }
  return os << "?";
}

std::ostream& operator<<(std::ostream& os, const NextSegment& seg) {
  os << seg.rule;
  if (seg.rule != NextSegment::Rule::kNone) os << " [" << seg.start << ", " << seg.end << ")";
  return os;
}

}  // namespace braid::tcp
