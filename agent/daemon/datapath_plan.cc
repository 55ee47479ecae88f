#include "agent/daemon/datapath_plan.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace braid::agent {

std::string PortSpecOf(const PathConfig& path, size_t index) {
  switch (path.kind) {
    case PathKind::kVf:
      return path.pci;
    case PathKind::kAfXdp:
      return absl::StrCat("net_af_xdp", index, ",iface=", path.netdev);
    case PathKind::kAfPacket:
      return absl::StrCat("net_af_packet", index, ",iface=", path.netdev);
  }
  return {};
}

absl::StatusOr<DatapathPlan> PlanDatapath(const AgentConfig& config) {
  DatapathPlan plan;
  runtime::DatapathConfig& dp = plan.datapath;
  dp.eal.program = "braid-agent";
  dp.eal.lcores = config.datapath.lcores;
  dp.eal.hugepages = config.datapath.hugepages;
  dp.eal.memory_mb = config.datapath.memory_mb;
  dp.eal.huge_dir = config.datapath.huge_dir;
  dp.workers = static_cast<uint16_t>(config.datapath.workers);
  dp.rx_desc = static_cast<uint16_t>(config.datapath.rx_desc);
  dp.tx_desc = static_cast<uint16_t>(config.datapath.tx_desc);
  dp.rx_burst = static_cast<uint16_t>(config.datapath.rx_burst);
  dp.idle = config.datapath.idle;
  dp.link_timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(config.datapath.link_timeout);
  dp.mptcp = config.mptcp;
  if (config.paths.empty()) {
    return absl::InvalidArgumentError("paths: the datapath needs at least one path");
  }
  if (dp.workers != 1) {
    // Pods' services live on worker 0, and MPTCP runs on one worker (datapath.h).
    return absl::InvalidArgumentError(
        absl::StrCat("datapath.workers: ", dp.workers,
                     ": braid-agent runs one worker for now (MPTCP and the "
                     "pods' channels live on worker 0)"));
  }
  for (size_t i = 0; i < config.paths.size(); ++i) {
    const PathConfig& p = config.paths[i];
    const std::string where = absl::StrCat("paths[", i, "] (", p.name, ")");
    if (p.kind == PathKind::kVf && p.pci.empty()) {
      return absl::InvalidArgumentError(where + ": a vf path needs its pci address");
    }
    if (p.kind != PathKind::kVf && p.netdev.empty()) {
      return absl::InvalidArgumentError(where + ": needs its netdev");
    }
    if (p.mtu < 576 || p.mtu > 9000) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": mtu ", p.mtu, " (576..9000)"));
    }
    runtime::PathConfig path;
    path.port = PortSpecOf(p, i);
    path.mtu = static_cast<uint16_t>(p.mtu);
    path.ipv4_gateway = p.ipv4_gateway;
    path.ipv6_gateway = p.ipv6_gateway;
    dp.paths.push_back(std::move(path));
    if (p.kind == PathKind::kVf) {
      dp.eal.pci = true;
      dp.eal.pci_allow.push_back(p.pci);
    }
  }
  plan.services.geometry = config.channel.geometry;
  plan.services.limits = config.channel.limits;
  plan.services.tcp.congestion_control = config.congestion_control;
  return plan;
}

}  // namespace braid::agent
