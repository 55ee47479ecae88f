#include "agent/metrics/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <exception>
#include <iterator>
#include <utility>

#include "prometheus/metric_family.h"
#include "prometheus/text_serializer.h"

namespace braid::agent::metrics {

using Clock = std::chrono::steady_clock;

struct MetricsHttpServer::Connection {
  enum class Phase : uint8_t { kReading, kWriting, kLingering };

  int fd = -1;
  Phase phase = Phase::kReading;
  Clock::time_point deadline;
  std::string in;   // the request head so far
  std::string out;  // the response
  size_t sent = 0;
  size_t discarded = 0;
};

namespace {

constexpr std::string_view kErrorNames[] = {
    "bad_request",
    "not_found",
    "method_not_allowed",
    "request_too_large",
    "version_not_supported",
    "handler_failed",
    "timeout",
    "client_closed",
    "read_failed",
    "write_failed",
    "accept_failed",
    "too_many_connections",
};
static_assert(std::size(kErrorNames) == static_cast<size_t>(HttpError::kCount));

constexpr std::string_view kTextPlain = "text/plain; charset=utf-8";
constexpr std::string_view kMetricsType = "text/plain; version=0.0.4; charset=utf-8";

// After the response: how long, and how much, the client may still send before the close.
constexpr auto kLinger = std::chrono::seconds(2);
constexpr size_t kMaxDiscard = size_t{64} * 1024;
// Accept failing for want of descriptors or memory: the listener is left alone this long, or
// poll would report it readable in a tight loop.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);

std::string_view Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
  }
  return "Error";
}

// Status line, headers and (unless `head_only`) the body. One request per connection.
std::string Response(int status, std::string_view content_type, std::string_view body,
                     bool head_only, std::string_view extra_headers = {}) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(Reason(status)) +
                    "\r\nContent-Type: " + std::string(content_type) +
                    "\r\nContent-Length: " + std::to_string(body.size()) +
                    "\r\nConnection: close\r\nCache-Control: no-store\r\n" +
                    std::string(extra_headers) + "\r\n";
  if (!head_only) out += body;
  return out;
}

// Where the request head ends (past the empty line), or npos. Bare LF line ends are taken too
// (RFC 9112 §2.2).
size_t HeadEnd(std::string_view in) {
  const size_t crlf = in.find("\r\n\r\n");
  const size_t lf = in.find("\n\n");
  if (crlf == std::string_view::npos && lf == std::string_view::npos) return std::string_view::npos;
  if (lf == std::string_view::npos || (crlf != std::string_view::npos && crlf < lf)) {
    return crlf + 4;
  }
  return lf + 2;
}

// "GET /metrics HTTP/1.1" → its three parts; false unless exactly three non-empty ones.
bool SplitRequestLine(std::string_view line, std::string_view parts[3]) {
  for (int i = 0; i < 3; ++i) {
    const size_t space = line.find(' ');
    if (i < 2) {
      if (space == std::string_view::npos || space == 0) return false;
      parts[i] = line.substr(0, space);
      line.remove_prefix(space + 1);
    } else {
      if (line.empty() || space != std::string_view::npos) return false;
      parts[i] = line;
    }
  }
  return true;
}

// The path of an origin-form ("/metrics?x") or absolute-form ("http://host:9470/metrics")
// target; empty when it is neither.
std::string_view TargetPath(std::string_view target) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.substr(0, scheme.size()) == scheme) {
      target.remove_prefix(scheme.size());
      const size_t slash = target.find('/');
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
      break;
    }
  }
  if (target.empty() || target.front() != '/') return {};
  return target.substr(0, target.find('?'));
}

absl::Status ParseListen(std::string_view listen, sockaddr_storage& addr, socklen_t& len) {
  absl::Status bad = absl::InvalidArgumentError(
      "metrics listen address \"" + std::string(listen) +
      "\": expected an IPv4 address and port (0.0.0.0:9470) or [IPv6]:port ([::]:9470)");
  const size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos) return bad;
  const std::string_view port_text = listen.substr(colon + 1);
  uint32_t port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      port > 65535) {
    return bad;
  }
  std::string_view host = listen.substr(0, colon);
  addr = {};
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&addr);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, std::string(host.substr(1, host.size() - 2)).c_str(), &a6->sin6_addr) !=
        1) {
      return bad;
    }
    len = sizeof(sockaddr_in6);
    return absl::OkStatus();
  }
  auto* a4 = reinterpret_cast<sockaddr_in*>(&addr);
  a4->sin_family = AF_INET;
  a4->sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, std::string(host).c_str(), &a4->sin_addr) != 1) return bad;
  len = sizeof(sockaddr_in);
  return absl::OkStatus();
}

