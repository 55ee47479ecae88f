#include "datapath/mptcp/socket_manager.h"

#include <algorithm>
#include <string>
#include <utility>

#include "datapath/mptcp/crypto.h"

namespace braid::mptcp {

// A TCP listener as MPTCP sees it: an app's (new connections, plain TCP fallbacks and joins) or a
// join-only one (an announced address and port).
class MptcpSockets::Listener final : public tcp::ListenHooks {
 public:
  Listener(MptcpSockets& stack, bool app, tcp::SocketHandler* handler, const tcp::TcpConfig& config,
           std::shared_ptr<const ConnectionPolicy> policy = nullptr)
      : stack_(stack), app_(app), handler_(handler), config_(config), policy_(std::move(policy)) {}

  tcp::SynDecision OnSyn(const tcp::FlowKey& flow, const tcp::SegmentInfo& syn,
                         const wire::TcpOptionsRepr& options) override {
    return stack_.OnSyn(*this, flow, syn, options);
  }

  bool app() const { return app_; }
  tcp::SocketHandler* handler() const { return handler_; }
  const tcp::TcpConfig& config() const { return config_; }
  // What the connections it accepts take in place of the worker's defaults; null: nothing.
  const ConnectionPolicy* policy() const { return policy_.get(); }
  tcp::ListenerId id;

