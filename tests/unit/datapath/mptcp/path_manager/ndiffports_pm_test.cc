#include "datapath/mptcp/path_manager/ndiffports_pm.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string_view>

#include "tests/unit/datapath/mptcp/path_manager/fake_connection.h"

namespace braid::mptcp {
namespace {

using namespace std::chrono_literals;
using ::braid::mptcp::testing::At;
using ::braid::mptcp::testing::Ep;
using ::braid::mptcp::testing::FakeConnection;
using ::braid::mptcp::testing::Ip;
using ::braid::mptcp::testing::kSignal;
using ::braid::mptcp::testing::kSubflow;
using ::braid::mptcp::testing::Remote;
using ::testing::IsEmpty;

class NdiffportsPmTest : public ::testing::Test {
 protected:
  NdiffportsPmTest() {
    config_.policy = "ndiffports";
    config_.ndiffports = 4;
    config_.recreate_min = 500ms;
    config_.recreate_max = 2s;
  }

  void Start(bool client = true) {
    conn_.emplace(config_, client, "10.0.0.1", "10.9.0.1");
    pm_.emplace(config_);
  }
  FakeConnection& conn() { return *conn_; }
  NdiffportsPathManager& pm() { return *pm_; }

  // Every extra subflow runs over the initial address pair, from a port of its own.
  void ExpectOverTheInitialPair() {
    std::set<uint16_t> ports{FakeConnection::kInitialLocalPort};
    for (const PmSubflow& s : conn().subflows()) {
      if (s.initial) continue;
      EXPECT_EQ(s.local_address, Ip("10.0.0.1"));
      EXPECT_EQ(s.remote_address, Ip("10.9.0.1"));
      EXPECT_EQ(s.remote_port, FakeConnection::kInitialRemotePort);
      EXPECT_EQ(s.remote_id, 0);
      EXPECT_EQ(s.local_id, 0);
      EXPECT_TRUE(ports.insert(s.local_port).second) << "port " << s.local_port << " twice";
    }
  }

