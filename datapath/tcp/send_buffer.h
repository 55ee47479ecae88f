// The send buffer of one connection (RFC 9293 §3.10.2): the bytes the application queued, from
// SND.UNA (the oldest unacknowledged data byte) to the newest, addressed by sequence number. The
// retransmission queue (retransmit_queue.h) keeps sequence ranges only; the payload of every
// first transmission and retransmission is read from here, and bytes leave only when the peer
// acknowledges them cumulatively. Capacity is fixed at construction (TcpConfig::send_buffer).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "datapath/tcp/byte_ring.h"
#include "datapath/wire/seq.h"

namespace braid::tcp {

class SendBuffer {
 public:
  // `first_seq`: the sequence number the first queued byte will have (ISS + 1).
  SendBuffer(size_t capacity, wire::TcpSeq first_seq) : ring_(capacity), head_seq_(first_seq) {}

  size_t capacity() const { return ring_.capacity(); }
  size_t size() const { return ring_.size(); }
  size_t free() const { return ring_.free(); }
  // Sequence number of the oldest byte held, and one past the newest.
  wire::TcpSeq head_seq() const { return head_seq_; }
  wire::TcpSeq end_seq() const { return head_seq_ + static_cast<uint32_t>(ring_.size()); }

  // Queues what fits of `bytes`; returns how many were taken.
  size_t Append(std::span<const uint8_t> bytes) { return ring_.Append(bytes); }
  // The bytes [seq, seq + len), clamped to what is held; empty when `seq` is outside it.
  RingPieces Peek(wire::TcpSeq seq, size_t len) const;
  // The peer acknowledged everything below `seq`: those bytes are released. A `seq` below
  // head_seq() changes nothing; one beyond end_seq() releases everything.
  void AckTo(wire::TcpSeq seq);
  // Only while empty: the next byte queued will have sequence number `first_seq`.
  void Rebase(wire::TcpSeq first_seq) {
    if (ring_.empty()) head_seq_ = first_seq;
  }

 private:
  ByteRing ring_;
  wire::TcpSeq head_seq_;
};

}  // namespace braid::tcp
