// MPTCP signals between two Braid stacks: ADD_ADDR from a `signal` endpoint, its HMAC and echo
// (RFC 8684 §3.4.1) and the peer's join to the announced address when add_addr_accepted allows
// it; REMOVE_ADDR through the path-manager handle (§3.4.2), which closes the subflows on the
// address at both ends; MP_PRIO (§3.3.8) moving a subflow to backup and back, after which the
// peer schedules no new data on it; and MP_FASTCLOSE (§3.5) on every subflow when an app aborts,
// which the peer's app sees as a reset.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "datapath/mptcp/crypto.h"
#include "tests/unit/datapath/mptcp/mptcp_stacks.h"

namespace braid::mptcp::test {
namespace {

// Signals seen on the wire, by direction.
struct SignalLog {
  struct Add {
    bool from_a;
    wire::AddAddr option;
    bool with_dss;
  };
  struct Prio {
    bool from_a;
    uint16_t client_port;
    bool backup;
  };
  struct Fastclose {
    bool from_a;
    uint16_t client_port;
    uint64_t receiver_key;
    bool rst;
  };
  std::vector<Add> adds;
  std::vector<wire::RemoveAddr> removes_from_b;
  std::vector<Prio> prios;
  std::vector<Fastclose> fastcloses;

  void Record(const Bytes& frame, bool from_a) {
    const std::optional<TcpFrame> f = ParseTcpFrame(frame);
    if (!f) return;
    if (const wire::AddAddr* a = f->Get<wire::AddAddr>()) {
      adds.push_back({from_a, *a, f->Get<wire::Dss>() != nullptr});
    }
    if (const wire::RemoveAddr* r = f->Get<wire::RemoveAddr>(); r && !from_a) {
      removes_from_b.push_back(*r);
    }
    if (const wire::MpPrio* p = f->Get<wire::MpPrio>()) {
      prios.push_back({from_a, ClientPort(*f, from_a), p->backup});
    }
    if (const wire::MpFastclose* fc = f->Get<wire::MpFastclose>()) {
      fastcloses.push_back({from_a, ClientPort(*f, from_a), fc->receiver_key, f->flags.rst()});
    }
  }
};

class SignalTest : public MptcpStacksTest {
 protected:
  // b announces its address of the family the connection does not use; a may act on one
  // announcement. `v6` is the family of the initial subflow.
  void StartAnnouncing(bool v6, MptcpConfig client_config = Config()) {
    MptcpConfig server_config = Config();
    server_config.path_manager.endpoints = {SignalEndpoint(1, HostAddress(kHostB, !v6))};
    client_config.path_manager.limits.add_addr_accepted = 1;
    Start(client_config, server_config);
    stacks().filter = [this](Bytes& frame, bool from_a) {
      log_.Record(frame, from_a);
      return true;
    };
  }

