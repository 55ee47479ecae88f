#include "datapath/wire/address.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <string_view>

namespace braid::wire {
namespace {

TEST(MacAddressTest, ParseAndPrint) {
  auto mac = MacAddress::Parse("02:00:5e:10:ab:cd");
  ASSERT_TRUE(mac.has_value());
  EXPECT_EQ(*mac, (MacAddress{{0x02, 0x00, 0x5e, 0x10, 0xab, 0xcd}}));
  EXPECT_EQ(mac->ToString(), "02:00:5e:10:ab:cd");
  // Upper case is accepted and printed in lower case.
  EXPECT_EQ(MacAddress::Parse("AA:BB:CC:DD:EE:FF")->ToString(), "aa:bb:cc:dd:ee:ff");
  std::ostringstream os;
  os << *mac;
  EXPECT_EQ(os.str(), "02:00:5e:10:ab:cd");
}

TEST(MacAddressTest, RejectsMalformedText) {
  for (const char* text : {"", "02:00:5e:10:ab", "02:00:5e:10:ab:cd:ef", "02-00-5e-10-ab-cd",
                           "0200.5e10.abcd", "02:00:5e:10:ab:cg", "2:00:5e:10:ab:cd0",
                           "02:00:5e:10:ab:c", " 02:00:5e:10:ab:c", "02:00:5e:10:ab:cd "}) {
    EXPECT_FALSE(MacAddress::Parse(text).has_value()) << text;
  }
}

TEST(MacAddressTest, Predicates) {
  EXPECT_TRUE(MacAddress::Broadcast().IsBroadcast());
  EXPECT_TRUE(MacAddress::Broadcast().IsMulticast());
  EXPECT_TRUE(MacAddress{}.IsZero());
  EXPECT_TRUE(MacAddress::Parse("01:00:5e:00:00:01")->IsMulticast());
  EXPECT_FALSE(MacAddress::Parse("02:00:5e:00:00:01")->IsMulticast());
  const uint8_t raw[] = {1, 2, 3, 4, 5, 6};
  EXPECT_EQ(MacAddress::FromBytes(raw).ToString(), "01:02:03:04:05:06");
}

TEST(Ipv4AddressTest, ParseAndPrint) {
  for (const char* text : {"0.0.0.0", "10.0.0.1", "192.168.100.254", "255.255.255.255"}) {
    auto a = Ipv4Address::Parse(text);
    ASSERT_TRUE(a.has_value()) << text;
    EXPECT_EQ(a->ToString(), text);
  }
  EXPECT_EQ(*Ipv4Address::Parse("192.0.2.1"), (Ipv4Address{{192, 0, 2, 1}}));
  for (const char* text :
       {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.-4", "a.b.c.d", "1.2.3.4 ", "::1"}) {
    EXPECT_FALSE(Ipv4Address::Parse(text).has_value()) << text;
  }
  std::ostringstream os;
  os << Ipv4Address{{127, 0, 0, 1}};
  EXPECT_EQ(os.str(), "127.0.0.1");
}

TEST(Ipv4AddressTest, IntegersAndPredicates) {
  constexpr Ipv4Address a = Ipv4Address::FromU32(0xc0000201);
  static_assert(a.ToU32() == 0xc0000201);
  EXPECT_EQ(a.ToString(), "192.0.2.1");
  const uint8_t raw[] = {10, 1, 2, 3};
  EXPECT_EQ(Ipv4Address::FromBytes(raw).ToU32(), 0x0a010203u);
  EXPECT_TRUE(Ipv4Address{}.IsUnspecified());
  EXPECT_TRUE(Ipv4Address::FromU32(0xffffffff).IsBroadcast());
  EXPECT_TRUE(Ipv4Address::Parse("224.0.0.1")->IsMulticast());
  EXPECT_TRUE(Ipv4Address::Parse("239.255.255.255")->IsMulticast());
  EXPECT_FALSE(Ipv4Address::Parse("240.0.0.1")->IsMulticast());
  EXPECT_TRUE(Ipv4Address::Parse("127.0.0.2")->IsLoopback());
  EXPECT_LT(*Ipv4Address::Parse("10.0.0.1"), *Ipv4Address::Parse("10.0.0.2"));
}

TEST(Ipv6AddressTest, CanonicalTextRfc5952) {
  struct Case {
    const char* in;
    const char* canonical;
  };
  const Case cases[] = {
      // §4.1: leading zeros suppressed.
      {"2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
      {"2001:db8:00aa:0:0:0:0:0", "2001:db8:aa::"},
      // §4.2.1: the longest run is shortened as much as possible.
      {"2001:db8:0:0:0:0:2:1", "2001:db8::2:1"},
      // §4.2.2: a single 16-bit 0 field is not shortened.
      {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},
      // §4.2.3: the longest run wins; on a tie, the first.
      {"2001:0:0:1:0:0:0:1", "2001:0:0:1::1"},
      {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},
      // §4.3: lower case.
      {"2001:DB8::A:BCDE", "2001:db8::a:bcde"},
      {"::", "::"},
      {"::1", "::1"},
      {"1::", "1::"},
      {"fe80::1", "fe80::1"},
      {"ff02:0:0:0:0:1:ff00:2", "ff02::1:ff00:2"},
      {"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"},
      // §5: IPv4-mapped addresses in mixed notation.
      {"::ffff:192.0.2.1", "::ffff:192.0.2.1"},
      {"::ffff:c000:201", "::ffff:192.0.2.1"},
  };
  for (const Case& c : cases) {
    auto a = Ipv6Address::Parse(c.in);
    ASSERT_TRUE(a.has_value()) << c.in;
    EXPECT_EQ(a->ToString(), c.canonical) << c.in;
    // The canonical form parses back to the same address.
    EXPECT_EQ(Ipv6Address::Parse(a->ToString()), a) << c.in;
  }
  std::ostringstream os;
  os << *Ipv6Address::Parse("2001:db8::1");
  EXPECT_EQ(os.str(), "2001:db8::1");
}

TEST(Ipv6AddressTest, RejectsMalformedText) {
  for (const char* text : {"", ":", ":::", "2001:db8::1::2", "12345::", "g::", "1:2:3:4:5:6:7:8:9",
                           "1:2:3:4:5:6:7", "10.0.0.1", "[::1]", "fe80::1%eth0", " ::1"}) {
    EXPECT_FALSE(Ipv6Address::Parse(text).has_value()) << text;
  }
}

TEST(AddressTest, EmbeddedNulIsNotTheEndOfTheText) {
  // inet_pton stops at a NUL; the text given is the whole string_view.
  using namespace std::string_view_literals;
  EXPECT_FALSE(Ipv4Address::Parse("10.0.0.1\0garbage"sv).has_value());
  EXPECT_FALSE(Ipv4Address::Parse("10.0.0.1\0"sv).has_value());
  EXPECT_FALSE(Ipv6Address::Parse("::1\0:2"sv).has_value());
  EXPECT_FALSE(MacAddress::Parse("02:00:00:00:00:0\0"sv).has_value());
}

TEST(Ipv6AddressTest, Predicates) {
  EXPECT_TRUE(Ipv6Address{}.IsUnspecified());
  EXPECT_FALSE(Ipv6Address::Parse("::1")->IsUnspecified());
  EXPECT_TRUE(Ipv6Address::Parse("ff02::1")->IsMulticast());
  EXPECT_FALSE(Ipv6Address::Parse("fe80::1")->IsMulticast());
  EXPECT_TRUE(Ipv6Address::Parse("fe80::1")->IsLinkLocal());
  EXPECT_TRUE(Ipv6Address::Parse("febf::1")->IsLinkLocal());
  EXPECT_FALSE(Ipv6Address::Parse("fec0::1")->IsLinkLocal());
  EXPECT_FALSE(Ipv6Address::Parse("2001:db8::1")->IsLinkLocal());
  const uint8_t raw[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7};
  EXPECT_EQ(Ipv6Address::FromBytes(raw).ToString(), "2001:db8::7");
}

TEST(Ipv6AddressTest, SolicitedNodeMulticast) {
  // RFC 4291 §2.7.1's example: 4037::01:800:200E:8C6C -> FF02::1:FF0E:8C6C.
  auto a = Ipv6Address::Parse("4037::01:800:200E:8C6C");
  ASSERT_TRUE(a.has_value());
  Ipv6Address group = a->SolicitedNodeMulticast();
  EXPECT_EQ(group.ToString(), "ff02::1:ff0e:8c6c");
  EXPECT_TRUE(group.IsMulticast());
  // RFC 2464 §7: 33:33 and the group's last four bytes.
  EXPECT_EQ(group.MulticastMac().ToString(), "33:33:ff:0e:8c:6c");
  EXPECT_TRUE(group.MulticastMac().IsMulticast());
  EXPECT_EQ(Ipv6Address::Parse("fe80::1")->SolicitedNodeMulticast().ToString(), "ff02::1:ff00:1");
  EXPECT_EQ(Ipv6Address::Parse("ff02::1")->MulticastMac().ToString(), "33:33:00:00:00:01");
  EXPECT_EQ(Ipv6Address::Parse("ff02::2")->MulticastMac().ToString(), "33:33:00:00:00:02");
}

}  // namespace
}  // namespace braid::wire
