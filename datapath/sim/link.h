// One unidirectional link: what happens to a packet between the interface that sends it and the
// one that receives it. It owns the link's model (drop-tail queue, serialization at a rate,
// propagation delay, jitter, loss, reordering, duplication, up/down state), its random stream and
// its counters. It decides a packet's fate when the packet is offered; the Simulator owns time
// and turns those decisions into events.
//
// Order of decisions for each offered packet:
//   1. link state: down -> kLinkDown, blackhole -> kBlackhole;
//   2. drop-tail queue: if the transmitter is busy and the waiting packets plus this one exceed a
//      limit -> kQueueFull (the packet being serialized is not in the queue);
//   3. loss: scripted (DropNth, DropIf) -> kScripted, Gilbert-Elliott -> kBurstLoss, Bernoulli
//      -> kRandomLoss. A lost packet still takes its turn on the transmitter, as a packet
//      corrupted on the wire does, so loss never shifts other packets' timing;
//   4. arrival = end of serialization + delay + jitter. Jitter never reorders: an arrival is
//      clamped to be no earlier than the previous packet's. Only packets picked for reordering
//      get `reorder_delay` added and skip the clamp, so later packets can overtake them;
//   5. duplication: the copy arrives right after the original.
// Random draws happen only for enabled features and in this order, so a seed replays exactly.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "datapath/sim/packet.h"
#include "datapath/sim/random.h"
#include "datapath/sim/trace.h"
#include "datapath/sim/types.h"

namespace braid::sim {

enum class JitterKind : uint8_t { kNone, kUniform, kNormal };

struct JitterConfig {
  JitterKind kind = JitterKind::kNone;
  SimTime bound{0};   // |jitter| never exceeds this: uniform in [-bound, bound]
  SimTime stddev{0};  // kNormal: standard deviation before clamping to the bound
};

// Two-state Markov loss: the state moves once per packet after its loss draw.
struct GilbertElliottConfig {
  double good_to_bad = 0;   // p
  double bad_to_good = 1;   // r; mean burst length is 1 / r
  double loss_in_good = 0;  // 1 - k
  double loss_in_bad = 1;   // 1 - h
};

struct LinkConfig {
  uint64_t rate_bps = 0;  // 0: unlimited, no serialization delay and no queue
  SimTime delay{0};       // propagation
  JitterConfig jitter{};
  double loss = 0;  // Bernoulli, per packet
  std::optional<GilbertElliottConfig> burst_loss{};
  double reorder = 0;  // probability that a packet is held back by reorder_delay
  SimTime reorder_delay{0};
  double duplicate = 0;              // probability that a packet arrives twice
  uint64_t queue_limit_bytes = 0;    // 0: no limit
  uint64_t queue_limit_packets = 0;  // 0: no limit
};

enum class LinkState : uint8_t {
  kUp,
  kDown,       // drops what is queued and in flight, then everything sent until it is up
  kBlackhole,  // stays up but silently drops everything sent; what is in flight still arrives
};

struct LinkCounters {
  uint64_t sent_packets = 0;  // offered to the link, whatever became of them
  uint64_t sent_bytes = 0;
  uint64_t delivered_packets = 0;  // includes duplicates
  uint64_t delivered_bytes = 0;
  uint64_t duplicated = 0;  // copies made
  uint64_t reordered = 0;   // packets held back by reorder_delay
  std::array<uint64_t, kDropReasonCount> dropped{};
  uint64_t queue_high_water_packets = 0;
  uint64_t queue_high_water_bytes = 0;

  uint64_t Dropped(DropReason reason) const { return dropped[static_cast<size_t>(reason)]; }
  uint64_t DroppedTotal() const;
};

class Link {
 public:
  Link(LinkId id, Endpoint from, Endpoint to, const LinkConfig& config, uint64_t seed);

  LinkId id() const { return id_; }
  Endpoint from() const { return from_; }
  Endpoint to() const { return to_; }
  const LinkConfig& config() const { return config_; }
  LinkState state() const { return state_; }
  const LinkCounters& counters() const { return counters_; }
  size_t in_flight() const { return in_flight_.size(); }  // accepted, not yet delivered

  // Scripted loss. n = 1 is the first packet ever offered to this link.
  void DropNth(uint64_t n) { drop_nth_.insert(n); }
  void DropIf(std::function<bool(const Packet&)> predicate) {
    drop_if_.push_back(std::move(predicate));
  }
  void ClearScriptedDrops() {
    drop_nth_.clear();
    drop_if_.clear();
  }

 private:
  friend class Simulator;

  struct Verdict {
    std::optional<DropReason> drop;
    SimTime arrival{0};
    bool duplicate = false;
  };

  // Decides the fate of a packet offered at `now` and counts it.
  Verdict Offer(const Packet& packet, SimTime now);
  // Keeps an accepted packet until its delivery event; returns the ticket that event carries.
  uint64_t Hold(Packet packet);
  // The held packet, counted as delivered, or nothing if it was dropped since (link down).
  std::optional<Packet> Release(uint64_t ticket);
  // Changes state at `now`; going down returns the queued and in-flight packets it dropped.
  std::vector<Packet> SetState(LinkState state, SimTime now);

  SimTime SerializationTime(size_t bytes) const;
  SimTime Jitter();
  std::optional<DropReason> Lose(const Packet& packet);
  Verdict Drop(DropReason reason);

  struct Waiting {
    SimTime start;  // when the transmitter starts on it
    size_t bytes;
  };

  const LinkId id_;
  const Endpoint from_;
  const Endpoint to_;
  const LinkConfig config_;
  Rng rng_;
  LinkState state_ = LinkState::kUp;
  LinkCounters counters_;

  SimTime busy_until_{0};        // when the transmitter finishes what it has accepted
  std::deque<Waiting> waiting_;  // accepted, not yet started: the drop-tail queue
  uint64_t waiting_bytes_ = 0;
  SimTime last_arrival_{0};  // FIFO clamp for jitter
  bool burst_bad_ = false;   // Gilbert-Elliott state
  uint64_t offered_ = 0;     // ordinal for DropNth
  std::set<uint64_t> drop_nth_;
  std::vector<std::function<bool(const Packet&)>> drop_if_;
  uint64_t next_ticket_ = 0;
  std::map<uint64_t, Packet> in_flight_;  // ordered: a link going down drops them in send order
};

}  // namespace braid::sim
