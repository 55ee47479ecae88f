// Discovery of a node's SR-IOV physical functions (PFs) and their virtual functions (VFs) from
// sysfs, the way the kernel lays them out (Documentation/PCI/pci-iov-howto.rst,
// Documentation/ABI/testing/sysfs-bus-pci, sysfs-class-net):
//
//   sys/class/net/<pf>                -> ../../devices/pci0000:00/<pf-pci>/net/<pf>
//   sys/class/net/<pf>/device         -> ../../../<pf-pci>            (the PCI function)
//   sys/class/net/<pf>/{speed,operstate,phys_port_name}
//   <pf-pci>/{vendor,device,numa_node,sriov_totalvfs,sriov_numvfs}, <pf-pci>/driver -> driver
//   <pf-pci>/virtfn<N>                -> ../<vf-pci>                   (N = 0 .. numvfs-1)
//   <vf-pci>/driver -> ../../../bus/pci/drivers/<drv>, <vf-pci>/driver_override,
//   <vf-pci>/net/<vf-netdev>, <vf-pci>/iommu_group -> ../../../kernel/iommu_groups/<G>
//
// A PF is a network interface whose PCI function has sriov_totalvfs. Everything else in
// sys/class/net (virtual devices, non-PCI devices, VF netdevs, switchdev representors) is not a PF
// and is left out without complaint; an interface that is a PF but whose files are missing,
// garbled or dangling is reported in Inventory::problems with the file named, and the other PFs
// are still returned.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sriov/pci_address.h"
#include "sriov/sysfs.h"

namespace braid::sriov {

// RFC 2863 operational states, as the kernel prints them in sys/class/net/<if>/operstate.
enum class OperState { kUnknown, kNotPresent, kDown, kLowerLayerDown, kTesting, kDormant, kUp };

// "up", "lowerlayerdown", ...: the kernel's spelling.
std::string_view OperStateName(OperState state);
std::optional<OperState> ParseOperState(std::string_view text);

struct VirtualFunction {
  uint32_t index = 0;  // N in the PF's virtfnN: the VF number rtnetlink's IFLA_VF_* use
  PciAddress pci;
  std::optional<std::string> driver;           // bound driver; nullopt when unbound
  std::optional<std::string> driver_override;  // nullopt when unset ("(null)") or absent
  std::optional<std::string> netdev;           // when a netdev driver (iavf, mlx5_core) holds it
  std::optional<uint32_t> iommu_group;         // nullopt without an IOMMU

  friend bool operator==(const VirtualFunction&, const VirtualFunction&) = default;
};

struct PhysicalFunction {
  std::string netdev;
  PciAddress pci;
  std::optional<std::string> driver;
  uint16_t vendor_id = 0;
  uint16_t device_id = 0;
  std::optional<uint32_t> numa_node;   // nullopt when the kernel says -1 (no NUMA affinity)
  std::optional<uint32_t> speed_mbps;  // nullopt when unknown (-1) or unreadable (link down)
  OperState operstate = OperState::kUnknown;
  uint32_t total_vfs = 0;
  uint32_t num_vfs = 0;
  std::vector<VirtualFunction> vfs;  // by index; vfs.size() == num_vfs

  friend bool operator==(const PhysicalFunction&, const PhysicalFunction&) = default;
};

struct Inventory {
  std::vector<PhysicalFunction> pfs;  // by netdev name
  // One error per interface that is a PF but could not be read; each message names the interface
  // and the file.
  std::vector<absl::Status> problems;
};

// Every PF under the root's sys/class/net. Fails only when sys/class/net cannot be listed.
absl::StatusOr<Inventory> Discover(const SysfsRoot& root);

// A VF count file (`sriov_totalvfs`, `sriov_numvfs`): 0..65535, the 16-bit registers of the
// SR-IOV capability; DataLoss naming the file for anything else.
absl::StatusOr<uint32_t> ReadVfCount(const SysfsRoot& root, const std::string& rel);

// One PF by interface name. NotFound when there is no such interface; FailedPrecondition when it
// is not an SR-IOV PF (no PCI device, no sriov_totalvfs, a VF, a switchdev representor); the
// SysfsRoot's errors (naming the file) when its tree is broken.
absl::StatusOr<PhysicalFunction> DiscoverPf(const SysfsRoot& root, std::string_view netdev);

}  // namespace braid::sriov
