// braid_epoll_* and braid_poll over Braid sockets, a kernel pipe and a kernel TCP socket; and
// threads sharing sockets.
#include <poll.h>
#include <sys/epoll.h>

#include <algorithm>
#include <set>
#include <thread>

#include "tests/unit/sdk/sdk_test_support.h"

namespace braid::sdk::testing {
namespace {

using ReadinessTest = SdkTest;

// A connected kernel TCP pair on loopback (plain syscalls: not Braid).
std::pair<int, int> KernelTcpPair() {
  const int l = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = Loopback4(0);
  ::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  ::listen(l, 1);
  socklen_t len = sizeof(a);
  ::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len);
  const int c = ::socket(AF_INET, SOCK_STREAM, 0);
  ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  const int s = ::accept(l, nullptr, nullptr);
  ::close(l);
  return {c, s};
}

std::set<uint64_t> Ready(int ep, int timeout_ms) {
  epoll_event events[8];
  const int n = braid_epoll_wait(ep, events, 8, timeout_ms);
  std::set<uint64_t> out;
  for (int i = 0; i < n; ++i) out.insert(events[i].data.u64);
  return out;
}

TEST_F(ReadinessTest, EpollMixesBraidSocketsAPipeAndAKernelSocket) {
  Pair p = ConnectedPair();
  ASSERT_GE(p.server, 0);
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  auto [kc, ks] = KernelTcpPair();
  const int ep = braid_epoll_create1(EPOLL_CLOEXEC);
  ASSERT_GE(ep, 0);
  epoll_event e{};
  e.events = EPOLLIN;
  e.data.u64 = 1;
  ASSERT_EQ(braid_epoll_ctl(ep, EPOLL_CTL_ADD, p.server, &e), 0);
  e.data.u64 = 2;
  ASSERT_EQ(braid_epoll_ctl(ep, EPOLL_CTL_ADD, pipe_fds[0], &e), 0);
  e.data.u64 = 3;
  ASSERT_EQ(braid_epoll_ctl(ep, EPOLL_CTL_ADD, ks, &e), 0);
  EXPECT_EQ(braid_epoll_ctl(ep, EPOLL_CTL_ADD, p.server, &e), -1);
  EXPECT_EQ(errno, EEXIST);

  EXPECT_TRUE(Ready(ep, 0).empty());
  ASSERT_EQ(braid_send(p.client, "b", 1, 0), 1);
  EXPECT_EQ(Ready(ep, 2000), std::set<uint64_t>({1}));
  ASSERT_EQ(::write(pipe_fds[1], "p", 1), 1);
  ASSERT_EQ(::send(kc, "k", 1, 0), 1);
  std::set<uint64_t> all;
  for (int i = 0; i < 10 && all.size() < 3; ++i) {
    auto r = Ready(ep, 1000);
    all.insert(r.begin(), r.end());
  }
  EXPECT_EQ(all, std::set<uint64_t>({1, 2, 3}));  // level-triggered: 1 is still unread
  char byte;
  ASSERT_EQ(braid_recv(p.server, &byte, 1, 0), 1);
  ASSERT_EQ(::read(pipe_fds[0], &byte, 1), 1);
  ASSERT_EQ(::recv(ks, &byte, 1, 0), 1);
  EXPECT_TRUE(Ready(ep, 0).empty());

  // A wake-up from another thread while epoll_wait sleeps, one per kind.
  for (int kind = 0; kind < 3; ++kind) {
    std::thread later([&, kind] {
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      if (kind == 0) braid_send(p.client, "b", 1, 0);
      if (kind == 1) {
        EXPECT_EQ(::write(pipe_fds[1], "p", 1), 1);
      }
      if (kind == 2) ::send(kc, "k", 1, 0);
    });
    EXPECT_EQ(Ready(ep, 5000), std::set<uint64_t>({static_cast<uint64_t>(kind + 1)}));
    later.join();
    if (kind == 0) braid_recv(p.server, &byte, 1, 0);
    if (kind == 1) {
      EXPECT_EQ(::read(pipe_fds[0], &byte, 1), 1);
    }
    if (kind == 2) ::recv(ks, &byte, 1, 0);
  }
  ASSERT_EQ(braid_epoll_ctl(ep, EPOLL_CTL_DEL, p.server, nullptr), 0);
  braid_close(ep);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  ::close(kc);
  ::close(ks);
  p.Close();
}

TEST_F(ReadinessTest, EdgeTriggeredAndOneShot) {
  Pair p = ConnectedPair();
  ASSERT_GE(p.server, 0);
  const int ep = braid_epoll_create1(0);
  epoll_event e{};
  e.events = EPOLLIN | EPOLLET;
  e.data.u64 = 7;
  ASSERT_EQ(braid_epoll_ctl(ep, EPOLL_CTL_ADD, p.server, &e), 0);
  ASSERT_EQ(braid_send(p.client, "a", 1, 0), 1);
  EXPECT_EQ(Ready(ep, 2000), std::set<uint64_t>({7}));
  EXPECT_TRUE(Ready(ep, 50).empty());  // no new edge while nothing new arrives
  ASSERT_EQ(braid_send(p.client, "b", 1, 0), 1);
  EXPECT_EQ(Ready(ep, 2000), std::set<uint64_t>({7}));  // new bytes: a new edge

  e.events = EPOLLIN | EPOLLONESHOT;
  ASSERT_EQ(braid_epoll_ctl(ep, EPOLL_CTL_MOD, p.server, &e), 0);
  EXPECT_EQ(Ready(ep, 0), std::set<uint64_t>({7}));
  EXPECT_TRUE(Ready(ep, 0).empty());  // disabled until re-armed
  ASSERT_EQ(braid_epoll_ctl(ep, EPOLL_CTL_MOD, p.server, &e), 0);
  EXPECT_EQ(Ready(ep, 0), std::set<uint64_t>({7}));

  // EPOLLOUT on a connected socket with TX room.
  e.events = EPOLLOUT;
  e.data.u64 = 8;
  ASSERT_EQ(braid_epoll_ctl(ep, EPOLL_CTL_ADD, p.client, &e), 0);
  epoll_event out[4];
  const int n = braid_epoll_wait(ep, out, 4, 0);
  ASSERT_GE(n, 1);
  bool writable = false;
  for (int i = 0; i < n; ++i) writable |= out[i].data.u64 == 8 && (out[i].events & EPOLLOUT);
  EXPECT_TRUE(writable);
  braid_close(ep);
  p.Close();
}

TEST_F(ReadinessTest, IdleWaitSleepsInTheKernel) {
  Pair p = ConnectedPair();
  ASSERT_GE(p.server, 0);
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const int ep = braid_epoll_create1(0);
  epoll_event e{};
  e.events = EPOLLIN;
  ASSERT_EQ(braid_epoll_ctl(ep, EPOLL_CTL_ADD, p.server, &e), 0);
  ASSERT_EQ(braid_epoll_ctl(ep, EPOLL_CTL_ADD, pipe_fds[0], &e), 0);
  const double cpu = ThreadCpuSeconds();
  const auto start = std::chrono::steady_clock::now();
  epoll_event out[2];
  EXPECT_EQ(braid_epoll_wait(ep, out, 2, 1000), 0);
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(waited, 0.95);
  EXPECT_LT(ThreadCpuSeconds() - cpu, 0.2);  // no busy spinning while idle
  // braid_poll likewise.
  pollfd fds[2] = {{p.server, POLLIN, 0}, {pipe_fds[0], POLLIN, 0}};
  const double cpu2 = ThreadCpuSeconds();
  EXPECT_EQ(braid_poll(fds, 2, 500), 0);
  EXPECT_LT(ThreadCpuSeconds() - cpu2, 0.1);
  // A blocked recv too.
  std::thread later([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    braid_send(p.client, "x", 1, 0);
  });
  const double cpu3 = ThreadCpuSeconds();
  char byte;
  EXPECT_EQ(braid_recv(p.server, &byte, 1, 0), 1);
  EXPECT_LT(ThreadCpuSeconds() - cpu3, 0.1);
  later.join();
  braid_close(ep);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  p.Close();
}

// 100k one-byte messages bounced between two threads that each wait in braid_epoll_wait (one
// edge-triggered, one level-triggered): a single lost wake-up hangs the test.
TEST_F(ReadinessTest, PingPongLosesNoWakeUp) {
  Pair p = ConnectedPair();
  ASSERT_GE(p.server, 0);
  // Two messages per round: 100k messages; half under the sanitizers, whose cost per message
  // would otherwise push the test past its time budget on a loaded machine.
#if defined(__SANITIZE_ADDRESS__)
  constexpr int kRounds = 25000;
#else
  constexpr int kRounds = 50000;
#endif
  auto bounce = [](int fd, bool edge, bool starts) {
    const int ep = braid_epoll_create1(0);
    epoll_event e{};
    e.events = EPOLLIN | (edge ? static_cast<uint32_t>(EPOLLET) : 0u);
    braid_epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
    uint8_t next = 0;
    if (starts) {
      if (braid_send(fd, &next, 1, 0) != 1) return false;
      ++next;
    }
    for (int i = 0; i < kRounds; ++i) {
      uint8_t byte;
      for (;;) {
        const ssize_t r = braid_recv(fd, &byte, 1, MSG_DONTWAIT);
        if (r == 1) break;
        if (r != -1 || errno != EAGAIN) return false;
        epoll_event out;
        if (braid_epoll_wait(ep, &out, 1, 5000) != 1) return false;  // lost wake-up
      }
      if (byte != next) return false;
      ++next;
      if ((starts && i == kRounds - 1)) break;
      if (braid_send(fd, &next, 1, 0) != 1) return false;
      ++next;
    }
    braid_close(ep);
    return true;
  };
  bool a = false, b = false;
  std::thread t([&] { b = bounce(p.server, true, false); });
  a = bounce(p.client, false, true);
  t.join();
  EXPECT_TRUE(a);
  EXPECT_TRUE(b);
  p.Close();
}

TEST_F(ReadinessTest, AcceptInOneThreadServeInOthers) {
  uint16_t port = 0;
  const int listener = ListenLoopback(&port);
  ASSERT_GE(listener, 0);
  constexpr int kClients = 6;
  constexpr size_t kBytes = 200000;
  std::vector<std::thread> servers;
  std::mutex mu;
  std::thread acceptor([&] {
    for (int i = 0; i < kClients; ++i) {
      const int s = braid_accept(listener, nullptr, nullptr);
      ASSERT_GE(s, 0);
      std::lock_guard lock(mu);
      servers.emplace_back([s] {
        // Echo until the end of the stream.
        std::vector<uint8_t> buf(3000);
        for (;;) {
          const ssize_t r = braid_recv(s, buf.data(), buf.size(), 0);
          if (r <= 0) break;
          if (braid_send(s, buf.data(), r, 0) != r) break;
        }
        braid_close(s);
      });
    }
  });
  std::vector<std::thread> clients;
  std::atomic<int> good{0};
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      const int c = braid_socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a = Loopback4(port);
      if (braid_connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return;
      std::thread w([&] {
        SendStream(c, i * 1000, kBytes, 5000);
        braid_shutdown(c, SHUT_WR);
      });
      const bool ok = RecvStream(c, i * 1000, kBytes, 4096);
      char byte;
      w.join();
      if (ok && braid_recv(c, &byte, 1, 0) == 0) good.fetch_add(1);
      braid_close(c);
    });
  }
  for (auto& c : clients) c.join();
  acceptor.join();
  for (auto& s : servers) s.join();
  EXPECT_EQ(good.load(), kClients);
  braid_close(listener);
}

