#include "sriov/discovery.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/sriov/fake_sysfs.h"

namespace braid::sriov {
namespace {

using testing::FakeSysfsTree;
using ::testing::HasSubstr;
using testing::PfSpec;
using ::testing::SizeIs;

PciAddress Pci(std::string_view text) { return *PciAddress::Parse(text); }

PfSpec IntelPf(uint32_t num_vfs) {
  PfSpec spec;
  spec.num_vfs = num_vfs;
  return spec;
}

class DiscoveryTest : public ::testing::Test {
 protected:
  // DiscoverPf's error for the default PF, which the test has broken somehow.
  absl::Status BrokenPf() const {
    const absl::StatusOr<PhysicalFunction> pf = DiscoverPf(root_, "enp3s0f0");
    EXPECT_FALSE(pf.ok());
    return pf.status();
  }
  std::string PfDir() const { return FakeSysfsTree::DeviceDir("0000:03:00.0"); }
  std::string VfDir(uint32_t index) const {
    return FakeSysfsTree::DeviceDir(FakeSysfsTree::VfPci("0000:03:00.0", index));
  }

  FakeSysfsTree tree_;
  SysfsRoot root_{tree_.root()};
};

TEST_F(DiscoveryTest, ReadsAPfAndItsVfs) {
  tree_.AddPf(IntelPf(3));
  tree_.UnbindDriver(FakeSysfsTree::VfPci("0000:03:00.0", 1));
  tree_.RemoveVfNetdev(FakeSysfsTree::VfPci("0000:03:00.0", 1));
  tree_.WriteFile(VfDir(2) + "/driver_override", "vfio-pci\n");

  const absl::StatusOr<PhysicalFunction> pf = DiscoverPf(root_, "enp3s0f0");
  ASSERT_TRUE(pf.ok()) << pf.status();
  EXPECT_EQ(pf->netdev, "enp3s0f0");
  EXPECT_EQ(pf->pci, Pci("0000:03:00.0"));
  EXPECT_EQ(pf->driver, "i40e");
  EXPECT_EQ(pf->vendor_id, 0x8086);
  EXPECT_EQ(pf->device_id, 0x1572);
  EXPECT_EQ(pf->numa_node, 0u);
  EXPECT_EQ(pf->speed_mbps, 10000u);
  EXPECT_EQ(pf->operstate, OperState::kUp);
  EXPECT_EQ(pf->total_vfs, 8u);
  EXPECT_EQ(pf->num_vfs, 3u);
  ASSERT_THAT(pf->vfs, SizeIs(3));

  const VirtualFunction& vf0 = pf->vfs[0];
  EXPECT_EQ(vf0.index, 0u);
  EXPECT_EQ(vf0.pci, Pci("0000:03:10.0"));
  EXPECT_EQ(vf0.driver, "iavf");
  EXPECT_EQ(vf0.netdev, "enp3s0f0v0");
  EXPECT_EQ(vf0.iommu_group, 100u);
  EXPECT_FALSE(vf0.driver_override);

  const VirtualFunction& vf1 = pf->vfs[1];
  EXPECT_EQ(vf1.pci, Pci("0000:03:10.1"));
  EXPECT_FALSE(vf1.driver);
  EXPECT_FALSE(vf1.netdev);

  EXPECT_EQ(pf->vfs[2].index, 2u);
  EXPECT_EQ(pf->vfs[2].driver_override, "vfio-pci");
}

TEST_F(DiscoveryTest, ManyVfsComeInIndexOrder) {
  // virtfn10 sorts before virtfn2 as a name; the VF number decides.
  PfSpec spec = IntelPf(12);
  spec.total_vfs = 64;
  tree_.AddPf(spec);
  const absl::StatusOr<PhysicalFunction> pf = DiscoverPf(root_, "enp3s0f0");
  ASSERT_TRUE(pf.ok()) << pf.status();
  ASSERT_THAT(pf->vfs, SizeIs(12));
  for (uint32_t i = 0; i < 12; ++i) {
    EXPECT_EQ(pf->vfs[i].index, i);
    EXPECT_EQ(pf->vfs[i].pci.ToString(), FakeSysfsTree::VfPci("0000:03:00.0", i));
  }
}

TEST_F(DiscoveryTest, UnknownNumaNodeAndSpeed) {
  PfSpec spec = IntelPf(0);
  spec.pci.numa_node = "-1";
  spec.speed = "-1";
  spec.operstate = "lowerlayerdown";
  tree_.AddPf(spec);
  const absl::StatusOr<PhysicalFunction> pf = DiscoverPf(root_, "enp3s0f0");
  ASSERT_TRUE(pf.ok()) << pf.status();
  EXPECT_FALSE(pf->numa_node);
  EXPECT_FALSE(pf->speed_mbps);
  EXPECT_EQ(pf->operstate, OperState::kLowerLayerDown);
  EXPECT_TRUE(pf->vfs.empty());
}

TEST_F(DiscoveryTest, NoNumaFileMeansNoAffinity) {
  PfSpec spec = IntelPf(0);
  spec.pci.numa_node = "";
  tree_.AddPf(spec);
  const absl::StatusOr<PhysicalFunction> pf = DiscoverPf(root_, "enp3s0f0");
  ASSERT_TRUE(pf.ok()) << pf.status();
  EXPECT_FALSE(pf->numa_node);
}

TEST_F(DiscoveryTest, AnUnreadableSpeedIsUnknown) {
  // The kernel answers EINVAL to reading speed while the link is down; a directory in its place
  // fails the read the same way (EISDIR).
  tree_.AddPf(IntelPf(0));
  const std::string speed = "sys/class/net/enp3s0f0/speed";
  tree_.Remove(speed);
  tree_.MakeDir(speed);
  const absl::StatusOr<PhysicalFunction> pf = DiscoverPf(root_, "enp3s0f0");
  ASSERT_TRUE(pf.ok()) << pf.status();
  EXPECT_FALSE(pf->speed_mbps);
  tree_.Remove(speed);
  ASSERT_TRUE(DiscoverPf(root_, "enp3s0f0").ok());
}

TEST_F(DiscoveryTest, DiscoverFindsEveryPfAndSkipsWhatIsNot) {
  tree_.AddPf(IntelPf(2));
  PfSpec mellanox;
  mellanox.ifname = "ens1f0np0";
  mellanox.pci = {"0000:81:00.0", 0x15b3, 0x1017, "1", "mlx5_core", 7};
  mellanox.speed = "25000";
  mellanox.total_vfs = 16;
  mellanox.num_vfs = 1;
  mellanox.vf_driver = "mlx5_core";
  tree_.AddPf(mellanox);
  tree_.AddVirtualNetdev("lo");
  tree_.AddVirtualNetdev("veth0");
  // A NIC without SR-IOV and a non-PCI device (virtio's device link names "virtio2").
  tree_.AddPciFunction({"0000:00:19.0", 0x8086, 0x15b8, "0", "e1000e", std::nullopt});
  tree_.AddNetdev("eno1", "0000:00:19.0", "1000", "up");
  tree_.MakeDir("sys/devices/pci0000:00/0000:00:03.0/virtio2/net/eth0");
  tree_.Symlink("sys/devices/pci0000:00/0000:00:03.0/virtio2/net/eth0/device", "../../../virtio2");
  tree_.Symlink("sys/class/net/eth0", "../../devices/pci0000:00/0000:00:03.0/virtio2/net/eth0");
  // A switchdev representor of the Mellanox PF's VF 0: its device is the PF.
  tree_.AddNetdev("eth_rep0", "0000:81:00.0", "-1", "up");
  tree_.WriteFile(FakeSysfsTree::DeviceDir("0000:81:00.0") + "/net/eth_rep0/phys_port_name",
                  "pf0vf0\n");

  const absl::StatusOr<Inventory> inventory = Discover(root_);
  ASSERT_TRUE(inventory.ok()) << inventory.status();
  EXPECT_TRUE(inventory->problems.empty()) << inventory->problems.front();
  ASSERT_THAT(inventory->pfs, SizeIs(2));
  EXPECT_EQ(inventory->pfs[0].netdev, "enp3s0f0");
  EXPECT_THAT(inventory->pfs[0].vfs, SizeIs(2));
  EXPECT_EQ(inventory->pfs[1].netdev, "ens1f0np0");
  EXPECT_EQ(inventory->pfs[1].numa_node, 1u);
  EXPECT_EQ(inventory->pfs[1].speed_mbps, 25000u);
  EXPECT_EQ(inventory->pfs[1].vendor_id, 0x15b3);
  ASSERT_THAT(inventory->pfs[1].vfs, SizeIs(1));
  EXPECT_EQ(inventory->pfs[1].vfs[0].driver, "mlx5_core");
  EXPECT_EQ(inventory->pfs[1].vfs[0].iommu_group, 100u);

  // Asked by name, each non-PF says why it is not one.
  const auto why = [&](std::string_view ifname) {
    const absl::StatusOr<PhysicalFunction> pf = DiscoverPf(root_, ifname);
    EXPECT_EQ(pf.status().code(), absl::StatusCode::kFailedPrecondition) << ifname;
    return std::string(pf.status().message());
  };
  EXPECT_THAT(why("lo"), HasSubstr("virtual interface"));
  EXPECT_THAT(why("eno1"), HasSubstr("no sriov_totalvfs"));
  EXPECT_THAT(why("eth0"), HasSubstr("no sriov_totalvfs"));
  EXPECT_THAT(why("enp3s0f0v1"), HasSubstr("a VF"));
  EXPECT_THAT(why("eth_rep0"), HasSubstr("representor (port pf0vf0)"));
}

TEST_F(DiscoveryTest, AnUplinkPortNameIsStillThePf) {
  tree_.AddPf(IntelPf(0));
  tree_.WriteFile("sys/class/net/enp3s0f0/phys_port_name", "p0\n");
  EXPECT_TRUE(DiscoverPf(root_, "enp3s0f0").ok());
}

TEST_F(DiscoveryTest, ABrokenPfIsAProblemAndTheOthersAreStillFound) {
  tree_.AddPf(IntelPf(1));
  PfSpec second = IntelPf(0);
  second.ifname = "enp3s0f1";
  second.pci.pci = "0000:03:00.1";
  tree_.AddPf(second);
  tree_.WriteFile(FakeSysfsTree::DeviceDir("0000:03:00.1") + "/sriov_numvfs", "many\n");

  const absl::StatusOr<Inventory> inventory = Discover(root_);
  ASSERT_TRUE(inventory.ok()) << inventory.status();
  ASSERT_THAT(inventory->pfs, SizeIs(1));
  EXPECT_EQ(inventory->pfs[0].netdev, "enp3s0f0");
  ASSERT_THAT(inventory->problems, SizeIs(1));
  EXPECT_EQ(inventory->problems[0].code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(inventory->problems[0].message()), HasSubstr("enp3s0f1: "));
  EXPECT_THAT(std::string(inventory->problems[0].message()),
              HasSubstr("sriov_numvfs holds 'many'"));
}

TEST_F(DiscoveryTest, NoSuchInterface) {
  const absl::StatusOr<PhysicalFunction> pf = DiscoverPf(root_, "enp9s0");
  EXPECT_EQ(pf.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(pf.status().message()), HasSubstr("no network interface enp9s0"));
}

TEST_F(DiscoveryTest, NamesThatAreNotInterfaceNames) {
  tree_.AddPf(IntelPf(0));
  for (const char* bad : {"", "..", "enp3s0f0/../enp3s0f0", "../../class/net/enp3s0f0"}) {
    EXPECT_EQ(DiscoverPf(root_, bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST_F(DiscoveryTest, NoClassNetIsAnError) {
  tree_.Remove("sys/class/net");
  const absl::StatusOr<Inventory> inventory = Discover(root_);
  EXPECT_EQ(inventory.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(inventory.status().message()), HasSubstr(tree_.Path("sys/class/net")));
}

TEST_F(DiscoveryTest, AnEmptyTreeHasNoPfs) {
  const absl::StatusOr<Inventory> inventory = Discover(root_);
  ASSERT_TRUE(inventory.ok());
  EXPECT_TRUE(inventory->pfs.empty());
  EXPECT_TRUE(inventory->problems.empty());
}

// Broken trees: each names the interface and the file, never crashes.

TEST_F(DiscoveryTest, DanglingDeviceLink) {
  tree_.AddPf(IntelPf(0));
  tree_.Symlink("sys/class/net/enp3s0f0/device", "../../../0000:03:00.7");
  const absl::Status status = BrokenPf();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(status.message()), HasSubstr("enp3s0f0: following the link"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("-> ../../../0000:03:00.7"));
  // Discover reports it as a problem rather than skipping it.
  const absl::StatusOr<Inventory> inventory = Discover(root_);
  ASSERT_TRUE(inventory.ok());
  ASSERT_THAT(inventory->problems, SizeIs(1));
  EXPECT_EQ(inventory->problems[0].code(), absl::StatusCode::kNotFound);
}

TEST_F(DiscoveryTest, DeviceLinkToSomethingThatIsNotPci) {
  tree_.AddPf(IntelPf(0));
  tree_.WriteFile("sys/devices/platform/soc0/sriov_totalvfs", "4\n");
  tree_.Symlink("sys/class/net/enp3s0f0/device", "../../../../platform/soc0");
  const absl::Status status = BrokenPf();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), HasSubstr("links to 'soc0', not a PCI function"));
}

TEST_F(DiscoveryTest, MissingVendor) {
  tree_.AddPf(IntelPf(0));
  tree_.Remove(PfDir() + "/vendor");
  const absl::Status status = BrokenPf();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("enp3s0f0: opening " + tree_.Path("sys/class/net/enp3s0f0/device/vendor")));
}

TEST_F(DiscoveryTest, GarbageValues) {
  struct Case {
    std::string file;
    std::string text;
    std::string expected;
  };
  const std::string net = "sys/devices/pci0000:00/0000:03:00.0/net/enp3s0f0";
  for (const Case& c : std::vector<Case>{
           {PfDir() + "/device", "0x1572x", "not a hexadecimal number"},
           {PfDir() + "/vendor", "0x18086", "wider than a 16-bit PCI id"},
           {PfDir() + "/numa_node", "zero", "not a decimal number"},
           {PfDir() + "/numa_node", "-2", "neither -1 nor a 32-bit count"},
           {PfDir() + "/sriov_totalvfs", "-1", "not a VF count"},
           {PfDir() + "/sriov_totalvfs", "70000", "not a VF count"},
           {PfDir() + "/sriov_numvfs", "9", "exceeds sriov_totalvfs 8"},
           {net + "/speed", "fast", "not a decimal number"},
           {net + "/operstate", "UP", "not an RFC 2863 operational state"},
       }) {
    FakeSysfsTree tree;
    tree.AddPf(IntelPf(0));
    tree.WriteFile(c.file, c.text + "\n");
    const absl::StatusOr<PhysicalFunction> pf = DiscoverPf(SysfsRoot(tree.root()), "enp3s0f0");
    EXPECT_EQ(pf.status().code(), absl::StatusCode::kDataLoss) << c.file << " = " << c.text;
    EXPECT_THAT(std::string(pf.status().message()), HasSubstr(c.expected)) << c.file;
    EXPECT_THAT(std::string(pf.status().message()), HasSubstr("enp3s0f0: ")) << c.file;
  }
}

TEST_F(DiscoveryTest, MissingOperstate) {
  tree_.AddPf(IntelPf(0));
  tree_.Remove("sys/class/net/enp3s0f0/operstate");
  EXPECT_THAT(std::string(BrokenPf().message()), HasSubstr("enp3s0f0/operstate"));
}

TEST_F(DiscoveryTest, FewerVirtfnLinksThanNumVfs) {
  tree_.AddPf(IntelPf(3));
  tree_.Remove(PfDir() + "/virtfn2");
  const absl::Status status = BrokenPf();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("has 2 virtfn links but sriov_numvfs is 3"));
}

TEST_F(DiscoveryTest, AGapInTheVirtfnLinks) {
  tree_.AddPf(IntelPf(3));
  tree_.Remove(PfDir() + "/virtfn1");
  tree_.Symlink(PfDir() + "/virtfn5", "../" + FakeSysfsTree::VfPci("0000:03:00.0", 1));
  EXPECT_THAT(std::string(BrokenPf().message()),
              HasSubstr("has no virtfn1 link, yet sriov_numvfs is 3"));
}

TEST_F(DiscoveryTest, AVirtfnLinkWithoutANumber) {
  tree_.AddPf(IntelPf(1));
  tree_.Symlink(PfDir() + "/virtfn01", "../" + FakeSysfsTree::VfPci("0000:03:00.0", 0));
  EXPECT_THAT(std::string(BrokenPf().message()),
              HasSubstr("virtfn01: a virtfn link without a VF number"));
}

TEST_F(DiscoveryTest, DanglingVirtfnLink) {
  tree_.AddPf(IntelPf(2));
  tree_.Remove(VfDir(1));
  const absl::Status status = BrokenPf();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(status.message()), HasSubstr("virtfn1 -> ../0000:03:10.1"));
}

TEST_F(DiscoveryTest, DanglingVfDriverLink) {
  tree_.AddPf(IntelPf(1));
  tree_.Remove("sys/bus/pci/drivers/iavf");
  const absl::Status status = BrokenPf();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("virtfn0/driver -> ../../../bus/pci/drivers/iavf"));
}

