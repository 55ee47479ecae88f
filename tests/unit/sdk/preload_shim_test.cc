// libbraid_preload.so under an unmodified program (preload_probe.cc): data calls, dup
// semantics, readiness over mixed descriptors, options, sendfile, fork, the fortified variants,
// the destination and listen rules, and the kernel fallback without a service.
#include <fstream>
#include <iterator>

#include "tests/unit/sdk/preload_support.h"

namespace braid::sdk::testing {
namespace {

#define EXPECT_PROBE_OK(result, scenario)                                      \
  do {                                                                         \
    const ProbeResult r_ = (result);                                           \
    EXPECT_EQ(r_.exit_code, 0) << r_.output;                                   \
    EXPECT_NE(r_.output.find("ok " scenario), std::string::npos) << r_.output; \
  } while (0)

TEST_F(PreloadTest, DataCallsRunOnBraid) {
  EXPECT_PROBE_OK(RunOnBraid("data"), "data");
  EXPECT_EQ(service_->apps_attached(), 1u);
  EXPECT_GT(service_->commands(), 100u);  // a megabyte through 4 KiB FIFOs
}

TEST_F(PreloadTest, DupNamesOneSocketClosedWithTheLastNumber) {
  EXPECT_PROBE_OK(RunOnBraid("dup"), "dup");
  EXPECT_EQ(service_->apps_attached(), 1u);
}

TEST_F(PreloadTest, PollSelectAndEpollMixKernelAndBraidDescriptors) {
  EXPECT_PROBE_OK(RunOnBraid("readiness"), "readiness");
}

TEST_F(PreloadTest, OptionsAreReplayedAndUnknownOnesFailAsLinux) {
  EXPECT_PROBE_OK(RunOnBraid("options"), "options");
}

TEST_F(PreloadTest, SendfileReadsTheFileAndSends) {
  EXPECT_PROBE_OK(RunOnBraid("sendfile"), "sendfile");
}

TEST_F(PreloadTest, ForkChildHasItsOwnChannelAndLeavesTheParentsSocketsAlone) {
  EXPECT_PROBE_OK(RunOnBraid("fork"), "fork");
  EXPECT_EQ(service_->apps_attached(), 2u);  // the parent, and the child's own channel
}

// The probe is built fortified: its reads, recvs and polls are the checked variants, which the
// shim must catch too (a Braid socket read through libc's __read_chk would block forever on
// the eventfd).
TEST_F(PreloadTest, FortifiedCallsAreInterposed) {
  std::ifstream file(ProbeProgram(), std::ios::binary);
  const std::string binary((std::istreambuf_iterator<char>(file)),
                           std::istreambuf_iterator<char>());
  for (const char* name :
       {"__read_chk", "__recv_chk", "__recvfrom_chk", "__poll_chk", "__ppoll_chk", "__fdelt_chk"}) {
    EXPECT_NE(binary.find(name), std::string::npos) << name << " not used by the probe";
  }
  EXPECT_PROBE_OK(RunOnBraid("data"), "data");
}

TEST_F(PreloadTest, DestinationsOutsideTheRulesStayOnTheKernel) {
  for (const char* rule : {"10.0.0.0/8", "127.0.0.0/8:1-2", "[::1]:1-65535"}) {
    ProbeResult r = RunProbe(
        "data", {"BRAID_SOCKET=" + path_, std::string("BRAID_PRELOAD_DESTINATIONS=") + rule,
                 "BRAID_PRELOAD_LISTEN=1-2", "PROBE_EXPECT=kernel"});
    EXPECT_EQ(r.exit_code, 0) << rule << ": " << r.output;
  }
  EXPECT_EQ(service_->apps_attached(), 0u);  // never needed
}

TEST_F(PreloadTest, RulesNamingTheDestinationAndPortTakeIt) {
  ProbeResult r = RunProbe(
      "data", {"BRAID_SOCKET=" + path_, "BRAID_PRELOAD_DESTINATIONS=10.0.0.0/8, 127.0.0.1:1-65535",
               "BRAID_PRELOAD_LISTEN=*"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(service_->apps_attached(), 1u);
}

// Braid has no loopback: without explicit rules, a connection to 127.0.0.1 is the kernel's
// even with the service there (and the listener, on Braid, sees nothing of it).
TEST_F(PreloadTest, LoopbackIsTheKernelsUnlessNamed) {
  ProbeResult r = RunProbe(
      "options", {"BRAID_SOCKET=" + path_, "BRAID_PRELOAD_LISTEN=1-2", "PROBE_EXPECT=kernel"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST_F(PreloadTest, RulesThatDoNotParseLeaveEverySocketOnTheKernel) {
  ProbeResult r = RunProbe("data", {"BRAID_SOCKET=" + path_, "BRAID_PRELOAD_DESTINATIONS=10.0.0/x",
                                    "PROBE_EXPECT=kernel"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("cannot parse \"10.0.0/x\""), std::string::npos) << r.output;
  r = RunProbe("data",
               {"BRAID_SOCKET=" + path_, "BRAID_PRELOAD_LISTEN=80-70", "PROBE_EXPECT=kernel"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(service_->apps_attached(), 0u);
}

// No service: libbraid's kernel fallback, and the same program works unchanged.
TEST(PreloadFallbackTest, WithoutAServiceEverythingRunsOnTheKernel) {
  for (const char* scenario : {"data", "dup", "readiness", "options", "sendfile", "fork"}) {
    ProbeResult r =
        RunProbe(scenario, {"BRAID_SOCKET=@braid-preload-nobody-listens",
                            "BRAID_PRELOAD_DESTINATIONS=127.0.0.0/8", "PROBE_EXPECT=kernel"});
    EXPECT_EQ(r.exit_code, 0) << scenario << ": " << r.output;
  }
}

// The service policy BRAID_FALLBACK=fail: a socket the rules give to Braid fails to connect
// (ECONNREFUSED) rather than quietly running on the kernel.
TEST(PreloadFallbackTest, FailPolicyRefusesInsteadOfFallingBack) {
  ProbeResult r =
      RunProbe("data", {"BRAID_SOCKET=@braid-preload-nobody-listens",
                        "BRAID_PRELOAD_DESTINATIONS=127.0.0.0/8", "BRAID_FALLBACK=fail"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("Connection refused"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace braid::sdk::testing
