#include "datapath/io/io_counters.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace braid::io {
namespace {

bool SnakeCase(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

TEST(IoCounters, NamesAreUniqueSnakeCaseWithHelp) {
  std::set<std::string> names;
  for (size_t i = 0; i < kIoCounterCount; ++i) {
    const auto c = static_cast<IoCounter>(i);
    EXPECT_TRUE(SnakeCase(IoCounterName(c))) << IoCounterName(c);
    EXPECT_FALSE(IoCounterHelp(c).empty());
    EXPECT_TRUE(names.insert(std::string(IoCounterName(c))).second);
  }
  std::set<std::string> drops;
  for (size_t i = 0; i < kIoDropCount; ++i) {
    const auto d = static_cast<IoDrop>(i);
    EXPECT_TRUE(SnakeCase(IoDropName(d))) << IoDropName(d);
    EXPECT_FALSE(IoDropDescription(d).empty());
    EXPECT_TRUE(drops.insert(std::string(IoDropName(d))).second);
  }
  EXPECT_EQ(IoDropName(IoDrop::kCount), "unknown");
}

TEST(IoCounters, AddMergeAndTotals) {
  IoCounters a;
  a.Add(IoCounter::kTxFrames, 3);
  a.AddDrop(IoDrop::kTxRingFull, 2);
  IoCounters b;
  b.Add(IoCounter::kTxFrames);
  b.AddDrop(IoDrop::kTxNoMbuf);
  a.Merge(b);
  EXPECT_EQ(a[IoCounter::kTxFrames], 4u);
  EXPECT_EQ(a.dropped(IoDrop::kTxRingFull), 2u);
  EXPECT_EQ(a.total_dropped(), 3u);
}

}  // namespace
}  // namespace braid::io
