#include "datapath/io/port_spec.h"

#include <cctype>
#include <vector>

#include "absl/status/status.h"
#include "datapath/io/text.h"

namespace braid::io {
namespace {

bool AllHex(std::string_view s, size_t len) {
  if (s.size() != len) return false;
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// [DDDD:]BB:DD.F
bool IsPciAddress(std::string_view s) {
  std::vector<std::string_view> parts = Split(s, ':');
  if (parts.size() == 3) {
    if (!AllHex(parts[0], 4)) return false;
    parts.erase(parts.begin());
  }
  if (parts.size() != 2 || !AllHex(parts[0], 2)) return false;
  std::vector<std::string_view> dev_fn = Split(parts[1], '.');
  return dev_fn.size() == 2 && AllHex(dev_fn[0], 2) && dev_fn[1].size() == 1 &&
         dev_fn[1][0] >= '0' && dev_fn[1][0] <= '7';
}

bool LooksLikePci(std::string_view s) {
  return !s.empty() && (std::isxdigit(static_cast<unsigned char>(s[0])) != 0) &&
         s.find(':') != std::string_view::npos && !s.starts_with("net_");
}

PortKind KindOf(std::string_view driver) {
  if (driver == "net_af_xdp") return PortKind::kAfXdp;
  if (driver == "net_af_packet") return PortKind::kAfPacket;
  if (driver == "net_tap") return PortKind::kTap;
  if (driver == "net_memif") return PortKind::kMemif;
  if (driver == "net_ring") return PortKind::kRing;
  if (driver == "net_null") return PortKind::kNull;
  return PortKind::kOtherVdev;
}

}  // namespace

std::string_view PortKindName(PortKind kind) {
  switch (kind) {
    case PortKind::kPci:
      return "pci";
    case PortKind::kAfXdp:
      return "af_xdp";
    case PortKind::kAfPacket:
      return "af_packet";
    case PortKind::kTap:
      return "tap";
    case PortKind::kMemif:
      return "memif";
    case PortKind::kRing:
      return "ring";
    case PortKind::kNull:
      return "null";
    case PortKind::kOtherVdev:
      return "vdev";
  }
  return "?";
}

std::string PortSpec::Arg(std::string_view key) const {
  for (std::string_view kv : Split(args, ',', true)) {
    const size_t eq = kv.find('=');
    if (eq != std::string_view::npos && kv.substr(0, eq) == key) {
      return std::string(kv.substr(eq + 1));
    }
  }
  return "";
}

absl::StatusOr<PortSpec> ParsePortSpec(std::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("port spec is empty");
  PortSpec spec;
  if (LooksLikePci(text)) {
    if (!IsPciAddress(text)) {
      return absl::InvalidArgumentError(
          Cat("port spec \"", text, "\": not a PCI address ([DDDD:]BB:DD.F, hexadecimal)"));
    }
    spec.kind = PortKind::kPci;
    spec.name = std::string(text);
    return spec;
  }

  const size_t comma = text.find(',');
  const std::string_view name = text.substr(0, comma);
  spec.args = comma == std::string_view::npos ? "" : std::string(text.substr(comma + 1));
  size_t digits = name.size();
  while (digits > 0 && std::isdigit(static_cast<unsigned char>(name[digits - 1]))) --digits;
  if (digits == 0 || digits == name.size()) {
    return absl::InvalidArgumentError(
        Cat("port spec \"", text, "\": a vdev name is <driver><instance>, e.g. net_ring0"));
  }
  for (std::string_view kv : Split(spec.args, ',', true)) {
    const size_t eq = kv.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return absl::InvalidArgumentError(
          Cat("port spec \"", text, "\": argument \"", kv, "\" is not key=value"));
    }
  }
  spec.name = std::string(name);
  spec.kind = KindOf(name.substr(0, digits));
  auto require = [&](std::string_view key) -> absl::Status {
    if (spec.Arg(key).empty()) {
      return absl::InvalidArgumentError(
          Cat("port spec \"", text, "\": ", PortKindName(spec.kind), " needs ", key, "=..."));
    }
    return absl::OkStatus();
  };
  absl::Status st;
  switch (spec.kind) {
    case PortKind::kAfXdp:
    case PortKind::kAfPacket:
      st = require("iface");
      break;
    case PortKind::kMemif:
      st = require("socket");
      break;
    default:
      break;
  }
  if (!st.ok()) return st;
  return spec;
}

}  // namespace braid::io
