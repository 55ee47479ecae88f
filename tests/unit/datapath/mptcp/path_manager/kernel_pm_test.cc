#include "datapath/mptcp/path_manager/kernel_pm.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/unit/datapath/mptcp/path_manager/fake_connection.h"

namespace braid::mptcp {
namespace {

using namespace std::chrono_literals;
using ::braid::mptcp::testing::At;
using ::braid::mptcp::testing::Ep;
using ::braid::mptcp::testing::FakeConnection;
using ::braid::mptcp::testing::Ip;
using ::braid::mptcp::testing::kBackup;
using ::braid::mptcp::testing::kFullmesh;
using ::braid::mptcp::testing::kSignal;
using ::braid::mptcp::testing::kSubflow;
using ::braid::mptcp::testing::Remote;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr uint16_t kPort = FakeConnection::kInitialRemotePort;

// What a request asked for, in one comparable line.
struct Asked {
  std::optional<uint8_t> local_id;  // nullopt: route-chosen
  std::string remote;
  uint16_t port = 0;
  uint8_t remote_id = 0;
  bool backup = false;
  friend bool operator==(const Asked&, const Asked&) = default;
  friend std::ostream& operator<<(std::ostream& os, const Asked& a) {
    os << "{local ";
    if (a.local_id) {
      os << int{*a.local_id};
    } else {
      os << "route";
    }
    return os << " -> " << a.remote << ":" << a.port << " id " << int{a.remote_id}
              << (a.backup ? " backup}" : "}");
  }
};

std::vector<Asked> Requests(const std::vector<SubflowRequest>& requests) {
  std::vector<Asked> out;
  for (const SubflowRequest& r : requests) {
    out.push_back(Asked{r.local ? std::optional<uint8_t>(r.local->id) : std::nullopt,
                        wire::ToString(r.remote), r.remote_port, r.remote_id, r.backup});
  }
  return out;
}

Asked To(std::optional<uint8_t> local_id, std::string remote, uint16_t port = kPort,
         uint8_t remote_id = 0, bool backup = false) {
  return Asked{local_id, std::move(remote), port, remote_id, backup};
}

class KernelPmTest : public ::testing::Test {
 protected:
  KernelPmTest() {
    config_.recreate_min = 500ms;
    config_.recreate_max = 2s;
  }

  // A client connection 10.0.0.1 -> 10.9.0.1:5201 and its policy, from config_.
  void Start(bool client = true, std::string_view local = "10.0.0.1",
             std::string_view remote = "10.9.0.1") {
    conn_.emplace(config_, client, local, remote);
    pm_.emplace(config_);
  }
  FakeConnection& conn() { return *conn_; }
  KernelPathManager& pm() { return *pm_; }

