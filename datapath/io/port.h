// A port on any PMD: an SR-IOV VF by PCI address, or a virtual device (af_xdp, af_packet, tap,
// memif, ring, null) by its vdev string (port_spec.h). Open probes the device if the EAL has not
// (vdev hot-plug), reads its capabilities, configures one RX and one TX queue per worker with the
// offloads that exist (offloads.h: what is not in force is the net layer's to do in software),
// sets the MTU and starts it. Statistics come out as plain structs for the counters/metrics code.
// Control plane only; the packet path uses RxQueue/TxQueue.
//
// Order of teardown: flow rules (FlowRules), then the Port (stop, close, detach a device it
// probed), then the mempools its RX queues used, then Eal::Cleanup.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "datapath/io/offloads.h"
#include "datapath/io/port_spec.h"
#include "datapath/io/rx_queue.h"
#include "datapath/wire/address.h"

struct rte_mempool;
struct rte_device;

namespace braid::io {

struct PortConfig {
  PortSpec spec;
  uint16_t rx_queues = 1;  // one per worker that polls this port
  uint16_t tx_queues = 1;  // one per worker
  uint16_t rx_desc = 1024;
  uint16_t tx_desc = 1024;
  uint16_t mtu = 1500;
  OffloadRequest offloads;
  bool promiscuous = false;   // frames to other MACs too (a bridge-like path); off by default
  bool all_multicast = true;  // IPv6 solicited-node groups arrive without per-group filters
};

struct LinkState {
  bool up = false;
  uint32_t speed_mbps = 0;  // 0: unknown
  bool full_duplex = false;
  bool autoneg = false;
  std::string ToString() const;  // "up 10 Gbps full-duplex"
  friend bool operator==(const LinkState&, const LinkState&) = default;
};

struct QueueStats {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t errors = 0;  // RX queues: packets dropped by the queue
};

// rte_eth_stats as plain numbers. Per-queue figures exist for the first 16 queues
// (RTE_ETHDEV_QUEUE_STAT_CNTRS) and only where the PMD keeps them.
struct PortStats {
  uint64_t rx_packets = 0;
  uint64_t tx_packets = 0;
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
  uint64_t rx_missed = 0;  // dropped by the device: RX ring full
  uint64_t rx_errors = 0;
  uint64_t tx_errors = 0;
  uint64_t rx_nombuf = 0;  // RX mbuf allocation failures
  std::vector<QueueStats> rx_queues;
  std::vector<QueueStats> tx_queues;
};

struct Xstat {
  std::string name;
  uint64_t value = 0;
};

class Port {
 public:
  // `rx_pools[q]` gives RX queue q its mbufs (the pool of the worker that polls it); exactly
  // config.rx_queues entries. Errors name the port and the call, and quote what the PMD logged.
  static absl::StatusOr<std::unique_ptr<Port>> Open(const PortConfig& config,
                                                    std::span<rte_mempool* const> rx_pools);

  Port(const Port&) = delete;
  Port& operator=(const Port&) = delete;
  ~Port();  // Close(), errors lost
  // Stops and closes the port, and detaches the device when Open probed it. Idempotent.
  absl::Status Close();

  uint16_t id() const { return id_; }
  const std::string& name() const { return config_.spec.name; }
  PortKind kind() const { return config_.spec.kind; }
  const PortConfig& config() const { return config_; }
  const DeviceCapabilities& capabilities() const { return caps_; }
  const PortPlan& plan() const { return plan_; }
  const OffloadsInForce& offloads() const { return plan_.offloads; }
  wire::MacAddress mac() const { return mac_; }
  uint16_t mtu() const { return plan_.mtu; }
  // False on PMDs that refuse rte_eth_dev_set_mtu (ring, memif): the MTU is then only what our
  // stack sends, and what the buffers hold.
  bool mtu_settable() const { return mtu_settable_; }
  int socket() const { return socket_; }
  // Notes from planning and configuration ("promiscuous mode not supported", ...).
  const std::vector<std::string>& notes() const { return notes_; }

  // The queue handles the workers poll / send on.
  RxQueue rx_queue(uint16_t queue) const { return RxQueue(id_, queue); }

  // Without waiting; thread-safe. AF_PACKET and AF_XDP ports are up while their netdev is up
  // with carrier (one ioctl).
  LinkState Link() const;
  // Polls the link until it is up or `timeout` passes: DeadlineExceeded with the last state.
  absl::StatusOr<LinkState> WaitForLink(std::chrono::milliseconds timeout) const;

  absl::StatusOr<PortStats> Stats() const;
  absl::Status ResetStats();
  absl::StatusOr<std::vector<Xstat>> Xstats() const;
  // One extended statistic by name ("rx_good_packets"); NotFound when the PMD has no such name.
  absl::StatusOr<uint64_t> XstatByName(std::string_view name) const;

 private:
  explicit Port(const PortConfig& config) : config_(config) {}
  absl::Status Configure(std::span<rte_mempool* const> rx_pools);

  PortConfig config_;
  uint16_t id_ = 0;
  rte_device* device_ = nullptr;
  bool probed_here_ = false;
  bool started_ = false;
  bool open_ = false;
  DeviceCapabilities caps_;
  PortPlan plan_;
  wire::MacAddress mac_;
  bool mtu_settable_ = true;
  int socket_ = -1;
  std::vector<std::string> notes_;
  // AF_PACKET and AF_XDP ports: the netdev, and a socket to ask the kernel about it (Link).
  std::string netdev_;
  int netdev_query_fd_ = -1;
};

}  // namespace braid::io
