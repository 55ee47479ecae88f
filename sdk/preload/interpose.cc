// libbraid_preload.so: unmodified TCP applications on Braid (LD_PRELOAD).
//
// Every libc socket and descriptor call an application makes lands here first. While the
// process has neither a Braid socket nor an undecided TCP socket (pending.h) each call is
// libc's own after one relaxed load; afterwards a Braid descriptor goes to libbraid (braid.h),
// an undecided one is recorded and passed on, and anything else is libc's call unchanged.
//
// Where a TCP socket goes is decided at connect() (BRAID_PRELOAD_DESTINATIONS) and listen()
// (BRAID_PRELOAD_LISTEN), see rules.h: Braid when the rule matches and libbraid attached to the
// service; otherwise — no service (libbraid's kernel fallback), an option or a bound address
// Braid does not have — the kernel socket the application has held since socket().
//
// Readiness: poll, ppoll, select and pselect over any mix go to libbraid's poll; an epoll set
// becomes Braid-aware when a Braid socket is added to it (readiness.h). An epoll set holding
// Braid sockets cannot itself be watched by the kernel: adding it to another epoll set fails
// with EPERM, as Linux says of a file that does not support epoll.
//
// dup, dup2, dup3 and fcntl(F_DUPFD) give a Braid socket more numbers; it closes with the last
// (descriptors.h). Fork: libbraid's pthread_atfork handlers (process.h).
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "braid/braid.h"
#include "sdk/preload/pending.h"
#include "sdk/preload/rules.h"
#include "sdk/src/descriptors.h"
#include "sdk/src/kernel.h"
#include "sdk/src/process.h"
#include "sdk/src/readiness.h"

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

// glibc's fortified variants: declared by its headers only when the includer fortifies.
extern "C" {
void __chk_fail(void) __attribute__((noreturn));
ssize_t __read_chk(int fd, void* buf, size_t n, size_t buflen);
ssize_t __recv_chk(int fd, void* buf, size_t n, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void* buf, size_t n, size_t buflen, int flags, sockaddr* addr,
                       socklen_t* len);
int __poll_chk(pollfd* fds, nfds_t n, int timeout_ms, size_t fdslen);
int __ppoll_chk(pollfd* fds, nfds_t n, const timespec* timeout, const sigset_t* sigmask,
                size_t fdslen);
}

