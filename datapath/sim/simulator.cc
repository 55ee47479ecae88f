// Time, events and the plumbing between nodes and links; the links' model lives in link.cc.
#include "datapath/sim/simulator.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <tuple>
#include <utility>

namespace braid::sim {
namespace {

// Wiring mistakes are bugs in the test that wrote them: stop loudly, naming the thing.
void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "braid::sim: %s\n", what);
    std::abort();
  }
}

// std heap functions build a max-heap; "later" as less-than puts the earliest event on top.
struct Later {
  template <typename E>
  bool operator()(const E& a, const E& b) const {
    return std::tie(a.at, a.seq) > std::tie(b.at, b.seq);
  }
};

}  // namespace

uint64_t NodeContext::Send(InterfaceIndex interface, std::vector<uint8_t> bytes) {
  return simulator_.Send(node_, interface, std::move(bytes));
}

Simulator::Simulator(uint64_t seed) : seed_(seed), rng_(seed) {}

NodeId Simulator::AddNode(Node& node) {
  nodes_.push_back(NodeSlot{.node = &node});
  return NodeId{static_cast<uint32_t>(nodes_.size() - 1)};
}

LinkId Simulator::AddLink(Endpoint from, Endpoint to, const LinkConfig& config) {
  slot(to.node);  // validates
  auto& egress = slot(from.node).egress;
  Check(!egress.contains(from.interface), "interface already has an outgoing link");
  const LinkId id{static_cast<uint32_t>(links_.size())};
  links_.push_back(std::make_unique<Link>(id, from, to, config, seed_));
  egress.emplace(from.interface, id);
  return id;
}

DuplexLink Simulator::Connect(Endpoint a, Endpoint b, const LinkConfig& config) {
  return Connect(a, b, config, config);
}

DuplexLink Simulator::Connect(Endpoint a, Endpoint b, const LinkConfig& a_to_b,
                              const LinkConfig& b_to_a) {
  const LinkId forward = AddLink(a, b, a_to_b);
  return DuplexLink{.a_to_b = forward, .b_to_a = AddLink(b, a, b_to_a)};
}

Link& Simulator::link(LinkId id) {
  Check(id.value < links_.size(), "unknown link");
  return *links_[id.value];
}

const Link& Simulator::link(LinkId id) const {
  Check(id.value < links_.size(), "unknown link");
  return *links_[id.value];
}

Simulator::NodeSlot& Simulator::slot(NodeId id) {
  Check(id.value < nodes_.size(), "unknown node");
  return nodes_[id.value];
}

void Simulator::SetLinkState(LinkId id, SimTime at, LinkState state) {
  link(id);  // validates now rather than when the event fires
  Schedule(at, [this, id, state] { ApplyLinkState(id, state); });
}

void Simulator::SetLinkState(DuplexLink path, SimTime at, LinkState state) {
  SetLinkState(path.a_to_b, at, state);
  SetLinkState(path.b_to_a, at, state);
}

void Simulator::Schedule(SimTime at, std::function<void()> action) {
  Check(at >= now_, "event scheduled in the past");
  Push(at, std::move(action));
}

void Simulator::Push(SimTime at, std::function<void()> action) {
  events_.push_back(Event{.at = at, .seq = next_seq_++, .action = std::move(action)});
  std::push_heap(events_.begin(), events_.end(), Later{});
}

void Simulator::RunNext() {
  std::pop_heap(events_.begin(), events_.end(), Later{});
  Event event = std::move(events_.back());
  events_.pop_back();
  now_ = event.at;
  event.action();
}

void Simulator::Run(SimTime until) {
  Check(until >= now_, "Run: time in the past");
  for (uint32_t i = 0; i < nodes_.size(); ++i) Arm(NodeId{i});
  while (!events_.empty() && events_.front().at <= until) RunNext();
  now_ = until;
}

bool Simulator::RunUntil(const std::function<bool()>& done, SimTime limit) {
  Check(limit >= now_, "RunUntil: limit in the past");
  for (uint32_t i = 0; i < nodes_.size(); ++i) Arm(NodeId{i});
  if (done()) return true;
  while (!events_.empty() && events_.front().at <= limit) {
    RunNext();
    if (done()) return true;
  }
  now_ = limit;
  return false;
}

uint64_t Simulator::Send(NodeId from, InterfaceIndex interface, std::vector<uint8_t> bytes) {
  Packet packet{.bytes = std::move(bytes),
                .id = next_packet_id_++,
                .sent_at = now_,
                .source = Endpoint{from, interface}};
  const auto& egress = slot(from).egress;
  const auto it = egress.find(interface);
  if (it == egress.end()) {
    ++unrouted_;
    Trace(TraceKind::kEnqueue, std::nullopt, packet);
    Trace(TraceKind::kDrop, std::nullopt, packet, DropReason::kNoLink);
    return packet.id;
  }
  const LinkId id = it->second;
  Link& l = link(id);
  Trace(TraceKind::kEnqueue, id, packet);
  const Link::Verdict verdict = l.Offer(packet, now_);
  if (verdict.drop) {
    Trace(TraceKind::kDrop, id, packet, *verdict.drop);
    return packet.id;
  }
  const uint64_t packet_id = packet.id;
  std::optional<Packet> copy;
  if (verdict.duplicate) {
    copy = packet;
    Trace(TraceKind::kDuplicate, id, packet);
  }
  // The original is scheduled first, so at equal times it is delivered first.
  const uint64_t ticket = l.Hold(std::move(packet));
  Push(verdict.arrival, [this, id, ticket] { Deliver(id, ticket); });
  if (copy) {
    const uint64_t copy_ticket = l.Hold(std::move(*copy));
    Push(verdict.arrival, [this, id, copy_ticket] { Deliver(id, copy_ticket); });
  }
  return packet_id;
}

void Simulator::Deliver(LinkId id, uint64_t ticket) {
  Link& l = link(id);
  std::optional<Packet> packet = l.Release(ticket);
  if (!packet) return;  // dropped when the link went down
  Trace(TraceKind::kDeliver, id, *packet);
  const Endpoint to = l.to();
  NodeContext out(*this, to.node);
  slot(to.node).node->Receive(now_, to.interface, std::move(*packet), out);
  Arm(to.node);
}

void Simulator::ApplyLinkState(LinkId id, LinkState state) {
  for (const Packet& packet : link(id).SetState(state, now_)) {
    Trace(TraceKind::kDrop, id, packet, DropReason::kLinkDown);
  }
}

void Simulator::Arm(NodeId id) {
  NodeSlot& s = slot(id);
  const std::optional<SimTime> at = s.node->PollAt();
  if (at == s.armed) return;
  s.armed = at;
  const uint64_t generation = ++s.generation;
  if (at) {
    Push(std::max(*at, now_), [this, id, generation] { PollNode(id, generation); });
  }
}

void Simulator::PollNode(NodeId id, uint64_t generation) {
  NodeSlot& s = slot(id);
  if (s.generation != generation) return;  // the node moved its deadline since
  s.armed.reset();
  ++s.generation;
  NodeContext out(*this, id);
  s.node->Poll(now_, out);
  Arm(id);
}

void Simulator::Trace(TraceKind kind, std::optional<LinkId> link, const Packet& packet,
                      DropReason reason) {
  if (trace_)
    trace_(TraceEvent{.at = now_, .kind = kind, .link = link, .reason = reason, .packet = packet});
}

}  // namespace braid::sim
