#include "datapath/tcp/reassembly.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "datapath/wire/seq.h"

namespace braid::tcp {
namespace {

using wire::DataSeq;
using wire::TcpSeq;

// Streams start 1000 bytes below the wrap of their sequence space, so every test crosses it.
template <typename Seq>
struct Space;
template <>
struct Space<TcpSeq> {
  static TcpSeq Base() { return TcpSeq(0xffffffffu - 999u); }
};
template <>
struct Space<DataSeq> {
  static DataSeq Base() { return DataSeq(~uint64_t{0} - 999u); }
};

// The reference byte stream: a byte per stream position that does not repeat with any small
// period, so a byte delivered at the wrong position shows.
uint8_t RefByte(uint64_t pos) {
  uint64_t z = pos + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return static_cast<uint8_t>(z ^ (z >> 31));
}

std::vector<uint8_t> RefBytes(uint64_t pos, size_t n) {
  std::vector<uint8_t> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = RefByte(pos + i);
  return out;
}

template <typename Seq>
class ReassemblyTest : public ::testing::Test {
 protected:
  using Queue = ReassemblyQueue<Seq>;
  using Result = ReassemblyResult<Seq>;
  using Range = SeqRange<Seq>;
  using Count = std::make_unsigned_t<decltype(Seq{} - Seq{})>;

  static Seq At(uint64_t pos) { return Space<Seq>::Base() + static_cast<Count>(pos); }
  static uint64_t Pos(Seq s) {
    return static_cast<uint64_t>(static_cast<int64_t>(s - Space<Seq>::Base()));
  }
  static Range R(uint64_t start, uint64_t end) { return Range{At(start), At(end)}; }

  Result Put(Queue& q, uint64_t pos, std::span<const uint8_t> bytes) {
    return q.Insert(At(pos), bytes, [this](std::span<const uint8_t> piece) {
      delivered_.insert(delivered_.end(), piece.begin(), piece.end());
    });
  }
  Result Put(Queue& q, uint64_t pos, size_t n) {
    const std::vector<uint8_t> bytes = RefBytes(pos, n);
    return Put(q, pos, bytes);
  }

  std::vector<Range> Sacks(const Queue& q, size_t max = 4) {
    std::array<Range, 4> out;
    const size_t n = q.SackBlocks(std::span<Range>(out.data(), max));
    return std::vector<Range>(out.begin(), out.begin() + n);
  }
  std::vector<Range> Held(const Queue& q) { return {q.ranges().begin(), q.ranges().end()}; }

