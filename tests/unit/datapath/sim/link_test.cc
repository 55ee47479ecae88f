// Link model: exact timing from rate and delay, the drop-tail queue, jitter without reordering,
// reordering, loss (Bernoulli, Gilbert-Elliott, scripted), down/up, blackhole and duplication.
// Everything is in virtual time; statistical checks use fixed seeds and bounds of several sigma.
#include "datapath/sim/link.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <numeric>
#include <vector>

#include "datapath/sim/simulator.h"
#include "datapath/sim/test_nodes.h"

namespace braid::sim {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

// A sender wired to a sink by one link, recording drops from the trace.
struct OneWay {
  OneWay(const LinkConfig& config, const CbrSender::Config& cbr, uint64_t seed = 1)
      : sim(seed), sender(cbr) {
    a = sim.AddNode(sender);
    b = sim.AddNode(sink);
    link_id = sim.AddLink({a, 0}, {b, 0}, config);
    sim.SetTraceHook([this](const TraceEvent& e) {
      if (e.kind == TraceKind::kDrop) drops.push_back({e.at, e.reason, e.packet.id});
    });
  }
  Link& link() { return sim.link(link_id); }

  struct Drop {
    SimTime at;
    DropReason reason;
    uint64_t id;  // equals the payload seq: one sender, ids in send order
  };
  std::vector<uint64_t> DropIds(DropReason reason) const {
    std::vector<uint64_t> ids;
    for (const Drop& d : drops) {
      if (d.reason == reason) ids.push_back(d.id);
    }
    return ids;
  }

