#include "sriov/num_vfs.h"

#include <limits>
#include <string>

#include "sriov/discovery.h"

namespace braid::sriov {
namespace {

std::string Context(std::string_view pf, uint32_t requested) {
  return "setting " + std::to_string(requested) + " VFs on " + std::string(pf);
}

absl::Status WithContext(const absl::Status& status, const std::string& context) {
  return absl::Status(status.code(), context + ": " + std::string(status.message()));
}

absl::Status WriteCount(SysfsRoot& root, const std::string& rel, uint32_t count) {
  absl::Status written = root.WriteAttribute(rel, std::to_string(count));
  if (written.ok()) return written;
  if (written.code() == absl::StatusCode::kNotFound && root.Exists(rel)) {
    // The file is there, so ENOENT came from the kernel: pci_sriov_configure has no driver hook.
    return absl::Status(written.code(),
                        std::string(written.message()) +
                            " (the PF's driver does not support setting VFs through sysfs, or "
                            "no driver is bound)");
  }
  return written;
}

}  // namespace

absl::Status SetNumVfs(SysfsRoot& root, std::string_view pf_netdev, uint32_t num_vfs,
                       NumVfsChange change) {
  const std::string context = Context(pf_netdev, num_vfs);
  if (!IsPathComponent(pf_netdev)) {
    return absl::InvalidArgumentError(context + ": not an interface name");
  }
  const std::string dev = "sys/class/net/" + std::string(pf_netdev) + "/device";
  if (!root.LinkExists("sys/class/net/" + std::string(pf_netdev))) {
    return absl::NotFoundError(context + ": no such interface in " + root.Path("sys/class/net"));
  }
  if (!root.Exists(dev + "/sriov_totalvfs")) {
    return absl::FailedPreconditionError(context + ": not an SR-IOV PF (no " +
                                         root.Path(dev + "/sriov_totalvfs") + ")");
  }
  absl::StatusOr<uint32_t> total = ReadVfCount(root, dev + "/sriov_totalvfs");
  if (!total.ok()) return WithContext(total.status(), context);
  absl::StatusOr<uint32_t> current = ReadVfCount(root, dev + "/sriov_numvfs");
  if (!current.ok()) return WithContext(current.status(), context);

  if (num_vfs > *total) {
    return absl::InvalidArgumentError(context + ": its sriov_totalvfs is " +
                                      std::to_string(*total));
  }
  if (num_vfs == *current) return absl::OkStatus();
  if (*current != 0 && num_vfs != 0) {
    if (change == NumVfsChange::kRefuseIfEnabled) {
      return absl::FailedPreconditionError(
          context + ": " + std::to_string(*current) +
          " VFs are enabled, and the kernel changes a non-zero count only through 0, which "
          "destroys them (disable them first, or ask for kDisableFirst)");
    }
    if (absl::Status disabled = WriteCount(root, dev + "/sriov_numvfs", 0); !disabled.ok()) {
      return WithContext(disabled, context + " (disabling the " + std::to_string(*current) +
                                       " enabled VFs first)");
    }
  }
  if (absl::Status written = WriteCount(root, dev + "/sriov_numvfs", num_vfs); !written.ok()) {
    return WithContext(written, context);
  }
  absl::StatusOr<uint32_t> after = ReadVfCount(root, dev + "/sriov_numvfs");
  if (!after.ok()) return WithContext(after.status(), context);
  if (*after != num_vfs) {
    return absl::DataLossError(context + ": sriov_numvfs reads " + std::to_string(*after) +
                               " after the write");
  }
  return absl::OkStatus();
}

}  // namespace braid::sriov
