#include "datapath/io/port.h"

#include <net/if.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "datapath/io/dpdk_log.h"
#include "datapath/io/eal.h"
#include "datapath/io/errors.h"
#include "datapath/io/text.h"

namespace braid::io {
namespace {

DeviceCapabilities CapabilitiesOf(const rte_eth_dev_info& info) {
  DeviceCapabilities c;
  c.driver = info.driver_name != nullptr ? info.driver_name : "?";
  c.max_rx_queues = info.max_rx_queues;
  c.max_tx_queues = info.max_tx_queues;
  c.rx_desc_min = info.rx_desc_lim.nb_min;
  c.rx_desc_max = info.rx_desc_lim.nb_max;
  c.rx_desc_align = info.rx_desc_lim.nb_align;
  c.tx_desc_min = info.tx_desc_lim.nb_min;
  c.tx_desc_max = info.tx_desc_lim.nb_max;
  c.tx_desc_align = info.tx_desc_lim.nb_align;
  c.min_mtu = info.min_mtu;
  c.max_mtu = info.max_mtu;
  c.max_rx_pktlen = info.max_rx_pktlen;
  c.min_rx_bufsize = info.min_rx_bufsize;
  const uint64_t rx = info.rx_offload_capa;
  const uint64_t tx = info.tx_offload_capa;
  c.rx_ipv4_checksum = (rx & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) != 0;
  c.rx_tcp_checksum = (rx & RTE_ETH_RX_OFFLOAD_TCP_CKSUM) != 0;
  c.rx_vlan_strip = (rx & RTE_ETH_RX_OFFLOAD_VLAN_STRIP) != 0;
  c.rx_scatter = (rx & RTE_ETH_RX_OFFLOAD_SCATTER) != 0;
  c.rx_rss_hash = (rx & RTE_ETH_RX_OFFLOAD_RSS_HASH) != 0;
  c.tx_ipv4_checksum = (tx & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) != 0;
  c.tx_tcp_checksum = (tx & RTE_ETH_TX_OFFLOAD_TCP_CKSUM) != 0;
  c.tx_tcp_tso = (tx & RTE_ETH_TX_OFFLOAD_TCP_TSO) != 0;
  c.tx_multi_segs = (tx & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) != 0;
  c.tx_mbuf_fast_free = (tx & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE) != 0;
  c.rss_flow_types = info.flow_type_rss_offloads;
  c.reta_size = info.reta_size;
  c.rss_key_size = info.hash_key_size;
  c.speed_capa = info.speed_capa;
  return c;
}

uint64_t RxOffloadBits(const OffloadsInForce& o) {
  uint64_t bits = 0;
  if (o.rx_ipv4_checksum) bits |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
  if (o.rx_tcp_checksum) bits |= RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
  if (o.rx_vlan_strip) bits |= RTE_ETH_RX_OFFLOAD_VLAN_STRIP;
  if (o.rx_scatter) bits |= RTE_ETH_RX_OFFLOAD_SCATTER;
  return bits;
}

uint64_t TxOffloadBits(const OffloadsInForce& o) {
  uint64_t bits = 0;
  if (o.tx_ipv4_checksum) bits |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
  if (o.tx_tcp_checksum) bits |= RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
  if (o.tso) bits |= RTE_ETH_TX_OFFLOAD_TCP_TSO;
  if (o.tx_multi_segs) bits |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
  if (o.mbuf_fast_free) bits |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
  return bits;
}

// "...: Invalid argument (PMD: <last log lines>)"
absl::Status WithLog(absl::Status st, DpdkLogCapture& log) {
  if (st.ok()) return st;
  const std::string tail = log.Tail();
  if (tail.empty()) return st;
  return absl::Status(st.code(), Cat(st.message(), " [DPDK log: ", tail, "]"));
}

}  // namespace

std::string LinkState::ToString() const {
  if (!up) return "down";
  std::string s = "up";
  if (speed_mbps == 0) {
    s += Cat(" (speed unknown)");
  } else if (speed_mbps % 1000 == 0) {
    s += Cat(" ", speed_mbps / 1000, " Gbps");
  } else {
    s += Cat(" ", speed_mbps, " Mbps");
  }
  s += Cat(full_duplex ? " full-duplex" : " half-duplex");
  return s;
}

absl::StatusOr<std::unique_ptr<Port>> Port::Open(const PortConfig& config,
                                                 std::span<rte_mempool* const> rx_pools) {
  const std::string& name = config.spec.name;
  if (!Eal::initialized()) {
    return absl::FailedPreconditionError(Cat("port ", name, ": the EAL is not started"));
  }
  if (rx_pools.size() != config.rx_queues) {
    return absl::InvalidArgumentError(Cat("port ", name, ": ", rx_pools.size(), " RX mempools for ",
                                          config.rx_queues, " RX queues"));
  }
  for (rte_mempool* pool : rx_pools) {
    if (pool == nullptr) {
      return absl::InvalidArgumentError(Cat("port ", name, ": null RX mempool"));
    }
  }
  std::unique_ptr<Port> port(new Port(config));
  DpdkLogCapture log;
  if (rte_eth_dev_get_port_by_name(name.c_str(), &port->id_) != 0) {
    const int ret = rte_dev_probe(config.spec.devargs().c_str());
    if (ret != 0) {
      const std::string context =
          Cat("port ", name, ": rte_dev_probe(\"", config.spec.devargs(), "\")");
      // Bus and driver probe functions often return a bare -1, which is not an errno: the log
      // lines say what went wrong.
      return WithLog(ret == -1 ? absl::UnavailableError(context + ": the driver refused the device")
                               : ReturnStatus(ret, context),
                     log);
    }
    port->probed_here_ = true;
    if (rte_eth_dev_get_port_by_name(name.c_str(), &port->id_) != 0) {
      // Probed but no ethdev of that name: e.g. a PCI device bound to a non-net driver.
      return absl::NotFoundError(
          Cat("port ", name, ": probed, but no ethdev port carries that name"));
    }
  }
  port->open_ = true;
  if (config.spec.kind == PortKind::kAfPacket || config.spec.kind == PortKind::kAfXdp) {
    // Link() asks the kernel about the netdev (every worker, every link poll): one socket for
    // the port's life instead of one per query.
    port->netdev_ = config.spec.Arg("iface");
    port->netdev_query_fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  }
  rte_eth_dev_info info{};
  if (absl::Status st = ReturnStatus(rte_eth_dev_info_get(port->id_, &info),
                                     Cat("port ", name, ": rte_eth_dev_info_get"));
      !st.ok()) {
    return WithLog(st, log);
  }
  port->device_ = info.device;
  port->caps_ = CapabilitiesOf(info);
  if (absl::Status st = port->Configure(rx_pools); !st.ok()) return WithLog(st, log);
  return port;
}

absl::Status Port::Configure(std::span<rte_mempool* const> rx_pools) {
  const std::string& name = config_.spec.name;
  auto fail = [&](int ret, std::string_view call) {
    return ReturnStatus(ret, Cat("port ", name, " (", id_, "): ", call));
  };
  socket_ = rte_eth_dev_socket_id(id_);

  PortRequest request;
  request.rx_queues = config_.rx_queues;
  request.tx_queues = config_.tx_queues;
  request.rx_desc = config_.rx_desc;
  request.tx_desc = config_.tx_desc;
  request.mtu = config_.mtu;
  request.offloads = config_.offloads;
  uint32_t buffer = UINT32_MAX;
  for (rte_mempool* pool : rx_pools) {
    const uint32_t room = rte_pktmbuf_data_room_size(pool);
    buffer = std::min(buffer, room > RTE_PKTMBUF_HEADROOM ? room - RTE_PKTMBUF_HEADROOM : 0);
  }
  request.rx_buffer_size = buffer;
  absl::StatusOr<PortPlan> plan = PlanPort(caps_, request);
  if (!plan.ok()) {
    return absl::Status(plan.status().code(), Cat("port ", name, ": ", plan.status().message()));
  }
  plan_ = *std::move(plan);
  notes_ = plan_.notes;

  rte_eth_conf conf{};
  conf.rxmode.mtu = plan_.mtu;
  conf.rxmode.offloads = RxOffloadBits(plan_.offloads);
  conf.txmode.offloads = TxOffloadBits(plan_.offloads);
  if (plan_.offloads.rss) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_key = nullptr;  // the PMD's default key
    conf.rx_adv_conf.rss_conf.rss_hf = (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP) & caps_.rss_flow_types;
  }
  int ret = rte_eth_dev_configure(id_, plan_.rx_queues, plan_.tx_queues, &conf);
  if (ret != 0) {
    return fail(ret, Cat("rte_eth_dev_configure(", plan_.rx_queues, " rx, ", plan_.tx_queues,
                         " tx, mtu ", plan_.mtu, ", ", plan_.offloads.Summary(), ")"));
  }
  uint16_t rx_desc = plan_.rx_desc;
  uint16_t tx_desc = plan_.tx_desc;
  ret = rte_eth_dev_adjust_nb_rx_tx_desc(id_, &rx_desc, &tx_desc);
  if (ret != 0) return fail(ret, "rte_eth_dev_adjust_nb_rx_tx_desc");
  plan_.rx_desc = rx_desc;
  plan_.tx_desc = tx_desc;

