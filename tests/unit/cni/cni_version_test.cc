// cni/version.h: which version a configuration is answered in.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cni/error.h"
#include "cni/version.h"

namespace braid::cni {
namespace {

std::string Negotiate(const std::string& config) {
  const absl::StatusOr<std::string> version = NegotiateVersion(*ParseJson(config));
  if (version.ok()) return *version;
  const CniError error = ToCniError(version.status());
  return "error " + std::to_string(error.code) + ": " + error.msg;
}

TEST(VersionTest, ComparesSemanticVersions) {
  EXPECT_LT(CompareVersions("0.4.0", "1.0.0"), 0);
  EXPECT_LT(CompareVersions("0.10.0", "1.0.0"), 0);
  EXPECT_GT(CompareVersions("0.10.0", "0.4.0"), 0);
  EXPECT_EQ(CompareVersions("1.1.0", "1.1.0"), 0);
  EXPECT_LT(CompareVersions("garbage", "0.1.0"), 0);
  EXPECT_TRUE(AtLeast("1.1.0", kStatusGcMinVersion));
  EXPECT_FALSE(AtLeast("1.0.0", kStatusGcMinVersion));
  for (const char* bad : {"", "1", "1.0", "1.0.0.0", "1.0.x", "-1.0.0", "1..0", "v1.0.0"}) {
    EXPECT_FALSE(ParseVersion(bad)) << bad;
  }
  EXPECT_EQ(*ParseVersion("10.20.30"), (std::array<int, 3>{10, 20, 30}));
}

TEST(VersionTest, PicksTheHighestSharedVersion) {
  EXPECT_EQ(Negotiate(R"({"cniVersion": "1.0.0"})"), "1.0.0");
  EXPECT_EQ(Negotiate(R"({"cniVersion": "0.3.1"})"), "0.3.1");
  EXPECT_EQ(Negotiate(R"({"cniVersion": "1.0.0", "cniVersions": ["1.0.0", "1.1.0"]})"), "1.1.0");
  EXPECT_EQ(Negotiate(R"({"cniVersion": "1.0.0", "cniVersions": ["2.0.0", "0.4.0"]})"), "1.0.0");
  EXPECT_EQ(Negotiate(R"({"cniVersions": ["0.4.0", "9.0.0", "0.3.0"]})"), "0.4.0");
  const std::vector<std::string> theirs = {"0.1.0", "1.0.0", "0.4.0"};
  EXPECT_EQ(HighestShared(theirs), "1.0.0");
  EXPECT_FALSE(HighestShared(std::vector<std::string>{"0.2.0", "2.0.0"}));
}

TEST(VersionTest, NoSharedVersionIsError1) {
  EXPECT_EQ(Negotiate(R"({"cniVersion": "0.2.0"})"),
            "error 1: incompatible CNI versions: the configuration offers \"0.2.0\", braid-cni "
            "supports 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0");
  // No version at all is the first spec's configuration.
  EXPECT_EQ(Negotiate(R"({"name": "braid"})").substr(0, 62),
            "error 1: incompatible CNI versions: the configuration offers \"");
  EXPECT_NE(Negotiate(R"({"name": "braid"})").find("\"0.1.0\""), std::string::npos);
  EXPECT_EQ(Negotiate(R"({"cniVersion": "2.0.0", "cniVersions": ["1.2.0"]})").substr(0, 7),
            "error 1");
}

TEST(VersionTest, WrongTypesAreError7) {
  EXPECT_EQ(Negotiate(R"({"cniVersion": 1})"),
            "error 7: cniVersion: expected a string, got a number");
  EXPECT_EQ(Negotiate(R"({"cniVersions": "1.1.0"})"),
            "error 7: cniVersions: expected a list of strings, got a string");
  EXPECT_EQ(Negotiate(R"({"cniVersions": ["1.1.0", 2]})"),
            "error 7: cniVersions[1]: expected a string, got a number");
}

}  // namespace
}  // namespace braid::cni
