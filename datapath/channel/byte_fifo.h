// Single-producer single-consumer byte FIFOs in shared memory: a socket's TX bytes (app writes,
// service reads) and RX bytes (service writes, app reads).
//
// Indices are free-running u64 byte positions (the byte lives at `position & (capacity - 1)`).
// As in spsc_ring.h each side keeps its own index privately, stores it to its own cache line,
// and reads the peer's once per refresh with an acquire load, checks it and caches it. A peer
// index that is impossible (more than `capacity` bytes in flight, or moving backwards) makes the
// endpoint corrupt for good: FifoResult::corrupt, nothing more read or written. Every access is
// masked into the data area, so no index value reaches memory outside it.
//
// Doorbells: Commit/Write and Consume/Read end with a full fence and a fresh read of the peer's
// index, and report a `transition` — the writer that the reader had taken every byte before
// this commit (the FIFO went empty -> non-empty, a reader may be waiting for bytes), the reader
// that the FIFO was full before this consume (a writer may be waiting for space). Because the
// check follows the publish and a full fence, it pairs exactly with the sleeper's "flag, fence,
// re-check" (doorbell.h): a peer that saw the FIFO empty (or full) and went to sleep is always
// reported here, so ringing only on a transition loses no wake-up.
//
// Zero-copy spans over an untrusted peer's memory may change under the reader: copy them, never
// parse them in place.
#pragma once

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "datapath/channel/shm.h"

namespace braid::channel {

// The shared part of a FIFO: the two byte positions, each on its own cache line.
struct FifoIndices {
  alignas(kCacheLineBytes) std::atomic<uint64_t> read;   // next byte to read; the reader's
  alignas(kCacheLineBytes) std::atomic<uint64_t> write;  // next byte to write; the writer's
};
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(sizeof(FifoIndices) == 2 * kCacheLineBytes);
static_assert(offsetof(FifoIndices, write) == kCacheLineBytes);

// Empties the FIFO at `position`. Only for a FIFO neither side is using (a slot being set up).
inline void ResetFifo(FifoIndices& indices, uint64_t position) {
  indices.write.store(position, std::memory_order_relaxed);
  indices.read.store(position, std::memory_order_release);
}

struct FifoResult {
  size_t bytes = 0;         // bytes written, committed, read or consumed
  bool transition = false;  // writer: was empty before; reader: was full before
  bool corrupt = false;     // the peer's index is impossible; the endpoint is dead
};

// Free space (writer) or waiting bytes (reader) as at most two pieces: `second` is non-empty
// only where the area wraps.
struct FifoWriteSpans {
  std::span<uint8_t> first;
  std::span<uint8_t> second;
  size_t size() const { return first.size() + second.size(); }
};
struct FifoReadSpans {
  std::span<const uint8_t> first;
  std::span<const uint8_t> second;
  size_t size() const { return first.size() + second.size(); }
};

class FifoWriter {
 public:
  // A detached writer: corrupt, writes nothing.
  FifoWriter() = default;
  // `data` holds `capacity` bytes, a power of two; anything else gives a detached writer.
  // Continues from the write position found in shared memory and checks the reader's.
  FifoWriter(FifoIndices* indices, uint8_t* data, uint32_t capacity, bool trusted_peer)
      : indices_(indices), data_(data), capacity_(capacity), trusted_peer_(trusted_peer) {
    if (indices == nullptr || data == nullptr || !IsPowerOfTwo(capacity)) return;
    write_ = indices_->write.load(std::memory_order_relaxed);
    read_ = write_ - capacity_;  // a full FIFO accepts every possible reader position
    corrupt_ = false;
    RefreshRead();
  }

  uint32_t capacity() const { return capacity_; }
  bool corrupt() const { return corrupt_; }
  // Bytes written since the FIFO's position 0 (modulo 2^64).
  uint64_t position() const { return write_; }

  // Free space, after reading the reader's position (0 once corrupt).
  size_t Writable() { return corrupt_ || !RefreshRead() ? 0 : FreeCached(); }

  // The free space as the writer last saw it (refreshed when that was none): fill a prefix,
  // then Commit it.
  FifoWriteSpans WritableSpans() {
    if (corrupt_ || (FreeCached() == 0 && !RefreshRead())) return {};
    const size_t free = FreeCached();
    const size_t offset = write_ & (capacity_ - 1);
    const size_t first = std::min(free, capacity_ - offset);
    return {{data_ + offset, first}, {data_, free - first}};
  }

  // Publishes the next `n` bytes of the free space (clamped to it).
  FifoResult Commit(size_t n) {
    if (corrupt_ || (FreeCached() < n && !RefreshRead())) return {0, false, true};
    n = std::min(n, FreeCached());
    if (n == 0) return {};
    const uint64_t before = write_;
    write_ += n;
    indices_->write.store(write_, std::memory_order_release);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (!RefreshRead()) return {n, false, true};
    return {n, read_ == before, false};
  }