  SignalLog log_;
};

TEST_F(SignalTest, AddAddrIsEchoedAndJoined) {
  StartAnnouncing(/*v6=*/false);
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  ASSERT_TRUE(Poke(c, s));
  ASSERT_TRUE(WaitForSubflows(c, s, 2)) << Describe(c, s);
  stacks().RunFor(10s);  // past every ADD_ADDR retransmission time
  const MptcpInfo ca = *A().ConnectionInfo(c);
  const MptcpInfo sb = *B().ConnectionInfo(s);

  // One announcement, with the HMAC of RFC 8684 §3.4.1 (keyed by b's key, then a's), no port:
  // the peer joins the port of the subflow that carried it. One echo, without HMAC.
  ASSERT_EQ(log_.adds.size(), 2u);
  const wire::AddAddr& add = log_.adds[0].option;
  EXPECT_FALSE(log_.adds[0].from_a);
  EXPECT_FALSE(add.echo);
  EXPECT_EQ(add.address_id, 1u);
  EXPECT_EQ(add.address, (std::variant<wire::Ipv4Address, wire::Ipv6Address>(
                             std::get<wire::Ipv6Address>(AddrB(true)))));
  EXPECT_FALSE(add.port.has_value());
  EXPECT_EQ(add.truncated_hmac,
            AddAddrHmac(sb.local_key, ca.local_key, add.address_id, add.address, add.port));
  const wire::AddAddr& echo = log_.adds[1].option;
  EXPECT_TRUE(log_.adds[1].from_a);
  EXPECT_TRUE(echo.echo);
  EXPECT_EQ(echo.address_id, 1u);
  EXPECT_EQ(echo.address, add.address);
  EXPECT_FALSE(echo.truncated_hmac.has_value());

  EXPECT_EQ(CountB(Counter::kAddAddrTx), 1u);
  EXPECT_EQ(CountA(Counter::kAddAddrRx), 1u);
  EXPECT_EQ(CountA(Counter::kEchoAddTx), 1u);
  EXPECT_EQ(CountB(Counter::kEchoAddRx), 1u);
  EXPECT_EQ(CountB(Counter::kAddAddrGivenUp), 0u);
  EXPECT_EQ(CountA(Counter::kAddAddrHmacFailure), 0u);
  EXPECT_EQ(CountA(Counter::kAddAddrTx), 0u);
  // a joined the announced address from its own address of that family.
  EXPECT_EQ(CountA(Counter::kJoinSynTx), 1u);
  EXPECT_EQ(CountB(Counter::kJoinAckRx), 1u);
  const std::optional<SubflowInfo> joined = SubflowById(A(), c, 1);
  ASSERT_TRUE(joined);
  EXPECT_EQ(joined->remote_address, AddrB(true));
  EXPECT_EQ(joined->local_address, AddrA(true));
  EXPECT_EQ(joined->remote_port, kPort);
  EXPECT_EQ(joined->remote_id, 1u);
  // On b the subflow arrived at the announced address, whose ID it knows.
  const std::optional<SubflowInfo> joined_b = SubflowById(B(), s, 1);
  ASSERT_TRUE(joined_b);
  EXPECT_EQ(joined_b->local_address, AddrB(true));
  EXPECT_EQ(joined_b->local_id, 1u);
}

// Each client connection announces on its own source port, so each opens a join listener: it
// must close with the connection, or a client would run out of listeners after a few hundred.
TEST_F(SignalTest, AClientsJoinListenersCloseWithItsConnections) {
  MptcpConfig client_config = Config();
  client_config.path_manager.endpoints = {SignalEndpoint(1, HostAddress(kHostA, true))};
  MptcpConfig server_config = Config();
  server_config.path_manager.limits.add_addr_accepted = 1;
  Start(client_config, server_config);
  ListenB();
  std::vector<std::pair<SocketId, SocketId>> pairs;
  for (size_t i = 0; i < 3; ++i) {
    const SocketId c = ConnectA();
    ASSERT_TRUE(stacks().RunUntil(
        [&] { return client().Count(Ev::kConnected, c) == 1 && server().accepted.size() > i; },
        10s));
    const SocketId s = server().accepted.back();
    ASSERT_TRUE(Poke(c, s));
    ASSERT_TRUE(stacks().RunUntil([&] { return CountA(Counter::kAddAddrTx) == i + 1u; }, 10s));
    pairs.emplace_back(c, s);
  }
  EXPECT_EQ(A().join_listeners(), 3u);
  for (const auto& [c, s] : pairs) {
    EXPECT_TRUE(A().Close(c, now()).ok());
    EXPECT_TRUE(B().Close(s, now()).ok());
  }
  ASSERT_TRUE(stacks().RunUntil([&] { return A().open_connections() == 0; }, 2min));
  EXPECT_EQ(A().join_listeners(), 0u);
}

TEST_F(SignalTest, AddAddrIsActedOnlyWithinAddAddrAccepted) {
  // Linux's default add_addr_accepted 0: the announcement is echoed, nothing joins it.
  MptcpConfig server_config = Config();
  server_config.path_manager.endpoints = {SignalEndpoint(1, HostAddress(kHostB, true))};
  Start(Config(), server_config);
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  ASSERT_TRUE(Poke(c, s));
  stacks().RunFor(10s);
  EXPECT_EQ(CountA(Counter::kAddAddrRx), 1u);
  EXPECT_EQ(CountA(Counter::kEchoAddTx), 1u);
  EXPECT_EQ(CountB(Counter::kEchoAddRx), 1u);
  EXPECT_EQ(CountA(Counter::kJoinSynTx), 0u);
  EXPECT_EQ(A().SubflowsOf(c).size(), 1u);
}

// Whether the ADD_ADDR alone (no data from the server yet) completes the client's handshake:
// Linux's check_fully_established counts any ADD_ADDR from the server as the proof a DSS would
// give (RFC 8684 §3.1). `v6` is the initial subflow's family; b announces the other one.
class AddAddrBeforeDataTest : public SignalTest, public ::testing::WithParamInterface<bool> {};

INSTANTIATE_TEST_SUITE_P(InitialFamily, AddAddrBeforeDataTest, ::testing::Values(true, false),
                         [](const auto& p) { return p.param ? "IPv6" : "IPv4"; });

TEST_P(AddAddrBeforeDataTest, AnnouncementAloneCompletesTheHandshake) {
  const bool v6 = GetParam();
  StartAnnouncing(v6);
  auto [c, s] = Establish(v6);
  ASSERT_TRUE(s.valid());
  // No data either way: only the announcement can tell the client the server has its key.
  ASSERT_TRUE(WaitForSubflows(c, s, 2)) << Describe(c, s);
  stacks().RunFor(10s);
  EXPECT_TRUE(A().ConnectionInfo(c)->fully_established);
  EXPECT_EQ(CountB(Counter::kAddAddrTx), 1u) << Describe(c, s);
  EXPECT_EQ(CountA(Counter::kEchoAddTx), 1u);
  EXPECT_EQ(CountB(Counter::kEchoAddRx), 1u);
  EXPECT_EQ(CountB(Counter::kAddAddrGivenUp), 0u);
  EXPECT_EQ(SubflowById(A(), c, 1)->remote_address, AddrB(!v6));
}

TEST_F(SignalTest, RemoveAddrClosesThePeersSubflow) {
  MptcpConfig client_config = Config();
  client_config.path_manager.recreate_subflows = true;  // a removed address is not joined again
  StartAnnouncing(/*v6=*/false, client_config);
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  ASSERT_TRUE(Poke(c, s));
  ASSERT_TRUE(WaitForSubflows(c, s, 2)) << Describe(c, s);

  PmConnection* pm = B().PathControl(s);
  ASSERT_NE(pm, nullptr);
  ASSERT_TRUE(pm->Remove(1));
  ASSERT_TRUE(
      stacks().RunUntil([&] { return Established(A(), c) == 1 && Established(B(), s) == 1; }, 5s))
      << Describe(c, s);
  stacks().RunFor(60s);  // past every re-creation backoff
  ASSERT_EQ(log_.removes_from_b.size(), 1u);
  ASSERT_EQ(log_.removes_from_b[0].address_ids().size(), 1u);
  EXPECT_EQ(log_.removes_from_b[0].address_ids()[0], 1u);
  EXPECT_EQ(CountB(Counter::kRmAddrTx), 1u);
  EXPECT_EQ(CountA(Counter::kRmAddrRx), 1u);
  EXPECT_EQ(SubflowById(A(), c, 1)->state, SubflowState::kClosed);
  EXPECT_EQ(SubflowById(B(), s, 1)->state, SubflowState::kClosed);
  EXPECT_EQ(A().SubflowsOf(c).size(), 2u) << Describe(c, s);  // no new join to the address
  EXPECT_EQ(CountA(Counter::kJoinSynTx), 1u);
  EXPECT_EQ(A().ConnectionInfo(c)->subflows, 1u);
  EXPECT_EQ(B().ConnectionInfo(s)->subflows, 1u);
  ASSERT_TRUE(Exchange(c, s, Pattern(40, 300'000), Pattern(41, 300'000))) << Describe(c, s);
  ExpectDelivered(c, s);
}

TEST_F(SignalTest, RemoveAddrReachesThePeerBeforeItsSubflowCloses) {
  MptcpConfig client_config = Config();
  client_config.path_manager.recreate_subflows = true;
  StartAnnouncing(/*v6=*/false, client_config);
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  ASSERT_TRUE(Poke(c, s));
  ASSERT_TRUE(WaitForSubflows(c, s, 2)) << Describe(c, s);
  ASSERT_TRUE(B().PathControl(s)->Remove(1));
  ASSERT_TRUE(stacks().RunUntil([&] { return Established(A(), c) == 1; }, 5s));
  // The peer closed its subflow because of the REMOVE_ADDR (the kernel's RmSubflow).
  EXPECT_EQ(CountA(Counter::kRmSubflow), 1u) << Describe(c, s);
}

TEST_F(SignalTest, ALostRemoveAddrLetsThePeerBack) {
  MptcpConfig client_config = Config();
  client_config.path_manager.recreate_subflows = true;
  StartAnnouncing(/*v6=*/false, client_config);
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  ASSERT_TRUE(Poke(c, s));
  ASSERT_TRUE(WaitForSubflows(c, s, 2)) << Describe(c, s);
  stacks().filter = [this](Bytes& frame, bool from_a) {
    const std::optional<TcpFrame> f = ParseTcpFrame(frame);
    if (f && f->Find<wire::RemoveAddr>() != nullptr) return false;
    log_.Record(frame, from_a);
    return true;
  };
  ASSERT_TRUE(B().PathControl(s)->Remove(1));
  stacks().RunFor(60s);
  EXPECT_EQ(CountB(Counter::kRmAddrTx), 1u);
  EXPECT_EQ(CountA(Counter::kRmAddrRx), 0u);
  EXPECT_EQ(CountA(Counter::kJoinSynTx), 1u) << Describe(c, s);
  EXPECT_EQ(Established(B(), s), 1u) << Describe(c, s);
}

TEST_F(SignalTest, MpPrioMakesTheSubflowABackupAndBack) {
  MptcpConfig client_config = Ndiffports(2);
  client_config.scheduler = "roundrobin";
  MptcpConfig server_config = Config();
  server_config.scheduler = "roundrobin";
  Start(client_config, server_config);
  stacks().filter = [this](Bytes& frame, bool from_a) {
    log_.Record(frame, from_a);
    return true;
  };
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  ASSERT_TRUE(Poke(c, s));
  ASSERT_TRUE(WaitForSubflows(c, s, 2)) << Describe(c, s);
  const uint16_t backup_port = SubflowById(A(), c, 1)->local_port;

  PmConnection* pm = A().PathControl(c);
  ASSERT_NE(pm, nullptr);
  ASSERT_TRUE(pm->SetBackup(1, true));
  ASSERT_TRUE(stacks().RunUntil([&] { return CountB(Counter::kMpPrioRx) == 1; }, 5s));
  EXPECT_EQ(CountA(Counter::kMpPrioTx), 1u);
  // RFC 8684 §3.3.8: MP_PRIO applies to the subflow it arrives on.
  ASSERT_EQ(log_.prios.size(), 1u);
  EXPECT_TRUE(log_.prios[0].from_a);
  EXPECT_EQ(log_.prios[0].client_port, backup_port);
  EXPECT_TRUE(log_.prios[0].backup);
  EXPECT_TRUE(SubflowById(B(), s, 1)->backup);
  EXPECT_FALSE(SubflowById(B(), s, 0)->backup);
  EXPECT_TRUE(SubflowById(A(), c, 1)->backup);

  // 1 MB from b: none of it on the backup subflow while the other one works.
  const uint64_t before = SubflowById(B(), s, 1)->bytes_sent;
  const uint64_t initial_before = SubflowById(B(), s, 0)->bytes_sent;
  ASSERT_TRUE(Exchange(c, s, Pattern(42, 1000), Pattern(43, 1'000'000), /*close=*/false))
      << Describe(c, s);
  ExpectDelivered(c, s);
  EXPECT_EQ(SubflowById(B(), s, 1)->bytes_sent, before) << Describe(c, s);
  EXPECT_EQ(SubflowById(B(), s, 0)->bytes_sent, initial_before + 1'000'000u);

  // Back to a regular subflow: b uses it again.
  ASSERT_TRUE(pm->SetBackup(1, false));
  ASSERT_TRUE(stacks().RunUntil([&] { return CountB(Counter::kMpPrioRx) == 2; }, 5s));
  ASSERT_EQ(log_.prios.size(), 2u);
  EXPECT_FALSE(log_.prios[1].backup);
  EXPECT_FALSE(SubflowById(B(), s, 1)->backup);
  client().streams.clear();
  server().streams.clear();
  ASSERT_TRUE(Exchange(c, s, Pattern(44, 1000), Pattern(45, 1'000'000), /*close=*/false))
      << Describe(c, s);
  ExpectDelivered(c, s);
  EXPECT_GT(SubflowById(B(), s, 1)->bytes_sent, before) << Describe(c, s);
}

TEST_F(SignalTest, AbortSendsFastcloseOnEverySubflow) {
  Start(Ndiffports(2), Config());
  stacks().filter = [this](Bytes& frame, bool from_a) {
    log_.Record(frame, from_a);
    return true;
  };
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  ASSERT_TRUE(Poke(c, s));
  ASSERT_TRUE(WaitForSubflows(c, s, 2)) << Describe(c, s);
  const uint64_t server_key = B().ConnectionInfo(s)->local_key;
  const std::vector<uint16_t> ports = {SubflowById(A(), c, 0)->local_port,
                                       SubflowById(A(), c, 1)->local_port};

  ASSERT_TRUE(A().Abort(c, now()).ok());
  ASSERT_TRUE(stacks().RunUntil(
      [&] { return client().Count(Ev::kClosed) == 1 && server().Count(Ev::kClosed) == 1; }, 5s))
      << Describe(c, s);
  // RFC 8684 §3.5: an RST with MP_FASTCLOSE and b's key on each subflow.
  ASSERT_EQ(log_.fastcloses.size(), 2u);
  std::vector<uint16_t> seen;
  for (const SignalLog::Fastclose& f : log_.fastcloses) {
    EXPECT_TRUE(f.from_a);
    EXPECT_TRUE(f.rst);
    EXPECT_EQ(f.receiver_key, server_key);
    seen.push_back(f.client_port);
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, ports);
  EXPECT_EQ(CountA(Counter::kFastcloseTx), 2u);
  EXPECT_GE(CountB(Counter::kFastcloseRx), 1u);
  EXPECT_EQ(CountB(Counter::kFastcloseBadKey), 0u);
  EXPECT_EQ(client().KindsOf(c),
            (std::vector<Ev>{Ev::kConnected, Ev::kReadable, Ev::kError, Ev::kClosed}));
  EXPECT_EQ(client().ErrorOf(c), SocketError::kAborted);
  EXPECT_EQ(server().KindsOf(s), (std::vector<Ev>{Ev::kAccepted, Ev::kError, Ev::kClosed}));
  EXPECT_EQ(server().ErrorOf(s), SocketError::kReset);
  EXPECT_EQ(A().open_connections(), 0u);
  EXPECT_EQ(B().open_connections(), 0u);
  EXPECT_EQ(A().tokens().size(), 0u);
  EXPECT_EQ(B().tokens().size(), 0u);
  EXPECT_EQ(A().Send(c, Pattern(46, 10), now()), 0u);
}

TEST_F(SignalTest, CloseWithUnreadDataIsAFastclose) {
  Start(Config(), Config());
  stacks().filter = [this](Bytes& frame, bool from_a) {
    log_.Record(frame, from_a);
    return true;
  };
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  server().auto_read = false;
  EXPECT_EQ(A().Send(c, Pattern(47, 1000), now()), 1000u);
  ASSERT_TRUE(stacks().RunUntil([&] { return server().Count(Ev::kReadable, s) == 1; }, 5s));
  // RFC 2525 §2.17 as for TCP: the app lost data, the peer learns it at once.
  ASSERT_TRUE(B().Close(s, now()).ok());
  ASSERT_TRUE(stacks().RunUntil([&] { return client().Count(Ev::kClosed) == 1; }, 5s))
      << Describe(c, s);
  ASSERT_EQ(log_.fastcloses.size(), 1u);
  EXPECT_FALSE(log_.fastcloses[0].from_a);
  EXPECT_EQ(CountB(Counter::kFastcloseTx), 1u);
  EXPECT_EQ(CountA(Counter::kFastcloseRx), 1u);
  EXPECT_EQ(client().ErrorOf(c), SocketError::kReset);
  EXPECT_EQ(client().KindsOf(c).back(), Ev::kClosed);
  EXPECT_EQ(A().open_connections(), 0u);
  stacks().Pump();
  EXPECT_EQ(B().open_connections(), 0u);
}

}  // namespace
}  // namespace braid::mptcp::test
