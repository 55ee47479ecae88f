// Which worker owns a received frame (architecture.md §5, shared nothing). Pure: no DPDK, no
// allocation on the packet path, unit-tested. The same policy drives both mechanisms:
//  - hardware (rte_flow, flow_rules.h): a rule per worker's client source-port range (TCP
//    destination port of the replies, as prefix/mask blocks from PortRangeToPrefixes), a rule per
//    pinned listen port, a 5-tuple rule per flow moved to another worker; RSS spreads the rest;
//  - software (handoff.h), for ports without rte_flow (af_packet, af_xdp on veth, tap here, memif,
//    ring): the worker that polls an RX queue asks SteeringTable::Steer for each frame's owner and
//    hands the frame to that worker's ring.
//
// The policy, in order, for a TCP segment seen from our side (local = its destination):
//  1. an exact entry for the 4-tuple (AddFlow: an MP_JOIN subflow handed to its connection's
//     owner, the software twin of a 5-tuple rule) -> that worker;
//  2. the local port lies in a worker's client range (a reply to a connection it opened) or is a
//     listen port pinned to one worker -> that worker;
//  3. otherwise (a listen port every worker serves, or a port nobody owns, which the stack answers
//     with RST) -> SipHash of the 4-tuple modulo the worker count: stable for the life of the flow,
//     and not steerable by a remote peer that does not know the key.
// ICMP errors quoting one of our TCP segments go to the owner of the quoted flow (its source is
// us). ARP and IPv6 neighbour discovery go to every worker (kBroadcast): each worker runs its own
// neighbour cache. Everything else (ICMP echo, other protocols, malformed frames, non-first
// fragments) goes to `default_worker`, whose net layer answers or drops it with a named reason.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "datapath/net/fixed_hash_map.h"
#include "datapath/tcp/flow.h"
#include "datapath/tcp/siphash.h"

namespace braid::io {

// Worker ids are 0..workers-1. Two values are reserved.
inline constexpr uint16_t kBroadcast = 0xfffe;  // Steer: every worker gets the frame
inline constexpr uint16_t kAnyWorker = 0xffff;  // ListenPort: every worker listens (hashed)
inline constexpr uint16_t kMaxWorkers = 256;

// Inclusive range of TCP ports.
struct PortRange {
  uint16_t first = 0;
  uint16_t last = 0;
  bool Contains(uint16_t port) const { return port >= first && port <= last; }
  uint32_t size() const { return last >= first ? uint32_t{last} - first + 1 : 0; }
  friend bool operator==(const PortRange&, const PortRange&) = default;
};

// Ports p with (p & mask) == value: one rte_flow item with a mask.
struct PortPrefix {
  uint16_t value = 0;
  uint16_t mask = 0;
  friend bool operator==(const PortPrefix&, const PortPrefix&) = default;
};

// The fewest prefix blocks whose union is exactly `range` (at most 30 for a 16-bit range; one
// when the range is a power of two in size and aligned to it). Empty for an empty range.
std::vector<PortPrefix> PortRangeToPrefixes(const PortRange& range);

// Splits `all` into `workers` equal slices, each a power of two in size and aligned to it, so
// each is one prefix rule in hardware; the largest such slices that fit (ports of `all` outside
// every slice are used by no one). Empty when `all` has fewer ports than workers.
std::vector<PortRange> SplitPortRange(const PortRange& all, unsigned workers);

struct ListenPort {
  uint16_t port = 0;
  uint16_t worker = kAnyWorker;  // kAnyWorker: every worker listens, SYNs spread by hash
  friend bool operator==(const ListenPort&, const ListenPort&) = default;
};

struct SteeringConfig {
  uint16_t workers = 1;
  // Worker i's client (ephemeral) ports: client_ranges[i]. Fewer entries than workers: the rest
  // open no connections. Ranges must not overlap each other nor a listen port.
  std::vector<PortRange> client_ranges;
  std::vector<ListenPort> listen;
  uint16_t default_worker = 0;
  // Keys the 4-tuple hash (rule 3). From a CSPRNG in production, fixed in tests; every RX stage
  // of a node must use the same key so that they agree.
  tcp::SipKey hash_key;
  size_t max_flows = 4096;  // exact 4-tuple entries (rule 1)
};

// What a frame is, for steering, and its flow seen from our side.
enum class FrameKind : uint8_t {
  kTcp,        // flow: the segment's 4-tuple, local = its destination
  kIcmpError,  // flow: the quoted segment's 4-tuple, local = its source (we sent it)
  kNeighbor,   // ARP, ICMPv6 router/neighbour discovery: every worker
  kOther,      // anything else, parsed fine: the default worker
  kMalformed,  // too short or inconsistent to say: the default worker (its net layer counts it)
};
std::string_view FrameKindName(FrameKind kind);

struct SteeringKey {
  FrameKind kind = FrameKind::kMalformed;
  tcp::FlowKey flow;  // kTcp and kIcmpError only
};

// Reads only the headers: Ethernet (one 802.1Q/802.1ad tag), IPv4 (no options needed), IPv6
// (hop-by-hop, routing, destination-options and first-fragment headers walked), TCP ports, and
// for ICMP errors the quoted IP header and the first 4 bytes of the quoted TCP header.
SteeringKey ClassifyFrame(std::span<const uint8_t> frame);

class SteeringTable {
 public:
  // InvalidArgument: no workers or more than kMaxWorkers, more client ranges than workers, a
  // worker id out of range, overlapping ranges, a listen port inside a client range or listed
  // twice, port 0 anywhere.
  static absl::StatusOr<SteeringTable> Create(const SteeringConfig& config);

