// A sans-I/O harness for TcpConnection (conventions.md "Tests"): a scripted clock, a recording
// SegmentSink that passes every segment through the wire codec (what we compare is what a
// capture would show), a peer scripted by the test (`Send(In(...))`), exact expectations
// (`ExpectSegments({...})`: exactly these, in order, then nothing; `ExpectNothing(until)`), and
// factories that bring a connection to each RFC 9293 state. Sequence numbers start close to the
// 2^32 wrap on both sides, so every test crosses it.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <ostream>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "datapath/tcp/adapter.h"
#include "datapath/tcp/connection.h"
#include "datapath/tcp/flow.h"
#include "datapath/tcp/segment.h"
#include "datapath/tcp/tcp_config.h"
#include "datapath/tcp/tcp_info.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/address.h"
#include "datapath/wire/seq.h"
#include "datapath/wire/tcp.h"
#include "datapath/wire/tcp_options.h"

namespace braid::tcp::testing {

using namespace std::chrono_literals;
using wire::TcpFlag;
using wire::TcpFlags;
using wire::TcpSackBlock;
using wire::TcpSeq;
using wire::TcpTimestamps;

inline constexpr TcpFlags kSyn = TcpFlag::kSyn;
inline constexpr TcpFlags kAck = TcpFlag::kAck;
inline constexpr TcpFlags kRst = TcpFlag::kRst;
inline constexpr TcpFlags kSynAck = TcpFlag::kSyn | TcpFlag::kAck;
inline constexpr TcpFlags kFinAck = TcpFlag::kFin | TcpFlag::kAck;
inline constexpr TcpFlags kPshAck = TcpFlag::kPsh | TcpFlag::kAck;
inline constexpr TcpFlags kRstAck = TcpFlag::kRst | TcpFlag::kAck;
inline constexpr TcpFlags kFinPshAck = TcpFlag::kFin | TcpFlag::kPsh | TcpFlag::kAck;

inline Instant Ms(int64_t ms) { return InstantFromNanos(ms * 1'000'000); }

// A segment as it left through the wire codec.
struct Captured {
  Instant at;
  wire::TcpRepr header;
  std::vector<uint8_t> payload;
};

// Emits `seg` as bytes and parses them back; fails the test if the codec refuses.
inline Captured RoundTrip(const OutboundSegment& seg, Instant at) {
  Captured c;
  c.at = at;
  std::vector<uint8_t> bytes(seg.header.HeaderLen() + seg.payload_size());
  EXPECT_LE(seg.header.HeaderLen(), wire::kTcpMaxHeaderLen) << seg.header;
  EXPECT_TRUE(seg.header.Emit(bytes)) << seg.header;
  std::copy(seg.payload_head.begin(), seg.payload_head.end(),
            bytes.begin() + static_cast<ptrdiff_t>(seg.header.HeaderLen()));
  std::copy(
      seg.payload_tail.begin(), seg.payload_tail.end(),
      bytes.begin() + static_cast<ptrdiff_t>(seg.header.HeaderLen() + seg.payload_head.size()));
  auto view = wire::TcpSegment::Check(bytes);
  EXPECT_TRUE(view.ok());
  if (!view.ok()) return c;
  c.header = wire::TcpRepr::Parse(*view);
  c.header.payload_len = view->payload().size();
  c.payload.assign(view->payload().begin(), view->payload().end());
  EXPECT_FALSE(c.header.options.drops.any()) << c.header;
  return c;
}

class RecordingSink : public SegmentSink {
 public:
  explicit RecordingSink(const Instant* clock) : clock_(clock) {}
  void Transmit(const FlowKey& flow, const OutboundSegment& segment) override {
    flows.push_back(flow);
    segments.push_back(RoundTrip(segment, *clock_));
  }
  std::vector<Captured> Take() { return std::exchange(segments, {}); }

  std::vector<Captured> segments;
  std::vector<FlowKey> flows;

