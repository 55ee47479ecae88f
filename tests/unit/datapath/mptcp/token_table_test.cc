// The token table (RFC 8684 §3.2): Reserve never hands out a token in use, Insert refuses a
// taken one, Find and Remove. Collisions are injected by scripting OpenSSL's random source (a
// RAND_METHOD that returns chosen keys), so that Reserve draws, in order, keys whose tokens are
// already in the table; the same through MptcpSockets, whose token_collisions counter counts them.
#include "datapath/mptcp/token_table.h"

// RAND_set_rand_method is deprecated in OpenSSL 3 but is still the one way to put a scripted
// source behind RAND_bytes without a custom provider.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <gtest/gtest.h>
#include <openssl/rand.h>

#include <cstdint>
#include <deque>
#include <set>
#include <vector>

#include "datapath/mptcp/crypto.h"
#include "datapath/wire/bytes.h"
#include "tests/unit/datapath/mptcp/mptcp_stacks.h"

namespace braid::mptcp::test {
namespace {

// While alive, RAND_bytes returns the queued keys first (8 big-endian bytes per 8-byte request,
// as GenerateKey asks), then SplitMix64 output: deterministic, and never a key a test queued.
class ScriptedRandom {
 public:
  ScriptedRandom() : previous_(RAND_get_rand_method()) {
    current_ = this;
    method_.bytes = &Bytes;
    method_.status = &Status;
    EXPECT_EQ(RAND_set_rand_method(&method_), 1);
  }
  ~ScriptedRandom() {
    RAND_set_rand_method(previous_);
    current_ = nullptr;
  }
  ScriptedRandom(const ScriptedRandom&) = delete;
  ScriptedRandom& operator=(const ScriptedRandom&) = delete;

  void Queue(uint64_t key) { keys_.push_back(key); }
  size_t queued() const { return keys_.size(); }

 private:
  static int Bytes(unsigned char* out, int len) {
    ScriptedRandom& r = *current_;
    if (len == 8 && !r.keys_.empty()) {
      wire::StoreBe64(out, r.keys_.front());
      r.keys_.pop_front();
      return 1;
    }
    for (int i = 0; i < len; ++i) {
      if (i % 8 == 0) r.word_ = r.Next();
      out[i] = static_cast<unsigned char>(r.word_ >> (8 * (i % 8)));
    }
    return 1;
  }
  static int Status() { return 1; }
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

