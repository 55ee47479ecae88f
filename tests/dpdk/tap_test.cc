// net_tap in a network namespace: the one virtual PMD here with checksum offloads and rte_flow.
// - TX TCP checksum offload: a segment whose checksum field holds only the pseudo-header sum
//   (what the net layer leaves for the device) reaches the kernel with a valid checksum, which
//   proves the mbuf's offload flags and header lengths are set as the PMD expects;
// - rte_flow: tap validates our steering rules, but creating them needs the kernel's multiq qdisc
//   and TC flower; the test records which, and checks that a failure comes back as a Status with
//   the PMD's message (the datapath then steers in software).
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <vector>

#include "datapath/io/flow_rules.h"
#include "datapath/io/mempool.h"
#include "datapath/io/port.h"
#include "datapath/io/steering.h"
#include "datapath/io/tx_queue.h"
#include "datapath/wire/bytes.h"
#include "datapath/wire/checksum.h"
#include "tests/dpdk/dpdk_test_env.h"
#include "tests/dpdk/netns.h"
#include "tests/unit/datapath/io/frames.h"

namespace braid::io::testing {
namespace {

TEST(Tap, ChecksumOffloadAndFlowRules) {
  auto veth = VethPair::Create("tap");
  if (!veth.ok()) GTEST_SKIP() << veth.status().message();
  if (access("/dev/net/tun", R_OK | W_OK) != 0) GTEST_SKIP() << "no /dev/net/tun";
  MempoolConfig mc;
  mc.name = UniqueName("braid_tap");
  mc.mbufs = 2047;
  mc.cache_size = 64;
  auto pool = Mempool::Create(mc);
  ASSERT_TRUE(pool.ok()) << pool.status();
  const uint32_t before = pool->available();
  ASSERT_TRUE((*veth)->EnterDp().ok());
  const std::string iface = "bt" + std::to_string(getpid());
  {
    PortConfig config;
    config.spec = *ParsePortSpec(UniqueName("net_tap") + ",iface=" + iface);
    config.rx_queues = config.tx_queues = 2;
    config.rx_desc = config.tx_desc = 256;
    std::array<rte_mempool*, 2> pools = {pool->get(), pool->get()};
    auto port = Port::Open(config, pools);
    ASSERT_TRUE(port.ok()) << port.status();
    Port& p = **port;
    RecordProperty("capabilities", p.capabilities().Summary());
    RecordProperty("offloads", p.offloads().Summary());
    EXPECT_TRUE(p.offloads().tx_tcp_checksum) << p.offloads().Summary();
    EXPECT_TRUE(p.offloads().rx_tcp_checksum);
    EXPECT_TRUE(p.offloads().rss);

    // rte_flow.
    {
      FlowRules rules(p.id());
      const absl::Status probe = rules.Probe(1);
      RecordProperty("rte_flow_probe", probe.ok() ? "ok" : std::string(probe.message()));
      auto ranges = rules.SteerPortRange({40960, 49151}, 1);
      auto flow = rules.SteerFlow({V4("192.0.2.10"), 80, V4("203.0.113.5"), 20001}, 1);
      if (probe.ok()) {
        EXPECT_TRUE(ranges.ok()) << ranges.status();
        EXPECT_TRUE(flow.ok()) << flow.status();
        EXPECT_EQ(rules.size(), 3u);
        EXPECT_TRUE(rules.RemoveAll().ok());
      } else {
        // Validation passed (the probe failed at creation) or failed: either way a Status that
        // names the call, and no rule left behind.
        EXPECT_NE(std::string(probe.message()).find("rte_flow_"), std::string::npos) << probe;
        EXPECT_FALSE(ranges.ok());
        EXPECT_FALSE(flow.ok());
        EXPECT_EQ(rules.size(), 0u);
        EXPECT_EQ(ChooseSteeringMode(2, false, 2), SteeringMode::kSoftware);
      }
    }

    // TX checksum offload, seen by the kernel on the tap netdev.
    auto fd = (*veth)->OpenDpSocket(iface);
    ASSERT_TRUE(fd.ok()) << fd.status();
    std::vector<uint8_t> tcp =
        Ipv4TcpFrame(V4("192.0.2.1"), 40000, V4("192.0.2.2"), 5001, {'t', 'a', 'p'});
    wire::InternetChecksum phdr;
    wire::AddIpv4PseudoHeader(phdr, V4("192.0.2.1"), V4("192.0.2.2"), 6, 23);
    wire::StoreBe16(&tcp[14 + 20 + 16], phdr.Sum());
    net::TxOffload offload;
    offload.tcp_checksum = true;
    offload.ipv4 = true;
    offload.l2_len = 14;
    offload.l3_len = 20;
    offload.l4_len = 20;
    TxQueue txq({p.id(), 0, pool->get(), p.offloads(), 32});
    ASSERT_TRUE(txq.Copy(tcp, offload));
    EXPECT_EQ(txq.counters()[IoCounter::kTxChecksumOffloaded], 1u);
    EXPECT_EQ(txq.Flush(), 1);
    bool valid = false;
    bool seen = false;
    std::vector<uint8_t> buf(4096);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (!seen && std::chrono::steady_clock::now() < deadline) {
      pollfd pfd{*fd, POLLIN, 0};
      if (poll(&pfd, 1, 50) <= 0) continue;
      const ssize_t n = recv(*fd, buf.data(), buf.size(), 0);
      if (n < 14 + 20 + 20 || wire::LoadBe16(&buf[14 + 20]) != 40000) continue;
      seen = true;
      valid = wire::Ipv4UpperLayerChecksum(V4("192.0.2.1"), V4("192.0.2.2"), 6,
                                           std::span<const uint8_t>(buf.data() + 34, 23)) == 0;
    }
    close(*fd);
    EXPECT_TRUE(seen) << "the kernel did not see the segment on " << iface;
    EXPECT_TRUE(valid) << "the device did not complete the TCP checksum";
    ASSERT_TRUE(p.Close().ok());
  }
  (*veth)->LeaveDp();
  EXPECT_EQ(pool->available(), before) << "an mbuf leaked";
}

}  // namespace
}  // namespace braid::io::testing

int main(int argc, char** argv) { return braid::io::testing::RunDpdkTests(argc, argv); }
