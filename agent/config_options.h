// The table of the agent's options (config.h): one row per key with the field it sets, its
// limits and its documentation. The parser, the error messages ("expected ...") and the
// reference docs/agent-config.md are all derived from these rows, so none can drift from the
// others. Three tables: the top-level keys (dotted: "datapath.idle.mode"), the keys of one
// element of `paths`, and those of one element of `sriov.pfs`.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "agent/config.h"
#include "datapath/net/interface.h"
#include "datapath/runtime/idle_policy.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/address.h"

namespace braid::agent {

// What a field is, as a pointer into the config being filled.
using FieldRef = std::variant<bool*, uint32_t*, std::string*, tcp::Duration*,
                              std::vector<uint32_t>*, runtime::IdleMode*, PathKind*, LogLevel*,
                              std::optional<net::Ipv4Cidr>*, std::optional<net::Ipv6Cidr>*,
                              std::optional<wire::Ipv4Address>*, std::optional<wire::Ipv6Address>*>;

// A constraint on a string option: what is accepted, in words, and the test.
struct StringCheck {
  std::string (*expected)();
  bool (*valid)(std::string_view value);
};

template <typename Target>
struct Option {
  std::string_view key;  // dotted, relative to Target
  FieldRef (*field)(Target& target);
  std::string_view doc;
  // Integers: the accepted range. Durations: the range in nanoseconds. Integer lists: each
  // element's range.
  int64_t min = 0;
  int64_t max = UINT32_MAX;
  const StringCheck* check = nullptr;  // strings only; nullptr: any string
  bool required = false;
};

std::span<const Option<AgentConfig>> AgentOptions();
std::span<const Option<PathConfig>> PathOptions();
std::span<const Option<SriovPfConfig>> SriovPfOptions();

// The keys holding lists of mappings, each described by one of the tables above.
inline constexpr std::string_view kPathsKey = "paths";
inline constexpr std::string_view kSriovPfsKey = "sriov.pfs";

// What an option with this field and these limits accepts, in words: "an integer from 1 to 128",
// "true or false", ... The parser's messages and the reference both use it.
std::string Expected(FieldRef field, int64_t min, int64_t max, const StringCheck* check);

// The field's current value as the YAML would spell it ("30s", "adaptive", "(none)").
std::string FormatValue(FieldRef field);

// "250ms", "30s", "2m": the largest unit that divides the duration exactly.
std::string FormatDuration(tcp::Duration d);
// "30s", "250ms", "10us", "1500ns", "2m", "1h"; "0" alone. nullopt for anything else.
std::optional<tcp::Duration> ParseDuration(std::string_view text);

}  // namespace braid::agent
