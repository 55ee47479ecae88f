// The service side of the app channel (architecture.md §6, docs/channel-protocol.md): one
// ChannelService per worker listens on a unix socket, hands each app process a region
// (handover.h, region.h), and from then on serves the app's commands on the worker's socket API
// (tcp/socket_api.h): sockets are slots of the region, bytes go from the app's TX FIFO straight
// into Send and from Receive straight into the RX FIFO, answers and socket events go to the
// event ring.
//
// The app is untrusted. Every command is decoded from a private copy (layout.h), every handle is
// checked against the service's own slot table (AppSession: state, generation, socket), and an
// impossible ring or FIFO index ends the app's session: its connections are reset towards their
// peers (MP_FASTCLOSE for MPTCP, RST for TCP), its region unmapped, its unix connection closed.
// When the app dies (its unix connection or doorbell hangs up) the service first takes what it
// left in its command ring: sockets it closed keep their TX FIFO until the last byte went out,
// then close gracefully, as the kernel finishes a dead process's closed sockets (bounded by
// ServiceLimits::orphan_linger); every socket still open is reset towards its peer. The service
// never blocks on an app: everything it does is non-blocking, and a slow app only stalls itself
// (its RX FIFOs fill and its peers' windows close; its events wait in a private backlog).
//
// Fairness: Poll takes at most ServiceLimits::commands_per_poll commands per app and moves at
// most bytes_per_poll per socket and direction; what is left is served by the next Poll.
//
// Sleeping: ChannelService is the worker's runtime::WakeSources. PrepareSleep sets every app's
// service_sleeping flag, re-checks the command rings, and lists the listener, each app's unix
// connection and doorbell; apps ring only while the flag is set (doorbell.h). The service rings
// an app's doorbell only when it published events or bytes while the app's app_sleeping flag was
// set.
//
// Threading: one worker thread calls everything (Poll, the socket handlers, the sleep hooks).
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "datapath/channel/handover.h"
#include "datapath/channel/layout.h"
#include "datapath/mptcp/mptcp_config.h"
#include "datapath/mptcp/socket_manager.h"
#include "datapath/runtime/idle_policy.h"
#include "datapath/tcp/socket_api.h"
#include "datapath/tcp/tcp_config.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/address.h"

namespace braid::channel {

enum class ServiceCounter : uint8_t {
#define BRAID_CHANNEL_COUNTER(name, metric, help) name,
#include "datapath/channel/service/service_counters.def"
#undef BRAID_CHANNEL_COUNTER
  kCount,
};
inline constexpr size_t kServiceCounterCount = static_cast<size_t>(ServiceCounter::kCount);
// The metric name (braid_channel_<name>_total) and its help text.
std::string_view ServiceCounterName(ServiceCounter counter);
std::string_view ServiceCounterHelp(ServiceCounter counter);

struct ServiceCounters {
  std::array<uint64_t, kServiceCounterCount> values{};
  uint64_t operator[](ServiceCounter c) const { return values[static_cast<size_t>(c)]; }
  void Add(ServiceCounter c, uint64_t n = 1) { values[static_cast<size_t>(c)] += n; }
};

struct ServiceLimits {
  uint32_t max_apps = 64;  // sessions at once; more hellos are refused
  // kAcceptInto slots an app may have posted on one listener.
  uint32_t max_pending_accepts = 256;
  // Connections accepted by the stack and waiting for an app slot, per listener: kListen's
  // backlog, clamped to 1..this. Beyond it new connections are reset.
  uint32_t max_accept_backlog = 1024;
  uint32_t commands_per_poll = 64;      // per app and Poll
  uint32_t bytes_per_poll = 256 << 10;  // per socket, direction and Poll
  // How often Poll checks the apps' unix connections for a hang-up (the sleep hook sees one at
  // once).
  tcp::Duration liveness_interval = std::chrono::milliseconds(10);
  // How long the sockets a dead app closed may take to deliver what it wrote before the close;
  // after it they are reset. The kernel keeps a dead process's closed sockets for minutes
  // (tcp_orphan_retries); a region is much more memory than a socket buffer.
  tcp::Duration orphan_linger = std::chrono::seconds(30);
  // How long a released connection (kRelease: its owner forked, then closed it) waits for a
  // fork child to adopt it (kAdopt), and a kAdopt for its owner's release. A released
  // connection closes sooner when its owner has no child process left.
  tcp::Duration adopt_window = std::chrono::seconds(5);

