// What the agent does to the node's SR-IOV devices before the datapath starts (issue: the agent
// owns the VFs): each configured PF gets its VF count (sriov.pfs; VFs in use are never
// destroyed: a change between two non-zero counts is refused), and each vf path's VF is bound to
// vfio-pci when sriov.bind_vfio is set, so that DPDK can open it.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "agent/config.h"
#include "sriov/sysfs.h"

namespace braid::agent {

// Errors name the PF or the path and the step; the steps before a failure stay done (each is
// idempotent: the agent's next start does them again). `log` gets one line per change.
absl::Status PrepareSriov(const AgentConfig& config, sriov::SysfsRoot& root,
                          std::vector<std::string>& log);

}  // namespace braid::agent
