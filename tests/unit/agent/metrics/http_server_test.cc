// The metrics HTTP server on real sockets (loopback): the three endpoints, 404, 405, 431, bad
// requests, slow and silent clients, the connection limit, and Stop with clients connected.
#include "agent/metrics/http_server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/registry.h"

namespace braid::agent::metrics {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// A blocking TCP connection to 127.0.0.1:port, with a receive timeout so a broken server fails
// the test instead of hanging it.
class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{.tv_sec = 10, .tv_usec = 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client() { close(fd_); }

  bool connected() const { return connected_; }

  bool Send(std::string_view text) {
    while (!text.empty()) {
      const ssize_t n = send(fd_, text.data(), text.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      text.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Everything until the server closes (or the receive timeout).
  std::string ReadAll() {
    std::string out;
    char buf[4096];
    for (;;) {
      const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

  // True when the server closed the connection (EOF or reset) within `timeout`.
  bool ClosedWithin(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout.count())) != 1) return false;
    char c;
    const ssize_t n = recv(fd_, &c, 1, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

std::string Request(uint16_t port, std::string_view request) {
  Client c(port);
  EXPECT_TRUE(c.connected());
  EXPECT_TRUE(c.Send(request));
  return c.ReadAll();
}

std::string Get(uint16_t port, std::string_view path) {
  return Request(port, "GET " + std::string(path) + " HTTP/1.1\r\nHost: test\r\n\r\n");
}

std::string Body(const std::string& response) {
  const size_t at = response.find("\r\n\r\n");
  return at == std::string::npos ? "" : response.substr(at + 4);
}

// Waits for a counter the server's thread increments.
bool Eventually(const std::function<bool()>& condition) {
  for (int i = 0; i < 500; ++i) {
    if (condition()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return condition();
}

class ThrowingCollectable : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    throw std::runtime_error("collect failed");
  }
};

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = std::make_shared<prometheus::Registry>();
    prometheus::BuildCounter()
        .Name("braid_test_things_total")
        .Help("things")
        .Register(*registry_)
        .Add({{"worker", "0"}})
        .Increment(3);
  }

  std::unique_ptr<MetricsHttpServer> StartServer(HttpServerOptions options = {}) {
    options.listen = "127.0.0.1:0";
    HttpHandlers handlers;
    handlers.collectables = {registry_};
    handlers.liveness = [this] { return alive_ ? absl::OkStatus() : absl::UnavailableError("x"); };
    handlers.readiness = [this]() -> absl::Status {
      if (throw_) throw std::runtime_error("readiness failed");
      return ready_ ? absl::OkStatus()
                    : absl::UnavailableError("datapath not started: 0 of 2 workers");
    };
    absl::StatusOr<std::unique_ptr<MetricsHttpServer>> server =
        MetricsHttpServer::Start(options, std::move(handlers));
    EXPECT_TRUE(server.ok()) << server.status();
    if (!server.ok()) return nullptr;
    EXPECT_NE((*server)->port(), 0);
    return std::move(*server);
  }

  std::shared_ptr<prometheus::Registry> registry_;
  std::atomic<bool> alive_{true};
  std::atomic<bool> ready_{false};
  std::atomic<bool> throw_{false};
};

TEST_F(HttpServerTest, MetricsHealthzReadyz) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  const uint16_t port = server->port();

  const std::string metrics = Get(port, "/metrics");
  EXPECT_THAT(metrics, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(metrics, HasSubstr("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
  EXPECT_THAT(metrics, HasSubstr("Connection: close\r\n"));
  EXPECT_THAT(metrics,
              HasSubstr("Content-Length: " + std::to_string(Body(metrics).size()) + "\r\n"));
  EXPECT_THAT(Body(metrics), HasSubstr("braid_test_things_total{worker=\"0\"} 3"));
  // The server's own errors, every reason from the start.
  EXPECT_THAT(Body(metrics), HasSubstr("# TYPE braid_agent_http_errors_total counter"));
  EXPECT_THAT(Body(metrics), HasSubstr("braid_agent_http_errors_total{reason=\"timeout\"} 0"));
  // A query string does not change the path.
  EXPECT_THAT(Get(port, "/metrics?name[]=x"), StartsWith("HTTP/1.1 200 OK\r\n"));

  const std::string healthz = Get(port, "/healthz");
  EXPECT_THAT(healthz, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_EQ(Body(healthz), "ok\n");
  alive_ = false;
  EXPECT_THAT(Get(port, "/healthz"), StartsWith("HTTP/1.1 503 Service Unavailable\r\n"));

  const std::string not_ready = Get(port, "/readyz");
  EXPECT_THAT(not_ready, StartsWith("HTTP/1.1 503 Service Unavailable\r\n"));
  EXPECT_EQ(Body(not_ready), "datapath not started: 0 of 2 workers\n");
  ready_ = true;
  const std::string ready = Get(port, "/readyz");
  EXPECT_THAT(ready, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_EQ(Body(ready), "ok\n");

  // HEAD: the headers GET would send, no body.
  const std::string head = Request(port, "HEAD /readyz HTTP/1.1\r\n\r\n");
  EXPECT_THAT(head, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(head, HasSubstr("Content-Length: 3\r\n"));
  EXPECT_EQ(Body(head), "");
  // HTTP/1.0, bare LF line ends, an absolute-form target.
  EXPECT_THAT(Request(port, "GET /healthz HTTP/1.0\n\n"), StartsWith("HTTP/1.1 503"));
  EXPECT_THAT(Request(port, "GET http://node:9470/readyz HTTP/1.1\r\n\r\n"),
              StartsWith("HTTP/1.1 200"));

  for (int e = 0; e < static_cast<int>(HttpError::kCount); ++e) {
    EXPECT_EQ(server->errors(static_cast<HttpError>(e)), 0u)
        << HttpErrorName(static_cast<HttpError>(e));
  }
}

TEST_F(HttpServerTest, NotFoundMethodNotAllowedBadRequest) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  const uint16_t port = server->port();

  EXPECT_THAT(Get(port, "/"), StartsWith("HTTP/1.1 404 Not Found\r\n"));
  EXPECT_THAT(Get(port, "/metrics/x"), StartsWith("HTTP/1.1 404 Not Found\r\n"));
  EXPECT_EQ(server->errors(HttpError::kNotFound), 2u);

  // A body the server does not read: the 405 still arrives whole (lingering close).
  const std::string post = Request(
      port, "POST /metrics HTTP/1.1\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'x'));
  EXPECT_THAT(post, StartsWith("HTTP/1.1 405 Method Not Allowed\r\n"));
  EXPECT_THAT(post, HasSubstr("Allow: GET, HEAD\r\n"));
  EXPECT_THAT(Request(port, "DELETE /healthz HTTP/1.1\r\n\r\n"), StartsWith("HTTP/1.1 405"));
  EXPECT_EQ(server->errors(HttpError::kMethodNotAllowed), 2u);

  EXPECT_THAT(Request(port, "garbage\r\n\r\n"), StartsWith("HTTP/1.1 400 Bad Request\r\n"));
  EXPECT_THAT(Request(port, "GET  /metrics HTTP/1.1\r\n\r\n"), StartsWith("HTTP/1.1 400"));
  EXPECT_THAT(Request(port, "GET metrics HTTP/1.1\r\n\r\n"), StartsWith("HTTP/1.1 400"));
  EXPECT_THAT(Request(port, "GET /metrics SMTP\r\n\r\n"), StartsWith("HTTP/1.1 400"));
  EXPECT_EQ(server->errors(HttpError::kBadRequest), 4u);
  EXPECT_THAT(Request(port, "GET /metrics HTTP/2.0\r\n\r\n"),
              StartsWith("HTTP/1.1 505 HTTP Version Not Supported\r\n"));
  EXPECT_EQ(server->errors(HttpError::kVersionNotSupported), 1u);

  // The errors show up on /metrics.
  EXPECT_THAT(Get(port, "/metrics"),
              HasSubstr("braid_agent_http_errors_total{reason=\"not_found\"} 2"));
}

TEST_F(HttpServerTest, OversizedRequestGets431) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  std::string request = "GET /metrics HTTP/1.1\r\nX-Filler: " + std::string(9000, 'a');
  const std::string response = Request(server->port(), request);
  EXPECT_THAT(response, StartsWith("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
  EXPECT_EQ(server->errors(HttpError::kRequestTooLarge), 1u);

  // Exactly at the limit is fine.
  HttpServerOptions small;
  small.max_request_bytes = 64;
  auto tight = StartServer(small);
  ASSERT_NE(tight, nullptr);
  std::string fits = "GET /healthz HTTP/1.1\r\nX: ";
  fits += std::string(64 - fits.size() - 4, 'b') + "\r\n\r\n";
  ASSERT_EQ(fits.size(), 64u);
  EXPECT_THAT(Request(tight->port(), fits), StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(Request(tight->port(), fits.substr(0, 26) + "b" + fits.substr(26)),
              StartsWith("HTTP/1.1 431"));
}

TEST_F(HttpServerTest, SlowClientDoesNotBlockAnother) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  const uint16_t port = server->port();
  Client slow(port);
  ASSERT_TRUE(slow.connected());
  ASSERT_TRUE(slow.Send("GET /hea"));
  // A second client is served while the first one's request is incomplete.
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(Get(port, "/metrics"), StartsWith("HTTP/1.1 200"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  // The slow one, done at last, gets its answer too.
  ASSERT_TRUE(slow.Send("lthz HTTP/1.1\r\n\r\n"));
  EXPECT_THAT(slow.ReadAll(), StartsWith("HTTP/1.1 200"));

  // Many clients at once, each connected before any sends.
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 20; ++i) {
    clients.push_back(std::make_unique<Client>(port));
    ASSERT_TRUE(clients.back()->connected());
  }
  for (auto& c : clients) ASSERT_TRUE(c->Send("GET /healthz HTTP/1.1\r\n\r\n"));
  for (auto& c : clients) EXPECT_THAT(c->ReadAll(), StartsWith("HTTP/1.1 200"));
}

TEST_F(HttpServerTest, SilentClientIsDropped) {
  HttpServerOptions options;
  options.request_timeout = 200ms;
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  Client silent(server->port());
  ASSERT_TRUE(silent.connected());
  ASSERT_TRUE(silent.Send("GET /metrics HTTP/1.1\r\n"));
  EXPECT_TRUE(silent.ClosedWithin(3s));
  EXPECT_TRUE(Eventually([&] { return server->errors(HttpError::kTimeout) == 1; }));

  // A connection closed before a byte (a TCP probe) is no error; one closed mid-request is.
  { Client probe(server->port()); }
  {
    Client quitter(server->port());
    ASSERT_TRUE(quitter.Send("GET /met"));
  }
  EXPECT_TRUE(Eventually([&] { return server->errors(HttpError::kClientClosed) == 1; }));
  EXPECT_EQ(server->errors(HttpError::kTimeout), 1u);
}

TEST_F(HttpServerTest, ConnectionLimit) {
  HttpServerOptions options;
  options.max_connections = 2;
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  Client a(server->port());
  Client b(server->port());
  ASSERT_TRUE(a.connected() && b.connected());
  // Let the server accept both before the third arrives.
  ASSERT_TRUE(a.Send("G"));
  ASSERT_TRUE(b.Send("G"));
  std::this_thread::sleep_for(100ms);
  Client c(server->port());
  EXPECT_TRUE(c.ClosedWithin(3s));
  EXPECT_TRUE(Eventually([&] { return server->errors(HttpError::kTooManyConnections) == 1; }));
  // The first two are still served.
  ASSERT_TRUE(a.Send("ET /healthz HTTP/1.1\r\n\r\n"));
  EXPECT_THAT(a.ReadAll(), StartsWith("HTTP/1.1 200"));
}

TEST_F(HttpServerTest, ThrowingHandlersGet500) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  throw_ = true;
  EXPECT_THAT(Get(server->port(), "/readyz"), StartsWith("HTTP/1.1 500 Internal Server Error"));
  EXPECT_EQ(server->errors(HttpError::kHandlerFailed), 1u);
  // Still serving.
  EXPECT_THAT(Get(server->port(), "/healthz"), StartsWith("HTTP/1.1 200"));

  HttpHandlers handlers;
  handlers.collectables = {std::make_shared<ThrowingCollectable>()};
  auto broken = MetricsHttpServer::Start({.listen = "127.0.0.1:0"}, std::move(handlers));
  ASSERT_TRUE(broken.ok()) << broken.status();
  EXPECT_THAT(Get((*broken)->port(), "/metrics"), StartsWith("HTTP/1.1 500"));
  // Without callbacks, health and readiness are OK.
  EXPECT_THAT(Get((*broken)->port(), "/readyz"), StartsWith("HTTP/1.1 200"));
}

TEST_F(HttpServerTest, StopWithClientsConnected) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  Client idle(server->port());
  Client partial(server->port());
  ASSERT_TRUE(idle.connected() && partial.connected());
  ASSERT_TRUE(partial.Send("GET /metr"));
  std::this_thread::sleep_for(50ms);
  const auto start = std::chrono::steady_clock::now();
  std::thread stopper([&] { server->Stop(); });
  stopper.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_TRUE(idle.ClosedWithin(1s));
  EXPECT_TRUE(partial.ClosedWithin(1s));
  server->Stop();  // again: nothing
  // The port is closed.
  Client late(server->port());
  EXPECT_FALSE(late.connected());
}

TEST(HttpServerStartTest, ListenAddresses) {
  for (const char* bad : {"nonsense", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "300.1.1.1:80",
                          "[::1:80", "::1:80", ":80", "1.2.3.4:8x"}) {
    absl::StatusOr<std::unique_ptr<MetricsHttpServer>> s =
        MetricsHttpServer::Start({.listen = bad}, {});
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> first =
      MetricsHttpServer::Start({.listen = "127.0.0.1:0"}, {});
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string taken = "127.0.0.1:" + std::to_string((*first)->port());
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> second =
      MetricsHttpServer::Start({.listen = taken}, {});
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(second.status().message(), HasSubstr(taken));
}

TEST(HttpServerStartTest, Ipv6AnyServesBothFamilies) {
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> s =
      MetricsHttpServer::Start({.listen = "[::]:0"}, {});
  if (!s.ok()) GTEST_SKIP() << "no IPv6 on this machine: " << s.status();
  EXPECT_THAT(Get((*s)->port(), "/healthz"), StartsWith("HTTP/1.1 200"));  // over IPv4
  const int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_port = htons((*s)->port());
  addr.sin6_addr = in6addr_loopback;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int error = errno;
    close(fd);
    GTEST_SKIP() << "no IPv6 loopback: " << std::strerror(error);
  }
  const std::string request = "GET /healthz HTTP/1.1\r\n\r\n";
  ASSERT_EQ(send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  std::string response;
  char buf[512];
  for (ssize_t n; (n = recv(fd, buf, sizeof(buf), 0)) > 0;) response.append(buf, n);
  close(fd);
  EXPECT_THAT(response, StartsWith("HTTP/1.1 200"));  // over IPv6
}

}  // namespace
}  // namespace braid::agent::metrics
