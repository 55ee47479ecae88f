#include "agent/config_options.h"

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "datapath/mptcp/path_manager/path_manager.h"
#include "datapath/mptcp/scheduler/scheduler.h"
#include "datapath/tcp/congestion_control.h"
#include "sriov/pci_address.h"

namespace braid::agent {
namespace {

using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr int64_t Ns(tcp::Duration d) { return d.count(); }

// --- String checks ---

bool IsAbsolutePath(std::string_view v) {
  return !v.empty() && v.front() == '/' && v.find('\0') == std::string_view::npos;
}
const StringCheck kAbsolutePath{+[] { return std::string("an absolute path"); }, IsAbsolutePath};
const StringCheck kAbsolutePathOrEmpty{
    +[] { return std::string("an absolute path, or empty"); },
    +[](std::string_view v) { return v.empty() || IsAbsolutePath(v); }};

bool IsListenAddress(std::string_view v) {
  const size_t colon = v.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string_view host = v.substr(0, colon);
  uint32_t port = 0;
  if (!absl::SimpleAtoi(std::string(v.substr(colon + 1)), &port) || port == 0 || port > 65535) {
    return false;
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return wire::Ipv6Address::Parse(host.substr(1, host.size() - 2)).has_value();
  }
  return wire::Ipv4Address::Parse(host).has_value();
}
const StringCheck kListenAddress{
    +[] { return std::string("an IP address and port such as 0.0.0.0:9470 or [::]:9470"); },
    IsListenAddress};

const StringCheck kPciAddress{
    +[] { return std::string("a PCI address DDDD:BB:DD.F such as 0000:03:10.1"); },
    +[](std::string_view v) { return sriov::PciAddress::Parse(v).has_value(); }};

// The kernel's dev_valid_name: 1 to IFNAMSIZ-1 characters, not "." or "..", no '/', ':' or
// whitespace.
const StringCheck kNetdev{
    +[] {
      return std::string("an interface name (1 to 15 characters, no '/', ':' or whitespace)");
    },
    +[](std::string_view v) {
      if (v.empty() || v.size() > 15 || v == "." || v == "..") return false;
      return v.find_first_of("/: \t\n\r\f\v") == std::string_view::npos;
    }};

bool IsNameChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }
const StringCheck kPathName{+[] { return std::string("1 to 32 characters from a-z, 0-9 and '-'"); },
                            +[](std::string_view v) {
                              if (v.empty() || v.size() > 32) return false;
                              for (char c : v) {
                                if (!IsNameChar(c)) return false;
                              }
                              return true;
                            }};

// A Kubernetes node name (a DNS-1123 subdomain), or empty for the host name.
const StringCheck kNodeName{
    +[] { return std::string("empty, or up to 253 characters from a-z, 0-9, '-' and '.'"); },
    +[](std::string_view v) {
      if (v.size() > 253) return false;
      for (char c : v) {
        if (!IsNameChar(c) && c != '.') return false;
      }
      return true;
    }};

const StringCheck kScheduler{
    +[] {
      return absl::StrCat("a scheduler: ", absl::StrJoin(mptcp::SchedulerRegistry().Names(), ", "));
    },
    +[](std::string_view v) { return mptcp::SchedulerRegistry().Contains(v); }};

const StringCheck kPathManager{
    +[] {
      return absl::StrCat("a path manager: ",
                          absl::StrJoin(mptcp::PathManagerRegistry().Names(), ", "));
    },
    +[](std::string_view v) { return mptcp::PathManagerRegistry().Contains(v); }};

const StringCheck kCongestionControl{
    +[] {
      return absl::StrCat("a congestion control: ", tcp::CongestionControlRegistry().KnownNames());
    },
    +[](std::string_view v) { return !v.empty() && tcp::CongestionControlRegistry().Contains(v); }};

// --- The tables ---

#define BRAID_FIELD(Target, member) +[](Target& c) -> FieldRef { return &c.member; }

const Option<AgentConfig> kAgentOptions[] = {
    // node
    {.key = "node.name",
     .field = BRAID_FIELD(AgentConfig, node.name),
     .doc = "The node's name in Kubernetes; empty: the host name.",
     .check = &kNodeName},
    {.key = "node.state_dir",
     .field = BRAID_FIELD(AgentConfig, node.state_dir),
     .doc = "Where the pod registry is kept across agent restarts.",
     .check = &kAbsolutePath},
    {.key = "node.run_dir",
     .field = BRAID_FIELD(AgentConfig, node.run_dir),
     .doc = "Runtime files (sockets, the datapath's state); emptied at boot.",
     .check = &kAbsolutePath},
    // api
    {.key = "api.cni_socket",
     .field = BRAID_FIELD(AgentConfig, api.cni_socket),
     .doc = "The unix socket of CniService, where braid-cni calls the agent.",
     .check = &kAbsolutePath},
    {.key = "api.debug_socket",
     .field = BRAID_FIELD(AgentConfig, api.debug_socket),
     .doc = "The unix socket of DebugService (braidctl); the same path as api.cni_socket serves "
            "both services on one socket.",
     .check = &kAbsolutePath},
    {.key = "api.metrics_listen",
     .field = BRAID_FIELD(AgentConfig, api.metrics_listen),
     .doc = "HTTP listener of the Prometheus exporter (/metrics) and of the liveness (/healthz) "
            "and readiness (/readyz) endpoints.",
     .check = &kListenAddress},
    // datapath
    {.key = "datapath.workers",
     .field = BRAID_FIELD(AgentConfig, datapath.workers),
     .doc = "Worker lcores, each a complete stack instance (architecture.md §5).",
     .min = 1,
     .max = 128},
    {.key = "datapath.lcores",
     .field = BRAID_FIELD(AgentConfig, datapath.lcores),
     .doc = "CPU cores the EAL may use, the first one the main lcore; empty: every core. Needs at "
            "least datapath.workers cores.",
     .min = 0,
     .max = 1023},
    {.key = "datapath.hugepages",
     .field = BRAID_FIELD(AgentConfig, datapath.hugepages),
     .doc = "Use hugepages (needed by most VF drivers); false runs the EAL with --no-huge."},
    {.key = "datapath.memory_mb",
     .field = BRAID_FIELD(AgentConfig, datapath.memory_mb),
     .doc = "Memory the EAL reserves at start, in MiB (-m).",
     .min = 64,
     .max = 1 << 20},
    {.key = "datapath.huge_dir",
     .field = BRAID_FIELD(AgentConfig, datapath.huge_dir),
     .doc = "The hugetlbfs mount to use; empty: the EAL finds one.",
     .check = &kAbsolutePathOrEmpty},
    {.key = "datapath.rx_desc",
     .field = BRAID_FIELD(AgentConfig, datapath.rx_desc),
     .doc = "RX descriptors per queue; with tx_desc they size each worker's mempool.",
     .min = 64,
     .max = 32768},
    {.key = "datapath.tx_desc",
     .field = BRAID_FIELD(AgentConfig, datapath.tx_desc),
     .doc = "TX descriptors per queue.",
     .min = 64,
     .max = 32768},
    {.key = "datapath.rx_burst",
     .field = BRAID_FIELD(AgentConfig, datapath.rx_burst),
     .doc = "Frames taken from a queue per poll.",
     .min = 1,
     .max = 64},
    {.key = "datapath.idle.mode",
     .field = BRAID_FIELD(AgentConfig, datapath.idle.mode),
     .doc = "busy: poll without pause (dedicated cores); adaptive: spin after work, then sleep "
            "from min_sleep doubling to max_sleep."},
    {.key = "datapath.idle.spin",
     .field = BRAID_FIELD(AgentConfig, datapath.idle.spin),
     .doc = "adaptive: keep polling this long after the last work.",
     .min = 0,
     .max = Ns(seconds(1))},
    {.key = "datapath.idle.min_sleep",
     .field = BRAID_FIELD(AgentConfig, datapath.idle.min_sleep),
     .doc = "adaptive: the first sleep when idle.",
     .min = Ns(microseconds(1)),
     .max = Ns(seconds(1))},
    {.key = "datapath.idle.max_sleep",
     .field = BRAID_FIELD(AgentConfig, datapath.idle.max_sleep),
     .doc = "adaptive: the longest sleep; bounds the latency an idle worker adds to the first "
            "packet of a burst. At least min_sleep.",
     .min = Ns(microseconds(1)),
     .max = Ns(seconds(1))},
    {.key = "datapath.link_timeout",
     .field = BRAID_FIELD(AgentConfig, datapath.link_timeout),
     .doc = "How long start waits for each path's link to come up.",
     .min = 0,
     .max = Ns(minutes(5))},
    // mptcp
    {.key = "mptcp.enabled",
     .field = BRAID_FIELD(AgentConfig, mptcp.enabled),
     .doc = "net.mptcp.enabled: false makes every connection plain TCP."},
    {.key = "mptcp.checksum",
     .field = BRAID_FIELD(AgentConfig, mptcp.checksum),
     .doc = "net.mptcp.checksum_enabled: ask for DSS checksums (RFC 8684 §3.3.1)."},
    {.key = "mptcp.allow_join_initial_addr_port",
     .field = BRAID_FIELD(AgentConfig, mptcp.allow_join_initial_addr_port),
     .doc = "net.mptcp.allow_join_initial_addr_port: false sets flag C in MP_CAPABLE."},
    {.key = "mptcp.scheduler",
     .field = BRAID_FIELD(AgentConfig, mptcp.scheduler),
     .doc = "The packet scheduler of new connections.",
     .check = &kScheduler},
    {.key = "mptcp.congestion_control",
     .field = BRAID_FIELD(AgentConfig, congestion_control),
     .doc = "Congestion control of the subflows: lia and olia couple them (RFC 6356).",
     .check = &kCongestionControl},
    {.key = "mptcp.path_manager.policy",
     .field = BRAID_FIELD(AgentConfig, mptcp.path_manager.policy),
     .doc = "kernel: endpoints and limits as `ip mptcp`; ndiffports: several subflows over the "
            "initial address pair; userspace: subflows only on request.",
     .check = &kPathManager},
    {.key = "mptcp.path_manager.subflows",
     .field = BRAID_FIELD(AgentConfig, mptcp.path_manager.limits.subflows),
     .doc = "`ip mptcp limits subflows`: extra subflows per connection.",
     .min = 0,
     .max = mptcp::kMaxPmLimit},
    {.key = "mptcp.path_manager.add_addr_accepted",
     .field = BRAID_FIELD(AgentConfig, mptcp.path_manager.limits.add_addr_accepted),
     .doc = "`ip mptcp limits add_addr_accepted`: peer announcements acted upon per connection.",
     .min = 0,
     .max = mptcp::kMaxPmLimit},
    {.key = "mptcp.path_manager.ndiffports",
     .field = BRAID_FIELD(AgentConfig, mptcp.path_manager.ndiffports),
     .doc = "ndiffports: subflows in total over the initial address pair.",
     .min = 1,
     .max = mptcp::kMaxPmLimit + 1},
    {.key = "mptcp.path_manager.add_addr_timeout",
     .field = BRAID_FIELD(AgentConfig, mptcp.path_manager.add_addr_timeout),
     .doc = "ADD_ADDR is sent again after this long until echoed (RFC 8684 §3.4.1).",
     .min = Ns(milliseconds(10)),
     .max = Ns(minutes(10))},
    {.key = "mptcp.path_manager.add_addr_retries",
     .field = BRAID_FIELD(AgentConfig, mptcp.path_manager.add_addr_retries),
     .doc = "ADD_ADDR retransmissions before giving up.",
     .min = 0,
     .max = 100},
    {.key = "mptcp.path_manager.recreate_subflows",
     .field = BRAID_FIELD(AgentConfig, mptcp.path_manager.recreate_subflows),
     .doc = "Open a failed subflow again when its path comes back, or after a backoff."},
    {.key = "mptcp.path_manager.recreate_min",
     .field = BRAID_FIELD(AgentConfig, mptcp.path_manager.recreate_min),
     .doc = "The first backoff before re-creating a failed subflow; it doubles up to "
            "recreate_max.",
     .min = Ns(milliseconds(1)),
     .max = Ns(hours(1))},
    {.key = "mptcp.path_manager.recreate_max",
     .field = BRAID_FIELD(AgentConfig, mptcp.path_manager.recreate_max),
     .doc = "The longest backoff before re-creating a failed subflow.",
     .min = Ns(milliseconds(1)),
     .max = Ns(hours(1))},
    {.key = "mptcp.send_buffer",
     .field = BRAID_FIELD(AgentConfig, mptcp.send_buffer),
     .doc = "Data-level send buffer of one connection, in bytes.",
     .min = 4096,
     .max = 1 << 30},
    {.key = "mptcp.receive_buffer",
     .field = BRAID_FIELD(AgentConfig, mptcp.receive_buffer),
     .doc = "Data-level receive buffer of one connection, in bytes.",
     .min = 4096,
     .max = 1 << 30},
    {.key = "mptcp.stale_rto_count",
     .field = BRAID_FIELD(AgentConfig, mptcp.stale_rto_count),
     .doc = "RTOs without progress after which a subflow is stale and its data reinjected "
            "(RFC 8684 §3.3.6).",
     .min = 1,
     .max = 100},
    {.key = "mptcp.stale_close_after",
     .field = BRAID_FIELD(AgentConfig, mptcp.stale_close_after),
     .doc = "A subflow stale this long while another works is reset and re-created; 0: never.",
     .min = 0,
     .max = Ns(hours(1))},
    {.key = "mptcp.join_syn_retries",
     .field = BRAID_FIELD(AgentConfig, mptcp.join_syn_retries),
     .doc = "SYN retransmissions of an MP_JOIN.",
     .min = 0,
     .max = 20},
    {.key = "mptcp.hol_min",
     .field = BRAID_FIELD(AgentConfig, mptcp.hol_min),
     .doc = "Head-of-line reinjection: the least time a head mapping waits on a stuck subflow; "
            "0 switches it off.",
     .min = 0,
     .max = Ns(minutes(1))},
    // channel
    {.key = "channel.slots",
     .field = BRAID_FIELD(AgentConfig, channel.geometry.slots),
     .doc = "Sockets one app process can have open at once.",
     .min = 1,
     .max = channel::kMaxSlots},
    {.key = "channel.tx_fifo_bytes",
     .field = BRAID_FIELD(AgentConfig, channel.geometry.tx_fifo_bytes),
     .doc = "Per socket, app to datapath; a power of two.",
     .min = channel::kMinFifoBytes,
     .max = channel::kMaxFifoBytes},
    {.key = "channel.rx_fifo_bytes",
     .field = BRAID_FIELD(AgentConfig, channel.geometry.rx_fifo_bytes),
     .doc = "Per socket, datapath to app; a power of two.",
     .min = channel::kMinFifoBytes,
     .max = channel::kMaxFifoBytes},
    {.key = "channel.command_entries",
     .field = BRAID_FIELD(AgentConfig, channel.geometry.command_entries),
     .doc = "Command ring records per app; a power of two.",
     .min = channel::kMinRingEntries,
     .max = channel::kMaxRingEntries},
    {.key = "channel.event_entries",
     .field = BRAID_FIELD(AgentConfig, channel.geometry.event_entries),
     .doc = "Event ring records per app; a power of two.",
     .min = channel::kMinRingEntries,
     .max = channel::kMaxRingEntries},
    {.key = "channel.max_apps",
     .field = BRAID_FIELD(AgentConfig, channel.limits.max_apps),
     .doc = "App processes attached to one worker at once.",
     .min = 1,
     .max = 65536},
    {.key = "channel.max_pending_accepts",
     .field = BRAID_FIELD(AgentConfig, channel.limits.max_pending_accepts),
     .doc = "Accept slots an app may have posted on one listener.",
     .min = 1,
     .max = 65536},
    {.key = "channel.max_accept_backlog",
     .field = BRAID_FIELD(AgentConfig, channel.limits.max_accept_backlog),
     .doc = "Upper bound of a listener's backlog of connections waiting for an app slot.",
     .min = 1,
     .max = 65536},
    {.key = "channel.commands_per_poll",
     .field = BRAID_FIELD(AgentConfig, channel.limits.commands_per_poll),
     .doc = "Commands taken from one app per poll (fairness between apps).",
     .min = 1,
     .max = 65536},
    {.key = "channel.bytes_per_poll",
     .field = BRAID_FIELD(AgentConfig, channel.limits.bytes_per_poll),
     .doc = "Bytes moved per socket, direction and poll.",
     .min = 1,
     .max = 1 << 30},
    {.key = "channel.liveness_interval",
     .field = BRAID_FIELD(AgentConfig, channel.limits.liveness_interval),
     .doc = "How often apps' connections are checked for a hang-up.",
     .min = Ns(microseconds(100)),
     .max = Ns(seconds(10))},
    {.key = "channel.orphan_linger",
     .field = BRAID_FIELD(AgentConfig, channel.limits.orphan_linger),
     .doc = "How long the sockets a dead app closed may drain before they are reset.",
     .min = Ns(milliseconds(1)),
     .max = Ns(hours(1))},
    {.key = "channel.adopt_window",
     .field = BRAID_FIELD(AgentConfig, channel.limits.adopt_window),
     .doc = "How long a connection released by a forking app waits for a child to adopt it.",
     .min = 0,
     .max = Ns(minutes(10))},
    // sriov
    {.key = "sriov.sysfs_root",
     .field = BRAID_FIELD(AgentConfig, sriov.sysfs_root),
     .doc = "The directory standing for / when reading and writing sysfs (tests use a tree of "
            "their own).",
     .check = &kAbsolutePath},
    {.key = "sriov.bind_vfio",
     .field = BRAID_FIELD(AgentConfig, sriov.bind_vfio),
     .doc = "Bind the VFs of vf paths to vfio-pci at start, and give them back at exit."},
    // log
    {.key = "log.level",
     .field = BRAID_FIELD(AgentConfig, log.level),
     .doc = "The agent's log verbosity."},
};

const Option<PathConfig> kPathOptions[] = {
    {.key = "name",
     .field = BRAID_FIELD(PathConfig, name),
     .doc = "Unique; how the network configuration and the API name the path (\"path0\").",
     .check = &kPathName,
     .required = true},
    {.key = "kind",
     .field = BRAID_FIELD(PathConfig, kind),
     .doc = "vf: an SR-IOV VF by PCI address; af_xdp, af_packet: a kernel interface.",
     .required = true},
    {.key = "pci",
     .field = BRAID_FIELD(PathConfig, pci),
     .doc = "kind vf only, and required there: the VF's PCI address.",
     .check = &kPciAddress},
    {.key = "netdev",
     .field = BRAID_FIELD(PathConfig, netdev),
     .doc = "kind af_xdp and af_packet only, and required there: the interface.",
     .check = &kNetdev},
    {.key = "ipv4_subnet",
     .field = BRAID_FIELD(PathConfig, ipv4_subnet),
     .doc = "The path's IPv4 subnet; a path needs ipv4_subnet, ipv6_subnet or both."},
    {.key = "ipv6_subnet",
     .field = BRAID_FIELD(PathConfig, ipv6_subnet),
     .doc = "The path's IPv6 subnet."},
    {.key = "ipv4_gateway",
     .field = BRAID_FIELD(PathConfig, ipv4_gateway),
     .doc = "IPv4 default gateway of the path; inside ipv4_subnet."},
    {.key = "ipv6_gateway",
     .field = BRAID_FIELD(PathConfig, ipv6_gateway),
     .doc = "IPv6 default gateway of the path; inside ipv6_subnet."},
    {.key = "mtu",
     .field = BRAID_FIELD(PathConfig, mtu),
     .doc = "The path's MTU; IPv6 needs at least 1280 (RFC 8200 §5).",
     .min = 576,
     .max = 9216},
    {.key = "backup",
     .field = BRAID_FIELD(PathConfig, backup),
     .doc = "Subflows over this path are backups (MP_JOIN B flag, RFC 8684 §3.2)."},
};

const Option<SriovPfConfig> kSriovPfOptions[] = {
    {.key = "netdev",
     .field = BRAID_FIELD(SriovPfConfig, netdev),
     .doc = "The physical function's interface.",
     .check = &kNetdev,
     .required = true},
    {.key = "num_vfs",
     .field = BRAID_FIELD(SriovPfConfig, num_vfs),
     .doc = "VFs to enable on it (sriov_numvfs) at start.",
     .min = 0,
     .max = 256},
};

#undef BRAID_FIELD

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

std::string RangeText(int64_t min, int64_t max) {
  return absl::StrCat("an integer from ", min, " to ", max);
}

}  // namespace

