#include "datapath/channel/doorbell.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <optional>

namespace braid::channel {
namespace {

// Rings are single bytes; a small buffer bounds the kernel memory a peer that rings without
// end can pin (a full buffer only means rings are pending).
constexpr int kDoorbellBufferBytes = 4096;
// Drain reads at most this many chunks per call.
constexpr int kDrainReads = 4;

}  // namespace

const char* WaitResultName(WaitResult result) {
  switch (result) {
    case WaitResult::kWork:
      return "work";
    case WaitResult::kRung:
      return "rung";
    case WaitResult::kTimeout:
      return "timeout";
    case WaitResult::kPeerGone:
      return "peer gone";
    case WaitResult::kError:
      return "error";
  }
  return "?";
}

std::optional<Doorbell::Pair> Doorbell::CreatePair(int* error) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
    if (error != nullptr) *error = errno;
    return std::nullopt;
  }
  Pair pair{Doorbell(UniqueFd(fds[0])), Doorbell(UniqueFd(fds[1]))};
  for (int fd : fds) {
    // Best effort: the default buffer works too, it only pins more memory.
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &kDoorbellBufferBytes, sizeof(kDoorbellBufferBytes));
  }
  return pair;
}

bool Doorbell::Ring() const {
  const uint8_t ring = 1;
  for (;;) {
    const ssize_t n = ::send(fd_.get(), &ring, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n == 1) return true;
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
}

WaitResult Doorbell::Wait(std::chrono::milliseconds timeout) const {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd p{fd_.get(), POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::clamp<int64_t>(left.count(), 0, INT_MAX)));
    if (n < 0) {
      if (errno == EINTR) continue;
      return WaitResult::kError;
    }
    if (n == 0) return WaitResult::kTimeout;
    if (p.revents & POLLNVAL) return WaitResult::kError;
    if (p.revents & (POLLHUP | POLLERR)) return WaitResult::kPeerGone;
    return WaitResult::kRung;
  }
}

bool Doorbell::Drain() const {
  uint8_t rings[256];
  for (int i = 0; i < kDrainReads; ++i) {
    const ssize_t n = ::recv(fd_.get(), rings, sizeof(rings), MSG_DONTWAIT);
    if (n == 0) return false;  // end of file: the other end is closed
    if (n > 0) {
      if (static_cast<size_t>(n) < sizeof(rings)) return true;
      continue;
    }
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
  return true;
}

}  // namespace braid::channel
