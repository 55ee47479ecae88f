// Data over MPTCP between two Braid stacks: bulk transfers both ways at once, byte-exact (length
// and SHA-256), over one subflow, over two on one address pair (ndiffports) and over two of
// different families (an announced IPv6 address joined by an IPv4 connection); DATA_FIN as a
// half close and the close of the whole connection (RFC 8684 §3.3.3), after which no connection
// and no token is left; DSS checksums negotiated when either side asks (RFC 8684 §3.3.1), and a
// payload byte changed on the way (TCP checksum fixed, as a middlebox would) caught by them: the
// subflow is reset with MP_FAIL (RFC 8684 §3.7) and the data still arrives intact over the other.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <optional>
#include <tuple>
#include <vector>

#include "tests/unit/datapath/mptcp/mptcp_stacks.h"

namespace braid::mptcp::test {
namespace {

MptcpConfig RoundRobin(MptcpConfig c) {
  c.scheduler = "roundrobin";
  return c;
}

// The connection is over on both sides: the apps heard OnClosed last and no error, and neither
// stack holds a connection or a token.
void ExpectGone(MptcpSockets& a, MptcpSockets& b, Recorder& client, Recorder& server, SocketId c,
                SocketId s) {
  ASSERT_FALSE(client.KindsOf(c).empty());
  ASSERT_FALSE(server.KindsOf(s).empty());
  EXPECT_EQ(client.KindsOf(c).back(), Ev::kClosed);
  EXPECT_EQ(server.KindsOf(s).back(), Ev::kClosed);
  EXPECT_EQ(client.Count(Ev::kClosed, c), 1u);
  EXPECT_EQ(server.Count(Ev::kClosed, s), 1u);
  EXPECT_EQ(client.Count(Ev::kError), 0u);
  EXPECT_EQ(server.Count(Ev::kError), 0u);
  EXPECT_EQ(a.open_connections(), 0u);
  EXPECT_EQ(b.open_connections(), 0u);
  EXPECT_EQ(a.tokens().size(), 0u);
  EXPECT_EQ(b.tokens().size(), 0u);
  EXPECT_FALSE(a.ConnectionInfo(c).has_value());
  EXPECT_FALSE(b.ConnectionInfo(s).has_value());
  EXPECT_TRUE(a.Connections().empty());
  EXPECT_TRUE(b.Connections().empty());
}

struct DssOnData {
  size_t with_mapping = 0, without_mapping = 0, misplaced = 0;
  size_t bare = 0;             // data segments without any DSS (nor MP_CAPABLE)
  size_t bare_new_window = 0;  // ... whose window differs from their subflow's last DSS's
  size_t largest_without = 0, largest_with = 0, largest_bare = 0;
  std::string ack_widths;  // a's DATA_ACKs on data segments, in order: '4' or '8' each change
};

class DataTest : public MptcpStacksTest {
 protected:
  // Sends `up` bytes from a and `down` from b, and looks at the DSS of a's data segments.
  DssOnData RunDssOnData(size_t up, size_t down) {
    DssOnData r;
    Start(Config(), Config());
    std::map<uint16_t, int64_t> iss_of;  // a's source port -> seq - relative SSN of its mappings
    std::map<uint16_t, uint16_t> dss_window;  // a's source port -> window of its last DATA_ACK
    stacks().filter = [&](Bytes& frame, bool from_a) {
      const std::optional<TcpFrame> f = ParseTcpFrame(frame);
      if (!f || !from_a || f->flags.syn()) return true;
      const wire::Dss* d = f->Get<wire::Dss>();
      if (d != nullptr && d->data_ack) dss_window[f->src_port] = f->window;
      if (f->payload_len == 0) return true;
      if (d == nullptr) {
        if (f->Get<wire::MpCapable>() != nullptr) return true;  // the client's first data
        ++r.bare;
        r.largest_bare = std::max(r.largest_bare, f->payload_len);
        auto it = dss_window.find(f->src_port);
        if (it == dss_window.end() || it->second != f->window) ++r.bare_new_window;
        return true;
      }
      if (d->data_ack) {
        const char w = d->data_ack->is_32bit ? '4' : '8';
        if (r.ack_widths.empty() || r.ack_widths.back() != w) r.ack_widths += w;
      }
      if (!d->mapping) {
        ++r.without_mapping;
        r.largest_without = std::max(r.largest_without, f->payload_len);
        return true;
      }
      ++r.with_mapping;
      r.largest_with = std::max(r.largest_with, f->payload_len);
      const int64_t offset = static_cast<int64_t>(f->seq.raw()) - d->mapping->subflow_seq;
      auto [it, fresh] = iss_of.emplace(f->src_port, offset);
      if (!fresh && it->second != offset) ++r.misplaced;
      return true;
    };
    auto [c, s] = Establish();
    EXPECT_TRUE(s.valid());
    if (s.valid()) {
      // Without closing: b's DATA_FIN has a 64-bit DSN too.
      EXPECT_TRUE(Exchange(c, s, Pattern(43, up), Pattern(44, down), /*close=*/false))
          << Describe(c, s);
      ExpectDelivered(c, s);
    }
    stacks().filter = nullptr;  // it refers to this frame's locals
    return r;
  }

