#include "sriov/pci_address.h"

#include <charconv>
#include <cstdio>

namespace braid::sriov {
namespace {

bool IsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Parses `text` as exactly `text.size()` hex digits (no sign, no prefix).
template <typename T>
bool ParseHex(std::string_view text, T* out) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!IsHex(c)) return false;
  }
  T value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value, 16);
  if (error != std::errc() || end != text.data() + text.size()) return false;
  *out = value;
  return true;
}

}  // namespace

std::optional<PciAddress> PciAddress::Parse(std::string_view text) {
  // DDDD:BB:DD.F: the fixed-width tail is ":BB:DD.F", 8 characters.
  constexpr size_t kTail = 8;
  if (text.size() < 4 + kTail || text.size() > 8 + kTail) return std::nullopt;
  const size_t d = text.size() - kTail;
  if (text[d] != ':' || text[d + 3] != ':' || text[d + 6] != '.') return std::nullopt;
  PciAddress a;
  unsigned bus = 0, device = 0, function = 0;
  if (!ParseHex(text.substr(0, d), &a.domain) || !ParseHex(text.substr(d + 1, 2), &bus) ||
      !ParseHex(text.substr(d + 4, 2), &device) || !ParseHex(text.substr(d + 7, 1), &function)) {
    return std::nullopt;
  }
  // PCI: 5 bits of device number, 3 bits of function number.
  if (device > 31 || function > 7) return std::nullopt;
  a.bus = static_cast<uint8_t>(bus);
  a.device = static_cast<uint8_t>(device);
  a.function = static_cast<uint8_t>(function);
  return a;
}

std::string PciAddress::ToString() const {
  char text[24];
  std::snprintf(text, sizeof(text), "%04x:%02x:%02x.%x", domain, bus, device, function);
  return text;
}

}  // namespace braid::sriov
