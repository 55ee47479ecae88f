#include "agent/daemon/grpc_services.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/daemon/agent.h"
#include "agent/daemon/capture.h"
#include "agent/daemon/connections.h"
#include "agent/metrics/counters.h"
#include "google/protobuf/util/time_util.h"
#include "proto/status.h"

namespace braid::agent {
namespace {

namespace v1 = braid::v1;
using google::protobuf::util::TimeUtil;

// Times a call into the agent's histograms and converts its status.
class Timed {
 public:
  Timed(Agent& agent, std::string_view service, std::string_view method, bool cni)
      : agent_(agent),
        service_(service),
        method_(method),
        cni_(cni),
        start_(std::chrono::steady_clock::now()) {}
  grpc::Status Done(const absl::Status& status) {
    const auto elapsed = std::chrono::steady_clock::now() - start_;
    agent_.exporter().ObserveGrpcRequest(service_, method_, status.code(), elapsed);
    if (cni_) agent_.exporter().ObserveCniRequest(method_, elapsed);
    if (!status.ok()) {
      Log(LogLevel::kWarning,
          absl::StrCat(std::string(service_), ".", std::string(method_), ": ", status.ToString()));
    }
    return proto::ToGrpcStatus(status);
  }

 private:
  Agent& agent_;
  std::string_view service_;
  std::string_view method_;
  bool cni_;
  std::chrono::steady_clock::time_point start_;
};

v1::LogLevel ToProto(LogLevel level) {
  switch (level) {
    case LogLevel::kError:
      return v1::LOG_LEVEL_ERROR;
    case LogLevel::kWarning:
      return v1::LOG_LEVEL_WARNING;
    case LogLevel::kInfo:
      return v1::LOG_LEVEL_INFO;
    case LogLevel::kDebug:
      return v1::LOG_LEVEL_DEBUG;
  }
  return v1::LOG_LEVEL_UNSPECIFIED;
}

}  // namespace

// ---- CniService --------------------------------------------------------------------------------

grpc::Status CniServiceImpl::Add(grpc::ServerContext*, const v1::CniAddRequest* request,
                                 v1::CniAddResponse* response) {
  Timed t(agent_, "CniService", "Add", true);
  absl::StatusOr<v1::CniAddResponse> r = agent_.pods().Add(*request);
  if (r.ok()) {
    *response = std::move(*r);
    Log(LogLevel::kInfo,
        absl::StrCat("pod ", request->pod().namespace_(), "/", request->pod().name(), " added (",
                     request->attachment().container_id(), ")"));
  }
  return t.Done(r.status());
}

grpc::Status CniServiceImpl::Del(grpc::ServerContext*, const v1::CniDelRequest* request,
                                 v1::CniDelResponse*) {
  Timed t(agent_, "CniService", "Del", true);
  return t.Done(agent_.pods().Del(*request));
}

grpc::Status CniServiceImpl::Check(grpc::ServerContext*, const v1::CniCheckRequest* request,
                                   v1::CniCheckResponse*) {
  Timed t(agent_, "CniService", "Check", true);
  return t.Done(agent_.pods().Check(*request));
}

grpc::Status CniServiceImpl::Status(grpc::ServerContext*, const v1::CniStatusRequest*,
                                    v1::CniStatusResponse* response) {
  Timed t(agent_, "CniService", "Status", true);
  const absl::Status ready = agent_.Readiness();
  response->set_readiness(ready.ok() ? v1::CNI_READINESS_READY : v1::CNI_READINESS_NOT_READY);
  response->set_message(ready.ok() ? "ready" : std::string(ready.message()));
  return t.Done(absl::OkStatus());
}

grpc::Status CniServiceImpl::Gc(grpc::ServerContext*, const v1::CniGcRequest* request,
                                v1::CniGcResponse* response) {
  Timed t(agent_, "CniService", "Gc", true);
  absl::StatusOr<v1::CniGcResponse> r = agent_.pods().Gc(*request);
  if (r.ok()) *response = std::move(*r);
  return t.Done(r.status());
}

// ---- DebugService ------------------------------------------------------------------------------

grpc::Status DebugServiceImpl::GetStatus(grpc::ServerContext*, const v1::GetStatusRequest*,
                                         v1::GetStatusResponse* response) {
  Timed t(agent_, "DebugService", "GetStatus", false);
  response->set_version(kAgentVersion);
  response->set_node_name(agent_.config().node.name);
  const auto start = agent_.start_time();
  *response->mutable_start_time() = TimeUtil::NanosecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::nanoseconds>(start.time_since_epoch()).count());
  *response->mutable_uptime() = TimeUtil::NanosecondsToDuration(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now() - start)
          .count());
  struct Worker {
    runtime::WorkerStats stats;
    size_t connections = 0;
    int64_t cpu_ns = 0;
  };
  absl::StatusOr<Worker> w =
      agent_.services().Call<Worker>([](runtime::Worker& worker, tcp::Instant) {
        Worker out{worker.stats(), 0, 0};
        // WorkerStats::cpu_time is filled when the loop returns; this runs on the worker's
        // thread, whose CPU clock is the worker's.
        timespec ts{};
        if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0) {
          out.cpu_ns = int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
        }
        if (worker.mptcp() != nullptr) out.connections = worker.mptcp()->open_connections();
        return out;
      });
  if (!w.ok()) return t.Done(w.status());
  const std::vector<channel::PodServiceInfo> pods = agent_.services().Pods();
  v1::WorkerStatus* ws = response->add_workers();
  ws->set_id(0);
  ws->set_iterations(w->stats.iterations);
  ws->set_busy_iterations(w->stats.busy_iterations);
  ws->set_rx_frames(w->stats.rx_frames);
  ws->set_tx_frames(w->stats.tx_frames);
  ws->set_connection_count(static_cast<uint32_t>(w->connections));
  *ws->mutable_cpu_time() = TimeUtil::NanosecondsToDuration(w->cpu_ns);
  uint32_t apps = 0;
  for (const channel::PodServiceInfo& p : pods) apps += static_cast<uint32_t>(p.sessions.size());
  ws->set_app_count(apps);
  absl::StatusOr<std::vector<Agent::PathState>> states = agent_.Paths();
  if (!states.ok()) return t.Done(states.status());
  // Every pod's addresses, by path.
  std::map<std::string, std::vector<std::string>> addresses;
  for (const v1::Pod& pod : agent_.pods().List({})) {
    for (const v1::PathIpConfig& path : pod.paths()) {
      for (const v1::IpAddressConfig& ip : path.ips())
        addresses[path.path()].push_back(ip.address());
    }
  }
  const std::vector<PathConfig>& paths = agent_.config().paths;
  for (size_t i = 0; i < paths.size(); ++i) {
    const PathConfig& p = paths[i];
    v1::PathStatus* ps = response->add_paths();
    ps->set_name(p.name);
    ps->set_port(p.kind == PathKind::kVf ? p.pci : p.netdev);
    ps->set_mtu(p.mtu);
    if (p.ipv4_gateway) ps->set_ipv4_gateway(p.ipv4_gateway->ToString());
    if (p.ipv6_gateway) ps->set_ipv6_gateway(p.ipv6_gateway->ToString());
    for (const std::string& a : addresses[p.name]) ps->add_addresses(a);
    if (i < states->size()) {
      const Agent::PathState& st = (*states)[i];
      ps->set_mac(st.mac);
      ps->set_link_state(st.link.up ? v1::LINK_STATE_UP : v1::LINK_STATE_DOWN);
      ps->set_speed_mbps(st.link.speed_mbps);
      ps->set_full_duplex(st.link.full_duplex);
      ps->set_autoneg(st.link.autoneg);
      v1::PathCounters* c = ps->mutable_counters();
      c->set_rx_packets(st.stats.rx_packets);
      c->set_tx_packets(st.stats.tx_packets);
      c->set_rx_bytes(st.stats.rx_bytes);
      c->set_tx_bytes(st.stats.tx_bytes);
      c->set_rx_missed(st.stats.rx_missed);
      c->set_rx_errors(st.stats.rx_errors);
      c->set_tx_errors(st.stats.tx_errors);
      c->set_rx_no_mbuf(st.stats.rx_nombuf);
    }
  }
  response->set_pod_count(static_cast<uint32_t>(pods.size()));
  response->set_connection_count(static_cast<uint32_t>(w->connections));
  return t.Done(absl::OkStatus());
}