  // A round-robin client with DSS checksums and a second (ndiffports) subflow, established both
  // ways; the joined subflow's id is 1.
  void EstablishTwoChecksummedSubflows(SocketId& c, SocketId& s) {
    MptcpConfig client_config = RoundRobin(Ndiffports(2));
    client_config.checksum = true;
    Start(client_config, RoundRobin(Config()));
    std::tie(c, s) = Establish();
    ASSERT_TRUE(s.valid());
    ASSERT_TRUE(Poke(c, s));
    ASSERT_TRUE(WaitForSubflows(c, s, 2)) << Describe(c, s);
  }
};

class DataFamilyTest : public MptcpStacksTest, public ::testing::WithParamInterface<bool> {
 protected:
  bool v6() const { return GetParam(); }
};

INSTANTIATE_TEST_SUITE_P(Families, DataFamilyTest, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "IPv6" : "IPv4"; });

TEST_P(DataFamilyTest, BulkBothWaysOverOneSubflowThenClose) {
  Start(Config(), Config());
  auto [c, s] = Establish(v6());
  ASSERT_TRUE(s.valid());
  ASSERT_TRUE(Exchange(c, s, Pattern(10, 2'000'000), Pattern(11, 1'500'000))) << Describe(c, s);
  ExpectDelivered(c, s);
  EXPECT_EQ(server().Count(Ev::kPeerFin, s), 1u);
  EXPECT_EQ(client().Count(Ev::kPeerFin, c), 1u);
  EXPECT_EQ(CountB(Counter::kDataBytesIn), 2'000'000u);
  EXPECT_EQ(CountA(Counter::kDataBytesIn), 1'500'000u);
  // One subflow, no loss: nothing was sent twice.
  EXPECT_EQ(CountA(Counter::kReinjectedBytes), 0u);
  EXPECT_EQ(CountB(Counter::kReinjectedBytes), 0u);
  EXPECT_EQ(CountA(Counter::kDuplicateData), 0u);
  EXPECT_EQ(CountB(Counter::kDuplicateData), 0u);
  EXPECT_EQ(CountA(Counter::kSubflowsOpened), 0u);
  ASSERT_TRUE(stacks().RunUntil(
      [&] { return client().Count(Ev::kClosed) == 1 && server().Count(Ev::kClosed) == 1; }, 1min));
  ExpectGone(A(), B(), client(), server(), c, s);
  EXPECT_EQ(CountA(Counter::kSubflowsClosed), 1u);
  EXPECT_EQ(CountB(Counter::kSubflowsClosed), 1u);
  EXPECT_EQ(CountA(Counter::kTcpRstTx) + CountB(Counter::kTcpRstTx), 0u);
}

TEST_F(DataTest, BulkOverTwoSubflowsOnOneAddressPair) {
  Start(RoundRobin(Ndiffports(2)), RoundRobin(Config()));
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  // The client's path manager opens the second subflow once it hears the server's first DSS.
  ASSERT_TRUE(Poke(c, s));
  ASSERT_TRUE(WaitForSubflows(c, s, 2)) << Describe(c, s);
  ASSERT_TRUE(Exchange(c, s, Pattern(13, 3'000'000), Pattern(14, 2'000'000), /*close=*/false))
      << Describe(c, s);
  ExpectDelivered(c, s);

  const std::vector<SubflowInfo> on_a = A().SubflowsOf(c);
  const std::vector<SubflowInfo> on_b = B().SubflowsOf(s);
  ASSERT_EQ(on_a.size(), 2u);
  ASSERT_EQ(on_b.size(), 2u);
  EXPECT_NE(on_a[0].local_port, on_a[1].local_port);
  uint64_t received_b = 0;
  uint64_t received_a = 0;
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(on_a[i].local_address, AddrA()) << i;
    EXPECT_EQ(on_a[i].remote_address, AddrB()) << i;
    EXPECT_EQ(on_a[i].remote_port, kPort) << i;
    // Round-robin: both subflows carried data both ways.
    EXPECT_GT(on_a[i].bytes_sent, 0u) << i;
    EXPECT_GT(on_a[i].bytes_received, 0u) << i;
    EXPECT_GT(on_b[i].bytes_sent, 0u) << i;
    EXPECT_GT(on_b[i].bytes_received, 0u) << i;
    received_b += on_b[i].bytes_received;
    received_a += on_a[i].bytes_received;
  }
  EXPECT_GE(received_b, 3'000'000u);
  EXPECT_GE(received_a, 2'000'000u);
  EXPECT_EQ(A().ConnectionInfo(c)->scheduler, "roundrobin");
  EXPECT_EQ(A().ConnectionInfo(c)->path_manager, "ndiffports");
  EXPECT_EQ(CountA(Counter::kSubflowsOpened), 1u);

