// What the SDK's tests share: a fixture that starts the loopback service test double and
// attaches libbraid to it, connected socket pairs, and a checkable byte stream.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "braid/braid.h"
#include "tests/unit/sdk/loopback_service.h"

namespace braid::sdk::testing {

inline std::string TestPath(const char* what) {
  static std::atomic<int> counter{0};
  return "@braid-sdk-" + std::string(what) + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(counter.fetch_add(1));
}

inline sockaddr_in Loopback4(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// Byte i of every test stream: a function of i alone, so any misplaced, repeated or lost byte
// shows.
inline uint8_t StreamByte(uint64_t i) {
  return static_cast<uint8_t>((i * 2654435761u) >> 13 ^ (i >> 8));
}
inline void FillStream(uint64_t at, uint8_t* out, size_t n) {
  for (size_t k = 0; k < n; ++k) out[k] = StreamByte(at + k);
}
inline bool CheckStream(uint64_t at, const uint8_t* in, size_t n) {
  for (size_t k = 0; k < n; ++k) {
    if (in[k] != StreamByte(at + k)) return false;
  }
  return true;
}

// CPU seconds the calling thread has used.
inline double ThreadCpuSeconds() {
  rusage u{};
  ::getrusage(RUSAGE_THREAD, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// A listener, a connected client and the accepted server end, over whatever braid_socket
// gives (Braid sockets with a service, kernel sockets without).
struct Pair {
  int listener = -1;
  int client = -1;
  int server = -1;
  void Close() {
    for (int* fd : {&client, &server, &listener}) {
      if (*fd >= 0) braid_close(*fd);
      *fd = -1;
    }
  }
};

inline int ListenLoopback(uint16_t* port, int protocol = 0) {
  const int fd = braid_socket(AF_INET, SOCK_STREAM, protocol);
  if (fd < 0) return -1;
  sockaddr_in a = Loopback4(0);
  if (braid_bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return -1;
  if (braid_listen(fd, 16) != 0) return -1;
  socklen_t len = sizeof(a);
  if (braid_getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return -1;
  *port = ntohs(a.sin_port);
  return fd;
}

inline Pair ConnectedPair(int protocol = 0) {
  Pair p;
  uint16_t port = 0;
  p.listener = ListenLoopback(&port, protocol);
  if (p.listener < 0) return p;
  p.client = braid_socket(AF_INET, SOCK_STREAM, protocol);
  sockaddr_in a = Loopback4(port);
  if (braid_connect(p.client, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    p.client = -1;
    return p;
  }
  p.server = braid_accept(p.listener, nullptr, nullptr);
  return p;
}

// Sends exactly `n` bytes of the stream from `at`, in chunks of up to `chunk`.
inline bool SendStream(int fd, uint64_t at, size_t n, size_t chunk) {
  std::vector<uint8_t> buf(chunk);
  while (n > 0) {
    const size_t len = std::min(n, chunk);
    FillStream(at, buf.data(), len);
    const ssize_t w = braid_send(fd, buf.data(), len, MSG_NOSIGNAL);
    if (w <= 0) return false;
    at += w;
    n -= w;
  }
  return true;
}

// Receives exactly `n` bytes and checks them against the stream from `at`.
inline bool RecvStream(int fd, uint64_t at, size_t n, size_t chunk) {
  std::vector<uint8_t> buf(chunk);
  while (n > 0) {
    const ssize_t r = braid_recv(fd, buf.data(), std::min(n, chunk), 0);
    if (r <= 0 || !CheckStream(at, buf.data(), r)) return false;
    at += r;
    n -= r;
  }
  return true;
}

class SdkTest : public ::testing::Test {
 protected:
  virtual LoopbackOptions Options() { return {}; }
  virtual int Fallback() { return BRAID_FALLBACK_KERNEL; }

  void SetUp() override {
    path_ = TestPath("svc");
    auto service = LoopbackService::Start(path_, Options());
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = std::move(*service);
    config_ = braid_config{path_.c_str(), "sdk-test", Fallback(), 2000, 50};
    ASSERT_EQ(braid_init(&config_), 0) << braid_last_error();
    ASSERT_EQ(braid_attached(), 1);
  }
  void TearDown() override {
    braid_detach();
    service_.reset();
  }

  std::string path_;
  braid_config config_{};
  std::unique_ptr<LoopbackService> service_;
};

}  // namespace braid::sdk::testing
