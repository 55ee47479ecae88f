#include "agent/daemon/agent.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/daemon/connections.h"
#include "agent/daemon/datapath_plan.h"
#include "agent/daemon/grpc_services.h"
#include "agent/daemon/sriov_setup.h"
#include "agent/metrics/counters.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"

namespace braid::agent {
namespace {

std::atomic<int> g_log_level{static_cast<int>(LogLevel::kInfo)};

// PodServicesApp as PodManager's datapath.
class ServicesDatapath final : public PodDatapath {
 public:
  explicit ServicesDatapath(channel::PodServicesApp& app) : app_(app) {}
  absl::Status AddPod(channel::PodServiceSpec spec) override {
    return app_.AddPod(std::move(spec));
  }
  absl::Status RemovePod(const std::string& id) override { return app_.RemovePod(id); }
  std::vector<channel::PodServiceInfo> Pods() override { return app_.Pods(); }

 private:
  channel::PodServicesApp& app_;
};

// Creates the directory of a unix socket path and removes a stale socket left by a previous run
// (a live agent's socket answers connect; a second agent is refused by bind anyway).
absl::Status PrepareSocketPath(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path p(path);
  std::filesystem::create_directories(p.parent_path(), ec);
  if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", p.parent_path().string(), ": ", ec.message()));
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return absl::AlreadyExistsError(path + " exists and is not a socket");
    }
    ::unlink(path.c_str());
  }
  return absl::OkStatus();
}

}  // namespace

void Log(LogLevel level, const std::string& message) {
  if (static_cast<int>(level) > g_log_level.load(std::memory_order_relaxed)) return;
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  std::fprintf(stderr, "braid-agent %s: %s\n",
               std::string(LogLevelNames()[static_cast<size_t>(level)]).c_str(), message.c_str());
}

void SetLogLevel(LogLevel level) { g_log_level.store(static_cast<int>(level)); }
LogLevel CurrentLogLevel() { return static_cast<LogLevel>(g_log_level.load()); }

absl::StatusOr<std::unique_ptr<Agent>> Agent::Start(AgentConfig config) {
  std::unique_ptr<Agent> agent(new Agent(std::move(config)));
  SetLogLevel(agent->config_.log.level);
  absl::StatusOr<PodRegistry::Opened> opened = PodRegistry::Open(agent->config_.node.state_dir);
  if (!opened.ok()) {
    return absl::Status(opened.status().code(),
                        absl::StrCat("pod registry: ", opened.status().message()));
  }
  for (const std::string& problem : opened->problems) {
    Log(LogLevel::kWarning, "pod registry: " + problem);
  }
  agent->registry_ = std::move(opened->registry);
  sriov::SysfsRoot sysfs(agent->config_.sriov.sysfs_root);
  std::vector<std::string> sriov_log;
  const absl::Status sriov = PrepareSriov(agent->config_, sysfs, sriov_log);
  for (const std::string& line : sriov_log) Log(LogLevel::kInfo, line);
  if (!sriov.ok()) return sriov;
  if (absl::Status s = agent->StartDatapath(); !s.ok()) return s;
  agent->pod_datapath_ = std::make_unique<ServicesDatapath>(*agent->services_);
  agent->pods_ = std::make_unique<PodManager>(agent->config_, *agent->registry_,
                                              *agent->pod_datapath_, PodManager::Options{});
  Agent* self = agent.get();
  absl::StatusOr<std::unique_ptr<EndpointServer>> endpoints = EndpointServer::Start(
      [self](const std::string& id) { return self->pods_->Endpoints(id); },
      [self](const std::string& id) { return self->pods_->SaveEndpoints(id); },
      [self](const std::string& id, const std::string& endpoint, bool with_subflows) {
        return self->PodConnections(id, endpoint, with_subflows);
      });
  if (!endpoints.ok()) {
    agent->Shutdown();
    return endpoints.status();
  }
  agent->endpoint_server_ = std::move(*endpoints);
  agent->pods_->SetEndpointServer(agent->endpoint_server_.get());
  for (const std::string& line : agent->pods_->Restore()) Log(LogLevel::kInfo, line);
  if (absl::Status s = agent->StartApi(); !s.ok()) {
    agent->Shutdown();
    return s;
  }
  Log(LogLevel::kInfo,
      absl::StrCat("ready: ", agent->config_.paths.size(), " path(s), ", agent->registry_->size(),
                   " pod(s), cni socket ", agent->config_.api.cni_socket, ", metrics on port ",
                   agent->metrics_port()));
  return agent;
}