grpc::Status DebugServiceImpl::ListPods(grpc::ServerContext*, const v1::ListPodsRequest* request,
                                        v1::ListPodsResponse* response) {
  Timed t(agent_, "DebugService", "ListPods", false);
  for (v1::Pod& pod : agent_.pods().List(request->pod())) *response->add_pods() = std::move(pod);
  return t.Done(absl::OkStatus());
}

grpc::Status DebugServiceImpl::ListCounters(grpc::ServerContext*,
                                            const v1::ListCountersRequest* request,
                                            v1::ListCountersResponse* response) {
  Timed t(agent_, "DebugService", "ListCounters", false);
  absl::StatusOr<metrics::MetricsSnapshot> snap = agent_.Snapshot();
  if (!snap.ok()) return t.Done(snap.status());
  auto wanted = [&](std::string_view subsystem) {
    if (request->subsystems().empty()) return true;
    for (const std::string& s : request->subsystems()) {
      if (s == subsystem) return true;
    }
    return false;
  };
  for (const metrics::LabeledSamples& w : snap->workers) {
    for (const metrics::CounterSample& s : w.samples) {
      if (!wanted(s.subsystem) || (s.value == 0 && !request->include_zero())) continue;
      v1::Counter* c = response->add_counters();
      c->set_subsystem(std::string(s.subsystem));
      c->set_name(std::string(s.name));
      c->set_reason(std::string(s.reason));
      c->set_value(s.value);
      c->set_help(std::string(s.help));
      if (request->per_worker()) c->set_worker(0);
    }
  }
  *response->mutable_read_time() = TimeUtil::GetCurrentTime();
  return t.Done(absl::OkStatus());
}

