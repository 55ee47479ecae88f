// The EAL's life in one process, in order: a start-up the EAL refuses comes back as a Status
// carrying its error; a good start succeeds; the same config again is a no-op; another config is
// refused; cleanup works once; a restart after cleanup is refused with the reason (DPDK cannot
// restart its EAL). No global test environment here: this test owns the EAL.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "datapath/io/eal.h"
#include "tests/dpdk/dpdk_test_env.h"

namespace braid::io::testing {
namespace {

using ::testing::HasSubstr;

TEST(EalLifecycle, ErrorsIdempotenceCleanupAndNoRestart) {
  EXPECT_FALSE(Eal::initialized());
  EXPECT_TRUE(Eal::Cleanup().ok()) << "nothing to clean up yet";

  // An lcore this machine does not have: EalArgs accepts it, the EAL does not.
  EalConfig bad = TestEalConfig();
  bad.lcores = {1000};
  const absl::Status refused = Eal::Init(bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument) << refused;
  EXPECT_THAT(std::string(refused.message()), HasSubstr("rte_eal_init"));
  EXPECT_THAT(std::string(refused.message()), HasSubstr("-l 1000"));
  EXPECT_FALSE(Eal::initialized());

  // The EAL lets a start-up that failed while parsing arguments be retried.
  const EalConfig good = TestEalConfig();
  const absl::Status started = Eal::Init(good);
  ASSERT_TRUE(started.ok()) << started;
  EXPECT_TRUE(Eal::initialized());
  EXPECT_EQ(Eal::file_prefix(), good.file_prefix);
  EXPECT_TRUE(Eal::Init(good).ok()) << "idempotent";
  EalConfig other = good;
  other.vdevs = {"net_null0"};
  EXPECT_EQ(Eal::Init(other).code(), absl::StatusCode::kFailedPrecondition);

  EXPECT_TRUE(Eal::Cleanup().ok());
  EXPECT_FALSE(Eal::initialized());
  EXPECT_TRUE(Eal::Cleanup().ok()) << "a second cleanup is a no-op";
  const absl::Status again = Eal::Init(good);
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(again.message()), HasSubstr("cannot be initialized again"));
}

}  // namespace
}  // namespace braid::io::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
