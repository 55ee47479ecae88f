// One TCP connection of Braid's native engine: the RFC 9293 state machine with RFC 5961, 6298,
// 6528, 6675, 7323, 8985, 2018, 5681/6582 and CUBIC (RFC 9438) behind congestion_control.h.
// Sans-I/O (architecture.md §4): every entry point takes `now` and a SegmentSink, and the
// connection reports its next deadline through PollAt(). It never allocates after construction
// (its buffers are sized by TcpConfig) and never reads a clock.
//
// Listening, SYN backlogs and SYN cookies are the listener's (listener.h); demultiplexing by
// 4-tuple and connection handles are the backend's (native_backend.h). A TcpConnection is built
// by one of the two factories, already past LISTEN/CLOSED.
//
// Choices a caller may notice (each follows Linux where the RFCs leave room):
//  - Memory: the send buffer, the receive buffer and the out-of-order queue are each sized from
//    TcpConfig (send_buffer, receive_buffer plus one window-scale unit of slack), the
//    retransmission queue from send_buffer / 536 records. Allocated once, in the factory.
//  - Nagle with Minshall's refinement (a short segment waits only for an earlier short one);
//    TCP_NODELAY is SetNagle(false). Urgent data is delivered in line (SO_OOBINLINE).
//  - Delayed ACK: every delayed_ack_segments × the largest segment received, or after
//    delayed_ack_timeout; out-of-order data, hole fills, duplicates and FINs are ACKed at once.
//  - Loss recovery: RFC 6675 + PRR (RFC 6937) with SACK, RACK-TLP replacing the DupThresh rule
//    when rack_tlp; RFC 6582 NewReno (with limited transmit) without SACK.
//  - RFC 5961 challenge ACKs: at most one per 500 ms per connection.
//  - RFC 7323 §3.2: once timestamps are negotiated, a non-RST segment without them is dropped.
//  - The zero-window probe and the keepalive probe carry SND.UNA - 1 / SND.NXT - 1 and no data.
//  - Path MTU (RFC 1191, RFC 8201) from ICMP only, as Linux's tcp_v4_mtu_reduced does it: the
//    sending MSS only goes down; the too-large segments in flight are marked lost and resent at
//    once (Linux's tcp_simple_retransmit), with the congestion window kept in segments. No
//    packetization-layer probing (RFC 8899), so the estimate never goes back up.
//  - ICMP soft errors are remembered (TcpInfo::soft_error) until an acceptable ACK, as Linux's
//    sk_err_soft; unlike Linux, not even SYN-SENT is aborted by one (RFC 1122 §4.2.3.9).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "datapath/tcp/adapter.h"
#include "datapath/tcp/flow.h"
#include "datapath/tcp/segment.h"
#include "datapath/tcp/tcp_config.h"
#include "datapath/tcp/tcp_info.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/seq.h"

