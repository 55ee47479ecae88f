// MP_JOIN between two Braid stacks (RFC 8684 §3.2): the options of the join handshake on the
// wire with their tokens, nonces and HMACs checked against crypto.h, the counters on both sides
// and the server's DSS ACK after the third ACK; a SYN/ACK whose HMAC a middlebox changed (the
// joining side resets the subflow with MP_TCPRST), a SYN naming a token nobody has, and the
// server's limits.subflows refusing joins beyond it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "datapath/mptcp/crypto.h"
#include "tests/unit/datapath/mptcp/mptcp_stacks.h"

namespace braid::mptcp::test {
namespace {

using JoinTest = MptcpStacksTest;

// Every TCP frame of the join subflows (client port other than the initial one), in order.
struct JoinLog {
  struct Entry {
    bool from_a = false;
    wire::TcpFlags flags;
    size_t payload_len = 0;
    std::optional<wire::MpJoin> join = std::nullopt;
    std::optional<wire::Dss> dss = std::nullopt;
    std::optional<wire::MpTcpRst> rst = std::nullopt;
  };
  uint16_t initial_port = 0;
  std::vector<Entry> entries;

  void Record(const Bytes& frame, bool from_a) {
    const std::optional<TcpFrame> f = ParseTcpFrame(frame);
    if (!f || initial_port == 0 || ClientPort(*f, from_a) == initial_port) return;
    Entry e{.from_a = from_a, .flags = f->flags, .payload_len = f->payload_len};
    if (const wire::MpJoin* j = f->Get<wire::MpJoin>()) e.join = *j;
    if (const wire::Dss* d = f->Get<wire::Dss>()) e.dss = *d;
    if (const wire::MpTcpRst* r = f->Get<wire::MpTcpRst>()) e.rst = *r;
    entries.push_back(e);
  }
};

TEST_F(JoinTest, HandshakeOnTheWireAndCountersOnBothSides) {
  Start(Ndiffports(2), Config());
  JoinLog log;
  stacks().filter = [&](Bytes& frame, bool from_a) {
    log.Record(frame, from_a);
    return true;
  };
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  log.initial_port = A().Flow(c)->local_port;
  ASSERT_TRUE(Poke(c, s));
  ASSERT_TRUE(WaitForSubflows(c, s, 2)) << Describe(c, s);
  const MptcpInfo ca = *A().ConnectionInfo(c);
  const MptcpInfo sb = *B().ConnectionInfo(s);

  // SYN (token, R_A), SYN/ACK (HMAC_B, R_B), third ACK (HMAC_A), then B's DSS ACK.
  ASSERT_GE(log.entries.size(), 4u);
  const JoinLog::Entry& syn = log.entries[0];
  const JoinLog::Entry& synack = log.entries[1];
  const JoinLog::Entry& ack = log.entries[2];
  ASSERT_TRUE(syn.from_a && syn.join && syn.flags.syn() && !syn.flags.ack());
  ASSERT_TRUE(!synack.from_a && synack.join && synack.flags.syn() && synack.flags.ack());
  ASSERT_TRUE(ack.from_a && ack.join && !ack.flags.syn());
  EXPECT_EQ(syn.join->form, wire::MpJoinForm::kSyn);
  EXPECT_EQ(syn.join->receiver_token, sb.local_token);
  EXPECT_EQ(syn.join->address_id, 0u);  // ndiffports joins from the initial address
  EXPECT_FALSE(syn.join->backup);
  EXPECT_EQ(synack.join->form, wire::MpJoinForm::kSynAck);
  EXPECT_EQ(synack.join->sender_truncated_hmac,
            JoinSynAckHmac(sb.local_key, ca.local_key, synack.join->sender_nonce,
                           syn.join->sender_nonce));
  EXPECT_EQ(ack.join->form, wire::MpJoinForm::kAck);
  EXPECT_EQ(ack.join->sender_hmac, JoinAckHmac(ca.local_key, sb.local_key, syn.join->sender_nonce,
                                               synack.join->sender_nonce));
  EXPECT_EQ(ack.payload_len, 0u);
  EXPECT_NE(syn.join->sender_nonce, synack.join->sender_nonce);
  // protocol-facts.md: the server answers the third ACK with a DSS ACK (the kernel client falls
  // back to TCP on the subflow without it).
  const JoinLog::Entry& fourth = log.entries[3];
  EXPECT_FALSE(fourth.from_a);
  ASSERT_TRUE(fourth.dss);
  EXPECT_TRUE(fourth.dss->data_ack.has_value());
  EXPECT_FALSE(fourth.join);

  EXPECT_EQ(CountA(Counter::kJoinSynTx), 1u);
  EXPECT_EQ(CountA(Counter::kJoinSynAckRx), 1u);
  EXPECT_EQ(CountA(Counter::kSubflowsOpened), 1u);
  EXPECT_EQ(CountA(Counter::kJoinSynRx), 0u);
  EXPECT_EQ(CountB(Counter::kJoinSynRx), 1u);
  EXPECT_EQ(CountB(Counter::kJoinAckRx), 1u);
  EXPECT_EQ(CountB(Counter::kJoinSynTx), 0u);
  for (const Counter k :
       {Counter::kJoinSynAckHmacFailure, Counter::kJoinAckHmacFailure, Counter::kJoinNoTokenFound,
        Counter::kJoinRefused, Counter::kJoinMissingOption, Counter::kTcpRstTx}) {
    EXPECT_EQ(CountA(k), 0u) << MptcpCounterName(k);
    EXPECT_EQ(CountB(k), 0u) << MptcpCounterName(k);
  }
  EXPECT_EQ(ca.subflows, 2u);
  EXPECT_EQ(sb.subflows, 2u);
  const std::optional<SubflowInfo> joined_b = SubflowById(B(), s, 1);
  ASSERT_TRUE(joined_b);
  EXPECT_FALSE(joined_b->initial);
  EXPECT_EQ(joined_b->remote_port, SubflowById(A(), c, 1)->local_port);
}

TEST_F(JoinTest, ChangedSynAckHmacResetsTheSubflow) {
  Start(Ndiffports(2), Config());
  JoinLog log;
  size_t changed = 0;
  stacks().filter = [&](Bytes& frame, bool from_a) {
    const std::optional<TcpFrame> f = ParseTcpFrame(frame);
    if (f && !from_a && f->flags.syn() && f->flags.ack()) {
      if (const MptcpOptionAt* o = f->Find<wire::MpJoin>()) {
        frame[o->offset + 4] ^= 0x01;  // the first byte of B's truncated HMAC
        FixTcpChecksum(frame, *f);
        ++changed;
      }
    }
    log.Record(frame, from_a);
    return true;
  };
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  log.initial_port = A().Flow(c)->local_port;
  ASSERT_TRUE(Poke(c, s));
  ASSERT_TRUE(stacks().RunUntil([&] { return CountA(Counter::kSubflowsClosed) == 1; }, 5s))
      << Describe(c, s);
  stacks().RunFor(1s);
  EXPECT_EQ(changed, 1u);
  EXPECT_EQ(CountA(Counter::kJoinSynAckRx), 1u);
  EXPECT_EQ(CountA(Counter::kJoinSynAckHmacFailure), 1u);
  EXPECT_EQ(CountA(Counter::kTcpRstTx), 1u);
  EXPECT_EQ(CountB(Counter::kJoinSynRx), 1u);
  EXPECT_EQ(CountB(Counter::kJoinAckRx), 0u);
  // The RST that ended the join carried MP_TCPRST (RFC 8684 §3.6).
  ASSERT_GE(log.entries.size(), 3u);
  const JoinLog::Entry& rst = log.entries[2];
  EXPECT_TRUE(rst.from_a);
  EXPECT_TRUE(rst.flags.rst());
  ASSERT_TRUE(rst.rst);
  EXPECT_EQ(rst.rst->reason, wire::MpTcpRstReason::kMptcpSpecific);
  EXPECT_EQ(CountB(Counter::kTcpRstRx), 1u);
  EXPECT_EQ(log.entries.size(), 3u);  // no third ACK, nothing after the RST

  // The connection goes on over its first subflow.
  EXPECT_EQ(Established(A(), c), 1u);
  EXPECT_EQ(Established(B(), s), 1u);
  EXPECT_EQ(A().ConnectionInfo(c)->subflows, 1u);
  ASSERT_TRUE(Exchange(c, s, Pattern(30, 200'000), Pattern(31, 200'000))) << Describe(c, s);
  ExpectDelivered(c, s);
}

TEST_F(JoinTest, ChangedThirdAckHmacIsRefusedByTheServer) {
  Start(Ndiffports(2), Config());
  JoinLog log;
  size_t changed = 0;
  stacks().filter = [&](Bytes& frame, bool from_a) {
    const std::optional<TcpFrame> f = ParseTcpFrame(frame);
    if (f && from_a && !f->flags.syn()) {
      if (const MptcpOptionAt* o = f->Find<wire::MpJoin>()) {
        frame[o->offset + 4] ^= 0x80;  // the first byte of A's HMAC, every copy
        FixTcpChecksum(frame, *f);
        ++changed;
      }
    }
    log.Record(frame, from_a);
    return true;
  };
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  log.initial_port = A().Flow(c)->local_port;
  ASSERT_TRUE(Poke(c, s));
  ASSERT_TRUE(stacks().RunUntil([&] { return CountA(Counter::kSubflowsClosed) == 1; }, 5s))
      << Describe(c, s);
  stacks().RunFor(1s);
  EXPECT_EQ(changed, 1u);
  EXPECT_EQ(CountA(Counter::kJoinSynAckRx), 1u);
  EXPECT_EQ(CountA(Counter::kJoinSynAckHmacFailure), 0u);
  EXPECT_EQ(CountB(Counter::kJoinAckHmacFailure), 1u);
  EXPECT_EQ(CountB(Counter::kJoinAckRx), 0u);
  EXPECT_EQ(CountB(Counter::kTcpRstTx), 1u);
  EXPECT_EQ(CountA(Counter::kTcpRstRx), 1u);
  // SYN, SYN/ACK, third ACK, and b's RST with MP_TCPRST.
  ASSERT_EQ(log.entries.size(), 4u);
  EXPECT_FALSE(log.entries[3].from_a);
  EXPECT_TRUE(log.entries[3].flags.rst());
  ASSERT_TRUE(log.entries[3].rst);
  EXPECT_EQ(log.entries[3].rst->reason, wire::MpTcpRstReason::kMptcpSpecific);
  EXPECT_EQ(Established(A(), c), 1u);
  EXPECT_EQ(A().ConnectionInfo(c)->subflows, 1u);
  EXPECT_EQ(Established(B(), s), 1u);
  ASSERT_TRUE(Exchange(c, s, Pattern(36, 200'000), Pattern(37, 200'000))) << Describe(c, s);
  ExpectDelivered(c, s);
}

// A join reset during its handshake, by the joining side (its check of the SYN/ACK's HMAC fails:
// true) or by the server (its check of the third ACK's HMAC fails: false), must leave nothing on
// the server: no subflow counted in MptcpInfo::subflows or against limits.subflows.
class JoinResetTest : public MptcpStacksTest, public ::testing::WithParamInterface<bool> {};

INSTANTIATE_TEST_SUITE_P(ResetBy, JoinResetTest, ::testing::Values(true, false),
                         [](const auto& p) { return p.param ? "JoiningSide" : "Server"; });

TEST_P(JoinResetTest, AJoinResetInTheHandshakeLeavesNoSubflowOnTheServer) {
  const bool synack = GetParam();
  Start(Ndiffports(2), Config());
  stacks().filter = [&](Bytes& frame, bool from_a) {
    const std::optional<TcpFrame> f = ParseTcpFrame(frame);
    // The SYN/ACK from b, or the third ACK from a.
    if (f && from_a != synack && f->flags.syn() == synack && f->flags.ack()) {
      if (const MptcpOptionAt* o = f->Find<wire::MpJoin>()) {
        frame[o->offset + 4] ^= 0x01;  // the first byte of the HMAC
        FixTcpChecksum(frame, *f);
      }
    }
    return true;
  };
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  ASSERT_TRUE(Poke(c, s));
  ASSERT_TRUE(stacks().RunUntil([&] { return CountA(Counter::kSubflowsClosed) == 1; }, 5s));
  stacks().RunFor(1s);
  EXPECT_EQ(CountB(synack ? Counter::kTcpRstRx : Counter::kTcpRstTx), 1u);
  EXPECT_EQ(B().ConnectionInfo(s)->subflows, 1u) << Describe(c, s);
  EXPECT_EQ(B().SubflowsOf(s).size() - Established(B(), s), CountB(Counter::kSubflowsClosed))
      << Describe(c, s);
}

TEST_F(JoinTest, AJoinResetInTheHandshakeDoesNotUseUpTheServersLimit) {
  // Server limit 1; the client re-creates failed subflows. The first SYN/ACK is changed, so the
  // first join fails; the second attempt must be accepted.
  MptcpConfig client_config = Ndiffports(2);
  client_config.path_manager.recreate_subflows = true;
  MptcpConfig server_config = Config();
  server_config.path_manager.limits.subflows = 1;
  Start(client_config, server_config);
  bool changed = false;
  stacks().filter = [&](Bytes& frame, bool from_a) {
    const std::optional<TcpFrame> f = ParseTcpFrame(frame);
    if (f && !from_a && f->flags.syn() && f->flags.ack() && !changed) {
      if (const MptcpOptionAt* o = f->Find<wire::MpJoin>()) {
        frame[o->offset + 4] ^= 0x01;
        FixTcpChecksum(frame, *f);
        changed = true;
      }
    }
    return true;
  };
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  ASSERT_TRUE(Poke(c, s));
  ASSERT_TRUE(WaitForSubflows(c, s, 2, 10s)) << Describe(c, s);
  EXPECT_EQ(CountA(Counter::kJoinSynAckHmacFailure), 1u);
  EXPECT_EQ(CountA(Counter::kJoinSynTx), 2u);
  EXPECT_EQ(CountB(Counter::kJoinRefused), 0u);
  EXPECT_EQ(CountB(Counter::kJoinAckRx), 1u);
  EXPECT_EQ(B().ConnectionInfo(s)->subflows, 2u);
}

TEST_F(JoinTest, UnknownTokenIsRefused) {
  Start(Ndiffports(2), Config());
  JoinLog log;
  stacks().filter = [&](Bytes& frame, bool from_a) {
    const std::optional<TcpFrame> f = ParseTcpFrame(frame);
    if (f && from_a && f->flags.syn() && !f->flags.ack()) {
      if (const MptcpOptionAt* o = f->Find<wire::MpJoin>()) {
        frame[o->offset + 4] ^= 0xff;  // the receiver's token, first byte
        FixTcpChecksum(frame, *f);
      }
    }
    log.Record(frame, from_a);
    return true;
  };
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  log.initial_port = A().Flow(c)->local_port;
  ASSERT_TRUE(Poke(c, s));
  ASSERT_TRUE(stacks().RunUntil([&] { return CountA(Counter::kSubflowsClosed) == 1; }, 5s))
      << Describe(c, s);
  stacks().RunFor(1s);
  EXPECT_EQ(CountB(Counter::kJoinSynRx), 1u);
  EXPECT_EQ(CountB(Counter::kJoinNoTokenFound), 1u);
  EXPECT_EQ(CountB(Counter::kJoinRefused), 0u);
  EXPECT_EQ(CountA(Counter::kJoinSynTx), 1u);
  EXPECT_EQ(CountA(Counter::kJoinSynAckRx), 0u);
  // Refused with a RST (RFC 8684 §3.2: no such connection).
  ASSERT_EQ(log.entries.size(), 2u);
  EXPECT_TRUE(log.entries[0].join && log.entries[0].flags.syn());
  EXPECT_FALSE(log.entries[1].from_a);
  EXPECT_TRUE(log.entries[1].flags.rst());
  EXPECT_EQ(Established(A(), c), 1u);
  EXPECT_EQ(B().SubflowsOf(s).size(), 1u);
  EXPECT_EQ(A().ConnectionInfo(c)->subflows, 1u);
  ASSERT_TRUE(Exchange(c, s, Pattern(32, 100'000), Pattern(33, 100'000))) << Describe(c, s);
  ExpectDelivered(c, s);
}

// The server's limits.subflows bounds the joins it accepts.
class JoinLimitTest : public MptcpStacksTest {
 protected:
  // The client asks for `extra` joins at once (ndiffports); the server allows `limit`. With
  // `one_by_one`, the first SYN of every join after the first is dropped, so that the joins
  // reach the server a SYN retransmission (1 s) apart.
  void Run(uint32_t extra, uint32_t limit, bool one_by_one) {
    MptcpConfig server_config = Config();
    server_config.path_manager.limits.subflows = limit;
    Start(Ndiffports(extra + 1), server_config);
    std::vector<uint16_t> join_ports;
    stacks().filter = [&](Bytes& frame, bool from_a) {
      const std::optional<TcpFrame> f = ParseTcpFrame(frame);
      if (!f || !from_a || !f->flags.syn() || f->Find<wire::MpJoin>() == nullptr) return true;
      if (std::find(join_ports.begin(), join_ports.end(), f->src_port) != join_ports.end()) {
        return true;
      }
      join_ports.push_back(f->src_port);
      return !one_by_one || join_ports.size() == 1;
    };
    auto [c, s] = Establish();
    ASSERT_TRUE(s.valid());
    ASSERT_TRUE(Poke(c, s));
    ASSERT_TRUE(stacks().RunUntil(
        [&] { return CountA(Counter::kSubflowsClosed) == extra - std::min(extra, limit); }, 10s))
        << Describe(c, s);
    stacks().RunFor(5s);
    const uint32_t accepted = std::min(extra, limit);
    EXPECT_EQ(join_ports.size(), extra);
    // Each SYN sent counts, the retransmission of a dropped one too.
    EXPECT_EQ(CountA(Counter::kJoinSynTx), one_by_one ? 2 * extra - 1 : extra);
    EXPECT_EQ(CountB(Counter::kJoinSynRx), extra);
    EXPECT_EQ(CountB(Counter::kJoinRefused), extra - accepted) << Describe(c, s);
    EXPECT_EQ(CountB(Counter::kJoinAckRx), accepted);
    EXPECT_EQ(Established(A(), c), 1u + accepted) << Describe(c, s);
    EXPECT_EQ(Established(B(), s), 1u + accepted);
    EXPECT_EQ(B().ConnectionInfo(s)->subflows, 1u + accepted);
    ASSERT_TRUE(Exchange(c, s, Pattern(34, 300'000), Pattern(35, 300'000))) << Describe(c, s);
    ExpectDelivered(c, s);
  }
};

TEST_F(JoinLimitTest, LimitZeroRefusesEveryJoin) { Run(3, 0, /*one_by_one=*/false); }

TEST_F(JoinLimitTest, JoinsArrivingOneByOneBeyondTheLimitAreRefused) {
  Run(2, 1, /*one_by_one=*/true);
}

TEST_F(JoinLimitTest, JoinsArrivingTogetherBeyondTheLimitAreRefused) {
  Run(3, 1, /*one_by_one=*/false);
}

TEST_F(JoinLimitTest, JoinsArrivingTogetherUpToTheLimitAreRefusedBeyondIt) {
  Run(3, 2, /*one_by_one=*/false);
}

}  // namespace
}  // namespace braid::mptcp::test
