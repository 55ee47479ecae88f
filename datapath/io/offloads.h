// What a port can do (DeviceCapabilities, read from the PMD), what we ask of it (PortRequest), and
// what is in force once it is configured (PortPlan, OffloadsInForce): the offloads that exist are
// enabled, the others are flagged so the net layer does the work in software. Pure: no DPDK,
// unit-tested; port.cc fills DeviceCapabilities from rte_eth_dev_info and applies the plan.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace braid::io {

struct DeviceCapabilities {
  std::string driver;  // "net_af_packet", "mlx5_pci", ...
  uint16_t max_rx_queues = 1;
  uint16_t max_tx_queues = 1;
  uint16_t rx_desc_min = 0, rx_desc_max = 0xffff, rx_desc_align = 1;
  uint16_t tx_desc_min = 0, tx_desc_max = 0xffff, tx_desc_align = 1;
  uint16_t min_mtu = 68;
  uint16_t max_mtu = 1500;
  uint32_t max_rx_pktlen = 1518;
  uint32_t min_rx_bufsize = 0;

  bool rx_ipv4_checksum = false;  // RTE_ETH_RX_OFFLOAD_IPV4_CKSUM
  bool rx_tcp_checksum = false;   // RTE_ETH_RX_OFFLOAD_TCP_CKSUM
  bool rx_vlan_strip = false;
  bool rx_scatter = false;   // frames longer than one mbuf arrive chained
  bool rx_rss_hash = false;  // the RSS hash is delivered in the mbuf
  bool tx_ipv4_checksum = false;
  bool tx_tcp_checksum = false;
  bool tx_tcp_tso = false;
  bool tx_multi_segs = false;
  bool tx_mbuf_fast_free = false;

  uint64_t rss_flow_types = 0;  // RTE_ETH_RSS_* the port hashes on; 0: no RSS
  uint16_t reta_size = 0;
  uint8_t rss_key_size = 0;
  uint32_t speed_capa = 0;  // RTE_ETH_LINK_SPEED_* bitmap

  bool rss() const { return rss_flow_types != 0; }
  // One line: "net_tap: 16/16 queues, mtu 46..65535, rx[ipv4_cksum tcp_cksum] tx[...] rss".
  std::string Summary() const;
};

// What we would like; PlanPort keeps what the device has.
struct OffloadRequest {
  bool rx_checksum = true;
  bool tx_checksum = true;
  bool tso = true;  // enabled if present; the net layer uses it only when it builds TSO frames
  bool rss = true;  // hash RX across queues when there is more than one
  bool vlan_strip = false;
  bool tx_multi_segs = true;
  bool mbuf_fast_free = false;  // only when every TX mbuf of a queue comes from one pool, refcnt 1
};

// The offloads in force on a port. Each false member is work the net layer does in software:
// rx checksums -> verify (net::RxOffload stays false), tx_tcp_checksum -> compute (leave
// net::InterfaceConfig::tx_tcp_checksum_offload false), tso -> segment to the MSS itself.
struct OffloadsInForce {
  bool rx_ipv4_checksum = false;
  bool rx_tcp_checksum = false;
  bool rx_vlan_strip = false;
  bool rx_scatter = false;
  bool rss = false;
  bool tx_ipv4_checksum = false;
  bool tx_tcp_checksum = false;
  bool tso = false;
  bool tx_multi_segs = false;
  bool mbuf_fast_free = false;

  bool software_rx_checksum() const { return !(rx_ipv4_checksum && rx_tcp_checksum); }
  bool software_tx_checksum() const { return !tx_tcp_checksum; }
  bool software_segmentation() const { return !tso; }
  // "rx[ipv4_cksum tcp_cksum] tx[tcp_cksum tso multi_segs] rss; software: ..."
  std::string Summary() const;
  friend bool operator==(const OffloadsInForce&, const OffloadsInForce&) = default;
};

struct PortRequest {
  uint16_t rx_queues = 1;
  uint16_t tx_queues = 1;
  uint16_t rx_desc = 1024;
  uint16_t tx_desc = 1024;
  uint16_t mtu = 1500;  // IP MTU
  // Bytes of packet data one RX mbuf holds (data room minus headroom).
  uint32_t rx_buffer_size = 2048;
  OffloadRequest offloads;
};

struct PortPlan {
  uint16_t rx_queues = 1;
  uint16_t tx_queues = 1;
  uint16_t rx_desc = 0;  // clamped to the device's limits and alignment
  uint16_t tx_desc = 0;
  uint16_t mtu = 1500;
  uint32_t max_frame = 0;  // mtu + Ethernet header + one VLAN tag
  OffloadsInForce offloads;
  std::vector<std::string> notes;  // decisions worth a log line ("no RSS: ...")
};

// Largest frame for an IP MTU: Ethernet header (14) and one 802.1Q tag (4), no FCS.
inline constexpr uint32_t MaxFrameForMtu(uint16_t mtu) { return uint32_t{mtu} + 14 + 4; }

// Descriptor count clamped into [min, max] and rounded up to `align` (what
// rte_eth_dev_adjust_nb_rx_tx_desc does; here so the plan is testable).
uint16_t ClampDescriptors(uint16_t wanted, uint16_t min, uint16_t max, uint16_t align);

// InvalidArgument when the device cannot do it: zero queues or more than it has (the message says
// how to get more for af_packet/af_xdp), an MTU outside [min_mtu, max_mtu], or frames of that MTU
// larger than one RX buffer on a device that cannot scatter.
absl::StatusOr<PortPlan> PlanPort(const DeviceCapabilities& caps, const PortRequest& request);

// Software fallback for net::TxOffload::tcp_checksum on a port without the offload: the TCP
// checksum field holds the folded, uncomplemented pseudo-header sum (the offload contract), so
// summing the TCP header and payload including that field and complementing gives the checksum.
// `frame` is the whole frame; the TCP header starts at l2_len + l3_len. False (nothing written)
// when the frame is too short for that.
bool FinishTcpChecksum(std::span<uint8_t> frame, size_t l2_len, size_t l3_len);
// The value FinishTcpChecksum would write, computed from a read-only frame (for frames copied
// into chained mbufs). False when the frame is too short.
bool TcpChecksumValue(std::span<const uint8_t> frame, size_t l2_len, size_t l3_len,
                      uint16_t* value);
inline constexpr size_t kTcpChecksumOffset = 16;  // RFC 9293 §3.1: in the TCP header

}  // namespace braid::io
