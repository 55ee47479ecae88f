#include "tests/dpdk/kernel_exchange.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <set>
#include <vector>

#include "datapath/io/mbuf.h"
#include "datapath/io/mempool.h"
#include "datapath/io/port.h"
#include "datapath/io/rx_queue.h"
#include "datapath/io/tx_queue.h"
#include "datapath/wire/bytes.h"
#include "datapath/wire/checksum.h"
#include "tests/dpdk/dpdk_test_env.h"
#include "tests/unit/datapath/io/frames.h"

namespace braid::io::testing {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kWait = std::chrono::seconds(3);

// A TCP segment from the DPDK side with its checksum left to the device (pseudo-header sum in
// the field), as the net layer emits it on an interface with tx_tcp_checksum_offload.
std::vector<uint8_t> TcpFrameForOffload(const wire::MacAddress& dst, const wire::MacAddress& src,
                                        net::TxOffload* offload) {
  std::vector<uint8_t> f =
      Ipv4TcpFrame(V4("192.0.2.1"), 40000, V4("192.0.2.2"), 5001, {'b', 'r', 'a', 'i', 'd'});
  std::copy(dst.bytes.begin(), dst.bytes.end(), f.begin());
  std::copy(src.bytes.begin(), src.bytes.end(), f.begin() + 6);
  wire::InternetChecksum phdr;
  wire::AddIpv4PseudoHeader(phdr, V4("192.0.2.1"), V4("192.0.2.2"), 6, 25);
  wire::StoreBe16(&f[14 + 20 + 16], phdr.Sum());
  offload->tcp_checksum = true;
  offload->ipv4 = true;
  offload->l2_len = 14;
  offload->l3_len = 20;
  offload->l4_len = 20;
  return f;
}

bool IsOurTcpFrame(std::span<const uint8_t> f) {
  return f.size() >= 14 + 20 + 20 && wire::LoadBe16(&f[12]) == 0x0800 && f[14 + 9] == 6 &&
         wire::LoadBe16(&f[14 + 20]) == 40000 && wire::LoadBe16(&f[14 + 22]) == 5001;
}

}  // namespace

ExchangeResult ExchangeWithKernel(VethPair& veth, const std::string& spec_text) {
  ExchangeResult r;
  MempoolConfig mc;
  mc.name = UniqueName("braid_x");
  mc.mbufs = 4095;
  mc.cache_size = 64;
  mc.socket = LcoreSocket(0);
  auto pool = Mempool::Create(mc);
  if (!pool.ok()) {
    r.open_status = pool.status();
    return r;
  }
  const uint32_t before = pool->available();
  auto peer_fd = veth.OpenPeerSocket();
  if (!peer_fd.ok()) {
    r.open_status = peer_fd.status();
    return r;
  }
  const int fd = *peer_fd;
  if (absl::Status st = veth.EnterDp(); !st.ok()) {
    r.open_status = st;
    close(fd);
    return r;
  }
  {
    PortConfig config;
    config.spec = *ParsePortSpec(spec_text);
    config.rx_desc = 512;
    config.tx_desc = 512;
    std::array<rte_mempool*, 1> pools = {pool->get()};
    auto port = Port::Open(config, pools);
    if (!port.ok()) {
      r.open_status = port.status();
    } else {
      Port& p = **port;
      r.capabilities = p.capabilities().Summary();
      r.offloads = p.offloads().Summary();
      auto link = p.WaitForLink(std::chrono::seconds(2));
      r.link = link.ok() ? link->ToString() : std::string(link.status().message());

      // DPDK -> kernel: half built in place, half through the FrameSink, plus a TCP segment.
      TxQueue txq({p.id(), 0, pool->get(), p.offloads(), 32});
      const wire::MacAddress dst = veth.peer_mac();
      const wire::MacAddress src = p.mac();
      for (uint32_t seq = 0; seq < kExchangeFrames; ++seq) {
        const std::vector<uint8_t> bytes = TestFrame(dst.bytes.data(), src.bytes.data(), seq, 128);
        if (seq % 2 == 0) {
          TxFrame f = txq.AllocFrame(bytes.size());
          if (!f) continue;
          std::copy(bytes.begin(), bytes.end(), f.data.begin());
          txq.Send(f);
        } else {
          static_cast<net::FrameSink&>(txq).TransmitFrame(p.id(), bytes, {});
        }
      }
      net::TxOffload offload;
      const std::vector<uint8_t> tcp = TcpFrameForOffload(dst, src, &offload);
      txq.Copy(tcp, offload);
      r.sent_by_dpdk = txq.Flush() - 1;

      std::set<int64_t> seen;
      std::vector<uint8_t> buf(4096);
      for (auto deadline = Clock::now() + kWait;
           Clock::now() < deadline &&
           (static_cast<int>(seen.size()) < kExchangeFrames || !r.tcp_checksum_valid);) {
        pollfd pfd{fd, POLLIN, 0};
        if (poll(&pfd, 1, 50) <= 0) continue;
        const ssize_t n = recv(fd, buf.data(), buf.size(), 0);
        if (n <= 0) continue;
        const std::span<const uint8_t> frame(buf.data(), static_cast<size_t>(n));
        const int64_t seq = TestFrameSeq(frame);
        if (seq >= 0 && seq < kExchangeFrames) seen.insert(seq);
        if (IsOurTcpFrame(frame)) {
          r.tcp_checksum_valid = wire::Ipv4UpperLayerChecksum(V4("192.0.2.1"), V4("192.0.2.2"), 6,
                                                              frame.subspan(14 + 20, 25)) == 0;
        }
      }
      r.seen_by_kernel = static_cast<int>(seen.size());

      // kernel -> DPDK.
      for (uint32_t seq = 100; seq < 100 + kExchangeFrames; ++seq) {
        const std::vector<uint8_t> bytes =
            TestFrame(p.mac().bytes.data(), veth.peer_mac().bytes.data(), seq, 128);
        if (send(fd, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size())) {
          ++r.sent_by_kernel;
        }
      }
      RxQueue rxq = p.rx_queue(0);
      std::set<int64_t> got;
      std::array<rte_mbuf*, 32> burst;
      std::vector<uint8_t> scratch(9216);
      for (auto deadline = Clock::now() + kWait;
           Clock::now() < deadline && static_cast<int>(got.size()) < kExchangeFrames;) {
        const uint16_t n = rxq.Burst(burst);
        for (uint16_t i = 0; i < n; ++i) {
          const int64_t seq = TestFrameSeq(ContiguousFrame(burst[i], scratch, rxq.counters()));
          if (seq >= 100 && seq < 100 + kExchangeFrames) got.insert(seq);
        }
        rte_pktmbuf_free_bulk(burst.data(), n);
        if (n == 0) usleep(1000);
      }
      r.received_by_dpdk = static_cast<int>(got.size());
      auto stats = p.Stats();
      if (stats.ok()) {
        r.port_tx_packets = stats->tx_packets;
        r.port_rx_packets = stats->rx_packets;
      }
      if (absl::Status st = p.Close(); !st.ok()) r.open_status = st;
    }
  }
  veth.LeaveDp();
  close(fd);
  r.mbufs_all_back = pool->available() == before;
  r.mbufs_missing = static_cast<int64_t>(before) - pool->available();
  return r;
}

}  // namespace braid::io::testing
