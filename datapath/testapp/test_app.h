// Built-in test applications on the in-process socket API (runtime/tcp_sockets.h), one instance
// per worker: they make Braid's TCP testable on real packets before the SDK exists (braid-testapp,
// the e2e tests, `make demo`, `make bench`). Every byte sent and received goes through SHA-256 so
// a transfer is checked end to end against the other side's digest.
//
// Streams are unframed, so any peer can be the other end (the e2e kernel peer, iperf-like tools):
//   server sink    read to EOF, then close (passive close)
//   server echo    write back what is read (reading stops while the echo cannot be sent:
//                  backpressure, no unbounded buffer); shut down after EOF
//   server source  write `bytes` of the pattern, shut down (active close), read to EOF
//   client send    write `bytes`, shut down (active close), read to EOF
//   client recv    read to EOF, then close (passive close)
//   client echo    write `bytes`, check that the same bytes come back, shut down
//   client rr      `rr_count` requests of `rr_size` bytes, each answered by as many bytes from an
//                  echo peer; one latency sample per request (send of the first byte to receipt
//                  of the last)
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "datapath/mptcp/connection.h"
#include "datapath/runtime/tcp_sockets.h"
#include "datapath/runtime/worker.h"
#include "datapath/tcp/tcp_config.h"
#include "datapath/tcp/tcp_info.h"
#include "datapath/tcp/time.h"
#include "datapath/util/stream_check.h"
#include "datapath/wire/address.h"

namespace braid::testapp {

enum class Mode : uint8_t { kSink, kEcho, kSource, kSend, kRecv, kRr };
std::string_view ModeName(Mode mode);
// Server modes: sink, echo, source. Client modes: send, recv, echo, rr.
std::optional<Mode> ParseMode(std::string_view name, bool server);

// Something the app does to its first connection a while after it is established: how tests
// make Braid send REMOVE_ADDR, MP_PRIO or MP_FASTCLOSE at a chosen moment.
struct ConnectionAction {
  enum class Kind : uint8_t {
    kRemoveAddr,  // MPTCP: withdraw local address ID `id` (REMOVE_ADDR, its subflows close)
    kBackup,      // MPTCP: the subflows from local address ID `id` become backups (MP_PRIO)
    kNoBackup,    // ... and regular again
    kAbort,       // reset the connection (MPTCP: MP_FASTCLOSE)
  };
  tcp::Duration after{0};
  Kind kind = Kind::kAbort;
  uint8_t id = 0;
};
// "1.5:remove:2", "0.8:backup:1", "2:nobackup:1", "1:abort" (seconds:what[:address ID]).
std::optional<ConnectionAction> ParseConnectionAction(std::string_view text);

struct AppConfig {
  bool server = true;
  Mode mode = Mode::kSink;
  uint16_t listen_port = 0;  // server
  wire::IpAddress remote;    // client
  uint16_t remote_port = 0;
  std::optional<wire::IpAddress> bind;
  uint64_t bytes = 0;  // source, send, echo (client)
  uint32_t count = 0;  // server: finished connections before the app is done (0: never)
  uint32_t rr_size = 64;
  uint32_t rr_count = 1000;
  tcp::TcpConfig tcp;
  uint64_t seed = 1;  // of the payload pattern (util::PatternStream)
  std::vector<ConnectionAction> actions;
};

// Where a receiver's steady rate starts: 1 s after its first byte (ConnectionReport).
inline constexpr tcp::Duration kSteadyAfter = std::chrono::seconds(1);

// What one connection did, as braid-testapp prints it.
struct ConnectionReport {
  std::string role;  // "server" | "client"
  std::string mode;
  std::string local;
  std::string remote;
  uint64_t bytes_rx = 0;
  uint64_t bytes_tx = 0;
  std::string sha256_rx;
  std::string sha256_tx;
  double rx_mbit_s = 0;  // first byte received to EOF
  // After the first read at least kSteadyAfter past the first byte, to EOF: slow start and the
  // joins left out, as the kernel figures' window does (0: the transfer ended sooner).
  double rx_steady_mbit_s = 0;
  double tx_mbit_s = 0;  // first byte sent to the last acknowledged
  std::string error;     // empty: none
  std::optional<tcp::TcpInfo> tcp;
  // MPTCP sockets: the connection and every subflow it had (last snapshot).
  std::optional<mptcp::MptcpInfo> mptcp;
  std::vector<mptcp::SubflowInfo> subflows;
};

struct RrReport {
  uint32_t count = 0;
  uint32_t size = 0;
  std::vector<tcp::Duration> samples;  // in request order
};

// Receives the apps' reports; braid-testapp prints them. Called on worker threads.
class ReportSink {
 public:
  virtual ~ReportSink() = default;
  virtual void OnConnection(const ConnectionReport& report) = 0;
  virtual void OnRr(const RrReport& report) = 0;
};

class TestApp final : public runtime::WorkerApp, public runtime::SocketHandler {
 public:
  // `client_here`: this worker opens the client connection (only one worker does).
  // `finished_everywhere`: the server's count of finished connections shared by the apps of
  // every worker (the listen port is served by all of them, and AppConfig::count is for all;
  // each app adds its own). Null: this app's own count.
  TestApp(const AppConfig& config, ReportSink& sink, bool client_here,
          std::atomic<uint32_t>* finished_everywhere = nullptr);

