// What the simulator carries: opaque bytes plus the metadata a trace needs. The simulator never
// looks inside the bytes (the engines it drives own the formats); std::vector is fine here because
// the simulator is a test harness, not the packet path.
#pragma once

#include <cstdint>
#include <vector>

#include "datapath/sim/types.h"

namespace braid::sim {

struct Packet {
  std::vector<uint8_t> bytes;
  uint64_t id = 0;     // unique per NodeContext::Send, in send order; a duplicate keeps its id
  SimTime sent_at{0};  // when the sending node handed it to the simulator
  Endpoint source{};   // the interface it was sent from

  size_t size() const { return bytes.size(); }
};

}  // namespace braid::sim
