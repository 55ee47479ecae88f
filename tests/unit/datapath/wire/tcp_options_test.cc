#include "datapath/wire/tcp_options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "tests/unit/datapath/wire/hex_bytes.h"

namespace braid::wire {
namespace {

using ::testing::Each;
using ::testing::ElementsAreArray;
using ::testing::Eq;

using ::braid::wire::testing::Hex;

std::vector<uint8_t> EmitOrDie(const TcpOptionsRepr& r) {
  std::vector<uint8_t> out(r.EncodedLen(), 0xa5);
  EXPECT_TRUE(r.Emit(out));
  return out;
}

RawTcpOption Raw(std::string_view hex) {
  auto o = RawTcpOption::FromBytes(Hex(hex));
  EXPECT_TRUE(o.has_value()) << hex;
  return *o;
}

TcpOptionsRepr Sack(std::initializer_list<TcpSackBlock> blocks) {
  TcpOptionsRepr r;
  for (const auto& b : blocks) EXPECT_TRUE(r.sack_blocks.TryAppend(b));
  return r;
}

// Only the named reason counted, `n` times.
void ExpectOnlyDrop(const TcpOptionsRepr& r, TcpOptionDrop reason, int n = 1) {
  EXPECT_EQ(r.drops.count(reason), n) << TcpOptionDropName(reason);
  EXPECT_EQ(r.drops.total(), static_cast<size_t>(n)) << r;
}

// --- Golden lists, as Linux 6.x sends them (captured on a veth, tshark-checked) ----------------

TEST(TcpOptionsTest, LinuxSynGolden) {
  const auto golden =
      Hex("02 04 05 b4"                    // MSS, len 4, 1460
          "04 02"                          // SACK-permitted, len 2 (folded into the TS's NOPs)
          "08 0a c3 55 cb 90 00 00 00 00"  // timestamps, len 10, TSval 0xc355cb90, TSecr 0
          "01"                             // NOP
          "03 03 0a");                     // window scale, len 3, shift 10
  TcpOptionsRepr r = TcpOptionsRepr::Parse(golden);
  EXPECT_EQ(r.mss, 1460);
  EXPECT_TRUE(r.sack_permitted);
  ASSERT_TRUE(r.timestamps);
  EXPECT_EQ(r.timestamps->tsval, 0xc355cb90u);
  EXPECT_EQ(r.timestamps->tsecr, 0u);
  EXPECT_EQ(r.window_scale, 10);
  EXPECT_TRUE(r.sack_blocks.empty());
  EXPECT_TRUE(r.raw_options.empty());
  EXPECT_FALSE(r.drops.any());

  EXPECT_EQ(r.EncodedLen(), golden.size());
  EXPECT_THAT(EmitOrDie(r), ElementsAreArray(golden));
}

TEST(TcpOptionsTest, EmitsTheBriefsSynLayoutOverA5) {
  TcpOptionsRepr r;
  r.mss = 1460;
  r.sack_permitted = true;
  r.timestamps = TcpTimestamps{0x01020304, 0x05060708};
  r.window_scale = 7;
  std::vector<uint8_t> out(24, 0xa5);
  ASSERT_TRUE(r.Emit(out));
  EXPECT_THAT(out, ElementsAreArray(Hex("02 04 05 b4 04 02 08 0a 01 02 03 04 05 06 07 08"
                                        "01 03 03 07 a5 a5 a5 a5")));
}

TEST(TcpOptionsTest, DataSegmentTimestampsGolden) {
  const auto golden = Hex("01 01 08 0a c3 55 cb 91 3b 7a c9 f5");  // NOP NOP TS
  TcpOptionsRepr r = TcpOptionsRepr::Parse(golden);
  EXPECT_EQ(r.timestamps, (TcpTimestamps{0xc355cb91, 0x3b7ac9f5}));
  EXPECT_FALSE(r.mss);
  EXPECT_FALSE(r.window_scale);
  EXPECT_FALSE(r.sack_permitted);
  EXPECT_FALSE(r.drops.any());
  EXPECT_THAT(EmitOrDie(r), ElementsAreArray(golden));
}

TEST(TcpOptionsTest, LinuxSackGolden) {
  // A Linux receiver's duplicate ACK after a drop: NOP NOP TS, NOP NOP SACK with two blocks.
  const auto golden =
      Hex("01 01 08 0a 0f 4d 9e 67 83 34 1a 4c"
          "01 01 05 12"                // NOP NOP SACK, len 18 = 2 + 2 * 8
          "03 9a 73 01 03 9a 78 a9"    // block 1: left, right
          "03 9a 51 11 03 9a 6d 59");  // block 2
  TcpOptionsRepr r = TcpOptionsRepr::Parse(golden);
  EXPECT_EQ(r.timestamps, (TcpTimestamps{0x0f4d9e67, 0x83341a4c}));
  ASSERT_EQ(r.sack_blocks.size(), 2u);
  EXPECT_EQ(r.sack_blocks[0].left, TcpSeq(0x039a7301));
  EXPECT_EQ(r.sack_blocks[0].right, TcpSeq(0x039a78a9));
  EXPECT_EQ(r.sack_blocks[1].left, TcpSeq(0x039a5111));
  EXPECT_EQ(r.sack_blocks[1].right, TcpSeq(0x039a6d59));
  EXPECT_FALSE(r.drops.any());
  EXPECT_THAT(EmitOrDie(r), ElementsAreArray(golden));
}

TEST(TcpOptionsTest, LinuxMptcpOptionsKeptRawAndReemittedExactly) {
  // MP_CAPABLE ACK + data (22 bytes), padded by the kernel with two NOPs.
  const auto mpc =
      Hex("01 01 08 0a c6 3a de a6 75 d4 fc b6"
          "1e 16 01 01 04 35 96 bb be 86 4b 2c f0 df 04 4c 41 0b de 65 00 0b 01 01");
  TcpOptionsRepr r = TcpOptionsRepr::Parse(mpc);
  ASSERT_EQ(r.raw_options.size(), 1u);
  EXPECT_EQ(r.raw_options[0].kind(), kTcpOptionMptcp);
  EXPECT_EQ(r.raw_options[0].length(), 22);
  EXPECT_THAT(r.raw_options[0].bytes(), ElementsAreArray(std::span(mpc).subspan(12, 22)));
  EXPECT_THAT(r.raw_options[0].data(), ElementsAreArray(std::span(mpc).subspan(14, 20)));
  EXPECT_THAT(EmitOrDie(r), ElementsAreArray(mpc));

  // DSS with 64-bit data ACK and mapping (26 bytes): 40 bytes of options in all.
  const auto dss =
      Hex("01 01 08 0a 75 d4 fc b6 c6 3a de a6"
          "1e 1a 20 0f 19 8e 7b 71 34 59 95 41 d8 65 82 2a 8e 36 ab 11 00 00 00 01 00 10 01 01");
  r = TcpOptionsRepr::Parse(dss);
  ASSERT_EQ(r.raw_options.size(), 1u);
  EXPECT_EQ(r.raw_options[0].length(), 26);
  EXPECT_EQ(r.EncodedLen(), kTcpMaxOptionsLen);
  EXPECT_THAT(EmitOrDie(r), ElementsAreArray(dss));
}

// --- The walk ---------------------------------------------------------------------------------

TEST(TcpOptionsTest, EmptyAndPaddingOnly) {
  EXPECT_EQ(TcpOptionsRepr::Parse({}), TcpOptionsRepr());
  EXPECT_EQ(TcpOptionsRepr::Parse(Hex("01 01 01 01")), TcpOptionsRepr());
  EXPECT_EQ(TcpOptionsRepr::Parse(Hex("00 00 00 00")), TcpOptionsRepr());
  EXPECT_EQ(TcpOptionsRepr().EncodedLen(), 0u);
  std::vector<uint8_t> none;
  EXPECT_TRUE(TcpOptionsRepr().Emit(none));
}

TEST(TcpOptionsTest, EolEndsTheList) {
  // Bytes after EOL are padding, even when they look like options (RFC 9293 §3.1).
  TcpOptionsRepr r = TcpOptionsRepr::Parse(Hex("02 04 05 b4 00 03 03 07"));
  EXPECT_EQ(r.mss, 1460);
  EXPECT_FALSE(r.window_scale);
  EXPECT_FALSE(r.drops.any());
}

TEST(TcpOptionsTest, LengthZeroOrOneEndsTheWalk) {
  for (uint8_t len : {0, 1}) {
    const std::vector<uint8_t> list = {2, 4, 5, 0xb4, 0xfe, len, 3, 3, 7, 1, 1, 1};
    TcpOptionsRepr r = TcpOptionsRepr::Parse(list);
    EXPECT_EQ(r.mss, 1460) << int{len};  // before the bad option: kept
    EXPECT_FALSE(r.window_scale);        // after it: not walked
    EXPECT_TRUE(r.raw_options.empty());
    ExpectOnlyDrop(r, TcpOptionDrop::kMalformedList);
  }
}

TEST(TcpOptionsTest, MissingLengthByteEndsTheWalk) {
  for (uint8_t kind : {kTcpOptionMss, kTcpOptionSackPermitted, kTcpOptionMptcp, uint8_t{99}}) {
    TcpOptionsRepr r = TcpOptionsRepr::Parse(std::vector<uint8_t>{1, 3, 3, 7, kind});
    EXPECT_EQ(r.window_scale, 7);
    EXPECT_TRUE(r.raw_options.empty());
    ExpectOnlyDrop(r, TcpOptionDrop::kMalformedList);
  }
}

TEST(TcpOptionsTest, LengthPastTheEndEndsTheWalk) {
  // Timestamps claiming 10 bytes with 9 left; an unknown option claiming 3 with 2 left.
  TcpOptionsRepr r = TcpOptionsRepr::Parse(Hex("02 04 05 b4 08 0a 00 00 00 01 00 00 00"));
  EXPECT_EQ(r.mss, 1460);
  EXPECT_FALSE(r.timestamps);
  ExpectOnlyDrop(r, TcpOptionDrop::kMalformedList);

  r = TcpOptionsRepr::Parse(Hex("fe 03 00"));  // exactly fits: kept
  EXPECT_EQ(r.raw_options.size(), 1u);
  EXPECT_FALSE(r.drops.any());
  r = TcpOptionsRepr::Parse(Hex("fe 03"));
  EXPECT_TRUE(r.raw_options.empty());
  ExpectOnlyDrop(r, TcpOptionDrop::kMalformedList);
}

TEST(TcpOptionsTest, MoreThanFortyBytesAreNotWalked) {
  std::vector<uint8_t> list(40, kTcpOptionNop);
  list.insert(list.end(), {2, 4, 5, 0xb4});
  TcpOptionsRepr r = TcpOptionsRepr::Parse(list);
  EXPECT_FALSE(r.mss);
  ExpectOnlyDrop(r, TcpOptionDrop::kOptionSpaceTooLong);
}

// --- Known options with the wrong length: ignored and counted, the walk goes on ---------------

struct BadLength {
  const char* name;
  const char* list;  // the bad option, then NOP + window scale 7 to show the walk went on
  TcpOptionDrop reason;
};

class BadLengthTest : public ::testing::TestWithParam<BadLength> {};

TEST_P(BadLengthTest, IgnoredAndCounted) {
  TcpOptionsRepr r = TcpOptionsRepr::Parse(Hex(GetParam().list));
  EXPECT_FALSE(r.mss);
  EXPECT_FALSE(r.sack_permitted);
  EXPECT_FALSE(r.timestamps);
  EXPECT_TRUE(r.sack_blocks.empty());
  EXPECT_TRUE(r.raw_options.empty());  // never kept raw either
  ExpectOnlyDrop(r, GetParam().reason);
  if (GetParam().reason == TcpOptionDrop::kWindowScaleBadLength) {
    EXPECT_FALSE(r.window_scale);
  } else {
    EXPECT_EQ(r.window_scale, 7);
  }
}

INSTANTIATE_TEST_SUITE_P(
    OneShortOneLong, BadLengthTest,
    ::testing::Values(
        BadLength{"MssShort", "02 03 05 01 03 03 07", TcpOptionDrop::kMssBadLength},
        BadLength{"MssLong", "02 05 05 b4 00 01 03 03 07", TcpOptionDrop::kMssBadLength},
        BadLength{"WindowScaleShort", "03 02 01 01", TcpOptionDrop::kWindowScaleBadLength},
        BadLength{"WindowScaleLong", "03 04 07 00", TcpOptionDrop::kWindowScaleBadLength},
        BadLength{"SackPermittedLong", "04 03 00 01 03 03 07",
                  TcpOptionDrop::kSackPermittedBadLength},
        BadLength{"SackNoBlocks", "05 02 01 03 03 07", TcpOptionDrop::kSackBadLength},
        BadLength{"SackShort", "05 09 00 00 00 01 00 00 00 01 03 03 07",
                  TcpOptionDrop::kSackBadLength},
        BadLength{"SackLong", "05 0b 00 00 00 01 00 00 00 02 00 01 03 03 07",
                  TcpOptionDrop::kSackBadLength},
        BadLength{"TimestampsShort", "08 09 00 00 00 01 00 00 00 01 03 03 07",
                  TcpOptionDrop::kTimestampsBadLength},
        BadLength{"TimestampsLong", "08 0b 00 00 00 01 00 00 00 02 00 01 03 03 07",
                  TcpOptionDrop::kTimestampsBadLength}),
    [](const auto& test) { return std::string(test.param.name); });

TEST(TcpOptionsTest, SackPermittedOneShortIsAMalformedList) {
  // Length 1 is below the 2 bytes any option has: the walk stops there.
  TcpOptionsRepr r = TcpOptionsRepr::Parse(Hex("04 01 01 03 03 07"));
  EXPECT_FALSE(r.sack_permitted);
  EXPECT_FALSE(r.window_scale);
  ExpectOnlyDrop(r, TcpOptionDrop::kMalformedList);
}

TEST(TcpOptionsTest, BadLengthCopyDoesNotBlockAGoodOne) {
  TcpOptionsRepr r = TcpOptionsRepr::Parse(Hex("02 03 00 02 04 05 b4 01"));
  EXPECT_EQ(r.mss, 1460);
  ExpectOnlyDrop(r, TcpOptionDrop::kMssBadLength);
}

// --- Duplicates: the first copy wins, each later one is counted by kind -----------------------

TEST(TcpOptionsTest, DuplicatesIgnoredAndCountedByKind) {
  TcpOptionsRepr r =
      TcpOptionsRepr::Parse(Hex("02 04 05 b4 02 04 00 10 02 04 00 20 03 03 07 03 03 02"));
  EXPECT_EQ(r.mss, 1460);
  EXPECT_EQ(r.window_scale, 7);
  EXPECT_EQ(r.drops.count(TcpOptionDrop::kDuplicateMss), 2);
  EXPECT_EQ(r.drops.count(TcpOptionDrop::kDuplicateWindowScale), 1);
  EXPECT_EQ(r.drops.total(), 3u);

  r = TcpOptionsRepr::Parse(Hex("04 02 04 02"));
  EXPECT_TRUE(r.sack_permitted);
  ExpectOnlyDrop(r, TcpOptionDrop::kDuplicateSackPermitted);

  r = TcpOptionsRepr::Parse(Hex("08 0a 00 00 00 01 00 00 00 02 08 0a 00 00 00 03 00 00 00 04"));
  EXPECT_EQ(r.timestamps, (TcpTimestamps{1, 2}));
  ExpectOnlyDrop(r, TcpOptionDrop::kDuplicateTimestamps);

  r = TcpOptionsRepr::Parse(Hex("05 0a 00 00 00 01 00 00 00 02 05 0a 00 00 00 03 00 00 00 04"));
  EXPECT_EQ(r.sack_blocks, Sack({{TcpSeq(1), TcpSeq(2)}}).sack_blocks);
  ExpectOnlyDrop(r, TcpOptionDrop::kDuplicateSack);
}

TEST(TcpOptionsTest, UnknownAndMptcpOptionsKeptInOrder) {
  const auto list =
      Hex("1e 04 01 01"                          // MPTCP MP_CAPABLE SYN
          "fe 06 f9 89 aa bb"                    // experimental (RFC 6994), ExID 0xf989
          "02 04 05 b4"                          // MSS in between: parsed, not kept
          "1e 0c 20 01 00 00 00 01 00 00 00 02"  // MPTCP again: both kept
          "63 02"                                // kind 99, no data
          "00 77");                              // EOL, then padding
  TcpOptionsRepr r = TcpOptionsRepr::Parse(list);
  EXPECT_EQ(r.mss, 1460);
  EXPECT_FALSE(r.drops.any());
  ASSERT_EQ(r.raw_options.size(), 4u);
  EXPECT_EQ(r.raw_options[0].kind(), kTcpOptionMptcp);
  EXPECT_THAT(r.raw_options[0].bytes(), ElementsAreArray(Hex("1e 04 01 01")));
  EXPECT_THAT(r.raw_options[0].data(), ElementsAreArray(Hex("01 01")));
  EXPECT_EQ(r.raw_options[1].kind(), 0xfe);
  EXPECT_EQ(r.raw_options[1].length(), 6);
  EXPECT_THAT(r.raw_options[1].data(), ElementsAreArray(Hex("f9 89 aa bb")));
  EXPECT_EQ(r.raw_options[2].kind(), kTcpOptionMptcp);
  EXPECT_EQ(r.raw_options[2].length(), 12);
  EXPECT_EQ(r.raw_options[3].kind(), 99);
  EXPECT_EQ(r.raw_options[3].length(), 2);
  EXPECT_TRUE(r.raw_options[3].data().empty());

  // Re-emitted after the known options, in the same order.
  const auto out = EmitOrDie(r);
  EXPECT_THAT(out, ElementsAreArray(Hex("02 04 05 b4"
                                        "1e 04 01 01"
                                        "fe 06 f9 89 aa bb 01 01"
                                        "1e 0c 20 01 00 00 00 01 00 00 00 02"
                                        "63 02 01 01")));
  EXPECT_EQ(TcpOptionsRepr::Parse(out), r);
}

TEST(TcpOptionsTest, TwentyOptionsOfTwoBytesFillTheRawList) {
  std::vector<uint8_t> list;
  for (int i = 0; i < 20; ++i) list.insert(list.end(), {static_cast<uint8_t>(100 + i), 2});
  TcpOptionsRepr r = TcpOptionsRepr::Parse(list);
  ASSERT_EQ(r.raw_options.size(), kTcpMaxRawOptions);
  for (size_t i = 0; i < r.raw_options.size(); ++i)
    EXPECT_EQ(r.raw_options[i].kind(), 100 + static_cast<int>(i));
  EXPECT_FALSE(r.drops.any());
  // 20 options padded each to 4 bytes would take 80: emitted back to back instead.
  EXPECT_EQ(r.EncodedLen(), 40u);
  EXPECT_THAT(EmitOrDie(r), ElementsAreArray(list));
}

// --- Window scale -----------------------------------------------------------------------------

TEST(TcpOptionsTest, WindowScaleAbove14ClampedAndReported) {
  for (uint8_t shift : {15, 16, 255}) {
    TcpOptionsRepr r = TcpOptionsRepr::Parse(std::vector<uint8_t>{3, 3, shift});
    EXPECT_EQ(r.window_scale, kTcpMaxWindowScale) << int{shift};
    ExpectOnlyDrop(r, TcpOptionDrop::kWindowScaleTooLarge);
  }
  TcpOptionsRepr r = TcpOptionsRepr::Parse(Hex("03 03 0e"));
  EXPECT_EQ(r.window_scale, 14);
  EXPECT_FALSE(r.drops.any());
  r = TcpOptionsRepr::Parse(Hex("03 03 00"));
  EXPECT_EQ(r.window_scale, 0);
}

TEST(TcpOptionsTest, EmitRefusesWindowScaleAbove14) {
  TcpOptionsRepr r;
  r.window_scale = 15;
  std::vector<uint8_t> out(8, 0xa5);
  EXPECT_FALSE(r.Emit(out));
  EXPECT_THAT(out, Each(Eq(0xa5)));
}

// --- SACK blocks ------------------------------------------------------------------------------

TEST(TcpOptionsTest, SackOneToFourBlocksNearTheWrap) {
  const TcpSackBlock blocks[4] = {{TcpSeq(0xfffffff0), TcpSeq(0x00000010)},
                                  {TcpSeq(0xffffffff), TcpSeq(0x00000000)},
                                  {TcpSeq(0x7fffffff), TcpSeq(0x80000001)},
                                  {TcpSeq(0), TcpSeq(0xffffffff)}};
  for (size_t n = 1; n <= 4; ++n) {
    std::vector<uint8_t> list = {kTcpOptionSack, static_cast<uint8_t>(2 + 8 * n)};
    for (size_t i = 0; i < n; ++i) {
      for (uint32_t v : {blocks[i].left.raw(), blocks[i].right.raw()}) {
        list.insert(list.end(), {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
                                 static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)});
      }
    }
    TcpOptionsRepr r = TcpOptionsRepr::Parse(list);
    EXPECT_FALSE(r.drops.any()) << n;
    ASSERT_EQ(r.sack_blocks.size(), n);
    for (size_t i = 0; i < n; ++i) EXPECT_EQ(r.sack_blocks[i], blocks[i]) << n << " " << i;
    // The wrap is seen through TcpSeq's order: 0xfffffff0 < 0x10.
    EXPECT_LT(r.sack_blocks[0].left, r.sack_blocks[0].right);
    // Emitted as NOP NOP SACK; parses back to the same.
    const auto out = EmitOrDie(r);
    EXPECT_EQ(out.size(), 4 + 8 * n);
    EXPECT_THAT(std::span(out).subspan(2), ElementsAreArray(list));
    EXPECT_EQ(TcpOptionsRepr::Parse(out), r);
  }
}

TEST(TcpOptionsTest, SackFiveBlocksDoesNotFit) {
  std::vector<uint8_t> list = {kTcpOptionSack, 42};
  list.resize(42, 0x11);
  // In a 40-byte option space the option runs past the end.
  TcpOptionsRepr r = TcpOptionsRepr::Parse(std::span(list).first(40));
  EXPECT_TRUE(r.sack_blocks.empty());
  ExpectOnlyDrop(r, TcpOptionDrop::kMalformedList);
  // Handed all 42 bytes, the parser still only walks 40.
  r = TcpOptionsRepr::Parse(list);
  EXPECT_TRUE(r.sack_blocks.empty());
  EXPECT_EQ(r.drops.count(TcpOptionDrop::kOptionSpaceTooLong), 1);
  EXPECT_EQ(r.drops.count(TcpOptionDrop::kMalformedList), 1);
  EXPECT_EQ(r.drops.total(), 2u);
}

// --- Emission -----------------------------------------------------------------------------------

TEST(TcpOptionsTest, EmitLayouts) {
  TcpOptionsRepr r;
  r.sack_permitted = true;
  EXPECT_THAT(EmitOrDie(r), ElementsAreArray(Hex("01 01 04 02")));
  r.window_scale = 0;
  EXPECT_THAT(EmitOrDie(r), ElementsAreArray(Hex("01 01 04 02 01 03 03 00")));
  r = TcpOptionsRepr();
  r.mss = 0;  // reported as is; the TCP layer decides what an MSS of 0 means
  EXPECT_THAT(EmitOrDie(r), ElementsAreArray(Hex("02 04 00 00")));
  EXPECT_EQ(TcpOptionsRepr::Parse(Hex("02 04 00 00")).mss, 0);
}

TEST(TcpOptionsTest, PackedWhenTheAlignedLayoutDoesNotFit) {
  // TS (12) + NOP WS (4) + NOP NOP SACK x3 (28) = 44 aligned; 10 + 3 + 26 = 39 packed.
  TcpOptionsRepr r = Sack({{TcpSeq(1), TcpSeq(2)}, {TcpSeq(3), TcpSeq(4)}, {TcpSeq(5), TcpSeq(6)}});
  r.timestamps = TcpTimestamps{7, 8};
  r.window_scale = 3;
  EXPECT_EQ(r.EncodedLen(), 40u);
  const auto out = EmitOrDie(r);
  EXPECT_THAT(out, ElementsAreArray(Hex("03 03 03"
                                        "08 0a 00 00 00 07 00 00 00 08"
                                        "05 1a 00 00 00 01 00 00 00 02 00 00 00 03 00 00 00 04"
                                        "00 00 00 05 00 00 00 06"
                                        "01")));
  EXPECT_EQ(TcpOptionsRepr::Parse(out), r);
}

TEST(TcpOptionsTest, EmitFailsAboveFortyBytes) {
  // TS + four SACK blocks: 10 + 34 = 44 even packed. The sender must drop a block (Linux sends
  // at most three with timestamps).
  TcpOptionsRepr r = Sack({{TcpSeq(1), TcpSeq(2)},
                           {TcpSeq(3), TcpSeq(4)},
                           {TcpSeq(5), TcpSeq(6)},
                           {TcpSeq(7), TcpSeq(8)}});
  r.timestamps = TcpTimestamps{7, 8};
  EXPECT_GT(r.EncodedLen(), kTcpMaxOptionsLen);
  std::vector<uint8_t> out(64, 0xa5);
  EXPECT_FALSE(r.Emit(out));
  EXPECT_THAT(out, Each(Eq(0xa5)));
}

TEST(TcpOptionsTest, EmitIntoShortBufferWritesNothing) {
  TcpOptionsRepr r =
      TcpOptionsRepr::Parse(Hex("02 04 05 b4 04 02 08 0a 00 00 00 01 00 00 00 00"
                                "01 03 03 07 1e 04 01 01"));
  ASSERT_EQ(r.EncodedLen(), 24u);
  for (size_t n = 0; n < r.EncodedLen(); ++n) {
    std::vector<uint8_t> out(n, 0xa5);
    EXPECT_FALSE(r.Emit(out)) << n;
    EXPECT_THAT(out, Each(Eq(0xa5))) << n;
  }
}

// --- Raw options --------------------------------------------------------------------------------

TEST(RawTcpOptionTest, FromBytes) {
  EXPECT_FALSE(RawTcpOption::FromBytes({}));
  EXPECT_FALSE(RawTcpOption::FromBytes(Hex("1e")));
  EXPECT_FALSE(RawTcpOption::FromBytes(Hex("1e 05 01 01")));  // length byte disagrees
  EXPECT_FALSE(RawTcpOption::FromBytes(Hex("1e 03 01 01")));
  std::vector<uint8_t> long_option(41, 0);
  long_option[0] = 99;
  long_option[1] = 41;
  EXPECT_FALSE(RawTcpOption::FromBytes(long_option));
  // Kinds the repr parses itself would come back as something else.
  for (uint8_t kind : {0, 1, 2, 3, 4, 5, 8}) {
    EXPECT_FALSE(RawTcpOption::FromBytes(std::vector<uint8_t>{kind, 2})) << int{kind};
  }
  long_option.pop_back();
  long_option[1] = 40;
  auto o = RawTcpOption::FromBytes(long_option);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->length(), 40);
  EXPECT_EQ(o->data().size(), 38u);
  EXPECT_EQ(Raw("1e 04 01 01"), Raw("1e 04 01 01"));
  EXPECT_NE(Raw("1e 04 01 01"), Raw("1e 04 01 81"));
  EXPECT_NE(Raw("1e 04 01 01"), Raw("1e 05 01 01 00"));
}

