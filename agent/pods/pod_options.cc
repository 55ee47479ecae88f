#include "agent/pods/pod_options.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "datapath/mptcp/path_manager/path_manager.h"
#include "datapath/mptcp/scheduler/scheduler.h"

namespace braid::agent {

namespace {

namespace v1 = ::braid::v1;

constexpr std::string_view kScheduler = "scheduler";
constexpr std::string_view kPathManager = "path-manager";
constexpr std::string_view kNdiffportsSubflows = "ndiffports-subflows";
constexpr std::string_view kPaths = "paths";
constexpr std::string_view kSubflowsPerPath = "subflows-per-path";
constexpr std::string_view kBackupPaths = "backup-paths";
constexpr std::string_view kChecksum = "checksum";

constexpr std::array<std::string_view, 7> kOptionNames = {
    kScheduler,   kPathManager, kNdiffportsSubflows, kPaths, kSubflowsPerPath,
    kBackupPaths, kChecksum};

struct PolicyName {
  std::string_view name;
  v1::PathManagerPolicy policy;
};
constexpr std::array<PolicyName, 3> kPolicyNames = {{
    {"kernel", v1::PATH_MANAGER_POLICY_KERNEL},
    {"ndiffports", v1::PATH_MANAGER_POLICY_NDIFFPORTS},
    {"userspace", v1::PATH_MANAGER_POLICY_USERSPACE},
}};

// Option names and values are untrusted text (a pod's annotations): each error stays on one
// line and of bounded length whatever they hold.
constexpr size_t kMaxShownBytes = 64;
std::string Shown(std::string_view text) {
  const bool cut = text.size() > kMaxShownBytes;
  std::string shown = absl::CHexEscape(std::string(text.substr(0, kMaxShownBytes)));
  if (cut) shown += "...";
  return shown;
}

// "scheduler = "bleast" (cni-args)"
std::string Describe(const v1::PodOption& option) {
  return absl::StrCat(Shown(option.name()), " = \"", Shown(option.value()), "\" (",
                      PodOptionSourceName(option), ")");
}

class Errors {
 public:
  void Add(const v1::PodOption& option, std::string_view problem) {
    lines_.push_back(absl::StrCat(Describe(option), ": ", std::string(problem)));
  }
  bool empty() const { return lines_.empty(); }
  absl::Status ToStatus() const {
    return absl::InvalidArgumentError(absl::StrCat("per-pod options have ", lines_.size(),
                                                   lines_.size() == 1 ? " error" : " errors", ":\n",
                                                   absl::StrJoin(lines_, "\n")));
  }