absl::Status SocketError(std::string_view call, std::string_view listen) {
  const int error = errno;
  return absl::ErrnoToStatus(error, std::string(call) + " " + std::string(listen));
}

}  // namespace

std::string_view HttpErrorName(HttpError error) {
  const auto i = static_cast<size_t>(error);
  return i < std::size(kErrorNames) ? kErrorNames[i] : "unknown";
}

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const HttpServerOptions& options, HttpHandlers handlers) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  if (absl::Status s = ParseListen(options.listen, addr, len); !s.ok()) return s;
  if (options.max_request_bytes == 0 || options.max_connections == 0 ||
      options.request_timeout <= std::chrono::milliseconds::zero()) {
    return absl::InvalidArgumentError(
        "metrics server: max_request_bytes, max_connections and request_timeout must be positive");
  }

  const int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return SocketError("socket for", options.listen);
  auto fail = [fd, &options](std::string_view call) {
    absl::Status s = SocketError(call, options.listen);
    close(fd);
    return s;
  };
  const int one = 1;
  // A restarted agent binds again while its old connections sit in TIME-WAIT.
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) {
    return fail("SO_REUSEADDR on");
  }
  if (addr.ss_family == AF_INET6 &&
      IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_addr)) {
    // "[::]" means every address of both families, whatever net.ipv6.bindv6only says.
    const int zero = 0;
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) != 0) {
      return fail("IPV6_V6ONLY on");
    }
  }
  if (bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0) return fail("bind");
  if (listen(fd, SOMAXCONN) != 0) return fail("listen on");
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof(bound);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len) != 0) {
    return fail("getsockname of");
  }
  const uint16_t port =
      ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port
                                        : reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
  const int wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake < 0) return fail("eventfd for");

  std::unique_ptr<MetricsHttpServer> server(
      new MetricsHttpServer(options, std::move(handlers), fd, wake, port));
  server->thread_ = std::thread([s = server.get()] { s->Run(); });
  return server;
}

MetricsHttpServer::MetricsHttpServer(const HttpServerOptions& options, HttpHandlers handlers,
                                     int listen_fd, int wake_fd, uint16_t port)
    : options_(options),
      handlers_(std::move(handlers)),
      listen_fd_(listen_fd),
      wake_fd_(wake_fd),
      port_(port),
      registry_(std::make_shared<prometheus::Registry>()) {
  auto& family = prometheus::BuildCounter()
                     .Name("braid_agent_http_errors_total")
                     .Help("requests of the metrics and health endpoints that failed, by reason")
                     .Register(*registry_);
  for (std::string_view name : kErrorNames) {
    errors_.push_back(&family.Add({{"reason", std::string(name)}}));
  }
}

MetricsHttpServer::~MetricsHttpServer() {
  Stop();
  close(wake_fd_);
}

void MetricsHttpServer::Stop() {
  std::lock_guard<std::mutex> lock(stop_mutex_);
  if (!thread_.joinable()) return;
  stop_.store(true);
  const uint64_t one = 1;
  // The eventfd cannot be full (the loop drains it), so the write takes.
  [[maybe_unused]] const ssize_t n = write(wake_fd_, &one, sizeof(one));
  thread_.join();
  // New connections are refused from now on, not left in the backlog.
  close(listen_fd_);
  listen_fd_ = -1;
}

uint64_t MetricsHttpServer::errors(HttpError error) const {
  const auto i = static_cast<size_t>(error);
  return i < errors_.size() ? static_cast<uint64_t>(errors_[i]->Value()) : 0;
}

void MetricsHttpServer::Count(HttpError error) { errors_[static_cast<size_t>(error)]->Increment(); }

