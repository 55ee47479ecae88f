// The TCP adaptation layer: the only TCP interface MPTCP is written against (architecture.md §2,
// the talk's "decoupling from the underlying TCP stack"). Braid's own engine implements it
// (native_backend.h); another TCP implementation can sit behind it without datapath/mptcp/
// changing. Everything here is sans-I/O: time comes in as `now`, segments leave through the
// SegmentSink the backend was built with, and no call blocks.
//
// THE CONTRACT
//
// Two directions cross this seam.
//
//  Upper layer -> TCP (TcpBackend): open, listen, send, receive, shut down, abort, read state.
//  Connections are named by ConnectionId handles; a handle stays valid until the kClosed event
//  for it has been drained, and is never reused for another connection while valid.
//
//  TCP -> upper layer:
//   * TcpHooks, per connection, called synchronously from inside backend calls:
//       - WriteOptions() for EVERY segment the connection emits (SYN, SYN-ACK, data, pure ACK,
//         FIN, RST, retransmissions, probes), after TCP placed its own options, with the bytes
//         left in the 40-byte option space. This is how MP_CAPABLE, MP_JOIN, DSS, ADD_ADDR,
//         MP_TCPRST ... ride on subflow segments, including the SYN and SYN-ACK.
//       - PlanDataSegment() before the engine sizes a data segment, so that payload plus the
//         upper layer's options fit the MSS, and so that no segment mixes bytes of two upper-layer
//         records (a DSS mapping describes one contiguous record).
//       - OnInput() with the options of every arriving segment that matched the connection, BEFORE
//         the engine processes the segment (RFC 9293 "SEGMENT ARRIVES"); the verdict can drop the
//         segment (counted) or reset the connection (e.g. a failed MP_JOIN HMAC, RFC 8684 §3.2).
//     Hooks must not call back into the backend (no re-entrancy); they only read the segment, write
//     option bytes and record what they learned. Anything that needs TCP to act (send an ACK
//     carrying a DATA_ACK, say) is done after the backend call returns.
//   * ListenHooks, per listener: OnSyn() decides, for each SYN to a listening port, whether to
//     refuse it, accept it as plain TCP, or accept it with TcpHooks for the new connection (an
//     MP_CAPABLE or MP_JOIN SYN). OnSyn sees the SYN's options; the new connection's hooks then
//     see the third ACK's options through OnInput.
//   * Events, queued by the backend and drained by the upper layer after each call
//     (DrainEvents), never delivered as callbacks: established, readable, writable, acked, RTO,
//     peer FIN, reset, closed. This keeps the upper layer free to call the backend while
//     handling them.
//
// Sequence numbers: Send() tells where the accepted bytes start in the subflow's sequence space,
// Receive() where the returned bytes started, so MPTCP can keep its subflow-sequence -> data-
// sequence mappings without knowing TCP's internals (RFC 8684 §3.3.1 relative SSN = seq - ISN).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string_view>

#include "datapath/tcp/flow.h"
#include "datapath/tcp/segment.h"
#include "datapath/tcp/tcp_config.h"
#include "datapath/tcp/tcp_info.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/seq.h"
#include "datapath/wire/tcp.h"
#include "datapath/wire/tcp_options.h"

