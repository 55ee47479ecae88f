// NetStack: construction, control plane, routing queries, timers and events. The packet path is
// in net_input.cc, net_output.cc, arp_nd.cc and icmp.cc.
#include "datapath/net/net_stack.h"

#include <algorithm>
#include <utility>
#include <variant>

namespace braid::net {
namespace {

bool ValidUnicastV4(const wire::Ipv4Address& a) {
  return !a.IsUnspecified() && !a.IsBroadcast() && !a.IsMulticast() && !a.IsLoopback();
}

bool ValidUnicastV6(const wire::Ipv6Address& a) {
  static constexpr wire::Ipv6Address kLoopback{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};
  return !a.IsUnspecified() && !a.IsMulticast() && a != kLoopback;
}

size_t FrameCapacity(uint16_t max_mtu) {
  return std::max(kMinFrameLen, wire::kEthernetHeaderLen + wire::kVlanTagLen + size_t{max_mtu});
}

}  // namespace

std::string_view NetErrorName(NetError error) {
  switch (error) {
    case NetError::kOk:
      return "ok";
    case NetError::kUnknownInterface:
      return "unknown_interface";
    case NetError::kInvalidMtu:
      return "invalid_mtu";
    case NetError::kInvalidVlan:
      return "invalid_vlan";
    case NetError::kInvalidMac:
      return "invalid_mac";
    case NetError::kInvalidAddress:
      return "invalid_address";
    case NetError::kDuplicateAddress:
      return "duplicate_address";
    case NetError::kDuplicateInterface:
      return "duplicate_interface";
    case NetError::kInvalidRoute:
      return "invalid_route";
    case NetError::kNotFound:
      return "not_found";
  }
  return "invalid";
}

std::string_view IcmpEventKindName(IcmpEvent::Kind kind) {
  switch (kind) {
    case IcmpEvent::Kind::kPathMtu:
      return "path_mtu";
    case IcmpEvent::Kind::kUnreachable:
      return "unreachable";
    case IcmpEvent::Kind::kTimeExceeded:
      return "time_exceeded";
    case IcmpEvent::Kind::kParameterProblem:
      return "parameter_problem";
  }
  return "invalid";
}

NetStack::NetStack(const NetStackConfig& config, FrameSink& out)
    : config_(config),
      out_(out),
      neighbors_(config.neighbor, FrameCapacity(config.max_mtu), config.secret, counters_),
      scratch_(FrameCapacity(config.max_mtu)),
      events_(std::max<size_t>(1, config.icmp_event_queue)),
      arrivals_(config.weak_host ? config.weak_host_flows : 1) {}

NetStack::~NetStack() = default;

// --- Control plane ---

NetError NetStack::AddInterface(const InterfaceConfig& config, InterfaceId* id) {
  if (config.mac.IsMulticast() || config.mac.IsZero()) return NetError::kInvalidMac;
  if (config.vlan && (*config.vlan == 0 || *config.vlan > 4094)) return NetError::kInvalidVlan;
  uint16_t min_mtu = config.ipv6.empty() ? kMinIpv4Mtu : kMinIpv6Mtu;
  if (config.mtu < min_mtu || config.mtu > config_.max_mtu) return NetError::kInvalidMtu;
  bool port_known = false;
  if (FindInterface(config.port, config.vlan, &port_known)) return NetError::kDuplicateInterface;
  for (const Ipv4Cidr& c : config.ipv4) {
    if (!ValidUnicastV4(c.address) || c.prefix_len > 32) return NetError::kInvalidAddress;
    if (IsLocal(c.address)) return NetError::kDuplicateAddress;
  }
  for (const Ipv6Cidr& c : config.ipv6) {
    if (!ValidUnicastV6(c.address) || c.address.IsLinkLocal() || c.prefix_len > 128) {
      return NetError::kInvalidAddress;
    }
    if (IsLocal(c.address)) return NetError::kDuplicateAddress;
  }
  if (config.ipv4_gateway && !ValidUnicastV4(*config.ipv4_gateway)) return NetError::kInvalidRoute;
  if (config.ipv6_gateway && !ValidUnicastV6(*config.ipv6_gateway)) return NetError::kInvalidRoute;

  Interface iface;
  iface.config = config;
  iface.link_local = LinkLocalFromMac(config.mac);
  iface.up = false;
  interfaces_.push_back(std::move(iface));
  auto new_id = static_cast<InterfaceId>(interfaces_.size() - 1);
  RebuildAddressIndex();
  InstallInterfaceRoutes(new_id);
  *id = new_id;
  return NetError::kOk;
}

NetError NetStack::SetInterfaceUp(InterfaceId id, bool up, tcp::Instant now) {
  if (id >= interfaces_.size()) return NetError::kUnknownInterface;
  SetNow(now);
  Interface& iface = interfaces_[id];
  if (iface.up == up) return NetError::kOk;
  iface.up = up;
  if (up) return Announce(id, now);
  // Down: forget the interface's neighbours; what waited for them is dropped.
  neighbors_.ForEach([&](NeighborEntry& e) {
    if (e.key.interface == id) DropQueue(e, NetDrop::kInterfaceDown);
  });
  std::vector<NeighborKey> gone;
  neighbors_.ForEach([&](NeighborEntry& e) {
    if (e.key.interface == id) gone.push_back(e.key);
  });
  for (const NeighborKey& k : gone) {
    if (NeighborEntry* e = neighbors_.Find(k)) neighbors_.Remove(*e);
  }
  return NetError::kOk;
}

NetError NetStack::AddAddress(InterfaceId id, const wire::IpAddress& address, uint8_t prefix_len,
                              tcp::Instant now) {
  if (id >= interfaces_.size()) return NetError::kUnknownInterface;
  SetNow(now);
  Interface& iface = interfaces_[id];
  if (const auto* a4 = std::get_if<wire::Ipv4Address>(&address)) {
    if (!ValidUnicastV4(*a4) || prefix_len > 32) return NetError::kInvalidAddress;
    if (IsLocal(address)) return NetError::kDuplicateAddress;
    iface.config.ipv4.push_back({*a4, prefix_len});
  } else {
    const auto& a6 = std::get<wire::Ipv6Address>(address);
    if (!ValidUnicastV6(a6) || a6.IsLinkLocal() || prefix_len > 128) {
      return NetError::kInvalidAddress;
    }
    if (iface.config.mtu < kMinIpv6Mtu) return NetError::kInvalidMtu;
    if (IsLocal(address)) return NetError::kDuplicateAddress;
    iface.config.ipv6.push_back({a6, prefix_len});
  }
  RebuildAddressIndex();
  InstallInterfaceRoutes(id);
  if (iface.up) AnnounceAddress(iface, address);
  return NetError::kOk;
}

NetError NetStack::RemoveAddress(InterfaceId id, const wire::IpAddress& address) {
  if (id >= interfaces_.size()) return NetError::kUnknownInterface;
  Interface& iface = interfaces_[id];
  size_t removed = 0;
  if (const auto* a4 = std::get_if<wire::Ipv4Address>(&address)) {
    removed = std::erase_if(iface.config.ipv4, [&](const Ipv4Cidr& c) { return c.address == *a4; });
  } else {
    const auto& a6 = std::get<wire::Ipv6Address>(address);
    removed = std::erase_if(iface.config.ipv6, [&](const Ipv6Cidr& c) { return c.address == a6; });
  }
  if (removed == 0) return NetError::kNotFound;
  RebuildAddressIndex();
  InstallInterfaceRoutes(id);
  return NetError::kOk;
}

NetError NetStack::AddRoute(const Route& route) {
  if (route.interface >= interfaces_.size()) return NetError::kUnknownInterface;
  if (route.gateway && route.gateway->index() != route.prefix.index()) {
    return NetError::kInvalidRoute;
  }
  Route r = route;
  r.kind = RouteKind::kStatic;
  routes_.Add(r);
  return NetError::kOk;
}

NetError NetStack::RemoveRoute(const wire::IpAddress& prefix, uint8_t prefix_len, InterfaceId id) {
  if (id >= interfaces_.size()) return NetError::kUnknownInterface;
  return routes_.Remove(prefix, prefix_len, id) == 0 ? NetError::kNotFound : NetError::kOk;
}

NetError NetStack::Announce(InterfaceId id, tcp::Instant now) {
  if (id >= interfaces_.size()) return NetError::kUnknownInterface;
  SetNow(now);
  const Interface& iface = interfaces_[id];
  if (!iface.up) return NetError::kOk;
  for (const Ipv4Cidr& c : iface.config.ipv4) AnnounceAddress(iface, c.address);
  AnnounceAddress(iface, iface.link_local);
  for (const Ipv6Cidr& c : iface.config.ipv6) AnnounceAddress(iface, c.address);
  return NetError::kOk;
}

NetError NetStack::Resolve(InterfaceId id, const wire::IpAddress& neighbor, tcp::Instant now) {
  if (id >= interfaces_.size()) return NetError::kUnknownInterface;
  SetNow(now);
  if (!interfaces_[id].up) return NetError::kOk;
  bool created = false;
  FindOrResolve(id, neighbor, std::nullopt, &created);
  return NetError::kOk;
}

void NetStack::InstallInterfaceRoutes(InterfaceId id) {
  routes_.RemoveKind(id, RouteKind::kConnected);
  routes_.RemoveKind(id, RouteKind::kDefault);
  const Interface& iface = interfaces_[id];
  for (const Ipv4Cidr& c : iface.config.ipv4) {
    routes_.Add({c.address, c.prefix_len, id, std::nullopt, 0, RouteKind::kConnected});
  }
  routes_.Add({iface.link_local, 64, id, std::nullopt, 0, RouteKind::kConnected});
  for (const Ipv6Cidr& c : iface.config.ipv6) {
    routes_.Add({c.address, c.prefix_len, id, std::nullopt, 0, RouteKind::kConnected});
  }
  if (iface.config.ipv4_gateway) {
    routes_.Add({wire::Ipv4Address{}, 0, id, wire::IpAddress(*iface.config.ipv4_gateway), 0,
                 RouteKind::kDefault});
  }
  if (iface.config.ipv6_gateway) {
    routes_.Add({wire::Ipv6Address{}, 0, id, wire::IpAddress(*iface.config.ipv6_gateway), 0,
                 RouteKind::kDefault});
  }
}

void NetStack::RebuildAddressIndex() {
  local_addresses_.clear();
  for (InterfaceId id = 0; id < interfaces_.size(); ++id) {
    const Interface& iface = interfaces_[id];
    for (const Ipv4Cidr& c : iface.config.ipv4) local_addresses_.push_back({c.address, id});
    local_addresses_.push_back({iface.link_local, id});
    for (const Ipv6Cidr& c : iface.config.ipv6) local_addresses_.push_back({c.address, id});
  }
  std::sort(local_addresses_.begin(), local_addresses_.end());
}

// --- Lookups ---

std::optional<InterfaceId> NetStack::InterfaceOf(const wire::IpAddress& address) const {
  auto it = std::lower_bound(
      local_addresses_.begin(), local_addresses_.end(), address,
      [](const LocalAddress& l, const wire::IpAddress& a) { return l.address < a; });
  if (it == local_addresses_.end() || it->address != address) return std::nullopt;
  return it->interface;
}

bool NetStack::Owns(InterfaceId id, const wire::IpAddress& address) const {
  auto it =
      std::lower_bound(local_addresses_.begin(), local_addresses_.end(), LocalAddress{address, id});
  return it != local_addresses_.end() && it->address == address && it->interface == id;
}

std::optional<InterfaceId> NetStack::FindInterface(uint16_t port, std::optional<uint16_t> vlan,
                                                   bool* port_known) const {
  *port_known = false;
  for (InterfaceId id = 0; id < interfaces_.size(); ++id) {
    const InterfaceConfig& c = interfaces_[id].config;
    if (c.port != port) continue;
    *port_known = true;
    if (c.vlan == vlan) return id;
  }
  return std::nullopt;
}

const Interface* NetStack::interface(InterfaceId id) const {
  return id < interfaces_.size() ? &interfaces_[id] : nullptr;
}

std::optional<NeighborInfo> NetStack::Neighbor(InterfaceId id,
                                               const wire::IpAddress& address) const {
  const NeighborEntry* e = neighbors_.Find({id, address});
  if (e == nullptr) return std::nullopt;
  return NeighborCache::InfoOf(*e);
}

std::optional<NextHop> NetStack::RouteFrom(const wire::IpAddress& source,
                                           const wire::IpAddress& destination) const {
  if (source.index() != destination.index()) return std::nullopt;
  std::optional<InterfaceId> id = InterfaceOf(source);
  if (!id) return std::nullopt;
  const Route* r = routes_.Lookup(destination, *id);
  if (r == nullptr) return std::nullopt;
  return NextHop{*id, r->gateway.value_or(destination), source, *r};
}

std::optional<NextHop> NetStack::RouteFor(const tcp::FlowKey& flow) const {
  if (arrivals_.size() != 0) {
    // A flow whose segments arrive on another interface than the one owning its local address
    // (weak host) is answered there: a subflow keeps to its path both ways.
    if (const Arrival* a = arrivals_.Find(flow); a != nullptr) {
      if (const Route* r = routes_.Lookup(flow.remote, a->interface); r != nullptr) {
        return NextHop{a->interface, r->gateway.value_or(flow.remote), flow.local, *r};
      }
    }
  }
  return RouteFrom(flow.local, flow.remote);
}

void NetStack::NoteArrival(const tcp::FlowKey& flow, InterfaceId id) {
  if (Arrival* a = arrivals_.Find(flow); a != nullptr) {
    a->interface = id;
    a->last = now_;
    return;
  }
  if (arrivals_.full()) {
    // Forget flows quiet for a while (closed ones among them); if none, this flow goes by its
    // source address, as with the strong host model.
    std::vector<tcp::FlowKey> stale;
    arrivals_.ForEach([&](const tcp::FlowKey& k, const Arrival& a) {
      if (now_ - a.last > kArrivalIdle) stale.push_back(k);
    });
    for (const tcp::FlowKey& k : stale) arrivals_.Erase(k);
    counters_.Add(NetCounter::kArrivalsExpired, stale.size());
  }
  if (!arrivals_.Insert(flow, {id, now_}).second) counters_.Add(NetCounter::kArrivalsFull);
}

std::optional<NextHop> NetStack::RouteTo(const wire::IpAddress& destination) const {
  if (const auto* d6 = std::get_if<wire::Ipv6Address>(&destination); d6 && d6->IsLinkLocal()) {
    return std::nullopt;
  }
  const Route* r = routes_.Lookup(destination);
  if (r == nullptr) return std::nullopt;
  std::optional<wire::IpAddress> source = interfaces_[r->interface].SourceFor(destination);
  if (!source) return std::nullopt;
  return NextHop{r->interface, r->gateway.value_or(destination), *source, *r};
}

// --- Timers and events ---

void NetStack::Poll(tcp::Instant now) {
  SetNow(now);
  neighbors_.Poll(
      now_, [&](NeighborEntry& e, bool unicast) { SendProbe(e, unicast); },
      [&](NeighborEntry& e) { DropQueue(e, NetDrop::kNeighborUnreachable); });
}

bool NetStack::PushEvent(const IcmpEvent& event) {
  if (events_count_ == events_.size()) return false;
  events_[(events_head_ + events_count_) % events_.size()] = event;
  ++events_count_;
  return true;
}

bool NetStack::NextEvent(IcmpEvent* event) {
  if (events_count_ == 0) return false;
  *event = events_[events_head_];
  events_head_ = (events_head_ + 1) % events_.size();
  --events_count_;
  return true;
}

}  // namespace braid::net