TEST(TcpOptionsTest, AppendRawUntilTheSpaceIsFull) {
  TcpOptionsRepr r;
  r.timestamps = TcpTimestamps{1, 2};  // 12
  // A 26-byte DSS, padded to 28: 40 in all.
  const auto dss =
      Hex("1e 1a 20 0f 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 02"
          "00 00 00 01 00 10");
  ASSERT_TRUE(r.AppendRaw(std::span<const uint8_t>(dss)));
  EXPECT_EQ(r.EncodedLen(), 40u);
  // Packed, 10 + 26 + 4 = 40 still fits; then nothing more does.
  ASSERT_TRUE(r.AppendRaw(Raw("1e 04 01 01")));
  EXPECT_EQ(r.EncodedLen(), 40u);
  const TcpOptionsRepr before = r;
  EXPECT_FALSE(r.AppendRaw(Raw("fe 03 00")));
  EXPECT_FALSE(r.AppendRaw(std::span<const uint8_t>(Hex("63 02"))));
  EXPECT_EQ(r, before);
  EXPECT_EQ(TcpOptionsRepr::Parse(EmitOrDie(r)), r);

  TcpOptionsRepr empty;
  EXPECT_FALSE(empty.AppendRaw(std::span<const uint8_t>(Hex("02 04 05 b4"))));  // not raw
  EXPECT_FALSE(empty.AppendRaw(std::span<const uint8_t>(Hex("1e 05 00"))));     // not whole
  EXPECT_TRUE(empty.raw_options.empty());
}

