#include "datapath/io/errors.h"

#include <rte_errno.h>

#include <cerrno>
#include <string>

#include "datapath/io/text.h"

namespace braid::io {

absl::Status ErrnoStatus(int errnum, std::string_view context) {
  if (errnum < 0) errnum = -errnum;
  const std::string message = Cat(context, ": ", rte_strerror(errnum));
  switch (errnum) {
    case 0:
      return absl::UnknownError(Cat(context, ": failed without an error code"));
    case ENOTSUP:
#if EOPNOTSUPP != ENOTSUP
    case EOPNOTSUPP:
#endif
    case ENOSYS:
      return absl::UnimplementedError(message);
    case E_RTE_SECONDARY:
    case E_RTE_NO_CONFIG:
      return absl::FailedPreconditionError(message);
    default:
      // Not absl::ErrnoToStatus: it appends strerror again.
      return absl::Status(absl::ErrnoToStatusCode(errnum), message);
  }
}

absl::Status ReturnStatus(int ret, std::string_view context) {
  if (ret >= 0) return absl::OkStatus();
  return ErrnoStatus(-ret, context);
}

absl::Status LastErrorStatus(std::string_view context) { return ErrnoStatus(rte_errno, context); }

}  // namespace braid::io