 private:
  const Instant* clock_;
};

// An expected outgoing segment. Every field is compared; options default to what the fixture
// expects on that kind of segment (timestamps when negotiated), overridable.
struct Out {
  TcpFlags flags;
  uint32_t seq = 0;
  uint32_t ack = 0;
  std::optional<uint16_t> window;  // nullopt: the fixture's current expectation
  uint32_t len = 0;
  std::optional<wire::TcpOptionsRepr> options;  // nullopt: fixture default (timestamps)
  std::vector<TcpSackBlock> sack;               // added to the default options
  bool no_ts = false;
  std::optional<TcpTimestamps> ts;  // explicit timestamps
  std::optional<uint8_t> first_byte;

  Out& Win(uint16_t w) {
    window = w;
    return *this;
  }
  Out& Len(uint32_t n) {
    len = n;
    return *this;
  }
  Out& Sack(std::vector<TcpSackBlock> blocks) {
    sack = std::move(blocks);
    return *this;
  }
  Out& NoTs() {
    no_ts = true;
    return *this;
  }
  Out& Ts(uint32_t val, uint32_t ecr) {
    ts = TcpTimestamps{val, ecr};
    return *this;
  }
  Out& Opts(wire::TcpOptionsRepr o) {
    options = std::move(o);
    return *this;
  }
  Out& Byte(uint8_t b) {
    first_byte = b;
    return *this;
  }
};

inline Out O(TcpFlags flags, uint32_t seq, uint32_t ack = 0) {
  Out o;
  o.flags = flags;
  o.seq = seq;
  o.ack = ack;
  return o;
}

// A segment the scripted peer sends.
struct In {
  TcpFlags flags;
  uint32_t seq = 0;
  uint32_t ack = 0;
  std::optional<uint16_t> window;  // nullopt: the fixture's peer window
  std::vector<uint8_t> payload;
  wire::TcpOptionsRepr options;
  bool auto_ts = true;  // add the peer's timestamps when negotiated
  std::optional<TcpTimestamps> ts;

  In& Win(uint16_t w) {
    window = w;
    return *this;
  }
  In& Data(uint32_t n, uint8_t fill = 0x5a) {
    payload.assign(n, fill);
    return *this;
  }
  In& Bytes(std::vector<uint8_t> b) {
    payload = std::move(b);
    return *this;
  }
  In& Sack(std::vector<TcpSackBlock> blocks) {
    for (const auto& b : blocks) (void)options.sack_blocks.TryAppend(b);
    return *this;
  }
  In& NoTs() {
    auto_ts = false;
    return *this;
  }
  In& Ts(uint32_t val, uint32_t ecr) {
    ts = TcpTimestamps{val, ecr};
    return *this;
  }
};

inline In I(TcpFlags flags, uint32_t seq, uint32_t ack = 0) {
  In i;
  i.flags = flags;
  i.seq = seq;
  i.ack = ack;
  return i;
}

inline std::string Describe(const wire::TcpRepr& h) {
  std::ostringstream os;
  os << h.flags << " seq=" << h.seq.raw() << " ack=" << h.ack.raw() << " win=" << h.window
     << " len=" << h.payload_len << " opts=" << h.options;
  return os.str();
}

// A hook that records what it sees and can add options and verdicts.
class RecordingHooks : public TcpHooks {
 public:
  size_t DataOptionReserve() const override { return reserve; }
  DataSegmentPlan PlanDataSegment(TcpSeq seq, uint32_t window) const override {
    planned_windows.push_back(window);
    return {.option_bytes = reserve_at ? reserve_at(seq) : reserve,
            .max_payload = max_payload ? max_payload(seq) : std::numeric_limits<uint32_t>::max()};
  }
  size_t WriteOptions(const SegmentInfo& segment, std::span<uint8_t> space) override {
    written.push_back(segment);
    spaces.push_back(space.size());
    if (option.empty() || option.size() > space.size()) return 0;
    std::copy(option.begin(), option.end(), space.begin());
    return option.size();
  }
  InputVerdict OnInput(const SegmentInfo& segment, const wire::TcpOptionsRepr& options) override {
    inputs.push_back(segment);
    input_options.push_back(options);
    return verdict;
  }

