// The MP_CAPABLE handshake between two Braid stacks (RFC 8684 §3.1): the options of the SYN,
// SYN/ACK and third ACK on the wire, the counters on both sides, the keys and tokens each side
// derived (each side's remote token is the other's local token), the client's first data riding
// on MP_CAPABLE, and fallback to TCP (RFC 8684 §3.7) when either side has MPTCP disabled or the
// client is plain TCP, with data still byte-exact.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "datapath/mptcp/crypto.h"
#include "datapath/runtime/tcp_sockets.h"
#include "tests/unit/datapath/mptcp/mptcp_stacks.h"

namespace braid::mptcp::test {
namespace {

// The MP_CAPABLE option of each TCP frame a side sent, in order (nullopt: none), and whether
// any frame carried another MPTCP option.
struct CapableLog {
  std::vector<std::optional<wire::MpCapable>> a, b;  // by sender
  std::vector<size_t> payload_a;                     // payload length of each frame from a
  size_t other_options = 0;
  size_t mptcp_frames = 0;

  void Record(const Bytes& frame, bool from_a) {
    const std::optional<TcpFrame> f = ParseTcpFrame(frame);
    if (!f) return;
    const wire::MpCapable* mpc = f->Get<wire::MpCapable>();
    (from_a ? a : b).push_back(mpc ? std::optional(*mpc) : std::nullopt);
    if (from_a) payload_a.push_back(f->payload_len);
    if (!f->mptcp.empty()) ++mptcp_frames;
    if (f->mptcp.size() > (mpc != nullptr ? 1u : 0u)) ++other_options;
  }
};

class HandshakeTest : public MptcpStacksTest, public ::testing::WithParamInterface<bool> {
 protected:
  bool v6() const { return GetParam(); }
};

INSTANTIATE_TEST_SUITE_P(Families, HandshakeTest, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "IPv6" : "IPv4"; });

TEST_P(HandshakeTest, MpCapableBothWaysKeysAndTokensAgree) {
  Start(Config(), Config());
  CapableLog log;
  stacks().filter = [&](Bytes& frame, bool from_a) {
    log.Record(frame, from_a);
    return true;
  };
  ListenB();
  const SocketId c = ConnectA(v6());
  ASSERT_TRUE(stacks().RunUntil(
      [&] { return client().Count(Ev::kConnected) == 1 && server().accepted.size() == 1; }, 5s));
  const SocketId s = server().accepted[0];

  // The handshake on the wire: SYN (version and flags), SYN/ACK (B's key), third ACK (both).
  ASSERT_GE(log.a.size(), 2u);
  ASSERT_GE(log.b.size(), 1u);
  ASSERT_TRUE(log.a[0] && log.b[0] && log.a[1]);
  EXPECT_EQ(log.a[0]->form, wire::MpCapableForm::kSyn);
  EXPECT_FALSE(log.a[0]->checksum_required);
  EXPECT_TRUE(log.a[0]->hmac_sha256);
  EXPECT_EQ(log.b[0]->form, wire::MpCapableForm::kSynAck);
  EXPECT_EQ(log.a[1]->form, wire::MpCapableForm::kAck);

  const std::optional<MptcpInfo> ca = A().ConnectionInfo(c);
  const std::optional<MptcpInfo> sb = B().ConnectionInfo(s);
  ASSERT_TRUE(ca && sb);
  EXPECT_EQ(log.b[0]->sender_key, sb->local_key);
  EXPECT_EQ(log.a[1]->sender_key, ca->local_key);
  EXPECT_EQ(log.a[1]->receiver_key, sb->local_key);

  EXPECT_EQ(CountA(Counter::kMpCapableSynTx), 1u);
  EXPECT_EQ(CountA(Counter::kMpCapableSynAckRx), 1u);
  EXPECT_EQ(CountA(Counter::kMpCapableSynRx), 0u);
  EXPECT_EQ(CountB(Counter::kMpCapableSynRx), 1u);
  EXPECT_EQ(CountB(Counter::kMpCapableAckRx), 1u);
  EXPECT_EQ(CountB(Counter::kMpCapableSynTx), 0u);
  for (const Counter fb : {Counter::kFallbackSynAck, Counter::kFallbackAck, Counter::kFallbackSyn,
                           Counter::kFallbackData, Counter::kFallbackDisabled}) {
    EXPECT_EQ(CountA(fb), 0u) << MptcpCounterName(fb);
    EXPECT_EQ(CountB(fb), 0u) << MptcpCounterName(fb);
  }

  // Keys and tokens: each side's remote is the other's local, and each token is the one its key
  // derives (RFC 8684 §3.1), registered in that side's token table.
  EXPECT_TRUE(ca->client);
  EXPECT_FALSE(sb->client);
  EXPECT_EQ(ca->remote_key, sb->local_key);
  EXPECT_EQ(sb->remote_key, ca->local_key);
  EXPECT_EQ(ca->remote_token, sb->local_token);
  EXPECT_EQ(sb->remote_token, ca->local_token);
  EXPECT_EQ(ca->local_token, DeriveFromKey(ca->local_key).token);
  EXPECT_EQ(sb->local_token, DeriveFromKey(sb->local_key).token);
  EXPECT_NE(ca->local_token, sb->local_token);
  EXPECT_EQ(A().tokens().Find(ca->local_token), c.index);
  EXPECT_EQ(B().tokens().Find(sb->local_token), s.index);
  EXPECT_EQ(A().tokens().size(), 1u);
  EXPECT_EQ(B().tokens().size(), 1u);
  EXPECT_FALSE(ca->fallback);
  EXPECT_FALSE(sb->fallback);
  EXPECT_FALSE(ca->checksum);
  EXPECT_FALSE(sb->checksum);
  EXPECT_EQ(ca->subflows, 1u);
  EXPECT_EQ(sb->subflows, 1u);
  // RFC 8684 §3.3: the first byte each side sends has DSN IDSN + 1.
  EXPECT_EQ(ca->data_nxt.raw(), DeriveFromKey(ca->local_key).idsn + 1);
  EXPECT_EQ(sb->rcv_nxt.raw(), DeriveFromKey(ca->local_key).idsn + 1);
  EXPECT_EQ(ca->rcv_nxt.raw(), DeriveFromKey(sb->local_key).idsn + 1);
  // The server heard the client's key in the third ACK; the client waits for the server's
  // first DSS (RFC 8684 §3.1).
  EXPECT_TRUE(sb->fully_established);
  EXPECT_FALSE(ca->fully_established);

  // The flow the app sees is the initial subflow's, in the family asked for.
  const std::optional<tcp::FlowKey> flow = A().Flow(c);
  ASSERT_TRUE(flow);
  EXPECT_EQ(flow->local, AddrA(v6()));
  EXPECT_EQ(flow->remote, AddrB(v6()));
  EXPECT_EQ(flow->remote_port, kPort);
  EXPECT_EQ(*B().Flow(s), flow->Reversed());

  // Data from b carries a DSS: the client is fully established too.
  const Bytes hello = Pattern(1, 100);
  EXPECT_EQ(B().Send(s, hello, now()), hello.size());
  ASSERT_TRUE(stacks().RunUntil([&] { return client().stream(c).bytes == hello.size(); }, 5s));
  EXPECT_EQ(client().Digest(c), Sha(hello));
  EXPECT_TRUE(A().ConnectionInfo(c)->fully_established);
  EXPECT_EQ(client().KindsOf(c), (std::vector<Ev>{Ev::kConnected, Ev::kReadable}));
  EXPECT_EQ(server().KindsOf(s), (std::vector<Ev>{Ev::kAccepted}));
}

TEST_P(HandshakeTest, ClientDataRidesOnMpCapable) {
  Start(Config(), Config());
  CapableLog log;
  stacks().filter = [&](Bytes& frame, bool from_a) {
    log.Record(frame, from_a);
    return true;
  };
  ListenB();
  const SocketId c = ConnectA(v6());
  // Queued before the SYN/ACK: it leaves right after the handshake.
  const Bytes request = Pattern(2, 1000);
  EXPECT_EQ(A().Send(c, request, now()), request.size());
  ASSERT_TRUE(stacks().RunUntil(
      [&] { return !server().accepted.empty() && server().stream(server().accepted[0]).bytes > 0; },
      5s));
  const SocketId s = server().accepted[0];
  EXPECT_EQ(server().stream(s).bytes, request.size());
  EXPECT_EQ(server().Digest(s), Sha(request));

  // The first segment with payload carries MP_CAPABLE with both keys and the data-level length
  // (RFC 8684 §3.1: DSN IDSN + 1 and subflow sequence 1 are implied) and no DSS.
  size_t first_data = log.a.size();
  for (size_t i = 0; i < log.payload_a.size(); ++i) {
    if (log.payload_a[i] > 0) {
      first_data = i;
      break;
    }
  }
  ASSERT_LT(first_data, log.a.size());
  ASSERT_TRUE(log.a[first_data]);
  const wire::MpCapable& mpc = *log.a[first_data];
  EXPECT_EQ(mpc.form, wire::MpCapableForm::kAckData);
  EXPECT_EQ(mpc.data_level_length, request.size());
  EXPECT_EQ(log.payload_a[first_data], request.size());
  EXPECT_EQ(mpc.sender_key, A().ConnectionInfo(c)->local_key);
  EXPECT_EQ(mpc.receiver_key, B().ConnectionInfo(s)->local_key);
  EXPECT_FALSE(mpc.checksum.has_value());
  // Before it: the SYN and the third ACK, nothing else.
  EXPECT_EQ(first_data, 2u);
  EXPECT_EQ(CountB(Counter::kMpCapableAckRx), 1u);
  EXPECT_EQ(CountB(Counter::kDataBytesIn), request.size());
  EXPECT_EQ(CountA(Counter::kDataBytesOut), request.size());
  EXPECT_EQ(B().ConnectionInfo(s)->bytes_received, request.size());
}

// Fallback: every combination in which one side does not do MPTCP. The app on each side still
// gets a working socket, the data arrives byte-exact both ways, and both ends close cleanly.
class FallbackTest : public MptcpStacksTest {
 protected:
  // Runs 300 kB / 200 kB both ways over an established pair and the close after it.
  void ExchangeAndClose(tcp::SocketApi& client_api, SocketId c, SocketId s) {
    up_ = std::make_unique<BulkSender>(client_api, c, Pattern(3, 300'000));
    down_ = std::make_unique<BulkSender>(B(), s, Pattern(4, 200'000));
    plain_client_->on_writable = [this](SocketId) { up_->Push(); };
    server().on_writable = [this](SocketId) { down_->Push(); };
    up_->Push();
    down_->Push();
    ASSERT_TRUE(stacks().RunUntil(
        [&] { return server().stream(s).fin && plain_client_->stream(c).fin; }, 1min));
    EXPECT_EQ(server().stream(s).bytes, 300'000u);
    EXPECT_EQ(server().Digest(s), Sha(up_->data()));
    EXPECT_EQ(plain_client_->stream(c).bytes, 200'000u);
    EXPECT_EQ(plain_client_->Digest(c), Sha(down_->data()));
    ASSERT_TRUE(stacks().RunUntil(
        [&] { return server().closed.size() == 1 && plain_client_->closed.size() == 1; }, 1min));
    EXPECT_EQ(server().Count(Ev::kError), 0u);
    EXPECT_EQ(plain_client_->Count(Ev::kError), 0u);
    EXPECT_EQ(server().Count(Ev::kPeerFin, s), 1u);
    EXPECT_EQ(plain_client_->Count(Ev::kPeerFin, c), 1u);
    EXPECT_EQ(B().open_connections(), 0u);
    EXPECT_EQ(B().tokens().size(), 0u);
  }

  // The client's app: an MPTCP socket (a) or a plain TCP one.
  Recorder* plain_client_ = nullptr;
};

TEST_F(FallbackTest, ClientWithMptcpDisabled) {
  MptcpConfig off = Config();
  off.enabled = false;
  Start(off, Config());
  CapableLog log;
  stacks().filter = [&](Bytes& frame, bool from_a) {
    log.Record(frame, from_a);
    return true;
  };
  plain_client_ = &client();
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  EXPECT_EQ(CountA(Counter::kFallbackDisabled), 1u);
  EXPECT_EQ(CountA(Counter::kMpCapableSynTx), 0u);
  EXPECT_EQ(CountB(Counter::kFallbackSyn), 1u);
  EXPECT_EQ(CountB(Counter::kMpCapableSynRx), 0u);
  EXPECT_TRUE(A().ConnectionInfo(c)->fallback);
  EXPECT_TRUE(B().ConnectionInfo(s)->fallback);
  ExchangeAndClose(A(), c, s);
  EXPECT_EQ(log.mptcp_frames, 0u);  // plain TCP on the wire, both ways
  EXPECT_EQ(A().open_connections(), 0u);
  EXPECT_EQ(A().tokens().size(), 0u);
  EXPECT_EQ(client().KindsOf(c).back(), Ev::kClosed);
}

TEST_F(FallbackTest, ServerWithMptcpDisabled) {
  MptcpConfig off = Config();
  off.enabled = false;
  Start(Config(), off);
  CapableLog log;
  stacks().filter = [&](Bytes& frame, bool from_a) {
    log.Record(frame, from_a);
    return true;
  };
  plain_client_ = &client();
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  // The client offered MPTCP once, in its SYN; the SYN/ACK had none.
  ASSERT_FALSE(log.a.empty());
  ASSERT_TRUE(log.a[0]);
  EXPECT_EQ(log.a[0]->form, wire::MpCapableForm::kSyn);
  EXPECT_EQ(CountA(Counter::kMpCapableSynTx), 1u);
  EXPECT_EQ(CountA(Counter::kFallbackSynAck), 1u);
  EXPECT_EQ(CountA(Counter::kMpCapableSynAckRx), 0u);
  EXPECT_EQ(CountB(Counter::kFallbackDisabled), 1u);
  EXPECT_EQ(CountB(Counter::kMpCapableSynRx), 0u);
  EXPECT_TRUE(A().ConnectionInfo(c)->fallback);
  EXPECT_TRUE(B().ConnectionInfo(s)->fallback);
  ExchangeAndClose(A(), c, s);
  EXPECT_EQ(log.mptcp_frames, 1u);  // the SYN only
  EXPECT_EQ(A().open_connections(), 0u);
  EXPECT_EQ(A().tokens().size(), 0u);
}

TEST_F(FallbackTest, PlainTcpClientToAnMptcpListener) {
  Start(Config(), Config());
  runtime::TcpSockets& tcp = stacks().a().sockets();
  Recorder plain(tcp);
  plain_client_ = &plain;
  ListenB();
  absl::StatusOr<SocketId> c = tcp.Connect(AddrB(), kPort, {}, &plain, now());
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(stacks().RunUntil(
      [&] { return plain.Count(Ev::kConnected) == 1 && server().accepted.size() == 1; }, 5s));
  const SocketId s = server().accepted[0];
  EXPECT_EQ(CountB(Counter::kFallbackSyn), 1u);
  EXPECT_EQ(CountB(Counter::kMpCapableSynRx), 0u);
  const std::optional<MptcpInfo> info = B().ConnectionInfo(s);
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->fallback);
  EXPECT_FALSE(info->client);
  EXPECT_EQ(info->subflows, 1u);
  EXPECT_EQ(A().open_connections(), 0u);  // a's MPTCP layer never saw it
  ExchangeAndClose(tcp, *c, s);
}

}  // namespace
}  // namespace braid::mptcp::test
