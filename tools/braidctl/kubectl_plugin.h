// `kubectl braid`: braidctl installed as the kubectl plugin `kubectl-braid` (the same binary,
// chosen by argv[0]) runs on the user's machine, finds the braid-agent pod of a node and runs
// braidctl in it:
//
//   kubectl braid [--node NODE] [--namespace NS] [--context CTX] [--kubeconfig FILE] COMMAND ...
//   → kubectl get pods -n NS -l app.kubernetes.io/name=braid-agent
//                      [--field-selector spec.nodeName=NODE] -o json
//   → kubectl exec -n NS POD -c braid-agent -- braidctl COMMAND ...
//
// The exec replaces this process (execvp), so braidctl's stdout (pcap bytes too), stderr and exit
// status are the user's. Without --node there must be exactly one agent pod; several is an error
// naming their nodes.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace braid::braidctl {

inline constexpr char kDefaultAgentNamespace[] = "braid-system";
inline constexpr char kAgentSelector[] = "app.kubernetes.io/name=braid-agent";
inline constexpr char kAgentContainer[] = "braid-agent";

struct PluginInvocation {
  std::string node;  // empty: the only agent pod
  std::string namespace_ = kDefaultAgentNamespace;
  std::string context;     // kubectl --context; empty: kubectl's current one
  std::string kubeconfig;  // kubectl --kubeconfig; empty: kubectl's default
  bool help = false;
  std::vector<std::string> braidctl_args;  // everything after the plugin's options
};

// The plugin's options come first; the first argument that is not one of them (or what follows
// `--`) starts braidctl's command line. INVALID_ARGUMENT (usage error) for a missing value or no
// command.
absl::StatusOr<PluginInvocation> ParsePluginArgs(const std::vector<std::string>& args);
std::string PluginUsageText();

// One pod of `kubectl get pods -o json`, as far as choosing one needs.
struct AgentPod {
  std::string name;
  std::string node;          // spec.nodeName; empty while unscheduled
  std::string phase;         // status.phase: "Running", "Pending", ...
  bool terminating = false;  // metadata.deletionTimestamp set
};

// The items of a pod list. INVALID_ARGUMENT when `json` is not one.
absl::StatusOr<std::vector<AgentPod>> ParsePodList(std::string_view json);

// The pod to run braidctl in. NOT_FOUND: no agent pod (on that node); FAILED_PRECONDITION: the
// only candidate is not running, or several pods and no --node (the message names their nodes).
absl::StatusOr<std::string> SelectAgentPod(const std::vector<AgentPod>& pods,
                                           const PluginInvocation& plugin);

// kubectl's command lines, "kubectl" first.
std::vector<std::string> GetPodsArgv(const PluginInvocation& plugin);
std::vector<std::string> ExecArgv(const PluginInvocation& plugin, std::string_view pod);

// Runs the plugin; returns only on failure (1, or 2 for a usage error) or for --help (0): on
// success this process becomes `kubectl exec`.
int RunKubectlPlugin(const std::vector<std::string>& args, std::FILE* out, std::FILE* err);

}  // namespace braid::braidctl
