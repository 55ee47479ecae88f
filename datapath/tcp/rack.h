// RFC 8985 RACK-TLP over a RetransmitQueue. RACK marks a segment lost when a segment sent after it
// has been delivered and a reordering window has passed since (§6.2); TLP sends one probe when a
// flight's tail goes unacknowledged for about two round trips, so that a tail loss is repaired by
// fast recovery instead of an RTO (§7). The call order on each ACK and timer is in
// retransmit_queue.h ("The contract with the connection"); results are plain values: records
// marked lost in the queue (counted here), the reordering timer's deadline, the PTO's deadline,
// which probe to send, and how a probe episode ended.
//
// RACK state (§5.2): xmit_ts/end_seq of the most recently sent delivered segment and its RTT
// (RACK.rtt), RACK.reordering_seen, and the reordering window
// reo_wnd = min(reo_wnd_mult * min_RTT / 4, SRTT), which is zero while no reordering was seen and
// either recovery is under way or DupThresh segments are SACKed (§6.2 step 4). RACK.fack is the
// queue's; RACK.min_RTT is RttEstimator's windowed minimum (rtt_estimator.h), passed in with each
// ACK. reo_wnd_mult grows by one per round trip that sees a D-SACK and falls back to 1 after 16
// recoveries without one.
//
// TLP state (§5.3): TLP.end_seq (SND.NXT when the probe went out; set while a probe is
// unresolved) and TLP.is_retrans.
//
// Times from RttEstimator follow its convention: Duration::zero() means "no sample yet".
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>

#include "datapath/tcp/retransmit_queue.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/seq.h"

namespace braid::tcp {

// What RACK marked lost in the queue, and when to look again.
struct RackLoss {
  uint32_t lost_segments = 0;  // records newly marked lost
  uint32_t lost_bytes = 0;
  // §6.2: arm the reordering timer for this instant (it replaces any earlier one); nullopt: no
  // segment is waiting for its window, cancel the timer.
  std::optional<Instant> reorder_deadline;
  friend bool operator==(const RackLoss&, const RackLoss&) = default;
};

// How an ACK settled an outstanding loss probe (§7.4.2).
enum class TlpOutcome : uint8_t {
  kNone,              // no probe outstanding, or its fate is not known yet
  kNewDataDelivered,  // the probe carried new data, now acknowledged
  kSpurious,          // the probe was redundant (a D-SACK for it, or a duplicate ACK without
                      // SACK): nothing was lost
  kLossRepaired,      // the probe repaired a loss: the congestion controller must react to it
};

// The probe to send when the PTO fires (§7.3).
struct TlpProbe {
  enum class Kind : uint8_t {
    kNone,        // send nothing; re-arm the RTO
    kNewData,     // the lowest unsent segment, at most SMSS
    kRetransmit,  // [start, end): the highest-sequence segment sent so far
  };
  Kind kind = Kind::kNone;
  wire::TcpSeq start;
  wire::TcpSeq end;
  friend bool operator==(const TlpProbe&, const TlpProbe&) = default;
};

class Rack {
 public:
  static constexpr uint32_t kDupThresh = 3;
  static constexpr int32_t kReoWndPersist = 16;  // §6.2 step 4: recoveries a grown window lasts
  // reo_wnd_mult's ceiling: the window is capped by SRTT anyway; this only bounds arithmetic.
  static constexpr uint32_t kMaxReoWndMult = 256;
  static constexpr Duration kPtoWithoutSrtt = std::chrono::seconds(1);  // §7.2

  struct Options {
    uint32_t smss = 1460;
    // TLP.max_ack_delay: the peer's worst-case delayed-ACK time, added to the PTO when one
    // segment is in flight (§7.2 recommends 200 ms).
    Duration max_ack_delay = std::chrono::milliseconds(200);
  };

  struct AckInput {
    Instant now;
    // RttEstimator::srtt() and min_rtt() after this ACK's sample, if any, was fed to it (§6.2
    // step 1). SRTT bounds reo_wnd; min_RTT sizes it.
    Duration srtt{0};
    Duration min_rtt{0};
    // The connection took an RTT sample from this ACK (timestamps, or AckResult::rtt_sample, which
    // counts even when this is false): TLP's "an RTT sample since the last probe" (§7.3).
    bool rtt_sampled = false;
    bool in_recovery = false;      // fast or RTO recovery (SackRecovery::in_recovery())
    bool exited_recovery = false;  // SackRecovery::OnAck reported an exit for this ACK
    // RFC 5681 §2 duplicate ACK: no data, SYN and FIN off, SEG.ACK == SND.UNA, window unchanged,
    // data outstanding (§7.4.2's "DupAck without any SACK option" also needs no SACK blocks).
    bool pure_dup_ack = false;
  };

  struct AckOutput {
    RackLoss loss;
    TlpOutcome tlp = TlpOutcome::kNone;
  };

