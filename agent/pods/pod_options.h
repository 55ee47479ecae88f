// A pod's per-pod options (proto/braid/v1/README.md, "Per-pod options"): the `cni-args` of its
// Multus network selection or its `braid.io/<name>` annotations, forwarded by braid-cni as text
// and parsed here into the pod's default MptcpOptions. The names and values are the README's
// table; scheduler and path-manager names are the datapath's registries' own
// (mptcp::SchedulerRegistry, mptcp::PathManagerRegistry), path names the agent's config's.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "agent/config.h"
#include "braid/v1/cni.pb.h"
#include "braid/v1/mptcp.pb.h"

namespace braid::agent {

// The options' names, in the README's order: "scheduler", "path-manager", "ndiffports-subflows",
// "paths", "subflows-per-path", "backup-paths", "checksum".
std::span<const std::string_view> PodOptionNames();

// Most subflows per path and ndiffports subflows a pod may ask for (the kernel's
// MPTCP_PM_ADDR_MAX, mptcp::kMaxPmLimit).
inline constexpr uint32_t kMaxPodSubflows = 8;

// Where an option came from, for messages: "cni-args", "pod annotation braid.io/<name>".
std::string PodOptionSourceName(const braid::v1::PodOption& option);

// Parses every option into the MptcpOptions they set; what no option sets stays unset (the
// agent's defaults: EffectiveOptions). Values are exact (`true`, not `True`); list values are
// comma-separated names, blanks around each name ignored. `backup-paths` must be among `paths`
// when both are given (a backup path is one of the selected paths, mptcp.proto).
// InvalidArgument listing every problem at once, one per line after "per-pod options have N
// error(s):", each naming the option, its value and its source: an unknown name (with the
// closest known one), a value outside the table, an unknown path, a path listed twice, the same
// option twice.
absl::StatusOr<braid::v1::MptcpOptions> ParsePodOptions(
    std::span<const braid::v1::PodOption> options, const AgentConfig& config);

// The pod's options with every unset field taken from the agent's config: scheduler and path
// manager (policy and ndiffports subflows) from `mptcp`, every configured path (in config
// order), one subflow per path, the paths whose config says `backup` among the selected ones,
// and the mptcp checksum setting. A field the pod set is kept as it is.
braid::v1::MptcpOptions EffectiveOptions(const braid::v1::MptcpOptions& pod,
                                         const AgentConfig& config);

// The API's enum for a path manager registry name, and back ("kernel" <->
// PATH_MANAGER_POLICY_KERNEL); PATH_MANAGER_POLICY_UNSPECIFIED / "" for anything else.
braid::v1::PathManagerPolicy PathManagerPolicyFromName(std::string_view name);
std::string_view PathManagerPolicyName(braid::v1::PathManagerPolicy policy);

}  // namespace braid::agent