  std::vector<uint8_t> delivered_;  // everything the sink received, in order
};

using SeqTypes = ::testing::Types<TcpSeq, DataSeq>;
TYPED_TEST_SUITE(ReassemblyTest, SeqTypes);

TYPED_TEST(ReassemblyTest, InOrderSegmentsGoStraightToTheSink) {
  typename TestFixture::Queue q(4096, this->At(0));
  const std::vector<uint8_t> bytes = RefBytes(0, 100);
  const uint8_t* seen = nullptr;
  const auto r = q.Insert(this->At(0), bytes, [&](std::span<const uint8_t> piece) {
    seen = piece.data();
    EXPECT_EQ(piece.size(), 100u);
  });
  EXPECT_EQ(seen, bytes.data());  // no copy with nothing held
  EXPECT_EQ(r.delivered, 100u);
  EXPECT_EQ(r.stored, 0u);
  EXPECT_EQ(r.duplicate, 0u);
  EXPECT_EQ(r.refused, 0u);
  EXPECT_EQ(q.next(), this->At(100));
  // Across the wrap of the sequence space (it lies at stream position 1000).
  for (uint64_t pos = 100; pos < 3000; pos += 290) {
    EXPECT_EQ(this->Put(q, pos, 290).delivered, 290u);
  }
  this->delivered_.clear();
  EXPECT_EQ(q.next(), this->At(3000));
  EXPECT_TRUE(q.empty());
  EXPECT_TRUE(this->Sacks(q).empty());
  // An in-order segment longer than the capacity is delivered whole: it needs no room here.
  EXPECT_EQ(this->Put(q, 3000, 10000).delivered, 10000u);
  EXPECT_EQ(this->delivered_, RefBytes(3000, 10000));
  EXPECT_EQ(this->Put(q, 13000, 0).delivered, 0u);  // empty payload: nothing happens
}

TYPED_TEST(ReassemblyTest, OutOfOrderIsHeldThenDeliveredWhenTheHoleFills) {
  typename TestFixture::Queue q(4096, this->At(0));
  auto r = this->Put(q, 950, 100);  // straddles the wrap
  EXPECT_EQ(r.delivered, 0u);
  EXPECT_EQ(r.stored, 100u);
  EXPECT_EQ(q.held_bytes(), 100u);
  EXPECT_EQ(q.next(), this->At(0));
  EXPECT_EQ(this->Held(q), (std::vector{this->R(950, 1050)}));
  EXPECT_EQ(this->Sacks(q), (std::vector{this->R(950, 1050)}));
  EXPECT_TRUE(this->delivered_.empty());

  r = this->Put(q, 0, 950);
  EXPECT_EQ(r.delivered, 1050u);
  EXPECT_EQ(r.stored, 0u);
  EXPECT_EQ(q.next(), this->At(1050));
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.held_bytes(), 0u);
  EXPECT_TRUE(this->Sacks(q).empty());
  EXPECT_EQ(this->delivered_, RefBytes(0, 1050));
}

TYPED_TEST(ReassemblyTest, MergesOverlappingAndAdjacentRanges) {
  typename TestFixture::Queue q(4096, this->At(0));
  this->Put(q, 100, 100);
  this->Put(q, 300, 100);
  EXPECT_EQ(this->Held(q), (std::vector{this->R(100, 200), this->R(300, 400)}));
  // Touches both neighbours exactly: one range.
  auto r = this->Put(q, 200, 100);
  EXPECT_EQ(r.stored, 100u);
  EXPECT_EQ(r.duplicate, 0u);
  EXPECT_EQ(this->Held(q), (std::vector{this->R(100, 400)}));
  // Overlaps the start.
  r = this->Put(q, 50, 70);
  EXPECT_EQ(r.stored, 50u);
  EXPECT_EQ(r.duplicate, 20u);
  EXPECT_EQ(r.dsack, this->R(100, 120));
  // Overlaps the end.
  r = this->Put(q, 390, 60);
  EXPECT_EQ(r.stored, 50u);
  EXPECT_EQ(r.duplicate, 10u);
  EXPECT_EQ(this->Held(q), (std::vector{this->R(50, 450)}));
  // Bridges two ranges and overlaps both; and a segment that covers a range whole.
  this->Put(q, 500, 100);
  this->Put(q, 700, 100);
  r = this->Put(q, 550, 200);
  EXPECT_EQ(r.stored, 100u);
  EXPECT_EQ(r.duplicate, 100u);
  EXPECT_EQ(r.dsack, this->R(550, 600));  // the first duplicate run
  r = this->Put(q, 460, 400);             // covers [500, 800) whole
  EXPECT_EQ(r.stored, 100u);
  EXPECT_EQ(r.duplicate, 300u);
  EXPECT_EQ(this->Held(q), (std::vector{this->R(50, 450), this->R(460, 860)}));
  EXPECT_EQ(q.held_bytes(), 400u + 400u);
  // Entirely inside a held range: nothing stored.
  r = this->Put(q, 600, 10);
  EXPECT_EQ(r.stored, 0u);
  EXPECT_EQ(r.duplicate, 10u);
  EXPECT_EQ(r.inconsistent, 0u);
  EXPECT_EQ(r.dsack, this->R(600, 610));
  // Fill everything and check the delivered stream.
  this->Put(q, 0, 50);
  this->Put(q, 450, 10);
  EXPECT_EQ(q.next(), this->At(860));
  EXPECT_EQ(this->delivered_, RefBytes(0, 860));
}

TYPED_TEST(ReassemblyTest, DuplicatesBelowTheInOrderPoint) {
  typename TestFixture::Queue q(4096, this->At(0));
  this->Put(q, 0, 1000);
  auto r = this->Put(q, 900, 200);  // half old, half new and in order
  EXPECT_EQ(r.duplicate, 100u);
  EXPECT_EQ(r.dsack, this->R(900, 1000));
  EXPECT_EQ(r.delivered, 100u);
  EXPECT_EQ(q.next(), this->At(1100));
  r = this->Put(q, 10, 20);  // all old
  EXPECT_EQ(r.duplicate, 20u);
  EXPECT_EQ(r.delivered, 0u);
  EXPECT_EQ(r.inconsistent, 0u);  // the first copy is gone; nothing to compare with
  EXPECT_EQ(r.dsack, this->R(10, 30));
  EXPECT_EQ(this->delivered_, RefBytes(0, 1100));
}

TYPED_TEST(ReassemblyTest, FirstCopyWinsAndDifferencesAreCounted) {
  typename TestFixture::Queue q(4096, this->At(0));
  this->Put(q, 100, 100);
  // Out of order, overlapping the held copy with 3 differing bytes in the overlap and a new tail.
  std::vector<uint8_t> other = RefBytes(150, 100);
  other[0] ^= 0xff;
  other[10] ^= 0x01;
  other[49] ^= 0x80;
  other[60] ^= 0x55;  // in the new tail: this one is the first copy and is kept
  auto r = this->Put(q, 150, other);
  EXPECT_EQ(r.duplicate, 50u);
  EXPECT_EQ(r.inconsistent, 3u);
  EXPECT_EQ(r.stored, 50u);

  // In order, overlapping the held range with a changed byte: the held byte is delivered.
  std::vector<uint8_t> head = RefBytes(0, 120);
  head[110] ^= 0x42;
  head[5] ^= 0x01;  // a first copy: delivered as sent
  r = this->Put(q, 0, head);
  EXPECT_EQ(r.duplicate, 20u);
  EXPECT_EQ(r.inconsistent, 1u);
  EXPECT_EQ(r.delivered, 250u);
  std::vector<uint8_t> expected = RefBytes(0, 250);
  expected[5] ^= 0x01;
  expected[210] ^= 0x55;
  EXPECT_EQ(this->delivered_, expected);
}

TYPED_TEST(ReassemblyTest, CapacityRefusesExactlyTheBytesBeyondTheLimit) {
  typename TestFixture::Queue q(1000, this->At(0));
  EXPECT_EQ(q.limit(), this->At(1000));
  this->Put(q, 500, 100);
  // [900, 1100): [900, 1000) fits, [1000, 1100) does not.
  auto r = this->Put(q, 900, 200);
  EXPECT_EQ(r.stored, 100u);
  EXPECT_EQ(r.refused, 100u);
  EXPECT_EQ(r.refusal, ReassemblyRefusal::kCapacity);
  EXPECT_EQ(this->Held(q), (std::vector{this->R(500, 600), this->R(900, 1000)}));
  EXPECT_EQ(this->Sacks(q), (std::vector{this->R(900, 1000), this->R(500, 600)}));
  // Wholly beyond: refused, and what is held is untouched (SACK order too).
  r = this->Put(q, 1000, 50);
  EXPECT_EQ(r.stored, 0u);
  EXPECT_EQ(r.refused, 50u);
  EXPECT_EQ(r.refusal, ReassemblyRefusal::kCapacity);
  EXPECT_EQ(this->Held(q), (std::vector{this->R(500, 600), this->R(900, 1000)}));
  EXPECT_EQ(this->Sacks(q), (std::vector{this->R(900, 1000), this->R(500, 600)}));
  EXPECT_EQ(q.held_bytes(), 200u);
  // The last byte that fits, and the first that does not.
  EXPECT_EQ(this->Put(q, 999, 1).duplicate, 1u);
  r = this->Put(q, 998, 3);
  EXPECT_EQ(r.stored, 0u);
  EXPECT_EQ(r.duplicate, 2u);
  EXPECT_EQ(r.refused, 1u);
  // The window moves with the in-order point.
  this->Put(q, 0, 500);
  EXPECT_EQ(q.next(), this->At(600));
  EXPECT_EQ(q.limit(), this->At(1600));
  r = this->Put(q, 1000, 700);
  EXPECT_EQ(r.stored, 600u);
  EXPECT_EQ(r.refused, 100u);
  EXPECT_EQ(this->Held(q), (std::vector{this->R(900, 1600)}));
  this->Put(q, 600, 300);
  EXPECT_EQ(q.next(), this->At(1600));
  EXPECT_EQ(this->delivered_, RefBytes(0, 1600));
}

TYPED_TEST(ReassemblyTest, RangeLimitRefusesNewIslandsOnly) {
  typename TestFixture::Queue q(10000, this->At(0), 3);
  EXPECT_EQ(q.max_ranges(), 3u);
  this->Put(q, 100, 10);
  this->Put(q, 200, 10);
  this->Put(q, 300, 10);
  auto r = this->Put(q, 400, 10);
  EXPECT_EQ(r.stored, 0u);
  EXPECT_EQ(r.refused, 10u);
  EXPECT_EQ(r.refusal, ReassemblyRefusal::kTooManyRanges);
  EXPECT_EQ(this->Held(q), (std::vector{this->R(100, 110), this->R(200, 210), this->R(300, 310)}));
  EXPECT_EQ(this->Sacks(q), (std::vector{this->R(300, 310), this->R(200, 210), this->R(100, 110)}));
  // Growing or merging existing ranges is always possible.
  r = this->Put(q, 110, 40);
  EXPECT_EQ(r.stored, 40u);
  EXPECT_EQ(r.refusal, ReassemblyRefusal::kNone);
  r = this->Put(q, 205, 100);
  EXPECT_EQ(r.stored, 90u);
  EXPECT_EQ(this->Held(q), (std::vector{this->R(100, 150), this->R(200, 310)}));
  EXPECT_EQ(this->Put(q, 400, 10).stored, 10u);
  // Default: one range per KiB of capacity, at least 8.
  EXPECT_EQ(typename TestFixture::Queue(100, this->At(0)).max_ranges(), 8u);
  EXPECT_EQ(typename TestFixture::Queue(1 << 20, this->At(0)).max_ranges(), 1024u);
}

// RFC 2018 §4: the first block holds the segment that triggered the ACK; the others follow in the
// order they were most recently reported; at most 4 are remembered.
TYPED_TEST(ReassemblyTest, SackBlockOrder) {
  typename TestFixture::Queue q(4096, this->At(0));
  const auto R = [this](uint64_t s, uint64_t e) { return this->R(s, e); };
  this->Put(q, 100, 100);
  EXPECT_EQ(this->Sacks(q), (std::vector{R(100, 200)}));
  this->Put(q, 300, 100);
  this->Put(q, 500, 100);
  this->Put(q, 700, 100);
  EXPECT_EQ(this->Sacks(q), (std::vector{R(700, 800), R(500, 600), R(300, 400), R(100, 200)}));
  // A fifth block pushes the oldest out of the report (it stays held).
  this->Put(q, 900, 100);
  EXPECT_EQ(this->Sacks(q), (std::vector{R(900, 1000), R(700, 800), R(500, 600), R(300, 400)}));
  EXPECT_EQ(this->Held(q).size(), 5u);
  // Three blocks when the option space is shorter (timestamps on): the most recent three.
  EXPECT_EQ(this->Sacks(q, 3), (std::vector{R(900, 1000), R(700, 800), R(500, 600)}));
  // A duplicate inside a block moves that block first.
  this->Put(q, 320, 10);
  EXPECT_EQ(this->Sacks(q), (std::vector{R(300, 400), R(900, 1000), R(700, 800), R(500, 600)}));
  // A segment that joins two blocks reports the merged block once, first.
  this->Put(q, 600, 100);
  EXPECT_EQ(this->Sacks(q), (std::vector{R(500, 800), R(300, 400), R(900, 1000)}));
  // The block that fell out is reported again when a segment lands in it.
  this->Put(q, 150, 60);
  EXPECT_EQ(this->Sacks(q), (std::vector{R(100, 210), R(500, 800), R(300, 400), R(900, 1000)}));
  // An in-order segment does not get the first place; delivered blocks disappear.
  this->Put(q, 0, 100);
  EXPECT_EQ(q.next(), this->At(210));
  EXPECT_EQ(this->Sacks(q), (std::vector{R(500, 800), R(300, 400), R(900, 1000)}));
  this->Put(q, 210, 90);
  EXPECT_EQ(this->Sacks(q), (std::vector{R(500, 800), R(900, 1000)}));
  EXPECT_EQ(this->Sacks(q, 1), (std::vector{R(500, 800)}));
  EXPECT_EQ(q.next(), this->At(400));
}

TYPED_TEST(ReassemblyTest, RingWrapsManyTimes) {
  // A small, odd capacity: the ring index wraps on almost every segment.
  typename TestFixture::Queue q(97, this->At(0));
  uint64_t pos = 0;
  while (pos < 20000) {
    // Deliver each group of three 30-byte segments in the order 2, 1, 0.
    this->Put(q, pos + 60, 30);
    this->Put(q, pos + 30, 30);
    EXPECT_EQ(q.held_bytes(), 60u);
    this->Put(q, pos, 30);
    EXPECT_TRUE(q.empty());
    pos += 90;
  }
  EXPECT_EQ(this->delivered_, RefBytes(0, pos));
}

TYPED_TEST(ReassemblyTest, DropAllAndReset) {
  typename TestFixture::Queue q(4096, this->At(0));
  this->Put(q, 100, 100);
  this->Put(q, 300, 100);
  q.DropAll();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.held_bytes(), 0u);
  EXPECT_TRUE(this->Sacks(q).empty());
  EXPECT_EQ(q.next(), this->At(0));
  // Dropped bytes are simply not there any more: filling the hole delivers only the new bytes.
  EXPECT_EQ(this->Put(q, 0, 150).delivered, 150u);
  EXPECT_EQ(this->delivered_, RefBytes(0, 150));
  q.Reset(this->At(5000));
  EXPECT_EQ(q.next(), this->At(5000));
  this->delivered_.clear();
  this->Put(q, 5010, 10);
  this->Put(q, 5000, 10);
  EXPECT_EQ(this->delivered_, RefBytes(5000, 20));
}