namespace braid::tcp {

// Events a connection raised during one call, as flags plus amounts; the backend turns them into
// TcpEvents for its handle.
struct ConnectionEvents {
  bool established = false;
  bool readable = false;
  bool writable = false;
  bool peer_fin = false;
  bool closed = false;
  uint64_t acked_bytes = 0;
  uint32_t rto_count = 0;  // >0: the RTO fired; consecutive expirations
  TcpEvent::ResetReason reset = TcpEvent::ResetReason::kNone;
  bool any() const {
    return established || readable || writable || peer_fin || closed || acked_bytes != 0 ||
           rto_count != 0 || reset != TcpEvent::ResetReason::kNone;
  }
};

// What the listener learned from a SYN (and, with cookies, recovered from the cookie) that the
// passive side needs to create its connection.
struct PassiveOpen {
  FlowKey flow;
  wire::TcpSeq irs;       // the peer's ISN (SYN's sequence number)
  wire::TcpSeq iss;       // ours
  uint16_t peer_mss = 0;  // 0: none given
  std::optional<uint8_t> peer_window_scale;
  bool peer_sack_permitted = false;
  std::optional<wire::TcpTimestamps> peer_timestamps;  // from the SYN
  uint16_t peer_window = 0;                            // the SYN's window (never scaled)
  // RFC 7323 §7.1 offset added to our timestamp clock (IsnGenerator::TsOffset()). Absent: one is
  // derived from the ISS. A SYN-cookie listener must set it to the offset its SYN-ACK used.
  std::optional<uint32_t> ts_offset;
};

class TcpConnection {
 public:
  // Active open: CLOSED -> SYN-SENT, the SYN goes out through `out`. Fails only on a bad config
  // (unknown congestion control).
  static std::unique_ptr<TcpConnection> Connect(const TcpConfig& config, const FlowKey& flow,
                                                wire::TcpSeq iss, TcpHooks* hooks, Instant now,
                                                SegmentSink& out, TcpError* error);
  // The same with the RFC 7323 §7.1 timestamp offset given (IsnGenerator::TsOffset()); the
  // overload above derives one from the ISS.
  static std::unique_ptr<TcpConnection> Connect(const TcpConfig& config, const FlowKey& flow,
                                                wire::TcpSeq iss, uint32_t ts_offset,
                                                TcpHooks* hooks, Instant now, SegmentSink& out,
                                                TcpError* error);
  // Passive open from a SYN the listener accepted: LISTEN -> SYN-RECEIVED, the SYN-ACK goes out.
  static std::unique_ptr<TcpConnection> AcceptSyn(const TcpConfig& config, const PassiveOpen& syn,
                                                  TcpHooks* hooks, Instant now, SegmentSink& out,
                                                  TcpError* error);
  // Passive open completed by a valid SYN cookie in `ack` (RFC 4987 §3.6): straight to
  // ESTABLISHED; `ack` is then processed as the handshake's third segment (it may carry data).
  static std::unique_ptr<TcpConnection> AcceptCookie(const TcpConfig& config,
                                                     const PassiveOpen& syn,
                                                     const InboundSegment& ack, TcpHooks* hooks,
                                                     Instant now, SegmentSink& out,
                                                     TcpError* error);

  TcpConnection(const TcpConnection&) = delete;
  TcpConnection& operator=(const TcpConnection&) = delete;
  ~TcpConnection();

  // RFC 9293 §3.10.7: SEGMENT ARRIVES (the segment matched this connection's 4-tuple).
  void OnSegment(const InboundSegment& segment, Instant now, SegmentSink& out);
  // Timers due at or before `now` (retransmission, TLP, RACK reordering, delayed ACK, persist,
  // keepalive, TIME-WAIT, FIN-WAIT-2), then anything newly sendable.
  void OnTimer(Instant now, SegmentSink& out);
  // The earliest time a timer is due; nullopt when none is armed.
  std::optional<Instant> PollAt() const;

  // ICMP errors quoting a segment of ours that started at `quoted_seq` (TcpBackend::OnPathMtu and
  // OnSoftError give the rules): a path MTU of `path_mtu` bytes per IP packet, which may
  // retransmit at once what no longer fits; a soft error, only remembered.
  void OnPathMtu(uint32_t path_mtu, wire::TcpSeq quoted_seq, Instant now, SegmentSink& out);
  void OnSoftError(wire::TcpSeq quoted_seq);

  // RFC 9293 §3.10.2 SEND: queue bytes and transmit what the windows allow.
  SendResult Send(std::span<const uint8_t> bytes, Instant now, SegmentSink& out);
  // RFC 9293 §3.10.3 RECEIVE: copy in-order bytes out; may send a window update.
  ReceiveResult Receive(std::span<uint8_t> out_bytes, Instant now, SegmentSink& out);
  // RFC 9293 §3.10.4 CLOSE as a half close: FIN after queued data.
  TcpError Shutdown(Instant now, SegmentSink& out);
  // RFC 9293 §3.10.5 ABORT: RST (if synchronized) and CLOSED.
  void Abort(Instant now, SegmentSink& out);
  // The application is done with the connection (TcpBackend::Close): Shutdown() if not yet, and
  // the connection is orphaned: FIN-WAIT-2 ends after fin_wait2_timeout, and data arriving after
  // the close is answered with RST (Linux). With unread received data, RST at once instead of a
  // FIN (RFC 2525 §2.17, as Linux does).
  TcpError Close(Instant now, SegmentSink& out);

  // A pure ACK now (TcpBackend::SendAck); false when not synchronized or closed.
  bool SendAckNow(Instant now, SegmentSink& out);

  TcpState state() const;
  const FlowKey& flow() const;
  TcpInfo Info() const;
  SendState GetSendState() const;
  // Events raised since the last call, then cleared.
  ConnectionEvents TakeEvents();
  // Socket options that may change at any time.
  void SetNagle(bool on);
  void SetKeepalive(bool on);

 private:
  class Impl;
  explicit TcpConnection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace braid::tcp
