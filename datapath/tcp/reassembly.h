// The out-of-order receive queue: holds the bytes that arrived ahead of the in-order point until
// the hole before them is filled, then hands them over in order. A template over the sequence
// space, so that TCP uses it with wire::TcpSeq (RFC 9293 §3.10.7.4, segment text processing) and
// MPTCP with wire::DataSeq for data-level reassembly (RFC 8684 §3.3).
//
// Memory is bounded and allocated once, at construction: a ring of `capacity` bytes that mirrors
// the sequence window [next, next + capacity), and an array of at most `max_ranges` held ranges.
// Nothing is allocated per segment. A byte with sequence number s lives in the ring at
// (head + (s − next)) mod capacity, so storing is one or two memcpy calls and in-order delivery
// reads the ring where it is, without moving anything.
//
// Semantics:
//  - First copy wins. A byte already received (below the in-order point, or held) is never
//    overwritten; a later copy of it is counted as `duplicate`, and, when the first copy is still
//    held and differs, as `inconsistent` (the peer or a middlebox changed data it had sent).
//  - Held ranges are kept sorted, disjoint and merged: two ranges that overlap or touch become
//    one, so SACK blocks are maximal.
//  - Bytes at or beyond next + capacity are refused (kCapacity), and a segment that would open a
//    new range when max_ranges are held is refused whole (kTooManyRanges). A refusal never
//    disturbs what is held; the result says how many bytes were refused and why, and the caller
//    counts the drop. Bytes that fit are stored even when the rest of the segment is refused.
//  - No reneging. Braid never discards data it may have reported in a SACK block (RFC 2018 §8
//    allows a receiver to; we do not): held bytes leave the queue only by being delivered. The
//    single exception is DropAll()/Reset(), which exist for tearing the connection (or, for
//    MPTCP, its data-level state) down: a connection that is still ACKing must not call them.
//
// Contract for the connection:
//  - Construct with the capacity (at most kMaxCapacity; the advertised receive window should not
//    exceed it, or in-window data beyond it is refused) and the in-order point (RCV.NXT, the
//    first data byte expected), or Reset() it once the handshake tells it.
//  - Pass every data segment that is acceptable (RFC 9293 §3.10.7.4: trimmed to the receive
//    window) to Insert(), in-order ones included: an in-order segment with nothing held costs one
//    sink call and no copy. SYN and FIN take no data sequence space here; the connection tracks
//    them (a FIN that arrived early is processed once next() reaches it).
//  - The sink takes every byte it is given: the receive window guarantees room in the socket's
//    receive buffer for all data up to next + window. Spans passed to the sink point into the
//    payload or into the ring and are valid only during the call.
//  - After Insert(), next() is the new RCV.NXT to acknowledge; SackBlocks() gives the blocks for
//    the ACK's SACK option (RFC 2018 §4 order); `dsack` in the result is the first D-SACK block
//    when the segment carried duplicate data (RFC 2883 §4).
#pragma once

#include <algorithm>
#include <array>
#include <cassert>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "datapath/wire/seq.h"

namespace braid::tcp {

// A sequence space with wrap-around comparison, a signed distance (a − b) and addition of an
// unsigned count: wire::TcpSeq and wire::DataSeq.
template <typename Seq>
concept SequenceSpace = std::regular<Seq> && requires(Seq a, Seq b) {
  { a < b } -> std::convertible_to<bool>;
  { a - b } -> std::signed_integral;
  {
    a + std::make_unsigned_t<decltype(a - b)> { 1 }
    } -> std::same_as<Seq>;
};

// Half-open range [start, end) of sequence numbers; as a SACK block, start is the left edge and
// end the right edge (RFC 2018 §3).
template <typename Seq>
struct SeqRange {
  Seq start{};
  Seq end{};
  friend constexpr bool operator==(const SeqRange&, const SeqRange&) = default;
};

enum class ReassemblyRefusal : uint8_t {
  kNone = 0,
  kCapacity,       // bytes at or beyond next + capacity
  kTooManyRanges,  // a new range would exceed max_ranges
};

inline std::string_view ReassemblyRefusalName(ReassemblyRefusal r) {
  switch (r) {
    case ReassemblyRefusal::kNone:
      return "none";
    case ReassemblyRefusal::kCapacity:
      return "capacity";
    case ReassemblyRefusal::kTooManyRanges:
      return "too_many_ranges";
  }
  return "unknown";
}

// What one Insert() did with the segment. Every payload byte is exactly one of: delivered
// straight from the payload, stored, duplicate, refused; `delivered` also counts held bytes that
// became in-order.
template <typename Seq>
struct ReassemblyResult {
  size_t delivered = 0;     // bytes passed to the sink (next() advanced by this much)
  size_t stored = 0;        // payload bytes copied into the queue
  size_t duplicate = 0;     // payload bytes received before (below next, or held)
  size_t inconsistent = 0;  // duplicate bytes that differ from the held first copy
  size_t refused = 0;       // payload bytes not taken, for `refusal`
  ReassemblyRefusal refusal = ReassemblyRefusal::kNone;
  std::optional<SeqRange<Seq>> dsack;  // the first run of duplicate bytes (RFC 2883 §4)
};

template <SequenceSpace Seq>
class ReassemblyQueue {
 public:
  // TCP sequence comparisons hold within 2^31; RFC 7323 §2.3 caps the window at 2^30.
  static constexpr size_t kMaxCapacity = size_t{1} << 30;
  // RFC 2018 §3: at most 4 blocks fit in the option space; remembered blocks beyond what one ACK
  // carries (3 with timestamps) are reported again once a block ahead of them goes away.
  static constexpr size_t kMaxSackBlocks = 4;
  // With max_ranges = 0 the limit is one range per kBytesPerRange of capacity (at least
  // kMinRanges): the range array costs under 2% of the ring.
  static constexpr size_t kBytesPerRange = 1024;
  static constexpr size_t kMinRanges = 8;