  ASSERT_TRUE(CloseBoth(c, s));
  ExpectGone(A(), B(), client(), server(), c, s);
  EXPECT_EQ(CountA(Counter::kSubflowsClosed), 2u);
  EXPECT_EQ(CountB(Counter::kSubflowsClosed), 2u);
}

TEST_F(DataTest, BulkOverAnIpv4AndAnIpv6Subflow) {
  // The server announces its IPv6 address; the client, allowed to act on one announcement,
  // joins it from its own IPv6 address (the route's source): one connection over both families.
  MptcpConfig server_config = RoundRobin(Config());
  server_config.path_manager.endpoints = {SignalEndpoint(1, HostAddress(kHostB, /*v6=*/true))};
  MptcpConfig client_config = RoundRobin(Config());
  client_config.path_manager.limits.add_addr_accepted = 1;
  Start(client_config, server_config);
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  ASSERT_TRUE(Poke(c, s));
  ASSERT_TRUE(WaitForSubflows(c, s, 2)) << Describe(c, s);
  ASSERT_TRUE(Exchange(c, s, Pattern(15, 2'000'000), Pattern(16, 2'000'000), /*close=*/false))
      << Describe(c, s);
  ExpectDelivered(c, s);
  const std::vector<SubflowInfo> on_a = A().SubflowsOf(c);
  ASSERT_EQ(on_a.size(), 2u);
  EXPECT_EQ(on_a[0].remote_address, AddrB(false));
  EXPECT_EQ(on_a[0].local_address, AddrA(false));
  EXPECT_EQ(on_a[1].remote_address, AddrB(true));
  EXPECT_EQ(on_a[1].local_address, AddrA(true));
  EXPECT_EQ(on_a[1].remote_id, 1u);
  EXPECT_EQ(on_a[1].remote_port, kPort);
  for (const SubflowInfo& i : on_a) {
    EXPECT_GT(i.bytes_sent, 0u) << i.id;
    EXPECT_GT(i.bytes_received, 0u) << i.id;
  }
  for (const SubflowInfo& i : B().SubflowsOf(s)) {
    EXPECT_GT(i.bytes_sent, 0u) << i.id;
    EXPECT_GT(i.bytes_received, 0u) << i.id;
  }
  ASSERT_TRUE(CloseBoth(c, s));
  ExpectGone(A(), B(), client(), server(), c, s);
}

TEST_F(DataTest, SubflowEndpointOfTheOtherFamilyIsSkipped) {
  // Linux 6.1's in-kernel path manager (and "kernel" here) opens a `subflow` endpoint's subflow
  // to the peer's initial address only in the same family: an IPv6 endpoint does nothing for an
  // IPv4 connection.
  MptcpConfig client_config = Config();
  client_config.path_manager.endpoints = {SubflowEndpoint(1, HostAddress(kHostA, /*v6=*/true))};
  Start(client_config, Config());
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  ASSERT_TRUE(Exchange(c, s, Pattern(17, 100'000), Pattern(18, 100'000), /*close=*/false))
      << Describe(c, s);
  ExpectDelivered(c, s);
  EXPECT_TRUE(A().ConnectionInfo(c)->fully_established);
  EXPECT_EQ(CountA(Counter::kSubflowsOpened), 0u);
  EXPECT_EQ(CountA(Counter::kJoinSynTx), 0u);
  EXPECT_EQ(A().SubflowsOf(c).size(), 1u);
}

