#include "agent/daemon/endpoints.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/daemon/pod_manager.h"
#include "agent/pods/pod_options.h"
#include "datapath/mptcp/path_manager/path_manager.h"
#include "datapath/mptcp/scheduler/scheduler.h"
#include "google/protobuf/util/time_util.h"

namespace braid::agent {
namespace {

namespace v1 = braid::v1;

// Fields the endpoint sets replace the pod's.
v1::MptcpOptions Merge(const v1::MptcpOptions& pod, const v1::MptcpOptions& endpoint) {
  v1::MptcpOptions out = pod;
  if (!endpoint.scheduler().empty()) out.set_scheduler(endpoint.scheduler());
  if (endpoint.path_manager().policy() != v1::PATH_MANAGER_POLICY_UNSPECIFIED) {
    out.mutable_path_manager()->set_policy(endpoint.path_manager().policy());
  }
  if (endpoint.path_manager().ndiffports_subflows() != 0) {
    out.mutable_path_manager()->set_ndiffports_subflows(
        endpoint.path_manager().ndiffports_subflows());
  }
  if (!endpoint.paths().empty()) *out.mutable_paths() = endpoint.paths();
  if (endpoint.subflows_per_path() != 0) out.set_subflows_per_path(endpoint.subflows_per_path());
  if (!endpoint.backup_paths().empty()) *out.mutable_backup_paths() = endpoint.backup_paths();
  if (endpoint.has_checksum()) out.set_checksum(endpoint.checksum());
  return out;
}

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
  });
}

