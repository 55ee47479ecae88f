#include "datapath/runtime/tcp_sockets.h"

#include <algorithm>
#include <string>

#include "datapath/io/text.h"
#include "datapath/net/interface.h"

namespace braid::runtime {
namespace {

using io::Cat;

absl::Status FromTcpError(tcp::TcpError error, std::string_view what) {
  switch (error) {
    case tcp::TcpError::kOk:
      return absl::OkStatus();
    case tcp::TcpError::kInvalidHandle:
      return absl::NotFoundError(Cat(what, ": no such socket"));
    case tcp::TcpError::kInvalidState:
      return absl::FailedPreconditionError(Cat(what, ": invalid in this state"));
    case tcp::TcpError::kAddressInUse:
      return absl::AlreadyExistsError(Cat(what, ": address in use"));
    case tcp::TcpError::kNoResources:
      return absl::ResourceExhaustedError(Cat(what, ": connection table full"));
    case tcp::TcpError::kUnknownCongestionControl:
      return absl::InvalidArgumentError(Cat(what, ": unknown congestion control"));
  }
  return absl::InternalError(Cat(what, ": unknown TCP error"));
}

}  // namespace

std::string FormatEndpoint(const wire::IpAddress& address, uint16_t port) {
  if (wire::IsIpv4(address)) return Cat(wire::ToString(address), ":", port);
  return Cat("[", wire::ToString(address), "]:", port);
}

TcpSockets::TcpSockets(const TcpSocketsConfig& config, tcp::TcpBackend& tcp, net::NetStack& net)
    : tcp_(tcp), net_(net), ports_(config.ephemeral) {
  entries_.resize(config.max_sockets);
}

uint16_t TcpSockets::MssFor(uint16_t mtu) {
  // 20 bytes of IPv4 header and 20 of TCP header (RFC 9293 §3.7.1); the engine subtracts 20 more
  // on IPv6 connections (tcp_config.h).
  return static_cast<uint16_t>(mtu > 40 ? mtu - 40 : 536);
}

TcpSockets::Entry* TcpSockets::Find(SocketId socket) {
  if (socket.index >= entries_.size()) return nullptr;
  Entry& e = entries_[socket.index];
  if (!e.live || e.generation != socket.generation) return nullptr;
  return &e;
}

SocketHandler* TcpSockets::ListenerHandler(ListenerId listener) const {
  for (const ListenEntry& l : listeners_) {
    if (l.index == listener.index) return l.handler;
  }
  return nullptr;
}

void TcpSockets::Track(SocketId socket, SocketHandler* handler, const tcp::FlowKey& flow,
                       bool reserved) {
  if (socket.index >= entries_.size()) entries_.resize(socket.index + 1);
  Entry& e = entries_[socket.index];
  e = Entry{.generation = socket.generation,
            .handler = handler,
            .live = true,
            .reserved_port = reserved,
            .flow = flow};
  ++open_;
}

absl::StatusOr<ListenerId> TcpSockets::Listen(uint16_t port, const tcp::TcpConfig& config,
                                              SocketHandler* handler,
                                              const std::optional<wire::IpAddress>& local) {
  return ListenWithHooks(port, config, handler, local, nullptr);
}

absl::StatusOr<ListenerId> TcpSockets::ListenWithHooks(uint16_t port, const tcp::TcpConfig& config,
                                                       SocketHandler* handler,
                                                       const std::optional<wire::IpAddress>& local,
                                                       tcp::ListenHooks* hooks) {
  if (handler == nullptr) return absl::InvalidArgumentError("listen: no handler");
  if (port == 0) return absl::InvalidArgumentError("listen: port 0");
  tcp::TcpConfig c = config;
  uint16_t mtu = 0;
  if (local) {
    const std::optional<net::InterfaceId> id = net_.InterfaceOf(*local);
    if (!id) {
      return absl::InvalidArgumentError(
          Cat("listen on ", FormatEndpoint(*local, port), ": not a local address"));
    }
    mtu = net_.interface(*id)->config.mtu;
  } else {
    for (net::InterfaceId i = 0; i < net_.interface_count(); ++i) {
      const uint16_t m = net_.interface(i)->config.mtu;
      mtu = mtu == 0 ? m : std::min(mtu, m);
    }
  }
  // The path decides (TcpConfig::mss is "MTU minus headers"): taking the smaller of the two
  // would hold every jumbo-frame path at the default 1460.
  if (mtu != 0) c.mss = MssFor(mtu);
  ListenerId id;
  const tcp::TcpError error = tcp_.Listen(local ? &*local : nullptr, port, c, hooks, &id);
  if (error != tcp::TcpError::kOk) {
    return FromTcpError(error, Cat("listen on port ", port));
  }
  listeners_.push_back({id.index, handler});
  return id;
}

absl::Status TcpSockets::StopListening(ListenerId listener) {
  const tcp::TcpError error = tcp_.StopListening(listener);
  std::erase_if(listeners_, [&](const ListenEntry& l) { return l.index == listener.index; });
  return FromTcpError(error, "stop listening");
}

absl::StatusOr<SocketId> TcpSockets::Connect(const wire::IpAddress& remote, uint16_t port,
                                             const tcp::TcpConfig& config, SocketHandler* handler,
                                             tcp::Instant now,
                                             const std::optional<wire::IpAddress>& bind) {
  return ConnectWithHooks(remote, port, config, handler, now, bind, nullptr);
}

absl::StatusOr<SocketId> TcpSockets::ConnectWithHooks(const wire::IpAddress& remote, uint16_t port,
                                                      const tcp::TcpConfig& config,
                                                      SocketHandler* handler, tcp::Instant now,
                                                      const std::optional<wire::IpAddress>& bind,
                                                      tcp::TcpHooks* hooks) {
  const std::string where = Cat("connect to ", FormatEndpoint(remote, port));
  if (handler == nullptr) return absl::InvalidArgumentError(Cat(where, ": no handler"));
  if (port == 0) return absl::InvalidArgumentError(Cat(where, ": port 0"));
  if (bind && bind->index() != remote.index()) {
    ++counters_.connect_failures;
    return absl::InvalidArgumentError(
        Cat(where, ": source ", wire::ToString(*bind), " is of another address family"));
  }
  if (bind && !net_.InterfaceOf(*bind)) {
    // Not "no route": no route can start from an address that is not ours.
    ++counters_.connect_failures;
    return absl::InvalidArgumentError(
        Cat(where, ": source ", wire::ToString(*bind), " is not a local address"));
  }
  const std::optional<net::NextHop> hop =
      bind ? net_.RouteFrom(*bind, remote) : net_.RouteTo(remote);
  if (!hop) {
    ++counters_.connect_failures;
    return absl::UnavailableError(
        Cat(where, ": no route", bind ? Cat(" from ", wire::ToString(*bind)) : ""));
  }
  tcp::TcpConfig c = config;
  c.mss = MssFor(net_.interface(hop->interface)->config.mtu);  // the path's, as in Listen

  // The engine refuses a 4-tuple it still holds (TIME-WAIT included); the allocator then moves on
  // to the next port of the slice, as Linux's __inet_hash_connect does.
  for (int attempt = 0; attempt < 64; ++attempt) {
    const std::optional<uint16_t> local_port = ports_.Allocate(hop->source, remote, port);
    if (!local_port) break;
    const tcp::FlowKey flow{hop->source, *local_port, remote, port};
    tcp::ConnectionId id;
    SetNow(now);
    const tcp::TcpError error = tcp_.Connect({.flow = flow, .config = c, .hooks = hooks}, now, &id);
    if (error == tcp::TcpError::kOk) {
      ++counters_.connects;
      Track(id, handler, flow, /*reserved=*/true);
      return id;
    }
    ports_.Release(flow);
    if (error != tcp::TcpError::kInvalidState) {
      ++counters_.connect_failures;
      return FromTcpError(error, where);
    }
  }
  ++counters_.connect_failures;
  return absl::ResourceExhaustedError(
      Cat(where, ": no free local port in ", ports_.first(), "-", ports_.last()));
}

size_t TcpSockets::Send(SocketId socket, std::span<const uint8_t> bytes, tcp::Instant now) {
  if (Find(socket) == nullptr) return 0;
  SetNow(now);
  return tcp_.Send(socket, bytes, now).accepted;
}

tcp::ReceiveResult TcpSockets::Receive(SocketId socket, std::span<uint8_t> out, tcp::Instant now) {
  if (Find(socket) == nullptr) return {};
  SetNow(now);
  return tcp_.Receive(socket, out, now);
}

absl::Status TcpSockets::Shutdown(SocketId socket, tcp::Instant now) {
  if (Find(socket) == nullptr) return absl::NotFoundError("shutdown: no such socket");
  SetNow(now);
  return FromTcpError(tcp_.Shutdown(socket, now), "shutdown");
}

absl::Status TcpSockets::Abort(SocketId socket, tcp::Instant now) {
  if (Find(socket) == nullptr) return absl::NotFoundError("abort: no such socket");
  SetNow(now);
  return FromTcpError(tcp_.Abort(socket, now), "abort");
}

absl::Status TcpSockets::SetNoDelay(SocketId socket, bool on) {
  if (Find(socket) == nullptr) return absl::NotFoundError("TCP_NODELAY: no such socket");
  return FromTcpError(tcp_.SetNagle(socket, !on), "TCP_NODELAY");
}

absl::Status TcpSockets::SetKeepalive(SocketId socket, bool on) {
  if (Find(socket) == nullptr) return absl::NotFoundError("SO_KEEPALIVE: no such socket");
  return FromTcpError(tcp_.SetKeepalive(socket, on), "SO_KEEPALIVE");
}

absl::Status TcpSockets::Close(SocketId socket, tcp::Instant now) {
  if (Find(socket) == nullptr) return absl::NotFoundError("close: no such socket");
  SetNow(now);
  return FromTcpError(tcp_.Close(socket, now), "close");
}

absl::Status TcpSockets::SendAck(SocketId socket, tcp::Instant now) {
  if (Find(socket) == nullptr) return absl::NotFoundError("send ack: no such socket");
  SetNow(now);
  return FromTcpError(tcp_.SendAck(socket, now), "send ack");
}

std::optional<wire::IpAddress> TcpSockets::SourceAmong(
    const wire::IpAddress& remote, std::span<const wire::IpAddress> candidates) const {
  const std::optional<net::NextHop> hop = net_.RouteTo(remote);
  if (!hop) return std::nullopt;
  for (const wire::IpAddress& c : candidates) {
    if (c.index() == remote.index() && net_.InterfaceOf(c) == hop->interface) return c;
  }
  return std::nullopt;
}

bool TcpSockets::PathUp(const wire::IpAddress& local) const {
  const std::optional<net::InterfaceId> id = net_.InterfaceOf(local);
  return id.has_value() && net_.interface(*id)->up;
}

absl::Status TcpSockets::SetHandler(SocketId socket, SocketHandler* handler) {
  Entry* e = Find(socket);
  if (e == nullptr) return absl::NotFoundError("set handler: no such socket");
  if (handler == nullptr) return absl::InvalidArgumentError("set handler: null");
  e->handler = handler;
  return absl::OkStatus();
}

size_t TcpSockets::Dispatch(tcp::Instant now) {
  SetNow(now);
  size_t delivered = 0;
  // Handlers may cause more events (a Send that completes a window, a Close); keep draining until
  // both queues are empty.
  for (;;) {
    size_t round = 0;
    tcp::TcpEvent e;
    while (tcp_.NextEvent(&e)) {
      Deliver(e);
      ++round;
    }
    net::IcmpEvent icmp;
    while (net_.NextEvent(&icmp)) {
      DeliverIcmp(icmp);
      ++round;
    }
    if (round == 0) break;
    delivered += round;
  }
  return delivered;
}

void TcpSockets::Deliver(const tcp::TcpEvent& event) {
  using Kind = tcp::TcpEvent::Kind;
  if (event.kind == Kind::kAccepted) {
    SocketHandler* h = ListenerHandler(event.listener);
    const std::optional<tcp::FlowKey> flow = tcp_.Flow(event.connection);
    if (h == nullptr || !flow) {
      // The listener was stopped while the handshake completed: nobody will accept it.
      ++counters_.events_unclaimed;
      tcp_.Abort(event.connection, now_);
      return;
    }
    Track(event.connection, h, *flow, /*reserved=*/false);
    ++counters_.accepted;
    h->OnAccepted(event.listener, event.connection);
    return;
  }
  Entry* entry = Find(event.connection);
  if (entry == nullptr) {
    // kEstablished of a passive connection precedes its kAccepted: not yet tracked, not needed.
    if (event.kind != Kind::kEstablished) ++counters_.events_unclaimed;
    return;
  }
  SocketHandler* h = entry->handler;
  switch (event.kind) {
    case Kind::kEstablished:
      h->OnConnected(event.connection);
      break;
    case Kind::kAccepted:
      break;
    case Kind::kReadable:
      h->OnReadable(event.connection, static_cast<size_t>(event.bytes));
      break;
    case Kind::kWritable:
      h->OnWritable(event.connection);
      break;
    case Kind::kAcked:
      h->OnAcked(event.connection, event.bytes);
      break;
    case Kind::kRetransmitTimeout:
      h->OnRetransmitTimeout(event.connection, event.count);
      break;
    case Kind::kPeerFin:
      h->OnPeerFin(event.connection);
      break;
    case Kind::kReset: {
      using Reason = tcp::TcpEvent::ResetReason;
      SocketError error = SocketError::kReset;
      if (event.reason == Reason::kRefused) error = SocketError::kRefused;
      if (event.reason == Reason::kTimeout) error = SocketError::kTimeout;
      if (event.reason == Reason::kAbortedLocally || event.reason == Reason::kHookReset) {
        error = SocketError::kAborted;
      }
      ++counters_.errors;
      h->OnError(event.connection, error);
      break;
    }
    case Kind::kClosed: {
      // Release first: the handler may open a new connection that reuses the port.
      if (entry->reserved_port) ports_.Release(entry->flow);
      entry->live = false;
      --open_;
      ++counters_.closed;
      h->OnClosed(event.connection);
      break;
    }
  }
}

void TcpSockets::DeliverIcmp(const net::IcmpEvent& event) {
  if (event.kind == net::IcmpEvent::Kind::kPathMtu) {
    ++counters_.pmtu_events;
    tcp_.OnPathMtu(event.flow, event.mtu, event.seq, now_);
  } else {
    ++counters_.icmp_errors;
    tcp_.OnSoftError(event.flow, event.seq, now_);
  }
}

}  // namespace braid::runtime
