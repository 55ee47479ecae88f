// NativeTcpBackend: handles, the flow table, listeners (backlogs, cookies, refusals), the CLOSED
// state's RSTs, TIME-WAIT entries, timers and events, driven through the TcpBackend interface.
#include "datapath/tcp/native_backend.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "tests/unit/datapath/tcp/backend_harness.h"

namespace braid::tcp::backend_test {
namespace {

std::vector<uint8_t> Bytes(size_t n, uint8_t seed = 1) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
  return v;
}

std::vector<uint8_t> ReadAll(TcpBackend& b, ConnectionId id, Instant now) {
  std::vector<uint8_t> out;
  uint8_t buf[4096];
  for (;;) {
    const ReceiveResult r = b.Receive(id, buf, now);
    if (r.bytes == 0) break;
    out.insert(out.end(), buf, buf + r.bytes);
  }
  return out;
}

class RecordingListenHooks : public ListenHooks {
 public:
  SynDecision OnSyn(const FlowKey& flow, const SegmentInfo& syn,
                    const wire::TcpOptionsRepr& options) override {
    flows.push_back(flow);
    syns.push_back(syn);
    last_options = options;
    return decision;
  }
  SynDecision decision;
  std::vector<FlowKey> flows;
  std::vector<SegmentInfo> syns;
  wire::TcpOptionsRepr last_options;
};

// ---- Handshake, data, close --------------------------------------------------------------------

TEST(NativeBackend, HandshakeDataAndCloseThroughTheAdapter) {
  Pair p;
  ListenerId lid;
  ASSERT_EQ(p.server->Listen(&kServerAddr, kServerPort, {}, nullptr, &lid), TcpError::kOk);
  const ConnectionId c = p.Connect(40000, T(0));
  ASSERT_EQ(p.last_error, TcpError::kOk);
  ASSERT_TRUE(c.valid());
  EXPECT_EQ(p.client->connection_count(), 1u);
  p.Exchange(T(1));

  const std::vector<TcpEvent> ce = Drain(*p.client);
  ASSERT_TRUE(HasEvent(ce, TcpEvent::Kind::kEstablished));
  const std::vector<TcpEvent> se = Drain(*p.server);
  ASSERT_EQ(se.size(), 2u);
  EXPECT_EQ(se[0].kind, TcpEvent::Kind::kEstablished);
  EXPECT_EQ(se[1].kind, TcpEvent::Kind::kAccepted);
  EXPECT_EQ(se[1].listener, lid);
  const ConnectionId s = se[1].connection;
  EXPECT_EQ(p.server->Flow(s), ServerFlow(40000));
  EXPECT_EQ(p.server->Info(s)->state, TcpState::kEstablished);
  EXPECT_EQ(p.server->listener(lid)->accept_queue(), 0u);
  EXPECT_EQ(p.server->counters()[BackendCounter::kConnectionsAccepted], 1u);

  // Data both ways.
  const std::vector<uint8_t> request = Bytes(3000, 3);
  EXPECT_EQ(p.client->Send(c, request, T(2)).accepted, request.size());
  p.Exchange(T(2));
  std::vector<TcpEvent> ev = Drain(*p.server);
  ASSERT_TRUE(HasEvent(ev, TcpEvent::Kind::kReadable));
  EXPECT_EQ(ReadAll(*p.server, s, T(2)), request);
  const std::vector<uint8_t> response = Bytes(100000, 9);
  size_t sent = 0;
  std::vector<uint8_t> got;
  for (int i = 0; i < 1000 && got.size() < response.size(); ++i) {
    const Instant now = T(3 + i);
    if (sent < response.size()) {
      sent += p.server->Send(s, std::span<const uint8_t>(response).subspan(sent), now).accepted;
    }
    p.Exchange(now);
    p.client->Poll(now);
    p.server->Poll(now);
    p.Exchange(now);
    const std::vector<uint8_t> more = ReadAll(*p.client, c, now);
    got.insert(got.end(), more.begin(), more.end());
    Drain(*p.client);
    Drain(*p.server);
  }
  EXPECT_EQ(got, response);

  // The client closes first (it will hold TIME-WAIT), then the server.
  EXPECT_EQ(p.client->Close(c, T(2000)), TcpError::kOk);
  p.Exchange(T(2000));
  ev = Drain(*p.server);
  ASSERT_TRUE(HasEvent(ev, TcpEvent::Kind::kPeerFin));
  EXPECT_EQ(p.server->Close(s, T(2001)), TcpError::kOk);
  p.Exchange(T(2001));
  ev = Drain(*p.server);
  ASSERT_TRUE(HasEvent(ev, TcpEvent::Kind::kClosed));
  ev = Drain(*p.client);
  ASSERT_TRUE(HasEvent(ev, TcpEvent::Kind::kClosed));
  EXPECT_EQ(p.client->connection_count(), 0u);
  EXPECT_EQ(p.server->connection_count(), 0u);
  EXPECT_EQ(p.client->time_wait_count(), 1u);
  EXPECT_EQ(p.server->time_wait_count(), 0u);
  // Drained kClosed released the handles.
  EXPECT_FALSE(p.client->Info(c).has_value());
  EXPECT_EQ(p.client->Send(c, request, T(2002)).accepted, 0u);
  EXPECT_EQ(p.client->Shutdown(c, T(2002)), TcpError::kInvalidHandle);

  // 2·MSL later the TIME-WAIT entry is gone.
  p.client->Poll(T(2001) + TcpConfig{}.time_wait);
  EXPECT_EQ(p.client->time_wait_count(), 0u);
  EXPECT_EQ(p.client->counters()[BackendCounter::kTimeWaitExpired], 1u);
}

TEST(NativeBackend, PollAtFollowsTheEarliestDeadline) {
  Pair p;
  EXPECT_FALSE(p.client->PollAt().has_value());
  p.Connect(40000, T(0));  // nobody answers: the SYN will be retransmitted
  ASSERT_TRUE(p.client->PollAt().has_value());
  const Instant first = *p.client->PollAt();
  EXPECT_GT(first, T(0));
  EXPECT_LE(first, T(0) + 1s);  // RFC 6298 §2.1: initial RTO 1 s
  ASSERT_EQ(p.client_out.Take().size(), 1u);
  p.client->Poll(first);
  const std::vector<Sent> again = p.client_out.Take();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_TRUE(again[0].header.flags.syn());
  std::vector<TcpEvent> ev = Drain(*p.client);
  EXPECT_TRUE(HasEvent(ev, TcpEvent::Kind::kRetransmitTimeout));
  ASSERT_TRUE(p.client->PollAt().has_value());
  EXPECT_GT(*p.client->PollAt(), first);
}

// ---- RFC 9293 §3.10.7.1: CLOSED -----------------------------------------------------------------

TEST(NativeBackend, SynToClosedPortGetsRstAck) {
  Pair p;
  Seg syn{
      .flags = TcpFlag::kSyn, .seq = TcpSeq(1000), .ack = TcpSeq(0), .options = {}, .payload = {}};
  Deliver(*p.server, ServerFlow(40000), syn, T(0));
  const std::vector<Sent> out = p.server_out.Take();
  ASSERT_EQ(out.size(), 1u);
  // <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>: SEG.LEN counts the SYN.
  EXPECT_EQ(out[0].header.flags, TcpFlag::kRst | TcpFlag::kAck);
  EXPECT_EQ(out[0].header.seq, TcpSeq(0));
  EXPECT_EQ(out[0].header.ack, TcpSeq(1001));
  EXPECT_EQ(out[0].header.src_port, kServerPort);
  EXPECT_EQ(out[0].header.dst_port, 40000);
  EXPECT_EQ(out[0].flow, ServerFlow(40000));
  EXPECT_EQ(p.server->counters()[BackendCounter::kNoListenerResets], 1u);
  EXPECT_EQ(p.server->connection_count(), 0u);
}

TEST(NativeBackend, AckAndDataToClosedPortGetRstAtTheirAck) {
  Pair p;
  Seg ack{.flags = TcpFlag::kAck | TcpFlag::kPsh,
          .seq = TcpSeq(5),
          .ack = TcpSeq(777),
          .options = {},
          .payload = Bytes(10)};
  Deliver(*p.server, ServerFlow(40000), ack, T(0));
  std::vector<Sent> out = p.server_out.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].header.flags, TcpFlags(TcpFlag::kRst));  // <SEQ=SEG.ACK><CTL=RST>
  EXPECT_EQ(out[0].header.seq, TcpSeq(777));

  Seg fin{.flags = TcpFlag::kFin,
          .seq = TcpSeq(5),
          .ack = TcpSeq(0),
          .options = {},
          .payload = Bytes(4)};
  Deliver(*p.server, ServerFlow(40000), fin, T(0));
  out = p.server_out.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].header.ack, TcpSeq(5 + 4 + 1));  // payload + FIN
}

