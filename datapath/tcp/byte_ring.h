// A fixed-capacity FIFO of bytes in one allocation made at construction: the storage behind a
// connection's send and receive buffers (send_buffer.h, receive_buffer.h). Nothing is allocated
// afterwards; a write takes what fits, and a read may return the bytes as two pieces where the
// ring wraps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace braid::tcp {

// [offset, offset + len) of a ring's contents, in at most two pieces.
struct RingPieces {
  std::span<const uint8_t> head;
  std::span<const uint8_t> tail;
  size_t size() const { return head.size() + tail.size(); }
};

class ByteRing {
 public:
  // `capacity` of at least 1 byte.
  explicit ByteRing(size_t capacity);

  ByteRing(const ByteRing&) = delete;
  ByteRing& operator=(const ByteRing&) = delete;

  size_t capacity() const { return capacity_; }
  size_t size() const { return size_; }
  size_t free() const { return capacity_ - size_; }
  bool empty() const { return size_ == 0; }

  // Copies as many bytes of `bytes` as fit after the newest one; returns how many.
  size_t Append(std::span<const uint8_t> bytes);
  // The bytes [offset, offset + len) counted from the oldest, clamped to what is held.
  RingPieces Peek(size_t offset, size_t len) const;
  // Copies up to out.size() of the oldest bytes into `out` and drops them; returns how many.
  size_t Read(std::span<uint8_t> out);
  // Drops the `n` oldest bytes (at most size()).
  void Consume(size_t n);
  // Drops everything.
  void Clear() {
    head_ = 0;
    size_ = 0;
  }

 private:
  std::unique_ptr<uint8_t[]> bytes_;
  size_t capacity_;
  size_t head_ = 0;  // index of the oldest byte
  size_t size_ = 0;
};

}  // namespace braid::tcp