  rte_eth_dev_info info{};
  ret = rte_eth_dev_info_get(id_, &info);
  if (ret != 0) return fail(ret, "rte_eth_dev_info_get");
  for (uint16_t q = 0; q < plan_.rx_queues; ++q) {
    rte_eth_rxconf rxconf = info.default_rxconf;
    rxconf.offloads = conf.rxmode.offloads;
    const int pool_socket = rx_pools[q]->socket_id;
    ret = rte_eth_rx_queue_setup(
        id_, q, rx_desc, static_cast<unsigned>(pool_socket >= 0 ? pool_socket : SOCKET_ID_ANY),
        &rxconf, rx_pools[q]);
    if (ret != 0) {
      return fail(ret, Cat("rte_eth_rx_queue_setup(queue ", q, ", ", rx_desc, " descriptors, pool ",
                           rx_pools[q]->name, ")"));
    }
  }
  for (uint16_t q = 0; q < plan_.tx_queues; ++q) {
    rte_eth_txconf txconf = info.default_txconf;
    txconf.offloads = conf.txmode.offloads;
    ret = rte_eth_tx_queue_setup(id_, q, tx_desc, static_cast<unsigned>(socket_), &txconf);
    if (ret != 0) {
      return fail(ret, Cat("rte_eth_tx_queue_setup(queue ", q, ", ", tx_desc, " descriptors)"));
    }
  }

