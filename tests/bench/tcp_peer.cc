// tcp_peer: the kernel side of the veth benchmarks (tests/bench/veth_bench.py) and a fast kernel
// TCP peer for `make demo`. Plain sockets, no DPDK, one connection at a time, so that the Linux
// baseline is limited by the kernel and not by an interpreter.
//
//   tcp_peer server --port P [--mode sink|echo] [--bind ADDR] [--count K] [--timeout S]
//   tcp_peer client --connect ADDR --port P --mode send|rr [--bytes N] [--seconds S]
//                   [--size B] [--count N] [--warmup N] [--bind ADDR] [--timeout S]
//
// Server: listens on ADDR (default the IPv6 wildcard, which also accepts IPv4), prints
// {"event":"listening"} once it does, then serves K connections one after another (0: until
// SIGINT/SIGTERM). sink reads to EOF and closes; echo writes back what it reads and closes after
// EOF (TCP_NODELAY, so each answer leaves at once).
// Client send: writes --bytes N (or for --seconds S), shuts down its side and reads to the peer's
// EOF, so `seconds` runs from the first byte written to everything delivered. Client rr: --count N
// (or --seconds S) requests of --size B bytes on one TCP_NODELAY connection, each answered by B
// bytes from an echo peer; latency is write of the request to the last byte of the answer, after
// --warmup N requests that are not counted.
//
// Output: one JSON object per line. `connection` (server, per connection; client send): bytes_rx,
// bytes_tx, seconds (receiver: first byte to EOF; sender: first byte to the peer's EOF), gbit_s,
// retrans (tcpi_total_retrans of this socket), rtt_us, error. `rr`: count, size, p50_us, p90_us,
// p99_us, max_us, mean_us, seconds. Exit status 0 on success, 1 on a failed connection, 2 on bad
// arguments.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr size_t kBufferSize = 1 << 20;

struct Options {
  std::string role;
  std::string mode;
  std::string connect;
  std::string bind;
  int port = 0;
  uint64_t bytes = 0;
  double seconds = 0;
  size_t size = 64;
  uint64_t count = 0;
  bool count_given = false;
  uint64_t warmup = 0;
  double timeout = 60;
};

volatile sig_atomic_t g_stop = 0;

void OnSignal(int) { g_stop = 1; }

double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr,
               "tcp_peer: %s\n"
               "usage: tcp_peer server --port P [--mode sink|echo] [--bind ADDR] [--count K]"
               " [--timeout S]\n"
               "       tcp_peer client --connect ADDR --port P --mode send|rr [--bytes N]"
               " [--seconds S] [--size B] [--count N] [--warmup N] [--bind ADDR] [--timeout S]\n",
               why);
  std::exit(2);
}

uint64_t ParseU64(const char* s, const char* what) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || s[0] == '-') Usage(what);
  return v;
}

double ParseDouble(const char* s, const char* what) {
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (end == s || *end != '\0' || !(v >= 0)) Usage(what);
  return v;
}

Options Parse(int argc, char** argv) {
  if (argc < 2) Usage("missing server|client");
  Options o;
  o.role = argv[1];
  if (o.role != "server" && o.role != "client") Usage("first argument must be server or client");
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) Usage(("missing value after " + a).c_str());
    const char* v = argv[++i];
    if (a == "--port") {
      const uint64_t p = ParseU64(v, "bad --port");
      if (p == 0 || p > 65535) Usage("bad --port");
      o.port = static_cast<int>(p);
    } else if (a == "--mode") {
      o.mode = v;
    } else if (a == "--connect") {
      o.connect = v;
    } else if (a == "--bind") {
      o.bind = v;
    } else if (a == "--bytes") {
      o.bytes = ParseU64(v, "bad --bytes");
    } else if (a == "--seconds") {
      o.seconds = ParseDouble(v, "bad --seconds");
    } else if (a == "--size") {
      o.size = ParseU64(v, "bad --size");
      if (o.size == 0 || o.size > kBufferSize) Usage("bad --size");
    } else if (a == "--count") {
      o.count = ParseU64(v, "bad --count");
      o.count_given = true;
    } else if (a == "--warmup") {
      o.warmup = ParseU64(v, "bad --warmup");
    } else if (a == "--timeout") {
      o.timeout = ParseDouble(v, "bad --timeout");
    } else {
      Usage(("unknown option " + a).c_str());
    }
  }
  if (o.port == 0) Usage("--port is required");
  if (o.role == "server") {
    if (o.mode.empty()) o.mode = "sink";
    if (o.mode != "sink" && o.mode != "echo") Usage("server --mode must be sink or echo");
    if (!o.count_given) o.count = 1;
  } else {
    if (o.connect.empty()) Usage("--connect is required");
    if (o.mode != "send" && o.mode != "rr") Usage("client --mode must be send or rr");
    if (o.mode == "send" && o.bytes == 0 && o.seconds == 0)
      Usage("send needs --bytes or --seconds");
    if (o.mode == "rr" && o.count == 0 && o.seconds == 0) Usage("rr needs --count or --seconds");
  }
  return o;
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

