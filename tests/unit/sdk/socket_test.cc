// Braid sockets against the loopback service test double: set-up, data, flags, options, close.
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <thread>

#include "tests/unit/sdk/sdk_test_support.h"

namespace braid::sdk::testing {
namespace {

using SocketTest = SdkTest;

TEST_F(SocketTest, SocketOwnsAReservedKernelDescriptor) {
  const int fd = braid_socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(braid_is_braid_fd(fd), 1);
  EXPECT_LT(fd, FD_SETSIZE);
  EXPECT_EQ(::fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  struct stat st;
  ASSERT_EQ(::fstat(fd, &st), 0);  // a real descriptor the kernel knows
  EXPECT_EQ(braid_close(fd), 0);
  EXPECT_EQ(braid_is_braid_fd(fd), 0);
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1);  // closed in the kernel too
}

TEST_F(SocketTest, MebibytesThroughSmallFifosAreByteExact) {
  Pair p = ConnectedPair();
  ASSERT_GE(p.server, 0);
  constexpr size_t kBytes = 4 << 20;  // 1024 times the 4 KiB FIFOs
  std::thread writer([&] { EXPECT_TRUE(SendStream(p.client, 0, kBytes, 7001)); });
  EXPECT_TRUE(RecvStream(p.server, 0, kBytes, 3333));
  writer.join();
  // And the other way.
  std::thread back([&] { EXPECT_TRUE(SendStream(p.server, 5, kBytes / 4, 65536)); });
  EXPECT_TRUE(RecvStream(p.client, 5, kBytes / 4, 100));
  back.join();
  p.Close();
}

TEST_F(SocketTest, NonBlockingCallsSayEagainAndConnectInProgress) {
  uint16_t port = 0;
  const int listener = ListenLoopback(&port);
  ASSERT_GE(listener, 0);
  ASSERT_EQ(braid_fcntl(listener, F_SETFL, O_NONBLOCK), 0);
  EXPECT_EQ(braid_accept(listener, nullptr, nullptr), -1);
  EXPECT_EQ(errno, EAGAIN);

  const int client = braid_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  sockaddr_in a = Loopback4(port);
  EXPECT_EQ(braid_connect(client, reinterpret_cast<sockaddr*>(&a), sizeof(a)), -1);
  EXPECT_EQ(errno, EINPROGRESS);
  pollfd pf{client, POLLOUT, 0};
  ASSERT_EQ(braid_poll(&pf, 1, 2000), 1);
  EXPECT_TRUE(pf.revents & POLLOUT);
  int err = -1;
  socklen_t len = sizeof(err);
  ASSERT_EQ(braid_getsockopt(client, SOL_SOCKET, SO_ERROR, &err, &len), 0);
  EXPECT_EQ(err, 0);

  pollfd lp{listener, POLLIN, 0};
  ASSERT_EQ(braid_poll(&lp, 1, 2000), 1);
  const int server = braid_accept4(listener, nullptr, nullptr, SOCK_NONBLOCK);
  ASSERT_GE(server, 0);
  EXPECT_EQ(braid_fcntl(server, F_GETFL, 0) & O_NONBLOCK, O_NONBLOCK);

  char byte;
  EXPECT_EQ(braid_recv(server, &byte, 1, 0), -1);
  EXPECT_EQ(errno, EAGAIN);
  // Fill the client's TX FIFO and the server's RX FIFO: a non-blocking send stops short.
  std::vector<uint8_t> big(1 << 20, 0x5a);
  size_t sent = 0;
  for (;;) {
    const ssize_t n = braid_send(client, big.data(), big.size(), 0);
    if (n < 0) {
      EXPECT_EQ(errno, EAGAIN);
      break;
    }
    sent += n;
  }
  EXPECT_GT(sent, 0u);
  EXPECT_LT(sent, big.size());
  pollfd sp{server, POLLIN, 0};
  ASSERT_EQ(braid_poll(&sp, 1, 2000), 1);
  int waiting = 0;
  ASSERT_EQ(braid_ioctl(server, FIONREAD, &waiting), 0);
  EXPECT_GT(waiting, 0);
  // MSG_DONTWAIT on a blocking socket.
  const int blocking_client = braid_socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(braid_connect(blocking_client, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  EXPECT_EQ(braid_recv(blocking_client, &byte, 1, MSG_DONTWAIT), -1);
  EXPECT_EQ(errno, EAGAIN);
  for (int fd : {client, server, listener, blocking_client}) braid_close(fd);
}

TEST_F(SocketTest, VectoredCallsAndMessages) {
  Pair p = ConnectedPair();
  ASSERT_GE(p.server, 0);
  char a[] = "hello, ", b[] = "vectored ", c[] = "world";
  iovec out[3] = {{a, 7}, {b, 9}, {c, 5}};
  ASSERT_EQ(braid_writev(p.client, out, 3), 21);
  char x[4], y[17];
  iovec in[2] = {{x, 4}, {y, 17}};
  msghdr m{};
  m.msg_iov = in;
  m.msg_iovlen = 2;
  ASSERT_EQ(braid_recvmsg(p.server, &m, MSG_WAITALL), 21);
  EXPECT_EQ(std::string(x, 4) + std::string(y, 17), "hello, vectored world");

  msghdr s{};
  iovec one{c, 5};
  s.msg_iov = &one;
  s.msg_iovlen = 1;
  ASSERT_EQ(braid_sendmsg(p.server, &s, 0), 5);
  char r[5];
  iovec back{r, 5};
  ASSERT_EQ(braid_readv(p.client, &back, 1), 5);
  EXPECT_EQ(std::string(r, 5), "world");
  p.Close();
}

TEST_F(SocketTest, PeekThenWaitAll) {
  Pair p = ConnectedPair();
  ASSERT_GE(p.server, 0);
  ASSERT_EQ(braid_send(p.client, "abc", 3, 0), 3);
  char buf[8] = {};
  ASSERT_EQ(braid_recv(p.server, buf, sizeof(buf), MSG_PEEK), 3);
  EXPECT_EQ(std::string(buf, 3), "abc");
  ASSERT_EQ(braid_recv(p.server, buf, 2, MSG_PEEK), 2);  // still there
  std::thread late([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    braid_send(p.client, "defgh", 5, 0);
  });
  ASSERT_EQ(braid_recv(p.server, buf, 8, MSG_WAITALL), 8);
  EXPECT_EQ(std::string(buf, 8), "abcdefgh");
  late.join();
  p.Close();
}

TEST_F(SocketTest, ShutdownGivesEndOfStreamAfterTheData) {
  Pair p = ConnectedPair();
  ASSERT_GE(p.server, 0);
  std::thread writer([&] {
    EXPECT_TRUE(SendStream(p.client, 0, 100000, 4096));
    EXPECT_EQ(braid_shutdown(p.client, SHUT_WR), 0);
  });
  EXPECT_TRUE(RecvStream(p.server, 0, 100000, 999));
  writer.join();
  char byte;
  EXPECT_EQ(braid_recv(p.server, &byte, 1, 0), 0);
  EXPECT_EQ(braid_recv(p.server, &byte, 1, 0), 0);
  // Half-closed: the other direction still works.
  ASSERT_EQ(braid_send(p.server, "ok", 2, 0), 2);
  char two[2];
  ASSERT_EQ(braid_recv(p.client, two, 2, MSG_WAITALL), 2);
  // Writing after SHUT_WR: EPIPE, and SIGPIPE unless MSG_NOSIGNAL.
  EXPECT_EQ(braid_send(p.client, "x", 1, MSG_NOSIGNAL), -1);
  EXPECT_EQ(errno, EPIPE);
  static std::atomic<int> sigpipes{0};
  struct sigaction old {};
  struct sigaction count {};
  count.sa_handler = [](int) { sigpipes.fetch_add(1); };
  ::sigaction(SIGPIPE, &count, &old);
  EXPECT_EQ(braid_send(p.client, "x", 1, 0), -1);
  EXPECT_EQ(errno, EPIPE);
  EXPECT_EQ(sigpipes.load(), 1);
  ::sigaction(SIGPIPE, &old, nullptr);
  p.Close();
}

TEST_F(SocketTest, CloseReturnsSlotsForReuse) {
  // The service's region has 64 slots: 300 connections reuse them many times over.
  uint16_t port = 0;
  const int listener = ListenLoopback(&port);
  ASSERT_GE(listener, 0);
  sockaddr_in a = Loopback4(port);
  for (int i = 0; i < 300; ++i) {
    const int c = braid_socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(c, 0) << i;
    ASSERT_EQ(braid_connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0) << i;
    const int s = braid_accept(listener, nullptr, nullptr);
    ASSERT_GE(s, 0) << i;
    ASSERT_EQ(braid_send(c, &i, sizeof(i), 0), static_cast<ssize_t>(sizeof(i)));
    int got = -1;
    ASSERT_EQ(braid_recv(s, &got, sizeof(got), MSG_WAITALL), static_cast<ssize_t>(sizeof(got)));
    EXPECT_EQ(got, i);
    braid_close(c);
    char byte;
    EXPECT_EQ(braid_recv(s, &byte, 1, 0), 0);  // the client's FIN
    braid_close(s);
  }
  braid_close(listener);
}

TEST_F(SocketTest, ConnectWithoutListenerIsRefused) {
  const int c = braid_socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = Loopback4(9);
  EXPECT_EQ(braid_connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a)), -1);
  EXPECT_EQ(errno, ECONNREFUSED);
  char byte;
  EXPECT_EQ(braid_recv(c, &byte, 1, 0), -1);
  EXPECT_EQ(errno, ENOTCONN);
  braid_close(c);
}

TEST_F(SocketTest, OptionsAndAddresses) {
  Pair p = ConnectedPair(IPPROTO_MPTCP);
  ASSERT_GE(p.server, 0);
  int one = 1;
  ASSERT_EQ(braid_setsockopt(p.client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
  int v = 0;
  socklen_t len = sizeof(v);
  ASSERT_EQ(braid_getsockopt(p.client, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
  EXPECT_EQ(v, 1);
  EXPECT_EQ(len, sizeof(int));
  // Longer than one record: TCP_INFO comes in several kOptValue records.
  tcp_info info{};
  len = sizeof(info);
  ASSERT_EQ(braid_getsockopt(p.client, IPPROTO_TCP, TCP_INFO, &info, &len), 0);
  EXPECT_EQ(len, sizeof(info));
  EXPECT_EQ(info.tcpi_state, TCP_ESTABLISHED);
  EXPECT_EQ(info.tcpi_snd_mss, 1448u);
  const char sched[] = "redundant";
  ASSERT_EQ(braid_setsockopt(p.client, SOL_MPTCP, BRAID_MPTCP_SCHEDULER, sched, sizeof(sched)), 0);
  char name[16] = {};
  len = sizeof(name);
  ASSERT_EQ(braid_getsockopt(p.client, SOL_MPTCP, BRAID_MPTCP_SCHEDULER, name, &len), 0);
  EXPECT_STREQ(name, "redundant");
  EXPECT_EQ(braid_setsockopt(p.client, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)), -1);
  EXPECT_EQ(errno, ENOPROTOOPT);
  EXPECT_EQ(braid_setsockopt(p.client, SOL_SOCKET, SO_TYPE, &one, sizeof(one)), -1);
  EXPECT_EQ(errno, ENOPROTOOPT);
  len = sizeof(v);
  ASSERT_EQ(braid_getsockopt(p.client, SOL_SOCKET, SO_TYPE, &v, &len), 0);
  EXPECT_EQ(v, SOCK_STREAM);
  ASSERT_EQ(braid_getsockopt(p.client, SOL_SOCKET, SO_DOMAIN, &v, &len), 0);
  EXPECT_EQ(v, AF_INET);
  ASSERT_EQ(braid_getsockopt(p.client, SOL_SOCKET, SO_PROTOCOL, &v, &len), 0);
  EXPECT_EQ(v, IPPROTO_MPTCP);
  ASSERT_EQ(braid_getsockopt(p.listener, SOL_SOCKET, SO_ACCEPTCONN, &v, &len), 0);
  EXPECT_EQ(v, 1);

  sockaddr_in local{}, peer{}, listen_addr{};
  len = sizeof(local);
  ASSERT_EQ(braid_getsockname(p.client, reinterpret_cast<sockaddr*>(&local), &len), 0);
  EXPECT_EQ(local.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
  EXPECT_NE(local.sin_port, 0);
  len = sizeof(peer);
  ASSERT_EQ(braid_getpeername(p.server, reinterpret_cast<sockaddr*>(&peer), &len), 0);
  EXPECT_EQ(peer.sin_port, local.sin_port);  // the server sees the client's address
  len = sizeof(listen_addr);
  ASSERT_EQ(braid_getsockname(p.listener, reinterpret_cast<sockaddr*>(&listen_addr), &len), 0);
  len = sizeof(peer);
  ASSERT_EQ(braid_getpeername(p.client, reinterpret_cast<sockaddr*>(&peer), &len), 0);
  EXPECT_EQ(peer.sin_port, listen_addr.sin_port);
  EXPECT_EQ(braid_getpeername(p.listener, reinterpret_cast<sockaddr*>(&peer), &len), -1);
  EXPECT_EQ(errno, ENOTCONN);

  int on = 1;
  ASSERT_EQ(braid_ioctl(p.server, FIONBIO, &on), 0);
  EXPECT_EQ(braid_fcntl(p.server, F_GETFL, 0) & O_NONBLOCK, O_NONBLOCK);
  EXPECT_EQ(braid_ioctl(p.server, SIOCATMARK, &on), -1);
  EXPECT_EQ(errno, ENOTTY);
  p.Close();
}

TEST_F(SocketTest, CallsOnAClosedOrUnknownDescriptorFollowTheKernel) {
  const int fd = braid_socket(AF_INET, SOCK_STREAM, 0);
  braid_close(fd);
  char byte;
  EXPECT_EQ(braid_recv(fd, &byte, 1, 0), -1);
  EXPECT_EQ(errno, EBADF);
  // Non-stream sockets are the kernel's.
  const int udp = braid_socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(udp, 0);
  EXPECT_EQ(braid_is_braid_fd(udp), 0);
  braid_close(udp);
}

}  // namespace
}  // namespace braid::sdk::testing