  // InvalidArgument naming the field for zeros.
  absl::Status Validate() const;
};

// The socket layers sockets are opened on. kOpen with Protocol::kMptcp uses `mptcp` when there
// is one (it falls back to TCP per connection), else `tcp`; Protocol::kTcp always uses `tcp`.
// runtime::Worker gives {&worker.sockets(), worker.mptcp()} (service_app.h); tests pass theirs.
struct SocketApis {
  tcp::SubflowSocketApi* tcp = nullptr;  // required
  mptcp::MptcpSockets* mptcp = nullptr;
};

// Whom a service serves (architecture.md §7): the whole node (an empty scope: every address of
// the stack, the worker's MPTCP defaults), or one pod — its own addresses on the node's paths and
// its MPTCP options. The agent runs one service per pod, all on the same socket layers.
struct ServiceScope {
  // The local addresses the apps may bind, listen on and connect from. A wildcard listen
  // listens on each of them (of the socket's family; both for AF_INET6). Empty: unscoped.
  std::vector<wire::IpAddress> addresses;
  // The source of a connect without bind: the scope's address on the path the route to
  // `remote` leaves by; nullopt: unreachable (ENETUNREACH). Required with `addresses`.
  std::function<std::optional<wire::IpAddress>(const wire::IpAddress& remote)> source_for;
  // The MPTCP policy of the connections a listener on (address, port) accepts (`listen`), or of
  // a connect to (address, port). Null, or a null result: the worker's defaults.
  std::function<std::shared_ptr<const mptcp::ConnectionPolicy>(const wire::IpAddress& address,
                                                               uint16_t port, bool listen)>
      policy_for;

  // A connection was accepted at (local, port) and handed to an app (an endpoint's count).
  std::function<void(const wire::IpAddress& local, uint16_t port)> on_accepted;

  bool scoped() const { return !addresses.empty(); }
  bool Contains(const wire::IpAddress& address) const;
  // InvalidArgument when `addresses` is set without `source_for`.
  absl::Status Validate() const;
};

// One attached app as the service sees it (for tests, braidctl, the summary).
struct SessionInfo {
  pid_t pid = 0;  // SO_PEERCRED
  uid_t uid = 0;
  std::string name;       // from the hello
  uint32_t sockets = 0;   // slots in use (not free)
  uint64_t backlog = 0;   // events waiting for room in the event ring
  bool orphaned = false;  // the app is gone; its closed sockets are still draining
};

class AppSession;

class ChannelService final : public runtime::WakeSources {
 public:
  // `socket_config` is every socket's starting TcpConfig (options change it per socket).
  explicit ChannelService(SocketApis apis, const tcp::TcpConfig& socket_config = {},
                          ServiceScope scope = {});
  ChannelService(const ChannelService&) = delete;
  ChannelService& operator=(const ChannelService&) = delete;
  // Stops (as Stop) if still running.
  ~ChannelService() override;

  // Listens for apps on `path` ('@' for the abstract namespace, handover.h) and gives each one
  // a region of `geometry`. Errors: InvalidArgument (geometry or limits), FailedPrecondition
  // (already listening or stopped), the listener's errors.
  absl::Status Listen(std::string_view path, const Geometry& geometry,
                      const ServiceLimits& limits = {});
  // The same on a listener made elsewhere (ChannelListener::Adopt: a pod's abstract name bound
  // in the pod's network namespace).
  absl::Status Listen(ChannelListener listener, const Geometry& geometry,
                      const ServiceLimits& limits = {});
  const ServiceScope& scope() const { return scope_; }
  // Whether Listen would take a listener now: Listen's errors short of the listener's own.
  absl::Status CanListen(const Geometry& geometry, const ServiceLimits& limits) const;

  // Accepts hellos, serves every app's commands, moves bytes both ways, pushes events, wakes the
  // apps that sleep, ends the sessions of dead or broken apps. Never blocks. Returns whether it
  // did anything.
  bool Poll(tcp::Instant now);

  // Sets every region's service_state to kStopping, resets every connection, then kGone, and
  // lets go of every app (its unix connection closes) and of the listener. Poll does nothing
  // afterwards.
  void Stop(tcp::Instant now);
  bool stopped() const { return stopped_; }

  size_t sessions() const;
  std::vector<SessionInfo> Sessions() const;
  // Connections of the socket layers the service holds or still waits to see closed.
  size_t tracked_sockets() const { return sockets_.size(); }
  const ServiceCounters& counters() const { return counters_; }

  // runtime::WakeSources: the worker's sleep.
  bool PrepareSleep(std::vector<pollfd>& fds) override;
  void FinishSleep(std::span<const pollfd> fds) override;

 private:
  class Handler;
  friend class Handler;
  struct SocketRef {
    AppSession* session = nullptr;  // nullptr: the app let go of it
    uint32_t slot = 0;              // the slot, or the listener's slot while `waiting`
    uint32_t generation = 0;        // the socket layer's
    bool waiting = false;           // accepted by the stack, no app slot yet
  };
  struct ListenerRef {
    AppSession* session = nullptr;
    uint32_t slot = 0;
  };

  // Socket layer events (Handler), by layer (kApiTcp / kApiMptcp).
  void OnConnected(uint8_t api, tcp::SocketId socket);
  void OnAccepted(uint8_t api, tcp::ListenerId listener, tcp::SocketId socket);
  void OnDataEvent(uint8_t api, tcp::SocketId socket);
  void OnError(uint8_t api, tcp::SocketId socket, tcp::SocketError error);
  void OnClosed(uint8_t api, tcp::SocketId socket);

