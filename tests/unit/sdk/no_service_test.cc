// No Braid service at all: braid_socket makes kernel sockets and every braid_* call is the
// kernel's, byte-exact over loopback.
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/uio.h>

#include <thread>

#include "tests/unit/sdk/sdk_test_support.h"

namespace braid::sdk::testing {
namespace {

class NoServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = TestPath("nobody");
    braid_config c{path_.c_str(), "sdk-test", BRAID_FALLBACK_KERNEL, 200, 50};
    ASSERT_EQ(braid_init(&c), -1);
    EXPECT_EQ(errno, ECONNREFUSED);
    EXPECT_EQ(braid_attached(), 0);
  }
  void TearDown() override { braid_detach(); }
  std::string path_;
};

TEST_F(NoServiceTest, TheWholeApiWorksOnKernelSockets) {
  Pair p = ConnectedPair();
  ASSERT_GE(p.server, 0);
  for (int fd : {p.listener, p.client, p.server}) EXPECT_EQ(braid_is_braid_fd(fd), 0);

  std::thread w([&] { EXPECT_TRUE(SendStream(p.client, 0, 2 << 20, 50000)); });
  EXPECT_TRUE(RecvStream(p.server, 0, 2 << 20, 4096));
  w.join();

  char a[] = "ab", b[] = "cde";
  iovec out[2] = {{a, 2}, {b, 3}};
  ASSERT_EQ(braid_writev(p.client, out, 2), 5);
  char in[5];
  iovec iv{in, 5};
  msghdr m{};
  m.msg_iov = &iv;
  m.msg_iovlen = 1;
  ASSERT_EQ(braid_recvmsg(p.server, &m, MSG_WAITALL), 5);
  EXPECT_EQ(std::string(in, 5), "abcde");
  msghdr s{};
  s.msg_iov = out;
  s.msg_iovlen = 2;
  ASSERT_EQ(braid_sendmsg(p.server, &s, 0), 5);
  ASSERT_EQ(braid_recv(p.client, in, 5, MSG_PEEK | MSG_WAITALL), 5);
  iovec r{in, 5};
  ASSERT_EQ(braid_readv(p.client, &r, 1), 5);
  EXPECT_EQ(std::string(in, 5), "abcde");

  int one = 1, v = 0;
  socklen_t len = sizeof(v);
  ASSERT_EQ(braid_setsockopt(p.client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
  ASSERT_EQ(braid_getsockopt(p.client, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
  EXPECT_NE(v, 0);
  sockaddr_in local{}, peer{};
  len = sizeof(local);
  ASSERT_EQ(braid_getsockname(p.client, reinterpret_cast<sockaddr*>(&local), &len), 0);
  len = sizeof(peer);
  ASSERT_EQ(braid_getpeername(p.server, reinterpret_cast<sockaddr*>(&peer), &len), 0);
  EXPECT_EQ(local.sin_port, peer.sin_port);
  ASSERT_EQ(braid_fcntl(p.server, F_SETFL, O_NONBLOCK), 0);
  EXPECT_EQ(braid_recv(p.server, in, 1, 0), -1);
  EXPECT_EQ(errno, EAGAIN);
  int waiting = -1;
  ASSERT_EQ(braid_ioctl(p.server, FIONREAD, &waiting), 0);
  EXPECT_EQ(waiting, 0);

  const int ep = braid_epoll_create1(0);
  epoll_event e{};
  e.events = EPOLLIN;
  e.data.fd = p.server;
  ASSERT_EQ(braid_epoll_ctl(ep, EPOLL_CTL_ADD, p.server, &e), 0);
  ASSERT_EQ(braid_send(p.client, "z", 1, 0), 1);
  epoll_event got;
  ASSERT_EQ(braid_epoll_wait(ep, &got, 1, 2000), 1);
  EXPECT_EQ(got.data.fd, p.server);
  pollfd pf{p.server, POLLIN, 0};
  EXPECT_EQ(braid_poll(&pf, 1, 0), 1);
  braid_close(ep);

  ASSERT_EQ(braid_shutdown(p.client, SHUT_WR), 0);
  ASSERT_EQ(braid_recv(p.server, in, 1, 0), 1);
  pollfd eof{p.server, POLLIN, 0};
  ASSERT_EQ(braid_poll(&eof, 1, 2000), 1);
  EXPECT_EQ(braid_recv(p.server, in, 1, 0), 0);
  // The zero-copy calls are Braid's alone.
  braid_iovec2 span;
  EXPECT_EQ(braid_send_reserve(p.server, 10, &span), -1);
  EXPECT_EQ(errno, ENOTSOCK);
  p.Close();
}

}  // namespace
}  // namespace braid::sdk::testing
