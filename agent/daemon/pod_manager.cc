#include "agent/daemon/pod_manager.h"

#include <algorithm>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/daemon/endpoint_server.h"
#include "agent/daemon/endpoints.h"
#include "agent/pods/pod_options.h"
#include "datapath/channel/handover.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"

namespace braid::agent {
namespace {

namespace v1 = braid::v1;

// "10.1.0.5/24" -> address and prefix length.
absl::StatusOr<channel::PodAddress> ParseCidr(const std::string& text, const std::string& where) {
  const size_t slash = text.find('/');
  std::optional<wire::IpAddress> address =
      wire::ParseIpAddress(std::string_view(text).substr(0, slash));
  int len = -1;
  if (slash != std::string::npos && slash + 1 < text.size() && slash + 4 >= text.size()) {
    len = 0;
    for (char c : text.substr(slash + 1)) {
      if (c < '0' || c > '9') {
        len = -1;
        break;
      }
      len = len * 10 + (c - '0');
    }
  }
  const int max = address && wire::IsIpv4(*address) ? 32 : 128;
  if (!address || len < 1 || len > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": \"", text, "\" is not an address with its prefix length"));
  }
  return channel::PodAddress{0, *address, static_cast<uint8_t>(len)};
}

const PathConfig* FindPath(const AgentConfig& config, const std::string& name, size_t* index) {
  for (size_t i = 0; i < config.paths.size(); ++i) {
    if (config.paths[i].name == name) {
      *index = i;
      return &config.paths[i];
    }
  }
  return nullptr;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

bool SameAttachment(const v1::CniAttachment& a, const v1::CniAttachment& b) {
  return a.container_id() == b.container_id() && a.ifname() == b.ifname();
}

}  // namespace

std::string AttachmentId(std::string_view container_id, std::string_view ifname) {
  return absl::StrCat(std::string(container_id), "/", std::string(ifname));
}

absl::StatusOr<mptcp::ConnectionPolicy> PodPolicy(const v1::MptcpOptions& options,
                                                  const std::vector<channel::PodAddress>& addresses,
                                                  const AgentConfig& config) {
  mptcp::ConnectionPolicy policy;
  policy.scheduler = options.scheduler().empty() ? config.mptcp.scheduler : options.scheduler();
  policy.path_manager = config.mptcp.path_manager;
  const std::string_view pm = PathManagerPolicyName(options.path_manager().policy());
  if (!pm.empty()) policy.path_manager.policy = std::string(pm);
  if (options.path_manager().ndiffports_subflows() != 0) {
    policy.path_manager.ndiffports = options.path_manager().ndiffports_subflows();
  }
  policy.checksum = options.has_checksum() ? options.checksum() : config.mptcp.checksum;
  // Subflows to addresses the peer announces leave from the pod's address on the route's path,
  // never another pod's.
  policy.own_addresses_only = true;
  const std::vector<std::string> paths(options.paths().begin(), options.paths().end());
  const std::vector<std::string> backups(options.backup_paths().begin(),
                                         options.backup_paths().end());
  const uint32_t per_path = std::max<uint32_t>(1, options.subflows_per_path());
  policy.path_manager.endpoints.clear();
  uint8_t id = 1;
  size_t selected = 0;
  for (const std::string& name : paths) {
    size_t index = 0;
    if (FindPath(config, name, &index) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("paths: unknown path \"", name, "\""));
    }
    bool any = false;
    for (const channel::PodAddress& a : addresses) {
      if (a.interface != index) continue;
      any = true;
      // The first endpoint of an address announces it and opens a subflow from it; each extra
      // one opens one more subflow from the same address (another source port).
      for (uint32_t k = 0; k < per_path && id <= mptcp::kMaxPmLimit * 2; ++k) {
        policy.path_manager.endpoints.push_back(mptcp::Endpoint{
            .id = id++,
            .address = a.address,
            .port = std::nullopt,
            .signal = k == 0,
            .subflow = true,
            .backup = Contains(backups, name),
        });
      }
    }
    if (!any) {
      return absl::InvalidArgumentError(
          absl::StrCat("paths: the pod has no address on path \"", name, "\""));
    }
    ++selected;
  }
  // Every endpoint but the initial subflow's may open a subflow; announcements from the peer
  // (one per path of its own) are acted upon.
  const uint32_t extra = static_cast<uint32_t>(policy.path_manager.endpoints.size());
  policy.path_manager.limits.subflows = std::min<uint32_t>(mptcp::kMaxPmLimit, extra);
  policy.path_manager.limits.add_addr_accepted =
      std::min<uint32_t>(mptcp::kMaxPmLimit, static_cast<uint32_t>(selected) * per_path);
  if (absl::Status s = mptcp::ValidatePathManagerConfig(policy.path_manager); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("pod path manager: ", s.message()));
  }
  return policy;
}