  Simulator sim;
  CbrSender sender;
  Sink sink;
  NodeId a, b;
  LinkId link_id;
  std::vector<Drop> drops;
};

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {  // [first, last]
  std::vector<uint64_t> v(last - first + 1);
  std::iota(v.begin(), v.end(), first);
  return v;
}

std::vector<uint64_t> Concat(std::vector<uint64_t> a, const std::vector<uint64_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Every packet offered is delivered, dropped or still in flight; copies add to the offered ones.
void ExpectConserved(const Link& link) {
  const LinkCounters& c = link.counters();
  EXPECT_EQ(c.sent_packets + c.duplicated,
            c.delivered_packets + c.DroppedTotal() + link.in_flight());
}

const LinkConfig k10Mbit5ms{.rate_bps = 10'000'000, .delay = 5ms};

TEST(LinkTiming, BurstArrivesAtSerializationTimesPlusDelay) {
  // 1500 B at 10 Mbit/s is 1.2 ms on the wire; packet k (1-based) arrives at 1.2 ms * k + 5 ms.
  OneWay t(k10Mbit5ms, {.packet_size = 1500, .count = 10});
  t.sim.Run(1s);
  ASSERT_EQ(t.sink.arrivals().size(), 10u);
  for (uint64_t k = 0; k < 10; ++k) {
    EXPECT_EQ(t.sink.arrivals()[k].seq, k);
    EXPECT_EQ(t.sink.arrivals()[k].at, 1200us * static_cast<int64_t>(k + 1) + 5ms) << k;
    EXPECT_EQ(t.sink.arrivals()[k].sent_at, 0ms);
  }
  // The first packet goes straight to the transmitter; the other nine wait.
  EXPECT_EQ(t.link().counters().queue_high_water_packets, 9u);
  EXPECT_EQ(t.link().counters().queue_high_water_bytes, 9u * 1500);
  EXPECT_EQ(t.link().counters().delivered_bytes, 10u * 1500);
  ExpectConserved(t.link());
}

TEST(LinkTiming, SpacedPacketsSeeOnlySerializationAndDelay) {
  OneWay t(k10Mbit5ms, {.packet_size = 1500, .interval = 2ms, .count = 5});
  t.sim.Run(1s);
  ASSERT_EQ(t.sink.arrivals().size(), 5u);
  for (int64_t k = 0; k < 5; ++k) {
    EXPECT_EQ(t.sink.arrivals()[k].at, 2ms * k + 1200us + 5ms) << k;
  }
  EXPECT_EQ(t.link().counters().queue_high_water_packets, 0u);
}

TEST(LinkTiming, RoundsSerializationUp) {
  // 1001 B at 3 Mbit/s: 8008 bits / 3e6 = 2669333.33 ns, so 2669334 ns per packet.
  OneWay t({.rate_bps = 3'000'000}, {.packet_size = 1001, .count = 2});
  t.sim.Run(1s);
  ASSERT_EQ(t.sink.arrivals().size(), 2u);
  EXPECT_EQ(t.sink.arrivals()[0].at, 2669334ns);
  EXPECT_EQ(t.sink.arrivals()[1].at, 2 * 2669334ns);
}

TEST(LinkTiming, UnlimitedRateIsPureDelayAndHasNoQueue) {
  OneWay t({.delay = 7ms, .queue_limit_packets = 1}, {.packet_size = 9000, .count = 5});
  t.sim.Run(1s);
  ASSERT_EQ(t.sink.arrivals().size(), 5u);
  for (const Arrival& a : t.sink.arrivals()) EXPECT_EQ(a.at, 7ms);
  EXPECT_EQ(t.sink.seqs(), Range(0, 4));
}

TEST(LinkQueue, PacketLimitDropsExactlyTheTailOfABurst) {
  LinkConfig config = k10Mbit5ms;
  config.queue_limit_packets = 3;
  OneWay t(config, {.packet_size = 1500, .count = 10});
  t.sim.Run(1s);
  // One on the wire plus three waiting.
  EXPECT_EQ(t.sink.seqs(), Range(0, 3));
  EXPECT_EQ(t.DropIds(DropReason::kQueueFull), Range(4, 9));
  EXPECT_EQ(t.link().counters().Dropped(DropReason::kQueueFull), 6u);
  EXPECT_EQ(t.link().counters().queue_high_water_packets, 3u);
  for (const auto& d : t.drops) EXPECT_EQ(d.at, 0ms);
  ExpectConserved(t.link());
}

TEST(LinkQueue, ByteLimitCountsTheWaitingBytes) {
  LinkConfig config = k10Mbit5ms;
  config.queue_limit_bytes = 4000;  // two 1500-byte packets fit, a third does not
  OneWay t(config, {.packet_size = 1500, .count = 10});
  t.sim.Run(1s);
  EXPECT_EQ(t.sink.seqs(), Range(0, 2));
  EXPECT_EQ(t.DropIds(DropReason::kQueueFull), Range(3, 9));
  EXPECT_EQ(t.link().counters().queue_high_water_bytes, 3000u);
}

TEST(LinkQueue, QueueDrainsWhileTheSenderOverdrivesTheLink) {
  // Packets every 0.6 ms into a 1.2 ms-per-packet link with room for two waiting packets.
  // Worked by hand: the queue is full at 3.0, 4.2 and 5.4 ms (seqs 5, 7, 9); seq 6 and 8 find a
  // slot because a waiting packet started at exactly their arrival time.
  LinkConfig config = k10Mbit5ms;
  config.queue_limit_packets = 2;
  OneWay t(config, {.packet_size = 1500, .interval = 600us, .count = 10});
  t.sim.Run(1s);
  EXPECT_EQ(t.sink.seqs(), (std::vector<uint64_t>{0, 1, 2, 3, 4, 6, 8}));
  EXPECT_EQ(t.DropIds(DropReason::kQueueFull), (std::vector<uint64_t>{5, 7, 9}));
  std::vector<SimTime> times;
  for (const Arrival& a : t.sink.arrivals()) times.push_back(a.at);
  std::vector<SimTime> expected;
  for (int64_t k = 1; k <= 7; ++k) expected.push_back(1200us * k + 5ms);
  EXPECT_EQ(times, expected);
  EXPECT_EQ(t.link().counters().queue_high_water_packets, 2u);
}

void ExpectFifoWithin(const OneWay& t, uint64_t count, SimTime low, SimTime high) {
  EXPECT_EQ(t.sink.seqs(), Range(0, count - 1));
  std::vector<SimTime> delays;
  SimTime previous{0};
  for (const Arrival& a : t.sink.arrivals()) {
    EXPECT_GE(a.at, previous);
    previous = a.at;
    const SimTime delay = a.at - a.sent_at;
    EXPECT_GE(delay, low);
    EXPECT_LE(delay, high);
    delays.push_back(delay);
  }
  std::sort(delays.begin(), delays.end());
  const auto distinct = std::unique(delays.begin(), delays.end()) - delays.begin();
  EXPECT_GT(distinct, 100) << "jitter did not vary the delay";
}

TEST(LinkJitter, UniformJitterKeepsFifoWhenReorderIsOff) {
  // The jitter range (8 ms) is far wider than the send interval (1 ms): only the FIFO clamp
  // keeps the order.
  OneWay t({.delay = 10ms, .jitter = {.kind = JitterKind::kUniform, .bound = 4ms}},
           {.packet_size = 100, .interval = 1ms, .count = 2000});
  t.sim.Run(10s);
  ExpectFifoWithin(t, 2000, 6ms, 14ms);
  EXPECT_EQ(t.link().counters().reordered, 0u);
}

TEST(LinkJitter, NormalJitterIsBoundedAndKeepsFifo) {
  OneWay t({.rate_bps = 100'000'000,
            .delay = 10ms,
            .jitter = {.kind = JitterKind::kNormal, .bound = 3ms, .stddev = 2ms}},
           {.packet_size = 100, .interval = 1ms, .count = 2000});
  t.sim.Run(10s);
  const SimTime wire = 8us;  // 100 B at 100 Mbit/s
  ExpectFifoWithin(t, 2000, 7ms + wire, 13ms + wire);
}

TEST(LinkReorder, HeldBackPacketsAreOvertaken) {
  OneWay t({.delay = 10ms, .reorder = 0.1, .reorder_delay = 3ms},
           {.packet_size = 100, .interval = 1ms, .count = 2000});
  t.sim.Run(10s);
  const auto& arrivals = t.sink.arrivals();
  ASSERT_EQ(arrivals.size(), 2000u);
  std::vector<uint64_t> sorted = t.sink.seqs();
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, Range(0, 1999));  // nothing lost, nothing invented

  uint64_t held = 0, inversions = 0;
  for (size_t i = 0; i < arrivals.size(); ++i) {
    const SimTime delay = arrivals[i].at - arrivals[i].sent_at;
    EXPECT_TRUE(delay == 10ms || delay == 13ms) << delay.count();
    held += delay == 13ms;
    if (i > 0 && arrivals[i].seq < arrivals[i - 1].seq) ++inversions;
  }
  EXPECT_EQ(held, t.link().counters().reordered);
  EXPECT_NEAR(static_cast<double>(held), 200, 5 * 13.4);  // binomial sigma = sqrt(2000*.1*.9)
  EXPECT_GT(inversions, 100u);
}

TEST(LinkLoss, BernoulliLossRateIsWithinBounds) {
  for (uint64_t seed : {1, 2, 3}) {
    constexpr uint64_t kCount = 50'000;
    OneWay t({.loss = 0.1}, {.packet_size = 64, .interval = 1us, .count = kCount}, seed);
    t.sim.Run(1s);
    const uint64_t lost = kCount - t.sink.arrivals().size();
    EXPECT_EQ(lost, t.link().counters().Dropped(DropReason::kRandomLoss));
    EXPECT_EQ(t.DropIds(DropReason::kRandomLoss).size(), lost);
    // sigma = sqrt(p (1-p) / n) = 0.00134; five sigma.
    EXPECT_NEAR(static_cast<double>(lost) / kCount, 0.1, 0.0067) << "seed " << seed;
    ExpectConserved(t.link());
  }
}

TEST(LinkLoss, GilbertElliottLosesInBursts) {
  // Lossless good state, lossy bad state: loss rate p / (p + r), mean burst length 1 / r.
  constexpr uint64_t kCount = 200'000;
  OneWay t({.burst_loss = GilbertElliottConfig{.good_to_bad = 0.01, .bad_to_good = 0.2}},
           {.packet_size = 64, .interval = 1us, .count = kCount});
  t.sim.Run(1s);
  const std::vector<uint64_t> lost = t.DropIds(DropReason::kBurstLoss);
  EXPECT_EQ(lost.size(), t.link().counters().Dropped(DropReason::kBurstLoss));
  EXPECT_NEAR(static_cast<double>(lost.size()) / kCount, 0.01 / 0.21, 0.008);
  uint64_t bursts = 0;
  for (size_t i = 0; i < lost.size(); ++i) bursts += i == 0 || lost[i] != lost[i - 1] + 1;
  ASSERT_GT(bursts, 0u);
  EXPECT_NEAR(static_cast<double>(lost.size()) / static_cast<double>(bursts), 5.0, 0.5);
}

TEST(LinkLoss, ScriptedDropsHitExactlyTheNamedPackets) {
  OneWay t(k10Mbit5ms, {.packet_size = 1500, .count = 10});
  t.link().DropNth(3);  // seq 2
  t.link().DropNth(7);  // seq 6
  t.link().DropIf([](const Packet& p) { return TestPayloadSeq(p.bytes) == 5u; });
  t.sim.Run(1s);
  EXPECT_EQ(t.sink.seqs(), (std::vector<uint64_t>{0, 1, 3, 4, 7, 8, 9}));
  EXPECT_EQ(t.DropIds(DropReason::kScripted), (std::vector<uint64_t>{2, 5, 6}));
  // A lost packet still used its slot on the wire: the others keep their times.
  for (const Arrival& a : t.sink.arrivals()) {
    EXPECT_EQ(a.at, 1200us * static_cast<int64_t>(a.seq + 1) + 5ms) << a.seq;
  }
}

TEST(LinkState, DownDropsInFlightAndEverythingSentUntilUp) {
  // One packet per ms, 10 ms delay. Down at 50.5 ms: seqs 41..50 are in flight, 51..100 are
  // sent while down; up at 100.5 ms.
  OneWay t({.delay = 10ms}, {.packet_size = 100, .interval = 1ms, .count = 150});
  t.sim.SetLinkState(t.link_id, 50500us, LinkState::kDown);
  t.sim.SetLinkState(t.link_id, 100500us, LinkState::kUp);
  t.sim.Run(1s);
  EXPECT_EQ(t.sink.seqs(), Concat(Range(0, 40), Range(101, 149)));
  EXPECT_EQ(t.DropIds(DropReason::kLinkDown), Range(41, 100));
  for (const auto& d : t.drops) {
    if (d.id <= 50) {
      EXPECT_EQ(d.at, 50500us) << "in-flight drops happen when the link goes down";
    }
  }
  EXPECT_EQ(t.link().counters().Dropped(DropReason::kLinkDown), 60u);
  EXPECT_EQ(t.link().state(), LinkState::kUp);
  ExpectConserved(t.link());
}

TEST(LinkState, DownFlushesTheQueueAndFreesTheTransmitter) {
  OneWay t(k10Mbit5ms, {.packet_size = 1500, .count = 10});
  t.sim.SetLinkState(t.link_id, 3ms, LinkState::kDown);
  t.sim.SetLinkState(t.link_id, 4ms, LinkState::kUp);
  t.sim.Schedule(10ms, [&t] { t.sim.Inject({t.a, 0}, MakeTestPayload(100, 1500)); });
  t.sim.Run(1s);
  ASSERT_EQ(t.sink.arrivals().size(), 1u);
  EXPECT_EQ(t.sink.arrivals()[0].seq, 100u);
  EXPECT_EQ(t.sink.arrivals()[0].at, 10ms + 1200us + 5ms);
  EXPECT_EQ(t.DropIds(DropReason::kLinkDown), Range(0, 9));
  ExpectConserved(t.link());
}

TEST(LinkState, BlackholeDropsWhatIsSentButDeliversWhatIsInFlight) {
  OneWay t({.delay = 10ms}, {.packet_size = 100, .interval = 1ms, .count = 150});
  t.sim.SetLinkState(t.link_id, 50500us, LinkState::kBlackhole);
  t.sim.SetLinkState(t.link_id, 100500us, LinkState::kUp);
  t.sim.Run(1s);
  EXPECT_EQ(t.sink.seqs(), Concat(Range(0, 50), Range(101, 149)));
  EXPECT_EQ(t.DropIds(DropReason::kBlackhole), Range(51, 100));
  EXPECT_EQ(t.link().counters().Dropped(DropReason::kLinkDown), 0u);
}

TEST(LinkDuplicate, EveryPacketTwiceAtProbabilityOne) {
  uint64_t duplicate_events = 0;
  OneWay t({.delay = 1ms, .duplicate = 1.0}, {.packet_size = 100, .interval = 1ms, .count = 5});
  t.sim.SetTraceHook(
      [&](const TraceEvent& e) { duplicate_events += e.kind == TraceKind::kDuplicate; });
  t.sim.Run(1s);
  EXPECT_THAT(t.sink.seqs(), ElementsAre(0, 0, 1, 1, 2, 2, 3, 3, 4, 4));
  for (size_t i = 0; i < 10; i += 2) {
    EXPECT_EQ(t.sink.arrivals()[i].at, t.sink.arrivals()[i + 1].at);
    EXPECT_EQ(t.sink.arrivals()[i].packet_id, t.sink.arrivals()[i + 1].packet_id);
  }
  EXPECT_EQ(duplicate_events, 5u);
  EXPECT_EQ(t.link().counters().duplicated, 5u);
  EXPECT_EQ(t.link().counters().delivered_packets, 10u);
  ExpectConserved(t.link());
}

TEST(LinkDuplicate, DuplicationRateIsWithinBounds) {
  constexpr uint64_t kCount = 100'000;
  OneWay t({.duplicate = 0.05}, {.packet_size = 64, .interval = 1us, .count = kCount});
  t.sim.Run(1s);
  const uint64_t extra = t.sink.arrivals().size() - kCount;
  EXPECT_EQ(extra, t.link().counters().duplicated);
  EXPECT_NEAR(static_cast<double>(extra), 5000, 5 * 69);  // sigma = sqrt(n p (1-p))
  ExpectConserved(t.link());
}

TEST(LinkCounters, NamesComeFromTheList) {
  EXPECT_EQ(DropReasonName(DropReason::kQueueFull), "queue_full");
  EXPECT_EQ(DropReasonName(DropReason::kNoLink), "no_link");
  EXPECT_EQ(kDropReasonCount, 7u);
  EXPECT_EQ(TraceKindName(TraceKind::kDeliver), "deliver");
}

}  // namespace
}  // namespace braid::sim