 private:
  MptcpSockets& stack_;
  bool app_;
  tcp::SocketHandler* handler_;
  tcp::TcpConfig config_;
  std::shared_ptr<const ConnectionPolicy> policy_;
};

absl::StatusOr<std::unique_ptr<MptcpSockets>> MptcpSockets::Create(const MptcpConfig& config,
                                                                   tcp::SubflowSocketApi& tcp) {
  std::unique_ptr<MptcpSockets> s(new MptcpSockets(config, tcp));
  if (absl::Status st = ValidatePathManagerConfig(config.path_manager); !st.ok()) return st;
  if (!s->path_managers_.Contains(config.path_manager.policy)) {
    return absl::InvalidArgumentError("mptcp path manager: unknown policy \"" +
                                      config.path_manager.policy + "\"");
  }
  if (absl::Status st = s->SetDefaultScheduler(config.scheduler); !st.ok()) {
    return absl::InvalidArgumentError(std::string(st.message()));
  }
  return s;
}

MptcpSockets::MptcpSockets(const MptcpConfig& config, tcp::SubflowSocketApi& tcp)
    : config_(config), tcp_(tcp), default_scheduler_(SchedulerRegistry::kDefault) {}

MptcpSockets::~MptcpSockets() = default;

absl::Status MptcpSockets::SetDefaultScheduler(std::string_view name) {
  if (!schedulers_.Contains(name)) {
    return absl::NotFoundError("mptcp scheduler: unknown \"" + std::string(name) + "\"");
  }
  default_scheduler_ = std::string(name);
  return absl::OkStatus();
}

// ---- Connections ---------------------------------------------------------------------------

MptcpConnection* MptcpSockets::Find(tcp::SocketId socket) {
  if (socket.index >= slots_.size()) return nullptr;
  Slot& s = slots_[socket.index];
  if (!s.live || s.generation != socket.generation) return nullptr;
  return s.conn.get();
}

const MptcpConnection* MptcpSockets::Find(tcp::SocketId socket) const {
  return const_cast<MptcpSockets*>(this)->Find(socket);
}

MptcpConnection* MptcpSockets::NewConnection(bool client, const tcp::TcpConfig& config,
                                             tcp::SocketHandler* handler,
                                             const ConnectionPolicy* policy) {
  absl::StatusOr<std::unique_ptr<Scheduler>> sched =
      schedulers_.Create(policy != nullptr ? policy->scheduler : default_scheduler_);
  absl::StatusOr<std::unique_ptr<PathManager>> pm =
      path_managers_.Create(policy != nullptr ? policy->path_manager : config_.path_manager);
  if (!sched.ok() || !pm.ok()) return nullptr;
  uint32_t index;
  if (!free_slots_.empty()) {
    index = free_slots_.back();
    free_slots_.pop_back();
  } else {
    index = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& slot = slots_[index];
  slot.live = true;
  slot.dirty = false;
  slot.armed.reset();
  // The connection keeps its own copy of the config: a policy's fields replace the defaults.
  MptcpConfig conn_config = config_;
  if (policy != nullptr) {
    conn_config.scheduler = policy->scheduler;
    conn_config.path_manager = policy->path_manager;
    conn_config.checksum = policy->checksum;
    conn_config.own_addresses_only = policy->own_addresses_only;
    conn_config.policy_name = policy->name;
  }
  slot.conn =
      std::make_unique<MptcpConnection>(*this, tcp::SocketId{index, slot.generation}, client,
                                        conn_config, config, std::move(*sched), std::move(*pm));
  slot.conn->handler = handler;
  const TokenTable::Reservation r = tokens_.Reserve(index);
  counters_.Add(MptcpCounter::kTokenCollisions, r.collisions);
  slot.conn->SetLocalKey(r.key);
  ++live_;
  return slot.conn.get();
}

void MptcpSockets::FreeConnection(uint32_t index) {
  Slot& slot = slots_[index];
  if (!slot.live) return;
  tokens_.Remove(slot.conn->local_token());
  for (const auto& [address, port] : slot.conn->join_listeners_held()) {
    ReleaseJoinListener(address, port);
  }
  for (uint32_t id = 0; id < slot.conn->subflow_count(); ++id) {
    const Subflow* sf = slot.conn->subflow(id);
    if (sf == nullptr || !sf->has_socket || sf->socket.index >= subflow_refs_.size()) continue;
    SubflowRef& ref = subflow_refs_[sf->socket.index];
    if (ref.slot == index && ref.conn_generation == slot.generation) ref.live = false;
  }
  slot.conn.reset();
  slot.live = false;
  slot.armed.reset();
  ++slot.generation;
  free_slots_.push_back(index);
  --live_;
}

void MptcpSockets::RegisterSubflow(tcp::SocketId tcp_socket, MptcpConnection& conn, Subflow& sf) {
  if (tcp_socket.index >= subflow_refs_.size()) subflow_refs_.resize(tcp_socket.index + 1);
  subflow_refs_[tcp_socket.index] = {.generation = tcp_socket.generation,
                                     .slot = conn.id().index,
                                     .conn_generation = conn.id().generation,
                                     .subflow = sf.id(),
                                     .live = true};
  sf.socket = tcp_socket;
  sf.has_socket = true;
}

std::pair<MptcpConnection*, Subflow*> MptcpSockets::Lookup(tcp::SocketId tcp_socket) {
  if (tcp_socket.index >= subflow_refs_.size()) return {nullptr, nullptr};
  const SubflowRef& ref = subflow_refs_[tcp_socket.index];
  if (!ref.live || ref.generation != tcp_socket.generation) return {nullptr, nullptr};
  MptcpConnection* conn = Find({ref.slot, ref.conn_generation});
  if (conn == nullptr) return {nullptr, nullptr};
  return {conn, conn->subflow(ref.subflow)};
}

void MptcpSockets::MarkDirty(MptcpConnection& conn) {
  Slot& slot = slots_[conn.id().index];
  if (!slot.dirty) {
    slot.dirty = true;
    dirty_.push_back(conn.id().index);
  }
}

void MptcpSockets::QueueAppEvent(MptcpConnection& conn, AppEventKind kind, uint64_t value,
                                 tcp::SocketError error) {
  app_events_.push_back({.socket = conn.id(), .kind = kind, .value = value, .error = error});
}

// ---- The socket API ------------------------------------------------------------------------

absl::StatusOr<tcp::ListenerId> MptcpSockets::Listen(uint16_t port, const tcp::TcpConfig& config,
                                                     tcp::SocketHandler* handler,
                                                     const std::optional<wire::IpAddress>& local) {
  return ListenWithPolicy(port, config, handler, local, nullptr);
}

absl::Status MptcpSockets::ValidatePolicy(const ConnectionPolicy& policy) const {
  if (!schedulers_.Contains(policy.scheduler)) {
    return absl::InvalidArgumentError("mptcp scheduler: unknown \"" + policy.scheduler + "\"");
  }
  if (!path_managers_.Contains(policy.path_manager.policy)) {
    return absl::InvalidArgumentError("mptcp path manager: unknown policy \"" +
                                      policy.path_manager.policy + "\"");
  }
  return ValidatePathManagerConfig(policy.path_manager);
}

absl::StatusOr<tcp::ListenerId> MptcpSockets::ListenWithPolicy(
    uint16_t port, const tcp::TcpConfig& config, tcp::SocketHandler* handler,
    const std::optional<wire::IpAddress>& local, std::shared_ptr<const ConnectionPolicy> policy) {
  if (handler == nullptr) return absl::InvalidArgumentError("listen: no handler");
  if (policy != nullptr) {
    if (absl::Status st = ValidatePolicy(*policy); !st.ok()) return st;
  }
  auto listener =
      std::make_unique<Listener>(*this, /*app=*/true, handler, config, std::move(policy));
  absl::StatusOr<tcp::ListenerId> id =
      tcp_.ListenWithHooks(port, config, this, local, listener.get());
  if (!id.ok()) return id.status();
  listener->id = *id;
  listeners_[id->index] = std::move(listener);
  return *id;
}

absl::Status MptcpSockets::StopListening(tcp::ListenerId listener) {
  absl::Status st = tcp_.StopListening(listener);
  listeners_.erase(listener.index);
  return st;
}

absl::StatusOr<tcp::SocketId> MptcpSockets::Connect(const wire::IpAddress& remote, uint16_t port,
                                                    const tcp::TcpConfig& config,
                                                    tcp::SocketHandler* handler, tcp::Instant now,
                                                    const std::optional<wire::IpAddress>& bind) {
  return ConnectWithPolicy(remote, port, config, handler, now, bind, nullptr);
}

absl::StatusOr<tcp::SocketId> MptcpSockets::ConnectWithPolicy(
    const wire::IpAddress& remote, uint16_t port, const tcp::TcpConfig& config,
    tcp::SocketHandler* handler, tcp::Instant now, const std::optional<wire::IpAddress>& bind,
    const ConnectionPolicy* policy) {
  if (handler == nullptr) return absl::InvalidArgumentError("connect: no handler");
  if (policy != nullptr) {
    if (absl::Status st = ValidatePolicy(*policy); !st.ok()) return st;
  }
  MptcpConnection* conn = NewConnection(/*client=*/true, config, handler, policy);
  if (conn == nullptr) return absl::ResourceExhaustedError("connect: MPTCP connection table full");
  if (!config_.enabled) conn->FallBack(MptcpCounter::kFallbackDisabled);
  Subflow* sf = conn->AddSubflow(Subflow::Kind::kInitial, /*active=*/true);
  absl::StatusOr<tcp::SocketId> s = tcp_.ConnectWithHooks(
      remote, port, conn->subflow_config(), this, now, bind, conn->fallback() ? nullptr : sf);
  if (!s.ok()) {
    FreeConnection(conn->id().index);
    return s.status();
  }
  RegisterSubflow(*s, *conn, *sf);
  if (const std::optional<tcp::FlowKey> flow = tcp_.Flow(*s); flow) {
    conn->set_flow(*flow);
    sf->local_address = flow->local;
    sf->local_port = flow->local_port;
    sf->remote_address = flow->remote;
    sf->remote_port = flow->remote_port;
  }
  Arm(conn->id().index);
  return conn->id();
}

size_t MptcpSockets::Send(tcp::SocketId socket, std::span<const uint8_t> bytes, tcp::Instant now) {
  MptcpConnection* conn = Find(socket);
  return conn == nullptr ? 0 : conn->AppSend(bytes, now);
}

tcp::ReceiveResult MptcpSockets::Receive(tcp::SocketId socket, std::span<uint8_t> out,
                                         tcp::Instant now) {
  MptcpConnection* conn = Find(socket);
  return conn == nullptr ? tcp::ReceiveResult{} : conn->AppReceive(out, now);
}

absl::Status MptcpSockets::Shutdown(tcp::SocketId socket, tcp::Instant now) {
  MptcpConnection* conn = Find(socket);
  if (conn == nullptr) return absl::NotFoundError("shutdown: no such socket");
  if (!conn->AppShutdown(now)) return absl::FailedPreconditionError("shutdown: connection failed");
  return absl::OkStatus();
}

absl::Status MptcpSockets::SetNoDelay(tcp::SocketId socket, bool on) {
  MptcpConnection* conn = Find(socket);
  if (conn == nullptr) return absl::NotFoundError("TCP_NODELAY: no such socket");
  conn->SetSubflowOption([&](tcp::TcpConfig& c) { c.nagle = !on; },
                         [&](tcp::SocketId sf) { return tcp_.SetNoDelay(sf, on); });
  return absl::OkStatus();
}

absl::Status MptcpSockets::SetKeepalive(tcp::SocketId socket, bool on) {
  MptcpConnection* conn = Find(socket);
  if (conn == nullptr) return absl::NotFoundError("SO_KEEPALIVE: no such socket");
  conn->SetSubflowOption([&](tcp::TcpConfig& c) { c.keepalive = on; },
                         [&](tcp::SocketId sf) { return tcp_.SetKeepalive(sf, on); });
  return absl::OkStatus();
}

absl::Status MptcpSockets::Abort(tcp::SocketId socket, tcp::Instant now) {
  MptcpConnection* conn = Find(socket);
  if (conn == nullptr) return absl::NotFoundError("abort: no such socket");
  conn->AppAbort(now);
  return absl::OkStatus();
}

absl::Status MptcpSockets::Close(tcp::SocketId socket, tcp::Instant now) {
  MptcpConnection* conn = Find(socket);
  if (conn == nullptr) return absl::NotFoundError("close: no such socket");
  conn->AppClose(now);
  return absl::OkStatus();
}

absl::Status MptcpSockets::SetHandler(tcp::SocketId socket, tcp::SocketHandler* handler) {
  MptcpConnection* conn = Find(socket);
  if (conn == nullptr) return absl::NotFoundError("set handler: no such socket");
  if (handler == nullptr) return absl::InvalidArgumentError("set handler: null");
  conn->handler = handler;
  return absl::OkStatus();
}

std::optional<tcp::FlowKey> MptcpSockets::Flow(tcp::SocketId socket) const {
  const MptcpConnection* conn = Find(socket);
  return conn == nullptr ? std::nullopt : conn->flow();
}

std::optional<tcp::TcpInfo> MptcpSockets::Info(tcp::SocketId socket) const {
  MptcpConnection* conn = const_cast<MptcpSockets*>(this)->Find(socket);
  if (conn == nullptr || conn->initial() == nullptr || !conn->initial()->has_socket) {
    return std::nullopt;
  }
  return tcp_.Info(conn->initial()->socket);
}

absl::Status MptcpSockets::SetScheduler(tcp::SocketId socket, std::string_view name) {
  MptcpConnection* conn = Find(socket);
  if (conn == nullptr) return absl::NotFoundError("set scheduler: no such socket");
  absl::StatusOr<std::unique_ptr<Scheduler>> s = schedulers_.Create(name);
  if (!s.ok()) return s.status();
  conn->SetScheduler(std::move(*s));
  return absl::OkStatus();
}

std::optional<MptcpInfo> MptcpSockets::ConnectionInfo(tcp::SocketId socket) const {
  const MptcpConnection* conn = Find(socket);
  if (conn == nullptr) return std::nullopt;
  return conn->Info();
}

std::vector<SubflowInfo> MptcpSockets::SubflowsOf(tcp::SocketId socket) const {
  const MptcpConnection* conn = Find(socket);
  if (conn == nullptr) return {};
  return conn->Subflows();
}

std::vector<tcp::SocketId> MptcpSockets::Connections() const {
  std::vector<tcp::SocketId> out;
  for (uint32_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].live) out.push_back({i, slots_[i].generation});
  }
  return out;
}