  bool AcceptApps();
  void Attach(ClientHello client);
  bool ServeSession(AppSession& s, tcp::Instant now);
  // A dead app's session: its remaining commands, then its closing sockets' last bytes.
  bool ServeOrphan(AppSession& s, tcp::Instant now);
  // Pops and executes up to `budget` commands; false with the ring empty. `orphan`: only
  // commands that finish sockets are executed.
  bool TakeCommands(AppSession& s, uint32_t budget, bool orphan, tcp::Instant now);
  void ServeDirty(AppSession& s, tcp::Instant now);
  void CheckLiveness(tcp::Instant now);
  void EndSession(size_t index, tcp::Instant now);

  // Commands.
  void Execute(AppSession& s, const Command& c, tcp::Instant now);
  void Refuse(AppSession& s, const CommandRecord& raw, RecordError error);
  void ExecOpen(AppSession& s, const Command& c);
  void ExecBind(AppSession& s, uint32_t index, const Command& c);
  void ExecListen(AppSession& s, uint32_t index, const Command& c);
  void ExecAcceptInto(AppSession& s, uint32_t index, const Command& c);
  void ExecConnect(AppSession& s, uint32_t index, const Command& c, tcp::Instant now);
  void ExecShutdown(AppSession& s, uint32_t index, const Command& c);
  void ExecClose(AppSession& s, uint32_t index, const Command& c, bool abort, tcp::Instant now);
  void ExecSetOpt(AppSession& s, uint32_t index, const Command& c);
  void ExecGetOpt(AppSession& s, uint32_t index, const Command& c);
  void ExecGetInfo(AppSession& s, uint32_t index, const Command& c);
  void ExecRelease(AppSession& s, uint32_t index, const Command& c, tcp::Instant now);
  void ExecAdopt(AppSession& s, const Command& c, tcp::Instant now);
  // Fork: moves the released connection (owner, owner_index) into `s`'s pending slot `index`.
  void CompleteAdopt(AppSession& owner, uint32_t owner_index, AppSession& s, uint32_t index);
  // Released connections nobody adopted in time (or whose owner has no child left) close;
  // kAdopts that waited too long fail.
  void CheckAdoptions(AppSession& s, tcp::Instant now);
  AppSession* SessionByToken(uint64_t token);

  // Slots.
  void ServeSlot(AppSession& s, uint32_t index, tcp::Instant now);
  void DrainTx(AppSession& s, uint32_t index, tcp::Instant now);
  void FillRx(AppSession& s, uint32_t index, tcp::Instant now);
  void TryAccept(AppSession& s, uint32_t listener_index);
  void CloseListener(AppSession& s, uint32_t index);
  void ResetConnection(AppSession& s, uint32_t index, tcp::Instant now);
  // One listener of the socket layer for the slot, with the scope's policy.
  absl::StatusOr<tcp::ListenerId> ListenOn(AppSession& s, uint32_t index, uint16_t port,
                                           const std::optional<wire::IpAddress>& local);
  // Listens on `port` at every address the slot's listen covers; undoes all on failure.
  absl::Status ListenAll(AppSession& s, uint32_t index, uint16_t port,
                         std::span<const std::optional<wire::IpAddress>> locals);
  void Release(AppSession& s, uint32_t index, uint64_t cookie, int32_t error);
  void ApplyConnectionOptions(AppSession& s, uint32_t index);

  tcp::SocketApi& Api(uint8_t api);
  SocketRef* FindSocket(uint8_t api, tcp::SocketId socket);
  void Orphan(uint8_t api, tcp::SocketId socket);
  void Count(ServiceCounter c, uint64_t n = 1) { counters_.Add(c, n); }

  SocketApis apis_;
  tcp::TcpConfig socket_config_;
  ServiceScope scope_;
  std::unique_ptr<Handler> handlers_[2];
  std::optional<ChannelListener> listener_;
  Geometry geometry_;
  ServiceLimits limits_;
  bool stopped_ = false;
  std::vector<std::unique_ptr<AppSession>> sessions_;
  // Every connection the service opened or accepted, by layer and index; the session and slot
  // it belongs to (none once the app let go of it: events are ignored until OnClosed).
  std::unordered_map<uint64_t, SocketRef> sockets_;
  std::unordered_map<uint64_t, ListenerRef> listeners_;
  std::chrono::steady_clock::time_point next_liveness_{};  // real time: apps live in it
  bool liveness_due_ = false;  // the sleep saw the listener or a connection become readable
  uint16_t next_listen_port_ = 0;
  std::vector<pollfd> liveness_fds_;
  std::vector<AppSession*> polled_;    // the sessions behind liveness_fds_
  std::vector<AppSession*> sleepers_;  // the sessions behind the sleep's fds
  std::vector<uint8_t> discard_;       // SHUT_RD bytes land here
  ServiceCounters counters_;
};

}  // namespace braid::channel
