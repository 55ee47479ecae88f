// The neighbour cache on its own: RFC 4861 §7.2.5's update rules, timers, the frame queue, and
// the fixed-capacity hash map underneath.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

#include "datapath/net/fixed_hash_map.h"
#include "datapath/net/neighbor_cache.h"
#include "tests/unit/datapath/net/net_fixture.h"

namespace braid::net::test {
namespace {

const MacAddress kA = Mac("02:00:00:00:00:0a");
const MacAddress kB = Mac("02:00:00:00:00:0b");

class NeighborCacheTest : public ::testing::Test {
 protected:
  NeighborCacheTest() : cache_(Config(), 64, kSecret, counters_) {}
  static NeighborConfig Config() {
    NeighborConfig c;
    c.capacity = 4;
    c.queue_per_neighbor = 2;
    c.queue_total = 3;
    return c;
  }
  NeighborEntry* Incomplete(const Ipv4Address& ip, Instant now = T(0)) {
    NeighborEntry* e = cache_.CreateIncomplete({0, ip}, std::nullopt, now);
    EXPECT_NE(e, nullptr);
    return e;
  }
  // Runs the entry's timers at `now`, counting requests.
  void Run(Instant now) {
    cache_.Poll(
        now, [&](NeighborEntry&, bool unicast) { (unicast ? unicast_ : multicast_)++; },
        [&](NeighborEntry& e) { failed_.push_back(e.key); });
  }
  void Queue(NeighborEntry& e, uint8_t tag) {
    std::span<uint8_t> slot = cache_.QueueSlot(e);
    ASSERT_FALSE(slot.empty());
    slot[0] = tag;
    cache_.CommitQueued(e, 1, {});
  }