TEST(NativeBackend, RstToClosedPortIsDroppedSilently) {
  Pair p;
  Seg rst{.flags = TcpFlag::kRst, .seq = TcpSeq(5), .ack = TcpSeq(0), .options = {}, .payload = {}};
  Deliver(*p.server, ServerFlow(40000), rst, T(0));
  EXPECT_TRUE(p.server_out.sent.empty());
  EXPECT_EQ(p.server->counters()[BackendCounter::kNoListenerDrops], 1u);
}

TEST(NativeBackend, ConnectToClosedPortIsRefused) {
  Pair p;
  const ConnectionId c = p.Connect(40000, T(0));
  p.Exchange(T(1));
  const std::vector<TcpEvent> ev = Drain(*p.client);
  bool refused = false;
  for (const TcpEvent& e : ev) {
    if (e.kind == TcpEvent::Kind::kReset) refused = e.reason == TcpEvent::ResetReason::kRefused;
  }
  EXPECT_TRUE(refused);
  EXPECT_TRUE(HasEvent(ev, TcpEvent::Kind::kClosed));
  EXPECT_FALSE(p.client->Info(c).has_value());
  EXPECT_EQ(p.client->connection_count(), 0u);
}

// ---- Listeners ----------------------------------------------------------------------------------

TEST(NativeBackend, ListenErrors) {
  Pair p;
  ListenerId a, b;
  EXPECT_EQ(p.server->Listen(&kServerAddr, 80, {}, nullptr, &a), TcpError::kOk);
  EXPECT_EQ(p.server->Listen(&kServerAddr, 80, {}, nullptr, &b), TcpError::kAddressInUse);
  EXPECT_EQ(p.server->Listen(nullptr, 80, {}, nullptr, &b), TcpError::kOk);  // wildcard beside
  EXPECT_EQ(p.server->Listen(nullptr, 80, {}, nullptr, &b), TcpError::kAddressInUse);
  TcpConfig bad;
  bad.congestion_control = "no-such-cc";
  EXPECT_EQ(p.server->Listen(nullptr, 81, bad, nullptr, &b), TcpError::kUnknownCongestionControl);
  EXPECT_EQ(p.server->StopListening(ListenerId{999}), TcpError::kInvalidHandle);
  EXPECT_EQ(p.server->StopListening(a), TcpError::kOk);
  EXPECT_EQ(p.server->StopListening(a), TcpError::kInvalidHandle);  // indices are not reused
}

