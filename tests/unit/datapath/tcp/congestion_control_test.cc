#include "datapath/tcp/congestion_control.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "datapath/tcp/cc_types.h"
#include "datapath/tcp/cubic.h"
#include "datapath/tcp/newreno.h"
#include "datapath/tcp/time.h"
#include "tests/unit/datapath/tcp/cc_ack_clock.h"

namespace braid::tcp {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

constexpr uint32_t kSmss = 1000;
const Instant kT0 = InstantFromNanos(9'000'000'000);

CcParams Params() {
  CcParams p;
  p.common.smss = kSmss;
  return p;
}

CongestionController Make(std::string_view name) {
  CongestionControlRegistry registry;
  auto cc = registry.Create(name, Params());
  EXPECT_TRUE(cc.ok()) << registry.ErrorMessage(cc.error(), name);
  return std::move(cc).value();
}

TEST(CongestionControlRegistryTest, DefaultIsCubic) {
  CongestionControlRegistry registry;
  EXPECT_EQ(CongestionControlRegistry::kDefaultName, "cubic");
  EXPECT_EQ(registry.CreateDefault(Params()).name(), "cubic");
  // An unset name in the config selects the default.
  auto cc = registry.Create("", Params());
  ASSERT_TRUE(cc.ok());
  EXPECT_EQ(cc->name(), "cubic");
  EXPECT_NE(cc->get_if<Cubic>(), nullptr);
  EXPECT_EQ(registry.name_at(0), "cubic");
}

TEST(CongestionControlRegistryTest, CreateByName) {
  CongestionControlRegistry registry;
  ASSERT_EQ(registry.size(), 4u);
  EXPECT_TRUE(registry.Contains("cubic"));
  EXPECT_TRUE(registry.Contains("newreno"));
  EXPECT_TRUE(registry.Contains("lia"));
  EXPECT_TRUE(registry.Contains("olia"));

  auto reno = registry.Create("newreno", Params());
  ASSERT_TRUE(reno.ok());
  EXPECT_EQ(reno->name(), "newreno");
  EXPECT_NE(reno->get_if<NewReno>(), nullptr);
  EXPECT_EQ(reno->get_if<Cubic>(), nullptr);

  auto cubic = registry.Create("cubic", Params());
  ASSERT_TRUE(cubic.ok());
  EXPECT_EQ(cubic->name(), "cubic");
}

TEST(CongestionControlRegistryTest, UnknownNameIsAClearError) {
  CongestionControlRegistry registry;
  auto cc = registry.Create("bbr", Params());
  ASSERT_FALSE(cc.ok());
  EXPECT_EQ(cc.error(), CcError::kUnknownName);
  EXPECT_EQ(CcErrorName(cc.error()), "unknown_name");
  EXPECT_EQ(registry.KnownNames(), "cubic (default), newreno, lia, olia");
  EXPECT_EQ(registry.ErrorMessage(cc.error(), "bbr"),
            "unknown congestion control \"bbr\"; known: cubic (default), newreno, lia, olia");
  // Names are exact: no case folding.
  EXPECT_FALSE(registry.Create("CUBIC", Params()).ok());
}

TEST(CongestionControlRegistryTest, DefaultCannotBeRemoved) {
  CongestionControlRegistry registry;
  EXPECT_EQ(registry.Unregister("cubic"), CcError::kDefaultNotRemovable);
  EXPECT_THAT(registry.ErrorMessage(CcError::kDefaultNotRemovable, "cubic"), HasSubstr("default"));
  EXPECT_TRUE(registry.Contains("cubic"));

  EXPECT_EQ(registry.Unregister("newreno"), CcError::kNone);
  EXPECT_FALSE(registry.Contains("newreno"));
  EXPECT_EQ(registry.Create("newreno", Params()).error(), CcError::kUnknownName);
  EXPECT_EQ(registry.KnownNames(), "cubic (default), lia, olia");
  EXPECT_EQ(registry.Unregister("newreno"), CcError::kUnknownName);
  EXPECT_EQ(registry.CreateDefault(Params()).name(), "cubic");
}

CongestionController MakeSlowReno(const CcParams& params) {
  NewRenoConfig config = params.newreno;
  config.abc_limit_segments = 1;
  return CongestionController(NewReno(params.common, config));
}

TEST(CongestionControlRegistryTest, RegisterValidatesNames) {
  CongestionControlRegistry registry;
  EXPECT_EQ(registry.Register("reno-l1", &MakeSlowReno), CcError::kNone);
  EXPECT_EQ(registry.KnownNames(), "cubic (default), newreno, lia, olia, reno-l1");
  auto cc = registry.Create("reno-l1", Params());
  ASSERT_TRUE(cc.ok());
  EXPECT_EQ(cc->name(), "newreno");  // the algorithm's own name; the registry name is the alias

  EXPECT_EQ(registry.Register("reno-l1", &MakeSlowReno), CcError::kDuplicateName);
  EXPECT_EQ(registry.Register("cubic", &MakeSlowReno), CcError::kDuplicateName);
  EXPECT_EQ(registry.Register("", &MakeSlowReno), CcError::kInvalidName);
  EXPECT_EQ(registry.Register("Reno", &MakeSlowReno), CcError::kInvalidName);
  EXPECT_EQ(registry.Register("a name", &MakeSlowReno), CcError::kInvalidName);
  EXPECT_EQ(registry.Register("sixteen-chars-xx", &MakeSlowReno), CcError::kInvalidName);
  EXPECT_EQ(registry.Register("fifteen-chars-x", &MakeSlowReno), CcError::kNone);
  EXPECT_EQ(registry.Register("nofactory", nullptr), CcError::kInvalidName);
  EXPECT_THAT(registry.ErrorMessage(CcError::kInvalidName, "Reno"), HasSubstr("\"Reno\""));

  for (int i = registry.size(); i < static_cast<int>(CongestionControlRegistry::kMaxEntries); ++i) {
    EXPECT_EQ(registry.Register("extra" + std::to_string(i), &MakeSlowReno), CcError::kNone);
  }
  EXPECT_EQ(registry.Register("onemore", &MakeSlowReno), CcError::kRegistryFull);
  EXPECT_EQ(CcErrorName(CcError::kRegistryFull), "registry_full");
}

TEST(CongestionControllerTest, ParamsReachTheAlgorithm) {
  CcParams p = Params();
  p.common.initial_window_segments = 4;
  p.cubic.hystart = false;
  CongestionControlRegistry registry;
  auto cubic = registry.Create("cubic", p);
  ASSERT_TRUE(cubic.ok());
  EXPECT_EQ(cubic->cwnd(), 4 * kSmss);
  EXPECT_EQ(cubic->smss(), kSmss);
  EXPECT_EQ(cubic->get_if<Cubic>()->hystart_phase(), HyStartPhase::kDone);
  auto reno = registry.Create("newreno", p);
  ASSERT_TRUE(reno.ok());
  EXPECT_EQ(reno->cwnd(), 4 * kSmss);
}

TEST(CongestionControllerTest, ForwardsEveryEvent) {
  // Without a coupling group, LIA and OLIA are NewReno.
  for (std::string_view name : {"newreno", "cubic", "lia", "olia"}) {
    SCOPED_TRACE(name);
    CongestionController cc = Make(name);
    EXPECT_EQ(cc.name(), name);
    EXPECT_EQ(cc.cwnd(), 10 * kSmss);
    EXPECT_EQ(cc.ssthresh(), kInfiniteSsthresh);
    EXPECT_TRUE(cc.InSlowStart());

    AckEvent ack;
    ack.now = kT0;
    ack.bytes_acked = kSmss;
    cc.OnAck(ack);
    EXPECT_EQ(cc.cwnd(), 11 * kSmss);

    cc.OnCongestionEvent({kT0, 11 * kSmss, false});
    const uint64_t expected = name == "cubic" ? 7'700 : 5'500;  // β 0.7 vs 0.5
    EXPECT_EQ(cc.ssthresh(), expected);
    EXPECT_EQ(cc.cwnd(), expected);
    EXPECT_FALSE(cc.InSlowStart());
    cc.OnRecoveryExit(kT0);
    EXPECT_TRUE(cc.OnSpuriousCongestion(kT0));
    EXPECT_EQ(cc.cwnd(), 11 * kSmss);

    cc.OnRetransmitTimeout({kT0, 10 * kSmss, false});
    EXPECT_EQ(cc.cwnd(), kSmss);

    cc.SetSmss(500);
    EXPECT_EQ(cc.smss(), 500u);
    EXPECT_EQ(cc.cwnd(), 500u);

    cc.OnIdleRestart({kT0 + seconds(5), seconds(5), seconds(1)});
    EXPECT_EQ(cc.cwnd(), 500u);  // already below the restart window
  }
}

TEST(CongestionControllerTest, DrivenByAnAckClock) {
  // The wrapper is a drop-in for the algorithm itself: same windows, flight after flight.
  CcParams p = Params();
  p.cubic.hystart = false;
  CongestionController wrapped = CongestionControlRegistry().CreateDefault(p);
  Cubic direct(p.common, p.cubic);
  direct.OnCongestionEvent({kT0, 50 * kSmss, false});
  direct.OnRecoveryExit(kT0);
  wrapped.OnCongestionEvent({kT0, 50 * kSmss, false});
  wrapped.OnRecoveryExit(kT0);
  test::AckClock<CongestionController> wrapped_clock(wrapped, kT0, milliseconds(20));
  test::AckClock<Cubic> direct_clock(direct, kT0, milliseconds(20));
  for (int flight = 0; flight < 50; ++flight) {
    EXPECT_EQ(wrapped_clock.RunFlight(), direct_clock.RunFlight()) << "flight " << flight;
  }
}

}  // namespace
}  // namespace braid::tcp
