// The CNI_* environment variables of one invocation (CNI spec, "Parameters"): which are required
// for which verb, their syntax, and the pod in CNI_ARGS (K8S_POD_NAMESPACE, K8S_POD_NAME,
// K8S_POD_UID, as Kubernetes runtimes pass them). Every error here is CNI error 4 and names the
// variables.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "braid/v1/common.pb.h"

namespace braid::cni {

enum class Command { kAdd, kDel, kCheck, kStatus, kGc, kVersion };

// "ADD", "DEL", ...
std::string_view CommandName(Command command);
std::optional<Command> ParseCommand(std::string_view name);

// The process environment, name → value. braid-cni runs host-local with the same environment.
using EnvMap = std::map<std::string, std::string>;

struct CniEnv {
  Command command = Command::kVersion;
  std::string container_id;  // CNI_CONTAINERID
  std::string netns;         // CNI_NETNS; may be empty for DEL
  std::string ifname;        // CNI_IFNAME
  std::string args;          // CNI_ARGS as given
  std::string cni_path;      // CNI_PATH, ':'-separated directories
  v1::PodRef pod;            // from CNI_ARGS; empty fields when not given
};

// Reads and checks the variables `env` holds for its CNI_COMMAND. Required: ADD and CHECK
// CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_PATH; DEL the same but CNI_NETNS (the namespace may
// be gone); GC CNI_PATH; STATUS and VERSION none. Container ids and interface names follow the
// spec's syntax; CNI_ARGS is KEY=VALUE pairs separated by ';'.
absl::StatusOr<CniEnv> ParseEnv(const EnvMap& env);

// The spec's syntax rules, each an error message or nullopt when `text` is fine.
std::optional<std::string> ContainerIdError(std::string_view text);
std::optional<std::string> InterfaceNameError(std::string_view text);

}  // namespace braid::cni