  // `capacity` in [1, kMaxCapacity] (clamped; a configuration value, not network input).
  ReassemblyQueue(size_t capacity, Seq next, size_t max_ranges = 0)
      : capacity_(std::clamp<size_t>(capacity, 1, kMaxCapacity)),
        max_ranges_(max_ranges != 0 ? max_ranges
                                    : std::max(kMinRanges, capacity_ / kBytesPerRange)),
        ring_(std::make_unique_for_overwrite<uint8_t[]>(capacity_)),
        next_(next) {
    assert(capacity >= 1 && capacity <= kMaxCapacity);
    ranges_.reserve(max_ranges_);
  }

  ReassemblyQueue(const ReassemblyQueue&) = delete;
  ReassemblyQueue& operator=(const ReassemblyQueue&) = delete;
  ReassemblyQueue(ReassemblyQueue&&) noexcept = default;
  ReassemblyQueue& operator=(ReassemblyQueue&&) noexcept = default;

  // Takes the segment [seq, seq + payload.size()). In-order bytes (its own and held ones that
  // follow) go to `sink`, called with std::span<const uint8_t> pieces in sequence order before
  // Insert() returns; out-of-order bytes are stored. See the header comment for the rules.
  template <typename Sink>
  requires std::invocable<Sink&, std::span<const uint8_t>> ReassemblyResult<Seq> Insert(
      Seq seq, std::span<const uint8_t> payload, Sink&& sink) {
    ReassemblyResult<Seq> r;
    if (payload.empty()) return r;
    int64_t off = Offset(seq);
    if (off < 0) {
      // Below the in-order point: delivered already, nothing to compare with.
      const uint64_t behind = uint64_t{0} - static_cast<uint64_t>(off);
      const size_t old = static_cast<size_t>(std::min<uint64_t>(payload.size(), behind));
      r.duplicate += old;
      r.dsack = SeqRange<Seq>{seq, Advance(seq, old)};
      payload = payload.subspan(old);
      seq = Advance(seq, old);
      if (payload.empty()) return r;
      off = 0;
    }
    if (off == 0) {
      DeliverInOrder(payload, sink, r);
    } else {
      StoreOutOfOrder(seq, static_cast<uint64_t>(off), payload, r);
    }
    return r;
  }

  // Writes the SACK blocks to advertise into `out` (at most out.size() and kMaxSackBlocks) and
  // returns how many. RFC 2018 §4: first the block holding the most recently received segment
  // (when that segment did not advance next()), then the other blocks in the order they were most
  // recently reported; a block is listed once.
  size_t SackBlocks(std::span<SeqRange<Seq>> out) const {
    size_t n = 0;
    for (size_t i = 0; i < recent_count_ && n < out.size(); ++i) {
      const SeqRange<Seq>* range = RangeContaining(recent_[i]);
      if (range == nullptr) continue;  // not reachable while the invariants hold
      if (std::find(out.begin(), out.begin() + static_cast<ptrdiff_t>(n), *range) !=
          out.begin() + static_cast<ptrdiff_t>(n)) {
        continue;
      }
      out[n++] = *range;
    }
    return n;
  }

  // Discards every held byte and forgets every SACK block; next() is unchanged. Teardown only
  // (see "No reneging" above).
  void DropAll() {
    ranges_.clear();
    held_ = 0;
    recent_count_ = 0;
  }

  // DropAll() and a new in-order point, e.g. once the handshake fixes RCV.NXT.
  void Reset(Seq next) {
    DropAll();
    next_ = next;
    head_ = 0;
  }

