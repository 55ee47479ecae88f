// The socket API on a simulated host; see sim_sockets.h.
#include "datapath/sim/sim_sockets.h"

#include <algorithm>
#include <string>

namespace braid::sim {
namespace {

// "10.0.0.2:5001" / "[2001:db8::2]:5001", for error messages.
std::string AddressPort(const wire::IpAddress& address, uint16_t port) {
  const std::string a = wire::ToString(address);
  return (wire::IsIpv4(address) ? a : "[" + a + "]") + ":" + std::to_string(port);
}

absl::Status StatusFor(tcp::TcpError error, const std::string& what) {
  const std::string message = what + ": " + std::string(tcp::TcpErrorName(error));
  switch (error) {
    case tcp::TcpError::kOk:
      return absl::OkStatus();
    case tcp::TcpError::kInvalidHandle:
      return absl::NotFoundError(message);
    case tcp::TcpError::kInvalidState:
      return absl::FailedPreconditionError(message);
    case tcp::TcpError::kAddressInUse:
      return absl::AlreadyExistsError(message);
    case tcp::TcpError::kNoResources:
      return absl::ResourceExhaustedError(message);
    case tcp::TcpError::kUnknownCongestionControl:
      return absl::InvalidArgumentError(message);
  }
  return absl::InternalError(message);
}

// Connect tries this many ports of the slice when the engine still holds the 4-tuple (TIME-WAIT).
constexpr int kPortAttempts = 64;

}  // namespace

tcp::SocketError SocketErrorFor(tcp::TcpEvent::ResetReason reason) {
  using Reason = tcp::TcpEvent::ResetReason;
  switch (reason) {
    case Reason::kRefused:
      return tcp::SocketError::kRefused;
    case Reason::kTimeout:
      return tcp::SocketError::kTimeout;
    case Reason::kAbortedLocally:
    case Reason::kHookReset:
      return tcp::SocketError::kAborted;
    case Reason::kNone:
    case Reason::kPeerReset:
      return tcp::SocketError::kReset;
  }
  return tcp::SocketError::kReset;
}

SimSockets::SimSockets(const SimSocketsConfig& config, TcpHost& host)
    : host_(host), tcp_(host.backend()), ports_(config.ephemeral) {}

void SimSockets::AddRoute(const wire::IpAddress& destination, const wire::IpAddress& source) {
  std::erase_if(routes_, [&](const auto& r) { return r.first == destination; });
  routes_.emplace_back(destination, source);
}

std::optional<wire::IpAddress> SimSockets::SourceFor(const wire::IpAddress& destination) const {
  for (const auto& [to, from] : routes_) {
    if (to == destination) return from;
  }
  for (const auto& [address, interface] : host_.addresses()) {
    if (address.index() == destination.index()) return address;
  }
  return std::nullopt;
}

void SimSockets::SetInterfaceUp(InterfaceIndex interface, bool up) {
  std::erase(down_, interface);
  if (!up) down_.push_back(interface);
}

bool SimSockets::InterfaceUp(InterfaceIndex interface) const {
  return std::find(down_.begin(), down_.end(), interface) == down_.end();
}

bool SimSockets::IsLocalAddress(const wire::IpAddress& local) const {
  return host_.InterfaceOf(local).has_value();
}

std::optional<wire::IpAddress> SimSockets::SourceAmong(
    const wire::IpAddress& remote, std::span<const wire::IpAddress> candidates) const {
  const std::optional<wire::IpAddress> route_source = SourceFor(remote);
  if (!route_source) return std::nullopt;
  const std::optional<InterfaceIndex> path = host_.InterfaceOf(*route_source);
  for (const wire::IpAddress& c : candidates) {
    if (c.index() == remote.index() && host_.InterfaceOf(c) == path) return c;
  }
  return std::nullopt;
}

bool SimSockets::PathUp(const wire::IpAddress& local) const {
  const std::optional<InterfaceIndex> interface = host_.InterfaceOf(local);
  return interface.has_value() && InterfaceUp(*interface);
}

SimSockets::Entry* SimSockets::Find(tcp::SocketId socket) {
  if (socket.index >= entries_.size()) return nullptr;
  Entry& e = entries_[socket.index];
  return e.live && e.generation == socket.generation ? &e : nullptr;
}

tcp::SocketHandler* SimSockets::ListenerHandler(tcp::ListenerId listener) const {
  for (const ListenEntry& l : listeners_) {
    if (l.index == listener.index) return l.handler;
  }
  return nullptr;
}

void SimSockets::Track(tcp::SocketId socket, tcp::SocketHandler* handler, const tcp::FlowKey& flow,
                       bool reserved) {
  if (socket.index >= entries_.size()) entries_.resize(socket.index + 1);
  entries_[socket.index] = Entry{.generation = socket.generation,
                                 .handler = handler,
                                 .live = true,
                                 .reserved = reserved,
                                 .flow = flow};
  ++open_;
}

absl::StatusOr<tcp::ListenerId> SimSockets::Listen(uint16_t port, const tcp::TcpConfig& config,
                                                   tcp::SocketHandler* handler,
                                                   const std::optional<wire::IpAddress>& local) {
  return ListenWithHooks(port, config, handler, local, nullptr);
}

absl::StatusOr<tcp::ListenerId> SimSockets::ListenWithHooks(
    uint16_t port, const tcp::TcpConfig& config, tcp::SocketHandler* handler,
    const std::optional<wire::IpAddress>& local, tcp::ListenHooks* hooks) {
  if (handler == nullptr) return absl::InvalidArgumentError("listen: no handler");
  if (port == 0) return absl::InvalidArgumentError("listen: port 0");
  if (local && !IsLocalAddress(*local)) {
    return absl::InvalidArgumentError("listen on " + AddressPort(*local, port) +
                                      ": not a local address");
  }
  tcp::ListenerId id;
  const tcp::TcpError error = tcp_.Listen(local ? &*local : nullptr, port, config, hooks, &id);
  if (error != tcp::TcpError::kOk) {
    return StatusFor(error, "listen on port " + std::to_string(port));
  }
  listeners_.push_back({id.index, handler});
  return id;
}

absl::Status SimSockets::StopListening(tcp::ListenerId listener) {
  const tcp::TcpError error = tcp_.StopListening(listener);
  std::erase_if(listeners_, [&](const ListenEntry& l) { return l.index == listener.index; });
  return StatusFor(error, "stop listening");
}

absl::StatusOr<tcp::SocketId> SimSockets::Connect(const wire::IpAddress& remote, uint16_t port,
                                                  const tcp::TcpConfig& config,
                                                  tcp::SocketHandler* handler, tcp::Instant now,
                                                  const std::optional<wire::IpAddress>& bind) {
  return ConnectWithHooks(remote, port, config, handler, now, bind, nullptr);
}

absl::StatusOr<tcp::SocketId> SimSockets::ConnectWithHooks(
    const wire::IpAddress& remote, uint16_t port, const tcp::TcpConfig& config,
    tcp::SocketHandler* handler, tcp::Instant now, const std::optional<wire::IpAddress>& bind,
    tcp::TcpHooks* hooks) {
  const std::string where = "connect to " + AddressPort(remote, port);
  if (handler == nullptr) return absl::InvalidArgumentError(where + ": no handler");
  if (port == 0) return absl::InvalidArgumentError(where + ": port 0");
  SetNow(now);
  if (bind && (bind->index() != remote.index() || !IsLocalAddress(*bind))) {
    ++counters_.connect_failures;
    return absl::InvalidArgumentError(where + ": source " + wire::ToString(*bind) +
                                      " is not a local address of that family");
  }
  const std::optional<wire::IpAddress> source = bind ? bind : SourceFor(remote);
  if (!source) {
    ++counters_.connect_failures;
    return absl::UnavailableError(where + ": no route");
  }
  for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
    const std::optional<uint16_t> local_port = ports_.Allocate(*source, remote, port);
    if (!local_port) break;
    const tcp::FlowKey flow{*source, *local_port, remote, port};
    tcp::ConnectionId id;
    const tcp::TcpError error =
        tcp_.Connect({.flow = flow, .config = config, .hooks = hooks}, now, &id);
    if (error == tcp::TcpError::kOk) {
      ++counters_.connects;
      Track(id, handler, flow, /*reserved=*/true);
      return id;
    }
    ports_.Release(flow);
    if (error != tcp::TcpError::kInvalidState) {
      ++counters_.connect_failures;
      return StatusFor(error, where);
    }
  }
  ++counters_.connect_failures;
  return absl::ResourceExhaustedError(where + ": no free local port");
}

