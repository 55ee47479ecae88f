// NativeTcpBackend: Braid's own TCP engine behind the adaptation layer (adapter.h). One instance
// per worker (architecture.md §5): it owns a connection table, the flow table that demultiplexes
// segments to connections, the listeners, compact TIME-WAIT entries, the timer heap and the event
// queue. Sans-I/O like the engine: time comes in as `now`, segments leave through the SegmentSink
// given at construction.
//
// What happens to an arriving segment (Input):
//  1. its flow names a connection: TcpConnection::OnSegment (a handshake ACK to a SYN-RECEIVED
//     connection whose listener's accept queue is full is dropped first, as Linux does);
//  2. its flow names a TIME-WAIT entry: RFC 9293 §3.10.7.4 TIME-WAIT handling, below;
//  3. a listener on (destination address, port), else on (any address, port): TcpListener;
//  4. nothing: RFC 9293 §3.10.7.1 CLOSED — RST unless the segment is an RST.
// An ICMP error (OnPathMtu, OnSoftError) goes to the connection that has its flow, which checks
// the quoted sequence number (RFC 5927 §4.1); listeners, half-open SYN-cookie state and TIME-WAIT
// entries have nothing in flight to act on, so it is counted (icmp_no_connection) and dropped.
//
// Handles: a ConnectionId is a slot index and the slot's generation. It stays valid until the
// kClosed event for it has been drained by NextEvent (then the slot's generation moves on, so a
// stale handle is refused with kInvalidHandle and never reaches a newer connection). Passive
// connections are unknown to the upper layer until their kAccepted event: one that dies in
// SYN-RECEIVED is released silently.
//
// Events: after every call into a connection, its TakeEvents() becomes TcpEvents in this order:
// kEstablished (and, for a passive open, kAccepted right after it), kAcked, kWritable,
// kReadable (bytes = Info().receive_queue), kPeerFin, kRetransmitTimeout, kReset, kClosed.
//
// TIME-WAIT: a connection that reaches TIME-WAIT with nothing left to read is closed for the
// upper layer (kClosed) and replaced by a small entry (flow, SND.NXT, RCV.NXT, timestamps state,
// expiry), like Linux's tcp_timewait_sock, so its buffers are freed at once. The entry ACKs a
// retransmitted FIN and restarts its 2·MSL (TcpConfig::time_wait), ACKs other unacceptable
// segments, ignores RSTs (RFC 1337), and lets a SYN reopen the flow when its sequence number is
// above RCV.NXT or its timestamp is newer (RFC 6191). Table full: the connection just closes.
//
// Close semantics follow Linux: Close with unread data resets the connection (RFC 2525 §2.17);
// data arriving after Close resets it (TCPAbortOnData).
//
// Timers: a binary min-heap of (deadline, slot, generation), one live entry per connection at
// most. An entry is pushed only when a connection's PollAt() moves earlier than its armed
// deadline; a later deadline leaves the armed entry, which then fires early, finds nothing due,
// and re-arms. Cost: O(log n) per push, at most one spurious wake-up per connection per armed
// deadline, and no per-ACK heap work while the RTO only moves later. PollAt() is O(1).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "datapath/tcp/adapter.h"
#include "datapath/tcp/congestion_control.h"
#include "datapath/tcp/connection.h"
#include "datapath/tcp/flow.h"
#include "datapath/tcp/isn.h"
#include "datapath/tcp/listener.h"
#include "datapath/tcp/segment.h"
#include "datapath/tcp/siphash.h"
#include "datapath/tcp/syn_cookies.h"
#include "datapath/tcp/tcp_config.h"
#include "datapath/tcp/tcp_info.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/address.h"
#include "datapath/wire/seq.h"