PmConnection* MptcpSockets::PathControl(tcp::SocketId socket) { return Find(socket); }

void MptcpSockets::OnPathChange(const wire::IpAddress& local, bool up, tcp::Instant now) {
  for (Slot& s : slots_) {
    if (s.live && s.conn->fully_established() && !s.conn->fallback()) {
      if (!up) s.conn->OnPathDown(local);
      s.conn->path_manager().OnPathChange(*s.conn, local, up, now);
      s.conn->MarkDirty();
    }
  }
}

bool MptcpSockets::EnsureJoinListener(const wire::IpAddress& local, uint16_t port) {
  const auto key = std::make_pair(wire::ToString(local), port);
  if (auto it = join_listeners_.find(key); it != join_listeners_.end()) {
    ++it->second.users;
    return true;
  }
  tcp::TcpConfig config;
  auto listener = std::make_unique<Listener>(*this, /*app=*/false, nullptr, config);
  absl::StatusOr<tcp::ListenerId> id =
      tcp_.ListenWithHooks(port, config, this, local, listener.get());
  if (!id.ok()) return false;
  listener->id = *id;
  listeners_[id->index] = std::move(listener);
  join_listeners_[key] = JoinListener{*id, 1};
  return true;
}

void MptcpSockets::ReleaseJoinListener(const wire::IpAddress& local, uint16_t port) {
  const auto it = join_listeners_.find(std::make_pair(wire::ToString(local), port));
  if (it == join_listeners_.end() || --it->second.users > 0) return;
  // Each outgoing connection announces on its own source port: kept, these would use up the
  // TCP layer's listeners after a few hundred connections.
  (void)tcp_.StopListening(it->second.id);
  listeners_.erase(it->second.id.index);
  join_listeners_.erase(it);
}

