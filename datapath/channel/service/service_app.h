// The app channel service as a worker's app (runtime::WorkerApp): the host braid-testapp --serve
// runs, and what the agent's datapath will run per worker. The worker polls the service every
// iteration and sleeps on its descriptors (WakeSources) when idle; Stop comes from any thread
// (a signal handler) and is carried out on the worker's thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <utility>

#include "datapath/channel/layout.h"
#include "datapath/channel/service/service.h"
#include "datapath/runtime/idle_policy.h"
#include "datapath/runtime/worker.h"
#include "datapath/tcp/tcp_config.h"
#include "datapath/tcp/time.h"

namespace braid::channel {

// The worker's socket layers: TCP, and MPTCP when the worker has it.
SocketApis WorkerSocketApis(runtime::Worker& worker);

// A region small enough for many apps on a laptop and big enough for bulk transfers.
Geometry DefaultServiceGeometry();

struct ServiceAppConfig {
  std::string path = "@braid/node";
  Geometry geometry = DefaultServiceGeometry();
  ServiceLimits limits;
  tcp::TcpConfig tcp;  // every socket's starting options
};

class ChannelServiceApp final : public runtime::WorkerApp {
 public:
  explicit ChannelServiceApp(ServiceAppConfig config) : config_(std::move(config)) {}

  // Creates the service on the worker's sockets and listens; on failure start_error() says why
  // and the app is done at once.
  void Start(runtime::Worker& worker, tcp::Instant now) override;
  bool Done() const override { return done_; }
  bool Poll(tcp::Instant now) override;
  runtime::WakeSources* wake_sources() override { return service_.get(); }

  // From any thread, async-signal-safe: the worker stops the service (apps see kGone, every
  // connection is reset) at its next iteration, and the app is done.
  void RequestStop() { stop_requested_.store(true, std::memory_order_relaxed); }

  const std::string& start_error() const { return start_error_; }
  // Null before Start; read the counters only once the worker's loop has returned.
  const ChannelService* service() const { return service_.get(); }

 private:
  ServiceAppConfig config_;
  std::unique_ptr<ChannelService> service_;
  std::string start_error_;
  std::atomic<bool> stop_requested_{false};
  bool done_ = false;
};

}  // namespace braid::channel
