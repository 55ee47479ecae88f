// DPDK tests on in-process virtual devices (net_ring, net_null): EAL, port set-up, bursts, the TX
// batcher's flush and drop accounting, chained frames, software steering, rte_flow on a PMD that
// has none, statistics, and mbuf accounting (every pool is full again at the end of each test).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rte_mbuf.h>

#include <array>
#include <memory>
#include <vector>

#include "datapath/io/eal.h"
#include "datapath/io/flow_rules.h"
#include "datapath/io/handoff.h"
#include "datapath/io/mbuf.h"
#include "datapath/io/mempool.h"
#include "datapath/io/port.h"
#include "datapath/io/rx_queue.h"
#include "datapath/io/steering.h"
#include "datapath/io/tx_queue.h"
#include "datapath/wire/bytes.h"
#include "datapath/wire/checksum.h"
#include "tests/dpdk/dpdk_test_env.h"
#include "tests/unit/datapath/io/frames.h"

namespace braid::io::testing {
namespace {

using ::testing::HasSubstr;

constexpr uint8_t kDst[6] = {0x02, 0, 0, 0, 0, 0x0d};
constexpr uint8_t kSrc[6] = {0x02, 0, 0, 0, 0, 0x05};

Mempool MakePool(uint32_t mbufs = 2047, uint16_t data_room = kDefaultDataRoom) {
  MempoolConfig c;
  c.name = UniqueName("braid_t");
  c.mbufs = mbufs;
  c.cache_size = 64;
  c.data_room = data_room;
  c.socket = LcoreSocket(0);
  auto pool = Mempool::Create(c);
  EXPECT_TRUE(pool.ok()) << pool.status();
  return pool.ok() ? *std::move(pool) : Mempool();
}

std::unique_ptr<Port> OpenPort(const std::string& spec_text, Mempool& pool, uint16_t queues = 1) {
  auto spec = ParsePortSpec(spec_text);
  EXPECT_TRUE(spec.ok()) << spec.status();
  PortConfig config;
  config.spec = *spec;
  config.rx_queues = queues;
  config.tx_queues = queues;
  config.rx_desc = 256;
  config.tx_desc = 256;
  std::vector<rte_mempool*> pools(queues, pool.get());
  auto port = Port::Open(config, pools);
  EXPECT_TRUE(port.ok()) << port.status();
  return port.ok() ? *std::move(port) : nullptr;
}

// Polls until `want` frames arrived or ~1 s passed.
std::vector<rte_mbuf*> Receive(RxQueue& rxq, size_t want) {
  std::vector<rte_mbuf*> got;
  std::array<rte_mbuf*, 64> burst;
  for (int spins = 0; spins < 100000 && got.size() < want; ++spins) {
    const uint16_t n = rxq.Burst(burst);
    got.insert(got.end(), burst.begin(), burst.begin() + n);
  }
  return got;
}

void FreeAll(std::vector<rte_mbuf*>& frames) {
  for (rte_mbuf* m : frames) rte_pktmbuf_free(m);
  frames.clear();
}

TEST(Eal, InitIsIdempotentAndRefusesAnotherConfig) {
  ASSERT_TRUE(Eal::initialized());
  EXPECT_TRUE(Eal::Init(TestEalConfig()).ok());
  EalConfig other = TestEalConfig();
  other.memory_mb = 128;
  const absl::Status st = Eal::Init(other);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(st.message()), HasSubstr("already initialized"));
  EXPECT_THAT(Eal::args(), ::testing::Contains("--no-huge"));
  EXPECT_FALSE(Eal::file_prefix().empty());
}

TEST(RingPort, ConfigureSendReceiveAndCount) {
  Mempool pool = MakePool();
  const uint32_t before = pool.available();
  {
    auto port = OpenPort(UniqueName("net_ring"), pool);
    ASSERT_NE(port, nullptr);
    EXPECT_EQ(port->capabilities().driver, "net_ring");
    EXPECT_TRUE(port->Link().up) << port->Link().ToString();
    EXPECT_FALSE(port->mtu_settable()) << "net_ring refuses rte_eth_dev_set_mtu";
    RecordProperty("capabilities", port->capabilities().Summary());
    RecordProperty("offloads", port->offloads().Summary());

    TxQueue txq({port->id(), 0, pool.get(), port->offloads(), 32});
    RxQueue rxq = port->rx_queue(0);
    // Half built in place, half copied through the net layer's FrameSink.
    for (uint32_t seq = 0; seq < 5; ++seq) {
      const std::vector<uint8_t> bytes = TestFrame(kDst, kSrc, seq, 100);
      TxFrame f = txq.AllocFrame(bytes.size());
      ASSERT_TRUE(f);
      std::copy(bytes.begin(), bytes.end(), f.data.begin());
      txq.Send(f);
    }
    net::FrameSink& sink = txq;
    for (uint32_t seq = 5; seq < 10; ++seq) {
      sink.TransmitFrame(port->id(), TestFrame(kDst, kSrc, seq, 100), {});
    }
    EXPECT_EQ(txq.pending(), 10u);
    EXPECT_EQ(txq.Flush(), 10);
    EXPECT_EQ(txq.counters()[IoCounter::kTxFrames], 10u);
    EXPECT_EQ(txq.counters()[IoCounter::kTxBytes], 1000u);
    EXPECT_EQ(txq.counters().total_dropped(), 0u);

    std::vector<rte_mbuf*> got = Receive(rxq, 10);
    ASSERT_EQ(got.size(), 10u);
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(TestFrameSeq(SegmentData(got[i])), static_cast<int64_t>(i));
      EXPECT_EQ(Headroom(got[i]), RTE_PKTMBUF_HEADROOM);
      EXPECT_FALSE(IsChained(got[i]));
    }
    EXPECT_EQ(rxq.counters()[IoCounter::kRxFrames], 10u);
    FreeAll(got);

    auto stats = port->Stats();
    ASSERT_TRUE(stats.ok()) << stats.status();
    EXPECT_EQ(stats->tx_packets, 10u);
    EXPECT_EQ(stats->rx_packets, 10u);
    ASSERT_EQ(stats->rx_queues.size(), 1u);
    EXPECT_EQ(stats->rx_queues[0].packets, 10u);
    EXPECT_EQ(stats->tx_queues[0].packets, 10u);

    auto xstats = port->Xstats();
    ASSERT_TRUE(xstats.ok()) << xstats.status();
    EXPECT_FALSE(xstats->empty());
    auto good = port->XstatByName("rx_good_packets");
    ASSERT_TRUE(good.ok()) << good.status();
    EXPECT_EQ(*good, 10u);
    EXPECT_EQ(port->XstatByName("no_such_counter").status().code(), absl::StatusCode::kNotFound);
    ASSERT_TRUE(port->ResetStats().ok());
    EXPECT_EQ(port->Stats()->tx_packets, 0u);
    ASSERT_TRUE(port->Close().ok());
  }
  EXPECT_EQ(pool.available(), before) << "an mbuf leaked";
}

