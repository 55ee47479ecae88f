// The discrete-event core: virtual clock, event queue, nodes, links and the trace hook. Events run
// in (time, insertion sequence) order, so events at equal times run in the order they were
// scheduled; nothing depends on the wall clock, on hash-table iteration or on pointer addresses,
// and each link draws from its own stream derived from the seed. Same seed and script, same run,
// bit for bit.
//
// Nodes are polled on demand: after every Receive or Poll (and at the start of each Run*) the
// simulator asks the node's PollAt() and keeps exactly one poll event armed for it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "datapath/sim/link.h"
#include "datapath/sim/node.h"
#include "datapath/sim/packet.h"
#include "datapath/sim/random.h"
#include "datapath/sim/trace.h"
#include "datapath/sim/types.h"

namespace braid::sim {

class Simulator {
 public:
  explicit Simulator(uint64_t seed);
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  // Wiring. Nodes are not owned and must outlive the simulator's runs. Misuse (an unknown id, an
  // interface that already has an outgoing link, a time in the past) aborts with a message.
  NodeId AddNode(Node& node);
  LinkId AddLink(Endpoint from, Endpoint to, const LinkConfig& config);
  DuplexLink Connect(Endpoint a, Endpoint b, const LinkConfig& config);
  DuplexLink Connect(Endpoint a, Endpoint b, const LinkConfig& a_to_b, const LinkConfig& b_to_a);

  Link& link(LinkId id);
  const Link& link(LinkId id) const;
  size_t link_count() const { return links_.size(); }

  // Scripted events.
  void SetLinkState(LinkId link, SimTime at, LinkState state);
  void SetLinkState(DuplexLink path, SimTime at, LinkState state);
  void Schedule(SimTime at, std::function<void()> action);
  // Asks the node for its next deadline again: for scripted actions that change a node's state
  // from outside (an interface going down), which it would otherwise act on only at its next
  // packet or timer.
  void Wake(NodeId node) { Arm(node); }
  // Sends now as if the node at `from` had (a scripted peer); wrap in Schedule to send later.
  uint64_t Inject(Endpoint from, std::vector<uint8_t> bytes) {
    return Send(from.node, from.interface, std::move(bytes));
  }

  void SetTraceHook(TraceHook hook) { trace_ = std::move(hook); }

  // Runs every event at or before `until`, then sets now() to `until`.
  void Run(SimTime until);
  void RunFor(SimTime duration) { Run(now_ + duration); }
  // Runs events until `done()` holds (checked first and after each event) or the next event is
  // later than `limit`. Returns whether `done()` held; now() is then the time of the last event
  // run, or `limit` when it did not.
  bool RunUntil(const std::function<bool()>& done, SimTime limit);

  SimTime now() const { return now_; }
  uint64_t seed() const { return seed_; }
  Rng& rng() { return rng_; }  // for scripts and nodes that need randomness; links have their own
  size_t pending_events() const { return events_.size(); }
  uint64_t unrouted_packets() const { return unrouted_; }  // sent on an interface without a link

 private:
  friend class NodeContext;

  struct Event {
    SimTime at;
    uint64_t seq;
    std::function<void()> action;
  };
  struct NodeSlot {
    Node* node = nullptr;
    std::map<InterfaceIndex, LinkId> egress{};
    std::optional<SimTime> armed{};  // the poll time currently scheduled
    uint64_t generation = 0;         // bumps when `armed` changes; stale poll events are skipped
  };

  uint64_t Send(NodeId from, InterfaceIndex interface, std::vector<uint8_t> bytes);
  void Deliver(LinkId id, uint64_t ticket);
  void ApplyLinkState(LinkId id, LinkState state);
  void Arm(NodeId id);
  void PollNode(NodeId id, uint64_t generation);
  void Push(SimTime at, std::function<void()> action);
  void RunNext();
  void Trace(TraceKind kind, std::optional<LinkId> link, const Packet& packet,
             DropReason reason = DropReason::kNoLink);
  NodeSlot& slot(NodeId id);

  const uint64_t seed_;
  Rng rng_;
  SimTime now_{0};
  uint64_t next_seq_ = 0;
  uint64_t next_packet_id_ = 0;
  uint64_t unrouted_ = 0;
  std::vector<Event> events_;  // a min-heap on (at, seq)
  std::vector<NodeSlot> nodes_;
  std::vector<std::unique_ptr<Link>> links_;
  TraceHook trace_;
};

}  // namespace braid::sim
