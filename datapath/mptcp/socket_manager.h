// The Socket Manager: MPTCP sockets and their TCP subflows for one worker (architecture.md §2, §5),
// the counterpart of the kernel's MPTCP socket layer (protocol.c's sock ops, token.c's lookups).
//
// It offers the same socket API as plain TCP (tcp::SocketApi), so an app runs over MPTCP without
// change, and sits on the TCP socket layer below (tcp::SubflowSocketApi) as the handler of every
// subflow: TCP's events for a subflow come here and go to its connection. It owns
//  - the connection table (handles are {index, generation}, as for TCP sockets);
//  - the token table (RFC 8684 §3.2), so an MP_JOIN SYN finds its connection;
//  - the listeners: an app's listener accepts MP_CAPABLE SYNs as new MPTCP connections, plain TCP
//    SYNs as connections in fallback (RFC 8684 §3.7: the app sees a working socket either way),
//    and MP_JOIN SYNs as subflows of existing connections; join-only listeners serve addresses
//    and ports the path manager announced;
//  - the scheduler and path-manager registries each connection's policies come from;
//  - the app event queue: handlers are called from Dispatch/Poll, never from inside TCP.
//
// With MptcpConfig::enabled false every socket is plain TCP behind the same API.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "datapath/mptcp/connection.h"
#include "datapath/mptcp/mib.h"
#include "datapath/mptcp/mptcp_config.h"
#include "datapath/mptcp/path_manager/path_manager.h"
#include "datapath/mptcp/scheduler/scheduler.h"
#include "datapath/mptcp/token_table.h"
#include "datapath/tcp/adapter.h"
#include "datapath/tcp/flow.h"
#include "datapath/tcp/socket_api.h"
#include "datapath/tcp/tcp_config.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/address.h"
#include "datapath/wire/mptcp_options.h"

namespace braid::mptcp {

class MptcpSockets final : public tcp::SocketApi, private tcp::SocketHandler {
 public:
  // Errors: InvalidArgument for an unknown scheduler or path manager, or a bad PM config.
  static absl::StatusOr<std::unique_ptr<MptcpSockets>> Create(const MptcpConfig& config,
                                                              tcp::SubflowSocketApi& tcp);
  ~MptcpSockets() override;
  MptcpSockets(const MptcpSockets&) = delete;
  MptcpSockets& operator=(const MptcpSockets&) = delete;

  // tcp::SocketApi.
  absl::StatusOr<tcp::ListenerId> Listen(uint16_t port, const tcp::TcpConfig& config,
                                         tcp::SocketHandler* handler,
                                         const std::optional<wire::IpAddress>& local) override;
  absl::Status StopListening(tcp::ListenerId listener) override;
  absl::StatusOr<tcp::SocketId> Connect(const wire::IpAddress& remote, uint16_t port,
                                        const tcp::TcpConfig& config, tcp::SocketHandler* handler,
                                        tcp::Instant now,
                                        const std::optional<wire::IpAddress>& bind) override;
  size_t Send(tcp::SocketId socket, std::span<const uint8_t> bytes, tcp::Instant now) override;
  tcp::ReceiveResult Receive(tcp::SocketId socket, std::span<uint8_t> out,
                             tcp::Instant now) override;
  absl::Status Shutdown(tcp::SocketId socket, tcp::Instant now) override;
  absl::Status Abort(tcp::SocketId socket, tcp::Instant now) override;
  absl::Status SetNoDelay(tcp::SocketId socket, bool on) override;
  absl::Status SetKeepalive(tcp::SocketId socket, bool on) override;
  absl::Status Close(tcp::SocketId socket, tcp::Instant now) override;
  absl::Status SetHandler(tcp::SocketId socket, tcp::SocketHandler* handler) override;
  std::optional<tcp::FlowKey> Flow(tcp::SocketId socket) const override;
  std::optional<tcp::TcpInfo> Info(tcp::SocketId socket) const override;
  tcp::Instant now() const override { return tcp_.now(); }