  // runtime::WorkerApp.
  void Start(runtime::Worker& worker, tcp::Instant now) override {
    worker_ = &worker;
    Start(worker.stream_sockets(), now);
  }
  void OnTimer(uint64_t cookie, tcp::Instant now) override;
  // Listens or connects on `sockets` (tests drive an app without a worker this way).
  void Start(tcp::SocketApi& sockets, tcp::Instant now);
  bool Done() const override;

  // runtime::SocketHandler.
  void OnConnected(runtime::SocketId socket) override;
  void OnAccepted(runtime::ListenerId listener, runtime::SocketId socket) override;
  void OnReadable(runtime::SocketId socket, size_t available) override;
  void OnWritable(runtime::SocketId socket) override;
  void OnAcked(runtime::SocketId socket, uint64_t bytes) override;
  void OnPeerFin(runtime::SocketId socket) override;
  void OnError(runtime::SocketId socket, runtime::SocketError error) override;
  void OnClosed(runtime::SocketId socket) override;

  uint32_t finished() const { return finished_; }
  uint32_t failed() const { return failed_; }
  // Set when Start could not listen or connect.
  const std::string& start_error() const { return start_error_; }

 private:
  struct Conn {
    runtime::SocketId id;
    Mode mode = Mode::kSink;
    bool server = true;
    tcp::FlowKey flow;
    uint64_t rx = 0;
    uint64_t tx = 0;  // accepted by Send
    uint64_t acked = 0;
    util::Sha256 rx_hash;
    util::Sha256 tx_hash;
    util::PatternStream pattern{0, 0};
    util::PatternStream expect{0, 0};  // client echo: what must come back
    std::vector<uint8_t> staged;       // pattern bytes generated, not yet taken by Send
    size_t staged_off = 0;
    uint64_t to_generate = 0;   // pattern bytes still to generate
    std::vector<uint8_t> echo;  // server echo: read, not yet sent back
    size_t echo_off = 0;
    std::optional<tcp::Instant> first_rx, eof_at, first_tx, all_acked_at;
    std::optional<tcp::Instant> steady_at;  // the first read kSteadyAfter past first_rx
    uint64_t rx_before_steady = 0;          // bytes received up to and with that read
    bool established = false;
    bool eof = false;
    bool shut_down = false;
    bool close_called = false;
    // rr
    uint32_t rr_sent = 0;
    uint32_t rr_rx_in_current = 0;
    tcp::Instant rr_started;
    std::vector<tcp::Duration> rr_samples;
    std::string error;
    std::optional<tcp::TcpInfo> info;
    std::optional<mptcp::MptcpInfo> mptcp;
    std::vector<mptcp::SubflowInfo> subflows;
  };

  Conn* Find(runtime::SocketId socket);
  void Begin(Conn& c);
  void Pump(Conn& c);   // sends what the mode has to send, as far as the buffer allows
  void Drain(Conn& c);  // reads what is readable
  void MaybeFinish(Conn& c);
  void Fail(Conn& c, std::string error);
  void Snapshot(Conn& c);
  void SendRequest(Conn& c);
  size_t SendStaged(Conn& c);
  tcp::Instant now() const;

  AppConfig config_;
  ReportSink& sink_;
  bool client_here_;
  tcp::SocketApi* sockets_ = nullptr;
  runtime::Worker* worker_ = nullptr;
  // The first connection, which config_.actions act on once it is established.
  std::optional<runtime::SocketId> action_target_;
  void ScheduleActions(runtime::SocketId socket);
  std::unordered_map<uint32_t, Conn> conns_;  // by SocketId::index
  uint32_t started_ = 0;
  uint32_t finished_ = 0;
  std::atomic<uint32_t>* finished_everywhere_;
  uint32_t failed_ = 0;
  uint64_t next_stream_ = 0;
  bool client_done_ = false;
  std::string start_error_;
  std::vector<uint8_t> buffer_;  // receive scratch
  std::vector<uint8_t> expect_;  // client echo: the bytes that must have come back
};

}  // namespace braid::testapp