  // Set even when it already has that value: a PMD that refuses says so here (mtu_settable).
  uint16_t current_mtu = 0;
  rte_eth_dev_get_mtu(id_, &current_mtu);
  {
    ret = rte_eth_dev_set_mtu(id_, plan_.mtu);
    if (ret == -ENOTSUP) {
      mtu_settable_ = false;
      notes_.push_back(Cat("MTU not settable on ", caps_.driver, " (device says ", current_mtu,
                           "); frames up to ", plan_.max_frame, " bytes are sent and received"));
    } else if (ret != 0) {
      return fail(ret, Cat("rte_eth_dev_set_mtu(", plan_.mtu, ")"));
    }
  }

  ret = rte_eth_dev_start(id_);
  if (ret != 0) return fail(ret, "rte_eth_dev_start");
  started_ = true;

  // Modes the PMD may not have: a note, not an error.
  ret = config_.promiscuous ? rte_eth_promiscuous_enable(id_) : rte_eth_promiscuous_disable(id_);
  if (ret != 0) {
    notes_.push_back(Cat("promiscuous ", config_.promiscuous ? "on" : "off",
                         " not applied: ", rte_strerror(-ret)));
  }
  if (config_.all_multicast) {
    ret = rte_eth_allmulticast_enable(id_);
    if (ret != 0) notes_.push_back(Cat("all-multicast not applied: ", rte_strerror(-ret)));
  }

  rte_ether_addr addr{};
  ret = rte_eth_macaddr_get(id_, &addr);
  if (ret != 0) return fail(ret, "rte_eth_macaddr_get");
  mac_ = wire::MacAddress::FromBytes(addr.addr_bytes);
  return absl::OkStatus();
}

absl::Status Port::Close() {
  if (!open_) return absl::OkStatus();
  open_ = false;
  if (netdev_query_fd_ >= 0) ::close(netdev_query_fd_);
  netdev_query_fd_ = -1;
  absl::Status result;
  const std::string context = Cat("port ", config_.spec.name, " (", id_, "): ");
  if (started_) {
    started_ = false;
    result = ReturnStatus(rte_eth_dev_stop(id_), context + "rte_eth_dev_stop");
  }
  absl::Status closed = ReturnStatus(rte_eth_dev_close(id_), context + "rte_eth_dev_close");
  if (result.ok()) result = closed;
  if (probed_here_ && device_ != nullptr) {
    // Detach what we attached, so the same vdev name can be probed again (tests, re-config).
    absl::Status removed = ReturnStatus(rte_dev_remove(device_), context + "rte_dev_remove");
    if (result.ok()) result = removed;
  }
  device_ = nullptr;
  return result;
}

Port::~Port() { Close().IgnoreError(); }

namespace {

// The kernel's view of a netdev: administratively up and running (carrier, RFC 2863 oper
// state). False when the netdev is gone or the query fails. `fd` is any AF_INET socket.
bool KernelNetdevUp(int fd, const std::string& netdev) {
  if (fd < 0 || netdev.empty() || netdev.size() >= IFNAMSIZ) return false;
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, netdev.data(), netdev.size());
  return ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP) != 0 &&
         (ifr.ifr_flags & IFF_RUNNING) != 0;
}

}  // namespace

