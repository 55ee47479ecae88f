#include "datapath/channel/service/service.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
// The kernel's layouts of TCP_INFO and MPTCP_INFO (linux-libc-dev), which apps read back.
#include <linux/mptcp.h>
#include <linux/tcp.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "datapath/channel/byte_fifo.h"
#include "datapath/channel/doorbell.h"
#include "datapath/channel/region.h"
#include "datapath/channel/spsc_ring.h"
#include "datapath/mptcp/connection.h"
#include "datapath/tcp/congestion_control.h"
#include "datapath/tcp/flow.h"
#include "datapath/tcp/tcp_info.h"
#include "datapath/wire/address.h"

namespace braid::channel {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr uint8_t kApiTcp = 0;
constexpr uint8_t kApiMptcp = 1;

// Braid's own SOL_MPTCP options (docs/channel-protocol.md, sdk/include/braid/braid.h).
constexpr int kSolMptcp = 284;
constexpr int kBraidMptcpScheduler = 0x4201;
constexpr int kBraidMptcpPathManager = 0x4202;
constexpr int kBraidMptcpBackup = 0x4203;
// The kernel's MPTCP_FULL_INFO (Linux 6.8), not in this machine's linux/mptcp.h.
constexpr int kMptcpFullInfo = 4;

// Commands popped from a ring at once.
constexpr uint32_t kCommandBatch = 16;
// Ports tried for a listener on port 0 (ephemeral), from the IANA dynamic range.
constexpr uint16_t kListenPortFirst = 49152;
constexpr uint32_t kListenPortTries = 64;
constexpr size_t kDiscardBytes = 16384;

uint64_t Key(uint8_t api, uint32_t index) { return (uint64_t{api} << 32) | index; }

enum class SlotState : uint8_t {
  kFree,
  kAcceptPending,  // posted with kAcceptInto: waits for a connection
  kAdoptPending,   // kAdopt: waits for the owner's kRelease of the connection
  kOpen,           // kOpen done
  kBound,          // kBind done
  kListening,
  kConnecting,
  kConnected,
  kClosing,  // kClose taken: the TX FIFO drains, then the connection closes
  kDead,     // the connection ended (error, refused): waits for kClose / kAbort
};

struct SlotOptions {
  bool reuse_address = false;
  bool reuse_port = false;
  bool linger = false;
  int32_t linger_seconds = 0;
  std::string scheduler;  // BRAID_MPTCP_SCHEDULER; empty: the stack's default
  bool backup = false;    // BRAID_MPTCP_BACKUP
};

struct Slot {
  SlotState state = SlotState::kFree;
  uint32_t generation = 0;  // of the handle in use; of the last one while free
  bool used = false;        // generation means something
  uint16_t family = AF_INET;
  Protocol protocol = Protocol::kTcp;
  uint8_t api = kApiTcp;
  tcp::SocketId socket;  // valid while a connection of the socket layer belongs to the slot
  tcp::ListenerId listener;
  // A scoped wildcard listen: the listeners at the scope's other addresses (ServiceScope).
  std::vector<tcp::ListenerId> more_listeners;
  SockAddr local;  // kBind's address, with the port a listener got
  tcp::TcpConfig config;
  SlotOptions options;
  uint64_t connect_cookie = 0;
  uint64_t close_cookie = 0;
  uint64_t accept_cookie = 0;
  uint32_t parent = 0;  // kAcceptPending: the listener's slot
  int32_t so_error = 0;
  bool dirty = false;         // queued in AppSession::dirty
  bool fin_received = false;  // Receive reported the peer's FIN
  bool peer_closed_sent = false;
  bool read_shut = false;   // SHUT_RD: RX bytes are dropped
  bool write_shut = false;  // SHUT_WR: FIN once the TX FIFO is drained
  bool fin_sent = false;
  bool tx_blocked = false;  // Send took less than offered: OnWritable resumes
  bool rx_full = false;     // the RX FIFO was full: kRxSpace resumes
  FifoReader tx;
  FifoWriter rx;
  // kRelease: the app let go after a fork; a child may adopt the connection until the deadline.
  bool released = false;
  uint64_t release_cookie = 0;
  tcp::Instant release_deadline{};
  // An adopted connection's bytes its previous owner wrote that the socket had not taken yet:
  // they go before the TX FIFO's.
  std::vector<uint8_t> carry_tx;
  // kAdoptPending: the connection asked for.
  uint64_t adopt_token = 0;
  uint32_t adopt_handle = 0;
  uint64_t adopt_cookie = 0;
  tcp::Instant adopt_deadline{};
  // Listener.
  uint32_t backlog = 0;
  std::deque<uint32_t> posted;        // kAcceptInto slots, oldest first
  std::deque<tcp::SocketId> waiting;  // accepted connections without a slot, oldest first

  bool HasConnection() const { return socket.valid(); }
  // Options that live in TcpConfig are fixed once the socket layer has the socket.
  bool ConfigFixed() const {
    return state == SlotState::kListening || state == SlotState::kConnecting ||
           state == SlotState::kConnected || state == SlotState::kClosing ||
           state == SlotState::kDead;
  }
};

int ErrnoOf(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kAlreadyExists:
      return EADDRINUSE;
    case absl::StatusCode::kUnavailable:
      return ENETUNREACH;
    case absl::StatusCode::kResourceExhausted:
      return EADDRNOTAVAIL;
    case absl::StatusCode::kNotFound:
      return EBADF;
    default:
      return EINVAL;
  }
}

// The errno an app sees for an asynchronous failure: during the handshake (kConnect's answer)
// or afterwards (kError).
int ErrnoOf(tcp::SocketError error, bool connecting) {
  switch (error) {
    case tcp::SocketError::kRefused:
      return ECONNREFUSED;
    case tcp::SocketError::kReset:
      return connecting ? ECONNREFUSED : ECONNRESET;
    case tcp::SocketError::kTimeout:
      return ETIMEDOUT;
    case tcp::SocketError::kAborted:
      return ECONNABORTED;
  }
  return EIO;
}

// Linux's numbering of TCP states (include/net/tcp_states.h; netinet/tcp.h has them too, but
// it cannot be included beside linux/tcp.h).
enum : uint8_t {
  TCP_ESTABLISHED = 1,
  TCP_SYN_SENT,
  TCP_SYN_RECV,
  TCP_FIN_WAIT1,
  TCP_FIN_WAIT2,
  TCP_TIME_WAIT,
  TCP_CLOSE,
  TCP_CLOSE_WAIT,
  TCP_LAST_ACK,
  TCP_LISTEN,
  TCP_CLOSING,
};

uint8_t LinuxTcpState(tcp::TcpState state) {
  switch (state) {
    case tcp::TcpState::kEstablished:
      return TCP_ESTABLISHED;
    case tcp::TcpState::kSynSent:
      return TCP_SYN_SENT;
    case tcp::TcpState::kSynReceived:
      return TCP_SYN_RECV;
    case tcp::TcpState::kFinWait1:
      return TCP_FIN_WAIT1;
    case tcp::TcpState::kFinWait2:
      return TCP_FIN_WAIT2;
    case tcp::TcpState::kTimeWait:
      return TCP_TIME_WAIT;
    case tcp::TcpState::kClosed:
      return TCP_CLOSE;
    case tcp::TcpState::kCloseWait:
      return TCP_CLOSE_WAIT;
    case tcp::TcpState::kLastAck:
      return TCP_LAST_ACK;
    case tcp::TcpState::kListen:
      return TCP_LISTEN;
    case tcp::TcpState::kClosing:
      return TCP_CLOSING;
  }
  return TCP_CLOSE;
}

SockAddr ToSockAddr(const wire::IpAddress& ip, uint16_t port) {
  SockAddr a;
  a.port = port;
  if (const auto* v4 = std::get_if<wire::Ipv4Address>(&ip)) {
    a.family = AF_INET;
    std::memcpy(a.address.data(), v4->bytes.data(), 4);
  } else {
    a.family = AF_INET6;
    const auto& v6 = std::get<wire::Ipv6Address>(ip);
    std::memcpy(a.address.data(), v6.bytes.data(), 16);
  }
  return a;
}

// An IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a dual-stack AF_INET6 socket uses for IPv4
// peers) is the IPv4 address.
wire::IpAddress ToIp(const SockAddr& a) {
  if (a.family == AF_INET) {
    wire::Ipv4Address v4;
    std::memcpy(v4.bytes.data(), a.address.data(), 4);
    return v4;
  }
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(a.address.data(), kMapped, sizeof(kMapped)) == 0) {
    wire::Ipv4Address v4;
    std::memcpy(v4.bytes.data(), a.address.data() + 12, 4);
    return v4;
  }
  wire::Ipv6Address v6;
  std::memcpy(v6.bytes.data(), a.address.data(), 16);
  return v6;
}

bool IsAnyAddress(const SockAddr& a) {
  return std::all_of(a.address.begin(), a.address.end(), [](uint8_t b) { return b == 0; });
}

SockAddr AnyAddress(uint16_t family) {
  SockAddr a;
  a.family = family;
  return a;
}

template <typename T>
void StoreValue(std::vector<uint8_t>& out, const T& v) {
  out.resize(sizeof(T));
  std::memcpy(out.data(), &v, sizeof(T));
}

uint32_t Micros(tcp::Duration d) {
  return static_cast<uint32_t>(std::clamp<int64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(d).count(), 0, UINT32_MAX));
}

// struct tcp_info as Linux fills it, from Braid's TcpInfo.
tcp_info KernelTcpInfo(const tcp::TcpInfo& t) {
  tcp_info k{};
  k.tcpi_state = LinuxTcpState(t.state);
  k.tcpi_ca_state = static_cast<uint8_t>(t.ca_state);
  k.tcpi_backoff = static_cast<uint8_t>(std::min<uint32_t>(t.backoff, 255));
  if (t.timestamps_enabled) k.tcpi_options |= TCPI_OPT_TIMESTAMPS;
  if (t.sack_enabled) k.tcpi_options |= TCPI_OPT_SACK;
  if (t.snd_wscale != 0 || t.rcv_wscale != 0) {
    k.tcpi_options |= TCPI_OPT_WSCALE;
    k.tcpi_snd_wscale = t.snd_wscale & 0xf;
    k.tcpi_rcv_wscale = t.rcv_wscale & 0xf;
  }
  k.tcpi_rto = Micros(t.rto);
  k.tcpi_snd_mss = t.snd_mss;
  k.tcpi_rcv_mss = t.rcv_mss;
  const uint32_t mss = std::max<uint32_t>(t.snd_mss, 1);
  k.tcpi_unacked = static_cast<uint32_t>((t.bytes_in_flight + mss - 1) / mss);
  k.tcpi_rtt = Micros(t.srtt);
  k.tcpi_rttvar = Micros(t.rttvar);
  k.tcpi_snd_ssthresh = static_cast<uint32_t>(std::min<uint64_t>(t.ssthresh / mss, UINT32_MAX));
  k.tcpi_snd_cwnd = static_cast<uint32_t>(std::min<uint64_t>(t.cwnd / mss, UINT32_MAX));
  k.tcpi_advmss = t.snd_mss;
  k.tcpi_rcv_space = t.rcv_wnd;
  k.tcpi_total_retrans = static_cast<uint32_t>(t.counters[tcp::TcpCounter::kRetransmits]);
  k.tcpi_bytes_acked = t.counters[tcp::TcpCounter::kBytesAcked];
  k.tcpi_bytes_received = t.counters[tcp::TcpCounter::kBytesReceived];
  k.tcpi_segs_out = static_cast<uint32_t>(t.counters[tcp::TcpCounter::kSegmentsOut]);
  k.tcpi_segs_in = static_cast<uint32_t>(t.counters[tcp::TcpCounter::kSegmentsIn]);
  k.tcpi_notsent_bytes = t.unsent;
  k.tcpi_min_rtt = Micros(t.min_rtt);
  k.tcpi_data_segs_in = static_cast<uint32_t>(t.counters[tcp::TcpCounter::kDataSegmentsIn]);
  k.tcpi_data_segs_out = static_cast<uint32_t>(t.counters[tcp::TcpCounter::kDataSegmentsOut]);
  k.tcpi_delivery_rate = t.delivery_rate_bps / 8;
  k.tcpi_bytes_sent = t.counters[tcp::TcpCounter::kBytesSent];
  k.tcpi_bytes_retrans = t.counters[tcp::TcpCounter::kBytesRetransmitted];
  k.tcpi_snd_wnd = t.snd_wnd;
  return k;
}