namespace braid::preload {
namespace {

using sdk::Libc;

// Set once the process made its first TCP socket: until then nothing here looks further.
std::atomic<bool> active{false};

PendingTable& Table() {
  static PendingTable* table = new PendingTable();  // never destroyed: calls at exit find it
  return *table;
}

const Rules& TheRules() {
  static const Rules* rules = new Rules(Rules::FromEnvironment());
  return *rules;
}

bool Debug() {
  static const bool on = [] {
    const char* v = std::getenv("BRAID_PRELOAD_DEBUG");
    return v != nullptr && *v != '\0' && *v != '0';
  }();
  return on;
}

// One line on stderr per decision, with BRAID_PRELOAD_DEBUG=1.
template <typename... Args>
void Note(const char* format, Args... args) {
  if (!Debug()) return;
  char line[256];
  std::snprintf(line, sizeof(line), format, args...);
  ::dprintf(STDERR_FILENO, "libbraid_preload[%d]: %s\n", static_cast<int>(::getpid()), line);
}

// Nothing of Braid's in this process: every call is libc's.
inline bool Quiet() {
  return !active.load(std::memory_order_relaxed) ||
         (sdk::Process::Get().Quiet() && Table().Empty());
}

inline bool IsBraid(int fd) { return braid_is_braid_fd(fd) != 0; }

int Fail(int error) {
  errno = error;
  return -1;
}

bool TcpKind(int domain, int type, int protocol) {
  const int kind = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
  return (domain == AF_INET || domain == AF_INET6) && kind == SOCK_STREAM &&
         (protocol == 0 || protocol == IPPROTO_TCP || protocol == IPPROTO_MPTCP);
}

bool Loopback(const sockaddr* addr) {
  if (addr->sa_family == AF_INET) {
    return (ntohl(reinterpret_cast<const sockaddr_in*>(addr)->sin_addr.s_addr) >> 24) == 127;
  }
  const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr;
  return IN6_IS_ADDR_LOOPBACK(&a) || (IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127);
}

// The kernel socket keeps the descriptor: what was only recorded is done now.
int CommitKernel(int fd, const Pending& p) {
  if (p.bound.has_value()) {
    return Libc().bind(fd, reinterpret_cast<const sockaddr*>(&*p.bound), p.bound_len);
  }
  return 0;
}

enum class Outcome { kBraid, kKernel, kFailed };

// Makes a Braid socket for the undecided `fd`, replays the record on it (and listens, when
// `backlog` is set) and moves it onto `fd`. kKernel: Braid cannot take this socket (no
// service, an option or address it does not have) and `fd` stays the kernel's. kFailed:
// errno says why (libbraid's BRAID_FALLBACK_FAIL policy, listen refused).
Outcome MakeBraid(int fd, const Pending& p, const int* backlog) {
  const int fl = Libc().fcntl(fd, F_GETFL);
  const int fdflags = Libc().fcntl(fd, F_GETFD);
  if (fl < 0 || fdflags < 0) return Outcome::kFailed;
  const int type = SOCK_STREAM | SOCK_CLOEXEC | ((fl & O_NONBLOCK) != 0 ? SOCK_NONBLOCK : 0);
  const int bfd = braid_socket(p.domain, type, p.protocol);
  if (bfd < 0) return Outcome::kFailed;
  if (!IsBraid(bfd)) {
    Libc().close(bfd);  // libbraid's kernel fallback: the app's own kernel socket will do
    Note("fd %d: no Braid service, kernel", fd);
    return Outcome::kKernel;
  }
  auto give_up = [&](const char* why, int what) {
    const int saved = errno;
    braid_close(bfd);
    Note("fd %d: %s %d (%s), kernel", fd, why, what, std::strerror(saved));
    errno = saved;
    return Outcome::kKernel;
  };
  for (const RecordedOption& o : p.options) {
    if (braid_setsockopt(bfd, o.level, o.name, o.value.data(),
                         static_cast<socklen_t>(o.value.size())) != 0) {
      return give_up("option", o.name);
    }
  }
  if (p.bound.has_value() &&
      braid_bind(bfd, reinterpret_cast<const sockaddr*>(&*p.bound), p.bound_len) != 0) {
    return give_up("bind", p.BoundPort());
  }
  if (backlog != nullptr && braid_listen(bfd, *backlog) != 0) {
    const int saved = errno;
    braid_close(bfd);
    errno = saved;
    return Outcome::kFailed;
  }
  // dup3 closes the kernel socket on `fd` and puts the Braid socket's descriptor there.
  if (Libc().dup3(bfd, fd, (fdflags & FD_CLOEXEC) != 0 ? O_CLOEXEC : 0) < 0) {
    const int saved = errno;
    braid_close(bfd);
    errno = saved;
    return Outcome::kFailed;
  }
  sdk::Process::Get().Renumber(bfd, fd);
  Libc().close(bfd);
  for (const auto& [epfd, interest] : p.epolls) {
    sdk::EnsureEpoll(epfd);
    epoll_event e = interest;
    braid_epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e);
  }
  Note("fd %d: Braid", fd);
  return Outcome::kBraid;
}

// ---- creation and connection set-up -----------------------------------------------------

int Socket(int domain, int type, int protocol) {
  const int fd = Libc().socket(domain, type, protocol);
  if (fd < 0 || !TcpKind(domain, type, protocol)) return fd;
  auto p = std::make_unique<Pending>();
  p->domain = domain;
  p->type = type;
  p->protocol = protocol;
  Table().Add(fd, std::move(p));
  active.store(true, std::memory_order_relaxed);
  return fd;
}

int Bind(int fd, const sockaddr* addr, socklen_t len) {
  if (Quiet()) return Libc().bind(fd, addr, len);
  if (IsBraid(fd)) return braid_bind(fd, addr, len);
  int error = -1;
  const bool pending = Table().With(fd, [&](Pending& p) {
    if (addr == nullptr) {
      error = EFAULT;
    } else if (len < sizeof(sa_family_t) || addr->sa_family != p.domain ||
               len < (p.domain == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6)) ||
               len > sizeof(sockaddr_storage)) {
      error = addr->sa_family != p.domain && len >= sizeof(sa_family_t) && p.domain == AF_INET6
                  ? EINVAL
                  : (addr->sa_family != p.domain ? EAFNOSUPPORT : EINVAL);
    } else if (p.bound.has_value()) {
      error = EINVAL;  // already bound, as Linux answers
    } else {
      sockaddr_storage s{};
      std::memcpy(&s, addr, len);
      p.bound = s;
      p.bound_len = len;
      error = 0;
    }
  });
  if (!pending) return Libc().bind(fd, addr, len);
  return error == 0 ? 0 : Fail(error);
}

