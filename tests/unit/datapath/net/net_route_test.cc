// Interfaces, addresses and routes: EUI-64 link-local addresses, prefixes, the route table's
// longest prefix match, and the control-plane checks of NetStack.
#include <gtest/gtest.h>

#include "datapath/net/interface.h"
#include "datapath/net/net_stack.h"
#include "datapath/net/route_table.h"
#include "tests/unit/datapath/net/net_fixture.h"

namespace braid::net::test {
namespace {

TEST(InterfaceTest, LinkLocalFromMacIsModifiedEui64) {
  // RFC 4291 Appendix A: 34-56-78-9A-BC-DE -> 3656:78ff:fe9a:bcde (U/L bit inverted).
  EXPECT_EQ(LinkLocalFromMac(Mac("34:56:78:9a:bc:de")), V6("fe80::3656:78ff:fe9a:bcde"));
  EXPECT_EQ(LinkLocalFromMac(Mac("52:54:00:12:34:56")), V6("fe80::5054:ff:fe12:3456"));
  EXPECT_EQ(LinkLocalFromMac(kOurMac), V6("fe80::ff:fe00:1"));
}

TEST(InterfaceTest, Prefixes) {
  EXPECT_TRUE((Ipv4Cidr{V4("10.1.2.3"), 8}.Contains(V4("10.200.0.1"))));
  EXPECT_FALSE((Ipv4Cidr{V4("10.1.2.3"), 8}.Contains(V4("11.0.0.1"))));
  EXPECT_TRUE((Ipv4Cidr{V4("10.1.2.3"), 0}.Contains(V4("1.2.3.4"))));
  EXPECT_TRUE((Ipv4Cidr{V4("192.0.2.129"), 25}.Contains(V4("192.0.2.255"))));
  EXPECT_FALSE((Ipv4Cidr{V4("192.0.2.129"), 25}.Contains(V4("192.0.2.127"))));
  EXPECT_TRUE((Ipv6Cidr{V6("2001:db8::1"), 61}.Contains(V6("2001:db8:0:7::1"))));
  EXPECT_FALSE((Ipv6Cidr{V6("2001:db8::1"), 61}.Contains(V6("2001:db8:0:8::1"))));
  EXPECT_EQ(PrefixOf(V4("192.0.2.129"), 25), wire::IpAddress(V4("192.0.2.128")));
  EXPECT_EQ(PrefixOf(V6("2001:db8:ffff::1"), 36), wire::IpAddress(V6("2001:db8:f000::")));
  EXPECT_FALSE(PrefixMatch(V4("0.0.0.0"), V6("::"), 0));  // families never match
}

TEST(InterfaceTest, SourceSelection) {
  Interface iface;
  iface.config = Path0Config();
  iface.config.ipv4.push_back({V4("10.9.0.1"), 16});
  iface.link_local = LinkLocalFromMac(kOurMac);
  EXPECT_EQ(iface.SourceFor(V4("10.9.3.3")), wire::IpAddress(V4("10.9.0.1")));
  EXPECT_EQ(iface.SourceFor(V4("8.8.8.8")), wire::IpAddress(kOurIp));  // the first
  EXPECT_EQ(iface.SourceFor(V6("fe80::9")), wire::IpAddress(iface.link_local));
  EXPECT_EQ(iface.SourceFor(V6("2001:db8:5::9")), wire::IpAddress(kOurIp6));
  iface.config.ipv6.clear();
  EXPECT_FALSE(iface.SourceFor(V6("2001:db8:5::9")).has_value());
}

TEST(RouteTableTest, LongestPrefixThenMetric) {
  RouteTable t;
  t.Add({V4("0.0.0.0"), 0, 0, wire::IpAddress(V4("10.0.0.254")), 0, RouteKind::kDefault});
  t.Add({V4("10.0.0.0"), 8, 1, std::nullopt, 0, RouteKind::kConnected});
  t.Add({V4("10.1.0.0"), 16, 2, wire::IpAddress(V4("10.0.0.1")), 10, RouteKind::kStatic});
  t.Add({V4("10.1.9.9"), 16, 0, wire::IpAddress(V4("10.0.0.2")), 5, RouteKind::kStatic});
  // Normalized prefix.
  EXPECT_EQ(t.routes().back().prefix, wire::IpAddress(V4("10.1.0.0")));
  EXPECT_EQ(t.Lookup(V4("8.8.8.8"))->interface, 0u);
  EXPECT_EQ(t.Lookup(V4("10.5.5.5"))->interface, 1u);
  EXPECT_EQ(t.Lookup(V4("10.1.5.5"))->interface, 0u);  // /16, metric 5 beats 10
  EXPECT_EQ(t.Lookup(V4("10.1.5.5"), 2u)->interface, 2u);
  EXPECT_EQ(t.Lookup(V4("10.5.5.5"), 2u), nullptr);
  EXPECT_EQ(t.Lookup(V6("2001:db8::1")), nullptr);  // no IPv6 route
  EXPECT_EQ(t.Remove(V4("10.1.7.7"), 16, 0), 1u);
  EXPECT_EQ(t.Lookup(V4("10.1.5.5"))->interface, 2u);
  EXPECT_EQ(t.RemoveKind(1, RouteKind::kConnected), 1u);
  EXPECT_EQ(t.Lookup(V4("10.5.5.5"))->interface, 0u);
  // Same route again replaces it.
  t.Add({V4("0.0.0.0"), 0, 0, wire::IpAddress(V4("10.0.0.254")), 3, RouteKind::kDefault});
  EXPECT_EQ(t.routes().size(), 2u);
  EXPECT_EQ(RouteKindName(RouteKind::kConnected), "connected");
}

class ControlPlaneTest : public NetFixture {};

TEST_F(ControlPlaneTest, InterfaceChecks) {
  InterfaceId id = 0;
  InterfaceConfig c = Path0Config();
  c.mac = MacAddress::Broadcast();
  EXPECT_EQ(stack_.AddInterface(c, &id), NetError::kInvalidMac);
  c = Path0Config();
  c.vlan = 4095;
  EXPECT_EQ(stack_.AddInterface(c, &id), NetError::kInvalidVlan);
  c = Path0Config();
  c.mtu = 1279;  // has IPv6 addresses
  EXPECT_EQ(stack_.AddInterface(c, &id), NetError::kInvalidMtu);
  c.mtu = 1501;  // above max_mtu
  EXPECT_EQ(stack_.AddInterface(c, &id), NetError::kInvalidMtu);
  c = Path0Config();
  c.ipv4.push_back({V4("224.0.0.1"), 24});
  EXPECT_EQ(stack_.AddInterface(c, &id), NetError::kInvalidAddress);
  c = Path0Config();
  c.ipv6.push_back({V6("fe80::1"), 64});
  EXPECT_EQ(stack_.AddInterface(c, &id), NetError::kInvalidAddress);
  ASSERT_EQ(stack_.AddInterface(Path0Config(), &id), NetError::kOk);
  EXPECT_EQ(stack_.AddInterface(Path0Config(), &id), NetError::kDuplicateInterface);
  c = Path0Config();
  c.vlan = 10;
  EXPECT_EQ(stack_.AddInterface(c, &id), NetError::kDuplicateAddress);
  EXPECT_EQ(stack_.SetInterfaceUp(7, true, T(0)), NetError::kUnknownInterface);
  EXPECT_EQ(NetErrorName(NetError::kDuplicateAddress), "duplicate_address");
}

TEST_F(ControlPlaneTest, AddressesAndRoutesFollowChanges) {
  AddUp();
  EXPECT_EQ(stack_.InterfaceOf(kOurIp), 0u);
  EXPECT_EQ(stack_.InterfaceOf(stack_.interface(0)->link_local), 0u);
  EXPECT_FALSE(stack_.InterfaceOf(V4("198.18.0.1")).has_value());
  ASSERT_EQ(stack_.AddAddress(0, V4("198.18.0.1"), 15, T(1)), NetError::kOk);
  EXPECT_EQ(stack_.InterfaceOf(V4("198.18.0.1")), 0u);
  auto hop = stack_.RouteFrom(V4("198.18.0.1"), V4("198.19.1.1"));
  ASSERT_TRUE(hop.has_value());
  EXPECT_EQ(hop->route.kind, RouteKind::kConnected);
  EXPECT_EQ(stack_.AddAddress(0, V4("198.18.0.1"), 15, T(1)), NetError::kDuplicateAddress);
  ASSERT_EQ(stack_.RemoveAddress(0, V4("198.18.0.1")), NetError::kOk);
  EXPECT_EQ(stack_.RemoveAddress(0, V4("198.18.0.1")), NetError::kNotFound);
  EXPECT_FALSE(stack_.InterfaceOf(V4("198.18.0.1")).has_value());
  // Its connected route went with it: now through the gateway, from another source.
  hop = stack_.RouteTo(V4("198.19.1.1"));
  ASSERT_TRUE(hop.has_value());
  EXPECT_EQ(hop->route.kind, RouteKind::kDefault);
  EXPECT_EQ(hop->source, wire::IpAddress(kOurIp));
  // Static routes.
  Route r{V4("203.0.113.0"), 24, 0, wire::IpAddress(V4("192.0.2.253")), 0, RouteKind::kStatic};
  EXPECT_EQ(stack_.AddRoute(r), NetError::kOk);
  EXPECT_EQ(stack_.RouteTo(V4("203.0.113.5"))->neighbor, wire::IpAddress(V4("192.0.2.253")));
  Route bad = r;
  bad.gateway = wire::IpAddress(kPeerIp6);
  EXPECT_EQ(stack_.AddRoute(bad), NetError::kInvalidRoute);
  bad.interface = 9;
  EXPECT_EQ(stack_.AddRoute(bad), NetError::kUnknownInterface);
  EXPECT_EQ(stack_.RemoveRoute(V4("203.0.113.0"), 24, 0), NetError::kOk);
  EXPECT_EQ(stack_.RemoveRoute(V4("203.0.113.0"), 24, 0), NetError::kNotFound);
  EXPECT_EQ(stack_.RouteTo(V4("203.0.113.5"))->neighbor, wire::IpAddress(kGatewayIp));
}

}  // namespace
}  // namespace braid::net::test
