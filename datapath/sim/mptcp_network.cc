// The multipath network and its runners; see mptcp_network.h.
#include "datapath/sim/mptcp_network.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include "datapath/sim/random.h"
#include "datapath/sim/scenario.h"

namespace braid::sim {
namespace {

constexpr size_t kMaxPaths = 254;

MptcpHostConfig HostConfigFor(uint64_t seed, uint64_t which, const mptcp::MptcpConfig& mptcp) {
  MptcpHostConfig c;
  c.host = SeededHostConfig(seed, which);
  c.sockets.ephemeral.secret =
      tcp::SipKey{.k0 = DeriveSeed(seed, 3000 + which), .k1 = DeriveSeed(seed, 4000 + which)};
  c.mptcp = mptcp;
  return c;
}

// Follows the receiver's out-of-order queue after every run of the server's loop: its peak, and
// its integral over time (the value seen at one run holds until the next).
class OutOfOrderWatch {
 public:
  OutOfOrderWatch(MptcpHost& server, NetworkRunStats& stats) : server_(server), stats_(stats) {
    server_.SetProbe([this](tcp::Instant now) { Sample(now); });
  }
  ~OutOfOrderWatch() { server_.SetProbe(nullptr); }
  OutOfOrderWatch(const OutOfOrderWatch&) = delete;
  OutOfOrderWatch& operator=(const OutOfOrderWatch&) = delete;

  // Closes the integral at `now` and turns it into the mean since the first sample.
  void Finish(tcp::Instant now) {
    Sample(now);
    if (first_ && now > *first_) {
      stats_.mean_out_of_order = byte_ns_ / static_cast<double>((now - *first_).count());
    }
  }

 private:
  void Sample(tcp::Instant now) {
    if (last_) byte_ns_ += static_cast<double>(held_) * static_cast<double>((now - *last_).count());
    if (!first_) first_ = now;
    last_ = now;
    held_ = 0;
    const mptcp::MptcpSockets& m = server_.mptcp();
    for (const tcp::SocketId id : m.Connections()) {
      if (const std::optional<mptcp::MptcpInfo> info = m.ConnectionInfo(id); info) {
        held_ += info->out_of_order;
      }
    }
    stats_.peak_out_of_order = std::max(stats_.peak_out_of_order, held_);
  }

