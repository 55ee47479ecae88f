// A small C++ face on libbraid's C API (braid.h): an owning Socket that closes itself, results
// that carry an errno instead of throwing, and spans for the zero-copy calls. Header only; any
// descriptor works (kernel fallback sockets too), since every braid_* call accepts both.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

#include "braid/braid.h"

namespace braid {

// Nothing to return but success.
struct Ok {};

// A value or an errno (never both); no exceptions.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit, as StatusOr
  static Result Error(int error) { return Result(error, 0); }
  // The failure of the braid_* call that just returned -1.
  static Result FromErrno() { return Error(errno != 0 ? errno : EIO); }

  bool ok() const { return error_ == 0; }
  explicit operator bool() const { return ok(); }
  int error() const { return error_; }
  T& value() { return value_; }
  const T& value() const { return value_; }
  T& operator*() { return value_; }
  T* operator->() { return &value_; }

 private:
  Result(int error, int) : value_(), error_(error) {}
  T value_;
  int error_ = 0;
};

// Bytes lent by the zero-copy calls: up to two pieces, since the FIFO wraps.
struct Pieces {
  std::span<uint8_t> first;
  std::span<uint8_t> second;
  size_t size() const { return first.size() + second.size(); }
};

class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Socket& operator=(Socket&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() { Reset(); }

  // A stream socket (MPTCP unless protocol is BRAID_PROTO_TCP_ONLY).
  static Result<Socket> Create(int domain = AF_INET, int protocol = 0, int type_flags = 0) {
    const int fd = braid_socket(domain, SOCK_STREAM | type_flags, protocol);
    if (fd < 0) return Result<Socket>::FromErrno();
    return Socket(fd);
  }
  // A socket connected to `addr` (blocking).
  static Result<Socket> ConnectTo(const sockaddr* addr, socklen_t len, int protocol = 0) {
    Result<Socket> s = Create(addr->sa_family, protocol);
    if (!s.ok()) return s;
    if (braid_connect(s->fd(), addr, len) != 0) return Result<Socket>::FromErrno();
    return s;
  }
  // A listening socket bound to `addr` (port 0: one is chosen; LocalAddress says which).
  static Result<Socket> ListenOn(const sockaddr* addr, socklen_t len, int backlog = 128,
                                 int protocol = 0) {
    Result<Socket> s = Create(addr->sa_family, protocol);
    if (!s.ok()) return s;
    if (braid_bind(s->fd(), addr, len) != 0 || braid_listen(s->fd(), backlog) != 0) {
      return Result<Socket>::FromErrno();
    }
    return s;
  }

  int fd() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Gives up ownership: the caller closes the descriptor with braid_close.
  int Release() { return std::exchange(fd_, -1); }

  Result<Socket> Accept(int flags = 0) const {
    const int fd = braid_accept4(fd_, nullptr, nullptr, flags);
    if (fd < 0) return Result<Socket>::FromErrno();
    return Socket(fd);
  }
  // Bytes sent (all of them unless non-blocking).
  Result<size_t> Send(std::span<const uint8_t> bytes, int flags = 0) const {
    const ssize_t n = braid_send(fd_, bytes.data(), bytes.size(), flags);
    if (n < 0) return Result<size_t>::FromErrno();
    return static_cast<size_t>(n);
  }
  // Bytes received; 0 at the end of the stream.
  Result<size_t> Recv(std::span<uint8_t> out, int flags = 0) const {
    const ssize_t n = braid_recv(fd_, out.data(), out.size(), flags);
    if (n < 0) return Result<size_t>::FromErrno();
    return static_cast<size_t>(n);
  }
  Result<Ok> Shutdown(int how = SHUT_WR) const { return Check(braid_shutdown(fd_, how)); }
  Result<Ok> Close() {
    if (fd_ < 0) return Result<Ok>::Error(EBADF);
    return Check(braid_close(std::exchange(fd_, -1)));
  }
  Result<sockaddr_storage> LocalAddress() const { return Address(&braid_getsockname); }
  Result<sockaddr_storage> PeerAddress() const { return Address(&braid_getpeername); }

  // Zero copy: TX space to fill, then Commit the bytes filled.
  Result<Pieces> ReserveSend(size_t max) const {
    braid_iovec2 v;
    if (braid_send_reserve(fd_, max, &v) < 0) return Result<Pieces>::FromErrno();
    return ToPieces(v);
  }
  Result<Ok> CommitSend(size_t n) const { return Check(braid_send_commit(fd_, n)); }
  // Zero copy: received bytes to read in place (empty at the end of the stream), then
  // Release the bytes consumed.
  Result<Pieces> LeaseRecv(size_t max) const {
    braid_iovec2 v;
    if (braid_recv_lease(fd_, max, &v) < 0) return Result<Pieces>::FromErrno();
    return ToPieces(v);
  }
  Result<Ok> ReleaseRecv(size_t n) const { return Check(braid_recv_release(fd_, n)); }

 private:
  static Result<Ok> Check(int r) { return r == 0 ? Result<Ok>(Ok{}) : Result<Ok>::FromErrno(); }
  static Pieces ToPieces(const braid_iovec2& v) {
    Pieces p;
    if (v.count > 0) p.first = {static_cast<uint8_t*>(v.piece[0].iov_base), v.piece[0].iov_len};
    if (v.count > 1) p.second = {static_cast<uint8_t*>(v.piece[1].iov_base), v.piece[1].iov_len};
    return p;
  }
  Result<sockaddr_storage> Address(int (*get)(int, sockaddr*, socklen_t*)) const {
    sockaddr_storage a{};
    socklen_t len = sizeof(a);
    if (get(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      return Result<sockaddr_storage>::FromErrno();
    }
    return a;
  }
  void Reset() {
    if (fd_ >= 0) braid_close(std::exchange(fd_, -1));
  }

  int fd_ = -1;
};

}  // namespace braid