namespace braid::tcp {

// A connection handle: slot index plus a generation, so a stale handle is detected, never
// aliased to a newer connection in the same slot.
struct ConnectionId {
  uint32_t index = std::numeric_limits<uint32_t>::max();
  uint32_t generation = 0;
  bool valid() const { return index != std::numeric_limits<uint32_t>::max(); }
  friend bool operator==(const ConnectionId&, const ConnectionId&) = default;
};

struct ListenerId {
  uint32_t index = std::numeric_limits<uint32_t>::max();
  friend bool operator==(const ListenerId&, const ListenerId&) = default;
};

// What hooks learn about one segment, in either direction.
struct SegmentInfo {
  wire::TcpFlags flags;
  wire::TcpSeq seq;
  wire::TcpSeq ack;
  uint32_t payload_len = 0;
  bool retransmission = false;  // outgoing only: this range was sent before
  // Our own and the peer's initial sequence numbers (ISS, IRS), for relative subflow sequence
  // numbers. irs is meaningful once the peer's SYN was seen.
  wire::TcpSeq iss;
  wire::TcpSeq irs;
  // The advertised window in bytes, scaled (RFC 7323 §2.3; a SYN's is never scaled): the peer's
  // on incoming segments, ours on outgoing ones. MPTCP reads it relative to the DATA_ACK the
  // segment carries (RFC 8684 §3.3.4).
  uint32_t window = 0;
};

// How the upper layer wants one data segment sized (TcpHooks::PlanDataSegment).
struct DataSegmentPlan {
  // Option bytes it will add to this segment, at most TcpHooks::DataOptionReserve().
  size_t option_bytes = 0;
  // Largest payload the segment may carry: up to the end of the upper layer's record.
  uint32_t max_payload = std::numeric_limits<uint32_t>::max();
};

enum class InputVerdict : uint8_t {
  kAccept,  // process the segment normally
  kDrop,    // discard it silently (counted as dropped_by_hook)
  kReset,   // discard it and reset the connection (RST sent; its options via WriteOptions)
};

class TcpHooks {
 public:
  virtual ~TcpHooks() = default;
  // Option bytes the upper layer will add to a data segment at most; the engine shrinks the
  // payload by this much so the segment stays within the MSS. It sizes the congestion window's
  // segments (SMSS).
  virtual size_t DataOptionReserve() const { return 0; }
  // The data segment that starts at `seq` and advertises `window` (bytes, scaled, as
  // SegmentInfo::window): the option bytes the upper layer will add to it (a segment that needs
  // fewer than DataOptionReserve() carries more payload) and the largest payload it may carry.
  // Asked right before the segment is built, on first transmission and on retransmission, so it
  // may depend on the upper layer's state at that moment: WriteOptions then sees the same state.
  virtual DataSegmentPlan PlanDataSegment(wire::TcpSeq /*seq*/, uint32_t /*window*/) const {
    return {.option_bytes = DataOptionReserve()};
  }
  // Writes option bytes for an outgoing segment into `space` (what TCP's own options left; the
  // engine pads with NOPs). Returns the bytes used, at most space.size().
  virtual size_t WriteOptions(const SegmentInfo& segment, std::span<uint8_t> space) = 0;
  // Sees an arriving segment and its parsed options before the engine processes it. Raw
  // options (MPTCP's kind 30 among them) are in options.raw_options.
  virtual InputVerdict OnInput(const SegmentInfo& segment, const wire::TcpOptionsRepr& options) = 0;
};

// The decision about one SYN to a listening port.
struct SynDecision {
  enum class Action : uint8_t {
    kRefuse,  // answer with RST (RFC 9293 §3.10.7.2 step "no listener" behaviour)
    kIgnore,  // drop silently (e.g. resource limits that must not leak state)
    kAccept,  // create the connection; `hooks` may be null for plain TCP
  };
  Action action = Action::kAccept;
  TcpHooks* hooks = nullptr;
  // Upper layer's cookie, handed back with the kAccepted event (e.g. MPTCP's connection slot).
  uint64_t user_data = 0;
  // The new connection's settings when not the listener's (MPTCP: a subflow's congestion control
  // coupled with its connection's other subflows). Must stay valid until the accept completes.
  const TcpConfig* config = nullptr;
};

class ListenHooks {
 public:
  virtual ~ListenHooks() = default;
  virtual SynDecision OnSyn(const FlowKey& flow, const SegmentInfo& syn,
                            const wire::TcpOptionsRepr& options) = 0;
};

struct TcpEvent {
  enum class Kind : uint8_t {
    kEstablished,        // handshake done (active open) or connection ready to accept (passive)
    kAccepted,           // passive open completed on `listener`; user_data from SynDecision
    kReadable,           // in-order bytes available to Receive() (count in `bytes`)
    kWritable,           // send-buffer space became available after being full
    kAcked,              // SND.UNA advanced by `bytes`
    kRetransmitTimeout,  // the RTO fired; `count` = consecutive RTOs (backoff)
    kPeerFin,  // the peer's FIN arrived in order: no more data will be readable after this
    kReset,    // connection reset (by the peer, by us, or a hook); `reason`
    kClosed,   // the connection is gone; the handle is released after this event is drained
  };
  enum class ResetReason : uint8_t {
    kNone,
    kPeerReset,  // RST received in window
    kRefused,    // RST in SYN-SENT (connection refused)
    kTimeout,    // max retransmissions / SYN retries / keepalive probes exhausted
    kAbortedLocally,
    kHookReset,  // InputVerdict::kReset
  };
  Kind kind;
  ConnectionId connection;
  ListenerId listener;
  uint64_t bytes = 0;
  uint32_t count = 0;
  uint64_t user_data = 0;
  ResetReason reason = ResetReason::kNone;
};

std::string_view TcpEventKindName(TcpEvent::Kind kind);
std::string_view ResetReasonName(TcpEvent::ResetReason reason);

struct SendResult {
  size_t accepted = 0;     // bytes taken into the send buffer (0 when full)
  wire::TcpSeq first_seq;  // subflow sequence number of the first accepted byte
};

// The part of TcpInfo a scheduler reads for every chunk it places (TcpBackend::GetSendState):
// cheap to take, no counters.
struct SendState {
  TcpState state = TcpState::kClosed;
  CaState ca_state = CaState::kOpen;
  wire::TcpSeq snd_una, snd_nxt;
  uint64_t cwnd = 0;       // bytes
  uint64_t in_flight = 0;  // bytes (RFC 6675 pipe, or FlightSize)
  uint32_t unsent = 0;     // queued bytes never sent
  uint32_t send_queue = 0;
  uint32_t send_free = 0;      // room left in the send buffer
  uint32_t receive_queue = 0;  // in-order bytes waiting for Receive()
  uint32_t snd_wnd = 0;        // the peer's window, scaled
  uint32_t snd_mss = 0;
  Duration srtt{}, rttvar{}, min_rtt{}, rto{};
  uint32_t backoff = 0;  // consecutive RTOs without progress
  uint64_t delivery_rate_bps = 0;
  // When the peer was last heard from: any segment that passed the timestamp checks, a duplicate
  // ACK or a SACK too, shows that the path works.
  Instant last_heard{};
  // When the oldest unacknowledged segment was last sent; unset when nothing is in flight.
  std::optional<Instant> una_sent;
};

struct ReceiveResult {
  size_t bytes = 0;        // bytes copied out
  wire::TcpSeq first_seq;  // sequence number of the first of them
  bool fin = false;        // the peer's FIN follows the last byte returned
};

enum class TcpError : uint8_t {
  kOk,
  kInvalidHandle,  // stale or unknown ConnectionId/ListenerId
  kInvalidState,   // e.g. Send after Shutdown, Connect on a used 4-tuple
  kAddressInUse,   // Listen on a port that already has a listener
  kNoResources,    // connection table full
  kUnknownCongestionControl,
};

std::string_view TcpErrorName(TcpError error);

struct ConnectRequest {
  FlowKey flow;
  TcpConfig config;
  TcpHooks* hooks = nullptr;  // null: plain TCP
};

// A TCP implementation as MPTCP sees it.
class TcpBackend {
 public:
  virtual ~TcpBackend() = default;

