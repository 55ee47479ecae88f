#include "sriov/sysfs.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/sriov/fake_sysfs.h"

namespace braid::sriov {
namespace {

using testing::FakeSysfsTree;
using ::testing::HasSubstr;

TEST(SysfsRootTest, JoinsPathsUnderTheRoot) {
  EXPECT_EQ(SysfsRoot("/").Path("sys/class/net"), "/sys/class/net");
  EXPECT_EQ(SysfsRoot().Path("/sys/class/net"), "/sys/class/net");
  EXPECT_EQ(SysfsRoot("/tmp/t/").Path("sys/bus/pci"), "/tmp/t/sys/bus/pci");
  EXPECT_EQ(SysfsRoot("").root(), "/");
}

TEST(SysfsRootTest, ReadsAnAttributeWithoutItsNewline) {
  FakeSysfsTree tree;
  tree.WriteFile("sys/a", "up\n");
  tree.WriteFile("sys/b", "two\nlines\n");
  tree.WriteFile("sys/c", "");
  const SysfsRoot root(tree.root());
  EXPECT_EQ(*root.ReadAttribute("sys/a"), "up");
  EXPECT_EQ(*root.ReadAttribute("sys/b"), "two\nlines");
  EXPECT_EQ(*root.ReadAttribute("sys/c"), "");
}

TEST(SysfsRootTest, AMissingFileIsNotFoundAndNamed) {
  FakeSysfsTree tree;
  const SysfsRoot root(tree.root());
  const absl::StatusOr<std::string> read = root.ReadAttribute("sys/nothing");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(read.status().message()), HasSubstr(tree.Path("sys/nothing")));
  EXPECT_THAT(std::string(read.status().message()), HasSubstr("ENOENT"));
}

TEST(SysfsRootTest, AFileTooLongForAnAttributeIsRejected) {
  FakeSysfsTree tree;
  tree.WriteFile("sys/big", std::string(100 * 1024, 'x'));
  const absl::StatusOr<std::string> read = SysfsRoot(tree.root()).ReadAttribute("sys/big");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss);
}

TEST(SysfsRootTest, ReadsDecimalAndHexNumbers) {
  FakeSysfsTree tree;
  tree.WriteFile("sys/n", "-1\n");
  tree.WriteFile("sys/m", "63\n");
  tree.WriteFile("sys/id", "0x8086\n");
  const SysfsRoot root(tree.root());
  EXPECT_EQ(*root.ReadDecimal("sys/n"), -1);
  EXPECT_EQ(*root.ReadDecimal("sys/m"), 63);
  EXPECT_EQ(*root.ReadHex("sys/id"), 0x8086u);
}

TEST(SysfsRootTest, GarbageIsDataLossWithTheFileAndValue) {
  FakeSysfsTree tree;
  const SysfsRoot root(tree.root());
  for (const char* bad : {"", "12abc", " 12", "1 2", "0x10", "99999999999999999999"}) {
    tree.WriteFile("sys/n", std::string(bad) + "\n");
    const absl::StatusOr<int64_t> n = root.ReadDecimal("sys/n");
    EXPECT_EQ(n.status().code(), absl::StatusCode::kDataLoss) << "'" << bad << "'";
    EXPECT_THAT(std::string(n.status().message()), HasSubstr(tree.Path("sys/n")));
  }
  for (const char* bad : {"8086", "0x", "0xzz", "0x1ffffffff", "-0x1"}) {
    tree.WriteFile("sys/id", std::string(bad) + "\n");
    const absl::StatusOr<uint32_t> id = root.ReadHex("sys/id");
    EXPECT_EQ(id.status().code(), absl::StatusCode::kDataLoss) << "'" << bad << "'";
    EXPECT_THAT(std::string(id.status().message()), HasSubstr("'" + std::string(bad) + "'"));
  }
}

