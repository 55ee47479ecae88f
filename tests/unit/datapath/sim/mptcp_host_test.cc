// The socket API on simulated hosts (SimSockets), the MPTCP host around it and the multipath
// network: addressing (routes, bind, ephemeral ports), event dispatch to handlers, errors, path
// state as PathUp and path-manager events show it, and small transfers over plain TCP and MPTCP
// sockets. The policy tests are in tests/sim/mptcp_sim_test.cc.
#include "datapath/sim/mptcp_host.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "datapath/mptcp/connection.h"
#include "datapath/mptcp/path_manager/userspace_pm.h"
#include "datapath/sim/mptcp_network.h"
#include "datapath/sim/sim_sockets.h"
#include "datapath/sim/socket_apps.h"

namespace braid::sim {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<MptcpNetwork> TwoPaths(const mptcp::MptcpConfig& client = {},
                                       const mptcp::MptcpConfig& server = {}) {
  MptcpNetworkConfig c;
  c.paths = {PathLink(10'000'000, 10ms), PathLink(10'000'000, 30ms)};
  c.client = client;
  c.server = server;
  absl::StatusOr<std::unique_ptr<MptcpNetwork>> net = MptcpNetwork::Create(c);
  EXPECT_TRUE(net.ok()) << net.status();
  return std::move(*net);
}

// Records what SimSockets delivers.
class Recorder : public SocketApp {
 public:
  void OnConnected(tcp::SocketId s) override { connected.push_back(s); }
  void OnAccepted(tcp::ListenerId, tcp::SocketId s) override { accepted.push_back(s); }
  void OnReadable(tcp::SocketId, size_t n) override { readable += n; }
  void OnPeerFin(tcp::SocketId) override { ++peer_fins; }
  void OnError(tcp::SocketId, tcp::SocketError e) override { errors.push_back(e); }
  void OnClosed(tcp::SocketId) override { ++closed; }
  std::vector<tcp::SocketId> connected, accepted;
  std::vector<tcp::SocketError> errors;
  size_t readable = 0;
  int peer_fins = 0;
  int closed = 0;
};

tcp::Instant At(const MptcpNetwork& net) {
  return TcpHost::ToInstant(const_cast<MptcpNetwork&>(net).sim().now());
}

TEST(SimSockets, SourceAddressFromTheRouteOrTheBind) {
  auto net = TwoPaths();
  SimSockets& c = net->client().tcp_sockets();
  EXPECT_EQ(c.SourceFor(MptcpNetwork::ServerAddress(1)), MptcpNetwork::ClientAddress(1));
  EXPECT_EQ(c.SourceFor(MptcpNetwork::ServerAddress(0)), MptcpNetwork::ClientAddress(0));
  // No route: the host's first address of the family; none of that family: nothing.
  EXPECT_EQ(c.SourceFor(wire::Ipv4Address::FromU32(0xc0000201)), MptcpNetwork::ClientAddress(0));
  EXPECT_FALSE(c.SourceFor(*wire::Ipv6Address::Parse("2001:db8::1")).has_value());

  Recorder client, server;
  ASSERT_TRUE(net->server().tcp_sockets().Listen(80, {}, &server, std::nullopt).ok());
  const tcp::Instant now = At(*net);
  absl::StatusOr<tcp::SocketId> routed =
      c.Connect(MptcpNetwork::ServerAddress(1), 80, {}, &client, now, std::nullopt);
  absl::StatusOr<tcp::SocketId> bound = c.Connect(MptcpNetwork::ServerAddress(1), 80, {}, &client,
                                                  now, MptcpNetwork::ClientAddress(0));
  ASSERT_TRUE(routed.ok() && bound.ok());
  EXPECT_EQ(c.Flow(*routed)->local, MptcpNetwork::ClientAddress(1));
  EXPECT_EQ(c.Flow(*bound)->local, MptcpNetwork::ClientAddress(0));
  EXPECT_NE(c.Flow(*routed)->local_port, c.Flow(*bound)->local_port);
  EXPECT_EQ(c.counters().connects, 2u);
  net->sim().Run(SimTime(500ms));
  // Both reach the server, the bound one across paths (out on path 0, answers on path 1).
  EXPECT_EQ(client.connected.size(), 2u);
  EXPECT_EQ(server.accepted.size(), 2u);
  EXPECT_GT(net->sim().link(net->path(0).a_to_b).counters().delivered_packets, 0u);
}

TEST(SimSockets, RefusesWhatCannotWork) {
  auto net = TwoPaths();
  SimSockets& c = net->client().tcp_sockets();
  Recorder h;
  const tcp::Instant now = At(*net);
  const wire::IpAddress server = MptcpNetwork::ServerAddress(0);
  EXPECT_EQ(c.Connect(server, 80, {}, nullptr, now, std::nullopt).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.Connect(server, 0, {}, &h, now, std::nullopt).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.Connect(server, 80, {}, &h, now, MptcpNetwork::ServerAddress(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.Connect(*wire::Ipv6Address::Parse("2001:db8::2"), 80, {}, &h, now, std::nullopt)
                .status()
                .code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(c.counters().connect_failures, 2u);  // the argument checks come first
  EXPECT_EQ(c.Listen(80, {}, &h, server).status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(c.Listen(80, {}, &h, std::nullopt).ok());
  EXPECT_EQ(c.Listen(80, {}, &h, std::nullopt).status().code(), absl::StatusCode::kAlreadyExists);
  // A stale handle fails cleanly everywhere.
  const tcp::SocketId stale{7, 3};
  EXPECT_EQ(c.Send(stale, std::vector<uint8_t>(10), now), 0u);
  EXPECT_EQ(c.Receive(stale, std::span<uint8_t>(), now).bytes, 0u);
  EXPECT_EQ(c.Close(stale, now).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(c.SendAck(stale, now).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(c.SetHandler(stale, &h).code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(c.GetSendState(stale).has_value());
}

TEST(SimSockets, EventsReachTheHandlers) {
  auto net = TwoPaths();
  Recorder client, server;
  SimSockets& c = net->client().tcp_sockets();
  SimSockets& s = net->server().tcp_sockets();
  ASSERT_TRUE(s.Listen(80, {}, &server, std::nullopt).ok());
  absl::StatusOr<tcp::SocketId> id =
      c.Connect(MptcpNetwork::ServerAddress(0), 80, {}, &client, At(*net), std::nullopt);
  ASSERT_TRUE(id.ok());
  net->sim().Run(SimTime(100ms));
  ASSERT_EQ(client.connected.size(), 1u);
  ASSERT_EQ(server.accepted.size(), 1u);
  EXPECT_EQ(c.Send(*id, std::vector<uint8_t>(3000, 7), At(*net)), 3000u);
  ASSERT_TRUE(c.Shutdown(*id, At(*net)).ok());
  net->RunSoon(net->client());
  net->sim().Run(SimTime(200ms));
  EXPECT_GE(server.readable, 3000u);
  EXPECT_EQ(server.peer_fins, 1);
  std::vector<uint8_t> buf(4000);
  EXPECT_EQ(s.Receive(server.accepted[0], buf, At(*net)).bytes, 3000u);
  ASSERT_TRUE(s.Close(server.accepted[0], At(*net)).ok());
  ASSERT_TRUE(c.Close(*id, At(*net)).ok());
  net->RunSoon(net->client());
  net->RunSoon(net->server());
  net->sim().Run(SimTime(300ms));
  EXPECT_EQ(client.peer_fins, 1);
  EXPECT_EQ(server.closed, 1);
  EXPECT_TRUE(client.errors.empty() && server.errors.empty());
  EXPECT_EQ(s.counters().accepted, 1u);
  EXPECT_EQ(s.counters().closed, 1u);
}

TEST(SimSockets, PathStateFollowsTheScript) {
  mptcp::MptcpConfig userspace;
  userspace.path_manager.policy = "userspace";
  auto net = TwoPaths(userspace);
  SimSockets& c = net->client().tcp_sockets();
  EXPECT_TRUE(c.IsLocalAddress(MptcpNetwork::ClientAddress(1)));
  EXPECT_FALSE(c.IsLocalAddress(MptcpNetwork::ServerAddress(1)));
  EXPECT_FALSE(c.PathUp(MptcpNetwork::ServerAddress(1)));  // not ours

  // An MPTCP connection, so that a path manager hears the changes.
  Recorder app;
  absl::StatusOr<tcp::SocketId> id = net->client().sockets().Connect(
      MptcpNetwork::ServerAddress(0), 80, {}, &app, At(*net), std::nullopt);
  Recorder listener;
  ASSERT_TRUE(net->server().sockets().Listen(80, {}, &listener, std::nullopt).ok());
  ASSERT_TRUE(id.ok());
  // Some data, so that the client hears a DSS and is fully established (RFC 8684 §3.1).
  net->sim().Run(SimTime(50ms));
  EXPECT_EQ(net->client().sockets().Send(*id, std::vector<uint8_t>(1000, 1), At(*net)), 1000u);
  net->RunSoon(net->client());
  net->SetPathState(1, SimTime(200ms), LinkState::kDown);
  net->SetPathState(1, SimTime(400ms), LinkState::kBlackhole);
  net->SetPathState(1, SimTime(600ms), LinkState::kUp);
  net->sim().Run(SimTime(300ms));
  EXPECT_FALSE(c.PathUp(MptcpNetwork::ClientAddress(1)));
  EXPECT_FALSE(net->server().tcp_sockets().PathUp(MptcpNetwork::ServerAddress(1)));
  EXPECT_TRUE(c.PathUp(MptcpNetwork::ClientAddress(0)));
  EXPECT_EQ(net->sim().link(net->path(1).a_to_b).state(), LinkState::kDown);
  net->sim().Run(SimTime(500ms));
  EXPECT_TRUE(c.PathUp(MptcpNetwork::ClientAddress(1)));  // a blackhole is invisible
  net->sim().Run(SimTime(700ms));
  EXPECT_TRUE(c.PathUp(MptcpNetwork::ClientAddress(1)));

  auto* conn = dynamic_cast<mptcp::MptcpConnection*>(net->client().mptcp().PathControl(*id));
  ASSERT_NE(conn, nullptr);
  auto* pm = dynamic_cast<mptcp::UserspacePathManager*>(&conn->path_manager());
  ASSERT_NE(pm, nullptr);
  std::vector<bool> changes;
  for (const mptcp::PmEvent& e : pm->Events()) {
    if (e.type != mptcp::PmEventType::kPathChange) continue;
    EXPECT_EQ(e.local, MptcpNetwork::ClientAddress(1));
    changes.push_back(e.up);
  }
  EXPECT_EQ(changes, (std::vector<bool>{false, true, true}));
}

TEST(MptcpHost, CreateRefusesABadConfig) {
  MptcpHostConfig c;
  c.mptcp.scheduler = "fastest-please";
  EXPECT_EQ(MptcpHost::Create(c).status().code(), absl::StatusCode::kInvalidArgument);
  MptcpNetworkConfig none;
  EXPECT_EQ(MptcpNetwork::Create(none).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(MptcpHost, BulkOverTwoSubflowsIsByteExact) {
  mptcp::MptcpConfig client;
  mptcp::Endpoint e = MptcpNetwork::ClientEndpoint(1);
  e.subflow = true;
  client.path_manager.endpoints = {e};
  client.send_buffer = 64 * 1024;
  auto net = TwoPaths(client);
  SocketBulkRun run;
  run.bytes = 512 * 1024;
  const SocketBulkResult r = RunSocketBulk(*net, run);
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.stats.flow.bytes_received, run.bytes);
  EXPECT_TRUE(r.stats.flow.HashesMatch());
  ASSERT_TRUE(r.stats.client_mptcp.info.has_value());
  EXPECT_EQ(r.stats.client_mptcp.subflows.size(), 2u);
  for (uint64_t b : r.stats.client_mptcp.SubflowBytesSent()) EXPECT_GT(b, 0u);
  ASSERT_TRUE(r.stats.server_mptcp.info.has_value());
  EXPECT_EQ(r.stats.server_mptcp.info->bytes_received, run.bytes);
  EXPECT_EQ(r.network.forward.size(), 2u);
}

TEST(MptcpHost, RequestResponseOverPlainTcpSockets) {
  mptcp::MptcpConfig off;
  off.enabled = false;  // every MPTCP socket is plain TCP behind the same API
  auto net = TwoPaths(off, off);
  SocketRrRun run;
  run.shape = {.request_size = 300, .response_size = 5000, .count = 20, .think_time = 1ms};
  const SocketRrResult r = RunSocketRr(*net, run);
  EXPECT_TRUE(r.complete);
  ASSERT_EQ(r.completions.size(), 20u);
  // At least one round trip of the 10 ms path each.
  for (tcp::Duration d : r.completions) EXPECT_GE(d, 10ms);
  EXPECT_TRUE(r.client.info && r.client.info->fallback);
}

}  // namespace
}  // namespace braid::sim
