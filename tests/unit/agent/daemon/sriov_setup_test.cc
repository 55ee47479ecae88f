// PrepareSriov on a synthetic sysfs tree with the kernel's layout (tests/unit/sriov/fake_sysfs.h;
// no SR-IOV NIC here): the PFs' VF counts, the vf paths' VFs moved to vfio-pci, and errors that
// name the PF or the path.
#include "agent/daemon/sriov_setup.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "sriov/discovery.h"
#include "tests/unit/sriov/fake_sysfs.h"

namespace braid::agent {
namespace {

using sriov::testing::FakeKernel;
using sriov::testing::FakeSysfsTree;
using sriov::testing::PfSpec;
using ::testing::HasSubstr;

AgentConfig Config(const std::string& yaml) {
  absl::StatusOr<AgentConfig> c = ParseConfig(yaml);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.value_or(AgentConfig{});
}

class SriovSetupTest : public ::testing::Test {
 protected:
  SriovSetupTest() {
    tree_.AddPf(PfSpec{});
    tree_.AddDriver("vfio-pci");
  }
  FakeSysfsTree tree_;
  FakeKernel kernel_{tree_};
  std::vector<std::string> log_;
};

TEST_F(SriovSetupTest, SetsTheVfCountThenBindsTheVfPathsVfsToVfio) {
  const std::string vf1 = FakeSysfsTree::VfPci("0000:03:00.0", 1);
  const AgentConfig config = Config(absl::StrCat(R"(
sriov:
  pfs: [{netdev: enp3s0f0, num_vfs: 2}]
paths:
  - {name: path0, kind: vf, pci: ")",
                                                 vf1, R"(", ipv4_subnet: 10.1.0.0/24}
  - {name: path1, kind: af_packet, netdev: veth1, ipv4_subnet: 10.2.0.0/24}
)"));
  const absl::Status s = PrepareSriov(config, kernel_, log_);
  ASSERT_TRUE(s.ok()) << s;
  const absl::StatusOr<sriov::PhysicalFunction> pf = sriov::DiscoverPf(kernel_, "enp3s0f0");
  ASSERT_TRUE(pf.ok()) << pf.status();
  ASSERT_EQ(pf->vfs.size(), 2u);
  EXPECT_EQ(pf->vfs[1].driver, "vfio-pci");
  EXPECT_EQ(pf->vfs[0].driver, "iavf");  // not a path's: left alone
  EXPECT_EQ(log_.size(), 2u);
  // Idempotent: the next start changes nothing.
  const size_t writes = kernel_.writes().size();
  ASSERT_TRUE(PrepareSriov(config, kernel_, log_).ok());
  EXPECT_EQ(kernel_.writes().size(), writes);
}

TEST_F(SriovSetupTest, ErrorsNameThePfOrThePath) {
  const absl::Status too_many =
      PrepareSriov(Config("sriov:\n  pfs: [{netdev: enp3s0f0, num_vfs: 64}]\n"), kernel_, log_);
  EXPECT_TRUE(absl::IsInvalidArgument(too_many)) << too_many;
  EXPECT_THAT(too_many.message(), HasSubstr("sriov.pfs[0] (enp3s0f0)"));

  const absl::Status no_pf =
      PrepareSriov(Config("sriov:\n  pfs: [{netdev: eth9, num_vfs: 1}]\n"), kernel_, log_);
  EXPECT_FALSE(no_pf.ok());
  EXPECT_THAT(no_pf.message(), HasSubstr("eth9"));

  const absl::Status no_vf = PrepareSriov(Config(R"(
paths:
  - {name: fast, kind: vf, pci: "0000:07:00.1", ipv4_subnet: 10.1.0.0/24}
)"),
                                          kernel_, log_);
  EXPECT_TRUE(absl::IsNotFound(no_vf)) << no_vf;
  EXPECT_THAT(no_vf.message(), HasSubstr("paths[0] (fast)"));
}

}  // namespace
}  // namespace braid::agent