// ---- Listening -------------------------------------------------------------------------------

tcp::SynDecision MptcpSockets::OnSyn(Listener& listener, const tcp::FlowKey& flow,
                                     const tcp::SegmentInfo& syn,
                                     const wire::TcpOptionsRepr& options) {
  wire::MptcpOptionDropCounts drops;
  const wire::MptcpOptionList list =
      wire::ParseMptcpOptions(options, {.syn = true, .ack = syn.flags.ack(), .rst = false}, drops);
  if (drops.Total() != 0) counters_.Add(MptcpCounter::kOptionsDropped, drops.Total());
  const wire::MpCapable* mpc = nullptr;
  const wire::MpJoin* join = nullptr;
  for (const wire::MptcpOption& o : list) {
    if (mpc == nullptr) mpc = std::get_if<wire::MpCapable>(&o);
    if (join == nullptr) join = std::get_if<wire::MpJoin>(&o);
  }
  if (join != nullptr && join->form == wire::MpJoinForm::kSyn && config_.enabled) {
    return OnJoinSyn(flow, *join);
  }
  if (!listener.app()) return {.action = tcp::SynDecision::Action::kRefuse};
  if (mpc == nullptr || mpc->form != wire::MpCapableForm::kSyn || !config_.enabled) {
    return {.action = tcp::SynDecision::Action::kAccept};  // plain TCP; see OnAccepted
  }
  counters_.Add(MptcpCounter::kMpCapableSynRx);
  if (auto it = pending_passive_.find(flow); it != pending_passive_.end()) {
    FreeConnection(it->second.slot);
    pending_passive_.erase(it);
  }
  MptcpConnection* conn =
      NewConnection(/*client=*/false, listener.config(), listener.handler(), listener.policy());
  if (conn == nullptr) return {.action = tcp::SynDecision::Action::kAccept};
  Subflow* sf = conn->AddSubflow(Subflow::Kind::kInitial, /*active=*/false);
  // RFC 8684 §3.1: either side asking for checksums is enough.
  conn->set_checksum(conn->mptcp_config().checksum || mpc->checksum_required);
  conn->listener = listener.id;
  conn->passive_pending = true;
  sf->local_address = flow.local;
  sf->local_port = flow.local_port;
  sf->remote_address = flow.remote;
  sf->remote_port = flow.remote_port;
  pending_passive_[flow] = {.slot = conn->id().index,
                            .generation = conn->id().generation,
                            .subflow = sf->id(),
                            .created = tcp_.now()};
  Arm(conn->id().index);
  return {
      .action = tcp::SynDecision::Action::kAccept, .hooks = sf, .config = &conn->subflow_config()};
}

