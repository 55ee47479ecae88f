#include "datapath/mptcp/path_manager/path_manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/unit/datapath/mptcp/path_manager/fake_connection.h"

namespace braid::mptcp {
namespace {

using ::braid::mptcp::testing::Ep;
using ::braid::mptcp::testing::kBackup;
using ::braid::mptcp::testing::kFullmesh;
using ::braid::mptcp::testing::kNoFlags;
using ::braid::mptcp::testing::kSignal;
using ::braid::mptcp::testing::kSubflow;
using ::testing::ElementsAre;

std::string Message(const absl::Status& s) { return std::string(s.message()); }

// A policy that only names itself, to register under other names.
class NamedPathManager final : public PathManager {
 public:
  std::string_view name() const override { return "named"; }
  void OnEstablished(PmConnection& /*conn*/, tcp::Instant /*now*/) override {}
  bool AcceptJoin(const PmConnection& /*conn*/, const wire::IpAddress& /*local*/,
                  const wire::IpAddress& /*remote*/) const override {
    return false;
  }
};

PathManagerFactory NamedFactory() {
  return [](const PathManagerConfig&) { return std::make_unique<NamedPathManager>(); };
}

PathManagerConfig WithPolicy(std::string policy) {
  PathManagerConfig config;
  config.policy = std::move(policy);
  return config;
}

TEST(PathManagerRegistryTest, RegistersTheBuiltIns) {
  PathManagerRegistry registry;
  EXPECT_THAT(registry.Names(), ElementsAre("kernel", "ndiffports", "userspace"));
  EXPECT_TRUE(registry.Contains("kernel"));
  EXPECT_TRUE(registry.Contains("ndiffports"));
  EXPECT_TRUE(registry.Contains("userspace"));
  EXPECT_FALSE(registry.Contains("fullmesh"));
  EXPECT_EQ(PathManagerRegistry::kDefault, "kernel");
}

TEST(PathManagerRegistryTest, CreatesEachBuiltInByName) {
  PathManagerRegistry registry;
  for (std::string name : {"kernel", "ndiffports", "userspace"}) {
    absl::StatusOr<std::unique_ptr<PathManager>> pm = registry.Create(WithPolicy(name));
    ASSERT_TRUE(pm.ok()) << pm.status();
    EXPECT_EQ((*pm)->name(), name);
  }
  // The default config names the default policy.
  absl::StatusOr<std::unique_ptr<PathManager>> pm = registry.Create(PathManagerConfig{});
  ASSERT_TRUE(pm.ok()) << pm.status();
  EXPECT_EQ((*pm)->name(), "kernel");
}

TEST(PathManagerRegistryTest, EachCreateGivesItsOwnObject) {
  PathManagerRegistry registry;
  absl::StatusOr<std::unique_ptr<PathManager>> a = registry.Create(PathManagerConfig{});
  absl::StatusOr<std::unique_ptr<PathManager>> b = registry.Create(PathManagerConfig{});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->get(), b->get());
}

TEST(PathManagerRegistryTest, UnknownPolicyIsNotFoundAndListsTheKnownOnes) {
  PathManagerRegistry registry;
  absl::StatusOr<std::unique_ptr<PathManager>> pm = registry.Create(WithPolicy("binder"));
  EXPECT_EQ(pm.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Message(pm.status()),
            "unknown path manager \"binder\" (known: kernel, ndiffports, userspace)");
}

TEST(PathManagerRegistryTest, TheDefaultCannotBeRemoved) {
  PathManagerRegistry registry;
  absl::Status s = registry.Unregister("kernel");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Message(s), "path manager \"kernel\" is the default and cannot be removed");
  EXPECT_TRUE(registry.Contains("kernel"));
}

TEST(PathManagerRegistryTest, UnregisterRemovesOthers) {
  PathManagerRegistry registry;
  ASSERT_TRUE(registry.Unregister("userspace").ok());
  EXPECT_FALSE(registry.Contains("userspace"));
  EXPECT_THAT(registry.Names(), ElementsAre("kernel", "ndiffports"));
  absl::StatusOr<std::unique_ptr<PathManager>> pm = registry.Create(WithPolicy("userspace"));
  EXPECT_EQ(pm.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Message(pm.status()), "unknown path manager \"userspace\" (known: kernel, ndiffports)");

  absl::Status again = registry.Unregister("userspace");
  EXPECT_EQ(again.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Message(again), "unknown path manager \"userspace\" (known: kernel, ndiffports)");
}

