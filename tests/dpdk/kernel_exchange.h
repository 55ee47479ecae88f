// Frames both ways between a DPDK port on one end of a veth pair and the kernel on the other
// (a raw AF_PACKET socket in the peer namespace): the shared body of the af_packet and af_xdp
// tests.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "tests/dpdk/netns.h"

namespace braid::io::testing {

struct ExchangeResult {
  // Open failed: the PMD's error (the caller decides whether that is a skip or a failure).
  absl::Status open_status;
  std::string capabilities;
  std::string offloads;
  std::string link;
  int sent_by_dpdk = 0;             // test frames the TX queue accepted
  int seen_by_kernel = 0;           // of them, received intact by the peer's raw socket
  bool tcp_checksum_valid = false;  // the TCP frame (checksum offload asked) arrived valid
  int sent_by_kernel = 0;
  int received_by_dpdk = 0;      // of them, received intact by the DPDK RX queue
  uint64_t port_tx_packets = 0;  // rte_eth_stats
  uint64_t port_rx_packets = 0;
  bool mbufs_all_back = false;  // pool full again after the port closed
  int64_t mbufs_missing = 0;    // how many are not
};

inline constexpr int kExchangeFrames = 16;

// Opens `spec` (a vdev on veth.dp_if()) inside the dp namespace, sends kExchangeFrames test frames
// and one TCP segment to the peer, has the peer send kExchangeFrames back, then closes the port.
ExchangeResult ExchangeWithKernel(VethPair& veth, const std::string& spec);

}  // namespace braid::io::testing