// The reference model: one map entry per held byte, the same rules written the obvious way.
struct Model {
  struct Result {
    size_t delivered = 0, stored = 0, duplicate = 0, inconsistent = 0, refused = 0;
    ReassemblyRefusal refusal = ReassemblyRefusal::kNone;
    std::optional<std::pair<uint64_t, uint64_t>> dsack;
  };

  size_t capacity = 0;
  size_t max_ranges = 0;
  uint64_t next = 0;
  std::map<uint64_t, uint8_t> held;
  std::vector<uint8_t> delivered;
  std::vector<uint64_t> recent;  // a position inside each remembered SACK block, newest first

  std::vector<std::pair<uint64_t, uint64_t>> Runs() const {
    std::vector<std::pair<uint64_t, uint64_t>> runs;
    for (const auto& [p, b] : held) {
      if (!runs.empty() && runs.back().second == p) {
        ++runs.back().second;
      } else {
        runs.emplace_back(p, p + 1);
      }
    }
    return runs;
  }
  std::pair<uint64_t, uint64_t> RunOf(uint64_t p) const {
    for (const auto& run : Runs()) {
      if (run.first <= p && p < run.second) return run;
    }
    ADD_FAILURE() << "no run holds " << p;
    return {0, 0};
  }
  std::vector<std::pair<uint64_t, uint64_t>> Sacks(size_t max) const {
    std::vector<std::pair<uint64_t, uint64_t>> out;
    for (uint64_t a : recent) {
      if (out.size() < max) out.push_back(RunOf(a));
    }
    return out;
  }

