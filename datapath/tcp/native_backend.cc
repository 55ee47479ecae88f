// The connection table, flow table, listeners, TIME-WAIT entries, timer heap and event queue of
// NativeTcpBackend; the rules are in native_backend.h.
#include "datapath/tcp/native_backend.h"

#include <algorithm>
#include <chrono>
#include <utility>
#include <variant>

namespace braid::tcp {
namespace {

constexpr std::array<std::string_view, kBackendCounterCount> kCounterNames = {
#define BRAID_TCP_BACKEND_COUNTER(name, metric, help) metric,
#include "datapath/tcp/native_backend_mib.def"
#undef BRAID_TCP_BACKEND_COUNTER
};
constexpr std::array<std::string_view, kBackendCounterCount> kCounterHelp = {
#define BRAID_TCP_BACKEND_COUNTER(name, metric, help) help,
#include "datapath/tcp/native_backend_mib.def"
#undef BRAID_TCP_BACKEND_COUNTER
};

// RFC 9293 §3.3.2: the states after the handshake.
bool Synchronized(TcpState s) {
  switch (s) {
    case TcpState::kEstablished:
    case TcpState::kFinWait1:
    case TcpState::kFinWait2:
    case TcpState::kCloseWait:
    case TcpState::kClosing:
    case TcpState::kLastAck:
    case TcpState::kTimeWait:
      return true;
    default:
      return false;
  }
}

TcpEvent Event(TcpEvent::Kind kind, ConnectionId id) {
  TcpEvent e{};
  e.kind = kind;
  e.connection = id;
  return e;
}

TcpEvent Event(TcpEvent::Kind kind, ConnectionId id, uint64_t bytes, uint32_t count,
               TcpEvent::ResetReason reason) {
  TcpEvent e = Event(kind, id);
  e.bytes = bytes;
  e.count = count;
  e.reason = reason;
  return e;
}

bool SameFamily(const FlowKey& flow) { return flow.local.index() == flow.remote.index(); }

constexpr size_t kInitialEventCapacity = 256;

}  // namespace

std::string_view BackendCounterName(BackendCounter counter) {
  const auto i = static_cast<size_t>(counter);
  return i < kCounterNames.size() ? kCounterNames[i] : "unknown";
}

std::string_view BackendCounterHelp(BackendCounter counter) {
  const auto i = static_cast<size_t>(counter);
  return i < kCounterHelp.size() ? kCounterHelp[i] : "unknown";
}

void NativeTcpBackend::TxSink::Transmit(const FlowKey& flow, const OutboundSegment& segment) {
  const uint32_t i = backend_.current_;
  if (i != kNone && segment.header.options.timestamps) {
    Slot& s = backend_.slots_[i];
    s.last_tsval_sent = segment.header.options.timestamps->tsval;
    s.last_tsval_at = backend_.now_;
  }
  backend_.out_.Transmit(flow, segment);
}

NativeTcpBackend::NativeTcpBackend(const NativeTcpBackendConfig& config, SegmentSink& out)
    : config_(config),
      out_(out),
      tx_(*this),
      isn_(config.secret),
      cookies_(config.secret, config.cookie_max_age_slots) {
  events_.resize(kInitialEventCapacity);
  flows_.reserve(std::min<size_t>(size_t{config.max_connections} + config.max_time_wait, 1 << 16));
}

NativeTcpBackend::~NativeTcpBackend() = default;

// ---- Tables -----------------------------------------------------------------------------------

NativeTcpBackend::Slot* NativeTcpBackend::Find(ConnectionId id) {
  if (!id.valid() || id.index >= slots_.size()) return nullptr;
  Slot& s = slots_[id.index];
  if (!s.live || s.generation != id.generation) return nullptr;
  // A passive connection is not the upper layer's until announced.
  if (s.passive && !s.announced) return nullptr;
  return &s;
}

const NativeTcpBackend::Slot* NativeTcpBackend::Find(ConnectionId id) const {
  return const_cast<NativeTcpBackend*>(this)->Find(id);
}

bool NativeTcpBackend::HasRoom() const { return live_connections_ < config_.max_connections; }

std::optional<uint32_t> NativeTcpBackend::AllocateSlot() {
  if (!HasRoom()) return std::nullopt;
  uint32_t index;
  if (!free_slots_.empty()) {
    index = free_slots_.back();
    free_slots_.pop_back();
  } else {
    index = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& s = slots_[index];
  const uint32_t generation = s.generation;
  s = Slot{};
  s.generation = generation;
  s.live = true;
  ++live_connections_;
  return index;
}

void NativeTcpBackend::FreeSlot(uint32_t index) {
  Slot& s = slots_[index];
  if (!s.live) return;
  if (s.flow_mapped) {
    flows_.erase(s.flow);
    s.flow_mapped = false;
  }
  s.conn.reset();
  s.live = false;
  s.armed.reset();
  ++s.generation;
  if (s.generation == 0) s.generation = 1;
  --live_connections_;
  free_slots_.push_back(index);
}

TcpListener* NativeTcpBackend::FindListener(uint32_t index) {
  auto it = listeners_.find(index);
  return it == listeners_.end() ? nullptr : it->second.get();
}

const TcpListener* NativeTcpBackend::listener(ListenerId id) const {
  auto it = listeners_.find(id.index);
  return it == listeners_.end() ? nullptr : it->second.get();
}

TcpListener* NativeTcpBackend::LookupListener(const wire::IpAddress& local, uint16_t port) {
  auto it = listen_keys_.find(ListenKey{.any = false, .address = local, .port = port});
  if (it == listen_keys_.end()) {
    it = listen_keys_.find(ListenKey{.any = true, .address = wire::IpAddress{}, .port = port});
  }
  return it == listen_keys_.end() ? nullptr : FindListener(it->second);
}

// ---- Events -----------------------------------------------------------------------------------

void NativeTcpBackend::PushEvent(const TcpEvent& event) {
  if (events_count_ == events_.size()) {
    // Grow the ring, unrolled into order. Rare: the upper layer drains after each call.
    std::vector<TcpEvent> bigger(events_.size() * 2);
    for (size_t i = 0; i < events_count_; ++i) {
      bigger[i] = events_[(events_head_ + i) % events_.size()];
    }
    events_ = std::move(bigger);
    events_head_ = 0;
  }
  events_[(events_head_ + events_count_) % events_.size()] = event;
  ++events_count_;
}

bool NativeTcpBackend::NextEvent(TcpEvent* event) {
  if (events_count_ == 0) return false;
  *event = events_[events_head_];
  events_head_ = (events_head_ + 1) % events_.size();
  --events_count_;
  if (event->kind == TcpEvent::Kind::kAccepted) {
    if (TcpListener* l = FindListener(event->listener.index)) l->AcceptDrained();
  } else if (event->kind == TcpEvent::Kind::kClosed) {
    const ConnectionId id = event->connection;
    if (id.index < slots_.size() && slots_[id.index].live &&
        slots_[id.index].generation == id.generation) {
      FreeSlot(id.index);
    }
  }
  return true;
}

// ---- After each call into a connection --------------------------------------------------------

void NativeTcpBackend::Announce(uint32_t index) {
  Slot& s = slots_[index];
  s.announced = true;
  counters_.Add(BackendCounter::kConnectionsAccepted);
  PushEvent(Event(TcpEvent::Kind::kEstablished, IdOf(index)));
  TcpEvent accepted = Event(TcpEvent::Kind::kAccepted, IdOf(index));
  accepted.listener = ListenerId{s.listener};
  accepted.user_data = s.user_data;
  if (TcpListener* l = FindListener(s.listener)) l->AcceptQueued();
  PushEvent(accepted);
}

void NativeTcpBackend::Service(uint32_t index, Instant now, bool after_timer) {
  // Bounded: at most one abort is added to a pass.
  for (int pass = 0; pass < 2; ++pass) {
    Slot& s = slots_[index];
    if (!s.live || s.closed || !s.conn) return;
    const ConnectionEvents ev = s.conn->TakeEvents();
    const TcpState state = s.conn->state();

    if (s.passive && !s.announced) {
      TcpListener* l = FindListener(s.listener);
      if (Synchronized(state)) {
        if (s.half_open) {
          s.half_open = false;
          if (l != nullptr) l->HalfOpenRemoved();
        }
        Announce(index);
      } else if (ev.closed || state == TcpState::kClosed) {
        if (s.half_open && l != nullptr) l->HalfOpenRemoved();
        counters_.Add(BackendCounter::kHalfOpenFailed);
        ReleaseSilently(index);
        return;
      } else {
        Arm(index, now, after_timer);
        return;
      }
    } else if (ev.established && !s.passive) {
      PushEvent(Event(TcpEvent::Kind::kEstablished, IdOf(index)));
    }

    const ConnectionId id = IdOf(index);
    if (ev.acked_bytes != 0) {
      PushEvent(Event(TcpEvent::Kind::kAcked, id, ev.acked_bytes, 0, TcpEvent::ResetReason::kNone));
    }
    if (ev.writable) PushEvent(Event(TcpEvent::Kind::kWritable, id));
    uint32_t readable = 0;
    if (ev.readable) {
      readable = s.conn->Info().receive_queue;
      PushEvent(Event(TcpEvent::Kind::kReadable, id, readable, 0, TcpEvent::ResetReason::kNone));
    }
    if (ev.peer_fin) PushEvent(Event(TcpEvent::Kind::kPeerFin, id));
    if (ev.rto_count != 0) {
      PushEvent(Event(TcpEvent::Kind::kRetransmitTimeout, id, 0, ev.rto_count,
                      TcpEvent::ResetReason::kNone));
    }
    if (ev.reset != TcpEvent::ResetReason::kNone) {
      PushEvent(Event(TcpEvent::Kind::kReset, id, 0, 0, ev.reset));
    }

    if (ev.closed || state == TcpState::kClosed) {
      CloseSlot(index);
      return;
    }
    // Linux's TCPAbortOnData: the application closed and will never read this.
    if (s.app_closed && ev.readable && readable > 0 && pass == 0) {
      counters_.Add(BackendCounter::kAbortOnData);
      current_ = index;
      s.conn->Abort(now, tx_);
      current_ = kNone;
      continue;
    }
    if (state == TcpState::kTimeWait && s.conn->Info().receive_queue == 0 &&
        EnterTimeWait(index, now)) {
      CloseSlot(index);
      return;
    }
    Arm(index, now, after_timer);
    return;
  }
}

void NativeTcpBackend::CloseSlot(uint32_t index) {
  Slot& s = slots_[index];
  if (s.closed) return;
  s.closed = true;
  s.armed.reset();
  if (s.flow_mapped) {
    // Unless a TIME-WAIT entry took the flow over.
    auto it = flows_.find(s.flow);
    if (it != flows_.end() && !it->second.time_wait && it->second.index == index) flows_.erase(it);
    s.flow_mapped = false;
  }
  counters_.Add(BackendCounter::kConnectionsClosed);
  PushEvent(Event(TcpEvent::Kind::kClosed, IdOf(index)));
}

void NativeTcpBackend::ReleaseSilently(uint32_t index) { FreeSlot(index); }

void NativeTcpBackend::Arm(uint32_t index, Instant now, bool after_timer) {
  Slot& s = slots_[index];
  if (!s.live || s.closed || !s.conn) return;
  std::optional<Instant> at = s.conn->PollAt();
  if (!at) return;  // an armed entry, if any, fires and finds nothing
  // Right after OnTimer(now) nothing should be due; never let a connection spin the loop.
  if (after_timer && *at <= now) at = now + std::chrono::microseconds(1);
  if (s.armed && *s.armed <= *at) return;
  s.armed = at;
  timers_.push_back(TimerEntry{.at = *at, .index = index, .generation = s.generation});
  std::push_heap(timers_.begin(), timers_.end(), TimerLater{});
}

// ---- TcpBackend -------------------------------------------------------------------------------

TcpError NativeTcpBackend::Connect(const ConnectRequest& request, Instant now, ConnectionId* id) {
  if (!SameFamily(request.flow)) return TcpError::kInvalidState;
  if (flows_.contains(request.flow)) return TcpError::kInvalidState;
  if (!request.config.congestion_control.empty() &&
      !cc_registry_.Contains(request.config.congestion_control)) {
    return TcpError::kUnknownCongestionControl;
  }
  const std::optional<uint32_t> index = AllocateSlot();
  if (!index) {
    counters_.Add(BackendCounter::kTableFull);
    return TcpError::kNoResources;
  }
  FourTupleV4 v4;
  FourTupleV6 v6;
  bool is_v4 = true;
  ToFourTuple(request.flow, &v4, &v6, &is_v4);
  const wire::TcpSeq iss = is_v4 ? isn_.Isn(v4, now) : isn_.Isn(v6, now);
  const uint32_t ts_offset = is_v4 ? isn_.TsOffset(v4) : isn_.TsOffset(v6);

  now_ = now;
  current_ = *index;
  TcpError error = TcpError::kOk;
  std::unique_ptr<TcpConnection> conn = TcpConnection::Connect(
      request.config, request.flow, iss, ts_offset, request.hooks, now, tx_, &error);
  current_ = kNone;
  if (!conn) {
    FreeSlot(*index);
    return error == TcpError::kOk ? TcpError::kInvalidState : error;
  }
  Slot& s = slots_[*index];
  s.conn = std::move(conn);
  s.flow = request.flow;
  s.time_wait = request.config.time_wait;
  s.announced = true;
  s.flow_mapped = true;
  flows_.emplace(request.flow, FlowEntry{.time_wait = false, .index = *index});
  counters_.Add(BackendCounter::kConnectionsOpened);
  if (id != nullptr) *id = IdOf(*index);
  Service(*index, now);
  return TcpError::kOk;
}

TcpError NativeTcpBackend::Listen(const wire::IpAddress* local, uint16_t port,
                                  const TcpConfig& config, ListenHooks* hooks, ListenerId* id) {
  if (!config.congestion_control.empty() && !cc_registry_.Contains(config.congestion_control)) {
    return TcpError::kUnknownCongestionControl;
  }
  ListenKey key{.any = local == nullptr, .address = {}, .port = port};
  if (local != nullptr) key.address = *local;
  if (listen_keys_.contains(key)) return TcpError::kAddressInUse;
  if (listeners_.size() >= config_.max_listeners) return TcpError::kNoResources;
  // Indices are never reused, so a stale ListenerId cannot name a newer listener.
  const uint32_t index = next_listener_++;
  std::optional<wire::IpAddress> address;
  if (local != nullptr) address = *local;
  listeners_.emplace(index, std::make_unique<TcpListener>(ListenerId{index}, address, port, config,
                                                          hooks, isn_, cookies_));
  listen_keys_.emplace(key, index);
  if (id != nullptr) *id = ListenerId{index};
  return TcpError::kOk;
}

TcpError NativeTcpBackend::StopListening(ListenerId id) {
  auto it = listeners_.find(id.index);
  if (it == listeners_.end()) return TcpError::kInvalidHandle;
  const TcpListener& l = *it->second;
  ListenKey key{.any = !l.local().has_value(), .address = {}, .port = l.port()};
  if (l.local()) key.address = *l.local();
  listen_keys_.erase(key);
  // Linux's inet_csk_listen_stop: connections still in the handshake are reset. Those already
  // accepted (their kAccepted queued) belong to the upper layer now.
  for (uint32_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    if (!s.live || !s.passive || s.announced || s.listener != id.index) continue;
    current_ = i;
    if (s.conn) s.conn->Abort(now_, tx_);
    current_ = kNone;
    ReleaseSilently(i);
  }
  listeners_.erase(it);
  return TcpError::kOk;
}

SendResult NativeTcpBackend::Send(ConnectionId id, std::span<const uint8_t> bytes, Instant now) {
  Slot* s = Find(id);
  if (s == nullptr || s->closed || s->shut_down) return {};
  now_ = now;
  current_ = id.index;
  const SendResult r = s->conn->Send(bytes, now, tx_);
  current_ = kNone;
  Service(id.index, now);
  return r;
}

ReceiveResult NativeTcpBackend::Receive(ConnectionId id, std::span<uint8_t> out, Instant now) {
  Slot* s = Find(id);
  if (s == nullptr || !s->conn) return {};
  now_ = now;
  current_ = id.index;
  const ReceiveResult r = s->conn->Receive(out, now, tx_);
  current_ = kNone;
  if (!s->closed) Service(id.index, now);
  return r;
}

TcpError NativeTcpBackend::Shutdown(ConnectionId id, Instant now) {
  Slot* s = Find(id);
  if (s == nullptr) return TcpError::kInvalidHandle;
  if (s->closed) return TcpError::kInvalidState;
  if (s->shut_down) return TcpError::kOk;
  now_ = now;
  current_ = id.index;
  const TcpError e = s->conn->Shutdown(now, tx_);
  current_ = kNone;
  if (e == TcpError::kOk) s->shut_down = true;
  Service(id.index, now);
  return e;
}

TcpError NativeTcpBackend::Abort(ConnectionId id, Instant now) {
  Slot* s = Find(id);
  if (s == nullptr) return TcpError::kInvalidHandle;
  if (s->closed) return TcpError::kOk;
  now_ = now;
  current_ = id.index;
  s->conn->Abort(now, tx_);
  current_ = kNone;
  Service(id.index, now);
  // The engine must be CLOSED after ABORT (RFC 9293 §3.10.5); make sure the handle closes.
  Slot& after = slots_[id.index];
  if (after.live && after.generation == id.generation && !after.closed) CloseSlot(id.index);
  return TcpError::kOk;
}

TcpError NativeTcpBackend::Close(ConnectionId id, Instant now) {
  Slot* s = Find(id);
  if (s == nullptr) return TcpError::kInvalidHandle;
  if (s->app_closed) return TcpError::kOk;
  s->app_closed = true;
  if (s->closed) return TcpError::kOk;
  if (s->conn->Info().receive_queue > 0) {
    // RFC 2525 §2.17 (Linux): closing with unread data resets the connection.
    counters_.Add(BackendCounter::kAbortOnClose);
    return Abort(id, now);
  }
  if (!s->shut_down) return Shutdown(id, now);
  return TcpError::kOk;
}

TcpError NativeTcpBackend::SendAck(ConnectionId id, Instant now) {
  Slot* s = Find(id);
  if (s == nullptr) return TcpError::kInvalidHandle;
  if (s->closed || !s->conn) return TcpError::kInvalidState;
  now_ = now;
  current_ = id.index;
  const bool sent = s->conn->SendAckNow(now, tx_);
  current_ = kNone;
  Service(id.index, now);
  return sent ? TcpError::kOk : TcpError::kInvalidState;
}

std::optional<SendState> NativeTcpBackend::GetSendState(ConnectionId id) const {
  const Slot* s = Find(id);
  if (s == nullptr || !s->conn) return std::nullopt;
  return s->conn->GetSendState();
}

std::optional<TcpInfo> NativeTcpBackend::Info(ConnectionId id) const {
  const Slot* s = Find(id);
  if (s == nullptr || !s->conn) return std::nullopt;
  return s->conn->Info();
}

std::optional<FlowKey> NativeTcpBackend::Flow(ConnectionId id) const {
  const Slot* s = Find(id);
  if (s == nullptr) return std::nullopt;
  return s->flow;
}

TcpError NativeTcpBackend::SetNagle(ConnectionId id, bool on) {
  Slot* s = Find(id);
  if (s == nullptr) return TcpError::kInvalidHandle;
  if (s->conn) s->conn->SetNagle(on);
  return TcpError::kOk;
}

TcpError NativeTcpBackend::SetKeepalive(ConnectionId id, bool on) {
  Slot* s = Find(id);
  if (s == nullptr) return TcpError::kInvalidHandle;
  if (s->conn) {
    s->conn->SetKeepalive(on);
    // The keepalive deadline may be the connection's earliest now: the timer heap must know.
    Arm(id.index, now_, /*after_timer=*/false);
  }
  return TcpError::kOk;
}

void NativeTcpBackend::Input(const FlowKey& flow, const InboundSegment& segment, Instant now) {
  counters_.Add(BackendCounter::kSegmentsIn);
  now_ = now;
  if (!SameFamily(flow)) {
    counters_.Add(BackendCounter::kBadFlowDrops);
    return;
  }
  const wire::TcpRepr& h = segment.header;
  if (auto it = flows_.find(flow); it != flows_.end()) {
    const FlowEntry entry = it->second;
    if (!entry.time_wait) {
      Slot& s = slots_[entry.index];
      if (!s.live || s.closed || !s.conn) {
        counters_.Add(BackendCounter::kBadStateDrops);
        return;
      }
      if (s.half_open && h.flags.ack() && !h.flags.rst() && !h.flags.syn()) {
        TcpListener* l = FindListener(s.listener);
        if (l != nullptr && l->accept_queue_full()) {
          // Linux (tcp_check_req): the child cannot be queued; the peer will retransmit.
          l->CountAcceptQueueDrop();
          counters_.Add(BackendCounter::kAcceptQueueDrops);
          return;
        }
      }
      if (h.options.timestamps) s.last_tsval_received = h.options.timestamps->tsval;
      current_ = entry.index;
      s.conn->OnSegment(segment, now, tx_);
      current_ = kNone;
      Service(entry.index, now);
      return;
    }
    if (!TimeWaitInput(entry.index, segment, now)) return;
  }

  TcpListener* l = LookupListener(flow.local, flow.local_port);
  if (l == nullptr) {
    // RFC 9293 §3.10.7.1: CLOSED.
    if (SendResetFor(flow, segment, out_)) {
      counters_.Add(BackendCounter::kNoListenerResets);
    } else {
      counters_.Add(BackendCounter::kNoListenerDrops);
    }
    return;
  }
  const ListenVerdict v = l->OnSegment(flow, segment, now, HasRoom(), out_);
  switch (v.action) {
    case ListenVerdict::Action::kDropped:
      counters_.Add(BackendCounter::kListenerDrops);
      return;
    case ListenVerdict::Action::kReset:
      counters_.Add(BackendCounter::kListenerResets);
      return;
    case ListenVerdict::Action::kCookieSent:
      return;
    case ListenVerdict::Action::kOpen:
    case ListenVerdict::Action::kOpenFromCookie:
      CreatePassive(*l, v, segment, now);
      return;
  }
}

void NativeTcpBackend::CreatePassive(TcpListener& listener, const ListenVerdict& v,
                                     const InboundSegment& segment, Instant now) {
  const std::optional<uint32_t> index = AllocateSlot();
  if (!index) {
    counters_.Add(BackendCounter::kTableFull);
    return;
  }
  const bool cookie = v.action == ListenVerdict::Action::kOpenFromCookie;
  // Mapped before the engine runs, so that whatever it sends is attributed to the slot.
  Slot& s = slots_[*index];
  s.flow = v.open.flow;
  s.passive = true;
  s.half_open = !cookie;
  s.listener = listener.id().index;
  s.user_data = v.user_data;
  s.time_wait = listener.config().time_wait;
  if (segment.header.options.timestamps) {
    s.last_tsval_received = segment.header.options.timestamps->tsval;
  }
  TcpError error = TcpError::kOk;
  current_ = *index;
  const TcpConfig& config = v.config != nullptr ? *v.config : listener.config();
  std::unique_ptr<TcpConnection> conn =
      cookie ? TcpConnection::AcceptCookie(config, v.open, segment, v.hooks, now, tx_, &error)
             : TcpConnection::AcceptSyn(config, v.open, v.hooks, now, tx_, &error);
  current_ = kNone;
  if (!conn) {
    FreeSlot(*index);
    counters_.Add(BackendCounter::kListenerDrops);
    return;
  }
  Slot& after = slots_[*index];
  after.conn = std::move(conn);
  after.flow_mapped = true;
  flows_.emplace(after.flow, FlowEntry{.time_wait = false, .index = *index});
  if (after.half_open) listener.HalfOpenAdded();
  Service(*index, now);
}

// ---- ICMP errors --------------------------------------------------------------------------------

std::optional<uint32_t> NativeTcpBackend::LiveConnection(const FlowKey& flow) const {
  auto it = flows_.find(flow);
  if (it == flows_.end() || it->second.time_wait) return std::nullopt;
  const Slot& s = slots_[it->second.index];
  if (!s.live || s.closed || !s.conn) return std::nullopt;
  return it->second.index;
}

void NativeTcpBackend::OnPathMtu(const FlowKey& flow, uint32_t path_mtu, wire::TcpSeq quoted_seq,
                                 Instant now) {
  now_ = now;
  const std::optional<uint32_t> index = LiveConnection(flow);
  if (!index) {
    counters_.Add(BackendCounter::kIcmpNoConnection);
    return;
  }
  current_ = *index;
  slots_[*index].conn->OnPathMtu(path_mtu, quoted_seq, now, tx_);
  current_ = kNone;
  // Retransmissions may have moved the timers.
  Service(*index, now);
}

void NativeTcpBackend::OnSoftError(const FlowKey& flow, wire::TcpSeq quoted_seq, Instant now) {
  now_ = now;
  const std::optional<uint32_t> index = LiveConnection(flow);
  if (!index) {
    counters_.Add(BackendCounter::kIcmpNoConnection);
    return;
  }
  // Only remembered: no segment, timer or event follows from it.
  slots_[*index].conn->OnSoftError(quoted_seq);
}

// ---- Timers -----------------------------------------------------------------------------------

std::optional<Instant> NativeTcpBackend::PollAt() const {
  if (timers_.empty()) return std::nullopt;
  return timers_.front().at;
}

void NativeTcpBackend::Poll(Instant now) {
  now_ = now;
  while (!timers_.empty() && timers_.front().at <= now) {
    std::pop_heap(timers_.begin(), timers_.end(), TimerLater{});
    const TimerEntry e = timers_.back();
    timers_.pop_back();
    if (e.time_wait) {
      if (e.index >= time_wait_.size()) continue;
      TimeWaitEntry& tw = time_wait_[e.index];
      if (!tw.live || tw.generation != e.generation || tw.expires != e.at) {
        counters_.Add(BackendCounter::kTimerStale);
        continue;
      }
      counters_.Add(BackendCounter::kTimeWaitExpired);
      FreeTimeWait(e.index);
      continue;
    }
    if (e.index >= slots_.size()) continue;
    Slot& s = slots_[e.index];
    if (!s.live || s.closed || !s.conn || s.generation != e.generation || s.armed != e.at) {
      counters_.Add(BackendCounter::kTimerStale);
      continue;
    }
    s.armed.reset();
    const std::optional<Instant> due = s.conn->PollAt();
    if (due && *due <= now) {
      counters_.Add(BackendCounter::kTimerWakeups);
      current_ = e.index;
      s.conn->OnTimer(now, tx_);
      current_ = kNone;
      Service(e.index, now, /*after_timer=*/true);
    } else {
      Arm(e.index, now, true);
    }
  }
}

// ---- TIME-WAIT --------------------------------------------------------------------------------

bool NativeTcpBackend::EnterTimeWait(uint32_t index, Instant now) {
  Slot& s = slots_[index];
  uint32_t tw_index;
  if (!free_time_wait_.empty()) {
    tw_index = free_time_wait_.back();
    free_time_wait_.pop_back();
  } else if (time_wait_.size() < config_.max_time_wait) {
    tw_index = static_cast<uint32_t>(time_wait_.size());
    time_wait_.emplace_back();
  } else {
    // Linux: "time wait bucket table overflow"; the connection just closes.
    counters_.Add(BackendCounter::kTimeWaitOverflow);
    return true;
  }
  const TcpInfo info = s.conn->Info();
  TimeWaitEntry& e = time_wait_[tw_index];
  const uint32_t generation = e.generation;
  e = TimeWaitEntry{};
  e.generation = generation;
  e.live = true;
  e.flow = s.flow;
  e.snd_nxt = info.snd_nxt;
  e.rcv_nxt = info.rcv_nxt;
  e.window = static_cast<uint16_t>(std::min<uint32_t>(info.rcv_wnd >> info.rcv_wscale, 0xffff));
  e.timestamps = info.timestamps_enabled && s.last_tsval_sent.has_value();
  if (e.timestamps) {
    e.tsval_base = *s.last_tsval_sent;
    e.tsval_at = s.last_tsval_at;
    e.ts_recent = s.last_tsval_received.value_or(0);
  }
  e.duration = s.time_wait;
  e.expires = now + s.time_wait;
  ++live_time_wait_;
  if (s.flow_mapped) {
    flows_[s.flow] = FlowEntry{.time_wait = true, .index = tw_index};
    s.flow_mapped = false;
  }
  timers_.push_back(TimerEntry{
      .at = e.expires, .index = tw_index, .generation = e.generation, .time_wait = true});
  std::push_heap(timers_.begin(), timers_.end(), TimerLater{});
  counters_.Add(BackendCounter::kTimeWaitEntered);
  return true;
}

void NativeTcpBackend::FreeTimeWait(uint32_t tw_index) {
  TimeWaitEntry& e = time_wait_[tw_index];
  if (!e.live) return;
  auto it = flows_.find(e.flow);
  if (it != flows_.end() && it->second.time_wait && it->second.index == tw_index) flows_.erase(it);
  e.live = false;
  ++e.generation;
  if (e.generation == 0) e.generation = 1;
  --live_time_wait_;
  free_time_wait_.push_back(tw_index);
}

void NativeTcpBackend::TimeWaitAck(const TimeWaitEntry& e, Instant now) {
  OutboundSegment seg;
  wire::TcpRepr& h = seg.header;
  h.src_port = e.flow.local_port;
  h.dst_port = e.flow.remote_port;
  h.seq = e.snd_nxt;
  h.ack = e.rcv_nxt;
  h.flags = wire::TcpFlag::kAck;
  h.window = e.window;
  if (e.timestamps) {
    // Our timestamp clock runs on from the connection's last TSval (1 ms ticks, RFC 7323 §5.4).
    const auto elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(now - e.tsval_at).count();
    h.options.timestamps = wire::TcpTimestamps{
        .tsval = e.tsval_base + static_cast<uint32_t>(std::max<int64_t>(elapsed, 0)),
        .tsecr = e.ts_recent};
  }
  counters_.Add(BackendCounter::kTimeWaitAcks);
  out_.Transmit(e.flow, seg);
}

bool NativeTcpBackend::TimeWaitInput(uint32_t tw_index, const InboundSegment& segment,
                                     Instant now) {
  TimeWaitEntry& e = time_wait_[tw_index];
  const wire::TcpRepr& h = segment.header;
  if (h.flags.rst()) {
    // RFC 1337: TIME-WAIT assassination hazards; the entry keeps its 2·MSL.
    counters_.Add(BackendCounter::kTimeWaitRstIgnored);
    return false;
  }
  if (h.flags.syn() && !h.flags.ack()) {
    // RFC 6191: with timestamps, a newer TSval; without, a sequence number above RCV.NXT.
    bool reopen;
    if (e.timestamps && h.options.timestamps) {
      reopen = static_cast<int32_t>(h.options.timestamps->tsval - e.ts_recent) > 0;
    } else {
      reopen = h.seq > e.rcv_nxt;
    }
    if (reopen) {
      counters_.Add(BackendCounter::kTimeWaitReopened);
      FreeTimeWait(tw_index);
      return true;
    }
    TimeWaitAck(e, now);
    return false;
  }
  if (h.options.timestamps && static_cast<int32_t>(h.options.timestamps->tsval - e.ts_recent) > 0) {
    e.ts_recent = h.options.timestamps->tsval;
  }
  const auto len = static_cast<uint32_t>(segment.payload.size());
  if (h.flags.fin() && h.seq + len + 1 == e.rcv_nxt) {
    // RFC 9293 §3.10.7.4: a retransmitted FIN is acknowledged and the 2·MSL restarts.
    TimeWaitAck(e, now);
    e.expires = now + e.duration;
    timers_.push_back(TimerEntry{
        .at = e.expires, .index = tw_index, .generation = e.generation, .time_wait = true});
    std::push_heap(timers_.begin(), timers_.end(), TimerLater{});
    return false;
  }
  if (len == 0 && !h.flags.fin() && h.seq == e.rcv_nxt) {
    counters_.Add(BackendCounter::kTimeWaitDrops);
    return false;
  }
  // RFC 9293 §3.10.7.4: an unacceptable segment gets an ACK (the window is closed).
  TimeWaitAck(e, now);
  return false;
}

}  // namespace braid::tcp
