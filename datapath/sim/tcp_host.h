// A simulated host running Braid's TCP engine: a sim::Node that hosts a NativeTcpBackend with
// one or more IPv4/IPv6 addresses on its interfaces. The simulator has no Ethernet: what crosses
// a link is a raw IP packet, built and parsed with the wire codecs exactly as the net layer will
// (checksums filled on the way out, verified on the way in).
//
//  - Out: each OutboundSegment becomes IPv4 (DF set, TTL 64) or IPv6 + TCP bytes and leaves on the
//    interface that owns the segment's source address (no owner: dropped, counted kNoRoute).
//    Segments the backend emits outside a node callback (an app call from a test) wait in a queue
//    that the next Poll flushes: PollAt() says "now" while it is not empty.
//  - In: the packet is parsed and checked (IP header checksum, not a fragment, TCP, addressed to
//    one of the host's addresses, TCP checksum over the pseudo-header); every rejection is a
//    counted drop with a named reason; a good segment goes to TcpBackend::Input.
//  - Time: engine time is the simulator's virtual time, Instant = epoch + SimTime.
//  - The application: one TcpApp per host, called after every Receive and Poll with each event
//    the backend queued (and at the times it asks for through WakeAt), so apps run inside the
//    simulation, sans-I/O, exactly as they would run in a worker's loop. A HostLayer can take the
//    TcpApp's place: a socket API with MPTCP on top of it (mptcp_host.h) drains the events itself.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "datapath/sim/node.h"
#include "datapath/sim/packet.h"
#include "datapath/sim/types.h"
#include "datapath/tcp/adapter.h"
#include "datapath/tcp/flow.h"
#include "datapath/tcp/native_backend.h"
#include "datapath/tcp/segment.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/address.h"

namespace braid::sim {

// X(enumerator, name): why the host dropped a packet.
#define BRAID_SIM_HOST_DROPS(X)                                                          \
  X(kMalformedIp, "malformed_ip")        /* not IPv4/IPv6, or the header does not fit */ \
  X(kBadIpChecksum, "bad_ip_checksum")   /* IPv4 header checksum */                      \
  X(kFragment, "fragment")               /* no reassembly */                             \
  X(kNotTcp, "not_tcp")                  /* another upper-layer protocol */              \
  X(kNotForUs, "not_for_us")             /* destination is none of our addresses */      \
  X(kMalformedTcp, "malformed_tcp")      /* TCP header does not fit */                   \
  X(kBadTcpChecksum, "bad_tcp_checksum") /* over the pseudo-header and segment */        \
  X(kNoRoute, "no_route")                /* out: source address on no interface */       \
  X(kEmitFailed, "emit_failed")          /* out: a header would not encode */

enum class HostDrop : uint8_t {
#define BRAID_SIM_HOST_DROP_ENUM(name, str) name,
  BRAID_SIM_HOST_DROPS(BRAID_SIM_HOST_DROP_ENUM)
#undef BRAID_SIM_HOST_DROP_ENUM
};
#define BRAID_SIM_HOST_DROP_COUNT(name, str) +1
inline constexpr size_t kHostDropCount = 0 BRAID_SIM_HOST_DROPS(BRAID_SIM_HOST_DROP_COUNT);
#undef BRAID_SIM_HOST_DROP_COUNT
std::string_view HostDropName(HostDrop drop);

struct HostCounters {
  uint64_t rx_packets = 0;  // handed to the backend
  uint64_t rx_bytes = 0;    // IP bytes
  uint64_t tx_packets = 0;
  uint64_t tx_bytes = 0;
  std::array<uint64_t, kHostDropCount> drops{};
  uint64_t Dropped(HostDrop d) const { return drops[static_cast<size_t>(d)]; }
};

// An application on a TcpHost: the upper layer of its TcpBackend.
class TcpApp {
 public:
  virtual ~TcpApp() = default;
  // One event drained from the backend. The app may call the backend (more events follow).
  virtual void OnEvent(const tcp::TcpEvent& event, tcp::Instant now, tcp::TcpBackend& backend) = 0;
  // When the app wants OnWake (to start, to stop sending, the next request...); nullopt: never.
  virtual std::optional<tcp::Instant> WakeAt() const { return std::nullopt; }
  virtual void OnWake(tcp::Instant /*now*/, tcp::TcpBackend& /*backend*/) {}
};

// What runs above the host's TCP engine instead of a TcpApp: called after every packet handed to
// the engine and every timer, and whenever the time it asks for through RunAt comes.
class HostLayer {
 public:
  virtual ~HostLayer() = default;
  // Drains the engine's events and lets the apps above act on them.
  virtual void Run(tcp::Instant now) = 0;
  virtual std::optional<tcp::Instant> RunAt() const = 0;
};

struct TcpHostConfig {
  tcp::NativeTcpBackendConfig backend;
  uint8_t ttl = 64;  // IPv4 TTL and IPv6 hop limit
};

class TcpHost : public Node, private tcp::SegmentSink {
 public:
  explicit TcpHost(const TcpHostConfig& config = {});
  TcpHost(const TcpHost&) = delete;
  TcpHost& operator=(const TcpHost&) = delete;

  // Adds `address` to `interface`; segments from it leave there.
  void AddAddress(InterfaceIndex interface, const wire::IpAddress& address);
  // The host's application (not owned; may be null).
  void SetApp(TcpApp* app) { app_ = app; }
  // An upper layer that replaces the TcpApp loop (not owned; null: back to the TcpApp).
  void SetLayer(HostLayer* layer) { layer_ = layer; }
  // The interface that owns `address`, if it is one of the host's.
  std::optional<InterfaceIndex> InterfaceOf(const wire::IpAddress& address) const;
  const std::vector<std::pair<wire::IpAddress, InterfaceIndex>>& addresses() const {
    return addresses_;
  }

  tcp::NativeTcpBackend& backend() { return backend_; }
  const tcp::NativeTcpBackend& backend() const { return backend_; }
  const HostCounters& counters() const { return counters_; }

  static tcp::Instant ToInstant(SimTime t) { return tcp::InstantFromNanos(t.count()); }
  static SimTime ToSimTime(tcp::Instant t) { return SimTime(tcp::NanosSinceEpoch(t)); }

  // Node.
  void Receive(SimTime now, InterfaceIndex interface, Packet packet, NodeContext& out) override;
  std::optional<SimTime> PollAt() const override;
  void Poll(SimTime now, NodeContext& out) override;

 private:
  // tcp::SegmentSink: frames the segment and queues it for the next flush.
  void Transmit(const tcp::FlowKey& flow, const tcp::OutboundSegment& segment) override;

  bool Parse(std::span<const uint8_t> bytes, tcp::FlowKey* flow, tcp::InboundSegment* segment);
  void Drop(HostDrop d) { ++counters_.drops[static_cast<size_t>(d)]; }
  // Drains the backend's events into the app, and wakes the app when it is due.
  void RunApp(tcp::Instant now);
  void Flush(NodeContext& out);

  TcpHostConfig config_;
  tcp::NativeTcpBackend backend_;
  TcpApp* app_ = nullptr;
  HostLayer* layer_ = nullptr;
  std::vector<std::pair<wire::IpAddress, InterfaceIndex>> addresses_;
  std::vector<std::pair<InterfaceIndex, std::vector<uint8_t>>> pending_;
  uint16_t next_ident_ = 0;
  HostCounters counters_;
};

}  // namespace braid::sim
