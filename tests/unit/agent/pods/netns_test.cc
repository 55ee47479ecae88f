// Needs root (CAP_SYS_ADMIN) to make network namespaces; each test that needs one skips, saying
// why, when it cannot make one. A namespace is made as `ip netns add` does it: a thread enters a
// new one (unshare) and bind-mounts it onto a file, which then keeps it alive; the test unmounts
// and removes the file at the end.
#include "agent/pods/netns.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <linux/sockios.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tests/unit/agent/pods/test_netns.h"

namespace braid::agent {
namespace {

namespace fs = std::filesystem;
using channel::UniqueFd;
using test::TestNetns;
using ::testing::HasSubstr;

// The inode of the calling thread's network namespace.
ino_t ThreadNetns() {
  struct stat st {};
  if (::stat("/proc/thread-self/ns/net", &st) != 0) return 0;
  return st.st_ino;
}

ino_t InodeOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_ino;
}

// A network namespace kept alive by a bind mount on a file in a temporary directory.

// Names no other test or process on the machine uses.
PodSocketNames UniqueNames(std::string_view test) {
  PodSocketNames names;
  names.channel = absl::StrCat("@braid-test/", ::getpid(), "/", std::string(test), "/node");
  names.endpoint = absl::StrCat("@braid-test/", ::getpid(), "/", std::string(test), "/endpoint");
  return names;
}

// connect()'s errno for a client of `type` in the namespace at `netns_path` (empty: the test's
// own), 0 when it connected. The client is a forked process, so nothing of the test moves.
int ConnectFrom(const std::string& netns_path, int type, const std::string& name) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path + 1, name.data() + 1, name.size() - 1);
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Only system calls from here: the child of a threaded process.
    if (!netns_path.empty()) {
      const int fd = ::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) ::_exit(200);
    }
    const int s = ::socket(AF_UNIX, type, 0);
    if (s < 0) ::_exit(201);
    if (::connect(s, reinterpret_cast<const sockaddr*>(&addr), len) != 0) ::_exit(errno);
    ::_exit(0);
  }
  if (pid < 0) return -1;
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -2;
  return WEXITSTATUS(status);
}

int SocketOption(int fd, int option) {
  int value = -1;
  socklen_t len = sizeof(value);
  if (::getsockopt(fd, SOL_SOCKET, option, &value, &len) != 0) return -1;
  return value;
}

TEST(PodSockets, BoundInThePodsNamespaceOnly) {
  TestNetns ns;
  NEED_NETNS(ns);
  const PodSocketNames names = UniqueNames("only");
  absl::StatusOr<PodSockets> sockets = BindPodSockets(ns.path(), names);
  ASSERT_TRUE(sockets.ok()) << sockets.status();

  // Listening, of the right type, non-blocking, close-on-exec.
  for (const auto& [fd, type] : {std::pair{sockets->channel.get(), SOCK_SEQPACKET},
                                 std::pair{sockets->endpoint.get(), SOCK_STREAM}}) {
    EXPECT_EQ(SocketOption(fd, SO_TYPE), type);
    EXPECT_EQ(SocketOption(fd, SO_ACCEPTCONN), 1);
    EXPECT_TRUE(::fcntl(fd, F_GETFL) & O_NONBLOCK);
    EXPECT_TRUE(::fcntl(fd, F_GETFD) & FD_CLOEXEC);
  }

  // A client in the pod's namespace reaches both, and they arrive at our descriptors.
  EXPECT_EQ(ConnectFrom(ns.path(), SOCK_SEQPACKET, names.channel), 0);
  EXPECT_EQ(ConnectFrom(ns.path(), SOCK_STREAM, names.endpoint), 0);
  UniqueFd channel_conn(::accept4(sockets->channel.get(), nullptr, nullptr, SOCK_CLOEXEC));
  EXPECT_TRUE(channel_conn.valid()) << std::strerror(errno);
  UniqueFd endpoint_conn(::accept4(sockets->endpoint.get(), nullptr, nullptr, SOCK_CLOEXEC));
  EXPECT_TRUE(endpoint_conn.valid()) << std::strerror(errno);

  // The test's own namespace has neither name.
  EXPECT_EQ(ConnectFrom("", SOCK_SEQPACKET, names.channel), ECONNREFUSED);
  EXPECT_EQ(ConnectFrom("", SOCK_STREAM, names.endpoint), ECONNREFUSED);
}

TEST(PodSockets, TheCallersThreadStaysInItsNamespace) {
  TestNetns ns;
  NEED_NETNS(ns);
  const ino_t before = ThreadNetns();
  ASSERT_NE(before, 0u);
  ASSERT_NE(before, InodeOf(ns.path()));
  absl::StatusOr<PodSockets> sockets = BindPodSockets(ns.path(), UniqueNames("caller"));
  ASSERT_TRUE(sockets.ok()) << sockets.status();
  EXPECT_EQ(ThreadNetns(), before);
  // A socket made now is in the test's namespace: nothing of the pod's leaked into this thread.
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(fd.valid());
  UniqueFd sock_ns(::ioctl(fd.get(), SIOCGSKNS));
  ASSERT_TRUE(sock_ns.valid()) << std::strerror(errno);
  struct stat st {};
  ASSERT_EQ(::fstat(sock_ns.get(), &st), 0);
  EXPECT_EQ(st.st_ino, before);
}

