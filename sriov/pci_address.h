// A PCI function's address as the kernel names it in sysfs: "DDDD:BB:DD.F" (domain, bus,
// device, function), e.g. "0000:03:10.1". The domain may be wider than four digits (the kernel
// prints it with %04x; VMD domains are 10000 and up).
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace braid::sriov {

struct PciAddress {
  uint32_t domain = 0;
  uint8_t bus = 0;
  uint8_t device = 0;    // 0..31
  uint8_t function = 0;  // 0..7

  // Accepts exactly the kernel's form, hex digits in either case: at least four domain digits,
  // two bus digits, two device digits, one function digit. Anything else is nullopt.
  static std::optional<PciAddress> Parse(std::string_view text);
  // Lower-case, the way sysfs spells it: "0000:03:10.1".
  std::string ToString() const;

  friend auto operator<=>(const PciAddress&, const PciAddress&) = default;
};

}  // namespace braid::sriov
