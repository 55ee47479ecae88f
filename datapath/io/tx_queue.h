// One device TX queue owned by one worker: a batcher, the frame-building API, and the net layer's
// FrameSink.
//
// Frames collect in a batch and leave in one rte_eth_tx_burst when the runtime calls Flush() at
// the end of each loop iteration (or earlier when the batch fills: tx_early_flushes). Whatever the
// device does not take at flush time is freed and counted (tx_ring_full): an mbuf is never kept
// across iterations and never leaked. TCP recovers the loss; a full ring means the link is
// saturated, and holding frames would only add latency.
//
// Building a frame in place (zero copy from the stack's point of view):
//   TxFrame f = txq.AllocFrame(len);      // mbuf from the worker's pool, `len` bytes writable
//   if (f) { write f.data; txq.SetOffload(f, offload); txq.Send(f); }
// The net layer's FrameSink (frame_sink.h) copies instead, since its frame lives only during the
// call: TransmitFrame(port, frame, offload).
#pragma once

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "datapath/io/io_counters.h"
#include "datapath/io/mbuf.h"
#include "datapath/io/offloads.h"
#include "datapath/net/frame_sink.h"

namespace braid::io {

inline constexpr size_t kMaxTxBatch = 64;

struct TxQueueConfig {
  uint16_t port = 0;
  uint16_t queue = 0;
  rte_mempool* pool = nullptr;  // the worker's pool: frames are built from it
  OffloadsInForce offloads;     // the port's (Port::offloads())
  uint16_t batch = 32;          // frames per burst, 1..kMaxTxBatch
};

// A frame being built: `data` is `mbuf`'s writable bytes.
struct TxFrame {
  rte_mbuf* mbuf = nullptr;
  std::span<uint8_t> data;
  explicit operator bool() const { return mbuf != nullptr; }
};

class TxQueue final : public net::FrameSink {
 public:
  explicit TxQueue(const TxQueueConfig& config);
  TxQueue(const TxQueue&) = delete;
  TxQueue& operator=(const TxQueue&) = delete;
  // Frames still batched are freed (counted tx_ring_full: they were never sent). Flush first.
  ~TxQueue() override;

  // --- Building frames ---

  // An mbuf with `len` bytes appended, single segment. Empty when the pool is dry (tx_no_mbuf) or
  // `len` exceeds one mbuf (tx_too_long: use Copy, which chains).
  TxFrame AllocFrame(size_t len) {
    rte_mbuf* m = rte_pktmbuf_alloc(config_.pool);
    if (m == nullptr) {
      counters_.AddDrop(IoDrop::kTxNoMbuf);
      return {};
    }
    if (len > rte_pktmbuf_tailroom(m)) {
      rte_pktmbuf_free(m);
      counters_.AddDrop(IoDrop::kTxTooLong);
      return {};
    }
    auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(len)));
    return {m, {p, len}};
  }
  // Applies the net layer's offload request. On a port without TCP checksum offload the checksum
  // is finished here in software (tx_checksum_software), so a frame is never sent unfinished.
  void SetOffload(TxFrame& frame, const net::TxOffload& offload) {
    if (!offload.tcp_checksum) return;
    if (config_.offloads.tx_tcp_checksum) {
      SetTxOffload(frame.mbuf, offload);
      counters_.Add(IoCounter::kTxChecksumOffloaded);
    } else if (FinishTcpChecksum(frame.data, offload.l2_len, offload.l3_len)) {
      counters_.Add(IoCounter::kTxChecksumSoftware);
    }
  }
  // Queues a built frame (ownership passes to the queue).
  void Send(TxFrame frame) { Enqueue(frame.mbuf); }
  // Gives back a frame that will not be sent.
  void Discard(TxFrame frame) { rte_pktmbuf_free(frame.mbuf); }

  // Queues any mbuf (chained, external buffers: the caller built it). Ownership passes here.
  void Enqueue(rte_mbuf* m) {
    if (count_ == config_.batch) {
      counters_.Add(IoCounter::kTxEarlyFlushes);
      Flush();
    }
    batch_[count_++] = m;
  }

  // Copies `frame` into a new mbuf (chained when it exceeds one, if the port sends chains), applies
  // `offload` and queues it. False when dropped (counted).
  bool Copy(std::span<const uint8_t> frame, const net::TxOffload& offload);

  // --- net::FrameSink ---
  // For this queue's port; another port's frame is dropped (tx_wrong_port): a worker with
  // several ports gives the net layer a WorkerTx instead.
  void TransmitFrame(uint16_t port, std::span<const uint8_t> frame,
                     const net::TxOffload& offload) override {
    if (port != config_.port) {
      counters_.AddDrop(IoDrop::kTxWrongPort);
      return;
    }
    Copy(frame, offload);
  }

  // --- End of loop iteration ---
  // One TX burst of everything batched; what the device refuses is freed and counted. Returns the
  // number of frames the device took.
  uint16_t Flush();

  size_t pending() const { return count_; }
  uint16_t port() const { return config_.port; }
  uint16_t queue() const { return config_.queue; }
  const OffloadsInForce& offloads() const { return config_.offloads; }
  const IoCounters& counters() const { return counters_; }

 private:
  TxQueueConfig config_;
  std::array<rte_mbuf*, kMaxTxBatch> batch_{};
  uint16_t count_ = 0;
  IoCounters counters_;
};

// A worker's TX side across its ports: the FrameSink of a worker's NetStack when the worker
// sends on more than one port (one TxQueue per port, the worker's own queue index on each).
class WorkerTx final : public net::FrameSink {
 public:
  static constexpr size_t kMaxPorts = RTE_MAX_ETHPORTS;

  // `queue` must outlive this object. Replaces an earlier queue for the same port.
  void Attach(TxQueue* queue) {
    if (queue != nullptr && queue->port() < kMaxPorts) queues_[queue->port()] = queue;
  }
  TxQueue* queue(uint16_t port) const { return port < kMaxPorts ? queues_[port] : nullptr; }

  void TransmitFrame(uint16_t port, std::span<const uint8_t> frame,
                     const net::TxOffload& offload) override {
    TxQueue* q = queue(port);
    if (q == nullptr) {
      counters_.AddDrop(IoDrop::kTxWrongPort);
      return;
    }
    q->Copy(frame, offload);
  }
  // Flushes every attached queue; returns the frames sent.
  uint32_t Flush() {
    uint32_t sent = 0;
    for (TxQueue* q : queues_) {
      if (q != nullptr && q->pending() != 0) sent += q->Flush();
    }
    return sent;
  }
  // Drops for ports without a queue (the queues count their own).
  const IoCounters& counters() const { return counters_; }

 private:
  std::array<TxQueue*, kMaxPorts> queues_{};
  IoCounters counters_;
};

}  // namespace braid::io
