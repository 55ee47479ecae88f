// The socket half of the C API (braid.h): creation, connection set-up, data, options, close.
// Every function takes the kernel's path for a descriptor that is not a Braid socket, so a
// preload shim can route all of libc's socket calls here.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "braid/braid.h"
#include "datapath/channel/layout.h"
#include "sdk/src/channel_client.h"
#include "sdk/src/descriptors.h"
#include "sdk/src/kernel.h"
#include "sdk/src/process.h"
#include "sdk/src/socket.h"

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

namespace braid::sdk {
namespace {

int Fail(int error) {
  errno = error;
  return -1;
}

std::shared_ptr<Socket> Find(int fd) { return Process::Get().Find(fd); }

// Spins (pumping) for the channel's spin_us, then sleeps in Channel::Block.
class Waiter {
 public:
  explicit Waiter(Channel& channel)
      : channel_(channel),
        spin_until_(Clock::now() + std::chrono::microseconds(channel.spin_us())) {}
  // Call after a check that found nothing to do, with the progress read before that check.
  // False when the channel died.
  bool Wait(uint64_t seen) {
    if (spinning_) {
      if (Clock::now() < spin_until_) {
        channel_.Pump();
        for (int i = 0; i < 16; ++i) channel::CpuRelax();
        return !channel_.dead();
      }
      spinning_ = false;
    }
    return channel_.Block(seen, {}, std::nullopt) != Channel::BlockResult::kDead;
  }

 private:
  Channel& channel_;
  const Clock::time_point spin_until_;
  bool spinning_ = true;
};

bool Blocking(const Socket& s, int flags) {
  return (flags & MSG_DONTWAIT) == 0 && !s.nonblocking.load(std::memory_order_relaxed);
}

// An errno when the socket can no longer be used at all.
int Unusable(const Socket& s) {
  if (s.closed.load(std::memory_order_acquire)) return EBADF;
  if (s.channel->dead()) return ECONNABORTED;
  return 0;
}

// Tells the service about new TX bytes, once per batch (layout.h: SlotShared).
void AnnounceTx(Socket& s) {
  if (s.shared->tx_pending.exchange(1, std::memory_order_acq_rel) == 0) {
    s.channel->Push(channel::Command{s.handle, 0, channel::SendArgs{}});
  }
}

// The app read from an RX FIFO it found full: the service may read from the network again.
void AnnounceRxSpace(Socket& s, const channel::FifoResult& consumed) {
  if (consumed.transition) s.channel->Push(channel::Command{s.handle, 0, channel::RxSpaceArgs{}});
}

// Waits for a connecting socket to finish (blocking calls), or says why data cannot flow yet.
// Returns 0 once data_ready.
int AwaitData(Socket& s, bool blocking) {
  if (s.data_ready.load(std::memory_order_acquire)) return 0;
  Channel& ch = *s.channel;
  Waiter waiter(ch);
  for (;;) {
    const uint64_t seen = ch.progress();
    if (int e = Unusable(s); e != 0) return e;
    {
      std::lock_guard lock(ch.mu());
      if (s.data_ready.load(std::memory_order_acquire)) return 0;
      if (s.state != SocketState::kConnecting) return ENOTCONN;
    }
    if (!blocking) return EAGAIN;
    if (!waiter.Wait(seen)) return ECONNABORTED;
  }
}

// The iovec array as one sequence of bytes.
struct Pieces {
  const iovec* iov;
  int count;
  size_t total = 0;

  // Copies up to `n` bytes starting at stream offset `at` into `out` (or out of `in`).
  void CopyOut(size_t at, uint8_t* out, size_t n) const { Walk(at, n, out, nullptr); }
  void CopyIn(size_t at, const uint8_t* in, size_t n) const { Walk(at, n, nullptr, in); }