size_t SimSockets::Send(tcp::SocketId socket, std::span<const uint8_t> bytes, tcp::Instant now) {
  if (Find(socket) == nullptr) return 0;
  SetNow(now);
  return tcp_.Send(socket, bytes, now).accepted;
}

tcp::ReceiveResult SimSockets::Receive(tcp::SocketId socket, std::span<uint8_t> out,
                                       tcp::Instant now) {
  if (Find(socket) == nullptr) return {};
  SetNow(now);
  return tcp_.Receive(socket, out, now);
}

template <typename Call>
absl::Status SimSockets::OnLive(tcp::SocketId socket, tcp::Instant now, const char* what,
                                Call&& call) {
  if (Find(socket) == nullptr) return absl::NotFoundError(std::string(what) + ": no such socket");
  SetNow(now);
  return StatusFor(call(), what);
}

absl::Status SimSockets::Shutdown(tcp::SocketId socket, tcp::Instant now) {
  return OnLive(socket, now, "shutdown", [&] { return tcp_.Shutdown(socket, now); });
}

absl::Status SimSockets::Abort(tcp::SocketId socket, tcp::Instant now) {
  return OnLive(socket, now, "abort", [&] { return tcp_.Abort(socket, now); });
}

absl::Status SimSockets::SetNoDelay(tcp::SocketId socket, bool on) {
  return OnLive(socket, now(), "TCP_NODELAY", [&] { return tcp_.SetNagle(socket, !on); });
}

