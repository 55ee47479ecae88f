// Every file the SR-IOV code reads or writes in sysfs (and /dev) goes through a SysfsRoot: a
// directory standing for "/". Production uses "/"; tests build a synthetic tree with the kernel's
// layout in a temporary directory and hand its path here. Paths given to the methods are relative
// to the root ("sys/class/net/eth0/speed"); messages name the full path.
//
// Reads follow sysfs rules: an attribute is at most a page of text; one trailing newline is
// dropped. Writes are one write(2) of the whole value, as the kernel's attribute store functions
// expect, and report the errno the store function returned.
//
// WriteAttribute is virtual: what the kernel does in answer to a write (creating VFs, binding a
// driver) cannot happen in a plain directory, so a test can stand in for the kernel there.
//
// Errors (absl codes from the errno): NotFound for a missing file or a dangling link,
// InvalidArgument for an attribute the kernel refuses to show (sysfs answers EINVAL, e.g. speed on
// a link that is down), DataLoss for a value that is not what the kernel prints.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace braid::sriov {

class SysfsRoot {
 public:
  // `root` is the directory standing for "/"; a trailing slash is ignored.
  explicit SysfsRoot(std::string root = "/");
  virtual ~SysfsRoot() = default;
  // A subclass may stand in for the kernel: no copies that would slice it off.
  SysfsRoot(const SysfsRoot&) = delete;
  SysfsRoot& operator=(const SysfsRoot&) = delete;

  const std::string& root() const { return root_; }
  // The full path of `rel` under the root: Path("sys/bus/pci") is "/sys/bus/pci" in production.
  std::string Path(std::string_view rel) const;

  // True when `rel` exists, following symbolic links (a dangling link does not exist).
  bool Exists(std::string_view rel) const;
  // True when `rel` itself exists, link or not (a dangling link exists).
  bool LinkExists(std::string_view rel) const;

  // The attribute's text without its trailing newline.
  absl::StatusOr<std::string> ReadAttribute(std::string_view rel) const;
  // A decimal integer, optionally negative ("-1" is how sysfs says "unknown").
  absl::StatusOr<int64_t> ReadDecimal(std::string_view rel) const;
  // A hexadecimal number with the 0x prefix, as PCI ids are printed ("0x8086").
  absl::StatusOr<uint32_t> ReadHex(std::string_view rel) const;

  // The last component of a symbolic link's target, after checking that the target exists:
  // "driver" -> "../../../bus/pci/drivers/ixgbevf" gives "ixgbevf". NotFound when `rel` is not
  // there or dangles; InvalidArgument when it is not a link.
  absl::StatusOr<std::string> LinkTargetName(std::string_view rel) const;
  // As LinkTargetName, but nullopt when `rel` does not exist at all (an unbound device has no
  // "driver" link); a dangling link is still an error.
  absl::StatusOr<std::optional<std::string>> OptionalLinkTargetName(std::string_view rel) const;

  // The names in a directory (without "." and ".."), sorted.
  absl::StatusOr<std::vector<std::string>> ListDirectory(std::string_view rel) const;

  // Writes `value` as one write(2) to an existing attribute (never creates a file).
  virtual absl::Status WriteAttribute(std::string_view rel, std::string_view value);

 private:
  std::string root_;
};

// True when `name` can be used as one path component: not empty, not "." or "..", no '/', no NUL.
// Interface and driver names coming from configuration are checked with this before they are put
// into a path.
bool IsPathComponent(std::string_view name);

}  // namespace braid::sriov