  // Per-connection policies, chosen before Connect / for what a listener accepts (the kernel's
  // per-socket scheduler knob). Errors: NotFound for an unknown name.
  absl::Status SetDefaultScheduler(std::string_view name);
  absl::Status SetScheduler(tcp::SocketId socket, std::string_view name);

  // Listen and Connect whose connections take `policy` (scheduler, path manager and its
  // endpoints, checksums) instead of the worker's defaults: a pod's addresses and options
  // (architecture.md §7). Null: the defaults, as Listen / Connect. Errors as theirs, plus
  // InvalidArgument for a policy ValidatePolicy refuses.
  absl::StatusOr<tcp::ListenerId> ListenWithPolicy(uint16_t port, const tcp::TcpConfig& config,
                                                   tcp::SocketHandler* handler,
                                                   const std::optional<wire::IpAddress>& local,
                                                   std::shared_ptr<const ConnectionPolicy> policy);
  absl::StatusOr<tcp::SocketId> ConnectWithPolicy(const wire::IpAddress& remote, uint16_t port,
                                                  const tcp::TcpConfig& config,
                                                  tcp::SocketHandler* handler, tcp::Instant now,
                                                  const std::optional<wire::IpAddress>& bind,
                                                  const ConnectionPolicy* policy);
  // InvalidArgument naming what is wrong: an unknown scheduler or path manager, bad endpoints.
  absl::Status ValidatePolicy(const ConnectionPolicy& policy) const;

  // Introspection (braidctl, tests) and the external path manager's handle on a connection.
  std::optional<MptcpInfo> ConnectionInfo(tcp::SocketId socket) const;
  std::vector<SubflowInfo> SubflowsOf(tcp::SocketId socket) const;
  std::vector<tcp::SocketId> Connections() const;
  PmConnection* PathControl(tcp::SocketId socket);

  // A local path went down or came back: every connection's path manager hears of it.
  void OnPathChange(const wire::IpAddress& local, bool up, tcp::Instant now);

  // The worker's loop: runs the TCP layer's dispatch (which calls back here for subflows), then
  // services the connections it touched and delivers app events, until nothing moves. Returns the
  // number of app events delivered.
  size_t Dispatch(tcp::Instant now);
  void Poll(tcp::Instant now);
  std::optional<tcp::Instant> PollAt() const;

  const MptcpCounters& counters() const { return counters_; }
  const MptcpConfig& config() const { return config_; }
  size_t open_connections() const { return live_; }
  // Join-only listeners open for announced addresses (each shared by the connections that
  // announced it, closed with the last of them).
  size_t join_listeners() const { return join_listeners_.size(); }
  const SchedulerRegistry& schedulers() const { return schedulers_; }
  const PathManagerRegistry& path_managers() const { return path_managers_; }

  // ---- For connections (connection.cc) --------------------------------------------------------
  tcp::SubflowSocketApi& tcp() { return tcp_; }
  MptcpCounters& mutable_counters() { return counters_; }
  TokenTable& tokens() { return tokens_; }
  tcp::SocketHandler& subflow_handler() { return *this; }
  void RegisterSubflow(tcp::SocketId tcp_socket, MptcpConnection& conn, Subflow& sf);
  void MarkDirty(MptcpConnection& conn);
  // App events, delivered by Dispatch/Poll.
  enum class AppEventKind : uint8_t {
    kConnected,
    kAccepted,
    kReadable,
    kWritable,
    kAcked,
    kPeerFin,
    kError,
    kClosed
  };
  void QueueAppEvent(MptcpConnection& conn, AppEventKind kind, uint64_t value = 0,
                     tcp::SocketError error = tcp::SocketError::kReset);
  // A join-only listener on (local, port), shared by the connections that announced it: each
  // successful call takes a reference that ReleaseJoinListener gives back (the connection's end).
  bool EnsureJoinListener(const wire::IpAddress& local, uint16_t port);
  void ReleaseJoinListener(const wire::IpAddress& local, uint16_t port);

