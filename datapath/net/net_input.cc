// NetStack's receive path: Ethernet (+802.1Q) -> IPv4 / IPv6 -> TCP. ARP and neighbour discovery
// are in arp_nd.cc, ICMP in icmp.cc. Each function returns the frame's one outcome; Receive()
// counts it, so that every frame is counted exactly once.
#include <algorithm>
#include <iterator>
#include <variant>

#include "datapath/net/net_stack.h"
#include "datapath/tcp/segment.h"
#include "datapath/wire/ethernet.h"
#include "datapath/wire/ipv4.h"
#include "datapath/wire/ipv6.h"
#include "datapath/wire/tcp.h"

namespace braid::net {
namespace {

constexpr wire::Ipv6Address kAllNodes{{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01}};
constexpr wire::Ipv6Address kIpv6Loopback{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};

bool IsSolicitedNodeGroup(const wire::Ipv6Address& a) {
  static constexpr uint8_t kPrefix[13] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff};
  return std::equal(std::begin(kPrefix), std::end(kPrefix), a.bytes.begin());
}

}  // namespace

RxOutcome NetStack::Receive(uint16_t port, std::span<const uint8_t> frame, tcp::Instant now,
                            const RxOffload& offload) {
  SetNow(now);
  counters_.Add(NetCounter::kRxFrames);
  RxOutcome outcome = ReceiveFrame(port, frame, offload);
  switch (outcome.kind) {
    case RxOutcome::Kind::kDelivered:
      counters_.Add(NetCounter::kRxDelivered);
      break;
    case RxOutcome::Kind::kConsumed:
      counters_.Add(NetCounter::kRxConsumed);
      break;
    case RxOutcome::Kind::kDropped:
      counters_.Add(NetCounter::kRxDropped);
      counters_.AddDrop(outcome.drop);
      break;
  }
  return outcome;
}

RxOutcome NetStack::ReceiveFrame(uint16_t port, std::span<const uint8_t> bytes,
                                 const RxOffload& offload) {
  auto frame = wire::EthernetFrame::Check(bytes);
  if (!frame.ok()) return RxOutcome::Dropped(NetDrop::kTruncated);

  // The VLAN: from the tag, or from the device when it stripped the tag. VID 0 is a priority tag
  // (IEEE 802.1Q §9.6): the frame belongs to the untagged interface. A second tag (QinQ) is not
  // unwrapped: none of our interfaces lives there.
  std::optional<uint16_t> vlan;
  uint16_t tci =
      frame->has_vlan() ? frame->vlan_tci() : (offload.vlan_stripped ? offload.vlan_tci : 0);
  if ((frame->has_vlan() && offload.vlan_stripped) || frame->ethertype() == wire::kEtherTypeVlan ||
      frame->ethertype() == wire::kEtherTypeQinQ) {
    return RxOutcome::Dropped(NetDrop::kVlanNotOurs);
  }
  if ((tci & 0x0fff) != 0) vlan = static_cast<uint16_t>(tci & 0x0fff);
  bool port_known = false;
  std::optional<InterfaceId> id = FindInterface(port, vlan, &port_known);
  if (!id) {
    return RxOutcome::Dropped(port_known ? NetDrop::kVlanNotOurs : NetDrop::kUnknownPort);
  }
  const Interface& iface = interfaces_[*id];
  if (!iface.up) return RxOutcome::Dropped(NetDrop::kInterfaceDown);

  wire::MacAddress src = frame->source();
  wire::MacAddress dst = frame->destination();
  if (src.IsMulticast()) return RxOutcome::Dropped(NetDrop::kBadSourceMac);
  if (src == iface.mac()) return RxOutcome::Dropped(NetDrop::kLoopedBack);
  // Ours, broadcast, or an IPv6 multicast MAC (33:33:..., RFC 2464 §7; which group is checked
  // against the IPv6 destination).
  bool link_multicast = dst.IsMulticast();
  if (dst != iface.mac() && !dst.IsBroadcast() && !(dst.bytes[0] == 0x33 && dst.bytes[1] == 0x33)) {
    return RxOutcome::Dropped(NetDrop::kNotForUsMac);
  }

  switch (frame->ethertype()) {
    case wire::kEtherTypeArp:
      return ReceiveArp(*id, *frame);
    case wire::kEtherTypeIpv4:
      return ReceiveIpv4(*id, *frame, link_multicast, offload);
    case wire::kEtherTypeIpv6:
      return ReceiveIpv6(*id, *frame, link_multicast, offload);
    default:
      return RxOutcome::Dropped(NetDrop::kBadEthertype);
  }
}

