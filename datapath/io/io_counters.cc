#include "datapath/io/io_counters.h"

namespace braid::io {
namespace {

constexpr std::string_view kDropNames[] = {
#define BRAID_IO_DROP(name, metric, desc) metric,
#include "datapath/io/io_drop.def"
#undef BRAID_IO_DROP
};
constexpr std::string_view kDropDescriptions[] = {
#define BRAID_IO_DROP(name, metric, desc) desc,
#include "datapath/io/io_drop.def"
#undef BRAID_IO_DROP
};
constexpr std::string_view kCounterNames[] = {
#define BRAID_IO_COUNTER(name, metric, help) metric,
#include "datapath/io/io_mib.def"
#undef BRAID_IO_COUNTER
};
constexpr std::string_view kCounterHelp[] = {
#define BRAID_IO_COUNTER(name, metric, help) help,
#include "datapath/io/io_mib.def"
#undef BRAID_IO_COUNTER
};
static_assert(std::size(kDropNames) == kIoDropCount);
static_assert(std::size(kCounterNames) == kIoCounterCount);

}  // namespace

std::string_view IoDropName(IoDrop reason) {
  const auto i = static_cast<size_t>(reason);
  return i < kIoDropCount ? kDropNames[i] : "unknown";
}
std::string_view IoDropDescription(IoDrop reason) {
  const auto i = static_cast<size_t>(reason);
  return i < kIoDropCount ? kDropDescriptions[i] : "";
}
std::string_view IoCounterName(IoCounter counter) {
  const auto i = static_cast<size_t>(counter);
  return i < kIoCounterCount ? kCounterNames[i] : "unknown";
}
std::string_view IoCounterHelp(IoCounter counter) {
  const auto i = static_cast<size_t>(counter);
  return i < kIoCounterCount ? kCounterHelp[i] : "";
}

}  // namespace braid::io
