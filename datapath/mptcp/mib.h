// MPTCP counters (mib.def): one array per worker's MptcpSockets, incremented on the packet path,
// read by braidctl and the metrics exporter. Named like the kernel's MPTcpExt MIB.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace braid::mptcp {

enum class MptcpCounter : uint8_t {
#define BRAID_MPTCP_COUNTER(name, metric, help) name,
#include "datapath/mptcp/mib.def"
#undef BRAID_MPTCP_COUNTER
  kCount,
};
inline constexpr size_t kMptcpCounterCount = static_cast<size_t>(MptcpCounter::kCount);
std::string_view MptcpCounterName(MptcpCounter counter);  // the metric name
std::string_view MptcpCounterHelp(MptcpCounter counter);

struct MptcpCounters {
  std::array<uint64_t, kMptcpCounterCount> values{};
  uint64_t operator[](MptcpCounter c) const { return values[static_cast<size_t>(c)]; }
  void Add(MptcpCounter c, uint64_t n = 1) { values[static_cast<size_t>(c)] += n; }
};

}  // namespace braid::mptcp
