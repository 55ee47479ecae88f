// What the channel's process tests share: a child process started with fork that gets its
// channel through a real handover over an abstract unix socket, a page both processes can write
// their findings to, and a byte pattern whose every position is checkable with memcmp.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "datapath/channel/doorbell.h"
#include "datapath/channel/handover.h"
#include "datapath/channel/layout.h"
#include "datapath/channel/region.h"

namespace braid::channel::testing {

using Clock = std::chrono::steady_clock;

// A unique abstract socket name for this process and call.
inline std::string TestSocketPath(const char* what) {
  static std::atomic<int> counter{0};
  return "@braid-test-" + std::string(what) + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(counter.fetch_add(1));
}

// Findings of a child process, in a shared anonymous page that outlives its exit.
struct ChildReport {
  std::atomic<uint32_t> stage;  // how far the child got
  uint64_t counters[8];
  char message[512];  // the child's failure, if any
};

class SharedReport {
 public:
  SharedReport() {
    void* p = ::mmap(nullptr, sizeof(ChildReport), PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    report_ = p == MAP_FAILED ? nullptr : new (p) ChildReport{};
  }
  ~SharedReport() {
    if (report_ != nullptr) ::munmap(report_, sizeof(ChildReport));
  }
  SharedReport(const SharedReport&) = delete;
  SharedReport& operator=(const SharedReport&) = delete;
  ChildReport* operator->() const { return report_; }
  bool valid() const { return report_ != nullptr; }
  // Records the child's failure (the first one wins) and returns the child's exit code.
  int Fail(const std::string& message) const {
    if (report_->message[0] == '\0') {
      std::snprintf(report_->message, sizeof(report_->message), "%s", message.c_str());
    }
    return 1;
  }
  std::string message() const { return report_->message; }

 private:
  ChildReport* report_ = nullptr;
};

// What the child sees after the handover.
struct AppEnd {
  ChannelConnection connection;
  AppRegion region;
  Doorbell bell;
};

// What the parent keeps: the region, its doorbell end and the child's connection.
struct ServiceEnd {
  ServiceRegion region;
  Doorbell bell;
  ClientHello client;
};

struct ChildProcess {
  pid_t pid = -1;
  // Waits up to `timeout` for the child; kills it when it has not exited by then. Returns its
  // exit code, or nothing when it had to be killed or died from a signal.
  std::optional<int> Wait(std::chrono::milliseconds timeout) {
    const Clock::time_point deadline = Clock::now() + timeout;
    int status = 0;
    for (;;) {
      const pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) break;
      if (r < 0 || Clock::now() >= deadline) {
        Kill();
        return std::nullopt;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    pid = -1;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return std::nullopt;
  }
  void Kill() {
    if (pid <= 0) return;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    pid = -1;
  }
};

// Forks a child that connects to the parent's listener, attaches the region it is handed and
// runs `body`, exiting with body's result (never returning into the test framework). The parent
// answers the hello with a fresh region of `geometry` and a doorbell pair.
inline absl::StatusOr<std::pair<ChildProcess, ServiceEnd>> StartApp(
    const Geometry& geometry, const std::function<int(AppEnd&)>& body) {
  const std::string path = TestSocketPath("app");
  auto listener = ChannelListener::Bind(path);
  if (!listener.ok()) return listener.status();
  ChildProcess child;
  child.pid = ::fork();
  if (child.pid < 0) return absl::InternalError("fork failed");
  if (child.pid == 0) {
    int code = 2;
    {
      auto connection = ConnectChannel(path, "test-app");
      if (!connection.ok()) {
        std::fprintf(stderr, "child: %s\n", connection.status().ToString().c_str());
        ::_exit(3);
      }
      auto region = AppRegion::Attach(connection->memfd.get());
      if (!region.ok()) {
        std::fprintf(stderr, "child: %s\n", region.status().ToString().c_str());
        ::_exit(4);
      }
      Doorbell bell = Doorbell::FromFd(std::move(connection->doorbell));
      AppEnd app{std::move(*connection), std::move(*region), std::move(bell)};
      code = body(app);
    }
    ::_exit(code);
  }
  // The parent: serve exactly one hello, without blocking for more than the deadline.
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(10);
  for (;;) {
    auto hello = listener->AcceptHello();
    if (hello.ok()) {
      auto region = ServiceRegion::Create(geometry, "test");
      auto pair = Doorbell::CreatePair();
      if (!region.ok() || !pair.has_value()) {
        child.Kill();
        return region.ok() ? absl::InternalError("socketpair failed") : region.status();
      }
      absl::Status sent = SendWelcome(hello->fd.get(), region->size(), region->epoch(),
                                      region->fd(), pair->app.fd());
      if (!sent.ok()) {
        child.Kill();
        return sent;
      }
      ServiceEnd service{std::move(*region), std::move(pair->service), std::move(*hello)};
      return std::make_pair(std::move(child), std::move(service));
    }
    if (hello.status().code() != absl::StatusCode::kUnavailable || Clock::now() > deadline) {
      child.Kill();
      return hello.status().code() == absl::StatusCode::kUnavailable
                 ? absl::DeadlineExceededError("the child sent no hello")
                 : hello.status();
    }
    pollfd p{listener->fd(), POLLIN, 0};
    ::poll(&p, 1, 50);
  }
}

// A byte stream checkable a chunk at a time with memcmp: byte i is table[i % kPeriod], with a
// prime period so that a chunk delivered at the wrong position (or twice, or not at all) cannot
// match. Chunks may be up to kPeriod bytes.
class StreamPattern {
 public:
  static constexpr size_t kPeriod = 65521;
  explicit StreamPattern(uint32_t seed) : table_(2 * kPeriod) {
    std::mt19937 rng(seed);
    for (size_t i = 0; i < kPeriod; ++i) table_[i] = static_cast<uint8_t>(rng());
    std::copy(table_.begin(), table_.begin() + kPeriod, table_.begin() + kPeriod);
  }
  // The stream's bytes [position, position + n), n <= kPeriod.
  const uint8_t* At(uint64_t position) const { return table_.data() + position % kPeriod; }
  bool Matches(uint64_t position, const uint8_t* bytes, size_t n) const {
    return std::memcmp(At(position), bytes, n) == 0;
  }

 private:
  std::vector<uint8_t> table_;
};

}  // namespace braid::channel::testing
