#include "datapath/io/offloads.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "datapath/wire/bytes.h"
#include "datapath/wire/checksum.h"
#include "tests/unit/datapath/io/frames.h"

namespace braid::io {
namespace {

using ::testing::HasSubstr;

// What the PMDs on this testbed report (rte_eth_dev_info_get, DPDK 22.11).
DeviceCapabilities AfPacket() {
  DeviceCapabilities c;
  c.driver = "net_af_packet";
  c.max_rx_queues = c.max_tx_queues = 1;
  c.min_mtu = 46;
  c.max_mtu = 65535;
  c.rx_vlan_strip = true;
  c.tx_multi_segs = true;
  return c;
}

DeviceCapabilities AfXdp() {
  DeviceCapabilities c;
  c.driver = "net_af_xdp";
  c.max_rx_queues = c.max_tx_queues = 1;
  c.min_mtu = 68;
  c.max_mtu = 3542;
  return c;
}

DeviceCapabilities Tap() {
  DeviceCapabilities c;
  c.driver = "net_tap";
  c.max_rx_queues = c.max_tx_queues = 16;
  c.min_mtu = 46;
  c.max_mtu = 65535;
  c.rx_ipv4_checksum = c.rx_tcp_checksum = c.rx_scatter = true;
  c.tx_ipv4_checksum = c.tx_tcp_checksum = c.tx_tcp_tso = c.tx_multi_segs = true;
  c.rss_flow_types = 0x3afbc;
  return c;
}

// A typical SR-IOV VF (iavf-like).
DeviceCapabilities Vf() {
  DeviceCapabilities c = Tap();
  c.driver = "net_iavf";
  c.min_mtu = 68;
  c.max_mtu = 9710;
  c.rx_desc_min = 64;
  c.rx_desc_max = 4096;
  c.rx_desc_align = 32;
  c.tx_desc_min = 64;
  c.tx_desc_max = 4096;
  c.tx_desc_align = 32;
  c.rx_rss_hash = c.tx_mbuf_fast_free = true;
  c.reta_size = 64;
  return c;
}

TEST(PlanPort, AfPacketEverythingInSoftware) {
  auto plan = PlanPort(AfPacket(), PortRequest{});
  ASSERT_TRUE(plan.ok()) << plan.status();
  const OffloadsInForce& o = plan->offloads;
  EXPECT_FALSE(o.rx_ipv4_checksum || o.rx_tcp_checksum || o.tx_tcp_checksum || o.tso || o.rss);
  EXPECT_TRUE(o.software_rx_checksum());
  EXPECT_TRUE(o.software_tx_checksum());
  EXPECT_TRUE(o.software_segmentation());
  EXPECT_TRUE(o.tx_multi_segs);
  EXPECT_FALSE(o.rx_vlan_strip) << "not requested";
  EXPECT_EQ(plan->max_frame, 1518u);
}

TEST(PlanPort, TapAndVfGetTheirChecksumOffloads) {
  PortRequest r;
  r.rx_queues = r.tx_queues = 4;
  for (const DeviceCapabilities& caps : {Tap(), Vf()}) {
    auto plan = PlanPort(caps, r);
    ASSERT_TRUE(plan.ok()) << plan.status();
    const OffloadsInForce& o = plan->offloads;
    EXPECT_TRUE(o.rx_ipv4_checksum && o.rx_tcp_checksum && o.tx_tcp_checksum && o.tso && o.rss)
        << caps.driver << ": " << o.Summary();
    EXPECT_FALSE(o.software_rx_checksum());
    EXPECT_FALSE(o.software_tx_checksum());
    EXPECT_FALSE(o.mbuf_fast_free) << "not requested";
  }
}

TEST(PlanPort, WhatIsNotRequestedIsNotEnabled) {
  PortRequest r;
  r.offloads.rx_checksum = r.offloads.tx_checksum = false;
  r.offloads.tx_multi_segs = false;
  r.offloads.mbuf_fast_free = true;
  auto plan = PlanPort(Vf(), r);
  ASSERT_TRUE(plan.ok());
  EXPECT_FALSE(plan->offloads.rx_tcp_checksum);
  EXPECT_FALSE(plan->offloads.tx_tcp_checksum);
  EXPECT_FALSE(plan->offloads.tso) << "TSO needs the checksum offload";
  EXPECT_TRUE(plan->offloads.mbuf_fast_free);
}

TEST(PlanPort, RssOnlyWithSeveralQueuesOnADeviceThatHasIt) {
  PortRequest r;
  auto plan = PlanPort(Tap(), r);
  ASSERT_TRUE(plan.ok());
  EXPECT_FALSE(plan->offloads.rss) << "one queue";
  DeviceCapabilities no_rss = Tap();
  no_rss.rss_flow_types = 0;
  r.rx_queues = r.tx_queues = 2;
  plan = PlanPort(no_rss, r);
  ASSERT_TRUE(plan.ok());
  EXPECT_FALSE(plan->offloads.rss);
  EXPECT_THAT(plan->notes, ::testing::Contains(HasSubstr("no RSS")));
}

TEST(PlanPort, TooManyQueuesSaysHowToGetMore) {
  PortRequest r;
  r.rx_queues = r.tx_queues = 2;
  auto plan = PlanPort(AfPacket(), r);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(plan.status().message()), HasSubstr("qpairs=N"));
  plan = PlanPort(AfXdp(), r);
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(std::string(plan.status().message()), HasSubstr("queue_count=N"));
  r.rx_queues = 0;
  EXPECT_FALSE(PlanPort(Tap(), r).ok());
}

TEST(PlanPort, MtuOutsideTheDeviceRange) {
  PortRequest r;
  r.mtu = 9000;
  auto plan = PlanPort(AfXdp(), r);
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(std::string(plan.status().message()), HasSubstr("68..3542"));
  r.mtu = 60;
  EXPECT_FALSE(PlanPort(AfXdp(), r).ok());
}

TEST(PlanPort, JumboFramesNeedScatterOrBigBuffers) {
  PortRequest r;
  r.mtu = 9000;
  r.rx_buffer_size = 2048;
  auto plan = PlanPort(Vf(), r);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->offloads.rx_scatter);
  plan = PlanPort(AfPacket(), r);
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(std::string(plan.status().message()), HasSubstr("cannot scatter"));
  r.rx_buffer_size = 9100;
  plan = PlanPort(AfPacket(), r);
  ASSERT_TRUE(plan.ok());
  EXPECT_FALSE(plan->offloads.rx_scatter);
}

