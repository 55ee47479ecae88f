#include "sdk/src/process.h"

#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <tuple>

#include "absl/status/status.h"
#include "sdk/src/descriptors.h"
#include "sdk/src/kernel.h"
#include "sdk/src/socket.h"

namespace braid::sdk {
namespace {

thread_local std::string last_error;

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return (end != nullptr && *end == '\0' && n >= 0 && n <= 1 << 30) ? static_cast<int>(n)
                                                                    : fallback;
}

int FallbackFromEnv() {
  const char* v = std::getenv("BRAID_FALLBACK");
  if (v == nullptr) return BRAID_FALLBACK_KERNEL;
  if (std::strcmp(v, "fail") == 0) return BRAID_FALLBACK_FAIL;
  if (std::strcmp(v, "wait") == 0) return BRAID_FALLBACK_WAIT;
  const int n = EnvInt("BRAID_FALLBACK", BRAID_FALLBACK_KERNEL);
  return n <= BRAID_FALLBACK_WAIT ? n : BRAID_FALLBACK_KERNEL;
}

Config DefaultConfig() {
  Config c;
  if (const char* path = std::getenv("BRAID_SOCKET"); path != nullptr && *path != '\0') {
    c.socket_path = path;
  }
  c.app_name = program_invocation_short_name != nullptr ? program_invocation_short_name : "app";
  c.fallback = FallbackFromEnv();
  c.wait_ms = EnvInt("BRAID_WAIT_MS", c.wait_ms);
  c.spin_us = EnvInt("BRAID_SPIN_US", c.spin_us);
  return c;
}

// The errno braid_init reports for an attach that failed.
int ErrnoFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kFailedPrecondition:  // a refusal, a layout version mismatch
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kInvalidArgument:
      return EPROTO;
    case absl::StatusCode::kDeadlineExceeded:
      return ETIMEDOUT;
    case absl::StatusCode::kUnavailable:
      return ECONNREFUSED;
    default:
      return EIO;
  }
}

}  // namespace

void SetLastError(const std::string& message) { last_error = message; }
const char* LastError() { return last_error.c_str(); }

Process& Process::Get() {
  static Process* process = new Process();
  return *process;
}

Process::Process() {
  ::pthread_atfork(&Process::PrepareFork, &Process::ParentAfterFork, &Process::ChildAfterFork);
  std::atexit(&Process::AtExit);
}

void Process::AtExit() {
  Process& p = Get();
  std::vector<int> fds;
  {
    std::shared_lock lock(p.table_mu_);
    for (size_t fd = 0; fd < p.table_.size(); ++fd) {
      if (p.table_[fd] != nullptr) fds.push_back(static_cast<int>(fd));
    }
  }
  // The kernel descriptors close with the process; a fork child's inherited sockets are its
  // parent's and Release leaves them alone.
  for (const int fd : fds) Release(fd);
}

void Process::PrepareFork() {
  Process& p = Get();
  p.mu_.lock();
  p.table_mu_.lock();
}

void Process::ParentAfterFork() {
  Process& p = Get();
  p.forks_.fetch_add(1, std::memory_order_acq_rel);
  p.table_mu_.unlock();
  p.mu_.unlock();
}

void Process::ChildAfterFork() {
  Process& p = Get();
  // glibc's rwlock remembers its writer's thread id, which the child's thread does not have:
  // unlocking would not release it. The child is single-threaded here, so fresh locks are
  // exactly "unlocked".
  new (&p.table_mu_) std::shared_mutex();
  new (&p.mu_) std::mutex();
  NoteForkInChild();
  if (p.channel_ != nullptr) {
    p.channel_->ForgetInChild();
    // Kept alive, never destroyed here: another thread of the parent may have held one of its
    // mutexes at the fork, and the child must not touch them. Held from a global, so that a
    // leak checker sees it kept, not lost, when the child exits.
    static auto* const kept = new std::vector<std::shared_ptr<Channel>>();
    kept->push_back(std::move(p.channel_));
  }
}

