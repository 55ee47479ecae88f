// Determinism: a seed and a script give the same trace bit for bit; another seed gives another
// trace; and adding a link leaves the random draws of the existing links unchanged.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>

#include "datapath/sim/simulator.h"
#include "datapath/sim/test_nodes.h"

namespace braid::sim {
namespace {

using namespace std::chrono_literals;

// FNV-1a over every field of every trace event (of the bytes, the part test payloads vary).
class TraceHash {
 public:
  void Add(uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      hash_ = (hash_ ^ ((v >> (8 * i)) & 0xff)) * 0x100000001b3ULL;
    }
  }
  void Add(const TraceEvent& e, bool with_id) {
    Add(static_cast<uint64_t>(e.at.count()));
    Add(static_cast<uint64_t>(e.kind));
    Add(e.link ? e.link->value : ~uint64_t{0});
    Add(static_cast<uint64_t>(e.reason));
    if (with_id) Add(e.packet.id);
    Add(e.packet.bytes.size());
    Add(TestPayloadSeq(e.packet.bytes).value_or(0));  // the rest of a test payload is zeros
    ++events_;
  }
  uint64_t value() const { return hash_; }
  uint64_t events() const { return events_; }

 private:
  uint64_t hash_ = 0xcbf29ce484222325ULL;
  uint64_t events_ = 0;
};

// Every impairment at once, in both directions, plus scripted state changes. The sender offers
// 48 Mbit/s to a 40 Mbit/s link, and the echoes meet a 30 Mbit/s link, so both queues overflow.
struct Scenario {
  explicit Scenario(uint64_t seed, bool extra_link = false)
      : sim(seed),
        sender({.packet_size = 1200, .interval = 200us, .count = 2500}),
        extra_sender({.packet_size = 300, .interval = 100us, .count = 5000}) {
    const NodeId a = sim.AddNode(sender);
    const NodeId b = sim.AddNode(echo);
    path =
        sim.Connect({a, 0}, {b, 0},
                    {.rate_bps = 40'000'000,
                     .delay = 3ms,
                     .jitter = {.kind = JitterKind::kNormal, .bound = 2ms, .stddev = 1ms},
                     .loss = 0.02,
                     .burst_loss = GilbertElliottConfig{.good_to_bad = 0.005, .bad_to_good = 0.3},
                     .reorder = 0.05,
                     .reorder_delay = 1ms,
                     .duplicate = 0.02,
                     .queue_limit_packets = 8},
                    {.rate_bps = 30'000'000,
                     .delay = 4ms,
                     .jitter = {.kind = JitterKind::kUniform, .bound = 500us},
                     .loss = 0.01,
                     .duplicate = 0.01,
                     .queue_limit_bytes = 6000});
    sim.SetLinkState(path.b_to_a, 150ms, LinkState::kDown);
    sim.SetLinkState(path.b_to_a, 175ms, LinkState::kUp);
    sim.SetLinkState(path.a_to_b, 300ms, LinkState::kBlackhole);
    sim.SetLinkState(path.a_to_b, 310ms, LinkState::kUp);
    if (extra_link) {
      const NodeId c = sim.AddNode(extra_sender);
      const NodeId d = sim.AddNode(extra_sink);
      sim.AddLink({c, 0}, {d, 0},
                  {.delay = 1ms, .loss = 0.3, .reorder = 0.5, .reorder_delay = 1ms});
    }
    sim.SetTraceHook([this](const TraceEvent& e) {
      all.Add(e, /*with_id=*/true);
      // Packet ids are global, so another link's traffic shifts them: compare by content.
      if (e.link && (*e.link == path.a_to_b || *e.link == path.b_to_a)) path_only.Add(e, false);
    });
    sim.Run(1s);
  }

  Simulator sim;
  CbrSender sender;
  Echo echo;
  CbrSender extra_sender;
  Sink extra_sink;
  DuplexLink path;
  TraceHash all;
  TraceHash path_only;
};

TEST(Determinism, SameSeedSameTrace) {
  const Scenario first(42), second(42);
  EXPECT_EQ(first.all.value(), second.all.value());
  EXPECT_EQ(first.all.events(), second.all.events());
  // The scenario exercises every impairment, or it proves little.
  const LinkCounters& c = first.sim.link(first.path.a_to_b).counters();
  for (DropReason r : {DropReason::kQueueFull, DropReason::kRandomLoss, DropReason::kBurstLoss,
                       DropReason::kBlackhole}) {
    EXPECT_GT(c.Dropped(r), 0u) << DropReasonName(r);
  }
  EXPECT_GT(c.reordered, 0u);
  EXPECT_GT(c.duplicated, 0u);
  EXPECT_GT(first.sim.link(first.path.b_to_a).counters().Dropped(DropReason::kLinkDown), 0u);
  EXPECT_GT(first.sim.link(first.path.b_to_a).counters().Dropped(DropReason::kQueueFull), 0u);
  EXPECT_GT(first.sender.arrivals().size(), 1000u);
}

TEST(Determinism, DifferentSeedsDiffer) {
  const Scenario first(42), second(43);
  EXPECT_NE(first.all.value(), second.all.value());
}

TEST(Determinism, AddingALinkKeepsOtherLinksDraws) {
  const Scenario without(42), with(42, /*extra_link=*/true);
  EXPECT_EQ(without.path_only.value(), with.path_only.value());
  EXPECT_EQ(without.path_only.events(), with.path_only.events());
  EXPECT_NE(without.all.value(), with.all.value());
  EXPECT_GT(with.extra_sink.arrivals().size(), 0u);
}

}  // namespace
}  // namespace braid::sim
