#include "sdk/src/channel_client.h"

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "sdk/src/kernel.h"
#include "sdk/src/socket.h"

namespace braid::sdk {
namespace {

std::atomic<uint64_t> fork_generation{0};

// Events taken per ring read: enough to amortise the index loads, small on the stack.
constexpr uint32_t kEventBatch = 32;
// A sleeper wakes at least this often to look at service_state, which the service may change
// without ringing (a crash between the store and the ring).
constexpr auto kMaxSleep = std::chrono::milliseconds(1000);
// The longest option value a kGetOpt answer may carry in several kOptValue records.
constexpr uint32_t kMaxOptValueBytes = 64 * 1024;

void Signal(int fd) {
  if (fd < 0) return;
  const uint64_t one = 1;
  // A full counter (never in practice) already means "signalled".
  [[maybe_unused]] ssize_t n = Libc().write(fd, &one, sizeof(one));
}

void DrainEventFd(int fd) {
  uint64_t v;
  [[maybe_unused]] ssize_t n = Libc().read(fd, &v, sizeof(v));
}

struct ThreadWake {
  int fd = -1;
  uint64_t generation = 0;
  ~ThreadWake() {
    if (fd >= 0) Libc().close(fd);
  }
};

}  // namespace

uint64_t ForkGeneration() { return fork_generation.load(std::memory_order_relaxed); }
void NoteForkInChild() { fork_generation.fetch_add(1, std::memory_order_relaxed); }

int ThreadWakeFd() {
  thread_local ThreadWake wake;
  // A fork child inherits the eventfd of the thread that forked: the same open file as the
  // parent's, whose signals it would steal. It gets its own.
  if (wake.fd >= 0 && wake.generation != ForkGeneration()) {
    Libc().close(wake.fd);
    wake.fd = -1;
  }
  if (wake.fd < 0) {
    wake.fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    wake.generation = ForkGeneration();
  }
  return wake.fd;
}

absl::StatusOr<std::shared_ptr<Channel>> Channel::Attach(const Config& config) {
  channel::ConnectOptions options;
  options.timeout = std::chrono::milliseconds(std::max(config.wait_ms, 1));
  auto connection = channel::ConnectChannel(config.socket_path, config.app_name, options);
  if (!connection.ok()) return connection.status();
  auto region = channel::AppRegion::Attach(connection->memfd.get());
  if (!region.ok()) return region.status();
  if (region->epoch() != connection->service_epoch) {
    return absl::DataLossError("channel: the welcome's service epoch differs from the region's");
  }
  if (region->service_state() != channel::ServiceState::kRunning) {
    return absl::UnavailableError(
        "the Braid service at " + config.socket_path + " is not running (state " +
        std::to_string(static_cast<uint32_t>(region->service_state())) + ")");
  }
  connection->memfd.Reset();  // the mapping keeps the region
  return std::shared_ptr<Channel>(
      new Channel(std::move(*connection), std::move(*region), config.spin_us));
}

Channel::Channel(channel::ChannelConnection connection, channel::AppRegion region, int spin_us)
    : connection_(std::move(connection.connection)),
      bell_(channel::Doorbell::FromFd(std::move(connection.doorbell))),
      region_(std::move(region)),
      spin_us_(std::max(spin_us, 0)),
      fork_generation_(ForkGeneration()),
      commands_(region_.CommandProducer()),
      events_(region_.EventConsumer()) {
  const uint32_t slots = region_.layout().geometry.slots;
  slots_.resize(slots);
  free_slots_.reserve(slots);
  // Handed out from the back: lowest indices first.
  for (uint32_t i = slots; i > 0; --i) free_slots_.push_back(i - 1);
}

Channel::~Channel() = default;

bool Channel::foreign() const { return fork_generation_ != ForkGeneration(); }

bool Channel::CheckAlive() {
  if (dead()) return false;
  pollfd p{connection_.get(), POLLIN | POLLRDHUP, 0};
  if (Libc().poll(&p, 1, 0) > 0 && p.revents != 0) {
    MarkDead("the Braid service closed the connection");
    return false;
  }
  std::lock_guard lock(mu_);
  return CheckStateLocked();
}

std::string Channel::death_reason() const {
  std::lock_guard lock(mu_);
  return death_reason_;
}

int Channel::AllocateSlotLocked(const std::shared_ptr<Socket>& socket, uint32_t* handle) {
  if (free_slots_.empty()) return ENOBUFS;
  const uint32_t index = free_slots_.back();
  free_slots_.pop_back();
  SlotEntry& e = slots_[index];
  // A new generation: events still in flight for the slot's previous socket name a handle
  // that no longer matches and are dropped.
  e.generation = (e.generation + 1) & channel::kMaxHandleGeneration;
  e.in_use = true;
  e.socket = socket;
  *handle = channel::MakeHandle(index, e.generation);
  return 0;
}

int Channel::AllocateSlot(const std::shared_ptr<Socket>& socket, uint32_t* handle) {
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(kSlotWaitMs);
  for (;;) {
    uint64_t seen = 0;
    {
      std::lock_guard lock(mu_);
      if (AllocateSlotLocked(socket, handle) == 0) return 0;
      // An app that closes many sockets and at once opens as many (redis-benchmark between
      // its tests) finds the closed ones' slots still taken until kClosed comes back.
      const bool closing = std::any_of(slots_.begin(), slots_.end(), [](const SlotEntry& e) {
        return e.in_use && e.socket != nullptr && e.socket->closed.load(std::memory_order_relaxed);
      });
      if (!closing || dead()) return ENOBUFS;
      seen = progress();
    }
    if (Block(seen, {}, deadline) != BlockResult::kProgress && Clock::now() >= deadline) {
      return ENOBUFS;
    }
  }
}

void Channel::PostAcceptsLocked(const std::shared_ptr<Socket>& listener,
                                std::vector<channel::Command>* out) {
  if (listener->state != SocketState::kListening) return;
  while (listener->posted.size() < kPostedPerListener) {
    auto slot = std::make_shared<Socket>(listener->channel, listener->domain, listener->protocol,
                                         listener->so_protocol);
    uint32_t handle = 0;
    if (AllocateSlotLocked(slot, &handle) != 0) {
      // None free: the next freed slot goes to this listener (FreeSlotLocked).
      short_listeners_.push_back(listener);
      return;
    }
    slot->handle = handle;
    slot->shared = region_.slot(channel::HandleIndex(handle));
    slot->state = SocketState::kPosted;
    slot->listener = listener;
    slot->accept_cookie = NextCookie();
    listener->posted.push_back(slot);
    out->push_back(
        channel::Command{listener->handle, slot->accept_cookie, channel::AcceptIntoArgs{handle}});
  }
}

void Channel::FreeSlotLocked(uint32_t handle) {
  const uint32_t index = channel::HandleIndex(handle);
  if (index >= slots_.size()) return;
  SlotEntry& e = slots_[index];
  if (!e.in_use || channel::MakeHandle(index, e.generation) != handle) return;
  e.in_use = false;
  e.socket.reset();
  free_slots_.push_back(index);
  if (short_listeners_.empty()) return;
  // A listener that could not offer all its slots gets this one (the commands go out with the
  // next flush of deferred commands).
  std::vector<std::weak_ptr<Socket>> waiting;
  waiting.swap(short_listeners_);
  std::vector<channel::Command> commands;
  for (const std::weak_ptr<Socket>& w : waiting) {
    const std::shared_ptr<Socket> listener = w.lock();
    if (listener == nullptr || listener->closed.load(std::memory_order_relaxed)) continue;
    if (free_slots_.empty()) {
      short_listeners_.push_back(listener);
      continue;
    }
    PostAcceptsLocked(listener, &commands);
  }
  for (const channel::Command& c : commands) deferred_.push_back(channel::EncodeCommand(c));
}

std::shared_ptr<Socket> Channel::SocketForLocked(uint32_t handle) const {
  const uint32_t index = channel::HandleIndex(handle);
  if (index >= slots_.size()) return nullptr;
  const SlotEntry& e = slots_[index];
  if (!e.in_use || channel::MakeHandle(index, e.generation) != handle) return nullptr;
  return e.socket;
}

std::vector<std::shared_ptr<Socket>> Channel::SocketsLocked() const {
  std::vector<std::shared_ptr<Socket>> out;
  for (const SlotEntry& e : slots_) {
    if (e.in_use && e.socket != nullptr) out.push_back(e.socket);
  }
  return out;
}

bool Channel::Push(const channel::Command& command) {
  const channel::CommandRecord record = channel::EncodeCommand(command);
  for (;;) {
    if (dead()) return false;
    {
      std::lock_guard lock(command_mu_);
      const channel::RingStatus status = commands_.TryPush(record);
      if (status == channel::RingStatus::kOk) {
        channel::WakePeer(region_.service_sleeping(), bell_);
        return true;
      }
      if (status == channel::RingStatus::kCorrupt) {
        // Checked outside the ring's lock below.
      } else {
        // Full: the service may itself wait for event ring room, so events keep flowing.
        channel::WakePeer(region_.service_sleeping(), bell_);
      }
    }
    if (commands_.corrupt()) {
      MarkDead("the command ring's consumer index is impossible");
      return false;
    }
    Pump();
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

int Channel::Call(const channel::Command& command, PendingOp& op) {
  channel::Command c = command;
  c.cookie = NextCookie();
  {
    std::lock_guard lock(mu_);
    pending_.emplace_back(c.cookie, &op);
  }
  auto forget = [&] {
    std::lock_guard lock(mu_);
    std::erase_if(pending_, [&](const auto& p) { return p.first == c.cookie; });
  };
  if (!Push(c)) {
    forget();
    return ECONNABORTED;
  }
  const Clock::time_point spin_until = Clock::now() + std::chrono::microseconds(spin_us_);
  for (;;) {
    uint64_t seen;
    {
      std::lock_guard lock(mu_);
      PumpLocked();
      if (op.done) {
        std::erase_if(pending_, [&](const auto& p) { return p.first == c.cookie; });
        return op.error;
      }
      if (dead()) {
        std::erase_if(pending_, [&](const auto& p) { return p.first == c.cookie; });
        return ECONNABORTED;
      }
      seen = progress_.load(std::memory_order_relaxed);
    }
    if (Clock::now() < spin_until) {
      channel::CpuRelax();
      continue;
    }
    if (Block(seen, {}, std::nullopt) == BlockResult::kDead) {
      forget();
      return ECONNABORTED;
    }
  }
}

void Channel::Pump() {
  if (dead()) return;
  std::lock_guard lock(mu_);
  PumpLocked();
  FlushDeferredLocked();
}

bool Channel::CheckStateLocked() {
  const channel::ServiceState state = region_.service_state();
  if (state == channel::ServiceState::kRunning) return true;
  MarkDeadLocked(state == channel::ServiceState::kStopping ? "the Braid service is stopping"
                                                           : "the Braid service is gone");
  return false;
}

void Channel::PumpLocked() {
  if (dead() || !CheckStateLocked()) return;
  channel::EventRecord batch[kEventBatch];
  bool applied = false;
  for (;;) {
    const channel::RingBatch r = events_.PopMany(batch);
    if (r.status == channel::RingStatus::kCorrupt) {
      MarkDeadLocked("the event ring's producer index is impossible");
      return;
    }
    if (r.count == 0) break;
    for (uint32_t i = 0; i < r.count && !dead_.load(std::memory_order_relaxed); ++i) {
      ApplyEventLocked(batch[i]);
    }
    applied = true;
    if (r.count < kEventBatch || dead_.load(std::memory_order_relaxed)) break;
  }
  if (!applied) return;
  // Ring room freed: the service may sleep waiting for it.
  channel::WakePeer(region_.service_sleeping(), bell_);
  progress_.fetch_add(1, std::memory_order_acq_rel);
  SignalWaitersLocked();
}

bool Channel::ApplyOptValueLocked(const channel::EventRecord& record) {
  // docs/channel-protocol.md: a long option comes as several kOptValue records with the
  // command's cookie, aux = its total length, flags bit 0 = more records follow. A single
  // record (aux <= 36, no flags) is the layout codec's kOptValue.
  if ((record.flags & ~1u) != 0 || record.error != 0 || record.aux > kMaxOptValueBytes) {
    return false;
  }
  auto it = std::find_if(pending_.begin(), pending_.end(),
                         [&](const auto& p) { return p.first == record.cookie; });
  if (it == pending_.end()) return true;  // an answer nobody waits for any more
  PendingOp& op = *it->second;
  if (op.value.empty()) op.value_total = record.aux;
  if (record.aux != op.value_total) return false;
  const size_t take = std::min<size_t>(
      channel::kMaxOptBytes, op.value_total - std::min<size_t>(op.value_total, op.value.size()));
  op.value.insert(op.value.end(), record.payload, record.payload + take);
  if ((record.flags & 1u) == 0 || op.value.size() >= op.value_total) {
    op.kind = channel::EventKind::kOptValue;
    op.done = true;
  }
  return true;
}

void Channel::ApplyEventLocked(const channel::EventRecord& record) {
  using channel::EventKind;
  if (record.kind == static_cast<uint16_t>(EventKind::kOptValue)) {
    if (!ApplyOptValueLocked(record)) MarkDeadLocked("the service sent a malformed kOptValue");
    return;
  }
  channel::Event event;
  if (const channel::RecordError e = channel::DecodeEvent(record, event);
      e != channel::RecordError::kOk) {
    MarkDeadLocked(std::string("the service sent a malformed event (") +
                   channel::RecordErrorName(e) + ")");
    return;
  }
  const EventKind kind = event.kind();
  if (event.cookie != 0 && (kind == EventKind::kDone || kind == EventKind::kInfo)) {
    auto it = std::find_if(pending_.begin(), pending_.end(),
                           [&](const auto& p) { return p.first == event.cookie; });
    if (it != pending_.end()) {
      PendingOp& op = *it->second;
      op.kind = kind;
      op.error = event.error;
      if (kind == EventKind::kInfo) op.info = std::get<channel::InfoArgs>(event.args);
      op.done = true;
      return;
    }
  }
  std::shared_ptr<Socket> s = SocketForLocked(event.handle);
  if (s == nullptr) return;  // a socket already gone (a stale generation)
  // Data events change the FIFO indices, which edge detection reads itself; the rest change
  // state it can only see through this counter.
  if (kind != EventKind::kReadable && kind != EventKind::kWritable) {
    s->event_seq.fetch_add(1, std::memory_order_release);
  }
  switch (kind) {
    case EventKind::kDone: {
      const channel::Op op = std::get<channel::DoneArgs>(event.args).op;
      if (op == channel::Op::kOpen && event.error != 0) {
        s->open_error = event.error;
      } else if (op == channel::Op::kConnect && s->state == SocketState::kConnecting &&
                 event.cookie == s->connect_cookie) {
        s->state = SocketState::kOpen;
        s->connect_error = event.error != 0 ? event.error : ECONNREFUSED;
      } else if (op == channel::Op::kAcceptInto) {
        // The listener refused a slot: it never took it, so it is the app's again.
        auto posted = std::find_if(s->posted.begin(), s->posted.end(),
                                   [&](const auto& p) { return p->accept_cookie == event.cookie; });
        if (posted != s->posted.end()) {
          (*posted)->state = SocketState::kClosed;
          FreeSlotLocked((*posted)->handle);
          s->posted.erase(posted);
        }
      }
      break;
    }
    case EventKind::kConnected:
      if (s->state == SocketState::kConnecting) {
        s->state = SocketState::kConnected;
        s->local = std::get<channel::ConnectedArgs>(event.args).local;
        s->data_ready.store(true, std::memory_order_release);
      }
      break;
    case EventKind::kAccepted: {
      if (s->state != SocketState::kPosted) break;
      std::shared_ptr<Socket> listener = s->listener.lock();
      s->state = SocketState::kConnected;
      s->peer = std::get<channel::AcceptedArgs>(event.args).peer;
      s->data_ready.store(true, std::memory_order_release);
      if (listener != nullptr && !listener->closed.load(std::memory_order_relaxed)) {
        std::erase(listener->posted, s);
        listener->accepted.push_back(s);
        listener->event_seq.fetch_add(1, std::memory_order_release);
      } else {
        // The app closed the listener while this connection was on its way: nobody will
        // accept it. The slot is the app's now, so the app closes it.
        s->state = SocketState::kClosed;
        s->closed.store(true, std::memory_order_relaxed);
        deferred_.push_back(channel::EncodeCommand(
            channel::Command{s->handle, NextCookie(), channel::AbortArgs{}}));
      }
      break;
    }
    case EventKind::kReadable:
    case EventKind::kWritable:
      break;  // the FIFO is the truth; the event only wakes waiters
    case EventKind::kPeerClosed:
      s->peer_closed.store(true, std::memory_order_release);
      break;
    case EventKind::kError:
      if (s->state == SocketState::kConnecting) {
        s->state = SocketState::kOpen;
        s->connect_error = event.error;
      }
      s->async_error.store(event.error != 0 ? event.error : ECONNRESET, std::memory_order_release);
      break;
    case EventKind::kClosed:
      if (s->closed.load(std::memory_order_relaxed) || s->state == SocketState::kPosted) {
        s->state = SocketState::kClosed;
        if (std::shared_ptr<Socket> listener = s->listener.lock()) std::erase(listener->posted, s);
        FreeSlotLocked(s->handle);
      } else {
        // The service let go of a socket the app still holds: it fails from now on, and the
        // slot is freed when the app closes it.
        s->released = true;
        if (s->async_error.load(std::memory_order_relaxed) == 0) {
          s->async_error.store(event.error != 0 ? event.error : ECONNRESET,
                               std::memory_order_release);
        }
      }
      break;
    case EventKind::kOptValue:
    case EventKind::kInfo:
      break;  // answers nobody waits for any more
  }
}

void Channel::SignalWaitersLocked() {
  for (int fd : waiter_fds_) Signal(fd);
}

void Channel::Wake() {
  std::lock_guard lock(mu_);
  WakeLocked();
}

void Channel::WakeLocked() {
  progress_.fetch_add(1, std::memory_order_acq_rel);
  SignalWaitersLocked();
  Signal(sleeper_wake_fd_);
}

void Channel::MarkDead(const std::string& why) {
  std::lock_guard lock(mu_);
  MarkDeadLocked(why);
}

void Channel::MarkDeadLocked(const std::string& why) {
  if (dead_.load(std::memory_order_relaxed)) return;
  death_reason_ = why;
  dead_.store(true, std::memory_order_release);
  // Sockets hold the channel and the slot table holds sockets: letting go of the table breaks
  // the cycle, so the channel (and its connection) goes once the app closes its sockets.
  for (SlotEntry& e : slots_) e.socket.reset();
  WakeLocked();
}

void Channel::FlushDeferredLocked() {
  if (deferred_.empty() || dead()) return;
  std::lock_guard lock(command_mu_);
  size_t pushed = 0;
  while (pushed < deferred_.size() &&
         commands_.TryPush(deferred_[pushed]) == channel::RingStatus::kOk) {
    ++pushed;
  }
  deferred_.erase(deferred_.begin(), deferred_.begin() + static_cast<std::ptrdiff_t>(pushed));
  if (pushed > 0) channel::WakePeer(region_.service_sleeping(), bell_);
}

Channel::BlockResult Channel::Block(uint64_t seen, std::span<pollfd> extra, Deadline deadline,
                                    const sigset_t* sigmask) {
  const int wake_fd = ThreadWakeFd();
  bool sleeper = false;
  {
    std::lock_guard lock(mu_);
    PumpLocked();
    FlushDeferredLocked();
    if (dead()) return BlockResult::kDead;
    if (progress_.load(std::memory_order_relaxed) != seen) return BlockResult::kProgress;
    if (deadline.has_value() && Clock::now() >= *deadline) return BlockResult::kTimeout;
    sleeper = !sleeper_;
    if (sleeper) {
      sleeper_ = true;
      sleeper_wake_fd_ = wake_fd;
    } else {
      waiter_fds_.push_back(wake_fd);
    }
  }
  auto leave = [&] {
    if (sleeper) {
      sleeper_ = false;
      sleeper_wake_fd_ = -1;
      // Whoever waits on its eventfd may take the doorbell over.
      SignalWaitersLocked();
    } else if (auto it = std::find(waiter_fds_.begin(), waiter_fds_.end(), wake_fd);
               it != waiter_fds_.end()) {
      waiter_fds_.erase(it);
    }
  };
  if (sleeper) {
    // doorbell.h: flag, fence, re-check. Pumping is the re-check: any event published after
    // the ring index was read sees the flag and rings.
    channel::AnnounceSleep(region_.app_sleeping());
    std::lock_guard lock(mu_);
    PumpLocked();
    if (dead() || progress_.load(std::memory_order_relaxed) != seen) {
      channel::EndSleep(region_.app_sleeping());
      leave();
      return dead() ? BlockResult::kDead : BlockResult::kProgress;
    }
  }

  thread_local std::vector<pollfd> fds;
  fds.clear();
  fds.push_back({wake_fd, POLLIN, 0});
  fds.push_back({connection_.get(), POLLIN | POLLRDHUP, 0});
  fds.push_back({sleeper ? bell_.fd() : -1, POLLIN, 0});
  fds.insert(fds.end(), extra.begin(), extra.end());
  auto timeout = kMaxSleep;
  if (deadline.has_value()) {
    timeout = std::min(timeout, std::chrono::ceil<std::chrono::milliseconds>(
                                    std::max(*deadline - Clock::now(), Clock::duration::zero())));
  }
  const timespec ts{static_cast<time_t>(timeout.count() / 1000),
                    static_cast<long>(timeout.count() % 1000) * 1000000L};
  const int n = Libc().ppoll(fds.data(), fds.size(), &ts, sigmask);
  const bool interrupted = n < 0 && errno == EINTR;
  if (sleeper) channel::EndSleep(region_.app_sleeping());

  std::string why;
  if (n > 0) {
    if (fds[0].revents != 0) DrainEventFd(wake_fd);
    if (fds[1].revents != 0) {
      // The service never writes to the connection: readable means hung up.
      char byte;
      const ssize_t r = Libc().recv(connection_.get(), &byte, 1, MSG_DONTWAIT);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR) || (fds[1].revents & POLLHUP)) {
        why = "the Braid service closed the connection";
      }
    }
    if (sleeper && fds[2].revents != 0) {
      if ((fds[2].revents & (POLLHUP | POLLERR)) != 0 || !bell_.Drain()) {
        why = "the Braid service closed the doorbell";
      }
    }
    for (size_t i = 0; i < extra.size(); ++i) extra[i].revents = fds[3 + i].revents;
  } else {
    for (pollfd& p : extra) p.revents = 0;
  }

  std::lock_guard lock(mu_);
  if (!why.empty()) MarkDeadLocked(why);
  leave();
  PumpLocked();
  if (dead()) return BlockResult::kDead;
  for (const pollfd& p : extra) {
    if (p.revents != 0) return BlockResult::kExtraReady;
  }
  if (progress_.load(std::memory_order_relaxed) != seen) return BlockResult::kProgress;
  if (deadline.has_value() && Clock::now() >= *deadline) return BlockResult::kTimeout;
  if (interrupted) return BlockResult::kInterrupted;
  return BlockResult::kProgress;  // spurious: the caller checks again
}

void Channel::ForgetInChild() {
  // Only the descriptors: closing them here does not disturb the parent, which keeps its own.
  connection_.Reset();
  channel::UniqueFd bell = bell_.Release();
}

}  // namespace braid::sdk
