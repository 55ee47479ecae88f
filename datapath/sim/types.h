// The simulator's vocabulary: virtual time and the handles that name nodes, links and interfaces.
// Time is a std::chrono duration counted from the start of the simulation, never a bare integer
// and never the wall clock, so that a run depends on its seed and script only.
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>

namespace braid::sim {

// Nanoseconds since the simulation started.
using SimTime = std::chrono::nanoseconds;

// Handles are indices in creation order; they are stable and order deterministically.
struct NodeId {
  uint32_t value = 0;
  friend auto operator<=>(const NodeId&, const NodeId&) = default;
};

struct LinkId {
  uint32_t value = 0;
  friend auto operator<=>(const LinkId&, const LinkId&) = default;
};

// A node's interfaces are numbered by the test that wires it (MPTCP paths: 0, 1, 2...).
using InterfaceIndex = uint32_t;

// One side of a link: an interface of a node.
struct Endpoint {
  NodeId node;
  InterfaceIndex interface = 0;
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

// The two unidirectional links of a full-duplex path between endpoints a and b.
struct DuplexLink {
  LinkId a_to_b;
  LinkId b_to_a;
};

}  // namespace braid::sim