bool InPrefix(const wire::IpAddress& a, const wire::IpAddress& prefix, uint8_t len) {
  if (a.index() != prefix.index()) return false;
  auto bytes = [](const wire::IpAddress& x) {
    std::vector<uint8_t> out;
    if (const auto* v4 = std::get_if<wire::Ipv4Address>(&x)) {
      out.assign(v4->bytes.begin(), v4->bytes.end());
    } else {
      const auto& v6 = std::get<wire::Ipv6Address>(x);
      out.assign(v6.bytes.begin(), v6.bytes.end());
    }
    return out;
  };
  const std::vector<uint8_t> x = bytes(a), p = bytes(prefix);
  for (uint8_t bit = 0; bit < len; ++bit) {
    const uint8_t mask = static_cast<uint8_t>(0x80 >> (bit % 8));
    if ((x[bit / 8] & mask) != (p[bit / 8] & mask)) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::shared_ptr<PodEndpoints>> PodEndpoints::Create(
    const AgentConfig& config, v1::MptcpOptions pod_options,
    std::vector<channel::PodAddress> addresses) {
  absl::StatusOr<mptcp::ConnectionPolicy> policy =
      PodPolicy(EffectiveOptions(pod_options, config), addresses, config);
  if (!policy.ok()) return policy.status();
  return std::shared_ptr<PodEndpoints>(
      new PodEndpoints(config, std::move(pod_options), std::move(addresses),
                       std::make_shared<const mptcp::ConnectionPolicy>(std::move(*policy))));
}

PodEndpoints::PodEndpoints(const AgentConfig& config, v1::MptcpOptions pod_options,
                           std::vector<channel::PodAddress> addresses,
                           std::shared_ptr<const mptcp::ConnectionPolicy> default_policy)
    : config_(config),
      pod_options_(std::move(pod_options)),
      addresses_(std::move(addresses)),
      default_(std::move(default_policy)) {}

absl::StatusOr<PodEndpoints::Entry> PodEndpoints::Compile(const v1::Endpoint& ep) const {
  const std::string where = "endpoint \"" + ep.name() + "\"";
  if (!ValidName(ep.name())) {
    return absl::InvalidArgumentError(where +
                                      ": name: 1 to 63 of a-z, 0-9, '-', '.', '_' expected");
  }
  Entry e;
  if (ep.has_listener()) {
    const v1::ListenerSpec& l = ep.listener();
    if (l.port() == 0 || l.port() > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": listener.port: ", l.port(), " (1..65535)"));
    }
    e.port = static_cast<uint16_t>(l.port());
    if (!l.address().empty()) {
      const std::optional<wire::IpAddress> a = wire::ParseIpAddress(l.address());
      const bool ours =
          a && std::any_of(addresses_.begin(), addresses_.end(),
                           [&](const channel::PodAddress& p) { return p.address == *a; });
      if (!ours) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": listener.address: ", l.address(),
                                                       " is not one of the pod's addresses"));
      }
      e.address = *a;
    }
  } else if (ep.has_outgoing()) {
    const v1::OutgoingPolicySpec& o = ep.outgoing();
    for (int i = 0; i < o.destination_prefixes_size(); ++i) {
      const std::string& text = o.destination_prefixes(i);
      const size_t slash = text.find('/');
      const std::optional<wire::IpAddress> a =
          wire::ParseIpAddress(std::string_view(text).substr(0, slash));
      int len = -1;
      if (a && slash != std::string::npos && slash + 1 < text.size() && text.size() - slash <= 4) {
        len = 0;
        for (char c : text.substr(slash + 1)) {
          len = (c >= '0' && c <= '9' && len >= 0) ? len * 10 + (c - '0') : -1;
        }
      }
      const int max = a && wire::IsIpv4(*a) ? 32 : 128;
      if (!a || len < 0 || len > max) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": outgoing.destination_prefixes[", i,
                                                       "]: \"", text,
                                                       "\" is not an address/prefix-length"));
      }
      e.prefixes.push_back({*a, static_cast<uint8_t>(len)});
    }
    for (int i = 0; i < o.destination_ports_size(); ++i) {
      const v1::PortRange& r = o.destination_ports(i);
      if (r.first() == 0 || r.last() > 65535 || r.first() > r.last()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": outgoing.destination_ports[", i,
                                                       "]: ", r.first(), "-", r.last(),
                                                       " (1 <= first <= last <= 65535)"));
      }
      e.ports.push_back({static_cast<uint16_t>(r.first()), static_cast<uint16_t>(r.last())});
    }
  } else {
    return absl::InvalidArgumentError(where + ": neither a listener nor an outgoing policy");
  }
  const v1::MptcpOptions& o = ep.options();
  if (!o.scheduler().empty() && !mptcp::SchedulerRegistry().Contains(o.scheduler())) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": options.scheduler: unknown \"", o.scheduler(), "\""));
  }
  if (o.subflows_per_path() > kMaxPodSubflows ||
      o.path_manager().ndiffports_subflows() > kMaxPodSubflows) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": options: at most ", kMaxPodSubflows, " subflows"));
  }
  const v1::MptcpOptions effective = EffectiveOptions(Merge(pod_options_, o), config_);
  absl::StatusOr<mptcp::ConnectionPolicy> policy = PodPolicy(effective, addresses_, config_);
  if (!policy.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": options: ", policy.status().message()));
  }
  policy->name = ep.name();
  e.policy = std::make_shared<const mptcp::ConnectionPolicy>(std::move(*policy));
  *e.status.mutable_endpoint() = ep;
  *e.status.mutable_effective_options() = effective;
  *e.status.mutable_create_time() = google::protobuf::util::TimeUtil::GetCurrentTime();
  return e;
}

absl::StatusOr<v1::EndpointStatus> PodEndpoints::Add(const v1::Endpoint& endpoint) {
  absl::StatusOr<Entry> e = Compile(endpoint);
  if (!e.ok()) return e.status();
  std::lock_guard<std::mutex> lock(mutex_);
  if (entries_.count(endpoint.name()) != 0) {
    return absl::AlreadyExistsError("endpoint \"" + endpoint.name() + "\": exists");
  }
  if (endpoint.has_listener()) {
    for (const auto& [name, other] : entries_) {
      if (other.status.endpoint().has_listener() && other.port == e->port &&
          other.address == e->address) {
        return absl::AlreadyExistsError(absl::StrCat(
            "endpoint \"", endpoint.name(), "\": endpoint \"", name, "\" has the same listener"));
      }
    }
  }
  e->order = next_order_++;
  const v1::EndpointStatus status = StatusOf(*e);
  entries_.emplace(endpoint.name(), std::move(*e));
  return status;
}

