// The event core: ordering of equal-time events, Run/RunUntil, polling nodes at their deadlines,
// several interfaces per node, packet metadata and unwired interfaces.
#include "datapath/sim/simulator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "datapath/sim/test_nodes.h"

namespace braid::sim {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;

TEST(SimulatorEvents, RunInTimeThenInsertionOrder) {
  Simulator sim(1);
  std::string order;
  sim.Schedule(5ms, [&] { order += 'a'; });
  sim.Schedule(1ms, [&] { order += 'b'; });
  sim.Schedule(5ms, [&] { order += 'c'; });
  sim.Schedule(1ms, [&] { order += 'd'; });
  sim.Schedule(3ms, [&] {
    order += 'e';
    sim.Schedule(3ms, [&] { order += 'f'; });  // same time, scheduled later: runs after
  });
  sim.Schedule(3ms, [&] { order += 'g'; });
  sim.Run(10ms);
  EXPECT_EQ(order, "bdegfac");
}

TEST(SimulatorEvents, RunStopsAtItsLimitAndKeepsLaterEvents) {
  Simulator sim(1);
  int fired = 0;
  sim.Schedule(10ms, [&] { ++fired; });
  sim.Run(5ms);
  EXPECT_EQ(fired, 0);
  EXPECT_EQ(sim.now(), 5ms);
  EXPECT_EQ(sim.pending_events(), 1u);
  sim.RunFor(5ms);  // events exactly at the limit run
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(sim.now(), 10ms);
}

TEST(SimulatorEvents, RunUntilStopsWhenThePredicateHolds) {
  Simulator sim(1);
  CbrSender sender({.packet_size = 100, .start = 1ms, .interval = 1ms, .count = 10});
  Sink sink;
  const NodeId a = sim.AddNode(sender);
  const NodeId b = sim.AddNode(sink);
  sim.AddLink({a, 0}, {b, 0}, {.delay = 500us});
  EXPECT_TRUE(sim.RunUntil([&] { return sink.arrivals().size() >= 3; }, 1s));
  EXPECT_EQ(sim.now(), 3500us);
  EXPECT_FALSE(sim.RunUntil([&] { return sink.arrivals().size() >= 100; }, 2s));
  EXPECT_EQ(sim.now(), 2s);
  EXPECT_EQ(sink.arrivals().size(), 10u);
}

TEST(SimulatorEventsDeathTest, RejectsTheFuture) {
  Simulator sim(1);
  sim.Run(5ms);
  EXPECT_DEATH(sim.Schedule(1ms, [] {}), "in the past");
}

// A node driven only by its own deadlines; a packet can move its deadline.
class TimerNode : public Node {
 public:
  std::optional<SimTime> deadline;
  std::optional<SimTime> on_receive;  // the deadline a packet sets
  std::vector<SimTime> polls;

  void Receive(SimTime, InterfaceIndex, Packet, NodeContext&) override { deadline = on_receive; }
  std::optional<SimTime> PollAt() const override { return deadline; }
  void Poll(SimTime now, NodeContext&) override {
    polls.push_back(now);
    deadline.reset();
  }
};

TEST(SimulatorPolling, PollsExactlyAtTheDeadline) {
  Simulator sim(1);
  TimerNode node;
  sim.AddNode(node);
  node.deadline = 7ms;
  sim.Run(1s);
  EXPECT_THAT(node.polls, ElementsAre(7ms));
}

TEST(SimulatorPolling, DeadlineInThePastMeansNow) {
  Simulator sim(1);
  TimerNode node;
  sim.AddNode(node);
  sim.Run(10ms);
  node.deadline = 3ms;  // set from outside: picked up by the next Run
  sim.Run(20ms);
  EXPECT_THAT(node.polls, ElementsAre(10ms));
}

TEST(SimulatorPolling, APacketCanMoveTheDeadlineLaterOrEarlier) {
  for (const SimTime moved : {20ms, 7ms}) {
    Simulator sim(1);
    CbrSender sender({.packet_size = 100, .start = 5ms, .count = 1});
    TimerNode node;
    const NodeId a = sim.AddNode(sender);
    const NodeId b = sim.AddNode(node);
    sim.AddLink({a, 0}, {b, 0}, {});
    node.deadline = 10ms;
    node.on_receive = moved;  // at 5 ms
    sim.Run(1s);
    EXPECT_THAT(node.polls, ElementsAre(moved)) << "the 10 ms poll must not fire";
  }
}

TEST(SimulatorPackets, PingPongRoundTripIsExact) {
  Simulator sim(1);
  CbrSender pinger({.packet_size = 1500, .start = 1ms, .count = 1});
  Echo echo;
  const NodeId a = sim.AddNode(pinger);
  const NodeId b = sim.AddNode(echo);
  sim.Connect({a, 0}, {b, 0}, {.rate_bps = 10'000'000, .delay = 5ms});
  sim.Run(1s);
  ASSERT_EQ(pinger.arrivals().size(), 1u);
  EXPECT_EQ(pinger.arrivals()[0].at, 1ms + 2 * (1200us + 5ms));
  EXPECT_EQ(pinger.arrivals()[0].seq, 0u);
  EXPECT_EQ(pinger.arrivals()[0].sent_at, 1ms + 1200us + 5ms);  // the echo's send time
  EXPECT_EQ(echo.echoed(), 1u);
}

// Sends one packet on each of its interfaces at time zero.
class MultiSender : public Sink {
 public:
  explicit MultiSender(InterfaceIndex interfaces) : interfaces_(interfaces) {}
  std::optional<SimTime> PollAt() const override {
    return sent_ ? std::nullopt : std::optional<SimTime>(0ms);
  }
  void Poll(SimTime, NodeContext& out) override {
    for (InterfaceIndex i = 0; i < interfaces_; ++i)
      ids.push_back(out.Send(i, MakeTestPayload(i, 100)));
    sent_ = true;
  }
  std::vector<uint64_t> ids;

