// net_af_xdp on a veth pair between two network namespaces, as af_packet_test. AF_XDP needs the
// BPF filesystem and locked memory for its UMEM; the test mounts bpffs when missing and raises
// RLIMIT_MEMLOCK as far as it may. When the kernel still refuses, the test is skipped with the
// PMD's own error (the DPDK log lines the Status quotes), never passed.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/statfs.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "tests/dpdk/dpdk_test_env.h"
#include "tests/dpdk/kernel_exchange.h"
#include "tests/dpdk/netns.h"

namespace braid::io::testing {
namespace {

constexpr long kBpfFsMagic = 0xcafe4a11;  // BPF_FS_MAGIC

// Returns what could not be done, for the log (empty: all done).
std::string PrepareAfXdp() {
  std::string notes;
  struct statfs fs {};
  if (statfs("/sys/fs/bpf", &fs) != 0 || static_cast<long>(fs.f_type) != kBpfFsMagic) {
    if (mount("bpf", "/sys/fs/bpf", "bpf", 0, nullptr) != 0) {
      notes += std::string("mount bpffs: ") + std::strerror(errno) + "; ";
    }
  }
  rlimit lim{};
  getrlimit(RLIMIT_MEMLOCK, &lim);
  rlimit want{RLIM_INFINITY, RLIM_INFINITY};
  if (setrlimit(RLIMIT_MEMLOCK, &want) != 0) {
    // Without CAP_SYS_RESOURCE only up to the hard limit; CAP_IPC_LOCK (root) bypasses it for
    // the UMEM anyway, and kernels >= 5.11 charge BPF maps to the memory cgroup instead.
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_MEMLOCK, &lim);
    notes += "RLIMIT_MEMLOCK stays at " + std::to_string(lim.rlim_max / 1024) + " KiB (" +
             std::strerror(errno) + ")";
  }
  return notes;
}

TEST(AfXdp, FramesBothWaysWithTheKernel) {
  auto veth = VethPair::Create("axd");
  if (!veth.ok()) GTEST_SKIP() << veth.status().message();
  const std::string prep = PrepareAfXdp();
  if (!prep.empty()) RecordProperty("preparation", prep);
  const ExchangeResult r =
      ExchangeWithKernel(**veth, UniqueName("net_af_xdp") + ",iface=" + (*veth)->dp_if());
  if (!r.open_status.ok()) {
    GTEST_SKIP() << "net_af_xdp cannot run here: " << r.open_status.message()
                 << (prep.empty() ? "" : " [" + prep + "]");
  }
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
  // net_af_xdp (DPDK 22.11) does not give back at close the mbufs it lent the kernel: its fill
  // ring (ETH_AF_XDP_DFLT_NUM_DESCS = 2048) and the zero-copy TX frames not yet reaped from the
  // completion ring. Anything beyond that would be ours.
  RecordProperty("mbufs_kept_by_pmd", std::to_string(r.mbufs_missing));
  EXPECT_LE(r.mbufs_missing, 2048 + r.sent_by_dpdk + 1) << "mbufs leaked beyond the PMD's rings";
}

}  // namespace
}  // namespace braid::io::testing

int main(int argc, char** argv) { return braid::io::testing::RunDpdkTests(argc, argv); }