void Process::EnsureConfiguredLocked() {
  if (configured_) return;
  config_ = DefaultConfig();
  configured_ = true;
}

int Process::Init(const braid_config* config) {
  std::lock_guard lock(mu_);
  Config c = DefaultConfig();
  if (config != nullptr) {
    if (config->socket_path != nullptr && *config->socket_path != '\0') {
      c.socket_path = config->socket_path;
    }
    if (config->app_name != nullptr) c.app_name = config->app_name;
    if (config->fallback < BRAID_FALLBACK_KERNEL || config->fallback > BRAID_FALLBACK_WAIT ||
        config->wait_ms < 0 || config->spin_us < 0) {
      SetLastError("braid_init: fallback, wait_ms or spin_us out of range");
      return EINVAL;
    }
    c.fallback = config->fallback;
    if (config->wait_ms > 0) c.wait_ms = config->wait_ms;
    c.spin_us = config->spin_us;
  }
  config_ = c;
  configured_ = true;
  if (channel_ != nullptr && !channel_->dead()) {
    SetLastError("braid_init: already attached (braid_detach first)");
    return EISCONN;
  }
  auto attached = Channel::Attach(config_);
  if (!attached.ok()) {
    SetLastError(std::string(attached.status().message()));
    return ErrnoFor(attached.status());
  }
  channel_ = std::move(*attached);
  SetLastError("");
  return 0;
}

void Process::Detach() {
  std::shared_ptr<Channel> channel;
  {
    std::lock_guard lock(mu_);
    channel = std::move(channel_);
  }
  // (descriptor, socket, whether it is the last descriptor naming the socket)
  std::vector<std::tuple<int, std::shared_ptr<Socket>, bool>> sockets;
  {
    std::unique_lock lock(table_mu_);
    for (size_t fd = 0; fd < table_.size(); ++fd) {
      if (table_[fd] == nullptr) continue;
      const bool last = --table_[fd]->fd_refs == 0;
      sockets.emplace_back(static_cast<int>(fd), std::move(table_[fd]), last);
      entries_.fetch_sub(1, std::memory_order_relaxed);
    }
  }
  for (auto& [fd, s, last] : sockets) {
    s->closed.store(true, std::memory_order_release);
    if (last && !s->channel->dead()) {
      s->channel->Push(channel::Command{s->handle, s->channel->NextCookie(), channel::AbortArgs{}});
    }
    Libc().close(fd);
  }
  if (channel != nullptr) {
    // The service frees the region when it sees the connection hang up, which it does once
    // the last socket lets go of the channel; waiters still inside learn it now.
    channel->MarkDead("detached (braid_detach)");
  }
}

bool Process::Attached() {
  std::lock_guard lock(mu_);
  return channel_ != nullptr && channel_->CheckAlive();
}

Config Process::config() {
  std::lock_guard lock(mu_);
  EnsureConfiguredLocked();
  return config_;
}

