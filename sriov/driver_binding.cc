#include "sriov/driver_binding.h"

#include <charconv>
#include <string>

namespace braid::sriov {
namespace {

std::string DeviceDir(const PciAddress& pci) { return "sys/bus/pci/devices/" + pci.ToString(); }

std::string DriverName(const std::optional<std::string>& driver) {
  return driver ? *driver : std::string("no driver");
}

absl::Status WithContext(const absl::Status& status, const std::string& context) {
  return absl::Status(status.code(), context + ": " + std::string(status.message()));
}

absl::Status CheckDevice(const SysfsRoot& root, const PciAddress& pci) {
  if (root.Exists(DeviceDir(pci))) return absl::OkStatus();
  return absl::NotFoundError("no PCI device " + pci.ToString() + " in " +
                             root.Path("sys/bus/pci/devices"));
}

// Unbinding goes through the device's own driver link (its target is the driver's directory),
// so it needs no knowledge of which driver that is.
absl::Status UnbindCurrent(SysfsRoot& root, const PciAddress& pci) {
  return root.WriteAttribute(DeviceDir(pci) + "/driver/unbind", pci.ToString());
}

absl::Status Probe(SysfsRoot& root, const PciAddress& pci) {
  return root.WriteAttribute("sys/bus/pci/drivers_probe", pci.ToString());
}

// Writing a lone newline clears driver_override (pci-sysfs.c driver_override_store).
absl::Status ClearOverride(SysfsRoot& root, const PciAddress& pci) {
  return root.WriteAttribute(DeviceDir(pci) + "/driver_override", "\n");
}

// After a failed bind: no override, and the device offered to the drivers again, so that its
// default driver (if it had one) takes it back. Returns a description for the error message.
std::string Undo(SysfsRoot& root, const PciAddress& pci) {
  if (absl::Status cleared = ClearOverride(root, pci); !cleared.ok()) {
    return "undo failed: " + std::string(cleared.message());
  }
  absl::StatusOr<std::optional<std::string>> now = CurrentDriver(root, pci);
  if (now.ok() && !*now) {
    if (absl::Status probed = Probe(root, pci); !probed.ok()) {
      return "override cleared; re-probe failed: " + std::string(probed.message());
    }
    now = CurrentDriver(root, pci);
  }
  if (!now.ok()) return "override cleared; " + std::string(now.status().message());
  return "override cleared, device now has " + DriverName(*now);
}

}  // namespace

absl::StatusOr<std::optional<std::string>> CurrentDriver(const SysfsRoot& root,
                                                         const PciAddress& pci) {
  if (absl::Status device = CheckDevice(root, pci); !device.ok()) return device;
  return root.OptionalLinkTargetName(DeviceDir(pci) + "/driver");
}

absl::Status BindToDriver(SysfsRoot& root, const PciAddress& pci, std::string_view driver) {
  const std::string context = "binding " + pci.ToString() + " to " + std::string(driver);
  if (!IsPathComponent(driver)) return absl::InvalidArgumentError(context + ": not a driver name");
  absl::StatusOr<std::optional<std::string>> before = CurrentDriver(root, pci);
  if (!before.ok()) return WithContext(before.status(), context);
  if (*before == driver) return absl::OkStatus();
  if (!root.Exists("sys/bus/pci/drivers/" + std::string(driver))) {
    return absl::FailedPreconditionError(context + ": the driver is not loaded (no " +
                                         root.Path("sys/bus/pci/drivers/" + std::string(driver)) +
                                         "; modprobe " + std::string(driver) + ")");
  }

  if (absl::Status set = root.WriteAttribute(DeviceDir(pci) + "/driver_override", driver);
      !set.ok()) {
    return WithContext(set, context);
  }
  absl::Status moved = absl::OkStatus();
  if (*before) moved = UnbindCurrent(root, pci);
  if (moved.ok()) moved = Probe(root, pci);
  if (moved.ok()) {
    absl::StatusOr<std::optional<std::string>> after = CurrentDriver(root, pci);
    if (!after.ok()) {
      moved = after.status();
    } else if (*after != driver) {
      // drivers_probe succeeds even when no driver takes the device: only the link tells.
      moved = absl::FailedPreconditionError("after drivers_probe the device has " +
                                            DriverName(*after) + " (was " + DriverName(*before) +
                                            "); the kernel log says why " + std::string(driver) +
                                            " refused it");
    }
  }
  if (moved.ok()) return moved;
  return absl::Status(moved.code(),
                      context + ": " + std::string(moved.message()) + " [" + Undo(root, pci) + "]");
}

absl::Status Unbind(SysfsRoot& root, const PciAddress& pci) {
  const std::string context = "unbinding " + pci.ToString();
  absl::StatusOr<std::optional<std::string>> before = CurrentDriver(root, pci);
  if (!before.ok()) return WithContext(before.status(), context);
  if (!*before) return absl::OkStatus();
  if (absl::Status done = UnbindCurrent(root, pci); !done.ok()) {
    return WithContext(done, context + " from " + **before);
  }
  absl::StatusOr<std::optional<std::string>> after = CurrentDriver(root, pci);
  if (!after.ok()) return WithContext(after.status(), context);
  if (*after) {
    return absl::FailedPreconditionError(context + " from " + **before + ": the device still has " +
                                         **after);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> RestoreDefaultDriver(SysfsRoot& root,
                                                                const PciAddress& pci) {
  const std::string context = "restoring the default driver of " + pci.ToString();
  absl::StatusOr<std::optional<std::string>> before = CurrentDriver(root, pci);
  if (!before.ok()) return WithContext(before.status(), context);
  absl::StatusOr<std::string> override_text =
      root.ReadAttribute(DeviceDir(pci) + "/driver_override");
  if (!override_text.ok()) return WithContext(override_text.status(), context);
  const bool overridden = !override_text->empty() && *override_text != "(null)";

  if (overridden) {
    if (absl::Status cleared = ClearOverride(root, pci); !cleared.ok()) {
      return WithContext(cleared, context);
    }
  }
  // A device bound by its own match (no override, or another driver) is where the kernel put it.
  const bool held_by_override = overridden && *before == *override_text;
  if (*before && !held_by_override) return before;
  if (*before) {
    if (absl::Status done = UnbindCurrent(root, pci); !done.ok()) {
      return WithContext(done, context + " (unbinding from " + **before + ")");
    }
  }
  if (absl::Status probed = Probe(root, pci); !probed.ok()) return WithContext(probed, context);
  absl::StatusOr<std::optional<std::string>> after = CurrentDriver(root, pci);
  if (!after.ok()) return WithContext(after.status(), context);
  return after;
}

absl::StatusOr<std::string> VfioGroupDevice(const SysfsRoot& root, const PciAddress& pci) {
  const std::string context = "VFIO group of " + pci.ToString();
  absl::StatusOr<std::optional<std::string>> driver = CurrentDriver(root, pci);
  if (!driver.ok()) return WithContext(driver.status(), context);
  if (*driver != kVfioPci) {
    return absl::FailedPreconditionError(context + ": the device has " + DriverName(*driver) +
                                         ", not vfio-pci");
  }
  absl::StatusOr<std::optional<std::string>> group =
      root.OptionalLinkTargetName(DeviceDir(pci) + "/iommu_group");
  if (!group.ok()) return WithContext(group.status(), context);
  if (!*group) {
    return absl::FailedPreconditionError(context + ": the device has no IOMMU group (IOMMU off?)");
  }
  unsigned number = 0;
  const std::string& name = **group;
  const auto [stop, error] = std::from_chars(name.data(), name.data() + name.size(), number);
  if (name.empty() || error != std::errc() || stop != name.data() + name.size()) {
    return absl::DataLossError(context + ": " + root.Path(DeviceDir(pci) + "/iommu_group") +
                               " links to group '" + name + "', not a number");
  }
  const std::string device = "dev/vfio/" + std::to_string(number);
  if (!root.Exists(device)) {
    return absl::FailedPreconditionError(context + ": " + root.Path(device) + " does not exist");
  }
  return root.Path(device);
}

}  // namespace braid::sriov
