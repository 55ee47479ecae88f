#include "datapath/net/route_table.h"

#include <algorithm>

namespace braid::net {

std::string_view RouteKindName(RouteKind kind) {
  switch (kind) {
    case RouteKind::kConnected:
      return "connected";
    case RouteKind::kStatic:
      return "static";
    case RouteKind::kDefault:
      return "default";
  }
  return "invalid";
}

void RouteTable::Add(Route route) {
  uint8_t max_len = wire::IsIpv4(route.prefix) ? 32 : 128;
  route.prefix_len = std::min(route.prefix_len, max_len);
  route.prefix = PrefixOf(route.prefix, route.prefix_len);
  for (Route& r : routes_) {
    if (r.prefix == route.prefix && r.prefix_len == route.prefix_len &&
        r.interface == route.interface && r.gateway == route.gateway) {
      r = route;
      return;
    }
  }
  routes_.push_back(route);
}

size_t RouteTable::Remove(const wire::IpAddress& prefix, uint8_t prefix_len,
                          InterfaceId interface) {
  wire::IpAddress p = PrefixOf(prefix, prefix_len);
  return std::erase_if(routes_, [&](const Route& r) {
    return r.interface == interface && r.prefix_len == prefix_len && r.prefix == p;
  });
}

size_t RouteTable::RemoveKind(InterfaceId interface, RouteKind kind) {
  return std::erase_if(routes_,
                       [&](const Route& r) { return r.interface == interface && r.kind == kind; });
}

const Route* RouteTable::Lookup(const wire::IpAddress& destination,
                                std::optional<InterfaceId> interface) const {
  const Route* best = nullptr;
  for (const Route& r : routes_) {
    if (interface && r.interface != *interface) continue;
    if (!PrefixMatch(r.prefix, destination, r.prefix_len)) continue;
    if (best == nullptr || r.prefix_len > best->prefix_len ||
        (r.prefix_len == best->prefix_len && r.metric < best->metric)) {
      best = &r;
    }
  }
  return best;
}

}  // namespace braid::net