TEST(SysfsRootTest, LinkTargetNameIsTheLastComponent) {
  FakeSysfsTree tree;
  tree.AddDriver("ixgbevf");
  tree.MakeDir("sys/devices/pci0000:00/0000:03:10.0");
  tree.Symlink("sys/devices/pci0000:00/0000:03:10.0/driver", "../../../bus/pci/drivers/ixgbevf");
  const SysfsRoot root(tree.root());
  EXPECT_EQ(*root.LinkTargetName("sys/devices/pci0000:00/0000:03:10.0/driver"), "ixgbevf");
  EXPECT_EQ(**root.OptionalLinkTargetName("sys/devices/pci0000:00/0000:03:10.0/driver"), "ixgbevf");
  EXPECT_FALSE(*root.OptionalLinkTargetName("sys/devices/pci0000:00/0000:03:10.0/nothing"));
}

TEST(SysfsRootTest, ADanglingLinkIsNotFoundWithItsTarget) {
  FakeSysfsTree tree;
  tree.Symlink("sys/dev/driver", "../../bus/pci/drivers/gone");
  const SysfsRoot root(tree.root());
  EXPECT_TRUE(root.LinkExists("sys/dev/driver"));
  EXPECT_FALSE(root.Exists("sys/dev/driver"));
  for (const absl::Status& status : {root.LinkTargetName("sys/dev/driver").status(),
                                     root.OptionalLinkTargetName("sys/dev/driver").status()}) {
    EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
    EXPECT_THAT(std::string(status.message()), HasSubstr("../../bus/pci/drivers/gone"));
    EXPECT_THAT(std::string(status.message()), HasSubstr(tree.Path("sys/dev/driver")));
  }
}

TEST(SysfsRootTest, AFileIsNotALink) {
  FakeSysfsTree tree;
  tree.WriteFile("sys/dev/driver", "x");
  const absl::StatusOr<std::string> name = SysfsRoot(tree.root()).LinkTargetName("sys/dev/driver");
  EXPECT_EQ(name.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(name.status().message()), HasSubstr("not a symbolic link"));
}

TEST(SysfsRootTest, ListsADirectorySorted) {
  FakeSysfsTree tree;
  tree.WriteFile("sys/d/virtfn1", "");
  tree.WriteFile("sys/d/virtfn0", "");
  tree.MakeDir("sys/d/net");
  EXPECT_THAT(*SysfsRoot(tree.root()).ListDirectory("sys/d"),
              ::testing::ElementsAre("net", "virtfn0", "virtfn1"));
  EXPECT_EQ(SysfsRoot(tree.root()).ListDirectory("sys/none").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(SysfsRootTest, WritesReplaceTheValueAndNeverCreateFiles) {
  FakeSysfsTree tree;
  tree.WriteFile("sys/numvfs", "16\n");
  SysfsRoot root(tree.root());
  ASSERT_TRUE(root.WriteAttribute("sys/numvfs", "4").ok());
  EXPECT_EQ(tree.ReadFile("sys/numvfs"), "4");
  const absl::Status missing = root.WriteAttribute("sys/driver_override", "vfio-pci");
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.message()),
              HasSubstr("writing 'vfio-pci' to " + tree.Path("sys/driver_override")));
  EXPECT_FALSE(tree.Exists("sys/driver_override"));
  tree.MakeDir("sys/dir");
  const absl::Status directory = root.WriteAttribute("sys/dir", "1");
  EXPECT_THAT(std::string(directory.message()), HasSubstr("EISDIR"));
}

TEST(SysfsRootTest, ReadsTheRealSysfs) {
  // Every Linux machine has lo, virtual and without a device link.
  const SysfsRoot root("/");
  if (!root.Exists("sys/class/net/lo")) GTEST_SKIP() << "no /sys/class/net/lo (sysfs not mounted)";
  const absl::StatusOr<std::string> operstate = root.ReadAttribute("sys/class/net/lo/operstate");
  ASSERT_TRUE(operstate.ok()) << operstate.status();
  EXPECT_FALSE(root.LinkExists("sys/class/net/lo/device"));
  EXPECT_EQ(*root.LinkTargetName("sys/class/net/lo"), "lo");
}

TEST(SysfsRootTest, PathComponents) {
  EXPECT_TRUE(IsPathComponent("enp3s0f0"));
  EXPECT_TRUE(IsPathComponent("vfio-pci"));
  for (std::string_view bad : {std::string_view(""), std::string_view("."), std::string_view(".."),
                               std::string_view("a/b"), std::string_view("a\0b", 3)}) {
    EXPECT_FALSE(IsPathComponent(bad));
  }
}

}  // namespace
}  // namespace braid::sriov
