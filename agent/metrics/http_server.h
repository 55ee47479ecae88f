// The agent's HTTP endpoints on `api.metrics_listen` (architecture.md §8):
//
//   GET /metrics   Prometheus text format 0.0.4 (prometheus::TextSerializer) of every collectable
//                  given, plus the server's own braid_agent_http_errors_total{reason}
//   GET /healthz   200 "ok" while the liveness callback says the agent's loop is alive, else 503
//   GET /readyz    200 "ok" when the readiness callback says ready, else 503 with its reason
//   anything else  404; a method other than GET or HEAD: 405
//
// Why not prometheus::Exposer (prometheus-cpp-pull, on civetweb): it serves collectables only,
// always with 200, so /readyz could not answer 503 while the agent is not ready, and it leaves
// request size and time limits to civetweb's global options. This server is small instead: one
// thread, poll() over non-blocking sockets, HTTP/1.1 with `Connection: close` (one request per
// connection, as Prometheus and the kubelet's probes use it). Each connection has a deadline
// from its accept (request_timeout) for reading the request and writing the response, so a slow
// or silent client is dropped and never holds up the others; a request head beyond
// max_request_bytes is answered 431. After the response the server shuts its side and discards
// what the client still sends for a moment (a lingering close), so an early answer (431, 405 to
// a request with a body) is not destroyed by a reset. Handlers run on the server's thread, one
// at a time: a slow snapshot delays the other clients' answers, not their reads.
//
// No exception leaves the server: a handler or collectable that throws gets a 500. Every error
// is counted by reason (HttpError).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace braid::agent::metrics {

// braid_agent_http_errors_total{reason}.
enum class HttpError : uint8_t {
  kBadRequest,           // 400: the request line is not method, target, HTTP version
  kNotFound,             // 404
  kMethodNotAllowed,     // 405
  kRequestTooLarge,      // 431: no end of the request head within max_request_bytes
  kVersionNotSupported,  // 505: not HTTP/1.0 or HTTP/1.1
  kHandlerFailed,        // 500: a collectable or a callback threw
  kTimeout,              // the request or its response not done by the deadline: dropped
  kClientClosed,         // the client hung up in the middle of its request
  kReadFailed,           // recv failed (a reset, mostly)
  kWriteFailed,          // send failed (the client went away)
  kAcceptFailed,         // accept failed (out of descriptors, memory)
  kTooManyConnections,   // accepted beyond max_connections: closed at once
  kCount,
};
std::string_view HttpErrorName(HttpError error);

struct HttpServerOptions {
  // "0.0.0.0:9470", "[::]:9470" (both families), "127.0.0.1:0" (any free port: see port()).
  std::string listen = "0.0.0.0:9470";
  size_t max_request_bytes = 8192;
  // From accept to the last byte of the response.
  std::chrono::milliseconds request_timeout{10000};
  size_t max_connections = 64;
};

// Called on the server's thread, so they must be safe to call from there.
struct HttpHandlers {
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables;  // /metrics
  // OK: 200 "ok". An error: 503 and its message. Unset: always OK.
  std::function<absl::Status()> liveness;   // /healthz
  std::function<absl::Status()> readiness;  // /readyz
};

class MetricsHttpServer {
 public:
  // Binds, listens and starts the server's thread. Errors: InvalidArgument (a listen address
  // that is not IPv4:port or [IPv6]:port), the socket calls' errors naming the address.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(const HttpServerOptions& options,
                                                                  HttpHandlers handlers);
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;
  // Stops (as Stop).
  ~MetricsHttpServer();

  // Closes every connection and the listener and joins the thread. From any thread but the
  // server's own (a handler); idempotent.
  void Stop();

  uint16_t port() const { return port_; }  // the bound port
  uint64_t errors(HttpError error) const;

 private:
  struct Connection;

  MetricsHttpServer(const HttpServerOptions& options, HttpHandlers handlers, int listen_fd,
                    int wake_fd, uint16_t port);
  void Run();
  void Loop();
  void Accept(std::chrono::steady_clock::time_point now);
  // Reads, writes or discards as the connection's phase says; false when it is done.
  bool Serve(Connection& c, std::chrono::steady_clock::time_point now);
  bool Read(Connection& c, std::chrono::steady_clock::time_point now);
  bool Write(Connection& c, std::chrono::steady_clock::time_point now);
  bool Discard(Connection& c);
  // The response to one request head (request line and headers, without the empty line that
  // ends them): status line, headers and body.
  std::string Respond(std::string_view head);
  std::string Metrics();
  void Count(HttpError error);

  HttpServerOptions options_;
  HttpHandlers handlers_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // an eventfd: Stop wakes the poll
  uint16_t port_ = 0;
  std::shared_ptr<prometheus::Registry> registry_;
  std::vector<prometheus::Counter*> errors_;  // by HttpError
  std::vector<Connection> connections_;
  std::chrono::steady_clock::time_point accept_paused_until_{};
  std::atomic<bool> stop_{false};
  std::mutex stop_mutex_;
  std::thread thread_;
};

}  // namespace braid::agent::metrics
