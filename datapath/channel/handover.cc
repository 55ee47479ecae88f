#include "datapath/channel/handover.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "datapath/channel/shm.h"

namespace braid::channel {
namespace {

using Clock = std::chrono::steady_clock;

enum class MessageKind : uint32_t { kHello = 1, kWelcome = 2, kRefusal = 3 };

constexpr size_t kPrefixBytes = 16;
constexpr size_t kHelloBytes = 56;
constexpr size_t kWelcomeBytes = 32;
constexpr size_t kRefusalHeaderBytes = 24;
constexpr size_t kWelcomeFds = 2;
// Room for more descriptors than any message carries, so that extra ones arrive (and are
// closed) instead of being lost to a truncated control message unnoticed.
constexpr size_t kMaxReceivedFds = 8;
constexpr int kListenBacklog = 128;

std::string Dec(uint64_t v) { return std::to_string(v); }

void StorePrefix(uint8_t* p, MessageKind kind, uint32_t version) {
  Store<uint64_t>(p, kMagic);
  Store<uint32_t>(p + 8, static_cast<uint32_t>(kind));
  Store<uint32_t>(p + 12, version);
}

absl::StatusOr<std::pair<sockaddr_un, socklen_t>> UnixAddress(std::string_view path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const bool abstract = !path.empty() && path.front() == '@';
  const std::string_view name = abstract ? path.substr(1) : path;
  // A filesystem path needs its terminating NUL; an abstract one starts with NUL instead.
  if (name.empty() || name.size() + 1 > sizeof(addr.sun_path) ||
      name.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("channel socket path '" + std::string(path) +
                                      "' is empty, too long or contains NUL");
  }
  std::memcpy(addr.sun_path + (abstract ? 1 : 0), name.data(), name.size());
  const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + 1);
  return std::make_pair(addr, len);
}

// Every descriptor a received message carried, owned so that none leaks on any path.
std::vector<UniqueFd> TakeFds(msghdr& msg) {
  std::vector<UniqueFd> fds;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      fds.emplace_back(fd);
    }
  }
  return fds;
}

struct Received {
  ssize_t bytes = 0;  // -1 with `error` set, 0 at end of file
  int error = 0;
  bool truncated = false;          // MSG_TRUNC: the datagram was longer than the buffer
  bool control_truncated = false;  // MSG_CTRUNC: descriptors were lost
  std::vector<UniqueFd> fds;
};

Received ReceiveMessage(int fd, std::span<uint8_t> buffer) {
  alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(int) * kMaxReceivedFds)];
  iovec iov{buffer.data(), buffer.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  Received r;
  do {
    r.bytes = ::recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (r.bytes < 0 && errno == EINTR);
  if (r.bytes < 0) {
    r.error = errno;
    return r;
  }
  r.truncated = (msg.msg_flags & MSG_TRUNC) != 0;
  r.control_truncated = (msg.msg_flags & MSG_CTRUNC) != 0;
  r.fds = TakeFds(msg);
  return r;
}

absl::Status SendMessage(int fd, std::span<const uint8_t> bytes, std::span<const int> fds,
                         const char* what) {
  iovec iov{const_cast<uint8_t*>(bytes.data()), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(int) * kWelcomeFds)] = {};
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n;
  do {
    n = ::sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return absl::ErrnoToStatus(errno, std::string("channel handover: sending ") + what);
  if (static_cast<size_t>(n) != bytes.size()) {
    return absl::InternalError(std::string("channel handover: ") + what + " sent in part");
  }
  return absl::OkStatus();
}

std::string Who(const PeerCredentials& peer) {
  return "channel client pid " + Dec(static_cast<uint64_t>(peer.pid));
}

absl::StatusOr<Hello> ParseHello(const Received& r, const PeerCredentials& peer,
                                 std::span<const uint8_t> bytes) {
  if (!r.fds.empty() || r.control_truncated) {
    return absl::InvalidArgumentError(Who(peer) + " sent descriptors with its hello");
  }
  if (bytes.size() < kPrefixBytes) {
    return absl::InvalidArgumentError(Who(peer) + " sent a hello of " + Dec(bytes.size()) +
                                      " bytes");
  }
  Hello hello;
  hello.magic = Load<uint64_t>(bytes.data());
  const uint32_t kind = Load<uint32_t>(bytes.data() + 8);
  hello.layout_version = Load<uint32_t>(bytes.data() + 12);
  if (hello.magic != kMagic || kind != static_cast<uint32_t>(MessageKind::kHello)) {
    return absl::InvalidArgumentError(Who(peer) + " is not a Braid channel client (bad magic" +
                                      " or message kind)");
  }
  if (hello.layout_version != kLayoutVersion) {
    // Another version may lay out the rest differently; the prefix is enough to refuse it.
    if (bytes.size() >= kHelloBytes) {
      hello.pid = Load<uint32_t>(bytes.data() + 16);
      std::memcpy(hello.name.data(), bytes.data() + 24, kHelloNameBytes);
    }
    return hello;
  }
  if (bytes.size() != kHelloBytes || r.truncated) {
    return absl::InvalidArgumentError(Who(peer) + " sent a layout 1 hello of " + Dec(bytes.size()) +
                                      " bytes, not " + Dec(kHelloBytes));
  }
  if (Load<uint32_t>(bytes.data() + 20) != 0) {
    return absl::InvalidArgumentError(Who(peer) + " set reserved hello bytes");
  }
  hello.pid = Load<uint32_t>(bytes.data() + 16);
  std::memcpy(hello.name.data(), bytes.data() + 24, kHelloNameBytes);
  return hello;
}

absl::Status Unavailable() { return absl::UnavailableError("no channel client ready"); }

}  // namespace