  size_t reserve = 0;
  std::function<size_t(TcpSeq)> reserve_at;  // PlanDataSegment's bytes; `reserve` when unset
  std::function<uint32_t(TcpSeq)> max_payload;
  std::vector<uint8_t> option;  // added to every segment when it fits
  InputVerdict verdict = InputVerdict::kAccept;
  mutable std::vector<uint32_t> planned_windows;  // what PlanDataSegment was told
  std::vector<SegmentInfo> written;
  std::vector<size_t> spaces;
  std::vector<SegmentInfo> inputs;
  std::vector<wire::TcpOptionsRepr> input_options;
};

class TcpTest : public ::testing::Test {
 public:
  // Our ISS and the peer's: both near the 2^32 wrap, so the first data crosses it.
  static constexpr uint32_t kIss = 0xFFFFFF00u;
  static constexpr uint32_t kIrs = 0xFFFFF000u;
  // Our timestamp offset (TSval = engine milliseconds + offset) wraps soon too.
  static constexpr uint32_t kTsOffset = 0xFFFFFFF0u;
  static constexpr uint32_t kPeerTsVal = 0x7000'0000u;
  static constexpr uint16_t kMss = 1460;
  static constexpr uint32_t kPayloadMss = kMss - 12;  // with timestamps
  // 1 MiB receive buffer: window scale 5.
  static constexpr uint32_t kRcvBuf = 1 << 20;
  static constexpr uint8_t kOurWscale = 5;
  static constexpr uint8_t kPeerWscale = 7;
  static constexpr uint16_t kPeerWindowField = 1024;  // 128 KiB with scale 7

 protected:
  static TcpConfig DefaultConfig() {
    TcpConfig c;
    c.receive_buffer = kRcvBuf;
    c.send_buffer = 1 << 20;
    c.receive_buffer_autotune = false;
    c.quickack_segments = 0;
    c.congestion_control = "newreno";
    return c;
  }

  TcpTest() : sink_(&now_) {}

  // ---- Factories -----------------------------------------------------------------------------

  FlowKey flow_{wire::Ipv4Address::FromU32(0xC0000201), 40000,
                wire::Ipv4Address::FromU32(0xC0000202), 80};

  // CLOSED -> SYN-SENT; the SYN is checked and consumed.
  void Connect() {
    TcpError err = TcpError::kInvalidState;
    conn_ =
        TcpConnection::Connect(config_, flow_, TcpSeq(kIss), kTsOffset, hooks_, now_, sink_, &err);
    ASSERT_EQ(err, TcpError::kOk);
    ASSERT_NE(conn_, nullptr);
    ExpectSegments({SynOut()});
    EXPECT_EQ(conn_->state(), TcpState::kSynSent);
  }

  Out SynOut() const {
    Out o = O(kSyn, kIss).Win(InitialWindow());
    wire::TcpOptionsRepr opts;
    opts.mss = config_.mss;
    if (config_.window_scaling) opts.window_scale = OurWscale();
    if (config_.sack) opts.sack_permitted = true;
    if (config_.timestamps) opts.timestamps = TcpTimestamps{TsVal(now_), 0};
    return o.Opts(opts);
  }

  // The peer's SYN-ACK to our SYN with the fixture's options.
  In PeerSynAck() const {
    In i = I(kSynAck, kIrs, kIss + 1).Win(65535);
    if (peer_mss_) i.options.mss = *peer_mss_;
    if (peer_ws_) i.options.window_scale = kPeerWscale;
    if (peer_sack_) i.options.sack_permitted = true;
    if (peer_ts_) i.ts = TcpTimestamps{kPeerTsVal, last_tsval_};
    i.auto_ts = false;
    return i;
  }

