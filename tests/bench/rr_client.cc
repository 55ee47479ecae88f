// rr_client: the unmodified application of the preload.rr_p50 figure (tests/bench/sdk_bench.py).
// Plain libc sockets (socket, setsockopt TCP_NODELAY, connect, send, recv), so the same binary
// runs on the kernel's TCP as it is and on Braid under LD_PRELOAD=libbraid_preload.so, and the
// two runs differ only in the stack underneath.
//
//   rr_client --connect ADDR --port P [--size B] --seconds S
//
// It speaks braid-perf's rr exchange (tools/braid-perf/perf.h) to a `braid-perf -s` server: the
// 16-byte test header (magic "BPRF", version 1, mode rr, the size), then B bytes out and the same
// B bytes back, back to back on one connection for S seconds; then it shuts down its side and
// waits for the server to close. Each request carries its transaction number, so a response
// that is stale, reordered or damaged differs from its request in some byte: every response
// byte is compared.
//
// No SO_RCVTIMEO/SO_SNDTIMEO: the service does not take them, and the shim puts a socket with an
// option Braid refuses on the kernel instead. A stalled exchange is ended by the driver's timeout.
//
// Latency: from the request's send() to the response's last byte, each transaction timed
// exactly (nearest-rank percentiles over every sample). Output, one JSON line:
//   {"event": "result", "mode": "rr", "size", "transactions", "seconds",
//    "latency_us": {"count", "p50", "p90", "p99", "max", "mean"},
//    "cpu_s": {"user", "system", "total"}, "error": null | "what failed"}
// Exit status 0 when every response matched, 1 on a failure, 2 on bad arguments.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

// braid-perf's TestHeader (tools/braid-perf/perf.h), little-endian.
constexpr uint32_t kMagic = 0x46525042;  // "BPRF"
constexpr uint8_t kVersion = 1;
constexpr uint8_t kModeRr = 2;
constexpr size_t kHeaderSize = 16;
constexpr size_t kMaxSize = 1 << 20;

struct Options {
  std::string connect;
  int port = 0;
  size_t size = 64;
  double seconds = 0;
};

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr,
               "rr_client: %s\n"
               "usage: rr_client --connect ADDR --port P [--size B] --seconds S\n",
               why);
  std::exit(2);
}

double ParseNumber(const char* s, const char* what) {
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (end == s || *end != '\0' || !(v > 0)) Usage(what);
  return v;
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) Usage(("missing value after " + a).c_str());
    const char* v = argv[++i];
    if (a == "--connect") {
      o.connect = v;
    } else if (a == "--port") {
      const double p = ParseNumber(v, "bad --port");
      if (p != static_cast<int>(p) || p > 65535) Usage("bad --port");
      o.port = static_cast<int>(p);
    } else if (a == "--size") {
      const double s = ParseNumber(v, "bad --size");
      if (s != static_cast<double>(static_cast<size_t>(s)) || s > kMaxSize) Usage("bad --size");
      o.size = static_cast<size_t>(s);
    } else if (a == "--seconds") {
      o.seconds = ParseNumber(v, "bad --seconds");
    } else {
      Usage(("unknown option " + a).c_str());
    }
  }
  if (o.connect.empty()) Usage("--connect is required");
  if (o.port == 0) Usage("--port is required");
  if (o.seconds == 0) Usage("--seconds is required");
  // The transaction number in each request needs 8 bytes.
  if (o.size < 8) Usage("--size must be at least 8");
  return o;
}

double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void StoreLe(uint8_t* out, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
}