TEST(NativeBackend, WildcardListenerTakesOtherAddresses) {
  Pair p;
  ListenerId lid;
  ASSERT_EQ(p.server->Listen(nullptr, kServerPort, {}, nullptr, &lid), TcpError::kOk);
  p.Connect(40000, T(0));
  p.Exchange(T(0));
  const std::vector<TcpEvent> se = Drain(*p.server);
  EXPECT_TRUE(HasEvent(se, TcpEvent::Kind::kAccepted));
}

TEST(NativeBackend, StoppedListenerAnswersWithRst) {
  Pair p;
  ListenerId lid;
  ASSERT_EQ(p.server->Listen(&kServerAddr, kServerPort, {}, nullptr, &lid), TcpError::kOk);
  ASSERT_EQ(p.server->StopListening(lid), TcpError::kOk);
  Seg syn{.flags = TcpFlag::kSyn, .seq = TcpSeq(1), .ack = TcpSeq(0), .options = {}, .payload = {}};
  Deliver(*p.server, ServerFlow(40000), syn, T(0));
  ASSERT_EQ(p.server_out.sent.size(), 1u);
  EXPECT_TRUE(p.server_out.sent[0].header.flags.rst());
}

TEST(NativeBackend, RefusedSynGetsRstAndIgnoredSynNothing) {
  Pair p;
  RecordingListenHooks hooks;
  ListenerId lid;
  ASSERT_EQ(p.server->Listen(&kServerAddr, kServerPort, {}, &hooks, &lid), TcpError::kOk);
  hooks.decision.action = SynDecision::Action::kRefuse;
  wire::TcpOptionsRepr opts;
  opts.mss = 1400;
  Seg syn{
      .flags = TcpFlag::kSyn, .seq = TcpSeq(41), .ack = TcpSeq(0), .options = opts, .payload = {}};
  Deliver(*p.server, ServerFlow(40000), syn, T(0));
  std::vector<Sent> out = p.server_out.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].header.flags, TcpFlag::kRst | TcpFlag::kAck);
  EXPECT_EQ(out[0].header.ack, TcpSeq(42));
  ASSERT_EQ(hooks.flows.size(), 1u);
  EXPECT_EQ(hooks.flows[0], ServerFlow(40000));
  EXPECT_EQ(hooks.syns[0].seq, TcpSeq(41));
  EXPECT_EQ(hooks.syns[0].irs, TcpSeq(41));
  EXPECT_EQ(hooks.last_options.mss, 1400);
  EXPECT_EQ(p.server->listener(lid)->counters()[ListenerCounter::kSynsRefused], 1u);

  hooks.decision.action = SynDecision::Action::kIgnore;
  Deliver(*p.server, ServerFlow(40001), syn, T(0));
  EXPECT_TRUE(p.server_out.sent.empty());
  EXPECT_EQ(p.server->listener(lid)->counters()[ListenerCounter::kSynsIgnored], 1u);
  EXPECT_EQ(p.server->connection_count(), 0u);
}