// The device ring fills: what it does not take is freed and counted, never kept or leaked.
TEST(RingPort, TxBatcherCountsRingFullDropsAndLeaksNothing) {
  Mempool pool = MakePool(4095);
  const uint32_t before = pool.available();
  {
    auto port = OpenPort(UniqueName("net_ring"), pool);
    ASSERT_NE(port, nullptr);
    TxQueue txq({port->id(), 0, pool.get(), port->offloads(), 32});
    constexpr uint32_t kFrames = 1500;  // more than net_ring's 1024-slot ring
    for (uint32_t seq = 0; seq < kFrames; ++seq) {
      ASSERT_TRUE(txq.Copy(TestFrame(kDst, kSrc, seq), {}));
    }
    txq.Flush();
    const IoCounters& c = txq.counters();
    const uint64_t dropped = c.dropped(IoDrop::kTxRingFull);
    EXPECT_GT(dropped, 0u);
    EXPECT_EQ(c[IoCounter::kTxFrames] + dropped, kFrames);
    EXPECT_GT(c[IoCounter::kTxEarlyFlushes], 0u) << "a full batch flushes before the loop ends";
    // Exactly what the device took comes back, in order.
    RxQueue rxq = port->rx_queue(0);
    std::vector<rte_mbuf*> got = Receive(rxq, c[IoCounter::kTxFrames]);
    EXPECT_EQ(got.size(), c[IoCounter::kTxFrames]);
    for (size_t i = 1; i < got.size(); ++i) {
      EXPECT_LT(TestFrameSeq(SegmentData(got[i - 1])), TestFrameSeq(SegmentData(got[i])));
    }
    FreeAll(got);
    // A batcher destroyed with frames pending frees them.
    {
      TxQueue doomed({port->id(), 0, pool.get(), port->offloads(), 32});
      for (uint32_t seq = 0; seq < 5; ++seq) doomed.Copy(TestFrame(kDst, kSrc, seq), {});
      EXPECT_EQ(doomed.pending(), 5u);
    }
    ASSERT_TRUE(port->Close().ok());
  }
  EXPECT_EQ(pool.available(), before) << "an mbuf leaked";
}

