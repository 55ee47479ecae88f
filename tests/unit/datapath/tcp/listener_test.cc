// TcpListener on its own: RFC 9293 §3.10.7.2 LISTEN rules, the PassiveOpen it builds, SYN
// cookies under pressure and the stateless replies (RFC 9293 §3.10.7.1).
#include "datapath/tcp/listener.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <vector>

#include "tests/unit/datapath/tcp/backend_harness.h"

namespace braid::tcp::backend_test {
namespace {

struct ListenerFixture {
  explicit ListenerFixture(TcpConfig config = {}, ListenHooks* hooks = nullptr)
      : isn(kServerSecret),
        cookies(kServerSecret),
        listener(ListenerId{7}, kServerAddr, kServerPort, config, hooks, isn, cookies) {}

  ListenVerdict Send(const FlowKey& flow, const Seg& s, Instant now, bool room = true) {
    InboundSegment in;
    in.header.src_port = flow.remote_port;
    in.header.dst_port = flow.local_port;
    in.header.seq = s.seq;
    in.header.ack = s.ack;
    in.header.flags = s.flags;
    in.header.window = s.window;
    in.header.options = s.options;
    in.header.payload_len = s.payload.size();
    in.payload = s.payload;
    return listener.OnSegment(flow, in, now, room, out);
  }