absl::Status Agent::StartDatapath() {
  absl::StatusOr<DatapathPlan> plan = PlanDatapath(config_);
  if (!plan.ok()) return plan.status();
  absl::StatusOr<std::unique_ptr<runtime::Datapath>> dp = runtime::Datapath::Start(plan->datapath);
  if (!dp.ok()) {
    return absl::Status(dp.status().code(), absl::StrCat("datapath: ", dp.status().message()));
  }
  datapath_ = std::move(*dp);
  absl::StatusOr<std::unique_ptr<channel::PodServicesApp>> app =
      channel::PodServicesApp::Create(plan->services);
  if (!app.ok()) return app.status();
  services_ = std::move(*app);
  running_.store(true);
  runner_ = std::thread([this] {
    runtime::WorkerApp* apps[] = {services_.get()};
    run_status_ = datapath_->Run(apps);
    running_.store(false);
    Log(LogLevel::kInfo, "datapath stopped: " + run_status_.ToString());
  });
  // The mailbox opens once the worker started the app.
  for (int i = 0; i < 1000; ++i) {
    absl::StatusOr<int> ping =
        services_->Call<int>([](runtime::Worker&, tcp::Instant) { return 0; });
    if (ping.ok()) return absl::OkStatus();
    if (!running_.load()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return absl::UnavailableError("datapath: the worker did not start: " + run_status_.ToString());
}

absl::Status Agent::StartApi() {
  exporter_ =
      std::make_unique<metrics::MetricsExporter>([this] { return Snapshot(); }, kAgentVersion);
  exporter_->SetPods(registry_->size());
  metrics::HttpServerOptions http;
  http.listen = config_.api.metrics_listen;
  metrics::HttpHandlers handlers;
  handlers.collectables = exporter_->Collectables();
  handlers.liveness = [this]() -> absl::Status {
    if (!running_.load()) return absl::UnavailableError("the datapath worker stopped");
    absl::StatusOr<int> ping =
        services_->Call<int>([](runtime::Worker&, tcp::Instant) { return 0; });
    return ping.status();
  };
  handlers.readiness = [this] { return Readiness(); };
  absl::StatusOr<std::unique_ptr<metrics::MetricsHttpServer>> server =
      metrics::MetricsHttpServer::Start(http, std::move(handlers));
  if (!server.ok()) {
    return absl::Status(server.status().code(),
                        absl::StrCat("metrics on ", http.listen, ": ", server.status().message()));
  }
  http_ = std::move(*server);

  cni_service_ = std::make_unique<CniServiceImpl>(*this);
  debug_service_ = std::make_unique<DebugServiceImpl>(*this);
  grpc::ServerBuilder builder;
  std::vector<std::string> sockets = {config_.api.cni_socket};
  if (config_.api.debug_socket != config_.api.cni_socket) {
    sockets.push_back(config_.api.debug_socket);
  }
  for (const std::string& path : sockets) {
    if (absl::Status s = PrepareSocketPath(path); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("api socket ", path, ": ", s.message()));
    }
  }
  int selected_port = 0;
  builder.AddListeningPort("unix:" + config_.api.cni_socket, grpc::InsecureServerCredentials(),
                           &selected_port);
  if (sockets.size() > 1) {
    builder.AddListeningPort("unix:" + config_.api.debug_socket, grpc::InsecureServerCredentials());
  }
  builder.RegisterService(cni_service_.get());
  builder.RegisterService(debug_service_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || selected_port == 0) {
    return absl::UnavailableError(
        absl::StrCat("api socket unix:", config_.api.cni_socket, ": gRPC could not listen"));
  }
  for (const std::string& path : sockets) ::chmod(path.c_str(), 0600);
  return absl::OkStatus();
}

uint16_t Agent::metrics_port() const { return http_ != nullptr ? http_->port() : 0; }

absl::Status Agent::Readiness() const {
  if (!running_.load()) return absl::UnavailableError("the datapath is not running");
  if (server_ == nullptr) return absl::UnavailableError("the API is not served yet");
  return absl::OkStatus();
}

absl::StatusOr<metrics::MetricsSnapshot> Agent::Snapshot() {
  struct Raw {
    std::vector<metrics::CounterSample> worker;
    std::vector<channel::PodServiceInfo> pods;
  };
  // The samples' names are the catalog's static strings: they may leave the worker's thread.
  absl::StatusOr<Raw> raw = services_->Call<Raw>([](runtime::Worker& w, tcp::Instant) {
    Raw r;
    metrics::CollectWorkerCounters(w, r.worker);
    return r;
  });
  if (!raw.ok()) return raw.status();
  raw->pods = services_->Pods();
  metrics::MetricsSnapshot snap;
  snap.workers.push_back({metrics::WorkerLabels(0), std::move(raw->worker)});
  for (const braid::v1::Pod& pod : registry_->List()) {
    const std::string id = AttachmentId(pod.container_id(), pod.ifname());
    for (const channel::PodServiceInfo& p : raw->pods) {
      if (p.id != id) continue;
      metrics::LabeledSamples s{metrics::PodLabels(pod.pod().namespace_(), pod.pod().name()), {}};
      metrics::CollectServiceCounters(p.counters, s.samples);
      snap.pods.push_back(std::move(s));
    }
  }
  // Per path: its port's link and device counters (braid_path_*{path="..."}).
  absl::StatusOr<std::vector<PathState>> paths = Paths();
  if (paths.ok()) {
    for (size_t i = 0; i < paths->size() && i < config_.paths.size(); ++i) {
      const PathState& p = (*paths)[i];
      metrics::LabeledSamples s{metrics::PathLabels(config_.paths[i].name), {}};
      auto counter = [&s](std::string_view name, std::string_view help, uint64_t value) {
        s.samples.push_back({.subsystem = "path", .name = name, .help = help, .value = value});
      };
      counter("rx_packets", "frames the path's device received", p.stats.rx_packets);
      counter("tx_packets", "frames the path's device sent", p.stats.tx_packets);
      counter("rx_bytes", "bytes the path's device received", p.stats.rx_bytes);
      counter("tx_bytes", "bytes the path's device sent", p.stats.tx_bytes);
      counter("rx_missed", "frames the device dropped: its RX ring was full", p.stats.rx_missed);
      counter("rx_errors", "frames the device received in error", p.stats.rx_errors);
      counter("tx_errors", "frames the device failed to send", p.stats.tx_errors);
      counter("rx_no_mbuf", "RX mbuf allocation failures", p.stats.rx_nombuf);
      s.samples.push_back({.subsystem = "path",
                           .name = "up",
                           .help = "1 while the path's link is up",
                           .value = p.link.up ? 1u : 0u,
                           .type = metrics::MetricType::kGauge});
      snap.paths.push_back(std::move(s));
    }
  }
  if (exporter_ != nullptr) exporter_->SetPods(registry_->size());
  return snap;
}

absl::StatusOr<uint16_t> Agent::PathPort(const std::string& name) const {
  for (size_t i = 0; i < config_.paths.size() && i < datapath_->paths(); ++i) {
    if (config_.paths[i].name == name) return datapath_->port(i).id();
  }
  return absl::NotFoundError("path \"" + name + "\": no such path");
}

absl::StatusOr<std::vector<Agent::PathState>> Agent::Paths() {
  runtime::Datapath* dp = datapath_.get();
  return services_->Call<std::vector<PathState>>([dp](runtime::Worker&, tcp::Instant) {
    std::vector<PathState> out;
    for (size_t i = 0; i < dp->paths(); ++i) {
      const io::Port& port = dp->port(i);
      PathState p;
      p.mac = port.mac().ToString();
      p.link = port.Link();
      if (absl::StatusOr<io::PortStats> s = port.Stats(); s.ok()) p.stats = std::move(*s);
      out.push_back(std::move(p));
    }
    return out;
  });
}

absl::StatusOr<std::vector<braid::v1::Connection>> Agent::PodConnections(
    const std::string& id, const std::string& endpoint, bool with_subflows) {
  absl::StatusOr<braid::v1::Pod> record = pods_->Record(id);
  if (!record.ok()) return record.status();
  std::set<std::string> mine;
  for (const braid::v1::PathIpConfig& path : record->paths()) {
    for (const braid::v1::IpAddressConfig& ip : path.ips()) {
      mine.insert(ip.address().substr(0, ip.address().find('/')));
    }
  }
  std::vector<std::string> names;
  for (const PathConfig& p : config_.paths) names.push_back(p.name);
  absl::StatusOr<std::vector<ConnectionSnapshot>> all =
      services_->Call<std::vector<ConnectionSnapshot>>(
          [names](runtime::Worker& w, tcp::Instant) { return ReadConnections(w, names); });
  if (!all.ok()) return all.status();
  std::vector<braid::v1::Connection> out;
  for (const ConnectionSnapshot& c : *all) {
    if (!c.flow || mine.count(wire::ToString(c.flow->local)) == 0) continue;
    if (!endpoint.empty() && c.info.policy_name != endpoint) continue;
    braid::v1::Connection conn = ToProto(c, with_subflows);
    *conn.mutable_pod() = record->pod();
    out.push_back(std::move(conn));
  }
  return out;
}

absl::Status Agent::Wait() {
  while (!shutdown_requested_.load() && running_.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Shutdown();
  return run_status_;
}

void Agent::RequestShutdown() { shutdown_requested_.store(true); }

void Agent::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server_->Wait();
  }
  if (http_ != nullptr) http_->Stop();
  if (pods_ != nullptr) pods_->SetEndpointServer(nullptr);
  endpoint_server_.reset();
  if (services_ != nullptr) services_->RequestStop();
  if (runner_.joinable()) runner_.join();
  for (const std::string& path : {config_.api.cni_socket, config_.api.debug_socket}) {
    ::unlink(path.c_str());
  }
}

Agent::Agent(AgentConfig config) : config_(std::move(config)) {}

Agent::~Agent() { Shutdown(); }

}  // namespace braid::agent