  // The shift we choose (RFC 7323 §2.3) and the windows we announce before any data.
  uint8_t OurWscale() const {
    uint8_t s = 0;
    while (s < 14 && (uint64_t{config_.receive_buffer} >> s) > 0xffff) ++s;
    return s;
  }
  uint32_t Clamp() const {
    return config_.receive_buffer_autotune
               ? std::min(config_.initial_receive_window, config_.receive_buffer)
               : config_.receive_buffer;
  }
  uint16_t InitialWindow() const {
    return static_cast<uint16_t>(std::min<uint32_t>(Clamp(), 65535));
  }
  // The window field for `bytes` of window with the negotiated shift (rounded up: the engine
  // never retracts an edge it announced).
  uint16_t WinField(uint32_t bytes) const {
    const uint8_t s = (peer_ws_ && config_.window_scaling) ? OurWscale() : 0;
    return static_cast<uint16_t>(std::min<uint32_t>((bytes + (1u << s) - 1) >> s, 0xffff));
  }

  // SYN-SENT -> ESTABLISHED after `rtt`; the ACK is checked and consumed.
  void Establish(Duration rtt = 10ms) {
    expected_window_field_ = WinField(Clamp());
    Connect();
    Advance(rtt);
    Send(PeerSynAck());
    ExpectSegments({O(kAck, kIss + 1, kIrs + 1)});
    ASSERT_EQ(conn_->state(), TcpState::kEstablished);
    EXPECT_TRUE(conn_->TakeEvents().established);
  }

  PassiveOpen PeerSyn() const {
    PassiveOpen p;
    p.flow = flow_;
    p.irs = TcpSeq(kIrs);
    p.iss = TcpSeq(kIss);
    p.peer_mss = peer_mss_.value_or(0);
    if (peer_ws_) p.peer_window_scale = kPeerWscale;
    p.peer_sack_permitted = peer_sack_;
    if (peer_ts_) p.peer_timestamps = TcpTimestamps{kPeerTsVal, 0};
    p.peer_window = 65535;
    p.ts_offset = kTsOffset;
    return p;
  }

  Out SynAckOut() const {
    Out o = O(kSynAck, kIss, kIrs + 1).Win(InitialWindow());
    wire::TcpOptionsRepr opts;
    opts.mss = config_.mss;
    if (config_.window_scaling && peer_ws_) opts.window_scale = OurWscale();
    if (config_.sack && peer_sack_) opts.sack_permitted = true;
    if (config_.timestamps && peer_ts_) opts.timestamps = TcpTimestamps{TsVal(now_), kPeerTsVal};
    return o.Opts(opts);
  }

  // LISTEN -> SYN-RECEIVED; the SYN-ACK is checked and consumed.
  void Accept() {
    TcpError err = TcpError::kInvalidState;
    conn_ = TcpConnection::AcceptSyn(config_, PeerSyn(), hooks_, now_, sink_, &err);
    ASSERT_EQ(err, TcpError::kOk);
    ASSERT_NE(conn_, nullptr);
    ExpectSegments({SynAckOut()});
    EXPECT_EQ(conn_->state(), TcpState::kSynReceived);
  }

  // SYN-RECEIVED -> ESTABLISHED by the peer's ACK after `rtt`.
  void EstablishPassive(Duration rtt = 10ms) {
    expected_window_field_ = WinField(Clamp());
    Accept();
    Advance(rtt);
    Send(I(kAck, kIrs + 1, kIss + 1));
    ExpectNoSegments();
    ASSERT_EQ(conn_->state(), TcpState::kEstablished);
    EXPECT_TRUE(conn_->TakeEvents().established);
  }