std::string Hello::Name() const {
  std::string out;
  for (char c : name) {
    if (c == '\0') break;
    out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  }
  return out;
}

absl::StatusOr<ChannelListener> ChannelListener::Bind(std::string_view path,
                                                      ListenerOptions options) {
  auto address = UnixAddress(path);
  if (!address.ok()) return address.status();
  UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return absl::ErrnoToStatus(errno, "channel listener: socket");
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address->first), address->second) != 0) {
    return absl::ErrnoToStatus(errno, "channel listener: bind " + std::string(path));
  }
  const bool abstract = path.front() == '@';
  std::string unlink_path = abstract ? "" : std::string(path);
  if (::listen(fd.get(), kListenBacklog) != 0) {
    const int err = errno;
    if (!abstract) ::unlink(unlink_path.c_str());
    return absl::ErrnoToStatus(err, "channel listener: listen " + std::string(path));
  }
  absl::StatusOr<ChannelListener> listener = Watch(std::move(fd), std::move(unlink_path), options);
  if (!listener.ok() && !abstract) ::unlink(std::string(path).c_str());
  return listener;
}

absl::StatusOr<ChannelListener> ChannelListener::Adopt(UniqueFd listening,
                                                       ListenerOptions options) {
  int value = 0;
  socklen_t len = sizeof(value);
  if (!listening.valid()) return absl::InvalidArgumentError("channel listener: no socket");
  if (::getsockopt(listening.get(), SOL_SOCKET, SO_DOMAIN, &value, &len) != 0 || value != AF_UNIX) {
    return absl::InvalidArgumentError("channel listener: not a unix socket");
  }
  len = sizeof(value);
  if (::getsockopt(listening.get(), SOL_SOCKET, SO_TYPE, &value, &len) != 0 ||
      value != SOCK_SEQPACKET) {
    return absl::InvalidArgumentError("channel listener: not a SOCK_SEQPACKET socket");
  }
  len = sizeof(value);
  if (::getsockopt(listening.get(), SOL_SOCKET, SO_ACCEPTCONN, &value, &len) != 0 || value == 0) {
    return absl::InvalidArgumentError("channel listener: the socket is not listening");
  }
  const int flags = ::fcntl(listening.get(), F_GETFL);
  if (flags < 0 || ::fcntl(listening.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    return absl::ErrnoToStatus(errno, "channel listener: O_NONBLOCK");
  }
  return Watch(std::move(listening), std::string(), options);
}

absl::StatusOr<ChannelListener> ChannelListener::Watch(UniqueFd fd, std::string unlink_path,
                                                       ListenerOptions options) {
  UniqueFd epoll_fd(::epoll_create1(EPOLL_CLOEXEC));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd.get();
  if (!epoll_fd.valid() || ::epoll_ctl(epoll_fd.get(), EPOLL_CTL_ADD, fd.get(), &ev) != 0) {
    return absl::ErrnoToStatus(errno, "channel listener: epoll");
  }
  if (options.max_pending == 0) options.max_pending = 1;
  return ChannelListener(std::move(fd), std::move(epoll_fd), std::move(unlink_path), options);
}

ChannelListener& ChannelListener::operator=(ChannelListener&& other) noexcept {
  if (this != &other) {
    if (listen_fd_.valid() && !unlink_path_.empty()) ::unlink(unlink_path_.c_str());
    listen_fd_ = std::move(other.listen_fd_);
    epoll_fd_ = std::move(other.epoll_fd_);
    unlink_path_ = std::exchange(other.unlink_path_, std::string());
    options_ = other.options_;
    pending_ = std::move(other.pending_);
  }
  return *this;
}

ChannelListener::~ChannelListener() {
  // A moved-from listener has no socket and nothing to remove.
  if (listen_fd_.valid() && !unlink_path_.empty()) ::unlink(unlink_path_.c_str());
}

std::optional<Clock::time_point> ChannelListener::NextDeadline() const {
  if (pending_.empty()) return std::nullopt;
  return pending_.front().deadline;  // accepted in order, with one timeout for all
}

ChannelListener::Pending ChannelListener::Take(size_t index) {
  // Out of the epoll set first: a returned connection must not keep waking the listener.
  ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, pending_[index].fd.get(), nullptr);
  Pending p = std::move(pending_[index]);
  pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(index));
  return p;
}

