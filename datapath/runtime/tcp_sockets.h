// The in-process socket API for plain TCP inside the datapath: listen, accept, connect, send,
// receive, shut down, close, with events delivered to a handler per socket. It is how the
// built-in test applications (datapath/testapp) and, later, the app channel reach TCP, and it
// is what a worker owns next to its NetStack and TCP engine (one instance per worker: shared
// nothing, architecture.md §5).
//
// What it adds to the TCP adaptation layer (tcp/adapter.h):
//  - addressing: Connect picks the source address and the path from the routes (source-based when
//    the caller binds an address), the local port from the worker's ephemeral slice (RFC 6056
//    Algorithm 4, net/port_allocator.h), and the MSS from the path's MTU (it replaces
//    TcpConfig::mss, so a 9000-byte path gets jumbo segments);
//  - event dispatch: the engine's queued TcpEvents become calls on the handler of the socket or
//    listener they concern (Dispatch); handlers may call back into this API freely, since events
//    are drained from a queue, never delivered from inside the engine;
//  - path MTU: ICMP "fragmentation needed" / "packet too big" from the net layer are counted and
//    logged per connection (the engine does not yet lower its MSS from them).
//
// A SocketId is the engine's ConnectionId: valid from Connect (or OnAccepted) until OnClosed
// returns; every call with a stale id fails cleanly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "datapath/net/net_stack.h"
#include "datapath/net/port_allocator.h"
#include "datapath/tcp/adapter.h"
#include "datapath/tcp/flow.h"
#include "datapath/tcp/socket_api.h"
#include "datapath/tcp/tcp_config.h"
#include "datapath/tcp/tcp_info.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/address.h"

namespace braid::runtime {

using SocketId = tcp::SocketId;
using ListenerId = tcp::ListenerId;
using SocketError = tcp::SocketError;
using SocketHandler = tcp::SocketHandler;
using tcp::SocketErrorName;

struct TcpSocketsConfig {
  // The worker's ephemeral port slice (steering sends replies to these ports to this worker).
  net::EphemeralPortConfig ephemeral;
  // Most live connections this instance tracks handlers for (the engine's table size).
  uint32_t max_sockets = 65536;
};

struct TcpSocketsCounters {
  uint64_t connects = 0;          // Connect calls that sent a SYN
  uint64_t connect_failures = 0;  // Connect calls refused before a SYN (no route, no port...)
  uint64_t accepted = 0;
  uint64_t closed = 0;
  uint64_t errors = 0;            // OnError calls
  uint64_t pmtu_events = 0;       // ICMP fragmentation-needed / packet-too-big for our flows
  uint64_t icmp_errors = 0;       // other ICMP errors quoting our flows
  uint64_t events_unclaimed = 0;  // engine events for a socket with no handler (none expected)
};

class TcpSockets final : public tcp::SubflowSocketApi {
 public:
  TcpSockets(const TcpSocketsConfig& config, tcp::TcpBackend& tcp, net::NetStack& net);
  TcpSockets(const TcpSockets&) = delete;
  TcpSockets& operator=(const TcpSockets&) = delete;

  // Listens on `port` (every local address, or `local` only). The MSS announced is that of the
  // smallest MTU among the interfaces (or of `local`'s interface). `handler` must outlive the
  // listener. Errors: AlreadyExists (port taken), InvalidArgument (bad config, unknown address),
  // ResourceExhausted.
  absl::StatusOr<ListenerId> Listen(
      uint16_t port, const tcp::TcpConfig& config, SocketHandler* handler,
      const std::optional<wire::IpAddress>& local = std::nullopt) override;
  absl::Status StopListening(ListenerId listener) override;

  // Opens a connection to remote:port; the SYN leaves now (or when the next hop is resolved).
  // `bind`: the source address (its path is used); nullopt: chosen by route. Errors name the
  // destination: Unavailable (no route), ResourceExhausted (no free port, table full; a port
  // whose 4-tuple is in TIME-WAIT is skipped), InvalidArgument (bad config, `bind` not local or
  // of the other family).
  absl::StatusOr<SocketId> Connect(
      const wire::IpAddress& remote, uint16_t port, const tcp::TcpConfig& config,
      SocketHandler* handler, tcp::Instant now,
      const std::optional<wire::IpAddress>& bind = std::nullopt) override;

