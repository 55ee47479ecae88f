// NetStack: L2/L3 of one stack instance (one worker, architecture.md §5). Sans-I/O like the TCP
// engine (architecture.md §4): frames come in through Receive() with `now`, frames leave through
// the FrameSink given at construction, time-driven work happens in Poll() at PollAt(). It never
// reads a clock, never allocates per packet (buffers, neighbour table and queues are sized at
// construction; only control-plane calls such as AddInterface allocate) and never trusts input:
// every received frame ends as exactly one of delivered (to TCP), consumed (ARP, ND, ICMP handled
// here) or dropped with a named reason (net_drop.def).
//
// Receive: Ethernet (+802.1Q) -> ARP | IPv4 | IPv6 (extension headers walked) -> ICMP | TCP.
// TCP checksums are verified (or trusted from RxOffload) and the segment, parsed into an
// InboundSegment, goes to TcpBackend::Input with the flow seen from our side. The host model is
// strong (RFC 1122 §3.3.4.2): a datagram is accepted only on the interface that owns its
// destination. No fragment reassembly (TCP does path MTU discovery): fragments are counted and
// dropped, as are IPv4 options. RFC 1122 §3.2.1.7: a host does not drop a datagram for its TTL,
// so the only hop-limit rule on receive is neighbour discovery's 255 (RFC 4861 §7.1).
//
// Send (tcp::SegmentSink): the segment's source address picks the interface (a packet from A
// leaves through A's path), the route on that interface picks the next hop, the neighbour cache
// gives its MAC (or the frame waits in the neighbour's queue while ARP/ND resolves it), and the
// frame is built with the wire emitters: IPv4 with DF set and ID 0 (RFC 6864 §4.1: every datagram
// we send is atomic; we do path MTU discovery) and TTL 64, or IPv6 with hop limit 64 and flow
// label 0; the TCP checksum is computed here, or left to the device on interfaces with
// tx_tcp_checksum_offload (TxOffload). Transmit has no `now` parameter (SegmentSink's signature):
// it uses the time of the latest call that gave one (Receive, Poll, SetNow...). The runtime calls
// SetNow once per loop iteration, before it calls into the TCP engine. A segment to one of our own
// addresses is dropped (tx_local_destination): same-node traffic between pods needs a loopback
// path, possibly across workers, that the runtime owns.
//
// ICMP: echo requests to our unicast addresses are answered (rate limited by a token bucket,
// Linux's icmp_msgs_per_sec/icmp_msgs_burst), to the requester's MAC on the interface they came
// in on. Destination unreachable, time exceeded, packet too big and parameter problem quoting one
// of our TCP segments become IcmpEvents (icmp_event.h) for the TCP side to drain. No ICMP errors
// are sent: TCP answers a closed port with RST.
//
// ARP/ND: see neighbor_cache.h for the state machine. Requests for our addresses are answered
// (for every address on the interface: the node's and each pod's), senders of requests to us are
// learned, a gratuitous ARP (RFC 5227 §3 announcement) and an unsolicited NA (RFC 4861 §7.2.6)
// go out for each address when an interface comes up, when an address is added to an up
// interface, and on demand (Announce). Solicited-node multicast groups of our addresses and
// all-nodes are accepted. IPv6 router discovery and SLAAC are not done: addresses and gateways
// come from the agent's config; router advertisements are counted as icmp_unsupported.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "datapath/net/fixed_hash_map.h"
#include "datapath/net/frame_sink.h"
#include "datapath/net/icmp_event.h"
#include "datapath/net/interface.h"
#include "datapath/net/neighbor_cache.h"
#include "datapath/net/net_counters.h"
#include "datapath/net/route_table.h"
#include "datapath/tcp/adapter.h"
#include "datapath/tcp/flow.h"
#include "datapath/tcp/segment.h"
#include "datapath/tcp/siphash.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/address.h"
#include "datapath/wire/arp.h"
#include "datapath/wire/ethernet.h"
#include "datapath/wire/icmpv6.h"