TEST(PodSockets, ANameTakenTwiceIsAlreadyExists) {
  TestNetns ns;
  NEED_NETNS(ns);
  const PodSocketNames names = UniqueNames("twice");
  absl::StatusOr<PodSockets> first = BindPodSockets(ns.path(), names);
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<PodSockets> second = BindPodSockets(ns.path(), names);
  ASSERT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists) << second.status();
  EXPECT_THAT(second.status().message(),
              HasSubstr(absl::StrCat("pod network namespace ", ns.path(), ": bind ", names.channel,
                                     ": the name is taken in this namespace")));

  // Only the endpoint's name taken: the channel's socket made first is not left bound.
  PodSocketNames half = UniqueNames("half");
  half.endpoint = names.endpoint;
  absl::StatusOr<PodSockets> failed = BindPodSockets(ns.path(), half);
  ASSERT_EQ(failed.status().code(), absl::StatusCode::kAlreadyExists) << failed.status();
  EXPECT_THAT(failed.status().message(), HasSubstr("bind " + names.endpoint));
  EXPECT_EQ(ConnectFrom(ns.path(), SOCK_SEQPACKET, half.channel), ECONNREFUSED);

  // The same names in another namespace are free.
  TestNetns other;
  NEED_NETNS(other);
  EXPECT_TRUE(BindPodSockets(other.path(), names).ok());
}

TEST(PodSockets, AMissingNamespaceIsNotFound) {
  const std::string path = "/var/run/netns/braid-test-no-such-namespace";
  absl::StatusOr<PodSockets> sockets = BindPodSockets(path, UniqueNames("missing"));
  EXPECT_EQ(sockets.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(sockets.status().message(), HasSubstr("pod network namespace " + path + ": open"));
  EXPECT_EQ(CheckNetns(path).code(), absl::StatusCode::kNotFound);
}

TEST(PodSockets, NotANetworkNamespaceIsRefused) {
  TestNetns ns;  // only for its directory
  ASSERT_FALSE(ns.dir().empty());
  const std::string file = ns.dir() + "/plain";
  std::ofstream(file).close();
  absl::StatusOr<PodSockets> sockets = BindPodSockets(file, UniqueNames("plain"));
  EXPECT_EQ(sockets.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(sockets.status().message(), HasSubstr(file + ": not a namespace"));
  const absl::Status uts = CheckNetns("/proc/self/ns/uts");
  EXPECT_EQ(uts.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(uts.message(), HasSubstr("a namespace, but not a network namespace"));
}

TEST(PodSockets, CheckNetnsAcceptsNetworkNamespaces) {
  EXPECT_TRUE(CheckNetns("/proc/self/ns/net").ok());
  TestNetns ns;
  NEED_NETNS(ns);
  EXPECT_TRUE(CheckNetns(ns.path()).ok());
}

TEST(PodSockets, SetnsWithoutCapSysAdminIsPermissionDenied) {
  TestNetns ns;
  NEED_NETNS(ns);
  const std::string path = ns.path();
  const PodSocketNames names = UniqueNames("cap");
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Drop CAP_SYS_ADMIN from the effective set; the thread BindPodSockets starts inherits it.
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (::syscall(SYS_capget, &header, data) != 0) ::_exit(10);
    data[CAP_SYS_ADMIN / 32].effective &= ~(1u << (CAP_SYS_ADMIN % 32));
    if (::syscall(SYS_capset, &header, data) != 0) ::_exit(11);
    absl::StatusOr<PodSockets> sockets = BindPodSockets(path, names);
    if (sockets.status().code() != absl::StatusCode::kPermissionDenied) ::_exit(12);
    if (sockets.status().message().find(path + ": setns") == std::string::npos) ::_exit(13);
    ::_exit(0);
  }
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(PodSockets, NamesMustBeAbstractAndDistinct) {
  const std::string path = "/proc/self/ns/net";
  for (const auto& [channel, endpoint] :
       {std::pair<std::string, std::string>{"braid/node", "@braid/endpoint"},
        {"@braid/node", "/run/braid/endpoint.sock"},
        {"@", "@braid/endpoint"},
        {"@" + std::string(108, 'x'), "@braid/endpoint"},
        {std::string("@a\0b", 4), "@braid/endpoint"},
        {"@braid/same", "@braid/same"}}) {
    PodSocketNames names;
    names.channel = channel;
    names.endpoint = endpoint;
    absl::StatusOr<PodSockets> sockets = BindPodSockets(path, names);
    EXPECT_EQ(sockets.status().code(), absl::StatusCode::kInvalidArgument) << channel;
  }
  // The longest name that fits: 107 bytes after the '@'.
  PodSocketNames longest = UniqueNames("long");
  longest.channel += std::string(107 - (longest.channel.size() - 1), 'x');
  ASSERT_EQ(longest.channel.size(), 108u);
  if (::geteuid() == 0) {
    EXPECT_TRUE(BindPodSockets(path, longest).ok());
  }
}

TEST(PodSockets, DefaultNamesAndTheirGrpcTargets) {
  const PodSocketNames names;
  EXPECT_EQ(names.channel, "@braid/node");
  EXPECT_EQ(names.endpoint, "@braid/endpoint");
  EXPECT_EQ(GrpcTarget(names.endpoint), "unix-abstract:braid/endpoint");
  EXPECT_EQ(GrpcTarget("/run/braid/agent.sock"), "unix:/run/braid/agent.sock");
}

}  // namespace
}  // namespace braid::agent
