#include "tests/dpdk/dpdk_test_env.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "datapath/io/eal.h"
#include "datapath/wire/bytes.h"

namespace braid::io::testing {
namespace {

constexpr char kMagic[] = "BRAIDIO";  // 7 bytes + the NUL we do not send

class EalEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    const absl::Status st = Eal::Init(TestEalConfig());
    ASSERT_TRUE(st.ok()) << st;
  }
  void TearDown() override {
    const absl::Status st = Eal::Cleanup();
    EXPECT_TRUE(st.ok()) << st;
  }
};

uint8_t Pattern(size_t i) { return static_cast<uint8_t>(i * 7 + 3); }

}  // namespace

EalConfig TestEalConfig() {
  static const std::string prefix = UniqueFilePrefix("braid-dpdk-test");
  EalConfig c;
  c.program = "braid-dpdk-test";
  c.lcores = {0};
  c.memory_mb = 256;
  c.file_prefix = prefix;
  c.log_level = 5;  // notice: PMD errors and warnings show in the test log
  return c;
}

std::string UniqueName(const std::string& base) {
  static std::atomic<unsigned> n{0};
  return base + std::to_string(n++);
}

int RunDpdkTests(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new EalEnvironment());  // gtest owns it
  const int rc = RUN_ALL_TESTS();
  const ::testing::UnitTest& unit = *::testing::UnitTest::GetInstance();
  if (rc == 0 && unit.test_to_run_count() > 0 && unit.skipped_test_count() > 0 &&
      unit.successful_test_count() == 0) {
    return 77;  // everything that ran was skipped: CTest's SKIP_RETURN_CODE
  }
  return rc;
}

std::vector<uint8_t> TestFrame(const uint8_t dst[6], const uint8_t src[6], uint32_t seq,
                               size_t len) {
  if (len < 60) len = 60;
  std::vector<uint8_t> f(len, 0);
  std::memcpy(f.data(), dst, 6);
  std::memcpy(f.data() + 6, src, 6);
  wire::StoreBe16(f.data() + 12, kTestEtherType);
  std::memcpy(f.data() + 14, kMagic, 7);
  wire::StoreBe32(f.data() + 21, seq);
  for (size_t i = 25; i < len; ++i) f[i] = Pattern(i);
  return f;
}

int64_t TestFrameSeq(std::span<const uint8_t> frame) {
  if (frame.size() < 60 || wire::LoadBe16(frame.data() + 12) != kTestEtherType ||
      std::memcmp(frame.data() + 14, kMagic, 7) != 0) {
    return -1;
  }
  for (size_t i = 25; i < frame.size(); ++i) {
    if (frame[i] != Pattern(i)) return -1;
  }
  return wire::LoadBe32(frame.data() + 21);
}

}  // namespace braid::io::testing