TEST_F(ReadinessTest, TwoReadersSeeEachByteOnceInOrder) {
  Pair p = ConnectedPair();
  ASSERT_GE(p.server, 0);
  constexpr uint64_t kCount = 60000;
  std::thread writer([&] {
    for (uint64_t i = 0; i < kCount; ++i) {
      ASSERT_EQ(braid_send(p.client, &i, sizeof(i), 0), static_cast<ssize_t>(sizeof(i)));
    }
    braid_shutdown(p.client, SHUT_WR);
  });
  std::vector<uint64_t> seen[2];
  auto reader = [&](int k) {
    for (;;) {
      uint64_t v;
      const ssize_t r = braid_recv(p.server, &v, sizeof(v), MSG_WAITALL);
      if (r != sizeof(v)) break;
      seen[k].push_back(v);
    }
  };
  std::thread r0(reader, 0), r1(reader, 1);
  writer.join();
  r0.join();
  r1.join();
  EXPECT_TRUE(std::is_sorted(seen[0].begin(), seen[0].end()));
  EXPECT_TRUE(std::is_sorted(seen[1].begin(), seen[1].end()));
  std::vector<uint64_t> all(seen[0]);
  all.insert(all.end(), seen[1].begin(), seen[1].end());
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), kCount);
  for (uint64_t i = 0; i < kCount; ++i) ASSERT_EQ(all[i], i);
  p.Close();
}

TEST_F(ReadinessTest, CloseFromAnotherThreadWakesABlockedReader) {
  Pair p = ConnectedPair();
  ASSERT_GE(p.server, 0);
  std::thread closer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    braid_close(p.server);
  });
  char byte;
  EXPECT_EQ(braid_recv(p.server, &byte, 1, 0), -1);
  EXPECT_EQ(errno, EBADF);
  closer.join();
  p.server = -1;
  p.Close();
}

}  // namespace
}  // namespace braid::sdk::testing
