// How the SR-IOV code turns an errno into an absl::Status: the code from absl's errno mapping, and
// a message that names what was being done, the errno's text and its symbolic name, so that an
// operator reading "writing '4' to .../sriov_numvfs: Device or resource busy (EBUSY)" knows both
// the file and the kernel's answer.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace braid::sriov {

// `context` says what failed ("reading /sys/class/net/eth0/speed"); `error` is a positive errno.
absl::Status ErrnoStatus(int error, std::string_view context);

// "EBUSY" for EBUSY; "errno 4242" for a number the C library has no name for.
std::string ErrnoName(int error);

}  // namespace braid::sriov
