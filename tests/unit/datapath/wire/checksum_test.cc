#include "datapath/wire/checksum.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "datapath/wire/bytes.h"

namespace braid::wire {
namespace {

uint16_t SumOf(std::span<const uint8_t> bytes) {
  InternetChecksum c;
  c.Add(bytes);
  return c.Sum();
}

TEST(ChecksumTest, Rfc1071NumericalExample) {
  // RFC 1071 §3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2.
  const uint8_t bytes[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(SumOf(bytes), 0xddf2);
  EXPECT_EQ(ComputeChecksum(bytes), 0x220d);
  // The sum is byte-order independent (§2(B)): swapped input gives the swapped sum.
  const uint8_t swapped[] = {0x01, 0x00, 0x03, 0xf2, 0xf5, 0xf4, 0xf7, 0xf6};
  EXPECT_EQ(SumOf(swapped), 0xf2dd);
}

TEST(ChecksumTest, EmptyAndOddLengths) {
  EXPECT_EQ(SumOf({}), 0);
  EXPECT_EQ(ComputeChecksum({}), 0xffff);
  // RFC 1071 §4.1: an odd trailing byte is the high-order byte of a zero-padded word.
  const uint8_t one[] = {0x01};
  EXPECT_EQ(SumOf(one), 0x0100);
  const uint8_t three[] = {0x01, 0x02, 0x03};
  EXPECT_EQ(SumOf(three), 0x0402);
  const uint8_t nine[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7, 0x80};
  EXPECT_EQ(SumOf(nine), 0x5df3);  // 0xddf2 + 0x8000 = 0x15df2 -> 0x5df3
  // A carry that itself carries when folded.
  const uint8_t ones[] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x01};
  EXPECT_EQ(SumOf(ones), 0x0001);
}

TEST(ChecksumTest, AddBeMatchesBytes) {
  InternetChecksum a;
  a.AddBe16(0x0001);
  a.AddBe32(0xf203f4f5);
  a.AddBe16(0xf6f7);
  EXPECT_EQ(a.Sum(), 0xddf2);
  InternetChecksum b;
  b.AddBe64(0x0001f203f4f5f6f7);
  EXPECT_EQ(b.Sum(), 0xddf2);
}

TEST(ChecksumTest, PiecesAtAnyOffsetMatchOnePiece) {
  std::mt19937 rng(1071);
  for (size_t len : {1, 2, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1499, 1500}) {
    std::vector<uint8_t> data(len);
    for (auto& b : data) b = static_cast<uint8_t>(rng());
    const uint16_t whole = SumOf(data);
    for (size_t split = 0; split <= len; ++split) {
      InternetChecksum c;
      c.Add(std::span(data).first(split));
      c.Add(std::span(data).subspan(split));
      ASSERT_EQ(c.Sum(), whole) << len << " split at " << split;
    }
    // Three pieces, both cuts odd where possible, and single bytes.
    for (int trial = 0; trial < 50 && len >= 2; ++trial) {
      size_t a = rng() % len;
      size_t b = a + rng() % (len - a);
      InternetChecksum c;
      c.Add(std::span(data).first(a));
      c.Add(std::span(data).subspan(a, b - a));
      c.Add(std::span(data).subspan(b));
      ASSERT_EQ(c.Sum(), whole) << len << " cuts " << a << "," << b;
    }
    InternetChecksum bytewise;
    for (uint8_t byte : data) bytewise.Add(std::span(&byte, 1));
    EXPECT_EQ(bytewise.Sum(), whole) << len;
  }
}

// A UDP datagram's IPv4 header; 0xb861 was computed by its sender.
constexpr std::array<uint8_t, 20> kIpv4Header = {
    0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
    0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
};

TEST(ChecksumTest, RealIpv4Header) {
  auto header = kIpv4Header;
  EXPECT_EQ(ComputeChecksum(header), 0);  // verifies, checksum included
  StoreBe16(header.data() + 10, 0);
  EXPECT_EQ(ComputeChecksum(header), 0xb861);
}

TEST(ChecksumTest, Rfc1624CornerCase) {
  // RFC 1624 §3: m = 0x5555 becomes 0x3285 where the other words sum to 0xcd7a. Recomputing
  // gives 0x0000; eqn. 2 would give 0xffff, eqn. 3 (ours) gives 0x0000.
  EXPECT_EQ(ChecksumUpdate16(0xdd2f, 0x5555, 0x3285), 0x0000);
  // The same through real bytes: words 0xcd7a and m, checksum over both.
  std::array<uint8_t, 4> data = {0xcd, 0x7a, 0x55, 0x55};
  EXPECT_EQ(ComputeChecksum(data), 0xdd2f);
  data[2] = 0x32;
  data[3] = 0x85;
  EXPECT_EQ(ComputeChecksum(data), 0x0000);
  // And back.
  EXPECT_EQ(ChecksumUpdate16(0x0000, 0x3285, 0x5555), 0xdd2f);
}

TEST(ChecksumTest, IncrementalUpdateEqualsRecompute) {
  std::mt19937 rng(1624);
  const uint16_t corner_words[] = {0x0000, 0xffff, 0x0001, 0xfffe, 0x8000};
  for (int trial = 0; trial < 20000; ++trial) {
    // An IPv4-like header: word 0 stays 0x45xx so the covered data is never all zero (the one
    // case where ones' complement has two zeros and a full recompute yields 0xffff).
    std::array<uint8_t, 20> h;
    for (auto& b : h) b = static_cast<uint8_t>(rng());
    h[0] = 0x45;
    if (trial % 7 == 0) {
      // Force the sum to 0xffff so the checksum is 0x0000: pick word 1 to make it so.
      StoreBe16(h.data() + 2, 0);
      StoreBe16(h.data() + 10, 0);
      uint16_t rest = SumOf(h);
      StoreBe16(h.data() + 2, static_cast<uint16_t>(~rest));
    }
    StoreBe16(h.data() + 10, 0);
    uint16_t checksum = ComputeChecksum(h);
    StoreBe16(h.data() + 10, checksum);

    size_t word = 1 + rng() % 9;
    if (word == 5) word = 6;  // the checksum field itself is not updated this way
    uint16_t old_word = LoadBe16(h.data() + word * 2);
    uint16_t new_word = trial % 3 == 0 ? corner_words[rng() % 5] : static_cast<uint16_t>(rng());
    StoreBe16(h.data() + word * 2, new_word);
    uint16_t updated = ChecksumUpdate16(checksum, old_word, new_word);

    StoreBe16(h.data() + 10, 0);
    uint16_t recomputed = ComputeChecksum(h);
    ASSERT_EQ(updated, recomputed) << "trial " << trial << " word " << word << " " << std::hex
                                   << old_word << " -> " << new_word;
  }
}

TEST(ChecksumTest, IncrementalUpdate32EqualsRecompute) {
  std::mt19937 rng(3022);
  for (int trial = 0; trial < 5000; ++trial) {
    std::array<uint8_t, 20> h;
    for (auto& b : h) b = static_cast<uint8_t>(rng());
    h[0] = 0x45;
    StoreBe16(h.data() + 10, 0);
    uint16_t checksum = ComputeChecksum(h);
    // Rewrite the source address (NAT-style).
    uint32_t old_addr = LoadBe32(h.data() + 12);
    uint32_t new_addr = trial % 5 == 0 ? 0xffffffff : trial % 5 == 1 ? 0 : rng();
    StoreBe32(h.data() + 12, new_addr);
    ASSERT_EQ(ChecksumUpdate32(checksum, old_addr, new_addr), ComputeChecksum(h)) << trial;
  }
}

// A TCP segment 40000 -> 80, seq 1, PSH|ACK, window 65535, payload "hello" (odd length), with its
// checksum field zero. The expected checksums were computed independently (a few lines of Python).
constexpr std::array<uint8_t, 25> kTcpSegment = {
    0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x50,
    0x18, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 'h',  'e',  'l',  'l',  'o',
};

TEST(ChecksumTest, Ipv4TcpPseudoHeader) {
  const Ipv4Address src{{10, 0, 0, 1}};
  const Ipv4Address dst{{10, 0, 0, 2}};
  auto segment = kTcpSegment;
  EXPECT_EQ(Ipv4UpperLayerChecksum(src, dst, 6, segment), 0xbb61);
  StoreBe16(segment.data() + 16, 0xbb61);
  EXPECT_EQ(Ipv4UpperLayerChecksum(src, dst, 6, segment), 0);
  EXPECT_NE(Ipv4UpperLayerChecksum(dst, dst, 6, segment), 0);
  EXPECT_NE(Ipv4UpperLayerChecksum(src, dst, 17, segment), 0);
  // The same built by hand, header and payload as separate pieces.
  InternetChecksum c;
  AddIpv4PseudoHeader(c, src, dst, 6, 25);
  c.Add(std::span(segment).first(20));
  c.Add(std::span(segment).subspan(20));
  EXPECT_EQ(c.Finish(), 0);
}

TEST(ChecksumTest, Ipv6TcpPseudoHeader) {
  const Ipv6Address src = *Ipv6Address::Parse("2001:db8::1");
  const Ipv6Address dst = *Ipv6Address::Parse("2001:db8::2");
  auto segment = kTcpSegment;
  EXPECT_EQ(Ipv6UpperLayerChecksum(src, dst, 6, segment), 0x73ef);
  StoreBe16(segment.data() + 16, 0x73ef);
  EXPECT_EQ(Ipv6UpperLayerChecksum(src, dst, 6, segment), 0);
  EXPECT_NE(Ipv6UpperLayerChecksum(src, src, 6, segment), 0);
  InternetChecksum c;
  AddIpv6PseudoHeader(c, src, dst, 6, 25);
  c.Add(std::span(segment).first(13));  // odd cut
  c.Add(std::span(segment).subspan(13));
  EXPECT_EQ(c.Finish(), 0);
}

TEST(ChecksumTest, DssChecksum) {
  const uint8_t payload[] = {'h', 'e', 'l', 'l', 'o'};
  const uint64_t dsn = 0x0123456789abcdef;
  // Computed independently over DSN, subflow sequence 1, length 5, zero checksum, payload.
  const uint16_t csum = DssChecksum(dsn, 1, 5, payload);
  EXPECT_EQ(csum, 0x1e02);
  // RFC 8684 §3.3.1: the receiver sums the same with the received checksum in place of the zero
  // and expects 0.
  InternetChecksum verify;
  verify.AddBe64(dsn);
  verify.AddBe32(1);
  verify.AddBe16(5);
  verify.AddBe16(csum);
  verify.Add(payload);
  EXPECT_EQ(verify.Finish(), 0);
  // Payload in pieces through the pseudo-header form.
  InternetChecksum pieces;
  AddDssPseudoHeader(pieces, dsn, 1, 5);
  pieces.Add(std::span(payload).first(3));
  pieces.Add(std::span(payload).subspan(3));
  EXPECT_EQ(pieces.Finish(), csum);
  // Any change to the mapping is caught.
  EXPECT_NE(DssChecksum(dsn + 1, 1, 5, payload), csum);
  EXPECT_NE(DssChecksum(dsn, 2, 5, payload), csum);
  EXPECT_NE(DssChecksum(dsn, 1, 6, payload), csum);
}

}  // namespace
}  // namespace braid::wire
