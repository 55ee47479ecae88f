#include "datapath/io/steering.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <vector>

#include "tests/unit/datapath/io/frames.h"

namespace braid::io {
namespace {

using testing::Ipv4TcpFrame;
using testing::Ipv6TcpFrame;
using testing::V4;
using testing::V6;

bool Covers(const std::vector<PortPrefix>& prefixes, uint16_t port) {
  return std::any_of(prefixes.begin(), prefixes.end(),
                     [&](const PortPrefix& p) { return (port & p.mask) == p.value; });
}

// Every port of the range is matched by exactly one prefix, and nothing outside is.
void ExpectExactCover(const PortRange& range) {
  const std::vector<PortPrefix> prefixes = PortRangeToPrefixes(range);
  for (uint32_t p = 0; p <= 0xffff; ++p) {
    int matches = 0;
    for (const PortPrefix& prefix : prefixes) {
      EXPECT_EQ(prefix.value & ~prefix.mask & 0xffff, 0) << "value has bits outside its mask";
      if ((p & prefix.mask) == prefix.value) ++matches;
    }
    ASSERT_EQ(matches, range.Contains(static_cast<uint16_t>(p)) ? 1 : 0)
        << "port " << p << " in " << range.first << "-" << range.last;
  }
}

TEST(PortRangeToPrefixes, AlignedPowerOfTwoIsOneRule) {
  EXPECT_EQ(PortRangeToPrefixes({32768, 49151}), (std::vector<PortPrefix>{{32768, 0xc000}}));
  EXPECT_EQ(PortRangeToPrefixes({80, 80}), (std::vector<PortPrefix>{{80, 0xffff}}));
  EXPECT_EQ(PortRangeToPrefixes({0, 65535}), (std::vector<PortPrefix>{{0, 0}}));
}

TEST(PortRangeToPrefixes, EmptyRangeHasNoRules) {
  EXPECT_TRUE(PortRangeToPrefixes({10, 9}).empty());
}

TEST(PortRangeToPrefixes, ExactCoverOfAwkwardRanges) {
  ExpectExactCover({32768, 60999});  // Linux's ip_local_port_range
  ExpectExactCover({1, 65535});
  ExpectExactCover({1023, 1025});
  ExpectExactCover({65535, 65535});
  std::mt19937 rng(7);
  for (int i = 0; i < 20; ++i) {
    uint16_t a = static_cast<uint16_t>(rng());
    uint16_t b = static_cast<uint16_t>(rng());
    ExpectExactCover({std::min(a, b), std::max(a, b)});
  }
}

TEST(PortRangeToPrefixes, AtMostThirtyRules) {
  EXPECT_LE(PortRangeToPrefixes({1, 65534}).size(), 30u);
  EXPECT_TRUE(Covers(PortRangeToPrefixes({1, 65534}), 1));
}

TEST(SplitPortRange, PowerOfTwoAlignedSlicesInsideTheRange) {
  const std::vector<PortRange> two = SplitPortRange({32768, 60999}, 2);
  EXPECT_EQ(two, (std::vector<PortRange>{{32768, 40959}, {40960, 49151}}));
  for (unsigned workers : {1u, 2u, 3u, 4u, 7u, 16u}) {
    const std::vector<PortRange> slices = SplitPortRange({32768, 60999}, workers);
    ASSERT_EQ(slices.size(), workers);
    for (size_t i = 0; i < slices.size(); ++i) {
      EXPECT_GE(slices[i].first, 32768);
      EXPECT_LE(slices[i].last, 60999);
      EXPECT_EQ(PortRangeToPrefixes(slices[i]).size(), 1u) << "one rule per worker";
      EXPECT_EQ(slices[i].size(), slices[0].size());
      if (i > 0) {
        EXPECT_GT(slices[i].first, slices[i - 1].last);
      }
    }
  }
  EXPECT_TRUE(SplitPortRange({100, 101}, 3).empty());
  EXPECT_TRUE(SplitPortRange({100, 200}, 0).empty());
}

SteeringConfig TwoWorkers() {
  SteeringConfig c;
  c.workers = 2;
  c.client_ranges = {{32768, 40959}, {40960, 49151}};
  c.listen = {{80, kAnyWorker}, {8080, 1}};
  c.hash_key = {0x0123456789abcdefULL, 0xfedcba9876543210ULL};
  return c;
}

TEST(SteeringTable, RejectsContradictoryConfigs) {
  SteeringConfig c = TwoWorkers();
  c.workers = 0;
  EXPECT_EQ(SteeringTable::Create(c).status().code(), absl::StatusCode::kInvalidArgument);
  c = TwoWorkers();
  c.client_ranges = {{32768, 40959}, {40000, 49151}};
  EXPECT_EQ(SteeringTable::Create(c).status().code(), absl::StatusCode::kInvalidArgument);
  c = TwoWorkers();
  c.listen.push_back({33000, kAnyWorker});  // inside worker 0's range
  EXPECT_EQ(SteeringTable::Create(c).status().code(), absl::StatusCode::kInvalidArgument);
  c = TwoWorkers();
  c.listen.push_back({80, 0});  // twice
  EXPECT_EQ(SteeringTable::Create(c).status().code(), absl::StatusCode::kInvalidArgument);
  c = TwoWorkers();
  c.listen.push_back({443, 2});  // no worker 2
  EXPECT_EQ(SteeringTable::Create(c).status().code(), absl::StatusCode::kInvalidArgument);
  c = TwoWorkers();
  c.client_ranges.push_back({50000, 50100});  // three ranges, two workers
  EXPECT_EQ(SteeringTable::Create(c).status().code(), absl::StatusCode::kInvalidArgument);
  c = TwoWorkers();
  c.default_worker = 2;
  EXPECT_EQ(SteeringTable::Create(c).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(SteeringTable::Create(TwoWorkers()).ok());
}

TEST(SteeringTable, RepliesGoToTheWorkerWhoseRangeHoldsTheLocalPort) {
  auto table = SteeringTable::Create(TwoWorkers());
  ASSERT_TRUE(table.ok());
  // A reply from the server 198.51.100.7:443 to our port 33000 (worker 0) and 45000 (worker 1).
  EXPECT_EQ(table->Steer(Ipv4TcpFrame(V4("198.51.100.7"), 443, V4("192.0.2.10"), 33000)), 0);
  EXPECT_EQ(table->Steer(Ipv4TcpFrame(V4("198.51.100.7"), 443, V4("192.0.2.10"), 45000)), 1);
  EXPECT_EQ(table->Steer(Ipv6TcpFrame(V6("2001:db8::7"), 443, V6("2001:db8::10"), 40959)), 0);
  EXPECT_EQ(table->Steer(Ipv6TcpFrame(V6("2001:db8::7"), 443, V6("2001:db8::10"), 40960)), 1);
  // Behind an 802.1Q tag too.
  EXPECT_EQ(table->Steer(Ipv4TcpFrame(V4("198.51.100.7"), 443, V4("192.0.2.10"), 45000, {}, 42)),
            1);
  EXPECT_EQ(table->PortOwner(45000), 1);
  EXPECT_EQ(table->PortOwner(80), kAnyWorker);
}

TEST(SteeringTable, PinnedListenPortGoesToItsWorker) {
  auto table = SteeringTable::Create(TwoWorkers());
  ASSERT_TRUE(table.ok());
  for (uint16_t sport = 1000; sport < 1100; ++sport) {
    EXPECT_EQ(table->Steer(Ipv4TcpFrame(V4("203.0.113.5"), sport, V4("192.0.2.10"), 8080)), 1);
  }
}

TEST(SteeringTable, SharedListenPortSpreadsByHashAndIsStablePerFlow) {
  auto table = SteeringTable::Create(TwoWorkers());
  ASSERT_TRUE(table.ok());
  int per_worker[2] = {0, 0};
  for (uint16_t sport = 20000; sport < 21000; ++sport) {
    const auto frame = Ipv4TcpFrame(V4("203.0.113.5"), sport, V4("192.0.2.10"), 80);
    const uint16_t w = table->Steer(frame);
    ASSERT_LT(w, 2);
    ++per_worker[w];
    EXPECT_EQ(table->Steer(frame), w) << "a flow must stay on its worker";
    const tcp::FlowKey flow{V4("192.0.2.10"), 80, V4("203.0.113.5"), sport};
    EXPECT_EQ(table->HashOwner(flow), w);
  }
  EXPECT_GT(per_worker[0], 400);
  EXPECT_GT(per_worker[1], 400);

  // Another key spreads differently: a peer cannot aim at one worker without the key.
  SteeringConfig other = TwoWorkers();
  other.hash_key = {1, 2};
  auto table2 = SteeringTable::Create(other);
  ASSERT_TRUE(table2.ok());
  int differ = 0;
  for (uint16_t sport = 20000; sport < 20100; ++sport) {
    const auto frame = Ipv4TcpFrame(V4("203.0.113.5"), sport, V4("192.0.2.10"), 80);
    differ += table->Steer(frame) != table2->Steer(frame) ? 1 : 0;
  }
  EXPECT_GT(differ, 20);
}

TEST(SteeringTable, ExactFlowOverridesHashAndRange) {
  auto table = SteeringTable::Create(TwoWorkers());
  ASSERT_TRUE(table.ok());
  const tcp::FlowKey flow{V4("192.0.2.10"), 80, V4("203.0.113.5"), 20001};
  const auto frame = Ipv4TcpFrame(V4("203.0.113.5"), 20001, V4("192.0.2.10"), 80);
  const uint16_t hashed = table->Steer(frame);
  ASSERT_TRUE(table->AddFlow(flow, static_cast<uint16_t>(1 - hashed)));
  EXPECT_EQ(table->Steer(frame), 1 - hashed);
  EXPECT_EQ(table->flows(), 1u);
  ASSERT_TRUE(table->RemoveFlow(flow));
  EXPECT_EQ(table->Steer(frame), hashed);
  EXPECT_FALSE(table->AddFlow(flow, 2)) << "no worker 2";
}

TEST(SteeringTable, ExactFlowTableHasFixedCapacity) {
  SteeringConfig c = TwoWorkers();
  c.max_flows = 4;
  auto table = SteeringTable::Create(c);
  ASSERT_TRUE(table.ok());
  for (uint16_t i = 0; i < 4; ++i) {
    EXPECT_TRUE(table->AddFlow({V4("192.0.2.10"), 80, V4("203.0.113.5"), i}, 1));
  }
  EXPECT_FALSE(table->AddFlow({V4("192.0.2.10"), 80, V4("203.0.113.5"), 99}, 1));
  EXPECT_TRUE(table->AddFlow({V4("192.0.2.10"), 80, V4("203.0.113.5"), 3}, 0)) << "overwrite";
}

TEST(ClassifyFrame, ArpAndNeighbourDiscoveryGoToEveryWorker) {
  auto table = SteeringTable::Create(TwoWorkers());
  ASSERT_TRUE(table.ok());
  std::vector<uint8_t> arp;
  testing::PutEthernet(arp, 0x0806);
  arp.resize(arp.size() + 28, 0);
  EXPECT_EQ(ClassifyFrame(arp).kind, FrameKind::kNeighbor);
  EXPECT_EQ(table->Steer(arp), kBroadcast);

  for (uint8_t type : {133, 134, 135, 136, 137}) {
    std::vector<uint8_t> nd;
    testing::PutEthernet(nd, 0x86dd);
    testing::PutIpv6(nd, V6("fe80::1"), V6("ff02::1:ff00:10"), 58, 24);
    nd.push_back(type);
    nd.resize(nd.size() + 23, 0);
    EXPECT_EQ(table->Steer(nd), kBroadcast) << int{type};
  }

  SteeringConfig one;
  auto single = SteeringTable::Create(one);
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(single->Steer(arp), 0) << "one worker: nothing to broadcast";
}

// An ICMP error quoting a segment we sent from worker 1's range goes to worker 1.
TEST(ClassifyFrame, IcmpErrorsGoToTheOwnerOfTheQuotedFlow) {
  auto table = SteeringTable::Create(TwoWorkers());
  ASSERT_TRUE(table.ok());
  std::vector<uint8_t> quoted;
  testing::PutIpv4(quoted, V4("192.0.2.10"), V4("198.51.100.7"), 6, 20);
  testing::PutTcp(quoted, 45000, 443);
  std::vector<uint8_t> f;
  testing::PutEthernet(f, 0x0800);
  testing::PutIpv4(f, V4("203.0.113.1"), V4("192.0.2.10"), 1,
                   static_cast<uint16_t>(8 + quoted.size()));
  const uint8_t icmp[8] = {3, 4, 0, 0, 0, 0, 0x05, 0xdc};  // fragmentation needed, MTU 1500
  f.insert(f.end(), icmp, icmp + 8);
  f.insert(f.end(), quoted.begin(), quoted.end());
  const SteeringKey key = ClassifyFrame(f);
  ASSERT_EQ(key.kind, FrameKind::kIcmpError);
  EXPECT_EQ(key.flow, (tcp::FlowKey{V4("192.0.2.10"), 45000, V4("198.51.100.7"), 443}));
  EXPECT_EQ(table->Steer(f), 1);

  // IPv6 packet too big quoting worker 0's flow.
  std::vector<uint8_t> q6;
  testing::PutIpv6(q6, V6("2001:db8::10"), V6("2001:db8::7"), 6, 20);
  testing::PutTcp(q6, 33000, 443);
  std::vector<uint8_t> f6;
  testing::PutEthernet(f6, 0x86dd);
  testing::PutIpv6(f6, V6("2001:db8::1"), V6("2001:db8::10"), 58,
                   static_cast<uint16_t>(8 + q6.size()));
  const uint8_t ptb[8] = {2, 0, 0, 0, 0, 0, 0x05, 0x00};
  f6.insert(f6.end(), ptb, ptb + 8);
  f6.insert(f6.end(), q6.begin(), q6.end());
  EXPECT_EQ(ClassifyFrame(f6).kind, FrameKind::kIcmpError);
  EXPECT_EQ(table->Steer(f6), 0);
}

TEST(ClassifyFrame, EverythingElseGoesToTheDefaultWorker) {
  SteeringConfig c = TwoWorkers();
  c.default_worker = 1;
  auto table = SteeringTable::Create(c);
  ASSERT_TRUE(table.ok());
  // ICMP echo request.
  std::vector<uint8_t> echo;
  testing::PutEthernet(echo, 0x0800);
  testing::PutIpv4(echo, V4("203.0.113.1"), V4("192.0.2.10"), 1, 8);
  const uint8_t req[8] = {8, 0, 0, 0, 0, 1, 0, 1};
  echo.insert(echo.end(), req, req + 8);
  EXPECT_EQ(ClassifyFrame(echo).kind, FrameKind::kOther);
  EXPECT_EQ(table->Steer(echo), 1);
  // Truncated TCP: 2 bytes of header.
  auto cut = Ipv4TcpFrame(V4("198.51.100.7"), 443, V4("192.0.2.10"), 33000);
  cut.resize(14 + 20 + 2);
  EXPECT_EQ(ClassifyFrame(cut).kind, FrameKind::kMalformed);
  EXPECT_EQ(table->Steer(cut), 1);
  // Runt, unknown ethertype, bad IP version.
  EXPECT_EQ(ClassifyFrame(std::vector<uint8_t>(10, 0)).kind, FrameKind::kMalformed);
  std::vector<uint8_t> lldp;
  testing::PutEthernet(lldp, 0x88cc);
  lldp.resize(60, 0);
  EXPECT_EQ(ClassifyFrame(lldp).kind, FrameKind::kOther);
  auto bad = Ipv4TcpFrame(V4("198.51.100.7"), 443, V4("192.0.2.10"), 33000);
  bad[14] = 0x55;
  EXPECT_EQ(ClassifyFrame(bad).kind, FrameKind::kMalformed);
  // A non-first IPv4 fragment has no TCP header.
  std::vector<uint8_t> frag;
  testing::PutEthernet(frag, 0x0800);
  testing::PutIpv4(frag, V4("198.51.100.7"), V4("192.0.2.10"), 6, 20, 0x0010);
  frag.resize(frag.size() + 20, 0xee);
  EXPECT_EQ(ClassifyFrame(frag).kind, FrameKind::kOther);
}

TEST(ClassifyFrame, Ipv6ExtensionHeadersAreWalked) {
  std::vector<uint8_t> f;
  testing::PutEthernet(f, 0x86dd);
  testing::PutIpv6(f, V6("2001:db8::7"), V6("2001:db8::10"), 0, 8 + 8 + 20);
  const uint8_t hop_by_hop[8] = {60, 0, 1, 4, 0, 0, 0, 0};  // next: destination options
  const uint8_t dest_opts[8] = {6, 0, 1, 4, 0, 0, 0, 0};    // next: TCP
  f.insert(f.end(), hop_by_hop, hop_by_hop + 8);
  f.insert(f.end(), dest_opts, dest_opts + 8);
  testing::PutTcp(f, 443, 45000);
  const SteeringKey key = ClassifyFrame(f);
  ASSERT_EQ(key.kind, FrameKind::kTcp);
  EXPECT_EQ(key.flow, (tcp::FlowKey{V6("2001:db8::10"), 45000, V6("2001:db8::7"), 443}));

  // A header chain running past the packet.
  std::vector<uint8_t> g;
  testing::PutEthernet(g, 0x86dd);
  testing::PutIpv6(g, V6("2001:db8::7"), V6("2001:db8::10"), 43, 8);
  const uint8_t routing[8] = {6, 200, 0, 0, 0, 0, 0, 0};
  g.insert(g.end(), routing, routing + 8);
  EXPECT_EQ(ClassifyFrame(g).kind, FrameKind::kMalformed);
}

TEST(ChooseSteeringMode, HardwareOnlyWithWorkingRulesAndAQueuePerWorker) {
  EXPECT_EQ(ChooseSteeringMode(1, false, 1), SteeringMode::kSingleQueue);
  EXPECT_EQ(ChooseSteeringMode(1, true, 4), SteeringMode::kSingleQueue);
  EXPECT_EQ(ChooseSteeringMode(4, true, 4), SteeringMode::kHardware);
  EXPECT_EQ(ChooseSteeringMode(4, true, 1), SteeringMode::kSoftware);
  EXPECT_EQ(ChooseSteeringMode(4, false, 4), SteeringMode::kSoftware);
  EXPECT_EQ(SteeringModeName(SteeringMode::kSoftware), "software");
}

}  // namespace
}  // namespace braid::io