// An IPv4 or IPv6 socket address from text.
bool MakeAddr(const std::string& text, int port, sockaddr_storage* ss, socklen_t* len) {
  std::memset(ss, 0, sizeof(*ss));
  auto* v4 = reinterpret_cast<sockaddr_in*>(ss);
  if (inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    *len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(ss);
  if (inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    *len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

std::string ErrnoText(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// Sends all of buf: "" or what failed.
std::string SendAll(int fd, const uint8_t* buf, size_t n) {
  while (n > 0) {
    const ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoText("send");
    }
    buf += w;
    n -= static_cast<size_t>(w);
  }
  return "";
}

// Receives exactly n bytes: "" or what failed.
std::string RecvExact(int fd, uint8_t* buf, size_t n) {
  while (n > 0) {
    const ssize_t r = recv(fd, buf, n, 0);
    if (r == 0) return "recv: the server closed before answering";
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoText("recv");
    }
    buf += r;
    n -= static_cast<size_t>(r);
  }
  return "";
}

// Reads until the server closes after our shutdown: "" or what failed.
std::string AwaitEof(int fd) {
  uint8_t byte;
  while (true) {
    const ssize_t r = recv(fd, &byte, 1, 0);
    if (r == 0) return "";
    if (r > 0) return "a byte after the last response";
    if (errno != EINTR) return ErrnoText("recv at the end");
  }
}

// The request of transaction `n`: its number, then bytes that depend on it and their offset.
void FillRequest(uint64_t n, std::vector<uint8_t>& request) {
  StoreLe(request.data(), n, 8);
  for (size_t i = 8; i < request.size(); ++i) request[i] = static_cast<uint8_t>(n * 31 + i * 7);
}

double Percentile(const std::vector<double>& sorted, double q) {
  // Nearest rank: the smallest sample with at least a fraction q of the samples at or below it.
  size_t rank = static_cast<size_t>(q * static_cast<double>(sorted.size()) + 0.999999);
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

struct Run {
  std::vector<double> latency_us;
  double seconds = 0;
  std::string error;
};

void Exchange(const Options& o, int fd, Run& run) {
  uint8_t header[kHeaderSize] = {};
  StoreLe(header, kMagic, 4);
  header[4] = kVersion;
  header[5] = kModeRr;
  StoreLe(header + 8, o.size, 4);
  if (run.error = SendAll(fd, header, sizeof(header)); !run.error.empty()) return;
  std::vector<uint8_t> request(o.size), response(o.size);
  // Room for a transaction every 10 us, so that the samples seldom move while timing.
  run.latency_us.reserve(static_cast<size_t>(o.seconds * 1e5) + 1);
  const double start = Now();
  const double until = start + o.seconds;
  double now = start;
  for (uint64_t n = 0; now < until; ++n) {
    FillRequest(n, request);
    const double t0 = Now();
    if (run.error = SendAll(fd, request.data(), request.size()); !run.error.empty()) return;
    if (run.error = RecvExact(fd, response.data(), response.size()); !run.error.empty()) return;
    now = Now();
    run.latency_us.push_back((now - t0) * 1e6);
    run.seconds = now - start;
    if (response != request) {
      run.error = "response " + std::to_string(n) + " differs from its request";
      return;
    }
  }
  if (shutdown(fd, SHUT_WR) != 0) {
    run.error = ErrnoText("shutdown");
    return;
  }
  run.error = AwaitEof(fd);
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    if (ch == '"' || ch == '\\') out.push_back('\\');
    if (static_cast<unsigned char>(ch) < 0x20) continue;
    out.push_back(ch);
  }
  return out + "\"";
}

void Print(const Options& o, const Run& run) {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double user = static_cast<double>(usage.ru_utime.tv_sec) +
                      static_cast<double>(usage.ru_utime.tv_usec) * 1e-6;
  const double system = static_cast<double>(usage.ru_stime.tv_sec) +
                        static_cast<double>(usage.ru_stime.tv_usec) * 1e-6;
  std::vector<double> sorted = run.latency_us;
  std::sort(sorted.begin(), sorted.end());
  double sum = 0;
  for (const double v : sorted) sum += v;
  const bool any = !sorted.empty();
  std::printf(
      "{\"event\": \"result\", \"mode\": \"rr\", \"size\": %zu, \"transactions\": %zu, "
      "\"seconds\": %.6f, \"latency_us\": {\"count\": %zu, \"p50\": %.3f, \"p90\": %.3f, "
      "\"p99\": %.3f, \"max\": %.3f, \"mean\": %.3f}, \"cpu_s\": {\"user\": %.3f, "
      "\"system\": %.3f, \"total\": %.3f}, \"error\": %s}\n",
      o.size, sorted.size(), run.seconds, sorted.size(), any ? Percentile(sorted, 0.5) : 0,
      any ? Percentile(sorted, 0.9) : 0, any ? Percentile(sorted, 0.99) : 0,
      any ? sorted.back() : 0, any ? sum / static_cast<double>(sorted.size()) : 0, user, system,
      user + system, run.error.empty() ? "null" : JsonString(run.error).c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = Parse(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  sockaddr_storage ss;
  socklen_t len = 0;
  if (!MakeAddr(o.connect, o.port, &ss, &len)) Usage("--connect is not an IPv4 or IPv6 address");
  Run run;
  const int fd = socket(ss.ss_family, SOCK_STREAM, IPPROTO_TCP);
  if (fd < 0) {
    run.error = ErrnoText("socket");
  } else {
    const int one = 1;
    // Each request leaves at once, as braid-perf's rr client sends it.
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
      run.error = ErrnoText("setsockopt TCP_NODELAY");
    } else if (connect(fd, reinterpret_cast<const sockaddr*>(&ss), len) != 0) {
      run.error = ErrnoText("connect");
    } else {
      Exchange(o, fd, run);
    }
    close(fd);
  }
  Print(o, run);
  return run.error.empty() ? 0 : 1;
}