  uint16_t workers() const { return config_.workers; }
  const SteeringConfig& config() const { return config_; }

  // The worker for a received frame, or kBroadcast.
  uint16_t Steer(std::span<const uint8_t> frame) const { return SteerKey(ClassifyFrame(frame)); }
  uint16_t SteerKey(const SteeringKey& key) const;
  // The worker that owns `flow` (local = our side): rules 1-3 above.
  uint16_t OwnerOf(const tcp::FlowKey& flow) const;
  // Rule 2 alone: the worker owning local port `port` by range or pinned listener, or kAnyWorker.
  uint16_t PortOwner(uint16_t port) const { return port_owner_[port]; }
  // Rule 3 alone.
  uint16_t HashOwner(const tcp::FlowKey& flow) const;

  // Exact entries (rule 1). AddFlow: false when the table is full or the worker is out of range
  // (an existing entry is overwritten). Not thread-safe: the RX stage that owns this table applies
  // updates between bursts (other workers send them over the control rings).
  bool AddFlow(const tcp::FlowKey& flow, uint16_t worker);
  bool RemoveFlow(const tcp::FlowKey& flow) { return flows_.Erase(flow); }
  size_t flows() const { return flows_.size(); }

 private:
  explicit SteeringTable(const SteeringConfig& config);

  SteeringConfig config_;
  std::vector<uint16_t> port_owner_;  // 65536 entries: worker id or kAnyWorker
  net::FixedHashMap<tcp::FlowKey, uint16_t, tcp::FlowKeyHash> flows_;
};

// How a port steers, decided once it is open (port_spec.h lists what each PMD gives).
enum class SteeringMode : uint8_t {
  kSingleQueue,  // one worker: nothing to steer
  kHardware,     // rte_flow rules (validated and created) + RSS, one RX queue per worker
  kSoftware,     // RX stage(s) + SteeringTable + one handoff ring per worker
};
std::string_view SteeringModeName(SteeringMode mode);
// `flow_rules_work`: a probe rule validated AND was created and destroyed (tap validates rules it
// cannot create). `rx_queues`: what the port was configured with.
SteeringMode ChooseSteeringMode(unsigned workers, bool flow_rules_work, unsigned rx_queues);

}  // namespace braid::io
