// The in-process socket API (tcp/socket_api.h) on a simulated host: what runtime::TcpSockets is to
// a worker's NetStack and TCP engine, SimSockets is to a TcpHost and its engine, so that MPTCP
// (mptcp::MptcpSockets, which needs a tcp::SubflowSocketApi below it) and apps written against
// tcp::SocketApi run in the simulator unchanged.
//
// What it adds to the host's TCP engine:
//  - addressing: Connect takes the source address from `bind`, or from the route to the
//    destination (AddRoute: one destination address, one source address, as a host with one
//    point-to-point link per path has), or else the host's first address of the destination's
//    family; the local port from an ephemeral slice (net/port_allocator.h, RFC 6056 Algorithm 4).
//    The simulator has no MTU: TcpConfig::mss is used as given.
//  - event dispatch: the engine's queued events become calls on the handler of the socket or
//    listener they concern (Dispatch), never from inside the engine, so handlers may call back.
//  - path state: PathUp(local) is false while the interface owning `local` is marked down
//    (SetInterfaceUp, which the network script calls when it takes a link down). A blackholed
//    link is invisible here, as it is to a real host.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "datapath/net/port_allocator.h"
#include "datapath/sim/tcp_host.h"
#include "datapath/sim/types.h"
#include "datapath/tcp/adapter.h"
#include "datapath/tcp/flow.h"
#include "datapath/tcp/socket_api.h"
#include "datapath/tcp/tcp_config.h"
#include "datapath/tcp/tcp_info.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/address.h"

namespace braid::sim {

struct SimSocketsConfig {
  net::EphemeralPortConfig ephemeral;
};

struct SimSocketsCounters {
  uint64_t connects = 0;          // Connect calls that sent a SYN
  uint64_t connect_failures = 0;  // refused before a SYN (no route, bad source, no port...)
  uint64_t accepted = 0;
  uint64_t closed = 0;
  uint64_t errors = 0;            // OnError calls
  uint64_t events_unclaimed = 0;  // engine events for a socket nobody tracks
};

// The SocketError an engine reset reason becomes (what the app hears in OnError).
tcp::SocketError SocketErrorFor(tcp::TcpEvent::ResetReason reason);

class SimSockets final : public tcp::SubflowSocketApi {
 public:
  SimSockets(const SimSocketsConfig& config, TcpHost& host);
  SimSockets(const SimSockets&) = delete;
  SimSockets& operator=(const SimSockets&) = delete;

  // Connections to `destination` leave from `source` (one of the host's addresses) unless bound.
  void AddRoute(const wire::IpAddress& destination, const wire::IpAddress& source);
  // The source address Connect would use towards `destination` without `bind`.
  std::optional<wire::IpAddress> SourceFor(const wire::IpAddress& destination) const;
  // Marks an interface down or up again (PathUp reads it). Interfaces start up.
  void SetInterfaceUp(InterfaceIndex interface, bool up);
  bool InterfaceUp(InterfaceIndex interface) const;
  // Moves the API's clock forward (calls taking `now` do it too).
  void SetNow(tcp::Instant now) {
    if (now > now_) now_ = now;
  }

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
  tcp::Instant now() const override { return now_; }

  // tcp::SubflowSocketApi.
  absl::StatusOr<tcp::SocketId> ConnectWithHooks(const wire::IpAddress& remote, uint16_t port,
                                                 const tcp::TcpConfig& config,
                                                 tcp::SocketHandler* handler, tcp::Instant now,
                                                 const std::optional<wire::IpAddress>& bind,
                                                 tcp::TcpHooks* hooks) override;
  absl::StatusOr<tcp::ListenerId> ListenWithHooks(uint16_t port, const tcp::TcpConfig& config,
                                                  tcp::SocketHandler* handler,
                                                  const std::optional<wire::IpAddress>& local,
                                                  tcp::ListenHooks* hooks) override;
  absl::Status SendAck(tcp::SocketId socket, tcp::Instant now) override;
  std::optional<tcp::SendState> GetSendState(tcp::SocketId socket) const override;
  size_t Dispatch(tcp::Instant now) override;
  bool IsLocalAddress(const wire::IpAddress& local) const override;
  std::optional<wire::IpAddress> SourceAmong(
      const wire::IpAddress& remote, std::span<const wire::IpAddress> candidates) const override;
  bool PathUp(const wire::IpAddress& local) const override;

  size_t open_sockets() const { return open_; }
  const SimSocketsCounters& counters() const { return counters_; }

 private:
  struct Entry {
    uint32_t generation = 0;
    tcp::SocketHandler* handler = nullptr;
    bool live = false;
    bool reserved = false;  // `flow` holds an ephemeral port to release at close
    tcp::FlowKey flow;
  };
  struct ListenEntry {
    uint32_t index = 0;
    tcp::SocketHandler* handler = nullptr;
  };

  Entry* Find(tcp::SocketId socket);
  tcp::SocketHandler* ListenerHandler(tcp::ListenerId listener) const;
  void Track(tcp::SocketId socket, tcp::SocketHandler* handler, const tcp::FlowKey& flow,
             bool reserved);
  void Deliver(const tcp::TcpEvent& event);
  // Runs `call` on a live socket after moving the clock; NotFound names `what` otherwise.
  template <typename Call>
  absl::Status OnLive(tcp::SocketId socket, tcp::Instant now, const char* what, Call&& call);

  TcpHost& host_;
  tcp::TcpBackend& tcp_;
  net::EphemeralPortAllocator ports_;
  std::vector<std::pair<wire::IpAddress, wire::IpAddress>> routes_;  // destination, source
  std::vector<InterfaceIndex> down_;
  std::vector<Entry> entries_;  // by ConnectionId::index
  std::vector<ListenEntry> listeners_;
  size_t open_ = 0;
  tcp::Instant now_{};
  SimSocketsCounters counters_;
};

}  // namespace braid::sim