TEST(NativeBackend, AcceptedSynCarriesUserData) {
  Pair p;
  RecordingListenHooks hooks;
  hooks.decision.user_data = 0xabcdef;
  ListenerId lid;
  ASSERT_EQ(p.server->Listen(&kServerAddr, kServerPort, {}, &hooks, &lid), TcpError::kOk);
  p.Connect(40000, T(0));
  p.Exchange(T(0));
  const std::vector<TcpEvent> se = Drain(*p.server);
  ASSERT_EQ(se.size(), 2u);
  EXPECT_EQ(se[1].kind, TcpEvent::Kind::kAccepted);
  EXPECT_EQ(se[1].user_data, 0xabcdefu);
  // SegmentInfo.iss is the ISS the SYN-ACK then carried.
  EXPECT_EQ(hooks.syns.at(0).iss, p.server->Info(se[1].connection)->iss);
}

// ---- SYN backlog and SYN cookies ----------------------------------------------------------------

// A SYN from a client that never completes its handshake.
Seg FloodSyn(uint32_t isn, bool timestamps) {
  wire::TcpOptionsRepr o;
  o.mss = 1460;
  o.window_scale = 7;
  o.sack_permitted = true;
  if (timestamps) o.timestamps = wire::TcpTimestamps{.tsval = 5000, .tsecr = 0};
  return Seg{
      .flags = TcpFlag::kSyn, .seq = TcpSeq(isn), .ack = TcpSeq(0), .options = o, .payload = {}};
}

TEST(NativeBackend, SynFloodFillsTheBacklogThenCookiesCompleteAConnection) {
  Pair p;
  TcpConfig cfg;
  cfg.syn_backlog = 4;
  ListenerId lid;
  ASSERT_EQ(p.server->Listen(&kServerAddr, kServerPort, cfg, nullptr, &lid), TcpError::kOk);
  const TcpListener& l = *p.server->listener(lid);

  // The flood: 4 SYNs fill the backlog with SYN-RECEIVED connections.
  for (uint16_t i = 0; i < 4; ++i)
    Deliver(*p.server, ServerFlow(50000 + i), FloodSyn(100 * i, true), T(0));
  EXPECT_EQ(p.server->connection_count(), 4u);
  EXPECT_EQ(l.half_open(), 4u);
  EXPECT_TRUE(l.syn_backlog_full());
  std::vector<Sent> out = p.server_out.Take();
  ASSERT_EQ(out.size(), 4u);
  for (const Sent& s : out) EXPECT_EQ(s.header.flags, TcpFlag::kSyn | TcpFlag::kAck);
  EXPECT_EQ(l.counters()[ListenerCounter::kCookiesSent], 0u);  // no pressure yet: no cookies

  // Under pressure: a SYN-ACK with a cookie, and no state.
  const uint32_t client_isn = 0xfffffff0;  // the ACK's seq wraps
  Deliver(*p.server, ServerFlow(50010), FloodSyn(client_isn, true), T(1));
  EXPECT_EQ(p.server->connection_count(), 4u);
  out = p.server_out.Take();
  ASSERT_EQ(out.size(), 1u);
  const wire::TcpRepr synack = out[0].header;
  EXPECT_EQ(synack.flags, TcpFlag::kSyn | TcpFlag::kAck);
  EXPECT_EQ(synack.ack, TcpSeq(client_isn + 1));
  ASSERT_TRUE(synack.options.timestamps.has_value());
  EXPECT_EQ(synack.options.timestamps->tsecr, 5000u);
  EXPECT_TRUE(synack.options.sack_permitted);
  EXPECT_TRUE(synack.options.window_scale.has_value());
  EXPECT_EQ(synack.options.mss, 1460);
  EXPECT_EQ(l.counters()[ListenerCounter::kCookiesSent], 1u);

  // A forged ACK (wrong cookie) is answered with RST and counted.
  wire::TcpOptionsRepr ack_opts;
  ack_opts.timestamps =
      wire::TcpTimestamps{.tsval = 5001, .tsecr = synack.options.timestamps->tsval};
  Seg forged{.flags = TcpFlag::kAck,
             .seq = TcpSeq(client_isn + 1),
             .ack = synack.seq + 2,
             .options = ack_opts,
             .payload = {}};
  Deliver(*p.server, ServerFlow(50010), forged, T(2));
  out = p.server_out.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].header.flags.rst());
  EXPECT_EQ(l.counters()[ListenerCounter::kCookiesBadMac], 1u);
  EXPECT_EQ(p.server->connection_count(), 4u);

  // The real third ACK, carrying data, completes the connection from the cookie.
  Seg ack{.flags = TcpFlag::kAck | TcpFlag::kPsh,
          .seq = TcpSeq(client_isn + 1),
          .ack = synack.seq + 1,
          .window = 1000,
          .options = ack_opts,
          .payload = Bytes(20, 5)};
  Deliver(*p.server, ServerFlow(50010), ack, T(2));
  EXPECT_EQ(l.counters()[ListenerCounter::kCookiesValidated], 1u);
  EXPECT_EQ(p.server->connection_count(), 5u);
  const std::vector<TcpEvent> ev = Drain(*p.server);
  ASSERT_GE(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, TcpEvent::Kind::kEstablished);
  EXPECT_EQ(ev[1].kind, TcpEvent::Kind::kAccepted);
  const ConnectionId s = ev[1].connection;
  EXPECT_TRUE(HasEvent(ev, TcpEvent::Kind::kReadable));
  EXPECT_EQ(ReadAll(*p.server, s, T(2)), Bytes(20, 5));
  const TcpInfo info = *p.server->Info(s);
  EXPECT_EQ(info.state, TcpState::kEstablished);
  EXPECT_EQ(info.iss, synack.seq);
  EXPECT_TRUE(info.sack_enabled);
  EXPECT_TRUE(info.timestamps_enabled);
  EXPECT_EQ(info.snd_wscale, 7);
  // The cookie's half-open never counted in the backlog.
  EXPECT_EQ(l.half_open(), 4u);

  // The connection's TSvals continue the cookie's clock (same per-tuple offset).
  const std::vector<uint8_t> reply = Bytes(10);
  p.server->Send(s, reply, T(3));
  out = p.server_out.Take();
  ASSERT_FALSE(out.empty());
  ASSERT_TRUE(out.back().header.options.timestamps.has_value());
  const int32_t ts_step = static_cast<int32_t>(out.back().header.options.timestamps->tsval -
                                               synack.options.timestamps->tsval);
  EXPECT_GE(ts_step, 0);
  EXPECT_LE(ts_step, 64 + 2);  // the cookie TSval is at most 63 ticks behind, then 2 ms passed
}

