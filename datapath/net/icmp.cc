// NetStack's ICMP (RFC 792, RFC 1122 §3.2.2) and ICMPv6 (RFC 4443): echo replies, and errors
// quoting our TCP segments turned into IcmpEvents. ICMPv6's neighbour discovery messages are
// dispatched to arp_nd.cc from here.
#include <algorithm>
#include <array>
#include <variant>

#include "datapath/net/net_stack.h"
#include "datapath/wire/bytes.h"
#include "datapath/wire/ethernet.h"
#include "datapath/wire/icmpv4.h"
#include "datapath/wire/icmpv6.h"
#include "datapath/wire/ipv4.h"
#include "datapath/wire/ipv6.h"

namespace braid::net {
namespace {

// RFC 1191 §7: MTU plateaus, for a router that reports no next-hop MTU (code 4, MTU 0).
constexpr std::array<uint16_t, 11> kMtuPlateaus = {65535, 32000, 17914, 8166, 4352, 2002,
                                                   1492,  1006,  508,   296,  68};

uint16_t PlateauBelow(uint16_t total_len) {
  for (uint16_t p : kMtuPlateaus) {
    if (p < total_len) return p;
  }
  return kMtuPlateaus.back();
}

}  // namespace

bool NetStack::EchoAllowed() {
  if (config_.echo_replies_per_second == 0) return true;
  const int64_t cost = 1'000'000'000 / config_.echo_replies_per_second;
  const int64_t cap = cost * std::max<int64_t>(1, config_.echo_burst);
  if (!echo_started_) {
    echo_started_ = true;
    echo_credit_ns_ = cap;
    echo_last_ = now_;
  }
  if (now_ > echo_last_) {
    echo_credit_ns_ = std::min(
        cap, echo_credit_ns_ + tcp::NanosSinceEpoch(now_) - tcp::NanosSinceEpoch(echo_last_));
    echo_last_ = now_;
  }
  if (echo_credit_ns_ < cost) return false;
  echo_credit_ns_ -= cost;
  return true;
}

RxOutcome NetStack::ReceiveIcmpv4(InterfaceId id, const wire::EthernetFrame& frame,
                                  std::span<const uint8_t> ip_bytes) {
  auto ip = wire::Ipv4Packet::Check(ip_bytes);  // proven by the caller; never fails here
  if (!ip.ok()) return RxOutcome::Dropped(NetDrop::kIpv4Malformed);
  auto packet = wire::Icmpv4Packet::Check(ip->payload());
  if (!packet.ok()) return RxOutcome::Dropped(NetDrop::kIcmpv4Malformed);
  auto icmp = wire::Icmpv4Repr::Parse(*packet);
  if (!icmp.ok()) {
    switch (icmp.error()) {
      case wire::WireError::kBadChecksum:
        return RxOutcome::Dropped(NetDrop::kIcmpv4BadChecksum);
      case wire::WireError::kUnsupported:
        return RxOutcome::Dropped(NetDrop::kIcmpUnsupported);
      default:
        return RxOutcome::Dropped(NetDrop::kIcmpv4Malformed);
    }
  }
  const Interface& iface = interfaces_[id];
  IcmpEvent event;
  event.icmp_type = static_cast<uint8_t>(icmp->type);
  event.icmp_code = icmp->code;
  switch (icmp->type) {
    case wire::Icmpv4Type::kEchoRequest: {
      counters_.Add(NetCounter::kEchoRequestsReceived);
      if (!EchoAllowed()) return RxOutcome::Dropped(NetDrop::kEchoRateLimited);
      // RFC 1122 §3.2.2.6: same data, addresses swapped; back to the requester's MAC on the
      // interface it came in on. DSCP reflected (as Linux's icmp_reply does with the TOS).
      wire::Icmpv4Repr reply = *icmp;
      reply.type = wire::Icmpv4Type::kEchoReply;
      wire::Ipv4Repr out;
      out.source = ip->destination();
      out.destination = ip->source();
      out.protocol = wire::IpProtocol::kIcmp;
      out.dscp = ip->dscp();
      out.dont_fragment = true;  // every datagram we send is atomic (RFC 6864 §4.1)
      out.ttl = config_.ipv4_ttl;
      out.payload_len = static_cast<uint16_t>(reply.BufferLen());
      if (out.BufferLen() > iface.config.mtu) return RxOutcome::Dropped(NetDrop::kTxTooBig);
      size_t l2 = EmitEthernet(scratch_, iface, frame.source(), wire::kEtherTypeIpv4);
      std::span<uint8_t> rest = std::span<uint8_t>(scratch_).subspan(l2);
      if (l2 == 0 || out.BufferLen() > rest.size() || !out.Emit(rest) ||
          !reply.Emit(rest.subspan(wire::kIpv4MinHeaderLen))) {
        return RxOutcome::Dropped(NetDrop::kTxEmitFailed);
      }
      SendFrame(iface, scratch_, l2 + out.BufferLen());
      counters_.Add(NetCounter::kEchoRepliesSent);
      return RxOutcome::Consumed();
    }
    case wire::Icmpv4Type::kDestinationUnreachable:
      if (icmp->code == wire::kIcmpv4FragmentationNeeded) {
        event.kind = IcmpEvent::Kind::kPathMtu;
        uint16_t mtu = icmp->next_hop_mtu;
        if (mtu == 0) {
          // RFC 1191 §5: an old router; guess from the quoted datagram's total length.
          mtu = PlateauBelow(wire::LoadBe16(icmp->data.data() + 2));
        }
        event.mtu = std::max(mtu, config_.ipv4_min_pmtu);
      } else {
        event.kind = IcmpEvent::Kind::kUnreachable;
      }
      return IcmpErrorForFlow(id, event, icmp->data);
    case wire::Icmpv4Type::kTimeExceeded:
      event.kind = IcmpEvent::Kind::kTimeExceeded;
      return IcmpErrorForFlow(id, event, icmp->data);
    default:
      return RxOutcome::Dropped(NetDrop::kIcmpUnsupported);
  }
}

RxOutcome NetStack::ReceiveIcmpv6(InterfaceId id, const wire::EthernetFrame& frame,
                                  std::span<const uint8_t> ip_bytes,
                                  std::span<const uint8_t> icmp_bytes) {
  auto ip = wire::Ipv6Packet::Check(ip_bytes);  // proven by the caller; never fails here
  if (!ip.ok()) return RxOutcome::Dropped(NetDrop::kIpv6Malformed);
  const wire::Ipv6Address source = ip->source();
  const wire::Ipv6Address destination = ip->destination();
  auto packet = wire::Icmpv6Packet::Check(icmp_bytes);
  if (!packet.ok()) {
    // A malformed ND option list makes the whole ND message invalid (RFC 4861 §4.6).
    return RxOutcome::Dropped(packet.error() == wire::WireError::kBadOptionLength
                                  ? NetDrop::kNdInvalid
                                  : NetDrop::kIcmpv6Malformed);
  }
  const auto type = packet->type();
  const bool nd = type == wire::Icmpv6Type::kNeighborSolicitation ||
                  type == wire::Icmpv6Type::kNeighborAdvertisement;
  // Only a neighbour solicitation may come from the unspecified address (DAD, RFC 4862 §5.4.2).
  if (source.IsUnspecified() && type != wire::Icmpv6Type::kNeighborSolicitation) {
    return RxOutcome::Dropped(NetDrop::kIpv6BadSource);
  }
  // RFC 4861 §7.1.1/§7.1.2: checked first so that a forwarded ND message is refused whatever else
  // is wrong with it.
  if (nd && ip->hop_limit() != 255) return RxOutcome::Dropped(NetDrop::kNdBadHopLimit);
  auto icmp = wire::Icmpv6Repr::Parse(*packet, source, destination);
  if (!icmp.ok()) {
    switch (icmp.error()) {
      case wire::WireError::kBadChecksum:
        return RxOutcome::Dropped(NetDrop::kIcmpv6BadChecksum);
      case wire::WireError::kUnsupported:
        return RxOutcome::Dropped(NetDrop::kIcmpUnsupported);
      case wire::WireError::kBadCode:
        return RxOutcome::Dropped(nd ? NetDrop::kNdInvalid : NetDrop::kIcmpUnsupported);
      default:
        return RxOutcome::Dropped(NetDrop::kIcmpv6Malformed);
    }
  }
  const Interface& iface = interfaces_[id];
  IcmpEvent event;
  event.icmp_type = static_cast<uint8_t>(icmp->type);
  event.icmp_code = icmp->code;
  switch (icmp->type) {
    case wire::Icmpv6Type::kNeighborSolicitation:
      return ReceiveNeighborSolicitation(id, frame, source, destination, *icmp);
    case wire::Icmpv6Type::kNeighborAdvertisement:
      return ReceiveNeighborAdvertisement(id, destination, *icmp);
    case wire::Icmpv6Type::kEchoRequest: {
      counters_.Add(NetCounter::kEchoRequestsReceived);
      // RFC 4443 §4.2 lets a node answer multicast echo requests; we do not (ping amplification
      // on a shared path gains nothing).
      if (destination.IsMulticast()) return RxOutcome::Dropped(NetDrop::kEchoNotUnicast);
      if (!EchoAllowed()) return RxOutcome::Dropped(NetDrop::kEchoRateLimited);
      // RFC 4443 §4.2: same identifier, sequence and data; DSCP reflected, ECN not.
      wire::Icmpv6Repr reply;
      reply.type = wire::Icmpv6Type::kEchoReply;
      reply.echo_ident = icmp->echo_ident;
      reply.echo_seq = icmp->echo_seq;
      reply.data = icmp->data;
      wire::Ipv6Repr out;
      out.source = destination;
      out.destination = source;
      out.next_header = wire::IpProtocol::kIcmpv6;
      out.hop_limit = config_.ipv6_hop_limit;
      out.traffic_class = static_cast<uint8_t>(ip->traffic_class() & 0xfc);
      out.payload_len = static_cast<uint16_t>(reply.BufferLen());
      if (out.BufferLen() > iface.config.mtu) return RxOutcome::Dropped(NetDrop::kTxTooBig);
      size_t l2 = EmitEthernet(scratch_, iface, frame.source(), wire::kEtherTypeIpv6);
      std::span<uint8_t> rest = std::span<uint8_t>(scratch_).subspan(l2);
      if (l2 == 0 || out.BufferLen() > rest.size() || !out.Emit(rest) ||
          !reply.Emit(rest.subspan(wire::kIpv6HeaderLen), out.source, out.destination)) {
        return RxOutcome::Dropped(NetDrop::kTxEmitFailed);
      }
      SendFrame(iface, scratch_, l2 + out.BufferLen());
      counters_.Add(NetCounter::kEchoRepliesSent);
      return RxOutcome::Consumed();
    }
    case wire::Icmpv6Type::kPacketTooBig:
      event.kind = IcmpEvent::Kind::kPathMtu;
      // RFC 8201 §4: never below the IPv6 minimum link MTU.
      event.mtu = std::max<uint32_t>(icmp->mtu, kMinIpv6Mtu);
      return IcmpErrorForFlow(id, event, icmp->data);
    case wire::Icmpv6Type::kDestinationUnreachable:
      event.kind = IcmpEvent::Kind::kUnreachable;
      return IcmpErrorForFlow(id, event, icmp->data);
    case wire::Icmpv6Type::kTimeExceeded:
      event.kind = IcmpEvent::Kind::kTimeExceeded;
      return IcmpErrorForFlow(id, event, icmp->data);
    case wire::Icmpv6Type::kParameterProblem:
      event.kind = IcmpEvent::Kind::kParameterProblem;
      return IcmpErrorForFlow(id, event, icmp->data);
    default:
      return RxOutcome::Dropped(NetDrop::kIcmpUnsupported);
  }
}

RxOutcome NetStack::IcmpErrorForFlow(InterfaceId id, IcmpEvent event,
                                     std::span<const uint8_t> quoted) {
  // The quoted packet is one we sent: IPv4 without options or IPv6 without extension headers,
  // then at least the first 8 bytes of TCP (ports and sequence number), which RFC 792 and
  // RFC 4443 §2.4(c) guarantee. The codecs proved the IP header is there.
  std::span<const uint8_t> tcp;
  if ((quoted[0] >> 4) == 4) {
    size_t header_len = size_t{quoted[0] & 0x0fu} * 4;
    if (quoted[9] != static_cast<uint8_t>(wire::IpProtocol::kTcp) ||
        quoted.size() < header_len + 8) {
      return RxOutcome::Dropped(NetDrop::kIcmpErrorNotTcp);
    }
    auto local = wire::Ipv4Address::FromBytes(quoted.data() + 12);
    auto remote = wire::Ipv4Address::FromBytes(quoted.data() + 16);
    if (!IsLocal(local)) return RxOutcome::Dropped(NetDrop::kIcmpErrorNotOurs);
    event.flow.local = local;
    event.flow.remote = remote;
    tcp = quoted.subspan(header_len);
  } else {
    if (quoted[6] != static_cast<uint8_t>(wire::IpProtocol::kTcp) ||
        quoted.size() < wire::kIpv6HeaderLen + 8) {
      return RxOutcome::Dropped(NetDrop::kIcmpErrorNotTcp);
    }
    auto local = wire::Ipv6Address::FromBytes(quoted.data() + 8);
    auto remote = wire::Ipv6Address::FromBytes(quoted.data() + 24);
    if (!IsLocal(local)) return RxOutcome::Dropped(NetDrop::kIcmpErrorNotOurs);
    event.flow.local = local;
    event.flow.remote = remote;
    tcp = quoted.subspan(wire::kIpv6HeaderLen);
  }
  event.flow.local_port = wire::LoadBe16(tcp.data());
  event.flow.remote_port = wire::LoadBe16(tcp.data() + 2);
  event.seq = wire::TcpSeq(wire::LoadBe32(tcp.data() + 4));
  event.interface = id;
  event.at = now_;
  if (event.kind == IcmpEvent::Kind::kPathMtu) {
    // RFC 8201 §4, RFC 1191 §6.3: a report never raises the path MTU; ours starts at the
    // interface's.
    if (event.mtu >= interfaces_[id].config.mtu) {
      return RxOutcome::Dropped(NetDrop::kPmtuNotLower);
    }
  }
  if (!PushEvent(event)) return RxOutcome::Dropped(NetDrop::kIcmpEventQueueFull);
  counters_.Add(NetCounter::kIcmpErrorsReceived);
  if (event.kind == IcmpEvent::Kind::kPathMtu) counters_.Add(NetCounter::kPmtuEvents);
  return RxOutcome::Consumed();
}

}  // namespace braid::net