 private:
  InterfaceIndex interfaces_;
  bool sent_ = false;
};

TEST(SimulatorPackets, NodesHaveSeveralInterfaces) {
  // Three paths with 1, 2 and 3 ms of delay; each echo comes back on the path it went out on.
  Simulator sim(1);
  MultiSender client(3);
  Echo server;
  const NodeId a = sim.AddNode(client);
  const NodeId b = sim.AddNode(server);
  for (InterfaceIndex i = 0; i < 3; ++i) {
    sim.Connect({a, i}, {b, i}, {.delay = 1ms * (i + 1)});
  }
  sim.Run(1s);
  ASSERT_EQ(client.arrivals().size(), 3u);
  for (InterfaceIndex i = 0; i < 3; ++i) {
    EXPECT_EQ(client.arrivals()[i].interface, i);
    EXPECT_EQ(client.arrivals()[i].seq, i);
    EXPECT_EQ(client.arrivals()[i].at, 2ms * (i + 1));
  }
  EXPECT_EQ(sim.link_count(), 6u);
}

TEST(SimulatorPackets, MetadataAndTrace) {
  Simulator sim(1);
  MultiSender client(2);
  Sink sink;
  const NodeId a = sim.AddNode(client);
  const NodeId b = sim.AddNode(sink);
  const LinkId link = sim.AddLink({a, 1}, {b, 4}, {.delay = 1ms});
  std::vector<std::string> trace;
  sim.SetTraceHook([&](const TraceEvent& e) {
    std::string line = std::to_string(e.at.count()) + " " + std::string(TraceKindName(e.kind)) +
                       " id=" + std::to_string(e.packet.id) +
                       " link=" + (e.link ? std::to_string(e.link->value) : "-");
    if (e.kind == TraceKind::kDrop) line += " " + std::string(DropReasonName(e.reason));
    trace.push_back(line);
  });
  sim.Run(1s);
  // Interface 0 has no link: dropped by name, counted.
  EXPECT_THAT(trace, ElementsAre("0 enqueue id=0 link=-", "0 drop id=0 link=- no_link",
                                 "0 enqueue id=1 link=0", "1000000 deliver id=1 link=0"));
  EXPECT_THAT(client.ids, ElementsAre(0, 1));
  EXPECT_EQ(sim.unrouted_packets(), 1u);
  ASSERT_EQ(sink.arrivals().size(), 1u);
  EXPECT_EQ(sink.arrivals()[0].interface, 4u);
  EXPECT_EQ(sink.arrivals()[0].packet_id, 1u);
  EXPECT_EQ(sim.link(link).from(), (Endpoint{a, 1}));
  EXPECT_EQ(sim.link(link).to(), (Endpoint{b, 4}));
}

TEST(SimulatorPackets, InjectSendsAsTheNode) {
  Simulator sim(1);
  Sink left, right;
  const NodeId a = sim.AddNode(left);
  const NodeId b = sim.AddNode(right);
  sim.Connect({a, 0}, {b, 0}, {.delay = 2ms});
  sim.Schedule(3ms, [&] { sim.Inject({b, 0}, MakeTestPayload(9, 64)); });
  sim.Run(1s);
  ASSERT_EQ(left.arrivals().size(), 1u);
  EXPECT_EQ(left.arrivals()[0].at, 5ms);
  EXPECT_EQ(left.arrivals()[0].seq, 9u);
}

TEST(SimulatorWiringDeathTest, OneOutgoingLinkPerInterface) {
  Simulator sim(1);
  Sink x, y;
  const NodeId a = sim.AddNode(x);
  const NodeId b = sim.AddNode(y);
  sim.AddLink({a, 0}, {b, 0}, {});
  EXPECT_DEATH(sim.AddLink({a, 0}, {b, 1}, {}), "already has an outgoing link");
  EXPECT_DEATH(sim.AddLink({a, 1}, {NodeId{7}, 0}, {}), "unknown node");
}

}  // namespace
}  // namespace braid::sim
