// The simulator's workloads on the socket API (tcp::SocketApi), for hosts that offer one
// (mptcp_host.h): the same bulk transfer and request/response as bulk_transfer.h and
// request_response.h, which drive the TCP engine directly, so that a run over MPTCP sockets and
// one over plain TCP sockets measure the same thing.
//
//  - BulkSocketSender connects, writes `bytes` of a seeded pseudo-random stream, shuts down, reads
//    to the end and closes; BulkSocketReceiver accepts one connection, reads and hashes
//    everything, and closes when the FIN arrives. SHA-256 on both sides proves byte-exact
//    delivery; the receiver records the longest stall between deliveries of new data.
//  - RrSocketClient writes `count` requests of `request_size` bytes, one at a time, each answered
//    by `response_size` bytes from RrSocketServer, and records each exchange's completion time
//    (first request byte handed to Send to last response byte read).
//
// On MPTCP sockets, each side also keeps the connection's MptcpInfo and its subflows as they were
// when it closed (the connection is gone afterwards), for assertions on what the paths carried.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "datapath/mptcp/connection.h"
#include "datapath/mptcp/socket_manager.h"
#include "datapath/sim/bulk_transfer.h"
#include "datapath/sim/mptcp_host.h"
#include "datapath/tcp/socket_api.h"
#include "datapath/tcp/tcp_config.h"
#include "datapath/tcp/time.h"
#include "datapath/util/stream_check.h"
#include "datapath/wire/address.h"

namespace braid::sim {

// An MPTCP connection as one side last saw it.
struct MptcpSnapshot {
  std::optional<mptcp::MptcpInfo> info;
  std::vector<mptcp::SubflowInfo> subflows;

  // Reads the connection from `mptcp` (nothing when null or not an MPTCP socket).
  void Take(const mptcp::MptcpSockets* mptcp, tcp::SocketId socket);
  // Data-level bytes the subflows carried, in subflow order (reinjections included).
  std::vector<uint64_t> SubflowBytesSent() const;
  std::vector<uint64_t> SubflowBytesReceived() const;
};

// Where a connection goes and how; shared by both workloads.
struct SocketFlowConfig {
  wire::IpAddress server;
  uint16_t server_port = 5001;
  std::optional<wire::IpAddress> bind;  // the client's source address (nullopt: by route)
  tcp::TcpConfig client_config;
  tcp::TcpConfig server_config;
  tcp::Instant start_at;
  uint64_t seed = 1;
  // The MPTCP layers whose connections are snapshotted (null: none).
  const mptcp::MptcpSockets* client_mptcp = nullptr;
  const mptcp::MptcpSockets* server_mptcp = nullptr;
};

// Listens on (server, server_port) for `app`.
absl::StatusOr<tcp::ListenerId> ListenFor(tcp::SocketApi& api, const SocketFlowConfig& config,
                                          tcp::SocketHandler* app);

struct SocketBulkStats {
  BulkFlowStats flow;  // bytes, hashes, times; its reset fields stay empty
  std::optional<tcp::SocketError> client_error, server_error;
  std::optional<absl::Status> connect_error;
  MptcpSnapshot client_mptcp, server_mptcp;
  uint64_t extra_connections = 0;  // accepted beyond the first and aborted

  // Every byte and the FIN arrived, the hashes agree, both ends closed, nobody saw an error.
  bool Complete() const;
};

class BulkSocketSender final : public SocketApp {
 public:
  BulkSocketSender(const SocketFlowConfig& config, uint64_t bytes, tcp::SocketApi& api,
                   SocketBulkStats& stats);

  std::optional<tcp::Instant> WakeAt() const override;
  void OnWake(tcp::Instant now) override;
  tcp::SocketId socket() const { return socket_; }

  void OnConnected(tcp::SocketId socket) override;
  void OnWritable(tcp::SocketId socket) override;
  void OnAcked(tcp::SocketId socket, uint64_t bytes) override;
  void OnRetransmitTimeout(tcp::SocketId socket, uint32_t count) override;
  void OnReadable(tcp::SocketId socket, size_t available) override;
  void OnPeerFin(tcp::SocketId socket) override;
  void OnError(tcp::SocketId socket, tcp::SocketError error) override;
  void OnClosed(tcp::SocketId socket) override;

 private:
  void Pump();

  SocketFlowConfig config_;
  uint64_t bytes_;
  tcp::SocketApi& api_;
  SocketBulkStats& stats_;
  PatternSource source_;
  tcp::SocketId socket_;
  bool started_ = false;
  bool closed_ = false;
};

class BulkSocketReceiver final : public SocketApp {
 public:
  BulkSocketReceiver(const SocketFlowConfig& config, tcp::SocketApi& api, SocketBulkStats& stats);
  ~BulkSocketReceiver() override;

