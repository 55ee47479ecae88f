// The service going away (crash, clean stop, protocol breach), the fallback policies, a layout
// version mismatch, and fork.
#include <poll.h>
#include <sys/epoll.h>
#include <sys/wait.h>

#include <csignal>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/sdk/sdk_test_support.h"

// A fork child of this multithreaded test inherits the other threads' memory without the
// threads: LeakSanitizer would report it as lost when the child calls exit(). The child turns
// the check off for itself (LeakSanitizer asks this function; other builds never call it).
namespace {
volatile int fork_child_exiting = 0;
}  // namespace
extern "C" int __lsan_is_turned_off();
extern "C" int __lsan_is_turned_off() { return fork_child_exiting; }

namespace braid::sdk::testing {
namespace {

using LifecycleTest = SdkTest;

// Blocked calls return ECONNABORTED promptly once the service is gone.
void ExpectBlockedCallsAbort(LoopbackService& service, bool crash) {
  Pair p = ConnectedPair();
  ASSERT_GE(p.server, 0);
  // A reader blocked on an empty FIFO, a writer blocked on full ones, an epoll waiter.
  std::atomic<int> reader_errno{0}, writer_errno{0};
  std::thread reader([&] {
    char byte;
    if (braid_recv(p.server, &byte, 1, 0) < 0) reader_errno = errno;
  });
  std::thread writer([&] {
    // The client never reads: the send blocks on full FIFOs. A send cut short returns what
    // it sent, as Linux does; the next one fails.
    std::vector<uint8_t> big(1 << 20);
    while (braid_send(p.server, big.data(), big.size(), 0) >= 0) {
    }
    writer_errno = errno;
  });
  const int ep = braid_epoll_create1(0);
  epoll_event e{};
  e.events = EPOLLIN;
  braid_epoll_ctl(ep, EPOLL_CTL_ADD, p.listener, &e);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto start = std::chrono::steady_clock::now();
  if (crash) {
    service.Die();
  } else {
    service.Stop();
  }
  epoll_event out;
  EXPECT_EQ(braid_epoll_wait(ep, &out, 1, 3000), 1);
  EXPECT_TRUE(out.events & EPOLLERR);
  reader.join();
  writer.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1500));
  EXPECT_EQ(reader_errno.load(), ECONNABORTED);
  EXPECT_EQ(writer_errno.load(), ECONNABORTED);
  EXPECT_EQ(braid_attached(), 0);
  char byte;
  EXPECT_EQ(braid_recv(p.client, &byte, 1, MSG_DONTWAIT), -1);
  EXPECT_EQ(errno, ECONNABORTED);
  int err = 0;
  socklen_t len = sizeof(err);
  ASSERT_EQ(braid_getsockopt(p.client, SOL_SOCKET, SO_ERROR, &err, &len), 0);
  EXPECT_EQ(err, ECONNABORTED);
  braid_close(ep);
  p.Close();
}

TEST_F(LifecycleTest, ServiceCrashAbortsBlockedCallsAndNewSocketsFallBackToTheKernel) {
  ExpectBlockedCallsAbort(*service_, /*crash=*/true);
  // BRAID_FALLBACK_KERNEL: new sockets are kernel sockets, and they work.
  const int fd = braid_socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(braid_is_braid_fd(fd), 0);
  braid_close(fd);
  Pair k = ConnectedPair();
  ASSERT_GE(k.server, 0);
  EXPECT_EQ(braid_is_braid_fd(k.server), 0);
  std::thread w([&] { EXPECT_TRUE(SendStream(k.client, 0, 1 << 20, 60000)); });
  EXPECT_TRUE(RecvStream(k.server, 0, 1 << 20, 4096));
  w.join();
  k.Close();
}

TEST_F(LifecycleTest, CleanStopAbortsBlockedCalls) { ExpectBlockedCallsAbort(*service_, false); }

TEST_F(LifecycleTest, MalformedEventEndsTheChannel) {
  Pair p = ConnectedPair();
  ASSERT_GE(p.server, 0);
  service_->InjectMalformedEvent();
  char byte;
  EXPECT_EQ(braid_recv(p.server, &byte, 1, 0), -1);
  EXPECT_EQ(errno, ECONNABORTED);
  p.Close();
}

TEST_F(LifecycleTest, FailPolicyRefusesNewSockets) {
  braid_detach();
  braid_config c{path_.c_str(), "sdk-test", BRAID_FALLBACK_FAIL, 300, 50};
  ASSERT_EQ(braid_init(&c), 0);
  service_->Die();
  const int fd = braid_socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_EQ(fd, -1);
  EXPECT_EQ(errno, ECONNREFUSED);
  EXPECT_NE(std::string(braid_last_error()), "");
  // Other kinds of socket are the kernel's in any case.
  const int udp = braid_socket(AF_INET, SOCK_DGRAM, 0);
  EXPECT_GE(udp, 0);
  braid_close(udp);
}

