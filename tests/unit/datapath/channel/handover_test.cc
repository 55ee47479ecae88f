#include "datapath/channel/handover.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "datapath/channel/doorbell.h"
#include "datapath/channel/region.h"
#include "tests/unit/datapath/channel/channel_test_support.h"

namespace braid::channel {
namespace {

using std::chrono::milliseconds;
using testing::Clock;
using testing::TestSocketPath;

const Geometry kGeometry{2, 4096, 4096, 16, 16};

// The wire format, spelled out independently of handover.cc.
std::vector<uint8_t> Prefix(uint32_t kind, uint32_t version, uint64_t magic = kMagic) {
  std::vector<uint8_t> b(16);
  std::memcpy(b.data(), &magic, 8);
  std::memcpy(b.data() + 8, &kind, 4);
  std::memcpy(b.data() + 12, &version, 4);
  return b;
}

std::vector<uint8_t> HelloBytes(uint32_t version = kLayoutVersion) {
  std::vector<uint8_t> b = Prefix(1, version);
  b.resize(56);
  const uint32_t pid = static_cast<uint32_t>(::getpid());
  std::memcpy(b.data() + 16, &pid, 4);
  std::memcpy(b.data() + 24, "raw", 3);
  return b;
}

std::vector<uint8_t> WelcomeBytes(uint64_t region_bytes, uint32_t version = kLayoutVersion) {
  std::vector<uint8_t> b = Prefix(2, version);
  b.resize(32);
  const uint64_t epoch = 99;
  std::memcpy(b.data() + 16, &region_bytes, 8);
  std::memcpy(b.data() + 24, &epoch, 8);
  return b;
}

void SendRaw(int fd, const std::vector<uint8_t>& bytes, const std::vector<int>& fds = {}) {
  iovec iov{const_cast<uint8_t*>(bytes.data()), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<uint8_t> control(CMSG_SPACE(sizeof(int) * 8));
  if (!fds.empty()) {
    msg.msg_control = control.data();
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ASSERT_EQ(::sendmsg(fd, &msg, MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
}

UniqueFd RawConnect(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path + 1, path.data() + 1, path.size() - 1);
  const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), len), 0);
  return fd;
}

size_t OpenFds() {
  size_t n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  while (::readdir(d) != nullptr) ++n;
  ::closedir(d);
  return n;
}

// Calls AcceptHello until it returns something other than Unavailable (or the deadline passes),
// checking that no call blocks.
absl::StatusOr<ClientHello> Serve(ChannelListener& listener,
                                  milliseconds within = milliseconds(5000)) {
  const Clock::time_point deadline = Clock::now() + within;
  for (;;) {
    const Clock::time_point before = Clock::now();
    auto hello = listener.AcceptHello();
    EXPECT_LT(Clock::now() - before, milliseconds(200)) << "AcceptHello blocked";
    if (hello.ok() || hello.status().code() != absl::StatusCode::kUnavailable) return hello;
    if (Clock::now() > deadline) return hello;
    pollfd p{listener.fd(), POLLIN, 0};
    ::poll(&p, 1, 10);
  }
}

// Runs ConnectChannel on a thread (it blocks until answered).
class Client {
 public:
  Client(std::string path, ConnectOptions options = {})
      : thread_([this, path, options] { result_ = ConnectChannel(path, "test-app", options); }) {}
  absl::StatusOr<ChannelConnection>& Result() {
    if (thread_.joinable()) thread_.join();
    return result_;
  }
  ~Client() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  absl::StatusOr<ChannelConnection> result_ = absl::UnknownError("not run");
  std::thread thread_;
};

TEST(Handover, WelcomeDeliversWorkingDescriptors) {
  const std::string path = TestSocketPath("welcome");
  auto listener = ChannelListener::Bind(path);
  ASSERT_TRUE(listener.ok()) << listener.status();
  Client client(path);
  auto hello = Serve(*listener);
  ASSERT_TRUE(hello.ok()) << hello.status();
  EXPECT_EQ(hello->peer.pid, ::getpid());
  EXPECT_EQ(hello->peer.uid, ::getuid());
  EXPECT_EQ(hello->peer.gid, ::getgid());
  EXPECT_EQ(hello->hello.pid, static_cast<uint32_t>(::getpid()));
  EXPECT_EQ(hello->hello.layout_version, kLayoutVersion);
  EXPECT_EQ(hello->hello.Name(), "test-app");
  EXPECT_EQ(listener->pending(), 0u);

  auto region = ServiceRegion::Create(kGeometry, "welcome", 0xabc);
  ASSERT_TRUE(region.ok());
  auto bells = Doorbell::CreatePair();
  ASSERT_TRUE(bells.has_value());
  ASSERT_TRUE(
      SendWelcome(hello->fd.get(), region->size(), region->epoch(), region->fd(), bells->app.fd())
          .ok());
  auto& connection = client.Result();
  ASSERT_TRUE(connection.ok()) << connection.status();
  EXPECT_EQ(connection->layout_version, kLayoutVersion);
  EXPECT_EQ(connection->region_bytes, region->size());
  EXPECT_EQ(connection->service_epoch, 0xabcu);

  // The memfd maps the same region; the doorbell end rings the service's.
  auto app = AppRegion::Attach(connection->memfd.get());
  ASSERT_TRUE(app.ok()) << app.status();
  EXPECT_EQ(app->epoch(), 0xabcu);
  app->app_sleeping().store(7);
  EXPECT_EQ(region->app_sleeping().load(), 7u);
  Doorbell app_bell = Doorbell::FromFd(std::move(connection->doorbell));
  ASSERT_TRUE(app_bell.Ring());
  EXPECT_EQ(bells->service.Wait(milliseconds(1000)), WaitResult::kRung);
  ASSERT_TRUE(bells->service.Ring());
  EXPECT_EQ(app_bell.Wait(milliseconds(1000)), WaitResult::kRung);

  // The connection's hang-up is how the service learns the app is gone.
  pollfd p{hello->fd.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0);
  connection->connection.Reset();
  ASSERT_EQ(::poll(&p, 1, 1000), 1);
  char byte;
  EXPECT_EQ(::recv(hello->fd.get(), &byte, 1, MSG_DONTWAIT), 0);
}

// The agent binds a pod's name in the pod's network namespace and hands the listening socket to
// the service (ChannelListener::Adopt); anything but a listening SEQPACKET unix socket is refused.
TEST(Handover, AnAdoptedListenerServesHellos) {
  const std::string path = TestSocketPath("adopt");
  UniqueFd raw(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path + 1, path.data() + 1, path.size() - 1);  // abstract: '@' -> NUL
  const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  ASSERT_EQ(::bind(raw.get(), reinterpret_cast<sockaddr*>(&addr), len), 0) << errno;

  // Bound, not listening yet: refused, and the caller's descriptor is gone with the error.
  UniqueFd dup(::dup(raw.get()));
  absl::StatusOr<ChannelListener> early = ChannelListener::Adopt(std::move(dup));
  EXPECT_TRUE(absl::IsInvalidArgument(early.status())) << early.status();
  ASSERT_EQ(::listen(raw.get(), 8), 0);
  auto listener = ChannelListener::Adopt(std::move(raw));
  ASSERT_TRUE(listener.ok()) << listener.status();
  Client client(path);
  auto hello = Serve(*listener);
  ASSERT_TRUE(hello.ok()) << hello.status();
  EXPECT_EQ(hello->hello.Name(), "test-app");

  UniqueFd stream(::socket(AF_UNIX, SOCK_STREAM, 0));
  EXPECT_TRUE(absl::IsInvalidArgument(ChannelListener::Adopt(std::move(stream)).status()));
  UniqueFd tcp(::socket(AF_INET, SOCK_STREAM, 0));
  EXPECT_TRUE(absl::IsInvalidArgument(ChannelListener::Adopt(std::move(tcp)).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ChannelListener::Adopt(UniqueFd()).status()));
}

TEST(Handover, VersionMismatchIsRefusedWithTheMessage) {
  const std::string path = TestSocketPath("refuse");
  auto listener = ChannelListener::Bind(path);
  ASSERT_TRUE(listener.ok());
  ConnectOptions newer;
  newer.layout_version = kLayoutVersion + 1;
  Client client(path, newer);
  auto hello = Serve(*listener);
  ASSERT_TRUE(hello.ok()) << hello.status();
  ASSERT_EQ(hello->hello.layout_version, kLayoutVersion + 1);
  ASSERT_TRUE(SendRefusal(hello->fd.get(), VersionRefusal(hello->hello.layout_version)).ok());
  auto& result = client.Result();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(result.status().message(),
            "Braid service speaks channel layout " + std::to_string(kLayoutVersion) +
                ", this library speaks " + std::to_string(kLayoutVersion + 1));
}

// A hello of another version is parsed from the frozen prefix alone, however long it is.
TEST(Handover, HelloOfAnotherVersionNeedsOnlyThePrefix) {
  const std::string path = TestSocketPath("prefix");
  auto listener = ChannelListener::Bind(path);
  ASSERT_TRUE(listener.ok());
  UniqueFd raw = RawConnect(path);
  SendRaw(raw.get(), Prefix(1, 7));
  auto hello = Serve(*listener);
  ASSERT_TRUE(hello.ok()) << hello.status();
  EXPECT_EQ(hello->hello.layout_version, 7u);
  EXPECT_EQ(hello->hello.pid, 0u);
  ASSERT_TRUE(SendRefusal(hello->fd.get(), std::string(5000, 'x')).ok());  // cut to the limit
  std::vector<uint8_t> answer(8192);
  const ssize_t n = ::recv(raw.get(), answer.data(), answer.size(), 0);
  EXPECT_EQ(n, static_cast<ssize_t>(24 + kMaxRefusalBytes));
}

// The client side of every malformed answer: an error, and every descriptor it carried closed.
TEST(Handover, ClientRejectsMalformedAnswers) {
  auto region = ServiceRegion::Create(kGeometry, "answers");
  ASSERT_TRUE(region.ok());
  auto bells = Doorbell::CreatePair();
  ASSERT_TRUE(bells.has_value());
  const int memfd = region->fd();
  const int bell = bells->app.fd();
  const uint64_t size = region->size();
  std::vector<uint8_t> bad_magic = WelcomeBytes(size);
  bad_magic[0] ^= 1;
  std::vector<uint8_t> bad_kind = Prefix(9, kLayoutVersion);
  std::vector<uint8_t> refusal_bad_length = Prefix(3, kLayoutVersion);
  refusal_bad_length.resize(24 + 4);
  refusal_bad_length[16] = 5;  // says 5 bytes of text, carries 4
  std::vector<uint8_t> long_welcome = WelcomeBytes(size);
  long_welcome.push_back(0);
  struct Case {
    const char* what;
    std::vector<uint8_t> bytes;
    std::vector<int> fds;
    absl::StatusCode code;
    const char* message;
  };
  const std::string other_version = "Braid service speaks channel layout " +
                                    std::to_string(kLayoutVersion + 1) + ", this library speaks " +
                                    std::to_string(kLayoutVersion);
  const std::vector<Case> cases = {
      {"other version",
       WelcomeBytes(size, kLayoutVersion + 1),
       {memfd, bell},
       absl::StatusCode::kFailedPrecondition,
       other_version.c_str()},
      {"one descriptor", WelcomeBytes(size), {memfd}, absl::StatusCode::kDataLoss, nullptr},
      {"three descriptors",
       WelcomeBytes(size),
       {memfd, bell, memfd},
       absl::StatusCode::kDataLoss,
       nullptr},
      {"no descriptor", WelcomeBytes(size), {}, absl::StatusCode::kDataLoss, nullptr},
      {"swapped descriptors",
       WelcomeBytes(size),
       {bell, memfd},
       absl::StatusCode::kDataLoss,
       nullptr},
      {"wrong size",
       WelcomeBytes(size + 4096),
       {memfd, bell},
       absl::StatusCode::kDataLoss,
       nullptr},
      {"long welcome", long_welcome, {memfd, bell}, absl::StatusCode::kDataLoss, nullptr},
      {"short", Prefix(2, kLayoutVersion), {memfd, bell}, absl::StatusCode::kDataLoss, nullptr},
      {"tiny", {1, 2, 3}, {memfd, bell}, absl::StatusCode::kDataLoss, nullptr},
      {"bad magic", bad_magic, {memfd, bell}, absl::StatusCode::kDataLoss, nullptr},
      {"bad kind", bad_kind, {}, absl::StatusCode::kDataLoss, nullptr},
      {"bad refusal", refusal_bad_length, {}, absl::StatusCode::kDataLoss, nullptr},
      {"too many descriptors", WelcomeBytes(size), std::vector<int>(12, memfd),
       absl::StatusCode::kDataLoss, nullptr},
  };
  for (const Case& c : cases) {
    const std::string path = TestSocketPath("answer");
    auto listener = ChannelListener::Bind(path);
    ASSERT_TRUE(listener.ok());
    const size_t fds_before = OpenFds();
    {
      Client client(path);
      auto hello = Serve(*listener);
      ASSERT_TRUE(hello.ok()) << hello.status();
      if (c.fds.size() > 8) {
        // More than one control message can carry: the kernel truncates (MSG_CTRUNC).
        SendRaw(hello->fd.get(), c.bytes, std::vector<int>(c.fds.begin(), c.fds.begin() + 8));
      } else {
        SendRaw(hello->fd.get(), c.bytes, c.fds);
      }
      auto& result = client.Result();
      ASSERT_FALSE(result.ok()) << c.what;
      EXPECT_EQ(result.status().code(), c.code) << c.what << ": " << result.status();
      if (c.message != nullptr) {
        EXPECT_EQ(result.status().message(), c.message) << c.what;
      }
    }
    EXPECT_EQ(OpenFds(), fds_before) << c.what << ": a descriptor leaked";
  }
}

// Hostile and broken clients, all at once: the server never blocks, drops each with its own
// error, and still serves a good client.
TEST(Handover, BadClientsNeverBlockTheServer) {
  const std::string path = TestSocketPath("bad");
  ListenerOptions options;
  options.hello_timeout = milliseconds(300);
  auto listener = ChannelListener::Bind(path, options);
  ASSERT_TRUE(listener.ok());

  UniqueFd silent = RawConnect(path);
  UniqueFd garbage = RawConnect(path);
  SendRaw(garbage.get(), {1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  UniqueFd too_long = RawConnect(path);
  std::vector<uint8_t> long_hello = HelloBytes();
  long_hello.push_back(0);
  SendRaw(too_long.get(), long_hello);
  UniqueFd reserved = RawConnect(path);
  std::vector<uint8_t> reserved_hello = HelloBytes();
  reserved_hello[20] = 1;
  SendRaw(reserved.get(), reserved_hello);
  UniqueFd with_fd = RawConnect(path);
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  SendRaw(with_fd.get(), HelloBytes(), {pipe_fds[0]});
  ::close(pipe_fds[0]);
  UniqueFd hung_up = RawConnect(path);
  hung_up.Reset();
  Client good(path);

  std::map<absl::StatusCode, int> codes;
  bool welcomed = false;
  const Clock::time_point start = Clock::now();
  while (Clock::now() - start < std::chrono::seconds(5)) {
    auto hello = Serve(*listener, milliseconds(50));
    if (hello.ok()) {
      ASSERT_EQ(hello->hello.Name(), "test-app");
      ASSERT_TRUE(SendRefusal(hello->fd.get(), "served").ok());
      welcomed = true;
    } else if (hello.status().code() != absl::StatusCode::kUnavailable) {
      ++codes[hello.status().code()];
      EXPECT_NE(hello.status().message().find("channel client pid"), std::string::npos)
          << hello.status();
    }
    if (welcomed && codes[absl::StatusCode::kDeadlineExceeded] == 1) break;
  }
  EXPECT_TRUE(welcomed);
  EXPECT_EQ(good.Result().status().message(), "served");
  EXPECT_EQ(codes[absl::StatusCode::kInvalidArgument], 4);   // garbage, long, reserved, fd
  EXPECT_EQ(codes[absl::StatusCode::kAborted], 1);           // hung up
  EXPECT_EQ(codes[absl::StatusCode::kDeadlineExceeded], 1);  // silent
  EXPECT_EQ(listener->pending(), 0u);
  // The silent client was disconnected.
  pollfd p{silent.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 1000), 1);
  // The descriptor sent with a hello was closed by the server: the pipe has no reader left.
  pollfd w{pipe_fds[1], POLLOUT, 0};
  ASSERT_EQ(::poll(&w, 1, 1000), 1);
  EXPECT_TRUE(w.revents & POLLERR);
  ::close(pipe_fds[1]);
}

TEST(Handover, PendingConnectionsAreBounded) {
  const std::string path = TestSocketPath("bounded");
  ListenerOptions options;
  options.max_pending = 2;
  auto listener = ChannelListener::Bind(path, options);
  ASSERT_TRUE(listener.ok());
  EXPECT_FALSE(listener->NextDeadline().has_value());
  std::vector<UniqueFd> clients;
  for (int i = 0; i < 5; ++i) clients.push_back(RawConnect(path));
  const Clock::time_point before = Clock::now();
  // Each call accepts at most max_pending connections: three calls take all five.
  for (int call = 0; call < 3; ++call) {
    EXPECT_EQ(listener->AcceptHello().status().code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(listener->pending(), 2u);
  }
  ASSERT_TRUE(listener->NextDeadline().has_value());
  EXPECT_GT(*listener->NextDeadline(), before);
  // The oldest three were dropped: they see the hang-up; the newest two do not.
  for (int i = 0; i < 5; ++i) {
    pollfd p{clients[i].get(), POLLIN, 0};
    EXPECT_EQ(::poll(&p, 1, i < 3 ? 1000 : 0), i < 3 ? 1 : 0) << "client " << i;
  }
}

TEST(Handover, ServerThatHangsUpOrStaysSilent) {
  const std::string path = TestSocketPath("quiet");
  auto listener = ChannelListener::Bind(path);
  ASSERT_TRUE(listener.ok());
  {
    ConnectOptions quick;
    quick.timeout = milliseconds(200);
    Client client(path, quick);
    auto& result = client.Result();  // nobody calls AcceptHello
    EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded) << result.status();
  }
  while (listener->AcceptHello().status().code() != absl::StatusCode::kUnavailable) {
  }
  Client client(path);
  auto hello = Serve(*listener);
  ASSERT_TRUE(hello.ok()) << hello.status();
  hello->fd.Reset();
  EXPECT_EQ(client.Result().status().code(), absl::StatusCode::kUnavailable);

  // Answering a client that already left is an error, not a crash (no SIGPIPE).
  UniqueFd raw = RawConnect(path);
  SendRaw(raw.get(), HelloBytes());
  auto gone = Serve(*listener);
  ASSERT_TRUE(gone.ok()) << gone.status();
  raw.Reset();
  EXPECT_FALSE(SendRefusal(gone->fd.get(), "late").ok());
  EXPECT_FALSE(SendWelcome(gone->fd.get(), 1, 1, 0, 0).ok());
}

TEST(Handover, FilesystemPathIsCreatedAndRemoved) {
  const std::string path = "/tmp/braid-test-" + std::to_string(::getpid()) + ".sock";
  ::unlink(path.c_str());
  {
    auto listener = ChannelListener::Bind(path);
    ASSERT_TRUE(listener.ok()) << listener.status();
    struct stat st;
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    // Taken: a second listener on the same path fails and leaves the first one's socket.
    EXPECT_FALSE(ChannelListener::Bind(path).ok());
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    ChannelListener moved = std::move(*listener);
    Client client(path);
    auto hello = Serve(moved);
    ASSERT_TRUE(hello.ok()) << hello.status();
    ASSERT_TRUE(SendRefusal(hello->fd.get(), "bye").ok());
    EXPECT_EQ(client.Result().status().message(), "bye");
  }
  struct stat st;
  EXPECT_NE(::stat(path.c_str(), &st), 0);
}

TEST(Handover, BadPathsAndAbsentService) {
  for (const std::string& bad :
       {std::string(), std::string("@"), std::string(200, 'x'),
        std::string("@") + std::string(120, 'y'), std::string("@a\0b", 4)}) {
    auto listener = ChannelListener::Bind(bad);
    ASSERT_FALSE(listener.ok());
    EXPECT_EQ(listener.status().code(), absl::StatusCode::kInvalidArgument);
  }
  auto absent = ConnectChannel(TestSocketPath("nobody"), "x");
  EXPECT_EQ(absent.status().code(), absl::StatusCode::kUnavailable) << absent.status();
  auto bad = ConnectChannel("", "x");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Handover, HelloNameIsPrintable) {
  Hello hello;
  std::memcpy(hello.name.data(), "a\tb\x80z", 5);
  EXPECT_EQ(hello.Name(), "a?b?z");
  hello.name.fill('n');  // no terminating NUL
  EXPECT_EQ(hello.Name(), std::string(32, 'n'));
}

}  // namespace
}  // namespace braid::channel
