#include <gtest/gtest.h>

#include "datapath/io/mempool.h"

namespace braid::io {
namespace {

TEST(MempoolName, UniquePerRoleWorkerAndPort) {
  EXPECT_EQ(*MempoolName("rx", 0, 1), "braid_rx_w0_p1");
  EXPECT_NE(*MempoolName("rx", 1, 1), *MempoolName("rx", 0, 1));
  EXPECT_NE(*MempoolName("rx", 1, 0), *MempoolName("rx", 1, 1));
  auto long_name = MempoolName("a_very_long_role", 255, 31);
  ASSERT_FALSE(long_name.ok());
  EXPECT_EQ(long_name.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(MbufsFor, CoversEveryPlaceAnMbufCanBeAndRoundsToPowerOfTwoMinusOne) {
  MempoolSizing s;  // 1 RX queue x 1024, 1 TX queue x 1024, batch 64, cache 256, extra 1024
  const uint32_t n = MbufsFor(s);
  EXPECT_GE(n, 1024u + 1024u + 64u + 512u + 1024u);
  EXPECT_EQ((n + 1) & n, 0u) << n << " is not 2^k - 1";
  EXPECT_EQ(n, 4095u);
  s.rx_queues = 2;
  s.handoff_ring = 4096;
  EXPECT_EQ(MbufsFor(s), 16383u);
}

}  // namespace
}  // namespace braid::io