  // ESTABLISHED -> FIN-WAIT-1 (our FIN sent, not acknowledged).
  void ToFinWait1() {
    Establish();
    ASSERT_EQ(conn_->Shutdown(now_, sink_), TcpError::kOk);
    ExpectSegments({O(kFinAck, kIss + 1, kIrs + 1)});
    ASSERT_EQ(conn_->state(), TcpState::kFinWait1);
  }
  // FIN-WAIT-1 -> FIN-WAIT-2 (the peer acknowledged our FIN).
  void ToFinWait2() {
    ToFinWait1();
    Advance(10ms);
    Send(I(kAck, kIrs + 1, kIss + 2));
    ExpectNoSegments();
    ASSERT_EQ(conn_->state(), TcpState::kFinWait2);
  }
  // ESTABLISHED -> CLOSE-WAIT (the peer's FIN acknowledged).
  void ToCloseWait() {
    Establish();
    Advance(10ms);
    Send(I(kFinAck, kIrs + 1, kIss + 1));
    ExpectSegments({O(kAck, kIss + 1, kIrs + 2)});
    ASSERT_EQ(conn_->state(), TcpState::kCloseWait);
    EXPECT_TRUE(conn_->TakeEvents().peer_fin);
  }
  // CLOSE-WAIT -> LAST-ACK.
  void ToLastAck() {
    ToCloseWait();
    ASSERT_EQ(conn_->Shutdown(now_, sink_), TcpError::kOk);
    ExpectSegments({O(kFinAck, kIss + 1, kIrs + 2)});
    ASSERT_EQ(conn_->state(), TcpState::kLastAck);
  }
  // FIN-WAIT-1 -> CLOSING (simultaneous close: the peer's FIN does not acknowledge ours).
  void ToClosing() {
    ToFinWait1();
    Advance(5ms);
    Send(I(kFinAck, kIrs + 1, kIss + 1));
    ExpectSegments({O(kAck, kIss + 2, kIrs + 2)});
    ASSERT_EQ(conn_->state(), TcpState::kClosing);
  }
  // FIN-WAIT-2 -> TIME-WAIT.
  void ToTimeWait() {
    ToFinWait2();
    Advance(5ms);
    Send(I(kFinAck, kIrs + 1, kIss + 2));
    ExpectSegments({O(kAck, kIss + 2, kIrs + 2)});
    ASSERT_EQ(conn_->state(), TcpState::kTimeWait);
  }

  // ---- Peer and clock ------------------------------------------------------------------------

  uint32_t TsVal(Instant t) const {
    return static_cast<uint32_t>(NanosSinceEpoch(t) / 1'000'000) + kTsOffset;
  }

  void Send(In in) {
    InboundSegment seg;
    seg.header.src_port = flow_.remote_port;
    seg.header.dst_port = flow_.local_port;
    seg.header.seq = TcpSeq(in.seq);
    seg.header.ack = TcpSeq(in.ack);
    seg.header.flags = in.flags;
    seg.header.window = in.window.value_or(in.flags.syn() ? 65535 : peer_window_field_);
    seg.header.options = in.options;
    if (in.ts) {
      seg.header.options.timestamps = *in.ts;
    } else if (in.auto_ts && peer_ts_ && config_.timestamps) {
      seg.header.options.timestamps = TcpTimestamps{peer_tsval_, last_tsval_};
    }
    seg.header.payload_len = in.payload.size();
    seg.payload = in.payload;
    conn_->OnSegment(seg, now_, sink_);
    NoteSent();
  }

  // Moves the clock, running every timer that falls due on the way, at its own time.
  void AdvanceTo(Instant t) {
    for (int guard = 0; guard < 100000; ++guard) {
      const std::optional<Instant> at = conn_ ? conn_->PollAt() : std::nullopt;
      if (!at || *at > t) break;
      now_ = std::max(now_, *at);
      conn_->OnTimer(now_, sink_);
      NoteSent();
    }
    now_ = std::max(now_, t);
  }
  void Advance(Duration d) { AdvanceTo(now_ + d); }
  // Runs the next timer; returns its time.
  Instant RunNextTimer() {
    const std::optional<Instant> at = conn_->PollAt();
    EXPECT_TRUE(at.has_value());
    if (!at) return now_;
    AdvanceTo(*at);
    return *at;
  }

