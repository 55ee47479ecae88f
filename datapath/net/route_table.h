// Routes of one stack instance. Each path (interface) has its connected prefixes, its static
// routes and a default route through its gateway, and a packet's source address picks the path
// first: a segment from address A leaves through A's interface, using only that interface's
// routes (source-based policy routing, as Linux does with one table per path selected by an
// "ip rule from A" rule; MPTCP subflows depend on it). Without a source (choosing one for a new
// connection) the longest prefix match runs over every interface's routes.
//
// A linear scan: a worker has a few paths and a handful of routes per path, so this beats any
// trie on size and cache footprint. Lookup never allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "datapath/net/interface.h"
#include "datapath/wire/address.h"

namespace braid::net {

enum class RouteKind : uint8_t {
  kConnected,  // an address's on-link prefix: the destination is its own next hop
  kStatic,     // configured
  kDefault,    // 0.0.0.0/0 or ::/0 through the interface's gateway
};
std::string_view RouteKindName(RouteKind kind);

struct Route {
  wire::IpAddress prefix;  // bits past prefix_len are zero
  uint8_t prefix_len = 0;
  InterfaceId interface = 0;
  // The next hop to resolve; nullopt: on-link (the destination itself).
  std::optional<wire::IpAddress> gateway;
  uint32_t metric = 0;  // lower wins among routes of the same prefix length
  RouteKind kind = RouteKind::kStatic;
  friend bool operator==(const Route&, const Route&) = default;
};

class RouteTable {
 public:
  // Adds `route` with its prefix normalized. An identical route (prefix, length, interface,
  // gateway) is replaced.
  void Add(Route route);
  // Removes routes matching prefix/length/interface; returns how many.
  size_t Remove(const wire::IpAddress& prefix, uint8_t prefix_len, InterfaceId interface);
  // Removes the interface's routes of `kind`; returns how many.
  size_t RemoveKind(InterfaceId interface, RouteKind kind);

  // Longest prefix match for `destination` among routes of its family, only those of
  // `interface` when given. Ties: lower metric, then the route added first. nullptr: no route.
  const Route* Lookup(const wire::IpAddress& destination,
                      std::optional<InterfaceId> interface = std::nullopt) const;

  std::span<const Route> routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

}  // namespace braid::net
