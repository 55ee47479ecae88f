// One pod's MPTCP endpoints (proto/braid/v1/endpoint.proto, README "EndpointService"): policies,
// not sockets. A listener endpoint (address, port) gives its options to the connections a listen
// there accepts; an outgoing policy (destination prefixes and port ranges) to the pod's matching
// connects — the longest matching prefix wins, then a policy with ports, then the oldest. Options
// an endpoint leaves unset take the pod's, then the agent's. Connections keep the options they
// started with when an endpoint is deleted.
//
// Thread-safe: EndpointService's threads change the table; the datapath's worker asks PolicyFor
// on each listen and connect.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/config.h"
#include "braid/v1/endpoint.pb.h"
#include "braid/v1/mptcp.pb.h"
#include "datapath/channel/service/pod_services.h"
#include "datapath/mptcp/mptcp_config.h"
#include "datapath/wire/address.h"

namespace braid::agent {

class PodEndpoints {
 public:
  // `pod_options`: the pod's own (ParsePodOptions); `addresses`: its addresses on the paths.
  // InvalidArgument when the pod's options cannot make a policy.
  static absl::StatusOr<std::shared_ptr<PodEndpoints>> Create(
      const AgentConfig& config, braid::v1::MptcpOptions pod_options,
      std::vector<channel::PodAddress> addresses);

  // InvalidArgument naming the field (name, address, port, prefix, range, option);
  // AlreadyExists for a name in use, or a listener at the same address and port.
  absl::StatusOr<braid::v1::EndpointStatus> Add(const braid::v1::Endpoint& endpoint);
  absl::Status Remove(const std::string& name);  // NotFound
  absl::StatusOr<braid::v1::EndpointStatus> Get(const std::string& name) const;
  std::vector<braid::v1::EndpointStatus> List() const;  // by creation, oldest first
  // What the registry keeps, to serve them again after a restart (Add each).
  std::vector<braid::v1::Endpoint> Specs() const;

  // The datapath's questions (ServiceScope::policy_for, on_accepted).
  std::shared_ptr<const mptcp::ConnectionPolicy> PolicyFor(const wire::IpAddress& address,
                                                           uint16_t port, bool listen);
  void Accepted(const wire::IpAddress& local, uint16_t port);

  // Live connections by endpoint name, for connection_count (set by the caller from the
  // datapath's connections before List/Get).
  void SetLiveCounts(std::map<std::string, uint32_t> counts);

 private:
  struct Prefix {
    wire::IpAddress address;
    uint8_t len = 0;
  };
  struct Entry {
    braid::v1::EndpointStatus status;
    std::shared_ptr<const mptcp::ConnectionPolicy> policy;
    uint64_t order = 0;
    // Listener.
    std::optional<wire::IpAddress> address;  // nullopt: every address of the pod
    uint16_t port = 0;
    // Outgoing.
    std::vector<Prefix> prefixes;  // empty: every destination
    std::vector<std::pair<uint16_t, uint16_t>> ports;
  };

  PodEndpoints(const AgentConfig& config, braid::v1::MptcpOptions pod_options,
               std::vector<channel::PodAddress> addresses,
               std::shared_ptr<const mptcp::ConnectionPolicy> default_policy);
  absl::StatusOr<Entry> Compile(const braid::v1::Endpoint& endpoint) const;
  braid::v1::EndpointStatus StatusOf(const Entry& e) const;

  const AgentConfig& config_;
  const braid::v1::MptcpOptions pod_options_;
  const std::vector<channel::PodAddress> addresses_;
  const std::shared_ptr<const mptcp::ConnectionPolicy> default_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;
  std::map<std::string, uint32_t> live_;
  uint64_t next_order_ = 0;
};

}  // namespace braid::agent