std::shared_ptr<Channel> Process::ChannelForNewSocket(int* error) {
  *error = 0;
  std::lock_guard lock(mu_);
  EnsureConfiguredLocked();
  if (channel_ != nullptr && channel_->CheckAlive()) return channel_;
  channel_.reset();
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(config_.wait_ms);
  for (;;) {
    auto attached = Channel::Attach(config_);
    if (attached.ok()) {
      channel_ = std::move(*attached);
      return channel_;
    }
    SetLastError(std::string(attached.status().message()));
    const bool refused = attached.status().code() != absl::StatusCode::kUnavailable &&
                         attached.status().code() != absl::StatusCode::kDeadlineExceeded;
    switch (config_.fallback) {
      case BRAID_FALLBACK_FAIL:
        *error = refused ? EPROTO : ECONNREFUSED;
        return nullptr;
      case BRAID_FALLBACK_WAIT:
        if (refused) {
          *error = EPROTO;
          return nullptr;
        }
        if (Clock::now() >= deadline) {
          *error = ECONNREFUSED;
          return nullptr;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      default:
        return nullptr;
    }
  }
}

std::shared_ptr<Socket> Process::Find(int fd) {
  if (fd < 0 || entries_.load(std::memory_order_acquire) == 0) return nullptr;
  std::shared_ptr<Socket> s;
  {
    std::shared_lock lock(table_mu_);
    if (static_cast<size_t>(fd) >= table_.size()) return nullptr;
    s = table_[fd];
  }
  if (s != nullptr && s->channel->foreign() &&
      !s->adopt_tried.exchange(true, std::memory_order_acq_rel)) {
    return AdoptInherited(s);
  }
  return s;
}

void Process::Replace(const std::shared_ptr<Socket>& from, const std::shared_ptr<Socket>& to) {
  std::unique_lock lock(table_mu_);
  to->forks_at_insert = forks_.load(std::memory_order_acquire);
  for (auto& entry : table_) {
    if (entry != from) continue;
    entry = to;
    --from->fd_refs;
    ++to->fd_refs;
  }
}

void Process::Insert(int fd, std::shared_ptr<Socket> socket) {
  std::unique_lock lock(table_mu_);
  if (static_cast<size_t>(fd) >= table_.size()) table_.resize(fd + 64);
  if (table_[fd] == socket) return;
  if (table_[fd] == nullptr) {
    entries_.fetch_add(1, std::memory_order_release);
  } else {
    --table_[fd]->fd_refs;
  }
  ++socket->fd_refs;
  if (socket->fd_refs == 1) socket->forks_at_insert = forks_.load(std::memory_order_acquire);
  table_[fd] = std::move(socket);
}

std::shared_ptr<Socket> Process::Take(int fd, bool* last) {
  if (fd < 0) return nullptr;
  std::unique_lock lock(table_mu_);
  if (static_cast<size_t>(fd) >= table_.size() || table_[fd] == nullptr) return nullptr;
  entries_.fetch_sub(1, std::memory_order_release);
  std::shared_ptr<Socket> s = std::move(table_[fd]);
  if (last != nullptr) *last = --s->fd_refs == 0;
  return s;
}

bool Process::Renumber(int from, int to) {
  if (from < 0 || to < 0) return false;
  std::unique_lock lock(table_mu_);
  if (static_cast<size_t>(from) >= table_.size() || table_[from] == nullptr) return false;
  if (static_cast<size_t>(to) >= table_.size()) table_.resize(to + 64);
  if (table_[to] != nullptr) {
    --table_[to]->fd_refs;
    entries_.fetch_sub(1, std::memory_order_release);
  }
  table_[to] = std::move(table_[from]);
  table_[to]->fd.store(to, std::memory_order_relaxed);
  return true;
}

std::shared_ptr<EpollSet> Process::FindEpoll(int fd) const {
  if (entries_.load(std::memory_order_acquire) == 0) return nullptr;
  std::shared_lock lock(table_mu_);
  auto it = epolls_.find(fd);
  return it == epolls_.end() ? nullptr : it->second;
}

void Process::InsertEpoll(int fd, std::shared_ptr<EpollSet> set) {
  std::unique_lock lock(table_mu_);
  if (epolls_.insert_or_assign(fd, std::move(set)).second) {
    entries_.fetch_add(1, std::memory_order_release);
  }
}

std::shared_ptr<EpollSet> Process::TakeEpoll(int fd) {
  std::unique_lock lock(table_mu_);
  auto it = epolls_.find(fd);
  if (it == epolls_.end()) return nullptr;
  std::shared_ptr<EpollSet> set = std::move(it->second);
  epolls_.erase(it);
  entries_.fetch_sub(1, std::memory_order_release);
  return set;
}

}  // namespace braid::sdk