  // Copies as much of `bytes` as fits and publishes it.
  FifoResult Write(std::span<const uint8_t> bytes) {
    if (corrupt_) return {0, false, true};
    if (FreeCached() < bytes.size() && !RefreshRead()) return {0, false, true};
    const FifoWriteSpans spans = WritableSpans();
    const size_t n = std::min(bytes.size(), spans.size());
    const size_t first = std::min(n, spans.first.size());
    if (first > 0) std::memcpy(spans.first.data(), bytes.data(), first);
    if (n > first) std::memcpy(spans.second.data(), bytes.data() + first, n - first);
    return Commit(n);
  }

 private:
  size_t FreeCached() const { return capacity_ - (write_ - read_); }

  bool RefreshRead() {
    const uint64_t read = indices_->read.load(std::memory_order_acquire);
    // The reader moves forward from the cached position and never passes the writer.
    if (write_ - read > write_ - read_) {
      assert(!trusted_peer_ && "FIFO reader position is impossible");
      corrupt_ = true;
      return false;
    }
    read_ = read;
    return true;
  }

  FifoIndices* indices_ = nullptr;
  uint8_t* data_ = nullptr;
  uint32_t capacity_ = 0;
  uint64_t write_ = 0;  // private truth of the writer's position
  uint64_t read_ = 0;   // last valid reader position seen
  bool trusted_peer_ = false;
  bool corrupt_ = true;
};

class FifoReader {
 public:
  // A detached reader: corrupt, reads nothing.
  FifoReader() = default;
  // As FifoWriter: continues from the read position found in shared memory.
  FifoReader(FifoIndices* indices, const uint8_t* data, uint32_t capacity, bool trusted_peer)
      : indices_(indices), data_(data), capacity_(capacity), trusted_peer_(trusted_peer) {
    if (indices == nullptr || data == nullptr || !IsPowerOfTwo(capacity)) return;
    read_ = indices_->read.load(std::memory_order_relaxed);
    write_ = read_;  // empty: every writer position in [read, read + capacity] passes
    corrupt_ = false;
    RefreshWrite();
  }

  uint32_t capacity() const { return capacity_; }
  bool corrupt() const { return corrupt_; }
  // Bytes read since the FIFO's position 0 (modulo 2^64).
  uint64_t position() const { return read_; }

  // Waiting bytes, after reading the writer's position (0 once corrupt).
  size_t Readable() { return corrupt_ || !RefreshWrite() ? 0 : AvailableCached(); }

  // The waiting bytes as the reader last saw them (refreshed when that was none): use a prefix,
  // then Consume it.
  FifoReadSpans ReadableSpans() {
    if (corrupt_ || (AvailableCached() == 0 && !RefreshWrite())) return {};
    const size_t available = AvailableCached();
    const size_t offset = read_ & (capacity_ - 1);
    const size_t first = std::min(available, capacity_ - offset);
    return {{data_ + offset, first}, {data_, available - first}};
  }

  // Releases the next `n` waiting bytes (clamped to them) to the writer.
  FifoResult Consume(size_t n) {
    if (corrupt_ || (AvailableCached() < n && !RefreshWrite())) return {0, false, true};
    n = std::min(n, AvailableCached());
    if (n == 0) return {};
    const uint64_t before = read_;
    read_ += n;
    indices_->read.store(read_, std::memory_order_release);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (!RefreshWrite()) return {n, false, true};
    return {n, write_ - before == capacity_, false};
  }

  // Copies up to out.size() waiting bytes into `out` and consumes them.
  FifoResult Read(std::span<uint8_t> out) {
    if (corrupt_) return {0, false, true};
    if (AvailableCached() < out.size() && !RefreshWrite()) return {0, false, true};
    const FifoReadSpans spans = ReadableSpans();
    const size_t n = std::min(out.size(), spans.size());
    const size_t first = std::min(n, spans.first.size());
    if (first > 0) CopyFromShared(out.data(), spans.first.data(), first);
    if (n > first) CopyFromShared(out.data() + first, spans.second.data(), n - first);
    return Consume(n);
  }

 private:
  size_t AvailableCached() const { return write_ - read_; }

  bool RefreshWrite() {
    const uint64_t write = indices_->write.load(std::memory_order_acquire);
    // The writer moves forward from the cached position, at most capacity ahead of the reader.
    const uint64_t available = write - read_;
    if (available > capacity_ || available < write_ - read_) {
      assert(!trusted_peer_ && "FIFO writer position is impossible");
      corrupt_ = true;
      return false;
    }
    write_ = write;
    return true;
  }

  FifoIndices* indices_ = nullptr;
  const uint8_t* data_ = nullptr;
  uint32_t capacity_ = 0;
  uint64_t read_ = 0;   // private truth of the reader's position
  uint64_t write_ = 0;  // last valid writer position seen
  bool trusted_peer_ = false;
  bool corrupt_ = true;
};

}  // namespace braid::channel
