#include "datapath/tcp/byte_ring.h"

#include <algorithm>
#include <cstring>

namespace braid::tcp {

ByteRing::ByteRing(size_t capacity)
    : bytes_(std::make_unique_for_overwrite<uint8_t[]>(std::max<size_t>(capacity, 1))),
      capacity_(std::max<size_t>(capacity, 1)) {}

size_t ByteRing::Append(std::span<const uint8_t> bytes) {
  const size_t n = std::min(bytes.size(), free());
  if (n == 0) return 0;
  const size_t at = (head_ + size_) % capacity_;
  const size_t first = std::min(n, capacity_ - at);
  std::memcpy(bytes_.get() + at, bytes.data(), first);
  if (first < n) std::memcpy(bytes_.get(), bytes.data() + first, n - first);
  size_ += n;
  return n;
}

RingPieces ByteRing::Peek(size_t offset, size_t len) const {
  if (offset >= size_) return {};
  len = std::min(len, size_ - offset);
  const size_t at = (head_ + offset) % capacity_;
  const size_t first = std::min(len, capacity_ - at);
  RingPieces p;
  p.head = std::span<const uint8_t>(bytes_.get() + at, first);
  if (first < len) p.tail = std::span<const uint8_t>(bytes_.get(), len - first);
  return p;
}

size_t ByteRing::Read(std::span<uint8_t> out) {
  const RingPieces p = Peek(0, out.size());
  if (!p.head.empty()) std::memcpy(out.data(), p.head.data(), p.head.size());
  if (!p.tail.empty()) std::memcpy(out.data() + p.head.size(), p.tail.data(), p.tail.size());
  Consume(p.size());
  return p.size();
}

void ByteRing::Consume(size_t n) {
  n = std::min(n, size_);
  head_ = (head_ + n) % capacity_;
  size_ -= n;
  if (size_ == 0) head_ = 0;
}

}  // namespace braid::tcp
