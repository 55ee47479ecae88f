// Readiness over Braid sockets and kernel descriptors together: braid_epoll_* and braid_poll.
//
// A braid epoll instance is a real epoll descriptor holding the kernel descriptors, plus a
// private interest list of Braid sockets. Waiting polls that epoll descriptor together with the
// channel (Channel::Block: doorbell, unix connection, this thread's eventfd), so a kernel event,
// a channel event or the service's death each wake the waiter, and an idle wait sleeps in the
// kernel. Readiness of a Braid socket is read from the FIFO indices and the socket's state.
//
// Before it sleeps a waiter clears the RX coalescing flag of each socket it watches (layout.h):
// the service then announces the next bytes with a kReadable, which advances the channel's
// progress and wakes the waiter. Edge-triggered interests report a new edge when bytes arrived,
// TX room was freed or the socket's state changed since the last report (the FIFO positions
// and the socket's event counter), as Linux reports a new edge for every arrival.
#include <errno.h>
#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "braid/braid.h"
#include "datapath/channel/shm.h"
#include "sdk/src/channel_client.h"
#include "sdk/src/kernel.h"
#include "sdk/src/process.h"
#include "sdk/src/readiness.h"
#include "sdk/src/socket.h"

namespace braid::sdk {

class EpollSet {
 public:
  explicit EpollSet(int fd) : fd_(fd) {}
  int fd() const { return fd_; }

  struct Interest {
    std::weak_ptr<Socket> socket;
    uint32_t events = 0;
    epoll_data_t data{};
    uint64_t last_key = 0;
    uint32_t last_mask = 0;
    bool fresh = true;      // added or modified since the last report: the first edge
    bool disabled = false;  // EPOLLONESHOT fired; EPOLL_CTL_MOD re-arms
  };

  std::mutex mu;
  std::map<int, Interest> interests;  // by descriptor

 private:
  const int fd_;
};

namespace {

int Fail(int error) {
  errno = error;
  return -1;
}

constexpr uint32_t kAlwaysReported = EPOLLERR | EPOLLHUP;

// What epoll would say about the socket now (POLL* and EPOLL* share their values on Linux).
uint32_t Readiness(Socket& s) {
  if (s.channel->dead() || s.closed.load(std::memory_order_acquire)) {
    return EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLRDHUP;
  }
  std::lock_guard lock(s.channel->mu());
  switch (s.state) {
    case SocketState::kListening:
      return s.accepted.empty() ? 0 : EPOLLIN | EPOLLRDNORM;
    case SocketState::kConnecting:
    case SocketState::kPosted:
      return 0;
    case SocketState::kOpen:
      // As Linux says of a socket that is not connected (or failed to).
      return EPOLLOUT | EPOLLHUP | (s.connect_error != 0 ? static_cast<uint32_t>(EPOLLERR) : 0u);
    case SocketState::kClosed:
      return EPOLLERR | EPOLLHUP;
    case SocketState::kConnected:
      break;
  }
  uint32_t mask = 0;
  if (s.async_error.load(std::memory_order_acquire) != 0) {
    mask |= EPOLLERR | EPOLLHUP | EPOLLIN | EPOLLOUT | EPOLLRDHUP;
  }
  const bool eof =
      s.peer_closed.load(std::memory_order_acquire) || s.rx_shut.load(std::memory_order_acquire);
  if (s.RxBytes() > 0) mask |= EPOLLIN | EPOLLRDNORM;
  if (eof) mask |= EPOLLIN | EPOLLRDNORM | EPOLLRDHUP;
  if (s.TxSpace() > 0) mask |= EPOLLOUT | EPOLLWRNORM;
  if (eof && s.tx_shut.load(std::memory_order_acquire)) mask |= EPOLLHUP;
  return mask;
}

// Clears the RX flag so that the next bytes are announced (see the file comment).
void Arm(Socket& s) {
  if (s.shared != nullptr) s.shared->rx_pending.store(0, std::memory_order_relaxed);
}

// The channel to sleep on: the live one among `sockets` (a process has at most one).
std::shared_ptr<Channel> LiveChannel(const std::vector<std::shared_ptr<Socket>>& sockets) {
  for (const auto& s : sockets) {
    if (s != nullptr && !s->channel->dead()) return s->channel;
  }
  return nullptr;
}

Deadline DeadlineFor(int timeout_ms) {
  if (timeout_ms < 0) return std::nullopt;
  return Clock::now() + std::chrono::milliseconds(timeout_ms);
}

// poll(2), or ppoll(2) when the caller gave a signal mask.
int KernelPoll(pollfd* fds, nfds_t nfds, int timeout_ms, const sigset_t* sigmask) {
  if (sigmask == nullptr) return Libc().poll(fds, nfds, timeout_ms);
  timespec ts{timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
  return Libc().ppoll(fds, nfds, timeout_ms < 0 ? nullptr : &ts, sigmask);
}

int RemainingMs(const Deadline& deadline) {
  if (!deadline.has_value()) return -1;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - Clock::now());
  return static_cast<int>(std::max<int64_t>(left.count(), 0));
}

// The Braid sockets an epoll instance watches (stale entries dropped).
std::vector<std::shared_ptr<Socket>> Watched(EpollSet& set) {
  std::vector<std::shared_ptr<Socket>> out;
  std::lock_guard lock(set.mu);
  for (auto it = set.interests.begin(); it != set.interests.end();) {
    std::shared_ptr<Socket> s = it->second.socket.lock();
    if (s == nullptr || Process::Get().Find(it->first) != s) {
      it = set.interests.erase(it);  // closed: Linux drops a closed descriptor from the set
      continue;
    }
    if (!it->second.disabled) out.push_back(std::move(s));
    ++it;
  }
  return out;
}

int CollectBraid(EpollSet& set, epoll_event* events, int max) {
  int n = 0;
  std::lock_guard lock(set.mu);
  for (auto& [fd, interest] : set.interests) {
    if (n == max) break;
    if (interest.disabled) continue;
    std::shared_ptr<Socket> s = interest.socket.lock();
    if (s == nullptr) continue;
    if ((interest.events & EPOLLIN) != 0) Arm(*s);
  }
  std::atomic_thread_fence(std::memory_order_seq_cst);
  for (auto& [fd, interest] : set.interests) {
    if (n == max) break;
    if (interest.disabled) continue;
    std::shared_ptr<Socket> s = interest.socket.lock();
    if (s == nullptr) continue;
    const uint64_t key = s->EdgeKey();
    const uint32_t mask = Readiness(*s) & (interest.events | kAlwaysReported);
    bool report = mask != 0;
    if (report && (interest.events & EPOLLET) != 0) {
      report = interest.fresh || key != interest.last_key || (mask & ~interest.last_mask) != 0;
    }
    interest.last_mask = mask;
    if (!report) continue;
    interest.last_key = key;
    interest.fresh = false;
    if ((interest.events & EPOLLONESHOT) != 0) interest.disabled = true;
    events[n].events = mask;
    events[n].data = interest.data;
    ++n;
  }
  return n;
}

}  // namespace
}  // namespace braid::sdk