TEST(NativeBackend, CookiesWithoutTimestampsAnnounceOnlyTheMss) {
  Pair p;
  TcpConfig cfg;
  cfg.syn_backlog = 0;  // every SYN is "under pressure"
  ListenerId lid;
  ASSERT_EQ(p.server->Listen(&kServerAddr, kServerPort, cfg, nullptr, &lid), TcpError::kOk);
  Deliver(*p.server, ServerFlow(50000), FloodSyn(77, false), T(0));
  const std::vector<Sent> out = p.server_out.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].header.options.mss, 1460);
  EXPECT_FALSE(out[0].header.options.window_scale.has_value());
  EXPECT_FALSE(out[0].header.options.sack_permitted);
  EXPECT_FALSE(out[0].header.options.timestamps.has_value());
  EXPECT_EQ(p.server->connection_count(), 0u);
}

TEST(NativeBackend, RealClientCompletesThroughCookiesAndTransfers) {
  Pair p;
  TcpConfig cfg;
  cfg.syn_backlog = 0;
  ListenerId lid;
  ASSERT_EQ(p.server->Listen(&kServerAddr, kServerPort, cfg, nullptr, &lid), TcpError::kOk);
  const ConnectionId c = p.Connect(40000, T(0));
  p.Exchange(T(0));
  ASSERT_TRUE(HasEvent(Drain(*p.client), TcpEvent::Kind::kEstablished));
  // The client's handshake ACK carries no data: the cookie is checked on it.
  const std::vector<TcpEvent> se = Drain(*p.server);
  ASSERT_TRUE(HasEvent(se, TcpEvent::Kind::kAccepted));
  EXPECT_EQ(p.server->listener(lid)->counters()[ListenerCounter::kCookiesValidated], 1u);
  const ConnectionId s = se[1].connection;
  const std::vector<uint8_t> data = Bytes(50000, 2);
  size_t sent = 0;
  std::vector<uint8_t> got;
  for (int i = 1; i < 500 && got.size() < data.size(); ++i) {
    if (sent < data.size()) {
      sent += p.client->Send(c, std::span<const uint8_t>(data).subspan(sent), T(i)).accepted;
    }
    p.Exchange(T(i));
    p.client->Poll(T(i));
    p.server->Poll(T(i));
    p.Exchange(T(i));
    const std::vector<uint8_t> more = ReadAll(*p.server, s, T(i));
    got.insert(got.end(), more.begin(), more.end());
  }
  EXPECT_EQ(got, data);
}

TEST(NativeBackend, AckWithoutRecentCookiesGetsRst) {
  Pair p;
  ListenerId lid;
  ASSERT_EQ(p.server->Listen(&kServerAddr, kServerPort, {}, nullptr, &lid), TcpError::kOk);
  Seg ack{
      .flags = TcpFlag::kAck, .seq = TcpSeq(10), .ack = TcpSeq(20), .options = {}, .payload = {}};
  Deliver(*p.server, ServerFlow(40000), ack, T(0));
  const std::vector<Sent> out = p.server_out.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].header.flags, TcpFlags(TcpFlag::kRst));
  EXPECT_EQ(out[0].header.seq, TcpSeq(20));
  EXPECT_EQ(p.server->listener(lid)->counters()[ListenerCounter::kAcksReset], 1u);
  EXPECT_EQ(p.server->listener(lid)->counters()[ListenerCounter::kCookiesBadMac], 0u);
}

