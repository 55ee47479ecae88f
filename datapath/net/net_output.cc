// NetStack's send path: TCP segments to frames (tcp::SegmentSink), the neighbour queue, and the
// Ethernet framing every frame the stack emits shares.
#include <algorithm>
#include <cstring>
#include <variant>

#include "datapath/net/net_stack.h"
#include "datapath/wire/checksum.h"
#include "datapath/wire/ethernet.h"
#include "datapath/wire/ipv4.h"
#include "datapath/wire/ipv6.h"
#include "datapath/wire/tcp.h"

namespace braid::net {
namespace {

bool UsableRemote(const wire::IpAddress& a) {
  if (const auto* a4 = std::get_if<wire::Ipv4Address>(&a)) {
    return !a4->IsUnspecified() && !a4->IsBroadcast() && !a4->IsMulticast();
  }
  const auto& a6 = std::get<wire::Ipv6Address>(a);
  return !a6.IsUnspecified() && !a6.IsMulticast();
}

}  // namespace

void NetStack::TxDrop(NetDrop reason, uint64_t n) {
  counters_.Add(NetCounter::kTxDropped, n);
  counters_.AddDrop(reason, n);
}

void NetStack::Transmit(const tcp::FlowKey& flow, const tcp::OutboundSegment& segment) {
  counters_.Add(NetCounter::kTxSegments);
  if (flow.local.index() != flow.remote.index() || !UsableRemote(flow.remote)) {
    return TxDrop(NetDrop::kTxBadFlow);
  }
  // A frame to ourselves would only ARP for our own address and time out.
  if (IsLocal(flow.remote)) return TxDrop(NetDrop::kTxLocalDestination);
  // Source first: the segment leaves through the path that owns its source address, or the one
  // its flow arrives on (RouteFor).
  std::optional<NextHop> hop = RouteFor(flow);
  if (!hop) return TxDrop(NetDrop::kNoRoute);
  const Interface& iface = interfaces_[hop->interface];
  if (!iface.up) return TxDrop(NetDrop::kInterfaceDown);
  size_t ip_len = (flow.is_ipv4() ? wire::kIpv4MinHeaderLen : wire::kIpv6HeaderLen) +
                  segment.header.HeaderLen() + segment.payload_size();
  if (ip_len > iface.config.mtu) return TxDrop(NetDrop::kTxTooBig);

  bool created = false;
  NeighborEntry* entry = FindOrResolve(hop->interface, hop->neighbor, flow.local, &created);
  if (entry == nullptr) return TxDrop(NetDrop::kNeighborTableFull);
  TxOffload offload;
  NetDrop error = NetDrop::kTxEmitFailed;
  if (entry->state != NeighborState::kIncomplete) {
    size_t len = BuildTcpFrame(scratch_, iface, entry->mac, flow, segment, &offload, &error);
    if (len == 0) return TxDrop(error);
    neighbors_.Use(*entry, now_);
    SendFrame(iface, scratch_, len, offload);
    return;
  }
  // Resolving: the frame is built now, in its queue slot, with the destination MAC filled in
  // when the neighbour answers (FlushQueue).
  std::span<uint8_t> slot = neighbors_.QueueSlot(*entry);
  if (slot.empty()) return TxDrop(NetDrop::kNeighborQueueFull);
  size_t len = BuildTcpFrame(slot, iface, wire::MacAddress{}, flow, segment, &offload, &error);
  if (len == 0) return TxDrop(error);
  neighbors_.CommitQueued(*entry, len, offload);
  counters_.Add(NetCounter::kNeighborQueued);
}

NeighborEntry* NetStack::FindOrResolve(InterfaceId id, const wire::IpAddress& neighbor,
                                       const std::optional<wire::IpAddress>& source,
                                       bool* created) {
  *created = false;
  NeighborKey key{id, neighbor};
  if (NeighborEntry* e = neighbors_.Find(key)) return e;
  NeighborEntry* e = neighbors_.CreateIncomplete(key, source, now_);
  if (e == nullptr) return nullptr;
  *created = true;
  // The first request goes out now; the entry's timer sends the others.
  neighbors_.RunTimer(
      *e, now_, [&](NeighborEntry& n, bool unicast) { SendProbe(n, unicast); },
      [&](NeighborEntry& n) { DropQueue(n, NetDrop::kNeighborUnreachable); });
  return e;
}

size_t NetStack::EmitEthernet(std::span<uint8_t> out, const Interface& iface,
                              const wire::MacAddress& dst, uint16_t ethertype) const {
  wire::EthernetRepr eth;
  eth.destination = dst;
  eth.source = iface.mac();
  if (iface.config.vlan)
    eth.vlan = wire::VlanTag{wire::kEtherTypeVlan, 0, false, *iface.config.vlan};
  eth.ethertype = ethertype;
  return eth.Emit(out) ? eth.HeaderLen() : 0;
}

size_t NetStack::BuildTcpFrame(std::span<uint8_t> out, const Interface& iface,
                               const wire::MacAddress& dst, const tcp::FlowKey& flow,
                               const tcp::OutboundSegment& segment, TxOffload* offload,
                               NetDrop* error) {
  const bool v4 = flow.is_ipv4();
  wire::TcpRepr tcp = segment.header;
  tcp.payload_len = segment.payload_size();
  const size_t l2 = iface.l2_len();
  const size_t l3 = v4 ? wire::kIpv4MinHeaderLen : wire::kIpv6HeaderLen;
  const size_t l4 = tcp.HeaderLen();
  const size_t tcp_len = l4 + tcp.payload_len;
  const size_t frame_len = l2 + l3 + tcp_len;
  *error = NetDrop::kTxEmitFailed;
  if (l4 > wire::kTcpMaxHeaderLen) return 0;
  if (frame_len > out.size()) {
    *error = NetDrop::kTxTooBig;
    return 0;
  }
  if (EmitEthernet(out, iface, dst, v4 ? wire::kEtherTypeIpv4 : wire::kEtherTypeIpv6) != l2) {
    return 0;
  }
  std::span<uint8_t> ip = out.subspan(l2);
  bool ok = false;
  if (v4) {
    wire::Ipv4Repr repr;
    repr.source = std::get<wire::Ipv4Address>(flow.local);
    repr.destination = std::get<wire::Ipv4Address>(flow.remote);
    repr.protocol = wire::IpProtocol::kTcp;
    repr.ident = 0;             // RFC 6864 §4.1: atomic datagram
    repr.dont_fragment = true;  // RFC 1191: path MTU discovery
    repr.ttl = config_.ipv4_ttl;
    repr.payload_len = static_cast<uint16_t>(tcp_len);
    ok = tcp_len <= 0xffff - l3 && repr.Emit(ip);
  } else {
    wire::Ipv6Repr repr;
    repr.source = std::get<wire::Ipv6Address>(flow.local);
    repr.destination = std::get<wire::Ipv6Address>(flow.remote);
    repr.next_header = wire::IpProtocol::kTcp;
    repr.hop_limit = config_.ipv6_hop_limit;
    repr.payload_len = static_cast<uint16_t>(tcp_len);
    ok = tcp_len <= 0xffff && repr.Emit(ip);
  }
  std::span<uint8_t> seg = ip.subspan(l3, tcp_len);
  if (!ok || !tcp.Emit(seg)) return 0;
  uint8_t* payload = seg.data() + l4;
  if (!segment.payload_head.empty()) {
    std::memcpy(payload, segment.payload_head.data(), segment.payload_head.size());
  }
  if (!segment.payload_tail.empty()) {
    std::memcpy(payload + segment.payload_head.size(), segment.payload_tail.data(),
                segment.payload_tail.size());
  }
  *offload = TxOffload{};
  if (iface.config.tx_tcp_checksum_offload) {
    // The device completes the sum over the segment; it starts from the pseudo-header's.
    wire::InternetChecksum sum;
    if (v4) {
      wire::AddIpv4PseudoHeader(
          sum, std::get<wire::Ipv4Address>(flow.local), std::get<wire::Ipv4Address>(flow.remote),
          static_cast<uint8_t>(wire::IpProtocol::kTcp), static_cast<uint16_t>(tcp_len));
    } else {
      wire::AddIpv6PseudoHeader(
          sum, std::get<wire::Ipv6Address>(flow.local), std::get<wire::Ipv6Address>(flow.remote),
          static_cast<uint8_t>(wire::IpProtocol::kTcp), static_cast<uint32_t>(tcp_len));
    }
    seg[16] = static_cast<uint8_t>(sum.Sum() >> 8);
    seg[17] = static_cast<uint8_t>(sum.Sum());
    *offload = TxOffload{true, v4, static_cast<uint8_t>(l2), static_cast<uint8_t>(l3),
                         static_cast<uint8_t>(l4)};
  } else {
    ok = v4 ? wire::TcpRepr::FillChecksumV4(seg, std::get<wire::Ipv4Address>(flow.local),
                                            std::get<wire::Ipv4Address>(flow.remote))
            : wire::TcpRepr::FillChecksumV6(seg, std::get<wire::Ipv6Address>(flow.local),
                                            std::get<wire::Ipv6Address>(flow.remote));
    if (!ok) return 0;
  }
  // Ethernet padding to the minimum frame (the IP length says where the packet ends).
  if (frame_len < kMinFrameLen) {
    std::fill(out.begin() + static_cast<ptrdiff_t>(frame_len),
              out.begin() + static_cast<ptrdiff_t>(kMinFrameLen), uint8_t{0});
    return kMinFrameLen;
  }
  return frame_len;
}

void NetStack::SendFrame(const Interface& iface, std::span<uint8_t> frame, size_t len,
                         const TxOffload& offload) {
  if (len < kMinFrameLen) {
    std::fill(frame.begin() + static_cast<ptrdiff_t>(len),
              frame.begin() + static_cast<ptrdiff_t>(kMinFrameLen), uint8_t{0});
    len = kMinFrameLen;
  }
  counters_.Add(NetCounter::kTxFrames);
  if (offload.tcp_checksum) counters_.Add(NetCounter::kTxChecksumOffloaded);
  out_.TransmitFrame(iface.port(), frame.first(len), offload);
}

void NetStack::FlushQueue(NeighborEntry& entry) {
  const Interface& iface = interfaces_[entry.key.interface];
  const wire::MacAddress mac = entry.mac;
  size_t n = neighbors_.DrainQueue(entry, [&](std::span<uint8_t> frame, const TxOffload& offload) {
    std::copy(mac.bytes.begin(), mac.bytes.end(), frame.begin());
    SendFrame(iface, frame, frame.size(), offload);
  });
  counters_.Add(NetCounter::kNeighborFlushed, n);
}

void NetStack::DropQueue(NeighborEntry& entry, NetDrop reason) {
  size_t n = neighbors_.DrainQueue(entry, [](std::span<uint8_t>, const TxOffload&) {});
  if (n != 0) TxDrop(reason, n);
}

}  // namespace braid::net
