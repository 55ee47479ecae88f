#include "datapath/tcp/retransmit_queue.h"

#include <algorithm>
#include <limits>

namespace braid::tcp {
namespace {

using wire::TcpSackBlock;
using wire::TcpSeq;

struct DropInfo {
  std::string_view name;
  std::string_view description;
};

constexpr std::array<DropInfo, static_cast<size_t>(SackBlockDrop::kCount)> kDrops = {{
#define BRAID_SACK_BLOCK_DROP(name, metric, desc) {metric, desc},
#include "datapath/tcp/sack_block_drop.def"
#undef BRAID_SACK_BLOCK_DROP
}};

uint16_t SaturatingIncrement(uint16_t v) {
  return v == std::numeric_limits<uint16_t>::max() ? v : static_cast<uint16_t>(v + 1);
}

}  // namespace

std::string_view SackBlockDropName(SackBlockDrop reason) {
  const auto i = static_cast<size_t>(reason);
  return i < kDrops.size() ? kDrops[i].name : "unknown";
}

std::string_view SackBlockDropDescription(SackBlockDrop reason) {
  const auto i = static_cast<size_t>(reason);
  return i < kDrops.size() ? kDrops[i].description : "unknown";
}

uint32_t SackBlockDrops::total() const {
  uint32_t sum = 0;
  for (uint32_t c : counts_) sum += c;
  return sum;
}

void SackBlockDrops::Add(SackBlockDrop reason, uint32_t n) {
  counts_[static_cast<size_t>(reason)] += n;
}

// What one ACK has found so far while walking the records.
struct RetransmitQueue::Scan {
  const AckInput& in;
  AckResult& result;
  // xmit_ts of the segment result.rtt_sample was taken from.
  std::optional<Instant> karn_xmit_ts;
};

RetransmitQueue::RetransmitQueue(size_t capacity, TcpSeq snd_una)
    : slots_(std::make_unique<SegmentRecord[]>(std::max<size_t>(capacity, 1))),
      capacity_(std::max<size_t>(capacity, 1)),
      snd_una_(snd_una),
      snd_nxt_(snd_una),
      fack_(snd_una),
      lost_hint_(snd_una) {}

void RetransmitQueue::Reset(TcpSeq snd_una) {
  head_ = 0;
  count_ = 0;
  snd_una_ = snd_nxt_ = fack_ = lost_hint_ = snd_una;
  sacked_bytes_ = 0;
  sacked_segs_ = 0;
  lost_bytes_ = 0;
  lost_records_ = 0;
  rtx_bytes_ = 0;
  rtx_records_ = 0;
  sacked_split_ = false;
  xmit_in_time_order_ = true;
}

void RetransmitQueue::AddTotals(const SegmentRecord& r) {
  if (r.sacked) {
    sacked_bytes_ += r.len();
    sacked_segs_ += r.segs;
  } else if (r.lost) {
    lost_bytes_ += r.len();
    ++lost_records_;
  } else if (r.retransmitted) {
    rtx_bytes_ += r.len();
    ++rtx_records_;
  }
}

void RetransmitQueue::NoteTransmitTime(Instant now) {
  if (count_ == 0) {
    xmit_in_time_order_ = true;
  } else if (now < last_xmit_ts_) {
    xmit_in_time_order_ = false;
  }
  last_xmit_ts_ = now;
}

void RetransmitQueue::RemoveTotals(const SegmentRecord& r) {
  if (r.sacked) {
    sacked_bytes_ -= r.len();
    sacked_segs_ -= r.segs;
  } else if (r.lost) {
    lost_bytes_ -= r.len();
    --lost_records_;
  } else if (r.retransmitted) {
    rtx_bytes_ -= r.len();
    --rtx_records_;
  }
}

size_t RetransmitQueue::UpperBoundByEnd(TcpSeq seq) const {
  size_t lo = 0;
  size_t hi = count_;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (At(mid).end <= seq) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

size_t RetransmitQueue::Find(TcpSeq seq) const {
  if (!SeqInWindow(seq, snd_una_, snd_nxt_)) return count_;
  return UpperBoundByEnd(seq);
}

void RetransmitQueue::InsertAt(size_t index, const SegmentRecord& record) {
  // Callers check count_ < capacity_: a slot is free before the head and after the tail. Move
  // the shorter side (a split near the head, where holes are, is then cheap in a large window).
  if (index < count_ - index) {
    head_ = head_ == 0 ? capacity_ - 1 : head_ - 1;
    for (size_t j = 0; j < index; ++j) At(j) = At(j + 1);
  } else {
    for (size_t j = count_; j > index; --j) At(j) = At(j - 1);
  }
  At(index) = record;
  ++count_;
}

void RetransmitQueue::EraseAt(size_t index) { CloseGap(index, 1); }

void RetransmitQueue::CloseGap(size_t index, size_t n) {
  if (n == 0) return;
  if (index < count_ - index - n) {
    for (size_t j = index; j > 0; --j) At(j - 1 + n) = At(j - 1);
    head_ = Slot(n);
  } else {
    for (size_t j = index; j + n < count_; ++j) At(j) = At(j + n);
  }
  count_ -= n;
}

void RetransmitQueue::PopFront() {
  head_ = Slot(1);
  --count_;
}

bool RetransmitQueue::Split(size_t index, TcpSeq at) {
  if (count_ == capacity_) return false;
  const SegmentRecord whole = At(index);
  SegmentRecord left = whole;
  SegmentRecord right = whole;
  left.end = at;
  left.fin = false;  // the FIN is the last octet: it stays on the right
  right.start = at;
  right.syn = false;  // the SYN is the first octet: it stays on the left
  // Each piece stands for at least one segment: a receiver SACKing part of a segment has
  // received a segment of its own (a repacketized retransmission).
  right.segs = whole.segs > 1 ? whole.segs / 2 : 1;
  left.segs = whole.segs > 1 ? whole.segs - right.segs : 1;
  RemoveTotals(whole);
  AddTotals(left);
  AddTotals(right);
  // SackBlock only cuts unSACKed records; a retransmission may cut a SACKed one, leaving two
  // adjacent SACKed records for the next merge to find.
  if (whole.sacked) sacked_split_ = true;
  At(index) = left;
  InsertAt(index + 1, right);
  return true;
}

void RetransmitQueue::MergeWithNext(size_t index) {
  SegmentRecord& a = At(index);
  const SegmentRecord& b = At(index + 1);
  RemoveTotals(a);
  RemoveTotals(b);
  a.end = b.end;
  a.fin = b.fin;
  a.segs += b.segs;
  a.xmit_ts = std::max(a.xmit_ts, b.xmit_ts);
  a.rtx_count = std::max(a.rtx_count, b.rtx_count);
  a.retransmitted = a.retransmitted || b.retransmitted;
  a.lost = a.lost && b.lost;
  AddTotals(a);
  EraseAt(index + 1);
}

void RetransmitQueue::MergeSackedRange(size_t lo, size_t hi) {
  // One compaction pass: SACKed records are delivered, their times no longer matter, and a run
  // of them is one hole-free range of the scoreboard. segs add up so DupThresh still counts
  // segments. Merging SACKed records with SACKed records leaves every total unchanged (lost and
  // retransmitted-in-flight records are never SACKed), and no end moves.
  if (count_ == 0) return;
  hi = std::min(hi, count_ - 1);
  if (lo >= hi) return;
  size_t w = lo + 1;
  for (size_t r = lo + 1; r <= hi; ++r) {
    if (At(w - 1).sacked && At(r).sacked) {
      SegmentRecord& a = At(w - 1);
      const SegmentRecord& b = At(r);
      a.end = b.end;
      a.fin = b.fin;
      a.segs += b.segs;
      a.xmit_ts = std::max(a.xmit_ts, b.xmit_ts);
      a.rtx_count = std::max(a.rtx_count, b.rtx_count);
      a.retransmitted = a.retransmitted || b.retransmitted;
      continue;
    }
    if (w != r) At(w) = At(r);
    ++w;
  }
  CloseGap(w, hi + 1 - w);
}

TransmitResult RetransmitQueue::OnTransmit(TcpSeq start, TcpSeq end, Instant now,
                                           bool is_retransmission, SegmentControl control) {
  if (start == end) return TransmitResult::kEmpty;
  if (!(start < end)) return TransmitResult::kOutOfRange;

  if (!is_retransmission) {
    // The whole flight must stay within 2^31 for the wrap-around compare to order it.
    if (start != snd_nxt_ || !(snd_una_ < end)) return TransmitResult::kOutOfRange;
    if (count_ == capacity_) return TransmitResult::kFull;
    NoteTransmitTime(now);
    // A new record is neither SACKed, lost nor retransmitted: no total changes. Written in place at
    // the tail (once per segment sent: no temporary, no shifting).
    SegmentRecord& record = At(count_);
    record.start = start;
    record.end = end;
    record.xmit_ts = now;
    record.rtx_count = 0;
    record.segs = 1;
    record.syn = control.syn;
    record.fin = control.fin;
    record.sacked = false;
    record.lost = false;
    record.retransmitted = false;
    ++count_;
    snd_nxt_ = end;
    return TransmitResult::kOk;
  }

  if (!(snd_una_ <= start) || !(end <= snd_nxt_)) return TransmitResult::kOutOfRange;
  size_t first = UpperBoundByEnd(start);
  bool split_failed = false;
  if (At(first).start < start) {
    if (Split(first, start)) {
      ++first;
    } else {
      split_failed = true;
    }
  }
  size_t last = UpperBoundByEnd(end - 1);
  if (end < At(last).end && !Split(last, end)) split_failed = true;
  // Without a free slot the whole edge records are restamped: their untouched bytes look
  // retransmitted (no RTT sample from them, later RACK deadlines), which is safe.
  if (split_failed) ++rtx_split_failures_;

  NoteTransmitTime(now);
  for (size_t i = first; i <= last; ++i) {
    SegmentRecord& r = At(i);
    RemoveTotals(r);
    r.xmit_ts = now;
    r.rtx_count = SaturatingIncrement(r.rtx_count);
    r.retransmitted = true;
    r.lost = false;  // RFC 8985 §6.1
    AddTotals(r);
  }
  // The retransmission is one segment on the wire: its unSACKed pieces become one record.
  size_t i = first;
  while (i < last) {
    if (!At(i).sacked && !At(i + 1).sacked) {
      MergeWithNext(i);
      At(i).segs = 1;
      --last;
    } else {
      ++i;
    }
  }
  return TransmitResult::kOk;
}

AckResult RetransmitQueue::OnAck(const AckInput& in) {
  AckResult result;
  result.prior_snd_una = snd_una_;
  result.sack_option = !in.sack_blocks.empty();
  // RFC 9293 §3.10.7.4: an ACK of something not yet sent is answered with an ACK and dropped.
  if (snd_nxt_ < in.ack) {
    result.disposition = AckDisposition::kUnsent;
    return result;
  }
  Scan scan{in, result, std::nullopt};
  if (snd_una_ < in.ack) {
    result.disposition = AckDisposition::kAdvanced;
    ProcessCumulativeAck(scan);
  } else {
    result.disposition = in.ack == snd_una_ ? AckDisposition::kDuplicate : AckDisposition::kOld;
  }
  // Without SACK blocks (most ACKs) there is nothing to mark, merge or drop.
  if (in.sack_blocks.empty()) return result;
  ProcessSackBlocks(scan);
  for (size_t i = 0; i < static_cast<size_t>(SackBlockDrop::kCount); ++i) {
    drop_totals_[i] += result.drops.count(static_cast<SackBlockDrop>(i));
  }
  return result;
}

void RetransmitQueue::ProcessCumulativeAck(Scan& scan) {
  AckResult& result = scan.result;
  const TcpSeq ack = scan.in.ack;
  while (count_ > 0 && At(0).end <= ack) {
    const SegmentRecord r = At(0);
    RemoveTotals(r);
    if (!r.sacked) {
      result.delivered_bytes += r.len();
      OnDelivered(r, r.end, scan);
    }
    result.syn_acked = result.syn_acked || r.syn;
    result.fin_acked = result.fin_acked || r.fin;
    PopFront();
  }
  if (count_ > 0 && At(0).start < ack) {
    // A partial acknowledgment (the receiver acknowledged part of a record, e.g. of a segment
    // repacketized by a middlebox, or the SYN of a SYN carrying data).
    SegmentRecord& r = At(0);
    const auto part = static_cast<uint32_t>(ack - r.start);
    if (!r.sacked) {
      result.delivered_bytes += part;
      OnDelivered(r, ack, scan);
    }
    result.syn_acked = result.syn_acked || r.syn;
    RemoveTotals(r);
    r.syn = false;
    r.start = ack;
    AddTotals(r);
  }
  result.acked_bytes = static_cast<uint32_t>(ack - snd_una_);
  snd_una_ = ack;
  fack_ = TcpSeq::Max(fack_, snd_una_);
  lost_hint_ = TcpSeq::Max(lost_hint_, snd_una_);
}

void RetransmitQueue::ProcessSackBlocks(Scan& scan) {
  const AckInput& in = scan.in;
  AckResult& result = scan.result;
  size_t n = in.sack_blocks.size();
  if (n > wire::kTcpMaxSackBlocks) {
    result.drops.Add(SackBlockDrop::kTooMany, static_cast<uint32_t>(n - wire::kTcpMaxSackBlocks));
    n = wire::kTcpMaxSackBlocks;
  }
  size_t first = 0;
  if (n >= 1) {
    // RFC 2883 §4: the first block reports a duplicate when it lies below the cumulative ACK or
    // inside the second block. It is reported, never used to mark the scoreboard.
    const TcpSackBlock& b0 = in.sack_blocks[0];
    const bool below = b0.left < in.ack;
    const bool inside =
        n >= 2 && in.sack_blocks[1].left <= b0.left && b0.right <= in.sack_blocks[1].right;
    if (b0.left < b0.right && (below || inside)) {
      first = 1;
      if (snd_nxt_ < b0.right) {
        result.drops.Add(SackBlockDrop::kAboveSndNxt);
      } else {
        result.dsack = b0;
      }
    }
  }

  std::array<TcpSackBlock, wire::kTcpMaxSackBlocks> valid;
  size_t k = 0;
  for (size_t i = first; i < n; ++i) {
    const TcpSackBlock& b = in.sack_blocks[i];
    // RFC 2018 §3: blocks report data above the cumulative ACK that was sent.
    if (!(b.left < b.right)) {
      result.drops.Add(SackBlockDrop::kEmpty);
    } else if (b.left < snd_una_) {
      result.drops.Add(SackBlockDrop::kBelowSndUna);
    } else if (snd_nxt_ < b.right) {
      result.drops.Add(SackBlockDrop::kAboveSndNxt);
    } else if (count_ > 0 && At(0).syn && b.left == At(0).start) {
      result.drops.Add(SackBlockDrop::kCoversSyn);
    } else {
      valid[k++] = b;
    }
  }
  // In sequence order, so that RACK.fack grows as RFC 8985 §6.2 step 3 walks (by end_seq). At
  // most four blocks: an insertion sort (std::sort here trips GCC 12's -Warray-bounds at -O2).
  for (size_t i = 1; i < k; ++i) {
    for (size_t j = i; j > 0 && valid[j].left < valid[j - 1].left; --j) {
      std::swap(valid[j], valid[j - 1]);
    }
  }
  for (size_t i = 0; i < k; ++i) SackBlock(valid[i], scan);
  if (result.sacked_bytes == 0) return;
  if (sacked_split_) {
    sacked_split_ = false;
    MergeSackedNeighbours();
    return;
  }
  // Only records this ACK SACKed can have a SACKed neighbour: merge around each block, highest
  // first (a merge moves the records above it or the head, never the sequence numbers, so each
  // block's records are found again by sequence).
  for (size_t i = k; i > 0; --i) {
    const size_t lo = UpperBoundByEnd(valid[i - 1].left);
    const size_t hi = UpperBoundByEnd(valid[i - 1].right);
    MergeSackedRange(lo > 0 ? lo - 1 : 0, hi);
  }
}

void RetransmitQueue::SackBlock(const TcpSackBlock& block, Scan& scan) {
  AckResult& result = scan.result;
  bool partial_skipped = false;
  size_t i = UpperBoundByEnd(block.left);
  while (i < count_ && At(i).start < block.right) {
    if (At(i).sacked) {
      ++i;
      continue;
    }
    if (At(i).start < block.left) {
      // The block starts inside this record: cut off the part below it, look at the rest next.
      if (!Split(i, block.left)) partial_skipped = true;
      ++i;
      continue;
    }
    if (block.right < At(i).end && !Split(i, block.right)) {
      partial_skipped = true;
      break;
    }
    SegmentRecord& r = At(i);
    RemoveTotals(r);
    r.sacked = true;
    r.lost = false;
    AddTotals(r);
    if (sacked_bytes_ == r.len() || high_sacked_end_ < r.end) high_sacked_end_ = r.end;
    result.sacked_bytes += r.len();
    result.delivered_bytes += r.len();
    OnDelivered(r, r.end, scan);
    ++i;
  }
  if (partial_skipped) result.drops.Add(SackBlockDrop::kQueueFull);
}

void RetransmitQueue::OnDelivered(const SegmentRecord& record, TcpSeq delivered_end, Scan& scan) {
  const AckInput& in = scan.in;
  AckResult& result = scan.result;
  const Duration rtt = std::max(Duration::zero(), in.now - record.xmit_ts);

  // RFC 6298 §3 (Karn): only never-retransmitted segments give samples. The most recently sent
  // one is the segment most likely to have triggered this ACK.
  if (!record.retransmitted && (!scan.karn_xmit_ts || *scan.karn_xmit_ts <= record.xmit_ts)) {
    scan.karn_xmit_ts = record.xmit_ts;
    result.rtt_sample = rtt;
  }

  // RFC 8985 §6.2 step 2: a retransmitted segment is ignored when the ACK's TSecr shows it was
  // triggered by an earlier transmission, or when it was retransmitted less than min_RTT ago
  // (the ACK is then most likely for the original).
  const bool eligible =
      !record.retransmitted ||
      ((!in.echoed_send_time || record.xmit_ts <= *in.echoed_send_time) && in.min_rtt <= rtt);
  if (eligible && (!result.rack_delivery ||
                   RackSentAfter(record.xmit_ts, delivered_end, result.rack_delivery->xmit_ts,
                                 result.rack_delivery->end_seq))) {
    result.rack_delivery = RackDelivery{record.xmit_ts, delivered_end, rtt};
  }

  // RFC 8985 §6.2 step 3.
  if (fack_ < delivered_end) {
    fack_ = delivered_end;
  } else if (delivered_end < fack_ && !record.retransmitted) {
    result.reordering_seen = true;
  }
}

uint32_t RetransmitQueue::MarkLostAt(size_t index) {
  if (index >= count_) return 0;
  SegmentRecord& r = At(index);
  if (r.lost) return 0;
  const bool was_sacked = r.sacked;
  RemoveTotals(r);
  r.sacked = false;
  r.lost = true;
  AddTotals(r);
  lost_hint_ = TcpSeq::Min(lost_hint_, r.start);
  if (was_sacked && sacked_bytes_ > 0 && r.end == high_sacked_end_) {
    // It was the highest SACKed record (in practice the head after an RTO): find the next one
    // down.
    for (size_t i = index; i > 0; --i) {
      if (At(i - 1).sacked) {
        high_sacked_end_ = At(i - 1).end;
        break;
      }
    }
  }
  return r.len();
}

size_t RetransmitQueue::HighestSackedIndex() const {
  if (sacked_bytes_ == 0) return count_;
  return UpperBoundByEnd(high_sacked_end_ - 1);
}

size_t RetransmitQueue::LowestLostIndex() const {
  if (lost_records_ == 0) return count_;
  // Records before UpperBoundByEnd(hint) end at or below the hint, so start below it: not lost.
  size_t i = UpperBoundByEnd(lost_hint_);
  while (i < count_ && !At(i).lost) ++i;
  if (i < count_) lost_hint_ = At(i).start;
  return i;
}

bool RetransmitQueue::CheckInvariants() const {
  if (count_ > capacity_ || head_ >= capacity_) return false;
  TcpSeq expected = snd_una_;
  uint32_t sacked_bytes = 0;
  uint32_t sacked_segs = 0;
  uint32_t lost_bytes = 0;
  uint32_t lost_records = 0;
  uint32_t rtx_bytes = 0;
  uint32_t rtx_records = 0;
  std::optional<TcpSeq> high_sacked_end;
  // The latest time of the never-retransmitted unSACKed, unlost records so far.
  std::optional<Instant> original_ts;
  for (size_t i = 0; i < count_; ++i) {
    const SegmentRecord& r = At(i);
    if (r.start != expected || !(r.start < r.end) || r.segs == 0) return false;
    if (r.sacked && r.lost) return false;
    if (r.syn && i != 0) return false;
    if (r.fin && i + 1 != count_) return false;
    if (r.sacked) {
      sacked_bytes += r.len();
      sacked_segs += r.segs;
      high_sacked_end = r.end;
      // Adjacent SACKed records are merged at once, unless a retransmission just split one.
      if (!sacked_split_ && i > 0 && At(i - 1).sacked) return false;
    } else if (r.lost) {
      lost_bytes += r.len();
      ++lost_records;
      if (r.start < lost_hint_) return false;
    } else {
      // transmissions_in_time_order(): nothing above a never-retransmitted record was sent
      // before it (the ends grow, so equal times are in order).
      if (xmit_in_time_order_ && original_ts && r.xmit_ts < *original_ts) return false;
      if (r.retransmitted) {
        rtx_bytes += r.len();
        ++rtx_records;
      } else {
        original_ts = r.xmit_ts;
      }
    }
    expected = r.end;
  }
  if (count_ > 0 && !SeqInWindow(lost_hint_, snd_una_, snd_nxt_ + 1)) return false;
  return expected == snd_nxt_ && sacked_bytes == sacked_bytes_ && sacked_segs == sacked_segs_ &&
         lost_bytes == lost_bytes_ && lost_records == lost_records_ && rtx_bytes == rtx_bytes_ &&
         rtx_records == rtx_records_ && high_sacked_end == highest_sacked_end() &&
         snd_una_ <= fack_ && fack_ <= snd_nxt_;
}

std::ostream& operator<<(std::ostream& os, AckDisposition disposition) {
  switch (disposition) {
    case AckDisposition::kAdvanced:
      return os << "advanced";
    case AckDisposition::kDuplicate:
      return os << "duplicate";
    case AckDisposition::kOld:
      return os << "old";
    case AckDisposition::kUnsent:
      return os << "unsent";
  }
  return os << "?";
}

std::ostream& operator<<(std::ostream& os, TransmitResult result) {
  switch (result) {
    case TransmitResult::kOk:
      return os << "ok";
    case TransmitResult::kFull:
      return os << "full";
    case TransmitResult::kOutOfRange:
      return os << "out-of-range";
    case TransmitResult::kEmpty:
      return os << "empty";
  }
  return os << "?";
}

}  // namespace braid::tcp
