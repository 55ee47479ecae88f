// cni/ip.h: addresses and prefixes as CNI writes them.
#include <gtest/gtest.h>

#include "cni/ip.h"

namespace braid::cni {
namespace {

TEST(IpTest, ParsesAddressesAndPrefixes) {
  EXPECT_EQ(IpAddress::Parse("10.10.0.2")->ToString(), "10.10.0.2");
  EXPECT_EQ(IpAddress::Parse("10.10.0.2")->family, 4);
  EXPECT_EQ(IpAddress::Parse("FD00:10:0::2")->ToString(), "fd00:10::2");
  EXPECT_EQ(IpAddress::Parse("fd00::2")->family, 6);
  for (const char* bad : {"", "10.10.0", "10.10.0.256", "fd00::2%eth0", "[fd00::2]", "x"}) {
    EXPECT_FALSE(IpAddress::Parse(bad)) << bad;
  }
  EXPECT_EQ(IpPrefix::Parse("10.10.0.0/24")->ToString(), "10.10.0.0/24");
  EXPECT_EQ(IpPrefix::Parse("fd00:10::2/64")->length, 64);
  for (const char* bad : {"10.10.0.0", "10.10.0.0/", "10.10.0.0/33", "10.10.0.0/-1", "10.10.0.0/2x",
                          "fd00::/129", "/24"}) {
    EXPECT_FALSE(IpPrefix::Parse(bad)) << bad;
  }
}

TEST(IpTest, NetworksAndMembership) {
  const IpPrefix subnet = *IpPrefix::Parse("10.10.0.0/22");
  EXPECT_TRUE(subnet.HostBitsClear());
  EXPECT_TRUE(subnet.Contains(*IpAddress::Parse("10.10.3.255")));
  EXPECT_FALSE(subnet.Contains(*IpAddress::Parse("10.10.4.0")));
  EXPECT_FALSE(subnet.Contains(*IpAddress::Parse("::a0a:1")));  // another family
  const IpPrefix host = *IpPrefix::Parse("10.10.1.7/22");
  EXPECT_FALSE(host.HostBitsClear());
  EXPECT_EQ(host.Network().ToString(), "10.10.0.0");
  EXPECT_EQ(IpPrefix::Parse("fd00:10::ff:1/116")->Network().ToString(), "fd00:10::ff:0");
  EXPECT_TRUE(IpPrefix::Parse("0.0.0.0/0")->Contains(*IpAddress::Parse("192.0.2.1")));

  EXPECT_TRUE(subnet.Overlaps(*IpPrefix::Parse("10.10.2.0/24")));
  EXPECT_TRUE(IpPrefix::Parse("10.10.2.0/24")->Overlaps(subnet));
  EXPECT_FALSE(subnet.Overlaps(*IpPrefix::Parse("10.10.4.0/24")));
  EXPECT_FALSE(subnet.Overlaps(*IpPrefix::Parse("fd00::/8")));
  EXPECT_LT(*IpAddress::Parse("10.10.0.9"), *IpAddress::Parse("10.10.0.10"));
  EXPECT_EQ(FamilyOfText("fd00::/64"), 6);
  EXPECT_EQ(FamilyOfText("10.0.0.0/8"), 4);
}

}  // namespace
}  // namespace braid::cni
