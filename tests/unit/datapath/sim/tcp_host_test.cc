// TcpHost: real IPv4/IPv6 + TCP bytes on simulated links, checksums both ways, counted drops,
// and the drivers (bulk transfer, request/response) and the scenario runner on top.
#include "datapath/sim/tcp_host.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <vector>

#include "datapath/sim/bulk_transfer.h"
#include "datapath/sim/request_response.h"
#include "datapath/sim/scenario.h"
#include "datapath/sim/simulator.h"
#include "datapath/wire/checksum.h"
#include "datapath/wire/ipv4.h"
#include "datapath/wire/ipv6.h"
#include "datapath/wire/tcp.h"

namespace braid::sim {
namespace {

using namespace std::chrono_literals;

const wire::IpAddress kA4 = wire::Ipv4Address::FromU32(0x0a000001);
const wire::IpAddress kB4 = wire::Ipv4Address::FromU32(0x0a000002);
const wire::IpAddress kA6 = *wire::Ipv6Address::Parse("2001:db8::1");
const wire::IpAddress kB6 = *wire::Ipv6Address::Parse("2001:db8::2");

TcpHostConfig Config(uint64_t k) {
  TcpHostConfig c;
  c.backend.secret = tcp::SipKey{k, k * 3 + 1};
  return c;
}

struct Net {
  explicit Net(LinkConfig link = {.rate_bps = 100'000'000, .delay = 5ms})
      : sim(42), a(Config(1)), b(Config(2)) {
    a.AddAddress(0, kA4);
    a.AddAddress(0, kA6);
    b.AddAddress(0, kB4);
    b.AddAddress(0, kB6);
    na = sim.AddNode(a);
    nb = sim.AddNode(b);
    path = sim.Connect(Endpoint{na, 0}, Endpoint{nb, 0}, link);
    sim.SetTraceHook([this](const TraceEvent& e) {
      if (e.kind == TraceKind::kDeliver) delivered.push_back(e.packet.bytes);
    });
  }
  Simulator sim;
  TcpHost a, b;
  NodeId na, nb;
  DuplexLink path;
  std::vector<std::vector<uint8_t>> delivered;
};

BulkConfig Bulk(const wire::IpAddress& client, const wire::IpAddress& server, uint64_t bytes) {
  BulkConfig c;
  c.flows = 2;
  c.bytes_per_flow = bytes;
  c.seed = 7;
  c.client = client;
  c.server = server;
  return c;
}

void RunBulk(Net& n, const BulkConfig& cfg, std::vector<BulkFlowStats>& stats) {
  BulkSender sender(cfg, stats);
  BulkReceiver receiver(cfg, stats);
  n.a.SetApp(&sender);
  n.b.SetApp(&receiver);
  ASSERT_EQ(receiver.Listen(n.b.backend()), tcp::TcpError::kOk);
  const bool done = n.sim.RunUntil(
      [&] {
        for (const BulkFlowStats& f : stats) {
          if (!(f.fin_at && f.client_closed_at && f.server_closed_at)) return false;
        }
        return true;
      },
      SimTime(60s));
  EXPECT_TRUE(done);
  n.a.SetApp(nullptr);
  n.b.SetApp(nullptr);
}

TEST(TcpHost, BulkTransferOverIpv4IsByteExact) {
  Net n;
  std::vector<BulkFlowStats> stats;
  RunBulk(n, Bulk(kA4, kB4, 300'000), stats);
  ASSERT_EQ(stats.size(), 2u);
  for (const BulkFlowStats& f : stats) {
    EXPECT_TRUE(f.Complete());
    EXPECT_EQ(f.bytes_received, 300'000u);
    EXPECT_TRUE(f.HashesMatch());
    EXPECT_FALSE(f.client_reset.has_value());
  }
  // Different flows carry different bytes (seeded per flow).
  EXPECT_NE(stats[0].sent_hash.Digest(), stats[1].sent_hash.Digest());
  EXPECT_EQ(n.b.counters().rx_packets, n.sim.link(n.path.a_to_b).counters().delivered_packets);
  for (size_t d = 0; d < kHostDropCount; ++d) {
    EXPECT_EQ(n.a.counters().drops[d], 0u) << HostDropName(static_cast<HostDrop>(d));
    EXPECT_EQ(n.b.counters().drops[d], 0u) << HostDropName(static_cast<HostDrop>(d));
  }
}

TEST(TcpHost, BulkTransferOverIpv6IsByteExact) {
  Net n;
  std::vector<BulkFlowStats> stats;
  RunBulk(n, Bulk(kA6, kB6, 200'000), stats);
  for (const BulkFlowStats& f : stats) {
    EXPECT_TRUE(f.Complete());
    EXPECT_TRUE(f.HashesMatch());
  }
  // What crossed the link is IPv6 + TCP with a valid checksum and the IPv6 MSS.
  ASSERT_FALSE(n.delivered.empty());
  auto ip = wire::Ipv6Packet::Check(n.delivered.front());
  ASSERT_TRUE(ip.ok());
  EXPECT_EQ(ip->next_header(), wire::IpProtocol::kTcp);
  EXPECT_EQ(ip->hop_limit(), 64);
  auto tcp = wire::TcpSegment::Check(ip->payload());
  ASSERT_TRUE(tcp.ok());
  EXPECT_TRUE(tcp->VerifyChecksumV6(ip->source(), ip->destination()));
  const wire::TcpRepr syn = wire::TcpRepr::Parse(*tcp);
  EXPECT_TRUE(syn.flags.syn());
  EXPECT_EQ(syn.options.mss, 1440);
}

TEST(TcpHost, FramesValidIpv4WithChecksums) {
  Net n;
  std::vector<BulkFlowStats> stats;
  RunBulk(n, Bulk(kA4, kB4, 20'000), stats);
  ASSERT_FALSE(n.delivered.empty());
  size_t data = 0;
  for (const auto& bytes : n.delivered) {
    auto ip = wire::Ipv4Packet::Check(bytes);
    ASSERT_TRUE(ip.ok());
    EXPECT_TRUE(ip->checksum_ok());
    EXPECT_TRUE(ip->dont_fragment());
    EXPECT_EQ(ip->ttl(), 64);
    EXPECT_EQ(ip->protocol(), wire::IpProtocol::kTcp);
    auto tcp = wire::TcpSegment::Check(ip->payload());
    ASSERT_TRUE(tcp.ok());
    EXPECT_TRUE(tcp->VerifyChecksumV4(ip->source(), ip->destination()));
    if (!tcp->payload().empty()) ++data;
    EXPECT_LE(bytes.size(), 1500u);
  }
  EXPECT_GT(data, 0u);
}

// Sends `bytes` to host b as if from a's interface.
void InjectToB(Net& n, std::vector<uint8_t> bytes) {
  n.sim.Inject(Endpoint{n.na, 0}, std::move(bytes));
  n.sim.RunFor(1s);
}

std::vector<uint8_t> Syn4(uint16_t dst_port, const wire::IpAddress& dst = kB4) {
  wire::TcpRepr t;
  t.src_port = 40000;
  t.dst_port = dst_port;
  t.seq = wire::TcpSeq(1000);
  t.flags = wire::TcpFlag::kSyn;
  t.window = 1000;
  wire::Ipv4Repr ip;
  ip.source = std::get<wire::Ipv4Address>(kA4);
  ip.destination = std::get<wire::Ipv4Address>(dst);
  ip.payload_len = static_cast<uint16_t>(t.HeaderLen());
  std::vector<uint8_t> b(20 + t.HeaderLen());
  EXPECT_TRUE(ip.Emit(b));
  EXPECT_TRUE(t.Emit(std::span<uint8_t>(b).subspan(20)));
  EXPECT_TRUE(
      wire::TcpRepr::FillChecksumV4(std::span<uint8_t>(b).subspan(20), ip.source, ip.destination));
  return b;
}

TEST(TcpHost, SynToClosedPortIsAnsweredWithRstOnTheWire) {
  Net n;
  InjectToB(n, Syn4(9));
  ASSERT_EQ(n.delivered.size(), 2u);  // our SYN, then b's RST back to a
  auto ip = wire::Ipv4Packet::Check(n.delivered[1]);
  ASSERT_TRUE(ip.ok());
  auto tcp = wire::TcpSegment::Check(ip->payload());
  ASSERT_TRUE(tcp.ok());
  EXPECT_EQ(tcp->flags(), wire::TcpFlag::kRst | wire::TcpFlag::kAck);
  EXPECT_EQ(tcp->ack(), wire::TcpSeq(1001));
  EXPECT_EQ(n.b.backend().counters()[tcp::BackendCounter::kNoListenerResets], 1u);
  // Host a has no connection either: the RST is dropped there, silently.
  EXPECT_EQ(n.a.backend().counters()[tcp::BackendCounter::kNoListenerDrops], 1u);
}

TEST(TcpHost, MalformedPacketsAreCountedByReason) {
  Net n;
  std::vector<uint8_t> good = Syn4(9);

  std::vector<uint8_t> bad_ip = good;
  bad_ip[10] ^= 0xff;  // IPv4 header checksum
  InjectToB(n, bad_ip);
  EXPECT_EQ(n.b.counters().Dropped(HostDrop::kBadIpChecksum), 1u);

  std::vector<uint8_t> bad_tcp = good;
  bad_tcp[20 + 4] ^= 0x01;  // a sequence-number bit: the TCP checksum no longer verifies
  InjectToB(n, bad_tcp);
  EXPECT_EQ(n.b.counters().Dropped(HostDrop::kBadTcpChecksum), 1u);

  InjectToB(n, std::vector<uint8_t>(good.begin(), good.begin() + 10));
  EXPECT_EQ(n.b.counters().Dropped(HostDrop::kMalformedIp), 1u);
  InjectToB(n, {});
  EXPECT_EQ(n.b.counters().Dropped(HostDrop::kMalformedIp), 2u);

  InjectToB(n, Syn4(9, wire::Ipv4Address::FromU32(0x0a0000fe)));
  EXPECT_EQ(n.b.counters().Dropped(HostDrop::kNotForUs), 1u);

  // UDP instead of TCP, and a fragment: rebuild the header with a valid checksum.
  auto rebuild = [&](auto change) {
    auto ip = wire::Ipv4Packet::Check(good);
    wire::Ipv4Repr r = *wire::Ipv4Repr::Parse(*ip);
    change(r);
    std::vector<uint8_t> b = good;
    EXPECT_TRUE(r.Emit(b));
    return b;
  };
  InjectToB(n, rebuild([](wire::Ipv4Repr& r) { r.protocol = wire::IpProtocol::kUdp; }));
  EXPECT_EQ(n.b.counters().Dropped(HostDrop::kNotTcp), 1u);
  InjectToB(n, rebuild([](wire::Ipv4Repr& r) { r.more_fragments = true; }));
  EXPECT_EQ(n.b.counters().Dropped(HostDrop::kFragment), 1u);

  // A TCP header that claims more than the packet holds.
  std::vector<uint8_t> short_tcp = rebuild([](wire::Ipv4Repr& r) { r.payload_len = 12; });
  short_tcp.resize(32);
  InjectToB(n, short_tcp);
  EXPECT_EQ(n.b.counters().Dropped(HostDrop::kMalformedTcp), 1u);
  EXPECT_EQ(n.b.counters().rx_packets, 0u);
}

TEST(TcpHost, SegmentsFromAnUnknownSourceAddressHaveNoRoute) {
  Net n;
  tcp::ConnectRequest req;
  req.flow = tcp::FlowKey{wire::Ipv4Address::FromU32(0x0a0000aa), 40000, kB4, 80};
  tcp::ConnectionId id;
  ASSERT_EQ(n.a.backend().Connect(req, TcpHost::ToInstant(n.sim.now()), &id), tcp::TcpError::kOk);
  EXPECT_EQ(n.a.counters().Dropped(HostDrop::kNoRoute), 1u);
}

TEST(TcpHost, AppCallsOutsideCallbacksAreFlushedAtTheNextRun) {
  Net n;
  tcp::ListenerId lid;
  ASSERT_EQ(n.b.backend().Listen(nullptr, 80, {}, nullptr, &lid), tcp::TcpError::kOk);
  tcp::ConnectRequest req;
  req.flow = tcp::FlowKey{kA4, 40000, kB4, 80};
  tcp::ConnectionId id;
  ASSERT_EQ(n.a.backend().Connect(req, TcpHost::ToInstant(n.sim.now()), &id), tcp::TcpError::kOk);
  EXPECT_EQ(n.a.PollAt(), SimTime(0));  // the SYN waits for a NodeContext
  n.sim.RunFor(100ms);
  EXPECT_EQ(n.a.backend().Info(id)->state, tcp::TcpState::kEstablished);
}

TEST(TcpHost, RequestResponseCompletesEveryExchange) {
  Net n;
  RrConfig c;
  c.request_size = 200;
  c.response_size = 30'000;
  c.count = 20;
  c.client = kA4;
  c.server = kB4;
  RrClient client(c);
  RrServer server(c);
  n.a.SetApp(&client);
  n.b.SetApp(&server);
  ASSERT_EQ(server.Listen(n.b.backend()), tcp::TcpError::kOk);
  ASSERT_TRUE(n.sim.RunUntil([&] { return client.done(); }, SimTime(60s)));
  EXPECT_FALSE(client.failed());
  ASSERT_EQ(client.completions().size(), 20u);
  EXPECT_EQ(server.responses(), 20u);
  EXPECT_EQ(server.protocol_errors(), 0u);
  for (tcp::Duration d : client.completions()) EXPECT_GE(d, 10ms);  // at least one RTT
  n.a.SetApp(nullptr);
  n.b.SetApp(nullptr);
}

TEST(Scenario, LossyBulkTransferCompletesByteExact) {
  ScenarioConfig c;
  c.seed = 3;
  c.loss = 0.02;
  c.reorder = 0.02;
  c.flows = 2;
  c.bytes = 200'000;
  const ScenarioResult r = RunScenario(c);
  EXPECT_TRUE(r.all_complete);
  EXPECT_TRUE(r.all_match);
  EXPECT_GT(r.data_link.Dropped(DropReason::kRandomLoss), 0u);
  uint64_t retransmits = 0;
  for (const FlowResult& f : r.flows) retransmits += f.retransmits;
  EXPECT_GT(retransmits, 0u);
  EXPECT_GT(r.goodput_bps, 0);
}

TEST(Scenario, SameSeedSameRun) {
  ScenarioConfig c;
  c.seed = 11;
  c.loss = 0.01;
  c.bytes = 100'000;
  const ScenarioResult a = RunScenario(c);
  const ScenarioResult b = RunScenario(c);
  EXPECT_EQ(a.end, b.end);
  EXPECT_EQ(a.flows[0].sha_received, b.flows[0].sha_received);
  EXPECT_EQ(a.data_link.sent_packets, b.data_link.sent_packets);
}

TEST(Scenario, RequestResponseQuantiles) {
  ScenarioConfig c;
  c.mode = ScenarioConfig::Mode::kRequestResponse;
  c.request_size = 1000;
  c.response_size = 20'000;
  c.requests = 10;
  const ScenarioResult r = RunScenario(c);
  EXPECT_TRUE(r.all_complete);
  ASSERT_EQ(r.completions.size(), 10u);
  EXPECT_LE(Quantile(r.completions, 0.5), Quantile(r.completions, 0.99));
  EXPECT_EQ(Quantile({}, 0.5), tcp::Duration::zero());
  EXPECT_EQ(Quantile({1ms, 2ms, 3ms, 4ms}, 0.5), 2ms);
  EXPECT_EQ(Quantile({1ms, 2ms, 3ms, 4ms}, 0.99), 4ms);
}

}  // namespace
}  // namespace braid::sim