absl::Status ChannelListener::AcceptWaiting() {
  // At most max_pending per call, so a flood of connections cannot keep this loop going.
  for (size_t i = 0; i < options_.max_pending; ++i) {
    UniqueFd fd(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd.valid()) {
      const int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) return absl::OkStatus();
      if (err == EINTR || err == ECONNABORTED) continue;
      return absl::ErrnoToStatus(err, "channel listener: accept");
    }
    Pending p;
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
      p.peer = {cred.pid, cred.uid, cred.gid};
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd.get();
    if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd.get(), &ev) != 0) {
      return absl::ErrnoToStatus(errno, "channel listener: epoll_ctl");
    }
    p.fd = std::move(fd);
    p.deadline = Clock::now() + options_.hello_timeout;
    if (pending_.size() == options_.max_pending) Take(0);  // drops the oldest
    pending_.push_back(std::move(p));
  }
  return absl::OkStatus();
}

absl::StatusOr<ClientHello> ChannelListener::AcceptHello() {
  // Hellos already waiting come first: an accept error must not starve them.
  const absl::Status accepted = AcceptWaiting();
  std::array<uint8_t, kHelloBytes + 1> buffer;
  for (size_t i = 0; i < pending_.size(); ++i) {
    Received r = ReceiveMessage(pending_[i].fd.get(), buffer);
    if (r.bytes < 0 && (r.error == EAGAIN || r.error == EWOULDBLOCK)) continue;
    Pending p = Take(i);
    if (r.bytes < 0) {
      return absl::ErrnoToStatus(r.error, Who(p.peer) + ": receiving its hello");
    }
    if (r.bytes == 0) {
      return absl::AbortedError(Who(p.peer) + " hung up before its hello");
    }
    auto hello = ParseHello(r, p.peer, std::span<const uint8_t>(buffer.data(), r.bytes));
    if (!hello.ok()) return hello.status();
    return ClientHello{std::move(p.fd), p.peer, *hello};
  }
  if (!pending_.empty() && pending_.front().deadline <= Clock::now()) {
    const PeerCredentials peer = Take(0).peer;
    return absl::DeadlineExceededError(Who(peer) + " sent no hello within " +
                                       Dec(options_.hello_timeout.count()) + " ms");
  }
  if (!accepted.ok()) return accepted;
  return Unavailable();
}

absl::Status SendWelcome(int fd, uint64_t region_bytes, uint64_t service_epoch, int memfd,
                         int doorbell_fd) {
  uint8_t bytes[kWelcomeBytes] = {};
  StorePrefix(bytes, MessageKind::kWelcome, kLayoutVersion);
  Store<uint64_t>(bytes + 16, region_bytes);
  Store<uint64_t>(bytes + 24, service_epoch);
  const int fds[kWelcomeFds] = {memfd, doorbell_fd};
  return SendMessage(fd, bytes, fds, "the welcome");
}

absl::Status SendRefusal(int fd, std::string_view message) {
  message = message.substr(0, kMaxRefusalBytes);
  std::vector<uint8_t> bytes(kRefusalHeaderBytes + message.size());
  StorePrefix(bytes.data(), MessageKind::kRefusal, kLayoutVersion);
  Store<uint32_t>(bytes.data() + 16, static_cast<uint32_t>(message.size()));
  std::memcpy(bytes.data() + kRefusalHeaderBytes, message.data(), message.size());
  return SendMessage(fd, bytes, {}, "a refusal");
}

std::string VersionRefusal(uint32_t client_layout_version) {
  return "Braid service speaks channel layout " + Dec(kLayoutVersion) + ", this library speaks " +
         Dec(client_layout_version);
}

