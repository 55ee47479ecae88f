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
      fack_(snd_una) {}

void RetransmitQueue::Reset(TcpSeq snd_una) {
  head_ = 0;
  count_ = 0;
  snd_una_ = snd_nxt_ = fack_ = snd_una;
  sacked_bytes_ = 0;
  sacked_segs_ = 0;
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
  // Callers check count_ < capacity_: the slot At(count_) is free.
  for (size_t j = count_; j > index; --j) At(j) = At(j - 1);
  At(index) = record;
  ++count_;
}

void RetransmitQueue::EraseAt(size_t index) {
  for (size_t j = index; j + 1 < count_; ++j) At(j) = At(j + 1);
  --count_;
}

void RetransmitQueue::PopFront() {
  head_ = (head_ + 1) % capacity_;
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
  if (whole.sacked) sacked_segs_ += left.segs + right.segs - whole.segs;
  At(index) = left;
  InsertAt(index + 1, right);
  return true;
}

void RetransmitQueue::MergeWithNext(size_t index) {
  SegmentRecord& a = At(index);
  const SegmentRecord& b = At(index + 1);
  a.end = b.end;
  a.fin = b.fin;
  a.segs += b.segs;
  a.xmit_ts = std::max(a.xmit_ts, b.xmit_ts);
  a.rtx_count = std::max(a.rtx_count, b.rtx_count);
  a.retransmitted = a.retransmitted || b.retransmitted;
  a.lost = a.lost && b.lost;
  EraseAt(index + 1);
}

void RetransmitQueue::MergeSackedNeighbours() {
  // One compaction pass: SACKed records are delivered, their times no longer matter, and a run
  // of them is one hole-free range of the scoreboard. segs add up so DupThresh still counts
  // segments.
  size_t w = 0;
  for (size_t r = 0; r < count_; ++r) {
    if (w > 0 && At(w - 1).sacked && At(r).sacked) {
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
  count_ = w;
}

TransmitResult RetransmitQueue::OnTransmit(TcpSeq start, TcpSeq end, Instant now,
                                           bool is_retransmission, SegmentControl control) {
  if (start == end) return TransmitResult::kEmpty;
  if (!(start < end)) return TransmitResult::kOutOfRange;

  if (!is_retransmission) {
    // The whole flight must stay within 2^31 for the wrap-around compare to order it.
    if (start != snd_nxt_ || !(snd_una_ < end)) return TransmitResult::kOutOfRange;
    if (count_ == capacity_) return TransmitResult::kFull;
    SegmentRecord record;
    record.start = start;
    record.end = end;
    record.xmit_ts = now;
    record.syn = control.syn;
    record.fin = control.fin;
    InsertAt(count_, record);
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

  for (size_t i = first; i <= last; ++i) {
    SegmentRecord& r = At(i);
    r.xmit_ts = now;
    r.rtx_count = SaturatingIncrement(r.rtx_count);
    r.retransmitted = true;
    r.lost = false;  // RFC 8985 §6.1
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
    if (r.sacked) {
      sacked_bytes_ -= r.len();
      sacked_segs_ -= r.segs;
    } else {
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
    if (r.sacked) {
      sacked_bytes_ -= part;
    } else {
      result.delivered_bytes += part;
      OnDelivered(r, ack, scan);
    }
    result.syn_acked = result.syn_acked || r.syn;
    r.syn = false;
    r.start = ack;
  }
  result.acked_bytes = static_cast<uint32_t>(ack - snd_una_);
  snd_una_ = ack;
  fack_ = TcpSeq::Max(fack_, snd_una_);
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
  if (result.sacked_bytes > 0) MergeSackedNeighbours();
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
    r.sacked = true;
    r.lost = false;
    sacked_bytes_ += r.len();
    sacked_segs_ += r.segs;
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
  if (r.sacked) {
    r.sacked = false;
    sacked_bytes_ -= r.len();
    sacked_segs_ -= r.segs;
  }
  r.lost = true;
  return r.len();
}

uint32_t RetransmitQueue::lost_bytes() const {
  uint32_t sum = 0;
  for (size_t i = 0; i < count_; ++i) {
    if (At(i).lost) sum += At(i).len();
  }
  return sum;
}

std::optional<TcpSeq> RetransmitQueue::highest_sacked_end() const {
  for (size_t i = count_; i > 0; --i) {
    if (At(i - 1).sacked) return At(i - 1).end;
  }
  return std::nullopt;
}

bool RetransmitQueue::CheckInvariants() const {
  if (count_ > capacity_ || head_ >= capacity_) return false;
  TcpSeq expected = snd_una_;
  uint32_t sacked_bytes = 0;
  uint32_t sacked_segs = 0;
  for (size_t i = 0; i < count_; ++i) {
    const SegmentRecord& r = At(i);
    if (r.start != expected || !(r.start < r.end) || r.segs == 0) return false;
    if (r.sacked && r.lost) return false;
    if (r.syn && i != 0) return false;
    if (r.fin && i + 1 != count_) return false;
    if (r.sacked) {
      sacked_bytes += r.len();
      sacked_segs += r.segs;
    }
    expected = r.end;
  }
  return expected == snd_nxt_ && sacked_bytes == sacked_bytes_ && sacked_segs == sacked_segs_ &&
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
