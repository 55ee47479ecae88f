// The seam between the net layer and the device layer (datapath/io/, the only code that calls
// DPDK): frames leave through a FrameSink, and per-frame offload metadata travels with them in
// both directions. Nothing here allocates or knows about mbufs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace braid::net {

// Ethernet's minimum frame without the FCS: every frame the stack emits is padded with zeros to
// at least this, so devices that do not pad (some virtual PMDs) never send a runt.
inline constexpr size_t kMinFrameLen = 60;

// What the device must finish on a frame. All false/zero: the frame is complete as it is.
struct TxOffload {
  // The TCP checksum field holds the pseudo-header sum (folded, NOT complemented: what DPDK's
  // rte_ipv4_phdr_cksum / rte_ipv6_phdr_cksum return), and the device completes the checksum over
  // the TCP header and payload. The io layer maps it to RTE_MBUF_F_TX_TCP_CKSUM with
  // RTE_MBUF_F_TX_IPV4 or _IPV6 and l2_len/l3_len. Set only on interfaces configured with
  // InterfaceConfig::tx_tcp_checksum_offload.
  bool tcp_checksum = false;
  bool ipv4 = false;   // the L3 header is IPv4 (else IPv6); meaningful with tcp_checksum
  uint8_t l2_len = 0;  // Ethernet header, 802.1Q tag included
  uint8_t l3_len = 0;  // IP header
  uint8_t l4_len = 0;  // TCP header with options (for TSO later)
  friend bool operator==(const TxOffload&, const TxOffload&) = default;
};

// What the device already did on a received frame. All false: the stack verifies everything.
struct RxOffload {
  // RTE_MBUF_F_RX_IP_CKSUM_GOOD: the IPv4 header checksum was verified by the device.
  bool ipv4_checksum_good = false;
  // RTE_MBUF_F_RX_L4_CKSUM_GOOD: the TCP checksum was verified by the device.
  bool l4_checksum_good = false;
  // RTE_MBUF_F_RX_VLAN_STRIPPED: the device removed an 802.1Q tag; its TCI is `vlan_tci`.
  bool vlan_stripped = false;
  uint16_t vlan_tci = 0;
};

// Where the stack's frames go. Implemented by the io layer (a TX burst per port, flushed once per
// loop iteration by the runtime), by the simulator and by tests.
class FrameSink {
 public:
  virtual ~FrameSink() = default;
  // One complete Ethernet frame (no FCS, at least kMinFrameLen bytes) for `port`. `frame` is
  // valid only during the call (it is the stack's scratch buffer or a neighbour-queue slot):
  // copy it into an mbuf, or append it to a burst, before returning. Must not call back into the
  // stack. A sink that cannot take the frame (no mbuf, ring full) drops and counts it itself.
  virtual void TransmitFrame(uint16_t port, std::span<const uint8_t> frame,
                             const TxOffload& offload) = 0;
};

}  // namespace braid::net
