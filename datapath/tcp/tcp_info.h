// A snapshot of one connection's state, the counterpart of Linux's struct tcp_info: what braidctl
// shows per subflow, what MPTCP's scheduler and path manager read (RTT, cwnd, in flight), and what
// tests assert on. Plain values; taking one costs a copy.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "datapath/tcp/time.h"
#include "datapath/wire/seq.h"

namespace braid::tcp {

// RFC 9293 §3.3.2 states, printed with their RFC names ("SYN-SENT").
enum class TcpState : uint8_t {
  kClosed,
  kListen,
  kSynSent,
  kSynReceived,
  kEstablished,
  kFinWait1,
  kFinWait2,
  kCloseWait,
  kClosing,
  kLastAck,
  kTimeWait,
};
std::string_view TcpStateName(TcpState state);

// The sender's loss-recovery state (Linux's ca_state).
enum class CaState : uint8_t { kOpen, kDisorder, kRecovery, kLoss };
std::string_view CaStateName(CaState state);

enum class TcpCounter : uint8_t {
#define BRAID_TCP_COUNTER(name, metric, help) name,
#include "datapath/tcp/tcp_mib.def"
#undef BRAID_TCP_COUNTER
  kCount,
};
inline constexpr size_t kTcpCounterCount = static_cast<size_t>(TcpCounter::kCount);
std::string_view TcpCounterName(TcpCounter counter);  // the metric name
std::string_view TcpCounterHelp(TcpCounter counter);

struct TcpCounters {
  std::array<uint64_t, kTcpCounterCount> values{};
  uint64_t operator[](TcpCounter c) const { return values[static_cast<size_t>(c)]; }
  uint64_t& operator[](TcpCounter c) { return values[static_cast<size_t>(c)]; }
  void Add(TcpCounter c, uint64_t n = 1) { values[static_cast<size_t>(c)] += n; }
};

struct TcpInfo {
  TcpState state = TcpState::kClosed;
  CaState ca_state = CaState::kOpen;
  std::string_view congestion_control;

  // Sequence space (RFC 9293 names).
  wire::TcpSeq iss, irs, snd_una, snd_nxt, rcv_nxt;
  uint32_t snd_wnd = 0;  // peer's window, scaled
  uint32_t rcv_wnd = 0;  // our advertised window, scaled
  uint8_t snd_wscale = 0, rcv_wscale = 0;
  bool sack_enabled = false, timestamps_enabled = false;

  uint32_t snd_mss = 0;  // effective MSS for our segments
  uint32_t rcv_mss = 0;  // largest segment seen from the peer

  // Congestion control and RTT.
  uint64_t cwnd = 0;             // bytes
  uint64_t ssthresh = 0;         // bytes
  uint64_t bytes_in_flight = 0;  // pipe (RFC 6675) or FlightSize
  Duration srtt{}, rttvar{}, min_rtt{}, rto{};
  uint32_t backoff = 0;  // consecutive RTOs
  uint64_t delivery_rate_bps = 0;

  // Buffers.
  uint32_t send_queue = 0;     // bytes queued, not yet acknowledged
  uint32_t unsent = 0;         // of which never sent
  uint32_t receive_queue = 0;  // in-order bytes waiting for Receive()
  uint32_t out_of_order = 0;   // bytes held out of order

  // An ICMP soft error (unreachable, time exceeded, parameter problem) quoting this connection
  // arrived and no acceptable ACK came since (Linux's sk_err_soft). A kTimeout reset with it set
  // is what RFC 1122 §4.2.3.9 asks to report: the path said why the peer went silent.
  bool soft_error = false;

  TcpCounters counters;
};

}  // namespace braid::tcp
