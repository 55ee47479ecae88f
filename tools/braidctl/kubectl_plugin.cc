#include "tools/braidctl/kubectl_plugin.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "tools/braidctl/args.h"
#include "tools/braidctl/commands.h"
#include "tools/braidctl/process.h"

namespace braid::braidctl {
namespace {

using google::protobuf::Value;

// The value at `path` in nested objects; nullptr when a step is missing, not an object, or null.
const Value* Find(const Value& root, std::initializer_list<std::string_view> path) {
  const Value* at = &root;
  for (const std::string_view key : path) {
    if (at->kind_case() != Value::kStructValue) return nullptr;
    const auto& fields = at->struct_value().fields();
    const auto it = fields.find(std::string(key));
    if (it == fields.end() || it->second.kind_case() == Value::kNullValue) return nullptr;
    at = &it->second;
  }
  return at;
}

std::string StringAt(const Value& root, std::initializer_list<std::string_view> path) {
  const Value* value = Find(root, path);
  return value != nullptr && value->kind_case() == Value::kStringValue ? value->string_value() : "";
}

bool Running(const AgentPod& pod) { return pod.phase == "Running" && !pod.terminating; }

std::string NotRunning(const AgentPod& pod) {
  const std::string state = pod.terminating     ? "terminating"
                            : pod.phase.empty() ? "in an unknown phase"
                                                : pod.phase;
  return "braid-agent pod " + pod.name + (pod.node.empty() ? "" : " on node " + pod.node) + " is " +
         state;
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& part : parts) out += (out.empty() ? "" : ", ") + part;
  return out;
}

std::vector<std::string> KubectlBase(const PluginInvocation& plugin) {
  std::vector<std::string> argv = {"kubectl"};
  if (!plugin.kubeconfig.empty()) argv.insert(argv.end(), {"--kubeconfig", plugin.kubeconfig});
  if (!plugin.context.empty()) argv.insert(argv.end(), {"--context", plugin.context});
  return argv;
}

void Print(std::FILE* f, std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), f);
  std::fflush(f);
}

}  // namespace

absl::StatusOr<PluginInvocation> ParsePluginArgs(const std::vector<std::string>& args) {
  PluginInvocation plugin;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg == "-h" || arg == "--help") {
      plugin.help = true;
      return plugin;
    }
    std::string name = arg;
    std::optional<std::string> value;
    if (const size_t equals = arg.find('='); arg.starts_with("--") && equals != std::string::npos) {
      name = arg.substr(0, equals);
      value = arg.substr(equals + 1);
    }
    std::string* target = nullptr;
    if (name == "--node") {
      target = &plugin.node;
    } else if (name == "--namespace" || name == "-n") {
      target = &plugin.namespace_;
    } else if (name == "--context") {
      target = &plugin.context;
    } else if (name == "--kubeconfig") {
      target = &plugin.kubeconfig;
    } else {
      break;  // braidctl's command line starts here
    }
    if (!value) {
      if (i + 1 >= args.size()) return absl::InvalidArgumentError(name + ": needs a value");
      value = args[++i];
    }
    if (value->empty()) return absl::InvalidArgumentError(name + ": empty value");
    *target = *value;
  }
  plugin.braidctl_args.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
  if (plugin.braidctl_args.empty()) return absl::InvalidArgumentError("no command");
  return plugin;
}

std::string PluginUsageText() {
  return std::string(R"(usage: kubectl braid [--node NODE] [--namespace NS] [--context CONTEXT]
                     [--kubeconfig FILE] COMMAND [ARGS...]

Runs braidctl in the braid-agent pod of a node (kubectl exec), for any braidctl command:
  kubectl braid --node worker-1 connections --subflows
  kubectl braid --node worker-1 capture --path path0 --count 100 -w - > path0.pcap

options (before the command):
  --node NODE          the node whose agent to ask; needed when there are several
  -n, --namespace NS   where the agent runs (default braid-system)
  --context CONTEXT    the kubeconfig context to use
  --kubeconfig FILE    the kubeconfig file to use

braidctl's own usage follows.

)") + UsageText();
}

absl::StatusOr<std::vector<AgentPod>> ParsePodList(std::string_view json) {
  Value root;
  const auto parsed = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &root);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError("kubectl's pod list is not JSON: " + parsed.ToString());
  }
  const Value* items = Find(root, {"items"});
  if (items == nullptr || items->kind_case() != Value::kListValue) {
    return absl::InvalidArgumentError("kubectl's answer has no \"items\" list");
  }
  std::vector<AgentPod> pods;
  for (const Value& item : items->list_value().values()) {
    AgentPod pod;
    pod.name = StringAt(item, {"metadata", "name"});
    pod.node = StringAt(item, {"spec", "nodeName"});
    pod.phase = StringAt(item, {"status", "phase"});
    pod.terminating = Find(item, {"metadata", "deletionTimestamp"}) != nullptr;
    if (!pod.name.empty()) pods.push_back(std::move(pod));
  }
  return pods;
}

