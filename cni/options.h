// Per-pod options (proto/braid/v1/README.md, "Per-pod options"; architecture.md §7): the
// `cni-args` of the pod's Multus network selection, which arrive as the configuration's
// `args.cni`, and the pod's `braid.io/*` annotations, which containerd passes in
// `runtimeConfig["io.kubernetes.cri.pod-annotations"]` to a plugin that declares that capability.
// The plugin forwards them as text and the agent parses them, so a new option needs no new plugin.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "braid/v1/cni.pb.h"
#include "cni/json.h"

namespace braid::cni {

inline constexpr std::string_view kAnnotationPrefix = "braid.io/";
inline constexpr std::string_view kPodAnnotationsCapability = "io.kubernetes.cri.pod-annotations";

// An option's value as text: a string as it is, a number or boolean as its JSON text, a list of
// strings joined with ','. Anything else (null, an object, a list holding a non-string) is CNI
// error 7 naming `where`.
absl::StatusOr<std::string> OptionValueText(const JsonValue& value, std::string_view where);

// Every option of `config`: args.cni's entries (source CNI_ARGS), then the braid.io/* pod
// annotations (source POD_ANNOTATION, name without the prefix), each sorted by name; other
// annotations are not Braid's and are skipped. The same name from both is forwarded twice: the
// agent refuses it and says where each came from.
absl::StatusOr<std::vector<v1::PodOption>> PodOptions(const JsonValue& config);

}  // namespace braid::cni