TEST(NativeBackend, BacklogFullWithoutCookiesDropsSyns) {
  Pair p;
  TcpConfig cfg;
  cfg.syn_backlog = 1;
  cfg.syn_cookies = false;
  ListenerId lid;
  ASSERT_EQ(p.server->Listen(&kServerAddr, kServerPort, cfg, nullptr, &lid), TcpError::kOk);
  Deliver(*p.server, ServerFlow(50000), FloodSyn(1, true), T(0));
  Deliver(*p.server, ServerFlow(50001), FloodSyn(2, true), T(0));
  EXPECT_EQ(p.server_out.Take().size(), 1u);
  EXPECT_EQ(p.server->listener(lid)->counters()[ListenerCounter::kSynBacklogDrops], 1u);
}

TEST(NativeBackend, HalfOpenThatTimesOutLeavesTheBacklogSilently) {
  Pair p;
  TcpConfig cfg;
  cfg.synack_retries = 1;
  ListenerId lid;
  ASSERT_EQ(p.server->Listen(&kServerAddr, kServerPort, cfg, nullptr, &lid), TcpError::kOk);
  Deliver(*p.server, ServerFlow(50000), FloodSyn(1, true), T(0));
  EXPECT_EQ(p.server->listener(lid)->half_open(), 1u);
  for (int s = 1; s <= 120 && p.server->connection_count() > 0; ++s) {
    p.server->Poll(T(s * 1000));
  }
  EXPECT_EQ(p.server->connection_count(), 0u);
  EXPECT_EQ(p.server->listener(lid)->half_open(), 0u);
  EXPECT_EQ(p.server->counters()[BackendCounter::kHalfOpenFailed], 1u);
  EXPECT_TRUE(Drain(*p.server).empty());  // the upper layer never knew it
}

// ---- Accept queue -------------------------------------------------------------------------------

TEST(NativeBackend, FullAcceptQueueDropsSynsAndHandshakeAcks) {
  Pair p;
  TcpConfig cfg;
  cfg.accept_backlog = 1;
  ListenerId lid;
  ASSERT_EQ(p.server->Listen(&kServerAddr, kServerPort, cfg, nullptr, &lid), TcpError::kOk);
  const TcpListener& l = *p.server->listener(lid);

  // Two handshakes start; the first completes and fills the accept queue (its event not drained).
  p.Connect(40000, T(0));
  p.Connect(40001, T(0));
  std::vector<Sent> syns = p.client_out.Take();
  ASSERT_EQ(syns.size(), 2u);
  Forward(*p.server, syns[0], T(0));
  Forward(*p.server, syns[1], T(0));
  std::vector<Sent> synacks = p.server_out.Take();
  ASSERT_EQ(synacks.size(), 2u);
  EXPECT_EQ(l.half_open(), 2u);
  Forward(*p.client, synacks[0], T(0));
  std::vector<Sent> acks = p.client_out.Take();
  ASSERT_EQ(acks.size(), 1u);
  Forward(*p.server, acks[0], T(0));
  EXPECT_EQ(l.accept_queue(), 1u);
  EXPECT_TRUE(l.accept_queue_full());
  EXPECT_EQ(l.half_open(), 1u);

  // The second handshake's ACK is dropped: its connection stays in SYN-RECEIVED.
  Forward(*p.client, synacks[1], T(0));
  acks = p.client_out.Take();
  ASSERT_EQ(acks.size(), 1u);
  Forward(*p.server, acks[0], T(0));
  EXPECT_EQ(p.server->counters()[BackendCounter::kAcceptQueueDrops], 1u);
  EXPECT_EQ(l.half_open(), 1u);

  // A new SYN is dropped too.
  Deliver(*p.server, ServerFlow(40002), FloodSyn(9, true), T(0));
  EXPECT_TRUE(p.server_out.sent.empty());
  EXPECT_EQ(l.counters()[ListenerCounter::kAcceptQueueDrops], 2u);

  // Draining the kAccepted event makes room: the retransmitted ACK (client data) completes it.
  std::vector<TcpEvent> ev = Drain(*p.server);
  EXPECT_EQ(l.accept_queue(), 0u);
  Forward(*p.server, acks[0], T(1));
  ev = Drain(*p.server);
  EXPECT_TRUE(HasEvent(ev, TcpEvent::Kind::kAccepted));
  EXPECT_EQ(l.half_open(), 0u);
}

// ---- Handles ------------------------------------------------------------------------------------