TEST(TcpOptionsTest, AppendRawFallsBackToPackedLayout) {
  // Ten 3-byte options take 40 bytes aligned and fit; an eleventh fits only packed (33 -> 36).
  TcpOptionsRepr r;
  for (int i = 0; i < 11; ++i) {
    EXPECT_TRUE(r.AppendRaw(std::span<const uint8_t>(Hex("fe 03 00")))) << i;
  }
  EXPECT_EQ(r.EncodedLen(), 36u);
  EXPECT_TRUE(r.AppendRaw(std::span<const uint8_t>(Hex("fe 05 00 00 00"))));  // 38 -> 40
  EXPECT_FALSE(r.AppendRaw(std::span<const uint8_t>(Hex("fe 03 00"))));       // 41
  EXPECT_EQ(r.raw_options.size(), 12u);
  EXPECT_EQ(TcpOptionsRepr::Parse(EmitOrDie(r)), r);
}

// --- Round trips --------------------------------------------------------------------------------

TEST(TcpOptionsTest, ParseEmitRoundTrip) {
  std::vector<TcpOptionsRepr> cases;
  cases.emplace_back();
  TcpOptionsRepr r;
  r.mss = 65535;
  cases.push_back(r);
  r.window_scale = 14;
  r.sack_permitted = true;
  cases.push_back(r);
  r.timestamps = TcpTimestamps{0xffffffff, 0x80000000};
  cases.push_back(r);
  ASSERT_TRUE(r.AppendRaw(Raw("1e 04 01 81")));
  cases.push_back(r);
  TcpOptionsRepr data = Sack({{TcpSeq(0xfffffffe), TcpSeq(2)}, {TcpSeq(10), TcpSeq(20)}});
  data.timestamps = TcpTimestamps{1, 0};
  ASSERT_TRUE(data.AppendRaw(Raw("1e 08 20 01 de ad be ef")));
  cases.push_back(data);
  TcpOptionsRepr odd;
  ASSERT_TRUE(odd.AppendRaw(Raw("fd 05 01 02 03")));
  ASSERT_TRUE(odd.AppendRaw(Raw("fe 07 01 02 03 04 05")));
  odd.sack_permitted = true;
  cases.push_back(odd);

  for (const TcpOptionsRepr& x : cases) {
    const auto bytes = EmitOrDie(x);
    EXPECT_EQ(bytes.size() % 4, 0u) << x;
    EXPECT_LE(bytes.size(), kTcpMaxOptionsLen) << x;
    EXPECT_EQ(TcpOptionsRepr::Parse(bytes), x) << x;
  }
}

