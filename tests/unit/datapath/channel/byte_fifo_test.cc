#include "datapath/channel/byte_fifo.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

namespace braid::channel {
namespace {

uint8_t PatternByte(uint64_t position) {
  return static_cast<uint8_t>(position ^ (position >> 8) ^ (position >> 16) ^ (position >> 61));
}

std::vector<uint8_t> Pattern(uint64_t from, size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = PatternByte(from + i);
  return v;
}

// A FIFO in private memory whose data area is a heap block of exactly `capacity` bytes, so that
// AddressSanitizer catches any access outside it.
class FifoTest : public ::testing::Test {
 protected:
  static constexpr uint32_t kCapacity = 4096;
  void SetUp() override {
    data_ = std::make_unique<uint8_t[]>(kCapacity);
    indices_ = std::make_unique<FifoIndices>();
  }
  FifoWriter Writer() { return {indices_.get(), data_.get(), kCapacity, false}; }
  FifoReader Reader() { return {indices_.get(), data_.get(), kCapacity, false}; }

  std::unique_ptr<uint8_t[]> data_;
  std::unique_ptr<FifoIndices> indices_;
};

TEST_F(FifoTest, WritesAndReadsWithPartialWrites) {
  auto w = Writer();
  auto r = Reader();
  EXPECT_EQ(r.Readable(), 0u);
  EXPECT_EQ(w.Writable(), kCapacity);
  const std::vector<uint8_t> big = Pattern(0, kCapacity + 100);
  const FifoResult wrote = w.Write(big);
  EXPECT_EQ(wrote.bytes, kCapacity);  // a partial write: what fits
  EXPECT_TRUE(wrote.transition);      // empty -> non-empty
  EXPECT_FALSE(wrote.corrupt);
  EXPECT_EQ(w.Write(big).bytes, 0u);
  EXPECT_EQ(w.Writable(), 0u);
  EXPECT_EQ(r.Readable(), kCapacity);

  std::vector<uint8_t> out(1000);
  FifoResult read = r.Read(out);
  EXPECT_EQ(read.bytes, 1000u);
  EXPECT_TRUE(read.transition);  // was full
  EXPECT_EQ(out, Pattern(0, 1000));
  read = r.Read(out);
  EXPECT_FALSE(read.transition);  // was no longer full
  EXPECT_EQ(out, Pattern(1000, 1000));

  // Writing into a non-empty FIFO is not a transition.
  const FifoResult more = w.Write(std::vector<uint8_t>(10));
  EXPECT_EQ(more.bytes, 10u);
  EXPECT_FALSE(more.transition);
  EXPECT_EQ(w.position(), kCapacity + 10u);
  EXPECT_EQ(r.position(), 2000u);
}

TEST_F(FifoTest, TwoSpanViewsAtTheWrap) {
  auto w = Writer();
  auto r = Reader();
  // Move both positions to 100 bytes before the end of the area.
  const uint64_t near_end = kCapacity - 100;
  ASSERT_EQ(w.Write(Pattern(0, near_end)).bytes, near_end);
  ASSERT_EQ(r.Consume(near_end).bytes, near_end);

  // The spans show the free space as last seen: WritableSpans alone only refreshes that view
  // when it shows none, Writable() always does.
  EXPECT_EQ(w.WritableSpans().size(), 100u);
  EXPECT_EQ(w.Writable(), kCapacity);
  const FifoWriteSpans free = w.WritableSpans();
  ASSERT_EQ(free.first.size(), 100u);
  ASSERT_EQ(free.second.size(), kCapacity - 100u);
  EXPECT_EQ(free.first.data(), data_.get() + near_end);
  EXPECT_EQ(free.second.data(), data_.get());
  const std::vector<uint8_t> bytes = Pattern(near_end, 300);
  std::memcpy(free.first.data(), bytes.data(), 100);
  std::memcpy(free.second.data(), bytes.data() + 100, 200);
  const FifoResult committed = w.Commit(300);
  EXPECT_EQ(committed.bytes, 300u);
  EXPECT_TRUE(committed.transition);

  const FifoReadSpans waiting = r.ReadableSpans();
  ASSERT_EQ(waiting.first.size(), 100u);
  ASSERT_EQ(waiting.second.size(), 200u);
  EXPECT_EQ(std::memcmp(waiting.first.data(), bytes.data(), 100), 0);
  EXPECT_EQ(std::memcmp(waiting.second.data(), bytes.data() + 100, 200), 0);
  EXPECT_EQ(r.Consume(150).bytes, 150u);
  const FifoReadSpans rest = r.ReadableSpans();
  EXPECT_EQ(rest.first.size(), 150u);
  EXPECT_TRUE(rest.second.empty());
  // Commit and Consume are clamped to what there is.
  EXPECT_EQ(r.Consume(1000).bytes, 150u);
  EXPECT_EQ(r.Consume(1).bytes, 0u);
  EXPECT_EQ(w.Commit(kCapacity + 1).bytes, kCapacity);
}

// Positions are free-running u64: start just below 2^64 and stream across it.
TEST_F(FifoTest, PositionsWrapAt2To64) {
  const uint64_t start = std::numeric_limits<uint64_t>::max() - 5000;
  ResetFifo(*indices_, start);
  auto w = Writer();
  auto r = Reader();
  std::mt19937 rng(3);
  uint64_t written = 0;
  uint64_t read = 0;
  constexpr uint64_t kTotal = 40000;
  std::vector<uint8_t> out(3000);
  while (read < kTotal) {
    const size_t n = std::min<uint64_t>(rng() % 3000 + 1, kTotal - written);
    written += w.Write(Pattern(start + written, n)).bytes;
    const FifoResult got = r.Read(std::span<uint8_t>(out.data(), rng() % out.size() + 1));
    ASSERT_FALSE(got.corrupt);
    ASSERT_EQ(std::vector<uint8_t>(out.begin(), out.begin() + got.bytes),
              Pattern(start + read, got.bytes));
    read += got.bytes;
  }
  EXPECT_EQ(w.position(), start + kTotal);  // wrapped past zero
  EXPECT_LT(w.position(), start);
}

TEST_F(FifoTest, DetachedEndpointsAreCorrupt) {
  FifoWriter w;
  FifoReader r;
  EXPECT_TRUE(w.corrupt());
  EXPECT_TRUE(w.Write(std::vector<uint8_t>(4)).corrupt);
  EXPECT_EQ(w.WritableSpans().size(), 0u);
  EXPECT_TRUE(r.Consume(1).corrupt);
  FifoWriter odd(indices_.get(), data_.get(), 3000, false);
  EXPECT_TRUE(odd.corrupt());
}

// The reader owns `read`; a hostile reader writes impossible positions.
TEST_F(FifoTest, WriterDetectsImpossibleReaderPosition) {
  for (uint64_t start : {uint64_t{0}, std::numeric_limits<uint64_t>::max() - 10}) {
    // Beyond the write position, at construction.
    ResetFifo(*indices_, start);
    indices_->read.store(start + 1);
    auto w = Writer();
    EXPECT_TRUE(w.corrupt());
    EXPECT_EQ(w.Write(Pattern(0, 10)).bytes, 0u);
    EXPECT_EQ(indices_->write.load(), start);

    // Beyond the write position, seen when the writer refreshes a full view.
    ResetFifo(*indices_, start);
    auto w2 = Writer();
    ASSERT_EQ(w2.Write(Pattern(0, kCapacity)).bytes, kCapacity);
    indices_->read.store(start + kCapacity + 1);
    EXPECT_EQ(w2.Writable(), 0u);
    EXPECT_TRUE(w2.corrupt());
    indices_->read.store(start + kCapacity);  // a plausible value later changes nothing
    EXPECT_TRUE(w2.Write(Pattern(0, 1)).corrupt);
    EXPECT_EQ(w2.WritableSpans().size(), 0u);

    // Moving backwards: seen by the refresh after a commit.
    ResetFifo(*indices_, start);
    auto w3 = Writer();
    auto r3 = Reader();
    ASSERT_EQ(w3.Write(Pattern(0, 100)).bytes, 100u);
    ASSERT_EQ(r3.Consume(50).bytes, 50u);
    EXPECT_EQ(w3.Writable(), kCapacity - 50u);
    indices_->read.store(start + 10);
    const FifoResult result = w3.Write(Pattern(0, 5));
    EXPECT_TRUE(result.corrupt);  // the 5 bytes went in; the refresh after them failed
    EXPECT_TRUE(w3.Write(Pattern(0, 5)).corrupt);
    EXPECT_EQ(w3.Writable(), 0u);
  }
}

// The writer owns `write`; a hostile writer writes impossible positions.
TEST_F(FifoTest, ReaderDetectsImpossibleWriterPosition) {
  for (uint64_t start : {uint64_t{0}, std::numeric_limits<uint64_t>::max() - 10}) {
    std::vector<uint8_t> out(64, 0xee);
    // More than a FIFO's worth waiting.
    ResetFifo(*indices_, start);
    indices_->write.store(start + kCapacity + 1);
    auto r = Reader();
    EXPECT_TRUE(r.corrupt());
    EXPECT_EQ(r.Read(out).bytes, 0u);
    EXPECT_EQ(out, std::vector<uint8_t>(64, 0xee));  // nothing copied
    EXPECT_EQ(indices_->read.load(), start);

    // Behind the reader.
    ResetFifo(*indices_, start);
    indices_->write.store(start - 1);
    EXPECT_TRUE(Reader().corrupt());

    // Moving backwards after the reader saw it.
    ResetFifo(*indices_, start);
    auto w = Writer();
    auto r2 = Reader();
    ASSERT_EQ(w.Write(Pattern(0, 40)).bytes, 40u);
    EXPECT_EQ(r2.Readable(), 40u);
    indices_->write.store(start + 20);
    EXPECT_EQ(r2.Readable(), 0u);
    EXPECT_TRUE(r2.corrupt());
    EXPECT_EQ(r2.ReadableSpans().size(), 0u);
    EXPECT_TRUE(r2.Consume(1).corrupt);
  }
}

// A hostile peer rewriting its position between every operation: results stay within the
// capacity and all accesses within the data block (AddressSanitizer watches it).
TEST_F(FifoTest, RandomPeerPositionsNeverEscapeTheArea) {
  std::mt19937_64 rng(11);
  int corrupt = 0;
  std::vector<uint8_t> buffer(2 * kCapacity);
  for (int round = 0; round < 1000; ++round) {
    ResetFifo(*indices_, rng());
    auto w = Writer();
    auto r = Reader();
    for (int step = 0; step < 8; ++step) {
      if (rng() % 3 == 0) indices_->read.store(indices_->read.load() + rng() % 9000 - 4500);
      if (rng() % 3 == 0) indices_->write.store(rng());
      const FifoResult wrote = w.Write(std::span<uint8_t>(buffer.data(), rng() % buffer.size()));
      const FifoResult got = r.Read(std::span<uint8_t>(buffer.data(), rng() % buffer.size()));
      EXPECT_LE(wrote.bytes, kCapacity);
      EXPECT_LE(got.bytes, kCapacity);
      const FifoReadSpans spans = r.ReadableSpans();
      EXPECT_LE(spans.size(), kCapacity);
      // Reading every byte of the spans must stay inside the block.
      volatile uint64_t sum = 0;
      for (uint8_t b : spans.first) sum = sum + b;
      for (uint8_t b : spans.second) sum = sum + b;
      const FifoWriteSpans free = w.WritableSpans();
      EXPECT_LE(free.size(), kCapacity);
      if (!free.first.empty()) free.first.back() = 1;
      if (!free.second.empty()) free.second.back() = 1;
      corrupt += w.corrupt() + r.corrupt();
    }
  }
  EXPECT_GT(corrupt, 0);
}

TEST_F(FifoTest, ThreadsStreamBytesExactly) {
  constexpr uint64_t kTotal = 1 << 20;
  auto w = Writer();
  auto r = Reader();
  std::thread writer([&] {
    std::mt19937 rng(5);
    uint64_t at = 0;
    while (at < kTotal) {
      // Alternate copying writes and zero-copy commits.
      std::this_thread::yield();  // on a busy machine, spinning would starve the reader
      if (rng() % 2) {
        const size_t n = std::min<uint64_t>(rng() % 5000 + 1, kTotal - at);
        const FifoResult f = w.Write(Pattern(at, n));
        if (f.corrupt) return;
        at += f.bytes;
      } else {
        const FifoWriteSpans spans = w.WritableSpans();
        size_t n = std::min<uint64_t>(spans.size(), kTotal - at);
        n = std::min<size_t>(n, rng() % 5000 + 1);
        for (size_t i = 0; i < n; ++i) {
          (i < spans.first.size() ? spans.first[i] : spans.second[i - spans.first.size()]) =
              PatternByte(at + i);
        }
        at += w.Commit(n).bytes;
      }
    }
  });
  uint64_t at = 0;
  bool exact = true;
  std::vector<uint8_t> out(3000);
  while (at < kTotal) {
    const FifoResult f = r.Read(out);
    ASSERT_FALSE(f.corrupt);
    if (f.bytes == 0) std::this_thread::yield();
    for (size_t i = 0; i < f.bytes; ++i) exact &= out[i] == PatternByte(at + i);
    at += f.bytes;
  }
  writer.join();
  EXPECT_TRUE(exact);
}

}  // namespace
}  // namespace braid::channel
