// The client: -P streams, each on its own thread and connection (crr: a connection per
// transaction), a live line per second on a terminal, and the final report in words or JSON.
#include <netdb.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "braid/braid.h"
#include "braid/braid.hpp"
#include "datapath/testapp/json.h"
#include "tools/braid-perf/app.h"
#include "tools/braid-perf/histogram.h"

namespace braid::perf {
namespace {

using testapp::JsonObject;

constexpr uint32_t kBulkWrite = 128 * 1024;
constexpr uint32_t kSmallMessage = 64;

// What one stream did.
struct StreamResult {
  bool connected = false;
  bool braid = false;  // a Braid socket (false: the kernel's, the fallback)
  int error = 0;
  std::string what;  // the step that failed
  // bulk
  BulkResult bulk;
  bool have_peer = false;
  BulkRecord peer;
  Clock::time_point start{}, end{};
  // rr, crr
  LatencyHistogram latency;
  uint64_t transactions = 0;
  bool echo_ok = true;
  Clock::time_point loop_start{}, loop_end{};

  bool ok() const { return error == 0 && echo_ok && (!have_peer || Exact()); }
  bool Exact() const {
    return have_peer && peer.bytes == bulk.bytes && peer.sha256 == bulk.sha256 && bulk.pattern_ok;
  }
  void Fail(int e, std::string step) {
    if (error != 0) return;
    error = e;
    what = std::move(step);
  }
};

struct Target {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

// Counters the progress line reads once a second.
struct Live {
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint64_t> transactions{0};
};

int Resolve(const Options& options, Target* target, std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* list = nullptr;
  const std::string port = std::to_string(options.port);
  if (int e = getaddrinfo(options.host.c_str(), port.c_str(), &hints, &list); e != 0) {
    *error = "cannot resolve " + options.host + ": " + gai_strerror(e);
    return 2;
  }
  std::memcpy(&target->addr, list->ai_addr, list->ai_addrlen);
  target->len = list->ai_addrlen;
  freeaddrinfo(list);
  return 0;
}

// A connected socket, or an invalid one with the failure in `r`.
Socket Connect(const Options& options, const Target& target, StreamResult& r) {
  Result<Socket> s = Socket::Create(target.addr.ss_family, SocketProtocol(options.protocol));
  if (!s.ok()) {
    r.Fail(s.error(), "braid_socket");
    return Socket();
  }
  r.braid = braid_is_braid_fd(s->fd()) == 1;
  if (options.mode != Mode::kBulk) {
    const int one = 1;
    braid_setsockopt(s->fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  while (braid_connect(s->fd(), reinterpret_cast<const sockaddr*>(&target.addr), target.len) != 0) {
    if (errno == EINTR) continue;
    r.Fail(errno, "braid_connect");
    return Socket();
  }
  r.connected = true;
  return std::move(*s);
}

std::array<uint8_t, TestHeader::kSize> Header(const Options& options, uint32_t size) {
  TestHeader h;
  h.mode = options.mode;
  h.flags = options.reverse ? TestHeader::kReverse : 0;
  h.size = size;
  h.duration_ms = static_cast<uint32_t>(options.seconds * 1000);
  std::array<uint8_t, TestHeader::kSize> raw;
  h.Emit(raw);
  return raw;
}

// Reads until the server closes (the rest of the exchange is over): 0 or an errno.
int AwaitEof(int fd) {
  uint8_t byte;
  while (true) {
    const ssize_t n = braid_recv(fd, &byte, 1, 0);
    if (n == 0) return 0;
    if (n > 0) return EPROTO;
    if (errno != EINTR) return errno;
  }
}

void RunBulk(const Options& options, const Target& target, Clock::time_point until, Live& live,
             StreamResult& r) {
  Socket s = Connect(options, target, r);
  if (!s.valid()) return;
  const uint32_t size = options.size ? options.size : kBulkWrite;
  if (int e = SendAll(s.fd(), Header(options, size)); e != 0) return r.Fail(e, "test header");
  r.start = Clock::now();
  if (!options.reverse) {
    r.bulk = SendBulk(s.fd(), size, until, options.zerocopy, &live.bytes, nullptr);
    if (r.bulk.error != 0) return r.Fail(r.bulk.error, r.bulk.what);
    std::array<uint8_t, BulkRecord::kSize> raw{};
    if (int e = RecvExact(s.fd(), raw); e != 0) return r.Fail(e, "reading the server's record");
    r.end = Clock::now();  // everything sent was received and checked
    r.peer = BulkRecord::Parse(raw);
    r.have_peer = true;
  } else {
    r.bulk = ReceiveBulk(s.fd(), size, options.zerocopy, &live.bytes);
    r.end = r.bulk.last_byte;
    r.start = r.bulk.first_byte;
    if (r.bulk.error != 0) return r.Fail(r.bulk.error, r.bulk.what);
    std::array<uint8_t, BulkRecord::kSize> raw;
    BulkRecord{r.bulk.bytes, r.bulk.sha256}.Emit(raw);
    if (int e = SendAll(s.fd(), raw); e != 0) return r.Fail(e, "sending the record");
    braid_shutdown(s.fd(), SHUT_WR);
  }
  if (int e = AwaitEof(s.fd()); e != 0) r.Fail(e, "waiting for the server to close");
}

void RunRr(const Options& options, const Target& target, Clock::time_point until, Live& live,
           StreamResult& r) {
  Socket s = Connect(options, target, r);
  if (!s.valid()) return;
  const uint32_t size = options.size ? options.size : kSmallMessage;
  if (int e = SendAll(s.fd(), Header(options, size)); e != 0) return r.Fail(e, "test header");
  const std::span<const uint8_t> request =
      Pattern::Get().At(0, std::min<size_t>(size, Pattern::kLength));
  std::vector<uint8_t> response(request.size());
  r.loop_start = Clock::now();
  Clock::time_point now = r.loop_start;
  while (now < until) {
    const Clock::time_point t0 = now;
    if (int e = SendAll(s.fd(), request); e != 0) return r.Fail(e, "sending a request");
    if (int e = RecvExact(s.fd(), response); e != 0) return r.Fail(e, "reading a response");
    now = Clock::now();
    r.latency.Record(now - t0);
    ++r.transactions;
    live.transactions.fetch_add(1, std::memory_order_relaxed);
    if (std::memcmp(response.data(), request.data(), request.size()) != 0) r.echo_ok = false;
  }
  r.loop_end = now;
  if (braid_shutdown(s.fd(), SHUT_WR) != 0) return r.Fail(errno, "braid_shutdown");
  if (int e = AwaitEof(s.fd()); e != 0) r.Fail(e, "waiting for the server to close");
}

void RunCrr(const Options& options, const Target& target, Clock::time_point until, Live& live,
            StreamResult& r) {
  const uint32_t size = options.size ? options.size : kSmallMessage;
  // The header and the request go in one write: a transaction is one request segment.
  std::vector<uint8_t> request(TestHeader::kSize);
  const auto header = Header(options, size);
  std::memcpy(request.data(), header.data(), header.size());
  const std::span<const uint8_t> body =
      Pattern::Get().At(0, std::min<size_t>(size, Pattern::kLength));
  request.insert(request.end(), body.begin(), body.end());
  std::vector<uint8_t> response(body.size());
  r.loop_start = Clock::now();
  Clock::time_point now = r.loop_start;
  while (now < until) {
    const Clock::time_point t0 = now;
    Socket s = Connect(options, target, r);
    if (!s.valid()) return;
    if (int e = SendAll(s.fd(), request); e != 0) return r.Fail(e, "sending a request");
    if (int e = RecvExact(s.fd(), response); e != 0) return r.Fail(e, "reading a response");
    // The server closes first (its side keeps TIME-WAIT, not ours).
    if (int e = AwaitEof(s.fd()); e != 0) return r.Fail(e, "waiting for the server to close");
    if (!s.Close().ok()) return r.Fail(errno, "braid_close");
    now = Clock::now();
    r.latency.Record(now - t0);
    ++r.transactions;
    live.transactions.fetch_add(1, std::memory_order_relaxed);
    if (std::memcmp(response.data(), body.data(), body.size()) != 0) r.echo_ok = false;
  }
  r.loop_end = now;
}

// One line a second, rewritten in place, while the streams run (stdout is a terminal).
class ProgressLine {
 public:
  ProgressLine(const Options& options, Live& live) : options_(options), live_(live) {
    if (isatty(STDOUT_FILENO) == 1) thread_ = std::thread([this] { Run(); });
  }
  ~ProgressLine() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
    std::fputs("\r\033[K", stdout);
    std::fflush(stdout);
  }

 private:
  void Run() {
    const Clock::time_point start = Clock::now();
    uint64_t bytes = 0, transactions = 0;
    std::unique_lock lock(mu_);
    for (int second = 1;
         !cv_.wait_until(lock, start + std::chrono::seconds(second), [this] { return done_; });
         ++second) {
      const uint64_t b = live_.bytes.load(), t = live_.transactions.load();
      if (options_.mode == Mode::kBulk) {
        std::printf("\r\033[K[%4ds] %8.3f Gbit/s  %10.1f MB", second, (b - bytes) * 8 / 1e9,
                    b / 1e6);
      } else {
        std::printf("\r\033[K[%4ds] %10llu transactions/s  %12llu in all", second,
                    static_cast<unsigned long long>(t - transactions),
                    static_cast<unsigned long long>(t));
      }
      std::fflush(stdout);
      bytes = b;
      transactions = t;
    }
  }

  const Options& options_;
  Live& live_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::string LatencyJson(const LatencyHistogram& h) {
  JsonObject o;
  o.Add("count", h.count());
  o.Add("p50", h.QuantileNs(0.50) / 1e3).Add("p90", h.QuantileNs(0.90) / 1e3);
  o.Add("p99", h.QuantileNs(0.99) / 1e3).Add("p99_9", h.QuantileNs(0.999) / 1e3);
  o.Add("max", h.max_ns() / 1e3).Add("mean", h.mean_ns() / 1e3);
  return o.str();
}

int Report(const Options& options, const std::vector<StreamResult>& results, const CpuTime& cpu) {
  bool ok = true, any_braid = false, any_kernel = false, zerocopy = false;
  std::string first_error;
  LatencyHistogram latency;
  uint64_t bytes = 0, transactions = 0;
  Clock::time_point start = Clock::time_point::max(), end = Clock::time_point::min();
  std::string streams = "[";
  for (const StreamResult& r : results) {
    ok = ok && r.ok();
    if (r.connected) (r.braid ? any_braid : any_kernel) = true;
    zerocopy = zerocopy || r.bulk.zerocopy;
    if (r.error != 0 && first_error.empty()) first_error = r.what + ": " + ErrorText(r.error);
    if (!r.echo_ok && first_error.empty()) first_error = "response differs from the request";
    latency.Merge(r.latency);
    transactions += r.transactions;
    JsonObject s;
    if (options.mode == Mode::kBulk) {
      bytes += r.bulk.bytes;
      if (r.end > r.start) {
        start = std::min(start, r.start);
        end = std::max(end, r.end);
      }
      const double secs = Seconds(r.start, r.end);
      s.Add("bytes", r.bulk.bytes).Add("sha256", util::ToHex(r.bulk.sha256));
      if (r.have_peer) {
        s.Add("bytes_peer", r.peer.bytes).Add("sha256_peer", util::ToHex(r.peer.sha256));
        s.Add("byte_exact", r.Exact());
        if (!r.Exact() && first_error.empty()) first_error = "NOT BYTE-EXACT";
      } else {
        s.Add("pattern_ok", r.bulk.pattern_ok);
        if (!r.bulk.pattern_ok && first_error.empty()) first_error = "PATTERN MISMATCH";
      }
      s.Add("seconds", secs).Add("bits_per_second", secs > 0 ? r.bulk.bytes * 8 / secs : 0.0);
    } else {
      if (r.loop_end > r.loop_start) {
        start = std::min(start, r.loop_start);
        end = std::max(end, r.loop_end);
      }
      s.Add("transactions", r.transactions);
    }
    s.Add("stack", r.connected ? (r.braid ? "braid" : "kernel") : "none");
    if (r.error != 0) {
      s.Add("error", r.what + ": " + ErrorText(r.error));
    } else {
      s.AddNull("error");
    }
    streams += (streams.size() > 1 ? "," : "") + s.str();
  }
  streams += "]";
  if (!ok && first_error.empty()) first_error = "failed";
  const double secs = end > start ? Seconds(start, end) : 0.0;
  const char* stack =
      any_braid ? (any_kernel ? "mixed" : "braid") : (any_kernel ? "kernel" : "none");
  if (options.json) {
    JsonObject o;
    o.Add("event", "result").Add("mode", ModeName(options.mode));
    o.Add("protocol", ProtocolName(options.protocol)).Add("stack", stack);
    if (!any_braid && *braid_last_error() != '\0') o.Add("braid_error", braid_last_error());
    o.Add("streams", options.streams).Add("seconds", secs);
    if (options.mode == Mode::kBulk) {
      o.Add("direction", options.reverse ? "rx" : "tx").Add("zerocopy", zerocopy);
      o.Add("bytes", bytes).Add("bits_per_second", secs > 0 ? bytes * 8 / secs : 0.0);
      o.Add("byte_exact", ok);
    } else {
      o.Add("size", options.size ? options.size : kSmallMessage);
      o.Add("transactions", transactions);
      o.Add("transactions_per_second", secs > 0 ? transactions / secs : 0.0);
      o.AddRaw("latency_us", LatencyJson(latency));
    }
    JsonObject c;
    c.Add("user", cpu.user_s).Add("system", cpu.system_s).Add("total", cpu.user_s + cpu.system_s);
    o.AddRaw("cpu_s", c.str()).AddRaw("per_stream", streams);
    if (ok) {
      o.AddNull("error");
    } else {
      o.Add("error", first_error);
    }
    std::printf("%s\n", o.str().c_str());
  } else {
    std::printf("braid-perf %s%s, %d stream(s), %s sockets, %.2f s\n", ModeName(options.mode),
                options.reverse ? " (reverse)" : "", options.streams, stack, secs);
    if (options.mode == Mode::kBulk) {
      std::printf("  %.1f MB, %.3f Gbit/s, %s%s\n", bytes / 1e6,
                  secs > 0 ? bytes * 8 / secs / 1e9 : 0.0, ok ? "byte-exact" : "FAILED",
                  zerocopy ? ", zero-copy" : "");
      for (const StreamResult& r : results) {
        std::printf("  sha256 %s\n", util::ToHex(r.bulk.sha256).c_str());
      }
    } else {
      std::printf(
          "  %llu transactions, %.0f/s; latency us p50 %.1f p90 %.1f p99 %.1f p99.9 %.1f "
          "max %.1f\n",
          static_cast<unsigned long long>(transactions), secs > 0 ? transactions / secs : 0,
          latency.QuantileNs(0.5) / 1e3, latency.QuantileNs(0.9) / 1e3,
          latency.QuantileNs(0.99) / 1e3, latency.QuantileNs(0.999) / 1e3, latency.max_ns() / 1e3);
    }
    std::printf("  cpu %.2f s user, %.2f s system\n", cpu.user_s, cpu.system_s);
    if (!ok) std::printf("  error: %s\n", first_error.c_str());
  }
  std::fflush(stdout);
  return ok ? 0 : 1;
}

}  // namespace

int RunClient(const Options& options) {
  Target target;
  std::string error;
  if (int e = Resolve(options, &target, &error); e != 0) {
    std::fprintf(stderr, "braid-perf: %s\n", error.c_str());
    return e;
  }
  Live live;
  std::vector<StreamResult> results(static_cast<size_t>(options.streams));
  const Clock::time_point until =
      Clock::now() +
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.seconds));
  {
    ProgressLine progress(options, live);
    std::vector<std::thread> threads;
    for (StreamResult& r : results) {
      threads.emplace_back([&options, &target, until, &live, &r] {
        switch (options.mode) {
          case Mode::kBulk:
            RunBulk(options, target, until, live, r);
            break;
          case Mode::kRr:
            RunRr(options, target, until, live, r);
            break;
          case Mode::kCrr:
            RunCrr(options, target, until, live, r);
            break;
        }
      });
    }
    for (std::thread& t : threads) t.join();
  }
  return Report(options, results, ProcessCpu());
}

}  // namespace braid::perf
