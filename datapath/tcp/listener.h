// A listening port (RFC 9293 §3.10.7.2, LISTEN): what happens to a segment that reached a port
// with a listener but matched no connection. The listener decides; the backend (native_backend.h)
// owns the connections it asks for.
//
// Behaviour, matching Linux where the RFC leaves room:
//  - RST: ignored. ACK (without a valid SYN cookie): RST <SEQ=SEG.ACK>. SYN+FIN: dropped (Linux).
//    A segment with none of SYN, ACK, RST: dropped. Segments to a non-unicast address: dropped.
//  - SYN: dropped while the accept queue is full (Linux's ListenOverflows). Otherwise, while the
//    SYN backlog (connections of this listener still in SYN-RECEIVED) is below
//    TcpConfig::syn_backlog and the connection table has room, ListenHooks::OnSyn decides:
//    refuse -> RST, ignore -> drop, accept -> the backend creates a SYN-RECEIVED connection
//    (TcpConnection::AcceptSyn) with an ISS from IsnGenerator (RFC 6528).
//  - SYN under pressure (backlog full or connection table full) with TcpConfig::syn_cookies: the
//    listener answers with a SYN-ACK whose ISS is a SYN cookie (syn_cookies.h) and keeps no state;
//    OnSyn is still asked first (a refusal is a refusal) and its hooks write the SYN-ACK's
//    options. Without cookies the SYN is dropped.
//  - ACK with no connection while cookies were sent recently (within the cookie validity
//    window, Linux's tcp_synq_no_recent_overflow): the cookie is checked. Valid -> OnSyn is asked
//    again with the SYN rebuilt from the cookie (flags SYN, seq = the client's ISN, the options
//    the cookie remembered, no raw options: an upper layer that needs more must read the ACK's
//    options through TcpHooks::OnInput) and, if it accepts, the backend creates an ESTABLISHED
//    connection with TcpConnection::AcceptCookie. Invalid -> RST, counted by reason.
//
// The accept queue holds connections of this listener that completed the handshake and whose
// kAccepted event the upper layer has not drained yet; it is bounded by
// TcpConfig::accept_backlog. The backend reports both queues' movements (HalfOpen*, Accept*).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "datapath/tcp/adapter.h"
#include "datapath/tcp/connection.h"
#include "datapath/tcp/flow.h"
#include "datapath/tcp/isn.h"
#include "datapath/tcp/segment.h"
#include "datapath/tcp/syn_cookies.h"
#include "datapath/tcp/tcp_config.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/address.h"
#include "datapath/wire/tcp.h"

namespace braid::tcp {

enum class ListenerCounter : uint8_t {
#define BRAID_TCP_LISTENER_COUNTER(name, metric, help) name,
#include "datapath/tcp/listener_mib.def"
#undef BRAID_TCP_LISTENER_COUNTER
  kCount,
};
inline constexpr size_t kListenerCounterCount = static_cast<size_t>(ListenerCounter::kCount);
std::string_view ListenerCounterName(ListenerCounter counter);  // the metric name
std::string_view ListenerCounterHelp(ListenerCounter counter);

struct ListenerCounters {
  std::array<uint64_t, kListenerCounterCount> values{};
  uint64_t operator[](ListenerCounter c) const { return values[static_cast<size_t>(c)]; }
  void Add(ListenerCounter c, uint64_t n = 1) { values[static_cast<size_t>(c)] += n; }
};

// What the listener decided about one segment.
struct ListenVerdict {
  enum class Action : uint8_t {
    kDropped,         // nothing more to do (counted)
    kReset,           // an RST went out (counted)
    kCookieSent,      // a SYN-ACK carrying a SYN cookie went out; no state kept
    kOpen,            // create a connection: TcpConnection::AcceptSyn(open)
    kOpenFromCookie,  // create it: TcpConnection::AcceptCookie(open, the segment)
  };
  Action action = Action::kDropped;
  PassiveOpen open;  // kOpen, kOpenFromCookie
  TcpHooks* hooks = nullptr;
  uint64_t user_data = 0;
  const TcpConfig* config = nullptr;  // SynDecision::config
};

class TcpListener {
 public:
  // `local` empty: every local address (both families). `isn` and `cookies` outlive the listener.
  TcpListener(ListenerId id, std::optional<wire::IpAddress> local, uint16_t port,
              const TcpConfig& config, ListenHooks* hooks, const IsnGenerator& isn,
              const SynCookies& cookies);

