#include "datapath/mptcp/mib.h"

namespace braid::mptcp {
namespace {

struct CounterText {
  std::string_view metric;
  std::string_view help;
};

constexpr std::array<CounterText, kMptcpCounterCount> kCounters = {{
#define BRAID_MPTCP_COUNTER(name, metric, help) {metric, help},
#include "datapath/mptcp/mib.def"
#undef BRAID_MPTCP_COUNTER
}};

}  // namespace

std::string_view MptcpCounterName(MptcpCounter counter) {
  const auto i = static_cast<size_t>(counter);
  return i < kCounters.size() ? kCounters[i].metric : "unknown";
}

std::string_view MptcpCounterHelp(MptcpCounter counter) {
  const auto i = static_cast<size_t>(counter);
  return i < kCounters.size() ? kCounters[i].help : "unknown";
}

}  // namespace braid::mptcp