void MetricsHttpServer::Run() {
  pthread_setname_np(pthread_self(), "braid-metrics");
  while (!stop_.load()) {
    try {
      Loop();
    } catch (...) {
      // Out of memory in the middle of a connection: drop them all, keep serving.
      for (Connection& c : connections_) close(c.fd);
      connections_.clear();
      Count(HttpError::kHandlerFailed);
    }
  }
  for (Connection& c : connections_) close(c.fd);
  connections_.clear();
}

// Runs until Stop.
void MetricsHttpServer::Loop() {
  std::vector<pollfd> fds;
  while (!stop_.load()) {
    Clock::time_point now = Clock::now();
    const bool accepting = now >= accept_paused_until_;
    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    // poll ignores a negative descriptor: the listener rests while accepting is paused.
    fds.push_back({accepting ? listen_fd_ : -1, POLLIN, 0});
    Clock::time_point next = accepting ? Clock::time_point::max() : accept_paused_until_;
    for (const Connection& c : connections_) {
      fds.push_back(
          {c.fd, static_cast<short>(c.phase == Connection::Phase::kWriting ? POLLOUT : POLLIN), 0});
      next = std::min(next, c.deadline);
    }
    int timeout_ms = -1;
    if (next != Clock::time_point::max()) {
      const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - now);
      timeout_ms = static_cast<int>(std::clamp<int64_t>(wait.count(), 0, 60'000));
    }
    if (poll(fds.data(), fds.size(), timeout_ms) < 0) {
      if (errno == EINTR) continue;
      // Not expected with valid descriptors; wait out the tick rather than spin.
      poll(nullptr, 0, 10);
      continue;
    }
    if (fds[0].revents != 0) {
      uint64_t drained = 0;
      [[maybe_unused]] const ssize_t n = read(wake_fd_, &drained, sizeof(drained));
    }
    if (stop_.load()) return;
    now = Clock::now();
    // fds[2 + i] is connections_[i] as it was before this round's accepts.
    const size_t polled = connections_.size();
    for (size_t i = 0; i < polled; ++i) {
      Connection& c = connections_[i];
      bool open = true;
      if (fds[2 + i].revents != 0) {
        try {
          open = Serve(c, now);
        } catch (...) {
          Count(HttpError::kHandlerFailed);
          open = false;
        }
      }
      if (open && now >= c.deadline) {
        // A lingering close that ran out is the end of a served request, not an error.
        if (c.phase != Connection::Phase::kLingering) Count(HttpError::kTimeout);
        open = false;
      }
      if (!open) {
        close(c.fd);
        c.fd = -1;
      }
    }
    std::erase_if(connections_, [](const Connection& c) { return c.fd < 0; });
    if (fds[1].revents != 0) Accept(now);
  }
}

void MetricsHttpServer::Accept(Clock::time_point now) {
  for (;;) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      Count(HttpError::kAcceptFailed);
      accept_paused_until_ = now + kAcceptPause;
      return;
    }
    if (connections_.size() >= options_.max_connections) {
      close(fd);
      Count(HttpError::kTooManyConnections);
      continue;
    }
    Connection& c = connections_.emplace_back();
    c.fd = fd;
    c.deadline = now + options_.request_timeout;
  }
}

bool MetricsHttpServer::Serve(Connection& c, Clock::time_point now) {
  switch (c.phase) {
    case Connection::Phase::kReading:
      return Read(c, now);
    case Connection::Phase::kWriting:
      return Write(c, now);
    case Connection::Phase::kLingering:
      return Discard(c);
  }
  return false;
}

bool MetricsHttpServer::Read(Connection& c, Clock::time_point now) {
  char buf[4096];
  for (;;) {
    // Never more than one byte past the limit: enough to know the head is too long.
    const size_t room = options_.max_request_bytes + 1 - c.in.size();
    const ssize_t n = recv(c.fd, buf, std::min(sizeof(buf), room), 0);
    if (n == 0) {
      // A connection closed before a byte is a TCP probe, not a failed request.
      if (!c.in.empty()) Count(HttpError::kClientClosed);
      return false;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      Count(HttpError::kReadFailed);
      return false;
    }
    const size_t searched = c.in.size() >= 3 ? c.in.size() - 3 : 0;
    c.in.append(buf, static_cast<size_t>(n));
    const size_t end = HeadEnd(std::string_view(c.in).substr(searched));
    if (end != std::string_view::npos && searched + end <= options_.max_request_bytes) {
      c.out = Respond(std::string_view(c.in).substr(0, searched + end));
      break;
    }
    if (c.in.size() > options_.max_request_bytes) {
      Count(HttpError::kRequestTooLarge);
      c.out = Response(431, kTextPlain, "request head too large\n", false);
      break;
    }
  }
  c.in.clear();
  c.in.shrink_to_fit();
  c.phase = Connection::Phase::kWriting;
  return Write(c, now);
}

