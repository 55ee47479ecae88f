#include "datapath/wire/seq.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <sstream>

namespace braid::wire {
namespace {

TEST(TcpSeqTest, ComparesAcrossTheWrap) {
  const TcpSeq before(0xfffffff0u);
  const TcpSeq after(0x00000010u);
  EXPECT_LT(before, after);
  EXPECT_GT(after, before);
  EXPECT_LE(before, after);
  EXPECT_NE(before, after);
  EXPECT_EQ(before + 0x20, after);
  EXPECT_EQ(after - 0x20, before);
  EXPECT_EQ(after - before, 0x20);
  EXPECT_EQ(before - after, -0x20);
  EXPECT_EQ(TcpSeq::Max(before, after), after);
  EXPECT_EQ(TcpSeq::Min(before, after), before);
  EXPECT_EQ(TcpSeq::Max(after, before), after);

  TcpSeq s(0xffffffffu);
  s += 1;
  EXPECT_EQ(s.raw(), 0u);
  EXPECT_LT(TcpSeq(0xffffffffu), s);
}

TEST(TcpSeqTest, HalfTheSpaceDecidesTheOrder) {
  const TcpSeq a(1000);
  EXPECT_LT(a, a + 0x7fffffff);  // just under 2^31 ahead: after
  EXPECT_GT(a, a + 0x80000001);  // just over: before (it wrapped)
  EXPECT_EQ(a <=> a, std::strong_ordering::equal);
  static_assert(TcpSeq(5) < TcpSeq(6));
  static_assert(TcpSeq(0) > TcpSeq(0xffffffffu));
}

TEST(TcpSeqTest, SeqInWindowAcrossTheWrap) {
  const TcpSeq lo(0xfffffff0u);
  const TcpSeq hi = lo + 0x20;  // 0x10
  EXPECT_TRUE(SeqInWindow(lo, lo, hi));
  EXPECT_TRUE(SeqInWindow(TcpSeq(0xffffffffu), lo, hi));
  EXPECT_TRUE(SeqInWindow(TcpSeq(0), lo, hi));
  EXPECT_TRUE(SeqInWindow(TcpSeq(0xf), lo, hi));
  EXPECT_FALSE(SeqInWindow(hi, lo, hi));  // half-open
  EXPECT_FALSE(SeqInWindow(TcpSeq(0xffffffefu), lo, hi));
  EXPECT_FALSE(SeqInWindow(TcpSeq(0x7fffffff), lo, hi));
  // An empty window holds nothing.
  EXPECT_FALSE(SeqInWindow(lo, lo, lo));
}

TEST(DataSeqTest, SixtyFourBitSpace) {
  const DataSeq a(0xffffffffull);
  const DataSeq b = a + 1;
  EXPECT_EQ(b.raw(), 0x100000000ull);
  EXPECT_EQ(b.low32(), 0u);
  EXPECT_LT(a, b);
  EXPECT_EQ(b - a, 1);
  EXPECT_EQ(a - b, -1);
  // It wraps at 2^64 the same way TcpSeq wraps at 2^32.
  const DataSeq top(0xfffffffffffffff0ull);
  EXPECT_LT(top, top + 0x20);
  EXPECT_EQ((top + 0x20).raw(), 0x10u);
  DataSeq c(7);
  c += 3;
  EXPECT_EQ(c, DataSeq(10));
  EXPECT_EQ(c - 10, DataSeq(0));
  std::ostringstream os;
  os << DataSeq(42) << " " << TcpSeq(43);
  EXPECT_EQ(os.str(), "42 43");
}

TEST(DataSeqTest, ExpandDataSeq32Forward) {
  // The receiver is just below a 2^32 boundary; the peer's 32-bit DSN has wrapped past it.
  const DataSeq reference(0x1fffffff0ull);
  EXPECT_EQ(ExpandDataSeq32(0x00000010u, reference), DataSeq(0x200000010ull));
  EXPECT_EQ(ExpandDataSeq32(0xfffffff0u, reference), reference);
  EXPECT_EQ(ExpandDataSeq32(0xffffffffu, reference), DataSeq(0x1ffffffffull));
  EXPECT_EQ(ExpandDataSeq32(0x00000000u, reference), DataSeq(0x200000000ull));
  // Up to 2^31 - 1 ahead.
  EXPECT_EQ(ExpandDataSeq32(0x7fffffefu, reference), DataSeq(0x27fffffefull));
}

TEST(DataSeqTest, ExpandDataSeq32Backward) {
  // The receiver is just past the boundary; a retransmission from before it arrives.
  const DataSeq reference(0x200000010ull);
  EXPECT_EQ(ExpandDataSeq32(0xfffffff0u, reference), DataSeq(0x1fffffff0ull));
  EXPECT_EQ(ExpandDataSeq32(0x00000010u, reference), reference);
  EXPECT_EQ(ExpandDataSeq32(0x00000000u, reference), DataSeq(0x200000000ull));
  // Up to 2^31 behind.
  EXPECT_EQ(ExpandDataSeq32(0x80000010u, reference), DataSeq(0x180000010ull));
  static_assert(ExpandDataSeq32(5, DataSeq(0x300000000ull)) == DataSeq(0x300000005ull));
}

TEST(DataSeqTest, ExpandDataSeq32AtTheTopOfTheSpace) {
  // Modular like the rest of the 64-bit space.
  EXPECT_EQ(ExpandDataSeq32(0x00000005u, DataSeq(0xfffffffffffffff0ull)), DataSeq(5));
  EXPECT_EQ(ExpandDataSeq32(0xfffffff0u, DataSeq(5)), DataSeq(0xfffffffffffffff0ull));
}

}  // namespace
}  // namespace braid::wire
