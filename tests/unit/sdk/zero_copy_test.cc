// Zero copy on the FIFO spans (braid_send_reserve/commit, braid_recv_lease/release) and the C++
// wrapper (braid.hpp).
#include <thread>

#include "braid/braid.hpp"
#include "tests/unit/sdk/sdk_test_support.h"

namespace braid::sdk::testing {
namespace {

using ZeroCopyTest = SdkTest;

TEST_F(ZeroCopyTest, ReserveCommitLeaseReleaseRoundTrip) {
  Pair p = ConnectedPair();
  ASSERT_GE(p.server, 0);
  constexpr uint64_t kBytes = 1 << 20;
  std::thread writer([&] {
    uint64_t at = 0;
    while (at < kBytes) {
      braid_iovec2 v;
      const ssize_t n = braid_send_reserve(p.client, std::min<uint64_t>(kBytes - at, 3000), &v);
      ASSERT_GT(n, 0);
      size_t filled = 0;
      for (int i = 0; i < v.count; ++i) {
        FillStream(at + filled, static_cast<uint8_t*>(v.piece[i].iov_base), v.piece[i].iov_len);
        filled += v.piece[i].iov_len;
      }
      ASSERT_EQ(filled, static_cast<size_t>(n));
      // A second reservation before the commit is refused.
      braid_iovec2 again;
      EXPECT_EQ(braid_send_reserve(p.client, 1, &again), -1);
      EXPECT_EQ(errno, EBUSY);
      ASSERT_EQ(braid_send_commit(p.client, n), 0);
      at += n;
    }
    braid_shutdown(p.client, SHUT_WR);
  });
  uint64_t at = 0;
  bool wrapped = false;
  for (;;) {
    braid_iovec2 v;
    const ssize_t n = braid_recv_lease(p.server, 5000, &v);
    ASSERT_GE(n, 0);
    if (n == 0) break;
    wrapped = wrapped || v.count == 2;
    // Release part of the lease only: the rest comes again.
    const size_t keep = v.piece[0].iov_len > 1 ? v.piece[0].iov_len / 2 : v.piece[0].iov_len;
    ASSERT_TRUE(CheckStream(at, static_cast<uint8_t*>(v.piece[0].iov_base), keep));
    ASSERT_EQ(braid_recv_release(p.server, keep), 0);
    at += keep;
  }
  writer.join();
  EXPECT_EQ(at, kBytes);
  EXPECT_TRUE(wrapped);  // the FIFO's wrap showed as two pieces at least once
  EXPECT_EQ(braid_recv_release(p.server, 1), -1);  // no lease open
  EXPECT_EQ(errno, EINVAL);
  p.Close();
}

TEST_F(ZeroCopyTest, CxxWrapperBasics) {
  sockaddr_in any = Loopback4(0);
  auto listener = braid::Socket::ListenOn(reinterpret_cast<sockaddr*>(&any), sizeof(any));
  ASSERT_TRUE(listener.ok()) << listener.error();
  auto local = listener->LocalAddress();
  ASSERT_TRUE(local.ok());
  auto client =
      braid::Socket::ConnectTo(reinterpret_cast<sockaddr*>(&local.value()), sizeof(sockaddr_in));
  ASSERT_TRUE(client.ok()) << client.error();
  auto server = listener->Accept();
  ASSERT_TRUE(server.ok());
  EXPECT_EQ(braid_is_braid_fd(server->fd()), 1);

  const uint8_t hello[] = {'h', 'i', '!'};
  auto sent = client->Send(hello);
  ASSERT_TRUE(sent.ok());
  EXPECT_EQ(*sent, 3u);
  uint8_t buf[3];
  auto got = server->Recv(buf, MSG_WAITALL);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, 3u);
  EXPECT_EQ(std::memcmp(buf, hello, 3), 0);

  auto space = server->ReserveSend(2);
  ASSERT_TRUE(space.ok());
  ASSERT_EQ(space->size(), 2u);
  space->first[0] = 'o';
  (space->first.size() > 1 ? space->first[1] : space->second[0]) = 'k';
  ASSERT_TRUE(server->CommitSend(2).ok());
  auto lease = client->LeaseRecv(2);
  ASSERT_TRUE(lease.ok());
  ASSERT_GE(lease->size(), 1u);
  EXPECT_EQ(lease->first[0], 'o');
  ASSERT_TRUE(client->ReleaseRecv(lease->size()).ok());

  ASSERT_TRUE(client->Shutdown().ok());
  auto eof = server->Recv(buf);
  ASSERT_TRUE(eof.ok());
  EXPECT_EQ(*eof, 0u);
  const int fd = client->fd();
  ASSERT_TRUE(client->Close().ok());
  EXPECT_EQ(braid_is_braid_fd(fd), 0);
  auto closed = client->Close();
  EXPECT_FALSE(closed.ok());
  EXPECT_EQ(closed.error(), EBADF);
  // Errors come back as errno values.
  sockaddr_in nobody = Loopback4(9);
  auto refused = braid::Socket::ConnectTo(reinterpret_cast<sockaddr*>(&nobody), sizeof(nobody));
  EXPECT_EQ(refused.error(), ECONNREFUSED);
}

}  // namespace
}  // namespace braid::sdk::testing
