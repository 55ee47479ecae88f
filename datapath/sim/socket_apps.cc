// The workloads on the socket API; see socket_apps.h.
#include "datapath/sim/socket_apps.h"

#include <algorithm>
#include <span>

namespace braid::sim {
namespace {

constexpr size_t kReadChunk = 64 * 1024;

}  // namespace

absl::StatusOr<tcp::ListenerId> ListenFor(tcp::SocketApi& api, const SocketFlowConfig& config,
                                          tcp::SocketHandler* app) {
  return api.Listen(config.server_port, config.server_config, app, config.server);
}

// ---- Snapshots --------------------------------------------------------------------------------

void MptcpSnapshot::Take(const mptcp::MptcpSockets* mptcp, tcp::SocketId socket) {
  if (mptcp == nullptr) return;
  if (std::optional<mptcp::MptcpInfo> i = mptcp->ConnectionInfo(socket); i) {
    info = std::move(i);
    subflows = mptcp->SubflowsOf(socket);
  }
}

std::vector<uint64_t> MptcpSnapshot::SubflowBytesSent() const {
  std::vector<uint64_t> out;
  for (const mptcp::SubflowInfo& s : subflows) out.push_back(s.bytes_sent);
  return out;
}

std::vector<uint64_t> MptcpSnapshot::SubflowBytesReceived() const {
  std::vector<uint64_t> out;
  for (const mptcp::SubflowInfo& s : subflows) out.push_back(s.bytes_received);
  return out;
}

bool SocketBulkStats::Complete() const {
  return flow.Complete() && flow.HashesMatch() && flow.client_closed_at && flow.server_closed_at &&
         !client_error && !server_error && !connect_error;
}

// ---- Bulk sender -------------------------------------------------------------------------------

BulkSocketSender::BulkSocketSender(const SocketFlowConfig& config, uint64_t bytes,
                                   tcp::SocketApi& api, SocketBulkStats& stats)
    : config_(config),
      bytes_(std::max<uint64_t>(bytes, 1)),
      api_(api),
      stats_(stats),
      source_(config.seed, 0) {}

std::optional<tcp::Instant> BulkSocketSender::WakeAt() const {
  if (started_) return std::nullopt;
  return config_.start_at;
}

void BulkSocketSender::OnWake(tcp::Instant now) {
  started_ = true;
  stats_.flow.connect_at = now;
  absl::StatusOr<tcp::SocketId> s = api_.Connect(config_.server, config_.server_port,
                                                 config_.client_config, this, now, config_.bind);
  if (!s.ok()) {
    stats_.connect_error = s.status();
    return;
  }
  socket_ = *s;
  stats_.flow.client_id = *s;
}

void BulkSocketSender::Pump() {
  BulkFlowStats& f = stats_.flow;
  if (f.send_done || !f.established_at) return;
  const tcp::Instant now = api_.now();
  const bool never = false;
  if (source_.Pump(f, bytes_, never,
                   [&](std::span<const uint8_t> b) { return api_.Send(socket_, b, now); })) {
    f.send_done = true;
    f.send_done_at = now;
    (void)api_.Shutdown(socket_, now);
  }
}

void BulkSocketSender::OnConnected(tcp::SocketId /*socket*/) {
  stats_.flow.established_at = api_.now();
  Pump();
}

void BulkSocketSender::OnWritable(tcp::SocketId /*socket*/) { Pump(); }

void BulkSocketSender::OnAcked(tcp::SocketId /*socket*/, uint64_t bytes) {
  stats_.flow.bytes_acked += bytes;
  Pump();
}

void BulkSocketSender::OnRetransmitTimeout(tcp::SocketId /*socket*/, uint32_t /*count*/) {
  ++stats_.flow.rto_events;
}

void BulkSocketSender::OnReadable(tcp::SocketId socket, size_t /*available*/) {
  // The receiver sends nothing but its FIN.
  uint8_t sink[512];
  while (api_.Receive(socket, sink, api_.now()).bytes > 0) {
  }
}

void BulkSocketSender::OnPeerFin(tcp::SocketId socket) {
  OnReadable(socket, 0);
  if (closed_) return;
  closed_ = true;
  stats_.flow.client_info = api_.Info(socket);
  stats_.client_mptcp.Take(config_.client_mptcp, socket);
  (void)api_.Close(socket, api_.now());
}

void BulkSocketSender::OnError(tcp::SocketId socket, tcp::SocketError error) {
  stats_.client_error = error;
  stats_.client_mptcp.Take(config_.client_mptcp, socket);
}

void BulkSocketSender::OnClosed(tcp::SocketId /*socket*/) {
  stats_.flow.client_closed_at = api_.now();
}

// ---- Bulk receiver -----------------------------------------------------------------------------

BulkSocketReceiver::BulkSocketReceiver(const SocketFlowConfig& config, tcp::SocketApi& api,
                                       SocketBulkStats& stats)
    : config_(config), api_(api), stats_(stats), buffer_(kReadChunk) {}

BulkSocketReceiver::~BulkSocketReceiver() {
  if (listener_) (void)api_.StopListening(*listener_);
}

absl::Status BulkSocketReceiver::Listen() {
  absl::StatusOr<tcp::ListenerId> id = ListenFor(api_, config_, this);
  if (id.ok()) listener_ = *id;
  return id.status();
}

void BulkSocketReceiver::OnAccepted(tcp::ListenerId /*listener*/, tcp::SocketId socket) {
  if (accepted_) {
    ++stats_.extra_connections;
    (void)api_.Abort(socket, api_.now());
    return;
  }
  accepted_ = true;
  socket_ = socket;
  stats_.flow.server_id = socket;
  stats_.flow.accepted_at = api_.now();
  stats_.flow.last_delivery = api_.now();
}

void BulkSocketReceiver::Drain() {
  BulkFlowStats& f = stats_.flow;
  const tcp::Instant now = api_.now();
  bool any = false;
  for (;;) {
    const tcp::ReceiveResult r = api_.Receive(socket_, buffer_, now);
    if (r.bytes == 0) break;
    any = true;
    f.NoteReceived(std::span<const uint8_t>(buffer_).first(r.bytes));
  }
  if (!any) return;
  if (!f.first_byte_at) f.first_byte_at = now;
  f.last_byte_at = now;
  f.NoteDelivery(now);
}

void BulkSocketReceiver::OnReadable(tcp::SocketId socket, size_t /*available*/) {
  if (Ours(socket)) Drain();
}

void BulkSocketReceiver::OnPeerFin(tcp::SocketId socket) {
  if (!Ours(socket)) return;
  Drain();
  BulkFlowStats& f = stats_.flow;
  if (!f.fin_at) {
    f.fin_at = api_.now();
    f.NoteDelivery(api_.now());
  }
  if (closed_) return;
  closed_ = true;
  stats_.server_mptcp.Take(config_.server_mptcp, socket);
  (void)api_.Close(socket, api_.now());
}

void BulkSocketReceiver::OnError(tcp::SocketId socket, tcp::SocketError error) {
  if (!Ours(socket)) return;
  stats_.server_error = error;
  stats_.server_mptcp.Take(config_.server_mptcp, socket);
}

void BulkSocketReceiver::OnClosed(tcp::SocketId socket) {
  if (Ours(socket)) stats_.flow.server_closed_at = api_.now();
}

// ---- Request/response client -------------------------------------------------------------------

namespace {

// A request or response of 0 bytes could not be told from none.
RrShape Sanitized(RrShape s) {
  s.request_size = std::max<uint32_t>(s.request_size, 1);
  s.response_size = std::max<uint32_t>(s.response_size, 1);
  return s;
}

std::vector<uint8_t> Payload(uint64_t seed, uint64_t stream, size_t size) {
  std::vector<uint8_t> bytes(size);
  util::PatternStream(seed, stream).Fill(bytes);
  return bytes;
}

}  // namespace

RrSocketClient::RrSocketClient(const SocketFlowConfig& config, const RrShape& shape,
                               tcp::SocketApi& api)
    : config_(config),
      shape_(Sanitized(shape)),
      api_(api),
      request_(Payload(config.seed, 0, shape_.request_size)),
      buffer_(kReadChunk) {}

std::optional<tcp::Instant> RrSocketClient::WakeAt() const {
  if (!connecting_) return config_.start_at;
  if (established_ && !in_exchange_ && !shut_down_) return next_start_;
  return std::nullopt;
}

void RrSocketClient::OnWake(tcp::Instant now) {
  if (!connecting_) {
    connecting_ = true;
    absl::StatusOr<tcp::SocketId> s = api_.Connect(config_.server, config_.server_port,
                                                   config_.client_config, this, now, config_.bind);
    if (!s.ok()) {
      error_ = tcp::SocketError::kAborted;
      shut_down_ = true;
      closed_ = true;
      return;
    }
    socket_ = *s;
    return;
  }
  if (next_start_ && now >= *next_start_) Start(now);
}

void RrSocketClient::Start(tcp::Instant now) {
  next_start_.reset();
  if (started_ >= shape_.count) {
    if (!shut_down_) {
      shut_down_ = true;
      (void)api_.Shutdown(socket_, now);
    }
    return;
  }
  ++started_;
  in_exchange_ = true;
  request_sent_ = 0;
  response_read_ = 0;
  exchange_start_ = now;
  PumpRequest();
}

void RrSocketClient::PumpRequest() {
  while (in_exchange_ && request_sent_ < request_.size()) {
    const size_t n =
        api_.Send(socket_, std::span<const uint8_t>(request_).subspan(request_sent_), api_.now());
    if (n == 0) return;
    request_sent_ += n;
  }
}

void RrSocketClient::ReadResponse() {
  const tcp::Instant now = api_.now();
  for (;;) {
    const tcp::ReceiveResult r = api_.Receive(socket_, buffer_, now);
    if (r.bytes == 0) break;
    if (!in_exchange_) {
      protocol_errors_ += r.bytes;
      continue;
    }
    response_read_ += r.bytes;
  }
  if (!in_exchange_ || response_read_ < shape_.response_size) return;
  protocol_errors_ += response_read_ - shape_.response_size;
  completions_.push_back(now - exchange_start_);
  in_exchange_ = false;
  next_start_ = now + shape_.think_time;
  if (shape_.think_time == tcp::Duration::zero()) Start(now);
}

void RrSocketClient::OnConnected(tcp::SocketId /*socket*/) {
  established_ = true;
  Start(api_.now());
}

void RrSocketClient::OnWritable(tcp::SocketId /*socket*/) { PumpRequest(); }

void RrSocketClient::OnAcked(tcp::SocketId /*socket*/, uint64_t /*bytes*/) { PumpRequest(); }

void RrSocketClient::OnReadable(tcp::SocketId /*socket*/, size_t /*available*/) { ReadResponse(); }

void RrSocketClient::OnPeerFin(tcp::SocketId socket) {
  ReadResponse();
  snapshot_.Take(config_.client_mptcp, socket);
  (void)api_.Close(socket, api_.now());
}

void RrSocketClient::OnError(tcp::SocketId socket, tcp::SocketError error) {
  error_ = error;
  snapshot_.Take(config_.client_mptcp, socket);
}

void RrSocketClient::OnClosed(tcp::SocketId /*socket*/) { closed_ = true; }

// ---- Request/response server -------------------------------------------------------------------

RrSocketServer::RrSocketServer(const SocketFlowConfig& config, const RrShape& shape,
                               tcp::SocketApi& api)
    : config_(config),
      shape_(Sanitized(shape)),
      api_(api),
      response_(Payload(config.seed, 1, shape_.response_size)),
      buffer_(kReadChunk) {}

RrSocketServer::~RrSocketServer() {
  if (listener_) (void)api_.StopListening(*listener_);
}

absl::Status RrSocketServer::Listen() {
  absl::StatusOr<tcp::ListenerId> id = ListenFor(api_, config_, this);
  if (id.ok()) listener_ = *id;
  return id.status();
}

RrSocketServer::Conn* RrSocketServer::Find(tcp::SocketId socket) {
  for (Conn& c : conns_) {
    if (c.socket == socket) return &c;
  }
  return nullptr;
}

void RrSocketServer::OnAccepted(tcp::ListenerId /*listener*/, tcp::SocketId socket) {
  conns_.push_back(Conn{.socket = socket});
}

void RrSocketServer::Read(Conn& c) {
  for (;;) {
    const tcp::ReceiveResult r = api_.Receive(c.socket, buffer_, api_.now());
    if (r.bytes == 0) break;
    c.request_read += r.bytes;
    c.pending += c.request_read / shape_.request_size;
    c.request_read %= shape_.request_size;
  }
}

void RrSocketServer::Serve(Conn& c) {
  for (;;) {
    if (!c.responding) {
      if (c.pending == 0) return;
      --c.pending;
      c.responding = true;
      c.response_sent = 0;
    }
    while (c.response_sent < response_.size()) {
      const size_t n = api_.Send(
          c.socket, std::span<const uint8_t>(response_).subspan(c.response_sent), api_.now());
      if (n == 0) return;
      c.response_sent += n;
    }
    c.responding = false;
    ++responses_;
  }
}

void RrSocketServer::OnReadable(tcp::SocketId socket, size_t /*available*/) {
  if (Conn* c = Find(socket); c != nullptr) {
    Read(*c);
    Serve(*c);
  }
}

void RrSocketServer::OnPeerFin(tcp::SocketId socket) {
  Conn* c = Find(socket);
  if (c == nullptr) return;
  Read(*c);
  Serve(*c);
  if (c->request_read != 0) ++protocol_errors_;
  (void)api_.Close(socket, api_.now());
}

void RrSocketServer::OnWritable(tcp::SocketId socket) {
  if (Conn* c = Find(socket); c != nullptr) Serve(*c);
}

void RrSocketServer::OnAcked(tcp::SocketId socket, uint64_t /*bytes*/) { OnWritable(socket); }

void RrSocketServer::OnClosed(tcp::SocketId socket) {
  std::erase_if(conns_, [&](const Conn& c) { return c.socket == socket; });
}

}  // namespace braid::sim
