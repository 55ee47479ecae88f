#include "agent/pods/netns.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"

namespace braid::agent {

namespace {

using channel::UniqueFd;

constexpr int kListenBacklog = 128;  // as the channel's own listener (handover.cc)

std::string Step(const std::string& netns_path, std::string_view step) {
  return absl::StrCat("pod network namespace ", netns_path, ": ", std::string(step));
}

absl::Status ValidateName(std::string_view what, std::string_view name) {
  // sun_path holds the leading NUL and the name; abstract names are not NUL-terminated.
  constexpr size_t kMaxName = sizeof(sockaddr_un::sun_path) - 1;
  if (name.size() < 2 || name.front() != '@' || name.size() - 1 > kMaxName ||
      name.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(what), " socket name \"", std::string(name),
                     "\" is not an abstract name: '@' then 1 to ", kMaxName, " bytes without NUL"));
  }
  return absl::OkStatus();
}

// The namespace file, checked to be a network namespace.
absl::StatusOr<UniqueFd> OpenNetns(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return absl::ErrnoToStatus(errno, Step(path, "open"));
  struct statfs fs {};
  if (::fstatfs(fd.get(), &fs) != 0) return absl::ErrnoToStatus(errno, Step(path, "statfs"));
  if (fs.f_type != NSFS_MAGIC) {
    return absl::FailedPreconditionError(
        Step(path, "not a namespace (a deleted namespace leaves an empty file behind)"));
  }
  const int type = ::ioctl(fd.get(), NS_GET_NSTYPE);
  // Kernels before 4.11 cannot tell the type (ENOTTY); setns(CLONE_NEWNET) then refuses any
  // other type with EINVAL.
  if (type < 0 && errno != ENOTTY) return absl::ErrnoToStatus(errno, Step(path, "NS_GET_NSTYPE"));
  if (type >= 0 && type != CLONE_NEWNET) {
    return absl::FailedPreconditionError(Step(path, "a namespace, but not a network namespace"));
  }
  return fd;
}

absl::StatusOr<UniqueFd> Listen(const std::string& netns_path, int type, std::string_view name) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string_view abstract = name.substr(1);
  // An abstract address starts with a NUL and is as long as its name, no terminator (as
  // handover.cc and gRPC's unix-abstract: build theirs, so that the names match).
  std::memcpy(addr.sun_path + 1, abstract.data(), abstract.size());
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + abstract.size());

  UniqueFd fd(::socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return absl::ErrnoToStatus(errno, Step(netns_path, "socket"));
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
    const int err = errno;
    const std::string step = absl::StrCat("bind ", std::string(name));
    if (err == EADDRINUSE) {
      return absl::AlreadyExistsError(
          Step(netns_path, absl::StrCat(step, ": the name is taken in this namespace")));
    }
    return absl::ErrnoToStatus(err, Step(netns_path, step));
  }
  if (::listen(fd.get(), kListenBacklog) != 0) {
    return absl::ErrnoToStatus(errno, Step(netns_path, absl::StrCat("listen ", std::string(name))));
  }
  return fd;
}

// Runs on its own thread: it enters the namespace and never leaves it, and ends.
absl::StatusOr<PodSockets> BindInNetns(int netns_fd, const std::string& netns_path,
                                       const PodSocketNames& names) {
  if (::setns(netns_fd, CLONE_NEWNET) != 0) {
    return absl::ErrnoToStatus(errno, Step(netns_path, "setns"));
  }
  PodSockets sockets;
  absl::StatusOr<UniqueFd> channel = Listen(netns_path, SOCK_SEQPACKET, names.channel);
  if (!channel.ok()) return channel.status();
  absl::StatusOr<UniqueFd> endpoint = Listen(netns_path, SOCK_STREAM, names.endpoint);
  // Returning drops the channel's socket too: nothing stays bound after an error.
  if (!endpoint.ok()) return endpoint.status();
  sockets.channel = *std::move(channel);
  sockets.endpoint = *std::move(endpoint);
  return sockets;
}

}  // namespace

absl::Status CheckNetns(const std::string& path) { return OpenNetns(path).status(); }

absl::StatusOr<PodSockets> BindPodSockets(const std::string& netns_path,
                                          const PodSocketNames& names) {
  if (absl::Status s = ValidateName("channel", names.channel); !s.ok()) return s;
  if (absl::Status s = ValidateName("endpoint", names.endpoint); !s.ok()) return s;
  if (names.channel == names.endpoint) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the channel and endpoint sockets have the same name \"", names.channel, "\""));
  }
  absl::StatusOr<UniqueFd> netns = OpenNetns(netns_path);
  if (!netns.ok()) return netns.status();

  absl::StatusOr<PodSockets> result = absl::InternalError("not run");
  try {
    std::thread worker([&] { result = BindInNetns(netns->get(), netns_path, names); });
    worker.join();
  } catch (const std::system_error& e) {
    return absl::ResourceExhaustedError(
        Step(netns_path, absl::StrCat("cannot start a thread: ", e.what())));
  }
  return result;
}

std::string GrpcTarget(std::string_view socket_name) {
  if (!socket_name.empty() && socket_name.front() == '@') {
    return absl::StrCat("unix-abstract:", std::string(socket_name.substr(1)));
  }
  return absl::StrCat("unix:", std::string(socket_name));
}

}  // namespace braid::agent