TEST(RingPort, PoolExhaustionAndOversizeFramesAreCountedDrops) {
  Mempool pool = MakePool(255);
  auto port = OpenPort(UniqueName("net_ring"), pool);
  ASSERT_NE(port, nullptr);
  const uint32_t before = pool.available();
  OffloadsInForce no_chains = port->offloads();
  no_chains.tx_multi_segs = false;
  TxQueue txq({port->id(), 0, pool.get(), no_chains, 64});
  EXPECT_FALSE(txq.AllocFrame(5000)) << "longer than one mbuf";
  EXPECT_FALSE(txq.Copy(std::vector<uint8_t>(5000, 1), {})) << "no chains on this queue";
  EXPECT_EQ(txq.counters().dropped(IoDrop::kTxTooLong), 2u);
  // Hold every mbuf: the next allocation fails and is counted.
  std::vector<TxFrame> held;
  while (TxFrame f = txq.AllocFrame(60)) held.push_back(f);
  EXPECT_EQ(txq.counters().dropped(IoDrop::kTxNoMbuf), 1u);
  EXPECT_FALSE(txq.Copy(TestFrame(kDst, kSrc, 0), {}));
  EXPECT_EQ(txq.counters().dropped(IoDrop::kTxNoMbuf), 2u);
  for (TxFrame& f : held) txq.Discard(f);
  EXPECT_EQ(pool.available(), before);
}