  MptcpHost& server_;
  NetworkRunStats& stats_;
  std::optional<tcp::Instant> first_, last_;
  uint64_t held_ = 0;
  double byte_ns_ = 0;
};

// Hears the events of connections whose app is gone.
tcp::SocketHandler& Orphanage() {
  static tcp::SocketHandler ignore;
  return ignore;
}

void Finish(MptcpNetwork& net, NetworkRunStats& stats) {
  // A run that stopped early leaves connections whose apps are about to be destroyed.
  for (MptcpHost* host : {&net.client(), &net.server()}) {
    for (const tcp::SocketId id : host->mptcp().Connections()) {
      (void)host->mptcp().SetHandler(id, &Orphanage());
    }
  }
  stats.end = net.sim().now();
  stats.client_counters = net.client().mptcp().counters();
  stats.server_counters = net.server().mptcp().counters();
  for (size_t i = 0; i < net.path_count(); ++i) {
    stats.forward.push_back(net.sim().link(net.path(i).a_to_b).counters());
    stats.reverse.push_back(net.sim().link(net.path(i).b_to_a).counters());
  }
}

SocketFlowConfig FlowConfig(MptcpNetwork& net, const tcp::TcpConfig& tcp, uint16_t port,
                            uint64_t seed, tcp::Duration start) {
  SocketFlowConfig c;
  c.server = MptcpNetwork::ServerAddress(0);
  c.server_port = port;
  c.client_config = tcp;
  c.server_config = tcp;
  c.start_at = TcpHost::ToInstant(net.sim().now() + SimTime(start));
  c.seed = seed;
  c.client_mptcp = &net.client().mptcp();
  c.server_mptcp = &net.server().mptcp();
  return c;
}

}  // namespace

LinkConfig PathLink(uint64_t rate_bps, tcp::Duration rtt, double loss, uint64_t queue_packets) {
  LinkConfig l;
  l.rate_bps = rate_bps;
  l.delay = rtt / 2;
  l.loss = loss;
  l.queue_limit_packets = queue_packets != 0 ? queue_packets : BdpQueuePackets(rate_bps, rtt);
  return l;
}

wire::IpAddress MptcpNetwork::ClientAddress(size_t path) {
  return wire::Ipv4Address::FromU32(0x0a000001 | static_cast<uint32_t>(path) << 8);
}

wire::IpAddress MptcpNetwork::ServerAddress(size_t path) {
  return wire::Ipv4Address::FromU32(0x0a000002 | static_cast<uint32_t>(path) << 8);
}

mptcp::Endpoint MptcpNetwork::ClientEndpoint(size_t path) {
  mptcp::Endpoint e;
  e.id = static_cast<uint8_t>(path + 1);
  e.address = ClientAddress(path);
  return e;
}

mptcp::Endpoint MptcpNetwork::ServerEndpoint(size_t path) {
  mptcp::Endpoint e;
  e.id = static_cast<uint8_t>(path + 1);
  e.address = ServerAddress(path);
  return e;
}

absl::StatusOr<std::unique_ptr<MptcpNetwork>> MptcpNetwork::Create(
    const MptcpNetworkConfig& config) {
  if (config.paths.empty() || config.paths.size() > kMaxPaths) {
    return absl::InvalidArgumentError("mptcp network: 1 to " + std::to_string(kMaxPaths) +
                                      " paths, not " + std::to_string(config.paths.size()));
  }
  std::unique_ptr<MptcpNetwork> net(new MptcpNetwork(config.seed));
  absl::StatusOr<std::unique_ptr<MptcpHost>> client =
      MptcpHost::Create(HostConfigFor(config.seed, 0, config.client));
  if (!client.ok()) return client.status();
  absl::StatusOr<std::unique_ptr<MptcpHost>> server =
      MptcpHost::Create(HostConfigFor(config.seed, 1, config.server));
  if (!server.ok()) return server.status();
  net->client_ = std::move(*client);
  net->server_ = std::move(*server);
  net->client_node_ = net->sim_.AddNode(*net->client_);
  net->server_node_ = net->sim_.AddNode(*net->server_);
  for (size_t i = 0; i < config.paths.size(); ++i) {
    const auto interface = static_cast<InterfaceIndex>(i);
    net->client_->AddAddress(interface, ClientAddress(i));
    net->server_->AddAddress(interface, ServerAddress(i));
    net->client_->tcp_sockets().AddRoute(ServerAddress(i), ClientAddress(i));
    net->server_->tcp_sockets().AddRoute(ClientAddress(i), ServerAddress(i));
    net->paths_.push_back(net->sim_.Connect(Endpoint{net->client_node_, interface},
                                            Endpoint{net->server_node_, interface},
                                            config.paths[i]));
  }
  return net;
}

void MptcpNetwork::SetPathState(size_t path, SimTime at, LinkState state) {
  sim_.SetLinkState(paths_[path], at, state);
  const bool up = state != LinkState::kDown;
  const auto interface = static_cast<InterfaceIndex>(path);
  sim_.Schedule(at, [this, interface, up] {
    client_->SetInterfaceUp(interface, up);
    server_->SetInterfaceUp(interface, up);
    sim_.Wake(client_node_);
    sim_.Wake(server_node_);
  });
}

void MptcpNetwork::RunSoon(MptcpHost& host) {
  host.RunSoon();
  sim_.Wake(&host == client_.get() ? client_node_ : server_node_);
}

SocketBulkResult RunSocketBulk(MptcpNetwork& net, const SocketBulkRun& run) {
  SocketBulkResult result;
  const SocketFlowConfig flow = FlowConfig(net, run.tcp, run.port, run.seed, run.start);
  BulkSocketSender sender(flow, run.bytes, net.client().sockets(), result.stats);
  BulkSocketReceiver receiver(flow, net.server().sockets(), result.stats);
  if (absl::Status st = receiver.Listen(); !st.ok()) {
    result.stats.connect_error = st;
    return result;
  }
  net.client().AddApp(&sender);
  net.server().AddApp(&receiver);
  OutOfOrderWatch watch(net.server(), result.network);
  // Scheduled events outlive the run when it stops early: they check that it is still on.
  const auto running = std::make_shared<bool>(true);
  for (const ClientAction& action : run.actions) {
    net.sim().Schedule(net.sim().now() + SimTime(run.start + action.after),
                       [&net, &sender, running, call = action.call] {
                         if (!*running || !sender.socket().valid()) return;
                         call(net, sender.socket());
                         net.RunSoon(net.client());
                       });
  }
  const BulkFlowStats& f = result.stats.flow;
  const SocketBulkStats& s = result.stats;
  net.sim().RunUntil(
      [&] {
        const bool failed = s.client_error || s.server_error || s.connect_error;
        return failed || (f.fin_at && f.client_closed_at && f.server_closed_at);
      },
      net.sim().now() + SimTime(run.time_limit));
  *running = false;
  watch.Finish(TcpHost::ToInstant(net.sim().now()));
  net.client().RemoveApp(&sender);
  net.server().RemoveApp(&receiver);
  Finish(net, result.network);
  result.complete = result.stats.Complete();
  if (f.connect_at && f.fin_at) result.completion = *f.fin_at - *f.connect_at;
  return result;
}

SocketRrResult RunSocketRr(MptcpNetwork& net, const SocketRrRun& run) {
  SocketRrResult result;
  const SocketFlowConfig flow = FlowConfig(net, run.tcp, run.port, run.seed, run.start);
  RrSocketClient client(flow, run.shape, net.client().sockets());
  RrSocketServer server(flow, run.shape, net.server().sockets());
  if (!server.Listen().ok()) return result;
  net.client().AddApp(&client);
  net.server().AddApp(&server);
  OutOfOrderWatch watch(net.server(), result.network);
  net.sim().RunUntil([&] { return client.done() || client.error().has_value(); },
                     net.sim().now() + SimTime(run.time_limit));
  // The server's side of the close (its FIN's ACK) finishes in a moment: let it, for the counters.
  net.sim().RunFor(SimTime(std::chrono::seconds(1)));
  watch.Finish(TcpHost::ToInstant(net.sim().now()));
  net.client().RemoveApp(&client);
  net.server().RemoveApp(&server);
  Finish(net, result.network);
  result.completions = client.completions();
  result.client = client.mptcp();
  result.complete = client.done() && !client.error() &&
                    result.completions.size() == run.shape.count && client.protocol_errors() == 0 &&
                    server.protocol_errors() == 0;
  return result;
}

}  // namespace braid::sim