namespace braid::net {

struct NetStackConfig {
  NeighborConfig neighbor;
  // Largest interface MTU allowed; sizes the scratch buffer and every neighbour-queue slot.
  // 9000 for jumbo frames.
  uint16_t max_mtu = 1500;
  uint8_t ipv4_ttl = 64;        // Linux's ip_default_ttl
  uint8_t ipv6_hop_limit = 64;  // Linux's hop_limit
  // Echo replies: a token bucket shared by both families, Linux's icmp_msgs_per_sec and
  // icmp_msgs_burst. 0 per second: unlimited.
  uint32_t echo_replies_per_second = 1000;
  uint32_t echo_burst = 50;
  // A smaller IPv4 path MTU reported by a router is raised to this (Linux's min_pmtu: tiny MTUs
  // from forged ICMP would make TCP send tiny segments). IPv6's floor is 1280 (RFC 8201 §4).
  uint16_t ipv4_min_pmtu = 552;
  size_t icmp_event_queue = 256;
  // RFC 1122 §3.3.4.2 lets a multihomed host accept a datagram for any of its addresses on any
  // interface (the weak host model, Linux's behaviour) or only on the interface that has the
  // address (strong). MPTCP needs the weak model: a peer's subflow from its second path to our
  // first path's address is routed over the second path and arrives on our second port. IPv6
  // link-local and multicast destinations stay per interface either way.
  bool weak_host = true;
  // Flows that arrive on an interface not owning their local address, remembered so that they
  // are answered on that interface (a subflow keeps to its path both ways).
  size_t weak_host_flows = 16384;
  // Keys the neighbour table's hash. From a CSPRNG in production; tests pass a fixed key.
  tcp::SipKey secret;
};

enum class NetError : uint8_t {
  kOk,
  kUnknownInterface,    // no interface with that id
  kInvalidMtu,          // below 576 (IPv4) / 1280 (with IPv6 addresses), or above max_mtu
  kInvalidVlan,         // VID 0 or above 4094
  kInvalidMac,          // multicast or zero
  kInvalidAddress,      // multicast, unspecified, loopback, link-local given as global, bad prefix
  kDuplicateAddress,    // the address is already on an interface
  kDuplicateInterface,  // another interface already has this port and VLAN
  kInvalidRoute,        // gateway of another family, unknown interface
  kNotFound,            // nothing to remove
};
std::string_view NetErrorName(NetError error);

// One outcome per received frame (the counters say the same in aggregate).
struct RxOutcome {
  enum class Kind : uint8_t { kDelivered, kConsumed, kDropped };
  Kind kind = Kind::kDropped;
  NetDrop drop = NetDrop::kCount;  // kDropped only
  static RxOutcome Delivered() { return {Kind::kDelivered, NetDrop::kCount}; }
  static RxOutcome Consumed() { return {Kind::kConsumed, NetDrop::kCount}; }
  static RxOutcome Dropped(NetDrop reason) { return {Kind::kDropped, reason}; }
  friend bool operator==(const RxOutcome&, const RxOutcome&) = default;
};

// Where a packet goes: the interface, the neighbour to resolve, and the source address (given, or
// chosen for the destination).
struct NextHop {
  InterfaceId interface = 0;
  wire::IpAddress neighbor;  // the gateway, or the destination itself when on-link
  wire::IpAddress source;
  Route route;
  friend bool operator==(const NextHop&, const NextHop&) = default;
};

class NetStack final : public tcp::SegmentSink {
 public:
  NetStack(const NetStackConfig& config, FrameSink& out);
  NetStack(const NetStack&) = delete;
  NetStack& operator=(const NetStack&) = delete;
  ~NetStack() override;

  // --- Control plane (may allocate; not on the packet path) ---

  // Adds an interface, down. Its connected routes (each address's prefix, fe80::/64) and default
  // routes (through its gateways) are installed.
  NetError AddInterface(const InterfaceConfig& config, InterfaceId* id);
  // Up: gratuitous ARP and unsolicited NA for each address. Down: frames are dropped both ways
  // and its neighbour entries are flushed (queued frames dropped as interface_down).
  NetError SetInterfaceUp(InterfaceId id, bool up, tcp::Instant now);
  // A pod's (or the node's) address on a path; announced at once when the interface is up.
  NetError AddAddress(InterfaceId id, const wire::IpAddress& address, uint8_t prefix_len,
                      tcp::Instant now);
  NetError RemoveAddress(InterfaceId id, const wire::IpAddress& address);
  // A static route; `route.kind` is set to kStatic. `route.gateway` nullopt: on-link.
  NetError AddRoute(const Route& route);
  NetError RemoveRoute(const wire::IpAddress& prefix, uint8_t prefix_len, InterfaceId id);
  // The TCP engine segments are delivered to (not owned). Null: TCP segments are dropped
  // (no_tcp_backend).
  void AttachTcp(tcp::TcpBackend* backend) { tcp_ = backend; }

