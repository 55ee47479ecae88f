// Randomized cross-checks of the loss-detection fast paths (fixed seeds, conventions.md "Random
// loss belongs to the simulator, with fixed seeds"): RetransmitQueue keeps its scoreboard totals,
// bounds and hints incrementally, and SackRecovery and Rack use them to avoid walking the whole
// flight. After every operation of a random scenario (loss, reordering, D-SACK, garbage SACK
// blocks, probes and go-back-N retransmissions over SACKed data, RTOs, reordering timers, a full
// queue, times that step back), this checks the queue's CheckInvariants() (every total against a
// recount) and every fast answer against the plain walk over all records that defines it (the
// RFC 6675 and RFC 8985 §6.2 algorithms as first written).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "datapath/tcp/rack.h"
#include "datapath/tcp/retransmit_queue.h"
#include "datapath/tcp/sack_recovery.h"
#include "tests/unit/datapath/tcp/loss_harness.h"

namespace braid::tcp {
namespace {

using namespace std::chrono_literals;
using loss_test::ReceiverAck;
using loss_test::SackReceiver;
using wire::TcpSackBlock;
using wire::TcpSeq;

// ---- The reference walks ----------------------------------------------------------------------

struct Reference {
  uint32_t smss;
  bool dupthresh_loss;

  bool Exceeds(uint32_t segs, uint32_t bytes) const {
    return segs >= SackRecovery::kDupThresh || bytes > (SackRecovery::kDupThresh - 1) * smss;
  }

  std::optional<TcpSeq> HighestSackedEnd(const RetransmitQueue& q) const {
    for (size_t i = q.size(); i > 0; --i) {
      if (q[i - 1].sacked) return q[i - 1].end;
    }
    return std::nullopt;
  }

  bool IsLost(const RetransmitQueue& q, TcpSeq seq) const {
    uint32_t segs = 0;
    uint32_t bytes = 0;
    const TcpSeq above = seq + 1;
    for (size_t i = q.size(); i > 0; --i) {
      const SegmentRecord& r = q[i - 1];
      if (!(above < r.end)) break;
      if (!r.sacked) continue;
      if (above <= r.start) {
        segs += r.segs;
        bytes += r.len();
      } else {
        bytes += static_cast<uint32_t>(r.end - above);
      }
    }
    return Exceeds(segs, bytes);
  }

  std::optional<TcpSeq> LossBoundary(const RetransmitQueue& q) const {
    if (!dupthresh_loss) return std::nullopt;
    uint32_t segs = 0;
    uint32_t bytes = 0;
    for (size_t i = q.size(); i > 0; --i) {
      const SegmentRecord& r = q[i - 1];
      if (!r.sacked) continue;
      segs += r.segs;
      bytes += r.len();
      if (Exceeds(segs, bytes)) return r.start;
    }
    return std::nullopt;
  }

  uint32_t Pipe(const RetransmitQueue& q) const {
    const std::optional<TcpSeq> boundary = LossBoundary(q);
    uint32_t pipe = 0;
    for (size_t i = 0; i < q.size(); ++i) {
      const SegmentRecord& r = q[i];
      if (r.sacked) continue;
      const bool lost = r.lost || (boundary && r.start < *boundary);
      if (!lost) pipe += r.len();
      if (r.retransmitted && !r.lost) pipe += r.len();
    }
    return pipe;
  }

  TcpSeq SegmentEnd(const RetransmitQueue& q, size_t index, TcpSeq from, bool lost_only) const {
    TcpSeq hole_end = from;
    for (size_t k = index; k < q.size(); ++k) {
      const SegmentRecord& r = q[k];
      if (r.sacked || (lost_only && !r.lost)) break;
      hole_end = r.end;
      if (!(hole_end - from < static_cast<int32_t>(smss))) break;
    }
    return TcpSeq::Min(hole_end, from + smss);
  }