absl::Status SimSockets::SetKeepalive(tcp::SocketId socket, bool on) {
  return OnLive(socket, now(), "SO_KEEPALIVE", [&] { return tcp_.SetKeepalive(socket, on); });
}

absl::Status SimSockets::Close(tcp::SocketId socket, tcp::Instant now) {
  return OnLive(socket, now, "close", [&] { return tcp_.Close(socket, now); });
}

absl::Status SimSockets::SendAck(tcp::SocketId socket, tcp::Instant now) {
  return OnLive(socket, now, "send ack", [&] { return tcp_.SendAck(socket, now); });
}

absl::Status SimSockets::SetHandler(tcp::SocketId socket, tcp::SocketHandler* handler) {
  Entry* e = Find(socket);
  if (e == nullptr) return absl::NotFoundError("set handler: no such socket");
  if (handler == nullptr) return absl::InvalidArgumentError("set handler: null");
  e->handler = handler;
  return absl::OkStatus();
}

std::optional<tcp::FlowKey> SimSockets::Flow(tcp::SocketId socket) const {
  return tcp_.Flow(socket);
}

std::optional<tcp::TcpInfo> SimSockets::Info(tcp::SocketId socket) const {
  return tcp_.Info(socket);
}

std::optional<tcp::SendState> SimSockets::GetSendState(tcp::SocketId socket) const {
  return tcp_.GetSendState(socket);
}

size_t SimSockets::Dispatch(tcp::Instant now) {
  SetNow(now);
  size_t delivered = 0;
  // A handler may cause more events (a Send that fills a window, a Close): drained in this call.
  tcp::TcpEvent event;
  while (tcp_.NextEvent(&event)) {
    Deliver(event);
    ++delivered;
  }
  return delivered;
}

void SimSockets::Deliver(const tcp::TcpEvent& event) {
  using Kind = tcp::TcpEvent::Kind;
  if (event.kind == Kind::kAccepted) {
    tcp::SocketHandler* handler = ListenerHandler(event.listener);
    const std::optional<tcp::FlowKey> flow = tcp_.Flow(event.connection);
    if (handler == nullptr || !flow) {
      // Its listener stopped while the handshake completed: nobody will accept it.
      ++counters_.events_unclaimed;
      (void)tcp_.Abort(event.connection, now_);
      return;
    }
    Track(event.connection, handler, *flow, /*reserved=*/false);
    ++counters_.accepted;
    handler->OnAccepted(event.listener, event.connection);
    return;
  }
  Entry* entry = Find(event.connection);
  if (entry == nullptr) {
    // A passive connection's kEstablished comes before its kAccepted: nobody tracks it yet.
    if (event.kind != Kind::kEstablished) ++counters_.events_unclaimed;
    return;
  }
  tcp::SocketHandler& h = *entry->handler;
  switch (event.kind) {
    case Kind::kEstablished:
      h.OnConnected(event.connection);
      return;
    case Kind::kReadable:
      h.OnReadable(event.connection, static_cast<size_t>(event.bytes));
      return;
    case Kind::kWritable:
      h.OnWritable(event.connection);
      return;
    case Kind::kAcked:
      h.OnAcked(event.connection, event.bytes);
      return;
    case Kind::kRetransmitTimeout:
      h.OnRetransmitTimeout(event.connection, event.count);
      return;
    case Kind::kPeerFin:
      h.OnPeerFin(event.connection);
      return;
    case Kind::kReset:
      ++counters_.errors;
      h.OnError(event.connection, SocketErrorFor(event.reason));
      return;
    case Kind::kClosed:
      // Released before the handler runs: it may open a connection that reuses the port.
      if (entry->reserved) ports_.Release(entry->flow);
      entry->live = false;
      --open_;
      ++counters_.closed;
      h.OnClosed(event.connection);
      return;
    case Kind::kAccepted:
      return;
  }
}

}  // namespace braid::sim