LinkState Port::Link() const {
  rte_eth_link link{};
  LinkState s;
  if (rte_eth_link_get_nowait(id_, &link) != 0) return s;
  s.up = link.link_status == RTE_ETH_LINK_UP;
  // The AF_PACKET and AF_XDP PMDs of DPDK 22.11 report their link up whatever the netdev's
  // carrier: the kernel knows.
  if (s.up && (kind() == PortKind::kAfPacket || kind() == PortKind::kAfXdp)) {
    s.up = KernelNetdevUp(netdev_query_fd_, netdev_);
  }
  s.speed_mbps = link.link_speed == RTE_ETH_SPEED_NUM_UNKNOWN ? 0 : link.link_speed;
  s.full_duplex = link.link_duplex == RTE_ETH_LINK_FULL_DUPLEX;
  s.autoneg = link.link_autoneg == RTE_ETH_LINK_AUTONEG;
  return s;
}

absl::StatusOr<LinkState> Port::WaitForLink(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    LinkState s = Link();
    if (s.up) return s;
    if (std::chrono::steady_clock::now() >= deadline) {
      return absl::DeadlineExceededError(Cat("port ", config_.spec.name, ": link ", s.ToString(),
                                             " after ", timeout.count(), " ms"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

absl::StatusOr<PortStats> Port::Stats() const {
  rte_eth_stats st{};
  const int ret = rte_eth_stats_get(id_, &st);
  if (ret != 0) {
    return ReturnStatus(ret, Cat("port ", config_.spec.name, ": rte_eth_stats_get"));
  }
  PortStats s;
  s.rx_packets = st.ipackets;
  s.tx_packets = st.opackets;
  s.rx_bytes = st.ibytes;
  s.tx_bytes = st.obytes;
  s.rx_missed = st.imissed;
  s.rx_errors = st.ierrors;
  s.tx_errors = st.oerrors;
  s.rx_nombuf = st.rx_nombuf;
  const size_t rxq = std::min<size_t>(plan_.rx_queues, RTE_ETHDEV_QUEUE_STAT_CNTRS);
  const size_t txq = std::min<size_t>(plan_.tx_queues, RTE_ETHDEV_QUEUE_STAT_CNTRS);
  for (size_t q = 0; q < rxq; ++q) {
    s.rx_queues.push_back({st.q_ipackets[q], st.q_ibytes[q], st.q_errors[q]});
  }
  for (size_t q = 0; q < txq; ++q) s.tx_queues.push_back({st.q_opackets[q], st.q_obytes[q], 0});
  return s;
}

absl::Status Port::ResetStats() {
  absl::Status st = ReturnStatus(rte_eth_stats_reset(id_),
                                 Cat("port ", config_.spec.name, ": rte_eth_stats_reset"));
  if (!st.ok()) return st;
  const int ret = rte_eth_xstats_reset(id_);
  if (ret != 0 && ret != -ENOTSUP) {
    return ReturnStatus(ret, Cat("port ", config_.spec.name, ": rte_eth_xstats_reset"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Xstat>> Port::Xstats() const {
  const std::string context = Cat("port ", config_.spec.name, ": ");
  const int n = rte_eth_xstats_get_names(id_, nullptr, 0);
  if (n < 0) return ReturnStatus(n, context + "rte_eth_xstats_get_names");
  std::vector<rte_eth_xstat_name> names(static_cast<size_t>(n));
  std::vector<rte_eth_xstat> values(static_cast<size_t>(n));
  const int got_names = rte_eth_xstats_get_names(id_, names.data(), static_cast<unsigned>(n));
  if (got_names < 0) return ReturnStatus(got_names, context + "rte_eth_xstats_get_names");
  const int got = rte_eth_xstats_get(id_, values.data(), static_cast<unsigned>(n));
  if (got < 0) return ReturnStatus(got, context + "rte_eth_xstats_get");
  std::vector<Xstat> out;
  const size_t count =
      std::min({static_cast<size_t>(got), static_cast<size_t>(got_names), values.size()});
  for (size_t i = 0; i < count; ++i) {
    const uint64_t id = values[i].id;
    if (id < names.size()) out.push_back({names[id].name, values[i].value});
  }
  return out;
}

absl::StatusOr<uint64_t> Port::XstatByName(std::string_view name) const {
  const std::string key(name);
  uint64_t id = 0;
  if (rte_eth_xstats_get_id_by_name(id_, key.c_str(), &id) != 0) {
    return absl::NotFoundError(
        Cat("port ", config_.spec.name, ": no extended statistic \"", name, "\""));
  }
  uint64_t value = 0;
  const int ret = rte_eth_xstats_get_by_id(id_, &id, &value, 1);
  if (ret != 1) {
    return ReturnStatus(ret < 0 ? ret : -EIO,
                        Cat("port ", config_.spec.name, ": rte_eth_xstats_get_by_id(", name, ")"));
  }
  return value;
}

}  // namespace braid::io