tcp::SynDecision MptcpSockets::OnJoinSyn(const tcp::FlowKey& flow, const wire::MpJoin& join) {
  counters_.Add(MptcpCounter::kJoinSynRx);
  const std::optional<uint32_t> slot = tokens_.Find(join.receiver_token);
  if (!slot || !slots_[*slot].live) {
    counters_.Add(MptcpCounter::kJoinNoTokenFound);
    return {.action = tcp::SynDecision::Action::kRefuse};
  }
  MptcpConnection& conn = *slots_[*slot].conn;
  if (conn.fallback() || !conn.remote_key_known() ||
      !conn.path_manager().AcceptJoin(conn, flow.local, flow.remote)) {
    counters_.Add(MptcpCounter::kJoinRefused);
    return {.action = tcp::SynDecision::Action::kRefuse};
  }
  Subflow* sf = conn.AddSubflow(Subflow::Kind::kJoin, /*active=*/false);
  if (sf == nullptr) {
    counters_.Add(MptcpCounter::kJoinRefused);
    return {.action = tcp::SynDecision::Action::kRefuse};
  }
  sf->remote_nonce = join.sender_nonce;
  sf->local_nonce = GenerateNonce();
  sf->remote_id = join.address_id;
  sf->peer_backup = join.backup;
  sf->local_id = conn.LocalIdFor(flow.local);
  for (const Endpoint& e : conn.mptcp_config().path_manager.endpoints) {
    if (e.address == flow.local && e.backup) sf->local_backup = true;
  }
  sf->local_address = flow.local;
  sf->local_port = flow.local_port;
  sf->remote_address = flow.remote;
  sf->remote_port = flow.remote_port;
  pending_passive_[flow] = {.slot = conn.id().index,
                            .generation = conn.id().generation,
                            .subflow = sf->id(),
                            .created = tcp_.now()};
  return {
      .action = tcp::SynDecision::Action::kAccept, .hooks = sf, .config = &conn.subflow_config()};
}

