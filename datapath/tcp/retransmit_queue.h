// The sender's retransmission queue and SACK scoreboard: one record per transmitted range of
// sequence space not yet cumulatively acknowledged, with what loss detection needs to know about
// it (RFC 2018, RFC 2883, RFC 6298 §3, RFC 6675 §3, RFC 8985 §5-6). It holds sequence numbers
// and times only, never payload: the send buffer keeps the bytes until SND.UNA passes them.
//
// Loss detection is three sans-I/O classes the connection drives, none of which calls back into
// it; each returns plain values ("these ranges are now lost", "next deadline at T"):
//   RetransmitQueue (this file)     the scoreboard: what was sent when, what is SACKed or lost.
//   SackRecovery (sack_recovery.h)  RFC 6675: DupAcks, IsLost, pipe, NextSeg, RecoveryPoint.
//   Rack (rack.h)                   RFC 8985: RACK time-based loss marking and Tail Loss Probe.
//
// ---- The contract with the connection -------------------------------------------------------
// On send. Every segment that takes sequence space (data, SYN, FIN; new, retransmitted or probe)
//   is recorded once, after it is handed to output, with queue.OnTransmit(start, end, now, ...);
//   pure ACKs are not. Call it once per wire segment (per SMSS-sized piece of a TSO burst), so
//   that RACK and the DupThresh count see segments. New data must start at snd_nxt(); a
//   retransmission must lie inside [snd_una(), snd_nxt()). Then:
//   - a segment chosen by SackRecovery::NextSeg (or its fast retransmit): recovery.OnSent(seg);
//   - a Tail Loss Probe: rack.OnProbeSent(queue, is_retransmission);
//   - new data that was not a probe: re-arm the PTO from rack.PtoDeadline(...) (RFC 8985 §7.2).
//   kFull from OnTransmit means the segment was not recorded: do not send it (the capacity is
//   sized from the largest send window, so this is a window-full condition, never data loss).
//
// On each ACK that passed the RFC 9293 §3.10.7.4 acceptability checks (and on old ACKs too; their
//   SACK blocks are still used):
//   1. r = queue.OnAck({ack, sack_blocks, now, echoed_send_time, rtt.min_rtt()}).
//      r.disposition == kUnsent: SEG.ACK > SND.NXT; nothing changed, send an ACK and stop.
//      Feed the RttEstimator (rtt_estimator.h) r.rtt_sample (Karn-safe) or a timestamp sample.
//   2. ev = recovery.OnAck(queue, r): RFC 6675 §5 exit (A) and DupThresh/IsLost entry.
//      ev.exited: CongestionController::OnRecoveryExit (after its OnAck). ev.spurious (RFC 3708,
//      every retransmission of the last episode was D-SACKed): OnSpuriousCongestion.
//   3. out = rack.OnAck(queue, r, {now, rtt.srtt(), rtt.min_rtt(), whether step 1 fed a sample,
//      recovery.in_recovery(), ev.exited, pure_dup_ack}): RACK marks lost records in the queue;
//      out.loss.reorder_deadline (re)arms or, when empty, cancels the reordering timer; out.tlp
//      says how an outstanding probe ended (kLossRepaired: the congestion controller's loss
//      response, as for a recovery episode).
//   4. If out.loss.lost_segments > 0 and !recovery.in_recovery(): ev = recovery.EnterRecovery(q).
//   5. On any entry (ev.entered): CongestionController::OnCongestionEvent, rack.OnEnterRecovery(),
//      and send ev.fast_retransmit whatever cwnd allows (RFC 6675 §5 step 4.3).
//   6. While cwnd - recovery.Pipe(queue) >= SMSS: seg = recovery.NextSeg(queue, sendable new
//      bytes); stop on kNone; send it, OnTransmit, recovery.OnSent(seg). Outside recovery this
//      is also the ordinary send path (rule 2), and limited transmit (RFC 3042) while DupAcks < 3.
//   7. Timers, when SND.UNA advanced (RFC 8985 §7.2): with data outstanding, the PTO at
//      rack.PtoDeadline(...) if it gives a time, else the RTO; nothing outstanding, neither.
// On the reordering timer: loss = rack.OnReorderTimer(queue, now, rtt.srtt(), in_recovery); then
//   steps 4-6.
// On the PTO: probe = rack.OnPtoExpired(queue, new_data_sendable); unless kNone send it,
//   OnTransmit, rack.OnProbeSent(queue, is_retransmission); in all cases arm the RTO, not the
//   PTO (RFC 8985 §7.3).
// On the RTO: rack.OnRto(queue, now, rtt.srtt()) marks the losses (RFC 8985 §6.3) and ends a
//   probe episode; recovery.OnRto(queue) starts RTO recovery (RFC 6675 §5.1); then step 6 (with
//   the congestion controller's loss window).
// ----------------------------------------------------------------------------------------------
//
// Sequence marks are exclusive ends throughout (snd_nxt, RecoveryPoint, HighRxt are "one past"),
// unlike the RFCs' inclusive octets.
//
// Bounded: the records live in a ring allocated once at construction. Splits (a SACK block or a
// retransmission cutting a record) need free slots; adjacent SACKed records are merged back at
// once, so the count stays near the number of segments in flight. When no slot is free the queue
// degrades safely and counts it: a SACK block leaves partly covered records unSACKed (they may
// be retransmitted needlessly, never skipped), a retransmission marks whole records.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <span>
#include <string_view>

