#include "sriov/rtnetlink_socket.h"

#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>

#include "sriov/errors.h"
#include "sriov/netlink.h"

namespace braid::sriov {
namespace {

constexpr size_t kSeqOffset = 8;  // in struct nlmsghdr

// The first receive buffer; a larger datagram (a PF with many VFs) is peeked for its size first.
constexpr size_t kInitialBuffer = 32 * 1024;

std::string RefusalMessage(std::string_view what, const NetlinkAck& ack) {
  const int error = -ack.error;
  std::string message(ErrnoStatus(error, what).message());
  if (!ack.extack_message.empty()) message += "; kernel: " + ack.extack_message;
  return message;
}

}  // namespace

absl::StatusOr<RtnetlinkSocket> RtnetlinkSocket::Open(std::chrono::milliseconds timeout) {
  const int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return ErrnoStatus(errno, "opening a NETLINK_ROUTE socket");
  RtnetlinkSocket socket(fd, timeout);
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;  // nl_pid 0: the kernel assigns the port id
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof(local)) != 0) {
    return ErrnoStatus(errno, "binding a NETLINK_ROUTE socket");
  }
  // Extended ACKs carry the kernel's reason; capped ACKs do not echo the whole request back.
  // A kernel without them refuses the option, and its answers then carry the errno alone.
  const int on = 1;
  (void)::setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof(on));
  (void)::setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof(on));
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout);
  timeval tv{};
  tv.tv_sec = seconds.count();
  tv.tv_usec = std::chrono::duration_cast<std::chrono::microseconds>(timeout - seconds).count();
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0) {
    return ErrnoStatus(errno, "setting the NETLINK_ROUTE socket's receive timeout");
  }
  return socket;
}

RtnetlinkSocket::RtnetlinkSocket(RtnetlinkSocket&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), timeout_(other.timeout_), next_seq_(other.next_seq_) {}

RtnetlinkSocket& RtnetlinkSocket::operator=(RtnetlinkSocket&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    timeout_ = other.timeout_;
    next_seq_ = other.next_seq_;
  }
  return *this;
}

RtnetlinkSocket::~RtnetlinkSocket() {
  if (fd_ >= 0) ::close(fd_);
}

absl::StatusOr<std::vector<std::vector<uint8_t>>> RtnetlinkSocket::Transact(
    std::vector<uint8_t> request, std::string_view what) {
  if (request.size() < kNetlinkHeaderLen || (LoadHost16(request.data() + 6) & NLM_F_ACK) == 0) {
    return absl::InvalidArgumentError(std::string(what) +
                                      ": not a netlink request asking for an ACK");
  }
  const uint32_t seq = next_seq_++;
  StoreHost32(request.data() + kSeqOffset, seq);

  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  ssize_t sent;
  do {
    sent = ::sendto(fd_, request.data(), request.size(), 0,
                    reinterpret_cast<const sockaddr*>(&kernel), sizeof(kernel));
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) return ErrnoStatus(errno, std::string(what) + ": sending the request");

  std::vector<std::vector<uint8_t>> answer;
  std::vector<uint8_t> buffer(kInitialBuffer);
  for (;;) {
    // Peek with MSG_TRUNC for the datagram's full size, so that none is ever cut.
    sockaddr_nl from{};
    socklen_t from_len = sizeof(from);
    ssize_t n = ::recvfrom(fd_, buffer.data(), buffer.size(), MSG_PEEK | MSG_TRUNC,
                           reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n >= 0 && static_cast<size_t>(n) > buffer.size()) buffer.resize(static_cast<size_t>(n));
    if (n >= 0) {
      from_len = sizeof(from);
      n = ::recvfrom(fd_, buffer.data(), buffer.size(), 0, reinterpret_cast<sockaddr*>(&from),
                     &from_len);
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return absl::DeadlineExceededError(std::string(what) + ": no answer from the kernel in " +
                                           std::to_string(timeout_.count()) + " ms");
      }
      return ErrnoStatus(errno, std::string(what) + ": receiving the answer");
    }
    if (from.nl_pid != 0) continue;  // only the kernel answers requests
    const std::span<const uint8_t> datagram(buffer.data(), static_cast<size_t>(n));
    absl::StatusOr<std::vector<NetlinkMessage>> messages = SplitMessages(datagram);
    if (!messages.ok()) {
      return absl::Status(messages.status().code(),
                          std::string(what) + ": " + std::string(messages.status().message()));
    }
    for (const NetlinkMessage& m : *messages) {
      if (m.seq != seq) continue;
      if (m.type == NLMSG_ERROR) {
        absl::StatusOr<NetlinkAck> ack = ParseAck(m);
        if (!ack.ok()) {
          return absl::Status(ack.status().code(),
                              std::string(what) + ": " + std::string(ack.status().message()));
        }
        if (ack->error == 0) return answer;
        return absl::Status(absl::ErrnoToStatusCode(-ack->error), RefusalMessage(what, *ack));
      }
      if (m.type == NLMSG_DONE || m.type == NLMSG_NOOP) continue;
      const uint8_t* begin = m.payload.data() - kNetlinkHeaderLen;
      answer.emplace_back(begin, m.payload.data() + m.payload.size());
    }
  }
}

absl::Status SetVfSettings(RtnetlinkSocket& socket, const LinkId& pf,
                           std::span<const VfSettings> vfs) {
  absl::StatusOr<std::vector<uint8_t>> request = BuildSetVfRequest(pf, vfs);
  if (!request.ok()) return request.status();
  std::string what = "RTM_SETLINK on " + pf.ToString() + " (";
  for (size_t i = 0; i < vfs.size(); ++i) {
    if (i > 0) what += "; ";
    what += vfs[i].ToString();
  }
  what += ")";
  absl::StatusOr<std::vector<std::vector<uint8_t>>> answer =
      socket.Transact(*std::move(request), what);
  return answer.status();
}

absl::StatusOr<LinkInfo> GetLinkVfs(RtnetlinkSocket& socket, const LinkId& link) {
  absl::StatusOr<std::vector<uint8_t>> request = BuildGetLinkRequest(link);
  if (!request.ok()) return request.status();
  const std::string what = "RTM_GETLINK of " + link.ToString();
  absl::StatusOr<std::vector<std::vector<uint8_t>>> answer =
      socket.Transact(*std::move(request), what);
  if (!answer.ok()) return answer.status();
  if (answer->size() != 1) {
    return absl::DataLossError(what + ": " + std::to_string(answer->size()) +
                               " messages in the answer, expected one RTM_NEWLINK");
  }
  absl::StatusOr<LinkInfo> info = ParseLinkMessage(answer->front());
  if (!info.ok()) {
    return absl::Status(info.status().code(), what + ": " + std::string(info.status().message()));
  }
  return info;
}

}  // namespace braid::sriov