TEST_F(LifecycleTest, WaitPolicyAttachesToARestartedService) {
  braid_detach();
  braid_config c{path_.c_str(), "sdk-test", BRAID_FALLBACK_WAIT, 3000, 50};
  ASSERT_EQ(braid_init(&c), 0);
  const int old_fd = braid_socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(braid_is_braid_fd(old_fd), 1);
  service_->Die();
  service_.reset();
  std::thread restart([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto s = LoopbackService::Start(path_);
    ASSERT_TRUE(s.ok()) << s.status();
    service_ = std::move(*s);
  });
  const int fd = braid_socket(AF_INET, SOCK_STREAM, 0);  // waits for the service
  restart.join();
  ASSERT_GE(fd, 0);
  EXPECT_EQ(braid_is_braid_fd(fd), 1);
  EXPECT_EQ(braid_attached(), 1);
  // The old socket belongs to the old service (another epoch): it stays aborted.
  sockaddr_in a = Loopback4(1);
  EXPECT_EQ(braid_connect(old_fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), -1);
  EXPECT_EQ(errno, ECONNABORTED);
  braid_close(old_fd);
  // The new one works.
  braid_close(fd);
  Pair p = ConnectedPair();
  ASSERT_GE(p.server, 0);
  EXPECT_EQ(braid_is_braid_fd(p.server), 1);
  p.Close();
}

class VersionMismatchTest : public SdkTest {
 protected:
  void SetUp() override {}
};

TEST_F(VersionMismatchTest, RefusedWithBothVersionsNamed) {
  path_ = TestPath("old");
  LoopbackOptions options;
  options.refuse_as_layout_version = channel::kLayoutVersion + 1;
  auto service = LoopbackService::Start(path_, options);
  ASSERT_TRUE(service.ok());
  service_ = std::move(*service);
  braid_config c{path_.c_str(), "sdk-test", BRAID_FALLBACK_KERNEL, 1000, 50};
  EXPECT_EQ(braid_init(&c), -1);
  EXPECT_EQ(errno, EPROTO);
  const std::string message = braid_last_error();
  const uint32_t version = channel::kLayoutVersion;
  EXPECT_NE(message.find("layout " + std::to_string(version + 1)), std::string::npos) << message;
  EXPECT_NE(message.find("speaks " + std::to_string(version)), std::string::npos) << message;
  EXPECT_EQ(braid_attached(), 0);
  // The kernel policy still gives working (kernel) sockets.
  const int fd = braid_socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(braid_is_braid_fd(fd), 0);
  braid_close(fd);
}

// A fork child never touches its parent's channel: its calls on inherited Braid sockets fail
// with ECONNABORTED, and its own new sockets attach a channel of its own. The parent's sockets
// keep working.
TEST_F(LifecycleTest, ForkChildAttachesItsOwnChannel) {
  uint16_t port = 0;
  const int listener = ListenLoopback(&port);
  ASSERT_GE(listener, 0);
  Pair p = ConnectedPair();
  ASSERT_GE(p.server, 0);
  // The child writes, closes and exits at once: the service still delivers its bytes.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int code = 0;
    char byte;
    if (braid_recv(p.server, &byte, 1, MSG_DONTWAIT) != -1 || errno != ECONNABORTED) code |= 1;
    braid_close(p.server);  // releases the child's descriptor only
    const int c = braid_socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = Loopback4(port);
    if (braid_is_braid_fd(c) != 1) code |= 2;
    if (braid_connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) code |= 4;
    if (braid_send(c, "child", 5, 0) != 5) code |= 8;
    braid_close(c);
    ::_exit(code);
  }
  const int s = braid_accept(listener, nullptr, nullptr);
  ASSERT_GE(s, 0);
  char buf[5];
  ASSERT_EQ(braid_recv(s, buf, 5, MSG_WAITALL), 5);
  EXPECT_EQ(std::string(buf, 5), "child");
  EXPECT_EQ(braid_recv(s, buf, 5, 0), 0);  // then the FIN, no reset
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(service_->apps_attached(), 2u);
  braid_close(s);
  // The parent's connection is untouched.
  ASSERT_EQ(braid_send(p.client, "x", 1, 0), 1);
  char byte;
  EXPECT_EQ(braid_recv(p.server, &byte, 1, 0), 1);
  braid_close(listener);
  p.Close();
}