#include "datapath/tcp/time.h"
#include "datapath/wire/seq.h"
#include "datapath/wire/tcp_options.h"

namespace braid::tcp {

// One transmitted range [start, end) of sequence space.
struct SegmentRecord {
  wire::TcpSeq start;
  wire::TcpSeq end;
  Instant xmit_ts;             // last (re)transmission (RFC 8985 Segment.xmit_ts)
  uint16_t rtx_count = 0;      // times retransmitted (saturating)
  uint32_t segs = 1;           // wire segments it stands for, for DupThresh (SACKed merges add)
  bool syn = false;            // its first octet is the SYN
  bool fin = false;            // its last octet is the FIN
  bool sacked = false;         // selectively acknowledged
  bool lost = false;           // marked lost, not retransmitted since (RFC 8985 Segment.lost)
  bool retransmitted = false;  // ever retransmitted (Karn; RFC 8985 Segment.retransmitted)

  uint32_t len() const { return static_cast<uint32_t>(end - start); }
  friend bool operator==(const SegmentRecord&, const SegmentRecord&) = default;
};

// RFC 8985 §6.2 RACK_sent_after: (t1, seq1) was sent after (t2, seq2); equal times (clock
// granularity, one TSO burst) are ordered by end sequence.
inline bool RackSentAfter(Instant t1, wire::TcpSeq seq1, Instant t2, wire::TcpSeq seq2) {
  return t1 > t2 || (t1 == t2 && seq1 > seq2);
}

enum class SackBlockDrop : uint8_t {
#define BRAID_SACK_BLOCK_DROP(name, metric, desc) name,
#include "datapath/tcp/sack_block_drop.def"
#undef BRAID_SACK_BLOCK_DROP
  kCount,
};

// Stable snake_case name, used for counters and debug output.
std::string_view SackBlockDropName(SackBlockDrop reason);
std::string_view SackBlockDropDescription(SackBlockDrop reason);

// SACK blocks one ACK had ignored, by reason.
class SackBlockDrops {
 public:
  uint32_t count(SackBlockDrop reason) const { return counts_[static_cast<size_t>(reason)]; }
  uint32_t total() const;
  bool any() const { return total() != 0; }
  void Add(SackBlockDrop reason, uint32_t n = 1);
  friend bool operator==(const SackBlockDrops&, const SackBlockDrops&) = default;

