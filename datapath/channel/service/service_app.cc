#include "datapath/channel/service/service_app.h"

#include <memory>
#include <string>

namespace braid::channel {

SocketApis WorkerSocketApis(runtime::Worker& worker) { return {&worker.sockets(), worker.mptcp()}; }

Geometry DefaultServiceGeometry() {
  Geometry g;
  g.slots = 64;
  g.tx_fifo_bytes = 256 << 10;
  g.rx_fifo_bytes = 256 << 10;
  g.command_entries = 256;
  g.event_entries = 1024;
  return g;
}

void ChannelServiceApp::Start(runtime::Worker& worker, tcp::Instant /*now*/) {
  service_ = std::make_unique<ChannelService>(WorkerSocketApis(worker), config_.tcp);
  if (absl::Status s = service_->Listen(config_.path, config_.geometry, config_.limits); !s.ok()) {
    start_error_ = "channel service on " + config_.path + ": " + std::string(s.message());
    done_ = true;
  }
}

bool ChannelServiceApp::Poll(tcp::Instant now) {
  if (done_ || service_ == nullptr) return false;
  if (stop_requested_.load(std::memory_order_relaxed)) {
    service_->Stop(now);
    done_ = true;
    return true;  // the resets go out in this iteration's flush and the worker's last one
  }
  return service_->Poll(now);
}

}  // namespace braid::channel
