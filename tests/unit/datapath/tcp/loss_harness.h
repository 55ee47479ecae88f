// Scripted loss scenarios for the loss-detection tests (conventions.md "Loss and recovery"):
// a sender whose segments are numbered, sequence numbers that cross the 2^32 wrap, a receiver
// model that answers each arriving segment with the ACK, SACK and D-SACK blocks RFC 2018 §4 and
// RFC 2883 §4 prescribe, and a driver that calls RetransmitQueue, SackRecovery and Rack in the
// order retransmit_queue.h's contract gives, logging every transmission.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "datapath/tcp/rack.h"
#include "datapath/tcp/retransmit_queue.h"
#include "datapath/tcp/sack_recovery.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/seq.h"
#include "datapath/wire/tcp_options.h"

namespace braid::tcp::loss_test {

using namespace std::chrono_literals;
using wire::TcpSackBlock;
using wire::TcpSeq;

inline constexpr uint32_t kMss = 1000;
// Data segment n is [S(n), S(n + 1)). Segment 3 straddles the 2^32 wrap; the SYN is S(0) - 1.
inline constexpr uint32_t kDataStart = 0xFFFFFFFFu - 3500u + 1u;

inline TcpSeq S(int n) { return TcpSeq(kDataStart + static_cast<uint32_t>(n) * kMss); }
inline TcpSeq Iss() { return S(0) - 1; }
// Engine time in milliseconds (and microseconds) since the scripted epoch.
inline Instant T(int64_t ms) { return InstantFromNanos(ms * 1'000'000); }
inline Instant TUs(int64_t us) { return InstantFromNanos(us * 1'000); }
inline TcpSackBlock Block(TcpSeq left, TcpSeq right) { return {left, right}; }
// Segments [first, last] as one block.
inline TcpSackBlock Segs(int first, int last) { return {S(first), S(last + 1)}; }

struct ReceiverAck {
  TcpSeq ack;
  std::vector<TcpSackBlock> blocks;
};

// A SACK receiver (RFC 2018 §4): every arriving segment is answered at once (no delayed ACK).
// The first block holds the segment that triggered the ACK; the others follow in order of
// recency. A segment that arrives twice is reported first as a D-SACK (RFC 2883 §4).
class SackReceiver {
 public:
  explicit SackReceiver(TcpSeq rcv_nxt, size_t max_blocks = wire::kTcpMaxSackBlocks)
      : rcv_nxt_(rcv_nxt), max_blocks_(max_blocks) {}

  ReceiverAck Receive(TcpSeq start, TcpSeq end) {
    std::optional<TcpSackBlock> dsack;
    if (end <= rcv_nxt_ || Contains(start, end)) {
      dsack = TcpSackBlock{start, end};
    } else {
      Insert(TcpSeq::Max(start, rcv_nxt_), end);
      recency_.insert(recency_.begin(), TcpSeq::Max(start, rcv_nxt_));
    }
    // Absorb out-of-order data that became contiguous.
    while (!ooo_.empty() && ooo_.front().first <= rcv_nxt_) {
      rcv_nxt_ = TcpSeq::Max(rcv_nxt_, ooo_.front().second);
      ooo_.erase(ooo_.begin());
    }
    std::erase_if(recency_, [&](TcpSeq s) { return s < rcv_nxt_; });

    ReceiverAck out{rcv_nxt_, {}};
    if (dsack) out.blocks.push_back(*dsack);
    for (TcpSeq rep : recency_) {
      if (out.blocks.size() == max_blocks_) break;
      for (const auto& [left, right] : ooo_) {
        if (!(left <= rep && rep < right)) continue;
        const TcpSackBlock b{left, right};
        if (std::find(out.blocks.begin() + (dsack ? 1 : 0), out.blocks.end(), b) ==
            out.blocks.end()) {
          out.blocks.push_back(b);
        }
      }
    }
    return out;
  }
  ReceiverAck ReceiveSeg(int n) { return Receive(S(n), S(n + 1)); }
  TcpSeq rcv_nxt() const { return rcv_nxt_; }

 private:
  bool Contains(TcpSeq start, TcpSeq end) const {
    return std::any_of(ooo_.begin(), ooo_.end(),
                       [&](const auto& r) { return r.first <= start && end <= r.second; });
  }
  void Insert(TcpSeq start, TcpSeq end) {
    ooo_.emplace_back(start, end);
    std::sort(ooo_.begin(), ooo_.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<std::pair<TcpSeq, TcpSeq>> merged;
    for (const auto& r : ooo_) {
      if (!merged.empty() && r.first <= merged.back().second) {
        merged.back().second = TcpSeq::Max(merged.back().second, r.second);
      } else {
        merged.push_back(r);
      }
    }
    ooo_ = std::move(merged);
  }

  TcpSeq rcv_nxt_;
  size_t max_blocks_;
  std::vector<std::pair<TcpSeq, TcpSeq>> ooo_;  // sorted, disjoint, above rcv_nxt_
  std::vector<TcpSeq> recency_;                 // a sequence inside each block, newest first
};

struct Transmission {
  TcpSeq start;
  TcpSeq end;
  bool retransmission = false;
  friend bool operator==(const Transmission&, const Transmission&) = default;
};

inline Transmission New(int n) { return {S(n), S(n + 1), false}; }
inline Transmission Rtx(int n) { return {S(n), S(n + 1), true}; }
inline Transmission Rtx(TcpSeq start, TcpSeq end) { return {start, end, true}; }

inline std::ostream& operator<<(std::ostream& os, const Transmission& t) {
  return os << (t.retransmission ? "rtx" : "new") << "[" << t.start << ", " << t.end << ")";
}

// The connection's side of the contract, reduced to loss recovery: fixed SRTT and min_RTT
// (scripted, no estimator), a fixed cwnd, and every segment it sends logged.
class LossDriver {
 public:
  explicit LossDriver(size_t capacity = 256, SackRecovery::Options recovery_options = {kMss, true},
                      Rack::Options rack_options = {kMss, 200ms})
      : queue(capacity, S(0)), recovery(recovery_options), rack(rack_options) {}

  // Sends new data segments [first, first + count) at `now`.
  void SendNew(int first, int count, Instant now) {
    for (int n = first; n < first + count; ++n) {
      EXPECT_EQ(queue.OnTransmit(S(n), S(n + 1), now, false), TransmitResult::kOk) << n;
      wire.push_back(New(n));
    }
  }

  // Steps 1-6 of the per-ACK contract. Returns what was sent because of this ACK.
  std::vector<Transmission> Ack(const ReceiverAck& a, Instant now, bool pure_dup_ack = false) {
    last_ack = queue.OnAck({a.ack, a.blocks, now, std::nullopt, min_rtt});
    EXPECT_TRUE(queue.CheckInvariants());
    if (last_ack.disposition == AckDisposition::kUnsent) return {};
    last_events = recovery.OnAck(queue, last_ack);
    last_rack = {};
    if (use_rack) {
      last_rack = rack.OnAck(
          queue, last_ack,
          {now, srtt, min_rtt, false, recovery.in_recovery(), last_events.exited, pure_dup_ack});
    }
    reorder_deadline = last_rack.loss.reorder_deadline;
    return AfterLossDetection(last_rack.loss, now);
  }

  std::vector<Transmission> OnReorderTimer(Instant now) {
    const RackLoss loss = rack.OnReorderTimer(queue, now, srtt, recovery.in_recovery());
    reorder_deadline = loss.reorder_deadline;
    last_events = {};
    return AfterLossDetection(loss, now);
  }

  std::vector<Transmission> OnRto(Instant now) {
    rack.OnRto(queue, now, srtt);
    recovery.OnRto(queue);
    return SendAllowed(now);
  }

  // The PTO fired (RFC 8985 §7.3): sends the probe Rack chooses, if any.
  std::optional<Transmission> OnPto(Instant now) {
    const TlpProbe probe = rack.OnPtoExpired(queue, sendable_new_bytes > 0);
    std::optional<Transmission> t;
    if (probe.kind == TlpProbe::Kind::kRetransmit) {
      EXPECT_EQ(queue.OnTransmit(probe.start, probe.end, now, true), TransmitResult::kOk);
      t = Rtx(probe.start, probe.end);
    } else if (probe.kind == TlpProbe::Kind::kNewData) {
      const uint32_t len = std::min(kMss, sendable_new_bytes);
      EXPECT_EQ(queue.OnTransmit(probe.start, probe.start + len, now, false), TransmitResult::kOk);
      sendable_new_bytes -= len;
      t = Transmission{probe.start, probe.start + len, false};
    }
    if (t) {
      rack.OnProbeSent(queue, t->retransmission);
      wire.push_back(*t);
    }
    return t;
  }

  // Step 6: NextSeg while the window allows.
  std::vector<Transmission> SendAllowed(Instant now) {
    std::vector<Transmission> sent;
    while (recovery.Pipe(queue) + kMss <= cwnd) {
      const NextSegment seg = recovery.NextSeg(queue, sendable_new_bytes);
      if (seg.rule == NextSegment::Rule::kNone) break;
      Send(seg, now, sent);
    }
    return sent;
  }

  RetransmitQueue queue;
  SackRecovery recovery;
  Rack rack;
  Duration srtt = 40ms;
  Duration min_rtt = 40ms;
  uint32_t cwnd = 100 * kMss;
  uint32_t sendable_new_bytes = 0;
  bool use_rack = true;                  // false: RFC 6675 alone
  std::vector<Transmission> wire;        // every segment sent, in order
  std::vector<NextSegment::Rule> rules;  // NextSeg's rule for each retransmission
  AckResult last_ack;
  RecoveryEvents last_events;
  Rack::AckOutput last_rack;
  std::optional<Instant> reorder_deadline;

 private:
  std::vector<Transmission> AfterLossDetection(const RackLoss& loss, Instant now) {
    // Step 4: RACK found losses outside recovery.
    if (loss.lost_segments > 0 && !recovery.in_recovery()) {
      const RecoveryEvents entry = recovery.EnterRecovery(queue);
      last_events.entered = entry.entered;
      last_events.fast_retransmit = entry.fast_retransmit;
    }
    std::vector<Transmission> sent;
    // Step 5.
    if (last_events.entered) {
      rack.OnEnterRecovery();
      Send(*last_events.fast_retransmit, now, sent);
    }
    const std::vector<Transmission> more = SendAllowed(now);
    sent.insert(sent.end(), more.begin(), more.end());
    return sent;
  }

  void Send(const NextSegment& seg, Instant now, std::vector<Transmission>& sent) {
    EXPECT_EQ(queue.OnTransmit(seg.start, seg.end, now, seg.retransmission()), TransmitResult::kOk)
        << seg;
    recovery.OnSent(seg);
    const Transmission t{seg.start, seg.end, seg.retransmission()};
    if (seg.retransmission()) rules.push_back(seg.rule);
    if (seg.rule == NextSegment::Rule::kNewData) sendable_new_bytes -= seg.len();
    wire.push_back(t);
    sent.push_back(t);
  }
};

// The scoreboard as text, one record each, in segment numbers ("2+500" is 500 bytes into
// segment 2): "[2,3). [3,5)S" with S SACKed, L lost, R retransmitted and in flight,
// . outstanding. Cumulatively acknowledged data has no records.
inline std::string Scoreboard(const RetransmitQueue& q) {
  std::string out;
  for (size_t i = 0; i < q.size(); ++i) {
    const SegmentRecord& r = q[i];
    auto pos = [](TcpSeq s) {
      const int32_t off = s - S(0);
      if (off % static_cast<int32_t>(kMss) == 0)
        return std::to_string(off / static_cast<int32_t>(kMss));
      return std::to_string(off / static_cast<int32_t>(kMss)) + "+" +
             std::to_string(off % static_cast<int32_t>(kMss));
    };
    if (!out.empty()) out += ' ';
    out += "[" + pos(r.start) + "," + pos(r.end) + ")";
    out += r.sacked ? 'S' : r.lost ? 'L' : r.retransmitted ? 'R' : '.';
  }
  return out;
}

}  // namespace braid::tcp::loss_test