int Listen(int fd, int backlog) {
  if (Quiet()) return Libc().listen(fd, backlog);
  if (IsBraid(fd)) return braid_listen(fd, backlog);
  std::unique_ptr<Pending> p = Table().Take(fd);
  if (p == nullptr) return Libc().listen(fd, backlog);
  if (TheRules().MatchListen(p->BoundPort())) {
    switch (MakeBraid(fd, *p, &backlog)) {
      case Outcome::kBraid:
        return 0;
      case Outcome::kFailed: {
        const int saved = errno;
        Table().Restore(fd, std::move(p));
        return Fail(saved);
      }
      case Outcome::kKernel:
        break;
    }
  }
  if (CommitKernel(fd, *p) != 0) return -1;
  return Libc().listen(fd, backlog);
}

int Connect(int fd, const sockaddr* addr, socklen_t len) {
  if (Quiet()) return Libc().connect(fd, addr, len);
  if (IsBraid(fd)) return braid_connect(fd, addr, len);
  std::unique_ptr<Pending> p = Table().Take(fd);
  if (p == nullptr) return Libc().connect(fd, addr, len);
  const bool usable = addr != nullptr && len >= sizeof(sa_family_t) &&
                      addr->sa_family == p->domain &&
                      len >= (p->domain == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6));
  // Braid has no loopback interface: unless the rules name it, loopback stays the kernel's.
  const bool explicit_rules = std::getenv("BRAID_PRELOAD_DESTINATIONS") != nullptr &&
                              *std::getenv("BRAID_PRELOAD_DESTINATIONS") != '\0';
  if (usable && (explicit_rules || !Loopback(addr)) && TheRules().MatchDestination(addr, len)) {
    switch (MakeBraid(fd, *p, nullptr)) {
      case Outcome::kBraid:
        return braid_connect(fd, addr, len);
      case Outcome::kFailed: {
        const int saved = errno;
        Table().Restore(fd, std::move(p));
        return Fail(saved);
      }
      case Outcome::kKernel:
        break;
    }
  }
  if (CommitKernel(fd, *p) != 0) return -1;
  return Libc().connect(fd, addr, len);
}

// ---- descriptors ------------------------------------------------------------------------

int Close(int fd) {
  if (Quiet()) return Libc().close(fd);
  if (!sdk::Release(fd)) {
    Table().Take(fd);
  }
  Table().ForgetEpoll(fd);
  return Libc().close(fd);
}

// `new_fd` was just made a copy of `fd` by the kernel.
void AfterDup(int fd, int new_fd) {
  if (sdk::Alias(fd, new_fd)) return;
  // An undecided socket with two numbers cannot move to Braid on one of them: it stays the
  // kernel's, and what was only recorded is done.
  if (std::unique_ptr<Pending> p = Table().Take(fd)) CommitKernel(fd, *p);
}

int Dup(int fd) {
  const int new_fd = Libc().dup(fd);
  if (new_fd >= 0 && !Quiet()) AfterDup(fd, new_fd);
  return new_fd;
}

int Dup3(int fd, int new_fd, int flags, bool is_dup2) {
  if (Quiet()) return is_dup2 ? Libc().dup2(fd, new_fd) : Libc().dup3(fd, new_fd, flags);
  const int r = is_dup2 ? Libc().dup2(fd, new_fd) : Libc().dup3(fd, new_fd, flags);
  if (r < 0 || fd == new_fd) return r;
  // The kernel closed whatever `new_fd` was.
  if (!sdk::Release(new_fd)) Table().Take(new_fd);
  AfterDup(fd, new_fd);
  return r;
}

int Fcntl(int fd, int cmd, void* arg) {
  const long value = reinterpret_cast<long>(arg);
  if (Quiet()) return Libc().fcntl(fd, cmd, arg);
  if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) {
    const int new_fd = Libc().fcntl(fd, cmd, arg);
    if (new_fd >= 0) AfterDup(fd, new_fd);
    return new_fd;
  }
  if (IsBraid(fd)) return braid_fcntl(fd, cmd, value);
  return Libc().fcntl(fd, cmd, arg);
}