  // Gratuitous ARP / unsolicited NA for every address of the interface, now.
  NetError Announce(InterfaceId id, tcp::Instant now);
  // Starts resolving `neighbor` on the interface unless its entry exists (e.g. a path's gateway
  // before the first connection). The request goes out at once, rate-limited per destination.
  NetError Resolve(InterfaceId id, const wire::IpAddress& neighbor, tcp::Instant now);

  // --- Packet path ---

  // One received frame from `port`. The bytes need only live for the call (the TCP engine copies
  // what it keeps).
  RxOutcome Receive(uint16_t port, std::span<const uint8_t> frame, tcp::Instant now,
                    const RxOffload& offload = {});
  // tcp::SegmentSink: frames the segment and sends it (or queues it while its next hop is
  // resolved). Uses the time of the latest SetNow/Receive/Poll.
  void Transmit(const tcp::FlowKey& flow, const tcp::OutboundSegment& segment) override;
  void SetNow(tcp::Instant now) {
    if (now > now_) now_ = now;
  }
  // Neighbour timers: retransmitted requests, failures, REACHABLE -> STALE, probes, expiry.
  void Poll(tcp::Instant now);
  std::optional<tcp::Instant> PollAt() const { return neighbors_.PollAt(); }

  // --- ICMP events for the TCP side ---
  bool NextEvent(IcmpEvent* event);
  template <typename Fn>
  void DrainEvents(Fn&& fn) {
    IcmpEvent e;
    while (NextEvent(&e)) fn(e);
  }
  size_t pending_events() const { return events_count_; }

  // --- Routing queries (the path manager and socket layer use them too) ---

  // Source-based: the interface that owns `source`, then the longest prefix match among that
  // interface's routes only. nullopt when `source` is not ours or its path has no route.
  std::optional<NextHop> RouteFrom(const wire::IpAddress& source,
                                   const wire::IpAddress& destination) const;
  // No source yet: longest prefix match over every interface's routes, then the source address
  // that interface would use for the destination. Link-local destinations need RouteFrom (they
  // are ambiguous without an interface).
  std::optional<NextHop> RouteTo(const wire::IpAddress& destination) const;

  // --- Observability ---
  const NetCounters& counters() const { return counters_; }
  size_t interface_count() const { return interfaces_.size(); }
  const Interface* interface(InterfaceId id) const;
  const RouteTable& routes() const { return routes_; }
  std::optional<NeighborInfo> Neighbor(InterfaceId id, const wire::IpAddress& address) const;
  size_t neighbor_count() const { return neighbors_.size(); }
  // The interface that owns `address`, if any.
  std::optional<InterfaceId> InterfaceOf(const wire::IpAddress& address) const;

 private:
  struct LocalAddress {
    wire::IpAddress address;
    InterfaceId interface;
    friend auto operator<=>(const LocalAddress&, const LocalAddress&) = default;
  };

  // Receive path (one function per layer; each returns the frame's outcome).
  RxOutcome ReceiveFrame(uint16_t port, std::span<const uint8_t> frame, const RxOffload& offload);
  RxOutcome ReceiveArp(InterfaceId id, const wire::EthernetFrame& frame);
  RxOutcome ReceiveIpv4(InterfaceId id, const wire::EthernetFrame& frame, bool link_multicast,
                        const RxOffload& offload);
  RxOutcome ReceiveIpv6(InterfaceId id, const wire::EthernetFrame& frame, bool link_multicast,
                        const RxOffload& offload);
  // `elsewhere`: the segment came in on this interface, which does not own `destination`.
  RxOutcome ReceiveTcp(const wire::IpAddress& source, const wire::IpAddress& destination,
                       std::span<const uint8_t> bytes, const RxOffload& offload,
                       std::optional<InterfaceId> elsewhere);
  RxOutcome ReceiveIcmpv4(InterfaceId id, const wire::EthernetFrame& frame,
                          std::span<const uint8_t> ip_bytes);
  RxOutcome ReceiveIcmpv6(InterfaceId id, const wire::EthernetFrame& frame,
                          std::span<const uint8_t> ip_bytes, std::span<const uint8_t> icmp);
  RxOutcome ReceiveNeighborSolicitation(InterfaceId id, const wire::EthernetFrame& frame,
                                        const wire::Ipv6Address& source,
                                        const wire::Ipv6Address& destination,
                                        const wire::Icmpv6Repr& ns);
  RxOutcome ReceiveNeighborAdvertisement(InterfaceId id, const wire::Ipv6Address& destination,
                                         const wire::Icmpv6Repr& na);
  // An ICMP error quoting `quoted` (our packet, from its IP header); queues the IcmpEvent.
  RxOutcome IcmpErrorForFlow(InterfaceId id, IcmpEvent event, std::span<const uint8_t> quoted);