 private:
  std::array<uint32_t, static_cast<size_t>(SackBlockDrop::kCount)> counts_{};
};

// What the connection learns from one ACK's cumulative acknowledgment number.
enum class AckDisposition : uint8_t {
  kAdvanced,   // SND.UNA < SEG.ACK <= SND.NXT: SND.UNA moved
  kDuplicate,  // SEG.ACK == SND.UNA
  kOld,        // SEG.ACK < SND.UNA: cumulative part ignored, SACK blocks still used
  kUnsent,     // SEG.ACK > SND.NXT: acknowledges unsent data, nothing was processed
};

// The most recently sent segment this ACK newly delivered among those RFC 8985 §6.2 step 2
// accepts (a retransmitted one only when the ACK echoes its latest transmission and it is at least
// min_rtt old): what Rack needs for RACK.xmit_ts, RACK.end_seq and RACK.rtt.
struct RackDelivery {
  Instant xmit_ts;
  wire::TcpSeq end_seq;  // end of the delivered part
  Duration rtt;          // now - xmit_ts
  friend bool operator==(const RackDelivery&, const RackDelivery&) = default;
};

struct AckInput {
  wire::TcpSeq ack;                                 // SEG.ACK
  std::span<const wire::TcpSackBlock> sack_blocks;  // as received, in option order
  Instant now;
  // RFC 8985 §6.2 step 2, for retransmitted segments only. With timestamps (RFC 7323): the latest
  // Instant at which a segment carrying the echoed TSval (the ACK's TSecr) may have been sent.
  std::optional<Instant> echoed_send_time;
  // RACK.min_RTT (RttEstimator::min_rtt()); zero: none yet, no filter.
  Duration min_rtt{0};
};

struct AckResult {
  AckDisposition disposition = AckDisposition::kDuplicate;
  wire::TcpSeq prior_snd_una;
  uint32_t acked_bytes = 0;      // SND.UNA advance (SYN and FIN octets included)
  uint32_t sacked_bytes = 0;     // newly SACKed
  uint32_t delivered_bytes = 0;  // newly delivered: acked without being SACKed before, + sacked
  bool syn_acked = false;
  bool fin_acked = false;
  bool sack_option = false;  // the ACK carried SACK blocks (any, valid or not)
  // RFC 6298 §3 (Karn): now - xmit_ts of the most recently sent newly delivered segment that was
  // never retransmitted. The connection may prefer a timestamp sample (RFC 7323 §4).
  std::optional<Duration> rtt_sample;
  // RFC 2883 §4: the first block when it lies below SEG.ACK or inside the second block.
  std::optional<wire::TcpSackBlock> dsack;
  // RFC 8985 §6.2 step 3: a never-retransmitted segment was delivered below RACK.fack.
  bool reordering_seen = false;
  std::optional<RackDelivery> rack_delivery;
  SackBlockDrops drops;

  // RFC 6675 §2: a duplicate ACK is one whose SACK blocks cover octets between HighACK and HighData
  // that were neither acknowledged nor SACKed before.
  bool duplicate() const { return sacked_bytes > 0; }
};

enum class TransmitResult : uint8_t {
  kOk,
  kFull,        // new data: no free record; nothing recorded, do not send
  kOutOfRange,  // new data not at snd_nxt, a retransmission outside [snd_una, snd_nxt), or
                // a range of 2^31 or more
  kEmpty,       // start == end: nothing to record (pure ACKs take no sequence space)
};

// Control flags of a new segment (retransmissions take them from the records they cover).
struct SegmentControl {
  bool syn = false;
  bool fin = false;
};

class RetransmitQueue {
 public:
  // `capacity` records (at least 1): size it to the largest send window in segments plus a
  // margin for splits (2 per SACK block, kTcpMaxSackBlocks per ACK). `snd_una` is the initial
  // sequence number: the first transmission (the SYN) starts there.
  RetransmitQueue(size_t capacity, wire::TcpSeq snd_una);

  // Movable (a moved-from queue may only be destroyed or assigned to), not copyable.
  RetransmitQueue(RetransmitQueue&&) = default;
  RetransmitQueue& operator=(RetransmitQueue&&) = default;
  RetransmitQueue(const RetransmitQueue&) = delete;
  RetransmitQueue& operator=(const RetransmitQueue&) = delete;

  // Forgets every record; SND.UNA = SND.NXT = `snd_una`. Counters are kept.
  void Reset(wire::TcpSeq snd_una);

