// The server: accepts any number of clients, one thread per connection, and reports each bulk
// and rr connection when it ends (crr connections only when they fail: there are thousands).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
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

namespace braid::perf {
namespace {

using testapp::JsonObject;

constexpr size_t kReadSize = 256 * 1024;

std::mutex print_mu;

void Print(const Options& options, const JsonObject& o, const std::string& human) {
  std::lock_guard lock(print_mu);
  std::fputs(((options.json ? o.str() : human) + "\n").c_str(), stdout);
  std::fflush(stdout);
}

std::string PeerText(int fd) {
  sockaddr_storage a{};
  socklen_t len = sizeof(a);
  if (braid_getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return "?";
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (a.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&a);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    port = ntohs(in->sin_port);
  } else if (a.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&a);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    port = ntohs(in6->sin6_port);
  }
  return std::string(host) + ":" + std::to_string(port);
}

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

void AddError(JsonObject& o, int error, const std::string& what) {
  if (error == 0) {
    o.AddNull("error");
  } else {
    o.Add("error", what + ": " + ErrorText(error));
  }
}

// Bulk, client to server: read to EOF, answer with the record.
void ServeBulkReceive(const Options& options, int fd, const std::string& peer) {
  BulkResult r = ReceiveBulk(fd, kReadSize, options.zerocopy, nullptr);
  if (r.error == 0) {
    std::array<uint8_t, BulkRecord::kSize> record;
    BulkRecord{r.bytes, r.sha256}.Emit(record);
    if (int e = SendAll(fd, record); e != 0) {
      r.error = e;
      r.what = "sending the record";
    }
  }
  const double s = Seconds(r.first_byte, r.last_byte);
  const double bps = s > 0 ? r.bytes * 8 / s : 0;
  JsonObject o;
  o.Add("event", "connection").Add("mode", "bulk").Add("direction", "rx").Add("peer", peer);
  o.Add("stack", braid_is_braid_fd(fd) == 1 ? "braid" : "kernel");
  o.Add("bytes", r.bytes).Add("sha256", util::ToHex(r.sha256)).Add("pattern_ok", r.pattern_ok);
  o.Add("zerocopy", r.zerocopy).Add("seconds", s).Add("bits_per_second", bps);
  AddError(o, r.error, r.what);
  char human[256];
  std::snprintf(human, sizeof(human), "bulk rx from %s: %llu bytes, %.3f Gbit/s, %s%s%s",
                peer.c_str(), static_cast<unsigned long long>(r.bytes), bps / 1e9,
                r.pattern_ok ? "pattern ok" : "PATTERN MISMATCH", r.error ? ", error: " : "",
                r.error ? ErrorText(r.error).c_str() : "");
  Print(options, o, human);
}

// Bulk with --reverse: send for the client's duration, then read its record.
void ServeBulkSend(const Options& options, int fd, const TestHeader& h, const std::string& peer) {
  const Clock::time_point until = Clock::now() + std::chrono::milliseconds(h.duration_ms);
  BulkResult r = SendBulk(fd, h.size, until, options.zerocopy, nullptr, nullptr);
  std::array<uint8_t, BulkRecord::kSize> raw{};
  BulkRecord peer_record;
  bool have_record = false;
  if (r.error == 0) {
    if (int e = RecvExact(fd, raw); e != 0) {
      r.error = e;
      r.what = "reading the record";
    } else {
      peer_record = BulkRecord::Parse(raw);
      have_record = true;
    }
  }
  const bool exact = have_record && peer_record.bytes == r.bytes && peer_record.sha256 == r.sha256;
  const double s = Seconds(r.first_byte, r.last_byte);
  JsonObject o;
  o.Add("event", "connection").Add("mode", "bulk").Add("direction", "tx").Add("peer", peer);
  o.Add("stack", braid_is_braid_fd(fd) == 1 ? "braid" : "kernel");
  o.Add("bytes", r.bytes).Add("sha256", util::ToHex(r.sha256)).Add("zerocopy", r.zerocopy);
  if (have_record) {
    o.Add("bytes_peer", peer_record.bytes).Add("sha256_peer", util::ToHex(peer_record.sha256));
  }
  o.Add("byte_exact", exact).Add("seconds", s);
  AddError(o, r.error, r.what);
  char human[256];
  std::snprintf(human, sizeof(human), "bulk tx to %s: %llu bytes, %s%s%s", peer.c_str(),
                static_cast<unsigned long long>(r.bytes), exact ? "byte-exact" : "NOT BYTE-EXACT",
                r.error ? ", error: " : "", r.error ? ErrorText(r.error).c_str() : "");
  Print(options, o, human);
}

// rr: echo until EOF.
void ServeEcho(const Options& options, int fd, const TestHeader& h, const std::string& peer) {
  std::vector<uint8_t> buffer(std::max<size_t>(h.size, 64 * 1024));
  uint64_t bytes = 0;
  int error = 0;
  std::string what;
  while (true) {
    const ssize_t n = braid_recv(fd, buffer.data(), buffer.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = errno;
      what = "braid_recv";
      break;
    }
    if (n == 0) break;
    if (int e = SendAll(fd, {buffer.data(), static_cast<size_t>(n)}); e != 0) {
      error = e;
      what = "braid_send";
      break;
    }
    bytes += static_cast<uint64_t>(n);
  }
  JsonObject o;
  o.Add("event", "connection").Add("mode", "rr").Add("peer", peer);
  o.Add("stack", braid_is_braid_fd(fd) == 1 ? "braid" : "kernel");
  o.Add("bytes", bytes).Add("transactions", h.size ? bytes / h.size : 0);
  AddError(o, error, what);
  Print(options, o,
        "rr from " + peer + ": " + std::to_string(h.size ? bytes / h.size : 0) + " transactions" +
            (error ? ", error: " + ErrorText(error) : ""));
}

// crr: one request, one response, then the server closes.
void ServeOne(const Options& options, int fd, const TestHeader& h, const std::string& peer) {
  std::vector<uint8_t> buffer(h.size);
  int error = RecvExact(fd, buffer);
  if (error == 0) error = SendAll(fd, buffer);
  if (error != 0) {
    JsonObject o;
    o.Add("event", "connection").Add("mode", "crr").Add("peer", peer);
    AddError(o, error, "crr");
    Print(options, o, "crr from " + peer + ": error: " + ErrorText(error));
  }
}

void Serve(const Options& options, int fd) {
  Socket socket(fd);
  const std::string peer = PeerText(fd);
  std::array<uint8_t, TestHeader::kSize> raw{};
  bool eof = false;
  if (int e = RecvExact(fd, raw, &eof); e != 0) {
    if (!eof) {
      JsonObject o;
      o.Add("event", "connection").Add("peer", peer);
      AddError(o, e, "reading the test header");
      Print(options, o, "from " + peer + ": no test header: " + ErrorText(e));
    }
    return;
  }
  const std::optional<TestHeader> h = TestHeader::Parse(raw);
  if (!h) {
    JsonObject o;
    o.Add("event", "connection").Add("peer", peer).Add("error", "not a braid-perf client");
    Print(options, o, "from " + peer + ": not a braid-perf client");
    return;
  }
  if (h->mode != Mode::kBulk) {
    // Each answer leaves at once, as the client's requests do.
    const int one = 1;
    braid_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  switch (h->mode) {
    case Mode::kBulk:
      if ((h->flags & TestHeader::kReverse) != 0) {
        ServeBulkSend(options, fd, *h, peer);
      } else {
        ServeBulkReceive(options, fd, peer);
      }
      break;
    case Mode::kRr:
      ServeEcho(options, fd, *h, peer);
      break;
    case Mode::kCrr:
      ServeOne(options, fd, *h, peer);
      break;
  }
}

}  // namespace

int RunServer(const Options& options) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  const std::string bind = options.bind.empty() ? "0.0.0.0" : options.bind;
  auto* in = reinterpret_cast<sockaddr_in*>(&addr);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (inet_pton(AF_INET, bind.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(options.port);
    len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, bind.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(options.port);
    len = sizeof(sockaddr_in6);
  } else {
    std::fprintf(stderr, "braid-perf: -B %s is not an IPv4 or IPv6 address\n", bind.c_str());
    return 2;
  }
  Result<Socket> listener = Socket::Create(addr.ss_family, SocketProtocol(options.protocol));
  if (listener.ok()) {
    const int one = 1;
    braid_setsockopt(listener->fd(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (braid_bind(listener->fd(), reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        braid_listen(listener->fd(), 128) != 0) {
      listener = Result<Socket>::FromErrno();
    }
  }
  if (!listener.ok()) {
    std::fprintf(stderr, "braid-perf: cannot listen on %s port %u: %s\n", bind.c_str(),
                 options.port, ErrorText(listener.error()).c_str());
    return 1;
  }
  const bool braid = braid_is_braid_fd(listener->fd()) == 1;
  {
    JsonObject o;
    o.Add("event", "listening").Add("port", uint32_t{options.port}).Add("bind", bind);
    o.Add("protocol", ProtocolName(options.protocol)).Add("stack", braid ? "braid" : "kernel");
    if (!braid) o.Add("braid_error", braid_last_error());
    Print(options, o,
          "braid-perf server on " + bind + " port " + std::to_string(options.port) + " (" +
              (braid ? "Braid" : "kernel") + " sockets)");
  }
  while (true) {
    Result<Socket> conn = listener->Accept();
    if (!conn.ok()) {
      if (conn.error() == EINTR || conn.error() == ECONNABORTED || conn.error() == EMFILE) {
        // ECONNABORTED: the client gave up before we took it; EMFILE: wait for threads to end.
        if (conn.error() == EMFILE) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        if (conn.error() != ECONNABORTED || !braid) continue;
      }
      std::fprintf(stderr, "braid-perf: accept: %s\n", ErrorText(conn.error()).c_str());
      return 1;
    }
    std::thread([&options, fd = conn->Release()] { Serve(options, fd); }).detach();
  }
}

}  // namespace braid::perf