RxOutcome NetStack::ReceiveIpv4(InterfaceId id, const wire::EthernetFrame& frame,
                                bool link_multicast, const RxOffload& offload) {
  auto packet = wire::Ipv4Packet::Check(frame.payload());
  if (!packet.ok()) return RxOutcome::Dropped(NetDrop::kIpv4Malformed);
  // RFC 791 §3.1 / RFC 1122 §3.2.1.2: a datagram whose header checksum fails is discarded.
  if (!offload.ipv4_checksum_good && !packet->checksum_ok()) {
    return RxOutcome::Dropped(NetDrop::kIpv4BadChecksum);
  }
  if (packet->header_len() != wire::kIpv4MinHeaderLen) {
    return RxOutcome::Dropped(NetDrop::kIpv4Options);
  }
  if (packet->is_fragment()) return RxOutcome::Dropped(NetDrop::kIpv4Fragment);
  wire::Ipv4Address source = packet->source();
  wire::Ipv4Address destination = packet->destination();
  // RFC 1122 §3.2.1.3: a host discards datagrams from martian sources.
  if (source.IsUnspecified() || source.IsBroadcast() || source.IsMulticast() ||
      source.IsLoopback() || IsLocal(source)) {
    return RxOutcome::Dropped(NetDrop::kIpv4BadSource);
  }
  const bool owned = Owns(id, destination);
  if (!owned && !(config_.weak_host && IsLocal(destination))) {
    return RxOutcome::Dropped(NetDrop::kIpv4NotForUs);
  }
  // RFC 1122 §3.3.6: a unicast datagram that came as a link-layer broadcast is discarded.
  if (link_multicast) return RxOutcome::Dropped(NetDrop::kLinkBroadcastUnicastIp);

  switch (packet->protocol()) {
    case wire::IpProtocol::kTcp:
      return ReceiveTcp(source, destination, packet->payload(), offload,
                        owned ? std::nullopt : std::optional<InterfaceId>(id));
    case wire::IpProtocol::kIcmp:
      return ReceiveIcmpv4(id, frame, packet->bytes());
    default:
      return RxOutcome::Dropped(NetDrop::kIpv4UnknownProtocol);
  }
}

RxOutcome NetStack::ReceiveIpv6(InterfaceId id, const wire::EthernetFrame& frame,
                                bool link_multicast, const RxOffload& offload) {
  auto packet = wire::Ipv6Packet::Check(frame.payload());
  if (!packet.ok()) return RxOutcome::Dropped(NetDrop::kIpv6Malformed);
  wire::Ipv6Address source = packet->source();
  wire::Ipv6Address destination = packet->destination();
  // RFC 4291 §2.7: a multicast address is never a source; ::1 never arrives from a link
  // (RFC 4291 §2.5.3); our own address coming back is a loop.
  if (source.IsMulticast() || source == kIpv6Loopback || IsLocal(source)) {
    return RxOutcome::Dropped(NetDrop::kIpv6BadSource);
  }
  bool multicast_ok =
      destination == kAllNodes ||
      (IsSolicitedNodeGroup(destination) && interfaces_[id].HasSolicitedNodeGroup(destination));
  const bool owned = Owns(id, destination);
  const bool weak_ok = config_.weak_host && !destination.IsLinkLocal() &&
                       !destination.IsMulticast() && IsLocal(destination);
  if (!multicast_ok && !weak_ok && !owned) return RxOutcome::Dropped(NetDrop::kIpv6NotForUs);
  if (!destination.IsMulticast() && link_multicast) {
    return RxOutcome::Dropped(NetDrop::kLinkBroadcastUnicastIp);
  }

  auto walk = packet->WalkExtensionHeaders();
  if (!walk.ok()) return RxOutcome::Dropped(NetDrop::kIpv6BadExtensionHeader);
  if (walk->is_fragment()) return RxOutcome::Dropped(NetDrop::kIpv6Fragment);

  switch (walk->upper_layer_protocol) {
    case wire::IpProtocol::kTcp:
      // TCP is unicast only, and never from the unspecified address (RFC 4291 §2.5.2).
      if (destination.IsMulticast() || source.IsUnspecified()) {
        return RxOutcome::Dropped(NetDrop::kIpv6UnknownProtocol);
      }
      return ReceiveTcp(source, destination, walk->upper_layer, offload,
                        owned ? std::nullopt : std::optional<InterfaceId>(id));
    case wire::IpProtocol::kIcmpv6:
      return ReceiveIcmpv6(id, frame, packet->bytes(), walk->upper_layer);
    default:
      return RxOutcome::Dropped(NetDrop::kIpv6UnknownProtocol);
  }
}

RxOutcome NetStack::ReceiveTcp(const wire::IpAddress& source, const wire::IpAddress& destination,
                               std::span<const uint8_t> bytes, const RxOffload& offload,
                               std::optional<InterfaceId> elsewhere) {
  auto segment = wire::TcpSegment::Check(bytes);
  if (!segment.ok()) return RxOutcome::Dropped(NetDrop::kTcpMalformed);
  if (!offload.l4_checksum_good) {
    bool ok = wire::IsIpv4(source)
                  ? segment->VerifyChecksumV4(std::get<wire::Ipv4Address>(source),
                                              std::get<wire::Ipv4Address>(destination))
                  : segment->VerifyChecksumV6(std::get<wire::Ipv6Address>(source),
                                              std::get<wire::Ipv6Address>(destination));
    if (!ok) return RxOutcome::Dropped(NetDrop::kTcpBadChecksum);
  }
  if (segment->src_port() == 0 || segment->dst_port() == 0) {
    return RxOutcome::Dropped(NetDrop::kTcpBadPort);
  }
  if (tcp_ == nullptr) return RxOutcome::Dropped(NetDrop::kNoTcpBackend);
  tcp::InboundSegment in;
  in.header = wire::TcpRepr::Parse(*segment);
  in.payload = segment->payload();
  tcp::FlowKey flow{destination, segment->dst_port(), source, segment->src_port()};
  if (elsewhere) NoteArrival(flow, *elsewhere);
  tcp_->Input(flow, in, now_);
  return RxOutcome::Delivered();
}

}  // namespace braid::net