  PathManagerConfig config_;
  std::optional<FakeConnection> conn_;
  std::optional<KernelPathManager> pm_;
};

// ---- Announcements ----

TEST_F(KernelPmTest, SignalsEndpointsOneAtATimeInOrder) {
  config_.endpoints = {Ep(1, "10.0.1.1", kSignal), Ep(2, "10.0.2.1", kSignal),
                       Ep(3, "10.0.3.1", kSubflow), Ep(4, "10.0.4.1", kSignal, 8080)};
  Start();
  conn().Establish(pm(), At(0ms));
  EXPECT_THAT(conn().announces, ElementsAre(1));
  EXPECT_EQ(pm().announcing(), 1);

  // Other events do not push the next one out while the first awaits its echo.
  conn().EstablishSubflow(pm(), conn().last_id(), At(10ms));
  conn().SetPath(pm(), "10.0.2.1", true, At(11ms));
  EXPECT_THAT(conn().announces, ElementsAre(1));

  conn().AnnounceDone(pm(), 1, /*echoed=*/true, At(20ms));
  EXPECT_THAT(conn().announces, ElementsAre(1, 2));
  // Given up after its retries: the next one goes all the same.
  conn().AnnounceDone(pm(), 2, /*echoed=*/false, At(8s));
  EXPECT_THAT(conn().announces, ElementsAre(1, 2, 4));
  conn().AnnounceDone(pm(), 4, /*echoed=*/true, At(9s));
  EXPECT_THAT(conn().announces, ElementsAre(1, 2, 4));
  EXPECT_EQ(pm().announcing(), std::nullopt);
  EXPECT_EQ(pm().add_addr_signaled(), 3u);
}

TEST_F(KernelPmTest, TheEndOfAnotherAnnouncementDoesNotAdvanceTheQueue) {
  config_.endpoints = {Ep(1, "10.0.1.1", kSignal), Ep(2, "10.0.2.1", kSignal)};
  Start();
  conn().Establish(pm(), At(0ms));
  conn().AnnounceDone(pm(), 9, true, At(1ms));
  EXPECT_THAT(conn().announces, ElementsAre(1));
}

TEST_F(KernelPmTest, RefusedAnnouncementMovesOnAndIsTriedAgainLater) {
  config_.endpoints = {Ep(1, "10.0.1.1", kSignal), Ep(2, "10.0.2.1", kSignal)};
  Start();
  conn().fail_announce = {1};
  conn().Establish(pm(), At(0ms));
  EXPECT_THAT(conn().announce_attempts, ElementsAre(1, 2));
  EXPECT_THAT(conn().announces, ElementsAre(2));

  conn().fail_announce.clear();
  conn().AnnounceDone(pm(), 2, true, At(5ms));
  EXPECT_THAT(conn().announces, ElementsAre(2, 1));
}

TEST_F(KernelPmTest, DoesNotAnnounceTheInitialAddress) {
  config_.endpoints = {Ep(1, "10.0.0.1", kSignal), Ep(2, "10.0.2.1", kSignal)};
  Start();
  conn().Establish(pm(), At(0ms));
  conn().AnnounceDone(pm(), 2, true, At(5ms));
  EXPECT_THAT(conn().announces, ElementsAre(2));
}

TEST_F(KernelPmTest, ABackupEndpointOnTheInitialAddressMakesTheInitialSubflowBackup) {
  config_.endpoints = {Ep(1, "10.0.0.1", kSubflow | kBackup), Ep(2, "10.0.2.1", kSubflow)};
  Start();
  conn().Establish(pm(), At(0ms));
  EXPECT_THAT(conn().backups, ElementsAre(std::pair<uint32_t, bool>(1, true)));
  EXPECT_THAT(Requests(conn().opens), ElementsAre(To(2, "10.9.0.1")));
}

TEST_F(KernelPmTest, DoesNothingBeforeTheConnectionIsEstablished) {
  config_.endpoints = {Ep(1, "10.0.1.1", kSignal), Ep(2, "10.0.2.1", kSubflow)};
  Start();
  conn().AnnounceDone(pm(), 1, true, At(0ms));
  conn().SetPath(pm(), "10.0.2.1", true, At(1ms));
  EXPECT_EQ(conn().actions(), 0u);
  conn().Establish(pm(), At(2ms));
  EXPECT_THAT(conn().announces, ElementsAre(1));
  EXPECT_THAT(Requests(conn().opens), ElementsAre(To(2, "10.9.0.1")));
}

// ---- Subflows from endpoints ----

TEST_F(KernelPmTest, SubflowEndpointsOpenToTheInitialAddressWithinTheLimit) {
  config_.endpoints = {Ep(1, "10.0.1.1", kSubflow), Ep(2, "10.0.2.1", kSubflow),
                       Ep(3, "10.0.3.1", kSubflow), Ep(4, "10.0.4.1", kSubflow)};
  config_.limits.subflows = 2;
  Start();
  conn().Establish(pm(), At(0ms));
  EXPECT_THAT(Requests(conn().opens), ElementsAre(To(1, "10.9.0.1"), To(2, "10.9.0.1")));
  EXPECT_EQ(conn().opens[0].local->address, Ip("10.0.1.1"));
  EXPECT_EQ(conn().subflows().size(), 3u);
  conn().EstablishSubflow(pm(), 2, At(5ms));
  conn().EstablishSubflow(pm(), 3, At(5ms));
  EXPECT_EQ(conn().open_attempts.size(), 2u);
}

TEST_F(KernelPmTest, EachEndpointIsUsedOnce) {
  config_.endpoints = {Ep(1, "10.0.1.1", kSubflow), Ep(2, "10.0.2.1", kSubflow)};
  config_.limits.subflows = 8;
  Start();
  conn().Establish(pm(), At(0ms));
  conn().EstablishSubflow(pm(), 2, At(5ms));
  conn().EstablishSubflow(pm(), 3, At(6ms));
  conn().AnnounceDone(pm(), 7, true, At(7ms));
  conn().SetPath(pm(), "10.0.1.1", true, At(8ms));
  EXPECT_THAT(Requests(conn().open_attempts), ElementsAre(To(1, "10.9.0.1"), To(2, "10.9.0.1")));
}

TEST_F(KernelPmTest, SkipsTheEndpointOfTheInitialAddress) {
  config_.endpoints = {Ep(1, "10.0.0.1", kSubflow), Ep(2, "10.0.2.1", kSubflow)};
  Start();
  conn().Establish(pm(), At(0ms));
  EXPECT_THAT(Requests(conn().opens), ElementsAre(To(2, "10.9.0.1")));
}

TEST_F(KernelPmTest, SkipsEndpointsOfTheOtherFamily) {
  config_.endpoints = {Ep(1, "2001:db8::1", kSubflow), Ep(2, "10.0.2.1", kSubflow),
                       Ep(3, "2001:db8::3", kSubflow | kFullmesh)};
  config_.limits = {.subflows = 8, .add_addr_accepted = 8};
  Start();
  conn().Establish(pm(), At(0ms));
  EXPECT_THAT(Requests(conn().opens), ElementsAre(To(2, "10.9.0.1")));

  // An IPv4 address: no IPv4 fullmesh endpoint, the route picks the source.
  conn().AddAddr(pm(), Remote(1, "10.9.1.1"), At(10ms));
  // An IPv6 address: from the IPv6 fullmesh endpoint.
  conn().AddAddr(pm(), Remote(2, "2001:db8:9::1", 443), At(20ms));
  EXPECT_THAT(Requests(conn().opens),
              ElementsAre(To(2, "10.9.0.1"), To(std::nullopt, "10.9.1.1", kPort, 1),
                          To(3, "2001:db8:9::1", 443, 2)));
}

TEST_F(KernelPmTest, AnIpv6ConnectionSkipsIpv4Endpoints) {
  config_.endpoints = {Ep(1, "10.0.1.1", kSubflow), Ep(2, "2001:db8::2", kSubflow)};
  Start(true, "2001:db8::1", "2001:db8:9::1");
  conn().Establish(pm(), At(0ms));
  EXPECT_THAT(Requests(conn().opens), ElementsAre(To(2, "2001:db8:9::1")));
}

TEST_F(KernelPmTest, BackupEndpointsAskForBackupSubflows) {
  config_.endpoints = {Ep(1, "10.0.1.1", kSubflow | kBackup), Ep(2, "10.0.2.1", kSubflow),
                       Ep(3, "10.0.3.1", kSubflow | kFullmesh | kBackup)};
  config_.limits = {.subflows = 8, .add_addr_accepted = 8};
  Start();
  conn().Establish(pm(), At(0ms));
  conn().AddAddr(pm(), Remote(1, "10.9.1.1"), At(10ms));
  EXPECT_THAT(Requests(conn().opens),
              ElementsAre(To(1, "10.9.0.1", kPort, 0, true), To(2, "10.9.0.1"),
                          To(3, "10.9.0.1", kPort, 0, true), To(3, "10.9.1.1", kPort, 1, true)));
  EXPECT_TRUE(conn().subflows()[1].backup);
  EXPECT_FALSE(conn().subflows()[2].backup);
}

TEST_F(KernelPmTest, FullmeshReachesEveryAddressOfThePeer) {
  config_.endpoints = {Ep(1, "10.0.1.1", kSubflow | kFullmesh),
                       Ep(2, "10.0.2.1", kSubflow | kFullmesh)};
  config_.limits = {.subflows = 8, .add_addr_accepted = 8};
  Start();
  conn().Establish(pm(), At(0ms));
  EXPECT_THAT(Requests(conn().opens), ElementsAre(To(1, "10.9.0.1"), To(2, "10.9.0.1")));

  conn().AddAddr(pm(), Remote(1, "10.9.1.1"), At(10ms));
  conn().AddAddr(pm(), Remote(2, "10.9.2.1", 8080), At(20ms));
  EXPECT_THAT(Requests(conn().opens),
              ElementsAre(To(1, "10.9.0.1"), To(2, "10.9.0.1"), To(1, "10.9.1.1", kPort, 1),
                          To(2, "10.9.1.1", kPort, 1), To(1, "10.9.2.1", 8080, 2),
                          To(2, "10.9.2.1", 8080, 2)));
  EXPECT_EQ(pm().add_addr_accepted(), 2u);
  EXPECT_EQ(conn().subflows().size(), 7u);
}

TEST_F(KernelPmTest, FullmeshStopsAtTheSubflowLimit) {
  config_.endpoints = {Ep(1, "10.0.1.1", kSubflow | kFullmesh),
                       Ep(2, "10.0.2.1", kSubflow | kFullmesh)};
  config_.limits = {.subflows = 3, .add_addr_accepted = 8};
  Start();
  conn().Establish(pm(), At(0ms));
  conn().AddAddr(pm(), Remote(1, "10.9.1.1"), At(10ms));
  conn().AddAddr(pm(), Remote(2, "10.9.2.1"), At(20ms));
  EXPECT_THAT(Requests(conn().opens),
              ElementsAre(To(1, "10.9.0.1"), To(2, "10.9.0.1"), To(1, "10.9.1.1", kPort, 1)));
  EXPECT_EQ(pm().add_addr_accepted(), 1u);
}

// ---- The peer's announcements ----

TEST_F(KernelPmTest, IgnoresAnnouncementsByDefault) {
  Start();  // add_addr_accepted = 0, as in Linux
  conn().Establish(pm(), At(0ms));
  conn().AddAddr(pm(), Remote(1, "10.9.1.1"), At(10ms));
  EXPECT_THAT(conn().open_attempts, IsEmpty());
  EXPECT_EQ(pm().add_addr_accepted(), 0u);
}

TEST_F(KernelPmTest, ActsOnAtMostAddAddrAcceptedAnnouncements) {
  config_.limits = {.subflows = 8, .add_addr_accepted = 1};
  Start();
  conn().Establish(pm(), At(0ms));
  conn().AddAddr(pm(), Remote(1, "10.9.1.1"), At(10ms));
  conn().AddAddr(pm(), Remote(2, "10.9.2.1", 7000), At(20ms));
  EXPECT_THAT(Requests(conn().opens), ElementsAre(To(std::nullopt, "10.9.1.1", kPort, 1)));
  EXPECT_EQ(pm().add_addr_accepted(), 1u);

  // REMOVE_ADDR gives the announcement back, as the kernel does.
  conn().RemoveAddr(pm(), 1, At(30ms));
  EXPECT_EQ(pm().add_addr_accepted(), 0u);
  conn().AddAddr(pm(), Remote(3, "10.9.3.1", 7000), At(40ms));
  EXPECT_THAT(Requests(conn().opens), ElementsAre(To(std::nullopt, "10.9.1.1", kPort, 1),
                                                  To(std::nullopt, "10.9.3.1", 7000, 3)));
}

TEST_F(KernelPmTest, AnAddressAlreadyReachedIsNotCounted) {
  config_.limits = {.subflows = 8, .add_addr_accepted = 2};
  Start();
  conn().Establish(pm(), At(0ms));
  conn().AddAddr(pm(), Remote(1, "10.9.0.1", 9000), At(10ms));
  EXPECT_THAT(conn().open_attempts, IsEmpty());
  EXPECT_EQ(pm().add_addr_accepted(), 0u);
}

TEST_F(KernelPmTest, AnnouncementsNeedAFreeSubflowSlot) {
  config_.endpoints = {Ep(1, "10.0.1.1", kSubflow)};
  config_.limits = {.subflows = 1, .add_addr_accepted = 8};
  Start();
  conn().Establish(pm(), At(0ms));
  conn().AddAddr(pm(), Remote(1, "10.9.1.1"), At(10ms));
  EXPECT_THAT(Requests(conn().opens), ElementsAre(To(1, "10.9.0.1")));
  EXPECT_EQ(pm().add_addr_accepted(), 0u);
}

// ---- Joins from the peer ----

TEST_F(KernelPmTest, AcceptsJoinsWithinTheSubflowLimit) {
  config_.limits.subflows = 2;
  Start(/*client=*/false);
  conn().Establish(pm(), At(0ms));
  std::optional<uint32_t> a = conn().Join(pm(), "10.0.0.1", "10.9.1.1");
  std::optional<uint32_t> b = conn().Join(pm(), "10.0.0.1", "10.9.2.1");
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(conn().Join(pm(), "10.0.0.1", "10.9.3.1"));
  conn().Close(pm(), *a, SubflowCloseReason::kPeerReset, At(1s));
  EXPECT_TRUE(conn().Join(pm(), "10.0.0.1", "10.9.3.1"));
  // Joins are the peer's: none of them is opened again.
  EXPECT_EQ(pm().NextTimer(), std::nullopt);
}

TEST_F(KernelPmTest, RefusesEveryJoinWithALimitOfZero) {
  config_.limits.subflows = 0;
  Start(/*client=*/false);
  conn().Establish(pm(), At(0ms));
  EXPECT_FALSE(conn().Join(pm(), "10.0.0.1", "10.9.1.1"));
}

// ---- Re-creation (Braid's addition) ----

TEST_F(KernelPmTest, RecreatesAfterATimeoutWithABackoffDoublingUpToTheMaximum) {
  config_.endpoints = {Ep(1, "10.0.1.1", kSubflow | kBackup)};
  Start();
  conn().Establish(pm(), At(0ms));
  ASSERT_EQ(conn().opens.size(), 1u);
  const uint32_t first = conn().last_id();
  conn().EstablishSubflow(pm(), first, At(10ms));
  conn().Close(pm(), first, SubflowCloseReason::kTimeout, At(10s));

  // The connection refuses for a while: every attempt fails and the wait doubles, up to 2 s.
  conn().fail_open = true;
  std::vector<tcp::Instant> attempts;
  for (int i = 0; i < 5; ++i) {
    std::optional<tcp::Instant> next = pm().NextTimer();
    ASSERT_TRUE(next);
    EXPECT_EQ(conn().RunTimers(pm(), *next - 1ns), 0);
    EXPECT_EQ(conn().RunTimers(pm(), *next), 1);
    attempts.push_back(*next);
  }
  EXPECT_THAT(attempts,
              ElementsAre(At(10500ms), At(11500ms), At(13500ms), At(15500ms), At(17500ms)));
  EXPECT_EQ(conn().open_attempts.size(), 6u);
  EXPECT_EQ(pm().NextTimer(), At(19500ms));

  // Accepted at last: the same subflow as before.
  conn().fail_open = false;
  EXPECT_EQ(conn().RunTimers(pm(), At(19500ms)), 1);
  EXPECT_THAT(Requests(conn().opens),
              ElementsAre(To(1, "10.9.0.1", kPort, 0, true), To(1, "10.9.0.1", kPort, 0, true)));
  EXPECT_EQ(pm().NextTimer(), std::nullopt);

  // It fails before coming up: the backoff goes on from where it was.
  conn().Close(pm(), conn().last_id(), SubflowCloseReason::kJoinFailed, At(20s));
  EXPECT_EQ(pm().NextTimer(), At(22s));
  conn().RunTimers(pm(), At(22s));
  ASSERT_EQ(conn().opens.size(), 3u);
  // Once up, the next failure starts again from the minimum.
  conn().EstablishSubflow(pm(), conn().last_id(), At(22100ms));
  conn().Close(pm(), conn().last_id(), SubflowCloseReason::kPeerReset, At(30s));
  EXPECT_EQ(pm().NextTimer(), At(30500ms));
}

TEST_F(KernelPmTest, RetriesAtOnceWhenThePathComesBack) {
  config_.endpoints = {Ep(1, "10.0.1.1", kSubflow)};
  Start();
  conn().Establish(pm(), At(0ms));
  conn().EstablishSubflow(pm(), conn().last_id(), At(5ms));

  conn().SetPath(pm(), "10.0.1.1", false, At(1s));  // closes its subflow (kPathDown)
  EXPECT_EQ(conn().subflows().size(), 1u);
  EXPECT_EQ(pm().NextTimer(), At(1500ms));
  // Still down when the timer fires: no attempt, and a longer wait.
  conn().RunTimers(pm(), At(1500ms));
  EXPECT_EQ(conn().open_attempts.size(), 1u);
  EXPECT_EQ(pm().NextTimer(), At(2500ms));

  conn().SetPath(pm(), "10.0.1.1", true, At(2s));
  ASSERT_EQ(conn().open_attempts.size(), 2u);
  EXPECT_THAT(Requests(conn().opens), ElementsAre(To(1, "10.9.0.1"), To(1, "10.9.0.1")));
  EXPECT_EQ(pm().NextTimer(), std::nullopt);
}

TEST_F(KernelPmTest, AnotherPathComingBackDoesNotHurry) {
  config_.endpoints = {Ep(1, "10.0.1.1", kSubflow), Ep(2, "10.0.2.1", kSubflow)};
  Start();
  conn().Establish(pm(), At(0ms));
  conn().Close(pm(), 2, SubflowCloseReason::kTimeout, At(1s));
  conn().SetPath(pm(), "10.0.2.1", true, At(1100ms));
  EXPECT_EQ(conn().open_attempts.size(), 2u);
  EXPECT_EQ(pm().NextTimer(), At(1500ms));
}

TEST_F(KernelPmTest, AnEndpointWhosePathIsDownWaitsForIt) {
  config_.endpoints = {Ep(1, "10.0.1.1", kSubflow), Ep(2, "10.0.2.1", kSubflow)};
  Start();
  conn().MarkPathDown("10.0.1.1");
  conn().Establish(pm(), At(0ms));
  EXPECT_THAT(Requests(conn().open_attempts), ElementsAre(To(2, "10.9.0.1")));
  // Not a failure to back off from: the path's return is what it waits for.
  EXPECT_EQ(pm().NextTimer(), std::nullopt);
  conn().SetPath(pm(), "10.0.1.1", true, At(3s));
  EXPECT_THAT(Requests(conn().opens), ElementsAre(To(2, "10.9.0.1"), To(1, "10.9.0.1")));
}

TEST_F(KernelPmTest, AFirstOpenThatFailsIsRetried) {
  config_.endpoints = {Ep(1, "10.0.1.1", kSubflow)};
  Start();
  conn().fail_open = true;
  conn().Establish(pm(), At(0ms));
  EXPECT_EQ(conn().open_attempts.size(), 1u);
  conn().fail_open = false;
  conn().RunTimers(pm(), At(500ms));
  EXPECT_THAT(Requests(conn().opens), ElementsAre(To(1, "10.9.0.1")));
}

TEST_F(KernelPmTest, ForgetsAnAddressThePeerRemoves) {
  config_.limits = {.subflows = 8, .add_addr_accepted = 8};
  Start();
  conn().Establish(pm(), At(0ms));
  conn().AddAddr(pm(), Remote(1, "10.9.1.1"), At(10ms));
  conn().AddAddr(pm(), Remote(2, "10.9.2.1"), At(10ms));
  ASSERT_EQ(conn().opens.size(), 2u);
  // One failed and waits; then the peer withdraws both addresses.
  conn().Close(pm(), 2, SubflowCloseReason::kTimeout, At(1s));
  EXPECT_EQ(pm().NextTimer(), At(1500ms));
  conn().RemoveAddr(pm(), 1, At(1100ms));
  conn().RemoveAddr(pm(), 2, At(1100ms));  // closes subflow 3 with kRemoved
  EXPECT_EQ(pm().NextTimer(), std::nullopt);
  EXPECT_EQ(conn().RunTimers(pm(), At(100s)), 0);
  conn().SetPath(pm(), "10.0.0.1", true, At(101s));
  EXPECT_EQ(conn().open_attempts.size(), 2u);
}

TEST_F(KernelPmTest, SubflowsClosedOnPurposeAreNotRecreated) {
  config_.endpoints = {Ep(1, "10.0.1.1", kSubflow), Ep(2, "10.0.2.1", kSubflow)};
  config_.limits.subflows = 4;
  Start();
  conn().Establish(pm(), At(0ms));
  conn().Close(pm(), 2, SubflowCloseReason::kLocalClose, At(1s));
  EXPECT_EQ(pm().NextTimer(), std::nullopt);
  conn().Close(pm(), 3, SubflowCloseReason::kRemoved, At(1s));
  EXPECT_EQ(pm().NextTimer(), std::nullopt);
  EXPECT_EQ(conn().RunTimers(pm(), At(100s)), 0);
  EXPECT_EQ(conn().open_attempts.size(), 2u);
}

TEST_F(KernelPmTest, TheEndOfTheConnectionStopsEveryRecreation) {
  config_.endpoints = {Ep(1, "10.0.1.1", kSubflow), Ep(2, "10.0.2.1", kSubflow)};
  Start();
  conn().Establish(pm(), At(0ms));
  conn().Close(pm(), 2, SubflowCloseReason::kTimeout, At(1s));
  ASSERT_TRUE(pm().NextTimer());
  conn().Close(pm(), 3, SubflowCloseReason::kConnectionClosed, At(1100ms));
  conn().Close(pm(), 1, SubflowCloseReason::kConnectionClosed, At(1100ms));
  EXPECT_EQ(pm().NextTimer(), std::nullopt);
  conn().SetPath(pm(), "10.0.1.1", true, At(2s));
  EXPECT_EQ(conn().open_attempts.size(), 2u);
}

TEST_F(KernelPmTest, TheInitialSubflowIsNotRecreated) {
  config_.endpoints = {Ep(1, "10.0.1.1", kSubflow)};
  Start();
  conn().Establish(pm(), At(0ms));
  conn().Close(pm(), 1, SubflowCloseReason::kTimeout, At(1s));
  EXPECT_EQ(pm().NextTimer(), std::nullopt);
}

TEST_F(KernelPmTest, WithoutRecreationAFailedSubflowStaysClosedAsInTheKernel) {
  config_.endpoints = {Ep(1, "10.0.1.1", kSubflow), Ep(2, "10.0.2.1", kSubflow)};
  config_.recreate_subflows = false;
  Start();
  conn().fail_open = true;
  conn().Establish(pm(), At(0ms));
  EXPECT_EQ(conn().open_attempts.size(), 2u);
  conn().fail_open = false;
  conn().SetPath(pm(), "10.0.1.1", true, At(1s));
  EXPECT_EQ(conn().open_attempts.size(), 2u);
  EXPECT_EQ(pm().NextTimer(), std::nullopt);
}

TEST_F(KernelPmTest, WithoutRecreationAClosedSubflowIsNotOpenedAgain) {
  config_.endpoints = {Ep(1, "10.0.1.1", kSubflow)};
  config_.recreate_subflows = false;
  Start();
  conn().Establish(pm(), At(0ms));
  conn().Close(pm(), 2, SubflowCloseReason::kTimeout, At(1s));
  EXPECT_EQ(pm().NextTimer(), std::nullopt);
  conn().SetPath(pm(), "10.0.1.1", true, At(2s));
  EXPECT_EQ(conn().open_attempts.size(), 1u);
}

TEST_F(KernelPmTest, RecreationWaitsForAFreeSlot) {
  config_.endpoints = {Ep(1, "10.0.1.1", kSubflow)};
  config_.limits.subflows = 1;
  Start();
  conn().Establish(pm(), At(0ms));
  conn().Close(pm(), 2, SubflowCloseReason::kPeerReset, At(1s));
  // Meanwhile the peer joined and took the slot.
  std::optional<uint32_t> join = conn().Join(pm(), "10.0.0.1", "10.9.1.1");
  ASSERT_TRUE(join);
  conn().RunTimers(pm(), At(1500ms));
  EXPECT_EQ(conn().open_attempts.size(), 1u);
  conn().Close(pm(), *join, SubflowCloseReason::kPeerReset, At(2s));
  conn().RunTimers(pm(), At(3s));
  EXPECT_THAT(Requests(conn().opens), ElementsAre(To(1, "10.9.0.1"), To(1, "10.9.0.1")));
}

// ---- Server side ----

TEST_F(KernelPmTest, AServerAnnouncesButOpensNoSubflowFromItsEndpoints) {
  config_.endpoints = {Ep(1, "10.9.1.1", kSignal, 6000), Ep(2, "10.9.2.1", kSubflow),
                       Ep(3, "10.9.3.1", kSubflow | kFullmesh)};
  config_.limits = {.subflows = 8, .add_addr_accepted = 8};
  Start(/*client=*/false, "10.9.0.1", "10.0.0.1");
  conn().Establish(pm(), At(0ms));
  EXPECT_THAT(conn().announces, ElementsAre(1));
  EXPECT_THAT(conn().open_attempts, IsEmpty());

  // A client address without a port has no listener behind it; with a port it has.
  conn().AddAddr(pm(), Remote(1, "10.0.1.1"), At(10ms));
  EXPECT_THAT(conn().open_attempts, IsEmpty());
  conn().AddAddr(pm(), Remote(2, "10.0.2.1", 7000), At(20ms));
  EXPECT_THAT(Requests(conn().opens), ElementsAre(To(3, "10.0.2.1", 7000, 2)));
}

}  // namespace
}  // namespace braid::mptcp