  NextSegment NextSeg(const RetransmitQueue& q, const SackRecovery& rec,
                      uint32_t sendable_new_bytes) const {
    const std::optional<TcpSeq> boundary = LossBoundary(q);
    const std::optional<TcpSeq> high_sack = HighestSackedEnd(q);
    const TcpSeq high_rxt =
        rec.high_rxt() ? TcpSeq::Max(*rec.high_rxt(), q.snd_una()) : q.snd_una();
    for (size_t i = 0; i < q.size(); ++i) {
      const SegmentRecord& r = q[i];
      if (r.sacked) continue;
      if (r.lost) return {NextSegment::Rule::kLost, r.start, SegmentEnd(q, i, r.start, true)};
      if (boundary && high_sack && r.start < *boundary) {
        const TcpSeq s2 = TcpSeq::Max(r.start, high_rxt);
        if (s2 < r.end && s2 < *high_sack) {
          return {NextSegment::Rule::kLost, s2, SegmentEnd(q, i, s2, false)};
        }
      }
    }
    if (sendable_new_bytes > 0) {
      const TcpSeq start = q.snd_nxt();
      return {NextSegment::Rule::kNewData, start, start + std::min(smss, sendable_new_bytes)};
    }
    if (rec.state() != RecoveryState::kFastRecovery) return {};
    if (high_sack) {
      for (size_t i = 0; i < q.size(); ++i) {
        const SegmentRecord& r = q[i];
        if (!(r.start < *high_sack)) break;
        if (r.sacked) continue;
        const TcpSeq s3 = TcpSeq::Max(r.start, high_rxt);
        if (s3 < r.end && s3 < *high_sack) {
          return {NextSegment::Rule::kHole, s3, SegmentEnd(q, i, s3, false)};
        }
      }
    }
    if (!rec.rescue_rxt() || *rec.rescue_rxt() < q.snd_una()) {
      for (size_t i = q.size(); i > 0; --i) {
        if (q[i - 1].sacked) continue;
        const TcpSeq end = q[i - 1].end;
        TcpSeq start = q[i - 1].start;
        for (size_t k = i - 1;
             k > 0 && !q[k - 1].sacked && end - start < static_cast<int32_t>(smss); --k) {
          start = q[k - 1].start;
        }
        start = TcpSeq::Max(start, end - smss);
        return {NextSegment::Rule::kRescue, start, end};
      }
    }
    return {};
  }
};

std::vector<SegmentRecord> Snapshot(const RetransmitQueue& q) {
  std::vector<SegmentRecord> v;
  for (size_t i = 0; i < q.size(); ++i) v.push_back(q[i]);
  return v;
}

// RFC 8985 §6.2 step 5 over every record, with the RACK state the detection used (Rack keeps it).
RackLoss ReferenceDetectLoss(const std::vector<SegmentRecord>& before, const Rack& rack,
                             Instant now, std::vector<bool>& expect_lost) {
  RackLoss loss;
  expect_lost.assign(before.size(), false);
  if (!rack.xmit_ts()) return loss;
  for (size_t i = 0; i < before.size(); ++i) {
    const SegmentRecord& r = before[i];
    if (r.sacked || r.lost) continue;
    if (!RackSentAfter(*rack.xmit_ts(), rack.end_seq(), r.xmit_ts, r.end)) continue;
    const Instant deadline = r.xmit_ts + rack.rtt() + rack.reo_wnd();
    if (deadline <= now) {
      expect_lost[i] = true;
      loss.lost_bytes += r.len();
      ++loss.lost_segments;
    } else if (!loss.reorder_deadline || *loss.reorder_deadline < deadline) {
      loss.reorder_deadline = deadline;
    }
  }
  return loss;
}

// ---- The scenario -----------------------------------------------------------------------------

struct Params {
  uint32_t seed;
  uint32_t smss;
  bool dupthresh_loss;
  bool use_rack;
  size_t capacity;
  double loss;               // per data segment
  double reorder;            // a segment overtakes others
  double time_back;          // new data stamped before the previous transmission
  double rtx_time_back;      // a retransmission stamped before the previous transmission
  bool chaos;                // random retransmissions, loss marks, garbage SACK blocks, probes
  uint32_t max_sack_blocks;  // the receiver's
  int steps;
};

class Scenario {
 public:
  explicit Scenario(const Params& p)
      : p_(p),
        rng_(p.seed),
        iss_(TcpSeq(0xFFFFFFFFu - static_cast<uint32_t>(Rand(0, 20)) * p.smss)),
        q_(p.capacity, iss_),
        rec_({p.smss, p.dupthresh_loss}),
        rack_({p.smss, 200ms}),
        rx_(iss_, p.max_sack_blocks),
        ref_{p.smss, p.dupthresh_loss} {}