// ---- options and names ------------------------------------------------------------------

int Setsockopt(int fd, int level, int name, const void* value, socklen_t len) {
  if (Quiet()) return Libc().setsockopt(fd, level, name, value, len);
  if (IsBraid(fd)) return braid_setsockopt(fd, level, name, value, len);
  const int r = Libc().setsockopt(fd, level, name, value, len);
  if (r == 0) Table().With(fd, [&](Pending& p) { p.RecordOption(level, name, value, len); });
  return r;
}

int Getsockname(int fd, sockaddr* addr, socklen_t* len) {
  if (Quiet()) return Libc().getsockname(fd, addr, len);
  if (IsBraid(fd)) return braid_getsockname(fd, addr, len);
  bool answered = false;
  Table().With(fd, [&](Pending& p) {
    if (!p.bound.has_value() || addr == nullptr || len == nullptr) return;
    std::memcpy(addr, &*p.bound, std::min(*len, p.bound_len));
    *len = p.bound_len;
    answered = true;
  });
  return answered ? 0 : Libc().getsockname(fd, addr, len);
}

// ---- data -------------------------------------------------------------------------------

// sendfile to a Braid socket: the file's bytes are read here and sent. Like Linux, it sends
// what fits without blocking on a non-blocking socket and moves the file offset (or *offset)
// by what was sent.
ssize_t SendFile(int out_fd, int in_fd, off_t* offset, size_t count) {
  constexpr size_t kChunk = 64 * 1024;
  std::vector<char> buffer(std::min(count, kChunk));
  size_t done = 0;
  off_t position = offset != nullptr ? *offset : 0;
  while (done < count) {
    const size_t want = std::min(count - done, kChunk);
    const ssize_t got = offset != nullptr ? ::pread(in_fd, buffer.data(), want, position)
                                          : Libc().read(in_fd, buffer.data(), want);
    if (got < 0) return done > 0 ? static_cast<ssize_t>(done) : -1;
    if (got == 0) break;
    const ssize_t sent = braid_send(out_fd, buffer.data(), static_cast<size_t>(got), 0);
    const size_t kept = sent > 0 ? static_cast<size_t>(sent) : 0;
    if (offset == nullptr && kept < static_cast<size_t>(got)) {
      // Give back what was read and not sent: the file offset says what was.
      ::lseek(in_fd, static_cast<off_t>(kept) - got, SEEK_CUR);
    }
    position += static_cast<off_t>(kept);
    done += kept;
    if (sent < 0) {
      if (done == 0) return -1;
      break;
    }
    if (kept < static_cast<size_t>(got)) break;
  }
  if (offset != nullptr) *offset = position;
  return static_cast<ssize_t>(done);
}

// ---- readiness --------------------------------------------------------------------------

int TimespecMs(const timespec* t) {
  if (t == nullptr) return -1;
  const long long ms = static_cast<long long>(t->tv_sec) * 1000 + (t->tv_nsec + 999999) / 1000000;
  return static_cast<int>(std::clamp<long long>(ms, 0, INT_MAX));
}

bool AnyBraid(const pollfd* fds, nfds_t n) {
  for (nfds_t i = 0; i < n; ++i) {
    if (IsBraid(fds[i].fd)) return true;
  }
  return false;
}

