#include "datapath/io/eal_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace braid::io {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

EalConfig TestConfig() {
  EalConfig c;
  c.program = "braid-test";
  c.lcores = {0};
  c.file_prefix = "braid-test-1";
  return c;
}

TEST(EalArgs, DefaultsAreNoHugeInMemoryNoPci) {
  auto args = EalArgs(TestConfig());
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_THAT(*args, ElementsAre("braid-test", "-l", "0", "--no-huge", "-m", "512", "--no-shconf",
                                 "--file-prefix=braid-test-1", "--no-pci", "--no-telemetry"));
}

// DPDK 22.11 refuses --no-huge with --in-memory ("--legacy-mem is not compatible with
// --in-memory"): without hugepages in_memory must become --no-shconf.
TEST(EalArgs, InMemoryWithoutHugepagesIsNoShconf) {
  EalConfig c = TestConfig();
  auto args = EalArgs(c);
  ASSERT_TRUE(args.ok());
  EXPECT_THAT(*args, ::testing::Contains("--no-shconf"));
  EXPECT_THAT(*args, ::testing::Not(::testing::Contains("--in-memory")));
  c.in_memory = false;
  args = EalArgs(c);
  ASSERT_TRUE(args.ok());
  EXPECT_THAT(*args, ::testing::Not(::testing::Contains("--no-shconf")));
}

TEST(EalArgs, HugepagesWithSocketMemoryAndInMemory) {
  EalConfig c = TestConfig();
  c.hugepages = true;
  c.socket_memory_mb = {1024, 512};
  c.huge_dir = "/dev/hugepages";
  c.lcores = {1, 2, 3};
  c.main_lcore = 2;
  auto args = EalArgs(c);
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_THAT(*args,
              ElementsAre("braid-test", "-l", "1,2,3", "--main-lcore=2", "--socket-mem=1024,512",
                          "--huge-dir=/dev/hugepages", "--in-memory", "--file-prefix=braid-test-1",
                          "--no-pci", "--no-telemetry"));
}

TEST(EalArgs, PciAllowListVdevsAndLogLevels) {
  EalConfig c = TestConfig();
  c.pci = true;
  c.pci_allow = {"0000:03:02.1", "0000:03:02.2"};
  c.vdevs = {"net_af_xdp0,iface=veth0", "net_ring0"};
  c.log_level = 7;
  c.component_log_levels = {"pmd.net.af_xdp:8"};
  c.telemetry = true;
  auto args = EalArgs(c);
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_THAT(*args,
              ElementsAre("braid-test", "-l", "0", "--no-huge", "-m", "512", "--no-shconf",
                          "--file-prefix=braid-test-1", "-a", "0000:03:02.1", "-a", "0000:03:02.2",
                          "--vdev=net_af_xdp0,iface=veth0", "--vdev=net_ring0", "--log-level=7",
                          "--log-level=pmd.net.af_xdp:8"));
}

TEST(EalArgs, PciTrueWithoutAllowListProbesEverything) {
  EalConfig c = TestConfig();
  c.pci = true;
  auto args = EalArgs(c);
  ASSERT_TRUE(args.ok());
  EXPECT_THAT(*args, ::testing::Not(::testing::Contains("--no-pci")));
  EXPECT_THAT(*args, ::testing::Not(::testing::Contains("-a")));
}

TEST(EalArgs, ContradictionsAreInvalidArgument) {
  auto expect_invalid = [](const EalConfig& c, const char* what) {
    auto args = EalArgs(c);
    ASSERT_FALSE(args.ok()) << what;
    EXPECT_EQ(args.status().code(), absl::StatusCode::kInvalidArgument) << what;
    EXPECT_THAT(std::string(args.status().message()), HasSubstr("EAL config")) << what;
  };
  EalConfig c = TestConfig();
  c.pci_allow = {"0000:03:02.1"};
  expect_invalid(c, "allow list with pci off");
  c = TestConfig();
  c.socket_memory_mb = {256};
  expect_invalid(c, "socket memory without hugepages");
  c = TestConfig();
  c.huge_dir = "/dev/hugepages";
  expect_invalid(c, "huge_dir without hugepages");
  c = TestConfig();
  c.memory_mb = 0;
  expect_invalid(c, "no memory");
  c = TestConfig();
  c.main_lcore = 3;
  expect_invalid(c, "main lcore outside the set");
  c = TestConfig();
  c.log_level = 9;
  expect_invalid(c, "log level");
  c = TestConfig();
  c.component_log_levels = {"pmd.net"};
  expect_invalid(c, "component level without ':'");
  c = TestConfig();
  c.vdevs = {""};
  expect_invalid(c, "empty vdev");
  c = TestConfig();
  c.file_prefix = "";
  expect_invalid(c, "empty prefix");
  c = TestConfig();
  c.file_prefix = "a/b";
  expect_invalid(c, "prefix with a slash");
}

TEST(FilePrefix, UniquePerProcessAndCall) {
  EXPECT_EQ(FilePrefixFor("braid", 4242, 3), "braid-4242-3");
  std::set<std::string> seen;
  for (int i = 0; i < 10; ++i) seen.insert(UniqueFilePrefix("braid"));
  EXPECT_EQ(seen.size(), 10u);
}

}  // namespace
}  // namespace braid::io
