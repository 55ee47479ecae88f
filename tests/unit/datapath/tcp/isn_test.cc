#include "datapath/tcp/isn.h"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <set>

#include "datapath/tcp/siphash.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/address.h"
#include "datapath/wire/seq.h"

namespace braid::tcp {
namespace {

using namespace std::chrono_literals;
using wire::Ipv4Address;
using wire::Ipv6Address;
using wire::TcpSeq;

constexpr SipKey kSecret{0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
constexpr SipKey kOtherSecret{0x1111111111111111ULL, 0x2222222222222222ULL};

FourTupleV4 TupleV4(uint16_t remote_port = 40000) {
  return FourTupleV4{Ipv4Address::FromU32(0x0a000001), 443, Ipv4Address::FromU32(0x0a000002),
                     remote_port};
}

FourTupleV6 TupleV6(uint16_t remote_port = 40000) {
  FourTupleV6 t;
  t.local_addr = *Ipv6Address::Parse("2001:db8::1");
  t.local_port = 443;
  t.remote_addr = *Ipv6Address::Parse("2001:db8::2");
  t.remote_port = remote_port;
  return t;
}

TEST(EncodeFourTuple, Ipv4Layout) {
  std::array<uint8_t, kMaxFourTupleBytes> buf{};
  ASSERT_EQ(EncodeFourTuple(TupleV4(0x9c40), buf), 12u);
  const std::array<uint8_t, 12> expected = {
      10,   0,    0, 1,  // local address
      10,   0,    0, 2,  // remote address
      0x01, 0xbb,        // local port 443
      0x9c, 0x40,        // remote port 40000
  };
  EXPECT_TRUE(std::equal(expected.begin(), expected.end(), buf.begin()));
}

TEST(EncodeFourTuple, Ipv6Layout) {
  std::array<uint8_t, kMaxFourTupleBytes> buf{};
  ASSERT_EQ(EncodeFourTuple(TupleV6(0x9c40), buf), 36u);
  EXPECT_EQ(buf[0], 0x20);  // local address 2001:db8::1
  EXPECT_EQ(buf[15], 0x01);
  EXPECT_EQ(buf[16], 0x20);  // remote address 2001:db8::2
  EXPECT_EQ(buf[31], 0x02);
  EXPECT_EQ(buf[32], 0x01);  // local port 443
  EXPECT_EQ(buf[33], 0xbb);
  EXPECT_EQ(buf[34], 0x9c);  // remote port 40000
  EXPECT_EQ(buf[35], 0x40);
}

TEST(IsnClock, FourMicrosecondTick) {
  EXPECT_EQ(IsnGenerator::IsnClock(InstantFromNanos(0)), 0u);
  EXPECT_EQ(IsnGenerator::IsnClock(InstantFromNanos(3999)), 0u);
  EXPECT_EQ(IsnGenerator::IsnClock(InstantFromNanos(4000)), 1u);
  EXPECT_EQ(IsnGenerator::IsnClock(InstantFromNanos(4000LL * 1000)), 1000u);
  // Floor before the epoch: never steps backwards.
  EXPECT_EQ(IsnGenerator::IsnClock(InstantFromNanos(-1)), 0xffffffffu);
  EXPECT_EQ(IsnGenerator::IsnClock(InstantFromNanos(-4000)), 0xffffffffu);
  EXPECT_EQ(IsnGenerator::IsnClock(InstantFromNanos(-4001)), 0xfffffffeu);
  // Wraps modulo 2^32 ticks (about 4.77 hours).
  EXPECT_EQ(IsnGenerator::IsnClock(InstantFromNanos(4000LL << 32)), 0u);
  EXPECT_EQ(IsnGenerator::IsnClock(InstantFromNanos((4000LL << 32) + 8000)), 2u);
}

TEST(Isn, AdvancesOnePerFourMicroseconds) {
  const IsnGenerator gen(kSecret);
  const Instant t0 = InstantFromNanos(123'456'000);  // a multiple of 4 µs
  const TcpSeq isn0 = gen.Isn(TupleV4(), t0);
  EXPECT_EQ(gen.Isn(TupleV4(), t0 + 3999ns), isn0);
  EXPECT_EQ(gen.Isn(TupleV4(), t0 + 4us), isn0 + 1);
  EXPECT_EQ(gen.Isn(TupleV4(), t0 + 1s), isn0 + 250'000);
  EXPECT_EQ(gen.Isn(TupleV6(), t0 + 4us), gen.Isn(TupleV6(), t0) + 1);
}

TEST(Isn, MonotonicWithTimeForTheSameTuple) {
  const IsnGenerator gen(kSecret);
  // Start 1000 ticks below the 2^32 wrap of the sequence space, so the walk crosses it.
  const uint32_t f = gen.Isn(TupleV4(), InstantFromNanos(0)).raw();
  const uint32_t ticks = 0xfffffc18u - f;  // M such that M + F = 2^32 - 1000
  Instant t = InstantFromNanos(static_cast<int64_t>(ticks) * 4000);
  TcpSeq prev = gen.Isn(TupleV4(), t);
  ASSERT_EQ(prev.raw(), 0xfffffc18u);
  for (int i = 0; i < 1000; ++i) {
    t += 37us;  // 9.25 ticks: some steps advance 9, some 10
    const TcpSeq isn = gen.Isn(TupleV4(), t);
    EXPECT_GT(isn, prev);
    EXPECT_LE(isn - prev, 10);
    prev = isn;
  }
  EXPECT_LT(prev.raw(), 0x00010000u);  // wrapped
  // Over a full wrap of the 2^32 tick clock, the sequence space comes back to the same ISN.
  const Instant t0 = InstantFromNanos(5'000'000);
  EXPECT_EQ(gen.Isn(TupleV4(), t0 + std::chrono::nanoseconds(4000LL << 32)),
            gen.Isn(TupleV4(), t0));
}

TEST(Isn, DiffersAcrossTuplesAndKeys) {
  const IsnGenerator gen(kSecret);
  const IsnGenerator other(kOtherSecret);
  const Instant t = InstantFromNanos(1'000'000'000);
  std::set<uint32_t> seen;
  for (uint16_t port = 40000; port < 40100; ++port) {
    seen.insert(gen.Isn(TupleV4(port), t).raw());
    seen.insert(gen.Isn(TupleV6(port), t).raw());
  }
  EXPECT_EQ(seen.size(), 200u);  // 32-bit outputs: a collision would be a 1-in-10^5 fluke
  EXPECT_NE(gen.Isn(TupleV4(), t), other.Isn(TupleV4(), t));
  EXPECT_NE(gen.Isn(TupleV6(), t), other.Isn(TupleV6(), t));
  // Swapping the ends is another tuple.
  FourTupleV4 swapped = TupleV4();
  std::swap(swapped.local_addr, swapped.remote_addr);
  std::swap(swapped.local_port, swapped.remote_port);
  EXPECT_NE(gen.Isn(swapped, t), gen.Isn(TupleV4(), t));
  // Deterministic: the same generator and inputs give the same ISN.
  EXPECT_EQ(IsnGenerator(kSecret).Isn(TupleV4(), t), gen.Isn(TupleV4(), t));
}

TEST(Isn, IsClockPlusKeyedHashOfTheTuple) {
  // ISN = M + F: with M = 0 (now = epoch) the ISN is F itself, the low 32 bits of SipHash-2-4
  // under the derived ISN key over the encoded tuple.
  const IsnGenerator gen(kSecret);
  std::array<uint8_t, kMaxFourTupleBytes> buf;
  const size_t n = EncodeFourTuple(TupleV4(), buf);
  const uint64_t f =
      SipHash24(DeriveSipKey(kSecret, "braid tcp isn"), std::span<const uint8_t>(buf.data(), n));
  EXPECT_EQ(gen.Isn(TupleV4(), InstantFromNanos(0)).raw(), static_cast<uint32_t>(f));
  EXPECT_EQ(gen.Isn(TupleV4(), InstantFromNanos(400'000)).raw(), static_cast<uint32_t>(f) + 100);
}

TEST(TsOffset, PerTupleIndependentOfTimeAndOfTheIsn) {
  const IsnGenerator gen(kSecret);
  const IsnGenerator other(kOtherSecret);
  EXPECT_EQ(gen.TsOffset(TupleV4()), gen.TsOffset(TupleV4()));
  EXPECT_NE(gen.TsOffset(TupleV4(1)), gen.TsOffset(TupleV4(2)));
  EXPECT_NE(gen.TsOffset(TupleV6(1)), gen.TsOffset(TupleV6(2)));
  EXPECT_NE(gen.TsOffset(TupleV4()), other.TsOffset(TupleV4()));
  // A different key derivation from the ISN's: the offset is not F of the ISN.
  EXPECT_NE(gen.TsOffset(TupleV4()), gen.Isn(TupleV4(), InstantFromNanos(0)).raw());
  EXPECT_NE(gen.TsOffset(TupleV6()), gen.Isn(TupleV6(), InstantFromNanos(0)).raw());
  std::set<uint32_t> seen;
  for (uint16_t port = 1; port <= 100; ++port) seen.insert(gen.TsOffset(TupleV4(port)));
  EXPECT_EQ(seen.size(), 100u);
}

}  // namespace
}  // namespace braid::tcp