TEST_F(DataTest, DataFinIsAHalfClose) {
  Start(Config(), Config());
  std::vector<wire::Dss> fins_from_a;
  stacks().filter = [&](Bytes& frame, bool from_a) {
    if (const std::optional<TcpFrame> f = ParseTcpFrame(frame); f && from_a) {
      if (const wire::Dss* d = f->Get<wire::Dss>(); d != nullptr && d->data_fin) {
        fins_from_a.push_back(*d);
      }
    }
    return true;
  };
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  const Bytes request = Pattern(19, 5000);
  EXPECT_EQ(A().Send(c, request, now()), request.size());
  EXPECT_TRUE(A().Shutdown(c, now()).ok());
  EXPECT_EQ(A().Send(c, request, now()), 0u);  // nothing after the DATA_FIN
  ASSERT_TRUE(stacks().RunUntil([&] { return server().stream(s).fin; }, 5s));
  EXPECT_EQ(server().stream(s).bytes, request.size());
  EXPECT_EQ(server().Digest(s), Sha(request));
  EXPECT_EQ(server().Count(Ev::kPeerFin, s), 1u);

  // The DATA_FIN took the DSN after the last byte (RFC 8684 §3.3.3).
  const MptcpInfo ca = *A().ConnectionInfo(c);
  ASSERT_FALSE(fins_from_a.empty());
  ASSERT_TRUE(fins_from_a[0].mapping);
  const wire::DataSeq fin_dsn = fins_from_a[0].mapping->data_seq.Expand(ca.data_una);
  EXPECT_EQ(fin_dsn, ca.data_nxt);
  EXPECT_EQ(B().ConnectionInfo(s)->rcv_nxt, fin_dsn + 1);
  // The other direction still works.
  EXPECT_EQ(client().Count(Ev::kClosed), 0u);
  const Bytes answer = Pattern(20, 70'000);
  EXPECT_EQ(B().Send(s, answer, now()), answer.size());
  ASSERT_TRUE(stacks().RunUntil([&] { return client().stream(c).bytes == answer.size(); }, 5s));
  EXPECT_EQ(client().Digest(c), Sha(answer));
  EXPECT_FALSE(client().stream(c).fin);
  EXPECT_EQ(client().Count(Ev::kPeerFin), 0u);

  // b's DATA_FIN ends it: both apps hear OnPeerFin, then OnClosed.
  EXPECT_TRUE(B().Shutdown(s, now()).ok());
  ASSERT_TRUE(stacks().RunUntil(
      [&] { return client().Count(Ev::kClosed) == 1 && server().Count(Ev::kClosed) == 1; }, 1min));
  EXPECT_TRUE(client().stream(c).fin);
  EXPECT_EQ(client().KindsOf(c).front(), Ev::kConnected);
  EXPECT_EQ(client().Count(Ev::kPeerFin, c), 1u);
  ExpectGone(A(), B(), client(), server(), c, s);
  EXPECT_EQ(A().Send(c, request, now()), 0u);
  EXPECT_EQ(A().Close(c, now()).code(), absl::StatusCode::kNotFound);
}

// A client that closes before either side sent a byte is still not fully established (no DSS
// from the server yet): its DATA_FIN goes in a DSS all the same, not lost behind the MP_CAPABLE
// ACK form, and both ends close.
TEST_F(DataTest, CloseBeforeAnyDataStillSendsTheDataFin) {
  Start(Config(), Config());
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  EXPECT_TRUE(A().Close(c, now()).ok());
  ASSERT_TRUE(stacks().RunUntil([&] { return server().stream(s).fin; }, 5s));
  EXPECT_EQ(server().stream(s).bytes, 0u);
  EXPECT_TRUE(B().Close(s, now()).ok());
  ASSERT_TRUE(stacks().RunUntil([&] { return server().Count(Ev::kClosed) == 1; }, 1min));
}

// DSS checksums: asked for by the client (true) or the server (false) only.
class ChecksumTest : public MptcpStacksTest, public ::testing::WithParamInterface<bool> {};

INSTANTIATE_TEST_SUITE_P(WhoAsks, ChecksumTest, ::testing::Values(true, false),
                         [](const auto& p) { return p.param ? "Client" : "Server"; });

TEST_P(ChecksumTest, EitherSideAskingIsEnough) {
  MptcpConfig asks = Config();
  asks.checksum = true;
  const bool client_asks = GetParam();
  Start(client_asks ? asks : Config(), client_asks ? Config() : asks);
  size_t mappings_a = 0, with_sum_a = 0, mappings_b = 0, with_sum_b = 0;
  std::optional<bool> syn_flag, synack_flag;
  stacks().filter = [&](Bytes& frame, bool from_a) {
    const std::optional<TcpFrame> f = ParseTcpFrame(frame);
    if (!f) return true;
    if (const wire::MpCapable* m = f->Get<wire::MpCapable>(); m != nullptr) {
      if (m->form == wire::MpCapableForm::kSyn) syn_flag = m->checksum_required;
      if (m->form == wire::MpCapableForm::kSynAck) synack_flag = m->checksum_required;
    }
    if (const wire::Dss* d = f->Get<wire::Dss>(); d != nullptr && d->mapping) {
      (from_a ? mappings_a : mappings_b) += 1;
      (from_a ? with_sum_a : with_sum_b) += d->mapping->checksum ? 1 : 0;
    }
    return true;
  };
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  EXPECT_EQ(syn_flag, client_asks);
  EXPECT_EQ(synack_flag, true);  // the server's answer says what both use
  EXPECT_TRUE(A().ConnectionInfo(c)->checksum);
  EXPECT_TRUE(B().ConnectionInfo(s)->checksum);
  ASSERT_TRUE(Exchange(c, s, Pattern(21, 1'000'000), Pattern(22, 800'000))) << Describe(c, s);
  ExpectDelivered(c, s);
  EXPECT_GT(mappings_a, 0u);
  EXPECT_GT(mappings_b, 0u);
  EXPECT_EQ(with_sum_a, mappings_a);
  EXPECT_EQ(with_sum_b, mappings_b);
  for (const Counter k : {Counter::kDataCsumErr, Counter::kCsumMissing, Counter::kMpFailTx,
                          Counter::kMpFailRx, Counter::kDssNoMapping}) {
    EXPECT_EQ(CountA(k), 0u) << MptcpCounterName(k);
    EXPECT_EQ(CountB(k), 0u) << MptcpCounterName(k);
  }
}

// Both DATA_FINs through and every subflow closed, the bytes the app has not read yet are still
// the app's: the connection is reported closed only after the last one is read, as with TCP.
TEST_F(DataTest, UnreadBytesOutliveTheSubflows) {
  Start(Config(), Config());
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  server().auto_read = false;
  const Bytes data = Pattern(23, 60'000);
  EXPECT_EQ(A().Send(c, data, now()), data.size());
  EXPECT_TRUE(A().Shutdown(c, now()).ok());
  ASSERT_TRUE(stacks().RunUntil([&] { return server().Count(Ev::kPeerFin, s) == 1; }, 5s));
  EXPECT_TRUE(B().Shutdown(s, now()).ok());
  ASSERT_TRUE(stacks().RunUntil([&] { return client().Count(Ev::kClosed, c) == 1; }, 30s))
      << Describe(c, s);
  // Every subflow gone, the connection stays (it used to be freed here, bytes and all).
  ASSERT_TRUE(stacks().RunUntil(
      [&] {
        const std::optional<MptcpInfo> i = B().ConnectionInfo(s);
        return i && i->subflows == 0;
      },
      30s));
  stacks().RunFor(1s);
  EXPECT_EQ(server().Count(Ev::kClosed, s), 0u);  // still holding unread bytes
  server().Read(s);
  EXPECT_EQ(server().stream(s).bytes, data.size());
  EXPECT_EQ(server().Digest(s), Sha(data));
  EXPECT_TRUE(server().stream(s).fin);
  ASSERT_TRUE(stacks().RunUntil([&] { return server().Count(Ev::kClosed, s) == 1; }, 5s));
  EXPECT_EQ(server().Count(Ev::kError, s), 0u);
}

TEST_F(DataTest, ChangedPayloadIsCaughtAndTheOtherSubflowCarriesTheData) {
  SocketId c, s;
  ASSERT_NO_FATAL_FAILURE(EstablishTwoChecksummedSubflows(c, s));
  const uint16_t initial_port = A().Flow(c)->local_port;
  const std::optional<SubflowInfo> joined = SubflowById(A(), c, 1);
  ASSERT_TRUE(joined);
  ASSERT_NE(joined->local_port, initial_port);

  // A middlebox rewrites one byte of the tenth data segment a sends on the joined subflow and
  // fixes the TCP checksum: TCP accepts it, only the DSS checksum can tell.
  size_t data_segments = 0;
  bool changed = false;
  stacks().filter = [&](Bytes& frame, bool from_a) {
    const std::optional<TcpFrame> f = ParseTcpFrame(frame);
    if (!f || !from_a || f->src_port != joined->local_port || f->payload_len == 0) return true;
    if (++data_segments == 10) {
      frame[f->payload_offset + f->payload_len / 2] ^= 0x20;
      FixTcpChecksum(frame, *f);
      changed = true;
    }
    return true;
  };
  ASSERT_TRUE(Exchange(c, s, Pattern(24, 2'000'000), Pattern(25, 100'000), /*close=*/false))
      << Describe(c, s);
  ASSERT_TRUE(changed);
  ExpectDelivered(c, s);
  EXPECT_EQ(CountB(Counter::kDataCsumErr), 1u);
  EXPECT_EQ(CountB(Counter::kMpFailTx), 1u);
  EXPECT_EQ(CountB(Counter::kTcpRstTx), 1u);
  EXPECT_EQ(CountA(Counter::kTcpRstRx), 1u);
  EXPECT_EQ(CountA(Counter::kMpFailRx), 1u);  // MP_FAIL rode on the RST (RFC 8684 §3.7)
  EXPECT_EQ(CountA(Counter::kDataCsumErr), 0u);
  EXPECT_GT(CountA(Counter::kReinjectedBytes), 0u);
  // The joined subflow is gone on both sides; the initial one carries on.
  const std::optional<SubflowInfo> after_a = SubflowById(A(), c, 1);
  ASSERT_TRUE(after_a);
  EXPECT_EQ(after_a->state, SubflowState::kClosed);
  EXPECT_EQ(Established(A(), c), 1u);
  EXPECT_EQ(Established(B(), s), 1u);
  EXPECT_EQ(A().ConnectionInfo(c)->subflows, 1u);
  EXPECT_FALSE(A().ConnectionInfo(c)->fallback);
  EXPECT_EQ(client().Count(Ev::kError), 0u);
  EXPECT_EQ(server().Count(Ev::kError), 0u);
  ASSERT_TRUE(CloseBoth(c, s));
  ExpectGone(A(), B(), client(), server(), c, s);
}

// Bulk data goes in long mappings, not one per ACK-opened room (MptcpConnection::ExtendedChunk):
// the segments after a mapping's first carry the same DSS (the DATA_ACK), which a Linux
// receiver's GRO can merge.
TEST_F(DataTest, BulkDataGoesInLongMappings) {
  Start(Config(), Config());
  std::map<uint64_t, uint32_t> mappings;  // DSN -> data-level length
  size_t segments = 0;
  stacks().filter = [&](Bytes& frame, bool from_a) {
    const std::optional<TcpFrame> f = ParseTcpFrame(frame);
    if (!f || !from_a || f->payload_len == 0) return true;
    ++segments;
    if (const wire::Dss* d = f->Get<wire::Dss>(); d != nullptr && d->mapping) {
      mappings[d->mapping->data_seq.value] = d->mapping->data_level_length;
    }
    return true;
  };
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  ASSERT_TRUE(Exchange(c, s, Pattern(41, 8'000'000), Pattern(42, 1000))) << Describe(c, s);
  ExpectDelivered(c, s);
  ASSERT_FALSE(mappings.empty());
  EXPECT_LT(mappings.size() * 8, segments)
      << mappings.size() << " mappings, " << segments << " segments";
}

// RFC 8684 §3.7: a checksum failure on the only subflow keeps the connection: MP_FAIL, the
// sender's MP_FAIL answer and infinite mapping, then plain TCP both ways. The receiver gets what
// TCP delivered, the middlebox's change included, and nothing else is lost or repeated.
TEST_F(DataTest, ChangedPayloadOnTheOnlySubflowFallsBackToTcp) {
  MptcpConfig config = Config();
  config.checksum = true;
  Start(config, Config());
  std::optional<wire::TcpSeq> data_start;  // a's first data byte: ISS + 1
  size_t data_segments = 0;
  std::optional<size_t> changed_at;  // offset of the changed byte in a's byte stream
  size_t infinite_maps = 0, mp_fails_from_a = 0, mp_fails_from_b = 0, dss_after = 0;
  stacks().filter = [&](Bytes& frame, bool from_a) {
    const std::optional<TcpFrame> f = ParseTcpFrame(frame);
    if (!f) return true;
    if (from_a && f->flags.syn()) data_start = f->seq + 1;
    if (f->Get<wire::MpFail>() != nullptr) ++(from_a ? mp_fails_from_a : mp_fails_from_b);
    if (const wire::Dss* d = f->Get<wire::Dss>(); d != nullptr && d->mapping) {
      if (d->mapping->data_level_length == 0 && from_a) ++infinite_maps;
      if (changed_at && infinite_maps > 0 && d->mapping->data_level_length != 0) ++dss_after;
    }
    if (from_a && f->payload_len > 0 && ++data_segments == 40) {
      frame[f->payload_offset + f->payload_len / 2] ^= 0x20;
      FixTcpChecksum(frame, *f);
      changed_at = static_cast<size_t>(f->seq - *data_start) + f->payload_len / 2;
    }
    return true;
  };
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  Bytes up = Pattern(31, 3'000'000);
  const Bytes down = Pattern(32, 500'000);
  // Both ends stay open: the fallback is checked on live connections.
  ASSERT_TRUE(Exchange(c, s, up, down, /*close=*/false)) << Describe(c, s);
  ASSERT_TRUE(changed_at);
  up[*changed_at] ^= 0x20;  // what b must have read
  EXPECT_EQ(server().stream(s).bytes, up.size());
  EXPECT_EQ(server().Digest(s), Sha(up));
  EXPECT_EQ(client().stream(c).bytes, down.size());
  EXPECT_EQ(client().Digest(c), Sha(down));
  // b found it and said so on ACKs until a answered with MP_FAIL and the infinite mapping.
  EXPECT_EQ(CountB(Counter::kDataCsumErr), 1u);
  EXPECT_GE(CountB(Counter::kMpFailTx), 1u);
  EXPECT_EQ(CountB(Counter::kMpFailRx), 1u);
  EXPECT_EQ(CountB(Counter::kInfiniteMapRx), 1u);
  EXPECT_EQ(CountB(Counter::kFallbackInfinite), 1u);
  EXPECT_EQ(CountA(Counter::kMpFailRx), CountB(Counter::kMpFailTx));
  EXPECT_GE(CountA(Counter::kMpFailTx), 1u);
  EXPECT_EQ(CountA(Counter::kInfiniteMapTx), 1u);
  EXPECT_EQ(CountA(Counter::kFallbackInfinite), 1u);
  EXPECT_EQ(infinite_maps, 1u);
  EXPECT_GE(mp_fails_from_b, 1u);
  EXPECT_GE(mp_fails_from_a, 1u);
  EXPECT_EQ(dss_after, 0u);  // plain TCP from then on
  for (const Counter k : {Counter::kTcpRstTx, Counter::kTcpRstRx, Counter::kDssNoMapping}) {
    EXPECT_EQ(CountA(k), 0u) << MptcpCounterName(k);
    EXPECT_EQ(CountB(k), 0u) << MptcpCounterName(k);
  }
  const std::optional<MptcpInfo> ia = A().ConnectionInfo(c);
  const std::optional<MptcpInfo> ib = B().ConnectionInfo(s);
  ASSERT_TRUE(ia && ib);
  EXPECT_TRUE(ia->fallback);
  EXPECT_TRUE(ib->fallback);
  EXPECT_EQ(client().Count(Ev::kError), 0u);
  EXPECT_EQ(server().Count(Ev::kError), 0u);
}

// After a second subflow was used, a lone survivor may not fall back (RFC 8684 §3.7): the
// checksum failure resets it, and the connection fails rather than deliver changed data.
TEST_F(DataTest, NoInfiniteFallbackOnceASecondSubflowWasUsed) {
  SocketId c, s;
  ASSERT_NO_FATAL_FAILURE(EstablishTwoChecksummedSubflows(c, s));
  // The joined subflow goes away; the initial one is left alone.
  const std::optional<SubflowInfo> joined = SubflowById(A(), c, 1);
  ASSERT_TRUE(joined);
  PmConnection* control = A().PathControl(c);
  ASSERT_NE(control, nullptr);
  ASSERT_TRUE(control->CloseSubflow(1));
  ASSERT_TRUE(
      stacks().RunUntil([&] { return Established(A(), c) == 1 && Established(B(), s) == 1; }));
  size_t data_segments = 0;
  bool changed = false;
  stacks().filter = [&](Bytes& frame, bool from_a) {
    const std::optional<TcpFrame> f = ParseTcpFrame(frame);
    if (!f || !from_a || f->payload_len == 0) return true;
    if (++data_segments == 10) {
      frame[f->payload_offset + f->payload_len / 2] ^= 0x20;
      FixTcpChecksum(frame, *f);
      changed = true;
    }
    return true;
  };
  (void)Exchange(c, s, Pattern(33, 1'000'000), Pattern(34, 1000), /*close=*/false, 20s);
  ASSERT_TRUE(changed);
  EXPECT_EQ(CountB(Counter::kDataCsumErr), 1u);
  EXPECT_EQ(CountB(Counter::kFallbackInfinite), 0u);
  EXPECT_EQ(CountA(Counter::kFallbackInfinite), 0u);
  EXPECT_EQ(CountB(Counter::kTcpRstTx), 1u);
  EXPECT_FALSE(B().ConnectionInfo(s) && B().ConnectionInfo(s)->fallback);
  // Whatever b read is a prefix of what a sent: nothing changed reached the app.
  EXPECT_LT(server().stream(s).bytes, 1'000'000u);
}

// RFC 8684 §3.3.1: a mapping rides on the segment that starts it. The others of it carry the
// DATA_ACK alone when it tells the peer something new (32 bits until the peer's data came with
// 64-bit DSNs, as Linux does), no DSS at all otherwise (§3.3.2), and as much more payload as that
// left room for.
TEST_F(DataTest, AMappingRidesOnTheSegmentThatStartsIt) {
  const DssOnData r = RunDssOnData(4'000'000, 0);
  EXPECT_EQ(r.misplaced, 0u);
  EXPECT_GT(r.with_mapping, 0u);
  // b sends nothing: a's DATA_ACK and window never change, so the segments within a mapping carry
  // no DSS, with the 1460-byte MSS less timestamps (12) as payload; the mapping's segment carries
  // 24 bytes of DSS (4 + 4 + 8 + 4 + 2, rounded up).
  EXPECT_GT(r.bare, r.with_mapping * 4);
  EXPECT_EQ(r.bare_new_window, 0u);
  EXPECT_EQ(r.largest_bare, 1460u - 12u);
  EXPECT_LE(r.largest_with, 1460u - 12u - 24u);
  // No 64-bit DSN from b ever asked for 64-bit DATA_ACKs.
  EXPECT_EQ(r.ack_widths, "4");
}

TEST_F(DataTest, DataAcksGrowTo64BitsOnceThePeerSends64BitDsns) {
  const DssOnData r = RunDssOnData(2'000'000, 200'000);
  EXPECT_EQ(r.misplaced, 0u);
  // b's data came with 64-bit DSNs: from then on a's DATA_ACKs are 64-bit, and never shrink back.
  EXPECT_TRUE(r.ack_widths == "8" || r.ack_widths == "48") << r.ack_widths;
  // A DATA_ACK alone on a's data takes 8 or 12 bytes of DSS; a segment without DSS never carries
  // a window the peer was not told with a DATA_ACK.
  EXPECT_LE(r.largest_without, 1460u - 12u - 8u);
  EXPECT_GT(r.bare, 0u);
  EXPECT_EQ(r.largest_bare, 1460u - 12u);
  EXPECT_EQ(r.bare_new_window, 0u);
}

// With checksums a DSS rides on every segment (Subflow::DssAckRedundant): the peer that found a
// checksum failure tells from a segment without DSS that the other end fell back (RFC 8684 §3.7).
TEST_F(DataTest, WithChecksumsEverySegmentCarriesADss) {
  MptcpConfig client_config = Config();
  client_config.checksum = true;
  Start(client_config, Config());
  size_t bare = 0, data = 0;
  stacks().filter = [&](Bytes& frame, bool) {
    const std::optional<TcpFrame> f = ParseTcpFrame(frame);
    if (!f || f->flags.syn() || f->payload_len == 0) return true;
    ++data;
    if (f->Get<wire::Dss>() == nullptr && f->Get<wire::MpCapable>() == nullptr) ++bare;
    return true;
  };
  auto [c, s] = Establish();
  ASSERT_TRUE(s.valid());
  EXPECT_TRUE(Exchange(c, s, Pattern(45, 1'000'000), Pattern(46, 300'000))) << Describe(c, s);
  ExpectDelivered(c, s);
  stacks().filter = nullptr;
  EXPECT_GT(data, 500u);
  EXPECT_EQ(bare, 0u);
}

}  // namespace
}  // namespace braid::mptcp::test
