// The request/response driver; see request_response.h.
#include "datapath/sim/request_response.h"

#include <algorithm>

namespace braid::sim {
namespace {

constexpr size_t kReadChunk = 64 * 1024;

}  // namespace

// ---- Client -----------------------------------------------------------------------------------

namespace {

// A request or response of 0 bytes could not be told from none.
RrConfig Sanitized(RrConfig c) {
  c.request_size = std::max<uint32_t>(c.request_size, 1);
  c.response_size = std::max<uint32_t>(c.response_size, 1);
  return c;
}

}  // namespace

RrClient::RrClient(const RrConfig& config)
    : config_(Sanitized(config)),
      pattern_(config.seed, 0),
      request_(config_.request_size),
      buffer_(kReadChunk),
      next_start_(config.start_at) {
  pattern_.Fill(request_);
}

std::optional<tcp::Instant> RrClient::WakeAt() const {
  if (!connecting_) return config_.start_at;
  if (established_ && !in_exchange_ && !shut_down_) return next_start_;
  return std::nullopt;
}

void RrClient::OnWake(tcp::Instant now, tcp::TcpBackend& backend) {
  if (!connecting_) {
    connecting_ = true;
    tcp::ConnectRequest req;
    req.flow = tcp::FlowKey{.local = config_.client,
                            .local_port = config_.client_port,
                            .remote = config_.server,
                            .remote_port = config_.server_port};
    req.config = config_.client_config;
    if (backend.Connect(req, now, &id_) != tcp::TcpError::kOk) {
      reset_ = tcp::TcpEvent::ResetReason::kAbortedLocally;
      shut_down_ = true;
    }
    return;
  }
  if (established_ && !in_exchange_ && next_start_ && now >= *next_start_) {
    StartExchange(now, backend);
  }
}

void RrClient::StartExchange(tcp::Instant now, tcp::TcpBackend& backend) {
  if (started_ >= config_.count) {
    if (!shut_down_) {
      shut_down_ = true;
      backend.Shutdown(id_, now);
    }
    return;
  }
  ++started_;
  in_exchange_ = true;
  next_start_.reset();
  request_sent_ = 0;
  response_read_ = 0;
  exchange_start_ = now;
  PumpRequest(now, backend);
}

void RrClient::PumpRequest(tcp::Instant now, tcp::TcpBackend& backend) {
  while (in_exchange_ && request_sent_ < request_.size()) {
    const tcp::SendResult r =
        backend.Send(id_, std::span<const uint8_t>(request_).subspan(request_sent_), now);
    if (r.accepted == 0) return;
    request_sent_ += r.accepted;
  }
}

void RrClient::ReadResponse(tcp::Instant now, tcp::TcpBackend& backend) {
  for (;;) {
    const tcp::ReceiveResult r = backend.Receive(id_, buffer_, now);
    if (r.bytes == 0) break;
    if (!in_exchange_) continue;  // a server that talks out of turn; counted by the size check
    response_read_ += r.bytes;
  }
  if (in_exchange_ && response_read_ >= config_.response_size) {
    completions_.push_back(now - exchange_start_);
    in_exchange_ = false;
    next_start_ = now + config_.think_time;
    if (auto info = backend.Info(id_)) info_ = *info;
    if (config_.think_time == tcp::Duration::zero()) StartExchange(now, backend);
  }
}

void RrClient::OnEvent(const tcp::TcpEvent& event, tcp::Instant now, tcp::TcpBackend& backend) {
  if (!(event.connection == id_)) return;
  switch (event.kind) {
    case tcp::TcpEvent::Kind::kEstablished:
      established_ = true;
      StartExchange(now, backend);
      break;
    case tcp::TcpEvent::Kind::kWritable:
    case tcp::TcpEvent::Kind::kAcked:
      PumpRequest(now, backend);
      break;
    case tcp::TcpEvent::Kind::kReadable:
      ReadResponse(now, backend);
      break;
    case tcp::TcpEvent::Kind::kPeerFin:
      ReadResponse(now, backend);
      if (auto info = backend.Info(id_)) info_ = *info;
      backend.Close(id_, now);
      break;
    case tcp::TcpEvent::Kind::kReset:
      reset_ = event.reason;
      break;
    case tcp::TcpEvent::Kind::kClosed:
      closed_at_ = now;
      break;
    default:
      break;
  }
}

// ---- Server -----------------------------------------------------------------------------------

RrServer::RrServer(const RrConfig& config)
    : config_(Sanitized(config)),
      pattern_(config.seed, 1),
      response_(config_.response_size),
      buffer_(kReadChunk) {
  pattern_.Fill(response_);
}

tcp::TcpError RrServer::Listen(tcp::TcpBackend& backend) {
  tcp::ListenerId id;
  return backend.Listen(&config_.server, config_.server_port, config_.server_config, nullptr, &id);
}

RrServer::Conn* RrServer::Find(tcp::ConnectionId id) {
  for (Conn& c : conns_) {
    if (c.id == id) return &c;
  }
  return nullptr;
}

void RrServer::Serve(Conn& c, tcp::Instant now, tcp::TcpBackend& backend) {
  for (;;) {
    if (!c.responding) {
      if (c.pending_requests == 0) return;
      --c.pending_requests;
      c.responding = true;
      c.response_sent = 0;
    }
    while (c.response_sent < response_.size()) {
      const tcp::SendResult r =
          backend.Send(c.id, std::span<const uint8_t>(response_).subspan(c.response_sent), now);
      if (r.accepted == 0) return;
      c.response_sent += r.accepted;
    }
    c.responding = false;
    ++responses_;
  }
}

void RrServer::OnEvent(const tcp::TcpEvent& event, tcp::Instant now, tcp::TcpBackend& backend) {
  if (event.kind == tcp::TcpEvent::Kind::kAccepted) {
    conns_.push_back(Conn{.id = event.connection});
    return;
  }
  Conn* c = Find(event.connection);
  if (c == nullptr) return;
  switch (event.kind) {
    case tcp::TcpEvent::Kind::kReadable:
    case tcp::TcpEvent::Kind::kPeerFin: {
      for (;;) {
        const tcp::ReceiveResult r = backend.Receive(c->id, buffer_, now);
        if (r.bytes == 0) break;
        c->request_read += r.bytes;
        c->pending_requests += c->request_read / config_.request_size;
        c->request_read %= config_.request_size;
      }
      Serve(*c, now, backend);
      if (event.kind == tcp::TcpEvent::Kind::kPeerFin) {
        if (c->request_read != 0) ++protocol_errors_;
        backend.Close(c->id, now);
      }
      break;
    }
    case tcp::TcpEvent::Kind::kWritable:
    case tcp::TcpEvent::Kind::kAcked:
      Serve(*c, now, backend);
      break;
    case tcp::TcpEvent::Kind::kClosed: {
      const tcp::ConnectionId id = c->id;
      std::erase_if(conns_, [&](const Conn& x) { return x.id == id; });
      break;
    }
    default:
      break;
  }
}

}  // namespace braid::sim