  explicit Rack(const Options& options);

  // §6.2 steps 1-5 and §7.4.2 for one ACK, after RetransmitQueue::OnAck and SackRecovery::OnAck.
  // Marks lost records in `queue`.
  AckOutput OnAck(RetransmitQueue& queue, const AckResult& ack, const AckInput& in);

  // §6.3: the reordering timer fired. Marks what is now lost, returns the next deadline.
  RackLoss OnReorderTimer(RetransmitQueue& queue, Instant now, Duration srtt, bool in_recovery);

  // §6.3: the RTO fired. The first outstanding segment is lost (sent an RTO ago; a SACKed head
  // loses its mark, RFC 2018 §8), the others when sent at least RACK.rtt + reo_wnd ago (all of
  // them when no RACK.rtt is known yet). Ends any probe episode (§7.4.2 initialization).
  RackLoss OnRto(RetransmitQueue& queue, Instant now, Duration srtt);

  // The connection's SMSS changed (a lower path MTU): the PTO's one-segment test and the size of a
  // retransmitted probe use the new size from now on.
  void SetSmss(uint32_t smss) { options_.smss = smss == 0 ? 1 : smss; }

  // Fast recovery started: a probe episode in progress is over (§7.4.2 initialization).
  void OnEnterRecovery() { tlp_end_seq_.reset(); }

  // §7.2: when the PTO should fire, or nullopt when no PTO may be scheduled (nothing in flight,
  // recovery under way, or SACKed segments in the scoreboard): arm the RTO instead. PTO = 2 * SRTT
  // (+ max_ack_delay when at most one segment is in flight), 1 s without SRTT, never past
  // `rto_deadline` (the RTO the connection would otherwise run).
  std::optional<Instant> PtoDeadline(const RetransmitQueue& queue, Instant now, Duration srtt,
                                     std::optional<Instant> rto_deadline, bool in_recovery) const;

  // §7.3: the PTO fired. kNone when a probe is still unresolved or no RTT sample came since the
  // last one; otherwise new data when `new_data_sendable` (unsent data exists and the peer's
  // window allows it), else the last SMSS of the highest-sequence segment.
  TlpProbe OnPtoExpired(const RetransmitQueue& queue, bool new_data_sendable) const;

  // §7.3: the probe went out and was recorded with queue.OnTransmit: TLP.end_seq = SND.NXT.
  void OnProbeSent(const RetransmitQueue& queue, bool is_retransmission);

  // §6.2 step 4's reo_wnd for the current state (what the next detection uses).
  Duration ReoWnd(const RetransmitQueue& queue, Duration srtt, bool in_recovery) const;

  // RACK state.
  std::optional<Instant> xmit_ts() const { return xmit_ts_; }  // nullopt: nothing delivered yet
  wire::TcpSeq end_seq() const { return end_seq_; }
  Duration rtt() const { return rtt_; }
  Duration min_rtt() const { return min_rtt_; }  // as the last ACK gave it
  Duration reo_wnd() const { return reo_wnd_; }  // as the last detection used it
  uint32_t reo_wnd_mult() const { return reo_wnd_mult_; }
  int32_t reo_wnd_persist() const { return reo_wnd_persist_; }
  bool reordering_seen() const { return reordering_seen_; }
  std::optional<wire::TcpSeq> dsack_round() const { return dsack_round_; }
  // TLP state.
  std::optional<wire::TcpSeq> tlp_end_seq() const { return tlp_end_seq_; }
  bool tlp_is_retrans() const { return tlp_is_retrans_; }
  bool rtt_sampled_since_probe() const { return rtt_sampled_since_probe_; }

 private:
  RackLoss DetectLoss(RetransmitQueue& queue, Instant now, Duration reo_wnd);
  TlpOutcome ProcessTlpAck(const RetransmitQueue& queue, const AckResult& ack, const AckInput& in);

  Options options_;
  std::optional<Instant> xmit_ts_;
  wire::TcpSeq end_seq_;
  Duration rtt_ = Duration::zero();
  Duration min_rtt_ = Duration::zero();
  Duration reo_wnd_ = Duration::zero();
  uint32_t reo_wnd_mult_ = 1;
  int32_t reo_wnd_persist_ = 0;
  bool reordering_seen_ = false;
  std::optional<wire::TcpSeq> dsack_round_;
  std::optional<wire::TcpSeq> tlp_end_seq_;
  bool tlp_is_retrans_ = false;
  // True until the first probe: §7.3 only forbids a probe after a probe without an RTT sample
  // in between (the connection's first PTO follows the handshake's sample).
  bool rtt_sampled_since_probe_ = true;
};

std::ostream& operator<<(std::ostream& os, TlpOutcome outcome);
std::ostream& operator<<(std::ostream& os, TlpProbe::Kind kind);

}  // namespace braid::tcp
