// The io layer's counters: drops by reason (io_drop.def) and everything else (io_mib.def). One set
// per queue object, owned by one worker: plain integers, no atomics.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace braid::io {

enum class IoDrop : uint8_t {
#define BRAID_IO_DROP(name, metric, desc) name,
#include "datapath/io/io_drop.def"
#undef BRAID_IO_DROP
  kCount,
};
inline constexpr size_t kIoDropCount = static_cast<size_t>(IoDrop::kCount);

enum class IoCounter : uint8_t {
#define BRAID_IO_COUNTER(name, metric, help) name,
#include "datapath/io/io_mib.def"
#undef BRAID_IO_COUNTER
  kCount,
};
inline constexpr size_t kIoCounterCount = static_cast<size_t>(IoCounter::kCount);

std::string_view IoDropName(IoDrop reason);
std::string_view IoDropDescription(IoDrop reason);
std::string_view IoCounterName(IoCounter counter);
std::string_view IoCounterHelp(IoCounter counter);

struct IoCounters {
  std::array<uint64_t, kIoCounterCount> values{};
  std::array<uint64_t, kIoDropCount> drops{};

  uint64_t operator[](IoCounter c) const { return values[static_cast<size_t>(c)]; }
  uint64_t dropped(IoDrop d) const { return drops[static_cast<size_t>(d)]; }
  uint64_t total_dropped() const {
    uint64_t n = 0;
    for (uint64_t d : drops) n += d;
    return n;
  }
  void Add(IoCounter c, uint64_t n = 1) { values[static_cast<size_t>(c)] += n; }
  void AddDrop(IoDrop d, uint64_t n = 1) { drops[static_cast<size_t>(d)] += n; }
  // Sums another set into this one (per-port or per-worker totals).
  void Merge(const IoCounters& other) {
    for (size_t i = 0; i < values.size(); ++i) values[i] += other.values[i];
    for (size_t i = 0; i < drops.size(); ++i) drops[i] += other.drops[i];
  }
};

}  // namespace braid::io
