// RFC 6675 conservative SACK-based loss recovery over a RetransmitQueue: DupAcks, IsLost with
// DupThresh = 3, the pipe estimate (§4 SetPipe), NextSeg rules 1-4 (§4), RecoveryPoint, entering
// recovery (§5 step 4) and leaving it (§5 (A)), and RTO recovery (§5.1). The call order on each
// ACK and timer is in retransmit_queue.h ("The contract with the connection").
//
// RACK (rack.h) works alongside: records RACK or an RTO marked lost (SegmentRecord::lost) are
// lost for pipe and NextSeg rule 1 too, wherever they lie, and are retransmitted again when a
// retransmission is itself marked lost; RFC 6675's own IsLost only looks at SACKed data above.
// With Options::dupthresh_loss false, IsLost plays no part in pipe, NextSeg or entering
// recovery, and RACK alone decides what is lost (RFC 8985 replaces the DupAck threshold).
//
// Spurious recovery (RFC 3708): each episode counts the segments it retransmits (OnSent); each
// D-SACK inside the episode's range [SND.UNA, SND.NXT at its start) takes back as many segments as
// it covers (rounded up to SMSS), like Linux's undo_retrans. When the count reaches zero the whole
// episode was spurious.
//
// Deviation from §4 SetPipe, kept on purpose: a retransmitted octet counts in pipe when its
// record was retransmitted and not marked lost since (Linux's retrans_out), not when it lies at
// or below HighRxt. The two agree whenever every unSACKed octet below HighRxt was retransmitted,
// which rule 1 ensures; they differ only for octets rules 1 and 3 skipped, which RFC 6675 counts
// twice although nothing retransmitted them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>

#include "datapath/tcp/retransmit_queue.h"
#include "datapath/wire/seq.h"

namespace braid::tcp {

enum class RecoveryState : uint8_t {
  kOpen,
  kFastRecovery,  // RFC 6675 §5 loss recovery
  kRtoRecovery,   // after an RTO, until SND.UNA reaches the RecoveryPoint (§5.1)
};

// What NextSeg() chose: one segment of at most SMSS, or nothing.
struct NextSegment {
  enum class Rule : uint8_t {
    kNone,            // nothing to send
    kFastRetransmit,  // §5 step 4.3: the segment at HighACK + 1, on entering recovery
    kLost,            // rule 1: the lowest lost unSACKed data
    kNewData,         // rule 2: unsent data at snd_nxt
    kHole,            // rule 3: unSACKed data below the highest SACK, not (yet) deemed lost
    kRescue,          // rule 4: the highest unSACKed data, once per recovery
  };
  Rule rule = Rule::kNone;
  wire::TcpSeq start;
  wire::TcpSeq end;

  bool retransmission() const { return rule != Rule::kNone && rule != Rule::kNewData; }
  uint32_t len() const { return static_cast<uint32_t>(end - start); }
  friend bool operator==(const NextSegment&, const NextSegment&) = default;
};

// What one ACK (or EnterRecovery) changed.
struct RecoveryEvents {
  bool exited = false;  // left recovery: the cumulative ACK reached the RecoveryPoint
  RecoveryState exited_from = RecoveryState::kOpen;
  bool entered = false;  // entered fast recovery (RecoveryPoint = SND.NXT)
  // Set on entry: send it now whatever cwnd allows, then OnSent() it (§5 step 4.3).
  std::optional<NextSegment> fast_retransmit;
  // RFC 3708 §3: D-SACKs have now reported every segment retransmitted in the latest fast or RTO
  // recovery episode as a duplicate, so none was needed: the window reduction was spurious
  // (CongestionController::OnSpuriousCongestion). Reported once per episode, possibly after it
  // ended (the D-SACKs trail the data by a round trip).
  bool spurious = false;
};

class SackRecovery {
 public:
  static constexpr uint32_t kDupThresh = 3;  // RFC 6675 §2

  struct Options {
    uint32_t smss = 1460;
    // RFC 6675 IsLost (DupThresh SACKed segments, or more than (DupThresh - 1) * SMSS SACKed
    // bytes, above a hole) marks loss and starts recovery. Off: only RACK/RTO marks do.
    bool dupthresh_loss = true;
  };

  explicit SackRecovery(const Options& options);

