// LISTEN-state processing (RFC 9293 §3.10.7.2), the SYN backlog, the accept queue and SYN
// cookies (RFC 4987 §3.6); the rules are summed up in listener.h.
#include "datapath/tcp/listener.h"

#include <algorithm>
#include <chrono>
#include <span>
#include <variant>

namespace braid::tcp {
namespace {

constexpr std::array<std::string_view, kListenerCounterCount> kCounterNames = {
#define BRAID_TCP_LISTENER_COUNTER(name, metric, help) metric,
#include "datapath/tcp/listener_mib.def"
#undef BRAID_TCP_LISTENER_COUNTER
};
constexpr std::array<std::string_view, kListenerCounterCount> kCounterHelp = {
#define BRAID_TCP_LISTENER_COUNTER(name, metric, help) help,
#include "datapath/tcp/listener_mib.def"
#undef BRAID_TCP_LISTENER_COUNTER
};

bool IsUnicast(const wire::IpAddress& a) {
  if (const auto* v4 = std::get_if<wire::Ipv4Address>(&a)) {
    return !v4->IsUnspecified() && !v4->IsBroadcast() && !v4->IsMulticast();
  }
  const auto& v6 = std::get<wire::Ipv6Address>(a);
  return !v6.IsUnspecified() && !v6.IsMulticast();
}

// RFC 9293 §3.4: SEG.LEN counts the payload and the SYN and FIN controls.
uint32_t SegmentLength(const InboundSegment& s) {
  return static_cast<uint32_t>(s.payload.size()) + (s.header.flags.syn() ? 1 : 0) +
         (s.header.flags.fin() ? 1 : 0);
}

SegmentInfo InfoOf(const wire::TcpRepr& h, wire::TcpSeq iss, wire::TcpSeq irs) {
  return SegmentInfo{.flags = h.flags,
                     .seq = h.seq,
                     .ack = h.ack,
                     .payload_len = static_cast<uint32_t>(h.payload_len),
                     .retransmission = false,
                     .iss = iss,
                     .irs = irs};
}

// Copies the options an upper layer wrote (a byte string of whole options, maybe NOP-padded)
// into `options` as raw options; stops at EOL or at the first option that does not fit.
void AppendWrittenOptions(std::span<const uint8_t> bytes, wire::TcpOptionsRepr& options) {
  size_t i = 0;
  while (i < bytes.size()) {
    const uint8_t kind = bytes[i];
    if (kind == wire::kTcpOptionEol) break;
    if (kind == wire::kTcpOptionNop) {
      ++i;
      continue;
    }
    if (i + 1 >= bytes.size()) break;
    const uint8_t len = bytes[i + 1];
    if (len < 2 || i + len > bytes.size()) break;
    if (!options.AppendRaw(bytes.subspan(i, len))) break;
    i += len;
  }
}

ListenVerdict Verdict(ListenVerdict::Action action, TcpHooks* hooks = nullptr,
                      uint64_t user_data = 0) {
  ListenVerdict v;
  v.action = action;
  v.hooks = hooks;
  v.user_data = user_data;
  return v;
}

}  // namespace

std::string_view ListenerCounterName(ListenerCounter counter) {
  const auto i = static_cast<size_t>(counter);
  return i < kCounterNames.size() ? kCounterNames[i] : "unknown";
}

std::string_view ListenerCounterHelp(ListenerCounter counter) {
  const auto i = static_cast<size_t>(counter);
  return i < kCounterHelp.size() ? kCounterHelp[i] : "unknown";
}

bool ToFourTuple(const FlowKey& flow, FourTupleV4* v4, FourTupleV6* v6, bool* is_v4) {
  const auto* l4 = std::get_if<wire::Ipv4Address>(&flow.local);
  const auto* r4 = std::get_if<wire::Ipv4Address>(&flow.remote);
  if (l4 != nullptr && r4 != nullptr) {
    *v4 = FourTupleV4{*l4, flow.local_port, *r4, flow.remote_port};
    *is_v4 = true;
    return true;
  }
  const auto* l6 = std::get_if<wire::Ipv6Address>(&flow.local);
  const auto* r6 = std::get_if<wire::Ipv6Address>(&flow.remote);
  if (l6 != nullptr && r6 != nullptr) {
    *v6 = FourTupleV6{*l6, flow.local_port, *r6, flow.remote_port};
    *is_v4 = false;
    return true;
  }
  return false;
}

std::optional<wire::TcpRepr> ResetFor(const FlowKey& flow, const InboundSegment& segment) {
  const wire::TcpRepr& in = segment.header;
  if (in.flags.rst()) return std::nullopt;  // RFC 9293 §3.10.7.1: an RST is discarded
  wire::TcpRepr rst;
  rst.src_port = flow.local_port;
  rst.dst_port = flow.remote_port;
  if (in.flags.ack()) {
    rst.seq = in.ack;
    rst.flags = wire::TcpFlag::kRst;
  } else {
    rst.seq = wire::TcpSeq(0);
    rst.ack = in.seq + SegmentLength(segment);
    rst.flags = wire::TcpFlag::kRst | wire::TcpFlag::kAck;
  }
  return rst;
}

bool SendResetFor(const FlowKey& flow, const InboundSegment& segment, SegmentSink& out) {
  const std::optional<wire::TcpRepr> rst = ResetFor(flow, segment);
  if (!rst) return false;
  OutboundSegment seg;
  seg.header = *rst;
  out.Transmit(flow, seg);
  return true;
}

TcpListener::TcpListener(ListenerId id, std::optional<wire::IpAddress> local, uint16_t port,
                         const TcpConfig& config, ListenHooks* hooks, const IsnGenerator& isn,
                         const SynCookies& cookies)
    : id_(id),
      local_(local),
      port_(port),
      config_(config),
      hooks_(hooks),
      isn_(isn),
      cookies_(cookies) {}

uint8_t TcpListener::OurWindowShift(const TcpConfig& config) {
  if (!config.window_scaling) return 0;
  uint8_t shift = 0;
  while (shift < wire::kTcpMaxWindowScale && (config.receive_buffer >> shift) > 0xffff) ++shift;
  return shift;
}

uint32_t TcpListener::TimestampClock(Instant now) {
  return static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
}

ListenVerdict TcpListener::OnSegment(const FlowKey& flow, const InboundSegment& segment,
                                     Instant now, bool room, SegmentSink& out) {
  const wire::TcpFlags flags = segment.header.flags;
  // RFC 9293 §3.10.7.2, first: an incoming RST is ignored.
  if (flags.rst()) {
    counters_.Add(ListenerCounter::kRstsIgnored);
    return {};
  }
  if (!IsUnicast(flow.local) || !IsUnicast(flow.remote)) {
    counters_.Add(ListenerCounter::kOtherDrops);
    return {};
  }
  // Second: an ACK is bad unless it returns a SYN cookie.
  if (flags.ack()) return OnAck(flow, segment, now, room, out);
  // Third: SYN.
  if (flags.syn()) {
    if (flags.fin()) {  // Linux discards SYN+FIN in LISTEN
      counters_.Add(ListenerCounter::kOtherDrops);
      return {};
    }
    return OnSyn(flow, segment, now, room, out);
  }
  // Fourth: other control or text: drop.
  counters_.Add(ListenerCounter::kOtherDrops);
  return {};
}

ListenVerdict TcpListener::Reset(const FlowKey& flow, const InboundSegment& segment,
                                 SegmentSink& out) {
  SendResetFor(flow, segment, out);
  return Verdict(ListenVerdict::Action::kReset);
}

ListenVerdict TcpListener::OnSyn(const FlowKey& flow, const InboundSegment& segment, Instant now,
                                 bool room, SegmentSink& out) {
  counters_.Add(ListenerCounter::kSynsReceived);
  FourTupleV4 v4;
  FourTupleV6 v6;
  bool is_v4 = true;
  if (!ToFourTuple(flow, &v4, &v6, &is_v4)) {
    counters_.Add(ListenerCounter::kOtherDrops);
    return {};
  }
  // Linux (tcp_conn_request): a full accept queue drops the SYN whatever else holds.
  if (accept_queue_full()) {
    counters_.Add(ListenerCounter::kAcceptQueueDrops);
    return {};
  }
  const wire::TcpRepr& h = segment.header;
  const bool pressure = syn_backlog_full() || !room;
  std::optional<SynCookie> cookie;
  if (pressure) {
    if (!config_.syn_cookies) {
      counters_.Add(room ? ListenerCounter::kSynBacklogDrops : ListenerCounter::kNoResourceDrops);
      return {};
    }
    SynCookieSyn syn{.seq = h.seq,
                     .mss = h.options.mss,
                     .window_scale = config_.window_scaling ? h.options.window_scale : std::nullopt,
                     .sack_permitted = config_.sack && h.options.sack_permitted,
                     .ecn = false,
                     .tsval = std::nullopt};
    if (config_.timestamps && h.options.timestamps) {
      syn.tsval = TimestampClock(now) + (is_v4 ? isn_.TsOffset(v4) : isn_.TsOffset(v6));
    }
    cookie = is_v4 ? cookies_.Make(v4, syn, now) : cookies_.Make(v6, syn, now);
  }
  const wire::TcpSeq iss = cookie ? cookie->isn : (is_v4 ? isn_.Isn(v4, now) : isn_.Isn(v6, now));

  SynDecision decision;
  if (hooks_ != nullptr) decision = hooks_->OnSyn(flow, InfoOf(h, iss, h.seq), h.options);
  switch (decision.action) {
    case SynDecision::Action::kRefuse:
      counters_.Add(ListenerCounter::kSynsRefused);
      return Reset(flow, segment, out);
    case SynDecision::Action::kIgnore:
      counters_.Add(ListenerCounter::kSynsIgnored);
      return {};
    case SynDecision::Action::kAccept:
      break;
  }

  if (cookie) {
    SendCookieSynAck(flow, segment, *cookie, decision.hooks, out);
    counters_.Add(ListenerCounter::kCookiesSent);
    last_cookie_sent_ = now;
    return Verdict(ListenVerdict::Action::kCookieSent);
  }

  ListenVerdict v = Verdict(ListenVerdict::Action::kOpen, decision.hooks, decision.user_data);
  v.config = decision.config;
  v.open.flow = flow;
  v.open.irs = h.seq;
  v.open.iss = iss;
  v.open.peer_mss = h.options.mss.value_or(0);
  v.open.peer_window_scale = h.options.window_scale;
  v.open.peer_sack_permitted = h.options.sack_permitted;
  v.open.peer_timestamps = h.options.timestamps;
  v.open.peer_window = h.window;
  v.open.ts_offset = is_v4 ? isn_.TsOffset(v4) : isn_.TsOffset(v6);
  counters_.Add(ListenerCounter::kHalfOpenCreated);
  return v;
}

void TcpListener::SendCookieSynAck(const FlowKey& flow, const InboundSegment& syn,
                                   const SynCookie& cookie, TcpHooks* hooks, SegmentSink& out) {
  OutboundSegment seg;
  wire::TcpRepr& h = seg.header;
  h.src_port = flow.local_port;
  h.dst_port = flow.remote_port;
  h.seq = cookie.isn;
  h.ack = syn.header.seq + 1;
  h.flags = wire::TcpFlag::kSyn | wire::TcpFlag::kAck;
  // RFC 7323 §2.2: the window of a SYN-ACK is never scaled.
  const uint32_t window = config_.receive_buffer_autotune
                              ? std::min(config_.initial_receive_window, config_.receive_buffer)
                              : config_.receive_buffer;
  h.window = static_cast<uint16_t>(std::min<uint32_t>(window, 0xffff));
  // RFC 9293 §3.7.1: IPv6 headers are 20 bytes longer than IPv4's.
  const uint16_t ip_extra = flow.is_ipv4() ? 0 : 20;
  h.options.mss = static_cast<uint16_t>(config_.mss - ip_extra);
  // syn_cookies.h: announce exactly what the cookie remembered.
  if (cookie.options.window_scale) h.options.window_scale = OurWindowShift(config_);
  h.options.sack_permitted = cookie.options.sack_permitted;
  if (cookie.options.timestamps && cookie.tsval && syn.header.options.timestamps) {
    h.options.timestamps =
        wire::TcpTimestamps{.tsval = *cookie.tsval, .tsecr = syn.header.options.timestamps->tsval};
  }
  if (hooks != nullptr) {
    const size_t used = h.options.EncodedLen();
    if (used < wire::kTcpMaxOptionsLen) {
      std::array<uint8_t, wire::kTcpMaxOptionsLen> space{};
      const SegmentInfo info = InfoOf(h, cookie.isn, syn.header.seq);
      const size_t n =
          std::min(hooks->WriteOptions(info, std::span<uint8_t>(space.data(), space.size() - used)),
                   space.size() - used);
      AppendWrittenOptions(std::span<const uint8_t>(space.data(), n), h.options);
    }
  }
  out.Transmit(flow, seg);
}

bool TcpListener::CookiesRecentlySent(Instant now) const {
  if (!last_cookie_sent_) return false;
  const Duration window = SynCookies::kSlot * (cookies_.max_age_slots() + 1);
  return now - *last_cookie_sent_ <= window;
}

ListenVerdict TcpListener::OnAck(const FlowKey& flow, const InboundSegment& segment, Instant now,
                                 bool room, SegmentSink& out) {
  const wire::TcpRepr& h = segment.header;
  // A SYN-ACK, a FIN or an ACK that no cookie can explain: RFC 9293 §3.10.7.2 says RST.
  if (h.flags.syn() || !config_.syn_cookies || !CookiesRecentlySent(now)) {
    counters_.Add(ListenerCounter::kAcksReset);
    return Reset(flow, segment, out);
  }
  FourTupleV4 v4;
  FourTupleV6 v6;
  bool is_v4 = true;
  if (!ToFourTuple(flow, &v4, &v6, &is_v4)) {
    counters_.Add(ListenerCounter::kOtherDrops);
    return {};
  }
  std::optional<uint32_t> tsecr;
  if (h.options.timestamps) {
    // The TSecr echoes the cookie's TSval, which carried the tuple's offset.
    tsecr = h.options.timestamps->tsecr;
  }
  const SynCookieResult r = is_v4 ? cookies_.Check(v4, h.seq, h.ack, tsecr, now)
                                  : cookies_.Check(v6, h.seq, h.ack, tsecr, now);
  switch (r.reject) {
    case SynCookieReject::kNone:
      break;
    case SynCookieReject::kTooOld:
      counters_.Add(ListenerCounter::kCookiesTooOld);
      return Reset(flow, segment, out);
    case SynCookieReject::kBadMac:
      counters_.Add(ListenerCounter::kCookiesBadMac);
      return Reset(flow, segment, out);
    case SynCookieReject::kMissingTimestamps:
      counters_.Add(ListenerCounter::kCookiesMissingTimestamps);
      return Reset(flow, segment, out);
  }
  counters_.Add(ListenerCounter::kCookiesValidated);
  if (accept_queue_full()) {
    counters_.Add(ListenerCounter::kAcceptQueueDrops);
    return {};
  }
  if (!room) {
    counters_.Add(ListenerCounter::kNoResourceDrops);
    return {};
  }

  // The SYN as the cookie remembers it, for ListenHooks.
  wire::TcpRepr syn;
  syn.src_port = h.src_port;
  syn.dst_port = h.dst_port;
  syn.seq = r.peer_isn;
  syn.flags = wire::TcpFlag::kSyn;
  syn.window = h.window;
  syn.options.mss = r.options.mss;
  syn.options.window_scale = r.options.window_scale;
  syn.options.sack_permitted = r.options.sack_permitted;
  if (r.options.timestamps && h.options.timestamps) {
    syn.options.timestamps = wire::TcpTimestamps{.tsval = h.options.timestamps->tsval, .tsecr = 0};
  }
  SynDecision decision;
  if (hooks_ != nullptr)
    decision = hooks_->OnSyn(flow, InfoOf(syn, r.isn, r.peer_isn), syn.options);
  switch (decision.action) {
    case SynDecision::Action::kRefuse:
      counters_.Add(ListenerCounter::kSynsRefused);
      return Reset(flow, segment, out);
    case SynDecision::Action::kIgnore:
      counters_.Add(ListenerCounter::kSynsIgnored);
      return {};
    case SynDecision::Action::kAccept:
      break;
  }

  ListenVerdict v =
      Verdict(ListenVerdict::Action::kOpenFromCookie, decision.hooks, decision.user_data);
  v.open.flow = flow;
  v.open.irs = r.peer_isn;
  v.open.iss = r.isn;
  v.open.peer_mss = r.options.mss;
  v.open.peer_window_scale = r.options.window_scale;
  v.open.peer_sack_permitted = r.options.sack_permitted;
  // What the SYN's timestamps would have given: the ACK's TSval is the newest the peer sent.
  v.open.peer_timestamps = syn.options.timestamps;
  v.open.peer_window = h.window;
  // The offset the cookie's TSval carried, so that the connection's TSvals continue it.
  v.open.ts_offset = is_v4 ? isn_.TsOffset(v4) : isn_.TsOffset(v6);
  return v;
}

}  // namespace braid::tcp
