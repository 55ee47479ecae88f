#include "datapath/net/net_counters.h"

namespace braid::net {
namespace {

struct Info {
  std::string_view name;
  std::string_view help;
};

constexpr std::array<Info, kNetDropCount> kDrops = {{
#define BRAID_NET_DROP(name, metric, desc) {metric, desc},
#include "datapath/net/net_drop.def"
#undef BRAID_NET_DROP
}};

constexpr std::array<Info, kNetCounterCount> kCounters = {{
#define BRAID_NET_COUNTER(name, metric, help) {metric, help},
#include "datapath/net/net_mib.def"
#undef BRAID_NET_COUNTER
}};

}  // namespace

std::string_view NetDropName(NetDrop reason) {
  auto i = static_cast<size_t>(reason);
  return i < kDrops.size() ? kDrops[i].name : "invalid";
}

std::string_view NetDropDescription(NetDrop reason) {
  auto i = static_cast<size_t>(reason);
  return i < kDrops.size() ? kDrops[i].help : "invalid drop reason";
}

std::string_view NetCounterName(NetCounter counter) {
  auto i = static_cast<size_t>(counter);
  return i < kCounters.size() ? kCounters[i].name : "invalid";
}

std::string_view NetCounterHelp(NetCounter counter) {
  auto i = static_cast<size_t>(counter);
  return i < kCounters.size() ? kCounters[i].help : "invalid counter";
}

}  // namespace braid::net