TEST(NativeBackend, StaleHandleIsRejectedAndNeverReachesTheSlotsNewConnection) {
  Pair p;
  const ConnectionId old_id = p.Connect(40000, T(0));
  ASSERT_EQ(p.client->Abort(old_id, T(0)), TcpError::kOk);
  std::vector<TcpEvent> ev = Drain(*p.client);
  ASSERT_TRUE(HasEvent(ev, TcpEvent::Kind::kClosed));
  bool aborted = false;
  for (const TcpEvent& e : ev) {
    if (e.kind == TcpEvent::Kind::kReset)
      aborted = e.reason == TcpEvent::ResetReason::kAbortedLocally;
  }
  EXPECT_TRUE(aborted);
  const ConnectionId new_id = p.Connect(40001, T(1));
  ASSERT_TRUE(new_id.valid());
  EXPECT_EQ(new_id.index, old_id.index);            // the slot is reused...
  EXPECT_NE(new_id.generation, old_id.generation);  // ...under a new generation
  EXPECT_FALSE(p.client->Info(old_id).has_value());
  EXPECT_FALSE(p.client->Flow(old_id).has_value());
  EXPECT_EQ(p.client->Send(old_id, Bytes(10), T(1)).accepted, 0u);
  EXPECT_EQ(p.client->Receive(old_id, std::span<uint8_t>(), T(1)).bytes, 0u);
  EXPECT_EQ(p.client->Shutdown(old_id, T(1)), TcpError::kInvalidHandle);
  EXPECT_EQ(p.client->Abort(old_id, T(1)), TcpError::kInvalidHandle);
  EXPECT_EQ(p.client->Close(old_id, T(1)), TcpError::kInvalidHandle);
  EXPECT_EQ(p.client->SetNagle(old_id, false), TcpError::kInvalidHandle);
  EXPECT_EQ(p.client->Info(new_id)->state, TcpState::kSynSent);
  EXPECT_EQ(p.client->Info(ConnectionId{}), std::nullopt);
  EXPECT_EQ(p.client->Info(ConnectionId{12345, 1}), std::nullopt);
}

TEST(NativeBackend, HandleStaysValidUntilClosedIsDrained) {
  Pair p;
  const ConnectionId c = p.Connect(40000, T(0));
  p.client->Abort(c, T(0));
  // kClosed is queued, not drained: the handle still answers Info.
  EXPECT_TRUE(p.client->Info(c).has_value());
  EXPECT_EQ(p.client->connection_count(), 1u);
  Drain(*p.client);
  EXPECT_FALSE(p.client->Info(c).has_value());
  EXPECT_EQ(p.client->connection_count(), 0u);
}

TEST(NativeBackend, ConnectionCapacityAndFourTupleReuse) {
  NativeTcpBackendConfig small;
  small.max_connections = 1;
  Pair p(small);
  p.Connect(40000, T(0));
  EXPECT_EQ(p.last_error, TcpError::kOk);
  p.Connect(40001, T(0));
  EXPECT_EQ(p.last_error, TcpError::kNoResources);
  EXPECT_EQ(p.client->counters()[BackendCounter::kTableFull], 1u);
  Pair q;
  q.Connect(40000, T(0));
  q.Connect(40000, T(0));
  EXPECT_EQ(q.last_error, TcpError::kInvalidState);  // the 4-tuple is in use
  TcpConfig bad;
  bad.congestion_control = "no-such-cc";
  q.Connect(40001, T(0), bad);
  EXPECT_EQ(q.last_error, TcpError::kUnknownCongestionControl);
}

TEST(NativeBackend, CloseWithUnreadDataResets) {
  Pair p;
  ListenerId lid;
  ASSERT_EQ(p.server->Listen(&kServerAddr, kServerPort, {}, nullptr, &lid), TcpError::kOk);
  const ConnectionId c = p.Connect(40000, T(0));
  p.Exchange(T(0));
  const std::vector<TcpEvent> se = Drain(*p.server);
  const ConnectionId s = se.at(1).connection;
  p.client->Send(c, Bytes(100), T(1));
  p.Exchange(T(1));
  Drain(*p.server);
  EXPECT_EQ(p.server->Close(s, T(2)), TcpError::kOk);
  EXPECT_EQ(p.server->counters()[BackendCounter::kAbortOnClose], 1u);
  const std::vector<Sent> out = p.server_out.Take();
  ASSERT_FALSE(out.empty());
  EXPECT_TRUE(out.back().header.flags.rst());
}

// ---- TIME-WAIT ----------------------------------------------------------------------------------

struct TimeWaitFixture {
  Pair p;
  ConnectionId c, s;
  std::vector<Sent> server_fin;  // the server's FIN, to replay
  TimeWaitFixture() {
    ListenerId lid;
    EXPECT_EQ(p.server->Listen(&kServerAddr, kServerPort, {}, nullptr, &lid), TcpError::kOk);
    c = p.Connect(40000, T(0));
    p.Exchange(T(0));
    Drain(*p.client);
    s = Drain(*p.server).at(1).connection;
    p.client->Close(c, T(1));
    p.Exchange(T(1));
    Drain(*p.server);
    p.server->Close(s, T(2));
    server_fin = p.server_out.Take();
    for (const Sent& x : server_fin) Forward(*p.client, x, T(2));
    p.Exchange(T(2));
    Drain(*p.client);
    Drain(*p.server);
  }
};