  Seq next() const { return next_; }
  // The first sequence number that would be refused for capacity.
  Seq limit() const { return Advance(next_, capacity_); }
  size_t capacity() const { return capacity_; }
  size_t max_ranges() const { return max_ranges_; }
  size_t held_bytes() const { return held_; }
  bool empty() const { return ranges_.empty(); }
  // The held ranges, sorted, disjoint and not touching, all above next().
  std::span<const SeqRange<Seq>> ranges() const { return ranges_; }

 private:
  using Distance = decltype(std::declval<Seq>() - std::declval<Seq>());
  using Count = std::make_unsigned_t<Distance>;

  static Seq Advance(Seq s, uint64_t n) { return s + static_cast<Count>(n); }
  // Signed distance from the in-order point; held data is always at [1, capacity).
  int64_t Offset(Seq s) const { return static_cast<int64_t>(s - next_); }
  uint64_t HeldOffset(Seq s) const { return static_cast<uint64_t>(Offset(s)); }

  size_t RingIndex(uint64_t offset) const {
    return static_cast<size_t>((head_ + offset) % capacity_);
  }

  void WriteRing(uint64_t offset, std::span<const uint8_t> bytes) {
    const size_t at = RingIndex(offset);
    const size_t first = std::min(bytes.size(), capacity_ - at);
    std::memcpy(ring_.get() + at, bytes.data(), first);
    if (first < bytes.size()) std::memcpy(ring_.get(), bytes.data() + first, bytes.size() - first);
  }

  size_t CountDifferences(uint64_t offset, std::span<const uint8_t> bytes) const {
    size_t at = RingIndex(offset);
    size_t differ = 0;
    for (uint8_t b : bytes) {
      differ += ring_[at] != b ? 1 : 0;
      if (++at == capacity_) at = 0;
    }
    return differ;
  }

  template <typename Sink>
  void EmitRing(size_t n, Sink& sink) {
    const size_t first = std::min(n, capacity_ - head_);
    std::invoke(sink, std::span<const uint8_t>(ring_.get() + head_, first));
    if (first < n) std::invoke(sink, std::span<const uint8_t>(ring_.get(), n - first));
  }

  void AdvanceNext(uint64_t n) {
    next_ = Advance(next_, n);
    head_ = static_cast<size_t>((head_ + n % capacity_) % capacity_);
  }

  // The payload starts at next_. Walks forward: a held range that starts at next_ is delivered
  // from the ring (its first copy wins over the payload's), otherwise the payload's bytes up to
  // the next held range go out directly.
  template <typename Sink>
  void DeliverInOrder(std::span<const uint8_t> payload, Sink& sink, ReassemblyResult<Seq>& r) {
    size_t pos = 0;
    size_t erased = 0;  // ranges_[0, erased) delivered; erased once at the end
    for (;;) {
      if (erased < ranges_.size() && ranges_[erased].start == next_) {
        const SeqRange<Seq> range = ranges_[erased];
        const size_t n = static_cast<size_t>(range.end - range.start);
        if (pos < payload.size()) {
          const size_t overlap = std::min(n, payload.size() - pos);
          NoteDuplicate(0, next_, payload.subspan(pos, overlap), /*held=*/true, r);
          pos += overlap;
        }
        EmitRing(n, sink);
        r.delivered += n;
        held_ -= n;
        AdvanceNext(n);
        ++erased;
        continue;
      }
      if (pos >= payload.size()) break;
      size_t n = payload.size() - pos;
      if (erased < ranges_.size()) {
        n = std::min<size_t>(n, static_cast<size_t>(HeldOffset(ranges_[erased].start)));
      }
      std::invoke(sink, payload.subspan(pos, n));
      r.delivered += n;
      pos += n;
      AdvanceNext(n);
    }
    ranges_.erase(ranges_.begin(), ranges_.begin() + static_cast<ptrdiff_t>(erased));
    // SACK blocks that were delivered are no longer reported.
    size_t kept = 0;
    for (size_t i = 0; i < recent_count_; ++i) {
      if (Offset(recent_[i]) > 0) recent_[kept++] = recent_[i];
    }
    recent_count_ = kept;
  }

  // `bytes` at `offset` (sequence `at`) were received before; compare them with the held copy.
  void NoteDuplicate(uint64_t offset, Seq at, std::span<const uint8_t> bytes, bool held,
                     ReassemblyResult<Seq>& r) {
    if (bytes.empty()) return;
    r.duplicate += bytes.size();
    if (held) r.inconsistent += CountDifferences(offset, bytes);
    if (!r.dsack) r.dsack = SeqRange<Seq>{at, Advance(at, bytes.size())};
  }