using braid::sdk::EpollSet;
using braid::sdk::Fail;
using braid::sdk::Libc;
using braid::sdk::Process;
using braid::sdk::Socket;

extern "C" {

int braid_epoll_create1(int flags) {
  const int fd = Libc().epoll_create1(flags);
  if (fd < 0) return -1;
  Process::Get().InsertEpoll(fd, std::make_shared<EpollSet>(fd));
  return fd;
}

int braid_epoll_ctl(int epfd, int op, int fd, struct epoll_event* event) {
  std::shared_ptr<EpollSet> set = Process::Get().FindEpoll(epfd);
  std::shared_ptr<Socket> s = set == nullptr ? nullptr : Process::Get().Find(fd);
  if (s == nullptr) return Libc().epoll_ctl(epfd, op, fd, event);
  if (op != EPOLL_CTL_DEL && event == nullptr) return Fail(EFAULT);
  std::lock_guard lock(set->mu);
  auto it = set->interests.find(fd);
  // An entry for a socket closed since (its number now reused) is gone, as in the kernel.
  if (it != set->interests.end() && it->second.socket.lock() != s) {
    set->interests.erase(it);
    it = set->interests.end();
  }
  switch (op) {
    case EPOLL_CTL_ADD:
      if (it != set->interests.end()) return Fail(EEXIST);
      set->interests[fd] = EpollSet::Interest{s, event->events, event->data};
      break;
    case EPOLL_CTL_MOD:
      if (it == set->interests.end()) return Fail(ENOENT);
      it->second = EpollSet::Interest{s, event->events, event->data};
      break;
    case EPOLL_CTL_DEL:
      if (it == set->interests.end()) return Fail(ENOENT);
      set->interests.erase(it);
      break;
    default:
      return Fail(EINVAL);
  }
  // A waiter in epoll_wait on this set looks again.
  s->channel->Wake();
  return 0;
}

int braid_epoll_wait(int epfd, struct epoll_event* events, int max, int timeout_ms) {
  return braid::sdk::EpollWait(epfd, events, max, timeout_ms, nullptr);
}

int braid_poll(struct pollfd* fds, unsigned long nfds, int timeout_ms) {
  return braid::sdk::Poll(fds, nfds, timeout_ms, nullptr);
}

}  // extern "C"