namespace braid::tcp {

enum class BackendCounter : uint8_t {
#define BRAID_TCP_BACKEND_COUNTER(name, metric, help) name,
#include "datapath/tcp/native_backend_mib.def"
#undef BRAID_TCP_BACKEND_COUNTER
  kCount,
};
inline constexpr size_t kBackendCounterCount = static_cast<size_t>(BackendCounter::kCount);
std::string_view BackendCounterName(BackendCounter counter);  // the metric name
std::string_view BackendCounterHelp(BackendCounter counter);

struct BackendCounters {
  std::array<uint64_t, kBackendCounterCount> values{};
  uint64_t operator[](BackendCounter c) const { return values[static_cast<size_t>(c)]; }
  void Add(BackendCounter c, uint64_t n = 1) { values[static_cast<size_t>(c)] += n; }
};

struct NativeTcpBackendConfig {
  // Connections (in any state but TIME-WAIT) at once; Connect and passive opens beyond it fail.
  uint32_t max_connections = 65536;
  // Compact TIME-WAIT entries at once (Linux's tcp_max_tw_buckets).
  uint32_t max_time_wait = 65536;
  uint32_t max_listeners = 256;
  // Keys the ISNs and timestamp offsets (isn.h) and the SYN cookies (syn_cookies.h). From a
  // CSPRNG in production; tests and the simulator pass a fixed one.
  SipKey secret;
  uint32_t cookie_max_age_slots = SynCookies::kDefaultMaxAgeSlots;
};

class NativeTcpBackend final : public TcpBackend {
 public:
  NativeTcpBackend(const NativeTcpBackendConfig& config, SegmentSink& out);
  ~NativeTcpBackend() override;
  NativeTcpBackend(const NativeTcpBackend&) = delete;
  NativeTcpBackend& operator=(const NativeTcpBackend&) = delete;

  // TcpBackend.
  TcpError Connect(const ConnectRequest& request, Instant now, ConnectionId* id) override;
  TcpError Listen(const wire::IpAddress* local, uint16_t port, const TcpConfig& config,
                  ListenHooks* hooks, ListenerId* id) override;
  TcpError StopListening(ListenerId id) override;
  SendResult Send(ConnectionId id, std::span<const uint8_t> bytes, Instant now) override;
  ReceiveResult Receive(ConnectionId id, std::span<uint8_t> out, Instant now) override;
  TcpError Shutdown(ConnectionId id, Instant now) override;
  TcpError Abort(ConnectionId id, Instant now) override;
  TcpError Close(ConnectionId id, Instant now) override;
  TcpError SendAck(ConnectionId id, Instant now) override;
  std::optional<TcpInfo> Info(ConnectionId id) const override;
  std::optional<SendState> GetSendState(ConnectionId id) const override;
  std::optional<FlowKey> Flow(ConnectionId id) const override;
  void Input(const FlowKey& flow, const InboundSegment& segment, Instant now) override;
  void OnPathMtu(const FlowKey& flow, uint32_t path_mtu, wire::TcpSeq quoted_seq,
                 Instant now) override;
  void OnSoftError(const FlowKey& flow, wire::TcpSeq quoted_seq, Instant now) override;
  void Poll(Instant now) override;
  std::optional<Instant> PollAt() const override;
  bool NextEvent(TcpEvent* event) override;

  TcpError SetNagle(ConnectionId id, bool on) override;
  TcpError SetKeepalive(ConnectionId id, bool on) override;

  // Beyond the adapter.
  // Replaces the SYN-cookie key; cookies made with the previous key stay valid (syn_cookies.h).
  void RotateCookieKey(const SipKey& secret) { cookies_.RotateKey(secret); }

  const BackendCounters& counters() const { return counters_; }
  // nullptr for an unknown (or stopped) listener.
  const TcpListener* listener(ListenerId id) const;
  size_t connection_count() const { return live_connections_; }
  size_t time_wait_count() const { return live_time_wait_; }
  size_t pending_events() const { return events_count_; }
  const IsnGenerator& isn_generator() const { return isn_; }

 private:
  // Forwards to the backend's sink and remembers, for the connection being called, the last
  // TSval it sent (a TIME-WAIT entry continues that clock).
  class TxSink final : public SegmentSink {
   public:
    explicit TxSink(NativeTcpBackend& backend) : backend_(backend) {}
    void Transmit(const FlowKey& flow, const OutboundSegment& segment) override;

   private:
    NativeTcpBackend& backend_;
  };

  static constexpr uint32_t kNone = UINT32_MAX;