  // Per ACK, after RetransmitQueue::OnAck: resets DupAcks on a cumulative ACK, leaves recovery
  // when SND.UNA reaches the RecoveryPoint (§5 (A)), counts a duplicate ACK (§2: one that SACKs
  // new data) and enters recovery on the DupThresh-th or when IsLost(HighACK + 1) (§5 steps 2-4),
  // unless a recovery or RTO episode is still unfinished (SND.UNA below its RecoveryPoint).
  RecoveryEvents OnAck(const RetransmitQueue& queue, const AckResult& ack);

  // Enters fast recovery now, e.g. because RACK marked data lost (RFC 8985 §6.2, §6.3). No effect
  // (nothing reported) when already in recovery, nothing is outstanding, or the last episode's
  // RecoveryPoint has not been reached.
  RecoveryEvents EnterRecovery(const RetransmitQueue& queue);

  // The RTO fired (§5.1): fast recovery ends, RecoveryPoint = SND.NXT, RTO recovery lasts until
  // SND.UNA reaches it and no fast recovery may start before. DupAcks and HighRxt restart.
  void OnRto(const RetransmitQueue& queue);

  // The connection marked data lost itself, outside ACK processing, to retransmit it without a
  // congestion response (a lower path MTU: Linux's tcp_simple_retransmit entering CA_Loss). An
  // episode like RTO recovery: RecoveryPoint = SND.NXT, and no fast recovery may start before
  // SND.UNA reaches it (duplicate ACKs for data resent needlessly are no loss signal). Nothing in
  // it is for RFC 3708 to undo: no window was reduced. False (no effect) when already in recovery
  // or nothing is outstanding.
  bool EnterLossRecovery(const RetransmitQueue& queue);

  // The connection sent `seg` (from NextSeg or RecoveryEvents::fast_retransmit). §5 (C.2): rules
  // 1 and 3 (and the fast retransmit) raise HighRxt to the segment's end; rule 4 sets RescueRxt
  // to the RecoveryPoint and leaves HighRxt alone. Retransmissions count for RFC 3708.
  void OnSent(const NextSegment& seg);

  // The connection's SMSS changed (a lower path MTU): NextSeg's segments, IsLost's byte threshold
  // and RFC 3708's segment counts use the new size from now on.
  void SetSmss(uint32_t smss) { options_.smss = smss == 0 ? 1 : smss; }

  // RFC 6675 §4 IsLost(seq): at least DupThresh SACKed segments, or more than
  // (DupThresh - 1) * SMSS SACKed bytes, lie above `seq`.
  bool IsLost(const RetransmitQueue& queue, wire::TcpSeq seq) const;

  // RFC 6675 §4 SetPipe: bytes presumed in the network (see the deviation note above). O(1) from
  // the queue's totals unless IsLost data exists (dupthresh_loss, DupThresh segments SACKed).
  uint32_t Pipe(const RetransmitQueue& queue) const;

  // RFC 6675 §4 NextSeg: what to send next. `sendable_new_bytes` is how many unsent bytes exist
  // and the peer's window allows (0 when none); rule 2 never returns more than that, nor more than
  // `new_segment_max` (0: SMSS; a segment whose options leave more room than SMSS assumes may
  // carry more). Rules 3 and 4 apply in fast recovery only. Nothing SACKed or lost: O(1);
  // otherwise the rules start from the queue's lowest lost record and from HighRxt, not from
  // SND.UNA.
  NextSegment NextSeg(const RetransmitQueue& queue, uint32_t sendable_new_bytes,
                      uint32_t new_segment_max = 0) const {
    const uint32_t seg_max = new_segment_max != 0 ? new_segment_max : options_.smss;
    // The common case, once per segment sent, inline (the caller gets the segment in registers):
    // nothing lost and too little SACKed for IsLost, so rule 1 finds nothing; rule 2 applies, and
    // rules 3 and 4 only in fast recovery.
    if (queue.lost_records() == 0 && !MayHaveLossBoundary(queue)) {
      if (sendable_new_bytes > 0) {
        const wire::TcpSeq start = queue.snd_nxt();
        return {NextSegment::Rule::kNewData, start,
                start + (sendable_new_bytes < seg_max ? sendable_new_bytes : seg_max)};
      }
      if (state_ != RecoveryState::kFastRecovery) return {};
    }
    return NextSegAnyRule(queue, sendable_new_bytes, seg_max);
  }