TEST(NativeBackend, TimeWaitAcksARetransmittedFinAndRestartsItsTimer) {
  TimeWaitFixture f;
  ASSERT_EQ(f.p.client->time_wait_count(), 1u);
  ASSERT_FALSE(f.server_fin.empty());
  const Sent& fin = f.server_fin.back();
  ASSERT_TRUE(fin.header.flags.fin());
  Forward(*f.p.client, fin, T(30'000));
  const std::vector<Sent> out = f.p.client_out.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].header.flags, TcpFlags(TcpFlag::kAck));
  EXPECT_EQ(out[0].header.ack, fin.header.seq + 1);
  // Timestamps continue on the connection's clock.
  ASSERT_TRUE(out[0].header.options.timestamps.has_value());
  EXPECT_EQ(out[0].header.options.timestamps->tsecr, fin.header.options.timestamps->tsval);
  EXPECT_EQ(f.p.client->counters()[BackendCounter::kTimeWaitAcks], 1u);
  // The 2·MSL restarted at 30 s: still there at 61 s, gone at 90 s.
  f.p.client->Poll(T(61'000));
  EXPECT_EQ(f.p.client->time_wait_count(), 1u);
  f.p.client->Poll(T(90'001));
  EXPECT_EQ(f.p.client->time_wait_count(), 0u);
}

TEST(NativeBackend, TimeWaitIgnoresRstAndAcksOldSyns) {
  TimeWaitFixture f;
  const Sent& fin = f.server_fin.back();
  Seg rst{.flags = TcpFlag::kRst,
          .seq = fin.header.seq + 1,
          .ack = TcpSeq(0),
          .options = {},
          .payload = {}};
  Deliver(*f.p.client, ClientFlow(40000), rst, T(3));
  EXPECT_EQ(f.p.client->time_wait_count(), 1u);  // RFC 1337
  EXPECT_EQ(f.p.client->counters()[BackendCounter::kTimeWaitRstIgnored], 1u);
  EXPECT_TRUE(f.p.client_out.sent.empty());

  // An old duplicate SYN (below RCV.NXT, no timestamps) gets an ACK, not a new connection.
  Seg old_syn{.flags = TcpFlag::kSyn,
              .seq = fin.header.seq - 100,
              .ack = TcpSeq(0),
              .options = {},
              .payload = {}};
  Deliver(*f.p.client, ClientFlow(40000), old_syn, T(4));
  std::vector<Sent> out = f.p.client_out.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].header.flags, TcpFlags(TcpFlag::kAck));
  EXPECT_EQ(f.p.client->time_wait_count(), 1u);

  // A new SYN above RCV.NXT reopens the flow (RFC 6191): no listener here, so CLOSED's RST.
  Seg new_syn{.flags = TcpFlag::kSyn,
              .seq = fin.header.seq + 100000,
              .ack = TcpSeq(0),
              .options = {},
              .payload = {}};
  Deliver(*f.p.client, ClientFlow(40000), new_syn, T(5));
  out = f.p.client_out.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].header.flags.rst());
  EXPECT_EQ(f.p.client->time_wait_count(), 0u);
  EXPECT_EQ(f.p.client->counters()[BackendCounter::kTimeWaitReopened], 1u);
}

TEST(NativeBackend, ConnectOnAFlowInTimeWaitIsRefused) {
  TimeWaitFixture f;
  f.p.Connect(40000, T(10));
  EXPECT_EQ(f.p.last_error, TcpError::kInvalidState);
  f.p.Connect(40001, T(10));
  EXPECT_EQ(f.p.last_error, TcpError::kOk);
}

TEST(NativeBackend, DataAfterCloseResetsTheConnection) {
  Pair p;
  ListenerId lid;
  ASSERT_EQ(p.server->Listen(&kServerAddr, kServerPort, {}, nullptr, &lid), TcpError::kOk);
  const ConnectionId c = p.Connect(40000, T(0));
  p.Exchange(T(0));
  const ConnectionId s = Drain(*p.server).at(1).connection;
  Drain(*p.client);
  ASSERT_EQ(p.client->Close(c, T(1)), TcpError::kOk);  // FIN-WAIT-1, the app is gone
  p.Exchange(T(1));
  p.server->Send(s, Bytes(500), T(2));
  p.Exchange(T(2));
  EXPECT_EQ(p.client->counters()[BackendCounter::kAbortOnData], 1u);
  const std::vector<TcpEvent> ev = Drain(*p.client);
  EXPECT_TRUE(HasEvent(ev, TcpEvent::Kind::kClosed));
}

}  // namespace
}  // namespace braid::tcp::backend_test