  Result Insert(uint64_t pos, const std::vector<uint8_t>& bytes) {
    Result r;
    bool dsack_open = false;
    const auto dup = [&](uint64_t p) {
      ++r.duplicate;
      if (!r.dsack) {
        r.dsack = {p, p + 1};
        dsack_open = true;
      } else if (dsack_open && r.dsack->second == p) {
        ++r.dsack->second;
      }
    };
    const auto fresh = [&] { dsack_open = false; };
    size_t i = 0;
    for (; i < bytes.size() && pos + i < next; ++i) dup(pos + i);
    if (i == bytes.size()) return r;
    const uint64_t s = pos + i;
    if (s == next) {
      uint64_t p = next;
      size_t j = i;
      for (;;) {
        const auto it = held.find(p);
        if (it != held.end()) {
          if (j < bytes.size()) {
            dup(p);
            if (bytes[j] != it->second) ++r.inconsistent;
            ++j;
          }
          delivered.push_back(it->second);
          held.erase(it);
        } else if (j < bytes.size()) {
          fresh();
          delivered.push_back(bytes[j++]);
        } else {
          break;
        }
        ++r.delivered;
        ++p;
      }
      next = p;
      std::erase_if(recent, [&](uint64_t a) { return a < next; });
      return r;
    }
    if (s - next >= capacity) {
      r.refused = bytes.size() - i;
      r.refusal = ReassemblyRefusal::kCapacity;
      return r;
    }
    uint64_t e = pos + bytes.size();
    if (e > next + capacity) {
      r.refused = e - (next + capacity);
      r.refusal = ReassemblyRefusal::kCapacity;
      e = next + capacity;
    }
    const auto near = held.lower_bound(s - 1);
    const bool touches = near != held.end() && near->first <= e;
    if (!touches && Runs().size() >= max_ranges) {
      r.refused += e - s;
      r.refusal = ReassemblyRefusal::kTooManyRanges;
      return r;
    }
    for (uint64_t p = s; p < e; ++p) {
      const uint8_t b = bytes[p - pos];
      const auto it = held.find(p);
      if (it != held.end()) {
        dup(p);
        if (it->second != b) ++r.inconsistent;
      } else {
        fresh();
        held[p] = b;
        ++r.stored;
      }
    }
    const auto run = RunOf(s);
    std::erase_if(recent, [&](uint64_t a) { return run.first <= a && a < run.second; });
    recent.insert(recent.begin(), s);
    if (recent.size() > 4) recent.resize(4);
    return r;
  }
};

