// The request/response driver: app-side on TcpBackend, run by a TcpHost. RrClient opens one
// connection and, `count` times, writes a request of `request_size` bytes and reads a response of
// `response_size` bytes, recording each exchange's completion time (from the first request byte
// handed to Send() to the last response byte read), with `think_time` between exchanges. RrServer
// listens, and on every connection answers each complete request with a response. Payloads are
// seeded pseudo-random bytes; both sides check the byte counts exactly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "datapath/sim/tcp_host.h"
#include "datapath/tcp/adapter.h"
#include "datapath/tcp/tcp_config.h"
#include "datapath/tcp/tcp_info.h"
#include "datapath/tcp/time.h"
#include "datapath/util/stream_check.h"
#include "datapath/wire/address.h"

namespace braid::sim {

struct RrConfig {
  uint32_t request_size = 100;
  uint32_t response_size = 64 * 1024;
  uint32_t count = 100;
  tcp::Duration think_time{0};
  uint64_t seed = 1;
  tcp::Instant start_at;
  wire::IpAddress client;
  wire::IpAddress server;
  uint16_t client_port = 40000;
  uint16_t server_port = 5002;
  tcp::TcpConfig client_config;
  tcp::TcpConfig server_config;
};

class RrClient : public TcpApp {
 public:
  explicit RrClient(const RrConfig& config);

  void OnEvent(const tcp::TcpEvent& event, tcp::Instant now, tcp::TcpBackend& backend) override;
  std::optional<tcp::Instant> WakeAt() const override;
  void OnWake(tcp::Instant now, tcp::TcpBackend& backend) override;

  // Completion time of each finished exchange, in order.
  const std::vector<tcp::Duration>& completions() const { return completions_; }
  bool done() const { return closed_at_.has_value(); }
  bool failed() const { return reset_.has_value(); }
  std::optional<tcp::TcpEvent::ResetReason> reset() const { return reset_; }
  const std::optional<tcp::TcpInfo>& last_info() const { return info_; }
  tcp::ConnectionId connection() const { return id_; }

 private:
  void StartExchange(tcp::Instant now, tcp::TcpBackend& backend);
  void PumpRequest(tcp::Instant now, tcp::TcpBackend& backend);
  void ReadResponse(tcp::Instant now, tcp::TcpBackend& backend);

  RrConfig config_;
  util::PatternStream pattern_;
  std::vector<uint8_t> request_;
  std::vector<uint8_t> buffer_;
  tcp::ConnectionId id_;
  bool connecting_ = false;
  bool established_ = false;
  bool shut_down_ = false;
  uint32_t started_ = 0;  // exchanges begun
  size_t request_sent_ = 0;
  size_t response_read_ = 0;
  bool in_exchange_ = false;
  tcp::Instant exchange_start_;
  std::optional<tcp::Instant> next_start_;
  std::vector<tcp::Duration> completions_;
  std::optional<tcp::Instant> closed_at_;
  std::optional<tcp::TcpEvent::ResetReason> reset_;
  std::optional<tcp::TcpInfo> info_;
};

class RrServer : public TcpApp {
 public:
  explicit RrServer(const RrConfig& config);

  tcp::TcpError Listen(tcp::TcpBackend& backend);
  void OnEvent(const tcp::TcpEvent& event, tcp::Instant now, tcp::TcpBackend& backend) override;

  uint64_t responses() const { return responses_; }
  // Bytes received beyond a whole number of requests when the client closed (should be 0).
  uint64_t protocol_errors() const { return protocol_errors_; }

 private:
  struct Conn {
    tcp::ConnectionId id;
    size_t request_read = 0;
    size_t pending_requests = 0;  // complete requests not yet answered
    size_t response_sent = 0;     // of the response being written
    bool responding = false;
  };
  Conn* Find(tcp::ConnectionId id);
  void Serve(Conn& c, tcp::Instant now, tcp::TcpBackend& backend);

  RrConfig config_;
  util::PatternStream pattern_;
  std::vector<uint8_t> response_;
  std::vector<uint8_t> buffer_;
  std::vector<Conn> conns_;
  uint64_t responses_ = 0;
  uint64_t protocol_errors_ = 0;
};

}  // namespace braid::sim