TEST(PathManagerRegistryTest, RegistersNewPolicies) {
  PathManagerRegistry registry;
  ASSERT_TRUE(registry.Register("binder", NamedFactory()).ok());
  EXPECT_THAT(registry.Names(), ElementsAre("binder", "kernel", "ndiffports", "userspace"));
  absl::StatusOr<std::unique_ptr<PathManager>> pm = registry.Create(WithPolicy("binder"));
  ASSERT_TRUE(pm.ok()) << pm.status();
  EXPECT_EQ((*pm)->name(), "named");
}

TEST(PathManagerRegistryTest, RefusesBadRegistrations) {
  PathManagerRegistry registry;
  absl::Status taken = registry.Register("ndiffports", NamedFactory());
  EXPECT_EQ(taken.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Message(taken), "path manager \"ndiffports\" is already registered");

  absl::Status empty = registry.Register("", NamedFactory());
  EXPECT_EQ(empty.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(empty), "path manager name must not be empty");

  absl::Status no_factory = registry.Register("binder", PathManagerFactory{});
  EXPECT_EQ(no_factory.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(no_factory), "path manager \"binder\": the factory is empty");
  EXPECT_FALSE(registry.Contains("binder"));
}

TEST(PathManagerRegistryTest, FactoryReturningNothingIsAnInternalError) {
  PathManagerRegistry registry;
  ASSERT_TRUE(
      registry
          .Register("void", [](const PathManagerConfig&) { return std::unique_ptr<PathManager>(); })
          .ok());
  absl::StatusOr<std::unique_ptr<PathManager>> pm = registry.Create(WithPolicy("void"));
  EXPECT_EQ(pm.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(Message(pm.status()), "path manager \"void\": the factory returned nothing");
}

TEST(PathManagerRegistryTest, CreateRefusesAnInvalidConfigNamingThePolicy) {
  PathManagerRegistry registry;
  PathManagerConfig config = WithPolicy("ndiffports");
  config.ndiffports = 0;
  absl::StatusOr<std::unique_ptr<PathManager>> pm = registry.Create(config);
  EXPECT_EQ(pm.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(pm.status()), "path manager \"ndiffports\": ndiffports: 0 is outside 1..8");
}

// ---- ValidatePathManagerConfig ----

TEST(ValidatePathManagerConfigTest, DefaultsAndLimitsAtTheirBoundsAreValid) {
  EXPECT_TRUE(ValidatePathManagerConfig(PathManagerConfig{}).ok());

  PathManagerConfig config;
  config.limits.subflows = kMaxPmLimit;
  config.limits.add_addr_accepted = kMaxPmLimit;
  config.ndiffports = 1;
  config.recreate_min = config.recreate_max = std::chrono::seconds(1);
  config.endpoints = {Ep(1, "10.0.1.1", kSignal, 8080),
                      Ep(255, "2001:db8::1", kSubflow | kBackup | kFullmesh),
                      Ep(7, "10.0.2.1", kNoFlags)};
  EXPECT_TRUE(ValidatePathManagerConfig(config).ok()) << ValidatePathManagerConfig(config);
  config.ndiffports = kMaxPmLimit;
  EXPECT_TRUE(ValidatePathManagerConfig(config).ok());
}

struct BadConfig {
  std::string name;
  std::function<void(PathManagerConfig&)> mutate;
  std::string message;
};

void PrintTo(const BadConfig& bad, std::ostream* os) { *os << bad.name; }

class ValidateRuleTest : public ::testing::TestWithParam<BadConfig> {};

TEST_P(ValidateRuleTest, RefusesWithAMessageNamingFieldAndValue) {
  PathManagerConfig config;
  config.endpoints = {Ep(1, "10.0.1.1", kSignal), Ep(2, "10.0.2.1", kSubflow)};
  ASSERT_TRUE(ValidatePathManagerConfig(config).ok());
  GetParam().mutate(config);
  absl::Status s = ValidatePathManagerConfig(config);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(s), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    EveryRule, ValidateRuleTest,
    ::testing::Values(
        BadConfig{"EmptyPolicy", [](PathManagerConfig& c) { c.policy.clear(); },
                  "policy: must not be empty"},
        BadConfig{"SubflowLimit", [](PathManagerConfig& c) { c.limits.subflows = 9; },
                  "limits.subflows: 9 exceeds the maximum of 8"},
        BadConfig{"AddAddrLimit", [](PathManagerConfig& c) { c.limits.add_addr_accepted = 100; },
                  "limits.add_addr_accepted: 100 exceeds the maximum of 8"},
        BadConfig{"IdZero",
                  [](PathManagerConfig& c) { c.endpoints.push_back(Ep(0, "10.0.3.1", kSubflow)); },
                  "endpoints[2].id: 0 is reserved for the initial address"},
        BadConfig{"DuplicateId",
                  [](PathManagerConfig& c) { c.endpoints.push_back(Ep(2, "10.0.3.1", kSubflow)); },
                  "endpoints[2].id: 2 is already used by endpoints[1]"},
        BadConfig{"DuplicateAddress",
                  [](PathManagerConfig& c) { c.endpoints.push_back(Ep(3, "10.0.1.1", kSubflow)); },
                  "endpoints[2].address: 10.0.1.1 is already used by endpoints[0]"},
        BadConfig{"DuplicateIpv6Address",
                  [](PathManagerConfig& c) {
                    c.endpoints.push_back(Ep(3, "2001:db8::7", kSubflow));
                    c.endpoints.push_back(Ep(4, "2001:db8:0::7", kSignal));
                  },
                  "endpoints[3].address: 2001:db8::7 is already used by endpoints[2]"},
        BadConfig{"UnspecifiedAddress",
                  [](PathManagerConfig& c) { c.endpoints[1].address = testing::Ip("0.0.0.0"); },
                  "endpoints[1].address: 0.0.0.0 is unspecified"},
        BadConfig{"PortWithoutSignal", [](PathManagerConfig& c) { c.endpoints[1].port = 8080; },
                  "endpoints[1].port: 8080 is only allowed with signal"},
        BadConfig{"PortZero", [](PathManagerConfig& c) { c.endpoints[0].port = 0; },
                  "endpoints[0].port: 0 is not a valid port"},
        BadConfig{"SignalWithFullmesh",
                  [](PathManagerConfig& c) { c.endpoints[0].fullmesh = true; },
                  "endpoints[0].fullmesh: true cannot be combined with signal"},
        BadConfig{"NdiffportsZero", [](PathManagerConfig& c) { c.ndiffports = 0; },
                  "ndiffports: 0 is outside 1..8"},
        BadConfig{"NdiffportsNine", [](PathManagerConfig& c) { c.ndiffports = 9; },
                  "ndiffports: 9 is outside 1..8"},
        BadConfig{"AddAddrTimeoutZero",
                  [](PathManagerConfig& c) { c.add_addr_timeout = tcp::Duration::zero(); },
                  "add_addr_timeout: 0ns must be positive"},
        BadConfig{"RecreateMinNegative",
                  [](PathManagerConfig& c) { c.recreate_min = -std::chrono::milliseconds(5); },
                  "recreate_min: -5ms must be positive"},
        BadConfig{"RecreateMaxZero",
                  [](PathManagerConfig& c) { c.recreate_max = tcp::Duration::zero(); },
                  "recreate_max: 0ns must be positive"},
        BadConfig{"RecreateMinAboveMax",
                  [](PathManagerConfig& c) {
                    c.recreate_min = std::chrono::seconds(40);
                    c.recreate_max = std::chrono::milliseconds(1500);
                  },
                  "recreate_min: 40s is above recreate_max (1500ms)"},
        BadConfig{"RecreateMinInMicroseconds",
                  [](PathManagerConfig& c) {
                    c.recreate_min = std::chrono::microseconds(2500);
                    c.recreate_max = std::chrono::microseconds(2001);
                  },
                  "recreate_min: 2500us is above recreate_max (2001us)"}),
    [](const ::testing::TestParamInfo<BadConfig>& param_info) { return param_info.param.name; });

TEST(SubflowCloseReasonNameTest, NamesEveryReason) {
  EXPECT_EQ(SubflowCloseReasonName(SubflowCloseReason::kPeerReset), "peer_reset");
  EXPECT_EQ(SubflowCloseReasonName(SubflowCloseReason::kTimeout), "timeout");
  EXPECT_EQ(SubflowCloseReasonName(SubflowCloseReason::kJoinFailed), "join_failed");
  EXPECT_EQ(SubflowCloseReasonName(SubflowCloseReason::kRemoved), "removed");
  EXPECT_EQ(SubflowCloseReasonName(SubflowCloseReason::kLocalClose), "local_close");
  EXPECT_EQ(SubflowCloseReasonName(SubflowCloseReason::kPathDown), "path_down");
  EXPECT_EQ(SubflowCloseReasonName(SubflowCloseReason::kConnectionClosed), "connection_closed");
  EXPECT_EQ(SubflowCloseReasonName(static_cast<SubflowCloseReason>(200)), "unknown");
}

}  // namespace
}  // namespace braid::mptcp
