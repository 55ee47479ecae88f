#include "sriov/driver_binding.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sriov/discovery.h"
#include "tests/unit/sriov/fake_sysfs.h"

namespace braid::sriov {
namespace {

using ::testing::ElementsAre;
using testing::FakeKernel;
using testing::FakeSysfsTree;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::PfSpec;

using Write = FakeKernel::Write;

constexpr char kVf[] = "0000:03:10.1";  // VF 1 of the PF at 0000:03:00.0
const std::string kDev = std::string("sys/bus/pci/devices/") + kVf;

class DriverBindingTest : public ::testing::Test {
 protected:
  DriverBindingTest() {
    PfSpec spec;
    spec.num_vfs = 2;
    tree_.AddPf(spec);
  }
  std::optional<std::string> Driver() {
    absl::StatusOr<std::optional<std::string>> driver = CurrentDriver(kernel_, vf_);
    EXPECT_TRUE(driver.ok()) << driver.status();
    return driver.ok() ? *driver : std::nullopt;
  }
  std::string Override() { return tree_.ReadFile(kDev + "/driver_override"); }

  FakeSysfsTree tree_;
  FakeKernel kernel_{tree_};
  const PciAddress vf_ = *PciAddress::Parse(kVf);
};

TEST_F(DriverBindingTest, BindsAVfToVfioPciTheDocumentedWay) {
  tree_.AddDriver("vfio-pci");
  ASSERT_EQ(Driver(), "iavf");
  const absl::Status status = BindToDriver(kernel_, vf_, kVfioPci);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_THAT(kernel_.writes(), ElementsAre(Write{kDev + "/driver_override", "vfio-pci"},
                                            Write{kDev + "/driver/unbind", kVf},
                                            Write{"sys/bus/pci/drivers_probe", kVf}));
  EXPECT_EQ(Driver(), "vfio-pci");
  EXPECT_EQ(Override(), "vfio-pci\n");

  // Discovery sees the move: no netdev any more, the override set.
  const absl::StatusOr<PhysicalFunction> pf = DiscoverPf(kernel_, "enp3s0f0");
  ASSERT_TRUE(pf.ok()) << pf.status();
  EXPECT_EQ(pf->vfs[1].driver, "vfio-pci");
  EXPECT_EQ(pf->vfs[1].driver_override, "vfio-pci");
  EXPECT_FALSE(pf->vfs[1].netdev);
  EXPECT_EQ(pf->vfs[0].netdev, "enp3s0f0v0");
}

TEST_F(DriverBindingTest, BindingIsIdempotent) {
  tree_.AddDriver("vfio-pci");
  ASSERT_TRUE(BindToDriver(kernel_, vf_, kVfioPci).ok());
  kernel_.ClearWrites();
  ASSERT_TRUE(BindToDriver(kernel_, vf_, kVfioPci).ok());
  EXPECT_THAT(kernel_.writes(), IsEmpty());
}

TEST_F(DriverBindingTest, AnUnboundDeviceIsOnlyProbed) {
  tree_.AddDriver("vfio-pci");
  tree_.UnbindDriver(kVf);
  ASSERT_TRUE(BindToDriver(kernel_, vf_, kVfioPci).ok());
  EXPECT_THAT(kernel_.writes(), ElementsAre(Write{kDev + "/driver_override", "vfio-pci"},
                                            Write{"sys/bus/pci/drivers_probe", kVf}));
  EXPECT_EQ(Driver(), "vfio-pci");
}

TEST_F(DriverBindingTest, ADriverThatIsNotLoaded) {
  const absl::Status status = BindToDriver(kernel_, vf_, kVfioPci);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("binding 0000:03:10.1 to vfio-pci: the driver is not "
                        "loaded"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("modprobe vfio-pci"));
  EXPECT_THAT(kernel_.writes(), IsEmpty());
  EXPECT_EQ(Driver(), "iavf");
}

TEST_F(DriverBindingTest, NoSuchDevice) {
  const absl::Status status = BindToDriver(kernel_, *PciAddress::Parse("0000:04:00.0"), kVfioPci);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("no PCI device 0000:04:00.0 in " + tree_.Path("sys/bus/pci/devices")));
}

TEST_F(DriverBindingTest, NotADriverName) {
  EXPECT_EQ(BindToDriver(kernel_, vf_, "../drivers/x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BindToDriver(kernel_, vf_, "").code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(DriverBindingTest, AProbeTheDriverRefusesIsUndone) {
  tree_.AddDriver("vfio-pci");
  kernel_.RefuseProbe("vfio-pci");
  const absl::Status status = BindToDriver(kernel_, vf_, kVfioPci);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("binding 0000:03:10.1 to vfio-pci: after drivers_probe the device has no "
                        "driver (was iavf)"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("[override cleared, device now has iavf]"));
  // Undo: the override cleared and the device offered to its own driver again.
  EXPECT_EQ(Override(), "(null)\n");
  EXPECT_EQ(Driver(), "iavf");
  EXPECT_EQ(kernel_.writes().back(), (Write{"sys/bus/pci/drivers_probe", kVf}));
}

TEST_F(DriverBindingTest, AFailedWriteNamesTheFileAndErrnoAndIsUndone) {
  tree_.AddDriver("vfio-pci");
  kernel_.FailWrites("/driver/unbind", EACCES);
  const absl::Status status = BindToDriver(kernel_, vf_, kVfioPci);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("writing '0000:03:10.1' to " + tree_.Path(kDev + "/driver/unbind")));
  EXPECT_THAT(std::string(status.message()), HasSubstr("(EACCES)"));
  EXPECT_EQ(Override(), "(null)\n");
  EXPECT_EQ(Driver(), "iavf");
}

TEST_F(DriverBindingTest, AFailedOverrideWriteChangesNothing) {
  tree_.AddDriver("vfio-pci");
  kernel_.FailWrites("/driver_override", EROFS);
  const absl::Status status = BindToDriver(kernel_, vf_, kVfioPci);
  EXPECT_THAT(std::string(status.message()), HasSubstr("driver_override"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("(EROFS)"));
  EXPECT_THAT(kernel_.writes(), ElementsAre(Write{kDev + "/driver_override", "vfio-pci"}));
  EXPECT_EQ(Driver(), "iavf");
}

TEST_F(DriverBindingTest, UnbindLeavesTheDeviceWithoutADriver) {
  ASSERT_TRUE(Unbind(kernel_, vf_).ok());
  EXPECT_THAT(kernel_.writes(), ElementsAre(Write{kDev + "/driver/unbind", kVf}));
  EXPECT_FALSE(Driver());
  kernel_.ClearWrites();
  ASSERT_TRUE(Unbind(kernel_, vf_).ok());
  EXPECT_THAT(kernel_.writes(), IsEmpty());
}

TEST_F(DriverBindingTest, UnbindThatTheKernelRefuses) {
  kernel_.FailWrites("/unbind", ENODEV);
  const absl::Status status = Unbind(kernel_, vf_);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("unbinding 0000:03:10.1 from iavf: writing"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("(ENODEV)"));
}

TEST_F(DriverBindingTest, RestoreDefaultDriverAfterVfio) {
  tree_.AddDriver("vfio-pci");
  ASSERT_TRUE(BindToDriver(kernel_, vf_, kVfioPci).ok());
  kernel_.ClearWrites();
  const absl::StatusOr<std::optional<std::string>> driver = RestoreDefaultDriver(kernel_, vf_);
  ASSERT_TRUE(driver.ok()) << driver.status();
  EXPECT_EQ(*driver, "iavf");
  EXPECT_THAT(kernel_.writes(), ElementsAre(Write{kDev + "/driver_override", "\n"},
                                            Write{kDev + "/driver/unbind", kVf},
                                            Write{"sys/bus/pci/drivers_probe", kVf}));
  EXPECT_EQ(Override(), "(null)\n");
  const absl::StatusOr<PhysicalFunction> pf = DiscoverPf(kernel_, "enp3s0f0");
  ASSERT_TRUE(pf.ok()) << pf.status();
  EXPECT_EQ(pf->vfs[1].netdev, "enp3s0f0v1");
}

TEST_F(DriverBindingTest, RestoreLeavesADeviceItsOwnDriverHolds) {
  const absl::StatusOr<std::optional<std::string>> driver = RestoreDefaultDriver(kernel_, vf_);
  ASSERT_TRUE(driver.ok()) << driver.status();
  EXPECT_EQ(*driver, "iavf");
  EXPECT_THAT(kernel_.writes(), IsEmpty());
}

TEST_F(DriverBindingTest, RestoreProbesAnUnboundDevice) {
  tree_.UnbindDriver(kVf);
  const absl::StatusOr<std::optional<std::string>> driver = RestoreDefaultDriver(kernel_, vf_);
  ASSERT_TRUE(driver.ok()) << driver.status();
  EXPECT_EQ(*driver, "iavf");
  EXPECT_THAT(kernel_.writes(), ElementsAre(Write{"sys/bus/pci/drivers_probe", kVf}));
}

TEST_F(DriverBindingTest, RestoreWhenNoDriverWantsTheDevice) {
  tree_.UnbindDriver(kVf);
  tree_.SetDefaultDriver(kVf, "");
  const absl::StatusOr<std::optional<std::string>> driver = RestoreDefaultDriver(kernel_, vf_);
  ASSERT_TRUE(driver.ok()) << driver.status();
  EXPECT_FALSE(*driver);
}

TEST_F(DriverBindingTest, VfioGroupDevice) {
  tree_.AddDriver("vfio-pci");
  const absl::StatusOr<std::string> before = VfioGroupDevice(kernel_, vf_);
  EXPECT_EQ(before.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(before.status().message()),
              HasSubstr("the device has iavf, not vfio-pci"));

  ASSERT_TRUE(BindToDriver(kernel_, vf_, kVfioPci).ok());
  const absl::StatusOr<std::string> group = VfioGroupDevice(kernel_, vf_);
  ASSERT_TRUE(group.ok()) << group.status();
  EXPECT_EQ(*group, tree_.Path("dev/vfio/101"));

  tree_.Remove("dev/vfio/101");
  EXPECT_THAT(std::string(VfioGroupDevice(kernel_, vf_).status().message()),
              HasSubstr(tree_.Path("dev/vfio/101") + " does not exist"));
  tree_.Remove(FakeSysfsTree::DeviceDir(kVf) + "/iommu_group");
  EXPECT_THAT(std::string(VfioGroupDevice(kernel_, vf_).status().message()),
              HasSubstr("no IOMMU group"));
}

TEST_F(DriverBindingTest, ADanglingDriverLinkIsAnError) {
  tree_.Remove("sys/bus/pci/drivers/iavf");
  tree_.AddDriver("vfio-pci");
  const absl::Status status = BindToDriver(kernel_, vf_, kVfioPci);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("binding 0000:03:10.1 to vfio-pci: following the link"));
  EXPECT_THAT(kernel_.writes(), IsEmpty());
}

}  // namespace
}  // namespace braid::sriov
