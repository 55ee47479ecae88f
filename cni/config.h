// braid-cni's network configuration (cni/README.md documents every key): the paths with their
// address ranges and routes, the agent's socket, host-local as the IPAM plugin, and what the
// runtime adds per invocation (args, runtimeConfig, prevResult, cni.dev/valid-attachments).
// Every error is CNI error 7 (6 when the document is not an object) and names the key:
// "paths[1].ranges[0].subnet: ...".
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "braid/v1/cni.pb.h"
#include "cni/env.h"
#include "cni/ip.h"
#include "cni/json.h"

namespace braid::cni {

inline constexpr std::string_view kDefaultAgentSocket = "/run/braid/agent.sock";
inline constexpr std::chrono::milliseconds kDefaultAgentTimeout = std::chrono::seconds(10);
inline constexpr double kMaxAgentTimeoutSeconds = 300;

// One host-local range (host-local's own keys and meaning).
struct RangeConfig {
  IpPrefix subnet;  // host bits clear
  std::optional<IpAddress> gateway;
  std::optional<IpAddress> range_start;
  std::optional<IpAddress> range_end;
};

// A route through a path; `gw` empty: the gateway of the path's address of the same family.
struct RouteConfig {
  IpPrefix dst;
  std::optional<IpAddress> gw;
};

// A path as the network configuration names it (architecture.md §7): the agent's path of the
// same name, the ranges its pods' addresses come from and the routes through it.
struct PathConfig {
  std::string name;
  std::vector<RangeConfig> ranges;
  std::vector<RouteConfig> routes;
};

struct NetworkConfig {
  std::string cni_version;  // the negotiated one (version.h)
  std::string name;
  std::string agent_socket = std::string(kDefaultAgentSocket);
  std::chrono::milliseconds agent_timeout = kDefaultAgentTimeout;
  std::vector<PathConfig> paths;
  // The `ipam` object as given: type "host-local" and host-local's other keys (dataDir, ...).
  JsonValue ipam;
  // ADD only: per-pod options (options.h).
  std::vector<v1::PodOption> options;
  // The previous result: chained mode's ADD, and CHECK (required there) and DEL.
  std::optional<JsonValue> prev_result;
  // GC only: `cni.dev/valid-attachments` (or libcni's older `cni.dev/attachments`).
  std::vector<v1::CniAttachment> valid_attachments;
};

// Parses and checks `config` for `command`, answered in `cni_version`.
absl::StatusOr<NetworkConfig> ParseNetworkConfig(const JsonValue& config, Command command,
                                                 std::string_view cni_version);

// host-local's configuration in `version`: the network's name and `ipam` with `ranges` built
// from the paths, one range set per path and address family, in path order, so that host-local
// gives each path one address of each family it has ranges for.
JsonValue HostLocalConfig(const NetworkConfig& config, std::string_view version);

// The index of the path whose ranges hold `address`, or nullopt. Paths' subnets never overlap.
std::optional<size_t> PathOfAddress(const NetworkConfig& config, const IpAddress& address);

}  // namespace braid::cni
