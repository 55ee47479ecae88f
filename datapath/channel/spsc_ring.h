// Single-producer single-consumer rings of fixed-size records in shared memory, the producer in
// one process and the consumer in the other (the channel's command and event rings).
//
// Indices are free-running u32 counters (the slot is `index & (capacity - 1)`), so a full ring
// and an empty one differ and the wrap at 2^32 needs no special case. Each side keeps its own
// index in private memory and only ever stores it to the shared line; the other side's index is
// read with one acquire load, checked against what is possible, and cached, so a side reads the
// peer's cache line only when its cached view says the ring is full (producer) or empty
// (consumer).
//
// The peer may be hostile (an app writing anything into its region). A peer index that is
// impossible — more records in flight than the capacity, or an index moving backwards — makes
// the endpoint corrupt: that call and every later one return kCorrupt, and nothing is read or
// written. Every slot touched is masked into the ring, so no index value can reach memory
// outside it. With `trusted_peer` (the app's view of the service) an impossible index is a bug
// in the peer and also asserts in debug builds.
//
// Ordering: the producer copies records in, then stores its index with release; the consumer
// loads that index with acquire, copies records out (CopyFromShared: no double fetch), then
// stores its own index with release. Waking a sleeping peer is separate (doorbell.h: call
// WakePeer after a batch).
#pragma once

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>

#include "datapath/channel/shm.h"

namespace braid::channel {

// The shared part of a ring: the two indices, each on its own cache line.
struct RingIndices {
  alignas(kCacheLineBytes) std::atomic<uint32_t> head;  // next record to take; the consumer's
  alignas(kCacheLineBytes) std::atomic<uint32_t> tail;  // next record to fill; the producer's
};
static_assert(std::atomic<uint32_t>::is_always_lock_free);
static_assert(sizeof(RingIndices) == 2 * kCacheLineBytes);
static_assert(offsetof(RingIndices, tail) == kCacheLineBytes);

enum class RingStatus : uint8_t {
  kOk,       // everything asked for was pushed / at least one record was popped
  kEmpty,    // nothing to pop
  kFull,     // not everything fitted (see RingBatch::count)
  kCorrupt,  // the peer's index is impossible; the endpoint is dead
};

inline const char* RingStatusName(RingStatus s) {
  switch (s) {
    case RingStatus::kOk:
      return "ok";
    case RingStatus::kEmpty:
      return "empty";
    case RingStatus::kFull:
      return "full";
    case RingStatus::kCorrupt:
      return "corrupt";
  }
  return "?";
}

struct RingBatch {
  RingStatus status = RingStatus::kOk;
  uint32_t count = 0;  // records pushed or popped
};

template <typename T>
class RingProducer {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  // A detached producer: every push reports kCorrupt.
  RingProducer() = default;
  // `records` holds `capacity` records, a power of two; anything else gives a detached producer.
  // The producer continues from the tail found in shared memory (its own index, so any value
  // is usable) and checks the consumer's head against it.
  RingProducer(RingIndices* indices, T* records, uint32_t capacity, bool trusted_peer)
      : indices_(indices), records_(records), capacity_(capacity), trusted_peer_(trusted_peer) {
    if (indices == nullptr || records == nullptr || !IsPowerOfTwo(capacity)) return;
    tail_ = indices_->tail.load(std::memory_order_relaxed);
    // The most pessimistic head (a full ring) accepts every possible head on the first read.
    head_ = tail_ - capacity_;
    corrupt_ = false;
    RefreshHead();
  }

  uint32_t capacity() const { return capacity_; }
  bool corrupt() const { return corrupt_; }

  RingStatus TryPush(const T& record) { return TryPushMany(std::span<const T>(&record, 1)).status; }

  // Pushes as many of `records` as fit, in order: kOk when all did, kFull otherwise.
  RingBatch TryPushMany(std::span<const T> records) {
    if (corrupt_) return {RingStatus::kCorrupt, 0};
    if (FreeCached() < records.size() && !RefreshHead()) return {RingStatus::kCorrupt, 0};
    const uint32_t n = static_cast<uint32_t>(std::min<size_t>(FreeCached(), records.size()));
    for (uint32_t i = 0; i < n; ++i) {
      std::memcpy(&records_[(tail_ + i) & (capacity_ - 1)], &records[i], sizeof(T));
    }
    if (n > 0) {
      tail_ += n;
      indices_->tail.store(tail_, std::memory_order_release);
    }
    return {n == records.size() ? RingStatus::kOk : RingStatus::kFull, n};
  }