  void Run() {
    for (int step = 0; step < p_.steps && !HasFatalFailure(); ++step) {
      SCOPED_TRACE("seed " + std::to_string(p_.seed) + " step " + std::to_string(step));
      const int op = Rand(0, 99);
      if (op < 30) {
        SendNew();
      } else if (op < 55) {
        DeliverSegment();
      } else if (op < 80) {
        DeliverAck();
      } else if (op >= 84 && op < 95 && !p_.chaos) {
        DeliverAck();
      } else if (op < 84) {
        ReorderTimer();
      } else if (op < 86) {
        Rto();
      } else if (op < 88) {
        Pto();
      } else if (op < 90) {
        RandomRetransmission();
      } else if (op < 92) {
        RandomMarkLost();
      } else if (op < 95) {
        GarbageAck();
      } else {
        now_ += std::chrono::microseconds(Rand(0, 30'000));
        cwnd_ = static_cast<uint32_t>(Rand(2, 64)) * p_.smss;
      }
      Check();
    }
  }

 private:
  int Rand(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  static bool HasFatalFailure() { return ::testing::Test::HasFatalFailure(); }

  Instant Tick() {
    now_ += std::chrono::microseconds(Rand(0, 3) == 0 ? 0 : Rand(1, 500));
    return now_;
  }

  void ToNetwork(TcpSeq start, TcpSeq end) {
    if (Chance(p_.loss)) return;
    if (!net_.empty() && Chance(p_.reorder)) {
      net_.insert(net_.begin() + Rand(0, static_cast<int>(net_.size()) - 1), {start, end});
    } else {
      net_.push_back({start, end});
    }
  }

  void SendNew() {
    const uint32_t len =
        static_cast<uint32_t>(Rand(1, 10) == 1 ? Rand(1, 3 * p_.smss) : static_cast<int>(p_.smss));
    Instant t = Tick();
    if (Chance(p_.time_back)) t -= std::chrono::microseconds(Rand(1, 2000));
    const TcpSeq start = q_.snd_nxt();
    const TransmitResult r = q_.OnTransmit(start, start + len, t, false);
    if (r == TransmitResult::kFull) return;
    ASSERT_EQ(r, TransmitResult::kOk);
    ToNetwork(start, start + len);
  }

  void DeliverSegment() {
    if (net_.empty()) return;
    const auto [start, end] = net_.front();
    net_.pop_front();
    ReceiverAck a = rx_.Receive(start, end);
    if (!Chance(p_.loss)) acks_.push_back(std::move(a));
  }

  void DeliverAck() {
    if (acks_.empty()) return;
    const ReceiverAck a = acks_.front();
    acks_.pop_front();
    ProcessAck(a.ack, a.blocks);
  }

  // Blocks that a broken or hostile receiver could send: anywhere, empty, reversed, overlapping.
  void GarbageAck() {
    std::vector<TcpSackBlock> blocks;
    const int n = Rand(1, 5);
    const int32_t span = std::max<int32_t>(q_.snd_nxt() - q_.snd_una(), 1);
    for (int i = 0; i < n; ++i) {
      const TcpSeq left = q_.snd_una() + static_cast<uint32_t>(Rand(-500, span + 500));
      const TcpSeq right = left + static_cast<uint32_t>(Rand(-100, 3 * p_.smss));
      blocks.push_back({left, right});
    }
    ProcessAck(Chance(0.5) ? q_.snd_una() : rx_.rcv_nxt(), blocks);
  }

  void ProcessAck(TcpSeq ack, const std::vector<TcpSackBlock>& blocks) {
    const Instant now = Tick();
    const AckResult r = q_.OnAck({ack, blocks, now, std::nullopt, 1ms});
    ASSERT_TRUE(q_.CheckInvariants()) << "after OnAck";
    if (r.disposition == AckDisposition::kUnsent) return;
    if (r.sacked_bytes > 0) {
      // retransmit_queue.h: adjacent SACKed records are merged at once, wherever they are.
      for (size_t i = 1; i < q_.size(); ++i) {
        ASSERT_FALSE(q_[i - 1].sacked && q_[i].sacked) << "unmerged SACKed records at " << i;
      }
    }
    RecoveryEvents ev = rec_.OnAck(q_, r);
    CheckQueries("after SackRecovery::OnAck");
    if (HasFatalFailure()) return;
    RackLoss loss;
    if (p_.use_rack) {
      const std::vector<SegmentRecord> before = Snapshot(q_);
      const Rack::AckOutput out = rack_.OnAck(
          q_, r, {now, 20ms, 1ms, r.rtt_sample.has_value(), rec_.in_recovery(), ev.exited, false});
      CheckDetectLoss(before, now, out.loss);
      loss = out.loss;
    }
    AfterLossDetection(loss, ev, now);
  }

  void ReorderTimer() {
    if (!p_.use_rack) return;
    const Instant now = Tick();
    const std::vector<SegmentRecord> before = Snapshot(q_);
    const RackLoss loss = rack_.OnReorderTimer(q_, now, 20ms, rec_.in_recovery());
    CheckDetectLoss(before, now, loss);
    AfterLossDetection(loss, {}, now);
  }

  void Rto() {
    if (q_.empty()) return;
    const Instant now = Tick();
    if (p_.use_rack) {
      rack_.OnRto(q_, now, 20ms);
    } else {
      for (size_t i = 0; i < q_.size(); ++i) {
        if (i == 0 || !q_[i].sacked) (void)q_.MarkLostAt(i);
      }
    }
    ASSERT_TRUE(q_.CheckInvariants()) << "after RTO marks";
    rec_.OnRto(q_);
    SendAllowed(now);
  }

  void Pto() {
    if (!p_.use_rack) return;
    const Instant now = Tick();
    const TlpProbe probe = rack_.OnPtoExpired(q_, Chance(0.5));
    if (probe.kind == TlpProbe::Kind::kRetransmit) {
      ASSERT_EQ(q_.OnTransmit(probe.start, probe.end, now, true), TransmitResult::kOk);
      rack_.OnProbeSent(q_, true);
      ToNetwork(probe.start, probe.end);
    } else if (probe.kind == TlpProbe::Kind::kNewData) {
      const TcpSeq start = q_.snd_nxt();
      if (q_.OnTransmit(start, start + p_.smss, now, false) == TransmitResult::kOk) {
        rack_.OnProbeSent(q_, false);
        ToNetwork(start, start + p_.smss);
      }
    }
  }

  // A retransmission of any range (a probe, go-back-N, a repacketized segment): it may cover
  // SACKed records, split them, or find no free slot for a split.
  void RandomRetransmission() {
    if (q_.empty()) return;
    const int32_t span = q_.snd_nxt() - q_.snd_una();
    const TcpSeq start = q_.snd_una() + static_cast<uint32_t>(Rand(0, span - 1));
    const int32_t room = q_.snd_nxt() - start;
    const TcpSeq end = start + static_cast<uint32_t>(Rand(1, std::min<int32_t>(room, 4 * p_.smss)));
    Instant t = Tick();
    // Stamped before data below it was first sent: only a non-monotonic clock does that.
    if (Chance(p_.rtx_time_back)) t -= std::chrono::microseconds(Rand(1, 50'000));
    ASSERT_EQ(q_.OnTransmit(start, end, t, true), TransmitResult::kOk);
    ToNetwork(start, end);
  }

  void RandomMarkLost() {
    if (q_.empty()) return;
    (void)q_.MarkLostAt(static_cast<size_t>(Rand(0, static_cast<int>(q_.size()) - 1)));
  }

  void AfterLossDetection(const RackLoss& loss, RecoveryEvents ev, Instant now) {
    ASSERT_TRUE(q_.CheckInvariants()) << "after loss detection";
    if (loss.lost_segments > 0 && !rec_.in_recovery() && !ev.entered) {
      const RecoveryEvents entry = rec_.EnterRecovery(q_);
      ev.entered = entry.entered;
      ev.fast_retransmit = entry.fast_retransmit;
    }
    if (ev.entered) {
      rack_.OnEnterRecovery();
      Send(*ev.fast_retransmit, now);
    }
    SendAllowed(now);
  }

  void SendAllowed(Instant now) {
    for (int n = 0; n < 64; ++n) {
      const uint32_t pipe = rec_.Pipe(q_);
      ASSERT_EQ(pipe, ref_.Pipe(q_));
      if (pipe + p_.smss > cwnd_) return;
      const uint32_t sendable = Chance(0.7) ? static_cast<uint32_t>(Rand(1, 2 * p_.smss)) : 0;
      const NextSegment seg = rec_.NextSeg(q_, sendable);
      ASSERT_EQ(seg, ref_.NextSeg(q_, rec_, sendable));
      if (seg.rule == NextSegment::Rule::kNone) return;
      if (seg.rule == NextSegment::Rule::kNewData && q_.size() == q_.capacity()) return;
      Send(seg, now);
      if (HasFatalFailure()) return;
    }
  }

  void Send(const NextSegment& seg, Instant now) {
    ASSERT_EQ(q_.OnTransmit(seg.start, seg.end, now, seg.retransmission()), TransmitResult::kOk)
        << seg;
    rec_.OnSent(seg);
    ToNetwork(seg.start, seg.end);
    ASSERT_TRUE(q_.CheckInvariants()) << "after sending " << seg;
  }

  void CheckDetectLoss(const std::vector<SegmentRecord>& before, Instant now, const RackLoss& got) {
    std::vector<bool> expect_lost;
    const RackLoss want = ReferenceDetectLoss(before, rack_, now, expect_lost);
    ASSERT_EQ(got, want);
    ASSERT_EQ(q_.size(), before.size());
    for (size_t i = 0; i < before.size(); ++i) {
      SegmentRecord expected = before[i];
      if (expect_lost[i]) expected.lost = true;
      ASSERT_EQ(q_[i], expected) << "record " << i;
    }
  }

  // Every query the connection makes, fast path against reference walk.
  void CheckQueries(const char* where) {
    ASSERT_TRUE(q_.CheckInvariants()) << where;
    ASSERT_EQ(q_.highest_sacked_end(), ref_.HighestSackedEnd(q_)) << where;
    size_t lowest_lost = q_.size();
    for (size_t i = 0; i < q_.size(); ++i) {
      if (q_[i].lost) {
        lowest_lost = i;
        break;
      }
    }
    ASSERT_EQ(q_.LowestLostIndex(), lowest_lost) << where;
    if (q_.highest_sacked_end()) {
      ASSERT_EQ(q_[q_.HighestSackedIndex()].end, *q_.highest_sacked_end()) << where;
    } else {
      ASSERT_EQ(q_.HighestSackedIndex(), q_.size()) << where;
    }
    ASSERT_EQ(rec_.Pipe(q_), ref_.Pipe(q_)) << where;
    for (const uint32_t sendable : {0u, 1u, p_.smss, 5 * p_.smss}) {
      ASSERT_EQ(rec_.NextSeg(q_, sendable), ref_.NextSeg(q_, rec_, sendable))
          << where << " sendable " << sendable;
    }
    const int32_t span = q_.snd_nxt() - q_.snd_una();
    for (int k = 0; k < 4; ++k) {
      const TcpSeq seq =
          k == 0 ? q_.snd_una() : q_.snd_una() + static_cast<uint32_t>(Rand(-10, span + 10));
      ASSERT_EQ(rec_.IsLost(q_, seq), ref_.IsLost(q_, seq)) << where << " seq " << seq;
    }
  }

  void Check() {
    CheckQueries("after step");
    if (!HasFatalFailure()) {
      ++checked_;
      if (q_.sacked_bytes() == 0 && q_.lost_records() == 0 &&
          q_.retransmitted_in_flight_records() == 0) {
        ++clean_;
      }
      if (q_.sacked_bytes() > 0) ++with_sack_;
      if (q_.lost_records() > 0) ++with_loss_;
      if (q_.retransmitted_in_flight_records() > 0) ++with_rtx_;
      if (!q_.transmissions_in_time_order()) ++unordered_;
    }
  }

 public:
  int checked_ = 0;
  int clean_ = 0;
  int with_sack_ = 0;
  int with_loss_ = 0;
  int with_rtx_ = 0;
  int unordered_ = 0;

 private:
  Params p_;
  std::mt19937 rng_;
  TcpSeq iss_;
  RetransmitQueue q_;
  SackRecovery rec_;
  Rack rack_;
  SackReceiver rx_;
  Reference ref_;
  Instant now_ = InstantFromNanos(1'000'000'000);
  uint32_t cwnd_ = 20 * 1000;
  std::deque<std::pair<TcpSeq, TcpSeq>> net_;
  std::deque<ReceiverAck> acks_;
};

class ScoreboardRandomTest : public ::testing::TestWithParam<int> {};

// Every combination of RFC 6675 IsLost on/off and RACK on/off, with small queues (splits fail,
// kFull), several SACK-block limits, and times that sometimes step back.
TEST_P(ScoreboardRandomTest, FastPathsMatchFullWalks) {
  const int variant = GetParam();
  int checked = 0, clean = 0, with_sack = 0, with_loss = 0, with_rtx = 0, unordered = 0;
  for (uint32_t seed = 1; seed <= 6; ++seed) {
    Params p;
    p.seed = seed * 7919 + static_cast<uint32_t>(variant);
    p.smss = variant % 2 == 0 ? 1000 : 536;
    p.dupthresh_loss = (variant / 2) % 2 == 0;
    p.use_rack = (variant / 4) % 2 == 0;
    p.capacity = seed % 3 == 0 ? 12 : (seed % 3 == 1 ? 64 : 200);
    constexpr double kLoss[] = {0.0, 0.002, 0.01, 0.03, 0.08, 0.15};
    p.loss = kLoss[seed - 1];
    p.chaos = seed % 2 == 0;
    p.reorder = seed % 2 == 0 ? 0.05 : 0.0;
    p.time_back = seed == 5 ? 0.05 : 0.0;
    p.rtx_time_back = seed == 4 ? 0.05 : 0.0;
    p.max_sack_blocks = seed % 4 == 0 ? 3 : 4;
    p.steps = 3000;
    Scenario s(p);
    s.Run();
    if (HasFatalFailure()) return;
    checked += s.checked_;
    clean += s.clean_;
    with_sack += s.with_sack_;
    with_loss += s.with_loss_;
    with_rtx += s.with_rtx_;
    unordered += s.unordered_;
  }
  // The scenarios reached the states the fast paths distinguish.
  EXPECT_EQ(checked, 6 * 3000);
  EXPECT_GT(clean, checked / 10);
  EXPECT_GT(with_sack, checked / 10);
  EXPECT_GT(with_loss, checked / 20);
  EXPECT_GT(with_rtx, checked / 20);
  EXPECT_GT(unordered, 0);
}

INSTANTIATE_TEST_SUITE_P(Variants, ScoreboardRandomTest, ::testing::Range(0, 8));

// The common case the fast paths exist for: a clean bulk transfer (no SACK, no loss) never needs
// a walk; the answers are those of the full walks.
TEST(ScoreboardFastPathTest, CleanTransferAnswersFromTotals) {
  RetransmitQueue q(512, TcpSeq(0xFFFFF000u));
  SackRecovery rec({1448, true});
  Rack rack({1448, 200ms});
  const Reference ref{1448, true};
  Instant now = InstantFromNanos(0);
  for (int round = 0; round < 50; ++round) {
    for (int n = 0; n < 40; ++n) {
      const NextSegment seg = rec.NextSeg(q, 100'000);
      ASSERT_EQ(seg.rule, NextSegment::Rule::kNewData);
      ASSERT_EQ(q.OnTransmit(seg.start, seg.end, now, false), TransmitResult::kOk);
    }
    now += 100us;
    for (int n = 0; n < 20; ++n) {
      const AckResult r = q.OnAck({q.snd_una() + 2 * 1448, {}, now, std::nullopt, 50us});
      const RecoveryEvents ev = rec.OnAck(q, r);
      const Rack::AckOutput out =
          rack.OnAck(q, r, {now, 100us, 50us, true, rec.in_recovery(), ev.exited, false});
      EXPECT_EQ(out.loss, RackLoss{});
      EXPECT_EQ(rec.Pipe(q), ref.Pipe(q));
      EXPECT_EQ(rec.Pipe(q), q.flight_size());
      EXPECT_EQ(rec.NextSeg(q, 0), ref.NextSeg(q, rec, 0));
    }
    ASSERT_TRUE(q.CheckInvariants());
  }
  EXPECT_EQ(q.lost_records(), 0u);
  EXPECT_EQ(q.highest_sacked_end(), std::nullopt);
  EXPECT_EQ(q.LowestLostIndex(), q.size());
  EXPECT_TRUE(q.transmissions_in_time_order());
}

// The incremental totals through each kind of change, checked by hand.
TEST(ScoreboardFastPathTest, TotalsFollowEveryChange) {
  using loss_test::S;
  using loss_test::T;
  RetransmitQueue q(32, S(0));
  for (int n = 0; n < 8; ++n)
    ASSERT_EQ(q.OnTransmit(S(n), S(n + 1), T(n), false), TransmitResult::kOk);
  // SACK 5-6: the highest SACKed end is S(7).
  std::vector<TcpSackBlock> blocks = {loss_test::Segs(5, 6)};
  (void)q.OnAck({S(0), blocks, T(20), std::nullopt, 0ms});
  EXPECT_EQ(q.highest_sacked_end(), S(7));
  EXPECT_EQ(q.sacked_bytes(), 2 * loss_test::kMss);
  // Lose 1 and 3, retransmit 1: one lost record left, one retransmission in flight.
  EXPECT_EQ(q.MarkLostAt(1), loss_test::kMss);
  EXPECT_EQ(q.MarkLostAt(3), loss_test::kMss);
  EXPECT_EQ(q.lost_records(), 2u);
  EXPECT_EQ(q.LowestLostIndex(), 1u);
  ASSERT_EQ(q.OnTransmit(S(1), S(2), T(21), true), TransmitResult::kOk);
  EXPECT_EQ(q.lost_records(), 1u);
  EXPECT_EQ(q.lost_bytes(), loss_test::kMss);
  EXPECT_EQ(q.LowestLostIndex(), 3u);
  EXPECT_EQ(q.retransmitted_in_flight_bytes(), loss_test::kMss);
  // A retransmission over the SACKed records splits one: they stay SACKed, merged again on the
  // next SACK.
  ASSERT_EQ(q.OnTransmit(S(6) + 500, S(7), T(22), true), TransmitResult::kOk);
  EXPECT_TRUE(q.CheckInvariants());
  EXPECT_EQ(q.sacked_bytes(), 2 * loss_test::kMss);
  blocks = {loss_test::Segs(2, 2), loss_test::Segs(5, 6)};
  (void)q.OnAck({S(0), blocks, T(23), std::nullopt, 0ms});
  EXPECT_TRUE(q.CheckInvariants());
  EXPECT_EQ(q.sacked_bytes(), 3 * loss_test::kMss);
  // The RTO's mark of a SACKed head un-SACKs it.
  (void)q.OnAck({S(2), {}, T(24), std::nullopt, 0ms});
  EXPECT_TRUE(q[0].sacked);
  EXPECT_EQ(q.MarkLostAt(0), loss_test::kMss);
  EXPECT_EQ(q.highest_sacked_end(), S(7));
  // Everything acknowledged: all totals back to zero.
  (void)q.OnAck({S(8), {}, T(25), std::nullopt, 0ms});
  EXPECT_TRUE(q.CheckInvariants());
  EXPECT_EQ(q.sacked_bytes(), 0u);
  EXPECT_EQ(q.lost_records(), 0u);
  EXPECT_EQ(q.retransmitted_in_flight_records(), 0u);
  EXPECT_EQ(q.highest_sacked_end(), std::nullopt);
}

}  // namespace
}  // namespace braid::tcp
