// Moving a PCI function (a VF) between drivers the way the kernel documents it
// (Documentation/ABI/testing/sysfs-bus-pci: driver_override, drivers/.../unbind, drivers_probe)
// and dpdk-devbind does it:
//
//   echo vfio-pci     > sys/bus/pci/devices/<pci>/driver_override
//   echo <pci>        > sys/bus/pci/devices/<pci>/driver/unbind      (when bound)
//   echo <pci>        > sys/bus/pci/drivers_probe
//
// driver_override makes the probe deterministic (only that driver may take the device) and keeps
// other drivers from claiming it later. Each call checks the result by reading the driver link
// back, and a failed bind undoes what it did. Errors name the device, the drivers and the file;
// a failed write carries the kernel's errno.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sriov/pci_address.h"
#include "sriov/sysfs.h"

namespace braid::sriov {

inline constexpr std::string_view kVfioPci = "vfio-pci";

// The driver bound to the device, or nullopt when none is. NotFound when there is no such device.
absl::StatusOr<std::optional<std::string>> CurrentDriver(const SysfsRoot& root,
                                                         const PciAddress& pci);

// Binds the device to `driver` (e.g. kVfioPci). Does nothing when it is already bound to it.
// NotFound without the device; FailedPrecondition when the driver is not loaded (no
// sys/bus/pci/drivers/<driver>) or when the probe left the device elsewhere (then the override
// is cleared and the device re-probed, and the message says how that went).
absl::Status BindToDriver(SysfsRoot& root, const PciAddress& pci, std::string_view driver);

// Unbinds the device from its driver, leaving it without one; does nothing when it has none.
// driver_override is left as it is.
absl::Status Unbind(SysfsRoot& root, const PciAddress& pci);

// Hands the device back to the kernel's choice of driver: clears driver_override and, when the
// device is unbound or bound to the driver the override named, unbinds and re-probes it. Returns
// the driver that holds it afterwards (nullopt: none matched).
absl::StatusOr<std::optional<std::string>> RestoreDefaultDriver(SysfsRoot& root,
                                                                const PciAddress& pci);

// The VFIO group device ("<root>/dev/vfio/<group>") through which a user-space driver such as
// DPDK opens a device bound to vfio-pci. FailedPrecondition when the device is not bound to
// vfio-pci, has no IOMMU group, or the group device does not exist.
absl::StatusOr<std::string> VfioGroupDevice(const SysfsRoot& root, const PciAddress& pci);

}  // namespace braid::sriov
