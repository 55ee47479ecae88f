// The agent's pods (architecture.md §6-7): what CniService's verbs do. ADD checks the pod's
// network namespace, parses its options, binds the channel socket inside the namespace, gives
// the datapath the pod's addresses (one per path and family, from host-local through braid-cni)
// and its MPTCP policy, and records the pod durably; any failure undoes every step. DEL undoes
// it all and succeeds when things are already gone. CHECK compares. GC removes the attachments
// the runtime no longer knows.
//
// Restart (documented in agent/README.md): the datapath lives in the agent's process, so an
// agent restart ends every live connection — the pods' apps see their channel gone
// (ECONNABORTED on open sockets) and their peers are reset when they next send. The pods keep
// working: at start Restore serves every recorded pod whose namespace still exists again (its
// addresses, its socket, its options), so the apps' next sockets attach to the new datapath;
// records of pods whose namespace is gone are dropped.
//
// Thread-safe: CNI calls are serialized (the runtime calls them rarely; each one is a few
// system calls and one round trip to the worker).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/config.h"
#include "agent/pods/netns.h"
#include "agent/pods/pod_registry.h"
#include "braid/v1/cni.pb.h"
#include "braid/v1/debug.pb.h"
#include "datapath/channel/service/pod_services.h"
#include "datapath/mptcp/mptcp_config.h"

namespace braid::agent {
class EndpointServer;
class PodEndpoints;
}  // namespace braid::agent

namespace braid::agent {

// What PodManager needs of the datapath: PodServicesApp, or a test double.
class PodDatapath {
 public:
  virtual ~PodDatapath() = default;
  virtual absl::Status AddPod(channel::PodServiceSpec spec) = 0;
  virtual absl::Status RemovePod(const std::string& id) = 0;
  virtual std::vector<channel::PodServiceInfo> Pods() = 0;
};

// The datapath's id of an attachment: "<container id>/<ifname>".
std::string AttachmentId(std::string_view container_id, std::string_view ifname);

// The MPTCP policy of a pod (mptcp.proto MptcpOptions, effective): its scheduler; its path
// manager, whose endpoints are the pod's addresses on its selected paths (signal and subflow, so
// that it announces them as a server and opens subflows from them as a client; backup on backup
// paths; subflows-per-path extra subflow-only endpoints of the same address); limits to match.
// InvalidArgument for a path the pod has no address on.
absl::StatusOr<mptcp::ConnectionPolicy> PodPolicy(const braid::v1::MptcpOptions& options,
                                                  const std::vector<channel::PodAddress>& addresses,
                                                  const AgentConfig& config);

class PodManager {
 public:
  struct Options {
    PodSocketNames socket_names;  // the names bound in each pod's namespace
  };
  PodManager(const AgentConfig& config, PodRegistry& registry, PodDatapath& datapath,
             Options options);

  absl::StatusOr<braid::v1::CniAddResponse> Add(const braid::v1::CniAddRequest& request);
  absl::Status Del(const braid::v1::CniDelRequest& request);
  absl::Status Check(const braid::v1::CniCheckRequest& request);
  absl::StatusOr<braid::v1::CniGcResponse> Gc(const braid::v1::CniGcRequest& request);

  // Serves every recorded pod again (see the header comment); one line per pod for the log.
  std::vector<std::string> Restore();

  // The records, with the live counts from the datapath and the effective options filled in.
  std::vector<braid::v1::Pod> List(const braid::v1::PodRef& filter);

  // EndpointService: pods served from now on get their endpoint socket served by `server` (set
  // once, before Restore); without one the name is not bound.
  void SetEndpointServer(EndpointServer* server) { endpoint_server_ = server; }
  // A pod's endpoints by attachment id; NotFound when it is not attached.
  absl::StatusOr<std::shared_ptr<PodEndpoints>> Endpoints(const std::string& id);
  // Persists the pod's endpoints in its record.
  absl::Status SaveEndpoints(const std::string& id);
  // A pod's record by attachment id.
  absl::StatusOr<braid::v1::Pod> Record(const std::string& id);

 private:
  // The pod's addresses on the datapath's paths, checked against the paths' subnets.
  absl::StatusOr<std::vector<channel::PodAddress>> Addresses(
      const google::protobuf::RepeatedPtrField<braid::v1::PathIpConfig>& paths) const;
  // Binds the pod's socket in its namespace and starts its service; nothing stays on failure.
  absl::Status Serve(const braid::v1::Pod& record);
  absl::Status DelLocked(const std::string& container_id, const std::string& ifname);

  const AgentConfig& config_;
  PodRegistry& registry_;
  PodDatapath& datapath_;
  Options options_;
  EndpointServer* endpoint_server_ = nullptr;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<PodEndpoints>> endpoints_;  // by attachment id
};

}  // namespace braid::agent
