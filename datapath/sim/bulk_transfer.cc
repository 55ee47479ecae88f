// The bulk-transfer driver; see bulk_transfer.h.
#include "datapath/sim/bulk_transfer.h"

#include <algorithm>

namespace braid::sim {
namespace {

// Bytes generated ahead of Send() per flow, and read per Receive() call.
constexpr size_t kChunk = 64 * 1024;

}  // namespace

bool BulkFlowStats::Complete() const {
  return send_done && fin_at.has_value() && bytes_received == bytes_sent;
}

void BulkFlowStats::NoteDelivery(tcp::Instant now) {
  if (last_delivery) {
    const tcp::Duration gap = now - *last_delivery;
    if (gap > max_gap) {
      max_gap = gap;
      max_gap_end = now;
    }
  }
  last_delivery = now;
}

// ---- Sender -----------------------------------------------------------------------------------

BulkSender::BulkSender(const BulkConfig& config, std::vector<BulkFlowStats>& stats)
    : config_(config), stats_(stats) {
  stats_.resize(config.flows);
  flows_.reserve(config.flows);
  for (uint32_t i = 0; i < config.flows; ++i) {
    flows_.push_back(Flow{.source = PatternSource(config.seed, i)});
  }
}

std::optional<tcp::Instant> BulkSender::WakeAt() const {
  if (!started_) return config_.start_at;
  if (!stopped_ && config_.stop_at) return *config_.stop_at;
  return std::nullopt;
}

void BulkSender::OnWake(tcp::Instant now, tcp::TcpBackend& backend) {
  if (!started_) {
    started_ = true;
    for (uint32_t i = 0; i < config_.flows; ++i) {
      BulkFlowStats& f = stats_[i];
      tcp::ConnectRequest req;
      req.flow = tcp::FlowKey{.local = config_.client,
                              .local_port = static_cast<uint16_t>(config_.first_client_port + i),
                              .remote = config_.server,
                              .remote_port = config_.server_port};
      req.config = config_.client_config;
      f.connect_at = now;
      if (backend.Connect(req, now, &f.client_id) != tcp::TcpError::kOk) {
        f.client_reset = tcp::TcpEvent::ResetReason::kAbortedLocally;
      }
    }
    return;
  }
  if (config_.stop_at && now >= *config_.stop_at && !stopped_) {
    stopped_ = true;
    for (size_t i = 0; i < flows_.size(); ++i) {
      flows_[i].stopped = true;
      Finish(i, now, backend);
    }
  }
}

std::optional<size_t> BulkSender::FlowOf(tcp::ConnectionId id) const {
  for (size_t i = 0; i < stats_.size(); ++i) {
    if (stats_[i].client_id == id) return i;
  }
  return std::nullopt;
}

void BulkSender::Finish(size_t i, tcp::Instant now, tcp::TcpBackend& backend) {
  BulkFlowStats& f = stats_[i];
  if (f.send_done || !f.established_at) return;
  f.send_done = true;
  f.send_done_at = now;
  backend.Shutdown(f.client_id, now);
}

void BulkSender::Pump(size_t i, tcp::Instant now, tcp::TcpBackend& backend) {
  BulkFlowStats& f = stats_[i];
  Flow& flow = flows_[i];
  if (f.send_done || !f.established_at) return;
  const bool done = flow.source.Pump(
      f, config_.bytes_per_flow, flow.stopped,
      [&](std::span<const uint8_t> b) { return backend.Send(f.client_id, b, now).accepted; });
  if (done) Finish(i, now, backend);
}

void BulkSender::OnEvent(const tcp::TcpEvent& event, tcp::Instant now, tcp::TcpBackend& backend) {
  const std::optional<size_t> index = FlowOf(event.connection);
  if (!index) return;
  const size_t i = *index;
  BulkFlowStats& f = stats_[i];
  switch (event.kind) {
    case tcp::TcpEvent::Kind::kEstablished:
      f.established_at = now;
      Pump(i, now, backend);
      break;
    case tcp::TcpEvent::Kind::kAcked: {
      f.bytes_acked += event.bytes;
      if (auto info = backend.Info(event.connection)) {
        if (info->srtt > tcp::Duration::zero()) {
          f.srtt_sum += info->srtt;
          ++f.srtt_samples;
        }
        f.min_rtt = info->min_rtt;
        f.client_info = *info;
      }
      Pump(i, now, backend);
      break;
    }
    case tcp::TcpEvent::Kind::kWritable:
      Pump(i, now, backend);
      break;
    case tcp::TcpEvent::Kind::kRetransmitTimeout:
      ++f.rto_events;
      break;
    case tcp::TcpEvent::Kind::kReadable:
    case tcp::TcpEvent::Kind::kPeerFin: {
      // The receiver sends nothing but its FIN; read whatever there is, then close.
      uint8_t sink[512];
      while (backend.Receive(event.connection, sink, now).bytes > 0) {
      }
      if (event.kind == tcp::TcpEvent::Kind::kPeerFin) {
        if (auto info = backend.Info(event.connection)) f.client_info = *info;
        backend.Close(event.connection, now);
      }
      break;
    }
    case tcp::TcpEvent::Kind::kReset:
      f.client_reset = event.reason;
      break;
    case tcp::TcpEvent::Kind::kClosed:
      f.client_closed_at = now;
      break;
    case tcp::TcpEvent::Kind::kAccepted:
      break;
  }
}

// ---- Receiver ---------------------------------------------------------------------------------

BulkReceiver::BulkReceiver(const BulkConfig& config, std::vector<BulkFlowStats>& stats)
    : config_(config), stats_(stats), buffer_(kChunk) {
  stats_.resize(config.flows);
}

tcp::TcpError BulkReceiver::Listen(tcp::TcpBackend& backend) {
  tcp::ListenerId id;
  return backend.Listen(&config_.server, config_.server_port, config_.server_config, nullptr, &id);
}

std::optional<size_t> BulkReceiver::FlowOf(tcp::ConnectionId id) const {
  for (size_t i = 0; i < stats_.size(); ++i) {
    if (stats_[i].server_id == id && stats_[i].accepted_at) return i;
  }
  return std::nullopt;
}

void BulkReceiver::Drain(size_t i, tcp::Instant now, tcp::TcpBackend& backend) {
  BulkFlowStats& f = stats_[i];
  bool any = false;
  for (;;) {
    const tcp::ReceiveResult r = backend.Receive(f.server_id, buffer_, now);
    if (r.bytes == 0) break;
    any = true;
    f.NoteReceived(std::span<const uint8_t>(buffer_).first(r.bytes));
  }
  if (any) {
    if (!f.first_byte_at) f.first_byte_at = now;
    f.last_byte_at = now;
    f.NoteDelivery(now);
  }
}

void BulkReceiver::OnEvent(const tcp::TcpEvent& event, tcp::Instant now, tcp::TcpBackend& backend) {
  if (event.kind == tcp::TcpEvent::Kind::kEstablished) return;  // kAccepted follows
  if (event.kind == tcp::TcpEvent::Kind::kAccepted) {
    const std::optional<tcp::FlowKey> flow = backend.Flow(event.connection);
    const int i = flow ? flow->remote_port - config_.first_client_port : -1;
    if (i < 0 || static_cast<uint32_t>(i) >= config_.flows || stats_[i].accepted_at) {
      ++unknown_;
      backend.Abort(event.connection, now);
      return;
    }
    BulkFlowStats& f = stats_[i];
    f.server_id = event.connection;
    f.accepted_at = now;
    f.last_delivery = now;
    return;
  }
  const std::optional<size_t> index = FlowOf(event.connection);
  if (!index) return;
  BulkFlowStats& f = stats_[*index];
  switch (event.kind) {
    case tcp::TcpEvent::Kind::kReadable:
      Drain(*index, now, backend);
      break;
    case tcp::TcpEvent::Kind::kPeerFin:
      Drain(*index, now, backend);
      if (!f.fin_at) {
        f.fin_at = now;
        f.NoteDelivery(now);
      }
      backend.Close(f.server_id, now);
      break;
    case tcp::TcpEvent::Kind::kReset:
      f.server_reset = event.reason;
      break;
    case tcp::TcpEvent::Kind::kClosed:
      f.server_closed_at = now;
      break;
    default:
      break;
  }
}

}  // namespace braid::sim