 private:
  class Listener;
  struct Slot {
    std::unique_ptr<MptcpConnection> conn;
    uint32_t generation = 1;
    bool live = false;
    bool dirty = false;
    std::optional<tcp::Instant> armed;
  };
  struct SubflowRef {
    uint32_t generation = 0;  // the TCP socket's
    uint32_t slot = 0;
    uint32_t conn_generation = 0;
    uint32_t subflow = 0;
    bool live = false;
  };
  struct PendingPassive {
    uint32_t slot = 0;
    uint32_t generation = 0;
    uint32_t subflow = 0;
    tcp::Instant created{};
  };
  struct AppEvent {
    tcp::SocketId socket;
    AppEventKind kind = AppEventKind::kReadable;
    uint64_t value = 0;
    tcp::SocketError error = tcp::SocketError::kReset;
  };
  struct TimerEntry {
    tcp::Instant at;
    uint32_t slot = 0;
    uint32_t generation = 0;
  };

  MptcpSockets(const MptcpConfig& config, tcp::SubflowSocketApi& tcp);

  MptcpConnection* Find(tcp::SocketId socket);
  const MptcpConnection* Find(tcp::SocketId socket) const;
  // A new connection slot with its policies; nullptr when the table is full.
  MptcpConnection* NewConnection(bool client, const tcp::TcpConfig& config,
                                 tcp::SocketHandler* handler, const ConnectionPolicy* policy);
  void FreeConnection(uint32_t slot);
  std::pair<MptcpConnection*, Subflow*> Lookup(tcp::SocketId tcp_socket);
  void Service(tcp::Instant now);
  void Arm(uint32_t slot);
  tcp::Instant PendingDeadline(const PendingPassive& p) const;
  size_t DeliverAppEvents();

  // Listening (Listener::OnSyn).
  tcp::SynDecision OnSyn(Listener& listener, const tcp::FlowKey& flow, const tcp::SegmentInfo& syn,
                         const wire::TcpOptionsRepr& options);
  tcp::SynDecision OnJoinSyn(const tcp::FlowKey& flow, const wire::MpJoin& join);

  // tcp::SocketHandler, for subflows.
  void OnConnected(tcp::SocketId socket) override;
  void OnAccepted(tcp::ListenerId listener, tcp::SocketId socket) override;
  void OnReadable(tcp::SocketId socket, size_t available) override;
  void OnWritable(tcp::SocketId socket) override;
  void OnAcked(tcp::SocketId socket, uint64_t bytes) override;
  void OnRetransmitTimeout(tcp::SocketId socket, uint32_t count) override;
  void OnPeerFin(tcp::SocketId socket) override;
  void OnError(tcp::SocketId socket, tcp::SocketError error) override;
  void OnClosed(tcp::SocketId socket) override;

  MptcpConfig config_;
  tcp::SubflowSocketApi& tcp_;
  SchedulerRegistry schedulers_;
  PathManagerRegistry path_managers_;
  std::string default_scheduler_;
  TokenTable tokens_;
  MptcpCounters counters_;

  std::vector<Slot> slots_;
  std::vector<uint32_t> free_slots_;
  size_t live_ = 0;
  std::vector<uint32_t> dirty_;
  std::vector<uint32_t> dirty_batch_;
  std::vector<tcp::SocketId> finished_;   // to free once their last app event is delivered
  std::vector<SubflowRef> subflow_refs_;  // by the TCP socket's index
  std::unordered_map<tcp::FlowKey, PendingPassive, tcp::FlowKeyHash> pending_passive_;
  std::map<uint32_t, std::unique_ptr<Listener>> listeners_;  // by the TCP listener's index
  struct JoinListener {
    tcp::ListenerId id;
    uint32_t users = 0;  // connections that announced (local, port)
  };
  std::map<std::pair<std::string, uint16_t>, JoinListener> join_listeners_;
  std::vector<AppEvent> app_events_;
  std::vector<AppEvent> event_batch_;
  std::vector<TimerEntry> timers_;  // min-heap on `at`
};

}  // namespace braid::mptcp