  // Records a transmission of [start, end) at `now`. New data (is_retransmission false) must
  // start at snd_nxt() and moves it. A retransmission restamps the records it covers (xmit_ts,
  // rtx_count, retransmitted, lost cleared) and becomes one record, as it is one segment on the
  // wire; it may cover SACKed records (a probe, or go-back-N after an RTO): they stay SACKed.
  TransmitResult OnTransmit(wire::TcpSeq start, wire::TcpSeq end, Instant now,
                            bool is_retransmission, SegmentControl control = {});

  // Processes one ACK: cumulative acknowledgment, then validated SACK blocks (at most
  // kTcpMaxSackBlocks; blocks outside [snd_una, snd_nxt] are ignored and counted).
  AckResult OnAck(const AckInput& in);

  // Marks record `index` lost (RFC 8985 Segment.lost): the connection must retransmit it.
  // A SACKed record loses its SACK mark (for the head after an RTO: the receiver may have
  // reneged, RFC 2018 §8). Returns the bytes newly marked (0 when already lost or no such record).
  uint32_t MarkLostAt(size_t index);

  // SND.UNA, SND.NXT, and FlightSize (RFC 5681 §2) = SND.NXT - SND.UNA.
  wire::TcpSeq snd_una() const { return snd_una_; }
  wire::TcpSeq snd_nxt() const { return snd_nxt_; }
  uint32_t flight_size() const { return static_cast<uint32_t>(snd_nxt_ - snd_una_); }

  // Records, oldest (lowest sequence) first; they tile [snd_una, snd_nxt) without gaps.
  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  size_t capacity() const { return capacity_; }
  const SegmentRecord& operator[](size_t index) const { return At(index); }
  // Index of the record holding `seq`, or size() when `seq` is outside [snd_una, snd_nxt).
  size_t Find(wire::TcpSeq seq) const;

  // Scoreboard totals, kept up to date as records change so that the per-ACK and per-segment
  // questions of SackRecovery and Rack cost O(1) while nothing is SACKed or lost (the common
  // case), instead of a walk over the whole flight. sacked_segments() is RACK.segs_sacked
  // (RFC 8985 §5.2).
  uint32_t sacked_bytes() const { return sacked_bytes_; }
  uint32_t sacked_segments() const { return sacked_segs_; }
  // Records marked lost (SegmentRecord::lost; never SACKed), their bytes.
  uint32_t lost_bytes() const { return lost_bytes_; }
  uint32_t lost_records() const { return lost_records_; }
  // UnSACKed records retransmitted and not marked lost since: retransmissions presumed still in
  // flight (RFC 6675 §4 SetPipe (b), Linux's retrans_out).
  uint32_t retransmitted_in_flight_bytes() const { return rtx_bytes_; }
  uint32_t retransmitted_in_flight_records() const { return rtx_records_; }
  // One past the highest SACKed octet (RFC 6675 "highest octet covered by any received SACK"),
  // nullopt when nothing outstanding is SACKed.
  std::optional<wire::TcpSeq> highest_sacked_end() const {
    if (sacked_bytes_ == 0) return std::nullopt;
    return high_sacked_end_;
  }
  // Index of the record ending at highest_sacked_end() (O(log n)), size() when none.
  size_t HighestSackedIndex() const;
  // Index of the lowest record marked lost, size() when none. Searches forward from a remembered
  // position (no lost record starts below it), which it advances: amortized O(1) plus O(log n).
  size_t LowestLostIndex() const;
  // True when every transmission since the queue was last empty was recorded at a time no
  // earlier than the one before (always, with a monotonic clock; false from a transmission stamped
  // earlier until the queue empties). Then no unSACKed, unlost record was sent before (RFC 8985
  // §6.2 RACK_sent_after) a never-retransmitted one below it: new data goes out in sequence
  // order, and a retransmission is stamped after every original transmission below it. Rack's
  // loss walk stops at the first never-retransmitted record not sent before RACK.xmit_ts.
  bool transmissions_in_time_order() const { return xmit_in_time_order_; }
  // RACK.fack (RFC 8985 §6.2 step 3): the highest end of any delivered segment, never below
  // snd_una().
  wire::TcpSeq fack() const { return fack_; }

