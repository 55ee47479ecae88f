// Settings of one TCP connection (or listener). Every default is what Linux does out of the box
// unless the comment says otherwise; the agent's YAML config (later) maps onto these fields.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "datapath/tcp/coupled_group.h"
#include "datapath/tcp/rtt_estimator.h"
#include "datapath/tcp/time.h"

namespace braid::tcp {

struct TcpConfig {
  // --- Segment size and options (RFC 9293 §3.7.1, RFC 7323, RFC 2018) ---
  // MSS we announce: path MTU minus IP and TCP headers (1460 for IPv4 on a 1500-byte MTU; the
  // connection subtracts 20 more for IPv6).
  uint16_t mss = 1460;
  // MSS assumed when the peer's SYN carries none (RFC 9293 §3.7.1: 536 for IPv4, 1220 for IPv6).
  uint16_t default_peer_mss_v4 = 536;
  uint16_t default_peer_mss_v6 = 1220;
  bool window_scaling = true;  // net.ipv4.tcp_window_scaling
  bool timestamps = true;      // net.ipv4.tcp_timestamps
  bool sack = true;            // net.ipv4.tcp_sack

  // --- Buffers ---
  // Send buffer (bytes the app may queue, sent or not) and receive buffer (in-order bytes not yet
  // read plus out-of-order bytes held). Bounded: these are the connection's whole memory.
  uint32_t send_buffer = 4 << 20;
  uint32_t receive_buffer = 6 << 20;
  // Receive-window auto-tuning (Linux's tcp_rcv_space_adjust / DRS): the advertised window grows
  // with the measured delivery rate up to receive_buffer; starts at initial_receive_window.
  bool receive_buffer_autotune = true;
  uint32_t initial_receive_window = 65535;

  // --- Congestion control and loss recovery ---
  std::string congestion_control = "cubic";
  // Set by MPTCP per connection, shared by its subflows, for the coupled algorithms ("lia",
  // "olia"); ignored by uncoupled algorithms.
  std::shared_ptr<CoupledGroup> coupling;
  uint32_t initial_window_segments = 10;  // RFC 6928
  bool rack_tlp = true;                   // RFC 8985 (Linux default)
  RttEstimatorConfig rtt;                 // RFC 6298: min/max/initial RTO

  // --- ACKs ---
  Duration delayed_ack_timeout = std::chrono::milliseconds(40);  // Linux's TCP_DELACK_MIN
  uint32_t delayed_ack_segments = 2;  // RFC 5681 §4.2: ACK at least every second full segment
  // Quick ACK mode after the handshake and after out-of-order data (Linux's quickack).
  uint32_t quickack_segments = 16;

  // --- Sending ---
  bool nagle = true;  // RFC 9293 §3.7.4; TCP_NODELAY turns it off

  // --- Timers ---
  uint32_t syn_retries = 6;       // net.ipv4.tcp_syn_retries
  uint32_t synack_retries = 5;    // net.ipv4.tcp_synack_retries
  uint32_t max_retransmits = 15;  // net.ipv4.tcp_retries2: give up after this many RTOs
  Duration time_wait = std::chrono::seconds(60);          // 2·MSL as Linux uses it
  Duration fin_wait2_timeout = std::chrono::seconds(60);  // net.ipv4.tcp_fin_timeout
  // Zero-window probes back off like the RTO, up to max_rto (RFC 9293 §3.8.6.1).
  bool keepalive = false;                           // SO_KEEPALIVE
  Duration keepalive_idle = std::chrono::hours(2);  // RFC 9293 §3.8.4 / tcp_keepalive_time
  Duration keepalive_interval = std::chrono::seconds(75);
  uint32_t keepalive_probes = 9;

  // --- Listening ---
  uint32_t syn_backlog = 1024;     // half-open connections before SYN cookies (tcp_max_syn_backlog)
  uint32_t accept_backlog = 4096;  // established, not yet accepted (somaxconn)
  bool syn_cookies = true;         // net.ipv4.tcp_syncookies = 1: only under backlog pressure
};

}  // namespace braid::tcp
