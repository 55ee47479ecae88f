// Which device a port is: a PCI address (an SR-IOV VF the datapath owns) or a virtual device
// string, parsed once into a PortSpec. Pure: no DPDK, unit-tested.
//
//   "0000:03:02.1" / "03:02.1"                       PCI (VF, or any PMD-bound NIC)
//   "net_af_xdp0,iface=veth0[,start_queue=0,queue_count=N]"   AF_XDP on a kernel netdev
//   "net_af_packet0,iface=veth0[,qpairs=N]"          AF_PACKET (TPACKET_V2 rings)
//   "net_tap0,iface=dtap0"                           a tap netdev DPDK creates
//   "net_memif0,role=server|client,socket=/path"     shared memory to another DPDK process
//   "net_ring0", "net_null0"                         in-process rings / a sink (tests)
//
// Steering per PMD (architecture.md §5; SteeringModeFor in steering.h decides at run time from
// what the port reports, this table is what to expect):
//   PCI VF   rte_flow when the PMD validates our rules (most VFs: mlx5, ice/iavf, i40e): per-worker
//            source-port-range rules, listen rules, 5-tuple rules; else RSS + software steering.
//   af_xdp   no rte_flow (validate: ENOSYS); one RX queue per kernel queue: software steering.
//   af_packet no rte_flow (ENOSYS), no RSS; qpairs=N spreads RX by the kernel's fanout hash,
//            which is not our policy: software steering.
//   tap      validates rte_flow rules syntactically but needs the kernel's multiq qdisc and TC
//            flower to create them; where they are missing (this testbed) creation fails:
//            software steering.
//   memif, ring, null: no rte_flow: software steering (tests).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace braid::io {

enum class PortKind {
  kPci,
  kAfXdp,
  kAfPacket,
  kTap,
  kMemif,
  kRing,
  kNull,
  kOtherVdev,  // any other driver name: passed to the EAL as it is
};
std::string_view PortKindName(PortKind kind);  // "pci", "af_xdp", ...

struct PortSpec {
  PortKind kind = PortKind::kOtherVdev;
  // The ethdev name DPDK gives the port: the PCI address as written, or the vdev's name
  // ("net_af_xdp0"), which is also how an already probed port is found.
  std::string name;
  std::string args;  // "iface=veth0,queue_count=2" (vdevs), empty for PCI
  // The string for rte_dev_probe / --vdev: name[,args].
  std::string devargs() const { return args.empty() ? name : name + "," + args; }
  // The value of `key` in args ("iface"), empty when absent.
  std::string Arg(std::string_view key) const;
  friend bool operator==(const PortSpec&, const PortSpec&) = default;
};

// InvalidArgument for an empty string, a malformed PCI address, a vdev name that does not end
// in its instance number ("net_ring" instead of "net_ring0"), an argument without '=', or a
// missing required argument (iface for af_xdp/af_packet, socket for memif).
absl::StatusOr<PortSpec> ParsePortSpec(std::string_view text);

}  // namespace braid::io