  IsnGenerator isn;
  SynCookies cookies;
  TcpListener listener;
  CaptureSink out;
};

FourTupleV4 Tuple(const FlowKey& f) {
  FourTupleV4 t;
  FourTupleV6 unused;
  bool v4 = false;
  EXPECT_TRUE(ToFourTuple(f, &t, &unused, &v4));
  EXPECT_TRUE(v4);
  return t;
}

Seg Syn(uint32_t isn, bool timestamps = true) {
  wire::TcpOptionsRepr o;
  o.mss = 1400;
  o.window_scale = 8;
  o.sack_permitted = true;
  if (timestamps) o.timestamps = wire::TcpTimestamps{.tsval = 123456, .tsecr = 0};
  return Seg{.flags = TcpFlag::kSyn,
             .seq = TcpSeq(isn),
             .ack = TcpSeq(0),
             .window = 29200,
             .options = o,
             .payload = {}};
}

TEST(Listener, RstIsIgnored) {
  ListenerFixture f;
  const ListenVerdict v =
      f.Send(ServerFlow(1), Seg{.flags = TcpFlag::kRst, .seq = TcpSeq(1), .ack = TcpSeq(0)}, T(0));
  EXPECT_EQ(v.action, ListenVerdict::Action::kDropped);
  EXPECT_TRUE(f.out.sent.empty());
  EXPECT_EQ(f.listener.counters()[ListenerCounter::kRstsIgnored], 1u);
}

TEST(Listener, AckIsAnsweredWithRstAtItsAck) {
  ListenerFixture f;
  const ListenVerdict v =
      f.Send(ServerFlow(1), Seg{.flags = TcpFlag::kAck, .seq = TcpSeq(1), .ack = TcpSeq(99)}, T(0));
  EXPECT_EQ(v.action, ListenVerdict::Action::kReset);
  ASSERT_EQ(f.out.sent.size(), 1u);
  EXPECT_EQ(f.out.sent[0].header.flags, TcpFlags(TcpFlag::kRst));
  EXPECT_EQ(f.out.sent[0].header.seq, TcpSeq(99));
  EXPECT_EQ(f.listener.counters()[ListenerCounter::kAcksReset], 1u);
}

TEST(Listener, SynAckIsAnsweredWithRst) {
  ListenerFixture f;
  const ListenVerdict v =
      f.Send(ServerFlow(1),
             Seg{.flags = TcpFlag::kSyn | TcpFlag::kAck, .seq = TcpSeq(1), .ack = TcpSeq(5)}, T(0));
  EXPECT_EQ(v.action, ListenVerdict::Action::kReset);
}

TEST(Listener, SynFinAndBareSegmentsAreDropped) {
  ListenerFixture f;
  EXPECT_EQ(
      f.Send(ServerFlow(1), Seg{.flags = TcpFlag::kSyn | TcpFlag::kFin, .seq = TcpSeq(1)}, T(0))
          .action,
      ListenVerdict::Action::kDropped);
  EXPECT_EQ(
      f.Send(ServerFlow(1), Seg{.flags = TcpFlag::kPsh, .seq = TcpSeq(1), .payload = {1, 2}}, T(0))
          .action,
      ListenVerdict::Action::kDropped);
  EXPECT_TRUE(f.out.sent.empty());
  EXPECT_EQ(f.listener.counters()[ListenerCounter::kOtherDrops], 2u);
}

TEST(Listener, SynToANonUnicastAddressIsDropped) {
  ListenerFixture f;
  FlowKey bcast = ServerFlow(1);
  bcast.local = wire::Ipv4Address::FromU32(0xffffffff);
  EXPECT_EQ(f.Send(bcast, Syn(1), T(0)).action, ListenVerdict::Action::kDropped);
  FlowKey mcast = ServerFlow(1);
  mcast.remote = wire::Ipv4Address::FromU32(0xe0000001);
  EXPECT_EQ(f.Send(mcast, Syn(1), T(0)).action, ListenVerdict::Action::kDropped);
}

TEST(Listener, SynOpensWithWhatTheSynSaid) {
  ListenerFixture f;
  const FlowKey flow = ServerFlow(40000);
  const ListenVerdict v = f.Send(flow, Syn(0xfffffffe), T(0));
  ASSERT_EQ(v.action, ListenVerdict::Action::kOpen);
  EXPECT_TRUE(f.out.sent.empty());  // the connection sends the SYN-ACK
  EXPECT_EQ(v.open.flow, flow);
  EXPECT_EQ(v.open.irs, TcpSeq(0xfffffffe));
  EXPECT_EQ(v.open.iss, f.isn.Isn(Tuple(flow), T(0)));  // RFC 6528
  EXPECT_EQ(v.open.peer_mss, 1400);
  EXPECT_EQ(v.open.peer_window_scale, 8);
  EXPECT_TRUE(v.open.peer_sack_permitted);
  ASSERT_TRUE(v.open.peer_timestamps.has_value());
  EXPECT_EQ(v.open.peer_timestamps->tsval, 123456u);
  EXPECT_EQ(v.open.peer_window, 29200);
  EXPECT_EQ(v.open.ts_offset, f.isn.TsOffset(Tuple(flow)));
  EXPECT_EQ(f.listener.counters()[ListenerCounter::kHalfOpenCreated], 1u);
}

TEST(Listener, NoRoomWithoutBacklogPressureStillUsesCookies) {
  ListenerFixture f;
  const ListenVerdict v = f.Send(ServerFlow(40000), Syn(1), T(0), /*room=*/false);
  EXPECT_EQ(v.action, ListenVerdict::Action::kCookieSent);
  EXPECT_EQ(f.out.sent.size(), 1u);
  TcpConfig no_cookies;
  no_cookies.syn_cookies = false;
  ListenerFixture g(no_cookies);
  EXPECT_EQ(g.Send(ServerFlow(40000), Syn(1), T(0), false).action, ListenVerdict::Action::kDropped);
  EXPECT_EQ(g.listener.counters()[ListenerCounter::kNoResourceDrops], 1u);
}

TEST(Listener, CookieRoundTripRebuildsTheSyn) {
  TcpConfig cfg;
  cfg.syn_backlog = 0;
  ListenerFixture f(cfg);
  const FlowKey flow = ServerFlow(40000);
  ASSERT_EQ(f.Send(flow, Syn(500), T(0)).action, ListenVerdict::Action::kCookieSent);
  ASSERT_EQ(f.out.sent.size(), 1u);
  const wire::TcpRepr synack = f.out.sent[0].header;
  EXPECT_EQ(synack.window, 65535);  // never scaled in a SYN-ACK
  EXPECT_EQ(synack.options.window_scale, TcpListener::OurWindowShift(cfg));
  // The TSval carries the tuple's offset on the 1 ms clock, low bits replaced by the cookie.
  const uint32_t expected = TcpListener::TimestampClock(T(0)) + f.isn.TsOffset(Tuple(flow));
  EXPECT_LE(static_cast<int32_t>(expected - synack.options.timestamps->tsval), 63);

  wire::TcpOptionsRepr o;
  o.timestamps = wire::TcpTimestamps{.tsval = 123460, .tsecr = synack.options.timestamps->tsval};
  const ListenVerdict v = f.Send(flow,
                                 Seg{.flags = TcpFlag::kAck,
                                     .seq = TcpSeq(501),
                                     .ack = synack.seq + 1,
                                     .window = 300,
                                     .options = o},
                                 T(1000));
  ASSERT_EQ(v.action, ListenVerdict::Action::kOpenFromCookie);
  EXPECT_EQ(v.open.irs, TcpSeq(500));
  EXPECT_EQ(v.open.iss, synack.seq);
  EXPECT_EQ(v.open.peer_mss, 1300);  // rounded down to the cookie's MSS table
  EXPECT_EQ(v.open.peer_window_scale, 8);
  EXPECT_TRUE(v.open.peer_sack_permitted);
  ASSERT_TRUE(v.open.peer_timestamps.has_value());
  EXPECT_EQ(v.open.peer_timestamps->tsval, 123460u);
  EXPECT_EQ(v.open.ts_offset, f.isn.TsOffset(Tuple(flow)));
  EXPECT_EQ(f.listener.counters()[ListenerCounter::kCookiesValidated], 1u);
}

TEST(Listener, CookieRejectionsAreCountedByReason) {
  TcpConfig cfg;
  cfg.syn_backlog = 0;
  ListenerFixture f(cfg);
  const FlowKey flow = ServerFlow(40000);
  f.Send(flow, Syn(500), T(0));
  const wire::TcpRepr synack = f.out.Take().at(0).header;
  // No timestamps option although the cookie has them on.
  f.Send(flow, Seg{.flags = TcpFlag::kAck, .seq = TcpSeq(501), .ack = synack.seq + 1}, T(1));
  EXPECT_EQ(f.listener.counters()[ListenerCounter::kCookiesMissingTimestamps], 1u);
  // Too old: three slots later (the default accepts one).
  wire::TcpOptionsRepr o;
  o.timestamps = wire::TcpTimestamps{.tsval = 1, .tsecr = synack.options.timestamps->tsval};
  const Instant late = T(0) + 2 * SynCookies::kSlot + 1s;
  f.Send(flow, Seg{.flags = TcpFlag::kAck, .seq = TcpSeq(501), .ack = synack.seq + 1, .options = o},
         late);
  // After the validity window no cookie is outstanding: a plain RST, no check.
  EXPECT_EQ(f.listener.counters()[ListenerCounter::kAcksReset], 1u);
  f.Send(flow, Syn(600), late);  // a fresh cookie makes cookies "recent" again
  f.out.Take();
  f.Send(flow, Seg{.flags = TcpFlag::kAck, .seq = TcpSeq(501), .ack = synack.seq + 1, .options = o},
         late);
  EXPECT_EQ(f.listener.counters()[ListenerCounter::kCookiesTooOld] +
                f.listener.counters()[ListenerCounter::kCookiesBadMac],
            1u);
  ASSERT_EQ(f.out.sent.size(), 1u);
  EXPECT_TRUE(f.out.sent[0].header.flags.rst());
}

class OptionWritingHooks : public ListenHooks, public TcpHooks {
 public:
  SynDecision OnSyn(const FlowKey&, const SegmentInfo&, const wire::TcpOptionsRepr&) override {
    ++syns;
    return SynDecision{.action = SynDecision::Action::kAccept, .hooks = this, .user_data = 42};
  }
  size_t WriteOptions(const SegmentInfo& segment, std::span<uint8_t> space) override {
    seen = segment;
    // An MPTCP-like option (kind 30, length 12) behind a NOP.
    const std::array<uint8_t, 13> opt = {1, 30, 12, 0x01, 0x81, 1, 2, 3, 4, 5, 6, 7, 8};
    if (space.size() < opt.size()) return 0;
    std::copy(opt.begin(), opt.end(), space.begin());
    return opt.size();
  }
  InputVerdict OnInput(const SegmentInfo&, const wire::TcpOptionsRepr&) override {
    return InputVerdict::kAccept;
  }
  int syns = 0;
  SegmentInfo seen;
};

TEST(Listener, HooksWriteOptionsIntoTheCookieSynAckAndAreAskedAgainOnTheAck) {
  TcpConfig cfg;
  cfg.syn_backlog = 0;
  OptionWritingHooks hooks;
  ListenerFixture f(cfg, &hooks);
  const FlowKey flow = ServerFlow(40000);
  f.Send(flow, Syn(500, /*timestamps=*/false), T(0));
  ASSERT_EQ(f.out.sent.size(), 1u);
  const wire::TcpRepr& synack = f.out.sent[0].header;
  ASSERT_EQ(synack.options.raw_options.size(), 1u);
  EXPECT_EQ(synack.options.raw_options[0].kind(), 30);
  EXPECT_EQ(synack.options.raw_options[0].length(), 12);
  EXPECT_EQ(hooks.seen.iss, synack.seq);
  EXPECT_EQ(hooks.seen.irs, TcpSeq(500));
  EXPECT_TRUE(hooks.seen.flags.syn());
  EXPECT_EQ(hooks.syns, 1);
  const ListenVerdict v =
      f.Send(flow, Seg{.flags = TcpFlag::kAck, .seq = TcpSeq(501), .ack = synack.seq + 1}, T(1));
  ASSERT_EQ(v.action, ListenVerdict::Action::kOpenFromCookie);
  EXPECT_EQ(hooks.syns, 2);
  EXPECT_EQ(v.hooks, &hooks);
  EXPECT_EQ(v.user_data, 42u);
  EXPECT_FALSE(v.open.peer_timestamps.has_value());
  EXPECT_FALSE(v.open.peer_window_scale.has_value());  // the cookie could not remember it
}

TEST(Listener, Ipv6CookieAnnouncesTheIpv6Mss) {
  TcpConfig cfg;
  cfg.syn_backlog = 0;
  IsnGenerator isn(kServerSecret);
  SynCookies cookies(kServerSecret);
  const wire::IpAddress local = *wire::Ipv6Address::Parse("2001:db8::2");
  const wire::IpAddress remote = *wire::Ipv6Address::Parse("2001:db8::1");
  TcpListener l(ListenerId{1}, std::nullopt, 80, cfg, nullptr, isn, cookies);
  CaptureSink out;
  InboundSegment syn;
  syn.header.src_port = 40000;
  syn.header.dst_port = 80;
  syn.header.seq = TcpSeq(9);
  syn.header.flags = TcpFlag::kSyn;
  syn.header.options.mss = 1440;
  const FlowKey flow{local, 80, remote, 40000};
  EXPECT_EQ(l.OnSegment(flow, syn, T(0), true, out).action, ListenVerdict::Action::kCookieSent);
  ASSERT_EQ(out.sent.size(), 1u);
  EXPECT_EQ(out.sent[0].header.options.mss, 1440);  // 1460 - 20
}

TEST(Listener, ResetForFollowsRfc9293Closed) {
  const FlowKey flow = ServerFlow(1);
  InboundSegment s;
  s.header.flags = TcpFlag::kRst;
  EXPECT_FALSE(ResetFor(flow, s).has_value());
  s.header.flags = TcpFlag::kSyn | TcpFlag::kFin;
  s.header.seq = TcpSeq(0xffffffff);
  const std::array<uint8_t, 3> payload = {1, 2, 3};
  s.payload = payload;
  std::optional<wire::TcpRepr> r = ResetFor(flow, s);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->flags, TcpFlag::kRst | TcpFlag::kAck);
  EXPECT_EQ(r->seq, TcpSeq(0));
  EXPECT_EQ(r->ack, TcpSeq(4));  // wraps: 0xffffffff + 3 + SYN + FIN
  EXPECT_EQ(r->src_port, kServerPort);
  EXPECT_EQ(r->dst_port, 1);
  EXPECT_EQ(r->window, 0);
  s.header.flags = TcpFlag::kAck;
  s.header.ack = TcpSeq(1234);
  r = ResetFor(flow, s);
  EXPECT_EQ(r->flags, TcpFlags(TcpFlag::kRst));
  EXPECT_EQ(r->seq, TcpSeq(1234));
}

TEST(Listener, OurWindowShiftIsAFunctionOfConfiguration) {
  TcpConfig c;
  EXPECT_EQ(TcpListener::OurWindowShift(c), 7);  // 6 MB
  c.receive_buffer = 65535;
  EXPECT_EQ(TcpListener::OurWindowShift(c), 0);
  c.receive_buffer = 65536;
  EXPECT_EQ(TcpListener::OurWindowShift(c), 1);
  c.receive_buffer = 0xffffffff;
  EXPECT_EQ(TcpListener::OurWindowShift(c), 14);
  c.window_scaling = false;
  EXPECT_EQ(TcpListener::OurWindowShift(c), 0);
}

TEST(Listener, CounterNamesAreUniqueAndNamed) {
  for (size_t i = 0; i < kListenerCounterCount; ++i) {
    const auto c = static_cast<ListenerCounter>(i);
    EXPECT_FALSE(ListenerCounterName(c).empty());
    EXPECT_FALSE(ListenerCounterHelp(c).empty());
    for (size_t j = 0; j < i; ++j) {
      EXPECT_NE(ListenerCounterName(c), ListenerCounterName(static_cast<ListenerCounter>(j)));
    }
  }
  for (size_t i = 0; i < kBackendCounterCount; ++i) {
    const auto c = static_cast<BackendCounter>(i);
    EXPECT_FALSE(BackendCounterName(c).empty());
    for (size_t j = 0; j < i; ++j) {
      EXPECT_NE(BackendCounterName(c), BackendCounterName(static_cast<BackendCounter>(j)));
    }
  }
}

}  // namespace
}  // namespace braid::tcp::backend_test
