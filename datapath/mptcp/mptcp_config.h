// Settings of the MPTCP layer of one worker (the kernel's net.mptcp.* sysctls and `ip mptcp`
// state), with Linux's defaults unless a comment says otherwise. The agent's YAML maps onto it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "datapath/mptcp/path_manager/path_manager.h"
#include "datapath/tcp/time.h"

namespace braid::mptcp {

// What one group of connections gets in place of the worker's MptcpConfig defaults: a pod's
// options or an endpoint's (architecture.md §7; proto/braid/v1 MptcpOptions). Every other
// MptcpConfig field stays the worker's.
struct ConnectionPolicy {
  // Who asked for it (an endpoint's name); MptcpInfo::policy_name shows it per connection.
  std::string name;
  std::string scheduler = "default";
  PathManagerConfig path_manager;
  bool checksum = false;  // ask for DSS checksums (RFC 8684 §3.3.1)
  // MptcpConfig::own_addresses_only.
  bool own_addresses_only = false;
};

struct MptcpConfig {
  // net.mptcp.enabled: off, Connect and Listen make plain TCP connections (that still answer the
  // socket API as MPTCP sockets in fallback, as the kernel's do).
  bool enabled = true;
  // net.mptcp.checksum_enabled: ask for DSS checksums (RFC 8684 §3.3.1). Either side asking is
  // enough: both then checksum.
  bool checksum = false;
  // net.mptcp.allow_join_initial_addr_port: when false, our MP_CAPABLE sets flag C (the peer must
  // not join our initial address and port).
  bool allow_join_initial_addr_port = true;
  std::string scheduler = "default";
  PathManagerConfig path_manager;
  // Subflows leave only from the connection's own addresses: its initial subflow's and its
  // endpoints'. A subflow the path manager leaves to the route (joining an address the peer
  // announced) takes the one of those on the route's path, or is not opened. A pod's
  // connections must not use another pod's (or the node's) address on a path.
  bool own_addresses_only = false;
  // The ConnectionPolicy's name the connection was made with; empty: the worker's defaults.
  std::string policy_name;

  // Data-level buffers of one connection (the MPTCP socket's sndbuf/rcvbuf): bytes the app queued
  // and the peer has not DATA_ACKed; bytes received and not yet read, plus those held out of order
  // across subflows.
  uint32_t send_buffer = 4 << 20;
  uint32_t receive_buffer = 6 << 20;
  // Mappings one subflow keeps per direction (each describes up to 64 KiB). Small writes make
  // small mappings; when the table is full the subflow takes no new data until it drains.
  uint32_t max_mappings = 4096;
  // A subflow is stale after this many retransmission timeouts without progress while it holds
  // data: its unacknowledged data is reinjected on the others and the scheduler avoids it
  // (the kernel: net.mptcp.stale_loss_cnt, 4; Braid reacts at the first RTO by default, which is
  // RFC 8684 §3.3.6's suggestion).
  uint32_t stale_rto_count = 1;
  // A subflow stale for this long (no progress at all) while another one works is reset
  // (MP_TCPRST "unacceptable performance") so that the path manager opens it again once the path
  // is back, rather than waiting for TCP's own give-up (minutes). Duration 0: never.
  tcp::Duration stale_close_after = std::chrono::seconds(2);
  // SYN retransmissions of an MP_JOIN (the connection already works on another path: a join to
  // a dead path should fail in seconds, and the path manager retries it).
  uint32_t join_syn_retries = 2;
  // Head-of-line reinjection (opportunistic retransmission, Raiciu et al., NSDI 2012): when the
  // oldest unacknowledged data-level byte sits on a subflow that made no progress for
  // max(hol_min, 2·SRTT + 4·RTTVAR) while another subflow is usable, its mapping is sent again on
  // another subflow at once instead of waiting for that subflow's RTO. Costs at most one chunk
  // per head; Duration 0 switches it off.
  tcp::Duration hol_min = std::chrono::milliseconds(30);
  // A DATA_ACK that advanced and rode on no segment within this time goes out on a pure ACK.
  tcp::Duration data_ack_delay = std::chrono::milliseconds(1);
  // Data-level retransmission timer bounds (the kernel's MPTCP-level RTO): data no DATA_ACK covered
  // for this long is sent again on the best subflow.
  tcp::Duration min_data_rto = std::chrono::milliseconds(200);
  tcp::Duration max_data_rto = std::chrono::seconds(60);
  // An MP_JOIN third ACK not acknowledged by the peer within this time (doubled each try) is sent
  // again (RFC 8684 §3.2: the subflow is usable only after the peer's ACK).
  tcp::Duration join_ack_timeout = std::chrono::milliseconds(200);
  uint32_t join_ack_retries = 5;
  // Passive MPTCP handshakes that never complete are forgotten after this long.
  tcp::Duration handshake_timeout = std::chrono::seconds(120);
  // ... and passive MP_JOINs (they count against the path manager's limit meanwhile).
  tcp::Duration join_handshake_timeout = std::chrono::seconds(10);
};

}  // namespace braid::mptcp
