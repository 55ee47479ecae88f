// One device RX queue, polled by the one worker that owns it. Inline, allocation-free.
#pragma once

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <cstddef>
#include <cstdint>
#include <span>

#include "datapath/io/io_counters.h"

namespace braid::io {

class RxQueue {
 public:
  RxQueue() = default;
  RxQueue(uint16_t port, uint16_t queue) : port_(port), queue_(queue) {}

  // Up to out.size() received frames. The caller owns them: each is freed (rte_pktmbuf_free) or
  // handed on (handoff ring) exactly once.
  uint16_t Burst(std::span<rte_mbuf*> out) {
    const uint16_t max = out.size() > 0xffff ? uint16_t{0xffff} : static_cast<uint16_t>(out.size());
    const uint16_t n = rte_eth_rx_burst(port_, queue_, out.data(), max);
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < n; ++i) bytes += out[i]->pkt_len;
    counters_.Add(IoCounter::kRxFrames, n);
    counters_.Add(IoCounter::kRxBytes, bytes);
    return n;
  }

  uint16_t port() const { return port_; }
  uint16_t queue() const { return queue_; }
  // rx_frames, rx_bytes, and rx_chained / rx_chained_too_long when the worker passes these
  // counters to ContiguousFrame.
  IoCounters& counters() { return counters_; }
  const IoCounters& counters() const { return counters_; }

 private:
  uint16_t port_ = 0;
  uint16_t queue_ = 0;
  IoCounters counters_;
};

}  // namespace braid::io
