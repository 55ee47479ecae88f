// The interface a simulated host implements. A stack adapter (later: one around the sans-I/O TCP
// or MPTCP engine) is a Node: the simulator hands it packets and the current virtual time, asks
// for its next deadline, polls it at that deadline, and lets it send through a NodeContext. A node
// never sees the simulator itself, exactly as an engine never sees the runtime that drives it.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "datapath/sim/packet.h"
#include "datapath/sim/types.h"

namespace braid::sim {

class Simulator;

// How a node sends, valid only during the Receive or Poll call it was passed to.
class NodeContext {
 public:
  NodeContext(const NodeContext&) = delete;
  NodeContext& operator=(const NodeContext&) = delete;

  // Sends `bytes` out of `interface` now. Returns the packet's id (see Packet::id). A packet sent
  // on an interface without a link is dropped with DropReason::kNoLink.
  uint64_t Send(InterfaceIndex interface, std::vector<uint8_t> bytes);

 private:
  friend class Simulator;
  NodeContext(Simulator& simulator, NodeId node) : simulator_(simulator), node_(node) {}

  Simulator& simulator_;
  NodeId node_;
};

class Node {
 public:
  virtual ~Node() = default;

  // A packet arrived on `interface` at `now`.
  virtual void Receive(SimTime now, InterfaceIndex interface, Packet packet, NodeContext& out) = 0;

  // The next time the node wants Poll to run (a timer, a paced send), or nothing. Asked after
  // every Receive and Poll, and at the start of each Simulator::Run*; a time in the past means
  // "now". A node whose state changes from outside (a test call) is asked again at the next Run.
  virtual std::optional<SimTime> PollAt() const { return std::nullopt; }

  // Called at (never before) the time PollAt returned.
  virtual void Poll(SimTime /*now*/, NodeContext& /*out*/) {}
};

}  // namespace braid::sim