absl::Status PodEndpoints::Remove(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (entries_.erase(name) == 0) {
    return absl::NotFoundError("endpoint \"" + name + "\": not found");
  }
  return absl::OkStatus();
}

v1::EndpointStatus PodEndpoints::StatusOf(const Entry& e) const {
  v1::EndpointStatus s = e.status;
  auto it = live_.find(e.status.endpoint().name());
  s.set_connection_count(it == live_.end() ? 0 : it->second);
  return s;
}

absl::StatusOr<v1::EndpointStatus> PodEndpoints::Get(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(name);
  if (it == entries_.end()) return absl::NotFoundError("endpoint \"" + name + "\": not found");
  return StatusOf(it->second);
}

std::vector<v1::EndpointStatus> PodEndpoints::List() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<const Entry*> order;
  for (const auto& [name, e] : entries_) order.push_back(&e);
  std::sort(order.begin(), order.end(),
            [](const Entry* a, const Entry* b) { return a->order < b->order; });
  std::vector<v1::EndpointStatus> out;
  for (const Entry* e : order) out.push_back(StatusOf(*e));
  return out;
}

std::vector<v1::Endpoint> PodEndpoints::Specs() const {
  std::vector<v1::Endpoint> out;
  for (const v1::EndpointStatus& s : List()) out.push_back(s.endpoint());
  return out;
}

std::shared_ptr<const mptcp::ConnectionPolicy> PodEndpoints::PolicyFor(
    const wire::IpAddress& address, uint16_t port, bool listen) {
  std::lock_guard<std::mutex> lock(mutex_);
  Entry* best = nullptr;
  int best_len = -1;
  bool best_ports = false;
  for (auto& [name, e] : entries_) {
    if (listen) {
      // A listen at a specific address matches an endpoint there or one for every address; a
      // wildcard listen (listening at each of the pod's addresses) asks per address.
      if (!e.status.endpoint().has_listener() || e.port != port) continue;
      if (e.address && *e.address != address) continue;
      const int len = e.address ? 1 : 0;
      if (len > best_len || (len == best_len && e.order < best->order)) {
        best = &e;
        best_len = len;
      }
      continue;
    }
    if (!e.status.endpoint().has_outgoing()) continue;
    int len = e.prefixes.empty() ? 0 : -1;
    for (const Prefix& p : e.prefixes) {
      if (InPrefix(address, p.address, p.len)) len = std::max<int>(len, p.len);
    }
    if (len < 0) continue;
    const bool has_ports = !e.ports.empty();
    if (has_ports && std::none_of(e.ports.begin(), e.ports.end(), [&](const auto& r) {
          return port >= r.first && port <= r.second;
        })) {
      continue;
    }
    // The longest prefix, then a policy with ports, then the oldest.
    const bool better = best == nullptr || len > best_len ||
                        (len == best_len && has_ports && !best_ports) ||
                        (len == best_len && has_ports == best_ports && e.order < best->order);
    if (better) {
      best = &e;
      best_len = len;
      best_ports = has_ports;
    }
  }
  if (best == nullptr) return default_;
  if (!listen) {
    best->status.set_connections_total(best->status.connections_total() + 1);
  }
  return best->policy;
}

void PodEndpoints::Accepted(const wire::IpAddress& local, uint16_t port) {
  std::lock_guard<std::mutex> lock(mutex_);
  Entry* best = nullptr;
  for (auto& [name, e] : entries_) {
    if (!e.status.endpoint().has_listener() || e.port != port) continue;
    if (e.address && *e.address != local) continue;
    if (best == nullptr || (e.address && !best->address) ||
        (e.address.has_value() == best->address.has_value() && e.order < best->order)) {
      best = &e;
    }
  }
  if (best != nullptr) best->status.set_connections_total(best->status.connections_total() + 1);
}

void PodEndpoints::SetLiveCounts(std::map<std::string, uint32_t> counts) {
  std::lock_guard<std::mutex> lock(mutex_);
  live_ = std::move(counts);
}

}  // namespace braid::agent