bool MetricsHttpServer::Write(Connection& c, Clock::time_point now) {
  while (c.sent < c.out.size()) {
    const ssize_t n = send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      Count(HttpError::kWriteFailed);
      return false;
    }
    c.sent += static_cast<size_t>(n);
  }
  c.out.clear();
  c.out.shrink_to_fit();
  // The response is out: FIN now, and read what the client still sends until its FIN, so the
  // close does not reset a response it has not read yet.
  if (shutdown(c.fd, SHUT_WR) != 0) return false;
  c.phase = Connection::Phase::kLingering;
  c.deadline = std::min(c.deadline, now + kLinger);
  return Discard(c);
}

bool MetricsHttpServer::Discard(Connection& c) {
  char buf[4096];
  for (;;) {
    const ssize_t n = recv(c.fd, buf, sizeof(buf), 0);
    if (n > 0) {
      c.discarded += static_cast<size_t>(n);
      if (c.discarded > kMaxDiscard) return false;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
}

std::string MetricsHttpServer::Respond(std::string_view head) {
  const size_t line_end = head.find('\n');
  std::string_view line = head.substr(0, line_end);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::string_view parts[3];
  if (!SplitRequestLine(line, parts)) {
    Count(HttpError::kBadRequest);
    return Response(400, kTextPlain, "bad request line\n", false);
  }
  const std::string_view method = parts[0];
  const std::string_view version = parts[2];
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    if (version.substr(0, 5) == "HTTP/") {
      Count(HttpError::kVersionNotSupported);
      return Response(505, kTextPlain, "HTTP/1.1 only\n", false);
    }
    Count(HttpError::kBadRequest);
    return Response(400, kTextPlain, "bad request line\n", false);
  }
  const bool head_only = method == "HEAD";
  if (method != "GET" && !head_only) {
    Count(HttpError::kMethodNotAllowed);
    return Response(405, kTextPlain, "GET or HEAD only\n", false, "Allow: GET, HEAD\r\n");
  }
  const std::string_view path = TargetPath(parts[1]);
  if (path.empty()) {
    Count(HttpError::kBadRequest);
    return Response(400, kTextPlain, "bad request target\n", false);
  }
  try {
    if (path == "/metrics") return Response(200, kMetricsType, Metrics(), head_only);
    if (path == "/healthz" || path == "/readyz") {
      const std::function<absl::Status()>& check =
          path == "/healthz" ? handlers_.liveness : handlers_.readiness;
      const absl::Status status = check ? check() : absl::OkStatus();
      if (status.ok()) return Response(200, kTextPlain, "ok\n", head_only);
      return Response(503, kTextPlain, std::string(status.message()) + "\n", head_only);
    }
  } catch (...) {
    Count(HttpError::kHandlerFailed);
    return Response(500, kTextPlain, "internal error\n", head_only);
  }
  Count(HttpError::kNotFound);
  return Response(404, kTextPlain, "not found: /metrics, /healthz, /readyz\n", head_only);
}

std::string MetricsHttpServer::Metrics() {
  std::vector<prometheus::MetricFamily> families;
  for (const std::shared_ptr<prometheus::Collectable>& c : handlers_.collectables) {
    if (c == nullptr) continue;
    std::vector<prometheus::MetricFamily> more = c->Collect();
    families.insert(families.end(), std::make_move_iterator(more.begin()),
                    std::make_move_iterator(more.end()));
  }
  std::vector<prometheus::MetricFamily> own = registry_->Collect();
  families.insert(families.end(), std::make_move_iterator(own.begin()),
                  std::make_move_iterator(own.end()));
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace braid::agent::metrics
