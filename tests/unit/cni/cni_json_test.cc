// cni/json.h: protobuf's parser in, our writer out; integers stay integers, keys come in the
// CNI result's order, strings are escaped.
#include <gtest/gtest.h>

#include <string>

#include "cni/json.h"

namespace braid::cni {
namespace {

TEST(JsonTest, NumbersKeepTheirJsonText) {
  EXPECT_EQ(FormatJsonNumber(7), "7");
  EXPECT_EQ(FormatJsonNumber(0), "0");
  EXPECT_EQ(FormatJsonNumber(-2), "-2");
  EXPECT_EQ(FormatJsonNumber(1.5), "1.5");
  EXPECT_EQ(FormatJsonNumber(0.1), "0.1");
  EXPECT_EQ(FormatJsonNumber(12345678901234), "12345678901234");
  EXPECT_EQ(FormatJsonNumber(1e300), "1e+300");
  EXPECT_EQ(WriteJson(*ParseJson(R"({"code": 7, "interface": 0, "mtu": 9000.0})")),
            R"({"code":7,"mtu":9000,"interface":0})");
}

TEST(JsonTest, RoundTripsEveryKind) {
  const std::string text =
      R"({"a":[1,2.25,true,false,null,{"b":"x"}],"e":{},"l":[],"s":"\"q\" \\ \n\t\u0001 é"})";
  const absl::StatusOr<JsonValue> parsed = ParseJson(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(WriteJson(*parsed), text);
  EXPECT_EQ(WriteJson(*ParseJson(WriteJson(*parsed))), text);
  EXPECT_EQ(WriteJson(*ParseJson(R"("top")")), R"("top")");
}

TEST(JsonTest, WritesCniKeysFirstThenTheOthersAlphabetically) {
  JsonValue result = JsonObject();
  SetField(result, "zebra", JsonNumber(1));
  SetField(result, "ips", JsonList());
  SetField(result, "alpha", JsonBool(true));
  SetField(result, "interfaces", JsonList());
  SetField(result, "cniVersion", JsonString("1.1.0"));
  EXPECT_EQ(WriteJson(result),
            R"({"cniVersion":"1.1.0","interfaces":[],"ips":[],"alpha":true,"zebra":1})");
}

TEST(JsonTest, RefusesWhatIsNotOneJsonDocument) {
  for (const char* bad : {"", "{", "[1,", "{\"a\":1,\"a\":2}", "{\"a\":1e400}", "nul", "1 2",
                          "{\"a\":1} x", "{\"a\":\"\\ud800\"}"}) {
    const absl::StatusOr<JsonValue> parsed = ParseJson(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_EQ(std::string(parsed.status().message()).find('\n'), std::string::npos)
          << "one line: " << parsed.status();
    }
  }
}

// protobuf's parser also takes JavaScript's looser forms; what it accepts means the same.
TEST(JsonTest, AcceptsProtobufsLooserForms) {
  EXPECT_EQ(WriteJson(*ParseJson("{a: 1, 'b': [1, 2,],}")), R"({"a":1,"b":[1,2]})");
}

TEST(JsonTest, ReadersTreatNullAsAbsent) {
  const JsonValue object = *ParseJson(R"({"a": null, "b": "x", "c": [1], "d": {}})");
  EXPECT_EQ(FindField(object, "a"), nullptr);
  EXPECT_EQ(FindField(object, "missing"), nullptr);
  ASSERT_NE(FindField(object, "b"), nullptr);
  EXPECT_TRUE(IsString(*FindField(object, "b")));
  EXPECT_TRUE(IsList(*FindField(object, "c")));
  EXPECT_TRUE(IsObject(*FindField(object, "d")));
  EXPECT_EQ(FindField(*FindField(object, "c"), "x"), nullptr);  // not an object
  EXPECT_EQ(SortedKeys(object), (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(KindName(*FindField(object, "c")), "a list");
  EXPECT_EQ(KindName(object.struct_value().fields().at("a")), "null");
}

TEST(JsonTest, PathsNameWhereAValueSits) {
  EXPECT_EQ(FieldPath("", "name"), "name");
  EXPECT_EQ(FieldPath(IndexPath(FieldPath(IndexPath("paths", 1), "ranges"), 0), "subnet"),
            "paths[1].ranges[0].subnet");
}

}  // namespace
}  // namespace braid::cni