  // Active open: sends the SYN (with hook options) now.
  virtual TcpError Connect(const ConnectRequest& request, Instant now, ConnectionId* id) = 0;
  // Passive open on (local address or any, port).
  virtual TcpError Listen(const wire::IpAddress* local, uint16_t port, const TcpConfig& config,
                          ListenHooks* hooks, ListenerId* id) = 0;
  virtual TcpError StopListening(ListenerId id) = 0;

  virtual SendResult Send(ConnectionId id, std::span<const uint8_t> bytes, Instant now) = 0;
  virtual ReceiveResult Receive(ConnectionId id, std::span<uint8_t> out, Instant now) = 0;
  // No more sends: FIN after the queued data (half close).
  virtual TcpError Shutdown(ConnectionId id, Instant now) = 0;
  // Reset now (RST, with hook options such as MP_TCPRST); the kClosed event follows.
  virtual TcpError Abort(ConnectionId id, Instant now) = 0;
  // The app is done with the handle: shut down if not yet, and release when fully closed.
  virtual TcpError Close(ConnectionId id, Instant now) = 0;

  // A pure ACK now, with the hook's options: how the upper layer sends what rides on no data
  // (MPTCP's DATA_ACK and DATA_FIN, ADD_ADDR, MP_PRIO, the MP_JOIN third ACK again). Refused with
  // kInvalidState before the connection is synchronized or after it closed.
  virtual TcpError SendAck(ConnectionId id, Instant now) = 0;
  // Nagle's algorithm (TCP_NODELAY off) and keepalive (SO_KEEPALIVE) on an open connection.
  virtual TcpError SetNagle(ConnectionId id, bool on) = 0;
  virtual TcpError SetKeepalive(ConnectionId id, bool on) = 0;

