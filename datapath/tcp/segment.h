// Segments as the TCP engine takes and gives them. The net layer parses a received frame once
// (wire::TcpSegment + wire::TcpRepr, checksum already verified) and hands the engine an
// InboundSegment; the engine hands back OutboundSegments through a SegmentSink, and the net layer
// (or the simulator, or a test fixture) builds the IP packet around them. Nothing here allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "datapath/tcp/flow.h"
#include "datapath/wire/tcp.h"

namespace braid::tcp {

struct InboundSegment {
  // Header fields and parsed options. header.payload_len == payload.size().
  wire::TcpRepr header;
  // Valid for the duration of the call that receives it.
  std::span<const uint8_t> payload;
};

struct OutboundSegment {
  // Complete header: ports, sequence numbers, flags, the window already shifted by our window
  // scale, and every option (the engine's and those added by its TcpHooks) in header.options.
  // header.payload_len == payload_size().
  wire::TcpRepr header;
  // The payload, in at most two pieces (the send buffer is a ring). Valid only during
  // SegmentSink::Transmit: copy it (or attach it) before returning.
  std::span<const uint8_t> payload_head;
  std::span<const uint8_t> payload_tail;

  size_t payload_size() const { return payload_head.size() + payload_tail.size(); }
};

// Where the engine's segments go. One virtual call per segment; implementations batch (the
// runtime fills a TX burst, the simulator enqueues on a link).
class SegmentSink {
 public:
  virtual ~SegmentSink() = default;
  virtual void Transmit(const FlowKey& flow, const OutboundSegment& segment) = 0;
};

}  // namespace braid::tcp