  // Every SACK block ignored since construction, by reason; and retransmissions recorded as
  // whole records because no slot was free for a split.
  uint64_t sack_block_drops(SackBlockDrop reason) const {
    return drop_totals_[static_cast<size_t>(reason)];
  }
  uint64_t retransmit_split_failures() const { return rtx_split_failures_; }

  // Debug aid for tests: the records tile [snd_una, snd_nxt), flags are consistent, and every
  // incrementally kept total, bound and hint matches a recomputation from scratch. O(n).
  bool CheckInvariants() const;

 private:
  // head_ + i < 2 * capacity_: one compare instead of a division on every access.
  size_t Slot(size_t i) const {
    const size_t s = head_ + i;
    return s >= capacity_ ? s - capacity_ : s;
  }
  SegmentRecord& At(size_t i) { return slots_[Slot(i)]; }
  const SegmentRecord& At(size_t i) const { return slots_[Slot(i)]; }
  // Adds `r` to, or removes it from, the scoreboard totals (sacked, lost, retransmitted in
  // flight: disjoint classes). Every change of a record's flags or length is bracketed by them.
  void AddTotals(const SegmentRecord& r);
  void RemoveTotals(const SegmentRecord& r);
  // Every transmission recorded passes its time here (transmissions_in_time_order()).
  void NoteTransmitTime(Instant now);
  // First record whose end is above `seq` (size() when none).
  size_t UpperBoundByEnd(wire::TcpSeq seq) const;
  void InsertAt(size_t index, const SegmentRecord& record);
  void EraseAt(size_t index);
  void PopFront();
  // Cuts record `index` at `at` (strictly inside it); false when no slot is free.
  bool Split(size_t index, wire::TcpSeq at);
  // Folds record index + 1 into record `index`.
  void MergeWithNext(size_t index);
  // Merges every run of adjacent SACKed records among records [lo, hi] (inclusive, clamped)
  // into one and closes the gap from the shorter side of the ring.
  void MergeSackedRange(size_t lo, size_t hi);
  void MergeSackedNeighbours() { MergeSackedRange(0, count_); }
  // Slots [index, index + n) were emptied: close the gap by moving the shorter side.
  void CloseGap(size_t index, size_t n);

  // Per-ACK working state (defined in the .cc).
  struct Scan;
  void ProcessCumulativeAck(Scan& scan);
  void ProcessSackBlocks(Scan& scan);
  void SackBlock(const wire::TcpSackBlock& block, Scan& scan);
  // Bookkeeping for the part of `record` ending at `delivered_end` newly delivered by this ACK.
  void OnDelivered(const SegmentRecord& record, wire::TcpSeq delivered_end, Scan& scan);

  std::unique_ptr<SegmentRecord[]> slots_;
  size_t capacity_;
  size_t head_ = 0;
  size_t count_ = 0;
  wire::TcpSeq snd_una_;
  wire::TcpSeq snd_nxt_;
  wire::TcpSeq fack_;
  uint32_t sacked_bytes_ = 0;
  uint32_t sacked_segs_ = 0;
  uint32_t lost_bytes_ = 0;
  uint32_t lost_records_ = 0;
  uint32_t rtx_bytes_ = 0;
  uint32_t rtx_records_ = 0;
  wire::TcpSeq high_sacked_end_;  // meaningful while sacked_bytes_ > 0
  // No lost record starts below it; LowestLostIndex() moves it up to the lowest one it finds
  // (a search hint, hence mutable).
  mutable wire::TcpSeq lost_hint_;
  // Adjacent SACKed records may exist outside the ranges this ACK SACKed: a retransmission split
  // a SACKed record. The next merge then covers the whole queue.
  bool sacked_split_ = false;
  Instant last_xmit_ts_{};
  bool xmit_in_time_order_ = true;
  std::array<uint64_t, static_cast<size_t>(SackBlockDrop::kCount)> drop_totals_{};
  uint64_t rtx_split_failures_ = 0;
};

std::ostream& operator<<(std::ostream& os, AckDisposition disposition);
std::ostream& operator<<(std::ostream& os, TransmitResult result);

}  // namespace braid::tcp