PodManager::PodManager(const AgentConfig& config, PodRegistry& registry, PodDatapath& datapath,
                       Options options)
    : config_(config), registry_(registry), datapath_(datapath), options_(std::move(options)) {}

absl::StatusOr<std::vector<channel::PodAddress>> PodManager::Addresses(
    const google::protobuf::RepeatedPtrField<v1::PathIpConfig>& paths) const {
  std::vector<channel::PodAddress> out;
  std::set<std::string> seen;
  for (int i = 0; i < paths.size(); ++i) {
    const v1::PathIpConfig& p = paths[i];
    const std::string where = absl::StrCat("paths[", i, "] (", p.path(), ")");
    size_t index = 0;
    const PathConfig* path = FindPath(config_, p.path(), &index);
    if (path == nullptr) {
      return absl::InvalidArgumentError(where + ": no such path in the agent's configuration");
    }
    if (!seen.insert(p.path()).second) return absl::InvalidArgumentError(where + ": given twice");
    for (int j = 0; j < p.ips_size(); ++j) {
      const std::string ip_where = absl::StrCat(where, ".ips[", j, "]");
      absl::StatusOr<channel::PodAddress> a = ParseCidr(p.ips(j).address(), ip_where);
      if (!a.ok()) return a.status();
      a->interface = static_cast<net::InterfaceId>(index);
      bool inside = false;
      if (const auto* v4 = std::get_if<wire::Ipv4Address>(&a->address)) {
        inside = path->ipv4_subnet && path->ipv4_subnet->Contains(*v4) &&
                 a->prefix_len == path->ipv4_subnet->prefix_len;
      } else {
        const auto& v6 = std::get<wire::Ipv6Address>(a->address);
        inside = path->ipv6_subnet && path->ipv6_subnet->Contains(v6) &&
                 a->prefix_len == path->ipv6_subnet->prefix_len;
      }
      if (!inside) {
        return absl::InvalidArgumentError(absl::StrCat(
            ip_where, ": ", p.ips(j).address(), " is not in the subnet of path \"", p.path(),
            "\" (the network configuration's ranges must match the agent's paths)"));
      }
      out.push_back(*a);
    }
  }
  if (out.empty()) return absl::InvalidArgumentError("paths: the pod has no address on any path");
  return out;
}

