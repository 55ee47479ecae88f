#include "datapath/wire/tcp.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "datapath/wire/address.h"
#include "datapath/wire/seq.h"
#include "datapath/wire/tcp_options.h"
#include "tests/unit/datapath/wire/hex_bytes.h"

namespace braid::wire {
namespace {

using ::testing::Each;
using ::testing::ElementsAreArray;
using ::testing::Eq;

using ::braid::wire::testing::Hex;

const Ipv4Address kClient4 = Ipv4Address::FromU32(0xc0000201);  // 192.0.2.1
const Ipv4Address kServer4 = Ipv4Address::FromU32(0xc0000202);  // 192.0.2.2
Ipv6Address V6(uint8_t last) {                                  // 2001:db8::<last>
  Ipv6Address a;
  a.bytes = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last};
  return a;
}

// TCP segments (the IP payload) sent by Linux 6.x between two namespaces over a veth with
// checksum offload off, captured with dumpcap; tshark reported every checksum good.
struct Captured {
  const char* name;
  bool v6;
  bool from_client;  // client 192.0.2.1 / 2001:db8::1, server .2 / ::2
  const char* hex;
};

const Captured kCaptured[] = {
    {"Syn", false, true,
     "b820 1389 19a29903 00000000 a002 faf0 bbd2 0000"
     "020405b4 0402080a c355cb90 00000000 0103030a"},
    {"SynAck", false, false,
     "1389 b820 a2fe8fb5 19a29904 a012 fe88 8005 0000"
     "020405b4 0402080a 3b7ac9f5 c355cb90 0103030a"},
    {"Data", false, true,
     "b820 1389 19a29904 a2fe8fb6 8018 003f 413c 0000 0101080a c355cb91 3b7ac9f5"
     "68656c6c6f206272616964"},
    {"DataReply", false, false,
     "1389 b820 a2fe8fb6 19a2990f 8018 0040 c5b5 0000 0101080a 3b7ac9f6 c355cb91"
     "706f6e673a68656c6c6f206272616964"},
    {"Fin", false, true,
     "b820 1389 19a2990f a2fe8fc6 8011 003f ad00 0000 0101080a c355cb91 3b7ac9f6"},
    {"SackOneBlock", false, false,
     "138c 9152 8eac4866 039a4b69 b010 0049 f730 0000 0101080a 0f4d9e67 83341a4c"
     "0101050a 039a5111 039a56b9"},
    {"SackTwoBlocks", false, false,
     "138c 9152 8eac4866 039a4b69 d010 004c cd9e 0000 0101080a 0f4d9e67 83341a4c"
     "01010512 039a7301 039a78a9 039a5111 039a6d59"},
    {"V6Syn", true, true,
     "c7d6 138a b6d2c0b1 00000000 a002 fd20 c381 0000"
     "020405a0 0402080a dc91fc82 00000000 0103030a"},
    {"V6SynAck", true, false,
     "138a c7d6 c72a6c90 b6d2c0b2 a012 fb04 4304 0000"
     "020405a0 0402080a 31841d49 dc91fc82 0103030a"},
    {"V6Data", true, true,
     "c7d6 138a b6d2c0b2 c72a6c91 8018 0040 00a3 0000 0101080a dc91fc82 31841d49"
     "68656c6c6f206272616964"},
    {"MptcpSyn", false, true,
     "c356 138b 03681811 00000000 b002 faf0 02c4 0000"
     "020405b4 0402080a c63adea5 00000000 0103030a 1e040101"},
    {"MptcpSynAck", false, false,
     "138b c356 08cd9b07 03681812 d012 fe88 b40d 0000"
     "020405b4 0402080a 75d4fcb6 c63adea5 0103030a 1e0c0101 f0df044c 410bde65"},
    {"MptcpThirdAck", false, true,
     "c356 138b 03681812 08cd9b08 d010 003f 1c72 0000 0101080a c63adea6 75d4fcb6"
     "1e140101 043596bb be864b2c f0df044c 410bde65"},
    {"MptcpCapableData", false, true,
     "c356 138b 03681812 08cd9b08 e018 003f 9f7e 0000 0101080a c63adea6 75d4fcb6"
     "1e160101 043596bb be864b2c f0df044c 410bde65 000b0101 68656c6c6f206272616964"},
    {"MptcpDssData", false, false,
     "138b c356 08cd9b08 0368181d f018 003f bbab 0000 0101080a 75d4fcb6 c63adea6"
     "1e1a200f 198e7b71 34599541 d865822a 8e36ab11 00000001 00100101"
     "706f6e673a68656c6c6f206272616964"},
    {"MptcpDssDataFin", false, true,
     "c356 138b 0368181d 08cd9b18 f010 003f a2e6 0000 0101080a c63adea6 75d4fcb6"
     "1e1a201f d865822a 8e36ab21 198e7b71 34599541 00000000 00010101"},
};

bool VerifyCaptured(const Captured& c, const TcpSegment& s) {
  if (c.v6) {
    return c.from_client ? s.VerifyChecksumV6(V6(1), V6(2)) : s.VerifyChecksumV6(V6(2), V6(1));
  }
  return c.from_client ? s.VerifyChecksumV4(kClient4, kServer4)
                       : s.VerifyChecksumV4(kServer4, kClient4);
}

bool FillCaptured(const Captured& c, std::span<uint8_t> segment) {
  if (c.v6) {
    return c.from_client ? TcpRepr::FillChecksumV6(segment, V6(1), V6(2))
                         : TcpRepr::FillChecksumV6(segment, V6(2), V6(1));
  }
  return c.from_client ? TcpRepr::FillChecksumV4(segment, kClient4, kServer4)
                       : TcpRepr::FillChecksumV4(segment, kServer4, kClient4);
}

// --- Flags --------------------------------------------------------------------------------------

TEST(TcpFlagsTest, BitsAndNames) {
  EXPECT_EQ(TcpFlags().ToString(), "none");
  EXPECT_EQ((TcpFlag::kSyn | TcpFlag::kAck).ToString(), "SYN,ACK");
  EXPECT_EQ((TcpFlag::kAck | TcpFlag::kFin).ToString(), "FIN,ACK");
  EXPECT_EQ(TcpFlags::FromBits(0xff).ToString(), "FIN,SYN,RST,PSH,ACK,URG,ECE,CWR");
  EXPECT_EQ(TcpFlags(TcpFlag::kRst).bits(), 0x04);
  EXPECT_EQ((TcpFlag::kSyn | TcpFlag::kAck).bits(), 0x12);
  EXPECT_EQ((TcpFlag::kEce | TcpFlag::kCwr).bits(), 0xc0);

  const TcpFlags sa = TcpFlag::kSyn | TcpFlag::kAck;
  EXPECT_TRUE(sa.syn());
  EXPECT_TRUE(sa.ack());
  EXPECT_FALSE(sa.fin());
  EXPECT_FALSE(sa.rst());
  EXPECT_FALSE(sa.psh());
  EXPECT_FALSE(sa.urg());
  EXPECT_FALSE(sa.ece());
  EXPECT_FALSE(sa.cwr());
  EXPECT_TRUE(sa.Has(TcpFlag::kSyn));
  EXPECT_TRUE(sa.Has(sa));
  EXPECT_FALSE(sa.Has(TcpFlag::kSyn | TcpFlag::kFin));
  EXPECT_EQ(sa & TcpFlag::kAck, TcpFlags(TcpFlag::kAck));
  const TcpFlags all = TcpFlags::FromBits(0xff);
  EXPECT_TRUE(all.fin() && all.syn() && all.rst() && all.psh() && all.ack() && all.urg() &&
              all.ece() && all.cwr());
  std::ostringstream os;
  os << (TcpFlag::kPsh | TcpFlag::kAck);
  EXPECT_EQ(os.str(), "PSH,ACK");
}

// --- The checked view ---------------------------------------------------------------------------

TEST(TcpSegmentTest, LinuxSynThroughEveryGetter) {
  const auto bytes =
      Hex("b8 20"                                // source port 47136
          "13 89"                                // destination port 5001
          "19 a2 99 03"                          // sequence number
          "00 00 00 00"                          // acknowledgment number
          "a0"                                   // data offset 10 (40 bytes), reserved 0
          "02"                                   // SYN
          "fa f0"                                // window 64240
          "bb d2"                                // checksum
          "00 00"                                // urgent pointer
          "02 04 05 b4"                          // MSS 1460
          "04 02 08 0a c3 55 cb 90 00 00 00 00"  // SACK-permitted, timestamps
          "01 03 03 0a");                        // NOP, window scale 10
  auto seg = TcpSegment::Check(bytes);
  ASSERT_TRUE(seg.ok()) << WireErrorName(seg.error());
  EXPECT_EQ(seg->src_port(), 47136);
  EXPECT_EQ(seg->dst_port(), 5001);
  EXPECT_EQ(seg->seq(), TcpSeq(0x19a29903));
  EXPECT_EQ(seg->ack(), TcpSeq(0));
  EXPECT_EQ(seg->data_offset(), 10);
  EXPECT_EQ(seg->header_len(), 40u);
  EXPECT_EQ(seg->reserved(), 0);
  EXPECT_EQ(seg->flags(), TcpFlags(TcpFlag::kSyn));
  EXPECT_EQ(seg->window(), 64240);
  EXPECT_EQ(seg->checksum(), 0xbbd2);
  EXPECT_EQ(seg->urgent_pointer(), 0);
  EXPECT_THAT(seg->options(), ElementsAreArray(std::span(bytes).subspan(20)));
  EXPECT_TRUE(seg->payload().empty());
  EXPECT_EQ(seg->bytes().data(), bytes.data());
  EXPECT_EQ(seg->bytes().size(), bytes.size());
  EXPECT_TRUE(seg->VerifyChecksumV4(kClient4, kServer4));

  TcpRepr r = TcpRepr::Parse(*seg);
  EXPECT_EQ(r.src_port, 47136);
  EXPECT_EQ(r.dst_port, 5001);
  EXPECT_EQ(r.seq, TcpSeq(0x19a29903));
  EXPECT_EQ(r.ack, TcpSeq(0));
  EXPECT_EQ(r.flags, TcpFlags(TcpFlag::kSyn));
  EXPECT_EQ(r.window, 64240);
  EXPECT_EQ(r.urgent_pointer, 0);
  EXPECT_EQ(r.options.mss, 1460);
  EXPECT_TRUE(r.options.sack_permitted);
  EXPECT_EQ(r.options.timestamps, (TcpTimestamps{0xc355cb90, 0}));
  EXPECT_EQ(r.options.window_scale, 10);
  EXPECT_EQ(r.payload_len, 0u);
  EXPECT_EQ(r.HeaderLen(), 40u);
  EXPECT_EQ(r.BufferLen(), 40u);
}

TEST(TcpSegmentTest, DataSegmentPayloadAndAck) {
  const auto bytes = Hex(kCaptured[2].hex);
  auto seg = TcpSegment::Check(bytes);
  ASSERT_TRUE(seg.ok());
  EXPECT_EQ(seg->header_len(), 32u);
  EXPECT_EQ(seg->ack(), TcpSeq(0xa2fe8fb6));
  EXPECT_EQ(seg->flags(), TcpFlag::kPsh | TcpFlag::kAck);
  EXPECT_EQ(seg->window(), 63);  // scaled by the peer's shift of 10
  const std::string payload(seg->payload().begin(), seg->payload().end());
  EXPECT_EQ(payload, "hello braid");
  EXPECT_EQ(TcpRepr::Parse(*seg).payload_len, 11u);
}

TEST(TcpSegmentTest, TruncatedAtEveryLengthBelowTheFixedHeader) {
  const auto bytes = Hex(kCaptured[0].hex);
  for (size_t n = 0; n < kTcpHeaderLen; ++n) {
    auto seg = TcpSegment::Check(std::span(bytes).first(n));
    ASSERT_FALSE(seg.ok()) << n;
    EXPECT_EQ(seg.error(), WireError::kTruncated) << n;
  }
}

TEST(TcpSegmentTest, OptionsCutOffAtEveryLength) {
  const auto bytes = Hex(kCaptured[0].hex);  // data offset 10
  for (size_t n = kTcpHeaderLen; n < bytes.size(); ++n) {
    auto seg = TcpSegment::Check(std::span(bytes).first(n));
    ASSERT_FALSE(seg.ok()) << n;
    EXPECT_EQ(seg.error(), WireError::kBadHeaderLength) << n;
  }
  EXPECT_TRUE(TcpSegment::Check(bytes).ok());
}

TEST(TcpSegmentTest, DataOffsetBelowFive) {
  auto bytes = Hex(kCaptured[4].hex);
  for (uint8_t offset = 0; offset < 5; ++offset) {
    bytes[12] = static_cast<uint8_t>(offset << 4);
    auto seg = TcpSegment::Check(bytes);
    ASSERT_FALSE(seg.ok()) << int{offset};
    EXPECT_EQ(seg.error(), WireError::kBadHeaderLength);
  }
  bytes[12] = 0x50;
  auto seg = TcpSegment::Check(bytes);
  ASSERT_TRUE(seg.ok());
  EXPECT_EQ(seg->header_len(), 20u);
  EXPECT_TRUE(seg->options().empty());
  EXPECT_EQ(seg->payload().size(), 12u);  // the former options, now payload
}

TEST(TcpSegmentTest, DataOffsetFifteen) {
  std::vector<uint8_t> bytes(60, kTcpOptionNop);
  bytes[12] = 0xf0;
  auto seg = TcpSegment::Check(std::span(bytes).first(59));
  ASSERT_FALSE(seg.ok());
  EXPECT_EQ(seg.error(), WireError::kBadHeaderLength);
  seg = TcpSegment::Check(bytes);
  ASSERT_TRUE(seg.ok());
  EXPECT_EQ(seg->header_len(), kTcpMaxHeaderLen);
  EXPECT_EQ(seg->options().size(), kTcpMaxOptionsLen);
  EXPECT_TRUE(seg->payload().empty());
}

TEST(TcpSegmentTest, ReservedBitsReadButNotKept) {
  auto bytes = Hex(kCaptured[4].hex);
  bytes[12] |= 0x0f;
  auto seg = TcpSegment::Check(bytes);
  ASSERT_TRUE(seg.ok());
  EXPECT_EQ(seg->reserved(), 0x0f);
  EXPECT_EQ(seg->data_offset(), 8);
  TcpRepr r = TcpRepr::Parse(*seg);
  std::vector<uint8_t> out(r.HeaderLen());
  ASSERT_TRUE(r.Emit(out));
  EXPECT_EQ(out[12], 0x80);  // RFC 9293 §3.1: zero when sent
}

TEST(TcpSegmentTest, MalformedOptionsDoNotFailTheHeader) {
  auto bytes = Hex(kCaptured[4].hex);
  bytes[20 + 2] = 0x08;  // NOP NOP TS -> NOP NOP 08 08: timestamps of 8 bytes
  bytes[20 + 3] = 0x08;
  auto seg = TcpSegment::Check(bytes);
  ASSERT_TRUE(seg.ok());
  TcpRepr r = TcpRepr::Parse(*seg);
  EXPECT_FALSE(r.options.timestamps);
  EXPECT_EQ(r.options.drops.count(TcpOptionDrop::kTimestampsBadLength), 1);
}

// --- Checksums ----------------------------------------------------------------------------------

TEST(TcpChecksumTest, HandComputedIpv4) {
  // 192.0.2.1 -> 192.0.2.2, ports 1 -> 2, seq 0, ack 0, data offset 5, SYN, window 0, urgent 0.
  // Pseudo-header: c000 + 0201 + c000 + 0202 + 0006 (protocol) + 0014 (length 20) = 0x1841d.
  // Header words: 0001 + 0002 + 5002 = 0x5005. Sum 0x1d422, folded 0xd423, complement 0x2bdc.
  TcpRepr r;
  r.src_port = 1;
  r.dst_port = 2;
  r.flags = TcpFlag::kSyn;
  std::vector<uint8_t> out(r.BufferLen(), 0xa5);
  ASSERT_TRUE(r.Emit(out));
  ASSERT_TRUE(TcpRepr::FillChecksumV4(out, kClient4, kServer4));
  EXPECT_THAT(out, ElementsAreArray(Hex("0001 0002 00000000 00000000 5002 0000 2bdc 0000")));
  auto seg = TcpSegment::Check(out);
  ASSERT_TRUE(seg.ok());
  EXPECT_EQ(seg->checksum(), 0x2bdc);
  EXPECT_TRUE(seg->VerifyChecksumV4(kClient4, kServer4));
  EXPECT_TRUE(seg->VerifyChecksumV4(kServer4, kClient4));  // a sum cannot tell the two apart
  EXPECT_FALSE(seg->VerifyChecksumV4(kClient4, Ipv4Address::FromU32(0xc0000203)));
  EXPECT_FALSE(seg->VerifyChecksumV6(V6(1), V6(2)));
}

TEST(TcpChecksumTest, CapturedSegmentsVerify) {
  for (const Captured& c : kCaptured) {
    const auto bytes = Hex(c.hex);
    auto seg = TcpSegment::Check(bytes);
    ASSERT_TRUE(seg.ok()) << c.name;
    EXPECT_TRUE(VerifyCaptured(c, *seg)) << c.name;
    // Any single flipped bit is caught.
    for (size_t i = 0; i < bytes.size(); i += 7) {
      auto bad = bytes;
      bad[i] ^= 0x10;
      auto bad_seg = TcpSegment::Check(bad);
      if (!bad_seg.ok()) continue;  // the data offset itself was hit
      EXPECT_FALSE(VerifyCaptured(c, *bad_seg)) << c.name << " byte " << i;
    }
  }
}

TEST(TcpChecksumTest, FillRejectsAShortSegment) {
  std::vector<uint8_t> out(kTcpHeaderLen - 1, 0xa5);
  EXPECT_FALSE(TcpRepr::FillChecksumV4(out, kClient4, kServer4));
  EXPECT_FALSE(TcpRepr::FillChecksumV6(out, V6(1), V6(2)));
  EXPECT_THAT(out, Each(Eq(0xa5)));
}

// --- Emission and round trips -------------------------------------------------------------------

// Parse, emit over 0xA5, copy the payload, fill the checksum: Linux's exact bytes come back,
// options layout included.
TEST(TcpReprTest, CapturedSegmentsReemitExactly) {
  for (const Captured& c : kCaptured) {
    const auto bytes = Hex(c.hex);
    auto seg = TcpSegment::Check(bytes);
    ASSERT_TRUE(seg.ok()) << c.name;
    TcpRepr r = TcpRepr::Parse(*seg);
    EXPECT_FALSE(r.options.drops.any()) << c.name << " " << r;
    ASSERT_EQ(r.HeaderLen(), seg->header_len()) << c.name;
    ASSERT_EQ(r.BufferLen(), bytes.size()) << c.name;

    std::vector<uint8_t> out(bytes.size(), 0xa5);
    ASSERT_TRUE(r.Emit(out)) << c.name;
    EXPECT_EQ(out[16], 0);  // checksum left zero
    EXPECT_EQ(out[17], 0);
    std::copy(seg->payload().begin(), seg->payload().end(), out.begin() + r.HeaderLen());
    ASSERT_TRUE(FillCaptured(c, out)) << c.name;
    EXPECT_THAT(out, ElementsAreArray(bytes)) << c.name;
  }
}

TEST(TcpReprTest, MptcpOptionsSurviveAsRaw) {
  const auto bytes = Hex(kCaptured[14].hex);  // DSS + data
  auto seg = TcpSegment::Check(bytes);
  ASSERT_TRUE(seg.ok());
  TcpRepr r = TcpRepr::Parse(*seg);
  ASSERT_EQ(r.options.raw_options.size(), 1u);
  const RawTcpOption& dss = r.options.raw_options[0];
  EXPECT_EQ(dss.kind(), kTcpOptionMptcp);
  EXPECT_EQ(dss.length(), 26);
  EXPECT_EQ(dss.data()[0] >> 4, 2);  // subtype DSS
  EXPECT_EQ(r.payload_len, 16u);
}

TEST(TcpReprTest, EmitOverA5) {
  TcpRepr r;
  r.src_port = 0x1234;
  r.dst_port = 0x5678;
  r.seq = TcpSeq(0xfffffffe);
  r.ack = TcpSeq(0x00000001);
  r.flags = TcpFlag::kAck | TcpFlag::kUrg | TcpFlag::kCwr;
  r.window = 0xabcd;
  r.urgent_pointer = 0x0102;
  r.options.timestamps = TcpTimestamps{0x11223344, 0x55667788};
  r.payload_len = 3;
  ASSERT_EQ(r.HeaderLen(), 32u);
  ASSERT_EQ(r.BufferLen(), 35u);
  std::vector<uint8_t> out(36, 0xa5);
  ASSERT_TRUE(r.Emit(out));
  EXPECT_THAT(out, ElementsAreArray(Hex("1234 5678 fffffffe 00000001 80 b0 abcd 0000 0102"
                                        "0101080a 11223344 55667788"
                                        "a5a5a5 a5")));  // the payload is the caller's
}

TEST(TcpReprTest, EmitIntoShortBufferWritesNothing) {
  TcpRepr r;
  r.flags = TcpFlag::kSyn;
  r.options.mss = 1460;
  r.options.window_scale = 7;
  ASSERT_EQ(r.HeaderLen(), 28u);
  for (size_t n = 0; n < r.HeaderLen(); ++n) {
    std::vector<uint8_t> out(n, 0xa5);
    EXPECT_FALSE(r.Emit(out)) << n;
    EXPECT_THAT(out, Each(Eq(0xa5))) << n;
  }
}

TEST(TcpReprTest, EmitFailsWhenOptionsDoNotFit) {
  TcpRepr r;
  r.options.timestamps = TcpTimestamps{1, 2};
  for (uint32_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(r.options.sack_blocks.TryAppend({TcpSeq(i), TcpSeq(i + 1)}));
  }
  EXPECT_GT(r.HeaderLen(), kTcpMaxHeaderLen);
  std::vector<uint8_t> out(80, 0xa5);
  EXPECT_FALSE(r.Emit(out));
  EXPECT_THAT(out, Each(Eq(0xa5)));

  r.options = TcpOptionsRepr();
  r.options.window_scale = 15;  // out of range: refused, nothing written
  EXPECT_FALSE(r.Emit(out));
  EXPECT_THAT(out, Each(Eq(0xa5)));
}

TEST(TcpReprTest, ParseEmitRoundTripNearTheWrap) {
  std::vector<TcpRepr> cases;
  TcpRepr r;
  cases.push_back(r);
  r.src_port = 65535;
  r.dst_port = 1;
  r.seq = TcpSeq(0xffffffff);
  r.ack = TcpSeq(0xfffffff0);
  r.flags = TcpFlags::FromBits(0xff);
  r.window = 65535;
  r.urgent_pointer = 65535;
  r.payload_len = 1;
  cases.push_back(r);
  r.options.mss = 8960;
  r.options.window_scale = 14;
  r.options.sack_permitted = true;
  r.options.timestamps = TcpTimestamps{0xffffffff, 0};
  ASSERT_TRUE(r.options.AppendRaw(std::span<const uint8_t>(Hex("1e 04 01 01"))));
  r.payload_len = 0;
  cases.push_back(r);
  TcpRepr data;
  data.seq = TcpSeq(0x80000000);
  data.ack = TcpSeq(0x7fffffff);
  data.flags = TcpFlag::kAck;
  data.options.timestamps = TcpTimestamps{5, 6};
  ASSERT_TRUE(data.options.sack_blocks.TryAppend({TcpSeq(0xfffffff0), TcpSeq(0x10)}));
  data.payload_len = 1000;
  cases.push_back(data);

  for (const TcpRepr& x : cases) {
    std::vector<uint8_t> out(x.BufferLen(), 0x5a);
    ASSERT_TRUE(x.Emit(out)) << x;
    auto seg = TcpSegment::Check(out);
    ASSERT_TRUE(seg.ok()) << x;
    EXPECT_EQ(TcpRepr::Parse(*seg), x);
    ASSERT_TRUE(TcpRepr::FillChecksumV6(out, V6(1), V6(2)));
    EXPECT_TRUE(TcpSegment::Check(out)->VerifyChecksumV6(V6(1), V6(2))) << x;
  }
  // The emitted sequence numbers compare across the wrap.
  EXPECT_LT(cases[1].ack, cases[1].seq);
  EXPECT_LT(cases[1].seq, cases[1].seq + 1);
}

TEST(TcpReprTest, Prints) {
  TcpRepr r;
  r.src_port = 1;
  r.dst_port = 2;
  r.flags = TcpFlag::kSyn;
  r.options.mss = 1460;
  std::ostringstream os;
  os << r;
  EXPECT_EQ(os.str(), "1 > 2 [SYN] seq 0 ack 0 win 0 urg 0 options {mss 1460} len 0");
}

}  // namespace
}  // namespace braid::wire
