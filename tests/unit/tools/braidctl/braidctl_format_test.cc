// braidctl's units and tables: byte sizes at every unit boundary, RTT rounding, spans, ages,
// speeds, addresses, enum labels, and column alignment.
#include <google/protobuf/util/time_util.h>

#include <chrono>
#include <string>

#include "braid/v1/debug.pb.h"
#include "braid/v1/mptcp.pb.h"
#include "gtest/gtest.h"
#include "tools/braidctl/format.h"

namespace braid::braidctl {
namespace {

using google::protobuf::util::TimeUtil;

TEST(BraidctlFormatTest, BytesInIecUnitsOrRaw) {
  EXPECT_EQ(FormatBytes(0, false), "0 B");
  EXPECT_EQ(FormatBytes(1023, false), "1023 B");
  EXPECT_EQ(FormatBytes(1024, false), "1.0 KiB");
  EXPECT_EQ(FormatBytes(1536, false), "1.5 KiB");
  EXPECT_EQ(FormatBytes(1572864, false), "1.5 MiB");
  // Just under 1 MiB would round to "1024.0 KiB": it says the next unit instead.
  EXPECT_EQ(FormatBytes(1048575, false), "1.0 MiB");
  EXPECT_EQ(FormatBytes(5ull << 30, false), "5.0 GiB");
  EXPECT_EQ(FormatBytes(UINT64_MAX, false), "16.0 EiB");
  EXPECT_EQ(FormatBytes(1572864, true), "1572864");
  EXPECT_EQ(FormatBytes(0, true), "0");
}

TEST(BraidctlFormatTest, RttInMillisecondsWithTwoDecimals) {
  EXPECT_EQ(FormatRttMs(TimeUtil::MicrosecondsToDuration(12345)), "12.35");
  EXPECT_EQ(FormatRttMs(TimeUtil::MicrosecondsToDuration(12344)), "12.34");
  EXPECT_EQ(FormatRttMs(TimeUtil::MicrosecondsToDuration(250)), "0.25");
  EXPECT_EQ(FormatRttMs(TimeUtil::NanosecondsToDuration(4999)), "0.00");
  EXPECT_EQ(FormatRttMs(TimeUtil::SecondsToDuration(2)), "2000.00");
  EXPECT_EQ(FormatRttMs(google::protobuf::Duration()), "0.00");
}

TEST(BraidctlFormatTest, SpansLargestUnitFirst) {
  using namespace std::chrono_literals;
  EXPECT_EQ(FormatSpan(0ns), "0ns");
  EXPECT_EQ(FormatSpan(1500ns), "1us");
  EXPECT_EQ(FormatSpan(250ms), "250ms");
  EXPECT_EQ(FormatSpan(1500ms), "1.5s");
  EXPECT_EQ(FormatSpan(45s), "45s");
  EXPECT_EQ(FormatSpan(90500ms), "1m30s");
  EXPECT_EQ(FormatSpan(2h + 5s), "2h0m5s");
  EXPECT_EQ(FormatSpan(76h + 5min + 6s), "3d4h5m6s");
  EXPECT_EQ(FormatSpan(-2s), "-2.0s");
  EXPECT_EQ(FormatSpan(TimeUtil::MillisecondsToDuration(90500)), "1m30s");
}

TEST(BraidctlFormatTest, AgesAndTimes) {
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1700000100));
  EXPECT_EQ(FormatAge(TimeUtil::SecondsToTimestamp(1700000000), now), "1m40s");
  EXPECT_EQ(FormatAge(TimeUtil::SecondsToTimestamp(1700000095), now), "5s");
  EXPECT_EQ(FormatAge(TimeUtil::SecondsToTimestamp(1700000200), now), "0s") << "clock skew";
  EXPECT_EQ(FormatAge(google::protobuf::Timestamp(), now), "-");
  google::protobuf::Timestamp t = TimeUtil::SecondsToTimestamp(1700000000);
  t.set_nanos(500'000'000);
  EXPECT_EQ(FormatTime(t), "2023-11-14T22:13:20Z");
  EXPECT_EQ(FormatTime(google::protobuf::Timestamp()), "-");
}

TEST(BraidctlFormatTest, SpeedsAddressesAndLabels) {
  EXPECT_EQ(FormatSpeed(0), "-");
  EXPECT_EQ(FormatSpeed(100), "100Mb/s");
  EXPECT_EQ(FormatSpeed(10000), "10Gb/s");
  EXPECT_EQ(FormatSpeed(2500), "2.5Gb/s");
  EXPECT_EQ(FormatEndpoint("192.0.2.1", 80), "192.0.2.1:80");
  EXPECT_EQ(FormatEndpoint("2001:db8::1", 443), "[2001:db8::1]:443");
  EXPECT_EQ(FormatEndpoint("", 0), "-");
  EXPECT_EQ(
      EnumLabel(v1::SubflowState_descriptor(), v1::SUBFLOW_STATE_PRE_ESTABLISHED, "SUBFLOW_STATE_"),
      "pre-established");
  EXPECT_EQ(EnumLabel(v1::SubflowState_descriptor(), 0, "SUBFLOW_STATE_"), "-");
  EXPECT_EQ(EnumLabel(v1::LinkState_descriptor(), 99, "LINK_STATE_"), "unknown(99)")
      << "a value from a newer agent";
  EXPECT_EQ(JoinOrDash({}, ","), "-");
  EXPECT_EQ(JoinOrDash({"a", "b"}, ","), "a,b");
}

TEST(BraidctlFormatTest, TableAlignsColumnsAndTrimsLines) {
  Table table({{"ID", Align::kRight}, {"NAME"}, {"BYTES", Align::kRight}, {"NOTE"}});
  table.AddRow({"7", "web", "1.5 KiB", ""});
  table.AddRow({"1234", "a-long-name", "0 B", "x"});
  table.AddRow({"5"});  // missing cells are empty
  EXPECT_EQ(table.rows(), 3u);
  EXPECT_EQ(table.Render(),
            "  ID  NAME           BYTES  NOTE\n"
            "   7  web          1.5 KiB\n"
            "1234  a-long-name      0 B  x\n"
            "   5\n");
  EXPECT_EQ(Table({{"ONLY"}}).Render(), "ONLY\n");
}

TEST(BraidctlFormatTest, FieldsAlignAfterTheLongestLabel) {
  EXPECT_EQ(RenderFields({{"node", "a"}, {"connections", "12"}, {"empty", ""}}),
            "node:         a\n"
            "connections:  12\n"
            "empty:\n");
}

}  // namespace
}  // namespace braid::braidctl
