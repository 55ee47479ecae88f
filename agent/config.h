// braid-agent's configuration (architecture.md §8): one YAML file, every option with its default
// in one table (config_options.h) that drives the parser, the validation messages and the
// generated reference docs/agent-config.md. Where the datapath has its own settings struct
// (mptcp::MptcpConfig, runtime::IdleConfig, channel::Geometry, channel::ServiceLimits) the agent
// holds that struct itself, so the defaults are the datapath's and cannot drift, and the
// struct's own Validate() runs on the parsed values.
//
// Errors name the full key (`paths[1].pci`), the value and what was expected; every error of a
// file is reported at once, one per line.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "datapath/channel/layout.h"
#include "datapath/channel/service/service.h"
#include "datapath/channel/service/service_app.h"
#include "datapath/mptcp/mptcp_config.h"
#include "datapath/net/interface.h"
#include "datapath/runtime/idle_policy.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/address.h"

namespace braid::agent {

// How the datapath reaches a path's wire: an SR-IOV VF bound to vfio-pci (by PCI address), or a
// kernel netdev through AF_XDP or AF_PACKET (laptops, CI, veths).
enum class PathKind : uint8_t { kVf, kAfXdp, kAfPacket };
std::span<const std::string_view> PathKindNames();  // "vf", "af_xdp", "af_packet"

enum class LogLevel : uint8_t { kError, kWarning, kInfo, kDebug };
std::span<const std::string_view> LogLevelNames();  // "error", "warning", "info", "debug"

// The idle modes' config names, as runtime::ParseIdleMode reads them: "busy", "adaptive".
std::span<const std::string_view> IdleModeNames();

// One uplink the datapath owns (architecture.md §7).
struct PathConfig {
  std::string name;  // required; unique; how the network config and the API name the path
  PathKind kind = PathKind::kVf;
  std::string pci;     // kind vf: the VF's PCI address, "0000:03:10.1"
  std::string netdev;  // kind af_xdp / af_packet: the kernel interface
  // The path's subnets (network addresses, host bits clear): pods get addresses from them.
  std::optional<net::Ipv4Cidr> ipv4_subnet;
  std::optional<net::Ipv6Cidr> ipv6_subnet;
  // Default gateways on the path; each inside the subnet of its family.
  std::optional<wire::Ipv4Address> ipv4_gateway;
  std::optional<wire::Ipv6Address> ipv6_gateway;
  uint32_t mtu = 1500;
  bool backup = false;  // subflows over this path are backups (MP_JOIN B flag, RFC 8684 §3.2)
};

// A physical function whose VF count the agent sets at start.
struct SriovPfConfig {
  std::string netdev;  // required; the PF's interface
  uint32_t num_vfs = 0;
};

struct AgentConfig {
  struct Node {
    std::string name;  // empty: the host name
    std::string state_dir = "/var/lib/braid";
    std::string run_dir = "/run/braid";
  } node;

  struct Api {
    std::string cni_socket = "/run/braid/agent.sock";
    // DebugService shares the CNI socket by default (proto/braid/v1/README.md).
    std::string debug_socket = "/run/braid/agent.sock";
    // Prometheus /metrics and the /healthz and /readyz endpoints.
    std::string metrics_listen = "0.0.0.0:9470";
  } api;

  struct Datapath {
    uint32_t workers = 1;
    std::vector<uint32_t> lcores;  // empty: the EAL's default (every core)
    bool hugepages = false;        // false: --no-huge
    uint32_t memory_mb = 512;
    std::string huge_dir;  // empty: the EAL finds hugetlbfs itself
    uint32_t rx_desc = 1024;
    uint32_t tx_desc = 1024;
    uint32_t rx_burst = 32;
    runtime::IdleConfig idle;
    tcp::Duration link_timeout = std::chrono::seconds(5);
  } datapath;

  std::vector<PathConfig> paths;

  // The MPTCP layer of every worker, and the congestion control of its subflows (per-subflow
  // "cubic"/"newreno", or coupled "lia"/"olia", RFC 6356).
  mptcp::MptcpConfig mptcp;
  std::string congestion_control = "cubic";

  struct Channel {
    channel::Geometry geometry = channel::DefaultServiceGeometry();
    channel::ServiceLimits limits;
  } channel;

  struct Sriov {
    std::string sysfs_root = "/";
    bool bind_vfio = true;  // move the VFs of vf paths to vfio-pci at start
    std::vector<SriovPfConfig> pfs;
  } sriov;

  struct Log {
    LogLevel level = LogLevel::kInfo;
  } log;
};

// Parses and validates a whole configuration. An empty document gives the defaults (and no
// paths). InvalidArgument listing every problem, one per line after a first line
// "<source> has N error(s):"; `source` names the file in LoadConfig.
absl::StatusOr<AgentConfig> ParseConfig(std::string_view yaml,
                                        std::string_view source = "agent config");
// Reads `path` and parses it; NotFound / PermissionDenied naming the file when it cannot be read.
absl::StatusOr<AgentConfig> LoadConfig(const std::string& path);

// Levenshtein distance: how the agent's messages find the name a typo meant ("did you mean").
size_t EditDistance(std::string_view a, std::string_view b);

// The reference of every option (docs/agent-config.md), generated from the option table.
std::string ConfigReference();

}  // namespace braid::agent