// exit() closes the sockets a process still holds, as the kernel does: its peer reads every
// byte, then the end of the stream. A process that dies without exit() is reset instead.
TEST_F(LifecycleTest, ExitClosesOpenSocketsGracefully) {
  uint16_t port = 0;
  const int listener = ListenLoopback(&port);
  ASSERT_GE(listener, 0);
  for (const bool graceful : {true, false}) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      const int c = braid_socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a = Loopback4(port);
      if (braid_connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) ::_exit(2);
      if (braid_send(c, "bye", 3, 0) != 3) ::_exit(3);
      if (graceful) {
        fork_child_exiting = 1;
        std::exit(0);  // never closed
      }
      ::raise(SIGKILL);
    }
    const int s = braid_accept(listener, nullptr, nullptr);
    ASSERT_GE(s, 0);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    char buf[8];
    if (graceful) {
      ASSERT_TRUE(WIFEXITED(status));
      EXPECT_EQ(WEXITSTATUS(status), 0);
      ASSERT_EQ(braid_recv(s, buf, 3, MSG_WAITALL), 3);
      EXPECT_EQ(std::string(buf, 3), "bye");
      EXPECT_EQ(braid_recv(s, buf, sizeof(buf), 0), 0);
    } else {
      ASSERT_TRUE(WIFSIGNALED(status));
      ssize_t n = 0;
      while ((n = braid_recv(s, buf, sizeof(buf), 0)) > 0) {
      }
      EXPECT_EQ(n, -1);
      EXPECT_EQ(errno, ECONNRESET);
    }
    braid_close(s);
  }
  braid_close(listener);
}

// A service with few slots, to run out of them.
class FewSlotsTest : public SdkTest {
 protected:
  LoopbackOptions Options() override {
    LoopbackOptions o;
    o.geometry.slots = 8;
    return o;
  }
};

// Closing sockets and at once opening as many (redis-benchmark between its tests) finds the
// closed ones' slots still held until the service's kClosed: socket() waits for them instead of
// failing with ENOBUFS. With nothing closing, ENOBUFS comes at once.
TEST_F(FewSlotsTest, SocketWaitsForSlotsOfClosedSockets) {
  std::vector<int> fds;
  for (int i = 0; i < 8; ++i) {
    const int fd = braid_socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0) << i;
    fds.push_back(fd);
  }
  EXPECT_EQ(braid_socket(AF_INET, SOCK_STREAM, 0), -1);
  EXPECT_EQ(errno, ENOBUFS);
  for (int round = 0; round < 3; ++round) {
    for (int& fd : fds) {
      braid_close(fd);
      fd = braid_socket(AF_INET, SOCK_STREAM, 0);
      ASSERT_GE(fd, 0) << braid_last_error();
      EXPECT_EQ(braid_is_braid_fd(fd), 1);
    }
  }
  for (const int fd : fds) braid_close(fd);
}

// A listener that could not offer slots for incoming connections (every slot taken) gets them
// when slots come free, without waiting for an accept() that could never come.
TEST_F(FewSlotsTest, AListenerShortOfSlotsGetsFreedOnes) {
  uint16_t port = 0;
  const int listener = ListenLoopback(&port);  // the listener and its 4 offered slots
  ASSERT_GE(listener, 0);
  std::vector<int> idle;
  for (int i = 0; i < 3; ++i) idle.push_back(braid_socket(AF_INET, SOCK_STREAM, 0));
  for (const int fd : idle) ASSERT_GE(fd, 0);
  // Another process connects 5 times; the first 4 take the offered slots.
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int code = 0;
    std::vector<int> clients;
    for (int i = 0; i < 5; ++i) {
      const int c = braid_socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a = Loopback4(port);
      if (braid_connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) code |= 1;
      if (braid_send(c, "x", 1, 0) != 1) code |= 2;
      clients.push_back(c);
    }
    char byte;
    if (::read(go[0], &byte, 1) != 1) code |= 4;
    for (const int c : clients) braid_close(c);
    ::_exit(code);
  }
  std::vector<int> accepted;
  for (int i = 0; i < 4; ++i) {
    accepted.push_back(braid_accept(listener, nullptr, nullptr));
    ASSERT_GE(accepted.back(), 0) << braid_last_error();
  }
  // Every slot is taken: the listener has none to offer for the fifth connection.
  for (const int fd : idle) braid_close(fd);
  pollfd p{listener, POLLIN, 0};
  EXPECT_EQ(braid_poll(&p, 1, 5000), 1) << "the fifth connection never reached the listener";
  const int fifth = braid_accept4(listener, nullptr, nullptr, SOCK_NONBLOCK);
  EXPECT_GE(fifth, 0);
  if (fifth < 0) ::kill(child, SIGKILL);  // its fifth connect would wait forever
  ASSERT_EQ(::write(go[1], "g", 1), 1);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ::close(go[0]);
  ::close(go[1]);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  if (fifth >= 0) braid_close(fifth);
  for (const int fd : accepted) braid_close(fd);
  braid_close(listener);
}

}  // namespace
}  // namespace braid::sdk::testing
