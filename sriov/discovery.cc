#include "sriov/discovery.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <string>
#include <utility>

namespace braid::sriov {
namespace {

constexpr std::array<std::pair<OperState, std::string_view>, 7> kOperStates{{
    {OperState::kUnknown, "unknown"},
    {OperState::kNotPresent, "notpresent"},
    {OperState::kDown, "down"},
    {OperState::kLowerLayerDown, "lowerlayerdown"},
    {OperState::kTesting, "testing"},
    {OperState::kDormant, "dormant"},
    {OperState::kUp, "up"},
}};

// Adds "<netdev>: " in front of a status' message, keeping its code.
absl::Status About(std::string_view netdev, const absl::Status& status) {
  return absl::Status(status.code(), std::string(netdev) + ": " + std::string(status.message()));
}

// A decimal number of digits only.
std::optional<uint32_t> ParseIndex(std::string_view digits) {
  if (digits.empty() || digits.size() > 9) return std::nullopt;
  uint32_t value = 0;
  const auto [stop, error] =
      std::from_chars(digits.data(), digits.data() + digits.size(), value, 10);
  if (error != std::errc() || stop != digits.data() + digits.size()) return std::nullopt;
  return value;
}

// A switchdev representor names its port "pf0vf3", "pf0sf1", "pf0" or "c1pf0vf3"
// (Documentation/networking/switchdev.rst, devlink port flavours); the uplink is "p0".
bool IsRepresentorPortName(std::string_view name) {
  if (name.size() > 1 && name[0] == 'c') {
    size_t i = 1;
    while (i < name.size() && name[i] >= '0' && name[i] <= '9') ++i;
    if (i == 1) return false;
    name.remove_prefix(i);
  }
  if (name.substr(0, 2) != "pf") return false;
  name.remove_prefix(2);
  size_t i = 0;
  while (i < name.size() && name[i] >= '0' && name[i] <= '9') ++i;
  if (i == 0) return false;
  name.remove_prefix(i);
  if (name.empty()) return true;
  if (name.substr(0, 2) != "vf" && name.substr(0, 2) != "sf") return false;
  return ParseIndex(name.substr(2)).has_value();
}

// An attribute whose value is -1 for "unknown" and otherwise a non-negative 32-bit number.
absl::StatusOr<std::optional<uint32_t>> ReadUnknownOrCount(const SysfsRoot& root,
                                                           const std::string& rel) {
  absl::StatusOr<int64_t> value = root.ReadDecimal(rel);
  if (!value.ok()) return value.status();
  if (*value == -1) return std::optional<uint32_t>();
  if (*value < 0 || *value > std::numeric_limits<uint32_t>::max()) {
    return absl::DataLossError(root.Path(rel) + " holds " + std::to_string(*value) +
                               ", neither -1 nor a 32-bit count");
  }
  return std::optional<uint32_t>(static_cast<uint32_t>(*value));
}

absl::StatusOr<uint16_t> ReadPciId(const SysfsRoot& root, const std::string& rel) {
  absl::StatusOr<uint32_t> value = root.ReadHex(rel);
  if (!value.ok()) return value.status();
  if (*value > 0xffff) {
    return absl::DataLossError(root.Path(rel) + " holds " + std::to_string(*value) +
                               ", wider than a 16-bit PCI id");
  }
  return static_cast<uint16_t>(*value);
}

absl::StatusOr<PciAddress> ReadPciLink(const SysfsRoot& root, const std::string& rel) {
  absl::StatusOr<std::string> name = root.LinkTargetName(rel);
  if (!name.ok()) return name.status();
  std::optional<PciAddress> pci = PciAddress::Parse(*name);
  if (!pci) {
    return absl::FailedPreconditionError(root.Path(rel) + " links to '" + *name +
                                         "', not a PCI function (DDDD:BB:DD.F)");
  }
  return *pci;
}

// The VF behind `link`, a PF's virtfnN link (the file system follows it).
absl::StatusOr<VirtualFunction> ReadVf(const SysfsRoot& root, const std::string& link,
                                       uint32_t index) {
  VirtualFunction vf;
  vf.index = index;
  absl::StatusOr<PciAddress> pci = ReadPciLink(root, link);
  if (!pci.ok()) return pci.status();
  vf.pci = *pci;

  absl::StatusOr<std::optional<std::string>> driver = root.OptionalLinkTargetName(link + "/driver");
  if (!driver.ok()) return driver.status();
  vf.driver = *std::move(driver);

  // driver_override reads "(null)" when unset (drivers/pci/pci-sysfs.c).
  if (root.Exists(link + "/driver_override")) {
    absl::StatusOr<std::string> override_text = root.ReadAttribute(link + "/driver_override");
    if (!override_text.ok()) return override_text.status();
    if (!override_text->empty() && *override_text != "(null)") {
      vf.driver_override = *std::move(override_text);
    }
  }

  if (root.Exists(link + "/net")) {
    absl::StatusOr<std::vector<std::string>> names = root.ListDirectory(link + "/net");
    if (!names.ok()) return names.status();
    if (!names->empty()) vf.netdev = names->front();
  }

  absl::StatusOr<std::optional<std::string>> group =
      root.OptionalLinkTargetName(link + "/iommu_group");
  if (!group.ok()) return group.status();
  if (*group) {
    std::optional<uint32_t> number = ParseIndex(**group);
    if (!number) {
      return absl::DataLossError(root.Path(link + "/iommu_group") + " links to group '" + **group +
                                 "', not a number");
    }
    vf.iommu_group = *number;
  }
  return vf;
}

absl::StatusOr<PhysicalFunction> ReadPf(const SysfsRoot& root, std::string_view netdev) {
  const std::string net = "sys/class/net/" + std::string(netdev);
  const std::string dev = net + "/device";
  PhysicalFunction pf;
  pf.netdev = std::string(netdev);

  absl::StatusOr<PciAddress> pci = ReadPciLink(root, dev);
  if (!pci.ok()) return pci.status();
  pf.pci = *pci;

  absl::StatusOr<std::optional<std::string>> driver = root.OptionalLinkTargetName(dev + "/driver");
  if (!driver.ok()) return driver.status();
  pf.driver = *std::move(driver);

  absl::StatusOr<uint16_t> vendor = ReadPciId(root, dev + "/vendor");
  if (!vendor.ok()) return vendor.status();
  pf.vendor_id = *vendor;
  absl::StatusOr<uint16_t> device = ReadPciId(root, dev + "/device");
  if (!device.ok()) return device.status();
  pf.device_id = *device;

  // numa_node exists only in kernels built with NUMA support; without it there is no affinity.
  if (root.Exists(dev + "/numa_node")) {
    absl::StatusOr<std::optional<uint32_t>> numa = ReadUnknownOrCount(root, dev + "/numa_node");
    if (!numa.ok()) return numa.status();
    pf.numa_node = *numa;
  }

  // Reading speed fails with EINVAL while the link is down, and drivers that cannot tell print
  // -1 (SPEED_UNKNOWN): both mean "unknown". A value that is not a number is a broken tree.
  absl::StatusOr<std::optional<uint32_t>> speed = ReadUnknownOrCount(root, net + "/speed");
  if (speed.ok()) {
    pf.speed_mbps = *speed;
  } else if (speed.status().code() == absl::StatusCode::kDataLoss) {
    return speed.status();
  }

  absl::StatusOr<std::string> operstate = root.ReadAttribute(net + "/operstate");
  if (!operstate.ok()) return operstate.status();
  std::optional<OperState> state = ParseOperState(*operstate);
  if (!state) {
    return absl::DataLossError(root.Path(net + "/operstate") + " holds '" + *operstate +
                               "', not an RFC 2863 operational state");
  }
  pf.operstate = *state;

  absl::StatusOr<uint32_t> total = ReadVfCount(root, dev + "/sriov_totalvfs");
  if (!total.ok()) return total.status();
  pf.total_vfs = *total;
  absl::StatusOr<uint32_t> num = ReadVfCount(root, dev + "/sriov_numvfs");
  if (!num.ok()) return num.status();
  pf.num_vfs = *num;
  if (pf.num_vfs > pf.total_vfs) {
    return absl::DataLossError("sriov_numvfs " + std::to_string(pf.num_vfs) +
                               " exceeds sriov_totalvfs " + std::to_string(pf.total_vfs) + " in " +
                               root.Path(dev));
  }

  // The kernel links virtfn0 .. virtfn<numvfs-1> while it enables the VFs (pci_iov_add_virtfn).
  absl::StatusOr<std::vector<std::string>> entries = root.ListDirectory(dev);
  if (!entries.ok()) return entries.status();
  std::vector<uint32_t> indices;
  for (const std::string& name : *entries) {
    if (name.rfind("virtfn", 0) != 0) continue;
    std::optional<uint32_t> index = ParseIndex(std::string_view(name).substr(6));
    if (!index || name != "virtfn" + std::to_string(*index)) {
      return absl::DataLossError(root.Path(dev + "/" + name) +
                                 ": a virtfn link without a VF number");
    }
    indices.push_back(*index);
  }
  std::sort(indices.begin(), indices.end());
  if (indices.size() != pf.num_vfs) {
    return absl::DataLossError(root.Path(dev) + " has " + std::to_string(indices.size()) +
                               " virtfn links but sriov_numvfs is " + std::to_string(pf.num_vfs));
  }
  for (uint32_t i = 0; i < indices.size(); ++i) {
    if (indices[i] != i) {
      return absl::DataLossError(root.Path(dev) + " has no virtfn" + std::to_string(i) +
                                 " link, yet sriov_numvfs is " + std::to_string(pf.num_vfs));
    }
  }
  for (uint32_t index : indices) {
    absl::StatusOr<VirtualFunction> vf =
        ReadVf(root, dev + "/virtfn" + std::to_string(index), index);
    if (!vf.ok()) return vf.status();
    pf.vfs.push_back(*std::move(vf));
  }
  return pf;
}

// Why `netdev` is not an SR-IOV PF, or nullopt when it is one (its tree may still be broken).
// NotFound/FailedPrecondition say it is not one; any other code is a broken tree.
std::optional<absl::Status> NotAPf(const SysfsRoot& root, std::string_view netdev) {
  const std::string net = "sys/class/net/" + std::string(netdev);
  if (!root.LinkExists(net)) {
    return absl::NotFoundError("no network interface " + std::string(netdev) + " in " +
                               root.Path("sys/class/net"));
  }
  if (!root.LinkExists(net + "/device")) {
    return absl::FailedPreconditionError("not an SR-IOV PF: a virtual interface (no device link)");
  }
  if (!root.Exists(net + "/device")) return std::nullopt;  // dangling: ReadPf names it
  if (root.LinkExists(net + "/device/physfn")) {
    return absl::FailedPreconditionError("not an SR-IOV PF: a VF (it has a physfn link)");
  }
  if (!root.Exists(net + "/device/sriov_totalvfs")) {
    return absl::FailedPreconditionError("not an SR-IOV PF: its device has no sriov_totalvfs");
  }
  // phys_port_name fails (EOPNOTSUPP) for drivers without switchdev ports: not a representor.
  absl::StatusOr<std::string> port = root.ReadAttribute(net + "/phys_port_name");
  if (port.ok() && IsRepresentorPortName(*port)) {
    return absl::FailedPreconditionError("not an SR-IOV PF: a switchdev representor (port " +
                                         *port + ")");
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<uint32_t> ReadVfCount(const SysfsRoot& root, const std::string& rel) {
  absl::StatusOr<int64_t> value = root.ReadDecimal(rel);
  if (!value.ok()) return value.status();
  if (*value < 0 || *value > std::numeric_limits<uint16_t>::max()) {
    // TotalVFs and NumVFs are 16-bit registers of the SR-IOV Extended Capability (PCIe base spec).
    return absl::DataLossError(root.Path(rel) + " holds " + std::to_string(*value) +
                               ", not a VF count (0..65535)");
  }
  return static_cast<uint32_t>(*value);
}

std::string_view OperStateName(OperState state) {
  for (const auto& [value, name] : kOperStates) {
    if (value == state) return name;
  }
  return "unknown";
}

std::optional<OperState> ParseOperState(std::string_view text) {
  for (const auto& [value, name] : kOperStates) {
    if (name == text) return value;
  }
  return std::nullopt;
}

absl::StatusOr<PhysicalFunction> DiscoverPf(const SysfsRoot& root, std::string_view netdev) {
  if (!IsPathComponent(netdev)) {
    return absl::InvalidArgumentError("'" + std::string(netdev) + "' is not an interface name");
  }
  if (std::optional<absl::Status> why = NotAPf(root, netdev)) return About(netdev, *why);
  absl::StatusOr<PhysicalFunction> pf = ReadPf(root, netdev);
  if (!pf.ok()) return About(netdev, pf.status());
  return pf;
}

absl::StatusOr<Inventory> Discover(const SysfsRoot& root) {
  absl::StatusOr<std::vector<std::string>> names = root.ListDirectory("sys/class/net");
  if (!names.ok()) return names.status();
  Inventory inventory;
  for (const std::string& name : *names) {
    if (NotAPf(root, name)) continue;
    absl::StatusOr<PhysicalFunction> pf = ReadPf(root, name);
    if (pf.ok()) {
      inventory.pfs.push_back(*std::move(pf));
    } else {
      inventory.problems.push_back(About(name, pf.status()));
    }
  }
  return inventory;
}

}  // namespace braid::sriov
