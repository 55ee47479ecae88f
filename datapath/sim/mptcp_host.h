// A simulated host running Braid's MPTCP: a TcpHost (IP framing, the TCP engine) with the socket
// API on it (SimSockets) and MptcpSockets on top, the same layering as a worker's (TcpSockets
// over NetStack and the engine, MptcpSockets above). It has one interface and one address per
// path; the network script (mptcp_network.h) wires the links and the routes.
//
// The loop, after every packet and every timer of the engine, and at the time MPTCP or an app
// asks for: MptcpSockets::Poll when its timer is due (it dispatches too), else
// MptcpSockets::Dispatch (the TCP layer's events, then the connections' work, then the app
// events), then the apps whose wake-up time came, and again until nothing moves. Everything runs
// on the simulator's clock, so a seed replays the same run.
//
// Apps are SocketApps: socket handlers over tcp::SocketApi (sockets(): MPTCP sockets, or plain
// TCP ones with MptcpConfig::enabled false; tcp_sockets(): plain TCP on the same host) that may
// also ask to be woken at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "datapath/mptcp/mptcp_config.h"
#include "datapath/mptcp/socket_manager.h"
#include "datapath/sim/sim_sockets.h"
#include "datapath/sim/tcp_host.h"
#include "datapath/sim/types.h"
#include "datapath/tcp/socket_api.h"
#include "datapath/tcp/time.h"

namespace braid::sim {

// An application on a MptcpHost.
class SocketApp : public tcp::SocketHandler {
 public:
  // When the app wants OnWake (to start, the next request...); nullopt: never.
  virtual std::optional<tcp::Instant> WakeAt() const { return std::nullopt; }
  virtual void OnWake(tcp::Instant /*now*/) {}
};

struct MptcpHostConfig {
  TcpHostConfig host;
  SimSocketsConfig sockets;
  mptcp::MptcpConfig mptcp;
};

class MptcpHost final : public TcpHost, private HostLayer {
 public:
  // Errors: those of MptcpSockets::Create (an unknown scheduler or path manager, a bad PM config).
  static absl::StatusOr<std::unique_ptr<MptcpHost>> Create(const MptcpHostConfig& config);
  ~MptcpHost() override;

  // What apps use: MPTCP sockets.
  tcp::SocketApi& sockets() { return *mptcp_; }
  mptcp::MptcpSockets& mptcp() { return *mptcp_; }
  const mptcp::MptcpSockets& mptcp() const { return *mptcp_; }
  // The TCP socket layer under MPTCP (plain TCP sockets of this host live here too).
  SimSockets& tcp_sockets() { return sockets_; }

  // Apps are not owned and must outlive their use by the host.
  void AddApp(SocketApp* app) { apps_.push_back(app); }
  void RemoveApp(SocketApp* app) { std::erase(apps_, app); }
  // Called after every run of the loop (each packet, each timer): where a test samples state.
  void SetProbe(std::function<void(tcp::Instant)> probe) { probe_ = std::move(probe); }

  // Asks for a run of the loop at once: after a call from outside it (a test's direct API call,
  // whose work MPTCP only queued), so that the simulator, asked again (Simulator::Wake), polls
  // the host now.
  void RunSoon() { run_soon_ = true; }

  // The interface went down or came back up (its link did): PathUp follows it, and MPTCP's path
  // managers hear of every address on it at the host's next run, which happens at once when the
  // simulator is told (Simulator::Wake).
  void SetInterfaceUp(InterfaceIndex interface, bool up);

 private:
  explicit MptcpHost(const MptcpHostConfig& config);

  // HostLayer.
  void Run(tcp::Instant now) override;
  std::optional<tcp::Instant> RunAt() const override;

  struct PathChange {
    InterfaceIndex interface;
    bool up;
  };

  SimSockets sockets_;
  std::unique_ptr<mptcp::MptcpSockets> mptcp_;
  std::vector<SocketApp*> apps_;
  std::vector<PathChange> path_changes_;
  bool run_soon_ = false;
  std::function<void(tcp::Instant)> probe_;
};

}  // namespace braid::sim