  PathManagerConfig config_;
  std::optional<FakeConnection> conn_;
  std::optional<NdiffportsPathManager> pm_;
};

TEST_F(NdiffportsPmTest, OpensNdiffportsMinusOneSubflowsOverTheInitialPair) {
  Start();
  conn().Establish(pm(), At(0ms));
  ASSERT_EQ(conn().opens.size(), 3u);
  for (const SubflowRequest& r : conn().opens) {
    ASSERT_TRUE(r.local.has_value());
    EXPECT_EQ(r.local->id, 0);
    EXPECT_EQ(r.local->address, Ip("10.0.0.1"));
    EXPECT_EQ(r.remote, Ip("10.9.0.1"));
    EXPECT_EQ(r.remote_port, FakeConnection::kInitialRemotePort);
    EXPECT_EQ(r.remote_id, 0);
    EXPECT_FALSE(r.backup);
  }
  EXPECT_EQ(conn().subflows().size(), 4u);
  ExpectOverTheInitialPair();
}

TEST_F(NdiffportsPmTest, NdiffportsOfOneOpensNothing) {
  config_.ndiffports = 1;
  Start();
  conn().Establish(pm(), At(0ms));
  EXPECT_THAT(conn().open_attempts, IsEmpty());
}

TEST_F(NdiffportsPmTest, TheLargerOfTheLimitAndNdiffportsMinusOneBoundsJoins) {
  config_.limits.subflows = 2;
  Start();
  EXPECT_EQ(pm().limit(), 3u);
  conn().Establish(pm(), At(0ms));
  EXPECT_EQ(conn().opens.size(), 3u);  // ndiffports - 1 counts, not limits.subflows
  EXPECT_FALSE(conn().Join(pm(), "10.0.0.1", "10.9.1.1"));
  conn().Close(pm(), 2, SubflowCloseReason::kLocalClose, At(1s));
  EXPECT_TRUE(conn().Join(pm(), "10.0.0.1", "10.9.1.1"));

  config_.ndiffports = 2;
  config_.limits.subflows = 5;
  Start();
  EXPECT_EQ(pm().limit(), 5u);
}

TEST_F(NdiffportsPmTest, RecreatesFailedSubflowsOverTheSamePair) {
  Start();
  conn().Establish(pm(), At(0ms));
  conn().EstablishSubflow(pm(), 2, At(5ms));
  conn().Close(pm(), 2, SubflowCloseReason::kTimeout, At(1s));
  conn().Close(pm(), 3, SubflowCloseReason::kPeerReset, At(1s));
  EXPECT_EQ(pm().keeper().waiting(), 2u);
  EXPECT_EQ(pm().NextTimer(), At(1500ms));

  conn().fail_open = true;
  conn().RunTimers(pm(), At(1500ms));
  EXPECT_EQ(pm().NextTimer(), At(2500ms));
  conn().fail_open = false;
  conn().RunTimers(pm(), At(2500ms));
  EXPECT_EQ(conn().opens.size(), 5u);
  EXPECT_EQ(conn().subflows().size(), 4u);
  ExpectOverTheInitialPair();
  EXPECT_EQ(pm().NextTimer(), std::nullopt);
}

TEST_F(NdiffportsPmTest, RetriesAtOnceWhenThePathComesBack) {
  Start();
  conn().Establish(pm(), At(0ms));
  conn().SetPath(pm(), "10.0.0.1", false, At(1s));  // every subflow but the initial one goes
  EXPECT_EQ(pm().keeper().waiting(), 3u);
  conn().SetPath(pm(), "10.0.0.1", true, At(1200ms));
  EXPECT_EQ(conn().opens.size(), 6u);
  EXPECT_EQ(pm().NextTimer(), std::nullopt);
}

TEST_F(NdiffportsPmTest, ClosedOnPurposeStaysClosed) {
  Start();
  conn().Establish(pm(), At(0ms));
  conn().Close(pm(), 2, SubflowCloseReason::kLocalClose, At(1s));
  conn().Close(pm(), 3, SubflowCloseReason::kRemoved, At(1s));
  EXPECT_EQ(pm().NextTimer(), std::nullopt);
  // The last one failed and waits, but the peer then withdraws its initial address.
  conn().Close(pm(), 4, SubflowCloseReason::kTimeout, At(1500ms));
  EXPECT_EQ(pm().NextTimer(), At(2s));
  conn().RemoveAddr(pm(), 0, At(1600ms));
  EXPECT_EQ(pm().NextTimer(), std::nullopt);
  EXPECT_EQ(conn().RunTimers(pm(), At(100s)), 0);
  EXPECT_EQ(conn().open_attempts.size(), 3u);
}

TEST_F(NdiffportsPmTest, TheInitialSubflowIsNotOpenedAgain) {
  Start();
  conn().Establish(pm(), At(0ms));
  // The initial subflow has the same addresses as the others, but it is the connection's.
  conn().Close(pm(), 1, SubflowCloseReason::kTimeout, At(1s));
  EXPECT_EQ(pm().NextTimer(), std::nullopt);
  EXPECT_EQ(pm().keeper().owned(), 3u);
  conn().Close(pm(), 4, SubflowCloseReason::kTimeout, At(1s));
  EXPECT_EQ(pm().keeper().waiting(), 1u);
  conn().RunTimers(pm(), At(2s));
  EXPECT_EQ(conn().opens.size(), 4u);
  EXPECT_EQ(conn().subflows().size(), 3u);
}

TEST_F(NdiffportsPmTest, AServerOpensNothing) {
  Start(/*client=*/false);
  conn().Establish(pm(), At(0ms));
  EXPECT_THAT(conn().open_attempts, IsEmpty());
}

TEST_F(NdiffportsPmTest, AnnouncesNothingAndIgnoresAnnouncements) {
  config_.endpoints = {Ep(1, "10.0.1.1", kSignal), Ep(2, "10.0.2.1", kSubflow)};
  config_.limits = {.subflows = 8, .add_addr_accepted = 8};
  Start();
  conn().Establish(pm(), At(0ms));
  conn().AddAddr(pm(), Remote(1, "10.9.1.1"), At(10ms));
  conn().AnnounceDone(pm(), 1, true, At(20ms));
  EXPECT_THAT(conn().announce_attempts, IsEmpty());
  EXPECT_EQ(conn().open_attempts.size(), 3u);
  ExpectOverTheInitialPair();
}

}  // namespace
}  // namespace braid::mptcp