// struct mptcp_info as Linux fills it (net/mptcp/sockopt.c, mptcp_diag_fill_info).
mptcp_info KernelMptcpInfo(const mptcp::MptcpInfo& m) {
  mptcp_info k{};
  // The kernel counts the subflows besides the initial one.
  k.mptcpi_subflows =
      static_cast<uint8_t>(std::min<uint32_t>(m.subflows > 0 ? m.subflows - 1 : 0, 255));
  if (m.fallback) k.mptcpi_flags |= MPTCP_INFO_FLAG_FALLBACK;
  if (m.remote_key != 0) k.mptcpi_flags |= MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED;
  k.mptcpi_token = m.local_token;
  k.mptcpi_write_seq = m.data_nxt.raw();
  k.mptcpi_snd_una = m.data_una.raw();
  k.mptcpi_rcv_nxt = m.rcv_nxt.raw();
  k.mptcpi_csum_enabled = m.checksum ? 1 : 0;
  return k;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

std::string_view ServiceCounterName(ServiceCounter counter) {
  switch (counter) {
#define BRAID_CHANNEL_COUNTER(name, metric, help) \
  case ServiceCounter::name:                      \
    return metric;
#include "datapath/channel/service/service_counters.def"
#undef BRAID_CHANNEL_COUNTER
    case ServiceCounter::kCount:
      break;
  }
  return "unknown";
}

std::string_view ServiceCounterHelp(ServiceCounter counter) {
  switch (counter) {
#define BRAID_CHANNEL_COUNTER(name, metric, help) \
  case ServiceCounter::name:                      \
    return help;
#include "datapath/channel/service/service_counters.def"
#undef BRAID_CHANNEL_COUNTER
    case ServiceCounter::kCount:
      break;
  }
  return "";
}

absl::Status ServiceLimits::Validate() const {
  const struct {
    const char* name;
    uint64_t value;
  } fields[] = {{"max_apps", max_apps},
                {"max_pending_accepts", max_pending_accepts},
                {"max_accept_backlog", max_accept_backlog},
                {"commands_per_poll", commands_per_poll},
                {"bytes_per_poll", bytes_per_poll}};
  for (const auto& f : fields) {
    if (f.value == 0) {
      return absl::InvalidArgumentError(std::string("channel service limit ") + f.name +
                                        " must be positive");
    }
  }
  if (liveness_interval <= tcp::Duration::zero()) {
    return absl::InvalidArgumentError("channel service limit liveness_interval must be positive");
  }
  if (orphan_linger <= tcp::Duration::zero()) {
    return absl::InvalidArgumentError("channel service limit orphan_linger must be positive");
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------

class AppSession {
 public:
  AppSession(ServiceRegion region_in, UniqueFd connection_in, Doorbell doorbell_in,
             const PeerCredentials& peer_in, std::string name_in, ServiceCounters& counters)
      : region(std::move(region_in)),
        connection(std::move(connection_in)),
        doorbell(std::move(doorbell_in)),
        peer(peer_in),
        name(std::move(name_in)),
        commands(region.CommandConsumer()),
        events(region.EventProducer()),
        slots(region.layout().geometry.slots),
        // Unsolicited events are coalesced per slot (a handful each at most), answers come one
        // command at a time: an app over this has stopped reading events altogether.
        backlog_limit(size_t{region.layout().geometry.slots} * 8 + 4096),
        counters_(counters) {}

  void End(ServiceCounter reason) {
    if (ending) return;
    ending = true;
    end_reason = reason;
  }

  void Push(const Event& event) {
    if (ending || orphaned) return;  // nobody reads them any more
    const EventRecord r = EncodeEvent(event);
    if (backlog.empty()) {
      const RingStatus st = events.TryPush(r);
      if (st == RingStatus::kOk) {
        published = true;
        counters_.Add(ServiceCounter::kEvents);
        return;
      }
      if (st == RingStatus::kCorrupt) {
        End(ServiceCounter::kCorruptEventRing);
        return;
      }
    }
    if (backlog.size() >= backlog_limit) {
      End(ServiceCounter::kEventBacklogOverflow);
      return;
    }
    backlog.push_back(r);
    counters_.Add(ServiceCounter::kEventsBacklogged);
  }

  void Done(uint32_t handle, uint64_t cookie, Op op, int32_t error) {
    Push(Event{handle, cookie, error, DoneArgs{op}});
  }

  // Moves held-back events into the ring as far as it has room; true when any moved.
  bool FlushBacklog() {
    bool moved = false;
    while (!backlog.empty() && !ending) {
      const RingStatus st = events.TryPush(backlog.front());
      if (st == RingStatus::kCorrupt) {
        End(ServiceCounter::kCorruptEventRing);
        break;
      }
      if (st != RingStatus::kOk) break;
      backlog.pop_front();
      counters_.Add(ServiceCounter::kEvents);
      published = moved = true;
    }
    return moved;
  }

  void MarkDirty(uint32_t index) {
    Slot& slot = slots[index];
    if (slot.dirty) return;
    slot.dirty = true;
    dirty.push_back(index);
  }

  uint32_t Handle(uint32_t index) const { return MakeHandle(index, slots[index].generation); }

  // Whether the app may take the slot `handle` names for a new socket (kOpen, kAcceptInto,
  // kAdopt): free, and not at the generation it last had, so that a stale handle never names
  // the new socket.
  bool Claimable(uint32_t handle) const {
    const uint32_t index = HandleIndex(handle);
    if (index >= slots.size()) return false;
    const Slot& slot = slots[index];
    return slot.state == SlotState::kFree &&
           !(slot.used && slot.generation == HandleGeneration(handle));
  }
  // Starts the slot `handle` names afresh in `state`.
  Slot& Claim(uint32_t handle, SlotState state) {
    Slot& slot = slots[HandleIndex(handle)];
    slot = Slot{};
    slot.state = state;
    slot.generation = HandleGeneration(handle);
    slot.used = true;
    return slot;
  }

  // The slot `handle` names when the app owns it (in use, same generation), else nullptr.
  Slot* Owned(uint32_t handle) {
    const uint32_t index = HandleIndex(handle);
    if (index >= slots.size()) return nullptr;
    Slot& slot = slots[index];
    if (slot.state == SlotState::kFree || slot.state == SlotState::kAcceptPending ||
        slot.state == SlotState::kAdoptPending) {
      return nullptr;
    }
    if (slot.generation != HandleGeneration(handle)) return nullptr;
    return &slot;
  }

  ServiceRegion region;
  UniqueFd connection;
  Doorbell doorbell;
  PeerCredentials peer;
  std::string name;
  RingConsumer<CommandRecord> commands;
  RingProducer<EventRecord> events;
  std::vector<Slot> slots;
  std::deque<EventRecord> backlog;
  size_t backlog_limit;
  std::vector<uint32_t> dirty;
  std::vector<uint32_t> dirty_batch;
  bool published = false;             // events pushed since the app was last woken
  bool hung_up = false;               // its unix connection or doorbell closed: the app is gone
  bool orphaned = false;              // ServeOrphan took over the session
  bool orphan_commands_done = false;  // the dead app's command ring is empty
  tcp::Instant orphan_deadline{};
  uint32_t released = 0;  // slots with Slot::released
  uint32_t adopting = 0;  // slots in kAdoptPending
  std::chrono::steady_clock::time_point next_children_check{};
  bool ending = false;
  ServiceCounter end_reason = ServiceCounter::kAppHangups;

 private:
  ServiceCounters& counters_;
};

// Receives the socket layers' events for every socket and listener the service made; one per
// layer, since TCP's and MPTCP's handles are numbered apart.
class ChannelService::Handler final : public tcp::SocketHandler {
 public:
  Handler(ChannelService& service, uint8_t api) : service_(service), api_(api) {}
  void OnConnected(tcp::SocketId socket) override { service_.OnConnected(api_, socket); }
  void OnAccepted(tcp::ListenerId listener, tcp::SocketId socket) override {
    service_.OnAccepted(api_, listener, socket);
  }
  void OnReadable(tcp::SocketId socket, size_t) override { service_.OnDataEvent(api_, socket); }
  void OnWritable(tcp::SocketId socket) override { service_.OnDataEvent(api_, socket); }
  void OnPeerFin(tcp::SocketId socket) override { service_.OnDataEvent(api_, socket); }
  void OnError(tcp::SocketId socket, tcp::SocketError error) override {
    service_.OnError(api_, socket, error);
  }
  void OnClosed(tcp::SocketId socket) override { service_.OnClosed(api_, socket); }

 private:
  ChannelService& service_;
  uint8_t api_;
};

// ---------------------------------------------------------------------------------------------

bool ServiceScope::Contains(const wire::IpAddress& address) const {
  return std::find(addresses.begin(), addresses.end(), address) != addresses.end();
}

absl::Status ServiceScope::Validate() const {
  if (scoped() && !source_for) {
    return absl::InvalidArgumentError("service scope: addresses without a source selector");
  }
  return absl::OkStatus();
}

ChannelService::ChannelService(SocketApis apis, const tcp::TcpConfig& socket_config,
                               ServiceScope scope)
    : apis_(apis),
      socket_config_(socket_config),
      scope_(std::move(scope)),
      discard_(kDiscardBytes) {
  handlers_[kApiTcp] = std::make_unique<Handler>(*this, kApiTcp);
  handlers_[kApiMptcp] = std::make_unique<Handler>(*this, kApiMptcp);
}

ChannelService::~ChannelService() {
  if (!stopped_) Stop(apis_.tcp != nullptr ? apis_.tcp->now() : tcp::Instant{});
}

absl::Status ChannelService::CanListen(const Geometry& geometry,
                                       const ServiceLimits& limits) const {
  if (stopped_ || listener_) {
    return absl::FailedPreconditionError("channel service: already listening or stopped");
  }
  if (apis_.tcp == nullptr) return absl::InvalidArgumentError("channel service: no TCP sockets");
  if (std::string error = geometry.Validate(); !error.empty()) {
    return absl::InvalidArgumentError("channel geometry: " + error);
  }
  if (absl::Status s = limits.Validate(); !s.ok()) return s;
  return scope_.Validate();
}

absl::Status ChannelService::Listen(std::string_view path, const Geometry& geometry,
                                    const ServiceLimits& limits) {
  // Checked before binding, so that a refusal leaves nothing bound.
  if (absl::Status s = CanListen(geometry, limits); !s.ok()) return s;
  absl::StatusOr<ChannelListener> listener = ChannelListener::Bind(path);
  if (!listener.ok()) return listener.status();
  return Listen(std::move(*listener), geometry, limits);
}

absl::Status ChannelService::Listen(ChannelListener listener, const Geometry& geometry,
                                    const ServiceLimits& limits) {
  if (absl::Status s = CanListen(geometry, limits); !s.ok()) return s;
  listener_.emplace(std::move(listener));
  geometry_ = geometry;
  limits_ = limits;
  next_liveness_ = {};
  return absl::OkStatus();
}

size_t ChannelService::sessions() const { return sessions_.size(); }

std::vector<SessionInfo> ChannelService::Sessions() const {
  std::vector<SessionInfo> out;
  for (const auto& s : sessions_) {
    SessionInfo info;
    info.pid = s->peer.pid;
    info.uid = s->peer.uid;
    info.name = s->name;
    info.backlog = s->backlog.size();
    info.orphaned = s->hung_up;
    for (const Slot& slot : s->slots) {
      if (slot.state != SlotState::kFree) ++info.sockets;
    }
    out.push_back(std::move(info));
  }
  return out;
}

tcp::SocketApi& ChannelService::Api(uint8_t api) {
  if (api == kApiMptcp && apis_.mptcp != nullptr) return *apis_.mptcp;
  return *apis_.tcp;
}

ChannelService::SocketRef* ChannelService::FindSocket(uint8_t api, tcp::SocketId socket) {
  auto it = sockets_.find(Key(api, socket.index));
  if (it == sockets_.end() || it->second.generation != socket.generation) return nullptr;
  return &it->second;
}

void ChannelService::Orphan(uint8_t api, tcp::SocketId socket) {
  if (SocketRef* ref = FindSocket(api, socket)) {
    ref->session = nullptr;
    ref->waiting = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Apps arriving and leaving.

bool ChannelService::AcceptApps() {
  bool work = false;
  // Bounded per Poll: a flood of clients cannot hold the worker.
  for (int i = 0; i < 16; ++i) {
    absl::StatusOr<ClientHello> client = listener_->AcceptHello();
    if (!client.ok()) {
      if (absl::IsUnavailable(client.status())) break;
      Count(ServiceCounter::kHelloErrors);
      work = true;
      continue;
    }
    Attach(std::move(*client));
    work = true;
  }
  return work;
}

void ChannelService::Attach(ClientHello client) {
  const int fd = client.fd.get();
  if (client.hello.layout_version != kLayoutVersion) {
    (void)SendRefusal(fd, VersionRefusal(client.hello.layout_version));
    Count(ServiceCounter::kAppsRefused);
    return;
  }
  if (sessions_.size() >= limits_.max_apps) {
    (void)SendRefusal(
        fd, "the Braid service serves " + std::to_string(limits_.max_apps) + " apps already");
    Count(ServiceCounter::kAppsRefused);
    return;
  }
  const std::string name = client.hello.Name();
  absl::StatusOr<ServiceRegion> region =
      ServiceRegion::Create(geometry_, "pid-" + std::to_string(client.peer.pid) + ":" + name);
  if (!region.ok()) {
    (void)SendRefusal(fd, "the Braid service has no region for this app: " +
                              std::string(region.status().message()));
    Count(ServiceCounter::kAppsRefused);
    return;
  }
  int error = 0;
  std::optional<Doorbell::Pair> bells = Doorbell::CreatePair(&error);
  if (!bells) {
    (void)SendRefusal(
        fd, "the Braid service has no doorbell for this app: " + std::string(std::strerror(error)));
    Count(ServiceCounter::kAppsRefused);
    return;
  }
  if (!SendWelcome(fd, region->size(), region->epoch(), region->fd(), bells->app.fd()).ok()) {
    Count(ServiceCounter::kHelloErrors);
    return;
  }
  sessions_.push_back(std::make_unique<AppSession>(std::move(*region), std::move(client.fd),
                                                   std::move(bells->service), client.peer, name,
                                                   counters_));
  Count(ServiceCounter::kAppsAttached);
}

void ChannelService::CheckLiveness(tcp::Instant /*now*/) {
  liveness_fds_.clear();
  polled_.clear();
  liveness_fds_.push_back({listener_->fd(), POLLIN, 0});
  // A dead app's connection stays hung up: it is not polled again.
  for (const auto& s : sessions_) {
    if (s->hung_up || s->ending) continue;
    liveness_fds_.push_back({s->connection.get(), POLLIN, 0});
    polled_.push_back(s.get());
  }
  if (::poll(liveness_fds_.data(), liveness_fds_.size(), 0) < 0) return;
  if ((liveness_fds_[0].revents & POLLIN) != 0 || listener_->pending() > 0) AcceptApps();
  for (size_t i = 1; i < liveness_fds_.size(); ++i) {
    AppSession& s = *polled_[i - 1];
    const short revents = liveness_fds_[i].revents;
    if ((revents & (POLLHUP | POLLERR | POLLNVAL)) != 0) {
      s.hung_up = true;
      continue;
    }
    if ((revents & POLLIN) != 0) {
      // The app has nothing to say on the connection after its hello: anything it sends is
      // dropped; end of file is its death.
      uint8_t junk[64];
      const ssize_t n = ::recv(s.connection.get(), junk, sizeof(junk), MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        s.hung_up = true;
      }
    }
  }
}

void ChannelService::EndSession(size_t index, tcp::Instant now) {
  AppSession& s = *sessions_[index];
  s.region.SetServiceState(ServiceState::kGone);
  // Nothing more goes to this app: reset its connections towards their peers.
  s.ending = true;
  for (uint32_t i = 0; i < s.slots.size(); ++i) {
    Slot& slot = s.slots[i];
    if (slot.state == SlotState::kListening) CloseListener(s, i);
    if (slot.HasConnection()) ResetConnection(s, i, now);
  }
  for (auto& [key, ref] : sockets_) {
    if (ref.session == &s) ref.session = nullptr;
  }
  Count(ServiceCounter::kAppsDetached);
  Count(s.end_reason);
  sessions_.erase(sessions_.begin() + static_cast<std::ptrdiff_t>(index));
}

bool ChannelService::Poll(tcp::Instant now) {
  if (stopped_ || !listener_) return false;
  bool work = false;
  const SteadyClock::time_point real_now = SteadyClock::now();
  if (liveness_due_ || real_now >= next_liveness_) {
    liveness_due_ = false;
    next_liveness_ = real_now + limits_.liveness_interval;
    const size_t before = sessions_.size();
    CheckLiveness(now);
    work = sessions_.size() != before;
  }
  for (const auto& s : sessions_) {
    if (s->ending) continue;
    if (s->released > 0 || s->adopting > 0) CheckAdoptions(*s, now);
    if (s->hung_up ? ServeOrphan(*s, now) : ServeSession(*s, now)) work = true;
  }
  for (size_t i = sessions_.size(); i-- > 0;) {
    if (sessions_[i]->ending) {
      EndSession(i, now);
      work = true;
    }
  }
  return work;
}

bool ChannelService::TakeCommands(AppSession& s, uint32_t budget, bool orphan, tcp::Instant now) {
  std::array<CommandRecord, kCommandBatch> batch;
  bool any = false;
  while (budget > 0 && !s.ending) {
    const uint32_t want = std::min(budget, kCommandBatch);
    const RingBatch got = s.commands.PopMany(std::span<CommandRecord>(batch.data(), want));
    if (got.status == RingStatus::kCorrupt) {
      s.End(ServiceCounter::kCorruptCommandRing);
      return true;
    }
    if (got.count == 0) return any;
    any = true;
    budget -= got.count;
    for (uint32_t i = 0; i < got.count && !s.ending; ++i) {
      Count(ServiceCounter::kCommands);
      Command command;
      const RecordError e = DecodeCommand(batch[i], command);
      if (e != RecordError::kOk) {
        Refuse(s, batch[i], e);
        continue;
      }
      if (orphan) {
        const Op op = command.op();
        if (op == Op::kOpen || op == Op::kBind || op == Op::kListen || op == Op::kConnect ||
            op == Op::kAcceptInto || op == Op::kAdopt) {
          Count(ServiceCounter::kOrphanCommandsIgnored);
          continue;
        }
      }
      Execute(s, command, now);
    }
  }
  return true;  // the budget ran out: there may be more
}

void ChannelService::ServeDirty(AppSession& s, tcp::Instant now) {
  s.dirty_batch.swap(s.dirty);
  for (uint32_t index : s.dirty_batch) {
    s.slots[index].dirty = false;
    if (!s.ending) ServeSlot(s, index, now);
  }
  s.dirty_batch.clear();
}

bool ChannelService::ServeSession(AppSession& s, tcp::Instant now) {
  bool work = s.FlushBacklog();
  // Answers to commands wait behind held-back events: no new commands until those are out.
  if (s.backlog.empty() && TakeCommands(s, limits_.commands_per_poll, false, now)) work = true;
  if (!s.dirty.empty() && !s.ending) {
    work = true;
    ServeDirty(s, now);
  }
  if (s.published && !s.ending) {
    s.published = false;
    if (WakePeer(s.region.app_sleeping(), s.doorbell)) Count(ServiceCounter::kDoorbellRings);
  }
  return work;
}

bool ChannelService::ServeOrphan(AppSession& s, tcp::Instant now) {
  bool work = false;
  if (!s.orphaned) {
    // An app that wrote, closed and exited is gone before the service saw its last commands:
    // they are still in the ring, and its bytes in the FIFOs.
    s.orphaned = true;
    s.orphan_deadline = now + limits_.orphan_linger;
    s.backlog.clear();
    s.region.SetServiceState(ServiceState::kGone);
    work = true;
  }
  if (!s.orphan_commands_done) {
    if (TakeCommands(s, limits_.commands_per_poll, true, now)) return true;
    if (s.ending) return true;
    s.orphan_commands_done = true;
    // What the app did not close, it lost by dying: reset, as an app killed mid-connection
    // must not look to its peers like one that finished.
    for (uint32_t i = 0; i < s.slots.size(); ++i) {
      Slot& slot = s.slots[i];
      if (slot.state == SlotState::kListening) CloseListener(s, i);
      if (slot.state == SlotState::kAdoptPending) {
        slot.state = SlotState::kFree;
        --s.adopting;
      }
      // A released connection still waits for the dead app's fork child.
      if (slot.state != SlotState::kClosing && !slot.released && slot.HasConnection()) {
        ResetConnection(s, i, now);
      }
    }
    work = true;
  }
  if (!s.dirty.empty() && !s.ending) {
    work = true;
    ServeDirty(s, now);
  }
  bool closing = false;
  for (const Slot& slot : s.slots) closing |= slot.state == SlotState::kClosing || slot.released;
  if (!closing) {
    s.End(ServiceCounter::kAppHangups);
  } else if (now >= s.orphan_deadline) {
    for (const Slot& slot : s.slots) {
      if (slot.state == SlotState::kClosing) Count(ServiceCounter::kOrphanLingerExpired);
    }
    s.End(ServiceCounter::kAppHangups);
  }
  return work || s.ending;
}

void ChannelService::Stop(tcp::Instant now) {
  if (stopped_) return;
  stopped_ = true;
  for (const auto& s : sessions_) s->region.SetServiceState(ServiceState::kStopping);
  while (!sessions_.empty()) {
    sessions_.back()->end_reason = ServiceCounter::kSessionsStopped;
    EndSession(sessions_.size() - 1, now);
  }
  listener_.reset();
}

// ---------------------------------------------------------------------------------------------
// Sleeping.

bool ChannelService::PrepareSleep(std::vector<pollfd>& fds) {
  if (stopped_ || !listener_) return true;
  for (const auto& s : sessions_) AnnounceSleep(s->region.service_sleeping());
  Count(ServiceCounter::kSleeps);
  // The re-check (doorbell.h): a command pushed before the flag was visible is seen here. Events
  // held back for a full ring are not work: the app may not read for a long time, and the
  // sleep's timeout retries them.
  for (const auto& s : sessions_) {
    if (s->commands.Size() > 0 || !s->dirty.empty() || s->ending ||
        (s->hung_up && !s->orphan_commands_done)) {
      return false;
    }
  }
  fds.push_back({listener_->fd(), POLLIN, 0});
  sleepers_.clear();
  // A dead app's connection and doorbell stay hung up: they would end every sleep at once.
  for (const auto& s : sessions_) {
    if (s->hung_up) continue;
    fds.push_back({s->connection.get(), POLLIN, 0});
    fds.push_back({s->doorbell.fd(), POLLIN, 0});
    sleepers_.push_back(s.get());
  }
  return true;
}

void ChannelService::FinishSleep(std::span<const pollfd> fds) {
  for (const auto& s : sessions_) EndSleep(s->region.service_sleeping());
  if (fds.empty()) return;
  if ((fds[0].revents & POLLIN) != 0) liveness_due_ = true;
  for (size_t i = 0; i < sleepers_.size() && 2 + 2 * i < fds.size(); ++i) {
    AppSession& s = *sleepers_[i];
    if (fds[1 + 2 * i].revents != 0) liveness_due_ = true;
    const short bell = fds[2 + 2 * i].revents;
    if (bell == 0) continue;
    Count(ServiceCounter::kWakeups);
    if ((bell & (POLLHUP | POLLERR | POLLNVAL)) != 0 || !s.doorbell.Drain()) s.hung_up = true;
  }
}

// ---------------------------------------------------------------------------------------------
// Commands.

void ChannelService::Refuse(AppSession& s, const CommandRecord& raw, RecordError error) {
  Count(ServiceCounter::kMalformedCommands);
  // The answer must decode on the app's side: a handle out of range is answered on slot 0, an
  // unknown op as kOpen; the cookie tells the app which command it was.
  const uint32_t handle = HandleIndex(raw.handle) < kMaxSlots ? raw.handle : 0;
  const Op op = raw.op < kOpCount ? static_cast<Op>(raw.op) : Op::kOpen;
  int32_t err = EINVAL;
  if (op == Op::kOpen && error == RecordError::kBadFamily) err = EAFNOSUPPORT;
  if (op == Op::kOpen && error == RecordError::kBadProtocol) err = EPROTONOSUPPORT;
  s.Done(handle, raw.cookie, op, err);
}

void ChannelService::Execute(AppSession& s, const Command& c, tcp::Instant now) {
  if (c.op() == Op::kOpen) {
    ExecOpen(s, c);
    return;
  }
  if (c.op() == Op::kAdopt) {
    ExecAdopt(s, c, now);
    return;
  }
  Slot* slot = s.Owned(c.handle);
  if (slot == nullptr) {
    Count(ServiceCounter::kBadHandleCommands);
    s.Done(c.handle, c.cookie, c.op(), EBADF);
    return;
  }
  const uint32_t index = HandleIndex(c.handle);
  switch (c.op()) {
    case Op::kOpen:
      break;
    case Op::kBind:
      ExecBind(s, index, c);
      break;
    case Op::kListen:
      ExecListen(s, index, c);
      break;
    case Op::kConnect:
      ExecConnect(s, index, c, now);
      break;
    case Op::kAcceptInto:
      ExecAcceptInto(s, index, c);
      break;
    case Op::kSend:
      // The app swapped tx_pending 0 -> 1 before this command: clear it, fence, then drain, so
      // that bytes written after the drain announce themselves again (layout.h, SlotShared).
      s.region.slot(index)->tx_pending.store(0, std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_seq_cst);
      if (slot->state == SlotState::kOpen || slot->state == SlotState::kBound ||
          slot->state == SlotState::kListening) {
        Count(ServiceCounter::kWrongStateCommands);
        s.Done(c.handle, c.cookie, Op::kSend, EINVAL);
        break;
      }
      s.MarkDirty(index);
      break;
    case Op::kRxSpace:
      slot->rx_full = false;
      s.MarkDirty(index);
      break;
    case Op::kShutdown:
      ExecShutdown(s, index, c);
      break;
    case Op::kClose:
      ExecClose(s, index, c, /*abort=*/false, now);
      break;
    case Op::kAbort:
      ExecClose(s, index, c, /*abort=*/true, now);
      break;
    case Op::kSetOpt:
      ExecSetOpt(s, index, c);
      break;
    case Op::kGetOpt:
      ExecGetOpt(s, index, c);
      break;
    case Op::kGetInfo:
      ExecGetInfo(s, index, c);
      break;
    case Op::kRelease:
      ExecRelease(s, index, c, now);
      break;
    case Op::kAdopt:
      break;
  }
}

void ChannelService::ExecOpen(AppSession& s, const Command& c) {
  // The app picks the slot and bumps its generation.
  if (!s.Claimable(c.handle)) {
    Count(ServiceCounter::kBadHandleCommands);
    s.Done(c.handle, c.cookie, Op::kOpen, EBADF);
    return;
  }
  const uint32_t index = HandleIndex(c.handle);
  const OpenArgs& a = std::get<OpenArgs>(c.args);
  Slot& slot = s.Claim(c.handle, SlotState::kOpen);
  slot.family = a.family;
  slot.protocol = a.protocol;
  slot.api = a.protocol == Protocol::kMptcp && apis_.mptcp != nullptr ? kApiMptcp : kApiTcp;
  slot.local = AnyAddress(a.family);
  slot.config = socket_config_;
  // The endpoints read their own index once (region.h): the FIFOs were reset when the slot was
  // last freed, and the app writes nothing before this command.
  slot.tx = s.region.TxReader(index);
  slot.rx = s.region.RxWriter(index);
  Count(ServiceCounter::kSocketsOpened);
  s.Done(c.handle, c.cookie, Op::kOpen, 0);
}

void ChannelService::ExecBind(AppSession& s, uint32_t index, const Command& c) {
  Slot& slot = s.slots[index];
  const SockAddr& address = std::get<BindArgs>(c.args).address;
  if (slot.state != SlotState::kOpen) {
    Count(ServiceCounter::kWrongStateCommands);
    s.Done(c.handle, c.cookie, Op::kBind, EINVAL);
    return;
  }
  if (address.family != slot.family && !(slot.family == AF_INET6 && address.family == AF_INET)) {
    s.Done(c.handle, c.cookie, Op::kBind, EINVAL);
    return;
  }
  if (!IsAnyAddress(address) && (!apis_.tcp->IsLocalAddress(ToIp(address)) ||
                                 (scope_.scoped() && !scope_.Contains(ToIp(address))))) {
    Count(ServiceCounter::kOutOfScopeRefused);
    s.Done(c.handle, c.cookie, Op::kBind, EADDRNOTAVAIL);
    return;
  }
  slot.local = address;
  slot.state = SlotState::kBound;
  s.Done(c.handle, c.cookie, Op::kBind, 0);
}

void ChannelService::ExecListen(AppSession& s, uint32_t index, const Command& c) {
  Slot& slot = s.slots[index];
  const uint32_t backlog =
      std::clamp<uint32_t>(std::get<ListenArgs>(c.args).backlog, 1, limits_.max_accept_backlog);
  if (slot.state == SlotState::kListening) {
    slot.backlog = backlog;  // as on Linux: listen() again changes the backlog
    s.Done(c.handle, c.cookie, Op::kListen, 0);
    return;
  }
  if (slot.state != SlotState::kOpen && slot.state != SlotState::kBound) {
    Count(ServiceCounter::kWrongStateCommands);
    s.Done(c.handle, c.cookie, Op::kListen, EINVAL);
    return;
  }
  // Where the listen applies: the bound address; unbound, every address of the stack, or in a
  // scoped service each of the scope's addresses of the socket's family (both families for
  // AF_INET6, which takes IPv4 too as a dual-stack socket does).
  std::vector<std::optional<wire::IpAddress>> locals;
  if (!IsAnyAddress(slot.local)) {
    locals.push_back(ToIp(slot.local));
  } else if (!scope_.scoped()) {
    locals.push_back(std::nullopt);
  } else {
    for (const wire::IpAddress& a : scope_.addresses) {
      if (slot.family == AF_INET6 || std::holds_alternative<wire::Ipv4Address>(a)) {
        locals.push_back(a);
      }
    }
    if (locals.empty()) {
      Count(ServiceCounter::kOutOfScopeRefused);
      s.Done(c.handle, c.cookie, Op::kListen, EADDRNOTAVAIL);
      return;
    }
  }
  absl::Status status = absl::InvalidArgumentError("no port");
  if (slot.local.port != 0) {
    status = ListenAll(s, index, slot.local.port, locals);
  } else {
    // Port 0: the first port of the dynamic range free at every address, from where the last
    // search ended.
    for (uint32_t i = 0; i < kListenPortTries; ++i) {
      const uint16_t port = static_cast<uint16_t>(
          kListenPortFirst + (next_listen_port_++ % (65536u - kListenPortFirst)));
      status = ListenAll(s, index, port, locals);
      if (status.ok()) {
        slot.local.port = port;
        break;
      }
      if (!absl::IsAlreadyExists(status)) break;
    }
  }
  if (!status.ok()) {
    s.Done(c.handle, c.cookie, Op::kListen, ErrnoOf(status));
    return;
  }
  slot.backlog = backlog;
  slot.state = SlotState::kListening;
  Count(ServiceCounter::kListens);
  s.Done(c.handle, c.cookie, Op::kListen, 0);
}

absl::StatusOr<tcp::ListenerId> ChannelService::ListenOn(
    AppSession& s, uint32_t index, uint16_t port, const std::optional<wire::IpAddress>& local) {
  Slot& slot = s.slots[index];
  if (slot.api == kApiMptcp && apis_.mptcp != nullptr && scope_.policy_for) {
    std::shared_ptr<const mptcp::ConnectionPolicy> policy =
        scope_.policy_for(local.value_or(wire::IpAddress{}), port, /*listen=*/true);
    if (policy != nullptr) {
      return apis_.mptcp->ListenWithPolicy(port, slot.config, handlers_[slot.api].get(), local,
                                           std::move(policy));
    }
  }
  return Api(slot.api).Listen(port, slot.config, handlers_[slot.api].get(), local);
}

absl::Status ChannelService::ListenAll(AppSession& s, uint32_t index, uint16_t port,
                                       std::span<const std::optional<wire::IpAddress>> locals) {
  Slot& slot = s.slots[index];
  std::vector<tcp::ListenerId> ids;
  for (const std::optional<wire::IpAddress>& local : locals) {
    absl::StatusOr<tcp::ListenerId> id = ListenOn(s, index, port, local);
    if (!id.ok()) {
      for (const tcp::ListenerId undo : ids) (void)Api(slot.api).StopListening(undo);
      return id.status();
    }
    ids.push_back(*id);
  }
  slot.listener = ids.front();
  slot.more_listeners.assign(ids.begin() + 1, ids.end());
  for (const tcp::ListenerId id : ids) listeners_[Key(slot.api, id.index)] = ListenerRef{&s, index};
  return absl::OkStatus();
}

void ChannelService::ExecAcceptInto(AppSession& s, uint32_t index, const Command& c) {
  Slot& listener = s.slots[index];
  const uint32_t new_handle = std::get<AcceptIntoArgs>(c.args).new_handle;
  if (listener.state != SlotState::kListening) {
    Count(ServiceCounter::kWrongStateCommands);
    s.Done(c.handle, c.cookie, Op::kAcceptInto, EINVAL);
    return;
  }
  if (!s.Claimable(new_handle)) {
    Count(ServiceCounter::kBadHandleCommands);
    s.Done(c.handle, c.cookie, Op::kAcceptInto, EBADF);
    return;
  }
  if (listener.posted.size() >= limits_.max_pending_accepts) {
    s.Done(c.handle, c.cookie, Op::kAcceptInto, EINVAL);
    return;
  }
  const uint32_t new_index = HandleIndex(new_handle);
  Slot& slot = s.Claim(new_handle, SlotState::kAcceptPending);
  slot.parent = index;
  slot.accept_cookie = c.cookie;
  listener.posted.push_back(new_index);
  TryAccept(s, index);
}

void ChannelService::ExecConnect(AppSession& s, uint32_t index, const Command& c,
                                 tcp::Instant now) {
  Slot& slot = s.slots[index];
  const SockAddr& remote = std::get<ConnectArgs>(c.args).address;
  if (slot.state != SlotState::kOpen && slot.state != SlotState::kBound) {
    Count(ServiceCounter::kWrongStateCommands);
    s.Done(c.handle, c.cookie, Op::kConnect, EINVAL);
    return;
  }
  const bool family_ok =
      remote.family == slot.family || (slot.family == AF_INET6 && remote.family == AF_INET);
  // The socket API picks the local port itself (the worker's ephemeral slice, which steering
  // relies on): a socket bound to a port cannot connect from it.
  if (!family_ok || remote.port == 0 || slot.local.port != 0) {
    Count(ServiceCounter::kConnectFailures);
    s.Done(c.handle, c.cookie, Op::kConnect,
           family_ok && remote.port != 0 ? EADDRNOTAVAIL : EINVAL);
    return;
  }
  std::optional<wire::IpAddress> bind;
  if (!IsAnyAddress(slot.local)) {
    bind = ToIp(slot.local);
  } else if (scope_.scoped()) {
    // A pod's connection leaves from the pod's own address on the path the route takes.
    bind = scope_.source_for(ToIp(remote));
    if (!bind) {
      Count(ServiceCounter::kConnectFailures);
      s.Done(c.handle, c.cookie, Op::kConnect, ENETUNREACH);
      return;
    }
  }
  std::shared_ptr<const mptcp::ConnectionPolicy> policy;
  if (slot.api == kApiMptcp && apis_.mptcp != nullptr && scope_.policy_for) {
    policy = scope_.policy_for(ToIp(remote), remote.port, /*listen=*/false);
  }
  absl::StatusOr<tcp::SocketId> id =
      policy != nullptr
          ? apis_.mptcp->ConnectWithPolicy(ToIp(remote), remote.port, slot.config,
                                           handlers_[slot.api].get(), now, bind, policy.get())
          : Api(slot.api).Connect(ToIp(remote), remote.port, slot.config, handlers_[slot.api].get(),
                                  now, bind);
  if (!id.ok()) {
    Count(ServiceCounter::kConnectFailures);
    s.Done(c.handle, c.cookie, Op::kConnect, ErrnoOf(id.status()));
    return;
  }
  sockets_[Key(slot.api, id->index)] = SocketRef{&s, index, id->generation, false};
  slot.socket = *id;
  slot.state = SlotState::kConnecting;
  slot.connect_cookie = c.cookie;
  Count(ServiceCounter::kConnects);
  ApplyConnectionOptions(s, index);
}

void ChannelService::ExecShutdown(AppSession& s, uint32_t index, const Command& c) {
  Slot& slot = s.slots[index];
  const uint32_t how = std::get<ShutdownArgs>(c.args).how;
  if (slot.state != SlotState::kConnected) {
    s.Done(c.handle, c.cookie, Op::kShutdown, ENOTCONN);
    return;
  }
  if (how == SHUT_RD || how == SHUT_RDWR) slot.read_shut = true;
  if (how == SHUT_WR || how == SHUT_RDWR) slot.write_shut = true;
  s.MarkDirty(index);
  s.Done(c.handle, c.cookie, Op::kShutdown, 0);
}

void ChannelService::ExecClose(AppSession& s, uint32_t index, const Command& c, bool abort,
                               tcp::Instant now) {
  Slot& slot = s.slots[index];
  switch (slot.state) {
    case SlotState::kListening:
      CloseListener(s, index);
      Release(s, index, c.cookie, 0);
      return;
    case SlotState::kConnecting:
      ResetConnection(s, index, now);
      Release(s, index, c.cookie, 0);
      return;
    case SlotState::kConnected:
    case SlotState::kClosing: {
      // As close() on Linux: unread received data, or SO_LINGER with a zero timeout, resets.
      bool unread = slot.rx.capacity() != 0 && slot.rx.Writable() < slot.rx.capacity();
      if (const std::optional<tcp::TcpInfo> info = Api(slot.api).Info(slot.socket);
          info && slot.api == kApiTcp && info->receive_queue > 0) {
        unread = true;
      }
      if (slot.api == kApiMptcp && apis_.mptcp != nullptr) {
        if (const auto m = apis_.mptcp->ConnectionInfo(slot.socket); m && m->receive_queue > 0) {
          unread = true;
        }
      }
      if (abort || (unread && !slot.read_shut) ||
          (slot.options.linger && slot.options.linger_seconds == 0)) {
        ResetConnection(s, index, now);
        Release(s, index, c.cookie, 0);
        return;
      }
      slot.state = SlotState::kClosing;
      slot.close_cookie = c.cookie;
      s.MarkDirty(index);
      return;
    }
    default:
      Release(s, index, c.cookie, 0);
      return;
  }
}

void ChannelService::ExecGetInfo(AppSession& s, uint32_t index, const Command& c) {
  Slot& slot = s.slots[index];
  const InfoKind what = std::get<GetInfoArgs>(c.args).what;
  InfoArgs info;
  info.what = what;
  const std::optional<tcp::FlowKey> flow =
      slot.HasConnection() ? Api(slot.api).Flow(slot.socket) : std::nullopt;
  switch (what) {
    case InfoKind::kLocalAddress:
      info.address = flow ? ToSockAddr(flow->local, flow->local_port) : slot.local;
      break;
    case InfoKind::kPeerAddress:
      if (!flow) {
        s.Done(c.handle, c.cookie, Op::kGetInfo, ENOTCONN);
        return;
      }
      info.address = ToSockAddr(flow->remote, flow->remote_port);
      break;
    case InfoKind::kConnection: {
      const std::optional<tcp::TcpInfo> t =
          slot.HasConnection() ? Api(slot.api).Info(slot.socket) : std::nullopt;
      if (!t) {
        s.Done(c.handle, c.cookie, Op::kGetInfo, ENOTCONN);
        return;
      }
      ConnectionInfo& ci = info.connection;
      ci.state = LinuxTcpState(t->state);
      ci.rtt_us = Micros(t->srtt);
      ci.cwnd_bytes = static_cast<uint32_t>(std::min<uint64_t>(t->cwnd, UINT32_MAX));
      ci.mss = t->snd_mss;
      ci.bytes_sent = t->counters[tcp::TcpCounter::kBytesSent];
      ci.bytes_received = t->counters[tcp::TcpCounter::kBytesReceived];
      ci.bytes_retransmitted = t->counters[tcp::TcpCounter::kBytesRetransmitted];
      ci.subflows = 1;
      if (slot.api == kApiMptcp && apis_.mptcp != nullptr) {
        if (const auto m = apis_.mptcp->ConnectionInfo(slot.socket)) {
          ci.mptcp = m->fallback ? 0 : 1;
          ci.subflows = static_cast<uint16_t>(std::min<uint32_t>(m->subflows, 65535));
          ci.bytes_sent = m->bytes_sent;
          ci.bytes_received = m->bytes_received;
        }
      }
      // The decoder accepts TCP_ESTABLISHED .. TCP_CLOSING only; a listener's state is not a
      // connection's.
      ci.state = std::clamp<uint8_t>(ci.state, TCP_ESTABLISHED, TCP_CLOSING);
      break;
    }
  }
  s.Push(Event{c.handle, c.cookie, 0, info});
}

// ---------------------------------------------------------------------------------------------
// Socket options (docs/channel-protocol.md, "Socket options").

void ChannelService::ExecSetOpt(AppSession& s, uint32_t index, const Command& c) {
  Slot& slot = s.slots[index];
  const SetOptArgs& a = std::get<SetOptArgs>(c.args);
  int32_t value = 0;
  const bool has_int = a.length >= sizeof(int32_t);
  if (has_int) std::memcpy(&value, a.value.data(), sizeof(value));
  const auto done = [&](int32_t error) {
    if (error == EINVAL || error == ENOENT) Count(ServiceCounter::kOptRefused);
    if (error == ENOPROTOOPT) Count(ServiceCounter::kOptUnknown);
    s.Done(c.handle, c.cookie, Op::kSetOpt, error);
  };
  // A TcpConfig field: free to change until the socket layer has the socket; afterwards only a
  // no-op "change" is accepted, since the socket API has no per-connection setter.
  const auto set_config = [&](auto& field, auto new_value) {
    if (field == new_value) return done(0);
    if (slot.ConfigFixed()) return done(EINVAL);
    field = new_value;
    done(0);
  };
  // The options the socket layer changes on an open connection, as Linux takes them any time
  // (apps commonly set TCP_NODELAY and SO_KEEPALIVE right after accept or connect). A listener
  // passes them on to what it accepts (TryAccept).
  const auto set_live = [&](bool& field, bool new_value,
                            absl::Status (tcp::SocketApi::*set)(tcp::SocketId, bool), bool on) {
    if (field == new_value) return done(0);
    if (slot.HasConnection() && !(Api(slot.api).*set)(slot.socket, on).ok()) return done(EINVAL);
    field = new_value;
    done(0);
  };
  const auto text = [&] {
    std::string name(reinterpret_cast<const char*>(a.value.data()), a.length);
    name.resize(std::strlen(name.c_str()));
    return name;
  };
  if (a.level == SOL_SOCKET) {
    switch (a.name) {
      case SO_REUSEADDR:
        if (!has_int) return done(EINVAL);
        slot.options.reuse_address = value != 0;
        return done(0);
      case SO_REUSEPORT:
        if (!has_int) return done(EINVAL);
        slot.options.reuse_port = value != 0;
        return done(0);
      case SO_KEEPALIVE:
        if (!has_int) return done(EINVAL);
        return set_live(slot.config.keepalive, value != 0, &tcp::SocketApi::SetKeepalive,
                        value != 0);
      case SO_LINGER: {
        linger l{};
        if (a.length < sizeof(l)) return done(EINVAL);
        std::memcpy(&l, a.value.data(), sizeof(l));
        slot.options.linger = l.l_onoff != 0;
        slot.options.linger_seconds = l.l_linger;
        return done(0);
      }
      case SO_SNDBUF:
      case SO_RCVBUF: {
        if (!has_int) return done(EINVAL);
        // Linux clamps rather than refuses; the socket's buffers bound what the FIFOs feed it.
        const uint32_t bytes = static_cast<uint32_t>(std::clamp<int64_t>(value, 4096, 64 << 20));
        return a.name == SO_SNDBUF ? set_config(slot.config.send_buffer, bytes)
                                   : set_config(slot.config.receive_buffer, bytes);
      }
      default:
        return done(ENOPROTOOPT);  // SO_ERROR, SO_TYPE, ... are read-only, as on Linux
    }
  }
  if (a.level == IPPROTO_TCP) {
    switch (a.name) {
      case TCP_NODELAY:
        if (!has_int) return done(EINVAL);
        return set_live(slot.config.nagle, value == 0, &tcp::SocketApi::SetNoDelay, value != 0);
      case TCP_MAXSEG:
        if (!has_int || value < 88 || value > 65535) return done(EINVAL);  // Linux's bounds
        return set_config(slot.config.mss, static_cast<uint16_t>(value));
      case TCP_KEEPIDLE:
      case TCP_KEEPINTVL: {
        if (!has_int || value < 1 || value > 32767) return done(EINVAL);
        const tcp::Duration d = std::chrono::seconds(value);
        return a.name == TCP_KEEPIDLE ? set_config(slot.config.keepalive_idle, d)
                                      : set_config(slot.config.keepalive_interval, d);
      }
      case TCP_KEEPCNT:
        if (!has_int || value < 1 || value > 127) return done(EINVAL);
        return set_config(slot.config.keepalive_probes, static_cast<uint32_t>(value));
      case TCP_CONGESTION: {
        const std::string name = text();
        static const tcp::CongestionControlRegistry registry;
        if (!registry.Contains(name)) return done(ENOENT);  // as Linux answers
        return set_config(slot.config.congestion_control, name);
      }
      default:
        return done(ENOPROTOOPT);
    }
  }
  if (a.level == kSolMptcp && slot.protocol == Protocol::kMptcp && apis_.mptcp != nullptr) {
    switch (a.name) {
      case kBraidMptcpScheduler: {
        const std::string name = text();
        const std::vector<std::string> names = apis_.mptcp->schedulers().Names();
        if (std::find(names.begin(), names.end(), name) == names.end()) return done(ENOENT);
        slot.options.scheduler = name;
        if (slot.HasConnection() && !apis_.mptcp->SetScheduler(slot.socket, name).ok()) {
          return done(EINVAL);
        }
        return done(0);
      }
      case kBraidMptcpBackup:
        if (!has_int) return done(EINVAL);
        slot.options.backup = value != 0;
        if (slot.state == SlotState::kConnected) ApplyConnectionOptions(s, index);
        return done(0);
      default:
        // BRAID_MPTCP_PATH_MANAGER: the socket manager picks the path manager for every
        // connection of the worker; there is no per-connection choice yet.
        return done(ENOPROTOOPT);
    }
  }
  done(ENOPROTOOPT);
}

void ChannelService::ExecGetOpt(AppSession& s, uint32_t index, const Command& c) {
  Slot& slot = s.slots[index];
  const GetOptArgs& a = std::get<GetOptArgs>(c.args);
  std::vector<uint8_t> value;
  bool multi = false;  // the whole value, in as many records as it takes
  const auto fail = [&](int32_t error) {
    if (error == ENOPROTOOPT) Count(ServiceCounter::kOptUnknown);
    s.Done(c.handle, c.cookie, Op::kGetOpt, error);
  };
  const auto integer = [&](int32_t v) { StoreValue(value, v); };
  const auto seconds = [](tcp::Duration d) {
    return static_cast<int32_t>(std::chrono::duration_cast<std::chrono::seconds>(d).count());
  };
  bool known = true;
  if (a.level == SOL_SOCKET) {
    switch (a.name) {
      case SO_REUSEADDR:
        integer(slot.options.reuse_address);
        break;
      case SO_REUSEPORT:
        integer(slot.options.reuse_port);
        break;
      case SO_KEEPALIVE:
        integer(slot.config.keepalive);
        break;
      case SO_LINGER: {
        linger l{};
        l.l_onoff = slot.options.linger;
        l.l_linger = slot.options.linger_seconds;
        StoreValue(value, l);
        break;
      }
      case SO_SNDBUF:
        integer(static_cast<int32_t>(slot.config.send_buffer));
        break;
      case SO_RCVBUF:
        integer(static_cast<int32_t>(slot.config.receive_buffer));
        break;
      case SO_ERROR:
        integer(std::exchange(slot.so_error, 0));
        break;
      case SO_TYPE:
        integer(SOCK_STREAM);
        break;
      case SO_DOMAIN:
        integer(slot.family);
        break;
      case SO_PROTOCOL:
        integer(static_cast<int32_t>(slot.protocol));
        break;
      case SO_ACCEPTCONN:
        integer(slot.state == SlotState::kListening);
        break;
      default:
        known = false;
    }
  } else if (a.level == IPPROTO_TCP) {
    switch (a.name) {
      case TCP_NODELAY:
        integer(!slot.config.nagle);
        break;
      case TCP_MAXSEG: {
        const std::optional<tcp::TcpInfo> t =
            slot.HasConnection() ? Api(slot.api).Info(slot.socket) : std::nullopt;
        integer(static_cast<int32_t>(t ? t->snd_mss : slot.config.mss));
        break;
      }
      case TCP_KEEPIDLE:
        integer(seconds(slot.config.keepalive_idle));
        break;
      case TCP_KEEPINTVL:
        integer(seconds(slot.config.keepalive_interval));
        break;
      case TCP_KEEPCNT:
        integer(static_cast<int32_t>(slot.config.keepalive_probes));
        break;
      case TCP_CONGESTION: {
        // Linux answers TCP_CA_NAME_MAX (16) bytes, NUL-padded.
        value.assign(16, 0);
        const std::string& name = slot.config.congestion_control;
        std::memcpy(value.data(), name.data(), std::min<size_t>(name.size(), 15));
        break;
      }
      case TCP_INFO: {
        tcp_info k{};
        if (slot.HasConnection()) {
          if (const std::optional<tcp::TcpInfo> t = Api(slot.api).Info(slot.socket)) {
            k = KernelTcpInfo(*t);
          }
        } else {
          k.tcpi_state = slot.state == SlotState::kListening ? TCP_LISTEN : TCP_CLOSE;
        }
        StoreValue(value, k);
        multi = true;
        break;
      }
      default:
        known = false;
    }
  } else if (a.level == kSolMptcp && slot.protocol == Protocol::kMptcp && apis_.mptcp != nullptr) {
    const std::optional<mptcp::MptcpInfo> m =
        slot.HasConnection() ? apis_.mptcp->ConnectionInfo(slot.socket) : std::nullopt;
    switch (a.name) {
      case MPTCP_INFO: {
        // Linux answers with a zeroed struct until the connection is MPTCP (mptcp_diag).
        StoreValue(value, m ? KernelMptcpInfo(*m) : mptcp_info{});
        multi = true;
        break;
      }
      case MPTCP_TCPINFO:
      case MPTCP_SUBFLOW_ADDRS: {
        // struct mptcp_subflow_data, then one record per subflow (the kernel's sizes).
        const std::vector<mptcp::SubflowInfo> subflows = slot.HasConnection()
                                                             ? apis_.mptcp->SubflowsOf(slot.socket)
                                                             : std::vector<mptcp::SubflowInfo>{};
        const bool tcp_info_kind = a.name == MPTCP_TCPINFO;
        const uint32_t element = tcp_info_kind ? sizeof(tcp_info) : sizeof(mptcp_subflow_addrs);
        mptcp_subflow_data header{};
        header.num_subflows = static_cast<uint32_t>(subflows.size());
        header.size_kernel = element;
        header.size_user = element;
        header.size_subflow_data = sizeof(header);
        value.resize(sizeof(header) + subflows.size() * element);
        std::memcpy(value.data(), &header, sizeof(header));
        for (size_t i = 0; i < subflows.size(); ++i) {
          uint8_t* at = value.data() + sizeof(header) + i * element;
          if (tcp_info_kind) {
            const tcp_info k = subflows[i].tcp ? KernelTcpInfo(*subflows[i].tcp) : tcp_info{};
            std::memcpy(at, &k, sizeof(k));
          } else {
            mptcp_subflow_addrs addrs{};
            sockaddr_storage local{};
            sockaddr_storage remote{};
            ToSockaddr(ToSockAddr(subflows[i].local_address, subflows[i].local_port), &local);
            ToSockaddr(ToSockAddr(subflows[i].remote_address, subflows[i].remote_port), &remote);
            std::memcpy(&addrs.ss_local, &local, sizeof(addrs.ss_local));
            std::memcpy(&addrs.ss_remote, &remote, sizeof(addrs.ss_remote));
            std::memcpy(at, &addrs, sizeof(addrs));
          }
        }
        multi = true;
        break;
      }
      case kBraidMptcpScheduler:
      case kBraidMptcpPathManager: {
        std::string name;
        if (a.name == kBraidMptcpScheduler) {
          name = m ? m->scheduler : slot.options.scheduler;
          if (name.empty()) name = apis_.mptcp->config().scheduler;
        } else {
          name = m ? m->path_manager : apis_.mptcp->config().path_manager.policy;
        }
        value.assign(name.begin(), name.end());
        value.push_back(0);
        break;
      }
      case kBraidMptcpBackup:
        integer(slot.options.backup);
        break;
      default:
        known = false;  // MPTCP_FULL_INFO (kMptcpFullInfo) among them
    }
  } else {
    known = false;
  }
  static_assert(kMptcpFullInfo == 4);
  if (!known) return fail(ENOPROTOOPT);

  if (!multi) {
    // One record, cut to what the app asked for (getsockopt truncates the same way).
    OptValueArgs v;
    v.length = static_cast<uint32_t>(std::min<size_t>({value.size(), a.max_length, kMaxOptBytes}));
    std::memcpy(v.value.data(), value.data(), v.length);
    s.Push(Event{c.handle, c.cookie, 0, v});
    return;
  }
  // Several records: aux = the total, flags bit 0 on every record but the last.
  const uint32_t total = static_cast<uint32_t>(std::min<size_t>(value.size(), kMaxOptValueBytes));
  for (uint32_t at = 0; at < total || (total == 0 && at == 0); at += kMaxOptBytes) {
    OptValueArgs v;
    v.length = total;
    const uint32_t piece = std::min(kMaxOptBytes, total - at);
    v.more = at + piece < total;
    std::memcpy(v.value.data(), value.data() + at, piece);
    s.Push(Event{c.handle, c.cookie, 0, v});
    if (total == 0) break;
  }
}

void ChannelService::ApplyConnectionOptions(AppSession& s, uint32_t index) {
  Slot& slot = s.slots[index];
  if (slot.api != kApiMptcp || apis_.mptcp == nullptr || !slot.HasConnection()) return;
  if (!slot.options.scheduler.empty()) {
    (void)apis_.mptcp->SetScheduler(slot.socket, slot.options.scheduler);
  }
  if (slot.options.backup) {
    if (mptcp::PmConnection* pm = apis_.mptcp->PathControl(slot.socket)) {
      for (const mptcp::PmSubflow& sf : pm->subflows()) pm->SetBackup(sf.id, true);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Listeners and accepted connections.

void ChannelService::TryAccept(AppSession& s, uint32_t listener_index) {
  Slot& listener = s.slots[listener_index];
  while (!listener.posted.empty() && !listener.waiting.empty()) {
    const uint32_t index = listener.posted.front();
    const tcp::SocketId socket = listener.waiting.front();
    listener.posted.pop_front();
    listener.waiting.pop_front();
    Slot& slot = s.slots[index];
    slot.state = SlotState::kConnected;
    slot.family = listener.family;
    slot.protocol = listener.protocol;
    slot.api = listener.api;
    slot.config = listener.config;
    slot.options = listener.options;
    slot.socket = socket;
    slot.tx = s.region.TxReader(index);
    slot.rx = s.region.RxWriter(index);
    if (SocketRef* ref = FindSocket(slot.api, socket)) {
      ref->slot = index;
      ref->waiting = false;
    }
    const std::optional<tcp::FlowKey> flow = Api(slot.api).Flow(socket);
    AcceptedArgs accepted;
    accepted.listener = s.Handle(listener_index);
    if (flow) {
      accepted.peer = ToSockAddr(flow->remote, flow->remote_port);
      slot.local = ToSockAddr(flow->local, flow->local_port);
    }
    // Set on the listener after it listened, these were not in the settings it accepted with.
    tcp::SocketApi& api = Api(slot.api);
    (void)api.SetNoDelay(socket, !slot.config.nagle);
    (void)api.SetKeepalive(socket, slot.config.keepalive);
    Count(ServiceCounter::kAccepted);
    if (flow && scope_.on_accepted) scope_.on_accepted(flow->local, flow->local_port);
    s.Push(Event{s.Handle(index), slot.accept_cookie, 0, accepted});
    ApplyConnectionOptions(s, index);
    // Bytes (or a FIN) may have arrived while the connection waited for its slot.
    s.MarkDirty(index);
  }
}

void ChannelService::CloseListener(AppSession& s, uint32_t index) {
  Slot& listener = s.slots[index];
  tcp::SocketApi& api = Api(listener.api);
  (void)api.StopListening(listener.listener);
  listeners_.erase(Key(listener.api, listener.listener.index));
  for (const tcp::ListenerId more : listener.more_listeners) {
    (void)api.StopListening(more);
    listeners_.erase(Key(listener.api, more.index));
  }
  listener.more_listeners.clear();
  for (const tcp::SocketId socket : listener.waiting) {
    (void)api.Abort(socket, api.now());
    Orphan(listener.api, socket);
    Count(ServiceCounter::kSocketsReset);
  }
  listener.waiting.clear();
  // Posted slots go back to the app: their kAcceptInto fails.
  for (const uint32_t posted : listener.posted) {
    Slot& slot = s.slots[posted];
    s.Done(s.Handle(index), slot.accept_cookie, Op::kAcceptInto, ECONNABORTED);
    slot.state = SlotState::kFree;
  }
  listener.posted.clear();
}

void ChannelService::ResetConnection(AppSession& s, uint32_t index, tcp::Instant now) {
  Slot& slot = s.slots[index];
  if (!slot.HasConnection()) return;
  (void)Api(slot.api).Abort(slot.socket, now);
  Orphan(slot.api, slot.socket);
  slot.socket = {};
  Count(ServiceCounter::kSocketsReset);
}

void ChannelService::Release(AppSession& s, uint32_t index, uint64_t cookie, int32_t error) {
  Slot& slot = s.slots[index];
  const uint32_t handle = s.Handle(index);
  const uint32_t generation = slot.generation;
  if (slot.released) --s.released;
  slot = Slot{};
  slot.generation = generation;
  slot.used = true;
  // The slot is the app's again only after kClosed: nothing touches its FIFOs until then.
  s.region.ResetSlot(index);
  Count(ServiceCounter::kSocketsClosed);
  s.Push(Event{handle, cookie, error, ClosedArgs{}});
}

// ---------------------------------------------------------------------------------------------
// Fork: a connection moves from the process that accepted (or opened) it to a fork child.

namespace {

// Whether the process has a child, from /proc/<pid>/task/<tid>/children; true when that cannot
// be read (no such process in this pid namespace, or a kernel without the file): the caller then
// waits for its deadline instead.
bool HasChildren(pid_t pid) {
  const std::string task = "/proc/" + std::to_string(pid) + "/task";
  DIR* dir = ::opendir(task.c_str());
  if (dir == nullptr) return true;
  bool children = false;
  bool unknown = false;
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    const std::string path = task + "/" + e->d_name + "/children";
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      unknown |= errno != ENOENT;  // a thread that just ended is no answer
      continue;
    }
    char byte;
    const ssize_t n = ::read(fd, &byte, 1);
    ::close(fd);
    if (n < 0) unknown = true;
    if (n > 0) children = true;
    if (children) break;
  }
  ::closedir(dir);
  return children || unknown;
}

}  // namespace

AppSession* ChannelService::SessionByToken(uint64_t token) {
  for (const auto& s : sessions_) {
    if (s->region.adopt_token() == token && !s->ending) return s.get();
  }
  return nullptr;
}

void ChannelService::ExecRelease(AppSession& s, uint32_t index, const Command& c,
                                 tcp::Instant now) {
  Slot& slot = s.slots[index];
  if (slot.released) {
    Count(ServiceCounter::kWrongStateCommands);
    s.Done(c.handle, c.cookie, Op::kRelease, EINVAL);
    return;
  }
  if (slot.state != SlotState::kConnected) {
    // Nothing a child could take over: a plain close.
    ExecClose(s, index, c, /*abort=*/false, now);
    return;
  }
  slot.released = true;
  slot.release_cookie = c.cookie;
  slot.release_deadline = now + limits_.adopt_window;
  ++s.released;
  s.next_children_check = {};
  Count(ServiceCounter::kReleased);
  // A child that asked before the parent let go gets the connection now.
  const uint64_t token = s.region.adopt_token();
  for (const auto& t : sessions_) {
    if (t->adopting == 0) continue;
    for (uint32_t j = 0; j < t->slots.size(); ++j) {
      const Slot& want = t->slots[j];
      if (want.state == SlotState::kAdoptPending && want.adopt_token == token &&
          want.adopt_handle == c.handle) {
        CompleteAdopt(s, index, *t, j);
        return;
      }
    }
  }
}

void ChannelService::ExecAdopt(AppSession& s, const Command& c, tcp::Instant now) {
  if (!s.Claimable(c.handle)) {
    Count(ServiceCounter::kBadHandleCommands);
    s.Done(c.handle, c.cookie, Op::kAdopt, EBADF);
    return;
  }
  const uint32_t index = HandleIndex(c.handle);
  const AdoptArgs& a = std::get<AdoptArgs>(c.args);
  AppSession* owner = SessionByToken(a.owner_token);
  const Slot* from = owner != nullptr ? owner->Owned(a.owner_handle) : nullptr;
  // Connections only: a listener shared by several processes is not one socket the service
  // could hand to one of them.
  if (owner == &s || from == nullptr || from->state != SlotState::kConnected) {
    Count(ServiceCounter::kAdoptRefused);
    s.Done(c.handle, c.cookie, Op::kAdopt, from == nullptr || owner == &s ? EBADF : ENOTCONN);
    return;
  }
  Slot& slot = s.Claim(c.handle, SlotState::kAdoptPending);
  slot.adopt_token = a.owner_token;
  slot.adopt_handle = a.owner_handle;
  slot.adopt_cookie = c.cookie;
  slot.adopt_deadline = now + limits_.adopt_window;
  ++s.adopting;
  if (from->released) CompleteAdopt(*owner, HandleIndex(a.owner_handle), s, index);
}

void ChannelService::CompleteAdopt(AppSession& owner, uint32_t owner_index, AppSession& s,
                                   uint32_t index) {
  Slot& from = owner.slots[owner_index];
  Slot& to = s.slots[index];
  --s.adopting;
  const uint32_t generation = to.generation;
  const uint64_t cookie = to.adopt_cookie;
  s.region.ResetSlot(index);
  to = Slot{};
  to.state = SlotState::kConnected;
  to.generation = generation;
  to.used = true;
  to.family = from.family;
  to.protocol = from.protocol;
  to.api = from.api;
  to.socket = from.socket;
  to.local = from.local;
  to.config = from.config;
  to.options = from.options;
  to.so_error = from.so_error;
  to.fin_received = from.fin_received;
  to.read_shut = from.read_shut;
  to.write_shut = from.write_shut;
  to.fin_sent = from.fin_sent;
  to.tx = s.region.TxReader(index);
  to.rx = s.region.RxWriter(index);
  // What the owner wrote and the socket has not taken goes first; then what the owner never
  // read is the child's to read. A FIFO the owner corrupted ends the owner's session, not this.
  to.carry_tx = std::move(from.carry_tx);
  for (;;) {
    const FifoReadSpans spans = from.tx.ReadableSpans();
    if (from.tx.corrupt() || spans.size() == 0) break;
    to.carry_tx.insert(to.carry_tx.end(), spans.first.begin(), spans.first.end());
    if (from.tx.Consume(spans.first.size()).corrupt) break;
  }
  FifoReader unread = owner.region.ReleasedRxReader(owner_index);
  size_t moved = 0;
  for (;;) {
    const FifoReadSpans spans = unread.ReadableSpans();
    if (unread.corrupt() || spans.size() == 0) break;
    const FifoResult w = to.rx.Write(spans.first);
    moved += w.bytes;
    if (w.bytes < spans.first.size() || unread.Consume(w.bytes).corrupt) break;
  }
  if (from.tx.corrupt() || unread.corrupt()) owner.End(ServiceCounter::kCorruptFifo);
  if (SocketRef* ref = FindSocket(to.api, to.socket)) {
    ref->session = &s;
    ref->slot = index;
  }
  from.socket = {};
  Release(owner, owner_index, from.release_cookie, 0);
  Count(ServiceCounter::kAdopted);
  s.Done(MakeHandle(index, generation), cookie, Op::kAdopt, 0);
  if (moved > 0) {
    s.region.slot(index)->rx_pending.store(1, std::memory_order_seq_cst);
    s.Push(Event{s.Handle(index), 0, 0, ReadableArgs{}});
  }
  // Its TX carry, and the peer's FIN if one came (kPeerClosed is the child's to see again).
  s.MarkDirty(index);
}

void ChannelService::CheckAdoptions(AppSession& s, tcp::Instant now) {
  for (uint32_t i = 0; i < s.slots.size() && s.adopting > 0; ++i) {
    Slot& slot = s.slots[i];
    if (slot.state != SlotState::kAdoptPending) continue;
    AppSession* owner = SessionByToken(slot.adopt_token);
    const Slot* from = owner != nullptr ? owner->Owned(slot.adopt_handle) : nullptr;
    const bool gone = from == nullptr || from->state != SlotState::kConnected;
    if (!gone && now < slot.adopt_deadline) continue;
    slot.state = SlotState::kFree;
    --s.adopting;
    Count(ServiceCounter::kAdoptRefused);
    s.Done(s.Handle(i), slot.adopt_cookie, Op::kAdopt, gone ? ECONNABORTED : ETIMEDOUT);
  }
  if (s.released == 0) return;
  bool childless = false;
  const SteadyClock::time_point real_now = SteadyClock::now();
  if (real_now >= s.next_children_check) {
    s.next_children_check = real_now + std::chrono::milliseconds(100);
    childless = !HasChildren(s.peer.pid);
  }
  for (uint32_t i = 0; i < s.slots.size() && s.released > 0; ++i) {
    Slot& slot = s.slots[i];
    if (!slot.released || slot.state != SlotState::kConnected) continue;
    if (!childless && now < slot.release_deadline) continue;
    // Nobody took it over: the owner's close goes ahead.
    slot.released = false;
    --s.released;
    Count(ServiceCounter::kReleasesClosed);
    ExecClose(s, i, Command{s.Handle(i), slot.release_cookie, CloseArgs{}}, /*abort=*/false, now);
  }
}

// ---------------------------------------------------------------------------------------------
// Moving bytes.

void ChannelService::ServeSlot(AppSession& s, uint32_t index, tcp::Instant now) {
  Slot& slot = s.slots[index];
  switch (slot.state) {
    case SlotState::kConnected:
      DrainTx(s, index, now);
      // A released connection's bytes stay in the socket for the child that adopts it.
      if (!s.ending && !slot.released) FillRx(s, index, now);
      break;
    case SlotState::kClosing: {
      DrainTx(s, index, now);
      if (s.ending || slot.state != SlotState::kClosing) break;
      // Closed once the last byte went to the socket: the FIN follows it.
      if (!slot.tx_blocked && slot.carry_tx.empty() && slot.tx.Readable() == 0 &&
          !slot.tx.corrupt()) {
        tcp::SocketApi& api = Api(slot.api);
        if (slot.HasConnection()) {
          (void)api.Close(slot.socket, now);
          Orphan(slot.api, slot.socket);
          slot.socket = {};
        }
        Release(s, index, slot.close_cookie, 0);
      }
      break;
    }
    case SlotState::kDead: {
      // Bytes written to a connection that is gone go nowhere.
      const size_t n = slot.tx.Readable();
      if (n > 0) {
        if (slot.tx.Consume(n).corrupt) s.End(ServiceCounter::kCorruptFifo);
        Count(ServiceCounter::kTxDiscardedBytes, n);
      }
      break;
    }
    default:
      break;
  }
  if (slot.tx.corrupt() || slot.rx.corrupt()) {
    if (slot.state != SlotState::kFree && slot.state != SlotState::kAcceptPending) {
      s.End(ServiceCounter::kCorruptFifo);
    }
  }
}

void ChannelService::DrainTx(AppSession& s, uint32_t index, tcp::Instant now) {
  Slot& slot = s.slots[index];
  if (!slot.HasConnection()) return;
  tcp::SocketApi& api = Api(slot.api);
  slot.tx_blocked = false;
  size_t moved = 0;
  bool writable = false;
  if (!slot.carry_tx.empty() && !slot.fin_sent) {
    const size_t n = api.Send(slot.socket, slot.carry_tx, now);
    slot.carry_tx.erase(slot.carry_tx.begin(),
                        slot.carry_tx.begin() + static_cast<std::ptrdiff_t>(n));
    moved += n;
    if (!slot.carry_tx.empty()) {
      slot.tx_blocked = true;  // OnWritable brings the slot back
      Count(ServiceCounter::kTxBytes, moved);
      return;
    }
  }
  for (;;) {
    const FifoReadSpans spans = slot.tx.ReadableSpans();
    if (slot.tx.corrupt()) {
      s.End(ServiceCounter::kCorruptFifo);
      return;
    }
    if (spans.size() == 0) break;
    if (slot.fin_sent) {
      // Written after SHUT_WR's FIN: nowhere to go.
      const FifoResult r = slot.tx.Consume(spans.size());
      Count(ServiceCounter::kTxDiscardedBytes, r.bytes);
      writable |= r.transition;
      continue;
    }
    if (moved >= limits_.bytes_per_poll) {
      s.MarkDirty(index);  // the rest in the next Poll
      break;
    }
    const std::span<const uint8_t> piece =
        spans.first.first(std::min<size_t>(spans.first.size(), limits_.bytes_per_poll - moved));
    const size_t n = api.Send(slot.socket, piece, now);
    if (n > 0) {
      const FifoResult r = slot.tx.Consume(n);
      if (r.corrupt) {
        s.End(ServiceCounter::kCorruptFifo);
        return;
      }
      moved += n;
      writable |= r.transition;
    }
    if (n < piece.size()) {
      slot.tx_blocked = true;  // OnWritable brings the slot back
      break;
    }
  }
  Count(ServiceCounter::kTxBytes, moved);
  // The app found the FIFO full (its write came back short): tell it there is room again.
  if (writable) s.Push(Event{s.Handle(index), 0, 0, WritableArgs{}});
  if (slot.write_shut && !slot.fin_sent && !slot.tx_blocked && slot.carry_tx.empty() &&
      slot.tx.Readable() == 0) {
    (void)api.Shutdown(slot.socket, now);  // FIN (DATA_FIN) after the last byte
    slot.fin_sent = true;
  }
}

void ChannelService::FillRx(AppSession& s, uint32_t index, tcp::Instant now) {
  Slot& slot = s.slots[index];
  if (!slot.HasConnection() || slot.fin_received) {
    if (slot.fin_received && !slot.peer_closed_sent) {
      slot.peer_closed_sent = true;
      s.Push(Event{s.Handle(index), 0, 0, PeerClosedArgs{}});
    }
    return;
  }
  tcp::SocketApi& api = Api(slot.api);
  size_t moved = 0;
  if (slot.read_shut) {
    // SHUT_RD: what still arrives is read and dropped, so the window stays open.
    for (;;) {
      const tcp::ReceiveResult r = api.Receive(slot.socket, discard_, now);
      Count(ServiceCounter::kRxDroppedBytes, r.bytes);
      if (r.fin) slot.fin_received = true;
      if (r.bytes < discard_.size()) break;
    }
  } else {
    while (moved < limits_.bytes_per_poll) {
      const FifoWriteSpans spans = slot.rx.WritableSpans();
      if (slot.rx.corrupt()) {
        s.End(ServiceCounter::kCorruptFifo);
        return;
      }
      if (spans.size() == 0) {
        // Back-pressure: the socket keeps the bytes and its window closes; kRxSpace resumes.
        slot.rx_full = true;
        Count(ServiceCounter::kRxFull);
        break;
      }
      const std::span<uint8_t> piece =
          spans.first.first(std::min<size_t>(spans.first.size(), limits_.bytes_per_poll - moved));
      // Received straight into shared memory, then published.
      const tcp::ReceiveResult r = api.Receive(slot.socket, piece, now);
      if (r.bytes > 0) {
        if (slot.rx.Commit(r.bytes).corrupt) {
          s.End(ServiceCounter::kCorruptFifo);
          return;
        }
        moved += r.bytes;
      }
      if (r.fin) slot.fin_received = true;
      if (r.bytes < piece.size() || r.fin) break;
    }
    if (moved >= limits_.bytes_per_poll && !slot.fin_received) s.MarkDirty(index);
  }
  Count(ServiceCounter::kRxBytes, moved);
  // Announce only when the app cleared the flag since the last announcement (layout.h).
  if (moved > 0 && s.region.slot(index)->rx_pending.exchange(1, std::memory_order_seq_cst) == 0) {
    s.Push(Event{s.Handle(index), 0, 0, ReadableArgs{}});
  }
  if (slot.fin_received && !slot.peer_closed_sent) {
    slot.peer_closed_sent = true;
    s.Push(Event{s.Handle(index), 0, 0, PeerClosedArgs{}});
  }
}

// ---------------------------------------------------------------------------------------------
// Socket layer events.

void ChannelService::OnConnected(uint8_t api, tcp::SocketId socket) {
  SocketRef* ref = FindSocket(api, socket);
  if (ref == nullptr || ref->session == nullptr || ref->waiting) return;
  AppSession& s = *ref->session;
  Slot& slot = s.slots[ref->slot];
  if (slot.state != SlotState::kConnecting || !(slot.socket == socket)) return;
  slot.state = SlotState::kConnected;
  ConnectedArgs connected;
  if (const std::optional<tcp::FlowKey> flow = Api(api).Flow(socket)) {
    connected.local = ToSockAddr(flow->local, flow->local_port);
    slot.local = connected.local;
  }
  s.Push(Event{s.Handle(ref->slot), slot.connect_cookie, 0, connected});
  ApplyConnectionOptions(s, ref->slot);
  // The app may have written before the handshake completed.
  s.MarkDirty(ref->slot);
}

void ChannelService::OnAccepted(uint8_t api, tcp::ListenerId listener, tcp::SocketId socket) {
  auto it = listeners_.find(Key(api, listener.index));
  tcp::SocketApi& layer = Api(api);
  if (it == listeners_.end()) {
    (void)layer.Abort(socket, layer.now());
    return;
  }
  AppSession& s = *it->second.session;
  const uint32_t index = it->second.slot;
  Slot& slot = s.slots[index];
  if (slot.waiting.size() >= slot.backlog && slot.posted.empty()) {
    (void)layer.Abort(socket, layer.now());
    Count(ServiceCounter::kAcceptBacklogDrops);
    return;
  }
  sockets_[Key(api, socket.index)] = SocketRef{&s, index, socket.generation, true};
  slot.waiting.push_back(socket);
  TryAccept(s, index);
  if (s.published) {
    s.published = false;
    if (WakePeer(s.region.app_sleeping(), s.doorbell)) Count(ServiceCounter::kDoorbellRings);
  }
}

void ChannelService::OnDataEvent(uint8_t api, tcp::SocketId socket) {
  SocketRef* ref = FindSocket(api, socket);
  if (ref == nullptr || ref->session == nullptr || ref->waiting) return;
  ref->session->MarkDirty(ref->slot);
}

void ChannelService::OnError(uint8_t api, tcp::SocketId socket, tcp::SocketError error) {
  SocketRef* ref = FindSocket(api, socket);
  if (ref == nullptr || ref->session == nullptr) return;
  AppSession& s = *ref->session;
  if (ref->waiting) {
    Slot& listener = s.slots[ref->slot];
    std::erase(listener.waiting, socket);
    ref->session = nullptr;
    return;
  }
  const uint32_t index = ref->slot;
  Slot& slot = s.slots[index];
  ref->session = nullptr;  // OnClosed follows; nothing more goes to the app but kClosed
  if (!(slot.socket == socket)) return;
  const bool connecting = slot.state == SlotState::kConnecting;
  const int32_t err = ErrnoOf(error, connecting);
  slot.so_error = err;
  slot.socket = {};
  if (connecting) {
    slot.state = SlotState::kDead;
    Count(ServiceCounter::kConnectFailures);
    s.Done(s.Handle(index), slot.connect_cookie, Op::kConnect, err);
    return;
  }
  if (slot.state == SlotState::kClosing) {
    // The app already let go: the slot is free once it learns it.
    Release(s, index, slot.close_cookie, err);
    return;
  }
  if (slot.released) {
    Release(s, index, slot.release_cookie, err);
    return;
  }
  slot.state = SlotState::kDead;
  s.Push(Event{s.Handle(index), 0, err, ErrorArgs{}});
}

void ChannelService::OnClosed(uint8_t api, tcp::SocketId socket) {
  SocketRef* ref = FindSocket(api, socket);
  if (ref == nullptr) return;
  if (ref->session != nullptr) {
    // Closed without an error while the app still holds it (both sides finished): what was
    // received is in the FIFO; the app learns the end from kPeerClosed.
    AppSession& s = *ref->session;
    if (ref->waiting) {
      std::erase(s.slots[ref->slot].waiting, socket);
    } else {
      Slot& slot = s.slots[ref->slot];
      if (slot.socket == socket) {
        // A socket reports a clean close only after its last byte was read (TCP and MPTCP
        // alike); taking what is readable once more costs nothing and keeps it that way.
        if (slot.state == SlotState::kConnected) FillRx(s, ref->slot, Api(api).now());
        slot.socket = {};
        if (slot.state == SlotState::kConnecting) {
          Count(ServiceCounter::kConnectFailures);
          s.Done(s.Handle(ref->slot), slot.connect_cookie, Op::kConnect, ECONNREFUSED);
        } else if (!slot.peer_closed_sent) {
          slot.peer_closed_sent = true;
          s.Push(Event{s.Handle(ref->slot), 0, 0, PeerClosedArgs{}});
        }
        if (slot.state == SlotState::kClosing) {
          Release(s, ref->slot, slot.close_cookie, 0);
        } else if (slot.released) {
          Release(s, ref->slot, slot.release_cookie, 0);
        } else {
          slot.state = SlotState::kDead;
        }
      }
    }
  }
  sockets_.erase(Key(api, socket.index));
}

}  // namespace braid::channel