absl::StatusOr<ChannelConnection> ConnectChannel(std::string_view path, std::string_view name,
                                                 ConnectOptions options) {
  const Clock::time_point deadline = Clock::now() + options.timeout;
  auto address = UnixAddress(path);
  if (!address.ok()) return address.status();
  UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return absl::ErrnoToStatus(errno, "channel: socket");
  // A non-blocking unix connect fails with EAGAIN while the listener's backlog is full.
  for (;;) {
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address->first), address->second) ==
        0) {
      break;
    }
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    if (err == ENOENT || err == ECONNREFUSED) {
      return absl::UnavailableError("no Braid service listens at " + std::string(path));
    }
    if (err == EAGAIN) {
      return absl::DeadlineExceededError("the Braid service at " + std::string(path) +
                                         " accepts no connection");
    }
    return absl::ErrnoToStatus(err, "channel: connect to " + std::string(path));
  }

  uint8_t hello[kHelloBytes] = {};
  StorePrefix(hello, MessageKind::kHello, options.layout_version);
  Store<uint32_t>(hello + 16, static_cast<uint32_t>(::getpid()));
  std::memcpy(hello + 24, name.data(), std::min(name.size(), kHelloNameBytes));
  if (absl::Status s = SendMessage(fd.get(), hello, {}, "the hello"); !s.ok()) return s;

  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      return absl::DeadlineExceededError("the Braid service at " + std::string(path) +
                                         " did not answer within " + Dec(options.timeout.count()) +
                                         " ms");
    }
    pollfd p{fd.get(), POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 60000)));
    if (n < 0 && errno != EINTR) return absl::ErrnoToStatus(errno, "channel: poll");
    if (n > 0) break;
  }

  std::vector<uint8_t> buffer(kRefusalHeaderBytes + kMaxRefusalBytes + 1);
  Received r = ReceiveMessage(fd.get(), buffer);
  if (r.bytes < 0) return absl::ErrnoToStatus(r.error, "channel: receiving the answer");
  if (r.bytes == 0) {
    return absl::UnavailableError("the Braid service at " + std::string(path) +
                                  " closed the connection without an answer");
  }
  if (r.control_truncated) {
    return absl::DataLossError("channel: the answer carried more descriptors than expected");
  }
  const std::span<const uint8_t> bytes(buffer.data(), static_cast<size_t>(r.bytes));
  if (bytes.size() < kPrefixBytes || Load<uint64_t>(bytes.data()) != kMagic) {
    return absl::DataLossError("channel: the answer is not a Braid channel message");
  }
  const uint32_t kind = Load<uint32_t>(bytes.data() + 8);
  const uint32_t version = Load<uint32_t>(bytes.data() + 12);
  if (kind == static_cast<uint32_t>(MessageKind::kRefusal)) {
    if (bytes.size() < kRefusalHeaderBytes || r.truncated ||
        Load<uint32_t>(bytes.data() + 16) != bytes.size() - kRefusalHeaderBytes) {
      return absl::DataLossError("channel: malformed refusal from the Braid service");
    }
    std::string text(bytes.begin() + kRefusalHeaderBytes, bytes.end());
    for (char& c : text) {
      if (c < 0x20 || c >= 0x7f) c = '?';
    }
    return absl::FailedPreconditionError(text);
  }
  if (kind != static_cast<uint32_t>(MessageKind::kWelcome)) {
    return absl::DataLossError("channel: unexpected message kind " + Dec(kind));
  }
  if (version != options.layout_version) {
    return absl::FailedPreconditionError("Braid service speaks channel layout " + Dec(version) +
                                         ", this library speaks " + Dec(options.layout_version));
  }
  if (bytes.size() != kWelcomeBytes || r.truncated) {
    return absl::DataLossError("channel: welcome of " + Dec(bytes.size()) + " bytes, not " +
                               Dec(kWelcomeBytes));
  }
  if (r.fds.size() != kWelcomeFds) {
    return absl::DataLossError("channel: welcome carried " + Dec(r.fds.size()) +
                               " descriptors, not " + Dec(kWelcomeFds));
  }
  struct stat memfd_stat;
  struct stat bell_stat;
  if (::fstat(r.fds[0].get(), &memfd_stat) != 0 || !S_ISREG(memfd_stat.st_mode) ||
      ::fstat(r.fds[1].get(), &bell_stat) != 0 || !S_ISSOCK(bell_stat.st_mode)) {
    return absl::DataLossError("channel: welcome descriptors are not a memfd and a socket");
  }
  ChannelConnection c;
  c.connection = std::move(fd);
  c.memfd = std::move(r.fds[0]);
  c.doorbell = std::move(r.fds[1]);
  c.layout_version = version;
  c.region_bytes = Load<uint64_t>(bytes.data() + 16);
  c.service_epoch = Load<uint64_t>(bytes.data() + 24);
  if (c.region_bytes != static_cast<uint64_t>(memfd_stat.st_size)) {
    return absl::DataLossError("channel: welcome says " + Dec(c.region_bytes) +
                               " bytes, the memfd has " + Dec(memfd_stat.st_size));
  }
  return c;
}

}  // namespace braid::channel