  void StoreOutOfOrder(Seq seq, uint64_t off, std::span<const uint8_t> payload,
                       ReassemblyResult<Seq>& r) {
    if (off >= capacity_) {
      r.refused = payload.size();
      r.refusal = ReassemblyRefusal::kCapacity;
      return;
    }
    const uint64_t room = capacity_ - off;
    if (payload.size() > room) {
      r.refused = payload.size() - static_cast<size_t>(room);
      r.refusal = ReassemblyRefusal::kCapacity;
      payload = payload.first(static_cast<size_t>(room));
    }
    const uint64_t s_off = off;
    const uint64_t e_off = off + payload.size();

    // Ranges [i, j) overlap or touch [s_off, e_off); they and the segment become one range.
    const auto first_touching =
        std::partition_point(ranges_.begin(), ranges_.end(),
                             [&](const SeqRange<Seq>& x) { return HeldOffset(x.end) < s_off; });
    const auto past_touching =
        std::partition_point(first_touching, ranges_.end(),
                             [&](const SeqRange<Seq>& x) { return HeldOffset(x.start) <= e_off; });

    if (first_touching == past_touching) {
      if (ranges_.size() >= max_ranges_) {
        r.refused += payload.size();
        r.refusal = ReassemblyRefusal::kTooManyRanges;
        return;
      }
      WriteRing(s_off, payload);
      r.stored += payload.size();
      held_ += payload.size();
      ranges_.insert(first_touching, SeqRange<Seq>{seq, Advance(seq, payload.size())});
    } else {
      // Fill the gaps between the touched ranges; compare the bytes they already hold.
      uint64_t pos = s_off;
      for (auto it = first_touching; it != past_touching; ++it) {
        const uint64_t rs = HeldOffset(it->start);
        const uint64_t re = HeldOffset(it->end);
        if (pos < rs) {
          const uint64_t gap_end = std::min(rs, e_off);
          Store(
              pos,
              payload.subspan(static_cast<size_t>(pos - s_off), static_cast<size_t>(gap_end - pos)),
              r);
          pos = gap_end;
        }
        const uint64_t ov_end = std::min(re, e_off);
        if (pos < ov_end) {
          NoteDuplicate(
              pos, Advance(next_, pos),
              payload.subspan(static_cast<size_t>(pos - s_off), static_cast<size_t>(ov_end - pos)),
              /*held=*/true, r);
          pos = ov_end;
        }
      }
      if (pos < e_off) {
        Store(pos, payload.subspan(static_cast<size_t>(pos - s_off)), r);
      }
      const Seq start = std::min(seq, first_touching->start);
      const Seq end = std::max(Advance(seq, payload.size()), std::prev(past_touching)->end);
      *first_touching = SeqRange<Seq>{start, end};
      ranges_.erase(std::next(first_touching), past_touching);
    }
    NoteReceived(seq);
  }

  void Store(uint64_t offset, std::span<const uint8_t> bytes, ReassemblyResult<Seq>& r) {
    WriteRing(offset, bytes);
    r.stored += bytes.size();
    held_ += bytes.size();
  }

  // RFC 2018 §4: the block holding `seq` (just received) goes first; blocks that merged into it
  // are no longer separate; the rest keep their order; the oldest falls off when full.
  void NoteReceived(Seq seq) {
    const SeqRange<Seq>* range = RangeContaining(seq);
    if (range == nullptr) return;
    size_t kept = 0;
    std::array<Seq, kMaxSackBlocks> others;
    for (size_t i = 0; i < recent_count_; ++i) {
      const Seq a = recent_[i];
      if (range->start <= a && a < range->end) continue;
      others[kept++] = a;
    }
    recent_[0] = seq;
    const size_t take = std::min(kept, kMaxSackBlocks - 1);
    std::copy_n(others.begin(), take, recent_.begin() + 1);
    recent_count_ = take + 1;
  }

  const SeqRange<Seq>* RangeContaining(Seq s) const {
    if (Offset(s) <= 0) return nullptr;
    const uint64_t o = HeldOffset(s);
    const auto it =
        std::partition_point(ranges_.begin(), ranges_.end(),
                             [&](const SeqRange<Seq>& x) { return HeldOffset(x.end) <= o; });
    if (it == ranges_.end() || o < HeldOffset(it->start)) return nullptr;
    return &*it;
  }

  size_t capacity_;
  size_t max_ranges_;
  std::unique_ptr<uint8_t[]> ring_;
  std::vector<SeqRange<Seq>> ranges_;  // reserved to max_ranges_ at construction
  Seq next_;
  size_t head_ = 0;  // ring index of next_
  size_t held_ = 0;
  // SACK report order: one sequence number inside each remembered block, most recent first.
  std::array<Seq, kMaxSackBlocks> recent_{};
  size_t recent_count_ = 0;
};

}  // namespace braid::tcp