 private:
  std::vector<std::string> lines_;
};

// As the agent's config does for keys: the closest name when it is close enough to be a typo,
// otherwise the whole list.
std::string UnknownNameMessage(std::string_view name) {
  std::string_view best;
  size_t best_distance = SIZE_MAX;
  for (std::string_view known : kOptionNames) {
    const size_t d = EditDistance(name, known);
    if (d < best_distance) {
      best_distance = d;
      best = known;
    }
  }
  if (best_distance <= std::max<size_t>(2, name.size() / 3)) {
    return absl::StrCat("unknown option, did you mean ", std::string(best), "?");
  }
  return absl::StrCat("unknown option, expected one of ",
                      absl::StrJoin(kOptionNames, ", ",
                                    [](std::string* out, std::string_view s) { out->append(s); }));
}

std::string OneOf(const std::vector<std::string>& names) {
  return absl::StrCat("expected one of ", absl::StrJoin(names, ", "));
}

// A JSON number's text as the plugin forwards it; only plain decimal digits are integers here.
std::optional<uint32_t> ParseCount(std::string_view text) {
  if (text.empty() || text.size() > 9) return std::nullopt;
  uint32_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  return value;
}

std::string_view TrimBlanks(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Path names, comma-separated, each a configured path and listed once; nullopt after recording
// every problem.
std::optional<std::vector<std::string>> ParsePathList(const v1::PodOption& option,
                                                      const AgentConfig& config, Errors& errors) {
  std::vector<std::string> known;
  for (const PathConfig& p : config.paths) known.push_back(p.name);
  const std::string known_text =
      known.empty() ? std::string("the node has no paths")
                    : absl::StrCat("the node's paths are ", absl::StrJoin(known, ", "));

  std::vector<std::string> paths;
  bool ok = true;
  std::string_view rest = option.value();
  while (true) {
    const size_t comma = rest.find(',');
    const std::string_view name = TrimBlanks(rest.substr(0, comma));
    if (name.empty()) {
      errors.Add(option, "expected path names separated by commas, found an empty name");
      ok = false;
    } else if (std::find(known.begin(), known.end(), name) == known.end()) {
      errors.Add(option, absl::StrCat("unknown path \"", Shown(name), "\", ", known_text));
      ok = false;
    } else if (std::find(paths.begin(), paths.end(), name) != paths.end()) {
      errors.Add(option, absl::StrCat("path \"", std::string(name), "\" is listed twice"));
      ok = false;
    } else {
      paths.emplace_back(name);
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (!ok) return std::nullopt;
  return paths;
}

std::optional<uint32_t> ParseSubflows(const v1::PodOption& option, Errors& errors) {
  const std::optional<uint32_t> n = ParseCount(option.value());
  if (!n || *n < 1 || *n > kMaxPodSubflows) {
    errors.Add(option, absl::StrCat("expected an integer from 1 to ", kMaxPodSubflows));
    return std::nullopt;
  }
  return n;
}

// The path manager names both the datapath's registry and the API know.
std::vector<std::string> PathManagerNames() {
  std::vector<std::string> names;
  for (const std::string& name : mptcp::PathManagerRegistry().Names()) {
    if (PathManagerPolicyFromName(name) != v1::PATH_MANAGER_POLICY_UNSPECIFIED) {
      names.push_back(name);
    }
  }
  return names;
}

}  // namespace

std::span<const std::string_view> PodOptionNames() { return kOptionNames; }

std::string PodOptionSourceName(const v1::PodOption& option) {
  switch (option.source()) {
    case v1::OPTION_SOURCE_CNI_ARGS:
      return "cni-args";
    case v1::OPTION_SOURCE_POD_ANNOTATION:
      return absl::StrCat("pod annotation braid.io/", Shown(option.name()));
    default:
      return "source not given";
  }
}

v1::PathManagerPolicy PathManagerPolicyFromName(std::string_view name) {
  for (const PolicyName& p : kPolicyNames) {
    if (p.name == name) return p.policy;
  }
  return v1::PATH_MANAGER_POLICY_UNSPECIFIED;
}

std::string_view PathManagerPolicyName(v1::PathManagerPolicy policy) {
  for (const PolicyName& p : kPolicyNames) {
    if (p.policy == policy) return p.name;
  }
  return "";
}

absl::StatusOr<v1::MptcpOptions> ParsePodOptions(std::span<const v1::PodOption> options,
                                                 const AgentConfig& config) {
  Errors errors;
  v1::MptcpOptions result;
  // The first occurrence of each known name, for the "given twice" message and the rules
  // between options.
  std::map<std::string_view, const v1::PodOption*> seen;
  std::optional<std::vector<std::string>> paths;
  std::optional<std::vector<std::string>> backup_paths;

  const mptcp::SchedulerRegistry schedulers;
  for (const v1::PodOption& option : options) {
    const std::string_view name = option.name();
    if (std::find(kOptionNames.begin(), kOptionNames.end(), name) == kOptionNames.end()) {
      errors.Add(option, UnknownNameMessage(name));
      continue;
    }
    if (auto [it, inserted] = seen.emplace(name, &option); !inserted) {
      errors.Add(option, absl::StrCat("given twice, first as ", Describe(*it->second)));
      continue;
    }
    const std::string& value = option.value();
    if (name == kScheduler) {
      if (schedulers.Contains(value)) {
        result.set_scheduler(value);
      } else {
        errors.Add(option, OneOf(schedulers.Names()));
      }
    } else if (name == kPathManager) {
      const std::vector<std::string> known = PathManagerNames();
      if (std::find(known.begin(), known.end(), value) != known.end()) {
        result.mutable_path_manager()->set_policy(PathManagerPolicyFromName(value));
      } else {
        errors.Add(option, OneOf(known));
      }
    } else if (name == kNdiffportsSubflows) {
      if (auto n = ParseSubflows(option, errors)) {
        result.mutable_path_manager()->set_ndiffports_subflows(*n);
      }
    } else if (name == kPaths) {
      paths = ParsePathList(option, config, errors);
      if (paths) *result.mutable_paths() = {paths->begin(), paths->end()};
    } else if (name == kSubflowsPerPath) {
      if (auto n = ParseSubflows(option, errors)) result.set_subflows_per_path(*n);
    } else if (name == kBackupPaths) {
      backup_paths = ParsePathList(option, config, errors);
      if (backup_paths)
        *result.mutable_backup_paths() = {backup_paths->begin(), backup_paths->end()};
    } else if (name == kChecksum) {
      if (value == "true" || value == "false") {
        result.set_checksum(value == "true");
      } else {
        errors.Add(option, "expected true or false");
      }
    }
  }

  // A backup path is one of the pod's selected paths (mptcp.proto MptcpOptions.backup_paths).
  if (paths && backup_paths) {
    for (const std::string& backup : *backup_paths) {
      if (std::find(paths->begin(), paths->end(), backup) == paths->end()) {
        errors.Add(*seen[kBackupPaths],
                   absl::StrCat("path \"", backup, "\" is not among ", Describe(*seen[kPaths])));
      }
    }
  }

  if (!errors.empty()) return errors.ToStatus();
  return result;
}

v1::MptcpOptions EffectiveOptions(const v1::MptcpOptions& pod, const AgentConfig& config) {
  v1::MptcpOptions out = pod;
  if (out.scheduler().empty()) out.set_scheduler(config.mptcp.scheduler);
  v1::PathManagerOptions& pm = *out.mutable_path_manager();
  if (pm.policy() == v1::PATH_MANAGER_POLICY_UNSPECIFIED) {
    pm.set_policy(PathManagerPolicyFromName(config.mptcp.path_manager.policy));
  }
  if (pm.ndiffports_subflows() == 0) {
    pm.set_ndiffports_subflows(config.mptcp.path_manager.ndiffports);
  }
  if (out.paths().empty()) {
    for (const PathConfig& p : config.paths) out.add_paths(p.name);
  }
  if (out.subflows_per_path() == 0) out.set_subflows_per_path(1);
  if (out.backup_paths().empty()) {
    for (const PathConfig& p : config.paths) {
      if (p.backup &&
          std::find(out.paths().begin(), out.paths().end(), p.name) != out.paths().end()) {
        out.add_backup_paths(p.name);
      }
    }
  }
  if (!out.has_checksum()) out.set_checksum(config.mptcp.checksum);
  return out;
}

}  // namespace braid::agent