  // A segment to this listener's port that matched no connection (RFC 9293 §3.10.7.2). `room`:
  // the connection table can take one more connection. Replies (RST, cookie SYN-ACK) go to `out`.
  ListenVerdict OnSegment(const FlowKey& flow, const InboundSegment& segment, Instant now,
                          bool room, SegmentSink& out);

  // Queue bookkeeping, reported by the backend.
  void HalfOpenAdded() { ++half_open_; }
  void HalfOpenRemoved() {
    if (half_open_ > 0) --half_open_;
  }
  void AcceptQueued() { ++accept_queue_; }
  void AcceptDrained() {
    if (accept_queue_ > 0) --accept_queue_;
  }
  // A handshake ACK for a SYN-RECEIVED connection dropped because the accept queue is full.
  void CountAcceptQueueDrop() { counters_.Add(ListenerCounter::kAcceptQueueDrops); }

  bool syn_backlog_full() const { return half_open_ >= config_.syn_backlog; }
  bool accept_queue_full() const { return accept_queue_ >= config_.accept_backlog; }
  uint32_t half_open() const { return half_open_; }
  uint32_t accept_queue() const { return accept_queue_; }

  ListenerId id() const { return id_; }
  const std::optional<wire::IpAddress>& local() const { return local_; }
  uint16_t port() const { return port_; }
  const TcpConfig& config() const { return config_; }
  ListenHooks* hooks() const { return hooks_; }
  const ListenerCounters& counters() const { return counters_; }

  // The window shift this host announces: the smallest that lets receive_buffer be advertised
  // (RFC 7323 §2.3), a function of the configuration alone, as SYN cookies require.
  static uint8_t OurWindowShift(const TcpConfig& config);
  // The RFC 7323 timestamp clock the listener uses for cookie TSvals: 1 ms ticks (Linux's
  // tcp_time_stamp), before the per-tuple offset (IsnGenerator::TsOffset).
  static uint32_t TimestampClock(Instant now);

 private:
  ListenVerdict OnSyn(const FlowKey& flow, const InboundSegment& segment, Instant now, bool room,
                      SegmentSink& out);
  ListenVerdict OnAck(const FlowKey& flow, const InboundSegment& segment, Instant now, bool room,
                      SegmentSink& out);
  // Cookies are checked only while they may be outstanding.
  bool CookiesRecentlySent(Instant now) const;
  void SendCookieSynAck(const FlowKey& flow, const InboundSegment& syn, const SynCookie& cookie,
                        TcpHooks* hooks, SegmentSink& out);
  ListenVerdict Reset(const FlowKey& flow, const InboundSegment& segment, SegmentSink& out);

  ListenerId id_;
  std::optional<wire::IpAddress> local_;
  uint16_t port_;
  TcpConfig config_;
  ListenHooks* hooks_;
  const IsnGenerator& isn_;
  const SynCookies& cookies_;
  uint32_t half_open_ = 0;
  uint32_t accept_queue_ = 0;
  std::optional<Instant> last_cookie_sent_;
  ListenerCounters counters_;
};

// RFC 9293 §3.10.7.1: the RST answering `segment`, which reached no connection (none for an
// arriving RST). Without ACK: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>; with ACK:
// <SEQ=SEG.ACK><CTL=RST>. `flow` is the arriving segment's flow as seen from this host.
std::optional<wire::TcpRepr> ResetFor(const FlowKey& flow, const InboundSegment& segment);
// Sends ResetFor(...) through `out`; false when none is due (the segment was an RST).
bool SendResetFor(const FlowKey& flow, const InboundSegment& segment, SegmentSink& out);

// The 4-tuple of `flow` for isn.h and syn_cookies.h; false when the two addresses are of
// different families (never a valid flow).
bool ToFourTuple(const FlowKey& flow, FourTupleV4* v4, FourTupleV6* v6, bool* is_v4);

}  // namespace braid::tcp