// A frame longer than one mbuf goes out chained; net_ring hands the same mbufs to RX, where the
// frame is linearized for the net layer. Checksum offload asked of a port without it is done in
// software, and the receiver sees a valid checksum.
TEST(RingPort, ChainedFramesAndSoftwareChecksumFallback) {
  Mempool pool = MakePool();
  const uint32_t before = pool.available();
  {
    auto port = OpenPort(UniqueName("net_ring"), pool);
    ASSERT_NE(port, nullptr);
    ASSERT_TRUE(port->offloads().tx_multi_segs) << port->offloads().Summary();
    ASSERT_FALSE(port->offloads().tx_tcp_checksum);
    TxQueue txq({port->id(), 0, pool.get(), port->offloads(), 32});

    const std::vector<uint8_t> big = TestFrame(kDst, kSrc, 7, 5000);
    EXPECT_TRUE(txq.Copy(big, {}));
    EXPECT_EQ(txq.counters()[IoCounter::kTxChained], 1u);

    // A TCP segment whose checksum field holds the pseudo-header sum, as the net layer leaves it
    // for the device.
    std::vector<uint8_t> tcp =
        Ipv4TcpFrame(V4("192.0.2.1"), 40000, V4("192.0.2.2"), 80, {'h', 'e', 'l', 'l', 'o'});
    wire::InternetChecksum phdr;
    wire::AddIpv4PseudoHeader(phdr, V4("192.0.2.1"), V4("192.0.2.2"), 6, 25);
    wire::StoreBe16(&tcp[14 + 20 + 16], phdr.Sum());
    net::TxOffload offload;
    offload.tcp_checksum = true;
    offload.ipv4 = true;
    offload.l2_len = 14;
    offload.l3_len = 20;
    offload.l4_len = 20;
    txq.TransmitFrame(port->id(), tcp, offload);
    EXPECT_EQ(txq.counters()[IoCounter::kTxChecksumSoftware], 1u);
    txq.TransmitFrame(static_cast<uint16_t>(port->id() + 1), tcp, offload);
    EXPECT_EQ(txq.counters().dropped(IoDrop::kTxWrongPort), 1u);
    EXPECT_EQ(txq.Flush(), 2);

    RxQueue rxq = port->rx_queue(0);
    std::vector<rte_mbuf*> got = Receive(rxq, 2);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_TRUE(IsChained(got[0]));
    EXPECT_EQ(SegmentCount(got[0]), 3);
    EXPECT_EQ(FrameLength(got[0]), 5000u);
    std::vector<uint8_t> scratch(9216);
    std::span<const uint8_t> whole = ContiguousFrame(got[0], scratch, rxq.counters());
    EXPECT_EQ(std::vector<uint8_t>(whole.begin(), whole.end()), big);
    EXPECT_EQ(rxq.counters()[IoCounter::kRxChained], 1u);
    std::vector<uint8_t> small(1000);
    EXPECT_TRUE(ContiguousFrame(got[0], small, rxq.counters()).empty());
    EXPECT_EQ(rxq.counters().dropped(IoDrop::kRxChainedTooLong), 1u);

    std::span<const uint8_t> seg = ContiguousFrame(got[1], scratch, rxq.counters());
    ASSERT_EQ(seg.size(), tcp.size());
    EXPECT_EQ(
        wire::Ipv4UpperLayerChecksum(V4("192.0.2.1"), V4("192.0.2.2"), 6, seg.subspan(14 + 20)), 0)
        << "the receiver must find a valid TCP checksum";
    const net::RxOffload rx = RxOffloadOf(got[1]);
    EXPECT_FALSE(rx.l4_checksum_good) << "net_ring verifies nothing";
    FreeAll(got);
    ASSERT_TRUE(port->Close().ok());
  }
  EXPECT_EQ(pool.available(), before) << "an mbuf leaked";
}

TEST(NullPort, ReceivesGeneratedFramesAndCountsThem) {
  Mempool pool = MakePool();
  const uint32_t before = pool.available();
  {
    auto port = OpenPort(UniqueName("net_null") + ",size=64", pool);
    ASSERT_NE(port, nullptr);
    EXPECT_EQ(port->capabilities().driver, "net_null");
    RecordProperty("capabilities", port->capabilities().Summary());
    RxQueue rxq = port->rx_queue(0);
    std::array<rte_mbuf*, 32> burst;
    const uint16_t n = rxq.Burst(burst);
    EXPECT_EQ(n, 32);
    for (uint16_t i = 0; i < n; ++i) EXPECT_EQ(FrameLength(burst[i]), 64u);
    rte_pktmbuf_free_bulk(burst.data(), n);
    TxQueue txq({port->id(), 0, pool.get(), port->offloads(), 32});
    for (uint32_t seq = 0; seq < 20; ++seq) txq.Copy(TestFrame(kDst, kSrc, seq), {});
    EXPECT_EQ(txq.Flush(), 20);
    auto stats = port->Stats();
    ASSERT_TRUE(stats.ok());
    EXPECT_EQ(stats->rx_packets, 32u);
    EXPECT_EQ(stats->tx_packets, 20u);
    EXPECT_EQ(stats->rx_bytes, 0u) << "net_null counts packets, not bytes";
    ASSERT_TRUE(port->Close().ok());
  }
  EXPECT_EQ(pool.available(), before) << "an mbuf leaked";
}