// ---- TCP events for subflows ---------------------------------------------------------------

void MptcpSockets::OnConnected(tcp::SocketId socket) {
  auto [conn, sf] = Lookup(socket);
  if (conn != nullptr && sf != nullptr) conn->OnSubflowConnected(*sf, tcp_.now());
}

void MptcpSockets::OnAccepted(tcp::ListenerId listener, tcp::SocketId socket) {
  const std::optional<tcp::FlowKey> flow = tcp_.Flow(socket);
  if (!flow) return;
  if (auto it = pending_passive_.find(*flow); it != pending_passive_.end()) {
    const PendingPassive p = it->second;
    pending_passive_.erase(it);
    MptcpConnection* conn = Find({p.slot, p.generation});
    Subflow* sf = conn != nullptr ? conn->subflow(p.subflow) : nullptr;
    if (sf == nullptr) {
      (void)tcp_.Abort(socket, tcp_.now());
      return;
    }
    RegisterSubflow(socket, *conn, *sf);
    if (sf->kind() == Subflow::Kind::kInitial) {
      conn->set_flow(*flow);
      conn->passive_pending = false;
    }
    conn->OnSubflowConnected(*sf, tcp_.now());
    return;
  }
  // A plain TCP SYN accepted by an app's listener: an MPTCP socket in fallback from the start.
  auto l = listeners_.find(listener.index);
  if (l == listeners_.end() || !l->second->app()) {
    (void)tcp_.Abort(socket, tcp_.now());
    return;
  }
  MptcpConnection* conn = NewConnection(/*client=*/false, l->second->config(), l->second->handler(),
                                        l->second->policy());
  if (conn == nullptr) {
    (void)tcp_.Abort(socket, tcp_.now());
    return;
  }
  conn->FallBack(config_.enabled ? MptcpCounter::kFallbackSyn : MptcpCounter::kFallbackDisabled);
  conn->listener = listener;
  Subflow* sf = conn->AddSubflow(Subflow::Kind::kInitial, /*active=*/false);
  sf->local_address = flow->local;
  sf->local_port = flow->local_port;
  sf->remote_address = flow->remote;
  sf->remote_port = flow->remote_port;
  RegisterSubflow(socket, *conn, *sf);
  conn->set_flow(*flow);
  sf->state = SubflowState::kEstablished;
  conn->OnSubflowConnected(*sf, tcp_.now());
}

