// The native TCP connection: RFC 9293's state machine with RFC 5961, 7323, 2018/2883, 6298,
// 5681/6582, 3042, 6675, 6937 and 8985 (see connection.h). The input path follows RFC 9293 §3.10.7
// step by step; the output path is one loop (Output) that asks SackRecovery::NextSeg what to send
// next and checks it against the send quantum: cwnd outside recovery, PRR (RFC 6937) in SACK
// recovery, RFC 6582's inflated window in NewReno recovery.
#include "datapath/tcp/connection.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <limits>
#include <utility>

#include "datapath/tcp/byte_ring.h"
#include "datapath/tcp/congestion_control.h"
#include "datapath/tcp/rack.h"
#include "datapath/tcp/reassembly.h"
#include "datapath/tcp/retransmit_queue.h"
#include "datapath/tcp/rtt_estimator.h"
#include "datapath/tcp/sack_recovery.h"
#include "datapath/tcp/send_buffer.h"
#include "datapath/wire/ipv4.h"
#include "datapath/wire/ipv6.h"
#include "datapath/wire/tcp.h"
#include "datapath/wire/tcp_options.h"

namespace braid::tcp {
namespace {

using namespace std::chrono_literals;
using wire::TcpFlag;
using wire::TcpFlags;
using wire::TcpSeq;

// NOP NOP TSopt, as every non-SYN segment carries it once negotiated (RFC 7323 Appendix A).
constexpr uint32_t kTimestampsLen = 12;
// RFC 7323 §5.5: TS.Recent older than 24 days is invalid (the TSval clock may have wrapped).
constexpr Duration kPawsIdle = std::chrono::hours(24 * 24);
// RFC 5961 §7 leaves the challenge ACK limit to the implementation; like Linux's per-socket
// tcp_invalid_ratelimit, at most one challenge ACK per 500 ms per connection.
constexpr Duration kChallengeAckInterval = 500ms;
// The IPv6 header is 20 bytes longer than IPv4's (TcpConfig::mss is for IPv4).
constexpr uint16_t kIpv6ExtraHeader = 20;
// Lowest MSS we size anything with (RFC 9293 §3.7.1 allows the peer to announce very small ones;
// Linux's tcp_min_snd_mss is 48).
constexpr uint32_t kMinMss = 48;
// The smallest path MTU a report may give: 68 bytes for IPv4 (RFC 1191 §3, RFC 791), 1280 for
// IPv6 (RFC 8201 §4). The net layer already applies its own IPv4 floor, 552 by default
// (NetStackConfig::ipv4_min_pmtu, Linux's min_pmtu); these only keep the arithmetic sane.
constexpr uint32_t kMinPathMtuV4 = 68;
constexpr uint32_t kMinPathMtuV6 = 1280;
// Retransmission-queue records per byte of send buffer: one per 536-byte segment (the RFC 9293
// default MSS), plus room for SACK splits.
constexpr uint32_t kRecordBytes = 536;
constexpr size_t kRecordMargin = 64;
// Upper bound on segments sent by one call, so a bug can never spin forever.
constexpr size_t kMaxSegmentsPerCall = 1 << 20;

const CongestionControlRegistry& Registry() {
  // Control plane: built once, read-only afterwards (congestion_control.h).
  static const CongestionControlRegistry registry;
  return registry;
}

uint8_t ChooseWindowScale(uint32_t buffer) {
  // RFC 7323 §2.3: the smallest shift that lets the window field cover the buffer, at most 14.
  uint8_t shift = 0;
  while (shift < wire::kTcpMaxWindowScale && (uint64_t{buffer} >> shift) > 0xffff) ++shift;
  return shift;
}

constexpr uint32_t RoundUp4(size_t n) { return static_cast<uint32_t>((n + 3) & ~size_t{3}); }

int64_t FloorDiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// Milliseconds of engine time, the timestamp clock's unit (RFC 7323 §5.4: 1 ms to 1 s per tick).
int64_t Millis(Instant t) { return FloorDiv(NanosSinceEpoch(t), 1'000'000); }

// A per-connection timestamp offset when the caller gave none: the ISS is already unpredictable
// (RFC 6528); mixing it keeps TSval and the sequence space visibly unrelated.
uint32_t DeriveTsOffset(TcpSeq iss) {
  uint32_t x = iss.raw() ^ 0x9e3779b9u;
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

std::optional<Instant> EarlierOf(std::optional<Instant> a, std::optional<Instant> b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

}  // namespace

class TcpConnection::Impl {
 public:
  Impl(const TcpConfig& config, const FlowKey& flow, TcpSeq iss, uint32_t ts_offset,
       TcpHooks* hooks, CongestionController cc)
      : config_(config),
        flow_(flow),
        hooks_(hooks),
        iss_(iss),
        our_mss_(static_cast<uint16_t>(
            std::max<uint32_t>(kMinMss, config.mss - (flow.is_ipv4() ? 0 : kIpv6ExtraHeader)))),
        pmtu_mss_(our_mss_),
        our_wscale_(config.window_scaling ? ChooseWindowScale(config.receive_buffer) : 0),
        send_buf_(std::max<uint32_t>(config.send_buffer, 1), iss + 1),
        queue_(config.send_buffer / kRecordBytes + kRecordMargin, iss),
        rcv_ring_(size_t{std::max<uint32_t>(config.receive_buffer, 1)} +
                  (size_t{1} << our_wscale_)),
        ooo_(std::min(
                 size_t{std::max<uint32_t>(config.receive_buffer, 1)} + (size_t{1} << our_wscale_),
                 ReassemblyQueue<TcpSeq>::kMaxCapacity),
             TcpSeq(0)),
        ts_offset_(ts_offset),
        rtt_(config.rtt),
        cc_(cc),
        recovery_(SackRecovery::Options{}),
        rack_(Rack::Options{}),
        nagle_(config.nagle),
        keepalive_(config.keepalive) {
    window_clamp_ = config.receive_buffer_autotune
                        ? std::min(config.initial_receive_window, config.receive_buffer)
                        : config.receive_buffer;
    if (window_clamp_ == 0) window_clamp_ = config.receive_buffer;
    peer_mss_ = flow.is_ipv4() ? config.default_peer_mss_v4 : config.default_peer_mss_v6;
    UpdateMss();
  }

  // ---- Opening ----------------------------------------------------------------------------------

  void StartActiveOpen(Instant now, SegmentSink& out) {
    state_ = TcpState::kSynSent;
    SendSyn(now, out, /*retransmission=*/false);
  }

  void StartPassiveOpen(const PassiveOpen& syn, Instant now, SegmentSink& out) {
    passive_ = true;
    state_ = TcpState::kSynReceived;
    LearnPeerSyn(syn.irs, syn.peer_mss, syn.peer_window_scale, syn.peer_sack_permitted,
                 syn.peer_timestamps, now);
    // RFC 7323 §2.2: the window of a SYN is never scaled.
    snd_wnd_ = syn.peer_window;
    max_snd_wnd_ = snd_wnd_;
    snd_wl1_ = syn.irs;
    snd_wl2_ = iss_;
    SendSyn(now, out, /*retransmission=*/false);
  }

  void StartCookieOpen(const PassiveOpen& syn, const InboundSegment& ack, Instant now,
                       SegmentSink& out) {
    passive_ = true;
    LearnPeerSyn(syn.irs, syn.peer_mss, syn.peer_window_scale, syn.peer_sack_permitted,
                 syn.peer_timestamps, now);
    // The listener sent the SYN-ACK statelessly: our SYN is acknowledged by `ack`, and what we
    // advertised in it was the initial window.
    queue_.Reset(iss_ + 1);
    syn_window_ = InitialWindowField();
    rcv_adv_ = rcv_nxt_ + syn_window_;
    snd_wnd_ = static_cast<uint32_t>(ack.header.window) << snd_wscale_;
    max_snd_wnd_ = snd_wnd_;
    snd_wl1_ = ack.header.seq;
    snd_wl2_ = ack.header.ack;
    EnterEstablished(now);
    OnSegment(ack, now, out);
  }

  // ---- Application calls ------------------------------------------------------------------------

  SendResult Send(std::span<const uint8_t> bytes, Instant now, SegmentSink& out) {
    SendResult result;
    result.first_seq = send_buf_.end_seq();
    const bool may_queue =
        !fin_queued_ && (state_ == TcpState::kSynSent || state_ == TcpState::kSynReceived ||
                         state_ == TcpState::kEstablished || state_ == TcpState::kCloseWait);
    if (!may_queue) return result;
    result.accepted = send_buf_.Append(bytes);
    if (result.accepted < bytes.size()) send_full_ = true;
    Output(now, out);
    return result;
  }

  ReceiveResult Receive(std::span<uint8_t> out_bytes, Instant now, SegmentSink& out) {
    ReceiveResult result;
    result.first_seq = rcv_read_seq_;
    result.bytes = rcv_ring_.Read(out_bytes);
    rcv_read_seq_ += static_cast<uint32_t>(result.bytes);
    result.fin = peer_fin_ && rcv_ring_.empty();
    if (result.bytes > 0) {
      AutotuneOnCopy(result.bytes, now);
      MaybeSendWindowUpdate(now, out);
    }
    return result;
  }

  TcpError Shutdown(Instant now, SegmentSink& out) {
    if (fin_queued_) return TcpError::kInvalidState;
    switch (state_) {
      case TcpState::kSynSent:
        // RFC 9293 §3.10.4: CLOSE in SYN-SENT deletes the TCB.
        EnterClosed(TcpEvent::ResetReason::kNone);
        return TcpError::kOk;
      case TcpState::kSynReceived:
        // RFC 9293 §3.10.4: the FIN waits for ESTABLISHED (and the data queued before it).
        fin_queued_ = true;
        return TcpError::kOk;
      case TcpState::kEstablished:
        fin_queued_ = true;
        state_ = TcpState::kFinWait1;
        break;
      case TcpState::kCloseWait:
        fin_queued_ = true;
        state_ = TcpState::kLastAck;
        break;
      default:
        return TcpError::kInvalidState;
    }
    Output(now, out);
    return TcpError::kOk;
  }

  TcpError Close(Instant now, SegmentSink& out) {
    if (state_ == TcpState::kClosed) return TcpError::kInvalidState;
    orphaned_ = true;
    if (!rcv_ring_.empty() && state_ != TcpState::kSynSent && state_ != TcpState::kTimeWait) {
      // RFC 2525 §2.17: closing with unread data must reset, so the peer learns it was lost.
      Abort(now, out);
      return TcpError::kOk;
    }
    if (!fin_queued_) (void)Shutdown(now, out);
    if (state_ == TcpState::kFinWait2) ArmFinWait2(now);
    return TcpError::kOk;
  }

  void Abort(Instant now, SegmentSink& out) {
    switch (state_) {
      case TcpState::kSynReceived:
      case TcpState::kEstablished:
      case TcpState::kFinWait1:
      case TcpState::kFinWait2:
      case TcpState::kCloseWait:
        // RFC 9293 §3.10.5: <SEQ=SND.NXT><CTL=RST>; like Linux, with ACK set.
        Transmit({.flags = TcpFlag::kRst | TcpFlag::kAck, .seq = queue_.snd_nxt()}, now, out);
        EnterClosed(TcpEvent::ResetReason::kAbortedLocally);
        return;
      case TcpState::kSynSent:
      case TcpState::kClosing:
      case TcpState::kLastAck:
      case TcpState::kTimeWait:
        EnterClosed(TcpEvent::ResetReason::kAbortedLocally);
        return;
      case TcpState::kClosed:
      case TcpState::kListen:
        return;
    }
  }

  void SetNagle(bool on) { nagle_ = on; }
  void SetKeepalive(bool on) {
    keepalive_ = on;
    keepalive_probes_out_ = 0;
    // Idle time counts from the last segment received (RFC 1122 §4.2.3.6).
    ArmKeepalive(last_rcv_time_.value_or(last_send_time_.value_or(Instant{})));
  }

  // ---- SEGMENT ARRIVES (RFC 9293 §3.10.7) -------------------------------------------------------

  void OnSegment(const InboundSegment& seg, Instant now, SegmentSink& out) {
    const wire::TcpRepr& h = seg.header;
    counters_.Add(TcpCounter::kSegmentsIn);
    if (!seg.payload.empty()) counters_.Add(TcpCounter::kDataSegmentsIn);

    if (state_ == TcpState::kClosed || state_ == TcpState::kListen) {
      // RFC 9293 §3.10.7.1: CLOSED answers everything but a RST with a RST.
      if (!h.flags.rst()) SendResetFor(seg, now, out);
      return;
    }

    if (hooks_ != nullptr) {
      SegmentInfo info{.flags = h.flags,
                       .seq = h.seq,
                       .ack = h.ack,
                       .payload_len = static_cast<uint32_t>(seg.payload.size()),
                       .retransmission = false,
                       .iss = iss_,
                       .irs = irs_known_ ? irs_ : (h.flags.syn() ? h.seq : irs_),
                       .window = h.flags.syn() ? uint32_t{h.window}
                                               : static_cast<uint32_t>(h.window) << snd_wscale_};
      switch (hooks_->OnInput(info, h.options)) {
        case InputVerdict::kAccept:
          break;
        case InputVerdict::kDrop:
          counters_.Add(TcpCounter::kDroppedByHook);
          return;
        case InputVerdict::kReset:
          counters_.Add(TcpCounter::kDroppedByHook);
          if (state_ == TcpState::kSynSent) {
            // Not synchronized: RFC 9293 §3.10.7.3 form of the reset.
            if (h.flags.ack()) {
              Transmit({.flags = TcpFlag::kRst, .seq = h.ack}, now, out);
            }
          } else {
            Transmit({.flags = TcpFlag::kRst | TcpFlag::kAck, .seq = queue_.snd_nxt()}, now, out);
          }
          EnterClosed(TcpEvent::ResetReason::kHookReset);
          return;
      }
    }

    if (state_ == TcpState::kSynSent) {
      OnSegmentSynSent(seg, now, out);
    } else {
      OnSegmentSynchronized(seg, now, out);
    }
    FinishInput(now, out);
  }

  // ---- Timers -----------------------------------------------------------------------------------

  std::optional<Instant> PollAt() const {
    if (state_ == TcpState::kClosed) return std::nullopt;
    std::optional<Instant> t = pto_deadline_ ? pto_deadline_ : rto_deadline_;
    t = EarlierOf(t, reorder_deadline_);
    t = EarlierOf(t, delack_deadline_);
    t = EarlierOf(t, persist_deadline_);
    t = EarlierOf(t, keepalive_deadline_);
    t = EarlierOf(t, close_deadline_);
    return t;
  }

  void OnTimer(Instant now, SegmentSink& out) {
    if (state_ == TcpState::kClosed) return;
    if (close_deadline_ && *close_deadline_ <= now) {
      // TIME-WAIT's 2·MSL (RFC 9293 §3.10.8), or an orphan's FIN-WAIT-2 timeout (Linux's
      // tcp_fin_timeout): the connection goes away silently.
      close_deadline_.reset();
      EnterClosed(TcpEvent::ResetReason::kNone);
      return;
    }
    if (pto_deadline_ && *pto_deadline_ <= now) {
      OnPtoTimer(now, out);
    } else if (!pto_deadline_ && rto_deadline_ && *rto_deadline_ <= now) {
      OnRtoTimer(now, out);
    }
    if (state_ == TcpState::kClosed) return;
    if (reorder_deadline_ && *reorder_deadline_ <= now) OnReorderTimer(now, out);
    if (persist_deadline_ && *persist_deadline_ <= now) OnPersistTimer(now, out);
    if (state_ == TcpState::kClosed) return;
    if (keepalive_deadline_ && *keepalive_deadline_ <= now) OnKeepaliveTimer(now, out);
    if (state_ == TcpState::kClosed) return;
    if (delack_deadline_ && *delack_deadline_ <= now) {
      delack_deadline_.reset();
      if (ack_pending_) {
        counters_.Add(TcpCounter::kDelayedAcks);
        SendAck(now, out);
      }
    }
    Output(now, out);
  }

  // ---- ICMP errors quoting our segments ---------------------------------------------------------

  void OnPathMtu(uint32_t path_mtu, TcpSeq quoted_seq, Instant now, SegmentSink& out) {
    if (!QuotesFlight(quoted_seq)) {
      counters_.Add(TcpCounter::kPmtuIgnored);
      return;
    }
    // Linux's __tcp_mtu_to_mss: the path MTU less the IP and TCP headers, never below
    // tcp_min_snd_mss. The options every data segment carries come off in PayloadMss, as for the
    // announced MSS values (Linux's tcp_mtu_to_mss subtracts its tcp_header_len the same way).
    const bool v4 = flow_.is_ipv4();
    const uint32_t mtu = std::max(path_mtu, v4 ? kMinPathMtuV4 : kMinPathMtuV6);
    const auto headers = static_cast<uint32_t>(
        (v4 ? wire::kIpv4MinHeaderLen : wire::kIpv6HeaderLen) + wire::kTcpHeaderLen);
    const uint32_t mss = std::max(mtu - headers, kMinMss);
    // RFC 1191 §3 and §6.4, RFC 8201 §4 and §5.4: the estimate never goes up on a report, and only
    // a report that lowers it is acted on (Linux compares with its icsk_pmtu_cookie). A burst of
    // too-big segments brings a burst of reports; the first one retransmits, the others change
    // nothing. A lower estimate may still leave the MSS as it was, when the peer's is smaller.
    if (mss >= pmtu_mss_) {
      counters_.Add(TcpCounter::kPmtuIgnored);
      return;
    }
    pmtu_mss_ = mss;
    counters_.Add(TcpCounter::kPmtuUpdates);
    UpdateMss();
    // Before ESTABLISHED nothing but the SYN is in flight, and EnterEstablished sizes the
    // congestion controller, SACK recovery and RACK from smss_.
    if (!DataStates()) return;
    cc_.SetSmss(smss_);
    recovery_.SetSmss(smss_);
    rack_.SetSmss(smss_);
    RetransmitTooLarge(now, out);
  }

  void OnSoftError(TcpSeq quoted_seq) {
    if (!QuotesFlight(quoted_seq)) {
      counters_.Add(TcpCounter::kSoftErrorsIgnored);
      return;
    }
    // RFC 1122 §4.2.3.9: destination unreachable codes 0, 1 and 5, time exceeded and parameter
    // problem MUST NOT abort the connection; RFC 5461 §4 treats the other unreachable codes
    // alike once synchronized. Kept for the timeout to report (TcpInfo::soft_error).
    counters_.Add(TcpCounter::kSoftErrors);
    soft_error_ = true;
  }

  // ---- Accessors --------------------------------------------------------------------------------

  TcpState state() const { return state_; }
  const FlowKey& flow() const { return flow_; }

  ConnectionEvents TakeEvents() { return std::exchange(events_, ConnectionEvents{}); }

  bool SendAckNow(Instant now, SegmentSink& out) {
    switch (state_) {
      case TcpState::kEstablished:
      case TcpState::kFinWait1:
      case TcpState::kFinWait2:
      case TcpState::kCloseWait:
      case TcpState::kClosing:
      case TcpState::kLastAck:
        SendAck(now, out);
        return true;
      default:
        return false;
    }
  }

  SendState GetSendState() const {
    SendState st;
    st.state = state_;
    st.ca_state = CurrentCaState();
    st.snd_una = queue_.snd_una();
    st.snd_nxt = queue_.snd_nxt();
    st.cwnd = cc_.cwnd();
    st.in_flight = recovery_.Pipe(queue_);
    st.unsent = UnsentBytes();
    st.send_queue = static_cast<uint32_t>(send_buf_.size());
    st.send_free = static_cast<uint32_t>(send_buf_.free());
    st.receive_queue = static_cast<uint32_t>(rcv_ring_.size());
    st.snd_wnd = snd_wnd_;
    st.snd_mss = smss_;
    st.srtt = rtt_.srtt();
    st.rttvar = rtt_.rttvar();
    st.min_rtt = rtt_.min_rtt();
    st.rto = rtt_.rto();
    st.backoff = rtt_.backoff();
    st.delivery_rate_bps = delivery_rate_bps_;
    st.last_heard = last_heard_;
    if (!queue_.empty()) st.una_sent = queue_[0].xmit_ts;
    return st;
  }

  TcpInfo Info() const {
    TcpInfo info;
    info.state = state_;
    info.ca_state = CurrentCaState();
    info.congestion_control = cc_.name();
    info.iss = iss_;
    info.irs = irs_;
    info.snd_una = queue_.snd_una();
    info.snd_nxt = queue_.snd_nxt();
    info.rcv_nxt = rcv_nxt_;
    info.snd_wnd = snd_wnd_;
    info.rcv_wnd = irs_known_ ? static_cast<uint32_t>(std::max(0, rcv_adv_ - rcv_nxt_)) : 0;
    info.snd_wscale = snd_wscale_;
    info.rcv_wscale = rcv_wscale_;
    info.sack_enabled = sack_ok_;
    info.timestamps_enabled = ts_ok_;
    info.snd_mss = smss_;
    info.rcv_mss = rcv_mss_;
    info.cwnd = cc_.cwnd();
    info.ssthresh = cc_.ssthresh();
    info.bytes_in_flight = recovery_.Pipe(queue_);
    info.srtt = rtt_.srtt();
    info.rttvar = rtt_.rttvar();
    info.min_rtt = rtt_.min_rtt();
    info.rto = rtt_.rto();
    info.backoff = rtt_.backoff();
    info.delivery_rate_bps = delivery_rate_bps_;
    info.send_queue = static_cast<uint32_t>(send_buf_.size());
    info.unsent = UnsentBytes();
    info.receive_queue = static_cast<uint32_t>(rcv_ring_.size());
    info.out_of_order = static_cast<uint32_t>(ooo_.held_bytes());
    info.soft_error = soft_error_;
    info.counters = counters_;
    return info;
  }

 private:
  // One outgoing segment, before options.
  struct Tx {
    TcpFlags flags{};
    TcpSeq seq{};
    uint32_t len = 0;  // payload, read from the send buffer at `seq`
    bool retransmission = false;
    // A RST answering a segment that has no connection state to speak of (RFC 9293 §3.10.7.1
    // forms): ACK number given, no timestamps, window 0.
    bool stateless = false;
    TcpSeq ack{};
  };

  // ---- Sizes ------------------------------------------------------------------------------------

  uint32_t TsLen() const { return ts_ok_ ? kTimestampsLen : 0; }
  uint32_t HookReserve() const {
    return hooks_ != nullptr ? RoundUp4(hooks_->DataOptionReserve()) : 0;
  }
  // RFC 9293 §3.7.1 Eff.snd.MSS: the smallest of the two MSS values and the path MTU's, less the
  // options every data segment carries (timestamps and what the upper layer reserves).
  uint32_t PayloadMss() const {
    const uint32_t base = SendBaseMss();
    const uint32_t opts = TsLen() + HookReserve();
    return base > opts + kMinMss / 2 ? base - opts : kMinMss / 2;
  }
  void UpdateMss() { smss_ = PayloadMss(); }
  // The payload of a data segment that starts at `seq`, sent now: the MSS less the options that
  // segment carries (the upper layer's may be fewer than its worst case on some segments), and
  // never past the end of the upper layer's record. One question to the hooks per segment.
  uint32_t PayloadMaxAt(TcpSeq seq) const {
    if (hooks_ == nullptr) return PayloadMss();
    const DataSegmentPlan plan = hooks_->PlanDataSegment(seq, WindowBytes(WindowUnits()));
    return std::min(PayloadMssWith(plan.option_bytes), plan.max_payload);
  }
  // The MSS less the options of the data segment that starts at `seq`.
  uint32_t PayloadMssAt(TcpSeq seq) const {
    if (hooks_ == nullptr) return PayloadMss();
    return PayloadMssWith(hooks_->PlanDataSegment(seq, WindowBytes(WindowUnits())).option_bytes);
  }
  uint32_t PayloadMssWith(size_t hook_option_bytes) const {
    const uint32_t base = SendBaseMss();
    const uint32_t opts =
        TsLen() + RoundUp4(std::min(hook_option_bytes, hooks_->DataOptionReserve()));
    return base > opts + kMinMss / 2 ? base - opts : kMinMss / 2;
  }
  // The two announced MSS values: what the receive side sizes its window steps with.
  uint32_t BaseMss() const { return std::min<uint32_t>(our_mss_, peer_mss_); }
  // The largest payload plus options a segment we send may carry (RFC 9293 §3.7.1, and the path
  // MTU's limit, RFC 1191 §6.4).
  uint32_t SendBaseMss() const { return std::min(BaseMss(), pmtu_mss_); }

  uint32_t UnsentBytes() const {
    const int32_t d = send_buf_.end_seq() - queue_.snd_nxt();
    return d > 0 ? static_cast<uint32_t>(d) : 0;
  }

  bool DataStates() const {
    return state_ == TcpState::kEstablished || state_ == TcpState::kCloseWait ||
           state_ == TcpState::kFinWait1 || state_ == TcpState::kClosing ||
           state_ == TcpState::kLastAck;
  }

  uint32_t TsVal(Instant now) const { return static_cast<uint32_t>(Millis(now)) + ts_offset_; }

  // ---- Receive window (RFC 9293 §3.8.6.2.2, RFC 7323 §2.4) --------------------------------------

  // Bytes we could accept beyond RCV.NXT: free receive buffer, capped by the auto-tuned clamp.
  uint32_t RcvSpace() const {
    const size_t unread = rcv_ring_.size();
    const uint32_t free = config_.receive_buffer > unread
                              ? config_.receive_buffer - static_cast<uint32_t>(unread)
                              : 0;
    return std::min(free, window_clamp_);
  }

  uint16_t InitialWindowField() const {
    return static_cast<uint16_t>(std::min<uint32_t>(RcvSpace(), 0xffff));
  }

  uint32_t CurrentRcvWnd() const {
    const int32_t d = rcv_adv_ - rcv_nxt_;
    return d > 0 ? static_cast<uint32_t>(d) : 0;
  }

  // The window field for a non-SYN segment; moves RCV.ADV (the right edge we advertised).
  uint16_t SelectWindow() {
    const uint16_t units = WindowUnits();
    const TcpSeq edge = rcv_nxt_ + WindowBytes(units);
    if (rcv_adv_ < edge) rcv_adv_ = edge;
    return units;
  }
  uint32_t WindowBytes(uint16_t units) const { return uint32_t{units} << rcv_wscale_; }

  // The window field the next non-SYN segment carries (SelectWindow without moving RCV.ADV).
  uint16_t WindowUnits() const {
    const uint32_t cur = CurrentRcvWnd();
    uint32_t want = RcvSpace();
    // Receiver SWS avoidance (RFC 9293 §3.8.6.2.2): move the right edge only by at least
    // min(RCV.BUFF / 2, Eff.snd.MSS).
    const uint32_t step = std::min(config_.receive_buffer / 2, BaseMss());
    if (want > cur && want - cur < step) want = cur;
    // Never shrink the right edge (RFC 9293 §3.8.6.2.2, RFC 7323 §2.4).
    if (want < cur) want = cur;
    want = std::min(want, uint32_t{0xffff} << rcv_wscale_);
    uint32_t units = want >> rcv_wscale_;
    if ((units << rcv_wscale_) < cur) {
      // The edge is not a multiple of the scale unit from RCV.NXT: round up rather than retract it,
      // as long as the buffer (sized with one unit of slack) really has the room. Otherwise retract
      // by less than one unit, as RFC 7323 Appendix F allows: rounding up every time would let the
      // edge creep forward by up to a unit per ACK, without bound.
      const size_t room = rcv_ring_.capacity() - rcv_ring_.size();
      if ((size_t{units + 1} << rcv_wscale_) <= room) ++units;
    }
    return static_cast<uint16_t>(std::min<uint32_t>(units, 0xffff));
  }

  // ---- Output -----------------------------------------------------------------------------------

  // Builds, decorates (our options, the hooks', SACK blocks) and hands one segment to `out`.
  void Transmit(const Tx& tx, Instant now, SegmentSink& out) {
    OutboundSegment seg;
    wire::TcpRepr& h = seg.header;
    h.src_port = flow_.local_port;
    h.dst_port = flow_.remote_port;
    h.seq = tx.seq;
    h.flags = tx.flags;
    const bool syn = tx.flags.syn();
    const bool rst = tx.flags.rst();
    if (tx.flags.ack()) h.ack = tx.stateless ? tx.ack : rcv_nxt_;

    // Window.
    if (rst) {
      h.window = 0;
    } else if (syn) {
      syn_window_ = InitialWindowField();
      h.window = syn_window_;
      if (irs_known_ && rcv_adv_ < rcv_nxt_ + syn_window_) rcv_adv_ = rcv_nxt_ + syn_window_;
    } else {
      h.window = SelectWindow();
    }

    // Our options first (RFC 9293 §3.2, RFC 7323, RFC 2018).
    size_t budget = wire::kTcpMaxOptionsLen;
    if (syn) {
      h.options.mss = our_mss_;
      const bool offer = state_ == TcpState::kSynSent && !irs_known_;
      if (offer ? config_.window_scaling : ws_ok_) h.options.window_scale = our_wscale_;
      if (offer ? config_.sack : sack_ok_) h.options.sack_permitted = true;
      if (offer ? config_.timestamps : ts_ok_) {
        h.options.timestamps =
            wire::TcpTimestamps{TsVal(now), h.flags.ack() && ts_recent_valid_ ? ts_recent_ : 0};
      }
    } else if (ts_ok_ && !tx.stateless) {
      h.options.timestamps = wire::TcpTimestamps{TsVal(now), ts_recent_valid_ ? ts_recent_ : 0};
    }
    if (tx.len > 0) {
      // Payload plus options stay within the MSS (RFC 9293 §3.7.1) and the path MTU.
      const uint32_t base = SendBaseMss();
      budget = std::min<size_t>(budget, base > tx.len ? base - tx.len : 0);
      budget = std::max<size_t>(budget, h.options.EncodedLen());
    }

    // The upper layer's options (adapter.h: every segment, with the space TCP left).
    if (hooks_ != nullptr) {
      const size_t own = h.options.EncodedLen();
      const size_t space = budget > own ? budget - own : 0;
      std::array<uint8_t, wire::kTcpMaxOptionsLen> bytes{};
      SegmentInfo info{.flags = h.flags,
                       .seq = h.seq,
                       .ack = h.ack,
                       .payload_len = tx.len,
                       .retransmission = tx.retransmission,
                       .iss = iss_,
                       .irs = irs_,
                       .window = syn ? uint32_t{h.window} : WindowBytes(h.window)};
      const size_t used =
          std::min(space, hooks_->WriteOptions(info, std::span<uint8_t>(bytes.data(), space)));
      AppendHookOptions(std::span<const uint8_t>(bytes.data(), used), h.options);
    }

    // SACK blocks last: they are what gets trimmed to make room (as Linux trims them for MPTCP).
    if (sack_ok_ && !syn && !rst && irs_known_) AddSackBlocks(h.options, budget);

    // Payload from the send buffer.
    if (tx.len > 0) {
      const RingPieces p = send_buf_.Peek(tx.seq, tx.len);
      seg.payload_head = p.head;
      seg.payload_tail = p.tail;
    }
    h.payload_len = seg.payload_size();
    out.Transmit(flow_, seg);

    counters_.Add(TcpCounter::kSegmentsOut);
    if (h.payload_len > 0) {
      counters_.Add(TcpCounter::kDataSegmentsOut);
      counters_.Add(TcpCounter::kBytesSent, h.payload_len);
    }
    if (tx.retransmission) {
      counters_.Add(TcpCounter::kRetransmits);
      counters_.Add(TcpCounter::kBytesRetransmitted, h.payload_len);
    }
    if (rst) counters_.Add(TcpCounter::kResetsOut);
    if (h.flags.ack() && !rst && !tx.stateless) {
      // Any segment carrying our ACK acknowledges everything received so far.
      last_ack_sent_ = rcv_nxt_;
      last_ack_sent_known_ = true;
      ack_pending_ = false;
      ack_now_ = false;
      delack_deadline_.reset();
      unacked_bytes_ = 0;
      pending_dsack_.reset();
    }
    if (h.payload_len > 0 || syn || tx.flags.fin()) last_send_time_ = now;
  }

  static void AppendHookOptions(std::span<const uint8_t> bytes, wire::TcpOptionsRepr& options) {
    size_t i = 0;
    while (i < bytes.size()) {
      const uint8_t kind = bytes[i];
      if (kind == wire::kTcpOptionEol) break;
      if (kind == wire::kTcpOptionNop) {
        ++i;
        continue;
      }
      if (i + 1 >= bytes.size()) break;
      const size_t len = bytes[i + 1];
      if (len < 2 || i + len > bytes.size()) break;
      (void)options.AppendRaw(bytes.subspan(i, len));
      i += len;
    }
  }

  void AddSackBlocks(wire::TcpOptionsRepr& options, size_t budget) {
    std::array<SeqRange<TcpSeq>, ReassemblyQueue<TcpSeq>::kMaxSackBlocks> ranges;
    const size_t n = ooo_.SackBlocks(ranges);
    // RFC 2883 §4: the D-SACK block first, then the SACK blocks of RFC 2018 §4.
    if (pending_dsack_) {
      (void)options.sack_blocks.TryAppend({pending_dsack_->start, pending_dsack_->end});
    }
    for (size_t i = 0; i < n && !options.sack_blocks.full(); ++i) {
      (void)options.sack_blocks.TryAppend({ranges[i].start, ranges[i].end});
    }
    const size_t limit = std::min(budget, wire::kTcpMaxOptionsLen);
    while (!options.sack_blocks.empty() && options.EncodedLen() > limit) {
      options.sack_blocks.PopBack();
    }
  }

  void SendAck(Instant now, SegmentSink& out) {
    Transmit({.flags = TcpFlag::kAck, .seq = queue_.snd_nxt()}, now, out);
  }

  bool SendChallengeAck(Instant now, SegmentSink& out) {
    // RFC 5961 §3.2, §4.2, §5.2, rate-limited per connection (§7).
    if (last_challenge_ack_ && now - *last_challenge_ack_ < kChallengeAckInterval) return false;
    last_challenge_ack_ = now;
    counters_.Add(TcpCounter::kChallengeAcks);
    SendAck(now, out);
    return true;
  }

  // RFC 9293 §3.10.7.1 / §3.10.7.3 reset forms for a segment we will not accept.
  void SendResetFor(const InboundSegment& seg, Instant now, SegmentSink& out) {
    const wire::TcpRepr& h = seg.header;
    if (h.flags.ack()) {
      Transmit({.flags = TcpFlag::kRst, .seq = h.ack, .stateless = true}, now, out);
    } else {
      const uint32_t len = static_cast<uint32_t>(seg.payload.size()) + (h.flags.syn() ? 1 : 0) +
                           (h.flags.fin() ? 1 : 0);
      Transmit({.flags = TcpFlag::kRst | TcpFlag::kAck,
                .seq = TcpSeq(0),
                .stateless = true,
                .ack = h.seq + len},
               now, out);
    }
  }

  void SendSyn(Instant now, SegmentSink& out, bool retransmission) {
    const bool synack = state_ == TcpState::kSynReceived;
    TcpFlags flags = TcpFlag::kSyn;
    if (synack) flags |= TcpFlag::kAck;
    Transmit({.flags = flags, .seq = iss_, .retransmission = retransmission}, now, out);
    if (queue_.empty() && queue_.snd_nxt() == iss_) {
      (void)queue_.OnTransmit(iss_, iss_ + 1, now, false, {.syn = true});
    } else if (!queue_.empty()) {
      (void)queue_.OnTransmit(iss_, iss_ + 1, now, true);
    }
    if (!rto_deadline_ || retransmission) rto_deadline_ = now + rtt_.rto();
  }

  // New bytes the next segment may carry, and what a full one would (PayloadMaxAt at SND.NXT:
  // a shorter segment is short for Nagle).
  struct Allowance {
    uint32_t len = 0;
    uint32_t full = 0;
  };

  // How many new bytes the next segment may carry under the peer's window, Nagle and sender SWS
  // avoidance (cwnd is checked by the caller); len 0: none now.
  Allowance NewDataAllowance() const {
    Allowance a = NewDataAllowanceIgnoringNagle();
    if (a.len == 0 || a.len == a.full) return a;
    if (a.len < UnsentBytes()) {
      // Window-limited: sender SWS avoidance (RFC 9293 §3.8.6.2.1): send at least Fs·Max(SND.WND)
      // with Fs = 1/2; the persist timer overrides this when idle.
      if (a.len < max_snd_wnd_ / 2) a.len = 0;
    } else if (nagle_ && small_end_ && queue_.snd_una() < *small_end_ && !fin_queued_) {
      // Nagle (RFC 9293 §3.7.4, RFC 1122 §4.2.3.4) with Minshall's refinement, as Linux does: a
      // short segment waits while an earlier short segment is unacknowledged (a write's short
      // tail does not wait for the full segments before it). A FIN goes out.
      a.len = 0;
    }
    return a;
  }

  uint32_t DupAcks() const { return sack_ok_ ? recovery_.dup_acks() : dupacks_; }

  // Whether `seg` fits the send quantum now; consumes PRR credit when it does.
  bool QuantumAllows(const NextSegment& seg, uint64_t pipe) {
    const uint32_t len = seg.len();
    if (recovery_.state() == RecoveryState::kFastRecovery) {
      if (sack_ok_) {
        // RFC 6937 PRR: sndcnt bytes per ACK.
        if (prr_sndcnt_ < len) return false;
        return true;
      }
      // RFC 6582 §3.2 step 4: new data while FlightSize is below the inflated cwnd.
      const int64_t window = static_cast<int64_t>(cc_.cwnd()) + inflation_;
      return static_cast<int64_t>(queue_.flight_size()) + len <= window;
    }
    uint64_t cwnd = cc_.cwnd();
    if (seg.rule == NextSegment::Rule::kNewData && recovery_.state() == RecoveryState::kOpen) {
      // RFC 3042 limited transmit: one new segment for each of the first two duplicate ACKs.
      cwnd += uint64_t{std::min<uint32_t>(DupAcks(), 2)} * smss_;
    }
    return pipe + len <= cwnd;
  }

  void Output(Instant now, SegmentSink& out) {
    if (!DataStates()) return;
    uint64_t pipe = recovery_.Pipe(queue_);
    for (size_t n = 0; n < kMaxSegmentsPerCall; ++n) {
      // The allowance already holds the next new segment to its size (PayloadMaxAt).
      const Allowance allowance = NewDataAllowance();
      NextSegment seg = recovery_.NextSeg(queue_, allowance.len, allowance.len);
      if (seg.rule == NextSegment::Rule::kNone) break;
      if (!sack_ok_ &&
          (seg.rule == NextSegment::Rule::kHole || seg.rule == NextSegment::Rule::kRescue)) {
        // RFC 6675 rules 3 and 4 need a scoreboard; without SACK, RFC 6582 retransmits only on
        // partial ACKs.
        break;
      }
      if (seg.rule == NextSegment::Rule::kNewData) {
        seg.end = seg.start + std::min(seg.len(), allowance.len);
        if (queue_.empty() && last_send_time_) {
          // RFC 5681 §4.1 / congestion_control.h step 7: restart after idle.
          cc_.OnIdleRestart({now, now - *last_send_time_, rtt_.rto()});
        }
        if (queue_.size() >= queue_.capacity()) break;
      } else {
        ClampRetransmission(seg);
      }
      if (!QuantumAllows(seg, pipe)) {
        cwnd_blocked_ = true;
        break;
      }
      if (recovery_.state() == RecoveryState::kFastRecovery && sack_ok_) {
        prr_sndcnt_ -= std::min<uint64_t>(prr_sndcnt_, seg.len());
        prr_out_ += seg.len();
      }
      SendSegment(seg, now, out, allowance.full);
      pipe += seg.len();
      // A flight that fills the window is window-limited even when nothing waits behind it
      // (Linux's tcp_cwnd_validate): an upper layer that hands over exactly what the window
      // allows, like MPTCP's scheduler, would otherwise never let cwnd grow in congestion
      // avoidance (RFC 7661 §4.1).
      if (pipe >= cc_.cwnd()) cwnd_blocked_ = true;
    }
    MaybeSendFin(now, out);
    UpdatePersist(now);
    max_pipe_round_ = std::max<uint64_t>(max_pipe_round_, pipe);
  }

  void ClampRetransmission(NextSegment& seg) const {
    const uint32_t cap = std::max<uint32_t>(PayloadMaxAt(seg.start), 1);
    if (seg.len() > cap) seg.end = seg.start + cap;
  }

  // Sends `seg` (new data or a retransmission chosen by NextSeg) and records it. New data is short
  // for Nagle below `full`, what the segment could have carried (NewDataAllowance).
  void SendSegment(const NextSegment& seg, Instant now, SegmentSink& out, uint32_t full = 0) {
    if (seg.rule == NextSegment::Rule::kNewData) {
      const TcpSeq end = seg.end;
      const bool fin = fin_queued_ && end == send_buf_.end_seq();
      TcpFlags flags = TcpFlag::kAck;
      if (end == send_buf_.end_seq()) flags |= TcpFlag::kPsh;
      if (fin) flags |= TcpFlag::kFin;
      Transmit({.flags = flags, .seq = seg.start, .len = seg.len()}, now, out);
      (void)queue_.OnTransmit(seg.start, end + (fin ? 1 : 0), now, false, {.fin = fin});
      // Short for Nagle: below what this segment could have carried (a record boundary of the upper
      // layer is not a short segment).
      if (seg.len() < full) small_end_ = end;
      if (fin) {
        fin_sent_ = true;
        fin_seq_ = end;
      }
      ArmRto(now, /*restart=*/false);
      ArmPto(now);
      return;
    }
    SendRetransmission(seg, now, out);
    recovery_.OnSent(seg);
    if (recovery_.state() == RecoveryState::kRtoRecovery) {
      counters_.Add(pmtu_episode_ ? TcpCounter::kPmtuRetransmits : TcpCounter::kRtoRetransmits);
    } else {
      counters_.Add(TcpCounter::kFastRetransmits);
    }
    ArmRto(now, /*restart=*/false);
  }

  void SendRetransmission(const NextSegment& seg, Instant now, SegmentSink& out) {
    TcpSeq data_end = seg.end;
    bool fin = false;
    if (fin_sent_ && seg.end == fin_seq_ + 1) {
      fin = true;
      data_end = fin_seq_;
    }
    TcpFlags flags = TcpFlag::kAck;
    if (data_end == send_buf_.end_seq() && data_end != seg.start) flags |= TcpFlag::kPsh;
    if (fin) flags |= TcpFlag::kFin;
    const uint32_t len = data_end < seg.start ? 0 : static_cast<uint32_t>(data_end - seg.start);
    Transmit({.flags = flags, .seq = seg.start, .len = len, .retransmission = true}, now, out);
    (void)queue_.OnTransmit(seg.start, seg.end, now, true);
  }

  void MaybeSendFin(Instant now, SegmentSink& out) {
    if (!fin_queued_ || fin_sent_ || UnsentBytes() != 0) return;
    if (queue_.size() >= queue_.capacity()) return;
    const TcpSeq seq = queue_.snd_nxt();
    Transmit({.flags = TcpFlag::kAck | TcpFlag::kFin, .seq = seq}, now, out);
    (void)queue_.OnTransmit(seq, seq + 1, now, false, {.fin = true});
    fin_sent_ = true;
    fin_seq_ = seq;
    ArmRto(now, /*restart=*/false);
    ArmPto(now);
  }

  // ---- Retransmission timers (RFC 6298 §5, RFC 8985 §7.2) ---------------------------------------

  void ArmRto(Instant now, bool restart) {
    if (queue_.empty()) {
      rto_deadline_.reset();
      pto_deadline_.reset();
      return;
    }
    if (restart || !rto_deadline_) rto_deadline_ = now + rtt_.rto();
  }

  void ArmPto(Instant now) {
    if (!rack_on_ || queue_.empty()) {
      pto_deadline_.reset();
      return;
    }
    pto_deadline_ =
        rack_.PtoDeadline(queue_, now, rtt_.srtt(), rto_deadline_, recovery_.in_recovery());
  }

  void OnRtoTimer(Instant now, SegmentSink& out) {
    rto_deadline_.reset();
    if (state_ == TcpState::kSynSent || state_ == TcpState::kSynReceived) {
      const uint32_t limit =
          state_ == TcpState::kSynSent ? config_.syn_retries : config_.synack_retries;
      if (syn_retransmits_ >= limit) {
        // RFC 9293 §3.8.3 R2 for the SYN: give up. Like Linux (an expired request socket), a
        // passive open goes silently: the peer may never have meant to connect.
        EnterClosed(TcpEvent::ResetReason::kTimeout);
        return;
      }
      ++syn_retransmits_;
      handshake_retransmitted_ = true;
      rtt_.OnRetransmitTimeout();
      counters_.Add(TcpCounter::kRtoExpirations);
      counters_.Add(TcpCounter::kRtoRetransmits);
      events_.rto_count = syn_retransmits_;
      SendSyn(now, out, /*retransmission=*/true);
      return;
    }
    if (queue_.empty()) return;
    pmtu_episode_ = false;
    if (consecutive_rtos_ >= config_.max_retransmits) {
      // RFC 9293 §3.8.3 R2 (net.ipv4.tcp_retries2): the connection is dead.
      Transmit({.flags = TcpFlag::kRst | TcpFlag::kAck, .seq = queue_.snd_nxt()}, now, out);
      EnterClosed(TcpEvent::ResetReason::kTimeout);
      return;
    }
    ++consecutive_rtos_;
    counters_.Add(TcpCounter::kRtoExpirations);
    events_.rto_count = consecutive_rtos_;
    // congestion_control.h step 5.
    const bool repeat = rtt_.backoff() > 0;
    rtt_.OnRetransmitTimeout();
    cc_.OnRetransmitTimeout({now, queue_.flight_size(), repeat});
    if (rack_on_) {
      // RFC 8985 §6.3.
      (void)rack_.OnRto(queue_, now, rtt_.srtt());
    } else {
      // RFC 6675 §5.1 / RFC 5681 §3.1: everything not SACKed is presumed lost (go-back-N over the
      // scoreboard); the head too, even if SACKed (RFC 2018 §8).
      for (size_t i = 0; i < queue_.size(); ++i) {
        if (i == 0 || !queue_[i].sacked) (void)queue_.MarkLostAt(i);
      }
    }
    reorder_deadline_.reset();
    recovery_.OnRto(queue_);
    inflation_ = 0;
    dupacks_ = 0;
    pto_deadline_.reset();
    rto_deadline_ = now + rtt_.rto();
    Output(now, out);
    if (!rto_deadline_ && !queue_.empty()) rto_deadline_ = now + rtt_.rto();
  }

  void OnPtoTimer(Instant now, SegmentSink& out) {
    pto_deadline_.reset();
    // RFC 8985 §7.3.
    const Allowance allowance = NewDataAllowanceIgnoringNagle();
    const TlpProbe probe = rack_.OnPtoExpired(queue_, allowance.len > 0);
    switch (probe.kind) {
      case TlpProbe::Kind::kNone:
        break;
      case TlpProbe::Kind::kNewData: {
        NextSegment seg{NextSegment::Rule::kNewData, queue_.snd_nxt(),
                        queue_.snd_nxt() + allowance.len};
        if (queue_.size() >= queue_.capacity()) break;
        counters_.Add(TcpCounter::kTlpProbes);
        SendSegment(seg, now, out, allowance.full);
        rack_.OnProbeSent(queue_, /*is_retransmission=*/false);
        break;
      }
      case TlpProbe::Kind::kRetransmit: {
        NextSegment seg{NextSegment::Rule::kHole, probe.start, probe.end};
        ClampRetransmission(seg);
        // Keep the probe at the tail: the RFC sends the last segment.
        if (seg.end != probe.end) seg.start = probe.end - seg.len(), seg.end = probe.end;
        counters_.Add(TcpCounter::kTlpProbes);
        SendRetransmission(seg, now, out);
        rack_.OnProbeSent(queue_, /*is_retransmission=*/true);
        break;
      }
    }
    // RFC 8985 §7.3: after a probe (or none), the RTO, not another PTO.
    pto_deadline_.reset();
    if (!queue_.empty()) rto_deadline_ = now + rtt_.rto();
  }

  Allowance NewDataAllowanceIgnoringNagle() const {
    if (fin_sent_) return {};
    const uint32_t unsent = UnsentBytes();
    if (unsent == 0) return {};
    const int32_t room = (queue_.snd_una() + snd_wnd_) - queue_.snd_nxt();
    if (room <= 0) return {};
    const uint32_t full = PayloadMaxAt(queue_.snd_nxt());
    return {.len = std::min({unsent, full, static_cast<uint32_t>(room)}), .full = full};
  }

  void OnReorderTimer(Instant now, SegmentSink& out) {
    reorder_deadline_.reset();
    if (!rack_on_) return;
    const RackLoss loss = rack_.OnReorderTimer(queue_, now, rtt_.srtt(), recovery_.in_recovery());
    reorder_deadline_ = loss.reorder_deadline;
    if (loss.lost_segments > 0 && !recovery_.in_recovery()) {
      const RecoveryEvents ev = recovery_.EnterRecovery(queue_);
      if (ev.entered) OnEnterRecovery(ev, 0, now, out);
    }
    Output(now, out);
  }

  // ---- ICMP error checks (RFC 5927 §4.1), resending after a lower path MTU ----------------------

  // RFC 5927 §4.1: an ICMP error is believed only when the segment it quotes may still be in
  // flight, SND.UNA <= SEG.SEQ < SND.NXT (TIME-WAIT has nothing in flight).
  bool QuotesFlight(TcpSeq quoted_seq) const {
    if (state_ == TcpState::kClosed || state_ == TcpState::kListen ||
        state_ == TcpState::kTimeWait) {
      return false;
    }
    return queue_.snd_una() <= quoted_seq && quoted_seq < queue_.snd_nxt();
  }

  // Linux's tcp_simple_retransmit: the segments in flight that the new MSS cannot carry were
  // dropped by the router that reported it. They are marked lost and resent now, not after an
  // RTO; NextSeg rule 1 and ClampRetransmission cut them (and re-cut the retransmission queue's
  // records) to the new size. No congestion response (RFC 1191 §6.4, RFC 8201 §5.4: the window is
  // not changed): the controller keeps its window in segments (CongestionController::SetSmss), so
  // the path holds as many segments as before, and pipe drops by the bytes marked lost, which
  // makes room for their retransmission. Like Linux, and unlike those RFCs' "one segment until
  // ACKs arrive", what cwnd allows goes at once. A SACKed segment arrived, so it is left alone.
  // Outside recovery this starts a loss episode up to SND.NXT, as Linux enters CA_Loss: segments
  // that had passed the router before it changed come back as duplicates, and their duplicate ACKs
  // must not start a fast recovery (SackRecovery::EnterLossRecovery). In recovery already, that
  // episode's rules resend them.
  void RetransmitTooLarge(Instant now, SegmentSink& out) {
    bool marked = false;
    bool head_marked = false;
    for (size_t i = 0; i < queue_.size(); ++i) {
      const SegmentRecord& r = queue_[i];
      if (r.sacked) continue;
      const uint32_t payload = r.len() - (r.syn ? 1 : 0) - (r.fin ? 1 : 0);
      if (payload <= PayloadMssAt(r.start) || queue_.MarkLostAt(i) == 0) continue;
      marked = true;
      head_marked = head_marked || i == 0;
    }
    if (!marked) return;
    if (recovery_.EnterLossRecovery(queue_)) {
      pmtu_episode_ = true;
      dupacks_ = 0;
      pto_deadline_.reset();
    }
    Output(now, out);
    if (head_marked && !queue_.empty() && !queue_[0].lost) {
      // The head went out again: its RTO counts from now (Linux's tcp_xmit_retransmit_queue),
      // or a report that came late in the RTO would be followed by a spurious timeout.
      ArmRto(now, /*restart=*/true);
      ArmPto(now);
    }
  }

  // ---- Persist (RFC 9293 §3.8.6.1) and keepalive (RFC 9293 §3.8.4) ------------------------------

  Duration PersistInterval() const {
    Duration d = rtt_.base_rto();
    for (uint32_t i = 0; i < persist_backoff_ && d < config_.rtt.max_rto; ++i) d *= 2;
    return std::min(d, config_.rtt.max_rto);
  }

  void UpdatePersist(Instant now) {
    const bool waiting = DataStates() && queue_.empty() && UnsentBytes() > 0 && !fin_sent_;
    if (!waiting) {
      persist_deadline_.reset();
      if (!queue_.empty()) persist_backoff_ = 0;
      return;
    }
    if (!persist_deadline_) persist_deadline_ = now + PersistInterval();
  }

  void OnPersistTimer(Instant now, SegmentSink& out) {
    persist_deadline_.reset();
    if (!DataStates() || !queue_.empty() || UnsentBytes() == 0 || fin_sent_) return;
    if (persist_probes_ >= config_.max_retransmits) {
      Transmit({.flags = TcpFlag::kRst | TcpFlag::kAck, .seq = queue_.snd_nxt()}, now, out);
      EnterClosed(TcpEvent::ResetReason::kTimeout);
      return;
    }
    ++persist_probes_;
    const Allowance allowance = NewDataAllowanceIgnoringNagle();
    if (allowance.len > 0 && queue_.size() < queue_.capacity()) {
      // The window is open but too small for SWS avoidance: the override timeout sends what fits
      // (RFC 9293 §3.8.6.2.1).
      SendSegment({NextSegment::Rule::kNewData, queue_.snd_nxt(), queue_.snd_nxt() + allowance.len},
                  now, out, allowance.full);
    } else {
      // Zero window: a probe the receiver must answer with an ACK, as Linux sends it
      // (tcp_xmit_probe_skb): no data, sequence number SND.UNA - 1.
      counters_.Add(TcpCounter::kZeroWindowProbes);
      Transmit({.flags = TcpFlag::kAck, .seq = queue_.snd_una() - 1}, now, out);
    }
    ++persist_backoff_;
    if (queue_.empty()) persist_deadline_ = now + PersistInterval();
  }

  void ArmKeepalive(Instant now) {
    const bool on = keepalive_ && state_ != TcpState::kSynSent &&
                    state_ != TcpState::kSynReceived && state_ != TcpState::kTimeWait &&
                    state_ != TcpState::kClosed;
    if (!on) {
      keepalive_deadline_.reset();
      return;
    }
    if (keepalive_probes_out_ == 0) {
      keepalive_deadline_ = last_rcv_time_.value_or(now) + config_.keepalive_idle;
    } else {
      keepalive_deadline_ = now + config_.keepalive_interval;
    }
  }

  void OnKeepaliveTimer(Instant now, SegmentSink& out) {
    keepalive_deadline_.reset();
    if (!keepalive_) return;
    // Only an idle connection is probed (RFC 1122 §4.2.3.6); data in flight has its own timer.
    if (!queue_.empty() || UnsentBytes() > 0) {
      keepalive_probes_out_ = 0;
      keepalive_deadline_ = now + config_.keepalive_idle;
      return;
    }
    const Instant idle_since = last_rcv_time_.value_or(now);
    if (keepalive_probes_out_ == 0 && now - idle_since < config_.keepalive_idle) {
      keepalive_deadline_ = idle_since + config_.keepalive_idle;
      return;
    }
    if (keepalive_probes_out_ >= config_.keepalive_probes) {
      Transmit({.flags = TcpFlag::kRst | TcpFlag::kAck, .seq = queue_.snd_nxt()}, now, out);
      EnterClosed(TcpEvent::ResetReason::kTimeout);
      return;
    }
    // RFC 1122 §4.2.3.6: SEG.SEQ = SND.NXT - 1 with no data, which the peer must ACK.
    ++keepalive_probes_out_;
    counters_.Add(TcpCounter::kKeepaliveProbes);
    Transmit({.flags = TcpFlag::kAck, .seq = queue_.snd_nxt() - 1}, now, out);
    keepalive_deadline_ = now + config_.keepalive_interval;
  }

  void ArmFinWait2(Instant now) {
    if (orphaned_ && state_ == TcpState::kFinWait2 && !close_deadline_) {
      close_deadline_ = now + config_.fin_wait2_timeout;
    }
  }

  // ---- State changes ----------------------------------------------------------------------------

  void LearnPeerSyn(TcpSeq irs, uint16_t mss, std::optional<uint8_t> wscale, bool sack_permitted,
                    const std::optional<wire::TcpTimestamps>& ts, Instant now) {
    irs_ = irs;
    irs_known_ = true;
    rcv_nxt_ = irs + 1;
    rcv_adv_ = rcv_nxt_;
    rcv_read_seq_ = rcv_nxt_;
    ooo_.Reset(rcv_nxt_);
    // RFC 9293 §3.7.1: without the option, 536 (IPv4) or 1220 (IPv6). An MSS of 0 is ignored, as
    // Linux does.
    if (mss != 0) peer_mss_ = std::max<uint16_t>(mss, kMinMss);
    // RFC 7323 §2.2, RFC 2018 §2: an option is in use only when both SYNs carry it (we offer what
    // the configuration enables; a passive open answers only what the peer offered).
    ws_ok_ = config_.window_scaling && wscale.has_value();
    snd_wscale_ = ws_ok_ ? std::min<uint8_t>(*wscale, wire::kTcpMaxWindowScale) : 0;
    rcv_wscale_ = ws_ok_ ? our_wscale_ : 0;
    sack_ok_ = config_.sack && sack_permitted;
    ts_ok_ = config_.timestamps && ts.has_value();
    if (ts_ok_) {
      ts_recent_ = ts->tsval;
      ts_recent_valid_ = true;
      ts_recent_stamp_ = now;
    }
    UpdateMss();
  }

  void EnterEstablished(Instant now) {
    state_ = TcpState::kEstablished;
    events_.established = true;
    if (handshake_retransmitted_) rtt_.ApplyHandshakeFallback();
    // Everything sized by the SMSS now that the options are known (congestion_control.h step 0).
    UpdateMss();
    CcParams params;
    params.common.smss = smss_;
    params.common.initial_window_segments = config_.initial_window_segments;
    params.coupling = config_.coupling;
    auto cc = Registry().Create(config_.congestion_control, params);
    if (cc.ok()) cc_ = cc.value();
    rack_on_ = config_.rack_tlp && sack_ok_;
    recovery_ = SackRecovery({.smss = smss_, .dupthresh_loss = !rack_on_});
    rack_ = Rack({.smss = smss_});
    quickack_left_ = config_.quickack_segments;
    rcvq_space_ = std::min<uint64_t>(window_clamp_, 10 * uint64_t{BaseMss()});
    syn_retransmits_ = 0;
    rcv_mss_ = std::min<uint32_t>(our_mss_, rcv_mss_ == 0 ? 536 : rcv_mss_);
    ArmKeepalive(now);
    if (fin_queued_) state_ = TcpState::kFinWait1;
  }

  void EnterTimeWait(Instant now) {
    state_ = TcpState::kTimeWait;
    rto_deadline_.reset();
    pto_deadline_.reset();
    reorder_deadline_.reset();
    persist_deadline_.reset();
    keepalive_deadline_.reset();
    close_deadline_ = now + config_.time_wait;
  }

  void EnterClosed(TcpEvent::ResetReason reason) {
    state_ = TcpState::kClosed;
    rto_deadline_.reset();
    pto_deadline_.reset();
    reorder_deadline_.reset();
    delack_deadline_.reset();
    persist_deadline_.reset();
    keepalive_deadline_.reset();
    close_deadline_.reset();
    ack_pending_ = false;
    ack_now_ = false;
    events_.closed = true;
    if (reason != TcpEvent::ResetReason::kNone) events_.reset = reason;
  }

  CaState CurrentCaState() const {
    switch (recovery_.state()) {
      case RecoveryState::kFastRecovery:
        return CaState::kRecovery;
      case RecoveryState::kRtoRecovery:
        return CaState::kLoss;
      case RecoveryState::kOpen:
        break;
    }
    return DupAcks() > 0 || queue_.sacked_bytes() > 0 ? CaState::kDisorder : CaState::kOpen;
  }

  // ---- Input: SYN-SENT (RFC 9293 §3.10.7.3) -----------------------------------------------------

  void OnSegmentSynSent(const InboundSegment& seg, Instant now, SegmentSink& out) {
    const wire::TcpRepr& h = seg.header;
    // First, check the ACK bit.
    bool ack_ok = false;
    if (h.flags.ack()) {
      if (h.ack <= iss_ || queue_.snd_nxt() < h.ack) {
        if (!h.flags.rst()) SendResetFor(seg, now, out);
        return;
      }
      ack_ok = queue_.snd_una() <= h.ack;
    }
    // Second, check the RST bit (RFC 5961 §3: only with an acceptable ACK).
    if (h.flags.rst()) {
      if (ack_ok) {
        counters_.Add(TcpCounter::kResetsIn);
        EnterClosed(TcpEvent::ResetReason::kRefused);
      }
      return;
    }
    // Third, security: Braid carries no IP security/compartment option (RFC 9293 §3.10.7.3 step 3
    // does not apply). Fourth, check the SYN bit.
    if (!h.flags.syn()) return;
    last_heard_ = now;
    LearnPeerSyn(h.seq, h.options.mss.value_or(0), h.options.window_scale, h.options.sack_permitted,
                 h.options.timestamps, now);
    // RFC 7323 §2.2: the window of a SYN is never scaled.
    snd_wnd_ = h.window;
    max_snd_wnd_ = snd_wnd_;
    snd_wl1_ = h.seq;
    snd_wl2_ = h.ack;
    rcv_adv_ = rcv_nxt_ + syn_window_;
    last_rcv_time_ = now;
    if (ack_ok) {
      // Our SYN is acknowledged: RTT sample (Karn: only if the SYN was sent once) and SND.UNA.
      AckInput in;
      in.ack = h.ack;
      in.now = now;
      const AckResult r = queue_.OnAck(in);
      FeedRttSample(r, h, now);
      rto_deadline_.reset();
      soft_error_ = false;
      EnterEstablished(now);
      if (ts_ok_ && h.options.timestamps) UpdateTsRecent(h, h.seq, now);
      // RFC 9293: "form an ACK segment and send it"; data or a FIN on the SYN-ACK continue at the
      // sixth step.
      ack_now_ = true;
      ProcessText(h.seq + 1, seg.payload, h.flags.fin(), h, now, out);
      return;
    }
    // Simultaneous open (RFC 9293 §3.10.7.3, figure 8): SYN-RECEIVED, SYN-ACK.
    state_ = TcpState::kSynReceived;
    SendSyn(now, out, /*retransmission=*/true);
  }

  // ---- Input: every other state (RFC 9293 §3.10.7.4) --------------------------------------------

  void OnSegmentSynchronized(const InboundSegment& seg, Instant now, SegmentSink& out) {
    const wire::TcpRepr& h = seg.header;
    const bool rst = h.flags.rst();
    TcpSeq seq = h.seq;
    bool syn = h.flags.syn();

    if (state_ == TcpState::kSynReceived && syn && !rst) {
      if (!h.flags.ack() && h.seq == irs_) {
        // The peer retransmitted its SYN: our SYN-ACK was lost. Answer it again (Linux's
        // tcp_check_req) instead of the challenge ACK of a synchronized state.
        SendSyn(now, out, /*retransmission=*/true);
        return;
      }
      if (h.flags.ack() && h.seq == irs_ && seg.payload.empty() && h.ack == queue_.snd_nxt()) {
        // Simultaneous open (RFC 9293 figure 8 line 6): the peer's SYN-ACK completes our
        // SYN-RECEIVED; its SYN octet is old, the ACK is what matters (Linux does the same).
        seq = seq + 1;
        syn = false;
      }
    }

    // RFC 7323 §3.2: once negotiated, a non-RST segment without timestamps is dropped.
    if (ts_ok_ && !h.options.timestamps && !rst) {
      counters_.Add(TcpCounter::kUnacceptableSegments);
      return;
    }
    // RFC 7323 §5.3 PAWS (R1-R3), before the sequence number check.
    if (ts_ok_ && h.options.timestamps && ts_recent_valid_ && !rst) {
      const int32_t age = static_cast<int32_t>(h.options.timestamps->tsval - ts_recent_);
      if (age < 0) {
        if (now - ts_recent_stamp_ > kPawsIdle) {
          // §5.5: TS.Recent is too old to compare with.
          ts_recent_valid_ = false;
        } else {
          counters_.Add(TcpCounter::kPawsDrops);
          SendAck(now, out);
          return;
        }
      }
    }

    // Whatever passed the timestamp checks came over the path (SendState::last_heard).
    last_heard_ = now;

    // First, check the sequence number.
    const uint32_t payload_len = static_cast<uint32_t>(seg.payload.size());
    const uint32_t seg_len = payload_len + (syn ? 1 : 0) + (h.flags.fin() ? 1 : 0);
    const uint32_t wnd = CurrentRcvWnd();
    if (!Acceptable(seq, seg_len, wnd)) {
      if (state_ == TcpState::kTimeWait && h.flags.fin() && !rst && seq + seg_len == rcv_nxt_) {
        // RFC 9293 §3.10.7.4 TIME-WAIT: a retransmitted FIN is acknowledged again and the 2·MSL
        // timer restarts.
        SendAck(now, out);
        close_deadline_ = now + config_.time_wait;
        return;
      }
      if (rst) return;  // RFC 5961 §3.2: an out-of-window RST is dropped silently.
      const bool old = seq + seg_len <= rcv_nxt_ && seg_len > 0;
      if (old) {
        counters_.Add(TcpCounter::kDuplicateSegmentsIn);
        // RFC 2883 §4: report the duplicate.
        if (sack_ok_ && payload_len > 0) {
          pending_dsack_ = SeqRange<TcpSeq>{seq, seq + payload_len};
        }
      } else {
        counters_.Add(TcpCounter::kUnacceptableSegments);
      }
      SendAck(now, out);
      return;
    }
    // Zero-window special allowance (RFC 9293 §3.10.7.4): the ACK and RST are processed, the text
    // is not.
    std::span<const uint8_t> payload = seg.payload;
    bool fin = h.flags.fin();
    {
      // Trim what lies beyond the window's right edge (and a FIN with it).
      const TcpSeq right = rcv_nxt_ + wnd;
      const TcpSeq text_seq = seq + (syn ? 1 : 0);
      const int32_t room = right - text_seq;
      if (room < static_cast<int32_t>(payload.size())) {
        payload = payload.first(room > 0 ? static_cast<size_t>(room) : 0);
        fin = false;
        ack_now_ = true;
      }
    }
    // Second, check the RST bit (RFC 5961 §3.2).
    if (rst) {
      if (seq != rcv_nxt_) {
        (void)SendChallengeAck(now, out);
        return;
      }
      counters_.Add(TcpCounter::kResetsIn);
      switch (state_) {
        case TcpState::kSynReceived:
          // Passive: the listener keeps listening; active (simultaneous open): refused.
          EnterClosed(passive_ ? TcpEvent::ResetReason::kPeerReset
                               : TcpEvent::ResetReason::kRefused);
          return;
        case TcpState::kEstablished:
        case TcpState::kFinWait1:
        case TcpState::kFinWait2:
        case TcpState::kCloseWait:
          EnterClosed(TcpEvent::ResetReason::kPeerReset);
          return;
        default:
          // CLOSING, LAST-ACK, TIME-WAIT: the application is done; just go away.
          EnterClosed(TcpEvent::ResetReason::kNone);
          return;
      }
    }

    // Third, security and compartment: no IP security option in Braid (step 3 does not apply).

    // Fourth, check the SYN bit (RFC 5961 §4.2: a challenge ACK, whatever the sequence number).
    if (syn) {
      (void)SendChallengeAck(now, out);
      return;
    }

    // Fifth, check the ACK field.
    if (!h.flags.ack()) return;
    last_rcv_time_ = now;
    keepalive_probes_out_ = 0;
    ArmKeepalive(now);
    if (state_ == TcpState::kSynReceived) {
      if (!(queue_.snd_una() < h.ack) || queue_.snd_nxt() < h.ack) {
        // RFC 9293: <SEQ=SEG.ACK><CTL=RST>.
        SendResetFor(seg, now, out);
        return;
      }
      snd_wnd_ = static_cast<uint32_t>(h.window) << snd_wscale_;
      max_snd_wnd_ = std::max(max_snd_wnd_, snd_wnd_);
      snd_wl1_ = seq;
      snd_wl2_ = h.ack;
      rto_deadline_.reset();
      EnterEstablished(now);
    }
    if (!ProcessAck(seg, seq, payload.size(), fin, now, out)) return;
    // RFC 7323 §4.3 (2): TS.Recent, from a segment that passed every check so far (like Linux's
    // tcp_replace_ts_recent after tcp_ack): an in-window RST or SYN answered with a challenge ACK
    // must not move it, or a blind attacker could make PAWS reject the real peer.
    if (ts_ok_ && h.options.timestamps) UpdateTsRecent(h, seq, now);

    switch (state_) {
      case TcpState::kFinWait1:
        if (FinAcked()) {
          state_ = TcpState::kFinWait2;
          ArmFinWait2(now);
        }
        break;
      case TcpState::kClosing:
        if (FinAcked()) EnterTimeWait(now);
        break;
      case TcpState::kLastAck:
        if (FinAcked()) {
          EnterClosed(TcpEvent::ResetReason::kNone);
          return;
        }
        break;
      default:
        break;
    }

    // Sixth, check the URG bit: urgent data is not supported; the pointer is ignored and the bytes
    // are delivered in line as ordinary data (what Linux's SO_OOBINLINE does), so nothing is lost
    // or reordered.

    // Seventh and eighth: segment text and FIN.
    ProcessText(seq, payload, fin, h, now, out);
  }

  bool Acceptable(TcpSeq seq, uint32_t seg_len, uint32_t wnd) const {
    // RFC 9293 §3.10.7.4 table, with Linux's two allowances: a zero-length segment at the right
    // edge, and a segment at RCV.NXT when the window is zero (its ACK is processed; its text is
    // dropped by the trim below).
    const TcpSeq right = rcv_nxt_ + wnd;
    if (seg_len == 0) return rcv_nxt_ <= seq && seq <= right;
    if (wnd == 0) return seq == rcv_nxt_;
    const TcpSeq last = seq + (seg_len - 1);
    return (rcv_nxt_ <= seq && seq < right) || (rcv_nxt_ <= last && last < right) ||
           (seq < rcv_nxt_ && right <= last);
  }

  void UpdateTsRecent(const wire::TcpRepr& h, TcpSeq seq, Instant now) {
    // RFC 7323 §4.3 (2): SEG.TSval >= TS.Recent and SEG.SEQ <= Last.ACK.sent.
    const uint32_t tsval = h.options.timestamps->tsval;
    if (ts_recent_valid_ && static_cast<int32_t>(tsval - ts_recent_) < 0) return;
    if (last_ack_sent_known_ && last_ack_sent_ < seq) return;
    ts_recent_ = tsval;
    ts_recent_valid_ = true;
    ts_recent_stamp_ = now;
  }

  bool FinAcked() const { return fin_sent_ && fin_seq_ + 1 <= queue_.snd_una(); }

  void FeedRttSample(const AckResult& r, const wire::TcpRepr& h, Instant now) {
    if (r.disposition != AckDisposition::kAdvanced) return;
    std::optional<Duration> sample = r.rtt_sample;
    if (!sample && ts_ok_ && h.options.timestamps && h.options.timestamps->tsecr != 0) {
      // RFC 7323 §4: TSecr echoes the send time of the segment that triggered this ACK.
      const uint32_t ago = TsVal(now) - h.options.timestamps->tsecr;
      if (ago < 0x7fffffffu &&
          std::chrono::milliseconds(ago) <=
              std::chrono::duration_cast<std::chrono::milliseconds>(config_.rtt.max_rto)) {
        sample = std::chrono::milliseconds(ago);
      }
    }
    if (sample) {
      rtt_.OnRttSample(*sample, now);
      last_ack_rtt_sampled_ = true;
      last_ack_sample_ = sample;
    }
  }

  // RFC 9293 §3.10.7.4 fifth step for synchronized states. False: the segment was dropped.
  bool ProcessAck(const InboundSegment& seg, TcpSeq seq, size_t text_len, bool fin, Instant now,
                  SegmentSink& out) {
    const wire::TcpRepr& h = seg.header;
    const TcpSeq ack = h.ack;
    // RFC 5961 §5.2: SND.UNA - MAX.SND.WND <= SEG.ACK <= SND.NXT.
    if (queue_.snd_nxt() < ack) {
      counters_.Add(TcpCounter::kAckUnsent);
      (void)SendChallengeAck(now, out);
      return false;
    }
    if (ack < queue_.snd_una() - max_snd_wnd_) {
      counters_.Add(TcpCounter::kAckTooOld);
      (void)SendChallengeAck(now, out);
      return false;
    }
    // The peer answers: whatever a soft error said about the path is stale (Linux's tcp_ack
    // clears sk_err_soft here).
    soft_error_ = false;

    const uint32_t prior_wnd = snd_wnd_;
    const bool was_fast_recovery = recovery_.state() == RecoveryState::kFastRecovery;
    const uint32_t prior_flight = queue_.flight_size();

    AckInput in;
    in.ack = ack;
    in.now = now;
    in.min_rtt = rtt_.min_rtt();
    if (sack_ok_) in.sack_blocks = h.options.sack_blocks.items();
    if (ts_ok_ && h.options.timestamps && h.options.timestamps->tsecr != 0) {
      // The latest instant a segment carrying TSval == TSecr can have left (1 ms clock).
      const uint32_t ago = TsVal(now) - h.options.timestamps->tsecr;
      if (ago < 0x7fffffffu) {
        const int64_t ms = Millis(now) - ago;
        in.echoed_send_time = InstantFromNanos((ms + 1) * 1'000'000 - 1);
      }
    }
    const AckResult r = queue_.OnAck(in);
    last_ack_rtt_sampled_ = false;
    last_ack_sample_.reset();
    FeedRttSample(r, h, now);
    if (r.dsack) counters_.Add(TcpCounter::kDsacksIn);

    // Window update (RFC 9293 §3.10.7.4): only from an ACK at or above SND.UNA (an older one
    // describes a window relative to data already acknowledged), and only when SND.WL1 < SEG.SEQ,
    // or SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK.
    if (!(ack < r.prior_snd_una) && (snd_wl1_ < seq || (snd_wl1_ == seq && snd_wl2_ <= ack))) {
      snd_wnd_ = static_cast<uint32_t>(h.window) << snd_wscale_;
      snd_wl1_ = seq;
      snd_wl2_ = ack;
      max_snd_wnd_ = std::max(max_snd_wnd_, snd_wnd_);
    }
    if (snd_wnd_ > 0 && prior_wnd == 0) persist_backoff_ = 0;
    persist_probes_ = 0;

    // RFC 5681 §2 duplicate ACK.
    const bool pure_dup = r.disposition == AckDisposition::kDuplicate && text_len == 0 && !fin &&
                          snd_wnd_ == prior_wnd && prior_flight > 0;
    if (pure_dup || r.duplicate()) counters_.Add(TcpCounter::kDuplicateAcksIn);

    uint32_t data_acked = 0;
    if (r.disposition == AckDisposition::kAdvanced) {
      data_acked = r.acked_bytes - (r.syn_acked ? 1 : 0) - (r.fin_acked ? 1 : 0);
      send_buf_.AckTo(TcpSeq::Min(ack, send_buf_.end_seq()));
      consecutive_rtos_ = 0;
      counters_.Add(TcpCounter::kBytesAcked, data_acked);
      events_.acked_bytes += data_acked;
      if (send_full_ && send_buf_.free() > 0) {
        send_full_ = false;
        events_.writable = true;
      }
      UpdateDeliveryRate(data_acked, now);
    }

    // Loss detection (retransmit_queue.h "The contract with the connection", steps 2-5).
    RecoveryEvents ev = recovery_.OnAck(queue_, r);
    bool partial_ack = false;
    if (!sack_ok_) {
      if (pure_dup) {
        ++dupacks_;
        if (recovery_.state() == RecoveryState::kFastRecovery) {
          inflation_ += smss_;  // RFC 6582 §3.2 step 4
        } else if (dupacks_ == SackRecovery::kDupThresh) {
          const RecoveryEvents entry = recovery_.EnterRecovery(queue_);
          ev.entered = entry.entered;
          ev.fast_retransmit = entry.fast_retransmit;
        }
      } else if (r.disposition == AckDisposition::kAdvanced) {
        dupacks_ = 0;
        partial_ack = was_fast_recovery && !ev.exited;
      }
    }
    if (ev.spurious) {
      counters_.Add(TcpCounter::kSpuriousRetransmits);
      (void)cc_.OnSpuriousCongestion(now);
    }
    if (rack_on_) {
      const Rack::AckOutput ro = rack_.OnAck(queue_, r,
                                             {.now = now,
                                              .srtt = rtt_.srtt(),
                                              .min_rtt = rtt_.min_rtt(),
                                              .rtt_sampled = last_ack_rtt_sampled_,
                                              .in_recovery = recovery_.in_recovery(),
                                              .exited_recovery = ev.exited,
                                              .pure_dup_ack = pure_dup});
      reorder_deadline_ = ro.loss.reorder_deadline;
      switch (ro.tlp) {
        case TlpOutcome::kLossRepaired:
          // RFC 8985 §7.4.2: the probe repaired a tail loss: one congestion response.
          counters_.Add(TcpCounter::kTlpRecoveries);
          cc_.OnCongestionEvent({now, prior_flight});
          cc_.OnRecoveryExit(now);
          break;
        case TlpOutcome::kSpurious:
          counters_.Add(TcpCounter::kSpuriousRetransmits);
          break;
        case TlpOutcome::kNewDataDelivered:
        case TlpOutcome::kNone:
          break;
      }
      if (ro.loss.lost_segments > 0 && !recovery_.in_recovery() && !ev.entered) {
        const RecoveryEvents entry = recovery_.EnterRecovery(queue_);
        ev.entered = entry.entered;
        ev.fast_retransmit = entry.fast_retransmit;
      }
    }

    // Congestion control (congestion_control.h steps 2 and 4).
    if (r.disposition == AckDisposition::kAdvanced) {
      AckEvent ae;
      ae.now = now;
      ae.bytes_acked = r.acked_bytes;
      ae.rtt_sample = last_ack_sample_;
      ae.srtt = rtt_.srtt();
      ae.min_rtt = rtt_.min_rtt();
      ae.bytes_in_flight = queue_.flight_size();
      ae.in_recovery = was_fast_recovery;
      ae.cwnd_limited = CwndLimited();
      ae.snd_una = queue_.snd_una();
      ae.snd_nxt = queue_.snd_nxt();
      cc_.OnAck(ae);
      EndRoundIfDone();
    }
    if (ev.exited && ev.exited_from == RecoveryState::kFastRecovery) {
      cc_.OnRecoveryExit(now);
      inflation_ = 0;
    }
    if (ev.exited) pmtu_episode_ = false;

    if (ev.entered) {
      OnEnterRecovery(ev, r.delivered_bytes, now, out);
    } else if (recovery_.state() == RecoveryState::kFastRecovery) {
      if (sack_ok_) {
        prr_delivered_ += r.delivered_bytes;
        UpdatePrr(r.delivered_bytes);
      } else if (partial_ack) {
        // RFC 6582 §3.2 step 5: retransmit the first unacknowledged segment, deflate the window by
        // the amount acknowledged, add back one SMSS if that was at least one.
        inflation_ -= data_acked;
        if (data_acked >= smss_) inflation_ += smss_;
        (void)queue_.MarkLostAt(0);
        NextSegment rtx = recovery_.NextSeg(queue_, 0);
        if (rtx.retransmission()) {
          ClampRetransmission(rtx);
          SendSegment(rtx, now, out);
        }
      }
    }

    // Timers (RFC 6298 §5.2-5.3, RFC 8985 §7.2).
    if (queue_.empty()) {
      rto_deadline_.reset();
      pto_deadline_.reset();
    } else if (r.disposition == AckDisposition::kAdvanced) {
      ArmRto(now, /*restart=*/true);
      ArmPto(now);
    } else if (pto_deadline_ && queue_.sacked_segments() > 0) {
      pto_deadline_.reset();
    }
    return true;
  }

  void OnEnterRecovery(const RecoveryEvents& ev, uint32_t delivered, Instant now,
                       SegmentSink& out) {
    // congestion_control.h step 3, RFC 6675 §5 step 4, RFC 6937 initialisation.
    counters_.Add(TcpCounter::kRecoveries);
    const uint32_t flight = queue_.flight_size();
    cc_.OnCongestionEvent({now, flight});
    rack_.OnEnterRecovery();
    pto_deadline_.reset();
    recover_fs_ = std::max<uint32_t>(flight, 1);
    prr_delivered_ = delivered;
    prr_out_ = 0;
    prr_sndcnt_ = 0;
    inflation_ = sack_ok_ ? 0 : int64_t{SackRecovery::kDupThresh} * smss_;  // RFC 6582 step 3
    if (ev.fast_retransmit) {
      NextSegment seg = *ev.fast_retransmit;
      ClampRetransmission(seg);
      SendSegment(seg, now, out);
      prr_out_ += seg.len();
    }
    if (sack_ok_) UpdatePrr(delivered);
  }

  // RFC 6937 §3: sndcnt for this ACK, with PRR-SSRB as the reduction bound.
  void UpdatePrr(uint32_t delivered) {
    const uint64_t pipe = recovery_.Pipe(queue_);
    // Bounded so the products below cannot overflow (a window is below 2^30 anyway).
    const uint64_t ssthresh = std::min<uint64_t>(cc_.ssthresh(), uint64_t{1} << 32);
    int64_t sndcnt = 0;
    if (pipe > ssthresh) {
      const uint64_t target = (prr_delivered_ * ssthresh + recover_fs_ - 1) / recover_fs_;
      sndcnt = static_cast<int64_t>(target) - static_cast<int64_t>(prr_out_);
    } else {
      const int64_t limit =
          std::max<int64_t>(static_cast<int64_t>(prr_delivered_) - static_cast<int64_t>(prr_out_),
                            delivered) +
          smss_;
      sndcnt = std::min<int64_t>(static_cast<int64_t>(ssthresh - pipe), limit);
    }
    prr_sndcnt_ = sndcnt > 0 ? static_cast<uint64_t>(sndcnt) : 0;
  }

  // Linux's tcp_is_cwnd_limited: in slow start, cwnd below twice the largest flight of the round;
  // in congestion avoidance, whether sending stopped at cwnd during the round.
  bool CwndLimited() const {
    if (cc_.InSlowStart()) return cc_.cwnd() < 2 * std::max(max_pipe_round_, uint64_t{1});
    return cwnd_blocked_ || cwnd_blocked_prev_round_;
  }

  void EndRoundIfDone() {
    if (!round_end_ || *round_end_ <= queue_.snd_una()) {
      round_end_ = queue_.snd_nxt();
      cwnd_blocked_prev_round_ = cwnd_blocked_;
      cwnd_blocked_ = false;
      max_pipe_round_ = recovery_.Pipe(queue_);
    }
  }

  void UpdateDeliveryRate(uint32_t acked, Instant now) {
    rate_bytes_ += acked;
    if (!rate_start_) {
      rate_start_ = now;
      return;
    }
    const Duration span = now - *rate_start_;
    const Duration window = std::max<Duration>(rtt_.srtt(), 1ms);
    if (span >= window) {
      delivery_rate_bps_ =
          static_cast<uint64_t>(static_cast<double>(rate_bytes_) * 8e9 /
                                static_cast<double>(std::max<int64_t>(span.count(), 1)));
      rate_bytes_ = 0;
      rate_start_ = now;
    }
  }

  // ---- Text and FIN (RFC 9293 §3.10.7.4 seventh and eighth steps) -------------------------------

  void ProcessText(TcpSeq text_seq, std::span<const uint8_t> payload, bool fin,
                   const wire::TcpRepr& h, Instant now, SegmentSink& out) {
    const bool text_states = state_ == TcpState::kEstablished || state_ == TcpState::kFinWait1 ||
                             state_ == TcpState::kFinWait2;
    if (!payload.empty() && text_states) {
      if (orphaned_ && fin_queued_ && rcv_nxt_ < text_seq + static_cast<uint32_t>(payload.size())) {
        // New data for an application that closed: Linux resets (tcp_rcv_state_process).
        Transmit({.flags = TcpFlag::kRst | TcpFlag::kAck, .seq = queue_.snd_nxt()}, now, out);
        EnterClosed(TcpEvent::ResetReason::kAbortedLocally);
        return;
      }
      ReceiveText(text_seq, payload, h, now);
    }
    if (fin && text_states) {
      peer_fin_seq_ = text_seq + static_cast<uint32_t>(payload.size());
    }
    MaybeProcessFin(now);
  }

  void ReceiveText(TcpSeq seq, std::span<const uint8_t> payload, const wire::TcpRepr& h,
                   Instant now) {
    rcv_mss_ = std::max<uint32_t>(rcv_mss_, static_cast<uint32_t>(payload.size()));
    const TcpSeq prior_nxt = rcv_nxt_;
    const bool had_holes = !ooo_.empty();
    const ReassemblyResult<TcpSeq> r = ooo_.Insert(
        seq, payload, [this](std::span<const uint8_t> bytes) { (void)rcv_ring_.Append(bytes); });
    if (r.delivered > 0) {
      rcv_nxt_ = ooo_.next();
      counters_.Add(TcpCounter::kBytesReceived, r.delivered);
      events_.readable = true;
      unacked_bytes_ += static_cast<uint32_t>(r.delivered);
      MeasureRcvRtt(h, now);
      ack_pending_ = true;
    }
    if (r.stored > 0) counters_.Add(TcpCounter::kOutOfOrderSegments);
    if (r.refused > 0) counters_.Add(TcpCounter::kOutOfOrderDrops);
    if (r.dsack && sack_ok_) pending_dsack_ = *r.dsack;

    if (prior_nxt < seq || r.stored > 0) {
      // RFC 5681 §4.2: out-of-order data is acknowledged at once, and the receiver stays in quick
      // ACK mode for a while (Linux's tcp_enter_quickack_mode).
      ack_now_ = true;
      quickack_left_ = std::max(quickack_left_, config_.quickack_segments);
      counters_.Add(TcpCounter::kQuickAcks);
      return;
    }
    if (r.duplicate > 0 || (had_holes && r.delivered > payload.size())) {
      // A duplicate, or the segment filled a hole (RFC 5681 §4.2): immediately.
      ack_now_ = true;
      counters_.Add(TcpCounter::kQuickAcks);
      return;
    }
    if (r.delivered == 0) return;
    if (quickack_left_ > 0) {
      --quickack_left_;
      ack_now_ = true;
      counters_.Add(TcpCounter::kQuickAcks);
      return;
    }
    // Delayed ACK (RFC 5681 §4.2, RFC 1122 §4.2.3.2): every delayed_ack_segments full-sized
    // segments, or when the timer fires.
    const uint32_t full = std::max<uint32_t>(rcv_mss_, 1);
    if (unacked_bytes_ >= uint64_t{std::max<uint32_t>(config_.delayed_ack_segments, 1)} * full) {
      ack_now_ = true;
    }
  }

  void MaybeProcessFin(Instant now) {
    if (!peer_fin_seq_ || peer_fin_ || rcv_nxt_ != *peer_fin_seq_) return;
    // Eighth, check the FIN bit: in order, so it is processed now.
    peer_fin_ = true;
    rcv_nxt_ = rcv_nxt_ + 1;
    events_.peer_fin = true;
    ack_now_ = true;
    switch (state_) {
      case TcpState::kSynReceived:
      case TcpState::kEstablished:
        state_ = TcpState::kCloseWait;
        break;
      case TcpState::kFinWait1:
        // Simultaneous close unless our FIN is acknowledged already.
        if (FinAcked()) {
          EnterTimeWait(now);
        } else {
          state_ = TcpState::kClosing;
        }
        break;
      case TcpState::kFinWait2:
        EnterTimeWait(now);
        break;
      case TcpState::kTimeWait:
        close_deadline_ = now + config_.time_wait;
        break;
      default:
        break;
    }
  }

  // After every input: send what became sendable, then the ACK if still owed.
  void FinishInput(Instant now, SegmentSink& out) {
    if (state_ == TcpState::kClosed) return;
    Output(now, out);
    if (ack_now_) {
      SendAck(now, out);
    } else if (ack_pending_ && !delack_deadline_) {
      delack_deadline_ = now + config_.delayed_ack_timeout;
    }
  }

  // ---- Receive-window auto-tuning (Linux's tcp_rcv_space_adjust, DRS) ---------------------------

  void MeasureRcvRtt(const wire::TcpRepr& h, Instant now) {
    // RTT as the receiver sees it: from our TSval echoed in the data (RFC 7323), otherwise the time
    // to receive one window's worth of data (Linux's tcp_rcv_rtt_measure).
    std::optional<Duration> sample;
    if (ts_ok_ && h.options.timestamps && h.options.timestamps->tsecr != 0) {
      const uint32_t ago = TsVal(now) - h.options.timestamps->tsecr;
      if (ago < 0x7fffffffu) sample = std::max<Duration>(std::chrono::milliseconds(ago), 1ms);
    } else if (rcv_rtt_seq_ && *rcv_rtt_seq_ <= rcv_nxt_) {
      sample = std::max<Duration>(now - rcv_rtt_time_, 1ms);
      rcv_rtt_seq_.reset();
    }
    if (!rcv_rtt_seq_) {
      rcv_rtt_seq_ = rcv_nxt_ + std::max<uint32_t>(CurrentRcvWnd(), 1);
      rcv_rtt_time_ = now;
    }
    if (sample) {
      rcv_rtt_ = rcv_rtt_ == Duration::zero() ? *sample : (rcv_rtt_ * 7 + *sample) / 8;
    }
  }

  void AutotuneOnCopy(size_t copied, Instant now) {
    if (!config_.receive_buffer_autotune) return;
    copied_ += copied;
    if (!copy_epoch_) {
      copy_epoch_ = now;
      return;
    }
    if (rcv_rtt_ == Duration::zero() || now - *copy_epoch_ < rcv_rtt_) return;
    // Linux's tcp_rcv_space_adjust (DRS): the sender may double its rate in the next RTT and we see
    // it one RTT late, so announce at least twice what the application consumed in the last RTT
    // plus 16 segments, and proportionally more while that amount keeps growing.
    if (copied_ > rcvq_space_) {
      uint64_t rcvwin = 2 * copied_ + 16 * uint64_t{BaseMss()};
      if (rcvq_space_ > 0) rcvwin += 2 * rcvwin * (copied_ - rcvq_space_) / rcvq_space_;
      rcvwin = std::min<uint64_t>(rcvwin, config_.receive_buffer);
      if (rcvwin > window_clamp_) window_clamp_ = static_cast<uint32_t>(rcvwin);
      rcvq_space_ = copied_;
    }
    copied_ = 0;
    copy_epoch_ = now;
  }

  void MaybeSendWindowUpdate(Instant now, SegmentSink& out) {
    if (!irs_known_ || peer_fin_ ||
        !(state_ == TcpState::kEstablished || state_ == TcpState::kFinWait1 ||
          state_ == TcpState::kFinWait2)) {
      return;
    }
    // Linux's tcp_cleanup_rbuf rule on top of receiver SWS avoidance: announce the window when it
    // would at least double and grow by at least one MSS.
    const uint32_t cur = CurrentRcvWnd();
    const uint32_t space = RcvSpace();
    const uint32_t step = std::min(config_.receive_buffer / 2, BaseMss());
    if (space >= cur + step && space >= 2 * cur) {
      counters_.Add(TcpCounter::kWindowUpdates);
      SendAck(now, out);
    }
  }

  // ---- State ------------------------------------------------------------------------------------

  TcpConfig config_;
  FlowKey flow_;
  TcpHooks* hooks_;
  TcpState state_ = TcpState::kClosed;
  bool passive_ = false;
  bool orphaned_ = false;

  TcpSeq iss_;
  TcpSeq irs_;
  bool irs_known_ = false;

  // Options and sizes.
  uint16_t our_mss_;
  // The path MTU's MSS (RFC 1191, RFC 8201): starts as ours (the first hop's MTU, RFC 1191 §3)
  // and only goes down, by OnPathMtu.
  uint32_t pmtu_mss_;
  uint16_t peer_mss_ = 536;
  uint32_t smss_ = 536;
  uint32_t rcv_mss_ = 0;  // largest segment payload received
  uint8_t our_wscale_;
  uint8_t snd_wscale_ = 0;
  uint8_t rcv_wscale_ = 0;
  bool ws_ok_ = false;
  bool sack_ok_ = false;
  bool ts_ok_ = false;
  uint16_t syn_window_ = 0;

  // Send side.
  SendBuffer send_buf_;
  RetransmitQueue queue_;
  uint32_t snd_wnd_ = 0;
  uint32_t max_snd_wnd_ = 0;
  TcpSeq snd_wl1_;
  TcpSeq snd_wl2_;
  bool fin_queued_ = false;
  bool fin_sent_ = false;
  TcpSeq fin_seq_;
  bool send_full_ = false;
  std::optional<TcpSeq> small_end_;  // end of the latest short segment (Nagle, Minshall)
  std::optional<Instant> last_send_time_;
  Instant last_heard_{};  // SendState::last_heard

  // Receive side.
  TcpSeq rcv_nxt_;
  TcpSeq rcv_adv_;
  TcpSeq rcv_read_seq_;
  ByteRing rcv_ring_;
  ReassemblyQueue<TcpSeq> ooo_;
  std::optional<TcpSeq> peer_fin_seq_;
  bool peer_fin_ = false;
  uint32_t window_clamp_ = 0;
  uint64_t copied_ = 0;      // bytes the application read in the current RTT
  uint64_t rcvq_space_ = 0;  // the most it read in one RTT so far
  std::optional<Instant> copy_epoch_;
  Duration rcv_rtt_{0};
  std::optional<TcpSeq> rcv_rtt_seq_;
  Instant rcv_rtt_time_;

  // ACK generation.
  bool ack_now_ = false;
  bool ack_pending_ = false;
  uint64_t unacked_bytes_ = 0;
  uint32_t quickack_left_ = 0;
  std::optional<SeqRange<TcpSeq>> pending_dsack_;
  TcpSeq last_ack_sent_;
  bool last_ack_sent_known_ = false;
  std::optional<Instant> last_challenge_ack_;
  std::optional<Instant> last_rcv_time_;

  // Timestamps (RFC 7323).
  uint32_t ts_offset_;
  uint32_t ts_recent_ = 0;
  bool ts_recent_valid_ = false;
  Instant ts_recent_stamp_;

  // RTT, congestion control, loss recovery.
  RttEstimator rtt_;
  CongestionController cc_;
  SackRecovery recovery_;
  Rack rack_;
  bool rack_on_ = false;
  bool last_ack_rtt_sampled_ = false;
  std::optional<Duration> last_ack_sample_;
  uint32_t dupacks_ = 0;
  int64_t inflation_ = 0;
  uint64_t prr_delivered_ = 0;
  uint64_t prr_out_ = 0;
  uint64_t prr_sndcnt_ = 0;
  uint64_t recover_fs_ = 1;
  bool cwnd_blocked_ = false;
  bool cwnd_blocked_prev_round_ = false;
  uint64_t max_pipe_round_ = 0;
  std::optional<TcpSeq> round_end_;
  uint64_t rate_bytes_ = 0;
  std::optional<Instant> rate_start_;
  uint64_t delivery_rate_bps_ = 0;

  // Timers.
  std::optional<Instant> rto_deadline_;
  std::optional<Instant> pto_deadline_;
  std::optional<Instant> reorder_deadline_;
  std::optional<Instant> delack_deadline_;
  std::optional<Instant> persist_deadline_;
  std::optional<Instant> keepalive_deadline_;
  std::optional<Instant> close_deadline_;
  uint32_t syn_retransmits_ = 0;
  bool handshake_retransmitted_ = false;
  uint32_t consecutive_rtos_ = 0;
  uint32_t persist_backoff_ = 0;
  uint32_t persist_probes_ = 0;
  uint32_t keepalive_probes_out_ = 0;
  bool nagle_;
  bool keepalive_;

  // The recovery episode under way was started by a lower path MTU (RetransmitTooLarge), not an
  // RTO: its retransmissions count as pmtu_retransmits.
  bool pmtu_episode_ = false;
  // An ICMP soft error arrived since the last acceptable ACK (Linux's sk_err_soft).
  bool soft_error_ = false;

  ConnectionEvents events_;
  TcpCounters counters_;
};

// ---- TcpConnection ------------------------------------------------------------------------------

namespace {

std::optional<CongestionController> MakeController(const TcpConfig& config) {
  CcParams params;
  params.common.smss = config.mss;
  params.common.initial_window_segments = config.initial_window_segments;
  params.coupling = config.coupling;
  auto cc = Registry().Create(config.congestion_control, params);
  if (!cc.ok()) return std::nullopt;
  return cc.value();
}

}  // namespace

TcpConnection::TcpConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TcpConnection::~TcpConnection() = default;

std::unique_ptr<TcpConnection> TcpConnection::Connect(const TcpConfig& config, const FlowKey& flow,
                                                      wire::TcpSeq iss, TcpHooks* hooks,
                                                      Instant now, SegmentSink& out,
                                                      TcpError* error) {
  return Connect(config, flow, iss, DeriveTsOffset(iss), hooks, now, out, error);
}

std::unique_ptr<TcpConnection> TcpConnection::Connect(const TcpConfig& config, const FlowKey& flow,
                                                      wire::TcpSeq iss, uint32_t ts_offset,
                                                      TcpHooks* hooks, Instant now,
                                                      SegmentSink& out, TcpError* error) {
  std::optional<CongestionController> cc = MakeController(config);
  if (!cc) {
    if (error != nullptr) *error = TcpError::kUnknownCongestionControl;
    return nullptr;
  }
  auto impl = std::make_unique<Impl>(config, flow, iss, ts_offset, hooks, *cc);
  impl->StartActiveOpen(now, out);
  if (error != nullptr) *error = TcpError::kOk;
  return std::unique_ptr<TcpConnection>(new TcpConnection(std::move(impl)));
}

std::unique_ptr<TcpConnection> TcpConnection::AcceptSyn(const TcpConfig& config,
                                                        const PassiveOpen& syn, TcpHooks* hooks,
                                                        Instant now, SegmentSink& out,
                                                        TcpError* error) {
  std::optional<CongestionController> cc = MakeController(config);
  if (!cc) {
    if (error != nullptr) *error = TcpError::kUnknownCongestionControl;
    return nullptr;
  }
  auto impl = std::make_unique<Impl>(config, syn.flow, syn.iss,
                                     syn.ts_offset.value_or(DeriveTsOffset(syn.iss)), hooks, *cc);
  impl->StartPassiveOpen(syn, now, out);
  if (error != nullptr) *error = TcpError::kOk;
  return std::unique_ptr<TcpConnection>(new TcpConnection(std::move(impl)));
}

std::unique_ptr<TcpConnection> TcpConnection::AcceptCookie(const TcpConfig& config,
                                                           const PassiveOpen& syn,
                                                           const InboundSegment& ack,
                                                           TcpHooks* hooks, Instant now,
                                                           SegmentSink& out, TcpError* error) {
  std::optional<CongestionController> cc = MakeController(config);
  if (!cc) {
    if (error != nullptr) *error = TcpError::kUnknownCongestionControl;
    return nullptr;
  }
  auto impl = std::make_unique<Impl>(config, syn.flow, syn.iss,
                                     syn.ts_offset.value_or(DeriveTsOffset(syn.iss)), hooks, *cc);
  impl->StartCookieOpen(syn, ack, now, out);
  if (error != nullptr) *error = TcpError::kOk;
  return std::unique_ptr<TcpConnection>(new TcpConnection(std::move(impl)));
}

void TcpConnection::OnSegment(const InboundSegment& segment, Instant now, SegmentSink& out) {
  impl_->OnSegment(segment, now, out);
}
void TcpConnection::OnTimer(Instant now, SegmentSink& out) { impl_->OnTimer(now, out); }
std::optional<Instant> TcpConnection::PollAt() const { return impl_->PollAt(); }
void TcpConnection::OnPathMtu(uint32_t path_mtu, wire::TcpSeq quoted_seq, Instant now,
                              SegmentSink& out) {
  impl_->OnPathMtu(path_mtu, quoted_seq, now, out);
}
void TcpConnection::OnSoftError(wire::TcpSeq quoted_seq) { impl_->OnSoftError(quoted_seq); }
SendResult TcpConnection::Send(std::span<const uint8_t> bytes, Instant now, SegmentSink& out) {
  return impl_->Send(bytes, now, out);
}
ReceiveResult TcpConnection::Receive(std::span<uint8_t> out_bytes, Instant now, SegmentSink& out) {
  return impl_->Receive(out_bytes, now, out);
}
TcpError TcpConnection::Shutdown(Instant now, SegmentSink& out) {
  return impl_->Shutdown(now, out);
}
void TcpConnection::Abort(Instant now, SegmentSink& out) { impl_->Abort(now, out); }
TcpError TcpConnection::Close(Instant now, SegmentSink& out) { return impl_->Close(now, out); }
TcpState TcpConnection::state() const { return impl_->state(); }
const FlowKey& TcpConnection::flow() const { return impl_->flow(); }
TcpInfo TcpConnection::Info() const { return impl_->Info(); }
SendState TcpConnection::GetSendState() const { return impl_->GetSendState(); }
bool TcpConnection::SendAckNow(Instant now, SegmentSink& out) {
  return impl_->SendAckNow(now, out);
}
ConnectionEvents TcpConnection::TakeEvents() { return impl_->TakeEvents(); }
void TcpConnection::SetNagle(bool on) { impl_->SetNagle(on); }
void TcpConnection::SetKeepalive(bool on) { impl_->SetKeepalive(on); }

}  // namespace braid::tcp