// Worker 0 polls the port; worker 1's replies and every worker's ARP go through the rings.
TEST(RingPort, SoftwareSteeringHandsFramesToTheirOwners) {
  Mempool pool = MakePool();
  const uint32_t before = pool.available();
  {
    auto port = OpenPort(UniqueName("net_ring"), pool);
    ASSERT_NE(port, nullptr);
    FlowRules rules(port->id());
    const absl::Status probe = rules.Probe(0);
    EXPECT_EQ(probe.code(), absl::StatusCode::kUnimplemented) << probe;
    EXPECT_THAT(std::string(probe.message()), HasSubstr("rte_flow_validate"));
    RecordProperty("rte_flow", std::string(probe.message()));
    EXPECT_EQ(ChooseSteeringMode(2, probe.ok(), 1), SteeringMode::kSoftware);

    SteeringConfig sc;
    sc.workers = 2;
    sc.client_ranges = SplitPortRange({32768, 60999}, 2);
    sc.hash_key = {11, 22};
    auto table = SteeringTable::Create(sc);
    ASSERT_TRUE(table.ok());
    auto ring0 = HandoffRing::Create(UniqueName("braid_h0_"), 256, LcoreSocket(0));
    auto ring1 = HandoffRing::Create(UniqueName("braid_h1_"), 8, LcoreSocket(0));
    ASSERT_TRUE(ring0.ok() && ring1.ok()) << ring0.status() << ring1.status();
    std::array<HandoffRing*, 2> rings = {&*ring0, &*ring1};
    SoftwareSteering stage(&*table, 0, rings);

    TxQueue txq({port->id(), 0, pool.get(), port->offloads(), 64});
    const uint16_t w0_port = sc.client_ranges[0].first;
    const uint16_t w1_port = sc.client_ranges[1].first;
    for (int i = 0; i < 3; ++i) {
      txq.Copy(Ipv4TcpFrame(V4("198.51.100.7"), 443, V4("192.0.2.10"), w0_port), {});
      txq.Copy(Ipv4TcpFrame(V4("198.51.100.7"), 443, V4("192.0.2.10"), w1_port), {});
    }
    std::vector<uint8_t> arp;
    PutEthernet(arp, 0x0806);
    arp.resize(60, 0);
    txq.Copy(arp, {});
    ASSERT_EQ(txq.Flush(), 7);

    RxQueue rxq = port->rx_queue(0);
    std::vector<rte_mbuf*> burst = Receive(rxq, 7);
    ASSERT_EQ(burst.size(), 7u);
    std::vector<rte_mbuf*> mine(burst.size());
    const uint16_t kept = stage.Dispatch(burst, mine);
    EXPECT_EQ(kept, 4) << "three replies to worker 0 and the ARP frame";
    EXPECT_EQ(ring1->count(), 4u) << "three replies to worker 1 and the ARP frame";
    EXPECT_EQ(stage.counters()[IoCounter::kHandoffBroadcast], 1u);
    EXPECT_EQ(stage.counters()[IoCounter::kHandoffSent], 4u);
    EXPECT_EQ(rte_mbuf_refcnt_read(mine[3]), 2) << "the ARP frame is shared by both workers";

    std::array<rte_mbuf*, 16> inbox;
    IoCounters w1_counters;
    const unsigned n1 = ReceiveHandoff(*ring1, inbox, w1_counters);
    ASSERT_EQ(n1, 4u);
    for (unsigned i = 0; i + 1 < n1; ++i) {
      EXPECT_EQ(ClassifyFrame(SegmentData(inbox[i])).flow.local_port, w1_port);
    }
    EXPECT_EQ(w1_counters[IoCounter::kHandoffReceived], 4u);
    rte_pktmbuf_free_bulk(inbox.data(), n1);
    rte_pktmbuf_free_bulk(mine.data(), kept);

    // Worker 1's ring holds 7 frames: 10 more frames for it overflow it, and are freed.
    for (int i = 0; i < 10; ++i) {
      txq.Copy(Ipv4TcpFrame(V4("198.51.100.7"), 443, V4("192.0.2.10"), w1_port), {});
    }
    txq.Flush();
    burst = Receive(rxq, 10);
    ASSERT_EQ(burst.size(), 10u);
    EXPECT_EQ(stage.Dispatch(burst, mine), 0);
    EXPECT_EQ(ring1->count(), ring1->capacity());
    EXPECT_EQ(stage.counters().dropped(IoDrop::kHandoffRingFull), 10u - ring1->capacity());
    // The ring's destructor frees what is left in it.
    *ring1 = HandoffRing();
    ASSERT_TRUE(port->Close().ok());
  }
  EXPECT_EQ(pool.available(), before) << "an mbuf leaked";
}

