// net_af_packet on a veth pair between two network namespaces: frames DPDK sends reach the
// kernel peer (a raw socket there sees them intact), frames the peer sends reach DPDK, the port's
// statistics count both, and no mbuf leaks. Skipped (77) without root or network namespaces.
#include <gtest/gtest.h>

#include "tests/dpdk/dpdk_test_env.h"
#include "tests/dpdk/kernel_exchange.h"
#include "tests/dpdk/netns.h"

namespace braid::io::testing {
namespace {

TEST(AfPacket, FramesBothWaysWithTheKernel) {
  auto veth = VethPair::Create("afp");
  if (!veth.ok()) GTEST_SKIP() << veth.status().message();
  const ExchangeResult r =
      ExchangeWithKernel(**veth, UniqueName("net_af_packet") + ",iface=" + (*veth)->dp_if());
  ASSERT_TRUE(r.open_status.ok()) << r.open_status;
  RecordProperty("capabilities", r.capabilities);
  RecordProperty("offloads", r.offloads);
  RecordProperty("link", r.link);
  EXPECT_EQ(r.sent_by_dpdk, kExchangeFrames);
  EXPECT_EQ(r.seen_by_kernel, kExchangeFrames) << "DPDK -> kernel";
  EXPECT_TRUE(r.tcp_checksum_valid) << "software fallback for the TCP checksum";
  EXPECT_EQ(r.sent_by_kernel, kExchangeFrames);
  EXPECT_EQ(r.received_by_dpdk, kExchangeFrames) << "kernel -> DPDK";
  EXPECT_GE(r.port_tx_packets, static_cast<uint64_t>(kExchangeFrames + 1));
  EXPECT_GE(r.port_rx_packets, static_cast<uint64_t>(kExchangeFrames));
  EXPECT_TRUE(r.mbufs_all_back) << "an mbuf leaked";
  EXPECT_NE(r.capabilities.find("net_af_packet"), std::string::npos) << r.capabilities;
}

}  // namespace
}  // namespace braid::io::testing

int main(int argc, char** argv) { return braid::io::testing::RunDpdkTests(argc, argv); }
