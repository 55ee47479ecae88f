// Ephemeral (local) ports for connections a worker opens. Each worker owns a slice of the port
// space (architecture.md §5: an rte_flow rule per slice steers the replies back to it), and picks
// ports inside it with RFC 6056 §3.3.4 Algorithm 4, "Double-Hash Port Selection":
//
//   offset = F(local_ip, remote_ip, remote_port, secret1)
//   index  = G(local_ip, remote_ip, remote_port, secret2) mod table_size
//   for count in 1..num_ephemeral:
//     port = min + (offset + table[index]) mod num_ephemeral;  table[index]++
//     if the 4-tuple (local_ip, port, remote_ip, remote_port) is free: take it
//
// F and G are SipHash-2-4 under two keys derived from one secret, and the table starts from values
// derived from that secret too (the "randomized start"). Ports are hard to guess from outside
// (RFC 6056 §1), consecutive connections to one destination still walk the range in order (so a
// port is not reused soon after it was freed), and, unlike Algorithm 3, connecting to one
// destination reveals nothing about the ports used towards another.
//
// A 4-tuple is in use while reserved here (Allocate/Reserve until Release) or when the caller's
// predicate says so (e.g. the TCP engine still holds the flow in TIME-WAIT). The reservation set
// has a fixed capacity taken at construction: allocating never allocates memory.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "datapath/net/fixed_hash_map.h"
#include "datapath/tcp/flow.h"
#include "datapath/tcp/siphash.h"
#include "datapath/wire/address.h"

namespace braid::net {

struct EphemeralPortConfig {
  // The worker's slice, inclusive. Linux's default ip_local_port_range is 32768-60999.
  uint16_t first = 32768;
  uint16_t last = 60999;
  // 4-tuples reserved at once (connections the worker opened and has not released).
  size_t max_flows = 16384;
  // Keys F, G and the table's start: from a CSPRNG in production, fixed in tests.
  tcp::SipKey secret;
};

class EphemeralPortAllocator {
 public:
  // RFC 6056 §3.3.4 suggests a table of "a few hundred" entries; more spreads destinations.
  static constexpr size_t kTableSize = 256;

  // The range is normalized so that first <= last; port 0 is never handed out.
  explicit EphemeralPortAllocator(const EphemeralPortConfig& config);

  // A free local port for a connection from `local` to remote:remote_port, reserved until
  // Release. `in_use(const tcp::FlowKey&)` may refuse more 4-tuples. nullopt: every port of the
  // slice is taken towards that destination, or the reservation set is full.
  template <typename InUse>
  std::optional<uint16_t> Allocate(const wire::IpAddress& local, const wire::IpAddress& remote,
                                   uint16_t remote_port, InUse&& in_use);
  std::optional<uint16_t> Allocate(const wire::IpAddress& local, const wire::IpAddress& remote,
                                   uint16_t remote_port) {
    return Allocate(local, remote, remote_port, [](const tcp::FlowKey&) { return false; });
  }

  // Reserves a 4-tuple chosen elsewhere (e.g. an explicit bind). False when already reserved or
  // the set is full.
  bool Reserve(const tcp::FlowKey& flow);
  // Frees a 4-tuple (the connection is gone). False when it was not reserved.
  bool Release(const tcp::FlowKey& flow);
  bool IsReserved(const tcp::FlowKey& flow) const { return reserved_.Find(flow) != nullptr; }
  size_t reserved() const { return reserved_.size(); }

  uint16_t first() const { return first_; }
  uint16_t last() const { return last_; }
  // True when `port` lies in this worker's slice (for steering decisions).
  bool Owns(uint16_t port) const { return port >= first_ && port <= last_; }

 private:
  struct Hashes {
    uint32_t offset;
    size_t index;
  };
  Hashes Hash(const wire::IpAddress& local, const wire::IpAddress& remote,
              uint16_t remote_port) const;

  uint16_t first_;
  uint16_t last_;
  tcp::SipKey key_f_;
  tcp::SipKey key_g_;
  std::array<uint32_t, kTableSize> table_{};
  FixedHashMap<tcp::FlowKey, bool, tcp::FlowKeyHash> reserved_;
};

template <typename InUse>
std::optional<uint16_t> EphemeralPortAllocator::Allocate(const wire::IpAddress& local,
                                                         const wire::IpAddress& remote,
                                                         uint16_t remote_port, InUse&& in_use) {
  if (local.index() != remote.index() || reserved_.full()) return std::nullopt;
  const uint32_t num = uint32_t{last_} - first_ + 1;
  const Hashes h = Hash(local, remote, remote_port);
  uint32_t& next = table_[h.index];
  for (uint32_t count = 0; count < num; ++count) {
    auto port = static_cast<uint16_t>(first_ + (uint64_t{h.offset} + next) % num);
    ++next;
    tcp::FlowKey flow{local, port, remote, remote_port};
    if (reserved_.Find(flow) != nullptr || in_use(static_cast<const tcp::FlowKey&>(flow))) {
      continue;
    }
    reserved_.Insert(flow, true);
    return port;
  }
  return std::nullopt;
}

}  // namespace braid::net