  struct Slot {
    std::unique_ptr<TcpConnection> conn;
    uint32_t generation = 1;
    bool live = false;    // the handle is valid
    bool closed = false;  // kClosed raised; released when it is drained
    bool passive = false;
    bool half_open = false;  // counted in its listener's SYN backlog
    bool announced = false;  // the upper layer knows the handle
    bool app_closed = false;
    bool shut_down = false;
    bool flow_mapped = false;
    uint32_t listener = kNone;
    uint64_t user_data = 0;
    FlowKey flow;
    Duration time_wait{0};
    std::optional<uint32_t> last_tsval_sent;
    Instant last_tsval_at;
    std::optional<uint32_t> last_tsval_received;
    std::optional<Instant> armed;
  };

  struct TimeWaitEntry {
    FlowKey flow;
    wire::TcpSeq snd_nxt;
    wire::TcpSeq rcv_nxt;
    uint16_t window = 0;  // as sent (already shifted)
    bool timestamps = false;
    uint32_t tsval_base = 0;  // our last TSval and when it was sent
    Instant tsval_at;
    uint32_t ts_recent = 0;  // the peer's last TSval
    Duration duration{0};
    Instant expires;
    uint32_t generation = 1;
    bool live = false;
  };

  struct FlowEntry {
    bool time_wait = false;
    uint32_t index = 0;
  };

  struct TimerEntry {
    Instant at;
    uint32_t index = 0;
    uint32_t generation = 0;
    bool time_wait = false;
  };
  struct TimerLater {
    bool operator()(const TimerEntry& a, const TimerEntry& b) const { return a.at > b.at; }
  };

  struct ListenKey {
    bool any = true;
    wire::IpAddress address;
    uint16_t port = 0;
    friend auto operator<=>(const ListenKey&, const ListenKey&) = default;
  };

  Slot* Find(ConnectionId id);
  const Slot* Find(ConnectionId id) const;
  // The slot of the live connection that has `flow`; nullopt for TIME-WAIT entries, connections
  // already closed, and unknown flows.
  std::optional<uint32_t> LiveConnection(const FlowKey& flow) const;
  std::optional<uint32_t> AllocateSlot();
  void FreeSlot(uint32_t index);
  bool HasRoom() const;
  ConnectionId IdOf(uint32_t index) const { return {index, slots_[index].generation}; }
  TcpListener* FindListener(uint32_t index);
  TcpListener* LookupListener(const wire::IpAddress& local, uint16_t port);

  // After every call into slot `index`'s connection: events, state changes, timer.
  // `after_timer`: the call was OnTimer(now), so nothing may be due at `now` any more.
  void Service(uint32_t index, Instant now, bool after_timer = false);
  void Announce(uint32_t index);
  void CloseSlot(uint32_t index);
  void ReleaseSilently(uint32_t index);
  void Arm(uint32_t index, Instant now, bool after_timer);
  void PushEvent(const TcpEvent& event);
  void CreatePassive(TcpListener& listener, const ListenVerdict& verdict,
                     const InboundSegment& segment, Instant now);

  // TIME-WAIT.
  bool EnterTimeWait(uint32_t index, Instant now);
  // True when the segment may go on to a listener (a SYN reopening the flow).
  bool TimeWaitInput(uint32_t tw_index, const InboundSegment& segment, Instant now);
  void TimeWaitAck(const TimeWaitEntry& e, Instant now);
  void FreeTimeWait(uint32_t tw_index);

  NativeTcpBackendConfig config_;
  SegmentSink& out_;
  TxSink tx_;
  uint32_t current_ = kNone;  // the slot being called, for TxSink
  Instant now_;               // the time of the call in progress (or the last one)
  IsnGenerator isn_;
  SynCookies cookies_;
  CongestionControlRegistry cc_registry_;

  std::vector<Slot> slots_;
  std::vector<uint32_t> free_slots_;
  size_t live_connections_ = 0;
  std::vector<TimeWaitEntry> time_wait_;
  std::vector<uint32_t> free_time_wait_;
  size_t live_time_wait_ = 0;
  std::unordered_map<FlowKey, FlowEntry, FlowKeyHash> flows_;

  std::map<uint32_t, std::unique_ptr<TcpListener>> listeners_;
  std::map<ListenKey, uint32_t> listen_keys_;
  uint32_t next_listener_ = 0;

  std::vector<TimerEntry> timers_;  // min-heap on `at`

  std::vector<TcpEvent> events_;  // a ring: events_head_ .. + events_count_
  size_t events_head_ = 0;
  size_t events_count_ = 0;

  BackendCounters counters_;
};

}  // namespace braid::tcp
