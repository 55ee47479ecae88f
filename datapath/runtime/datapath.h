// A node's datapath assembled from its parts: the EAL, one port per path, a mempool per worker,
// N workers each with a complete stack (NetStack + TCP engine + sockets) configured with every
// path's interface, software steering between the workers when ports cannot steer in hardware,
// and the threads that run the workers' loops (worker 0 on the calling thread, the others on EAL
// worker lcores). This is what braid-testapp runs and what the agent will supervise.
//
// Order of teardown (the destructor): workers (their TX batches flushed), handoff rings, ports,
// mempools. The EAL stays up (it cannot be started twice in a process).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "datapath/io/eal_config.h"
#include "datapath/io/handoff.h"
#include "datapath/io/mempool.h"
#include "datapath/io/port.h"
#include "datapath/io/steering.h"
#include "datapath/net/interface.h"
#include "datapath/runtime/idle_policy.h"
#include "datapath/runtime/worker.h"
#include "datapath/wire/address.h"

namespace braid::runtime {

struct PathConfig {
  std::string port;  // io::PortSpec text: "net_af_packet0,iface=a0", a PCI address...
  std::optional<wire::MacAddress> mac;  // default: the port's
  std::optional<uint16_t> vlan;
  uint16_t mtu = 1500;
  std::vector<net::Ipv4Cidr> ipv4;
  std::vector<net::Ipv6Cidr> ipv6;
  std::optional<wire::Ipv4Address> ipv4_gateway;
  std::optional<wire::Ipv6Address> ipv6_gateway;
  // More routes through this path: a prefix behind its gateway of the same family (or the
  // given one), e.g. the peer's subnet on this path, so that replies to a subflow that came in
  // here leave here too (net::NetStackConfig::weak_host).
  struct Route {
    wire::IpAddress prefix;
    uint8_t prefix_len = 0;
    std::optional<wire::IpAddress> gateway;
  };
  std::vector<Route> routes;
};

struct DatapathConfig {
  io::EalConfig eal;
  std::vector<PathConfig> paths;
  uint16_t workers = 1;
  uint16_t rx_desc = 1024;
  uint16_t tx_desc = 1024;
  uint16_t rx_burst = 32;
  IdleConfig idle;
  // Ephemeral ports, split between the workers (io::SplitPortRange).
  io::PortRange ephemeral{32768, 60999};
  // Per-worker stack settings; secrets are drawn from the OS CSPRNG at Start unless fixed_secrets.
  net::NetStackConfig net;
  tcp::NativeTcpBackendConfig tcp;
  // MPTCP for the apps' sockets (nullopt: plain TCP only).
  std::optional<mptcp::MptcpConfig> mptcp;
  bool fixed_secrets = false;
  // How long Start waits for each port's link to come up.
  std::chrono::milliseconds link_timeout{5000};
  // How often each worker reads its ports' links (Worker::WatchLinks); zero: never, the paths
  // stay up whatever their link does.
  std::chrono::milliseconds link_poll{10};
};

class Datapath {
 public:
  // Starts the EAL (or reuses it when already started with the same config), opens the ports,
  // builds the workers and brings their interfaces up (gratuitous ARP / unsolicited NA). Errors
  // name the path and the step.
  static absl::StatusOr<std::unique_ptr<Datapath>> Start(const DatapathConfig& config);
  ~Datapath();
  Datapath(const Datapath&) = delete;
  Datapath& operator=(const Datapath&) = delete;

  size_t workers() const { return workers_.size(); }
  Worker& worker(size_t i) { return *workers_[i]; }
  const Worker& worker(size_t i) const { return *workers_[i]; }
  const io::Port& port(size_t path) const { return *ports_[path]; }
  size_t paths() const { return ports_.size(); }
  // Which lcore runs each worker.
  const std::vector<unsigned>& lcores() const { return lcores_; }

  // Runs every worker's loop with apps[i] until all apps are done or Stop is called (from any
  // thread, e.g. a signal handler); a worker whose app is done keeps polling meanwhile, since
  // its queues carry frames of the others' flows. Returns when every worker has returned.
  absl::Status Run(std::span<WorkerApp* const> apps);
  void Stop() { stop_.store(true, std::memory_order_relaxed); }
  const std::atomic<bool>& stop_flag() const { return stop_; }

 private:
  Datapath() = default;

  DatapathConfig config_;
  std::vector<io::Mempool> pools_;  // one per worker
  std::vector<std::unique_ptr<io::Port>> ports_;
  std::vector<io::HandoffRing> rings_;
  std::vector<io::HandoffRing*> ring_ptrs_;
  std::unique_ptr<io::SteeringTable> steering_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<unsigned> lcores_;
  std::atomic<bool> stop_{false};
};

}  // namespace braid::runtime