  RecoveryState state() const { return state_; }
  bool in_recovery() const { return state_ != RecoveryState::kOpen; }
  uint32_t dup_acks() const { return dup_acks_; }
  // One past HighData when the current (or last) episode started; nullopt before any.
  std::optional<wire::TcpSeq> recovery_point() const { return recovery_point_; }
  // One past the highest octet retransmitted in this episode (HighRxt + 1); nullopt outside an
  // episode.
  std::optional<wire::TcpSeq> high_rxt() const { return high_rxt_; }
  // One past RescueRxt; nullopt when undefined.
  std::optional<wire::TcpSeq> rescue_rxt() const { return rescue_rxt_; }
  // RFC 3708: segments retransmitted in the latest episode not yet reported duplicate by D-SACK.
  uint32_t undo_retrans() const { return undo_retrans_; }

 private:
  // The unSACKed octets below `seq`, the start of SACKed record `index`, are IsLost (IsLost is
  // monotone: the lower an octet, the more SACKed data lies above it). `sacked_bytes` is what the
  // SACKed records from there up hold.
  struct Boundary {
    wire::TcpSeq seq;
    size_t index;
    uint32_t sacked_bytes;
  };
  // nullopt: no octet is IsLost (or dupthresh_loss is off). Walks down from the highest SACKed
  // record only as far as DupThresh needs; O(1) when too little is SACKed.
  std::optional<Boundary> FindLossBoundary(const RetransmitQueue& queue) const;
  // RFC 6675 §4 IsLost's test on the SACKed segments and bytes above an octet.
  bool ExceedsDupThresh(uint32_t segs, uint32_t bytes) const {
    return segs >= kDupThresh || bytes > (kDupThresh - 1) * options_.smss;
  }
  // Whether FindLossBoundary can find one (O(1): dupthresh_loss, and enough SACKed in all).
  bool MayHaveLossBoundary(const RetransmitQueue& queue) const {
    return options_.dupthresh_loss &&
           ExceedsDupThresh(queue.sacked_segments(), queue.sacked_bytes());
  }
  // NextSeg with every rule, in order.
  NextSegment NextSegAnyRule(const RetransmitQueue& queue, uint32_t sendable_new_bytes,
                             uint32_t new_segment_max) const;
  // NextSeg rule 1 (kNone when it finds nothing).
  NextSegment LostSegment(const RetransmitQueue& queue) const;
  // HighRxt + 1 as rule 1 and 3 use it: never below SND.UNA.
  wire::TcpSeq EffectiveHighRxt(const RetransmitQueue& queue) const;
  // End of the segment of at most SMSS starting at `from` inside record `index`, running over the
  // following unSACKed records (only over lost-marked ones when `lost_only`).
  wire::TcpSeq SegmentEnd(const RetransmitQueue& queue, size_t index, wire::TcpSeq from,
                          bool lost_only) const;
  bool MayEnter(const RetransmitQueue& queue) const;
  RecoveryEvents Enter(const RetransmitQueue& queue);
  void StartEpisode(const RetransmitQueue& queue);
  uint32_t SegmentsIn(uint32_t bytes) const { return (bytes + options_.smss - 1) / options_.smss; }

  Options options_;
  RecoveryState state_ = RecoveryState::kOpen;
  uint32_t dup_acks_ = 0;
  std::optional<wire::TcpSeq> recovery_point_;
  // SND.UNA must reach recovery_point_ before a new episode (§5 step 4 note, §5.1).
  bool episode_unfinished_ = false;
  std::optional<wire::TcpSeq> high_rxt_;
  std::optional<wire::TcpSeq> rescue_rxt_;
  // RFC 3708 state: the latest episode's range, and its retransmitted segments not yet D-SACKed.
  std::optional<wire::TcpSeq> undo_start_;
  wire::TcpSeq undo_end_;
  uint32_t undo_retrans_ = 0;
};

std::ostream& operator<<(std::ostream& os, RecoveryState state);
std::ostream& operator<<(std::ostream& os, NextSegment::Rule rule);
std::ostream& operator<<(std::ostream& os, const NextSegment& seg);

}  // namespace braid::tcp
