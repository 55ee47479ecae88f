#include "datapath/io/tx_queue.h"

#include <algorithm>

#include "datapath/wire/bytes.h"

namespace braid::io {

TxQueue::TxQueue(const TxQueueConfig& config) : config_(config) {
  config_.batch = std::clamp<uint16_t>(config.batch, 1, kMaxTxBatch);
}

TxQueue::~TxQueue() {
  if (count_ != 0) {
    rte_pktmbuf_free_bulk(batch_.data(), count_);
    counters_.AddDrop(IoDrop::kTxRingFull, count_);
    count_ = 0;
  }
}

bool TxQueue::Copy(std::span<const uint8_t> frame, const net::TxOffload& offload) {
  rte_mbuf* m = rte_pktmbuf_alloc(config_.pool);
  if (m == nullptr) {
    counters_.AddDrop(IoDrop::kTxNoMbuf);
    return false;
  }
  if (frame.size() <= rte_pktmbuf_tailroom(m)) {
    auto* p =
        reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size())));
    std::copy(frame.begin(), frame.end(), p);
    TxFrame f{m, {p, frame.size()}};
    SetOffload(f, offload);
    Enqueue(m);
    return true;
  }
  if (!config_.offloads.tx_multi_segs) {
    rte_pktmbuf_free(m);
    counters_.AddDrop(IoDrop::kTxTooLong);
    return false;
  }
  if (!AppendBytes(m, config_.pool, frame)) {
    rte_pktmbuf_free(m);
    counters_.AddDrop(IoDrop::kTxNoMbuf);
    return false;
  }
  if (offload.tcp_checksum) {
    if (config_.offloads.tx_tcp_checksum) {
      SetTxOffload(m, offload);
      counters_.Add(IoCounter::kTxChecksumOffloaded);
    } else {
      // Computed on the caller's contiguous frame; the field is in the first segment (headers are
      // far shorter than one mbuf).
      const size_t field = size_t{offload.l2_len} + offload.l3_len + kTcpChecksumOffset;
      uint16_t value = 0;
      if (field + 2 <= m->data_len &&
          TcpChecksumValue(frame, offload.l2_len, offload.l3_len, &value)) {
        wire::StoreBe16(rte_pktmbuf_mtod_offset(m, uint8_t*, field), value);
        counters_.Add(IoCounter::kTxChecksumSoftware);
      }
    }
  }
  counters_.Add(IoCounter::kTxChained);
  Enqueue(m);
  return true;
}

uint16_t TxQueue::Flush() {
  if (count_ == 0) return 0;
  // Bytes are summed before the burst: the mbufs the device takes may be freed (and reused) by it
  // before tx_burst returns (af_packet copies and frees, net_null frees).
  uint64_t bytes = 0;
  for (uint16_t i = 0; i < count_; ++i) bytes += batch_[i]->pkt_len;
  const uint16_t sent = rte_eth_tx_burst(config_.port, config_.queue, batch_.data(), count_);
  if (sent < count_) {
    for (uint16_t i = sent; i < count_; ++i) bytes -= batch_[i]->pkt_len;
    rte_pktmbuf_free_bulk(batch_.data() + sent, count_ - sent);
    counters_.AddDrop(IoDrop::kTxRingFull, count_ - sent);
  }
  counters_.Add(IoCounter::kTxFrames, sent);
  counters_.Add(IoCounter::kTxBytes, bytes);
  counters_.Add(IoCounter::kTxFlushes);
  count_ = 0;
  return sent;
}

}  // namespace braid::io
