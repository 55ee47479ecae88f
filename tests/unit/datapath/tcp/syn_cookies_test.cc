#include "datapath/tcp/syn_cookies.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>

#include "datapath/tcp/isn.h"
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

constexpr SipKey kSecret{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
constexpr SipKey kNextSecret{0x1111111111111111ULL, 0x2222222222222222ULL};
constexpr TcpSeq kClientIsn{0xffffffffu};  // the ACK's seq (ISN + 1) wraps to 0
// A time well inside slot 1000: 10 s after its start.
const Instant kNow = InstantFromNanos(1000LL * 64'000'000'000LL + 10'000'000'000LL);

FourTupleV4 TupleV4() {
  return FourTupleV4{Ipv4Address::FromU32(0xc0000201), 80, Ipv4Address::FromU32(0xc6336401), 51000};
}

FourTupleV6 TupleV6() {
  FourTupleV6 t;
  t.local_addr = *Ipv6Address::Parse("2001:db8::80");
  t.local_port = 80;
  t.remote_addr = *Ipv6Address::Parse("2001:db8:1::1");
  t.remote_port = 51000;
  return t;
}

SynCookieSyn Syn(std::optional<uint16_t> mss, std::optional<uint32_t> tsval = std::nullopt,
                 std::optional<uint8_t> wscale = std::nullopt, bool sack = false,
                 bool ecn = false) {
  SynCookieSyn syn;
  syn.seq = kClientIsn;
  syn.mss = mss;
  syn.tsval = tsval;
  syn.window_scale = wscale;
  syn.sack_permitted = sack;
  syn.ecn = ecn;
  return syn;
}

// The handshake's final ACK for a cookie: seq = client ISN + 1, ack = cookie + 1, TSecr = our
// TSval (when timestamps are on).
template <typename Tuple>
SynCookieResult Ack(const SynCookies& cookies, const Tuple& tuple, const SynCookie& c,
                    Instant now) {
  return cookies.Check(tuple, kClientIsn + 1, c.isn + 1, c.tsval, now);
}

TEST(SynCookies, SlotCounter) {
  EXPECT_EQ(SynCookies::SlotCounter(InstantFromNanos(0)), 0u);
  EXPECT_EQ(SynCookies::SlotCounter(InstantFromNanos(63'999'999'999LL)), 0u);
  EXPECT_EQ(SynCookies::SlotCounter(InstantFromNanos(64'000'000'000LL)), 1u);
  EXPECT_EQ(SynCookies::SlotCounter(kNow), 1000u);
  EXPECT_EQ(SynCookies::SlotCounter(InstantFromNanos(-1)), 0xffffffffu);
}

TEST(SynCookies, RoundTripEveryMssWithoutTimestampsV4) {
  const SynCookies cookies(kSecret);
  for (uint16_t mss : kSynCookieMssV4) {
    const SynCookie c = cookies.Make(TupleV4(), Syn(mss, std::nullopt, 7, true, true), kNow);
    // Without timestamps only the MSS survives: the SYN-ACK must not announce the rest.
    const SynCookieOptions expected{mss, false, std::nullopt, false, false};
    EXPECT_EQ(c.options, expected);
    EXPECT_FALSE(c.tsval.has_value());
    const SynCookieResult r = Ack(cookies, TupleV4(), c, kNow);
    ASSERT_TRUE(r.ok()) << SynCookieRejectName(r.reject);
    EXPECT_EQ(r.options, expected);
    EXPECT_EQ(r.isn, c.isn);
    EXPECT_EQ(r.peer_isn, kClientIsn);
  }
}

TEST(SynCookies, RoundTripEveryMssWithoutTimestampsV6) {
  const SynCookies cookies(kSecret);
  for (uint16_t mss : kSynCookieMssV6) {
    const SynCookie c = cookies.Make(TupleV6(), Syn(mss), kNow);
    const SynCookieOptions expected{mss, false, std::nullopt, false, false};
    EXPECT_EQ(c.options, expected);
    const SynCookieResult r = Ack(cookies, TupleV6(), c, kNow);
    ASSERT_TRUE(r.ok()) << SynCookieRejectName(r.reject);
    EXPECT_EQ(r.options, expected);
  }
}

TEST(SynCookies, RoundTripEveryMssAndOptionWithTimestamps) {
  const SynCookies cookies(kSecret);
  const uint32_t tsval_now = 0x12345678;
  for (size_t i = 0; i < 4; ++i) {
    for (int wscale = -1; wscale <= 14; ++wscale) {
      for (int flags = 0; flags < 4; ++flags) {
        const bool sack = (flags & 1) != 0;
        const bool ecn = (flags & 2) != 0;
        const std::optional<uint8_t> ws =
            wscale < 0 ? std::nullopt : std::optional<uint8_t>(static_cast<uint8_t>(wscale));
        const SynCookieOptions expected_v4{kSynCookieMssV4[i], true, ws, sack, ecn};
        const SynCookieOptions expected_v6{kSynCookieMssV6[i], true, ws, sack, ecn};

        const SynCookie c4 =
            cookies.Make(TupleV4(), Syn(kSynCookieMssV4[i], tsval_now, ws, sack, ecn), kNow);
        EXPECT_EQ(c4.options, expected_v4);
        ASSERT_TRUE(c4.tsval.has_value());
        // The TSval keeps the clock's high bits and never runs ahead of it.
        EXPECT_LE(*c4.tsval, tsval_now);
        EXPECT_LT(tsval_now - *c4.tsval, 64u);
        const SynCookieResult r4 = Ack(cookies, TupleV4(), c4, kNow);
        ASSERT_TRUE(r4.ok()) << SynCookieRejectName(r4.reject);
        EXPECT_EQ(r4.options, expected_v4);

        const SynCookie c6 =
            cookies.Make(TupleV6(), Syn(kSynCookieMssV6[i], tsval_now, ws, sack, ecn), kNow);
        EXPECT_EQ(c6.options, expected_v6);
        const SynCookieResult r6 = Ack(cookies, TupleV6(), c6, kNow);
        ASSERT_TRUE(r6.ok()) << SynCookieRejectName(r6.reject);
        EXPECT_EQ(r6.options, expected_v6);
      }
    }
  }
}

TEST(SynCookies, TsvalLowBitsLayout) {
  const SynCookies cookies(kSecret);
  // wscale 7, SACK, ECN: 0b11'0111. The clock's low bits (0x05) are below 0x37, so no step back.
  SynCookie c = cookies.Make(TupleV4(), Syn(1460, 0xabcd1005u, 7, true, true), kNow);
  EXPECT_EQ(*c.tsval, 0xabcd1000u - 64 + 0x37);  // 0x37 > 0x05: one period back
  c = cookies.Make(TupleV4(), Syn(1460, 0xabcd103fu, 7, true, true), kNow);
  EXPECT_EQ(*c.tsval, 0xabcd1037u);
  // No window scaling: 15 in the low nibble; SACK only.
  c = cookies.Make(TupleV4(), Syn(1460, 0xabcd103fu, std::nullopt, true, false), kNow);
  EXPECT_EQ(*c.tsval, 0xabcd101fu);
  // Stepping back across zero wraps the 32-bit timestamp space.
  c = cookies.Make(TupleV4(), Syn(1460, 0x00000003u, 14, false, false), kNow);
  EXPECT_EQ(*c.tsval, 0xffffffceu);  // 0x0e - 64
  EXPECT_TRUE(Ack(cookies, TupleV4(), c, kNow).ok());
}

TEST(SynCookies, MssRoundsDownToTheTable) {
  const SynCookies cookies(kSecret);
  EXPECT_EQ(cookies.Make(TupleV4(), Syn(std::nullopt), kNow).options.mss, 536);
  EXPECT_EQ(cookies.Make(TupleV4(), Syn(100), kNow).options.mss, 536);  // as the kernel
  EXPECT_EQ(cookies.Make(TupleV4(), Syn(1299), kNow).options.mss, 536);
  EXPECT_EQ(cookies.Make(TupleV4(), Syn(1400), kNow).options.mss, 1300);
  EXPECT_EQ(cookies.Make(TupleV4(), Syn(1459), kNow).options.mss, 1440);
  EXPECT_EQ(cookies.Make(TupleV4(), Syn(65535), kNow).options.mss, 1460);
  EXPECT_EQ(cookies.Make(TupleV6(), Syn(std::nullopt), kNow).options.mss, 1220);
  EXPECT_EQ(cookies.Make(TupleV6(), Syn(1440), kNow).options.mss, 1440);
  EXPECT_EQ(cookies.Make(TupleV6(), Syn(8960), kNow).options.mss, 8940);
  const SynCookie c = cookies.Make(TupleV4(), Syn(1400), kNow);
  EXPECT_EQ(Ack(cookies, TupleV4(), c, kNow).options.mss, 1300);
}

TEST(SynCookies, WindowShiftAbove14CountsAs14) {
  const SynCookies cookies(kSecret);
  const SynCookie c = cookies.Make(TupleV4(), Syn(1460, 1000, 15), kNow);
  EXPECT_EQ(c.options.window_scale, std::optional<uint8_t>(14));
  EXPECT_EQ(Ack(cookies, TupleV4(), c, kNow).options.window_scale, std::optional<uint8_t>(14));
}

TEST(SynCookies, AcceptedWithinTheValidityWindow) {
  const SynCookies cookies(kSecret);  // current slot and the previous one
  ASSERT_EQ(cookies.max_age_slots(), 1u);
  const SynCookie c = cookies.Make(TupleV4(), Syn(1460, 5000, 8, true), kNow);
  EXPECT_TRUE(Ack(cookies, TupleV4(), c, kNow).ok());
  EXPECT_TRUE(Ack(cookies, TupleV4(), c, kNow + 53s).ok());  // last ns of the same slot is +54 s
  EXPECT_TRUE(Ack(cookies, TupleV4(), c, kNow + 54s).ok());  // next slot
  // Last nanosecond of the next slot: slot 1001 ends at kNow + 118 s.
  EXPECT_TRUE(Ack(cookies, TupleV4(), c, kNow + 118s - 1ns).ok());
}

TEST(SynCookies, RejectsExpired) {
  const SynCookies cookies(kSecret);
  const SynCookie c = cookies.Make(TupleV4(), Syn(1460), kNow);
  EXPECT_EQ(Ack(cookies, TupleV4(), c, kNow + 118s).reject, SynCookieReject::kTooOld);
  EXPECT_EQ(Ack(cookies, TupleV4(), c, kNow + 118s + 64s).reject, SynCookieReject::kTooOld);
  // Four slots later the 2-bit counter has wrapped: the MAC (over the full counter) fails.
  EXPECT_EQ(Ack(cookies, TupleV4(), c, kNow + 4 * 64s).reject, SynCookieReject::kBadMac);
  // A cookie from the future (cannot happen with a monotonic clock) is not accepted either.
  EXPECT_FALSE(Ack(cookies, TupleV4(), c, kNow - 64s).ok());
}

TEST(SynCookies, MaxAgeIsConfigurableUpToThreeSlots) {
  const SynCookies strict(kSecret, 0);
  const SynCookie c = strict.Make(TupleV4(), Syn(1460), kNow);
  EXPECT_TRUE(Ack(strict, TupleV4(), c, kNow + 53s).ok());
  EXPECT_EQ(Ack(strict, TupleV4(), c, kNow + 54s).reject, SynCookieReject::kTooOld);

  const SynCookies lax(kSecret, 99);
  EXPECT_EQ(lax.max_age_slots(), SynCookies::kMaxAgeSlotsLimit);
  const SynCookie d = lax.Make(TupleV4(), Syn(1460), kNow);
  EXPECT_TRUE(Ack(lax, TupleV4(), d, kNow + 3 * 64s).ok());
  EXPECT_FALSE(Ack(lax, TupleV4(), d, kNow + 4 * 64s).ok());
}

TEST(SynCookies, RejectsAModifiedAck) {
  const SynCookies cookies(kSecret);
  const SynCookie c = cookies.Make(TupleV4(), Syn(1460, 777777, 9, true, false), kNow);
  ASSERT_TRUE(Ack(cookies, TupleV4(), c, kNow).ok());
  // Every single-bit change of the acknowledged cookie.
  for (int bit = 0; bit < 32; ++bit) {
    const TcpSeq ack(c.isn.raw() + 1);
    const TcpSeq bad(ack.raw() ^ (1u << bit));
    const SynCookieResult r = cookies.Check(TupleV4(), kClientIsn + 1, bad, c.tsval, kNow);
    EXPECT_FALSE(r.ok()) << "bit " << bit;
  }
  // Another client ISN (the ACK's seq).
  EXPECT_EQ(cookies.Check(TupleV4(), kClientIsn + 2, c.isn + 1, c.tsval, kNow).reject,
            SynCookieReject::kBadMac);
  // Every single-bit change of the option bits echoed in TSecr.
  for (int bit = 0; bit < 6; ++bit) {
    const uint32_t tsecr = *c.tsval ^ (1u << bit);
    EXPECT_EQ(cookies.Check(TupleV4(), kClientIsn + 1, c.isn + 1, tsecr, kNow).reject,
              SynCookieReject::kBadMac)
        << "bit " << bit;
  }
  // The clock bits of TSecr are not part of the cookie.
  EXPECT_TRUE(cookies.Check(TupleV4(), kClientIsn + 1, c.isn + 1, *c.tsval + 64, kNow).ok());
  // No TSecr although the cookie says timestamps: RFC 7323 §3.2 drops such a segment.
  EXPECT_EQ(cookies.Check(TupleV4(), kClientIsn + 1, c.isn + 1, std::nullopt, kNow).reject,
            SynCookieReject::kMissingTimestamps);
}

TEST(SynCookies, TsecrIgnoredWhenTimestampsWereOff) {
  const SynCookies cookies(kSecret);
  const SynCookie c = cookies.Make(TupleV4(), Syn(1440), kNow);
  const SynCookieResult r = cookies.Check(TupleV4(), kClientIsn + 1, c.isn + 1, 0x3f, kNow);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.options, (SynCookieOptions{1440, false, std::nullopt, false, false}));
}

TEST(SynCookies, RejectsAnotherTuple) {
  const SynCookies cookies(kSecret);
  const SynCookie c4 = cookies.Make(TupleV4(), Syn(1460), kNow);
  FourTupleV4 t = TupleV4();
  t.remote_port += 1;
  EXPECT_EQ(Ack(cookies, t, c4, kNow).reject, SynCookieReject::kBadMac);
  t = TupleV4();
  t.remote_addr = Ipv4Address::FromU32(0xc6336402);
  EXPECT_EQ(Ack(cookies, t, c4, kNow).reject, SynCookieReject::kBadMac);
  t = TupleV4();
  t.local_port = 8080;
  EXPECT_EQ(Ack(cookies, t, c4, kNow).reject, SynCookieReject::kBadMac);

  const SynCookie c6 = cookies.Make(TupleV6(), Syn(1440), kNow);
  FourTupleV6 t6 = TupleV6();
  t6.local_addr.bytes[15] ^= 1;
  EXPECT_EQ(Ack(cookies, t6, c6, kNow).reject, SynCookieReject::kBadMac);
}

TEST(SynCookies, RejectsAnotherSecret) {
  const SynCookies cookies(kSecret);
  const SynCookies stranger(kNextSecret);
  const SynCookie c = stranger.Make(TupleV4(), Syn(1460), kNow);
  EXPECT_EQ(Ack(cookies, TupleV4(), c, kNow).reject, SynCookieReject::kBadMac);
}

TEST(SynCookies, KeyRotationKeepsThePreviousKey) {
  SynCookies cookies(kSecret);
  const SynCookie old = cookies.Make(TupleV4(), Syn(1460, 4242, 3, true), kNow);
  cookies.RotateKey(kNextSecret);
  const SynCookie fresh = cookies.Make(TupleV4(), Syn(1460, 4242, 3, true), kNow);
  EXPECT_NE(old.isn, fresh.isn);
  EXPECT_TRUE(Ack(cookies, TupleV4(), old, kNow).ok());
  EXPECT_TRUE(Ack(cookies, TupleV4(), fresh, kNow).ok());
  // A second rotation retires the first key.
  cookies.RotateKey(SipKey{5, 6});
  EXPECT_EQ(Ack(cookies, TupleV4(), old, kNow).reject, SynCookieReject::kBadMac);
  EXPECT_TRUE(Ack(cookies, TupleV4(), fresh, kNow).ok());
}

TEST(SynCookies, BeforeAnyRotationTheOtherParityIsRejected) {
  const SynCookies cookies(kSecret);
  const SynCookie c = cookies.Make(TupleV4(), Syn(1460), kNow);
  const TcpSeq flipped(c.isn.raw() ^ (1u << 29));
  EXPECT_EQ(cookies.Check(TupleV4(), kClientIsn + 1, flipped + 1, std::nullopt, kNow).reject,
            SynCookieReject::kBadMac);
}

TEST(SynCookies, RandomAcksAreRejected) {
  const SynCookies cookies(kSecret);
  std::mt19937 rng(12345);
  int accepted = 0;
  int too_old = 0;
  for (int i = 0; i < 20000; ++i) {
    const SynCookieResult r = cookies.Check(TupleV4(), TcpSeq(rng()), TcpSeq(rng()),
                                            std::optional<uint32_t>(rng()), kNow);
    accepted += r.ok() ? 1 : 0;
    too_old += r.reject == SynCookieReject::kTooOld ? 1 : 0;
  }
  EXPECT_EQ(accepted, 0);
  // Half of random counters are outside a 2-slot window and cost no hash.
  EXPECT_GT(too_old, 9000);
  EXPECT_LT(too_old, 11000);
}

TEST(SynCookies, RejectNames) {
  EXPECT_EQ(SynCookieRejectName(SynCookieReject::kNone), "none");
  EXPECT_EQ(SynCookieRejectName(SynCookieReject::kTooOld), "too_old");
  EXPECT_EQ(SynCookieRejectName(SynCookieReject::kBadMac), "bad_mac");
  EXPECT_EQ(SynCookieRejectName(SynCookieReject::kMissingTimestamps), "missing_timestamps");
}

}  // namespace
}  // namespace braid::tcp
