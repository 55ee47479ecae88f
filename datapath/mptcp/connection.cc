#include "datapath/mptcp/connection.h"

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include "datapath/mptcp/crypto.h"
#include "datapath/mptcp/socket_manager.h"
#include "datapath/tcp/coupled_group.h"
#include "datapath/wire/checksum.h"

namespace braid::mptcp {
namespace {

using wire::DataSeq;
using wire::TcpSeq;
using Event = MptcpSockets::AppEventKind;

// Room a pull needs in the app's receive buffer before it takes bytes out of a subflow: one
// whole mapping, so a checksummed mapping is never split.
constexpr size_t kPullReserve = 65536;

uint64_t Bit(uint32_t id) { return id < 64 ? uint64_t{1} << id : 0; }

}  // namespace

std::string_view SubflowStateName(SubflowState state) {
  switch (state) {
    case SubflowState::kConnecting:
      return "connecting";
    case SubflowState::kPreEstablished:
      return "pre-established";
    case SubflowState::kEstablished:
      return "established";
    case SubflowState::kClosing:
      return "closing";
    case SubflowState::kClosed:
      return "closed";
  }
  return "unknown";
}

MptcpConnection::MptcpConnection(MptcpSockets& stack, tcp::SocketId id, bool client,
                                 const MptcpConfig& config, const tcp::TcpConfig& subflow_config,
                                 std::unique_ptr<Scheduler> scheduler,
                                 std::unique_ptr<PathManager> path_manager)
    : stack_(stack),
      id_(id),
      client_(client),
      config_(config),
      subflow_config_(subflow_config),
      scheduler_(std::move(scheduler)),
      pm_(std::move(path_manager)),
      send_buf_(config.send_buffer),
      rcv_buf_(config.receive_buffer) {
  scratch_.resize(kPullReserve);
  checksum_ = config.checksum;
  // Coupled congestion control (RFC 6356 LIA, OLIA): one group per connection, shared by the
  // controllers of its subflows; uncoupled algorithms ignore it.
  if (subflow_config_.congestion_control == "lia" || subflow_config_.congestion_control == "olia") {
    subflow_config_.coupling = std::make_shared<tcp::CoupledGroup>();
  }
}

MptcpConnection::~MptcpConnection() = default;

MptcpCounters& MptcpConnection::counters() { return stack_.mutable_counters(); }
tcp::SubflowSocketApi& MptcpConnection::tcp() { return stack_.tcp(); }

void MptcpConnection::MarkDirty() {
  if (!dirty_) {
    dirty_ = true;
    stack_.MarkDirty(*this);
  }
}

// ---- Keys ----------------------------------------------------------------------------------

void MptcpConnection::SetLocalKey(uint64_t key) {
  local_key_ = key;
  const KeyDerivation d = DeriveFromKey(key);
  local_token_ = d.token;
  // RFC 8684 §3.3: the first data byte has DSN IDSN + 1.
  local_idsn_ = DataSeq(d.idsn);
  data_una_ = data_nxt_ = data_max_sent_ = local_idsn_ + 1;
  data_rto_una_ = data_una_;
}

void MptcpConnection::SetRemoteKey(uint64_t key) {
  if (remote_key_known_) return;
  remote_key_ = key;
  remote_key_known_ = true;
  const KeyDerivation d = DeriveFromKey(key);
  remote_token_ = d.token;
  remote_idsn_ = DataSeq(d.idsn);
  rcv_nxt_ = remote_idsn_ + 1;
  last_data_ack_sent_ = rcv_nxt_;
  reasm_ = std::make_unique<tcp::ReassemblyQueue<DataSeq>>(config_.receive_buffer, rcv_nxt_);
}

// ---- Subflows ------------------------------------------------------------------------------

Subflow* MptcpConnection::AddSubflow(Subflow::Kind kind, bool active) {
  if (live_subflows() >= kMaxSubflows) return nullptr;
  const auto id = static_cast<uint32_t>(subflows_.size());
  subflows_.push_back(std::make_unique<Subflow>(*this, id, kind, active));
  // The path manager counts it from now on (several joins can arrive in one burst).
  RefreshPmView();
  return subflows_.back().get();
}

Subflow* MptcpConnection::subflow(uint32_t id) {
  return id < subflows_.size() ? subflows_[id].get() : nullptr;
}

Subflow* MptcpConnection::initial() { return subflows_.empty() ? nullptr : subflows_[0].get(); }

size_t MptcpConnection::live_subflows() const {
  size_t n = 0;
  for (const auto& sf : subflows_) n += sf && sf->state != SubflowState::kClosed ? 1 : 0;
  return n;
}

void MptcpConnection::set_flow(const tcp::FlowKey& flow) {
  flow_ = flow;
  initial_pm_ = PmSubflow{.id = 0,
                          .local_address = flow.local,
                          .local_port = flow.local_port,
                          .remote_address = flow.remote,
                          .remote_port = flow.remote_port,
                          .initial = true};
  if (remote_addrs_.empty()) {
    remote_addrs_.push_back({.id = 0, .address = flow.remote, .port = flow.remote_port});
  }
}

uint8_t MptcpConnection::LocalIdFor(const wire::IpAddress& local) const {
  if (flow_ && flow_->local == local) return 0;
  for (const Endpoint& e : config_.path_manager.endpoints) {
    if (e.address == local) return e.id;
  }
  return 0;
}

bool MptcpConnection::path_up(const wire::IpAddress& local) const {
  return stack_.tcp().PathUp(local);
}

PmSubflow MptcpConnection::PmView(const Subflow& sf) {
  return PmSubflow{.id = sf.id(),
                   .local_id = sf.local_id,
                   .remote_id = sf.remote_id,
                   .local_address = sf.local_address,
                   .local_port = sf.local_port,
                   .remote_address = sf.remote_address,
                   .remote_port = sf.remote_port,
                   .initial = sf.kind() == Subflow::Kind::kInitial,
                   .established = sf.state == SubflowState::kEstablished,
                   .backup = sf.backup(),
                   .stale = sf.stale};
}

void MptcpConnection::RefreshPmView() {
  pm_subflows_.clear();
  for (const auto& sf : subflows_) {
    if (sf && sf->state != SubflowState::kClosed) pm_subflows_.push_back(PmView(*sf));
  }
}

// ---- What the hooks learn --------------------------------------------------------------------

void MptcpConnection::OnMpCapableEstablished(Subflow& /*sf*/) {
  fully_established_ = true;
  MarkDirty();
}

void MptcpConnection::OnJoinEstablished(Subflow& sf) {
  sf.rto_count = 0;
  MarkDirty();
}

void MptcpConnection::OnDataAck(DataSeq ack, uint32_t window) {
  // RFC 8684 §3.3.2: a DATA_ACK acknowledges data-level bytes; one beyond what we sent is bogus.
  if (ack > data_max_sent_ + (shutdown_ && data_nxt_ == data_max_sent_ ? 1 : 0)) {
    counters().Add(MptcpCounter::kDataAckInvalid);
    return;
  }
  // RFC 8684 §3.3.4: the receive window is relative to the DATA_ACK.
  const DataSeq edge = ack + window;
  if (!window_known_ || edge > snd_wnd_end_) snd_wnd_end_ = edge;
  window_known_ = true;
  if (ack <= data_una_) return;
  const DataSeq fin_seq = data_una_ + send_buf_.size();
  uint64_t acked = static_cast<uint64_t>(ack - data_una_);
  if (shutdown_ && ack > fin_seq) {
    data_fin_acked_ = true;  // the DATA_FIN takes one DSN (RFC 8684 §3.3.3)
    acked -= 1;
  }
  send_buf_.Consume(static_cast<size_t>(acked));
  data_una_ = data_una_ + acked;
  if (data_nxt_ < data_una_) data_nxt_ = data_una_;
  std::erase_if(reinject_, [&](Reinjection& r) {
    if (r.start + r.len <= data_una_) return true;
    if (r.start < data_una_) {
      r.len -= static_cast<uint32_t>(data_una_ - r.start);
      r.start = data_una_;
    }
    return false;
  });
  if (acked > 0) stack_.QueueAppEvent(*this, Event::kAcked, acked);
  if (app_write_blocked_ && send_buf_.free() > 0) {
    app_write_blocked_ = false;
    stack_.QueueAppEvent(*this, Event::kWritable);
  }
  data_rto_ = tcp::Duration::zero();
  data_rto_at_.reset();
  MarkDirty();
}

void MptcpConnection::OnDataFin(DataSeq fin_seq) {
  if (!peer_fin_seq_) peer_fin_seq_ = fin_seq;
  MarkDirty();
}

void MptcpConnection::OnAddAddr(const wire::AddAddr& add) {
  counters().Add(MptcpCounter::kAddAddrRx);
  // RFC 8684 §3.4.1: echo it (no HMAC), whether or not we act on it.
  wire::AddAddr echo = add;
  echo.echo = true;
  echo.truncated_hmac.reset();
  echoes_.push_back(echo);
  signal_ack_needed_ = true;
  wire::IpAddress addr = std::holds_alternative<wire::Ipv4Address>(add.address)
                             ? wire::IpAddress(std::get<wire::Ipv4Address>(add.address))
                             : wire::IpAddress(std::get<wire::Ipv6Address>(add.address));
  for (PmRemoteAddress& r : remote_addrs_) {
    if (r.id == add.address_id) {
      r.address = addr;
      r.port = add.port;
      MarkDirty();
      return;  // a retransmission: echoed again, already known
    }
  }
  remote_addrs_.push_back({.id = add.address_id, .address = addr, .port = add.port});
  pending_add_addr_.push_back(remote_addrs_.back());
  MarkDirty();
}

void MptcpConnection::OnAddAddrEcho(const wire::AddAddr& echo) {
  counters().Add(MptcpCounter::kEchoAddRx);
  for (auto it = announcements_.begin(); it != announcements_.end(); ++it) {
    if (it->endpoint.id == echo.address_id) {
      announce_done_.push_back({it->endpoint.id, true});
      announcements_.erase(it);
      MarkDirty();
      return;
    }
  }
}

void MptcpConnection::OnRemoveAddr(const wire::RemoveAddr& remove) {
  counters().Add(MptcpCounter::kRmAddrRx);
  for (uint8_t id : remove.address_ids()) {
    std::erase_if(remote_addrs_, [&](const PmRemoteAddress& r) { return r.id == id && id != 0; });
    pending_remove_.push_back(id);
    // Marked now: the peer's RST for them may be processed before Service() runs, and they must
    // close as removed, not as failed (which the path manager would re-create).
    for (auto& sf : subflows_) {
      if (sf && sf->remote_id == id && sf->state != SubflowState::kClosed && !sf->removed &&
          !(id == 0 && sf->kind() == Subflow::Kind::kInitial)) {
        sf->removed = true;
        counters().Add(MptcpCounter::kRmSubflow);
      }
    }
  }
  MarkDirty();
}

void MptcpConnection::OnFastclose() {
  // RFC 8684 §3.5: the peer abandoned the connection; every subflow goes, the app sees a reset.
  peer_fastclose_ = true;
  MarkDirty();
}

void MptcpConnection::OnMpFail(Subflow& sf, DataSeq dsn) {
  counters().Add(MptcpCounter::kMpFailRx);
  if (live_subflows() > 1) {
    // RFC 8684 §3.7: with other subflows the failed one is reset; its data goes on the others.
    sf.rst_reason = wire::MpTcpRstReason::kMiddleboxInterference;
    sf.state = SubflowState::kClosing;
    to_reset_.push_back(sf.id());
  } else if (InfiniteFallbackAllowed()) {
    // RFC 8684 §3.7: alone, the sender answers with MP_FAIL and an infinite mapping on its next
    // data, then both speak plain TCP (the kernel waits for the MP_FAIL answer, then resets).
    sf.mp_fail_dsn = dsn;
    sf.mp_fail_on_ack = true;
    sf.infinite_map_pending = true;
    sf.infinite_map_checksum = checksum_;
    FallBackMidStream(sf, MptcpCounter::kFallbackInfinite, /*peer_fell_back=*/false);
  }
  // Otherwise the peer, which cannot fall back either, resets the subflow itself.
  MarkDirty();
}

bool MptcpConnection::FallBackOnData(Subflow& sf) {
  if (!InfiniteFallbackAllowed()) return false;
  FallBackMidStream(sf, MptcpCounter::kFallbackData, /*peer_fell_back=*/true);
  return true;
}

bool MptcpConnection::InfiniteFallbackAllowed() const {
  // RFC 8684 §3.7: only while the subflow's byte stream is the connection's, byte for byte.
  return live_subflows() == 1 && !multipath_used_ && bytes_reinjected_ == 0 &&
         (!reasm_ || reasm_->empty());
}

void MptcpConnection::FallBackMidStream(Subflow& sf, MptcpCounter reason, bool peer_fell_back) {
  if (fallback_) return;
  // Everything up to data_nxt_ is queued on this subflow in order (nothing was reinjected):
  // from its end on, TCP's stream and the data-level stream advance together.
  if (const std::optional<tcp::SendState> st = tcp().GetSendState(sf.socket); st) {
    fallback_subflow_seq_ = st->snd_una + st->send_queue;
  }
  fallback_dsn_ = data_nxt_;
  reinject_.clear();
  FallBack(reason);
  peer_fell_back_ = peer_fell_back;
}

DataSeq MptcpConnection::FallbackDsnAt(const Subflow& sf, TcpSeq seq) const {
  if (const TxMapping* m = sf.TxMappingAt(seq); m != nullptr) {
    return m->dsn + static_cast<uint32_t>(seq - m->start);
  }
  return fallback_dsn_ + static_cast<uint32_t>(seq - fallback_subflow_seq_);
}

void MptcpConnection::FallBack(MptcpCounter reason) {
  if (fallback_) return;
  counters().Add(reason);
  fallback_ = true;
  peer_fell_back_ = true;  // unless FallBackMidStream says otherwise
  checksum_ = false;
  MarkDirty();
}

std::optional<DataSeq> MptcpConnection::DataFinToSend() const {
  if (!shutdown_ || data_fin_acked_ || fallback_) return std::nullopt;
  const DataSeq fin_seq = data_una_ + send_buf_.size();
  if (data_nxt_ != fin_seq) return std::nullopt;  // data still to be handed out first
  return fin_seq;
}

std::optional<wire::AddAddr> MptcpConnection::TakeAddAddrToSend(size_t space) {
  if (!echoes_.empty()) {
    if (echoes_.front().Len() > space) return std::nullopt;
    wire::AddAddr e = echoes_.front();
    echoes_.erase(echoes_.begin());
    counters().Add(MptcpCounter::kEchoAddTx);
    return e;
  }
  for (Announcement& a : announcements_) {
    if (!a.queued) continue;
    wire::AddAddr add;
    add.address_id = a.endpoint.id;
    if (const auto* v4 = std::get_if<wire::Ipv4Address>(&a.endpoint.address)) {
      add.address = *v4;
    } else {
      add.address = std::get<wire::Ipv6Address>(a.endpoint.address);
    }
    add.port = a.endpoint.port;
    // RFC 8684 §3.4.1: HMAC keyed by the announcer's key then the receiver's.
    add.truncated_hmac =
        AddAddrHmac(local_key_, remote_key_, add.address_id, add.address, add.port);
    if (add.Len() > space) return std::nullopt;
    a.queued = false;
    counters().Add(MptcpCounter::kAddAddrTx);
    return add;
  }
  return std::nullopt;
}

std::optional<wire::RemoveAddr> MptcpConnection::TakeRemoveAddrToSend(size_t space) {
  if (remove_ids_.empty()) return std::nullopt;
  const size_t n = std::min(remove_ids_.size(), wire::kMaxRemoveAddrIds);
  if (wire::kRemoveAddrBaseLen + n > space) return std::nullopt;
  wire::RemoveAddr rm = wire::RemoveAddr::Of(std::span<const uint8_t>(remove_ids_.data(), n));
  remove_ids_.erase(remove_ids_.begin(), remove_ids_.begin() + static_cast<std::ptrdiff_t>(n));
  counters().Add(MptcpCounter::kRmAddrTx);
  return rm;
}

// ---- Events from TCP -------------------------------------------------------------------------

void MptcpConnection::OnSubflowConnected(Subflow& sf, tcp::Instant now) {
  if (sf.kind() == Subflow::Kind::kInitial) {
    if (sf.state == SubflowState::kConnecting) sf.state = SubflowState::kEstablished;
    if (!announced) {
      announced = true;
      stack_.QueueAppEvent(*this, client_ ? Event::kConnected : Event::kAccepted);
    }
  } else if (sf.active() && sf.state == SubflowState::kPreEstablished) {
    sf.join_ack_sent = now;
  }
  MarkDirty();
}

void MptcpConnection::OnSubflowReadable(Subflow& sf) {
  sf.readable = true;
  MarkDirty();
}

void MptcpConnection::OnSubflowAcked(Subflow& sf, tcp::Instant now) {
  if (sf.stale) {
    sf.stale = false;
    counters().Add(MptcpCounter::kSubflowRecover);
  }
  sf.rto_count = 0;
  sf.last_progress = now;
  if (fallback_) {
    // The subflow's ACKs are the connection's: what TCP acknowledged leaves the send buffer.
    if (const std::optional<tcp::SendState> st = tcp().GetSendState(sf.socket); st) {
      const uint64_t outstanding = st->send_queue;
      const uint64_t held = static_cast<uint64_t>(data_nxt_ - data_una_);
      if (held > outstanding) {
        const uint64_t acked = held - outstanding;
        send_buf_.Consume(static_cast<size_t>(acked));
        data_una_ = data_una_ + acked;
        stack_.QueueAppEvent(*this, Event::kAcked, acked);
        if (app_write_blocked_ && send_buf_.free() > 0) {
          app_write_blocked_ = false;
          stack_.QueueAppEvent(*this, Event::kWritable);
        }
      }
    }
  } else if (const std::optional<tcp::SendState> st = tcp().GetSendState(sf.socket); st) {
    sf.DropTxMappingsBefore(st->snd_una);
  }
  MarkDirty();
}

void MptcpConnection::OnSubflowWritable(Subflow& /*sf*/) { MarkDirty(); }

void MptcpConnection::OnSubflowRto(Subflow& sf, uint32_t count, tcp::Instant /*now*/) {
  sf.rto_count = count;
  if (fallback_ || sf.stale || count < config_.stale_rto_count) return;
  if (sf.tx_mapping_count() == 0) return;
  MarkStale(sf);
}

void MptcpConnection::MarkStale(Subflow& sf) {
  // RFC 8684 §3.3.6: data stuck on a failing subflow is sent again on the others, and the
  // scheduler avoids it until TCP acknowledges something on it again (OnSubflowAcked).
  sf.stale = true;
  counters().Add(MptcpCounter::kSubflowStale);
  ReinjectFrom(sf);
  MarkDirty();
}

void MptcpConnection::OnSubflowPeerFin(Subflow& sf) {
  if (fallback_) sf.readable = true;  // the TCP FIN is the end of the byte stream
  MarkDirty();
}

void MptcpConnection::OnSubflowError(Subflow& sf, tcp::SocketError error) {
  sf.last_error = error;
  MarkDirty();
}

void MptcpConnection::OnSubflowClosed(Subflow& sf, tcp::Instant now) {
  const bool was_established = sf.state == SubflowState::kEstablished;
  const PmSubflow view = PmView(sf);
  if (!fallback_) ReinjectFrom(sf);
  // TCP closes a connection without error only after both FINs and after every byte was read:
  // in fallback that is the peer's end of stream.
  if (fallback_ && !sf.last_error) peer_fin_ = true;
  sf.state = SubflowState::kClosed;
  sf.has_socket = false;
  counters().Add(MptcpCounter::kSubflowsClosed);
  RefreshPmView();

  SubflowCloseReason reason = SubflowCloseReason::kLocalClose;
  if (subflows_closing_ || failed_) {
    reason = SubflowCloseReason::kConnectionClosed;
  } else if (sf.removed ||
             sf.peer_rst_reason == wire::MpTcpRstReason::kAdministrativelyProhibited) {
    // The peer withdrew the address (REMOVE_ADDR), or said with MP_TCPRST that it will not
    // have this subflow: not something to re-create.
    reason = SubflowCloseReason::kRemoved;
  } else if (sf.path_down) {
    reason = SubflowCloseReason::kPathDown;
  } else if (sf.timed_out) {
    reason = SubflowCloseReason::kTimeout;
  } else if (sf.last_error) {
    switch (*sf.last_error) {
      case tcp::SocketError::kTimeout:
        reason = was_established ? SubflowCloseReason::kTimeout : SubflowCloseReason::kJoinFailed;
        break;
      case tcp::SocketError::kRefused:
        reason = SubflowCloseReason::kJoinFailed;
        break;
      case tcp::SocketError::kReset:
        reason = was_established ? SubflowCloseReason::kPeerReset : SubflowCloseReason::kJoinFailed;
        break;
      case tcp::SocketError::kAborted:
        reason = sf.rst_reason ? SubflowCloseReason::kJoinFailed : SubflowCloseReason::kLocalClose;
        break;
    }
  }
  if (fully_established_ && !subflows_closing_ && !failed_)
    pm_->OnSubflowClosed(*this, view, reason, now);

  if (live_subflows() == 0 && !subflows_closing_ && !failed_) {
    // Every path is gone: the connection cannot continue (the kernel waits for its path manager;
    // ours had its chance in OnSubflowClosed and opened nothing).
    bool connecting = false;
    for (const auto& s : subflows_) connecting |= s && s->state != SubflowState::kClosed;
    // A fallback connection's only subflow ends with TCP's own close: that is the connection
    // closing, not failing.
    const bool graceful = !sf.last_error && !peer_fastclose_ && shutdown_ && peer_fin_;
    if (!connecting && !graceful) {
      FailConnection(sf.last_error && !peer_fastclose_ ? *sf.last_error : tcp::SocketError::kReset);
    }
  }
  MarkDirty();
}

// ---- The application side --------------------------------------------------------------------

size_t MptcpConnection::AppSend(std::span<const uint8_t> bytes, tcp::Instant /*now*/) {
  if (shutdown_ || failed_ || app_closed_) return 0;
  const size_t n = send_buf_.Append(bytes);
  if (n < bytes.size()) app_write_blocked_ = true;
  if (n > 0) MarkDirty();
  return n;
}

tcp::ReceiveResult MptcpConnection::AppReceive(std::span<uint8_t> out, tcp::Instant /*now*/) {
  tcp::ReceiveResult r;
  r.bytes = rcv_buf_.Read(out);
  r.fin = peer_fin_ && rcv_buf_.empty();
  if (r.bytes > 0) MarkDirty();  // room for more: pull from the subflows again
  return r;
}

bool MptcpConnection::AppShutdown(tcp::Instant /*now*/) {
  if (failed_) return false;
  if (!shutdown_) {
    shutdown_ = true;
    MarkDirty();
  }
  return true;
}

void MptcpConnection::AppClose(tcp::Instant now) {
  app_closed_ = true;
  if (!rcv_buf_.empty() && !failed_) {
    // RFC 2525 §2.17 as for TCP: unread data means the app lost it; tell the peer at once.
    AppAbort(now);
    return;
  }
  AppShutdown(now);
  MarkDirty();
}

void MptcpConnection::AppAbort(tcp::Instant now) {
  app_closed_ = true;
  if (failed_) return;
  // RFC 8684 §3.5: MP_FASTCLOSE with the peer's key on an RST on every subflow.
  for (auto& sf : subflows_) {
    if (!sf || !sf->has_socket || sf->state == SubflowState::kClosed) continue;
    sf->send_fastclose = !fallback_ && remote_key_known_;
    sf->state = SubflowState::kClosing;
    (void)tcp().Abort(sf->socket, now);
  }
  // The app still hears OnError(aborted) and OnClosed, as with TCP.
  FailConnection(tcp::SocketError::kAborted, /*tell_closed_app=*/true);
  MarkDirty();
}

void MptcpConnection::FailConnection(tcp::SocketError error, bool tell_closed_app) {
  if (failed_) return;
  failed_ = true;
  if (!error_reported_ && (!app_closed_ || tell_closed_app)) {
    error_reported_ = true;
    stack_.QueueAppEvent(*this, Event::kError, 0, error);
  }
}

// ---- Work ------------------------------------------------------------------------------------

void MptcpConnection::Service(tcp::Instant now) {
  dirty_ = false;
  RefreshPmView();

  if (peer_fastclose_ && !failed_) {
    for (auto& sf : subflows_) {
      if (!sf || !sf->has_socket || sf->state == SubflowState::kClosed) continue;
      sf->state = SubflowState::kClosing;
      (void)tcp().Abort(sf->socket, now);
    }
    FailConnection(tcp::SocketError::kReset);
  }
  for (auto& sf : subflows_) {
    if (sf && sf->handshake_failed) AbandonSubflow(*sf);
  }
  for (uint32_t id : to_reset_) {
    if (Subflow* sf = subflow(id); sf != nullptr && sf->has_socket) {
      (void)tcp().Abort(sf->socket, now);
    }
  }
  to_reset_.clear();

  // Receive.
  for (auto& sf : subflows_) {
    if (sf && sf->readable && sf->has_socket) {
      if (fallback_) {
        PullFallback(*sf, now);
      } else {
        Pull(*sf, now);
      }
    }
  }
  if (peer_fin_seq_ && !peer_fin_ && rcv_nxt_ == *peer_fin_seq_) {
    // RFC 8684 §3.3.3: the DATA_FIN takes one DSN; acknowledge past it.
    rcv_nxt_ = rcv_nxt_ + 1;
    if (reasm_) reasm_->Reset(rcv_nxt_);
    peer_fin_ = true;
  }
  if (peer_fin_ && !peer_fin_delivered_ && !app_closed_) {
    peer_fin_delivered_ = true;
    stack_.QueueAppEvent(*this, Event::kPeerFin);
  }

  // Path manager: start once, then the events it waits for.
  if (fully_established_ && !fallback_ && !pm_started_ && !failed_) {
    pm_started_ = true;
    pm_->OnEstablished(*this, now);
  }
  if (pm_started_ && !failed_) {
    for (auto& sf : subflows_) {
      if (sf && sf->state == SubflowState::kEstablished && !sf->pm_told) {
        sf->pm_told = true;
        if (sf->kind() == Subflow::Kind::kJoin) {
          multipath_used_ = true;
          RefreshPmView();
          for (const PmSubflow& p : pm_subflows_) {
            if (p.id == sf->id()) pm_->OnSubflowEstablished(*this, p, now);
          }
        }
      }
    }
    while (!pending_add_addr_.empty()) {
      const PmRemoteAddress a = pending_add_addr_.front();
      pending_add_addr_.erase(pending_add_addr_.begin());
      pm_->OnAddAddr(*this, a, now);
    }
    while (!announce_done_.empty()) {
      const auto [id, echoed] = announce_done_.front();
      announce_done_.erase(announce_done_.begin());
      pm_->OnAnnounceDone(*this, id, echoed, now);
    }
  }
  while (!pending_remove_.empty()) {
    const uint8_t id = pending_remove_.front();
    pending_remove_.erase(pending_remove_.begin());
    for (auto& sf : subflows_) {
      if (sf && sf->has_socket && sf->removed && sf->remote_id == id &&
          sf->state != SubflowState::kClosed && sf->state != SubflowState::kClosing) {
        sf->state = SubflowState::kClosing;
        ReinjectFrom(*sf);
        (void)tcp().Abort(sf->socket, now);
      }
    }
    if (pm_started_) pm_->OnRemoveAddr(*this, id, now);
  }

  // Send.
  if (!failed_) {
    if (!fallback_) CheckHeadOfLine(now);
    if (fallback_) {
      for (auto& sf : subflows_) {
        // The answer to the peer's MP_FAIL goes now, on a pure ACK (RFC 8684 §3.7).
        if (sf && sf->has_socket && sf->mp_fail_on_ack && !sf->mp_fail_until_answer) {
          (void)tcp().SendAck(sf->socket, now);
        }
      }
      PushFallback(now);
    } else if (fully_established_ || (client_ && remote_key_known_)) {
      Push(now);
    }
  }
  SendPendingAcks(now);
  MaybeFinishClose(now);
  RefreshPmView();
}

void MptcpConnection::Pull(Subflow& sf, tcp::Instant now) {
  sf.readable = false;
  if (!reasm_) return;
  for (;;) {
    if (rcv_buf_.free() < kPullReserve) {
      sf.readable = true;  // no room: come back when the app read
      return;
    }
    const std::optional<tcp::SendState> info = tcp().GetSendState(sf.socket);
    if (!info || info->receive_queue == 0) return;
    const RxMapping* m = sf.RxMappingFor(sf.rx_next);
    if (m == nullptr) {
      // Data nobody mapped: the peer (or a middlebox) dropped MPTCP on this path.
      if (FallBackOnData(sf)) {
        PullFallback(sf, now);
        return;
      }
      counters().Add(MptcpCounter::kDssNoMapping);
      ResetSubflow(sf, wire::MpTcpRstReason::kMiddleboxInterference, now);
      return;
    }
    const auto offset = static_cast<uint32_t>(sf.rx_next - m->start);
    uint32_t want = m->len - offset;
    if (m->checksum) {
      // RFC 8684 §3.3.1: the checksum covers the whole mapping; take it whole or wait for it.
      if (offset != 0 || info->receive_queue < m->len) {
        if (offset != 0) {
          counters().Add(MptcpCounter::kDataCsumErr);
          ResetSubflow(sf, wire::MpTcpRstReason::kMptcpSpecific, now);
        }
        return;
      }
    }
    want = std::min<uint32_t>({want, info->receive_queue, static_cast<uint32_t>(scratch_.size())});
    // Take only what the app's buffer can hold once the hole before it fills: the rest stays in
    // the subflow, whose window then closes (RFC 8684 §3.3.4: nothing acknowledged is dropped).
    const int64_t ahead = (m->dsn + offset) - rcv_nxt_;
    const int64_t room = static_cast<int64_t>(rcv_buf_.free()) - std::max<int64_t>(ahead, 0);
    if (room < static_cast<int64_t>(m->checksum ? m->len : 1)) {
      sf.readable = true;
      return;
    }
    want = static_cast<uint32_t>(std::min<int64_t>(want, room));
    const RxMapping mapping = *m;  // RxMappingFor may move the table on the next call
    const tcp::ReceiveResult got =
        tcp().Receive(sf.socket, std::span<uint8_t>(scratch_.data(), want), now);
    if (got.bytes == 0) return;
    const std::span<const uint8_t> bytes(scratch_.data(), got.bytes);
    if (mapping.checksum) {
      const uint16_t sum =
          wire::DssChecksum(mapping.dsn.raw(), static_cast<uint32_t>(mapping.start - sf.irs),
                            static_cast<uint16_t>(mapping.len + mapping.fin_extra), bytes);
      if (sum != *mapping.checksum) {
        counters().Add(MptcpCounter::kDataCsumErr);
        sf.mp_fail_dsn = mapping.dsn;
        if (!InfiniteFallbackAllowed()) {
          // RFC 8684 §3.7: the data was changed on the way; with other subflows (or after them)
          // this one is reset with MP_FAIL naming the mapping, and the data comes again on another.
          ResetSubflow(sf, wire::MpTcpRstReason::kMiddleboxInterference, now);
          return;
        }
        // RFC 8684 §3.7: a lone subflow is kept. MP_FAIL on our ACKs until the peer answers
        // (MP_FAIL, then an infinite mapping); from here TCP's bytes are the connection's, the
        // changed ones too, as a middlebox that rewrites payload meant (the kernel does the same).
        sf.mp_fail_on_ack = true;
        sf.mp_fail_until_answer = true;
        FallBackMidStream(sf, MptcpCounter::kFallbackInfinite, /*peer_fell_back=*/false);
        sf.rx_next = sf.rx_next + static_cast<uint32_t>(got.bytes);
        sf.bytes_received += got.bytes;
        Deliver(mapping.dsn + offset, bytes);
        (void)tcp().SendAck(sf.socket, now);
        PullFallback(sf, now);
        return;
      }
    }
    sf.rx_next = sf.rx_next + static_cast<uint32_t>(got.bytes);
    sf.bytes_received += got.bytes;
    Deliver(mapping.dsn + offset, bytes);
  }
}

void MptcpConnection::PullFallback(Subflow& sf, tcp::Instant now) {
  sf.readable = false;
  for (;;) {
    const size_t room = std::min(rcv_buf_.free(), scratch_.size());
    if (room == 0) {
      sf.readable = true;
      return;
    }
    const tcp::ReceiveResult got =
        tcp().Receive(sf.socket, std::span<uint8_t>(scratch_.data(), room), now);
    if (got.bytes > 0) {
      rcv_buf_.Append(std::span<const uint8_t>(scratch_.data(), got.bytes));
      rcv_nxt_ = rcv_nxt_ + got.bytes;
      bytes_received_ += got.bytes;
      sf.bytes_received += got.bytes;
      counters().Add(MptcpCounter::kDataBytesIn, got.bytes);
      stack_.QueueAppEvent(*this, Event::kReadable, rcv_buf_.size());
    }
    if (got.fin) peer_fin_ = true;
    if (got.bytes == 0) return;
  }
}

void MptcpConnection::Deliver(DataSeq dsn, std::span<const uint8_t> bytes) {
  // Never take more than the app's buffer can hold once the hole before it fills.
  const uint64_t room = rcv_buf_.free();
  if (dsn + bytes.size() > rcv_nxt_ + room) {
    const int64_t keep = (rcv_nxt_ + room) - dsn;
    const size_t kept = keep > 0 ? static_cast<size_t>(keep) : 0;
    counters().Add(MptcpCounter::kRcvPruned, bytes.size() - kept);
    bytes = bytes.first(kept);
  }
  if (bytes.empty()) return;
  const tcp::ReassemblyResult<DataSeq> r = reasm_->Insert(
      dsn, bytes, [&](std::span<const uint8_t> in_order) { rcv_buf_.Append(in_order); });
  if (r.duplicate > 0) counters().Add(MptcpCounter::kDuplicateData, r.duplicate);
  if (r.stored > 0) counters().Add(MptcpCounter::kOfoQueue);
  if (r.refused > 0) counters().Add(MptcpCounter::kRcvPruned, r.refused);
  if (r.delivered > 0) {
    rcv_nxt_ = reasm_->next();
    bytes_received_ += r.delivered;
    counters().Add(MptcpCounter::kDataBytesIn, r.delivered);
    if (!app_closed_) stack_.QueueAppEvent(*this, Event::kReadable, rcv_buf_.size());
  }
}

uint64_t MptcpConnection::send_window_left() const {
  if (!window_known_) return std::numeric_limits<uint32_t>::max();
  const int64_t left = snd_wnd_end_ - data_nxt_;
  return left > 0 ? static_cast<uint64_t>(left) : 0;
}

SubflowSnapshot MptcpConnection::Snapshot(const Subflow& sf) const {
  SubflowSnapshot s;
  s.id = sf.id();
  s.backup = sf.backup();
  s.stale = sf.stale;
  s.active = sf.state == SubflowState::kEstablished && sf.has_socket &&
             sf.tx_mapping_count() < config_.max_mappings;
  if (const std::optional<tcp::SendState> st = stack_.tcp().GetSendState(sf.socket); st) {
    s.srtt = st->srtt;
    s.rttvar = st->rttvar;
    s.min_rtt = st->min_rtt;
    s.cwnd = st->cwnd;
    s.in_flight = st->in_flight;
    s.queued = st->unsent;
    s.mss = st->snd_mss;
    s.delivery_rate_bps = st->delivery_rate_bps;
    const uint64_t used = s.in_flight + s.queued;
    // Room in the congestion window, also bounded by the subflow's own send buffer and the
    // peer's subflow-level window.
    uint64_t space = s.cwnd > used ? s.cwnd - used : 0;
    space = std::min<uint64_t>(space, st->send_free);
    s.send_space = space;
  } else {
    s.active = false;
  }
  return s;
}

void MptcpConnection::Push(tcp::Instant now) {
  std::array<SubflowSnapshot, kMaxSubflows> snaps;
  for (int round = 0; round < 1024; ++round) {
    const bool reinjection = !reinject_.empty();
    const uint64_t unsent = static_cast<uint64_t>((data_una_ + send_buf_.size()) - data_nxt_);
    if (!reinjection && unsent == 0) break;
    size_t n = 0;
    for (const auto& sf : subflows_) {
      if (sf && sf->state == SubflowState::kEstablished && sf->has_socket && n < snaps.size()) {
        snaps[n++] = Snapshot(*sf);
      }
    }
    if (n == 0) break;
    ScheduleContext ctx{.now = now,
                        .unsent = reinjection ? reinject_.front().len : unsent,
                        .send_window = send_window_left(),
                        .reinjection = reinjection,
                        .exclude = reinjection ? reinject_.front().exclude : 0};
    if (!reinjection && ctx.send_window == 0) break;
    const ScheduleDecision d = scheduler_->Select(std::span(snaps.data(), n), ctx);
    if (d.empty()) {
      if (reinjection) {
        // Nowhere else to go right now: the original subflow's retransmissions must do.
        bool any_other = false;
        for (size_t i = 0; i < n; ++i) any_other |= (Bit(snaps[i].id) & ctx.exclude) == 0;
        if (!any_other) reinject_.erase(reinject_.begin());
        if (!any_other) continue;
      }
      break;
    }
    DataSeq start;
    uint64_t len;
    if (reinjection) {
      start = reinject_.front().start;
      len = std::min<uint64_t>(reinject_.front().len, d.max_bytes);
    } else {
      start = data_nxt_;
      len = std::min<uint64_t>({unsent, d.max_bytes, ctx.send_window});
    }
    len = std::min<uint64_t>(len, kSendBurstBytes);
    uint64_t extended = len;
    if (d.may_extend && d.count == 1 && !reinjection) {
      extended = ExtendedChunk(std::span(snaps.data(), n), d.subflows[0], ctx, len);
    }
    uint64_t sent_max = 0;
    for (uint32_t id : d.chosen()) {
      Subflow* sf = subflow(id);
      if (sf == nullptr) continue;
      // The longer chunk only if the subflow's send buffer takes it whole.
      if (extended > len && SendChunk(*sf, start, static_cast<uint32_t>(extended), now)) {
        len = extended;
      } else if (!SendChunk(*sf, start, static_cast<uint32_t>(len), now)) {
        continue;
      }
      sent_max = len;
      scheduler_->OnSent(id, len);
    }
    if (sent_max == 0) break;
    if (reinjection) {
      // The rest of the range was sent nowhere yet but on the subflows it is excluded from: it may
      // go on the ones just chosen too. Excluding them as well could exclude every subflow, and
      // the range would be dropped from the queue (above) and wait for the data-level RTO.
      Reinjection& r = reinject_.front();
      bytes_reinjected_ += len;
      counters().Add(MptcpCounter::kReinjectedBytes, len);
      r.start = r.start + len;
      r.len -= static_cast<uint32_t>(len);
      if (r.len == 0) reinject_.erase(reinject_.begin());
    } else {
      data_nxt_ = data_nxt_ + len;
      if (data_nxt_ > data_max_sent_) data_max_sent_ = data_nxt_;
    }
  }
  if (data_una_ < data_max_sent_ || DataFinToSend()) ArmDataRto(now);
}

uint64_t MptcpConnection::ExtendedChunk(std::span<const SubflowSnapshot> snaps, uint32_t id,
                                        const ScheduleContext& ctx, uint64_t len) {
  // Each chunk is one DSS mapping. Sized by the room ACKs open, chunks are one or two segments
  // long, so every segment carries a different DSS: a Linux receiver cannot merge them (GRO
  // needs equal options) and spends a packet's work on each, which showed as a 4 % gap to the
  // kernel's own aggregation and a retransmission storm against tbf. The kernel's mappings are as
  // long as its TSO frames. Handing the fastest subflow up to half a window more than its room
  // keeps mappings long; slower subflows are not handed data early (it would wait behind their
  // longer RTT: head-of-line blocking at the receiver).
  const SubflowSnapshot* s = nullptr;
  tcp::Duration fastest = tcp::Duration::max();
  for (const SubflowSnapshot& c : snaps) {
    if (c.id == id) s = &c;
    if (c.active && !c.backup && c.srtt.count() > 0) fastest = std::min(fastest, c.srtt);
  }
  if (s == nullptr) return len;
  // No RTT measured yet (fastest unset): nothing to compare, the chunk may grow.
  if (fastest != tcp::Duration::max() && s->srtt > fastest + fastest / 2) return len;
  const uint64_t ahead = std::min<uint64_t>(kMinMappingSegments * s->mss, s->cwnd / 2);
  if (len >= ahead) return len;
  return std::min<uint64_t>({ahead, ctx.unsent, ctx.send_window, kSendBurstBytes});
}

bool MptcpConnection::SendChunk(Subflow& sf, DataSeq dsn, uint32_t len, tcp::Instant now) {
  const auto offset = static_cast<size_t>(dsn - data_una_);
  if (offset + len > send_buf_.size()) return false;
  const tcp::RingPieces p = send_buf_.Peek(offset, len);
  const std::optional<tcp::SendState> st = tcp().GetSendState(sf.socket);
  if (!st || st->send_free < len) return false;
  // The subflow sequence number the first byte gets: everything queued before it.
  const TcpSeq start = st->snd_una + st->send_queue;
  uint16_t checksum = 0;
  if (checksum_) {
    wire::InternetChecksum c;
    wire::AddDssPseudoHeader(c, dsn.raw(), static_cast<uint32_t>(start - sf.iss),
                             static_cast<uint16_t>(len));
    c.Add(p.head);
    c.Add(p.tail);
    checksum = c.Finish();
  }
  if (sf.tx_mapping_count() == 0) sf.last_progress = now;
  if (!sf.AddTxMapping({.dsn = dsn, .start = start, .len = len, .checksum = checksum},
                       config_.max_mappings)) {
    return false;
  }
  size_t sent = tcp().Send(sf.socket, p.head, now);
  if (sent == p.head.size() && !p.tail.empty()) sent += tcp().Send(sf.socket, p.tail, now);
  if (sent != len) {
    // Cannot happen: send_free was checked. Keep the mapping honest anyway.
    counters().Add(MptcpCounter::kDssMappingsFull);
  }
  sf.bytes_sent += sent;
  bytes_sent_ += sent;
  counters().Add(MptcpCounter::kDataBytesOut, sent);
  return sent > 0;
}

void MptcpConnection::PushFallback(tcp::Instant now) {
  Subflow* sf = nullptr;
  for (auto& s : subflows_) {
    if (s && s->has_socket && s->state != SubflowState::kClosed) sf = s.get();
  }
  if (sf == nullptr || sf->state != SubflowState::kEstablished) return;
  for (;;) {
    const auto offset = static_cast<size_t>(data_nxt_ - data_una_);
    if (offset >= send_buf_.size()) break;
    const tcp::RingPieces p = send_buf_.Peek(offset, send_buf_.size() - offset);
    const std::span<const uint8_t> piece = p.head.empty() ? p.tail : p.head;
    const size_t sent = tcp().Send(sf->socket, piece, now);
    if (sent == 0) break;
    data_nxt_ = data_nxt_ + sent;
    sf->bytes_sent += sent;
    bytes_sent_ += sent;
  }
  if (shutdown_ && data_nxt_ == data_una_ + send_buf_.size() && !sf->fin_sent) {
    sf->fin_sent = true;
    (void)tcp().Shutdown(sf->socket, now);
  }
}

Subflow* MptcpConnection::AckCarrier() {
  Subflow* best = nullptr;
  for (auto& sf : subflows_) {
    if (!sf || !sf->has_socket || sf->state != SubflowState::kEstablished) continue;
    if (best == nullptr || (best->stale && !sf->stale) || (best->backup() && !sf->backup())) {
      best = sf.get();
    }
  }
  return best;
}

void MptcpConnection::SendPendingAcks(tcp::Instant now) {
  if (fallback_) return;
  for (auto& sf : subflows_) {
    if (sf && sf->send_ack_after_join && sf->has_socket) {
      sf->send_ack_after_join = false;
      (void)tcp().SendAck(sf->socket, now);
    }
    if (sf && sf->prio_pending && sf->has_socket) (void)tcp().SendAck(sf->socket, now);
  }
  // Announcements due now.
  for (Announcement& a : announcements_) {
    if (!a.queued && a.next <= now) {
      if (a.tries > config_.path_manager.add_addr_retries) continue;
      a.queued = true;
      ++a.tries;
      a.next = now + config_.path_manager.add_addr_timeout;
      signal_ack_needed_ = true;
    }
  }
  if (!remove_ids_.empty()) signal_ack_needed_ = true;
  const std::optional<DataSeq> fin = DataFinToSend();
  if (fin && !data_fin_sent_) signal_ack_needed_ = true;
  if (signal_ack_needed_) {
    if (Subflow* sf = AckCarrier(); sf != nullptr) {
      signal_ack_needed_ = false;
      if (fin) data_fin_sent_ = true;
      (void)tcp().SendAck(sf->socket, now);
      // What did not fit goes on the next ACK.
      bool more = !echoes_.empty() || !remove_ids_.empty();
      for (const Announcement& a : announcements_) more |= a.queued;
      if (more) {
        signal_ack_needed_ = true;
        (void)tcp().SendAck(sf->socket, now);
      }
    }
  }
  if (remove_ids_.empty() && !reset_after_signal_.empty()) {
    for (uint32_t id : reset_after_signal_) {
      if (Subflow* sf = subflow(id); sf != nullptr && sf->has_socket) {
        (void)tcp().Abort(sf->socket, now);
      }
    }
    reset_after_signal_.clear();
  }
  // A DATA_ACK that moved and rode on nothing goes out on its own after a short delay.
  if (rcv_nxt_ > last_data_ack_sent_) {
    if (!data_ack_due_) data_ack_due_ = now + config_.data_ack_delay;
    if (*data_ack_due_ <= now || peer_fin_) {
      if (Subflow* sf = AckCarrier(); sf != nullptr) (void)tcp().SendAck(sf->socket, now);
      data_ack_due_.reset();
    }
  } else {
    data_ack_due_.reset();
  }
}

void MptcpConnection::ReinjectFrom(Subflow& sf) {
  for (const TxMapping& m : sf.tx_mappings()) {
    const DataSeq end = m.dsn + m.len;
    if (end <= data_una_) continue;
    const DataSeq start = std::max(m.dsn, data_una_);
    reinject_.push_back(
        {.start = start, .len = static_cast<uint32_t>(end - start), .exclude = Bit(sf.id())});
  }
  MarkDirty();
}

void MptcpConnection::ResetSubflow(Subflow& sf, wire::MpTcpRstReason reason, tcp::Instant now) {
  sf.rst_reason = reason;
  sf.state = SubflowState::kClosing;
  ReinjectFrom(sf);
  (void)tcp().Abort(sf.socket, now);
}

void MptcpConnection::MaybeFinishClose(tcp::Instant now) {
  if (subflows_closing_ || failed_) return;
  // Both directions finished at the data level: the subflows close with TCP FINs (the kernel's
  // mptcp_close_ssk after the DATA_FIN exchange). In fallback, TCP's own FINs did it.
  const bool ours_done = shutdown_ && (fallback_ ? data_una_ == data_nxt_ : data_fin_acked_);
  if (!ours_done || !peer_fin_) return;
  subflows_closing_ = true;
  for (auto& sf : subflows_) {
    if (!sf || !sf->has_socket || sf->state == SubflowState::kClosed) continue;
    // A stale subflow would retransmit its FIN on a dead path for minutes: reset it.
    const bool stale = sf->stale;
    sf->state = SubflowState::kClosing;
    (void)(stale ? tcp().Abort(sf->socket, now) : tcp().Close(sf->socket, now));
  }
}

MptcpConnection::HeadHolder MptcpConnection::HeadOfLine() const {
  HeadHolder h;
  if (config_.hol_min <= tcp::Duration::zero() || data_una_ >= data_max_sent_) return h;
  Subflow* holder = nullptr;
  size_t usable = 0;
  for (const auto& sf : subflows_) {
    if (!sf || !sf->has_socket || sf->state != SubflowState::kEstablished) continue;
    ++usable;
    // A stale subflow's data all went back to the reinjection queue when it became stale: the
    // head is waited for on the subflow that carries it again, if any.
    if (!sf->stale && MappingOfHead(*sf) != nullptr) holder = sf.get();
  }
  if (holder == nullptr || usable < 2) return h;
  const std::optional<tcp::SendState> st = stack_.tcp().GetSendState(holder->socket);
  if (!st) return h;
  h.sf = holder;
  if (!hol_reinjected_ || *hol_reinjected_ != data_una_) {
    h.stuck_at = holder->last_progress + std::max(config_.hol_min, 2 * st->srtt + 4 * st->rttvar);
  }
  // Silent: nothing at all from the peer on the holder (no ACK, no SACK) for hol_min and half an
  // RTT (a sender the peer's window held back leaves gaps that long in its ACKs) while its
  // oldest segment is overdue, sent more than 2·SRTT + 4·RTTVAR ago (the stuck rule's wait, from
  // when the segment left rather than from the last progress: twice the RTT leaves room for a
  // queue that grows under slow start). With two segments or more in flight an ACK is due at
  // least every second one (RFC 5681 §4.2: a delayed ACK never holds back more), so the path is
  // broken or blackholed: waiting for the holder's RTO (200 ms at least) would stall the receiver
  // that long. RFC 8684 §3.3.6 lets data go again on another subflow for this.
  if (st->una_sent && st->in_flight >= 2 * uint64_t{st->snd_mss}) {
    h.silent_at = std::max(*st->una_sent + 2 * st->srtt + 4 * st->rttvar,
                           st->last_heard + std::max(config_.hol_min, st->srtt / 2));
  }
  return h;
}

void MptcpConnection::CheckHeadOfLine(tcp::Instant now) {
  const HeadHolder h = HeadOfLine();
  if (h.sf == nullptr) return;
  if (h.silent_at && now >= *h.silent_at) {
    counters().Add(MptcpCounter::kSubflowSilent);
    MarkStale(*h.sf);
    hol_reinjected_ = data_una_;
    return;
  }
  if (!h.stuck_at || now < *h.stuck_at) return;
  const TxMapping* m = MappingOfHead(*h.sf);
  // Ahead of any other reinjection: this is the byte the receiver waits for.
  reinject_.insert(reinject_.begin(), {.start = data_una_,
                                       .len = static_cast<uint32_t>((m->dsn + m->len) - data_una_),
                                       .exclude = Bit(h.sf->id())});
  hol_reinjected_ = data_una_;
  counters().Add(MptcpCounter::kHolReinjections);
}

const TxMapping* MptcpConnection::MappingOfHead(const Subflow& sf) const {
  for (const TxMapping& m : sf.tx_mappings()) {
    if (m.dsn <= data_una_ && data_una_ < m.dsn + m.len) return &m;
  }
  return nullptr;
}

void MptcpConnection::ArmDataRto(tcp::Instant now) {
  if (data_rto_at_) return;
  tcp::Duration rto = config_.min_data_rto;
  for (const auto& sf : subflows_) {
    if (!sf || !sf->has_socket || sf->state != SubflowState::kEstablished) continue;
    if (const std::optional<tcp::SendState> st = tcp().GetSendState(sf->socket); st) {
      rto = std::max(rto, 2 * st->rto);
    }
  }
  if (data_rto_ > rto) rto = data_rto_;
  data_rto_ = std::min(rto, config_.max_data_rto);
  data_rto_at_ = now + data_rto_;
  data_rto_una_ = data_una_;
}

std::optional<tcp::Instant> MptcpConnection::PollAt() const {
  std::optional<tcp::Instant> at = data_rto_at_;
  auto consider = [&](std::optional<tcp::Instant> t) {
    if (t && (!at || *t < *at)) at = t;
  };
  consider(data_ack_due_);
  for (const Announcement& a : announcements_) {
    if (!a.queued) consider(a.next);
  }
  for (const auto& sf : subflows_) {
    if (sf && sf->active() && sf->state == SubflowState::kPreEstablished) {
      consider(sf->join_ack_sent +
               config_.join_ack_timeout * (1u << std::min(sf->join_ack_tries, 10u)));
    }
  }
  if (pm_started_) consider(pm_->NextTimer());
  if (!fallback_) {
    const HeadHolder h = HeadOfLine();
    consider(h.stuck_at);
    consider(h.silent_at);
  }
  if (config_.stale_close_after > tcp::Duration::zero()) {
    for (const auto& sf : subflows_) {
      if (sf && sf->stale && sf->state == SubflowState::kEstablished) {
        consider(sf->last_progress + config_.stale_close_after);
      }
    }
  }
  return at;
}

void MptcpConnection::OnTimer(tcp::Instant now) {
  if (data_rto_at_ && *data_rto_at_ <= now) {
    data_rto_at_.reset();
    if (!failed_ && !fallback_ && (data_una_ < data_max_sent_ || DataFinToSend())) {
      counters().Add(MptcpCounter::kRetransmits);
      if (data_una_ == data_rto_una_ && data_una_ < data_max_sent_) {
        // Nothing was DATA_ACKed for a whole data-level RTO: send the oldest chunk again on the
        // best subflow, whichever held it (the kernel's __mptcp_retrans).
        const uint64_t len = std::min<uint64_t>(data_max_sent_ - data_una_, kSendBurstBytes);
        if (reinject_.empty() || reinject_.front().start != data_una_) {
          reinject_.insert(reinject_.begin(),
                           {.start = data_una_, .len = static_cast<uint32_t>(len), .exclude = 0});
        }
      }
      if (DataFinToSend()) data_fin_sent_ = false;  // send the DATA_FIN again
      data_rto_ = std::min(2 * data_rto_, config_.max_data_rto);
      ArmDataRto(now);
    }
  }
  for (auto& sf : subflows_) {
    if (sf && sf->active() && sf->has_socket && sf->state == SubflowState::kPreEstablished &&
        now >= sf->join_ack_sent +
                   config_.join_ack_timeout * (1u << std::min(sf->join_ack_tries, 10u))) {
      if (sf->join_ack_tries > config_.join_ack_retries) {
        ResetSubflow(*sf, wire::MpTcpRstReason::kMptcpSpecific, now);
      } else {
        ++sf->join_ack_tries;
        sf->join_ack_sent = now;
        (void)tcp().SendAck(sf->socket, now);
      }
    }
  }
  if (config_.stale_close_after > tcp::Duration::zero() && !failed_ && !subflows_closing_) {
    for (auto& sf : subflows_) {
      if (sf && sf->stale && sf->has_socket && sf->state == SubflowState::kEstablished &&
          now - sf->last_progress >= config_.stale_close_after && AckCarrier() != sf.get()) {
        sf->timed_out = true;
        ResetSubflow(*sf, wire::MpTcpRstReason::kUnacceptablePerformance, now);
      }
    }
  }
  for (Announcement& a : announcements_) {
    if (!a.queued && a.next <= now && a.tries > config_.path_manager.add_addr_retries) {
      counters().Add(MptcpCounter::kAddAddrGivenUp);
      announce_done_.push_back({a.endpoint.id, false});
    }
  }
  std::erase_if(announcements_, [&](const Announcement& a) {
    return !a.queued && a.next <= now && a.tries > config_.path_manager.add_addr_retries;
  });
  if (pm_started_ && !failed_) {
    if (const std::optional<tcp::Instant> t = pm_->NextTimer(); t && *t <= now) {
      pm_->OnTimer(*this, now);
    }
  }
  MarkDirty();
}

void MptcpConnection::AbandonSubflow(Subflow& sf) {
  // A passive join TCP never completed (it forgets such handshakes without an event).
  if (sf.state == SubflowState::kClosed || sf.has_socket) return;
  sf.state = SubflowState::kClosed;
  counters().Add(MptcpCounter::kSubflowsClosed);
  RefreshPmView();
  MarkDirty();
}

bool MptcpConnection::subflows_gone() const {
  if (subflows_.empty()) return false;
  for (const auto& sf : subflows_) {
    if (sf && sf->state != SubflowState::kClosed) return false;
  }
  return true;
}

// ---- PmConnection actions ----------------------------------------------------------------------

bool MptcpConnection::OpenSubflow(const SubflowRequest& request) {
  if (failed_ || fallback_ || subflows_closing_ || !remote_key_known_) return false;
  if (live_subflows() >= kMaxSubflows) return false;
  std::optional<wire::IpAddress> bind;
  uint8_t local_id = 0;
  if (request.local) {
    bind = request.local->address;
    local_id = request.local->id;
    if (!path_up(*bind)) return false;
  } else if (config_.own_addresses_only) {
    std::vector<wire::IpAddress> own;
    if (flow_) own.push_back(flow_->local);
    for (const Endpoint& e : config_.path_manager.endpoints) own.push_back(e.address);
    bind = tcp().SourceAmong(request.remote, own);
    if (!bind || !path_up(*bind)) return false;
  }
  Subflow* sf = AddSubflow(Subflow::Kind::kJoin, /*active=*/true);
  if (sf == nullptr) return false;
  sf->local_nonce = GenerateNonce();
  sf->local_backup = request.backup;
  sf->remote_id = request.remote_id;
  const uint16_t port =
      request.remote_port != 0 ? request.remote_port : (flow_ ? flow_->remote_port : uint16_t{0});
  tcp::TcpConfig config = subflow_config_;
  config.syn_retries = std::min(config.syn_retries, config_.join_syn_retries);
  absl::StatusOr<tcp::SocketId> s = tcp().ConnectWithHooks(
      request.remote, port, config, &stack_.subflow_handler(), tcp().now(), bind, sf);
  if (!s.ok()) {
    sf->state = SubflowState::kClosed;
    return false;
  }
  const std::optional<tcp::FlowKey> f = tcp().Flow(*s);
  if (f) {
    sf->local_address = f->local;
    sf->local_port = f->local_port;
    sf->remote_address = f->remote;
    sf->remote_port = f->remote_port;
    if (!request.local) local_id = LocalIdFor(f->local);
  }
  sf->local_id = local_id;
  stack_.RegisterSubflow(*s, *this, *sf);
  counters().Add(MptcpCounter::kSubflowsOpened);
  RefreshPmView();
  return true;
}

bool MptcpConnection::Announce(const Endpoint& endpoint) {
  if (failed_ || fallback_ || !remote_key_known_) return false;
  for (const Announcement& a : announcements_) {
    if (a.endpoint.id == endpoint.id) return false;
  }
  if (!stack_.tcp().IsLocalAddress(endpoint.address)) return false;
  // RFC 8684 §3.4.1: without a port the peer joins the port of the subflow that carried the
  // ADD_ADDR — for us, the initial subflow's local port; someone must listen there.
  const uint16_t port = endpoint.port ? *endpoint.port : (flow_ ? flow_->local_port : uint16_t{0});
  if (port == 0 || !stack_.EnsureJoinListener(endpoint.address, port)) return false;
  join_listeners_held_.emplace_back(endpoint.address, port);
  announcements_.push_back(
      {.endpoint = endpoint, .tries = 0, .next = tcp().now(), .queued = false});
  MarkDirty();
  return true;
}

bool MptcpConnection::Remove(uint8_t local_id) {
  if (failed_ || fallback_) return false;
  remove_ids_.push_back(local_id);
  std::erase_if(announcements_, [&](const Announcement& a) { return a.endpoint.id == local_id; });
  // RFC 8684 §3.4.2: the peer closes its subflows on receiving REMOVE_ADDR; ours are reset only
  // once the REMOVE_ADDR has gone out on another subflow (SendPendingAcks), so the peer learns
  // why before it sees the RST and does not open them again.
  for (auto& sf : subflows_) {
    if (sf && sf->has_socket && sf->local_id == local_id && sf->state != SubflowState::kClosed &&
        sf->kind() != Subflow::Kind::kInitial) {
      sf->removed = true;
      sf->state = SubflowState::kClosing;
      // RFC 8684 §3.6 reason 3: should the REMOVE_ADDR be lost, the RST still says "do not
      // come back".
      sf->rst_reason = wire::MpTcpRstReason::kAdministrativelyProhibited;
      ReinjectFrom(*sf);
      reset_after_signal_.push_back(sf->id());
    }
  }
  MarkDirty();
  return true;
}

bool MptcpConnection::SetBackup(uint32_t subflow_id, bool backup) {
  Subflow* sf = subflow(subflow_id);
  if (sf == nullptr || !sf->has_socket || fallback_) return false;
  sf->local_backup = backup;
  sf->prio_pending = true;
  MarkDirty();
  return true;
}

bool MptcpConnection::CloseSubflow(uint32_t subflow_id) {
  Subflow* sf = subflow(subflow_id);
  if (sf == nullptr || !sf->has_socket || sf->state == SubflowState::kClosed) return false;
  if (live_subflows() == 1) return false;  // the last one carries the connection
  sf->state = SubflowState::kClosing;
  ReinjectFrom(*sf);
  (void)tcp().Abort(sf->socket, tcp().now());
  MarkDirty();
  return true;
}

void MptcpConnection::OnPathDown(const wire::IpAddress& local) {
  if (failed_ || fallback_) return;
  for (auto& sf : subflows_) {
    if (!sf || !sf->has_socket || sf->state == SubflowState::kClosed ||
        sf->state == SubflowState::kClosing || !(sf->local_address == local)) {
      continue;
    }
    if (live_subflows() == 1) break;
    // Nothing sent on it can arrive: its data goes to the other subflows now rather than after
    // its retransmissions time out.
    sf->path_down = true;
    counters().Add(MptcpCounter::kSubflowsPathDown);
    sf->state = SubflowState::kClosing;
    ReinjectFrom(*sf);
    (void)tcp().Abort(sf->socket, tcp().now());
  }
  MarkDirty();
}

// ---- Introspection ---------------------------------------------------------------------------

MptcpInfo MptcpConnection::Info() const {
  MptcpInfo i;
  i.client = client_;
  i.fallback = fallback_;
  i.fully_established = fully_established_;
  i.checksum = checksum_;
  i.local_token = local_token_;
  i.remote_token = remote_token_;
  i.local_key = local_key_;
  i.remote_key = remote_key_;
  i.data_una = data_una_;
  i.data_nxt = data_nxt_;
  i.rcv_nxt = rcv_nxt_;
  i.subflows = static_cast<uint32_t>(live_subflows());
  i.send_queue = static_cast<uint32_t>(send_buf_.size());
  i.receive_queue = static_cast<uint32_t>(rcv_buf_.size());
  i.out_of_order = reasm_ ? static_cast<uint32_t>(reasm_->held_bytes()) : 0;
  i.scheduler = std::string(scheduler_->name());
  i.path_manager = std::string(pm_->name());
  i.policy_name = config_.policy_name;
  i.bytes_sent = bytes_sent_;
  i.bytes_received = bytes_received_;
  i.bytes_reinjected = bytes_reinjected_;
  return i;
}

std::vector<SubflowInfo> MptcpConnection::Subflows() const {
  std::vector<SubflowInfo> out;
  for (const auto& sf : subflows_) {
    if (!sf) continue;
    SubflowInfo i;
    i.id = sf->id();
    i.state = sf->state;
    i.initial = sf->kind() == Subflow::Kind::kInitial;
    i.backup = sf->backup();
    i.stale = sf->stale;
    i.local_id = sf->local_id;
    i.remote_id = sf->remote_id;
    i.local_address = sf->local_address;
    i.local_port = sf->local_port;
    i.remote_address = sf->remote_address;
    i.remote_port = sf->remote_port;
    i.bytes_sent = sf->bytes_sent;
    i.bytes_received = sf->bytes_received;
    if (sf->has_socket) i.tcp = stack_.tcp().Info(sf->socket);
    out.push_back(std::move(i));
  }
  return out;
}

}  // namespace braid::mptcp