// select and pselect over Braid sockets: the sets as a poll, with Linux's mapping of poll
// events to the three sets (fs/select.c: POLLIN_SET, POLLOUT_SET, POLLEX_SET).
int SelectAsPoll(int nfds, fd_set* r, fd_set* w, fd_set* e, int timeout_ms,
                 const sigset_t* sigmask) {
  std::vector<pollfd> fds;
  for (int fd = 0; fd < nfds; ++fd) {
    short events = 0;
    if (r != nullptr && FD_ISSET(fd, r)) events |= POLLIN;
    if (w != nullptr && FD_ISSET(fd, w)) events |= POLLOUT;
    if (e != nullptr && FD_ISSET(fd, e)) events |= POLLPRI;
    if (events != 0) fds.push_back(pollfd{fd, events, 0});
  }
  const int n = sdk::Poll(fds.data(), fds.size(), timeout_ms, sigmask);
  if (n < 0) return -1;
  for (const pollfd& p : fds) {
    if ((p.revents & POLLNVAL) != 0) return Fail(EBADF);
  }
  int count = 0;
  for (const pollfd& p : fds) {
    const bool readable = (p.revents & (POLLIN | POLLRDNORM | POLLRDBAND | POLLHUP | POLLERR)) != 0;
    const bool writable = (p.revents & (POLLOUT | POLLWRNORM | POLLWRBAND | POLLERR)) != 0;
    const bool exceptional = (p.revents & POLLPRI) != 0;
    if (r != nullptr && FD_ISSET(p.fd, r)) {
      if (readable) {
        ++count;
      } else {
        FD_CLR(p.fd, r);
      }
    }
    if (w != nullptr && FD_ISSET(p.fd, w)) {
      if (writable) {
        ++count;
      } else {
        FD_CLR(p.fd, w);
      }
    }
    if (e != nullptr && FD_ISSET(p.fd, e)) {
      if (exceptional) {
        ++count;
      } else {
        FD_CLR(p.fd, e);
      }
    }
  }
  return count;
}

bool SetsHoldBraid(int nfds, const fd_set* r, const fd_set* w, const fd_set* e) {
  for (int fd = 0; fd < nfds && fd < FD_SETSIZE; ++fd) {
    if ((r != nullptr && FD_ISSET(fd, r)) || (w != nullptr && FD_ISSET(fd, w)) ||
        (e != nullptr && FD_ISSET(fd, e))) {
      if (IsBraid(fd)) return true;
    }
  }
  return false;
}

int Select(int nfds, fd_set* r, fd_set* w, fd_set* e, timeval* timeout) {
  if (Quiet() || !SetsHoldBraid(nfds, r, w, e)) return Libc().select(nfds, r, w, e, timeout);
  if (nfds < 0 || nfds > FD_SETSIZE) return Fail(EINVAL);
  int ms = -1;
  if (timeout != nullptr) {
    if (timeout->tv_sec < 0 || timeout->tv_usec < 0) return Fail(EINVAL);
    ms = static_cast<int>(std::min<long long>(
        static_cast<long long>(timeout->tv_sec) * 1000 + (timeout->tv_usec + 999) / 1000, INT_MAX));
  }
  timespec start{};
  ::clock_gettime(CLOCK_MONOTONIC, &start);
  const int n = SelectAsPoll(nfds, r, w, e, ms, nullptr);
  if (timeout != nullptr) {
    // Linux leaves the time not slept in *timeout.
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    const long long spent_us =
        (now.tv_sec - start.tv_sec) * 1000000LL + (now.tv_nsec - start.tv_nsec) / 1000;
    long long left =
        static_cast<long long>(timeout->tv_sec) * 1000000 + timeout->tv_usec - spent_us;
    left = std::max(left, 0LL);
    timeout->tv_sec = static_cast<time_t>(left / 1000000);
    timeout->tv_usec = static_cast<suseconds_t>(left % 1000000);
  }
  return n;
}

int Pselect(int nfds, fd_set* r, fd_set* w, fd_set* e, const timespec* timeout,
            const sigset_t* sigmask) {
  if (Quiet() || !SetsHoldBraid(nfds, r, w, e)) {
    return Libc().pselect(nfds, r, w, e, timeout, sigmask);
  }
  if (nfds < 0 || nfds > FD_SETSIZE) return Fail(EINVAL);
  return SelectAsPoll(nfds, r, w, e, TimespecMs(timeout), sigmask);
}

int Poll(pollfd* fds, nfds_t n, int timeout_ms) {
  if (Quiet() || !AnyBraid(fds, n)) return Libc().poll(fds, n, timeout_ms);
  return sdk::Poll(fds, n, timeout_ms, nullptr);
}

int Ppoll(pollfd* fds, nfds_t n, const timespec* timeout, const sigset_t* sigmask) {
  if (Quiet() || !AnyBraid(fds, n)) return Libc().ppoll(fds, n, timeout, sigmask);
  return sdk::Poll(fds, n, TimespecMs(timeout), sigmask);
}