TEST(PlanPort, DescriptorsClampedAndAligned) {
  PortRequest r;
  r.rx_desc = 1000;
  r.tx_desc = 8192;
  auto plan = PlanPort(Vf(), r);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->rx_desc, 1024);
  EXPECT_EQ(plan->tx_desc, 4096);
  EXPECT_EQ(ClampDescriptors(10, 64, 4096, 32), 64);
  EXPECT_EQ(ClampDescriptors(4090, 0, 4090, 32), 4064);
  EXPECT_EQ(ClampDescriptors(512, 0, 0, 0), 512) << "no limits given";
}

TEST(Summaries, NameWhatIsInForce) {
  auto plan = PlanPort(AfPacket(), PortRequest{});
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->offloads.Summary(),
            "rx[] tx[multi_segs]; software: [rx_checksum tx_checksum segmentation]");
  EXPECT_THAT(Tap().Summary(), HasSubstr("tcp_cksum"));
  EXPECT_THAT(AfXdp().Summary(), HasSubstr("no-rss"));
}

// The pseudo-header sum in the checksum field (the offload contract), finished in software,
// equals the checksum computed from scratch; padding after the IP packet is not summed.
TEST(FinishTcpChecksum, MatchesAFullComputation) {
  using testing::V4;
  using testing::V6;
  for (bool v6 : {false, true}) {
    std::vector<uint8_t> f =
        v6 ? testing::Ipv6TcpFrame(V6("2001:db8::1"), 40000, V6("2001:db8::2"), 80, {1, 2, 3})
           : testing::Ipv4TcpFrame(V4("192.0.2.1"), 40000, V4("192.0.2.2"), 80, {1, 2, 3});
    const size_t l3 = v6 ? 40 : 20;
    const std::span<const uint8_t> segment(f.data() + 14 + l3, 23);
    const uint16_t expected =
        v6 ? wire::Ipv6UpperLayerChecksum(V6("2001:db8::1"), V6("2001:db8::2"), 6, segment)
           : wire::Ipv4UpperLayerChecksum(V4("192.0.2.1"), V4("192.0.2.2"), 6, segment);
    wire::InternetChecksum phdr;
    if (v6) {
      wire::AddIpv6PseudoHeader(phdr, V6("2001:db8::1"), V6("2001:db8::2"), 6, 23);
    } else {
      wire::AddIpv4PseudoHeader(phdr, V4("192.0.2.1"), V4("192.0.2.2"), 6, 23);
    }
    wire::StoreBe16(&f[14 + l3 + 16], phdr.Sum());
    f.resize(f.size() + 7, 0xa5);  // trailing bytes beyond the IP packet must not count
    ASSERT_TRUE(FinishTcpChecksum(f, 14, l3));
    EXPECT_EQ(wire::LoadBe16(&f[14 + l3 + 16]), expected) << (v6 ? "ipv6" : "ipv4");
  }
}

TEST(FinishTcpChecksum, RefusesShortFrames) {
  std::vector<uint8_t> f(14 + 20 + 10, 0);
  f[14] = 0x45;
  EXPECT_FALSE(FinishTcpChecksum(f, 14, 20));
  std::vector<uint8_t> g =
      testing::Ipv4TcpFrame(testing::V4("192.0.2.1"), 1, testing::V4("192.0.2.2"), 2);
  wire::StoreBe16(&g[16], 2000);  // IP total length beyond the frame
  EXPECT_FALSE(FinishTcpChecksum(g, 14, 20));
}

}  // namespace
}  // namespace braid::io
