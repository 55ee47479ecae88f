// The net layer's counters: drops by reason (net_drop.def) and everything else (net_mib.def), one
// set per stack instance. Plain integers: one worker owns the stack, so no atomics.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace braid::net {

enum class NetDrop : uint8_t {
#define BRAID_NET_DROP(name, metric, desc) name,
#include "datapath/net/net_drop.def"
#undef BRAID_NET_DROP
  kCount,
};
inline constexpr size_t kNetDropCount = static_cast<size_t>(NetDrop::kCount);

enum class NetCounter : uint8_t {
#define BRAID_NET_COUNTER(name, metric, help) name,
#include "datapath/net/net_mib.def"
#undef BRAID_NET_COUNTER
  kCount,
};
inline constexpr size_t kNetCounterCount = static_cast<size_t>(NetCounter::kCount);

// Stable snake_case names (the metric label / name) and one-line descriptions.
std::string_view NetDropName(NetDrop reason);
std::string_view NetDropDescription(NetDrop reason);
std::string_view NetCounterName(NetCounter counter);
std::string_view NetCounterHelp(NetCounter counter);

struct NetCounters {
  std::array<uint64_t, kNetCounterCount> values{};
  std::array<uint64_t, kNetDropCount> drops{};

  uint64_t operator[](NetCounter c) const { return values[static_cast<size_t>(c)]; }
  uint64_t dropped(NetDrop d) const { return drops[static_cast<size_t>(d)]; }
  void Add(NetCounter c, uint64_t n = 1) { values[static_cast<size_t>(c)] += n; }
  void AddDrop(NetDrop d, uint64_t n = 1) { drops[static_cast<size_t>(d)] += n; }
};

}  // namespace braid::net