std::span<const Option<AgentConfig>> AgentOptions() { return kAgentOptions; }
std::span<const Option<PathConfig>> PathOptions() { return kPathOptions; }
std::span<const Option<SriovPfConfig>> SriovPfOptions() { return kSriovPfOptions; }

std::string FormatDuration(tcp::Duration d) {
  struct Unit {
    int64_t ns;
    std::string_view name;
  };
  static constexpr Unit kUnits[] = {{3600'000'000'000, "h"}, {60'000'000'000, "m"},
                                    {1'000'000'000, "s"},    {1'000'000, "ms"},
                                    {1'000, "us"},           {1, "ns"}};
  const int64_t ns = d.count();
  if (ns == 0) return "0";
  for (const Unit& u : kUnits) {
    if (ns % u.ns == 0) return absl::StrCat(ns / u.ns, std::string(u.name));
  }
  return absl::StrCat(ns, "ns");
}

std::optional<tcp::Duration> ParseDuration(std::string_view text) {
  if (text == "0") return tcp::Duration(0);
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 15) return std::nullopt;
  int64_t n = 0;
  if (!absl::SimpleAtoi(std::string(text.substr(0, digits)), &n)) return std::nullopt;
  const std::string_view unit = text.substr(digits);
  int64_t scale = 0;
  if (unit == "ns") {
    scale = 1;
  } else if (unit == "us") {
    scale = 1'000;
  } else if (unit == "ms") {
    scale = 1'000'000;
  } else if (unit == "s") {
    scale = 1'000'000'000;
  } else if (unit == "m") {
    scale = 60'000'000'000;
  } else if (unit == "h") {
    scale = 3600'000'000'000;
  } else {
    return std::nullopt;
  }
  // 15 digits of hours would overflow int64 nanoseconds.
  if (n > INT64_MAX / scale) return std::nullopt;
  return tcp::Duration(n * scale);
}

std::string Expected(FieldRef field, int64_t min, int64_t max, const StringCheck* check) {
  auto choices = [](std::span<const std::string_view> names) {
    return absl::StrCat("one of ",
                        absl::StrJoin(std::vector<std::string>(names.begin(), names.end()), ", "));
  };
  return std::visit(
      Overloaded{
          [](bool*) -> std::string { return "true or false"; },
          [&](uint32_t*) { return RangeText(min, max); },
          [&](std::string*) { return check != nullptr ? check->expected() : "a string"; },
          [&](tcp::Duration*) {
            return absl::StrCat("a duration from ", FormatDuration(tcp::Duration(min)), " to ",
                                FormatDuration(tcp::Duration(max)),
                                " (a number and a unit: ns, us, ms, s, m, h)");
          },
          [&](std::vector<uint32_t>*) {
            return absl::StrCat("a list of integers from ", min, " to ", max);
          },
          [&](runtime::IdleMode*) { return choices(IdleModeNames()); },
          [&](PathKind*) { return choices(PathKindNames()); },
          [&](LogLevel*) { return choices(LogLevelNames()); },
          [](std::optional<net::Ipv4Cidr>*) -> std::string {
            return "an IPv4 subnet such as 10.0.1.0/24";
          },
          [](std::optional<net::Ipv6Cidr>*) -> std::string {
            return "an IPv6 subnet such as fd00:1::/64";
          },
          [](std::optional<wire::Ipv4Address>*) -> std::string {
            return "an IPv4 address such as 10.0.1.1";
          },
          [](std::optional<wire::Ipv6Address>*) -> std::string {
            return "an IPv6 address such as fd00:1::1";
          },
      },
      field);
}

std::string FormatValue(FieldRef field) {
  constexpr std::string_view kNone = "(none)";
  return std::visit(
      Overloaded{
          [](bool* v) -> std::string { return *v ? "true" : "false"; },
          [](uint32_t* v) { return absl::StrCat(*v); },
          [](std::string* v) { return v->empty() ? std::string("\"\"") : *v; },
          [](tcp::Duration* v) { return FormatDuration(*v); },
          [](std::vector<uint32_t>* v) { return absl::StrCat("[", absl::StrJoin(*v, ", "), "]"); },
          [](runtime::IdleMode* v) {
            return std::string(IdleModeNames()[static_cast<size_t>(*v)]);
          },
          [](PathKind* v) { return std::string(PathKindNames()[static_cast<size_t>(*v)]); },
          [](LogLevel* v) { return std::string(LogLevelNames()[static_cast<size_t>(*v)]); },
          [&](std::optional<net::Ipv4Cidr>* v) {
            return v->has_value() ? absl::StrCat((*v)->address.ToString(), "/", (*v)->prefix_len)
                                  : std::string(kNone);
          },
          [&](std::optional<net::Ipv6Cidr>* v) {
            return v->has_value() ? absl::StrCat((*v)->address.ToString(), "/", (*v)->prefix_len)
                                  : std::string(kNone);
          },
          [&](std::optional<wire::Ipv4Address>* v) {
            return v->has_value() ? (*v)->ToString() : std::string(kNone);
          },
          [&](std::optional<wire::Ipv6Address>* v) {
            return v->has_value() ? (*v)->ToString() : std::string(kNone);
          },
      },
      field);
}

namespace {

std::string EscapeCell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += '\\';
    out += c;
  }
  return out;
}

template <typename Target>
void AppendTable(std::string& out, std::string_view prefix, std::span<const Option<Target>> table) {
  Target defaults{};
  out += "| key | default | accepts | what it does |\n|---|---|---|---|\n";
  for (const Option<Target>& o : table) {
    const FieldRef field = o.field(defaults);
    absl::StrAppend(&out, "| `", std::string(prefix), std::string(o.key), "` | ",
                    o.required ? std::string("required") : EscapeCell(FormatValue(field)), " | ",
                    EscapeCell(Expected(field, o.min, o.max, o.check)), " | ", EscapeCell(o.doc),
                    " |\n");
  }
}

}  // namespace

