// A TCP flow's identity: the 4-tuple, seen from this host (local first). The net layer demuxes
// segments to flows by it (architecture.md §3); ISNs and SYN cookies hash it (isn.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <ostream>
#include <variant>

#include "datapath/wire/address.h"

namespace braid::tcp {

struct FlowKey {
  wire::IpAddress local;
  uint16_t local_port = 0;
  wire::IpAddress remote;
  uint16_t remote_port = 0;

  bool is_ipv4() const { return wire::IsIpv4(local); }
  // The same flow seen from the other end.
  FlowKey Reversed() const { return {remote, remote_port, local, local_port}; }
  friend bool operator==(const FlowKey&, const FlowKey&) = default;
};

// FNV-1a over the tuple's bytes: cheap, deterministic across runs (the simulator relies on
// deterministic iteration where it hashes), and good enough for a per-worker table whose keys an
// attacker cannot choose freely (ports and addresses of established flows). A keyed hash
// (siphash.h) is for tables keyed by unauthenticated SYNs.
struct FlowKeyHash {
  size_t operator()(const FlowKey& k) const;
};

std::ostream& operator<<(std::ostream& os, const FlowKey& k);  // "192.0.2.1:40000->192.0.2.2:80"

}  // namespace braid::tcp
