#include "sdk/src/socket.h"

#include <algorithm>

namespace braid::sdk {

size_t Socket::RxBytes() const {
  if (shared == nullptr || !data_ready.load(std::memory_order_acquire)) return 0;
  const uint64_t write = shared->rx.write.load(std::memory_order_acquire);
  const uint64_t read = shared->rx.read.load(std::memory_order_relaxed);
  const uint64_t capacity = channel->region().layout().geometry.rx_fifo_bytes;
  return static_cast<size_t>(std::min(write - read, capacity));
}

size_t Socket::TxSpace() const {
  if (shared == nullptr || !data_ready.load(std::memory_order_acquire)) return 0;
  const uint64_t write = shared->tx.write.load(std::memory_order_relaxed);
  const uint64_t read = shared->tx.read.load(std::memory_order_acquire);
  const uint64_t capacity = channel->region().layout().geometry.tx_fifo_bytes;
  return static_cast<size_t>(capacity - std::min(write - read, capacity));
}

uint64_t Socket::EdgeKey() const {
  uint64_t key = event_seq.load(std::memory_order_acquire);
  if (shared != nullptr && data_ready.load(std::memory_order_acquire)) {
    // Positions only grow: their sum changes whenever either does.
    key += (shared->rx.write.load(std::memory_order_acquire) +
            shared->tx.read.load(std::memory_order_acquire))
           << 20;
  }
  return key;
}

}  // namespace braid::sdk
