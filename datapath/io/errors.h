// DPDK's return conventions (NULL + rte_errno, negative errno, a count) become absl::Status here
// and nowhere else (conventions.md "Errors"). Every message names the thing that failed (port,
// queue, pool) and the call, so a start-up error can be read without the code.
#pragma once

#include <string_view>

#include "absl/status/status.h"

namespace braid::io {

// `errnum` is a positive errno or one of DPDK's own (E_RTE_SECONDARY, E_RTE_NO_CONFIG). The code
// follows absl::ErrnoToStatusCode, except ENOTSUP/EOPNOTSUPP/ENOSYS which are kUnimplemented (what
// a PMD answers for a feature it does not have). Message: "<context>: <DPDK's strerror>".
absl::Status ErrnoStatus(int errnum, std::string_view context);

// For calls that return 0 or a negative errno (most of ethdev, rte_flow, rte_dev_probe): Ok for
// ret >= 0.
absl::Status ReturnStatus(int ret, std::string_view context);

// For calls that return NULL or -1 and set rte_errno (rte_eal_init, rte_*_create): the current
// rte_errno as a Status. Read it right after the failing call.
absl::Status LastErrorStatus(std::string_view context);

}  // namespace braid::io
