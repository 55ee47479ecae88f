// Shared by the Ethernet/ARP/IP/ICMP fuzz targets (arp, ipv4, ipv6, icmpv4, icmpv6, frame): for
// one layer, check the view, read every accessor and test the invariants between them, then
// Parse -> Emit -> Check -> Parse and trap unless the repr comes back equal. Checksums are fixed
// up in a copy when they do not verify, so the fuzzer gets past them to the repr.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "datapath/wire/address.h"
#include "datapath/wire/arp.h"
#include "datapath/wire/bytes.h"
#include "datapath/wire/checksum.h"
#include "datapath/wire/error.h"
#include "datapath/wire/ethernet.h"
#include "datapath/wire/icmpv4.h"
#include "datapath/wire/icmpv6.h"
#include "datapath/wire/ipv4.h"
#include "datapath/wire/ipv6.h"

namespace braid::wire::fuzz {

inline void Require(bool ok) {
  if (!ok) __builtin_trap();
}

// Keeps a value alive so reading it through an accessor is not optimised away.
template <typename T>
inline void Sink(const T& value) {
  asm volatile("" : : "r"(&value) : "memory");
}

inline bool Same(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

inline bool Within(std::span<const uint8_t> inner, std::span<const uint8_t> outer) {
  if (inner.empty()) return true;
  return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

inline std::optional<EthernetFrame> FuzzEthernet(std::span<const uint8_t> in) {
  auto frame = EthernetFrame::Check(in);
  if (!frame.ok()) {
    Require(frame.error() == WireError::kTruncated);
    return std::nullopt;
  }
  Sink(frame->destination());
  Sink(frame->source());
  Sink(frame->vlan_tpid());
  Sink(frame->vlan_tci());
  Require(frame->has_vlan() == (frame->header_len() == kEthernetHeaderLen + kVlanTagLen));
  Require(frame->header_len() + frame->payload().size() == in.size());
  EthernetRepr repr = EthernetRepr::Parse(*frame);
  std::vector<uint8_t> out(repr.HeaderLen());
  Require(repr.Emit(out));
  Require(Same(out, in.first(repr.HeaderLen())));  // every header bit is in the repr
  auto again = EthernetFrame::Check(out);
  Require(again.ok() && EthernetRepr::Parse(*again) == repr);
  return *frame;
}

inline void FuzzArp(std::span<const uint8_t> in) {
  auto packet = ArpPacket::Check(in);
  if (!packet.ok()) {
    Require(packet.error() == WireError::kTruncated ||
            packet.error() == WireError::kBadHardwareType);
    return;
  }
  Require(packet->hardware_type() == 1 && packet->protocol_type() == kEtherTypeIpv4);
  Require(packet->hardware_len() == 6 && packet->protocol_len() == 4);
  Require(packet->bytes().size() == kArpPacketLen);
  Sink(packet->sender_hardware_address());
  Sink(packet->sender_protocol_address());
  Sink(packet->target_hardware_address());
  Sink(packet->target_protocol_address());
  auto repr = ArpRepr::Parse(*packet);
  if (!repr.ok()) {
    Require(repr.error() == WireError::kUnsupported);
    return;
  }
  std::vector<uint8_t> out(repr->BufferLen());
  Require(repr->Emit(out));
  Require(Same(out, packet->bytes()));
  auto again = ArpPacket::Check(out);
  Require(again.ok());
  auto reparsed = ArpRepr::Parse(*again);
  Require(reparsed.ok() && *reparsed == *repr);
}

inline void FuzzIpv4Repr(const Ipv4Packet& packet) {
  auto repr = Ipv4Repr::Parse(packet);
  Require(repr.ok());
  Require(repr->payload_len == packet.payload().size());
  Require(repr->is_fragment() == packet.is_fragment());
  std::vector<uint8_t> out(repr->BufferLen());
  Require(repr->Emit(out));
  std::copy(packet.payload().begin(), packet.payload().end(), out.begin() + repr->HeaderLen());
  auto again = Ipv4Packet::Check(out);
  Require(again.ok() && again->checksum_ok() && again->options().empty());
  Require(Same(again->payload(), packet.payload()));
  auto reparsed = Ipv4Repr::Parse(*again);
  Require(reparsed.ok() && *reparsed == *repr);
}

inline std::optional<Ipv4Packet> FuzzIpv4(std::span<const uint8_t> in) {
  auto packet = Ipv4Packet::Check(in);
  if (!packet.ok()) {
    Require(packet.error() == WireError::kTruncated || packet.error() == WireError::kBadVersion ||
            packet.error() == WireError::kBadHeaderLength ||
            packet.error() == WireError::kBadTotalLength);
    return std::nullopt;
  }
  Require(packet->version() == 4);
  Require(packet->header_len() >= kIpv4MinHeaderLen && packet->header_len() <= kIpv4MaxHeaderLen);
  Require(packet->total_len() == packet->bytes().size() && packet->bytes().size() <= in.size());
  Require(packet->options().size() == packet->header_len() - kIpv4MinHeaderLen);
  Require(packet->header().size() + packet->payload().size() == packet->total_len());
  Require(Within(packet->options(), packet->header()));
  Require(packet->fragment_offset() % 8 == 0);
  Require(packet->is_fragment() == (packet->more_fragments() || packet->fragment_offset() != 0));
  Require(packet->dscp() < 64 && packet->ecn() < 4);
  Sink(packet->ident());
  Sink(packet->reserved_flag());
  Sink(packet->dont_fragment());
  Sink(packet->ttl());
  Sink(packet->protocol());
  Sink(packet->header_checksum());
  Sink(packet->source());
  Sink(packet->destination());
  if (packet->checksum_ok()) {
    FuzzIpv4Repr(*packet);
  } else {
    auto repr = Ipv4Repr::Parse(*packet);
    Require(!repr.ok() && repr.error() == WireError::kBadChecksum);
    std::vector<uint8_t> fixed(in.begin(), in.end());
    StoreBe16(fixed.data() + 10, 0);
    StoreBe16(fixed.data() + 10, ComputeChecksum(std::span(fixed).first(packet->header_len())));
    auto fixed_packet = Ipv4Packet::Check(fixed);
    Require(fixed_packet.ok() && fixed_packet->checksum_ok());
    FuzzIpv4Repr(*fixed_packet);
  }
  return *packet;
}

inline std::optional<Ipv6ExtensionWalk> FuzzIpv6Walk(const Ipv6Packet& packet) {
  auto walk = packet.WalkExtensionHeaders();
  if (!walk.ok()) {
    Require(walk.error() == WireError::kBadExtensionHeader ||
            walk.error() == WireError::kTooManyExtensionHeaders);
    return std::nullopt;
  }
  Require(walk->extension_count <= kIpv6MaxExtensionHeaders);
  Require(walk->upper_layer_offset >= kIpv6HeaderLen);
  Require(walk->upper_layer_offset <= packet.bytes().size());
  Require(walk->upper_layer.data() == packet.bytes().data() + walk->upper_layer_offset);
  Require(walk->upper_layer_offset + walk->upper_layer.size() == packet.bytes().size());
  Require(walk->extension_count != 0 || walk->upper_layer_offset == kIpv6HeaderLen);
  if (walk->fragment) Require(walk->fragment->offset % 8 == 0);
  Require(!walk->is_fragment() || walk->fragment.has_value());
  return *walk;
}

inline std::optional<Ipv6Packet> FuzzIpv6(std::span<const uint8_t> in) {
  auto packet = Ipv6Packet::Check(in);
  if (!packet.ok()) {
    Require(packet.error() == WireError::kTruncated || packet.error() == WireError::kBadVersion ||
            packet.error() == WireError::kBadTotalLength);
    return std::nullopt;
  }
  Require(packet->version() == 6);
  Require(packet->flow_label() <= kIpv6MaxFlowLabel);
  Require(packet->dscp() == packet->traffic_class() >> 2 && packet->ecn() < 4);
  Require(packet->payload().size() == packet->payload_len());
  Require(packet->header().size() + packet->payload().size() == packet->bytes().size());
  Require(packet->bytes().size() <= in.size());
  Sink(packet->next_header());
  Sink(packet->hop_limit());
  Sink(packet->source());
  Sink(packet->destination());
  auto walk = FuzzIpv6Walk(*packet);

  Ipv6Repr repr = Ipv6Repr::Parse(*packet);
  std::vector<uint8_t> out(repr.BufferLen());
  Require(repr.Emit(out));
  Require(Same(std::span(out).first(kIpv6HeaderLen), packet->header()));
  std::copy(packet->payload().begin(), packet->payload().end(), out.begin() + repr.HeaderLen());
  auto again = Ipv6Packet::Check(out);
  Require(again.ok() && Ipv6Repr::Parse(*again) == repr);
  // The same chain walks the same way in the copy.
  auto walk_again = again->WalkExtensionHeaders();
  Require(walk_again.ok() == walk.has_value());
  if (walk) {
    Require(walk_again->upper_layer_protocol == walk->upper_layer_protocol);
    Require(walk_again->upper_layer_offset == walk->upper_layer_offset);
    Require(walk_again->extension_count == walk->extension_count);
    Require(walk_again->fragment == walk->fragment);
  }
  return *packet;
}

inline void FuzzIcmpv4Repr(const Icmpv4Packet& packet) {
  auto repr = Icmpv4Repr::Parse(packet);
  if (!repr.ok()) {
    Require(repr.error() == WireError::kUnsupported || repr.error() == WireError::kTruncated ||
            repr.error() == WireError::kBadVersion || repr.error() == WireError::kBadHeaderLength);
    return;
  }
  Require(repr->BufferLen() == packet.bytes().size());
  std::vector<uint8_t> out(repr->BufferLen());
  Require(repr->Emit(out));
  auto again = Icmpv4Packet::Check(out);
  Require(again.ok() && again->checksum_ok());
  auto reparsed = Icmpv4Repr::Parse(*again);
  Require(reparsed.ok() && *reparsed == *repr);
}

inline void FuzzIcmpv4(std::span<const uint8_t> in) {
  auto packet = Icmpv4Packet::Check(in);
  if (!packet.ok()) {
    Require(packet.error() == WireError::kTruncated);
    return;
  }
  Require(packet->bytes().size() == in.size());
  Require(packet->data().size() + kIcmpv4HeaderLen == in.size());
  Sink(packet->type());
  Sink(packet->code());
  Sink(packet->checksum());
  Sink(packet->echo_ident());
  Sink(packet->echo_seq());
  Sink(packet->next_hop_mtu());
  if (packet->checksum_ok()) {
    FuzzIcmpv4Repr(*packet);
    return;
  }
  auto repr = Icmpv4Repr::Parse(*packet);
  Require(!repr.ok() && repr.error() == WireError::kBadChecksum);
  std::vector<uint8_t> fixed(in.begin(), in.end());
  StoreBe16(fixed.data() + 2, 0);
  StoreBe16(fixed.data() + 2, ComputeChecksum(fixed));
  auto fixed_packet = Icmpv4Packet::Check(fixed);
  Require(fixed_packet.ok() && fixed_packet->checksum_ok());
  FuzzIcmpv4Repr(*fixed_packet);
}

inline void FuzzIcmpv6Repr(const Icmpv6Packet& packet, const Ipv6Address& src,
                           const Ipv6Address& dst) {
  auto repr = Icmpv6Repr::Parse(packet, src, dst);
  if (!repr.ok()) {
    Require(repr.error() == WireError::kUnsupported || repr.error() == WireError::kTruncated ||
            repr.error() == WireError::kBadVersion || repr.error() == WireError::kBadCode);
    return;
  }
  Require(repr->prefix_count <= kMaxNdPrefixes);
  // Ignored and unknown options are not re-emitted, so the message can only shrink.
  Require(repr->BufferLen() <= packet.bytes().size());
  std::vector<uint8_t> out(repr->BufferLen());
  Require(repr->Emit(out, src, dst));
  auto again = Icmpv6Packet::Check(out);
  Require(again.ok() && again->checksum_ok(src, dst));
  auto reparsed = Icmpv6Repr::Parse(*again, src, dst);
  Require(reparsed.ok() && *reparsed == *repr);
  Require(reparsed->nd_options_ignored == 0);
}

inline void FuzzIcmpv6(std::span<const uint8_t> in, const Ipv6Address& src,
                       const Ipv6Address& dst) {
  auto packet = Icmpv6Packet::Check(in);
  if (!packet.ok()) {
    Require(packet.error() == WireError::kTruncated ||
            packet.error() == WireError::kBadOptionLength);
    return;
  }
  Require(packet->bytes().size() == in.size());
  Sink(packet->type());
  Sink(packet->code());
  Sink(packet->checksum());
  Sink(packet->echo_ident());
  Sink(packet->echo_seq());
  Sink(packet->mtu());
  Sink(packet->pointer());
  Sink(packet->ra_cur_hop_limit());
  Sink(packet->ra_managed());
  Sink(packet->ra_other_config());
  Sink(packet->ra_router_lifetime());
  Sink(packet->ra_reachable_time());
  Sink(packet->ra_retrans_timer());
  Sink(packet->nd_target());
  Sink(packet->na_router());
  Sink(packet->na_solicited());
  Sink(packet->na_override());
  Require(Within(packet->data(), in));
  // The options tile the option area exactly, each a non-zero number of 8-octet units.
  NdOptionList options = packet->nd_options();
  Require(Within(options.bytes(), in));
  Require(options.empty() || packet->data().empty());
  size_t covered = 0;
  for (NdOption opt : options) {
    Require(opt.length_units() != 0);
    Require(opt.bytes.size() == size_t{opt.length_units()} * 8);
    Require(opt.bytes.data() == options.bytes().data() + covered);
    Require(opt.body().size() + 2 == opt.bytes.size());
    Sink(opt.type());
    covered += opt.bytes.size();
  }
  Require(covered == options.bytes().size());

  if (packet->checksum_ok(src, dst)) {
    FuzzIcmpv6Repr(*packet, src, dst);
    return;
  }
  auto repr = Icmpv6Repr::Parse(*packet, src, dst);
  Require(!repr.ok() && repr.error() == WireError::kBadChecksum);
  std::vector<uint8_t> fixed(in.begin(), in.end());
  StoreBe16(fixed.data() + 2, 0);
  StoreBe16(fixed.data() + 2, Ipv6UpperLayerChecksum(src, dst, 58, fixed));
  auto fixed_packet = Icmpv6Packet::Check(fixed);
  Require(fixed_packet.ok() && fixed_packet->checksum_ok(src, dst));
  FuzzIcmpv6Repr(*fixed_packet, src, dst);
}

}  // namespace braid::wire::fuzz