  // Send path.
  void TxDrop(NetDrop reason, uint64_t n = 1);
  // Builds the frame of `segment` in `out` (Ethernet destination `dst`); 0 when a header does
  // not encode (*error says why).
  size_t BuildTcpFrame(std::span<uint8_t> out, const Interface& iface, const wire::MacAddress& dst,
                       const tcp::FlowKey& flow, const tcp::OutboundSegment& segment,
                       TxOffload* offload, NetDrop* error);
  // Ethernet header for `iface` into `out`; returns its length (0 when `out` is too small).
  size_t EmitEthernet(std::span<uint8_t> out, const Interface& iface, const wire::MacAddress& dst,
                      uint16_t ethertype) const;
  void SendFrame(const Interface& iface, std::span<uint8_t> frame, size_t len,
                 const TxOffload& offload = {});
  void FlushQueue(NeighborEntry& entry);
  void DropQueue(NeighborEntry& entry, NetDrop reason);

  // ARP / ND output.
  bool SendArp(const Interface& iface, wire::ArpOperation op, const wire::MacAddress& eth_dst,
               const wire::Ipv4Address& sender_ip, const wire::MacAddress& target_mac,
               const wire::Ipv4Address& target_ip);
  void SendNeighborSolicitation(const Interface& iface, const wire::Ipv6Address& source,
                                const wire::Ipv6Address& target,
                                const std::optional<wire::MacAddress>& unicast_mac);
  bool SendNeighborAdvertisement(const Interface& iface, const wire::MacAddress& eth_dst,
                                 const wire::Ipv6Address& destination,
                                 const wire::Ipv6Address& target, bool solicited);
  void SendProbe(NeighborEntry& entry, bool unicast);
  void AnnounceAddress(const Interface& iface, const wire::IpAddress& address);
  bool EchoAllowed();

  // Addresses.
  bool Owns(InterfaceId id, const wire::IpAddress& address) const;
  bool IsLocal(const wire::IpAddress& address) const { return InterfaceOf(address).has_value(); }
  void RebuildAddressIndex();
  void InstallInterfaceRoutes(InterfaceId id);
  NeighborEntry* FindOrResolve(InterfaceId id, const wire::IpAddress& neighbor,
                               const std::optional<wire::IpAddress>& source, bool* created);
  std::optional<InterfaceId> FindInterface(uint16_t port, std::optional<uint16_t> vlan,
                                           bool* port_known) const;
  // Where a flow's segments go out: RouteFrom its local address, unless its segments arrive on
  // another interface (weak host), then back through that one.
  std::optional<NextHop> RouteFor(const tcp::FlowKey& flow) const;
  void NoteArrival(const tcp::FlowKey& flow, InterfaceId id);
  struct Arrival {
    InterfaceId interface = 0;
    tcp::Instant last{};
  };
  static constexpr tcp::Duration kArrivalIdle = std::chrono::minutes(5);
  bool PushEvent(const IcmpEvent& event);

  NetStackConfig config_;
  FrameSink& out_;
  tcp::TcpBackend* tcp_ = nullptr;
  tcp::Instant now_{};
  NetCounters counters_;
  std::vector<Interface> interfaces_;
  std::vector<LocalAddress> local_addresses_;  // sorted
  RouteTable routes_;
  NeighborCache neighbors_;
  std::vector<uint8_t> scratch_;   // one frame being built
  std::vector<IcmpEvent> events_;  // a ring: events_head_ .. + events_count_
  size_t events_head_ = 0;
  size_t events_count_ = 0;
  // Weak host: the interface each flow arrives on, when it does not own the flow's address.
  FixedHashMap<tcp::FlowKey, Arrival, tcp::FlowKeyHash> arrivals_;
  // Echo token bucket: credit in nanoseconds of refill time.
  int64_t echo_credit_ns_ = 0;
  tcp::Instant echo_last_{};
  bool echo_started_ = false;
};

}  // namespace braid::net