// --- Drop reasons -------------------------------------------------------------------------------

TEST(TcpOptionDropTest, NamesAreUniqueSnakeCase) {
  std::set<std::string_view> names;
  for (size_t i = 0; i < static_cast<size_t>(TcpOptionDrop::kCount); ++i) {
    auto reason = static_cast<TcpOptionDrop>(i);
    std::string_view name = TcpOptionDropName(reason);
    EXPECT_FALSE(name.empty());
    EXPECT_EQ(name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_"), std::string_view::npos);
    EXPECT_TRUE(names.insert(name).second) << name;
    EXPECT_FALSE(TcpOptionDropDescription(reason).empty());
  }
  EXPECT_EQ(TcpOptionDropName(TcpOptionDrop::kDuplicateSack), "duplicate_sack");
  EXPECT_EQ(TcpOptionDropName(TcpOptionDrop::kCount), "invalid");
}

TEST(TcpOptionsTest, Prints) {
  std::ostringstream os;
  TcpOptionsRepr r = TcpOptionsRepr::Parse(Hex("02 04 05 b4 03 03 0f 1e 04 01 01"));
  os << r;
  EXPECT_EQ(os.str(), "{mss 1460 wscale 14 kind 30 [0101] window_scale_too_large=1}");
}

}  // namespace
}  // namespace braid::wire
