// Per-connection policies (MptcpSockets::ListenWithPolicy / ConnectWithPolicy): the connections of
// one listener or one connect take their scheduler, path manager, endpoints and checksum choice
// from the policy instead of the worker's defaults — how a pod's options reach its connections
// (architecture.md §7). Both stacks start with defaults that do nothing beyond the initial subflow.
#include <gtest/gtest.h>

#include <memory>

#include "tests/unit/datapath/mptcp/mptcp_stacks.h"

namespace braid::mptcp::test {
namespace {

class PolicyTest : public MptcpStacksTest {
 protected:
  void SetUp() override { Start(Config(), Config()); }
};

TEST_F(PolicyTest, AListenersPolicyAnnouncesItsEndpointsAndPicksItsScheduler) {
  auto policy = std::make_shared<ConnectionPolicy>();
  policy->scheduler = "roundrobin";
  policy->path_manager.endpoints = {SignalEndpoint(1, HostAddress(kHostB, /*v6=*/true))};
  absl::StatusOr<ListenerId> l = B().ListenWithPolicy(kPort, {}, &server(), std::nullopt, policy);
  ASSERT_TRUE(l.ok()) << l.status();

  // The client's own policy lets it act on one announcement; its defaults would not.
  ConnectionPolicy client_policy;
  client_policy.path_manager.limits.add_addr_accepted = 1;
  absl::StatusOr<SocketId> c =
      A().ConnectWithPolicy(AddrB(), kPort, {}, &client(), now(), std::nullopt, &client_policy);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(stacks().RunUntil(
      [&] { return client().Count(Ev::kConnected, *c) == 1 && !server().accepted.empty(); }, 10s));
  const SocketId s = server().accepted.back();
  ASSERT_TRUE(Poke(*c, s));
  ASSERT_TRUE(WaitForSubflows(*c, s, 2)) << Describe(*c, s);
  EXPECT_EQ(CountB(Counter::kAddAddrTx), 1u);
  EXPECT_EQ(B().ConnectionInfo(s)->scheduler, "roundrobin");
  EXPECT_EQ(A().ConnectionInfo(*c)->scheduler, "default");

  // A listener without a policy on another port keeps the defaults: no announcement.
  absl::StatusOr<ListenerId> plain = B().Listen(kPort + 1, {}, &server(), std::nullopt);
  ASSERT_TRUE(plain.ok());
  absl::StatusOr<SocketId> c2 =
      A().ConnectWithPolicy(AddrB(), kPort + 1, {}, &client(), now(), std::nullopt, &client_policy);
  ASSERT_TRUE(c2.ok());
  ASSERT_TRUE(stacks().RunUntil([&] { return server().accepted.size() == 2; }, 10s));
  const SocketId s2 = server().accepted.back();
  ASSERT_TRUE(Poke(*c2, s2));
  stacks().RunFor(3s);
  EXPECT_EQ(CountB(Counter::kAddAddrTx), 1u);
  EXPECT_EQ(B().ConnectionInfo(s2)->scheduler, "default");
  EXPECT_EQ(B().SubflowsOf(s2).size(), 1u);
}

TEST_F(PolicyTest, AConnectsPolicyOpensItsSubflowsAndAsksForChecksums) {
  ListenB();
  ConnectionPolicy policy;
  policy.path_manager.policy = "ndiffports";
  policy.path_manager.ndiffports = 3;
  policy.checksum = true;
  absl::StatusOr<SocketId> c =
      A().ConnectWithPolicy(AddrB(), kPort, {}, &client(), now(), std::nullopt, &policy);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(stacks().RunUntil(
      [&] { return client().Count(Ev::kConnected, *c) == 1 && !server().accepted.empty(); }, 10s));
  const SocketId s = server().accepted.back();
  ASSERT_TRUE(Poke(*c, s));
  ASSERT_TRUE(WaitForSubflows(*c, s, 3)) << Describe(*c, s);
  // RFC 8684 §3.1: either side asking is enough; the server's defaults did not ask.
  EXPECT_TRUE(A().ConnectionInfo(*c)->checksum);
  EXPECT_TRUE(B().ConnectionInfo(s)->checksum);
}

// The server announces its IPv6 address; the client's connection (IPv4) would join it from the
// route's source, its IPv6 address. With own_addresses_only and no IPv6 endpoint it has no
// address of that family of its own, so it does not join; with an endpoint it joins from it.
TEST_F(PolicyTest, OwnAddressesOnlyKeepsJoinsOnTheConnectionsAddresses) {
  auto announcing = std::make_shared<ConnectionPolicy>();
  announcing->path_manager.endpoints = {SignalEndpoint(1, HostAddress(kHostB, /*v6=*/true))};
  ASSERT_TRUE(B().ListenWithPolicy(kPort, {}, &server(), std::nullopt, announcing).ok());
  ConnectionPolicy own;
  own.own_addresses_only = true;
  own.path_manager.limits.add_addr_accepted = 1;
  absl::StatusOr<SocketId> c =
      A().ConnectWithPolicy(AddrB(), kPort, {}, &client(), now(), std::nullopt, &own);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(stacks().RunUntil(
      [&] { return client().Count(Ev::kConnected, *c) == 1 && !server().accepted.empty(); }, 10s));
  ASSERT_TRUE(Poke(*c, server().accepted.back()));
  stacks().RunFor(3s);
  EXPECT_EQ(CountA(Counter::kAddAddrRx), 1u);
  EXPECT_EQ(CountA(Counter::kJoinSynTx), 0u);
  EXPECT_EQ(A().SubflowsOf(*c).size(), 1u);

  // The same with the client's IPv6 address as an endpoint that opens no subflow of its own
  // (a subflow endpoint of another family than the peer's initial address opens none): the
  // announced address is joined from it.
  ConnectionPolicy with_v6 = own;
  with_v6.path_manager.endpoints = {Endpoint{.id = 1,
                                             .address = HostAddress(kHostA, /*v6=*/true),
                                             .port = std::nullopt,
                                             .signal = false,
                                             .subflow = false,
                                             .backup = false,
                                             .fullmesh = false}};
  absl::StatusOr<SocketId> c2 =
      A().ConnectWithPolicy(AddrB(), kPort, {}, &client(), now(), std::nullopt, &with_v6);
  ASSERT_TRUE(c2.ok()) << c2.status();
  ASSERT_TRUE(stacks().RunUntil([&] { return server().accepted.size() == 2; }, 10s));
  ASSERT_TRUE(Poke(*c2, server().accepted.back()));
  ASSERT_TRUE(WaitForSubflows(*c2, server().accepted.back(), 2))
      << Describe(*c2, server().accepted.back());
  const std::optional<SubflowInfo> joined = SubflowById(A(), *c2, 1);
  ASSERT_TRUE(joined);
  EXPECT_EQ(joined->local_address, AddrA(true));
}

TEST_F(PolicyTest, ABadPolicyIsRefusedBeforeAnythingIsSent) {
  ConnectionPolicy bad_scheduler;
  bad_scheduler.scheduler = "fastest";
  absl::StatusOr<SocketId> c =
      A().ConnectWithPolicy(AddrB(), kPort, {}, &client(), now(), std::nullopt, &bad_scheduler);
  EXPECT_TRUE(absl::IsInvalidArgument(c.status())) << c.status();
  EXPECT_NE(c.status().message().find("fastest"), std::string::npos);

  auto bad_pm = std::make_shared<ConnectionPolicy>();
  bad_pm->path_manager.policy = "magic";
  absl::StatusOr<ListenerId> l = B().ListenWithPolicy(kPort, {}, &server(), std::nullopt, bad_pm);
  EXPECT_TRUE(absl::IsInvalidArgument(l.status())) << l.status();
  EXPECT_NE(l.status().message().find("magic"), std::string::npos);
  // Nothing was opened: the port is still free.
  EXPECT_TRUE(B().Listen(kPort, {}, &server(), std::nullopt).ok());
  EXPECT_EQ(A().open_connections(), 0u);
}

}  // namespace
}  // namespace braid::mptcp::test