absl::Status PodManager::Serve(const v1::Pod& record) {
  const std::string id = AttachmentId(record.container_id(), record.ifname());
  absl::StatusOr<std::vector<channel::PodAddress>> addresses = Addresses(record.paths());
  if (!addresses.ok()) return addresses.status();
  absl::StatusOr<std::shared_ptr<PodEndpoints>> endpoints =
      PodEndpoints::Create(config_, record.options(), *addresses);
  if (!endpoints.ok()) return endpoints.status();
  for (const v1::Endpoint& e : record.endpoints()) {
    if (absl::StatusOr<v1::EndpointStatus> s = (*endpoints)->Add(e); !s.ok()) return s.status();
  }
  absl::StatusOr<PodSockets> sockets = BindPodSockets(record.netns_path(), options_.socket_names);
  if (!sockets.ok()) return sockets.status();
  absl::StatusOr<channel::ChannelListener> listener =
      channel::ChannelListener::Adopt(std::move(sockets->channel));
  if (!listener.ok()) return listener.status();
  std::shared_ptr<PodEndpoints> eps = *endpoints;
  channel::PodServiceSpec spec{
      .id = id,
      .listener = std::move(*listener),
      .addresses = std::move(*addresses),
      .policy = nullptr,
      .policy_for = [eps](const wire::IpAddress& address, uint16_t port,
                          bool listen) { return eps->PolicyFor(address, port, listen); },
      .on_accepted = [eps](const wire::IpAddress& local,
                           uint16_t port) { eps->Accepted(local, port); }};
  if (absl::Status s = datapath_.AddPod(std::move(spec)); !s.ok()) return s;
  endpoints_[id] = eps;
  // The pod's EndpointService; without a server its name is not kept bound, so that a client is
  // refused at once rather than left waiting.
  if (endpoint_server_ != nullptr) endpoint_server_->Serve(id, std::move(sockets->endpoint));
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<PodEndpoints>> PodManager::Endpoints(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = endpoints_.find(id);
  if (it == endpoints_.end()) return absl::NotFoundError("pod " + id + ": not attached");
  return it->second;
}

absl::StatusOr<v1::Pod> PodManager::Record(const std::string& id) {
  const size_t slash = id.rfind('/');
  if (slash == std::string::npos) return absl::NotFoundError("pod " + id + ": not attached");
  return registry_.Get(id.substr(0, slash), id.substr(slash + 1));
}

absl::Status PodManager::SaveEndpoints(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = endpoints_.find(id);
  if (it == endpoints_.end()) return absl::NotFoundError("pod " + id + ": not attached");
  absl::StatusOr<v1::Pod> record = Record(id);
  if (!record.ok()) return record.status();
  record->clear_endpoints();
  for (v1::Endpoint& e : it->second->Specs()) *record->add_endpoints() = std::move(e);
  return registry_.Put(*record);
}

absl::StatusOr<v1::CniAddResponse> PodManager::Add(const v1::CniAddRequest& request) {
  std::lock_guard<std::mutex> lock(mutex_);
  const v1::CniAttachment& at = request.attachment();
  if (absl::Status s = ValidateContainerId(at.container_id()); !s.ok()) return s;
  if (absl::Status s = ValidateIfname(at.ifname()); !s.ok()) return s;
  if (registry_.Get(at.container_id(), at.ifname()).ok()) {
    return absl::AlreadyExistsError(
        absl::StrCat("attachment ", at.container_id(), "/", at.ifname(), ": already added"));
  }
  if (absl::Status s = CheckNetns(request.netns_path()); !s.ok()) return s;
  const std::vector<v1::PodOption> given(request.options().begin(), request.options().end());
  absl::StatusOr<v1::MptcpOptions> options = ParsePodOptions(given, config_);
  if (!options.ok()) return options.status();

  v1::Pod record;
  *record.mutable_pod() = request.pod();
  record.set_container_id(at.container_id());
  record.set_ifname(at.ifname());
  record.set_netns_path(request.netns_path());
  record.set_network_name(request.network_name());
  record.set_socket_path(options_.socket_names.channel);
  if (endpoint_server_ != nullptr) {
    record.set_endpoint_service_address(GrpcTarget(options_.socket_names.endpoint));
  }
  *record.mutable_paths() = request.paths();
  *record.mutable_options() = *options;
  *record.mutable_attach_time() = google::protobuf::util::TimeUtil::GetCurrentTime();
  if (absl::Status s = Serve(record); !s.ok()) return s;
  if (absl::Status s = registry_.Put(record); !s.ok()) {
    (void)datapath_.RemovePod(AttachmentId(at.container_id(), at.ifname()));
    return s;
  }
  v1::CniAddResponse response;
  response.set_socket_path(record.socket_path());
  if (endpoint_server_ != nullptr) {
    response.set_endpoint_service_address(GrpcTarget(options_.socket_names.endpoint));
  }
  *response.mutable_paths() = record.paths();
  return response;
}

absl::Status PodManager::DelLocked(const std::string& container_id, const std::string& ifname) {
  const std::string id = AttachmentId(container_id, ifname);
  if (endpoint_server_ != nullptr) endpoint_server_->Stop(id);
  endpoints_.erase(id);
  const absl::Status removed = datapath_.RemovePod(id);
  if (!removed.ok() && !absl::IsNotFound(removed)) return removed;
  const absl::Status forgotten = registry_.Remove(container_id, ifname);
  if (!forgotten.ok() && !absl::IsNotFound(forgotten)) return forgotten;
  return absl::OkStatus();
}

absl::Status PodManager::Del(const v1::CniDelRequest& request) {
  std::lock_guard<std::mutex> lock(mutex_);
  const v1::CniAttachment& at = request.attachment();
  // CNI DEL must succeed for what is already gone; an id that could never have been added is
  // gone by definition.
  if (!ValidateContainerId(at.container_id()).ok() || !ValidateIfname(at.ifname()).ok()) {
    return absl::OkStatus();
  }
  return DelLocked(at.container_id(), at.ifname());
}

absl::Status PodManager::Check(const v1::CniCheckRequest& request) {
  std::lock_guard<std::mutex> lock(mutex_);
  const v1::CniAttachment& at = request.attachment();
  absl::StatusOr<v1::Pod> record = registry_.Get(at.container_id(), at.ifname());
  if (!record.ok()) return record.status();
  if (record->netns_path() != request.netns_path()) {
    return absl::FailedPreconditionError(absl::StrCat("attachment ", at.container_id(), "/",
                                                      at.ifname(), ": added for netns ",
                                                      record->netns_path()));
  }
  if (absl::Status s = CheckNetns(request.netns_path()); !s.ok()) return s;
  if (request.paths_size() > 0) {
    google::protobuf::util::MessageDifferencer diff;
    diff.set_repeated_field_comparison(google::protobuf::util::MessageDifferencer::AS_SET);
    v1::Pod want;
    *want.mutable_paths() = request.paths();
    v1::Pod have;
    *have.mutable_paths() = record->paths();
    if (!diff.Compare(want, have)) {
      return absl::FailedPreconditionError(
          absl::StrCat("attachment ", at.container_id(), "/", at.ifname(),
                       ": the addresses differ from those it was added with"));
    }
  }
  const std::string id = AttachmentId(at.container_id(), at.ifname());
  for (const channel::PodServiceInfo& p : datapath_.Pods()) {
    if (p.id == id) return absl::OkStatus();
  }
  return absl::FailedPreconditionError(
      absl::StrCat("attachment ", id, ": recorded but not served by the datapath"));
}

absl::StatusOr<v1::CniGcResponse> PodManager::Gc(const v1::CniGcRequest& request) {
  std::lock_guard<std::mutex> lock(mutex_);
  v1::CniGcResponse response;
  for (const v1::Pod& pod : registry_.List()) {
    if (!request.network_name().empty() && pod.network_name() != request.network_name()) continue;
    v1::CniAttachment at;
    at.set_container_id(pod.container_id());
    at.set_ifname(pod.ifname());
    const bool valid =
        std::any_of(request.valid_attachments().begin(), request.valid_attachments().end(),
                    [&](const v1::CniAttachment& v) { return SameAttachment(v, at); });
    if (valid) continue;
    if (absl::Status s = DelLocked(pod.container_id(), pod.ifname()); !s.ok()) return s;
    *response.add_removed_attachments() = at;
  }
  return response;
}

std::vector<std::string> PodManager::Restore() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> log;
  for (const v1::Pod& pod : registry_.List()) {
    const std::string id = AttachmentId(pod.container_id(), pod.ifname());
    absl::Status s = CheckNetns(pod.netns_path());
    if (s.ok()) s = Serve(pod);
    if (s.ok()) {
      log.push_back("pod " + id + ": served again");
      continue;
    }
    log.push_back(absl::StrCat("pod ", id, ": dropped: ", s.ToString()));
    (void)registry_.Remove(pod.container_id(), pod.ifname());
  }
  return log;
}

std::vector<v1::Pod> PodManager::List(const v1::PodRef& filter) {
  std::vector<v1::Pod> pods = registry_.Find(filter);
  const std::vector<channel::PodServiceInfo> live = datapath_.Pods();
  for (v1::Pod& pod : pods) {
    const std::string id = AttachmentId(pod.container_id(), pod.ifname());
    *pod.mutable_options() = EffectiveOptions(pod.options(), config_);
    pod.set_endpoint_count(static_cast<uint32_t>(pod.endpoints_size()));
    for (const channel::PodServiceInfo& p : live) {
      if (p.id != id) continue;
      pod.set_app_count(static_cast<uint32_t>(p.sessions.size()));
      pod.set_connection_count(static_cast<uint32_t>(p.tracked_sockets));
    }
  }
  return pods;
}

}  // namespace braid::agent