std::string ConfigReference() {
  std::string out =
      "# braid-agent configuration reference\n\n"
      "Generated from the option table in `agent/config_options.cc` (the unit test\n"
      "`tests/unit/agent/config_test.cc` fails when this file differs; run it with\n"
      "`BRAID_REGENERATE_DOCS=1` to rewrite it). An example: `agent/example-config.yaml`.\n\n"
      "The agent reads one YAML file. Every key is optional unless marked required; a missing key\n"
      "keeps its default. Unknown keys, wrong types and out-of-range values are errors, each\n"
      "naming its full key (`paths[1].pci`), the value and what was expected; all errors of a\n"
      "file are reported together. Durations are a number and a unit: `250ms`, `30s`, `2m`\n"
      "(units ns, us, ms, s, m, h; `0` alone). Health endpoints `/healthz` and `/readyz` are\n"
      "served on `api.metrics_listen` beside `/metrics`.\n\n"
      "## Options\n\n";
  AppendTable<AgentConfig>(out, "", AgentOptions());
  absl::StrAppend(
      &out, "\n## `", std::string(kPathsKey),
      "`: the node's paths\n\n"
      "A list; each element is one uplink the datapath owns (architecture.md §7). Names "
      "and devices are unique across the list.\n\n");
  AppendTable<PathConfig>(out, "paths[].", PathOptions());
  absl::StrAppend(&out, "\n## `", std::string(kSriovPfsKey),
                  "`: physical functions\n\n"
                  "A list; the agent sets each PF's VF count at start. Netdevs are unique.\n\n");
  AppendTable<SriovPfConfig>(out, "sriov.pfs[].", SriovPfOptions());
  return out;
}

}  // namespace braid::agent