  // Records pushed and not yet taken, after reading the consumer's index (0 once corrupt).
  uint32_t Size() { return corrupt_ || !RefreshHead() ? 0 : tail_ - head_; }
  // Records that can be pushed now, after reading the consumer's index (0 once corrupt).
  uint32_t Free() { return corrupt_ || !RefreshHead() ? 0 : FreeCached(); }

 private:
  uint32_t FreeCached() const { return capacity_ - (tail_ - head_); }

  bool RefreshHead() {
    const uint32_t head = indices_->head.load(std::memory_order_acquire);
    // The head moves forward from the cached one and never passes the tail.
    if (static_cast<uint32_t>(tail_ - head) > tail_ - head_) {
      assert(!trusted_peer_ && "ring consumer index is impossible");
      corrupt_ = true;
      return false;
    }
    head_ = head;
    return true;
  }

  RingIndices* indices_ = nullptr;
  T* records_ = nullptr;
  uint32_t capacity_ = 0;
  uint32_t tail_ = 0;  // private truth of the producer's index
  uint32_t head_ = 0;  // last valid consumer index seen
  bool trusted_peer_ = false;
  bool corrupt_ = true;
};

template <typename T>
class RingConsumer {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  // A detached consumer: every pop reports kCorrupt.
  RingConsumer() = default;
  // As RingProducer: continues from the head found in shared memory and checks the tail.
  RingConsumer(RingIndices* indices, const T* records, uint32_t capacity, bool trusted_peer)
      : indices_(indices), records_(records), capacity_(capacity), trusted_peer_(trusted_peer) {
    if (indices == nullptr || records == nullptr || !IsPowerOfTwo(capacity)) return;
    head_ = indices_->head.load(std::memory_order_relaxed);
    tail_ = head_;  // empty: every tail in [head, head + capacity] passes the first check
    corrupt_ = false;
    RefreshTail();
  }

  uint32_t capacity() const { return capacity_; }
  bool corrupt() const { return corrupt_; }

  // Copies the oldest record into `out`: kOk, kEmpty or kCorrupt.
  RingStatus TryPop(T& out) { return PopMany(std::span<T>(&out, 1)).status; }

  // Copies up to out.size() of the oldest records into `out`: kOk with the count, kEmpty when
  // there was none, kCorrupt.
  RingBatch PopMany(std::span<T> out) {
    if (corrupt_) return {RingStatus::kCorrupt, 0};
    if (tail_ - head_ < out.size() && !RefreshTail()) return {RingStatus::kCorrupt, 0};
    const uint32_t n = static_cast<uint32_t>(std::min<size_t>(tail_ - head_, out.size()));
    if (n == 0) return {out.empty() ? RingStatus::kOk : RingStatus::kEmpty, 0};
    for (uint32_t i = 0; i < n; ++i) {
      CopyFromShared(&out[i], &records_[(head_ + i) & (capacity_ - 1)], sizeof(T));
    }
    head_ += n;
    indices_->head.store(head_, std::memory_order_release);
    return {RingStatus::kOk, n};
  }

  // Records waiting, after reading the producer's index (0 once corrupt).
  uint32_t Size() { return corrupt_ || !RefreshTail() ? 0 : tail_ - head_; }

 private:
  bool RefreshTail() {
    const uint32_t tail = indices_->tail.load(std::memory_order_acquire);
    // The tail moves forward from the cached one and never gets more than capacity ahead.
    const uint32_t available = tail - head_;
    if (available > capacity_ || available < tail_ - head_) {
      assert(!trusted_peer_ && "ring producer index is impossible");
      corrupt_ = true;
      return false;
    }
    tail_ = tail;
    return true;
  }

  RingIndices* indices_ = nullptr;
  const T* records_ = nullptr;
  uint32_t capacity_ = 0;
  uint32_t head_ = 0;  // private truth of the consumer's index
  uint32_t tail_ = 0;  // last valid producer index seen
  bool trusted_peer_ = false;
  bool corrupt_ = true;
};

}  // namespace braid::channel