grpc::Status DebugServiceImpl::GetLogLevel(grpc::ServerContext*, const v1::GetLogLevelRequest*,
                                           v1::GetLogLevelResponse* response) {
  Timed t(agent_, "DebugService", "GetLogLevel", false);
  response->set_component("agent");
  response->set_level(ToProto(CurrentLogLevel()));
  return t.Done(absl::OkStatus());
}

grpc::Status DebugServiceImpl::SetLogLevel(grpc::ServerContext*,
                                           const v1::SetLogLevelRequest* request,
                                           v1::SetLogLevelResponse*) {
  Timed t(agent_, "DebugService", "SetLogLevel", false);
  if (!request->component().empty() && request->component() != "agent") {
    return t.Done(absl::NotFoundError("log component \"" + request->component() +
                                      "\": the agent has one, \"agent\""));
  }
  switch (request->level()) {
    case v1::LOG_LEVEL_ERROR:
      agent::SetLogLevel(LogLevel::kError);
      break;
    case v1::LOG_LEVEL_WARNING:
      agent::SetLogLevel(LogLevel::kWarning);
      break;
    case v1::LOG_LEVEL_INFO:
      agent::SetLogLevel(LogLevel::kInfo);
      break;
    case v1::LOG_LEVEL_DEBUG:
      agent::SetLogLevel(LogLevel::kDebug);
      break;
    default:
      return t.Done(absl::InvalidArgumentError("level: unspecified or unknown"));
  }
  return t.Done(absl::OkStatus());
}

namespace {

// The connections of the datapath with their pods (by local address), filtered as asked.
struct Listed {
  ConnectionSnapshot c;
  v1::PodRef pod;
};

absl::StatusOr<std::vector<Listed>> ListAll(Agent& agent, const v1::PodRef& pod_filter,
                                            const std::string& path_filter) {
  std::vector<std::string> path_names;
  for (const PathConfig& p : agent.config().paths) path_names.push_back(p.name);
  absl::StatusOr<std::vector<ConnectionSnapshot>> all =
      agent.services().Call<std::vector<ConnectionSnapshot>>(
          [path_names](runtime::Worker& w, tcp::Instant) {
            return ReadConnections(w, path_names);
          });
  if (!all.ok()) return all.status();
  std::map<std::string, v1::PodRef> pod_of;  // address text -> pod
  for (const v1::Pod& pod : agent.pods().List({})) {
    for (const v1::PathIpConfig& path : pod.paths()) {
      for (const v1::IpAddressConfig& ip : path.ips()) {
        pod_of[ip.address().substr(0, ip.address().find('/'))] = pod.pod();
      }
    }
  }
  const bool filter_pod =
      !pod_filter.namespace_().empty() || !pod_filter.name().empty() || !pod_filter.uid().empty();
  std::vector<Listed> out;
  for (ConnectionSnapshot& c : *all) {
    Listed l{std::move(c), {}};
    if (l.c.flow) {
      auto it = pod_of.find(wire::ToString(l.c.flow->local));
      if (it != pod_of.end()) l.pod = it->second;
    }
    if (filter_pod &&
        ((!pod_filter.namespace_().empty() && pod_filter.namespace_() != l.pod.namespace_()) ||
         (!pod_filter.name().empty() && pod_filter.name() != l.pod.name()) ||
         (!pod_filter.uid().empty() && pod_filter.uid() != l.pod.uid()))) {
      continue;
    }
    if (!path_filter.empty() && std::find(l.c.subflow_paths.begin(), l.c.subflow_paths.end(),
                                          path_filter) == l.c.subflow_paths.end()) {
      continue;
    }
    out.push_back(std::move(l));
  }
  return out;
}

// A page of `total` items: [first, first + size). The token is the offset, in decimal.
absl::StatusOr<std::pair<size_t, size_t>> Page(const std::string& token, uint32_t page_size,
                                               size_t total) {
  size_t first = 0;
  if (!token.empty()) {
    for (char ch : token) {
      if (ch < '0' || ch > '9' || first > total) {
        return absl::InvalidArgumentError("page_token: \"" + token + "\" is not one we gave");
      }
      first = first * 10 + static_cast<size_t>(ch - '0');
    }
    if (first > total) first = total;  // the list shrank since: an empty last page
  }
  const size_t size = page_size == 0 ? 100 : std::min<uint32_t>(page_size, 1000);
  return std::make_pair(first, std::min(total, first + size));
}

}  // namespace

