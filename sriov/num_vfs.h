// Enabling and disabling a PF's VFs through sriov_numvfs, under the kernel's rules
// (Documentation/ABI/testing/sysfs-bus-pci, drivers/pci/iov.c sriov_numvfs_store):
// - a count above sriov_totalvfs is refused (ERANGE);
// - writing the current count does nothing;
// - going from one non-zero count to another is refused (EBUSY): the VFs must be disabled (0)
//   first, which destroys them and whatever was using them;
// - the PF's driver must implement sriov_configure, or every write fails (ENOENT).
// The write is synchronous: when it returns, the VFs exist (or are gone).
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "sriov/sysfs.h"

namespace braid::sriov {

enum class NumVfsChange {
  // A change between two non-zero counts is an error: VFs in use are never destroyed silently.
  kRefuseIfEnabled,
  // A change between two non-zero counts writes 0 first, then the new count.
  kDisableFirst,
};

// Sets the number of enabled VFs of the PF `pf_netdev` to `num_vfs`. Errors name the PF, the
// requested and the current counts: InvalidArgument above sriov_totalvfs, FailedPrecondition for
// a non-zero to non-zero change under kRefuseIfEnabled, the kernel's errno (with the file) when a
// write fails, DataLoss when sriov_numvfs does not read back as written. The errors of
// DiscoverPf-style reads when the PF's files are missing or garbled.
absl::Status SetNumVfs(SysfsRoot& root, std::string_view pf_netdev, uint32_t num_vfs,
                       NumVfsChange change = NumVfsChange::kRefuseIfEnabled);

}  // namespace braid::sriov