TEST_F(DiscoveryTest, IommuGroupThatIsNotANumber) {
  tree_.AddPf(IntelPf(1));
  tree_.MakeDir("sys/kernel/iommu_groups/abc");
  tree_.Symlink(VfDir(0) + "/iommu_group", "../../../kernel/iommu_groups/abc");
  EXPECT_THAT(std::string(BrokenPf().message()), HasSubstr("links to group 'abc', not a number"));
}

TEST_F(DiscoveryTest, NoIommuGroupWithoutAnIommu) {
  tree_.AddPf(IntelPf(1));
  tree_.Remove(VfDir(0) + "/iommu_group");
  const absl::StatusOr<PhysicalFunction> pf = DiscoverPf(root_, "enp3s0f0");
  ASSERT_TRUE(pf.ok()) << pf.status();
  EXPECT_FALSE(pf->vfs[0].iommu_group);
}

TEST_F(DiscoveryTest, EveryFileMissingInTurnIsAnErrorOrUnknownNeverACrash) {
  tree_.AddPf(IntelPf(2));
  std::vector<std::string> files;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(tree_.Path("sys/devices"))) {
    files.push_back(entry.path().lexically_relative(tree_.root()).string());
  }
  ASSERT_GT(files.size(), 20u);
  for (const std::string& file : files) {
    FakeSysfsTree tree;
    tree.AddPf(IntelPf(2));
    tree.Remove(file);
    const absl::StatusOr<PhysicalFunction> pf = DiscoverPf(SysfsRoot(tree.root()), "enp3s0f0");
    if (!pf.ok()) {
      EXPECT_FALSE(pf.status().message().empty()) << file;
    }
    const absl::StatusOr<Inventory> inventory = Discover(SysfsRoot(tree.root()));
    EXPECT_TRUE(inventory.ok()) << file;
  }
}

TEST(DiscoveryOnThisMachineTest, DiscoverRunsOnTheRealSysfs) {
  // No SR-IOV NIC here: the answer is whatever the machine has, but it must come back.
  const SysfsRoot root("/");
  if (!root.Exists("sys/class/net")) GTEST_SKIP() << "no /sys/class/net (sysfs not mounted)";
  const absl::StatusOr<Inventory> inventory = Discover(root);
  ASSERT_TRUE(inventory.ok()) << inventory.status();
  for (const absl::Status& problem : inventory->problems) ADD_FAILURE() << problem;
  const absl::StatusOr<PhysicalFunction> lo = DiscoverPf(root, "lo");
  EXPECT_EQ(lo.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(OperStateTest, NamesRoundTrip) {
  for (OperState s :
       {OperState::kUnknown, OperState::kNotPresent, OperState::kDown, OperState::kLowerLayerDown,
        OperState::kTesting, OperState::kDormant, OperState::kUp}) {
    EXPECT_EQ(ParseOperState(OperStateName(s)), s);
  }
  EXPECT_FALSE(ParseOperState("Up"));
}

}  // namespace
}  // namespace braid::sriov