// The kernel says `fd` is an epoll instance (anon_inode:[eventpoll]).
bool KernelEpoll(int fd) {
  char path[64];
  char target[64] = {};
  std::snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  const ssize_t n = ::readlink(path, target, sizeof(target) - 1);
  return n > 0 && std::strcmp(target, "anon_inode:[eventpoll]") == 0;
}

int EpollCtl(int epfd, int op, int fd, epoll_event* event) {
  if (Quiet()) return Libc().epoll_ctl(epfd, op, fd, event);
  if (IsBraid(fd)) {
    if (epfd == fd) return Fail(EINVAL);
    if (sdk::Process::Get().FindEpoll(epfd) == nullptr) {
      if (Libc().fcntl(epfd, F_GETFD) < 0) return Fail(EBADF);
      if (!KernelEpoll(epfd)) return Fail(EINVAL);
      sdk::EnsureEpoll(epfd);
    }
    return braid_epoll_ctl(epfd, op, fd, event);
  }
  if (op == EPOLL_CTL_ADD && sdk::HoldsBraidSockets(fd)) return Fail(EPERM);
  const int r = Libc().epoll_ctl(epfd, op, fd, event);
  if (r == 0) Table().With(fd, [&](Pending& p) { p.RecordEpoll(epfd, op, event); });
  return r;
}

int EpollPwait(int epfd, epoll_event* events, int max, int timeout_ms, const sigset_t* sigmask) {
  if (Quiet()) return Libc().epoll_pwait(epfd, events, max, timeout_ms, sigmask);
  return sdk::EpollWait(epfd, events, max, timeout_ms, sigmask);
}

// ---- the calls that only route --------------------------------------------------------------

ssize_t Read(int fd, void* buf, size_t n) {
  if (Quiet() || !IsBraid(fd)) return Libc().read(fd, buf, n);
  return braid_recv(fd, buf, n, 0);
}

ssize_t Recv(int fd, void* buf, size_t n, int flags) {
  if (Quiet() || !IsBraid(fd)) return Libc().recv(fd, buf, n, flags);
  return braid_recv(fd, buf, n, flags);
}

ssize_t Recvfrom(int fd, void* buf, size_t n, int flags, sockaddr* addr, socklen_t* len) {
  if (Quiet() || !IsBraid(fd)) return Libc().recvfrom(fd, buf, n, flags, addr, len);
  const ssize_t r = braid_recv(fd, buf, n, flags);
  // A stream socket names no sender, as Linux's TCP leaves the address empty.
  if (r >= 0 && addr != nullptr && len != nullptr) *len = 0;
  return r;
}

}  // namespace
}  // namespace braid::preload

namespace preload = braid::preload;
using braid::sdk::Libc;

extern "C" {

__attribute__((visibility("default"))) int socket(int domain, int type, int protocol) noexcept {
  return preload::Socket(domain, type, protocol);
}

__attribute__((visibility("default"))) int bind(int fd, const sockaddr* addr,
                                                socklen_t len) noexcept {
  return preload::Bind(fd, addr, len);
}

__attribute__((visibility("default"))) int listen(int fd, int backlog) noexcept {
  return preload::Listen(fd, backlog);
}

__attribute__((visibility("default"))) int connect(int fd, const sockaddr* addr, socklen_t len) {
  return preload::Connect(fd, addr, len);
}

__attribute__((visibility("default"))) int accept(int fd, sockaddr* addr, socklen_t* len) {
  if (preload::Quiet() || !preload::IsBraid(fd)) return Libc().accept(fd, addr, len);
  return braid_accept4(fd, addr, len, 0);
}

__attribute__((visibility("default"))) int accept4(int fd, sockaddr* addr, socklen_t* len,
                                                   int flags) {
  if (preload::Quiet() || !preload::IsBraid(fd)) return Libc().accept4(fd, addr, len, flags);
  return braid_accept4(fd, addr, len, flags);
}

__attribute__((visibility("default"))) ssize_t read(int fd, void* buf, size_t n) {
  return preload::Read(fd, buf, n);
}

__attribute__((visibility("default"))) ssize_t write(int fd, const void* buf, size_t n) {
  if (preload::Quiet() || !preload::IsBraid(fd)) return Libc().write(fd, buf, n);
  return braid_send(fd, buf, n, 0);
}

__attribute__((visibility("default"))) ssize_t readv(int fd, const iovec* iov, int count) {
  if (preload::Quiet() || !preload::IsBraid(fd)) return Libc().readv(fd, iov, count);
  return braid_readv(fd, iov, count);
}

__attribute__((visibility("default"))) ssize_t writev(int fd, const iovec* iov, int count) {
  if (preload::Quiet() || !preload::IsBraid(fd)) return Libc().writev(fd, iov, count);
  return braid_writev(fd, iov, count);
}

__attribute__((visibility("default"))) ssize_t send(int fd, const void* buf, size_t n, int flags) {
  if (preload::Quiet() || !preload::IsBraid(fd)) return Libc().send(fd, buf, n, flags);
  return braid_send(fd, buf, n, flags);
}

__attribute__((visibility("default"))) ssize_t recv(int fd, void* buf, size_t n, int flags) {
  return preload::Recv(fd, buf, n, flags);
}

__attribute__((visibility("default"))) ssize_t sendto(int fd, const void* buf, size_t n, int flags,
                                                      const sockaddr* addr, socklen_t len) {
  if (preload::Quiet() || !preload::IsBraid(fd)) {
    return Libc().sendto(fd, buf, n, flags, addr, len);
  }
  return braid_send(fd, buf, n, flags);  // a connected stream ignores the address, as TCP's
}

__attribute__((visibility("default"))) ssize_t recvfrom(int fd, void* buf, size_t n, int flags,
                                                        sockaddr* addr, socklen_t* len) {
  return preload::Recvfrom(fd, buf, n, flags, addr, len);
}

__attribute__((visibility("default"))) ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
  if (preload::Quiet() || !preload::IsBraid(fd)) return Libc().sendmsg(fd, msg, flags);
  return braid_sendmsg(fd, msg, flags);
}

