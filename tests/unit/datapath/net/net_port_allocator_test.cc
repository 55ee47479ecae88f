// Ephemeral ports (RFC 6056 §3.3.4 Algorithm 4) within a worker's slice.
#include <gtest/gtest.h>

#include <set>

#include "datapath/net/port_allocator.h"
#include "tests/unit/datapath/net/net_fixture.h"

namespace braid::net::test {
namespace {

EphemeralPortConfig Slice(uint16_t first, uint16_t last, tcp::SipKey key = kSecret) {
  EphemeralPortConfig c;
  c.first = first;
  c.last = last;
  c.secret = key;
  c.max_flows = 4096;
  return c;
}

TEST(PortAllocatorTest, PortsStayInTheSliceAndAreUniquePerDestination) {
  EphemeralPortAllocator ports(Slice(40000, 40999));
  std::set<uint16_t> seen;
  for (int i = 0; i < 1000; ++i) {
    auto p = ports.Allocate(kOurIp, kRemoteIp, 443);
    ASSERT_TRUE(p.has_value()) << i;
    EXPECT_TRUE(ports.Owns(*p));
    EXPECT_GE(*p, 40000);
    EXPECT_LE(*p, 40999);
    EXPECT_TRUE(seen.insert(*p).second) << *p;
  }
  // The slice is used up towards this destination...
  EXPECT_FALSE(ports.Allocate(kOurIp, kRemoteIp, 443).has_value());
  // ...but not towards another one (a different 4-tuple).
  EXPECT_TRUE(ports.Allocate(kOurIp, kRemoteIp, 80).has_value());
  EXPECT_TRUE(ports.Allocate(kOurIp, kPeerIp, 443).has_value());
  EXPECT_EQ(ports.reserved(), 1002u);
}

TEST(PortAllocatorTest, ReleasedTuplesCanBeReused) {
  EphemeralPortAllocator ports(Slice(50000, 50001));
  auto a = ports.Allocate(kOurIp, kRemoteIp, 443);
  auto b = ports.Allocate(kOurIp, kRemoteIp, 443);
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  EXPECT_FALSE(ports.Allocate(kOurIp, kRemoteIp, 443).has_value());
  EXPECT_TRUE(ports.Release({kOurIp, *a, kRemoteIp, 443}));
  EXPECT_FALSE(ports.Release({kOurIp, *a, kRemoteIp, 443}));
  EXPECT_EQ(ports.Allocate(kOurIp, kRemoteIp, 443), a);
}

TEST(PortAllocatorTest, CallerPredicateAndExplicitReservations) {
  EphemeralPortAllocator ports(Slice(50000, 50009));
  // The engine still holds 50000..50004 towards this destination (TIME-WAIT, say).
  auto busy = [](const tcp::FlowKey& f) { return f.local_port < 50005; };
  std::set<uint16_t> got;
  for (int i = 0; i < 5; ++i) {
    auto p = ports.Allocate(kOurIp, kRemoteIp, 443, busy);
    ASSERT_TRUE(p.has_value());
    EXPECT_GE(*p, 50005);
    got.insert(*p);
  }
  EXPECT_EQ(got.size(), 5u);
  EXPECT_FALSE(ports.Allocate(kOurIp, kRemoteIp, 443, busy).has_value());
  // An explicit bind reserves its tuple.
  EXPECT_TRUE(ports.Reserve({kOurIp, 50000, kPeerIp, 80}));
  EXPECT_FALSE(ports.Reserve({kOurIp, 50000, kPeerIp, 80}));
  EXPECT_TRUE(ports.IsReserved({kOurIp, 50000, kPeerIp, 80}));
  EXPECT_FALSE(ports.Allocate(kOurIp, kPeerIp6, 80).has_value());  // families differ
}

TEST(PortAllocatorTest, StartIsKeyedAndSequencesWalkTheRange) {
  // Two keys: different first ports (the randomized start), each deterministic.
  EphemeralPortAllocator a(Slice(32768, 60999, {1, 2}));
  EphemeralPortAllocator a2(Slice(32768, 60999, {1, 2}));
  EphemeralPortAllocator b(Slice(32768, 60999, {3, 4}));
  auto pa = a.Allocate(kOurIp, kRemoteIp, 443);
  EXPECT_EQ(pa, a2.Allocate(kOurIp, kRemoteIp, 443));
  EXPECT_NE(pa, b.Allocate(kOurIp, kRemoteIp, 443));
  // Algorithm 4: consecutive connections to one destination take consecutive ports (mod the
  // range), so a freed port is not reused at once.
  auto next = a.Allocate(kOurIp, kRemoteIp, 443);
  ASSERT_TRUE(pa && next);
  EXPECT_EQ(*next, *pa == 60999 ? 32768 : *pa + 1);
}

TEST(PortAllocatorTest, ReservationSetIsBounded) {
  EphemeralPortConfig c = Slice(40000, 40999);
  c.max_flows = 3;
  EphemeralPortAllocator ports(c);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(ports.Allocate(kOurIp, kRemoteIp, 443).has_value());
  EXPECT_FALSE(ports.Allocate(kOurIp, kRemoteIp, 443).has_value());
  EXPECT_FALSE(ports.Reserve({kOurIp, 1, kRemoteIp, 1}));
}

TEST(PortAllocatorTest, RangeIsNormalized) {
  EphemeralPortAllocator ports(Slice(0, 0));
  EXPECT_EQ(ports.first(), 1);
  EXPECT_EQ(ports.Allocate(kOurIp, kRemoteIp, 443), 1);
  EphemeralPortAllocator swapped(Slice(2000, 1000));
  EXPECT_EQ(swapped.first(), 1000);
  EXPECT_EQ(swapped.last(), 2000);
}

}  // namespace
}  // namespace braid::net::test
