// TEST DOUBLE of the Braid service, for the SDK's unit tests only: it is not the service.
//
// A thread that plays the service's side of docs/channel-protocol.md with the real channel
// foundation (ChannelListener, ServiceRegion, doorbells) and no network: it pairs connects with
// its own listeners and moves bytes straight from one slot's TX FIFO into the peer slot's RX
// FIFO, with the coalescing flags, kReadable/kWritable/kRxSpace back-pressure, FIN, resets and
// the sleep protocol. Addresses are loopback only (127.0.0.1, ::1 or any); ports are its own.
//
// Connections never move between processes: kRelease is a close, kAdopt is refused.
//
// Tests can make it misbehave: Die() (a crash: every descriptor closed without a word), Stop()
// (a clean stop: service_state kGone, a ring, then the same), InjectMalformedEvent(), or refuse
// every hello as a service of another layout version.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "datapath/channel/layout.h"
#include "datapath/channel/unique_fd.h"

namespace braid::sdk::testing {

struct LoopbackOptions {
  channel::Geometry geometry{/*slots=*/64, /*tx_fifo_bytes=*/4096, /*rx_fifo_bytes=*/4096,
                             /*command_entries=*/64, /*event_entries=*/64};
  // Non-zero: answer every hello with the refusal a service of this layout version sends.
  uint32_t refuse_as_layout_version = 0;
};

class LoopbackService {
 public:
  // Listens on `path` ('@' for an abstract name) and serves in a thread of its own.
  static absl::StatusOr<std::unique_ptr<LoopbackService>> Start(const std::string& path,
                                                                LoopbackOptions options = {});
  ~LoopbackService();
  LoopbackService(const LoopbackService&) = delete;
  LoopbackService& operator=(const LoopbackService&) = delete;

  const std::string& path() const { return path_; }
  // Crashes: closes the listener, every unix connection and doorbell, unmaps every region.
  void Die();
  // Stops: service_state kGone in every region, rings every app, then closes as Die does.
  void Stop();
  // Pushes an event record that does not decode into every app's event ring.
  void InjectMalformedEvent();

  // Apps attached so far, and commands served (for tests that check traffic).
  uint64_t apps_attached() const { return apps_attached_.load(); }
  uint64_t commands() const { return commands_.load(); }

 private:
  struct Engine;
  enum class Request : uint32_t { kNone, kDie, kStop, kMalformed };

  LoopbackService(std::string path, std::unique_ptr<Engine> engine, channel::UniqueFd control);
  void Run();
  void Send(Request request, bool join);

  std::string path_;
  std::unique_ptr<Engine> engine_;
  channel::UniqueFd control_;  // an eventfd: a request is waiting
  std::atomic<uint32_t> request_{0};
  std::atomic<uint32_t> served_{0};  // requests handled
  std::atomic<uint64_t> apps_attached_{0};
  std::atomic<uint64_t> commands_{0};
  std::thread thread_;
};

}  // namespace braid::sdk::testing