  NetCounters counters_;
  NeighborCache cache_;
  int multicast_ = 0;
  int unicast_ = 0;
  std::vector<NeighborKey> failed_;
};

TEST_F(NeighborCacheTest, IncompleteProbesThenFails) {
  NeighborEntry* e = Incomplete(kPeerIp);
  EXPECT_EQ(e->state, NeighborState::kIncomplete);
  EXPECT_EQ(cache_.PollAt(), T(0));
  Run(T(0));
  Run(T(999));
  Run(T(1000));
  Run(T(2000));
  EXPECT_EQ(multicast_, 3);
  EXPECT_TRUE(failed_.empty());
  Run(T(3000));
  ASSERT_EQ(failed_.size(), 1u);
  EXPECT_EQ(failed_[0], (NeighborKey{0, kPeerIp}));
  EXPECT_EQ(cache_.Find({0, kPeerIp}), nullptr);
  EXPECT_EQ(counters_[NetCounter::kNeighborFailed], 1u);
}

TEST_F(NeighborCacheTest, AdvertisementRules) {
  using R = NeighborCache::AdvertResult;
  NeighborEntry* e = Incomplete(kPeerIp);
  // INCOMPLETE without an address: ignored.
  EXPECT_EQ(cache_.Advertise(*e, std::nullopt, true, true, T(1)), R::kIgnored);
  // Solicited: REACHABLE.
  EXPECT_EQ(cache_.Advertise(*e, kA, true, false, T(1)), R::kResolved);
  EXPECT_EQ(e->state, NeighborState::kReachable);
  EXPECT_EQ(e->mac, kA);
  // O clear, another address: REACHABLE -> STALE, address kept.
  EXPECT_EQ(cache_.Advertise(*e, kB, true, false, T(2)), R::kUpdated);
  EXPECT_EQ(e->state, NeighborState::kStale);
  EXPECT_EQ(e->mac, kA);
  // Again while STALE: ignored.
  EXPECT_EQ(cache_.Advertise(*e, kB, true, false, T(3)), R::kIgnored);
  // Same address, unsolicited: nothing changes.
  EXPECT_EQ(cache_.Advertise(*e, kA, false, false, T(4)), R::kIgnored);
  EXPECT_EQ(e->state, NeighborState::kStale);
  // Same address, solicited: REACHABLE.
  EXPECT_EQ(cache_.Advertise(*e, kA, true, false, T(5)), R::kUpdated);
  EXPECT_EQ(e->state, NeighborState::kReachable);
  // O set, another address, unsolicited: replaced, STALE.
  EXPECT_EQ(cache_.Advertise(*e, kB, false, true, T(6)), R::kUpdated);
  EXPECT_EQ(e->state, NeighborState::kStale);
  EXPECT_EQ(e->mac, kB);
  // No address, solicited: REACHABLE with the cached one.
  EXPECT_EQ(cache_.Advertise(*e, std::nullopt, true, false, T(7)), R::kUpdated);
  EXPECT_EQ(e->state, NeighborState::kReachable);
  EXPECT_EQ(counters_[NetCounter::kNeighborMacChanged], 1u);
}

TEST_F(NeighborCacheTest, LearnCreatesStaleAndResolvesIncomplete) {
  bool resolved = true;
  NeighborEntry* e = cache_.Learn({0, kPeerIp}, kA, T(0), &resolved);
  ASSERT_NE(e, nullptr);
  EXPECT_FALSE(resolved);
  EXPECT_EQ(e->state, NeighborState::kStale);
  NeighborEntry* i = Incomplete(V4("192.0.2.3"));
  EXPECT_EQ(cache_.Learn({0, V4("192.0.2.3")}, kB, T(1), &resolved), i);
  EXPECT_TRUE(resolved);
  EXPECT_EQ(i->state, NeighborState::kStale);
  // Same address on a REACHABLE entry: unchanged.
  cache_.Advertise(*i, kB, true, true, T(2));
  cache_.Learn({0, V4("192.0.2.3")}, kB, T(3), &resolved);
  EXPECT_EQ(i->state, NeighborState::kReachable);
  EXPECT_FALSE(resolved);
}

TEST_F(NeighborCacheTest, UseMovesStaleToDelay) {
  bool resolved = false;
  NeighborEntry* e = cache_.Learn({0, kPeerIp}, kA, T(0), &resolved);
  cache_.Use(*e, T(10));
  EXPECT_EQ(e->state, NeighborState::kDelay);
  EXPECT_EQ(e->deadline, T(5010));
  Run(T(5010));
  EXPECT_EQ(e->state, NeighborState::kProbe);
  EXPECT_EQ(unicast_, 1);
}

TEST_F(NeighborCacheTest, QueueKeepsOrderAndLimits) {
  NeighborEntry* a = Incomplete(kPeerIp);
  NeighborEntry* b = Incomplete(V4("192.0.2.3"));
  Queue(*a, 1);
  Queue(*a, 2);
  EXPECT_TRUE(cache_.QueueSlot(*a).empty());  // per neighbour: 2
  Queue(*b, 3);
  EXPECT_TRUE(cache_.QueueSlot(*b).empty());  // pool: 3
  EXPECT_EQ(cache_.queued_total(), 3u);
  std::vector<uint8_t> order;
  EXPECT_EQ(
      cache_.DrainQueue(*a, [&](std::span<uint8_t> f, const TxOffload&) { order.push_back(f[0]); }),
      2u);
  EXPECT_EQ(order, (std::vector<uint8_t>{1, 2}));
  EXPECT_EQ(cache_.queued_total(), 1u);
  // Removing an entry frees its slots.
  cache_.Remove(*b);
  EXPECT_EQ(cache_.queued_total(), 0u);
  Queue(*a, 4);
  Queue(*a, 5);
}

TEST_F(NeighborCacheTest, TableFullEvictsOnlyStaleWithoutQueue) {
  for (uint32_t i = 1; i <= 4; ++i) Incomplete(Ipv4Address::FromU32(0xc0000200u + i));
  EXPECT_EQ(cache_.CreateIncomplete({0, V4("192.0.2.9")}, std::nullopt, T(0)), nullptr);
  bool resolved = false;
  NeighborEntry* old = cache_.Find({0, V4("192.0.2.1")});
  cache_.Learn(old->key, kA, T(1), &resolved);  // STALE, used at T(0)
  NeighborEntry* newer = cache_.Find({0, V4("192.0.2.2")});
  cache_.Learn(newer->key, kB, T(2), &resolved);
  cache_.Use(*newer, T(3));  // DELAY: not evictable
  EXPECT_NE(cache_.CreateIncomplete({0, V4("192.0.2.9")}, std::nullopt, T(4)), nullptr);
  EXPECT_EQ(cache_.Find({0, V4("192.0.2.1")}), nullptr);
  EXPECT_NE(cache_.Find({0, V4("192.0.2.2")}), nullptr);
  EXPECT_EQ(counters_[NetCounter::kNeighborEvicted], 1u);
}

TEST_F(NeighborCacheTest, KeysIncludeTheInterfaceAndFamily) {
  NeighborEntry* a = cache_.CreateIncomplete({0, kPeerIp}, std::nullopt, T(0));
  NeighborEntry* b = cache_.CreateIncomplete({1, kPeerIp}, std::nullopt, T(0));
  NeighborEntry* c = cache_.CreateIncomplete({0, kPeerIp6}, std::nullopt, T(0));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_NE(c, nullptr);
  EXPECT_NE(a, b);
  EXPECT_EQ(cache_.Find({1, kPeerIp}), b);
  EXPECT_EQ(cache_.Find({0, kPeerIp6}), c);
  EXPECT_EQ(cache_.size(), 3u);
}

TEST_F(NeighborCacheTest, StateNames) {
  EXPECT_EQ(NeighborStateName(NeighborState::kIncomplete), "INCOMPLETE");
  EXPECT_EQ(NeighborStateName(NeighborState::kReachable), "REACHABLE");
  EXPECT_EQ(NeighborStateName(NeighborState::kStale), "STALE");
  EXPECT_EQ(NeighborStateName(NeighborState::kDelay), "DELAY");
  EXPECT_EQ(NeighborStateName(NeighborState::kProbe), "PROBE");
}

// --- FixedHashMap ---

struct BadHash {  // every key collides: the worst case for backward-shift deletion
  size_t operator()(int) const { return 7; }
};
struct IdentityHash {
  size_t operator()(int k) const { return static_cast<size_t>(k); }
};

TEST(FixedHashMapTest, InsertFindEraseWithCollisions) {
  FixedHashMap<int, int, BadHash> m(5);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(m.Insert(i, i * 10).second);
  EXPECT_TRUE(m.full());
  EXPECT_EQ(m.Insert(99, 0).first, nullptr);
  EXPECT_FALSE(m.Insert(3, 0).second);  // present: not replaced
  EXPECT_EQ(*m.Find(3), 30);
  EXPECT_TRUE(m.Erase(1));
  EXPECT_FALSE(m.Erase(1));
  for (int i : {0, 2, 3, 4}) EXPECT_EQ(*m.Find(i), i * 10) << i;
  EXPECT_EQ(m.Find(1), nullptr);
}

TEST(FixedHashMapTest, AgreesWithStdMapUnderRandomOperations) {
  std::mt19937 rng(12345);
  FixedHashMap<int, int, IdentityHash> m(64);
  std::map<int, int> ref;
  for (int step = 0; step < 200000; ++step) {
    int key = static_cast<int>(rng() % 200);  // keys wrap around the 128-slot table
    switch (rng() % 3) {
      case 0: {
        auto [v, inserted] = m.Insert(key, step);
        if (ref.count(key)) {
          EXPECT_FALSE(inserted);
        } else if (ref.size() < 64) {
          ASSERT_TRUE(inserted);
          ref[key] = step;
        } else {
          EXPECT_EQ(v, nullptr);
        }
        break;
      }
      case 1:
        EXPECT_EQ(m.Erase(key), ref.erase(key) == 1);
        break;
      default: {
        const int* v = m.Find(key);
        auto it = ref.find(key);
        ASSERT_EQ(v != nullptr, it != ref.end()) << key;
        if (v != nullptr) {
          EXPECT_EQ(*v, it->second);
        }
      }
    }
    ASSERT_EQ(m.size(), ref.size());
  }
}

}  // namespace
}  // namespace braid::net::test