absl::StatusOr<std::string> SelectAgentPod(const std::vector<AgentPod>& pods,
                                           const PluginInvocation& plugin) {
  const std::string where = "in namespace " + plugin.namespace_ + " (label " + kAgentSelector + ")";
  if (!plugin.node.empty()) {
    // kubectl's field selector already chose the node; checked again in case it did not.
    std::vector<const AgentPod*> on_node;
    std::vector<std::string> running;
    for (const AgentPod& pod : pods) {
      if (pod.node != plugin.node) continue;
      on_node.push_back(&pod);
      if (Running(pod)) running.push_back(pod.name);
    }
    if (on_node.empty()) {
      return absl::NotFoundError("no braid-agent pod on node " + plugin.node + " " + where);
    }
    if (running.empty()) return absl::FailedPreconditionError(NotRunning(*on_node.front()));
    if (running.size() > 1) {
      std::sort(running.begin(), running.end());
      return absl::FailedPreconditionError("several running braid-agent pods on node " +
                                           plugin.node + ": " + Join(running));
    }
    return running.front();
  }
  if (pods.empty()) return absl::NotFoundError("no braid-agent pod " + where);
  if (pods.size() > 1) {
    std::set<std::string> nodes;
    for (const AgentPod& pod : pods) nodes.insert(pod.node.empty() ? "(unscheduled)" : pod.node);
    return absl::FailedPreconditionError(
        std::to_string(pods.size()) + " braid-agent pods " + where + ", on nodes " +
        Join({nodes.begin(), nodes.end()}) + ": choose one with --node NODE");
  }
  if (!Running(pods.front())) return absl::FailedPreconditionError(NotRunning(pods.front()));
  return pods.front().name;
}

std::vector<std::string> GetPodsArgv(const PluginInvocation& plugin) {
  std::vector<std::string> argv = KubectlBase(plugin);
  argv.insert(argv.end(), {"get", "pods", "-n", plugin.namespace_, "-l", kAgentSelector});
  if (!plugin.node.empty()) {
    argv.insert(argv.end(), {"--field-selector", "spec.nodeName=" + plugin.node});
  }
  argv.insert(argv.end(), {"-o", "json"});
  return argv;
}

std::vector<std::string> ExecArgv(const PluginInvocation& plugin, std::string_view pod) {
  std::vector<std::string> argv = KubectlBase(plugin);
  argv.insert(argv.end(), {"exec", "-n", plugin.namespace_, std::string(pod), "-c", kAgentContainer,
                           "--", "braidctl"});
  argv.insert(argv.end(), plugin.braidctl_args.begin(), plugin.braidctl_args.end());
  return argv;
}

int RunKubectlPlugin(const std::vector<std::string>& args, std::FILE* out, std::FILE* err) {
  absl::StatusOr<PluginInvocation> plugin = ParsePluginArgs(args);
  if (!plugin.ok()) {
    Print(err,
          "kubectl-braid: " + std::string(plugin.status().message()) + "\n\n" + PluginUsageText());
    return kExitUsage;
  }
  if (plugin->help) {
    Print(out, PluginUsageText());
    return kExitOk;
  }
  const std::vector<std::string> get = GetPodsArgv(*plugin);
  absl::StatusOr<CapturedRun> listed = RunCapturingStdout(get);
  if (!listed.ok()) {
    Print(err, "kubectl-braid: " + std::string(listed.status().message()) + "\n");
    return kExitError;
  }
  if (listed->exit_status != 0) {
    // kubectl said why on stderr, which is ours.
    Print(err, "kubectl-braid: `kubectl get pods -n " + plugin->namespace_ +
                   "` failed (exit status " + std::to_string(listed->exit_status) + ")\n");
    return kExitError;
  }
  absl::StatusOr<std::vector<AgentPod>> pods = ParsePodList(listed->stdout_text);
  absl::StatusOr<std::string> pod =
      pods.ok() ? SelectAgentPod(*pods, *plugin) : absl::StatusOr<std::string>(pods.status());
  if (!pod.ok()) {
    Print(err, "kubectl-braid: " + std::string(pod.status().message()) + "\n");
    return kExitError;
  }
  const absl::Status exec = ExecReplacing(ExecArgv(*plugin, *pod));
  Print(err, "kubectl-braid: " + std::string(exec.message()) + "\n");
  return kExitError;
}

}  // namespace braid::braidctl