  // Listens on (server, server_port) until destroyed.
  absl::Status Listen();
  void OnAccepted(tcp::ListenerId listener, tcp::SocketId socket) override;
  void OnReadable(tcp::SocketId socket, size_t available) override;
  void OnPeerFin(tcp::SocketId socket) override;
  void OnError(tcp::SocketId socket, tcp::SocketError error) override;
  void OnClosed(tcp::SocketId socket) override;

 private:
  bool Ours(tcp::SocketId socket) const { return accepted_ && socket == socket_; }
  void Drain();

  SocketFlowConfig config_;
  tcp::SocketApi& api_;
  SocketBulkStats& stats_;
  std::vector<uint8_t> buffer_;
  std::optional<tcp::ListenerId> listener_;
  tcp::SocketId socket_;
  bool accepted_ = false;
  bool closed_ = false;
};

struct RrShape {
  uint32_t request_size = 100;
  uint32_t response_size = 10 * 1024;
  uint32_t count = 100;
  tcp::Duration think_time{0};
};

class RrSocketClient final : public SocketApp {
 public:
  RrSocketClient(const SocketFlowConfig& config, const RrShape& shape, tcp::SocketApi& api);

  std::optional<tcp::Instant> WakeAt() const override;
  void OnWake(tcp::Instant now) override;
  void OnConnected(tcp::SocketId socket) override;
  void OnWritable(tcp::SocketId socket) override;
  void OnAcked(tcp::SocketId socket, uint64_t bytes) override;
  void OnReadable(tcp::SocketId socket, size_t available) override;
  void OnPeerFin(tcp::SocketId socket) override;
  void OnError(tcp::SocketId socket, tcp::SocketError error) override;
  void OnClosed(tcp::SocketId socket) override;

  // Completion time of each finished exchange, in order.
  const std::vector<tcp::Duration>& completions() const { return completions_; }
  bool done() const { return closed_; }
  const std::optional<tcp::SocketError>& error() const { return error_; }
  const MptcpSnapshot& mptcp() const { return snapshot_; }
  // Response bytes beyond the exchange in progress (should be 0).
  uint64_t protocol_errors() const { return protocol_errors_; }

 private:
  void Start(tcp::Instant now);
  void PumpRequest();
  void ReadResponse();

  SocketFlowConfig config_;
  RrShape shape_;
  tcp::SocketApi& api_;
  std::vector<uint8_t> request_;
  std::vector<uint8_t> buffer_;
  tcp::SocketId socket_;
  bool connecting_ = false;
  bool established_ = false;
  bool shut_down_ = false;
  bool closed_ = false;
  uint32_t started_ = 0;
  bool in_exchange_ = false;
  size_t request_sent_ = 0;
  size_t response_read_ = 0;
  tcp::Instant exchange_start_;
  std::optional<tcp::Instant> next_start_;
  std::vector<tcp::Duration> completions_;
  std::optional<tcp::SocketError> error_;
  MptcpSnapshot snapshot_;
  uint64_t protocol_errors_ = 0;
};

class RrSocketServer final : public SocketApp {
 public:
  RrSocketServer(const SocketFlowConfig& config, const RrShape& shape, tcp::SocketApi& api);
  ~RrSocketServer() override;

  // Listens on (server, server_port) until destroyed.
  absl::Status Listen();
  void OnAccepted(tcp::ListenerId listener, tcp::SocketId socket) override;
  void OnReadable(tcp::SocketId socket, size_t available) override;
  void OnPeerFin(tcp::SocketId socket) override;
  void OnWritable(tcp::SocketId socket) override;
  void OnAcked(tcp::SocketId socket, uint64_t bytes) override;
  void OnClosed(tcp::SocketId socket) override;

  uint64_t responses() const { return responses_; }
  // Request bytes left over when a client closed (not a whole number of requests; should be 0).
  uint64_t protocol_errors() const { return protocol_errors_; }

 private:
  struct Conn {
    tcp::SocketId socket;
    size_t request_read = 0;
    size_t pending = 0;  // complete requests not yet answered
    size_t response_sent = 0;
    bool responding = false;
  };
  Conn* Find(tcp::SocketId socket);
  void Read(Conn& c);
  void Serve(Conn& c);

  SocketFlowConfig config_;
  RrShape shape_;
  tcp::SocketApi& api_;
  std::vector<uint8_t> response_;
  std::vector<uint8_t> buffer_;
  std::vector<Conn> conns_;
  std::optional<tcp::ListenerId> listener_;
  uint64_t responses_ = 0;
  uint64_t protocol_errors_ = 0;
};

}  // namespace braid::sim