void MptcpSockets::OnReadable(tcp::SocketId socket, size_t /*available*/) {
  auto [conn, sf] = Lookup(socket);
  if (conn != nullptr && sf != nullptr) conn->OnSubflowReadable(*sf);
}

void MptcpSockets::OnWritable(tcp::SocketId socket) {
  auto [conn, sf] = Lookup(socket);
  if (conn != nullptr && sf != nullptr) conn->OnSubflowWritable(*sf);
}

void MptcpSockets::OnAcked(tcp::SocketId socket, uint64_t /*bytes*/) {
  auto [conn, sf] = Lookup(socket);
  if (conn != nullptr && sf != nullptr) conn->OnSubflowAcked(*sf, tcp_.now());
}

void MptcpSockets::OnRetransmitTimeout(tcp::SocketId socket, uint32_t count) {
  auto [conn, sf] = Lookup(socket);
  if (conn != nullptr && sf != nullptr) conn->OnSubflowRto(*sf, count, tcp_.now());
}

void MptcpSockets::OnPeerFin(tcp::SocketId socket) {
  auto [conn, sf] = Lookup(socket);
  if (conn != nullptr && sf != nullptr) conn->OnSubflowPeerFin(*sf);
}

void MptcpSockets::OnError(tcp::SocketId socket, tcp::SocketError error) {
  auto [conn, sf] = Lookup(socket);
  if (conn != nullptr && sf != nullptr) conn->OnSubflowError(*sf, error);
}

void MptcpSockets::OnClosed(tcp::SocketId socket) {
  auto [conn, sf] = Lookup(socket);
  if (socket.index < subflow_refs_.size()) subflow_refs_[socket.index].live = false;
  if (conn != nullptr && sf != nullptr) conn->OnSubflowClosed(*sf, tcp_.now());
}

// ---- The loop --------------------------------------------------------------------------------

void MptcpSockets::Service(tcp::Instant now) {
  while (!dirty_.empty()) {
    // Two buffers swapped in turn: no allocation per loop once they have grown.
    dirty_batch_.clear();
    dirty_batch_.swap(dirty_);
    for (uint32_t index : dirty_batch_) {
      Slot& slot = slots_[index];
      slot.dirty = false;
      if (!slot.live) continue;
      MptcpConnection& conn = *slot.conn;
      conn.Service(now);
      // As TCP does, a connection that ended cleanly is reported closed only once the app read
      // every byte (the bytes and their end are the app's; after a failure they are gone).
      if (conn.subflows_gone() && !conn.closed_reported() && !conn.passive_pending &&
          (conn.receive_queue() == 0 || conn.app_closed() || conn.failed())) {
        conn.set_closed_reported();
        QueueAppEvent(conn, AppEventKind::kClosed);
      }
      if (conn.finished()) finished_.push_back(conn.id());
      Arm(index);
    }
  }
}

