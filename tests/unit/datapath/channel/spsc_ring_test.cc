#include "datapath/channel/spsc_ring.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <random>
#include <thread>
#include <vector>

namespace braid::channel {
namespace {

struct Rec {
  uint64_t seq;
  uint64_t check;
  bool operator==(const Rec&) const = default;
};

Rec Make(uint64_t seq) { return {seq, ~seq * 0x9e3779b97f4a7c15ull}; }

// A ring in private memory: the records live in a heap block of exactly `capacity` records, so
// AddressSanitizer catches any access outside it.
class RingTest : public ::testing::Test {
 protected:
  void SetUp() override { Allocate(8); }
  void Allocate(uint32_t capacity) {
    capacity_ = capacity;
    records_ = std::make_unique<Rec[]>(capacity);
    indices_ = std::make_unique<RingIndices>();
  }
  void StartAt(uint32_t index) {
    indices_->head.store(index);
    indices_->tail.store(index);
  }
  RingProducer<Rec> Producer() { return {indices_.get(), records_.get(), capacity_, false}; }
  RingConsumer<Rec> Consumer() { return {indices_.get(), records_.get(), capacity_, false}; }

  uint32_t capacity_ = 0;
  std::unique_ptr<Rec[]> records_;
  std::unique_ptr<RingIndices> indices_;
};

TEST_F(RingTest, PushesAndPopsInOrderUntilFullAndEmpty) {
  auto p = Producer();
  auto c = Consumer();
  Rec out{};
  EXPECT_EQ(c.TryPop(out), RingStatus::kEmpty);
  for (uint64_t i = 0; i < capacity_; ++i) ASSERT_EQ(p.TryPush(Make(i)), RingStatus::kOk);
  EXPECT_EQ(p.TryPush(Make(99)), RingStatus::kFull);
  EXPECT_EQ(p.Size(), capacity_);
  EXPECT_EQ(p.Free(), 0u);
  EXPECT_EQ(c.Size(), capacity_);
  for (uint64_t i = 0; i < capacity_; ++i) {
    ASSERT_EQ(c.TryPop(out), RingStatus::kOk);
    EXPECT_EQ(out, Make(i));
  }
  EXPECT_EQ(c.TryPop(out), RingStatus::kEmpty);
  EXPECT_EQ(p.Free(), capacity_);
  EXPECT_FALSE(p.corrupt());
  EXPECT_FALSE(c.corrupt());
}

TEST_F(RingTest, WrapsAroundManyTimesWithBatches) {
  auto p = Producer();
  auto c = Consumer();
  uint64_t pushed = 0;
  uint64_t popped = 0;
  std::mt19937 rng(1);
  std::vector<Rec> batch(5);
  std::vector<Rec> out(7);
  while (popped < 1000) {
    for (Rec& r : batch) r = Make(pushed + (&r - batch.data()));
    const size_t want = rng() % batch.size() + 1;
    const RingBatch b = p.TryPushMany(std::span<const Rec>(batch.data(), want));
    ASSERT_NE(b.status, RingStatus::kCorrupt);
    EXPECT_EQ(b.status == RingStatus::kOk, b.count == want);
    pushed += b.count;
    const RingBatch g = c.PopMany(std::span<Rec>(out.data(), rng() % out.size() + 1));
    ASSERT_NE(g.status, RingStatus::kCorrupt);
    for (uint32_t i = 0; i < g.count; ++i) ASSERT_EQ(out[i], Make(popped + i));
    popped += g.count;
    EXPECT_EQ(g.status == RingStatus::kEmpty, pushed == popped - g.count && g.count == 0);
  }
}

TEST_F(RingTest, PartialBatchReportsFullAndCount) {
  auto p = Producer();
  std::vector<Rec> batch(capacity_ + 3);
  for (size_t i = 0; i < batch.size(); ++i) batch[i] = Make(i);
  const RingBatch b = p.TryPushMany(batch);
  EXPECT_EQ(b.status, RingStatus::kFull);
  EXPECT_EQ(b.count, capacity_);
  EXPECT_EQ(p.TryPushMany({}).status, RingStatus::kOk);
  auto c = Consumer();
  std::vector<Rec> out(capacity_ * 2);
  const RingBatch g = c.PopMany(out);
  EXPECT_EQ(g.status, RingStatus::kOk);
  EXPECT_EQ(g.count, capacity_);
  EXPECT_EQ(c.PopMany(std::span<Rec>()).status, RingStatus::kOk);
}

// Indices are free-running u32: start just below 2^32 and cross it.
TEST_F(RingTest, IndicesWrapAt2To32) {
  StartAt(0xfffffffdu);
  auto p = Producer();
  auto c = Consumer();
  Rec out{};
  for (uint64_t i = 0; i < 50; ++i) {
    ASSERT_EQ(p.TryPush(Make(i)), RingStatus::kOk);
    ASSERT_EQ(p.TryPush(Make(i + 1000)), RingStatus::kOk);
    ASSERT_EQ(c.TryPop(out), RingStatus::kOk);
    ASSERT_EQ(out, Make(i));
    ASSERT_EQ(c.TryPop(out), RingStatus::kOk);
    ASSERT_EQ(out, Make(i + 1000));
  }
  EXPECT_LT(indices_->tail.load(), 100u);  // wrapped
  // Full across the wrap.
  StartAt(0xfffffffeu);
  auto p2 = Producer();
  for (uint64_t i = 0; i < capacity_; ++i) ASSERT_EQ(p2.TryPush(Make(i)), RingStatus::kOk);
  EXPECT_EQ(p2.TryPush(Make(0)), RingStatus::kFull);
  auto c2 = Consumer();
  EXPECT_EQ(c2.Size(), capacity_);
}

TEST_F(RingTest, DetachedEndpointsReportCorrupt) {
  RingProducer<Rec> p;
  RingConsumer<Rec> c;
  Rec out{};
  EXPECT_EQ(p.TryPush(Make(1)), RingStatus::kCorrupt);
  EXPECT_EQ(c.TryPop(out), RingStatus::kCorrupt);
  RingProducer<Rec> not_power_of_two(indices_.get(), records_.get(), 6, false);
  EXPECT_EQ(not_power_of_two.TryPush(Make(1)), RingStatus::kCorrupt);
  RingConsumer<Rec> zero(indices_.get(), records_.get(), 0, false);
  EXPECT_EQ(zero.TryPop(out), RingStatus::kCorrupt);
  EXPECT_STREQ(RingStatusName(RingStatus::kCorrupt), "corrupt");
}

// The consumer owns head; a hostile consumer writes impossible heads.
TEST_F(RingTest, ProducerDetectsImpossibleConsumerIndex) {
  for (uint32_t start : {0u, 0xfffffffcu}) {
    // A head beyond the tail, seen when the producer first looks.
    StartAt(start);
    indices_->head.store(start + 1);
    auto p = Producer();
    EXPECT_TRUE(p.corrupt());
    EXPECT_EQ(p.TryPush(Make(1)), RingStatus::kCorrupt);
    EXPECT_EQ(indices_->tail.load(), start);  // nothing written

    // A head beyond the tail, seen when the producer refreshes a full view.
    StartAt(start);
    auto p2 = Producer();
    for (uint64_t i = 0; i < capacity_; ++i) ASSERT_EQ(p2.TryPush(Make(i)), RingStatus::kOk);
    indices_->head.store(start + capacity_ + 5);
    EXPECT_EQ(p2.TryPush(Make(1)), RingStatus::kCorrupt);
    EXPECT_EQ(p2.Free(), 0u);
    // Sticky: a plausible head later does not revive it.
    indices_->head.store(start + capacity_);
    EXPECT_EQ(p2.TryPush(Make(1)), RingStatus::kCorrupt);
    EXPECT_EQ(indices_->tail.load(), start + capacity_);

    // A head moving backwards.
    StartAt(start);
    auto p3 = Producer();
    auto c3 = Consumer();
    for (uint64_t i = 0; i < capacity_; ++i) ASSERT_EQ(p3.TryPush(Make(i)), RingStatus::kOk);
    Rec out{};
    for (int i = 0; i < 3; ++i) ASSERT_EQ(c3.TryPop(out), RingStatus::kOk);
    EXPECT_EQ(p3.Free(), 3u);
    indices_->head.store(start + 1);
    EXPECT_EQ(p3.Free(), 0u);
    EXPECT_TRUE(p3.corrupt());
    EXPECT_EQ(p3.TryPushMany(std::vector<Rec>(2)).status, RingStatus::kCorrupt);
  }
}

// The producer owns tail; a hostile producer writes impossible tails.
TEST_F(RingTest, ConsumerDetectsImpossibleProducerIndex) {
  for (uint32_t start : {0u, 0xfffffff9u}) {
    Rec out = Make(77);
    // More than a ring's worth in flight.
    StartAt(start);
    indices_->tail.store(start + capacity_ + 1);
    auto c = Consumer();
    EXPECT_TRUE(c.corrupt());
    EXPECT_EQ(c.TryPop(out), RingStatus::kCorrupt);
    EXPECT_EQ(out, Make(77));  // nothing copied
    EXPECT_EQ(indices_->head.load(), start);

    // A tail behind the head.
    StartAt(start);
    indices_->tail.store(start - 1);
    auto c2 = Consumer();
    EXPECT_EQ(c2.TryPop(out), RingStatus::kCorrupt);

    // A tail moving backwards after the consumer saw it.
    StartAt(start);
    auto p = Producer();
    auto c3 = Consumer();
    for (uint64_t i = 0; i < 4; ++i) ASSERT_EQ(p.TryPush(Make(i)), RingStatus::kOk);
    EXPECT_EQ(c3.Size(), 4u);
    indices_->tail.store(start + 2);
    // The cached view still holds 4: the first pops need no refresh...
    std::vector<Rec> many(8);
    const RingBatch b = c3.PopMany(many);
    // ...but asking for more than the cached view refreshes and finds the tail went back.
    EXPECT_EQ(b.status, RingStatus::kCorrupt);
    EXPECT_EQ(c3.Size(), 0u);
    EXPECT_EQ(c3.TryPop(out), RingStatus::kCorrupt);
  }
}

// Random indices written by a hostile peer between operations: every call returns a valid
// status and touches only the records block (AddressSanitizer watches it).
TEST_F(RingTest, RandomPeerIndicesNeverEscapeTheRing) {
  std::mt19937 rng(7);
  int corrupt = 0;
  for (int round = 0; round < 2000; ++round) {
    StartAt(static_cast<uint32_t>(rng()));
    auto p = Producer();
    auto c = Consumer();
    std::vector<Rec> out(capacity_ + 2);
    for (int step = 0; step < 8; ++step) {
      switch (rng() % 4) {
        case 0:
          indices_->head.store(static_cast<uint32_t>(rng()));
          break;
        case 1:
          indices_->tail.store(indices_->tail.load() + rng() % (2 * capacity_ + 2) - capacity_);
          break;
        default:
          break;
      }
      const RingBatch pushed = p.TryPushMany(std::vector<Rec>(rng() % (capacity_ + 2)));
      const RingBatch popped = c.PopMany(std::span<Rec>(out.data(), rng() % out.size()));
      EXPECT_LE(pushed.count, capacity_);
      EXPECT_LE(popped.count, capacity_);
      corrupt += p.corrupt() + c.corrupt();
    }
  }
  EXPECT_GT(corrupt, 0);
}

TEST_F(RingTest, ThreadsStreamRecordsInOrder) {
  Allocate(64);
  auto p = Producer();
  auto c = Consumer();
  constexpr uint64_t kCount = 200000;
  std::thread producer([&] {
    std::vector<Rec> batch(16);
    uint64_t next = 0;
    while (next < kCount) {
      const size_t n = std::min<uint64_t>(batch.size(), kCount - next);
      for (size_t i = 0; i < n; ++i) batch[i] = Make(next + i);
      const RingBatch b = p.TryPushMany(std::span<const Rec>(batch.data(), n));
      if (b.status == RingStatus::kCorrupt) return;
      if (b.count == 0) std::this_thread::yield();  // a busy machine: let the consumer run
      next += b.count;
    }
  });
  std::vector<Rec> out(16);
  uint64_t expected = 0;
  bool in_order = true;
  while (expected < kCount) {
    const RingBatch b = c.PopMany(out);
    ASSERT_NE(b.status, RingStatus::kCorrupt);
    if (b.count == 0) std::this_thread::yield();
    for (uint32_t i = 0; i < b.count; ++i) in_order &= out[i] == Make(expected + i);
    expected += b.count;
  }
  producer.join();
  EXPECT_TRUE(in_order);
  EXPECT_FALSE(p.corrupt());
}

}  // namespace
}  // namespace braid::channel
