// A path that fails in the middle of a transfer (RFC 8684 §3.3.6): every frame of one subflow is
// dropped on the wire. The sender marks the subflow stale once it holds the head of line and went
// silent with data overdue (or at its first RTO), reinjects what was stuck on it on the other
// subflow and the transfer completes byte-exact; after
// stale_close_after (2 s) without progress the subflow is reset (MP_TCPRST "unacceptable
// performance"), and the "kernel" path manager with re-creation joins again once frames pass.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "tests/unit/datapath/mptcp/mptcp_stacks.h"

namespace braid::mptcp::test {
namespace {

using FailureTest = MptcpStacksTest;

TEST_F(FailureTest, DeadSubflowIsReinjectedResetAndJoinedAgain) {
  // Two paths: the IPv4 initial subflow and a join to b's announced IPv6 address.
  MptcpConfig client_config = Config();
  client_config.scheduler = "roundrobin";
  client_config.path_manager.recreate_subflows = true;
  client_config.path_manager.limits.add_addr_accepted = 1;
  MptcpConfig server_config = Config();
  server_config.path_manager.endpoints = {SignalEndpoint(1, HostAddress(kHostB, true))};
  Start(client_config, server_config);
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  ASSERT_TRUE(Poke(c, s));
  ASSERT_TRUE(WaitForSubflows(c, s, 2)) << Describe(c, s);

  // The IPv6 path goes dark once 1 MB of the 8 MB upload arrived: from then on its frames are
  // dropped, both directions, whatever their subflow. The rule itself decides when, since with
  // no delay on the wire a whole transfer may take one instant of scripted time. The upload
  // keeps the connection open (no DATA_FIN): a connection that shut down opens no subflow.
  std::optional<Instant> dark_at;
  bool lit = false;  // back on, after the test saw the re-created joins fail
  size_t dropped = 0;
  stacks().filter = [&](Bytes& frame, bool) {
    if (!dark_at && server().stream(s).bytes >= 1'000'000) dark_at = now();
    const std::optional<TcpFrame> f = ParseTcpFrame(frame);
    if (dark_at && !lit && f && f->v6) {
      ++dropped;
      return false;
    }
    return true;
  };
  up_ = std::make_unique<BulkSender>(A(), c, Pattern(50, 8'000'000), /*shutdown=*/false);
  client().on_writable = [this](SocketId) { up_->Push(); };
  up_->Push();

  // The transfer completes over the IPv4 subflow; note when the IPv6 one went stale and when
  // it was reset.
  std::optional<Instant> stale_at, reset_at;
  ASSERT_TRUE(stacks().RunUntil(
      [&] {
        if (!stale_at && CountA(Counter::kSubflowStale) > 0) stale_at = now();
        const std::optional<SubflowInfo> sf = SubflowById(A(), c, 1);
        if (!reset_at && sf && sf->state == SubflowState::kClosed) reset_at = now();
        return server().stream(s).bytes == up_->data().size() && reset_at.has_value();
      },
      2min))
      << Describe(c, s);
  EXPECT_EQ(server().Digest(s), Sha(up_->data()));
  ASSERT_TRUE(dark_at);
  EXPECT_GT(dropped, 0u);
  EXPECT_GE(CountA(Counter::kSubflowStale), 1u);
  EXPECT_GT(CountA(Counter::kReinjectedBytes), 0u);
  EXPECT_GT(A().ConnectionInfo(c)->bytes_reinjected, 0u);
  ASSERT_TRUE(stale_at && reset_at);
  // Stale once silent: nothing heard on it for hol_min (30 ms; half an RTT when that is longer,
  // not here) while it held the head of line
  // with segments overdue; before its first RTO (200 ms at least, RFC 6298 §2.4 as Linux bounds
  // it) would have marked it.
  EXPECT_GE(CountA(Counter::kSubflowSilent), 1u);
  EXPECT_GE(*stale_at - *dark_at, 30ms);
  EXPECT_LT(*stale_at - *dark_at, 200ms);
  // Reset once stale for stale_close_after (2 s) without progress.
  EXPECT_GE(*reset_at - *dark_at, 2s);
  EXPECT_LT(*reset_at - *dark_at, 4s);
  EXPECT_GE(CountA(Counter::kTcpRstTx), 1u);  // MP_TCPRST on the RST (lost on the dark path)
  EXPECT_EQ(client().Count(Ev::kError), 0u);
  EXPECT_EQ(server().Count(Ev::kError), 0u);

  // While the path stays dark, re-created joins fail; once frames pass, one succeeds.
  stacks().RunFor(5s);
  const uint64_t joins_while_dark = CountA(Counter::kJoinSynTx);
  EXPECT_GT(joins_while_dark, 1u) << Describe(c, s);
  EXPECT_EQ(CountB(Counter::kJoinAckRx), 1u);
  lit = true;
  ASSERT_TRUE(stacks().RunUntil(
      [&] { return CountB(Counter::kJoinAckRx) == 2 && Established(A(), c) == 2; }, 1min))
      << Describe(c, s);
  const std::vector<SubflowInfo> subflows = A().SubflowsOf(c);
  ASSERT_FALSE(subflows.empty());
  const SubflowInfo& rejoined = subflows.back();
  EXPECT_EQ(rejoined.state, SubflowState::kEstablished);
  EXPECT_EQ(rejoined.remote_address, AddrB(true));
  EXPECT_EQ(rejoined.remote_id, 1u);
  EXPECT_GT(CountA(Counter::kSubflowsOpened), 2u);
}

TEST_F(FailureTest, TransferSurvivesTheLossOfTheInitialSubflowsPath) {
  // As above with the roles of the paths swapped: the initial IPv4 subflow goes dark and the
  // joined IPv6 one carries the rest (the connection does not depend on its first subflow).
  MptcpConfig client_config = Config();
  client_config.scheduler = "roundrobin";
  client_config.path_manager.limits.add_addr_accepted = 1;
  MptcpConfig server_config = Config();
  server_config.path_manager.endpoints = {SignalEndpoint(1, HostAddress(kHostB, true))};
  Start(client_config, server_config);
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  ASSERT_TRUE(Poke(c, s));
  ASSERT_TRUE(WaitForSubflows(c, s, 2)) << Describe(c, s);
  bool dark = false;
  stacks().filter = [&](Bytes& frame, bool) {
    dark = dark || server().stream(s).bytes >= 500'000;
    const std::optional<TcpFrame> f = ParseTcpFrame(frame);
    return !(dark && f && !f->v6);
  };
  up_ = std::make_unique<BulkSender>(A(), c, Pattern(51, 4'000'000), /*shutdown=*/false);
  client().on_writable = [this](SocketId) { up_->Push(); };
  up_->Push();
  ASSERT_TRUE(
      stacks().RunUntil([&] { return server().stream(s).bytes == up_->data().size(); }, 2min))
      << Describe(c, s);
  EXPECT_EQ(server().Digest(s), Sha(up_->data()));
  // Every byte DATA_ACKed, and the dark subflow marked stale at its RTO.
  ASSERT_TRUE(stacks().RunUntil(
      [&] { return A().ConnectionInfo(c)->send_queue == 0 && CountA(Counter::kSubflowStale) > 0; },
      10s))
      << Describe(c, s);
  EXPECT_TRUE(SubflowById(A(), c, 0)->stale);
  EXPECT_FALSE(SubflowById(A(), c, 1)->stale);
  EXPECT_GT(CountA(Counter::kReinjectedBytes), 0u);
  EXPECT_EQ(client().Count(Ev::kError), 0u);
  EXPECT_EQ(server().Count(Ev::kError), 0u);
}

}  // namespace
}  // namespace braid::mptcp::test