size_t MptcpSockets::DeliverAppEvents() {
  size_t delivered = 0;
  while (!app_events_.empty()) {
    event_batch_.clear();
    event_batch_.swap(app_events_);
    for (const AppEvent& e : event_batch_) {
      MptcpConnection* conn = Find(e.socket);
      if (conn == nullptr) continue;
      tcp::SocketHandler* h = conn->handler;
      if (h == nullptr) continue;
      ++delivered;
      switch (e.kind) {
        case AppEventKind::kConnected:
          h->OnConnected(e.socket);
          break;
        case AppEventKind::kAccepted:
          h->OnAccepted(conn->listener, e.socket);
          break;
        case AppEventKind::kReadable:
          if (conn->app_closed()) break;
          h->OnReadable(e.socket, conn->receive_queue());
          break;
        case AppEventKind::kWritable:
          h->OnWritable(e.socket);
          break;
        case AppEventKind::kAcked:
          h->OnAcked(e.socket, e.value);
          break;
        case AppEventKind::kPeerFin:
          h->OnPeerFin(e.socket);
          break;
        case AppEventKind::kError:
          h->OnError(e.socket, e.error);
          break;
        case AppEventKind::kClosed:
          h->OnClosed(e.socket);
          break;
      }
    }
  }
  return delivered;
}

size_t MptcpSockets::Dispatch(tcp::Instant now) {
  size_t delivered = 0;
  for (int round = 0; round < 64; ++round) {
    const size_t lower = tcp_.Dispatch(now);
    Service(now);
    const size_t app = DeliverAppEvents();
    delivered += app;
    // Free what is over (after its last event was delivered).
    for (const tcp::SocketId id : finished_) {
      if (MptcpConnection* conn = Find(id); conn != nullptr && conn->finished()) {
        FreeConnection(id.index);
      }
    }
    finished_.clear();
    if (lower == 0 && app == 0 && dirty_.empty()) break;
  }
  return delivered;
}

void MptcpSockets::Arm(uint32_t index) {
  Slot& slot = slots_[index];
  if (!slot.live) return;
  const std::optional<tcp::Instant> at = slot.conn->PollAt();
  if (!at) return;
  if (slot.armed && *slot.armed <= *at) return;
  slot.armed = at;
  timers_.push_back({*at, index, slot.generation});
  std::push_heap(timers_.begin(), timers_.end(),
                 [](const TimerEntry& a, const TimerEntry& b) { return a.at > b.at; });
}

void MptcpSockets::Poll(tcp::Instant now) {
  const auto later = [](const TimerEntry& a, const TimerEntry& b) { return a.at > b.at; };
  while (!timers_.empty() && timers_.front().at <= now) {
    std::pop_heap(timers_.begin(), timers_.end(), later);
    const TimerEntry e = timers_.back();
    timers_.pop_back();
    Slot& slot = slots_[e.slot];
    if (!slot.live || slot.generation != e.generation) continue;
    slot.armed.reset();
    slot.conn->OnTimer(now);
  }
  // Passive handshakes that never completed (the TCP layer forgets them silently).
  for (auto it = pending_passive_.begin(); it != pending_passive_.end();) {
    if (now >= PendingDeadline(it->second)) {
      const PendingPassive p = it->second;
      it = pending_passive_.erase(it);
      MptcpConnection* conn = Find({p.slot, p.generation});
      if (conn == nullptr) continue;
      if (conn->passive_pending) {
        FreeConnection(p.slot);
      } else if (Subflow* sf = conn->subflow(p.subflow); sf != nullptr) {
        conn->AbandonSubflow(*sf);
      }
    } else {
      ++it;
    }
  }
  Dispatch(now);
}

tcp::Instant MptcpSockets::PendingDeadline(const PendingPassive& p) const {
  const MptcpConnection* conn = Find({p.slot, p.generation});
  const bool join = conn != nullptr && !conn->passive_pending;
  return p.created + (join ? config_.join_handshake_timeout : config_.handshake_timeout);
}

std::optional<tcp::Instant> MptcpSockets::PollAt() const {
  std::optional<tcp::Instant> at;
  if (!timers_.empty()) at = timers_.front().at;
  // Few at a time (SYN-RECEIVED handshakes): a scan is cheaper than another heap.
  for (const auto& [flow, p] : pending_passive_) {
    const tcp::Instant t = PendingDeadline(p);
    if (!at || t < *at) at = t;
  }
  return at;
}

}  // namespace braid::mptcp
