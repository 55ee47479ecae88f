#include "sriov/errors.h"

#include <cstring>
#include <string>

namespace braid::sriov {

std::string ErrnoName(int error) {
  // strerrorname_np (glibc 2.32) returns nullptr for numbers it does not know.
  const char* name = ::strerrorname_np(error);
  if (name != nullptr) return name;
  return "errno " + std::to_string(error);
}

absl::Status ErrnoStatus(int error, std::string_view context) {
  const char* text = ::strerrordesc_np(error);
  std::string message(context);
  message += ": ";
  message += text != nullptr ? text : "unknown error";
  message += " (" + ErrnoName(error) + ")";
  return absl::Status(absl::ErrnoToStatusCode(error), message);
}

}  // namespace braid::sriov
