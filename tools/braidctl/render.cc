#include "tools/braidctl/render.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cctype>
#include <cinttypes>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "tools/braidctl/format.h"

namespace braid::braidctl {
namespace {

std::string Upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

std::vector<std::string> Strings(const google::protobuf::RepeatedPtrField<std::string>& list) {
  return {list.begin(), list.end()};
}

std::string Number(uint64_t value) { return std::to_string(value); }

std::string BusyPercent(const v1::WorkerStatus& worker) {
  if (worker.iterations() == 0) return "-";
  char text[16];
  std::snprintf(text, sizeof(text), "%.1f%%",
                100.0 * static_cast<double>(worker.busy_iterations()) /
                    static_cast<double>(worker.iterations()));
  return text;
}

std::string LinkLabel(v1::LinkState state) {
  return EnumLabel(v1::LinkState_descriptor(), state, "LINK_STATE_");
}

std::string MptcpLabel(const v1::Connection& c) {
  if (c.fallback()) return "fallback";
  return c.fully_established() ? "established" : "pending";
}

std::string SubflowFlags(const v1::Subflow& s) {
  std::vector<std::string> flags;
  if (s.initial()) flags.push_back("initial");
  if (s.backup()) flags.push_back("backup");
  if (s.stale()) flags.push_back("stale");
  return JoinOrDash(flags, ",");
}

std::string PodAddresses(const v1::Pod& pod) {
  std::vector<std::string> paths;
  for (const v1::PathIpConfig& path : pod.paths()) {
    std::vector<std::string> ips;
    for (const v1::IpAddressConfig& ip : path.ips()) ips.push_back(ip.address());
    paths.push_back(path.path() + "=" + JoinOrDash(ips, ","));
  }
  return JoinOrDash(paths, " ");
}

absl::Status FromProtobuf(const google::protobuf::util::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::InternalError("protobuf JSON: " + status.ToString());
}

// `json` (lines ending in '\n') with `indent` before each line, without the last newline.
std::string Indented(std::string_view json, std::string_view indent) {
  std::string out;
  size_t start = 0;
  while (start < json.size()) {
    const size_t end = std::min(json.find('\n', start), json.size());
    if (start > 0) out += '\n';
    out += indent;
    out += json.substr(start, end - start);
    start = end + 1;
  }
  return out;
}

// A JSON string literal, escaped by protobuf's printer.
std::string JsonString(std::string_view text) {
  google::protobuf::Value value;
  value.set_string_value(std::string(text));
  std::string json;
  // A string Value always prints; nothing here can fail.
  (void)google::protobuf::util::MessageToJsonString(value, &json);
  return json;
}

}  // namespace

std::string RenderStatus(const v1::GetStatusResponse& status, const RenderOptions& options) {
  std::string out = RenderFields({
      {"version", status.version()},
      {"node", status.node_name()},
      {"started", FormatTime(status.start_time())},
      {"uptime", FormatSpan(status.uptime())},
      {"pods", Number(status.pod_count())},
      {"connections", Number(status.connection_count())},
  });

  Table workers({{"WORKER", Align::kRight},
                 {"LCORE", Align::kRight},
                 {"ITERATIONS", Align::kRight},
                 {"BUSY", Align::kRight},
                 {"RX FRAMES", Align::kRight},
                 {"TX FRAMES", Align::kRight},
                 {"CPU", Align::kRight},
                 {"CONNECTIONS", Align::kRight},
                 {"APPS", Align::kRight}});
  for (const v1::WorkerStatus& w : status.workers()) {
    workers.AddRow({Number(w.id()), Number(w.lcore()), Number(w.iterations()), BusyPercent(w),
                    Number(w.rx_frames()), Number(w.tx_frames()), FormatSpan(w.cpu_time()),
                    Number(w.connection_count()), Number(w.app_count())});
  }
  out += "\n" + workers.Render();

  Table paths({{"PATH"},
               {"LINK"},
               {"SPEED", Align::kRight},
               {"RX PACKETS", Align::kRight},
               {"RX BYTES", Align::kRight},
               {"TX PACKETS", Align::kRight},
               {"TX BYTES", Align::kRight},
               {"DROPS", Align::kRight},
               {"ERRORS", Align::kRight},
               {"ADDRESSES"}});
  for (const v1::PathStatus& p : status.paths()) {
    const v1::PathCounters& c = p.counters();
    paths.AddRow({p.name(), LinkLabel(p.link_state()), FormatSpeed(p.speed_mbps()),
                  Number(c.rx_packets()), FormatBytes(c.rx_bytes(), options.raw),
                  Number(c.tx_packets()), FormatBytes(c.tx_bytes(), options.raw),
                  Number(c.rx_missed() + c.rx_no_mbuf()), Number(c.rx_errors() + c.tx_errors()),
                  JoinOrDash(Strings(p.addresses()), ",")});
  }
  out += "\n" + paths.Render();
  return out;
}

std::string RenderPaths(const google::protobuf::RepeatedPtrField<v1::PathStatus>& paths,
                        const RenderOptions& options) {
  Table table({{"PATH"},
               {"PORT"},
               {"MAC"},
               {"LINK"},
               {"SPEED", Align::kRight},
               {"DUPLEX"},
               {"AUTONEG"},
               {"MTU", Align::kRight},
               {"VLAN", Align::kRight},
               {"RX PACKETS", Align::kRight},
               {"RX BYTES", Align::kRight},
               {"TX PACKETS", Align::kRight},
               {"TX BYTES", Align::kRight},
               {"RX MISSED", Align::kRight},
               {"RX NO MBUF", Align::kRight},
               {"RX ERRORS", Align::kRight},
               {"TX ERRORS", Align::kRight},
               {"GATEWAYS"},
               {"ADDRESSES"}});
  for (const v1::PathStatus& p : paths) {
    const v1::PathCounters& c = p.counters();
    std::vector<std::string> gateways;
    if (!p.ipv4_gateway().empty()) gateways.push_back(p.ipv4_gateway());
    if (!p.ipv6_gateway().empty()) gateways.push_back(p.ipv6_gateway());
    const bool known = p.link_state() == v1::LINK_STATE_UP;
    table.AddRow({p.name(), p.port().empty() ? "-" : p.port(), p.mac().empty() ? "-" : p.mac(),
                  LinkLabel(p.link_state()), FormatSpeed(p.speed_mbps()),
                  known ? (p.full_duplex() ? "full" : "half") : "-",
                  known ? (p.autoneg() ? "on" : "off") : "-", p.mtu() == 0 ? "-" : Number(p.mtu()),
                  p.vlan() == 0 ? "-" : Number(p.vlan()), Number(c.rx_packets()),
                  FormatBytes(c.rx_bytes(), options.raw), Number(c.tx_packets()),
                  FormatBytes(c.tx_bytes(), options.raw), Number(c.rx_missed()),
                  Number(c.rx_no_mbuf()), Number(c.rx_errors()), Number(c.tx_errors()),
                  JoinOrDash(gateways, ","), JoinOrDash(Strings(p.addresses()), ",")});
  }
  return table.Render();
}

std::string RenderPods(const v1::ListPodsResponse& pods, const RenderOptions& options) {
  Table table({{"NAMESPACE"},
               {"NAME"},
               {"IFNAME"},
               {"SCHEDULER"},
               {"APPS", Align::kRight},
               {"ENDPOINTS", Align::kRight},
               {"CONNECTIONS", Align::kRight},
               {"AGE", Align::kRight},
               {"ADDRESSES"}});
  for (const v1::Pod& pod : pods.pods()) {
    const std::string& scheduler = pod.options().scheduler();
    table.AddRow({pod.pod().namespace_(), pod.pod().name(), pod.ifname(),
                  scheduler.empty() ? "-" : scheduler, Number(pod.app_count()),
                  Number(pod.endpoint_count()), Number(pod.connection_count()),
                  FormatAge(pod.attach_time(), options.now), PodAddresses(pod)});
  }
  return table.Render();
}

std::string RenderConnections(const v1::ListConnectionsResponse& connections, bool with_subflows,
                              const RenderOptions& options) {
  Table table({{"ID", Align::kRight},
               {"WORKER", Align::kRight},
               {"POD"},
               {"ROLE"},
               {"LOCAL"},
               {"REMOTE"},
               {"MPTCP"},
               {"SUBFLOWS", Align::kRight},
               {"SCHEDULER"},
               {"SENT", Align::kRight},
               {"RECEIVED", Align::kRight},
               {"REINJECTED", Align::kRight}});
  google::protobuf::RepeatedPtrField<v1::Subflow> subflows;
  for (const v1::Connection& c : connections.connections()) {
    table.AddRow({Number(c.id()), Number(c.worker()), PodName(c.pod()),
                  EnumLabel(v1::ConnectionRole_descriptor(), c.role(), "CONNECTION_ROLE_"),
                  FormatEndpoint(c.local().address(), c.local().port()),
                  FormatEndpoint(c.remote().address(), c.remote().port()), MptcpLabel(c),
                  Number(c.subflow_count()), c.scheduler().empty() ? "-" : c.scheduler(),
                  FormatBytes(c.bytes_sent(), options.raw),
                  FormatBytes(c.bytes_received(), options.raw),
                  FormatBytes(c.bytes_reinjected(), options.raw)});
    for (const v1::Subflow& s : c.subflows()) *subflows.Add() = s;
  }
  std::string out = table.Render();
  if (with_subflows) out += "\n" + RenderSubflows(subflows, options);
  return out;
}

std::string RenderSubflows(const google::protobuf::RepeatedPtrField<v1::Subflow>& subflows,
                           const RenderOptions& options) {
  Table table({{"CONN", Align::kRight},
               {"ID", Align::kRight},
               {"STATE"},
               {"FLAGS"},
               {"LOCAL"},
               {"REMOTE"},
               {"PATH"},
               {"TCP"},
               {"RTT(ms)", Align::kRight},
               {"CWND", Align::kRight},
               {"SENT", Align::kRight},
               {"RECEIVED", Align::kRight},
               {"RETRANS", Align::kRight}});
  for (const v1::Subflow& s : subflows) {
    std::string tcp_state = "-";
    std::string rtt = "-";
    std::string cwnd = "-";
    std::string retransmits = "-";
    if (s.has_tcp()) {
      const v1::TcpInfo& tcp = s.tcp();
      // RFC 9293 names its states in capitals: "SYN-SENT".
      tcp_state = Upper(EnumLabel(v1::TcpState_descriptor(), tcp.state(), "TCP_STATE_"));
      rtt = tcp.has_srtt() ? FormatRttMs(tcp.srtt()) : "-";
      cwnd = FormatBytes(tcp.cwnd_bytes(), options.raw);
      const auto it = tcp.counters().find("retransmits");
      retransmits = Number(it == tcp.counters().end() ? 0 : it->second);
    }
    table.AddRow({Number(s.connection_id()), Number(s.id()),
                  EnumLabel(v1::SubflowState_descriptor(), s.state(), "SUBFLOW_STATE_"),
                  SubflowFlags(s), FormatEndpoint(s.local().address(), s.local().port()),
                  FormatEndpoint(s.remote().address(), s.remote().port()),
                  s.path().empty() ? "-" : s.path(), tcp_state, rtt, cwnd,
                  FormatBytes(s.bytes_sent(), options.raw),
                  FormatBytes(s.bytes_received(), options.raw), retransmits});
  }
  return table.Render();
}

std::string RenderCounters(const v1::ListCountersResponse& counters, bool include_zero,
                           bool per_worker) {
  std::vector<Column> columns = {{"COUNTER"}};
  if (per_worker) columns.push_back({"WORKER", Align::kRight});
  columns.push_back({"VALUE", Align::kRight});
  columns.push_back({"HELP"});
  Table table(std::move(columns));
  for (const v1::Counter& c : counters.counters()) {
    // The agent hides zeros unless asked; an older one that sends them anyway is filtered here.
    if (c.value() == 0 && !include_zero) continue;
    std::vector<std::string> row = {CounterMetricName(c)};
    if (per_worker) row.push_back(c.has_worker() ? Number(c.worker()) : "all");
    row.push_back(Number(c.value()));
    row.push_back(c.help());
    table.AddRow(std::move(row));
  }
  return table.Render();
}

std::string CounterMetricName(const v1::Counter& counter) {
  std::string name = "braid_" + counter.subsystem() + "_" + counter.name() + "_total";
  if (!counter.reason().empty()) name += "{reason=\"" + counter.reason() + "\"}";
  return name;
}

std::string LogLevelName(v1::LogLevel level) {
  return EnumLabel(v1::LogLevel_descriptor(), level, "LOG_LEVEL_");
}

std::string PodName(const v1::PodRef& pod) {
  if (pod.namespace_().empty() && pod.name().empty()) return "-";
  return pod.namespace_() + "/" + pod.name();
}

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  if (absl::Status s =
          FromProtobuf(google::protobuf::util::MessageToJsonString(message, &json, options));
      !s.ok()) {
    return s;
  }
  if (json.empty() || json.back() != '\n') json += '\n';
  return json;
}

absl::StatusOr<std::string> PathsJson(const v1::GetStatusResponse& status) {
  // Each path printed by protobuf keeps its fields in declaration order (a Struct would not).
  std::string out = "{\n \"paths\": [";
  for (int i = 0; i < status.paths_size(); ++i) {
    absl::StatusOr<std::string> path = ToJson(status.paths(i));
    if (!path.ok()) return path.status();
    out += i == 0 ? "\n" : ",\n";
    out += Indented(*path, "  ");
  }
  out += status.paths().empty() ? "]\n}\n" : "\n ]\n}\n";
  return out;
}

absl::StatusOr<std::string> VersionJson(std::string_view client_version,
                                        const v1::GetStatusResponse* status) {
  std::string out = "{\n \"client\": {\n  \"version\": " + JsonString(client_version) + "\n }";
  if (status != nullptr) {
    out += ",\n \"agent\": {\n  \"version\": " + JsonString(status->version()) +
           ",\n  \"nodeName\": " + JsonString(status->node_name()) + "\n }";
  }
  return out + "\n}\n";
}

}  // namespace braid::braidctl
