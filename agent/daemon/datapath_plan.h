// From the agent's configuration to what the datapath runs (architecture.md §2, §7): the EAL's
// arguments, one port per path (a VF by PCI address, or AF_XDP / AF_PACKET on a netdev), the
// workers and their idle policy, MPTCP, and the apps' socket defaults.
//
// A path's interface starts without addresses: pods bring theirs (CniService Add) and the
// datapath answers ARP / ND for them. The path's gateways become its default routes once a pod
// address of the family gives the interface a connected route.
#pragma once

#include "absl/status/statusor.h"
#include "agent/config.h"
#include "datapath/channel/service/pod_services.h"
#include "datapath/runtime/datapath.h"

namespace braid::agent {

struct DatapathPlan {
  runtime::DatapathConfig datapath;
  channel::PodServicesApp::Config services;
};

// InvalidArgument naming the path for what the datapath cannot run: a VF path without a PCI
// address, a netdev path without a netdev, more than one worker with MPTCP (MPTCP runs on one
// worker for now, datapath.h), an MTU out of range.
absl::StatusOr<DatapathPlan> PlanDatapath(const AgentConfig& config);

// The port spec of path `index` (io/port_spec.h): "0000:03:10.1", "net_af_xdp1,iface=eth1",
// "net_af_packet0,iface=veth0".
std::string PortSpecOf(const PathConfig& path, size_t index);

}  // namespace braid::agent