std::string AddrText(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (ss.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &v4->sin_addr, host, sizeof(host));
    port = ntohs(v4->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&ss);
  inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof(host));
  port = ntohs(v6->sin6_port);
  return "[" + std::string(host) + "]:" + std::to_string(port);
}

std::string Remote(int fd) {
  sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  return AddrText(ss);
}

void SetTimeouts(int fd, double seconds) {
  if (seconds <= 0) return;
  timeval tv;
  tv.tv_sec = static_cast<time_t>(seconds);
  tv.tv_usec = static_cast<suseconds_t>((seconds - static_cast<double>(tv.tv_sec)) * 1e6);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

void NoDelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

std::string ErrnoText(const char* what) {
  const int e = errno;
  if (e == EAGAIN || e == EWOULDBLOCK) return std::string(what) + ": timeout";
  return std::string(what) + ": " + std::strerror(e);
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

struct Connection {
  std::string role, mode, remote, error;
  uint64_t bytes_rx = 0, bytes_tx = 0;
  double first = 0, last = 0;
};

void PrintConnection(int fd, const Connection& c) {
  tcp_info info;
  std::memset(&info, 0, sizeof(info));
  socklen_t len = sizeof(info);
  const bool have_info = getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0;
  const double seconds = c.first > 0 && c.last > c.first ? c.last - c.first : 0;
  const uint64_t payload = std::max(c.bytes_rx, c.bytes_tx);
  const double gbit_s = seconds > 0 ? static_cast<double>(payload) * 8 / seconds / 1e9 : 0;
  std::printf(
      "{\"event\": \"connection\", \"role\": \"%s\", \"mode\": \"%s\", \"remote\": %s, "
      "\"bytes_rx\": %" PRIu64 ", \"bytes_tx\": %" PRIu64
      ", \"seconds\": %.6f, \"gbit_s\": %.4f, "
      "\"retrans\": %u, \"rtt_us\": %u, \"error\": %s}\n",
      c.role.c_str(), c.mode.c_str(), JsonString(c.remote).c_str(), c.bytes_rx, c.bytes_tx, seconds,
      gbit_s, have_info ? info.tcpi_total_retrans : 0, have_info ? info.tcpi_rtt : 0,
      c.error.empty() ? "null" : JsonString(c.error).c_str());
  std::fflush(stdout);
}

// Writes all of buf; false (errno set) on error.
bool WriteAll(int fd, const char* buf, size_t n) {
  while (n > 0) {
    const ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR && !g_stop) continue;
      return false;
    }
    buf += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Reads to EOF, counting; false (error set) on a failure.
bool ReadToEof(int fd, std::vector<char>& buf, Connection& c) {
  while (true) {
    const ssize_t r = recv(fd, buf.data(), buf.size(), 0);
    if (r == 0) return true;
    if (r < 0) {
      if (errno == EINTR && !g_stop) continue;
      c.error = ErrnoText("recv");
      return false;
    }
    const double now = Now();
    if (c.bytes_rx == 0 && c.first == 0) c.first = now;
    c.last = now;
    c.bytes_rx += static_cast<uint64_t>(r);
  }
}

bool Echo(int fd, std::vector<char>& buf, Connection& c) {
  while (true) {
    const ssize_t r = recv(fd, buf.data(), buf.size(), 0);
    if (r == 0) return true;
    if (r < 0) {
      if (errno == EINTR && !g_stop) continue;
      c.error = ErrnoText("recv");
      return false;
    }
    const double now = Now();
    if (c.first == 0) c.first = now;
    c.last = now;
    c.bytes_rx += static_cast<uint64_t>(r);
    if (!WriteAll(fd, buf.data(), static_cast<size_t>(r))) {
      c.error = ErrnoText("send");
      return false;
    }
    c.bytes_tx += static_cast<uint64_t>(r);
  }
}

int Server(const Options& o) {
  sockaddr_storage ss;
  socklen_t len = 0;
  const std::string host = o.bind.empty() ? "::" : o.bind;
  if (!MakeAddr(host, o.port, &ss, &len)) Usage("bad --bind address");
  const int ls = socket(ss.ss_family, SOCK_STREAM, IPPROTO_TCP);
  if (ls < 0) {
    std::perror("tcp_peer: socket");
    return 1;
  }
  const int one = 1, zero = 0;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  // The wildcard listener takes IPv4 too (v4-mapped), so one server serves both families.
  if (ss.ss_family == AF_INET6 && o.bind.empty()) {
    setsockopt(ls, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
  }
  if (bind(ls, reinterpret_cast<sockaddr*>(&ss), len) != 0 || listen(ls, 16) != 0) {
    std::printf("{\"event\": \"error\", \"error\": %s}\n", JsonString(ErrnoText("listen")).c_str());
    return 1;
  }
  std::printf("{\"event\": \"listening\", \"port\": %d, \"mode\": \"%s\"}\n", o.port,
              o.mode.c_str());
  std::fflush(stdout);
  std::vector<char> buf(kBufferSize);
  int status = 0;
  for (uint64_t served = 0; !g_stop && (o.count == 0 || served < o.count); ++served) {
    const int fd = accept(ls, nullptr, nullptr);
    if (fd < 0) {
      if (errno == EINTR) continue;
      std::printf("{\"event\": \"error\", \"error\": %s}\n",
                  JsonString(ErrnoText("accept")).c_str());
      return 1;
    }
    SetTimeouts(fd, o.timeout);
    Connection c{"server", o.mode, Remote(fd), "", 0, 0, 0, 0};
    bool ok;
    if (o.mode == "sink") {
      ok = ReadToEof(fd, buf, c);
    } else {
      NoDelay(fd);
      ok = Echo(fd, buf, c);
    }
    PrintConnection(fd, c);
    close(fd);
    if (!ok) status = 1;
  }
  close(ls);
  return status;
}

int Connect(const Options& o, Connection& c) {
  sockaddr_storage ss;
  socklen_t len = 0;
  if (!MakeAddr(o.connect, o.port, &ss, &len)) Usage("bad --connect address");
  const int fd = socket(ss.ss_family, SOCK_STREAM, IPPROTO_TCP);
  if (fd < 0) {
    c.error = ErrnoText("socket");
    return -1;
  }
  SetTimeouts(fd, o.timeout);
  if (!o.bind.empty()) {
    sockaddr_storage bs;
    socklen_t blen = 0;
    if (!MakeAddr(o.bind, 0, &bs, &blen)) Usage("bad --bind address");
    if (bind(fd, reinterpret_cast<sockaddr*>(&bs), blen) != 0) {
      c.error = ErrnoText("bind");
      close(fd);
      return -1;
    }
  }
  if (o.mode == "rr") NoDelay(fd);
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    c.error = ErrnoText("connect");
    close(fd);
    return -1;
  }
  c.remote = Remote(fd);
  return fd;
}

int ClientSend(const Options& o) {
  Connection c{"client", "send", o.connect, "", 0, 0, 0, 0};
  const int fd = Connect(o, c);
  if (fd < 0) {
    std::printf("{\"event\": \"error\", \"error\": %s}\n", JsonString(c.error).c_str());
    return 1;
  }
  std::vector<char> buf(kBufferSize);
  // Non-constant payload: a byte pattern no layer can special-case.
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<char>((i * 131 + 7) & 0xff);
  c.first = Now();
  const double until = o.seconds > 0 ? c.first + o.seconds : 0;
  bool ok = true;
  while (!g_stop) {
    size_t n = buf.size();
    if (o.bytes > 0) {
      if (c.bytes_tx >= o.bytes) break;
      n = static_cast<size_t>(std::min<uint64_t>(n, o.bytes - c.bytes_tx));
    }
    if (until > 0 && Now() >= until) break;
    if (!WriteAll(fd, buf.data(), n)) {
      c.error = ErrnoText("send");
      ok = false;
      break;
    }
    c.bytes_tx += n;
  }
  if (ok) {
    shutdown(fd, SHUT_WR);
    // The sink closes once it has read everything: its EOF means every byte was delivered.
    Connection rx;
    ok = ReadToEof(fd, buf, rx);
    if (!ok) c.error = rx.error;
    c.bytes_rx = rx.bytes_rx;
  }
  c.last = Now();
  PrintConnection(fd, c);
  close(fd);
  return ok ? 0 : 1;
}

double Percentile(const std::vector<double>& sorted, double q) {
  // Nearest rank: the smallest sample with at least q of the samples at or below it.
  size_t rank = static_cast<size_t>(q * static_cast<double>(sorted.size()) + 0.999999);
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

int ClientRr(const Options& o) {
  Connection c{"client", "rr", o.connect, "", 0, 0, 0, 0};
  const int fd = Connect(o, c);
  if (fd < 0) {
    std::printf("{\"event\": \"error\", \"error\": %s}\n", JsonString(c.error).c_str());
    return 1;
  }
  std::vector<char> request(o.size), response(o.size);
  for (size_t i = 0; i < request.size(); ++i) request[i] = static_cast<char>(i * 7 + 1);
  std::vector<double> us;
  us.reserve(o.count > 0 ? o.count : 1 << 20);
  const double start = Now();
  double until = 0;
  bool ok = true;
  for (uint64_t i = 0; !g_stop; ++i) {
    if (i == o.warmup) {
      c.first = Now();
      if (o.seconds > 0) until = c.first + o.seconds;
    }
    if (i >= o.warmup) {
      if (o.count > 0 && us.size() >= o.count) break;
      if (until > 0 && Now() >= until) break;
    }
    const double t0 = Now();
    if (!WriteAll(fd, request.data(), request.size())) {
      c.error = ErrnoText("send");
      ok = false;
      break;
    }
    c.bytes_tx += request.size();
    size_t got = 0;
    while (got < response.size()) {
      const ssize_t r = recv(fd, response.data() + got, response.size() - got, 0);
      if (r > 0) {
        got += static_cast<size_t>(r);
        continue;
      }
      if (r < 0 && errno == EINTR && !g_stop) continue;
      c.error = r == 0 ? "recv: the peer closed before answering" : ErrnoText("recv");
      ok = false;
      break;
    }
    if (!ok) break;
    c.bytes_rx += got;
    if (i >= o.warmup) us.push_back((Now() - t0) * 1e6);
  }
  c.last = Now();
  if (c.first == 0) c.first = start;
  if (ok && g_stop) {
    c.error = "interrupted";
    ok = false;
  }
  if (ok) {
    shutdown(fd, SHUT_WR);
    std::vector<char> buf(4096);
    Connection rx;
    if (!ReadToEof(fd, buf, rx)) c.error = rx.error;
  }
  if (!us.empty()) {
    std::vector<double> sorted = us;
    std::sort(sorted.begin(), sorted.end());
    double sum = 0;
    for (const double v : sorted) sum += v;
    std::printf(
        "{\"event\": \"rr\", \"remote\": %s, \"count\": %zu, \"size\": %zu, \"p50_us\": %.2f, "
        "\"p90_us\": %.2f, \"p99_us\": %.2f, \"max_us\": %.2f, \"mean_us\": %.2f, "
        "\"seconds\": %.6f}\n",
        JsonString(c.remote).c_str(), sorted.size(), o.size, Percentile(sorted, 0.5),
        Percentile(sorted, 0.9), Percentile(sorted, 0.99), sorted.back(),
        sum / static_cast<double>(sorted.size()), c.last - c.first);
  }
  PrintConnection(fd, c);
  close(fd);
  return ok && c.error.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = Parse(argc, argv);
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = OnSignal;  // no SA_RESTART: a blocked accept/recv returns EINTR
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  if (o.role == "server") return Server(o);
  return o.mode == "send" ? ClientSend(o) : ClientRr(o);
}