namespace braid::sdk {

void EnsureEpoll(int epfd) {
  if (Process::Get().FindEpoll(epfd) == nullptr) {
    Process::Get().InsertEpoll(epfd, std::make_shared<EpollSet>(epfd));
  }
}

bool HoldsBraidSockets(int epfd) {
  std::shared_ptr<EpollSet> set = Process::Get().FindEpoll(epfd);
  return set != nullptr && !Watched(*set).empty();
}

int EpollWait(int epfd, epoll_event* events, int max, int timeout_ms, const sigset_t* sigmask) {
  std::shared_ptr<EpollSet> set = Process::Get().FindEpoll(epfd);
  if (set == nullptr) return Libc().epoll_pwait(epfd, events, max, timeout_ms, sigmask);
  if (max <= 0) return Fail(EINVAL);
  if (events == nullptr) return Fail(EFAULT);
  const Deadline deadline = DeadlineFor(timeout_ms);
  Clock::time_point spin_until{};
  for (bool first = true;; first = false) {
    std::vector<std::shared_ptr<Socket>> watched = Watched(*set);
    std::shared_ptr<Channel> ch = LiveChannel(watched);
    if (ch == nullptr && watched.empty()) {
      // Kernel descriptors only (now): the kernel's own wait.
      return Libc().epoll_pwait(epfd, events, max, RemainingMs(deadline), sigmask);
    }
    uint64_t seen = 0;
    if (ch != nullptr) {
      ch->Pump();
      seen = ch->progress();
    }
    int n = CollectBraid(*set, events, max);
    if (n < max) {
      const int k = Libc().epoll_wait(epfd, events + n, max - n, 0);
      if (k < 0 && n == 0) return -1;
      if (k > 0) n += k;
    }
    const bool expired = deadline.has_value() && Clock::now() >= *deadline;
    if (n > 0 || expired) return n;
    if (ch == nullptr) {
      // Every Braid socket is on a dead channel and reported (or disabled): kernel only.
      return Libc().epoll_pwait(epfd, events, max, RemainingMs(deadline), sigmask);
    }
    // Spin briefly first, as blocking socket calls do: a busy channel answers within
    // microseconds, and a sleep costs two context switches.
    if (first) spin_until = Clock::now() + std::chrono::microseconds(ch->spin_us());
    if (Clock::now() < spin_until) {
      for (int i = 0; i < 16; ++i) channel::CpuRelax();
      continue;
    }
    pollfd kernel{epfd, POLLIN, 0};
    if (ch->Block(seen, std::span<pollfd>(&kernel, 1), deadline, sigmask) ==
        Channel::BlockResult::kInterrupted) {
      return Fail(EINTR);
    }
  }
}

int Poll(pollfd* fds, unsigned long nfds, int timeout_ms, const sigset_t* sigmask) {
  std::vector<std::shared_ptr<Socket>> braid(nfds);
  bool any = false;
  for (unsigned long i = 0; i < nfds; ++i) {
    braid[i] = Process::Get().Find(fds[i].fd);
    any = any || braid[i] != nullptr;
  }
  if (!any) return KernelPoll(fds, nfds, timeout_ms, sigmask);
  std::vector<pollfd> kernel;
  std::vector<unsigned long> kernel_index;
  for (unsigned long i = 0; i < nfds; ++i) {
    if (braid[i] != nullptr) continue;
    kernel.push_back(fds[i]);
    kernel_index.push_back(i);
  }
  const Deadline deadline = DeadlineFor(timeout_ms);
  Clock::time_point spin_until{};
  for (bool first = true;; first = false) {
    std::shared_ptr<Channel> ch = LiveChannel(braid);
    uint64_t seen = 0;
    if (ch != nullptr) {
      ch->Pump();
      seen = ch->progress();
    }
    for (unsigned long i = 0; i < nfds; ++i) {
      if (braid[i] != nullptr && (fds[i].events & POLLIN) != 0) Arm(*braid[i]);
    }
    std::atomic_thread_fence(std::memory_order_seq_cst);
    int n = 0;
    for (unsigned long i = 0; i < nfds; ++i) {
      if (braid[i] == nullptr) continue;
      const uint32_t wanted = static_cast<uint16_t>(fds[i].events) | POLLERR | POLLHUP;
      fds[i].revents = static_cast<short>(Readiness(*braid[i]) & wanted);
      if (fds[i].revents != 0) ++n;
    }
    if (!kernel.empty()) {
      const int k = Libc().poll(kernel.data(), kernel.size(), 0);
      if (k < 0 && n == 0) return -1;
      for (size_t j = 0; j < kernel.size(); ++j) {
        fds[kernel_index[j]].revents = k > 0 ? kernel[j].revents : 0;
        if (k > 0 && kernel[j].revents != 0) ++n;
      }
    }
    const bool expired = deadline.has_value() && Clock::now() >= *deadline;
    if (n > 0 || expired) return n;
    if (ch == nullptr) {
      const int k = KernelPoll(kernel.data(), kernel.size(), RemainingMs(deadline), sigmask);
      for (size_t j = 0; j < kernel.size() && k > 0; ++j) {
        fds[kernel_index[j]].revents = kernel[j].revents;
      }
      return k;
    }
    if (first) spin_until = Clock::now() + std::chrono::microseconds(ch->spin_us());
    if (Clock::now() < spin_until) {
      for (int i = 0; i < 16; ++i) channel::CpuRelax();
      continue;
    }
    if (ch->Block(seen, kernel, deadline, sigmask) == Channel::BlockResult::kInterrupted) {
      return Fail(EINTR);
    }
  }
}

}  // namespace braid::sdk
