// A simulated multipath network: a client and a server MptcpHost joined by N independent
// full-duplex paths, path i from the client's interface i (10.0.i.1) to the server's interface i
// (10.0.i.2), each with its own rate, delay, loss and queue. Each host routes the other's path-i
// address out of its own path-i address, so a subflow between the two addresses of one path
// stays on it; a subflow between addresses of different paths (fullmesh) leaves on its source's
// path and its answers on theirs, as with source routing.
//
// SetPathState scripts a path's failure and return: kDown takes the link down and tells both
// hosts (PathUp false, the path managers hear of it), kBlackhole drops everything silently (no
// host can tell), kUp restores both.
//
// RunSocketBulk and RunSocketRr run one workload of socket_apps.h on the network and gather what
// the MPTCP tests assert on: the apps' results, both sides' connection snapshots and counters, the
// peak of the receiver's data-level out-of-order queue, and every link's counters.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "datapath/mptcp/mib.h"
#include "datapath/mptcp/mptcp_config.h"
#include "datapath/mptcp/path_manager/path_manager.h"
#include "datapath/sim/link.h"
#include "datapath/sim/mptcp_host.h"
#include "datapath/sim/simulator.h"
#include "datapath/sim/socket_apps.h"
#include "datapath/sim/types.h"
#include "datapath/tcp/tcp_config.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/address.h"

namespace braid::sim {

// A path's link (both directions): rate, propagation RTT, Bernoulli loss per packet, and a
// drop-tail queue of one bandwidth-delay product (at least 16 packets) unless `queue_packets`.
LinkConfig PathLink(uint64_t rate_bps, tcp::Duration rtt, double loss = 0,
                    uint64_t queue_packets = 0);

struct MptcpNetworkConfig {
  uint64_t seed = 1;
  std::vector<LinkConfig> paths;  // at most 254
  mptcp::MptcpConfig client;
  mptcp::MptcpConfig server;
};

class MptcpNetwork {
 public:
  static wire::IpAddress ClientAddress(size_t path);  // 10.0.<path>.1
  static wire::IpAddress ServerAddress(size_t path);  // 10.0.<path>.2
  // The path-manager endpoint of a host's address on `path`, ID path + 1, no flags set.
  static mptcp::Endpoint ClientEndpoint(size_t path);
  static mptcp::Endpoint ServerEndpoint(size_t path);

  // Errors: no paths, too many, or a host's MPTCP config refused (MptcpSockets::Create).
  static absl::StatusOr<std::unique_ptr<MptcpNetwork>> Create(const MptcpNetworkConfig& config);

  Simulator& sim() { return sim_; }
  MptcpHost& client() { return *client_; }
  MptcpHost& server() { return *server_; }
  NodeId client_node() const { return client_node_; }
  NodeId server_node() const { return server_node_; }
  size_t path_count() const { return paths_.size(); }
  DuplexLink path(size_t i) const { return paths_[i]; }  // a_to_b: client -> server

  // Path `path` changes state at `at` in both directions (see the header comment).
  void SetPathState(size_t path, SimTime at, LinkState state);
  // After a direct call on a host's sockets from outside its loop: runs the host at once.
  void RunSoon(MptcpHost& host);

 private:
  explicit MptcpNetwork(uint64_t seed) : sim_(seed) {}

  Simulator sim_;
  std::unique_ptr<MptcpHost> client_;
  std::unique_ptr<MptcpHost> server_;
  NodeId client_node_, server_node_;
  std::vector<DuplexLink> paths_;
};

// What both runners gather.
struct NetworkRunStats {
  // Receiver's (the server's) data-level out-of-order bytes: the most seen after any packet, and
  // their average over time (byte-seconds held out of order per second of the run).
  uint64_t peak_out_of_order = 0;
  double mean_out_of_order = 0;
  mptcp::MptcpCounters client_counters, server_counters;
  std::vector<LinkCounters> forward, reverse;  // per path: client -> server, server -> client
  tcp::Duration end{0};                        // virtual time when the run stopped
};

// A call on the client's connection at `after` since the run started (if it is open by then):
// how a test drives a userspace path manager (MptcpSockets::PathControl) mid-transfer.
struct ClientAction {
  tcp::Duration after{0};
  std::function<void(MptcpNetwork&, tcp::SocketId)> call;
};

struct SocketBulkRun {
  uint64_t bytes = 4 << 20;
  tcp::TcpConfig tcp;  // both ends (subflows inherit it)
  uint16_t port = 5001;
  uint64_t seed = 1;
  tcp::Duration start{0};
  tcp::Duration time_limit = std::chrono::seconds(300);
  std::vector<ClientAction> actions;
};

struct SocketBulkResult {
  SocketBulkStats stats;
  bool complete = false;        // SocketBulkStats::Complete
  tcp::Duration completion{0};  // Connect to the receiver reading the FIN
  NetworkRunStats network;
};

// A bulk transfer client -> server over the hosts' MPTCP sockets, run until both ends closed (or
// one failed, or the time limit).
SocketBulkResult RunSocketBulk(MptcpNetwork& net, const SocketBulkRun& run);

struct SocketRrRun {
  RrShape shape;
  tcp::TcpConfig tcp;
  uint16_t port = 5002;
  uint64_t seed = 1;
  tcp::Duration start{0};
  tcp::Duration time_limit = std::chrono::seconds(300);
};

struct SocketRrResult {
  std::vector<tcp::Duration> completions;  // one per exchange, in order
  bool complete = false;                   // every exchange done, closed cleanly, no stray bytes
  MptcpSnapshot client;
  NetworkRunStats network;
};

SocketRrResult RunSocketRr(MptcpNetwork& net, const SocketRrRun& run);

}  // namespace braid::sim