__attribute__((visibility("default"))) ssize_t recvmsg(int fd, msghdr* msg, int flags) {
  if (preload::Quiet() || !preload::IsBraid(fd)) return Libc().recvmsg(fd, msg, flags);
  return braid_recvmsg(fd, msg, flags);
}

__attribute__((visibility("default"))) ssize_t sendfile(int out_fd, int in_fd, off_t* offset,
                                                        size_t count) noexcept {
  if (preload::Quiet()) return Libc().sendfile(out_fd, in_fd, offset, count);
  if (preload::IsBraid(in_fd)) return preload::Fail(EINVAL);  // a socket cannot be mapped
  if (!preload::IsBraid(out_fd)) return Libc().sendfile(out_fd, in_fd, offset, count);
  return preload::SendFile(out_fd, in_fd, offset, count);
}

__attribute__((visibility("default"))) ssize_t sendfile64(int out_fd, int in_fd, off_t* offset,
                                                          size_t count) noexcept {
  return sendfile(out_fd, in_fd, offset, count);
}

__attribute__((visibility("default"))) int close(int fd) { return preload::Close(fd); }

__attribute__((visibility("default"))) int shutdown(int fd, int how) noexcept {
  if (preload::Quiet() || !preload::IsBraid(fd)) return Libc().shutdown(fd, how);
  return braid_shutdown(fd, how);
}

__attribute__((visibility("default"))) int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  return preload::Fcntl(fd, cmd, arg);
}

__attribute__((visibility("default"))) int fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  return preload::Fcntl(fd, cmd, arg);
}

__attribute__((visibility("default"))) int ioctl(int fd, unsigned long request, ...) noexcept {
  va_list ap;
  va_start(ap, request);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  if (preload::Quiet() || !preload::IsBraid(fd)) return Libc().ioctl(fd, request, arg);
  return braid_ioctl(fd, request, arg);
}

__attribute__((visibility("default"))) int getsockopt(int fd, int level, int name, void* value,
                                                      socklen_t* len) noexcept {
  if (preload::Quiet() || !preload::IsBraid(fd)) {
    return Libc().getsockopt(fd, level, name, value, len);
  }
  return braid_getsockopt(fd, level, name, value, len);
}

__attribute__((visibility("default"))) int setsockopt(int fd, int level, int name,
                                                      const void* value, socklen_t len) noexcept {
  return preload::Setsockopt(fd, level, name, value, len);
}

__attribute__((visibility("default"))) int getsockname(int fd, sockaddr* addr,
                                                       socklen_t* len) noexcept {
  return preload::Getsockname(fd, addr, len);
}

