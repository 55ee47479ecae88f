// The in-process stream socket API, in two layers:
//  - SocketApi: what an application inside the datapath uses (the built-in test apps, later the
//    app channel): listen, connect, send, receive, shut down, close, with events delivered to a
//    handler per socket. Plain TCP (runtime::TcpSockets) and MPTCP (mptcp::MptcpSockets) both
//    offer it, so an app runs on either unchanged — as an app on Linux opens IPPROTO_MPTCP
//    instead of IPPROTO_TCP and changes nothing else.
//  - SubflowSocketApi: what MPTCP needs from the TCP below it, on top of SocketApi: connections
//    and listeners with TcpHooks/ListenHooks (adapter.h), a pure ACK on demand, the cheap send
//    state the scheduler reads, and retransmission timeouts. MPTCP reaches TCP only through this
//    and adapter.h (architecture.md §2).
//
// Handles are {index, generation} pairs (adapter.h's ConnectionId): valid from Connect (or
// OnAccepted) until OnClosed returns; every call with a stale handle fails cleanly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "datapath/tcp/adapter.h"
#include "datapath/tcp/flow.h"
#include "datapath/tcp/tcp_config.h"
#include "datapath/tcp/tcp_info.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/address.h"

namespace braid::tcp {

using SocketId = ConnectionId;

// Why a connection ended abnormally (OnError). The names are what the test apps report.
enum class SocketError : uint8_t {
  kRefused,  // RST in answer to our SYN (RFC 9293 §3.10.7.3)
  kReset,    // RST from the peer on an established connection (MPTCP: or MP_FASTCLOSE)
  kTimeout,  // retransmissions, SYN retries or keepalives exhausted
  kAborted,  // we reset it (Abort, or Close with unread data)
};
std::string_view SocketErrorName(SocketError error);

// Events for one socket or listener. Every method has an empty default so an app overrides only
// what it needs. Called from the API's dispatch, on the worker's thread; handlers may call the API.
class SocketHandler {
 public:
  virtual ~SocketHandler() = default;
  // Active open completed.
  virtual void OnConnected(SocketId /*socket*/) {}
  // On the listener's handler: a passive connection is established. The socket inherits the
  // listener's handler unless SetHandler changes it.
  virtual void OnAccepted(ListenerId /*listener*/, SocketId /*socket*/) {}
  // In-order bytes are waiting for Receive (`available` of them).
  virtual void OnReadable(SocketId /*socket*/, size_t /*available*/) {}
  // Send-buffer space is back after a Send that took less than offered.
  virtual void OnWritable(SocketId /*socket*/) {}
  // The peer acknowledged `bytes` more of what we sent.
  virtual void OnAcked(SocketId /*socket*/, uint64_t /*bytes*/) {}
  // The retransmission timer fired (`count` consecutive times without progress).
  virtual void OnRetransmitTimeout(SocketId /*socket*/, uint32_t /*count*/) {}
  // The peer's FIN: once the readable bytes are read, Receive returns fin = true.
  virtual void OnPeerFin(SocketId /*socket*/) {}
  // The connection failed; OnClosed follows.
  virtual void OnError(SocketId /*socket*/, SocketError /*error*/) {}
  // The connection is gone; the id is invalid after this returns.
  virtual void OnClosed(SocketId /*socket*/) {}
};

class SocketApi {
 public:
  virtual ~SocketApi() = default;

  // Listens on `port` (every local address, or `local` only). `handler` must outlive the
  // listener. Errors: AlreadyExists (port taken), InvalidArgument, ResourceExhausted.
  virtual absl::StatusOr<ListenerId> Listen(uint16_t port, const TcpConfig& config,
                                            SocketHandler* handler,
                                            const std::optional<wire::IpAddress>& local) = 0;
  virtual absl::Status StopListening(ListenerId listener) = 0;
  // Opens a connection to remote:port from `bind` (nullopt: the route's source address).
  // Errors name the destination: Unavailable (no route), ResourceExhausted (no port, table
  // full), InvalidArgument (bad config or source).
  virtual absl::StatusOr<SocketId> Connect(const wire::IpAddress& remote, uint16_t port,
                                           const TcpConfig& config, SocketHandler* handler,
                                           Instant now,
                                           const std::optional<wire::IpAddress>& bind) = 0;

  // Takes what fits in the send buffer (0 when full: OnWritable follows).
  virtual size_t Send(SocketId socket, std::span<const uint8_t> bytes, Instant now) = 0;
  virtual ReceiveResult Receive(SocketId socket, std::span<uint8_t> out, Instant now) = 0;
  // Half close (FIN after queued data), reset, and release of the handle.
  virtual absl::Status Shutdown(SocketId socket, Instant now) = 0;
  virtual absl::Status Abort(SocketId socket, Instant now) = 0;
  virtual absl::Status Close(SocketId socket, Instant now) = 0;
  virtual absl::Status SetHandler(SocketId socket, SocketHandler* handler) = 0;
  // TCP_NODELAY and SO_KEEPALIVE on an open connection, as setsockopt after connect/accept (for
  // MPTCP: every subflow, and the ones opened later). Errors: NotFound.
  virtual absl::Status SetNoDelay(SocketId socket, bool on) = 0;
  virtual absl::Status SetKeepalive(SocketId socket, bool on) = 0;

  // The connection's addresses and TCP state (for MPTCP: its first subflow's).
  virtual std::optional<FlowKey> Flow(SocketId socket) const = 0;
  virtual std::optional<TcpInfo> Info(SocketId socket) const = 0;
  // The latest time the API was given: handlers, called without one, pass it on.
  virtual Instant now() const = 0;
};

class SubflowSocketApi : public SocketApi {
 public:
  // Connect / Listen with the upper layer's hooks on every segment (adapter.h).
  virtual absl::StatusOr<SocketId> ConnectWithHooks(const wire::IpAddress& remote, uint16_t port,
                                                    const TcpConfig& config, SocketHandler* handler,
                                                    Instant now,
                                                    const std::optional<wire::IpAddress>& bind,
                                                    TcpHooks* hooks) = 0;
  virtual absl::StatusOr<ListenerId> ListenWithHooks(uint16_t port, const TcpConfig& config,
                                                     SocketHandler* handler,
                                                     const std::optional<wire::IpAddress>& local,
                                                     ListenHooks* hooks) = 0;
  // TcpBackend::SendAck.
  virtual absl::Status SendAck(SocketId socket, Instant now) = 0;
  virtual std::optional<SendState> GetSendState(SocketId socket) const = 0;
  // Delivers queued TCP events to their handlers; returns how many.
  virtual size_t Dispatch(Instant now) = 0;
  // Whether `local` is an address of this stack, and whether its path is up.
  virtual bool IsLocalAddress(const wire::IpAddress& local) const = 0;
  virtual bool PathUp(const wire::IpAddress& local) const = 0;
  // Of `candidates`, the one on the path the route to `remote` leaves by (of its family);
  // nullopt when none is. A pod's subflows may leave only from the pod's own addresses.
  virtual std::optional<wire::IpAddress> SourceAmong(
      const wire::IpAddress& remote, std::span<const wire::IpAddress> candidates) const = 0;
};

}  // namespace braid::tcp
