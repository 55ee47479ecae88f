// braid-agent (architecture.md §2, §6-8): one per node. Owns the datapath (the EAL, one port per
// path, the worker running PodServicesApp), the pod registry, CniService and DebugService on the
// agent's unix socket, and the Prometheus endpoints. Start brings everything up in that order and
// serves the recorded pods again (PodManager::Restore); Shutdown takes it down in reverse.
//
// Threads: the caller's (Start, Wait, Shutdown), the datapath worker, gRPC's, the metrics
// server's. Everything that touches the datapath goes through PodServicesApp's mailbox.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/config.h"
#include "agent/daemon/endpoint_server.h"
#include "agent/daemon/pod_manager.h"
#include "agent/metrics/exporter.h"
#include "agent/metrics/http_server.h"
#include "agent/pods/pod_registry.h"
#include "datapath/channel/service/pod_services.h"
#include "datapath/runtime/datapath.h"
#include "grpcpp/server.h"

namespace braid::agent {

class CniServiceImpl;
class DebugServiceImpl;

// The agent's log: one line per event on stderr, "braid-agent <level>: <message>".
void Log(LogLevel level, const std::string& message);
void SetLogLevel(LogLevel level);
LogLevel CurrentLogLevel();

inline constexpr char kAgentVersion[] = "0.1.0";

class Agent {
 public:
  // Every error names the step: "datapath: ...", "pod registry: ...", "cni socket ...".
  static absl::StatusOr<std::unique_ptr<Agent>> Start(AgentConfig config);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Blocks until Shutdown is requested (RequestShutdown, e.g. from a signal handler thread) or
  // the datapath ends on its own; returns the datapath's status.
  absl::Status Wait();
  // From any thread.
  void RequestShutdown();

  PodManager& pods() { return *pods_; }
  channel::PodServicesApp& services() { return *services_; }
  const AgentConfig& config() const { return config_; }
  uint16_t metrics_port() const;
  std::chrono::system_clock::time_point start_time() const { return start_time_; }
  // Ready: the datapath runs and the CNI socket is served.
  absl::Status Readiness() const;
  metrics::MetricsExporter& exporter() { return *exporter_; }
  // Each path's port: MAC, link and device counters (read on the worker's thread).
  struct PathState {
    std::string mac;
    io::LinkState link;
    io::PortStats stats;
  };
  absl::StatusOr<std::vector<PathState>> Paths();
  // The DPDK port of a path, by name; NotFound for another name.
  absl::StatusOr<uint16_t> PathPort(const std::string& name) const;
  // One capture at a time: false when one runs.
  bool StartCapture() { return !capturing_.exchange(true); }
  void EndCapture() { capturing_.store(false); }
  // Counters as DebugService.ListCounters and /metrics show them.
  absl::StatusOr<metrics::MetricsSnapshot> Snapshot();

 private:
  explicit Agent(AgentConfig config);
  absl::Status StartDatapath();
  absl::Status StartApi();
  void Shutdown();
  // A pod's MPTCP connections (local address one of the pod's), of one endpoint unless empty.
  absl::StatusOr<std::vector<braid::v1::Connection>> PodConnections(const std::string& id,
                                                                    const std::string& endpoint,
                                                                    bool with_subflows);

  AgentConfig config_;
  std::chrono::system_clock::time_point start_time_ = std::chrono::system_clock::now();
  std::unique_ptr<runtime::Datapath> datapath_;
  std::unique_ptr<channel::PodServicesApp> services_;
  std::thread runner_;
  absl::Status run_status_;
  std::atomic<bool> running_{false};
  std::unique_ptr<PodRegistry> registry_;
  std::unique_ptr<PodDatapath> pod_datapath_;
  std::unique_ptr<PodManager> pods_;
  std::unique_ptr<EndpointServer> endpoint_server_;
  std::unique_ptr<metrics::MetricsExporter> exporter_;
  std::unique_ptr<metrics::MetricsHttpServer> http_;
  std::unique_ptr<CniServiceImpl> cni_service_;
  std::unique_ptr<DebugServiceImpl> debug_service_;
  std::unique_ptr<grpc::Server> server_;
  std::atomic<bool> shutdown_requested_{false};
  std::atomic<bool> capturing_{false};
  bool shut_down_ = false;
};

}  // namespace braid::agent