  virtual std::optional<TcpInfo> Info(ConnectionId id) const = 0;
  virtual std::optional<SendState> GetSendState(ConnectionId id) const = 0;
  virtual std::optional<FlowKey> Flow(ConnectionId id) const = 0;

  // A segment from the network (checksum verified by the net layer).
  virtual void Input(const FlowKey& flow, const InboundSegment& segment, Instant now) = 0;

  // ICMP errors quoting one of our segments (the net layer's net::IcmpEvent). `flow` names the
  // connection as Input does (the quoted packet's source is flow.local); `quoted_seq` is the
  // quoted segment's sequence number. Both calls are ignored, and counted, unless a connection
  // has the flow and SND.UNA <= quoted_seq < SND.NXT (RFC 5927 §4.1): a blind attacker must then
  // guess a sequence number inside the flight.
  //
  // A router reported that `flow`'s path carries at most `path_mtu` bytes per IP packet (RFC 1191
  // §6.3, RFC 8201 §5.2; an IPv6 report below 1280 counts as 1280, RFC 8201 §4). The MSS used for
  // sending becomes min(current, path_mtu - IP header - 20) (Linux's tcp_mtu_to_mss: never below
  // tcp_min_snd_mss, 48; the options every data segment carries come off it as for any MSS, so
  // TcpInfo::snd_mss shows the result). Segments already sent that no longer fit are
  // retransmitted at once in pieces of the new size, without a congestion response: the
  // congestion window keeps its size in segments, and until the resent flight is acknowledged
  // the sender is in the loss state (CaState::kLoss) so that duplicate ACKs for needless copies
  // start no fast recovery (Linux's tcp_simple_retransmit; RFC 1191 §6.4, RFC 8201 §5.4). A
  // report that would not lower the path MTU estimate (at first the local one, TcpConfig::mss)
  // is ignored: it never rises without probing (RFC 1191 §3, RFC 8201 §4).
  virtual void OnPathMtu(const FlowKey& flow, uint32_t path_mtu, wire::TcpSeq quoted_seq,
                         Instant now) = 0;
  // A soft error (destination unreachable other than "fragmentation needed", time exceeded,
  // parameter problem): remembered in TcpInfo::soft_error until an acceptable ACK arrives, so that
  // a connection which then times out (kReset, kTimeout) can say why (RFC 1122 §4.2.3.9,
  // RFC 5461 §4). Never aborts a connection, in any state.
  virtual void OnSoftError(const FlowKey& flow, wire::TcpSeq quoted_seq, Instant now) = 0;

  // Timers: call at or after PollAt().
  virtual void Poll(Instant now) = 0;
  virtual std::optional<Instant> PollAt() const = 0;

  // Hands every queued event to `sink` in order and clears the queue.
  template <typename Fn>
  void DrainEvents(Fn&& sink) {
    TcpEvent e;
    while (NextEvent(&e)) sink(e);
  }
  virtual bool NextEvent(TcpEvent* event) = 0;
};

}  // namespace braid::tcp