grpc::Status DebugServiceImpl::ListConnections(grpc::ServerContext*,
                                               const v1::ListConnectionsRequest* request,
                                               v1::ListConnectionsResponse* response) {
  Timed t(agent_, "DebugService", "ListConnections", false);
  absl::StatusOr<std::vector<Listed>> all = ListAll(agent_, request->pod(), request->path());
  if (!all.ok()) return t.Done(all.status());
  absl::StatusOr<std::pair<size_t, size_t>> page =
      Page(request->page_token(), request->page_size(), all->size());
  if (!page.ok()) return t.Done(page.status());
  for (size_t i = page->first; i < page->second; ++i) {
    v1::Connection* c = response->add_connections();
    *c = ToProto((*all)[i].c, request->include_subflows());
    *c->mutable_pod() = (*all)[i].pod;
  }
  if (page->second < all->size()) response->set_next_page_token(std::to_string(page->second));
  return t.Done(absl::OkStatus());
}

grpc::Status DebugServiceImpl::ListSubflows(grpc::ServerContext*,
                                            const v1::ListSubflowsRequest* request,
                                            v1::ListSubflowsResponse* response) {
  Timed t(agent_, "DebugService", "ListSubflows", false);
  absl::StatusOr<std::vector<Listed>> all = ListAll(agent_, request->pod(), request->path());
  if (!all.ok()) return t.Done(all.status());
  std::vector<v1::Subflow> subflows;
  bool found = request->connection_id() == 0;
  for (const Listed& l : *all) {
    if (request->connection_id() != 0 && l.c.id != request->connection_id()) continue;
    found = true;
    for (size_t i = 0; i < l.c.subflows.size(); ++i) {
      if (!request->path().empty() && l.c.subflow_paths[i] != request->path()) continue;
      subflows.push_back(ToProto(l.c.subflows[i], l.c.id, l.c.subflow_paths[i]));
    }
  }
  if (!found) {
    return t.Done(absl::NotFoundError(
        absl::StrCat("connection ", request->connection_id(), ": no such connection")));
  }
  absl::StatusOr<std::pair<size_t, size_t>> page =
      Page(request->page_token(), request->page_size(), subflows.size());
  if (!page.ok()) return t.Done(page.status());
  for (size_t i = page->first; i < page->second; ++i) {
    *response->add_subflows() = std::move(subflows[i]);
  }
  if (page->second < subflows.size()) response->set_next_page_token(std::to_string(page->second));
  return t.Done(absl::OkStatus());
}

