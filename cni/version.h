// CNI spec versions: what braid-cni supports, and which one a request is answered in. CNI 1.1 lets
// a configuration list several versions (`cniVersions`) next to `cniVersion`; the highest one both
// sides support wins (CNI spec 1.1, "Configuration format").
#pragma once

#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "cni/json.h"

namespace braid::cni {

// Oldest first. 0.3.0 is the first with the rich result (interfaces, ips, routes).
inline constexpr std::array<std::string_view, 5> kSupportedVersions = {"0.3.0", "0.3.1", "0.4.0",
                                                                       "1.0.0", "1.1.0"};
inline constexpr std::string_view kLatestVersion = "1.1.0";

// The verbs' floors: CHECK arrived in 0.4.0, STATUS and GC in 1.1.0. libcni's skel answers a
// verb below its floor with error 1 ("config version does not allow GC"), and so do we.
inline constexpr std::string_view kCheckMinVersion = "0.4.0";
inline constexpr std::string_view kStatusGcMinVersion = "1.1.0";
// From 1.0.0 on, results no longer carry ips[].version.
inline constexpr std::string_view kNoIpVersionFieldFrom = "1.0.0";
// New in 1.1.0: interfaces[].socketPath (and pciID, mtu).
inline constexpr std::string_view kSocketPathFrom = "1.1.0";

// major.minor.patch, each a decimal number; nullopt for anything else.
std::optional<std::array<int, 3>> ParseVersion(std::string_view text);
// Negative, zero or positive as a < b, a == b, a > b; unparsable versions sort lowest.
int CompareVersions(std::string_view a, std::string_view b);
bool AtLeast(std::string_view version, std::string_view floor);
bool IsSupported(std::string_view version);

// The highest of `theirs` that braid-cni supports too.
std::optional<std::string> HighestShared(std::span<const std::string> theirs);

// The version to answer `config` in: the highest shared one of `cniVersions` and `cniVersion`
// (a configuration without either is 0.1.0, as libcni reads it). Errors: 1 when none is shared,
// 7 when the keys have the wrong type.
absl::StatusOr<std::string> NegotiateVersion(const JsonValue& config);

}  // namespace braid::cni
