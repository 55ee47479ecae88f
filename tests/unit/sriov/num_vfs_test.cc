#include "sriov/num_vfs.h"

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
using ::testing::SizeIs;

constexpr char kNumVfs[] = "sys/class/net/enp3s0f0/device/sriov_numvfs";

class NumVfsTest : public ::testing::Test {
 protected:
  void AddPf(uint32_t num_vfs) {
    PfSpec spec;
    spec.num_vfs = num_vfs;
    tree_.AddPf(spec);
  }
  size_t VfCount() {
    const absl::StatusOr<PhysicalFunction> pf = DiscoverPf(kernel_, "enp3s0f0");
    EXPECT_TRUE(pf.ok()) << pf.status();
    return pf.ok() ? pf->vfs.size() : 0;
  }

  FakeSysfsTree tree_;
  FakeKernel kernel_{tree_};
};

TEST_F(NumVfsTest, EnablesVfs) {
  AddPf(0);
  ASSERT_TRUE(SetNumVfs(kernel_, "enp3s0f0", 4).ok());
  EXPECT_THAT(kernel_.writes(), ElementsAre(FakeKernel::Write{kNumVfs, "4"}));
  EXPECT_EQ(VfCount(), 4u);
}

TEST_F(NumVfsTest, DisablesVfs) {
  AddPf(3);
  ASSERT_TRUE(SetNumVfs(kernel_, "enp3s0f0", 0).ok());
  EXPECT_THAT(kernel_.writes(), ElementsAre(FakeKernel::Write{kNumVfs, "0"}));
  EXPECT_EQ(VfCount(), 0u);
}

TEST_F(NumVfsTest, TheCurrentCountWritesNothing) {
  AddPf(3);
  ASSERT_TRUE(SetNumVfs(kernel_, "enp3s0f0", 3).ok());
  EXPECT_THAT(kernel_.writes(), IsEmpty());
}

TEST_F(NumVfsTest, AllVfsTheDeviceHas) {
  AddPf(0);
  ASSERT_TRUE(SetNumVfs(kernel_, "enp3s0f0", 8).ok());
  EXPECT_EQ(VfCount(), 8u);
}

TEST_F(NumVfsTest, MoreThanTotalVfsIsRefusedBeforeWriting) {
  AddPf(0);
  const absl::Status status = SetNumVfs(kernel_, "enp3s0f0", 9);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "setting 9 VFs on enp3s0f0: its sriov_totalvfs is 8");
  EXPECT_THAT(kernel_.writes(), IsEmpty());
}

TEST_F(NumVfsTest, NonZeroToNonZeroIsRefusedByDefault) {
  AddPf(2);
  const absl::Status status = SetNumVfs(kernel_, "enp3s0f0", 4);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("setting 4 VFs on enp3s0f0: 2 VFs are enabled"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("only through 0"));
  EXPECT_THAT(kernel_.writes(), IsEmpty());
  EXPECT_EQ(VfCount(), 2u);
}

TEST_F(NumVfsTest, NonZeroToNonZeroThroughZeroWhenAllowed) {
  AddPf(2);
  ASSERT_TRUE(SetNumVfs(kernel_, "enp3s0f0", 5, NumVfsChange::kDisableFirst).ok());
  EXPECT_THAT(kernel_.writes(),
              ElementsAre(FakeKernel::Write{kNumVfs, "0"}, FakeKernel::Write{kNumVfs, "5"}));
  EXPECT_EQ(VfCount(), 5u);
}

TEST_F(NumVfsTest, TheKernelsRuleHoldsWithoutOurCheck) {
  // The fake refuses as drivers/pci/iov.c does, so a write past our checks meets EBUSY.
  AddPf(2);
  const absl::Status status = kernel_.WriteAttribute(kNumVfs, "4");
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);  // absl's code for EBUSY
  EXPECT_THAT(std::string(status.message()), HasSubstr("EBUSY"));
}

TEST_F(NumVfsTest, AKernelRefusalNamesTheFileAndErrno) {
  AddPf(0);
  kernel_.FailWrites("/sriov_numvfs", ENOMEM);
  const absl::Status status = SetNumVfs(kernel_, "enp3s0f0", 4);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("setting 4 VFs on enp3s0f0: writing '4' to " + tree_.Path(kNumVfs)));
  EXPECT_THAT(std::string(status.message()), HasSubstr("(ENOMEM)"));
}

TEST_F(NumVfsTest, ADriverWithoutSriovConfigureIsExplained) {
  AddPf(0);
  kernel_.NoSriovConfigure();
  const absl::Status status = SetNumVfs(kernel_, "enp3s0f0", 4);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(status.message()), HasSubstr("(ENOENT)"));
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("does not support setting VFs through sysfs"));
}

TEST_F(NumVfsTest, ADisableThatFailsStopsThere) {
  AddPf(2);
  kernel_.FailWrites("/sriov_numvfs", EPERM);
  const absl::Status status = SetNumVfs(kernel_, "enp3s0f0", 4, NumVfsChange::kDisableFirst);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(status.message()), HasSubstr("disabling the 2 enabled VFs first"));
  EXPECT_THAT(kernel_.writes(), SizeIs(1));
}

TEST_F(NumVfsTest, AValueThatDoesNotReadBackIsDataLoss) {
  // A plain SysfsRoot writes the file but creates no VFs; the read-back still checks the count.
  AddPf(0);
  SysfsRoot plain(tree_.root());
  tree_.WriteFile(kNumVfs, "0\n");
  ASSERT_TRUE(SetNumVfs(plain, "enp3s0f0", 2).ok());  // the file now says 2
  class Ignoring : public SysfsRoot {
   public:
    using SysfsRoot::SysfsRoot;
    absl::Status WriteAttribute(std::string_view, std::string_view) override {
      return absl::OkStatus();
    }
  } ignoring(tree_.root());
  const absl::Status status = SetNumVfs(ignoring, "enp3s0f0", 0);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("sriov_numvfs reads 2 after the write"));
}

TEST_F(NumVfsTest, NotAPf) {
  tree_.AddVirtualNetdev("veth0");
  const absl::Status status = SetNumVfs(kernel_, "veth0", 1);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), HasSubstr("setting 1 VFs on veth0: not an SR-IOV PF"));
  EXPECT_EQ(SetNumVfs(kernel_, "eth9", 1).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(SetNumVfs(kernel_, "../eth9", 1).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(NumVfsTest, GarbageInTheTree) {
  AddPf(0);
  tree_.WriteFile("sys/class/net/enp3s0f0/device/sriov_totalvfs", "lots\n");
  const absl::Status status = SetNumVfs(kernel_, "enp3s0f0", 1);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("setting 1 VFs on enp3s0f0: "));
  EXPECT_THAT(std::string(status.message()), HasSubstr("sriov_totalvfs holds 'lots'"));
  EXPECT_THAT(kernel_.writes(), IsEmpty());
}

}  // namespace
}  // namespace braid::sriov
