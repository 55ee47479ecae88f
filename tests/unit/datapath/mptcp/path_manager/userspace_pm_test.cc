#include "datapath/mptcp/path_manager/userspace_pm.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
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
using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<PmEventType> Types(const std::vector<PmEvent>& events) {
  std::vector<PmEventType> types;
  for (const PmEvent& e : events) types.push_back(e.type);
  return types;
}

PathManagerConfig BusyConfig() {
  PathManagerConfig config;
  config.policy = "userspace";
  config.endpoints = {Ep(1, "10.0.1.1", kSignal), Ep(2, "10.0.2.1", kSubflow)};
  config.limits = {.subflows = 2, .add_addr_accepted = 8};
  return config;
}

TEST(UserspacePmTest, RecordsEveryEventAndTakesNoAction) {
  const PathManagerConfig config = BusyConfig();
  FakeConnection conn(config, /*client=*/true, "10.0.0.1", "10.9.0.1");
  UserspacePathManager pm(config);

  conn.Establish(pm, At(1ms));
  conn.AddAddr(pm, Remote(3, "10.9.3.1", 7000), At(2ms));
  std::optional<uint32_t> join = conn.Join(pm, "10.0.0.1", "10.9.1.1");
  ASSERT_TRUE(join);
  conn.EstablishSubflow(pm, *join, At(3ms));
  conn.AnnounceDone(pm, 1, /*echoed=*/false, At(4ms));
  conn.Close(pm, *join, SubflowCloseReason::kPeerReset, At(5ms));
  conn.RemoveAddr(pm, 3, At(6ms));
  conn.SetPath(pm, "10.0.2.1", false, At(7ms));

  EXPECT_EQ(conn.actions(), 0u);
  EXPECT_EQ(pm.NextTimer(), std::nullopt);

  const std::vector<PmEvent> events = pm.Events();
  ASSERT_THAT(Types(events), ElementsAre(PmEventType::kEstablished, PmEventType::kAddAddr,
                                         PmEventType::kSubflowEstablished,
                                         PmEventType::kAnnounceDone, PmEventType::kSubflowClosed,
                                         PmEventType::kRemoveAddr, PmEventType::kPathChange));
  EXPECT_EQ(events[0].time, At(1ms));
  EXPECT_EQ(events[1].remote.id, 3);
  EXPECT_EQ(events[1].remote.address, Ip("10.9.3.1"));
  EXPECT_EQ(events[1].remote.port, 7000);
  EXPECT_EQ(events[2].subflow.id, *join);
  EXPECT_TRUE(events[2].subflow.established);
  EXPECT_EQ(events[3].local_id, 1);
  EXPECT_FALSE(events[3].echoed);
  EXPECT_EQ(events[4].subflow.id, *join);
  EXPECT_EQ(events[4].subflow.remote_address, Ip("10.9.1.1"));
  EXPECT_EQ(events[4].reason, SubflowCloseReason::kPeerReset);
  EXPECT_EQ(events[5].remote.id, 3);
  EXPECT_EQ(events[6].local, Ip("10.0.2.1"));
  EXPECT_FALSE(events[6].up);
  EXPECT_EQ(events[6].time, At(7ms));
  EXPECT_EQ(pm.recorded(), 7u);
  EXPECT_EQ(pm.dropped(), 0u);
}

TEST(UserspacePmTest, AcceptsJoinsWithinTheSubflowLimit) {
  const PathManagerConfig config = BusyConfig();
  FakeConnection conn(config, /*client=*/false, "10.9.0.1", "10.0.0.1");
  UserspacePathManager pm(config);
  EXPECT_TRUE(conn.Join(pm, "10.9.0.1", "10.0.1.1"));
  EXPECT_TRUE(conn.Join(pm, "10.9.0.1", "10.0.2.1"));
  EXPECT_FALSE(conn.Join(pm, "10.9.0.1", "10.0.3.1"));
}

TEST(UserspacePmTest, AFullRingDropsTheOldestAndCountsThem) {
  const PathManagerConfig config = BusyConfig();
  FakeConnection conn(config, /*client=*/true, "10.0.0.1", "10.9.0.1");
  UserspacePathManager pm(config, /*capacity=*/4);
  EXPECT_EQ(pm.capacity(), 4u);
  for (uint8_t id = 1; id <= 6; ++id) conn.AnnounceDone(pm, id, true, At(1ms * id));

  std::vector<PmEvent> events = pm.Events();
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events.front().local_id, 3);
  EXPECT_EQ(events.back().local_id, 6);
  EXPECT_EQ(pm.dropped(), 2u);
  EXPECT_EQ(pm.recorded(), 6u);
  EXPECT_EQ(pm.Events().size(), 4u);  // reading leaves them in place

  events = pm.Drain();
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].local_id, 3);
  EXPECT_EQ(pm.drained(), 4u);
  EXPECT_EQ(pm.size(), 0u);
  EXPECT_THAT(pm.Events(), IsEmpty());

  conn.AnnounceDone(pm, 7, true, At(7ms));
  events = pm.Drain();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].local_id, 7);
  EXPECT_EQ(pm.drained(), 5u);
  EXPECT_EQ(pm.dropped(), 2u);
}

TEST(UserspacePmTest, TheRegistryBuildsItWithTheDefaultCapacity) {
  PathManagerRegistry registry;
  absl::StatusOr<std::unique_ptr<PathManager>> created = registry.Create(BusyConfig());
  ASSERT_TRUE(created.ok()) << created.status();
  auto* pm = dynamic_cast<UserspacePathManager*>(created->get());
  ASSERT_NE(pm, nullptr);
  EXPECT_EQ(pm->capacity(), UserspacePathManager::kDefaultCapacity);
  EXPECT_EQ(UserspacePathManager::kDefaultCapacity, 256u);

  const PathManagerConfig config = BusyConfig();
  FakeConnection conn(config, /*client=*/true, "10.0.0.1", "10.9.0.1");
  for (int i = 0; i < 300; ++i) conn.SetPath(*pm, "10.0.1.1", i % 2 == 0, At(1ms * i));
  EXPECT_EQ(pm->size(), 256u);
  EXPECT_EQ(pm->dropped(), 44u);
  EXPECT_EQ(pm->Events().front().time, At(44ms));
}

TEST(UserspacePmTest, NamesEveryEventType) {
  EXPECT_EQ(PmEventTypeName(PmEventType::kEstablished), "ESTABLISHED");
  EXPECT_EQ(PmEventTypeName(PmEventType::kSubflowEstablished), "SF_ESTABLISHED");
  EXPECT_EQ(PmEventTypeName(PmEventType::kSubflowClosed), "SF_CLOSED");
  EXPECT_EQ(PmEventTypeName(PmEventType::kAddAddr), "ANNOUNCED");
  EXPECT_EQ(PmEventTypeName(PmEventType::kAnnounceDone), "ANNOUNCE_DONE");
  EXPECT_EQ(PmEventTypeName(PmEventType::kRemoveAddr), "REMOVED");
  EXPECT_EQ(PmEventTypeName(PmEventType::kPathChange), "PATH_CHANGE");
}

}  // namespace
}  // namespace braid::mptcp