grpc::Status DebugServiceImpl::Capture(grpc::ServerContext* context,
                                       const v1::CaptureRequest* request,
                                       grpc::ServerWriter<v1::CaptureResponse>* writer) {
  Timed t(agent_, "DebugService", "Capture", false);
  // Every message stays under gRPC's default 4 MiB limit, with room (proto/braid/v1/README.md).
  constexpr size_t kChunk = 1 << 20;
  PacketCapture::Target target;
  if (request->has_connection_id()) {
    absl::StatusOr<std::vector<Listed>> all = ListAll(agent_, {}, "");
    if (!all.ok()) return t.Done(all.status());
    const bool known = std::any_of(all->begin(), all->end(), [&](const Listed& l) {
      return l.c.id == request->connection_id();
    });
    if (!known) {
      return t.Done(absl::NotFoundError(
          absl::StrCat("connection ", request->connection_id(), ": no such connection")));
    }
    target.connection = tcp::SocketId{static_cast<uint32_t>(request->connection_id() >> 32),
                                      static_cast<uint32_t>(request->connection_id())};
  } else if (request->has_path()) {
    absl::StatusOr<uint16_t> port = agent_.PathPort(request->path());
    if (!port.ok()) return t.Done(port.status());
    target.port = *port;
  } else {
    return t.Done(absl::InvalidArgumentError("capture: a connection_id or a path is needed"));
  }
  const bool timed =
      request->has_max_duration() && TimeUtil::DurationToNanoseconds(request->max_duration()) > 0;
  if (request->max_packets() == 0 && request->max_bytes() == 0 && !timed) {
    return t.Done(absl::InvalidArgumentError(
        "capture: a limit is needed (max_packets, max_bytes or max_duration)"));
  }
  if (request->snaplen() > pcap::kMaxSnaplen) {
    return t.Done(absl::InvalidArgumentError(absl::StrCat("capture: snaplen ", request->snaplen(),
                                                          " (at most ", pcap::kMaxSnaplen, ")")));
  }
  if (!agent_.StartCapture()) {
    return t.Done(absl::ResourceExhaustedError("capture: another capture is running"));
  }
  PacketCapture::Limits limits;
  limits.packets = request->max_packets();
  limits.bytes = request->max_bytes();
  if (request->snaplen() != 0) limits.snaplen = request->snaplen();
  auto cap = std::make_shared<PacketCapture>(target, limits);
  absl::StatusOr<bool> on = agent_.services().Call<bool>([cap](runtime::Worker& w, tcp::Instant) {
    cap->Attach(w.mptcp());
    w.SetFrameTap(cap.get());
    return true;
  });
  if (!on.ok()) {
    agent_.EndCapture();
    return t.Done(on.status());
  }
  const auto deadline =
      std::chrono::steady_clock::now() +
      std::chrono::nanoseconds(timed ? TimeUtil::DurationToNanoseconds(request->max_duration())
                                     : int64_t{365} * 24 * 3600 * 1'000'000'000);
  v1::CaptureEndReason reason = v1::CAPTURE_END_REASON_UNSPECIFIED;
  uint64_t packets = 0;
  bool client_gone = false;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (cap->limit_reached()) {
      // Everything recorded was taken already (limit_reached waits for that).
      reason = request->max_packets() != 0 && packets >= request->max_packets()
                   ? v1::CAPTURE_END_REASON_PACKET_LIMIT
                   : v1::CAPTURE_END_REASON_BYTE_LIMIT;
    } else if (cap->target_gone()) {
      reason = v1::CAPTURE_END_REASON_TARGET_GONE;
    } else if (std::chrono::steady_clock::now() >= deadline) {
      reason = v1::CAPTURE_END_REASON_TIME_LIMIT;
    }
    if (context->IsCancelled()) client_gone = true;
    // What was recorded goes out, also in the last round.
    for (;;) {
      PacketCapture::Chunk c = cap->Take(kChunk);
      if (c.bytes.empty()) break;
      packets += c.packets;
      v1::CaptureResponse m;
      m.set_pcap_data(std::string(c.bytes.begin(), c.bytes.end()));
      m.set_packet_count(c.packets);  // this message's records
      m.set_packets_missed(cap->missed());
      if (client_gone || !writer->Write(m)) {
        client_gone = true;
        break;
      }
    }
    if (reason != v1::CAPTURE_END_REASON_UNSPECIFIED || client_gone) break;
  }
  (void)agent_.services().Call<bool>([](runtime::Worker& w, tcp::Instant) {
    w.SetFrameTap(nullptr);
    return true;
  });
  agent_.EndCapture();
  if (client_gone) return t.Done(absl::CancelledError("capture: the client went away"));
  // The last message says why the capture ended.
  v1::CaptureResponse last;
  last.set_packets_missed(cap->missed());
  last.set_end_reason(reason);
  writer->Write(last);
  return t.Done(absl::OkStatus());
}

}  // namespace braid::agent
