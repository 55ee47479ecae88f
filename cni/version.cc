#include "cni/version.h"

#include <algorithm>
#include <charconv>
#include <string>
#include <vector>

#include "cni/error.h"
#include "proto/status.h"

namespace braid::cni {
namespace {

std::string SupportedList() {
  std::string list;
  for (const std::string_view version : kSupportedVersions) {
    if (!list.empty()) list += ", ";
    list += std::string(version);
  }
  return list;
}

}  // namespace

std::optional<std::array<int, 3>> ParseVersion(std::string_view text) {
  std::array<int, 3> parts = {};
  const char* p = text.data();
  const char* const end = text.data() + text.size();
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) {
      if (p == end || *p != '.') return std::nullopt;
      ++p;
    }
    if (p == end || *p < '0' || *p > '9') return std::nullopt;  // from_chars would take '-'
    const auto [next, ec] = std::from_chars(p, end, parts[i]);
    if (ec != std::errc()) return std::nullopt;
    p = next;
  }
  if (p != end) return std::nullopt;
  return parts;
}

int CompareVersions(std::string_view a, std::string_view b) {
  const auto pa = ParseVersion(a);
  const auto pb = ParseVersion(b);
  if (!pa || !pb) return static_cast<int>(pa.has_value()) - static_cast<int>(pb.has_value());
  if (*pa < *pb) return -1;
  return *pa == *pb ? 0 : 1;
}

bool AtLeast(std::string_view version, std::string_view floor) {
  return CompareVersions(version, floor) >= 0;
}

bool IsSupported(std::string_view version) {
  return std::find(kSupportedVersions.begin(), kSupportedVersions.end(), version) !=
         kSupportedVersions.end();
}

std::optional<std::string> HighestShared(std::span<const std::string> theirs) {
  std::optional<std::string> best;
  for (const std::string& version : theirs) {
    if (IsSupported(version) && (!best || CompareVersions(version, *best) > 0)) best = version;
  }
  return best;
}

absl::StatusOr<std::string> NegotiateVersion(const JsonValue& config) {
  std::vector<std::string> offered;
  if (const JsonValue* version = FindField(config, "cniVersion")) {
    if (!IsString(*version)) {
      return MakeError(proto::kCniInvalidNetworkConfig,
                       "cniVersion: expected a string, got " + std::string(KindName(*version)));
    }
    offered.push_back(version->string_value());
  }
  if (const JsonValue* versions = FindField(config, "cniVersions")) {
    if (!IsList(*versions)) {
      return MakeError(
          proto::kCniInvalidNetworkConfig,
          "cniVersions: expected a list of strings, got " + std::string(KindName(*versions)));
    }
    for (int i = 0; i < versions->list_value().values_size(); ++i) {
      const JsonValue& item = versions->list_value().values(i);
      if (!IsString(item)) {
        return MakeError(proto::kCniInvalidNetworkConfig,
                         IndexPath("cniVersions", static_cast<size_t>(i)) +
                             ": expected a string, got " + std::string(KindName(item)));
      }
      offered.push_back(item.string_value());
    }
  }
  if (offered.empty()) offered.push_back("0.1.0");  // no version at all: the first spec's config
  if (std::optional<std::string> version = HighestShared(offered)) return *version;

  std::string offered_list;
  for (const std::string& version : offered) {
    if (!offered_list.empty()) offered_list += ", ";
    offered_list += "\"" + version + "\"";
  }
  return MakeError(proto::kCniIncompatibleVersion,
                   "incompatible CNI versions: the configuration offers " + offered_list +
                       ", braid-cni supports " + SupportedList(),
                   "supported versions: " + SupportedList());
}

}  // namespace braid::cni