  static inline ScriptedRandom* current_ = nullptr;
  const RAND_METHOD* previous_;
  RAND_METHOD method_{};
  std::deque<uint64_t> keys_;
  uint64_t state_ = 0x5eed;
  uint64_t word_ = 0;
};

uint32_t TokenOf(uint64_t key) { return DeriveFromKey(key).token; }

TEST(TokenTableTest, ReserveInsertFindRemove) {
  TokenTable t;
  EXPECT_EQ(t.size(), 0u);
  const TokenTable::Reservation r = t.Reserve(7);
  EXPECT_NE(r.key, 0u);
  EXPECT_EQ(r.derived, DeriveFromKey(r.key));
  EXPECT_EQ(r.collisions, 0u);
  EXPECT_EQ(t.Find(r.derived.token), 7u);
  EXPECT_EQ(t.size(), 1u);
  // A token in use cannot be taken again; another one can.
  EXPECT_FALSE(t.Insert(r.derived.token, 8));
  EXPECT_EQ(t.Find(r.derived.token), 7u);
  const uint32_t other = r.derived.token ^ 1;
  EXPECT_TRUE(t.Insert(other, 8));
  EXPECT_EQ(t.Find(other), 8u);
  EXPECT_EQ(t.size(), 2u);
  // Remove frees it for anyone; removing an unknown token does nothing.
  t.Remove(r.derived.token);
  EXPECT_EQ(t.Find(r.derived.token), std::nullopt);
  EXPECT_EQ(t.size(), 1u);
  t.Remove(r.derived.token);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_TRUE(t.Insert(r.derived.token, 9));
  EXPECT_EQ(t.Find(r.derived.token), 9u);
  EXPECT_EQ(t.Find(other), 8u);
}

TEST(TokenTableTest, ReserveDrawsAgainWhileTheTokenIsTaken) {
  ScriptedRandom random;
  TokenTable t;
  // Five keys whose tokens are in use (four by Insert, one by an earlier Reserve), then a free
  // one: Reserve goes through all five before it takes the sixth.
  const std::vector<uint64_t> taken = {0x1111, 0x2222, 0x3333, 0x4444};
  for (size_t i = 0; i < taken.size(); ++i) {
    ASSERT_TRUE(t.Insert(TokenOf(taken[i]), static_cast<uint32_t>(100 + i)));
  }
  random.Queue(0x5555);
  const TokenTable::Reservation first = t.Reserve(1);
  EXPECT_EQ(first.key, 0x5555u);
  EXPECT_EQ(first.collisions, 0u);
  for (uint64_t k : taken) random.Queue(k);
  random.Queue(0x5555);
  random.Queue(0x6666);
  const TokenTable::Reservation r = t.Reserve(2);
  EXPECT_EQ(random.queued(), 0u);
  EXPECT_EQ(r.key, 0x6666u);
  EXPECT_EQ(r.collisions, 5u);
  EXPECT_EQ(r.derived.token, TokenOf(0x6666));
  EXPECT_EQ(t.Find(r.derived.token), 2u);
  // The tokens that were taken still name their owners.
  for (size_t i = 0; i < taken.size(); ++i) EXPECT_EQ(t.Find(TokenOf(taken[i])), 100 + i);
  EXPECT_EQ(t.Find(TokenOf(0x5555)), 1u);
  EXPECT_EQ(t.size(), 6u);
}

TEST(TokenTableTest, ZeroKeyIsNeverDrawn) {
  // RFC 8684 §3.1 / the kernel: a key of 0 means "none"; GenerateKey draws again.
  ScriptedRandom random;
  random.Queue(0);
  random.Queue(0x7777);
  TokenTable t;
  const TokenTable::Reservation r = t.Reserve(3);
  EXPECT_EQ(r.key, 0x7777u);
  EXPECT_EQ(r.collisions, 0u);
}

TEST(TokenTableTest, ManyReservationsHaveDistinctTokens) {
  TokenTable t;
  std::set<uint32_t> tokens;
  for (uint32_t i = 0; i < 20'000; ++i) {
    const TokenTable::Reservation r = t.Reserve(i);
    EXPECT_TRUE(tokens.insert(r.derived.token).second);
    EXPECT_EQ(t.Find(r.derived.token), i);
  }
  EXPECT_EQ(t.size(), 20'000u);
}

using TokenCollisionTest = MptcpStacksTest;

TEST_F(TokenCollisionTest, ASecondConnectionNeverGetsALiveToken) {
  ScriptedRandom random;
  Start(Config(), Config());
  ListenB();
  // Keys are drawn at Connect (a) and at the MP_CAPABLE SYN (b), one connection after the other:
  // a's second Connect draws a's first key again, then a free one.
  const uint64_t k1 = 0xa1a1, k2 = 0xb2b2, k3 = 0xc3c3, k4 = 0xd4d4;
  for (uint64_t k : {k1, k2, k1, k3, k4}) random.Queue(k);
  const SocketId c1 = ConnectA();
  ASSERT_TRUE(stacks().RunUntil([&] { return server().accepted.size() == 1; }, 5s));
  const SocketId c2 = ConnectA();
  ASSERT_TRUE(stacks().RunUntil([&] { return server().accepted.size() == 2; }, 5s));
  EXPECT_EQ(random.queued(), 0u);
  const SocketId s1 = server().accepted[0];
  const SocketId s2 = server().accepted[1];
  EXPECT_EQ(A().ConnectionInfo(c1)->local_key, k1);
  EXPECT_EQ(B().ConnectionInfo(s1)->local_key, k2);
  EXPECT_EQ(A().ConnectionInfo(c2)->local_key, k3);
  EXPECT_EQ(B().ConnectionInfo(s2)->local_key, k4);
  EXPECT_EQ(CountA(Counter::kTokenCollisions), 1u);
  EXPECT_EQ(CountB(Counter::kTokenCollisions), 0u);
  EXPECT_EQ(A().tokens().Find(TokenOf(k1)), c1.index);
  EXPECT_EQ(A().tokens().Find(TokenOf(k3)), c2.index);
  EXPECT_EQ(A().ConnectionInfo(c2)->remote_token, TokenOf(k4));
  // Both work, each with its own data.
  EXPECT_EQ(A().Send(c1, Pattern(70, 3000), now()), 3000u);
  EXPECT_EQ(A().Send(c2, Pattern(71, 4000), now()), 4000u);
  ASSERT_TRUE(stacks().RunUntil(
      [&] { return server().stream(s1).bytes == 3000 && server().stream(s2).bytes == 4000; }, 5s));
  EXPECT_EQ(server().Digest(s1), Sha(Pattern(70, 3000)));
  EXPECT_EQ(server().Digest(s2), Sha(Pattern(71, 4000)));
  // Closing releases the tokens.
  ASSERT_TRUE(CloseBoth(c1, s1));
  ASSERT_TRUE(CloseBoth(c2, s2));
  EXPECT_EQ(A().tokens().size(), 0u);
  EXPECT_EQ(B().tokens().size(), 0u);
}

}  // namespace
}  // namespace braid::mptcp::test
