// What braidctl prints for each DebugService answer: aligned tables for people (format.h's units),
// or the answer itself as protobuf JSON for scripts (every field, zeros included; enums by name;
// 64-bit integers as strings, as protobuf's JSON mapping says).
#pragma once

#include <google/protobuf/message.h>
#include <google/protobuf/repeated_ptr_field.h>

#include <chrono>
#include <string>

#include "absl/status/statusor.h"
#include "braid/v1/debug.pb.h"
#include "braid/v1/mptcp.pb.h"

namespace braid::braidctl {

struct RenderOptions {
  bool raw = false;                           // bytes as plain integers
  std::chrono::system_clock::time_point now;  // for ages
};

// The agent's summary, its workers and a short view of its paths.
std::string RenderStatus(const v1::GetStatusResponse& status, const RenderOptions& options);
// Every path with all of its fields and device counters.
std::string RenderPaths(const google::protobuf::RepeatedPtrField<v1::PathStatus>& paths,
                        const RenderOptions& options);
std::string RenderPods(const v1::ListPodsResponse& pods, const RenderOptions& options);
// The connections; with `with_subflows`, a second table of their subflows.
std::string RenderConnections(const v1::ListConnectionsResponse& connections, bool with_subflows,
                              const RenderOptions& options);
std::string RenderSubflows(const google::protobuf::RepeatedPtrField<v1::Subflow>& subflows,
                           const RenderOptions& options);
// Counters by their metric name; zeros only with `include_zero`; a WORKER column with
// `per_worker`.
std::string RenderCounters(const v1::ListCountersResponse& counters, bool include_zero,
                           bool per_worker);

// "braid_<subsystem>_<name>_total", with {reason="<reason>"} for a drop reason: the Prometheus
// series the agent exports for the same count.
std::string CounterMetricName(const v1::Counter& counter);
// "error", "warning", "info", "debug"; "-" for unspecified.
std::string LogLevelName(v1::LogLevel level);
// "namespace/name".
std::string PodName(const v1::PodRef& pod);

// The message as indented protobuf JSON, every field printed, ending in '\n'.
absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message);
// {"paths": [...]}: the paths of a GetStatusResponse alone (it reads back as one).
absl::StatusOr<std::string> PathsJson(const v1::GetStatusResponse& status);
// {"client": {"version"}, "agent": {"version", "nodeName"}}; no "agent" when `status` is null.
absl::StatusOr<std::string> VersionJson(std::string_view client_version,
                                        const v1::GetStatusResponse* status);

}  // namespace braid::braidctl