// A worker with two ports: its net layer's FrameSink sends each frame on the right port.
TEST(RingPort, WorkerTxSendsEachFrameOnItsPort) {
  Mempool pool = MakePool();
  const uint32_t before = pool.available();
  {
    auto a = OpenPort(UniqueName("net_ring"), pool);
    auto b = OpenPort(UniqueName("net_ring"), pool);
    ASSERT_TRUE(a != nullptr && b != nullptr);
    TxQueue qa({a->id(), 0, pool.get(), a->offloads(), 32});
    TxQueue qb({b->id(), 0, pool.get(), b->offloads(), 32});
    WorkerTx tx;
    tx.Attach(&qa);
    tx.Attach(&qb);
    net::FrameSink& sink = tx;
    sink.TransmitFrame(a->id(), TestFrame(kDst, kSrc, 1), {});
    sink.TransmitFrame(b->id(), TestFrame(kDst, kSrc, 2), {});
    sink.TransmitFrame(b->id(), TestFrame(kDst, kSrc, 3), {});
    sink.TransmitFrame(static_cast<uint16_t>(WorkerTx::kMaxPorts + 1), TestFrame(kDst, kSrc, 4),
                       {});
    EXPECT_EQ(tx.counters().dropped(IoDrop::kTxWrongPort), 1u);
    EXPECT_EQ(tx.Flush(), 3u);
    RxQueue ra = a->rx_queue(0);
    RxQueue rb = b->rx_queue(0);
    std::vector<rte_mbuf*> got_a = Receive(ra, 1);
    std::vector<rte_mbuf*> got_b = Receive(rb, 2);
    ASSERT_EQ(got_a.size(), 1u);
    ASSERT_EQ(got_b.size(), 2u);
    EXPECT_EQ(TestFrameSeq(SegmentData(got_a[0])), 1);
    EXPECT_EQ(TestFrameSeq(SegmentData(got_b[1])), 3);
    FreeAll(got_a);
    FreeAll(got_b);
  }
  EXPECT_EQ(pool.available(), before) << "an mbuf leaked";
}

TEST(Port, OpenErrorsNameThePortAndQuoteThePmd) {
  Mempool pool = MakePool(511);
  std::array<rte_mempool*, 1> pools = {pool.get()};
  PortConfig c;
  c.spec = *ParsePortSpec("net_nosuchdriver0");
  auto port = Port::Open(c, pools);
  ASSERT_FALSE(port.ok());
  EXPECT_THAT(std::string(port.status().message()), HasSubstr("net_nosuchdriver0"));
  EXPECT_THAT(std::string(port.status().message()), HasSubstr("rte_dev_probe"));

  // af_xdp on an interface that does not exist: the PMD says why in its log.
  c.spec = *ParsePortSpec(UniqueName("net_af_xdp") + ",iface=braid-nonexist");
  port = Port::Open(c, pools);
  ASSERT_FALSE(port.ok());
  EXPECT_THAT(std::string(port.status().message()), HasSubstr("DPDK log"));
  RecordProperty("af_xdp_error", std::string(port.status().message()));

  c.spec = *ParsePortSpec(UniqueName("net_ring"));
  c.rx_queues = 2;
  EXPECT_EQ(Port::Open(c, pools).status().code(), absl::StatusCode::kInvalidArgument)
      << "two queues, one pool";
  c.rx_queues = c.tx_queues = 64;
  std::vector<rte_mempool*> many(64, pool.get());
  port = Port::Open(c, many);
  ASSERT_FALSE(port.ok());
  EXPECT_THAT(std::string(port.status().message()), HasSubstr("queues"));
}

}  // namespace
}  // namespace braid::io::testing

int main(int argc, char** argv) { return braid::io::testing::RunDpdkTests(argc, argv); }