  // Data. Send takes what fits in the send buffer (0 when full: OnWritable follows).
  size_t Send(SocketId socket, std::span<const uint8_t> bytes, tcp::Instant now) override;
  tcp::ReceiveResult Receive(SocketId socket, std::span<uint8_t> out, tcp::Instant now) override;
  // Half close (FIN after queued data), reset, and release of the handle.
  absl::Status Shutdown(SocketId socket, tcp::Instant now) override;
  absl::Status Abort(SocketId socket, tcp::Instant now) override;
  absl::Status SetNoDelay(SocketId socket, bool on) override;
  absl::Status SetKeepalive(SocketId socket, bool on) override;
  absl::Status Close(SocketId socket, tcp::Instant now) override;

  absl::Status SetHandler(SocketId socket, SocketHandler* handler) override;
  std::optional<tcp::TcpInfo> Info(SocketId socket) const override { return tcp_.Info(socket); }
  std::optional<tcp::FlowKey> Flow(SocketId socket) const override { return tcp_.Flow(socket); }

  // For MPTCP (tcp::SubflowSocketApi).
  absl::StatusOr<SocketId> ConnectWithHooks(const wire::IpAddress& remote, uint16_t port,
                                            const tcp::TcpConfig& config, SocketHandler* handler,
                                            tcp::Instant now,
                                            const std::optional<wire::IpAddress>& bind,
                                            tcp::TcpHooks* hooks) override;
  absl::StatusOr<ListenerId> ListenWithHooks(uint16_t port, const tcp::TcpConfig& config,
                                             SocketHandler* handler,
                                             const std::optional<wire::IpAddress>& local,
                                             tcp::ListenHooks* hooks) override;
  absl::Status SendAck(SocketId socket, tcp::Instant now) override;
  std::optional<tcp::SendState> GetSendState(SocketId socket) const override {
    return tcp_.GetSendState(socket);
  }
  std::optional<wire::IpAddress> SourceAmong(
      const wire::IpAddress& remote, std::span<const wire::IpAddress> candidates) const override;
  bool IsLocalAddress(const wire::IpAddress& local) const override {
    return net_.InterfaceOf(local).has_value();
  }
  bool PathUp(const wire::IpAddress& local) const override;

  // Delivers every queued engine event and ICMP event to its handler; handlers may call this API
  // (events they cause are delivered in the same call). Returns the number of events delivered.
  size_t Dispatch(tcp::Instant now) override;

  // The latest time this API was given (Dispatch or any call taking `now`): handlers, which are
  // called without one, pass it to the calls they make.
  tcp::Instant now() const override { return now_; }
  size_t open_sockets() const { return open_; }
  const TcpSocketsCounters& counters() const { return counters_; }
  const net::EphemeralPortAllocator& ports() const { return ports_; }

 private:
  struct Entry {
    uint32_t generation = 0;
    SocketHandler* handler = nullptr;
    bool live = false;
    bool reserved_port = false;  // an ephemeral 4-tuple to release at close
    tcp::FlowKey flow;
  };
  struct ListenEntry {
    uint32_t index = 0;
    SocketHandler* handler = nullptr;
  };

  void SetNow(tcp::Instant now) {
    if (now > now_) now_ = now;
    net_.SetNow(now);
  }
  Entry* Find(SocketId socket);
  SocketHandler* ListenerHandler(ListenerId listener) const;
  void Track(SocketId socket, SocketHandler* handler, const tcp::FlowKey& flow, bool reserved);
  void Deliver(const tcp::TcpEvent& event);
  void DeliverIcmp(const net::IcmpEvent& event);
  // MSS for a path MTU: MTU minus the IPv4 and TCP headers (the engine takes 20 more for IPv6).
  static uint16_t MssFor(uint16_t mtu);

  tcp::TcpBackend& tcp_;
  net::NetStack& net_;
  net::EphemeralPortAllocator ports_;
  std::vector<Entry> entries_;  // by ConnectionId::index
  std::vector<ListenEntry> listeners_;
  size_t open_ = 0;
  tcp::Instant now_{};
  TcpSocketsCounters counters_;
};

// "192.0.2.1:80" / "[2001:db8::1]:80".
std::string FormatEndpoint(const wire::IpAddress& address, uint16_t port);

}  // namespace braid::runtime