TYPED_TEST(ReassemblyTest, RandomizedAgainstReferenceModel) {
  constexpr size_t kCapacity = 1999;
  constexpr size_t kMaxRanges = 6;
  for (uint32_t seed : {1u, 2u, 3u, 2024u}) {
    SCOPED_TRACE(seed);
    std::mt19937_64 rng(seed);
    const auto uniform = [&](int64_t lo, int64_t hi) {
      return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
    };
    typename TestFixture::Queue q(kCapacity, this->At(0), kMaxRanges);
    Model model;
    model.capacity = kCapacity;
    model.max_ranges = kMaxRanges;
    this->delivered_.clear();
    // How often each interesting case came up, so the walk is known to exercise them all.
    std::map<ReassemblyRefusal, int> refusals;
    int inconsistent = 0;
    int merged_delivery = 0;
    for (int step = 0; step < 3000; ++step) {
      int64_t start;
      const int64_t kind = uniform(0, 9);
      if (kind < 2) {
        start = static_cast<int64_t>(model.next);  // in order
      } else if (kind < 3) {
        start = static_cast<int64_t>(model.next) - uniform(1, 300);  // partly or wholly old
      } else {
        start = static_cast<int64_t>(model.next) + uniform(1, kCapacity + 200);
      }
      if (start < 0) start = 0;
      const size_t len = static_cast<size_t>(uniform(1, 300));
      std::vector<uint8_t> bytes = RefBytes(static_cast<uint64_t>(start), len);
      if (uniform(0, 9) == 0) {  // a retransmission with changed bytes
        for (int k = 0; k < 5; ++k) bytes[static_cast<size_t>(uniform(0, len - 1))] ^= 0x5a;
      }
      const uint64_t pos = static_cast<uint64_t>(start);
      const auto want = model.Insert(pos, bytes);
      const auto got = this->Put(q, pos, bytes);
      ASSERT_EQ(got.delivered, want.delivered) << "step " << step;
      ASSERT_EQ(got.stored, want.stored) << "step " << step;
      ASSERT_EQ(got.duplicate, want.duplicate) << "step " << step;
      ASSERT_EQ(got.inconsistent, want.inconsistent) << "step " << step;
      ASSERT_EQ(got.refused, want.refused) << "step " << step;
      ASSERT_EQ(got.refusal, want.refusal) << "step " << step;
      ASSERT_EQ(got.dsack.has_value(), want.dsack.has_value()) << "step " << step;
      if (got.dsack) {
        ASSERT_EQ(*got.dsack, this->R(want.dsack->first, want.dsack->second)) << "step " << step;
      }
      ASSERT_LE(got.stored + got.duplicate + got.refused, len);
      ++refusals[got.refusal];
      inconsistent += got.inconsistent > 0 ? 1 : 0;
      merged_delivery += got.delivered > len ? 1 : 0;
      ASSERT_EQ(q.next(), this->At(model.next)) << "step " << step;
      ASSERT_EQ(q.held_bytes(), model.held.size()) << "step " << step;
      std::vector<typename TestFixture::Range> runs;
      for (const auto& [s, e] : model.Runs()) runs.push_back(this->R(s, e));
      ASSERT_EQ(this->Held(q), runs) << "step " << step;
      std::vector<typename TestFixture::Range> sacks;
      for (const auto& [s, e] : model.Sacks(4)) sacks.push_back(this->R(s, e));
      ASSERT_EQ(this->Sacks(q), sacks) << "step " << step;
    }
    ASSERT_EQ(this->delivered_, model.delivered);
    EXPECT_GT(model.next, 20000u);  // the walk made progress (and crossed the wrap)
    EXPECT_GT(refusals[ReassemblyRefusal::kCapacity], 10);
    EXPECT_GT(refusals[ReassemblyRefusal::kTooManyRanges], 10);
    EXPECT_GT(inconsistent, 10);
    EXPECT_GT(merged_delivery, 10);
  }
}

TEST(ReassemblyRefusal, Names) {
  EXPECT_EQ(ReassemblyRefusalName(ReassemblyRefusal::kNone), "none");
  EXPECT_EQ(ReassemblyRefusalName(ReassemblyRefusal::kCapacity), "capacity");
  EXPECT_EQ(ReassemblyRefusalName(ReassemblyRefusal::kTooManyRanges), "too_many_ranges");
}

}  // namespace
}  // namespace braid::tcp