 private:
  void Walk(size_t at, size_t n, uint8_t* out, const uint8_t* in) const {
    for (int i = 0; i < count && n > 0; ++i) {
      const size_t len = iov[i].iov_len;
      if (at >= len) {
        at -= len;
        continue;
      }
      const size_t take = std::min(n, len - at);
      uint8_t* base = static_cast<uint8_t*>(iov[i].iov_base) + at;
      if (out != nullptr) {
        std::memcpy(out, base, take);
        out += take;
      } else {
        channel::CopyFromShared(base, in, take);
        in += take;
      }
      n -= take;
      at = 0;
    }
  }
};

int MakePieces(const iovec* iov, int count, Pieces* out) {
  if (count < 0 || count > IOV_MAX) return EINVAL;
  if (count > 0 && iov == nullptr) return EFAULT;
  *out = Pieces{iov, count};
  for (int i = 0; i < count; ++i) {
    if (iov[i].iov_len > 0 && iov[i].iov_base == nullptr) return EFAULT;
    if (iov[i].iov_len > static_cast<size_t>(SSIZE_MAX) - out->total) return EINVAL;
    out->total += iov[i].iov_len;
  }
  return 0;
}

ssize_t SendPipe(int flags) {
  // Linux raises SIGPIPE for a write on a socket shut for writing, unless MSG_NOSIGNAL.
  if ((flags & MSG_NOSIGNAL) == 0) ::raise(SIGPIPE);
  return Fail(EPIPE);
}

ssize_t SendPieces(Socket& s, const Pieces& data, int flags) {
  if ((flags & MSG_OOB) != 0) return Fail(EOPNOTSUPP);
  if (int e = Unusable(s); e != 0) return Fail(e);
  if (s.tx_shut.load(std::memory_order_acquire)) return SendPipe(flags);
  const bool blocking = Blocking(s, flags);
  if (int e = AwaitData(s, blocking); e != 0) return Fail(e == ENOTCONN ? EPIPE : e);
  if (data.total == 0) return 0;
  Channel& ch = *s.channel;
  std::lock_guard tx_lock(s.tx_mu);
  if (s.tx_reserved) return Fail(EBUSY);
  if (!s.tx_made) {
    s.tx = ch.region().TxWriter(channel::HandleIndex(s.handle));
    s.tx_made = true;
  }
  size_t done = 0;
  Waiter waiter(ch);
  for (;;) {
    const uint64_t seen = ch.progress();
    int error = Unusable(s);
    if (error == 0) error = s.async_error.load(std::memory_order_acquire);
    if (error != 0) return done > 0 ? static_cast<ssize_t>(done) : Fail(error);
    if (s.tx_shut.load(std::memory_order_acquire)) {
      return done > 0 ? static_cast<ssize_t>(done) : SendPipe(flags);
    }
    const channel::FifoWriteSpans spans = s.tx.WritableSpans();
    const size_t first = std::min(spans.first.size(), data.total - done);
    const size_t second = std::min(spans.second.size(), data.total - done - first);
    if (first > 0) data.CopyOut(done, spans.first.data(), first);
    if (second > 0) data.CopyOut(done + first, spans.second.data(), second);
    if (first + second > 0) {
      const channel::FifoResult r = s.tx.Commit(first + second);
      if (r.corrupt) {
        ch.MarkDead("the TX FIFO's reader index is impossible");
        return Fail(ECONNABORTED);
      }
      done += r.bytes;
      AnnounceTx(s);
      if (done == data.total) return static_cast<ssize_t>(done);
      continue;  // the FIFO may have wrapped into more room
    }
    if (!blocking) return done > 0 ? static_cast<ssize_t>(done) : Fail(EAGAIN);
    if (!waiter.Wait(seen)) return done > 0 ? static_cast<ssize_t>(done) : Fail(ECONNABORTED);
  }
}

ssize_t RecvPieces(Socket& s, const Pieces& data, int flags) {
  if ((flags & MSG_OOB) != 0) return Fail(EINVAL);  // no urgent data, as Linux says then
  if (int e = Unusable(s); e != 0) return Fail(e);
  const bool blocking = Blocking(s, flags);
  const bool peek = (flags & MSG_PEEK) != 0;
  const bool wait_all = (flags & MSG_WAITALL) != 0 && !peek && blocking;
  if (int e = AwaitData(s, blocking); e != 0) return Fail(e);
  if (data.total == 0) return 0;
  Channel& ch = *s.channel;
  std::lock_guard rx_lock(s.rx_mu);
  if (s.rx_leased) return Fail(EBUSY);
  if (!s.rx_made) {
    s.rx = ch.region().RxReader(channel::HandleIndex(s.handle));
    s.rx_made = true;
  }
  size_t done = 0;
  Waiter waiter(ch);
  for (;;) {
    const uint64_t seen = ch.progress();
    if (int e = Unusable(s); e != 0) return done > 0 ? static_cast<ssize_t>(done) : Fail(e);
    // layout.h: clear the flag, fence, then read — bytes the service adds after this are
    // announced by a new kReadable.
    s.shared->rx_pending.store(0, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // kPeerClosed follows the last byte: read the flag before the FIFO.
    const bool eof =
        s.peer_closed.load(std::memory_order_acquire) || s.rx_shut.load(std::memory_order_acquire);
    const size_t available = s.rx.Readable();
    if (s.rx.corrupt()) {
      ch.MarkDead("the RX FIFO's writer index is impossible");
      return Fail(ECONNABORTED);
    }
    if (available > 0) {
      const channel::FifoReadSpans spans = s.rx.ReadableSpans();
      const size_t want = data.total - done;
      const size_t first = std::min(spans.first.size(), want);
      const size_t second = std::min(spans.second.size(), want - first);
      data.CopyIn(done, spans.first.data(), first);
      if (second > 0) data.CopyIn(done + first, spans.second.data(), second);
      if (!peek) AnnounceRxSpace(s, s.rx.Consume(first + second));
      done += first + second;
      if (done == data.total || !wait_all) return static_cast<ssize_t>(done);
      continue;
    }
    if (int e = s.async_error.load(std::memory_order_acquire); e != 0) {
      return done > 0 ? static_cast<ssize_t>(done) : Fail(e);
    }
    if (eof) return static_cast<ssize_t>(done);
    if (!blocking) return done > 0 ? static_cast<ssize_t>(done) : Fail(EAGAIN);
    if (!waiter.Wait(seen)) return done > 0 ? static_cast<ssize_t>(done) : Fail(ECONNABORTED);
  }
}

// Copies a socket address out as accept/getsockname do: truncated to *len, *len set to the
// full size.
int PutAddress(const channel::SockAddr& address, sockaddr* out, socklen_t* len) {
  if (out == nullptr || len == nullptr) return EFAULT;
  sockaddr_storage storage{};
  const socklen_t full = channel::ToSockaddr(address, &storage);
  std::memcpy(out, &storage, std::min(*len, full));
  *len = full;
  return 0;
}

channel::SockAddr AnyAddress(int domain) {
  channel::SockAddr a;
  a.family = static_cast<uint16_t>(domain);
  return a;
}

int ParseAddress(const Socket& s, const sockaddr* addr, socklen_t len, channel::SockAddr* out) {
  if (addr == nullptr) return EFAULT;
  if (len < sizeof(sa_family_t)) return EINVAL;
  if (addr->sa_family != s.domain) return addr->sa_family == AF_UNSPEC ? EINVAL : EAFNOSUPPORT;
  std::optional<channel::SockAddr> a = channel::FromSockaddr(addr, len);
  if (!a.has_value()) return EINVAL;
  *out = *a;
  return 0;
}

// Offers the listener fresh slots up to kPostedPerListener.
void PostAccepts(const std::shared_ptr<Socket>& listener) {
  Channel& ch = *listener->channel;
  std::vector<channel::Command> commands;
  {
    std::lock_guard lock(ch.mu());
    ch.PostAcceptsLocked(listener, &commands);
  }
  for (const channel::Command& c : commands) ch.Push(c);
}

// A control command answered by kDone: 0 or the errno.
int CallDone(Socket& s, channel::CommandArgs args) {
  PendingOp op;
  return s.channel->Call(channel::Command{s.handle, 0, std::move(args)}, op);
}

void PutInt(void* value, socklen_t* len, int v) {
  const socklen_t n = std::min<socklen_t>(*len, sizeof(v));
  std::memcpy(value, &v, n);
  *len = n;
}

int CloseSocket(const std::shared_ptr<Socket>& s) {
  s->closed.store(true, std::memory_order_release);
  Channel& ch = *s->channel;
  // A fork child only lets go of its descriptor: the channel and its locks are the parent's.
  if (ch.foreign()) return 0;
  if (ch.dead()) {
    ch.Wake();
    return 0;
  }
  std::vector<channel::Command> commands;
  {
    std::lock_guard lock(ch.mu());
    // Connections that arrived for a listener and were never accepted are the app's: close
    // them. Posted slots without a connection stay the service's until it answers kClosed.
    for (const std::shared_ptr<Socket>& a : s->accepted) {
      a->closed.store(true, std::memory_order_relaxed);
      a->state = SocketState::kClosed;
      commands.push_back(channel::Command{a->handle, ch.NextCookie(), channel::AbortArgs{}});
    }
    s->accepted.clear();
    // A connection that existed at a fork may live on in the child (Process::Find).
    const bool shared =
        s->state == SocketState::kConnected && Process::Get().forks() != s->forks_at_insert;
    s->state = SocketState::kClosed;
    if (s->released) {
      ch.FreeSlotLocked(s->handle);  // the service let go already
    } else if (s->linger_abort) {
      commands.push_back(channel::Command{s->handle, ch.NextCookie(), channel::AbortArgs{}});
    } else if (shared) {
      commands.push_back(channel::Command{s->handle, ch.NextCookie(), channel::ReleaseArgs{}});
    } else {
      commands.push_back(channel::Command{s->handle, ch.NextCookie(), channel::CloseArgs{}});
    }
    ch.WakeLocked();  // threads blocked on this socket give up
  }
  for (const channel::Command& c : commands) ch.Push(c);
  return 0;
}

}  // namespace
}  // namespace braid::sdk

using braid::sdk::Channel;
using braid::sdk::Libc;
using braid::sdk::Process;
using braid::sdk::Socket;
using braid::sdk::SocketState;
namespace channel = braid::channel;
namespace sdk = braid::sdk;

extern "C" {

int braid_socket(int domain, int type, int protocol) {
  const int kind = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
  const int kernel_protocol = protocol == BRAID_PROTO_TCP_ONLY ? IPPROTO_TCP : protocol;
  const bool braid_kind = (domain == AF_INET || domain == AF_INET6) && kind == SOCK_STREAM &&
                          (protocol == 0 || protocol == IPPROTO_TCP || protocol == IPPROTO_MPTCP ||
                           protocol == BRAID_PROTO_TCP_ONLY);
  if (!braid_kind) return Libc().socket(domain, type, kernel_protocol);
  int error = 0;
  std::shared_ptr<Channel> ch = Process::Get().ChannelForNewSocket(&error);
  if (ch == nullptr) {
    if (error != 0) return sdk::Fail(error);
    return Libc().socket(domain, type, kernel_protocol);
  }
  const channel::Protocol braid_protocol =
      protocol == BRAID_PROTO_TCP_ONLY ? channel::Protocol::kTcp : channel::Protocol::kMptcp;
  auto s = std::make_shared<Socket>(ch, domain, braid_protocol,
                                    protocol == IPPROTO_MPTCP ? IPPROTO_MPTCP : IPPROTO_TCP);
  const int fd = ::eventfd(0, ((type & SOCK_CLOEXEC) != 0 ? EFD_CLOEXEC : 0) |
                                  ((type & SOCK_NONBLOCK) != 0 ? EFD_NONBLOCK : 0));
  if (fd < 0) return -1;
  uint32_t handle = 0;
  if (int e = ch->AllocateSlot(s, &handle); e != 0) {
    Libc().close(fd);
    return sdk::Fail(e);
  }
  s->handle = handle;
  s->shared = ch->region().slot(channel::HandleIndex(handle));
  s->fd.store(fd, std::memory_order_relaxed);
  s->nonblocking.store((type & SOCK_NONBLOCK) != 0, std::memory_order_relaxed);
  // No round trip: a refusal (kDone with an errno) fails the socket's next call.
  if (!ch->Push(
          channel::Command{s->handle, ch->NextCookie(),
                           channel::OpenArgs{static_cast<uint16_t>(domain), braid_protocol}})) {
    Libc().close(fd);
    return sdk::Fail(ECONNABORTED);
  }
  Process::Get().Insert(fd, std::move(s));
  return fd;
}

int braid_bind(int fd, const struct sockaddr* addr, socklen_t len) {
  std::shared_ptr<Socket> s = sdk::Find(fd);
  if (s == nullptr) return Libc().bind(fd, addr, len);
  if (int e = sdk::Unusable(*s); e != 0) return sdk::Fail(e);
  channel::SockAddr address;
  if (int e = sdk::ParseAddress(*s, addr, len, &address); e != 0) return sdk::Fail(e);
  {
    std::lock_guard lock(s->channel->mu());
    if (s->open_error != 0) return sdk::Fail(s->open_error);
    if (s->bound || s->state != SocketState::kOpen) return sdk::Fail(EINVAL);
  }
  if (int e = sdk::CallDone(*s, channel::BindArgs{address}); e != 0) return sdk::Fail(e);
  std::lock_guard lock(s->channel->mu());
  s->bound = true;
  s->local = address;
  return 0;
}

int braid_listen(int fd, int backlog) {
  std::shared_ptr<Socket> s = sdk::Find(fd);
  if (s == nullptr) return Libc().listen(fd, backlog);
  if (int e = sdk::Unusable(*s); e != 0) return sdk::Fail(e);
  {
    std::lock_guard lock(s->channel->mu());
    if (s->open_error != 0) return sdk::Fail(s->open_error);
    if (s->state != SocketState::kOpen && s->state != SocketState::kListening) {
      return sdk::Fail(EINVAL);
    }
  }
  const uint32_t queue = static_cast<uint32_t>(std::clamp(backlog, 0, SOMAXCONN));
  if (int e = sdk::CallDone(*s, channel::ListenArgs{queue}); e != 0) return sdk::Fail(e);
  {
    std::lock_guard lock(s->channel->mu());
    s->state = SocketState::kListening;
    if (s->local.has_value() && s->local->port == 0) s->local.reset();  // chosen at listen
  }
  sdk::PostAccepts(s);
  return 0;
}

int braid_accept4(int fd, struct sockaddr* addr, socklen_t* len, int flags) {
  std::shared_ptr<Socket> s = sdk::Find(fd);
  if (s == nullptr) return Libc().accept4(fd, addr, len, flags);
  if ((flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) != 0) return sdk::Fail(EINVAL);
  if (addr != nullptr && len == nullptr) return sdk::Fail(EFAULT);
  Channel& ch = *s->channel;
  sdk::Waiter waiter(ch);
  std::shared_ptr<Socket> c;
  for (;;) {
    const uint64_t seen = ch.progress();
    if (int e = sdk::Unusable(*s); e != 0) return sdk::Fail(e);
    {
      std::lock_guard lock(ch.mu());
      if (s->state != SocketState::kListening) return sdk::Fail(EINVAL);
      if (!s->accepted.empty()) {
        c = std::move(s->accepted.front());
        s->accepted.pop_front();
        break;
      }
    }
    if (!sdk::Blocking(*s, 0)) return sdk::Fail(EAGAIN);
    if (!waiter.Wait(seen)) return sdk::Fail(ECONNABORTED);
  }
  const int new_fd = ::eventfd(0, ((flags & SOCK_CLOEXEC) != 0 ? EFD_CLOEXEC : 0) |
                                      ((flags & SOCK_NONBLOCK) != 0 ? EFD_NONBLOCK : 0));
  if (new_fd < 0) {
    const int e = errno;
    std::lock_guard lock(ch.mu());
    s->accepted.push_front(std::move(c));  // stays queued, as the kernel keeps it
    return sdk::Fail(e);
  }
  c->fd.store(new_fd, std::memory_order_relaxed);
  c->nonblocking.store((flags & SOCK_NONBLOCK) != 0, std::memory_order_relaxed);
  std::optional<channel::SockAddr> peer;
  {
    std::lock_guard lock(ch.mu());
    peer = c->peer;
  }
  Process::Get().Insert(new_fd, c);
  sdk::PostAccepts(s);
  if (addr != nullptr) sdk::PutAddress(peer.value_or(sdk::AnyAddress(s->domain)), addr, len);
  return new_fd;
}

int braid_accept(int fd, struct sockaddr* addr, socklen_t* len) {
  if (sdk::Find(fd) == nullptr) return Libc().accept(fd, addr, len);
  return braid_accept4(fd, addr, len, 0);
}

int braid_connect(int fd, const struct sockaddr* addr, socklen_t len) {
  std::shared_ptr<Socket> s = sdk::Find(fd);
  if (s == nullptr) return Libc().connect(fd, addr, len);
  if (int e = sdk::Unusable(*s); e != 0) return sdk::Fail(e);
  channel::SockAddr address;
  if (int e = sdk::ParseAddress(*s, addr, len, &address); e != 0) return sdk::Fail(e);
  Channel& ch = *s->channel;
  uint64_t cookie = 0;
  {
    std::lock_guard lock(ch.mu());
    if (s->open_error != 0) return sdk::Fail(s->open_error);
    switch (s->state) {
      case SocketState::kConnected:
        return sdk::Fail(EISCONN);
      case SocketState::kConnecting:
        return sdk::Fail(EALREADY);
      case SocketState::kOpen:
        break;
      default:
        return sdk::Fail(EINVAL);
    }
    s->state = SocketState::kConnecting;
    s->connect_error = 0;
    s->connect_cookie = cookie = ch.NextCookie();
    s->peer = address;
  }
  if (!ch.Push(channel::Command{s->handle, cookie, channel::ConnectArgs{address}})) {
    return sdk::Fail(ECONNABORTED);
  }
  if (s->nonblocking.load(std::memory_order_relaxed)) return sdk::Fail(EINPROGRESS);
  sdk::Waiter waiter(ch);
  for (;;) {
    const uint64_t seen = ch.progress();
    if (int e = sdk::Unusable(*s); e != 0) return sdk::Fail(e);
    {
      std::lock_guard lock(ch.mu());
      if (s->state == SocketState::kConnected) return 0;
      if (s->state != SocketState::kConnecting) {
        const int e = s->connect_error != 0 ? s->connect_error : ECONNREFUSED;
        s->connect_error = 0;
        return sdk::Fail(e);
      }
    }
    if (!waiter.Wait(seen)) return sdk::Fail(ECONNABORTED);
  }
}

ssize_t braid_send(int fd, const void* buf, size_t len, int flags) {
  std::shared_ptr<Socket> s = sdk::Find(fd);
  if (s == nullptr) return Libc().send(fd, buf, len, flags);
  const iovec iov{const_cast<void*>(buf), len};
  sdk::Pieces pieces;
  if (int e = sdk::MakePieces(&iov, 1, &pieces); e != 0) return sdk::Fail(e);
  return sdk::SendPieces(*s, pieces, flags);
}

ssize_t braid_recv(int fd, void* buf, size_t len, int flags) {
  std::shared_ptr<Socket> s = sdk::Find(fd);
  if (s == nullptr) return Libc().recv(fd, buf, len, flags);
  const iovec iov{buf, len};
  sdk::Pieces pieces;
  if (int e = sdk::MakePieces(&iov, 1, &pieces); e != 0) return sdk::Fail(e);
  return sdk::RecvPieces(*s, pieces, flags);
}

ssize_t braid_writev(int fd, const struct iovec* iov, int iovcnt) {
  std::shared_ptr<Socket> s = sdk::Find(fd);
  if (s == nullptr) return Libc().writev(fd, iov, iovcnt);
  sdk::Pieces pieces;
  if (int e = sdk::MakePieces(iov, iovcnt, &pieces); e != 0) return sdk::Fail(e);
  return sdk::SendPieces(*s, pieces, 0);
}

ssize_t braid_readv(int fd, const struct iovec* iov, int iovcnt) {
  std::shared_ptr<Socket> s = sdk::Find(fd);
  if (s == nullptr) return Libc().readv(fd, iov, iovcnt);
  sdk::Pieces pieces;
  if (int e = sdk::MakePieces(iov, iovcnt, &pieces); e != 0) return sdk::Fail(e);
  return sdk::RecvPieces(*s, pieces, 0);
}

ssize_t braid_sendmsg(int fd, const struct msghdr* msg, int flags) {
  std::shared_ptr<Socket> s = sdk::Find(fd);
  if (s == nullptr) return Libc().sendmsg(fd, msg, flags);
  if (msg == nullptr) return sdk::Fail(EFAULT);
  // A connected stream socket ignores the destination, as Linux's TCP does.
  sdk::Pieces pieces;
  if (int e = sdk::MakePieces(msg->msg_iov, static_cast<int>(msg->msg_iovlen), &pieces); e != 0) {
    return sdk::Fail(e);
  }
  return sdk::SendPieces(*s, pieces, flags);
}

ssize_t braid_recvmsg(int fd, struct msghdr* msg, int flags) {
  std::shared_ptr<Socket> s = sdk::Find(fd);
  if (s == nullptr) return Libc().recvmsg(fd, msg, flags);
  if (msg == nullptr) return sdk::Fail(EFAULT);
  sdk::Pieces pieces;
  if (int e = sdk::MakePieces(msg->msg_iov, static_cast<int>(msg->msg_iovlen), &pieces); e != 0) {
    return sdk::Fail(e);
  }
  const ssize_t n = sdk::RecvPieces(*s, pieces, flags & ~MSG_CMSG_CLOEXEC);
  if (n >= 0) {
    msg->msg_flags = 0;
    msg->msg_controllen = 0;  // no ancillary data on a Braid stream
    msg->msg_namelen = 0;
  }
  return n;
}

int braid_shutdown(int fd, int how) {
  std::shared_ptr<Socket> s = sdk::Find(fd);
  if (s == nullptr) return Libc().shutdown(fd, how);
  if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR) return sdk::Fail(EINVAL);
  if (int e = sdk::Unusable(*s); e != 0) return sdk::Fail(e);
  {
    std::lock_guard lock(s->channel->mu());
    if (s->state != SocketState::kConnected) return sdk::Fail(ENOTCONN);
  }
  if (how != SHUT_WR) s->rx_shut.store(true, std::memory_order_release);
  if (how != SHUT_RD) s->tx_shut.store(true, std::memory_order_release);
  s->channel->Wake();  // blocked readers and writers see it
  if (int e = sdk::CallDone(*s, channel::ShutdownArgs{static_cast<uint32_t>(how)}); e != 0) {
    return sdk::Fail(e);
  }
  return 0;
}

int braid_close(int fd) {
  braid::sdk::Release(fd);
  return Libc().close(fd);
}

int braid_getsockopt(int fd, int level, int name, void* value, socklen_t* len) {
  std::shared_ptr<Socket> s = sdk::Find(fd);
  if (s == nullptr) return Libc().getsockopt(fd, level, name, value, len);
  if (value == nullptr || len == nullptr) return sdk::Fail(EFAULT);
  if (s->closed.load(std::memory_order_acquire)) return sdk::Fail(EBADF);
  if (s->channel->foreign()) return sdk::Fail(ECONNABORTED);
  if (level == SOL_SOCKET) {
    switch (name) {
      case SO_ERROR: {
        // A failed connect first (reported once), then a connection error, then a dead channel.
        int e = 0;
        {
          std::lock_guard lock(s->channel->mu());
          e = std::exchange(s->connect_error, 0);
        }
        if (e == 0) e = s->async_error.load(std::memory_order_acquire);
        if (e == 0 && s->channel->dead()) e = ECONNABORTED;
        sdk::PutInt(value, len, e);
        return 0;
      }
      case SO_TYPE:
        sdk::PutInt(value, len, SOCK_STREAM);
        return 0;
      case SO_DOMAIN:
        sdk::PutInt(value, len, s->domain);
        return 0;
      case SO_PROTOCOL:
        sdk::PutInt(value, len, s->so_protocol);
        return 0;
      case SO_ACCEPTCONN: {
        std::lock_guard lock(s->channel->mu());
        sdk::PutInt(value, len, s->state == SocketState::kListening ? 1 : 0);
        return 0;
      }
      default:
        break;
    }
  }
  if (int e = sdk::Unusable(*s); e != 0) return sdk::Fail(e);
  sdk::PendingOp op;
  const uint32_t max = std::min<uint32_t>(*len, channel::kMaxOptBytes);
  const int e =
      s->channel->Call(channel::Command{s->handle, 0, channel::GetOptArgs{level, name, max}}, op);
  if (e != 0) return sdk::Fail(e);
  if (op.kind != channel::EventKind::kOptValue) return sdk::Fail(EPROTO);
  const socklen_t n = std::min<socklen_t>(*len, static_cast<socklen_t>(op.value.size()));
  std::memcpy(value, op.value.data(), n);
  *len = n;
  return 0;
}

int braid_setsockopt(int fd, int level, int name, const void* value, socklen_t len) {
  std::shared_ptr<Socket> s = sdk::Find(fd);
  if (s == nullptr) return Libc().setsockopt(fd, level, name, value, len);
  if (len > 0 && value == nullptr) return sdk::Fail(EFAULT);
  if (int e = sdk::Unusable(*s); e != 0) return sdk::Fail(e);
  if (level == SOL_SOCKET && (name == SO_ERROR || name == SO_TYPE || name == SO_DOMAIN ||
                              name == SO_PROTOCOL || name == SO_ACCEPTCONN)) {
    return sdk::Fail(ENOPROTOOPT);  // read-only, as Linux answers
  }
  if (len > channel::kMaxOptBytes) return sdk::Fail(EINVAL);
  channel::SetOptArgs args{level, name, len, {}};
  if (len > 0) std::memcpy(args.value.data(), value, len);
  if (int e = sdk::CallDone(*s, args); e != 0) return sdk::Fail(e);
  if (level == SOL_SOCKET && name == SO_LINGER && len >= sizeof(linger)) {
    linger l;
    std::memcpy(&l, value, sizeof(l));
    std::lock_guard lock(s->channel->mu());
    s->linger_abort = l.l_onoff != 0 && l.l_linger == 0;
  }
  return 0;
}

int braid_getsockname(int fd, struct sockaddr* addr, socklen_t* len) {
  std::shared_ptr<Socket> s = sdk::Find(fd);
  if (s == nullptr) return Libc().getsockname(fd, addr, len);
  if (addr == nullptr || len == nullptr) return sdk::Fail(EFAULT);
  if (s->closed.load(std::memory_order_acquire)) return sdk::Fail(EBADF);
  if (s->channel->foreign()) return sdk::Fail(ECONNABORTED);
  std::optional<channel::SockAddr> local;
  bool ask = false;
  {
    std::lock_guard lock(s->channel->mu());
    local = s->local;
    ask = (!local.has_value() || local->port == 0) &&
          (s->state == SocketState::kListening || s->state == SocketState::kConnected);
  }
  if (ask && !s->channel->dead()) {
    sdk::PendingOp op;
    const int e = s->channel->Call(
        channel::Command{s->handle, 0, channel::GetInfoArgs{channel::InfoKind::kLocalAddress}}, op);
    if (e == 0 && op.kind == channel::EventKind::kInfo) {
      local = op.info.address;
      std::lock_guard lock(s->channel->mu());
      s->local = local;
    }
  }
  return sdk::PutAddress(local.value_or(sdk::AnyAddress(s->domain)), addr, len) == 0 ? 0 : -1;
}

int braid_getpeername(int fd, struct sockaddr* addr, socklen_t* len) {
  std::shared_ptr<Socket> s = sdk::Find(fd);
  if (s == nullptr) return Libc().getpeername(fd, addr, len);
  if (addr == nullptr || len == nullptr) return sdk::Fail(EFAULT);
  if (s->closed.load(std::memory_order_acquire)) return sdk::Fail(EBADF);
  if (s->channel->foreign()) return sdk::Fail(ECONNABORTED);
  std::optional<channel::SockAddr> peer;
  {
    std::lock_guard lock(s->channel->mu());
    if (s->state != SocketState::kConnected) return sdk::Fail(ENOTCONN);
    peer = s->peer;
  }
  if (!peer.has_value()) {
    sdk::PendingOp op;
    const int e = s->channel->Call(
        channel::Command{s->handle, 0, channel::GetInfoArgs{channel::InfoKind::kPeerAddress}}, op);
    if (e != 0) return sdk::Fail(e);
    if (op.kind != channel::EventKind::kInfo) return sdk::Fail(EPROTO);
    peer = op.info.address;
    std::lock_guard lock(s->channel->mu());
    s->peer = peer;
  }
  return sdk::PutAddress(*peer, addr, len) == 0 ? 0 : -1;
}

int braid_fcntl(int fd, int cmd, long arg) {
  std::shared_ptr<Socket> s = sdk::Find(fd);
  if (s == nullptr) return Libc().fcntl(fd, cmd, arg);
  switch (cmd) {
    case F_GETFL: {
      const int flags = Libc().fcntl(fd, F_GETFL);
      if (flags < 0) return -1;
      return (flags & ~O_NONBLOCK) |
             (s->nonblocking.load(std::memory_order_relaxed) ? O_NONBLOCK : 0);
    }
    case F_SETFL:
      // The reserved descriptor carries the same flags, so the kernel agrees if asked.
      if (Libc().fcntl(fd, F_SETFL, arg) != 0) return -1;
      s->nonblocking.store((arg & O_NONBLOCK) != 0, std::memory_order_relaxed);
      return 0;
    case F_GETFD:
    case F_SETFD:
      return Libc().fcntl(fd, cmd, arg);
    default:
      return sdk::Fail(EINVAL);
  }
}

int braid_ioctl(int fd, unsigned long request, void* arg) {
  std::shared_ptr<Socket> s = sdk::Find(fd);
  if (s == nullptr) return Libc().ioctl(fd, request, arg);
  if (arg == nullptr) return sdk::Fail(EFAULT);
  switch (request) {
    case FIONREAD: {
      const int n = static_cast<int>(std::min<size_t>(s->RxBytes(), INT_MAX));
      std::memcpy(arg, &n, sizeof(n));
      return 0;
    }
    case FIONBIO: {
      int on = 0;
      std::memcpy(&on, arg, sizeof(on));
      const int flags = Libc().fcntl(fd, F_GETFL);
      if (flags >= 0) Libc().fcntl(fd, F_SETFL, on != 0 ? flags | O_NONBLOCK : flags & ~O_NONBLOCK);
      s->nonblocking.store(on != 0, std::memory_order_relaxed);
      return 0;
    }
    default:
      return sdk::Fail(ENOTTY);
  }
}

ssize_t braid_send_reserve(int fd, size_t max, struct braid_iovec2* out) {
  std::shared_ptr<Socket> s = sdk::Find(fd);
  if (s == nullptr) return sdk::Fail(ENOTSOCK);
  if (out == nullptr) return sdk::Fail(EFAULT);
  *out = braid_iovec2{};
  if (int e = sdk::Unusable(*s); e != 0) return sdk::Fail(e);
  if (s->tx_shut.load(std::memory_order_acquire)) return sdk::SendPipe(0);
  const bool blocking = sdk::Blocking(*s, 0);
  if (int e = sdk::AwaitData(*s, blocking); e != 0) return sdk::Fail(e == ENOTCONN ? EPIPE : e);
  Channel& ch = *s->channel;
  std::lock_guard tx_lock(s->tx_mu);
  if (s->tx_reserved) return sdk::Fail(EBUSY);
  if (!s->tx_made) {
    s->tx = ch.region().TxWriter(channel::HandleIndex(s->handle));
    s->tx_made = true;
  }
  sdk::Waiter waiter(ch);
  for (;;) {
    const uint64_t seen = ch.progress();
    int error = sdk::Unusable(*s);
    if (error == 0) error = s->async_error.load(std::memory_order_acquire);
    if (error != 0) return sdk::Fail(error);
    const channel::FifoWriteSpans spans = s->tx.WritableSpans();
    if (spans.size() > 0 || max == 0) {
      const size_t first = std::min(spans.first.size(), max);
      const size_t second = std::min(spans.second.size(), max - first);
      out->piece[0] = {spans.first.data(), first};
      out->piece[1] = {second > 0 ? spans.second.data() : nullptr, second};
      out->count = (first > 0 ? 1 : 0) + (second > 0 ? 1 : 0);
      s->tx_reserved = true;
      s->tx_reserved_bytes = first + second;
      return static_cast<ssize_t>(first + second);
    }
    if (!blocking) return sdk::Fail(EAGAIN);
    if (!waiter.Wait(seen)) return sdk::Fail(ECONNABORTED);
  }
}

int braid_send_commit(int fd, size_t len) {
  std::shared_ptr<Socket> s = sdk::Find(fd);
  if (s == nullptr) return sdk::Fail(ENOTSOCK);
  std::lock_guard tx_lock(s->tx_mu);
  if (!s->tx_reserved || len > s->tx_reserved_bytes) return sdk::Fail(EINVAL);
  s->tx_reserved = false;
  s->tx_reserved_bytes = 0;
  if (len == 0) return 0;
  if (int e = sdk::Unusable(*s); e != 0) return sdk::Fail(e);
  const channel::FifoResult r = s->tx.Commit(len);
  if (r.corrupt) {
    s->channel->MarkDead("the TX FIFO's reader index is impossible");
    return sdk::Fail(ECONNABORTED);
  }
  sdk::AnnounceTx(*s);
  return 0;
}

ssize_t braid_recv_lease(int fd, size_t max, struct braid_iovec2* out) {
  std::shared_ptr<Socket> s = sdk::Find(fd);
  if (s == nullptr) return sdk::Fail(ENOTSOCK);
  if (out == nullptr) return sdk::Fail(EFAULT);
  *out = braid_iovec2{};
  if (int e = sdk::Unusable(*s); e != 0) return sdk::Fail(e);
  const bool blocking = sdk::Blocking(*s, 0);
  if (int e = sdk::AwaitData(*s, blocking); e != 0) return sdk::Fail(e);
  Channel& ch = *s->channel;
  std::lock_guard rx_lock(s->rx_mu);
  if (s->rx_leased) return sdk::Fail(EBUSY);
  if (!s->rx_made) {
    s->rx = ch.region().RxReader(channel::HandleIndex(s->handle));
    s->rx_made = true;
  }
  sdk::Waiter waiter(ch);
  for (;;) {
    const uint64_t seen = ch.progress();
    if (int e = sdk::Unusable(*s); e != 0) return sdk::Fail(e);
    s->shared->rx_pending.store(0, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    const bool eof = s->peer_closed.load(std::memory_order_acquire) ||
                     s->rx_shut.load(std::memory_order_acquire);
    if (s->rx.Readable() > 0 || max == 0) {
      const channel::FifoReadSpans spans = s->rx.ReadableSpans();
      const size_t first = std::min(spans.first.size(), max);
      const size_t second = std::min(spans.second.size(), max - first);
      // The lease lends the shared bytes themselves; the caller copies before it trusts them
      // (byte_fifo.h), which for a peer's payload is what any reader does anyway.
      out->piece[0] = {const_cast<uint8_t*>(spans.first.data()), first};
      out->piece[1] = {second > 0 ? const_cast<uint8_t*>(spans.second.data()) : nullptr, second};
      out->count = (first > 0 ? 1 : 0) + (second > 0 ? 1 : 0);
      s->rx_leased = true;
      s->rx_leased_bytes = first + second;
      return static_cast<ssize_t>(first + second);
    }
    if (s->rx.corrupt()) {
      ch.MarkDead("the RX FIFO's writer index is impossible");
      return sdk::Fail(ECONNABORTED);
    }
    if (int e = s->async_error.load(std::memory_order_acquire); e != 0) return sdk::Fail(e);
    if (eof) return 0;
    if (!blocking) return sdk::Fail(EAGAIN);
    if (!waiter.Wait(seen)) return sdk::Fail(ECONNABORTED);
  }
}

int braid_recv_release(int fd, size_t len) {
  std::shared_ptr<Socket> s = sdk::Find(fd);
  if (s == nullptr) return sdk::Fail(ENOTSOCK);
  std::lock_guard rx_lock(s->rx_mu);
  if (!s->rx_leased || len > s->rx_leased_bytes) return sdk::Fail(EINVAL);
  s->rx_leased = false;
  s->rx_leased_bytes = 0;
  if (len == 0) return 0;
  sdk::AnnounceRxSpace(*s, s->rx.Consume(len));
  return 0;
}

}  // extern "C"

namespace braid::sdk {

std::shared_ptr<Socket> AdoptInherited(const std::shared_ptr<Socket>& inherited) {
  // The inherited socket is read without its channel's mutex: a thread of the parent may have
  // held it at the fork, and nothing in this process changes that socket any more.
  if (inherited->state != SocketState::kConnected ||
      inherited->closed.load(std::memory_order_acquire)) {
    return inherited;
  }
  int error = 0;
  std::shared_ptr<Channel> ch = Process::Get().ChannelForNewSocket(&error);
  if (ch == nullptr) return inherited;
  auto s =
      std::make_shared<Socket>(ch, inherited->domain, inherited->protocol, inherited->so_protocol);
  uint32_t handle = 0;
  if (ch->AllocateSlot(s, &handle) != 0) return inherited;
  s->handle = handle;
  s->shared = ch->region().slot(channel::HandleIndex(handle));
  PendingOp op;
  const int e = ch->Call(
      channel::Command{
          s->handle, 0,
          channel::AdoptArgs{inherited->channel->region().adopt_token(), inherited->handle}},
      op);
  if (e != 0) {
    std::lock_guard lock(ch->mu());
    ch->FreeSlotLocked(s->handle);
    SetLastError("fork: the inherited Braid connection could not move to this process (" +
                 std::string(std::strerror(e)) + ")");
    return inherited;
  }
  {
    std::lock_guard lock(ch->mu());
    s->state = SocketState::kConnected;
    s->bound = inherited->bound;
    s->local = inherited->local;
    s->peer = inherited->peer;
    s->linger_abort = inherited->linger_abort;
  }
  s->fd.store(inherited->fd.load(std::memory_order_relaxed), std::memory_order_relaxed);
  s->nonblocking.store(inherited->nonblocking.load(std::memory_order_relaxed),
                       std::memory_order_relaxed);
  s->rx_shut.store(inherited->rx_shut.load(std::memory_order_relaxed), std::memory_order_relaxed);
  s->tx_shut.store(inherited->tx_shut.load(std::memory_order_relaxed), std::memory_order_relaxed);
  s->data_ready.store(true, std::memory_order_release);
  Process::Get().Replace(inherited, s);
  ch->Wake();
  return s;
}

bool Alias(int fd, int new_fd) {
  if (std::shared_ptr<Socket> s = Process::Get().Find(fd)) {
    Process::Get().Insert(new_fd, std::move(s));
    return true;
  }
  if (std::shared_ptr<EpollSet> set = Process::Get().FindEpoll(fd)) {
    Process::Get().InsertEpoll(new_fd, std::move(set));
    return true;
  }
  return false;
}

bool Release(int fd) {
  bool last = false;
  if (std::shared_ptr<Socket> s = Process::Get().Take(fd, &last)) {
    if (last) CloseSocket(s);
    return true;
  }
  return Process::Get().TakeEpoll(fd) != nullptr;
}

}  // namespace braid::sdk
