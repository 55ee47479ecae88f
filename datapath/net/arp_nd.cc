// NetStack's neighbour protocols: ARP (RFC 826, with RFC 5227's announcements and probes) and
// IPv6 neighbour discovery (RFC 4861 §7). The cache's state machine is neighbor_cache.h's; this
// file reads and writes the messages.
#include <variant>

#include "datapath/net/net_stack.h"
#include "datapath/wire/arp.h"
#include "datapath/wire/ethernet.h"
#include "datapath/wire/icmpv6.h"
#include "datapath/wire/ipv6.h"

namespace braid::net {
namespace {

constexpr wire::Ipv6Address kAllNodes{{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01}};
// RFC 4861 §6.1.2, §7.1: ND messages are sent, and must arrive, with hop limit 255, which proves
// they were not forwarded.
constexpr uint8_t kNdHopLimit = 255;

}  // namespace

// --- ARP ---

RxOutcome NetStack::ReceiveArp(InterfaceId id, const wire::EthernetFrame& frame) {
  const Interface& iface = interfaces_[id];
  auto packet = wire::ArpPacket::Check(frame.payload());
  if (!packet.ok()) return RxOutcome::Dropped(NetDrop::kArpMalformed);
  auto arp = wire::ArpRepr::Parse(*packet);
  if (!arp.ok()) return RxOutcome::Dropped(NetDrop::kArpUnsupportedOp);
  const wire::Ipv4Address sip = arp->sender_ip;
  const wire::Ipv4Address tip = arp->target_ip;
  const wire::MacAddress sha = arp->sender_mac;
  if (sha.IsMulticast() || sha.IsZero() || sip.IsBroadcast() || sip.IsMulticast() ||
      sip.IsLoopback()) {
    return RxOutcome::Dropped(NetDrop::kArpBadSender);
  }
  if (IsLocal(sip)) {
    // RFC 5227 §2.4: someone else uses one of our addresses. Counted; the agent's IPAM owns
    // uniqueness, and answering would only fight over the address.
    return RxOutcome::Dropped(sha == iface.mac() ? NetDrop::kLoopedBack
                                                 : NetDrop::kArpAddressConflict);
  }
  const bool target_ours = Owns(id, tip);

  if (arp->operation == wire::ArpOperation::kRequest && target_ours) {
    counters_.Add(NetCounter::kArpRequestsReceived);
    if (sip.IsUnspecified()) {
      // RFC 5227 §2.1.1 probe for one of our addresses: answer so the prober sees it is taken
      // (as Linux does); it has no address to learn.
      if (SendArp(iface, wire::ArpOperation::kReply, sha, tip, sha, sip)) {
        counters_.Add(NetCounter::kArpRepliesSent);
      }
      return RxOutcome::Consumed();
    }
    // RFC 826: merge or add the sender, since it is about to talk to us.
    bool resolved = false;
    NeighborEntry* e = neighbors_.Learn({id, sip}, sha, now_, &resolved);
    if (e != nullptr && resolved) FlushQueue(*e);
    if (SendArp(iface, wire::ArpOperation::kReply, sha, tip, sha, sip)) {
      counters_.Add(NetCounter::kArpRepliesSent);
    }
    return RxOutcome::Consumed();
  }
  if (sip.IsUnspecified()) return RxOutcome::Dropped(NetDrop::kArpNotForUs);
  NeighborEntry* e = neighbors_.Find({id, sip});
  if (arp->operation == wire::ArpOperation::kReply && target_ours) {
    if (e == nullptr) return RxOutcome::Dropped(NetDrop::kArpUnsolicitedReply);
    // A unicast reply to us answers our request: it confirms reachability. A broadcast one is
    // an announcement (RFC 5227 §3 allows replies) and only updates the address.
    bool solicited = frame.destination() == iface.mac();
    if (neighbors_.Advertise(*e, sha, solicited, /*override_flag=*/true, now_) ==
        NeighborCache::AdvertResult::kResolved) {
      FlushQueue(*e);
    }
    counters_.Add(NetCounter::kArpRepliesReceived);
    return RxOutcome::Consumed();
  }
  // For another host (a gratuitous ARP among them): RFC 826's merge step updates a sender we
  // already know, and adds nothing.
  if (e == nullptr) return RxOutcome::Dropped(NetDrop::kArpNotForUs);
  if (neighbors_.Advertise(*e, sha, /*solicited=*/false, /*override_flag=*/true, now_) ==
      NeighborCache::AdvertResult::kResolved) {
    FlushQueue(*e);
  }
  counters_.Add(NetCounter::kArpUpdatesReceived);
  return RxOutcome::Consumed();
}

bool NetStack::SendArp(const Interface& iface, wire::ArpOperation op,
                       const wire::MacAddress& eth_dst, const wire::Ipv4Address& sender_ip,
                       const wire::MacAddress& target_mac, const wire::Ipv4Address& target_ip) {
  size_t l2 = EmitEthernet(scratch_, iface, eth_dst, wire::kEtherTypeArp);
  wire::ArpRepr arp{op, iface.mac(), sender_ip, target_mac, target_ip};
  if (l2 == 0 || !arp.Emit(std::span<uint8_t>(scratch_).subspan(l2))) {
    TxDrop(NetDrop::kTxEmitFailed);
    return false;
  }
  SendFrame(iface, scratch_, l2 + arp.BufferLen());
  return true;
}

// --- Neighbour discovery ---

RxOutcome NetStack::ReceiveNeighborSolicitation(InterfaceId id, const wire::EthernetFrame& frame,
                                                const wire::Ipv6Address& source,
                                                const wire::Ipv6Address& destination,
                                                const wire::Icmpv6Repr& ns) {
  const Interface& iface = interfaces_[id];
  // RFC 4861 §7.1.1 validity checks (hop limit, code and option lengths were checked before).
  if (ns.target.IsMulticast()) return RxOutcome::Dropped(NetDrop::kNdInvalid);
  if (source.IsUnspecified() &&
      (ns.source_link_address || destination != ns.target.SolicitedNodeMulticast())) {
    return RxOutcome::Dropped(NetDrop::kNdInvalid);
  }
  if (!Owns(id, ns.target)) return RxOutcome::Dropped(NetDrop::kNdNotForUs);
  counters_.Add(NetCounter::kNdSolicitationsReceived);
  if (source.IsUnspecified()) {
    // Another node's duplicate address detection for our address. RFC 4861 §7.2.4: answer to
    // all-nodes with S clear (RFC 4862 §5.4.3: we own it, so we defend it).
    if (SendNeighborAdvertisement(iface, kAllNodes.MulticastMac(), kAllNodes, ns.target,
                                  /*solicited=*/false)) {
      counters_.Add(NetCounter::kNdAdvertisementsSent);
    }
    return RxOutcome::Consumed();
  }
  // RFC 4861 §7.2.3: learn the solicitor's address when it gave one.
  wire::MacAddress reply_mac = frame.source();
  if (ns.source_link_address) {
    reply_mac = *ns.source_link_address;
    bool resolved = false;
    NeighborEntry* e = neighbors_.Learn({id, source}, *ns.source_link_address, now_, &resolved);
    if (e != nullptr && resolved) FlushQueue(*e);
  }
  if (SendNeighborAdvertisement(iface, reply_mac, source, ns.target, /*solicited=*/true)) {
    counters_.Add(NetCounter::kNdAdvertisementsSent);
  }
  return RxOutcome::Consumed();
}

RxOutcome NetStack::ReceiveNeighborAdvertisement(InterfaceId id,
                                                 const wire::Ipv6Address& destination,
                                                 const wire::Icmpv6Repr& na) {
  // RFC 4861 §7.1.2.
  if (na.target.IsMulticast() || (destination.IsMulticast() && na.solicited_flag)) {
    return RxOutcome::Dropped(NetDrop::kNdInvalid);
  }
  NeighborEntry* e = neighbors_.Find({id, na.target});
  // RFC 4861 §7.2.5: no entry, nothing was asked: silently discarded.
  if (e == nullptr) return RxOutcome::Dropped(NetDrop::kNdNoEntry);
  if (neighbors_.Advertise(*e, na.target_link_address, na.solicited_flag, na.override_flag, now_) ==
      NeighborCache::AdvertResult::kResolved) {
    FlushQueue(*e);
  }
  counters_.Add(NetCounter::kNdAdvertisementsReceived);
  return RxOutcome::Consumed();
}

void NetStack::SendNeighborSolicitation(const Interface& iface, const wire::Ipv6Address& source,
                                        const wire::Ipv6Address& target,
                                        const std::optional<wire::MacAddress>& unicast_mac) {
  // RFC 4861 §7.2.2: multicast to the target's solicited-node group, or unicast to the cached
  // address when probing (§7.3.3 PROBE); with our link-layer address either way.
  wire::Ipv6Address destination = unicast_mac ? target : target.SolicitedNodeMulticast();
  wire::MacAddress eth_dst = unicast_mac ? *unicast_mac : destination.MulticastMac();
  wire::Icmpv6Repr ns;
  ns.type = wire::Icmpv6Type::kNeighborSolicitation;
  ns.target = target;
  ns.source_link_address = iface.mac();
  wire::Ipv6Repr ip;
  ip.source = source;
  ip.destination = destination;
  ip.next_header = wire::IpProtocol::kIcmpv6;
  ip.hop_limit = kNdHopLimit;
  ip.payload_len = static_cast<uint16_t>(ns.BufferLen());
  size_t l2 = EmitEthernet(scratch_, iface, eth_dst, wire::kEtherTypeIpv6);
  std::span<uint8_t> rest = std::span<uint8_t>(scratch_).subspan(l2);
  if (l2 == 0 || !ip.Emit(rest) ||
      !ns.Emit(rest.subspan(wire::kIpv6HeaderLen), source, destination)) {
    return TxDrop(NetDrop::kTxEmitFailed);
  }
  counters_.Add(NetCounter::kNdSolicitationsSent);
  SendFrame(iface, scratch_, l2 + ip.BufferLen());
}

bool NetStack::SendNeighborAdvertisement(const Interface& iface, const wire::MacAddress& eth_dst,
                                         const wire::Ipv6Address& destination,
                                         const wire::Ipv6Address& target, bool solicited) {
  // RFC 4861 §7.2.4/§7.2.6: from the target address, O set (never anycast), R clear (a host).
  wire::Icmpv6Repr na;
  na.type = wire::Icmpv6Type::kNeighborAdvertisement;
  na.target = target;
  na.solicited_flag = solicited;
  na.override_flag = true;
  na.target_link_address = iface.mac();
  wire::Ipv6Repr ip;
  ip.source = target;
  ip.destination = destination;
  ip.next_header = wire::IpProtocol::kIcmpv6;
  ip.hop_limit = kNdHopLimit;
  ip.payload_len = static_cast<uint16_t>(na.BufferLen());
  size_t l2 = EmitEthernet(scratch_, iface, eth_dst, wire::kEtherTypeIpv6);
  std::span<uint8_t> rest = std::span<uint8_t>(scratch_).subspan(l2);
  if (l2 == 0 || !ip.Emit(rest) ||
      !na.Emit(rest.subspan(wire::kIpv6HeaderLen), target, destination)) {
    TxDrop(NetDrop::kTxEmitFailed);
    return false;
  }
  SendFrame(iface, scratch_, l2 + ip.BufferLen());
  return true;
}

// --- Requests, probes and announcements ---

void NetStack::SendProbe(NeighborEntry& entry, bool unicast) {
  const Interface& iface = interfaces_[entry.key.interface];
  if (!iface.up) return;
  // The source: the address of the packet that started resolution when it is this interface's
  // (RFC 4861 §7.2.2; Linux's arp_solicit does the same for ARP), else one chosen for the
  // target.
  std::optional<wire::IpAddress> source;
  if (entry.probe_source && Owns(entry.key.interface, *entry.probe_source)) {
    source = entry.probe_source;
  } else {
    source = iface.SourceFor(entry.key.address);
  }
  std::optional<wire::MacAddress> unicast_mac;
  if (unicast) unicast_mac = entry.mac;
  if (const auto* target4 = std::get_if<wire::Ipv4Address>(&entry.key.address)) {
    if (!source) return;  // no IPv4 address to ask from: the entry will fail
    if (SendArp(iface, wire::ArpOperation::kRequest,
                unicast ? entry.mac : wire::MacAddress::Broadcast(),
                std::get<wire::Ipv4Address>(*source), wire::MacAddress{}, *target4)) {
      counters_.Add(NetCounter::kArpRequestsSent);
    }
    return;
  }
  wire::Ipv6Address from = source ? std::get<wire::Ipv6Address>(*source) : iface.link_local;
  SendNeighborSolicitation(iface, from, std::get<wire::Ipv6Address>(entry.key.address),
                           unicast_mac);
}

void NetStack::AnnounceAddress(const Interface& iface, const wire::IpAddress& address) {
  if (const auto* a4 = std::get_if<wire::Ipv4Address>(&address)) {
    // RFC 5227 §3 ARP announcement: a broadcast request with sender and target both our address.
    if (SendArp(iface, wire::ArpOperation::kRequest, wire::MacAddress::Broadcast(), *a4,
                wire::MacAddress{}, *a4)) {
      counters_.Add(NetCounter::kArpGratuitousSent);
    }
    return;
  }
  // RFC 4861 §7.2.6: unsolicited NA to all-nodes, S clear, O set.
  const auto& a6 = std::get<wire::Ipv6Address>(address);
  if (SendNeighborAdvertisement(iface, kAllNodes.MulticastMac(), kAllNodes, a6,
                                /*solicited=*/false)) {
    counters_.Add(NetCounter::kNdUnsolicitedSent);
  }
}

}  // namespace braid::net