__attribute__((visibility("default"))) int getpeername(int fd, sockaddr* addr,
                                                       socklen_t* len) noexcept {
  if (preload::Quiet() || !preload::IsBraid(fd)) return Libc().getpeername(fd, addr, len);
  return braid_getpeername(fd, addr, len);
}

__attribute__((visibility("default"))) int poll(pollfd* fds, nfds_t n, int timeout_ms) {
  return preload::Poll(fds, n, timeout_ms);
}

__attribute__((visibility("default"))) int ppoll(pollfd* fds, nfds_t n, const timespec* timeout,
                                                 const sigset_t* sigmask) {
  return preload::Ppoll(fds, n, timeout, sigmask);
}

__attribute__((visibility("default"))) int select(int nfds, fd_set* r, fd_set* w, fd_set* e,
                                                  timeval* timeout) {
  return preload::Select(nfds, r, w, e, timeout);
}

__attribute__((visibility("default"))) int pselect(int nfds, fd_set* r, fd_set* w, fd_set* e,
                                                   const timespec* timeout,
                                                   const sigset_t* sigmask) {
  return preload::Pselect(nfds, r, w, e, timeout, sigmask);
}

__attribute__((visibility("default"))) int epoll_create(int size) noexcept {
  return Libc().epoll_create(size);
}

__attribute__((visibility("default"))) int epoll_create1(int flags) noexcept {
  return Libc().epoll_create1(flags);
}

__attribute__((visibility("default"))) int epoll_ctl(int epfd, int op, int fd,
                                                     epoll_event* event) noexcept {
  return preload::EpollCtl(epfd, op, fd, event);
}

__attribute__((visibility("default"))) int epoll_wait(int epfd, epoll_event* events, int max,
                                                      int timeout_ms) {
  return preload::EpollPwait(epfd, events, max, timeout_ms, nullptr);
}

__attribute__((visibility("default"))) int epoll_pwait(int epfd, epoll_event* events, int max,
                                                       int timeout_ms, const sigset_t* sigmask) {
  return preload::EpollPwait(epfd, events, max, timeout_ms, sigmask);
}

__attribute__((visibility("default"))) int epoll_pwait2(int epfd, epoll_event* events, int max,
                                                        const timespec* timeout,
                                                        const sigset_t* sigmask) {
  return preload::EpollPwait(epfd, events, max, preload::TimespecMs(timeout), sigmask);
}

__attribute__((visibility("default"))) int dup(int fd) noexcept { return preload::Dup(fd); }

__attribute__((visibility("default"))) int dup2(int fd, int new_fd) noexcept {
  return preload::Dup3(fd, new_fd, 0, /*is_dup2=*/true);
}

__attribute__((visibility("default"))) int dup3(int fd, int new_fd, int flags) noexcept {
  return preload::Dup3(fd, new_fd, flags, /*is_dup2=*/false);
}

// _FORTIFY_SOURCE's checked variants (glibc debug/*_chk.c): the same check, then the call.

__attribute__((visibility("default"))) ssize_t __read_chk(int fd, void* buf, size_t n,
                                                          size_t buflen) {
  if (n > buflen) __chk_fail();
  return preload::Read(fd, buf, n);
}

__attribute__((visibility("default"))) ssize_t __recv_chk(int fd, void* buf, size_t n,
                                                          size_t buflen, int flags) {
  if (n > buflen) __chk_fail();
  return preload::Recv(fd, buf, n, flags);
}

__attribute__((visibility("default"))) ssize_t __recvfrom_chk(int fd, void* buf, size_t n,
                                                              size_t buflen, int flags,
                                                              sockaddr* addr, socklen_t* len) {
  if (n > buflen) __chk_fail();
  return preload::Recvfrom(fd, buf, n, flags, addr, len);
}

__attribute__((visibility("default"))) int __poll_chk(pollfd* fds, nfds_t n, int timeout_ms,
                                                      size_t fdslen) {
  if (fdslen / sizeof(*fds) < n) __chk_fail();
  return preload::Poll(fds, n, timeout_ms);
}

__attribute__((visibility("default"))) int __ppoll_chk(pollfd* fds, nfds_t n,
                                                       const timespec* timeout,
                                                       const sigset_t* sigmask, size_t fdslen) {
  if (fdslen / sizeof(*fds) < n) __chk_fail();
  return preload::Ppoll(fds, n, timeout, sigmask);
}

}  // extern "C"