  // App calls.
  SendResult AppSend(size_t n, uint8_t fill = 0xa5) {
    std::vector<uint8_t> bytes(n, fill);
    SendResult r = conn_->Send(bytes, now_, sink_);
    NoteSent();
    return r;
  }
  ReceiveResult AppReceive(std::vector<uint8_t>& out) {
    ReceiveResult r = conn_->Receive(out, now_, sink_);
    NoteSent();
    return r;
  }

  // ---- Expectations --------------------------------------------------------------------------

  // Exactly these segments since the last check, in order.
  void ExpectSegments(const std::vector<Out>& expected) {
    std::vector<Captured> got = sink_.Take();
    std::ostringstream all;
    for (const Captured& c : got) all << "  " << Describe(c.header) << "\n";
    ASSERT_EQ(got.size(), expected.size()) << "segments sent:\n" << all.str();
    for (size_t i = 0; i < got.size(); ++i) {
      Compare(expected[i], got[i], i, all.str());
    }
  }
  void ExpectNoSegments() { ExpectSegments({}); }
  // Advances to `until` running timers; nothing may be sent.
  void ExpectNothing(Instant until) {
    AdvanceTo(until);
    ExpectNoSegments();
  }
  std::vector<Captured> TakeSegments() { return sink_.Take(); }

  void Compare(const Out& e, const Captured& c, size_t i, const std::string& all) {
    const wire::TcpRepr& h = c.header;
    SCOPED_TRACE(::testing::Message() << "segment " << i << ": " << Describe(h) << "\nall:\n"
                                      << all);
    EXPECT_EQ(h.flags, e.flags);
    EXPECT_EQ(h.seq.raw(), e.seq);
    EXPECT_EQ(h.ack.raw(), e.flags.ack() ? e.ack : 0u);
    EXPECT_EQ(h.window, e.window.value_or(expected_window_field_));
    EXPECT_EQ(h.payload_len, e.len);
    EXPECT_EQ(h.src_port, flow_.local_port);
    EXPECT_EQ(h.dst_port, flow_.remote_port);
    if (e.first_byte && !c.payload.empty()) {
      EXPECT_EQ(c.payload[0], *e.first_byte);
    }
    wire::TcpOptionsRepr want;
    if (e.options) {
      want = *e.options;
    } else {
      if (ts_on() && !e.no_ts) {
        want.timestamps = e.ts.value_or(TcpTimestamps{TsVal(c.at), ts_recent_});
      }
      for (const auto& b : e.sack) (void)want.sack_blocks.TryAppend(b);
    }
    wire::TcpOptionsRepr got = h.options;
    got.drops = {};
    EXPECT_EQ(got, want) << "got " << got << " want " << want;
  }

  bool ts_on() const { return config_.timestamps && peer_ts_; }

  // Remembers the TSval of our latest segment, for the peer's TSecr.
  void NoteSent() {
    for (const Captured& c : sink_.segments) {
      if (c.header.options.timestamps) last_tsval_ = c.header.options.timestamps->tsval;
    }
  }

  TcpConfig config_ = DefaultConfig();
  Instant now_ = Ms(10'000);
  RecordingSink sink_;
  std::unique_ptr<TcpConnection> conn_;
  TcpHooks* hooks_ = nullptr;

  // The peer's options.
  std::optional<uint16_t> peer_mss_ = kMss;
  bool peer_ws_ = true;
  bool peer_sack_ = true;
  bool peer_ts_ = true;
  uint16_t peer_window_field_ = kPeerWindowField;
  uint32_t peer_tsval_ = kPeerTsVal;
  uint32_t last_tsval_ = 0;
  // What our segments should echo (the test moves it when the peer's TSval moves).
  uint32_t ts_recent_ = kPeerTsVal;
  // Window field expected on non-SYN segments unless an Out says otherwise: the whole 1 MiB
  // buffer, scale 5.
  uint16_t expected_window_field_ = static_cast<uint16_t>(kRcvBuf >> kOurWscale);
};

}  // namespace braid::tcp::testing
