#include "datapath/wire/icmpv6.h"

#include <algorithm>
#include <cstring>

#include "datapath/wire/bytes.h"
#include "datapath/wire/checksum.h"
#include "datapath/wire/ipv4.h"
#include "datapath/wire/ipv6.h"

namespace braid::wire {
namespace {

constexpr size_t kNdLinkLayerOptionLen = 8;
constexpr size_t kNdMtuOptionLen = 8;
constexpr size_t kNdPrefixOptionLen = 32;
constexpr uint8_t kMaxPrefixLen = 128;

bool IsEcho(Icmpv6Type t) { return t == Icmpv6Type::kEchoRequest || t == Icmpv6Type::kEchoReply; }

bool IsSupportedError(Icmpv6Type t) {
  return t == Icmpv6Type::kDestinationUnreachable || t == Icmpv6Type::kPacketTooBig ||
         t == Icmpv6Type::kTimeExceeded || t == Icmpv6Type::kParameterProblem;
}

// The fixed part of a message carrying ND options (Redirect included, so that its option list is
// proven too); 0 for other types.
size_t NdFixedLen(Icmpv6Type t) {
  switch (t) {
    case Icmpv6Type::kRouterSolicitation:
      return kNdRouterSolicitLen;
    case Icmpv6Type::kRouterAdvertisement:
      return kNdRouterAdvertLen;
    case Icmpv6Type::kNeighborSolicitation:
      return kNdNeighborSolicitLen;
    case Icmpv6Type::kNeighborAdvertisement:
      return kNdNeighborAdvertLen;
    case Icmpv6Type::kRedirect:
      return kNdRedirectLen;
    default:
      return 0;
  }
}

bool IsSupportedNd(Icmpv6Type t) { return t != Icmpv6Type::kRedirect && NdFixedLen(t) != 0; }

// Which options each supported ND message defines (RFC 4861 §4.1-4.4).
bool DefinesSourceLinkAddress(Icmpv6Type t) {
  return t == Icmpv6Type::kRouterSolicitation || t == Icmpv6Type::kRouterAdvertisement ||
         t == Icmpv6Type::kNeighborSolicitation;
}
bool DefinesTargetLinkAddress(Icmpv6Type t) { return t == Icmpv6Type::kNeighborAdvertisement; }
bool DefinesRouterOptions(Icmpv6Type t) { return t == Icmpv6Type::kRouterAdvertisement; }
bool HasTarget(Icmpv6Type t) {
  return t == Icmpv6Type::kNeighborSolicitation || t == Icmpv6Type::kNeighborAdvertisement;
}

// RFC 4443 §2.4: errors carry "as much of invoking packet as possible"; the net layer needs at
// least its IPv6 header to find the flow (then walks extensions itself).
WireError CheckInvokingPacket(std::span<const uint8_t> data) {
  if (data.size() < kIpv6HeaderLen) return WireError::kTruncated;
  if ((data[0] >> 4) != 6) return WireError::kBadVersion;
  return WireError::kNone;
}

// The repr with only the fields `r.type` defines, for Emit to refuse anything else.
Icmpv6Repr DefinedFields(const Icmpv6Repr& r) {
  Icmpv6Repr d;
  d.type = r.type;
  d.code = r.code;
  if (IsEcho(r.type)) {
    d.echo_ident = r.echo_ident;
    d.echo_seq = r.echo_seq;
  }
  if (IsEcho(r.type) || IsSupportedError(r.type)) d.data = r.data;
  if (r.type == Icmpv6Type::kPacketTooBig) d.mtu = r.mtu;
  if (r.type == Icmpv6Type::kParameterProblem) d.pointer = r.pointer;
  if (DefinesRouterOptions(r.type)) {
    d.cur_hop_limit = r.cur_hop_limit;
    d.managed = r.managed;
    d.other_config = r.other_config;
    d.router_lifetime = r.router_lifetime;
    d.reachable_time = r.reachable_time;
    d.retrans_timer = r.retrans_timer;
    d.nd_mtu = r.nd_mtu;
    d.prefixes = r.prefixes;
    d.prefix_count = r.prefix_count;
  }
  if (HasTarget(r.type)) d.target = r.target;
  if (r.type == Icmpv6Type::kNeighborAdvertisement) {
    d.router_flag = r.router_flag;
    d.solicited_flag = r.solicited_flag;
    d.override_flag = r.override_flag;
  }
  if (DefinesSourceLinkAddress(r.type)) d.source_link_address = r.source_link_address;
  if (DefinesTargetLinkAddress(r.type)) d.target_link_address = r.target_link_address;
  return d;
}

void ParseNdOptions(const Icmpv6Packet& packet, Icmpv6Repr& r) {
  for (NdOption opt : packet.nd_options()) {
    const uint8_t* p = opt.bytes.data();
    switch (opt.type()) {
      case kNdOptionSourceLinkLayerAddress:
        if (!DefinesSourceLinkAddress(r.type)) break;
        if (opt.length_units() != kNdOptionLinkLayerAddressUnits || r.source_link_address) {
          ++r.nd_options_ignored;
          break;
        }
        r.source_link_address = MacAddress::FromBytes(p + 2);
        break;
      case kNdOptionTargetLinkLayerAddress:
        if (!DefinesTargetLinkAddress(r.type)) break;
        if (opt.length_units() != kNdOptionLinkLayerAddressUnits || r.target_link_address) {
          ++r.nd_options_ignored;
          break;
        }
        r.target_link_address = MacAddress::FromBytes(p + 2);
        break;
      case kNdOptionMtu:
        if (!DefinesRouterOptions(r.type)) break;
        if (opt.length_units() != kNdOptionMtuUnits || r.nd_mtu) {
          ++r.nd_options_ignored;
          break;
        }
        r.nd_mtu = LoadBe32(p + 4);
        break;
      case kNdOptionPrefixInformation: {
        if (!DefinesRouterOptions(r.type)) break;
        if (opt.length_units() != kNdOptionPrefixInformationUnits || p[2] > kMaxPrefixLen ||
            r.prefix_count == kMaxNdPrefixes) {
          ++r.nd_options_ignored;
          break;
        }
        NdPrefixInformation& info = r.prefixes[r.prefix_count++];
        info.prefix_len = p[2];
        info.on_link = (p[3] & 0x80) != 0;
        info.autonomous = (p[3] & 0x40) != 0;
        info.valid_lifetime = LoadBe32(p + 4);
        info.preferred_lifetime = LoadBe32(p + 8);
        info.prefix = Ipv6Address::FromBytes(p + 16);
        break;
      }
      default:
        break;  // RFC 4861 §4.6: unrecognised options are skipped
    }
  }
}

uint8_t* EmitLinkLayerOption(uint8_t* p, uint8_t type, const MacAddress& mac) {
  p[0] = type;
  p[1] = kNdOptionLinkLayerAddressUnits;
  std::copy(mac.bytes.begin(), mac.bytes.end(), p + 2);
  return p + kNdLinkLayerOptionLen;
}

}  // namespace

WireResult<Icmpv6Packet> Icmpv6Packet::Check(std::span<const uint8_t> bytes) {
  if (bytes.size() < kIcmpv6HeaderLen) return WireError::kTruncated;
  size_t fixed = NdFixedLen(static_cast<Icmpv6Type>(bytes[0]));
  if (fixed == 0) return Icmpv6Packet(bytes, bytes.size());
  if (bytes.size() < fixed) return WireError::kTruncated;
  // RFC 4861 §4.6: a length of 0 is invalid and the packet is discarded; an option must also
  // end inside the message.
  for (size_t off = fixed; off < bytes.size();) {
    size_t left = bytes.size() - off;
    if (left < 2 || bytes[off + 1] == 0 || size_t{bytes[off + 1]} * 8 > left) {
      return WireError::kBadOptionLength;
    }
    off += size_t{bytes[off + 1]} * 8;
  }
  return Icmpv6Packet(bytes, fixed);
}

uint16_t Icmpv6Packet::checksum() const { return LoadBe16(bytes_.data() + 2); }

bool Icmpv6Packet::checksum_ok(const Ipv6Address& source, const Ipv6Address& destination) const {
  return Ipv6UpperLayerChecksum(source, destination, static_cast<uint8_t>(IpProtocol::kIcmpv6),
                                bytes_) == 0;
}

uint16_t Icmpv6Packet::echo_ident() const {
  return IsEcho(type()) ? LoadBe16(bytes_.data() + 4) : 0;
}
uint16_t Icmpv6Packet::echo_seq() const { return IsEcho(type()) ? LoadBe16(bytes_.data() + 6) : 0; }
uint32_t Icmpv6Packet::mtu() const {
  return Is(Icmpv6Type::kPacketTooBig) ? LoadBe32(bytes_.data() + 4) : 0;
}
uint32_t Icmpv6Packet::pointer() const {
  return Is(Icmpv6Type::kParameterProblem) ? LoadBe32(bytes_.data() + 4) : 0;
}
std::span<const uint8_t> Icmpv6Packet::data() const {
  if (NdFixedLen(type()) != 0) return bytes_.last(0);
  return bytes_.subspan(kIcmpv6HeaderLen);
}

uint8_t Icmpv6Packet::ra_cur_hop_limit() const {
  return Is(Icmpv6Type::kRouterAdvertisement) ? bytes_[4] : 0;
}
bool Icmpv6Packet::ra_managed() const {
  return Is(Icmpv6Type::kRouterAdvertisement) && (bytes_[5] & 0x80) != 0;
}
bool Icmpv6Packet::ra_other_config() const {
  return Is(Icmpv6Type::kRouterAdvertisement) && (bytes_[5] & 0x40) != 0;
}
uint16_t Icmpv6Packet::ra_router_lifetime() const {
  return Is(Icmpv6Type::kRouterAdvertisement) ? LoadBe16(bytes_.data() + 6) : 0;
}
uint32_t Icmpv6Packet::ra_reachable_time() const {
  return Is(Icmpv6Type::kRouterAdvertisement) ? LoadBe32(bytes_.data() + 8) : 0;
}
uint32_t Icmpv6Packet::ra_retrans_timer() const {
  return Is(Icmpv6Type::kRouterAdvertisement) ? LoadBe32(bytes_.data() + 12) : 0;
}
Ipv6Address Icmpv6Packet::nd_target() const {
  // Redirect's target sits at the same offset as NS/NA's.
  if (!HasTarget(type()) && !Is(Icmpv6Type::kRedirect)) return {};
  return Ipv6Address::FromBytes(bytes_.data() + 8);
}
bool Icmpv6Packet::na_router() const {
  return Is(Icmpv6Type::kNeighborAdvertisement) && (bytes_[4] & 0x80) != 0;
}
bool Icmpv6Packet::na_solicited() const {
  return Is(Icmpv6Type::kNeighborAdvertisement) && (bytes_[4] & 0x40) != 0;
}
bool Icmpv6Packet::na_override() const {
  return Is(Icmpv6Type::kNeighborAdvertisement) && (bytes_[4] & 0x20) != 0;
}
NdOptionList Icmpv6Packet::nd_options() const {
  return NdOptionList(bytes_.subspan(options_offset_));
}

WireResult<Icmpv6Repr> Icmpv6Repr::Parse(const Icmpv6Packet& packet, const Ipv6Address& source,
                                         const Ipv6Address& destination) {
  if (!packet.checksum_ok(source, destination)) return WireError::kBadChecksum;
  Icmpv6Repr r;
  r.type = packet.type();
  r.code = packet.code();
  if (IsEcho(r.type)) {
    r.echo_ident = packet.echo_ident();
    r.echo_seq = packet.echo_seq();
    r.data = packet.data();
    return r;
  }
  if (IsSupportedError(r.type)) {
    r.data = packet.data();
    if (WireError e = CheckInvokingPacket(r.data); e != WireError::kNone) return e;
    r.mtu = packet.mtu();
    r.pointer = packet.pointer();
    return r;
  }
  if (!IsSupportedNd(r.type)) return WireError::kUnsupported;
  // RFC 4861 §6.1.1, §6.1.2, §7.1.1, §7.1.2: ICMP Code is 0.
  if (r.code != 0) return WireError::kBadCode;
  r.cur_hop_limit = packet.ra_cur_hop_limit();
  r.managed = packet.ra_managed();
  r.other_config = packet.ra_other_config();
  r.router_lifetime = packet.ra_router_lifetime();
  r.reachable_time = packet.ra_reachable_time();
  r.retrans_timer = packet.ra_retrans_timer();
  r.target = packet.nd_target();
  r.router_flag = packet.na_router();
  r.solicited_flag = packet.na_solicited();
  r.override_flag = packet.na_override();
  ParseNdOptions(packet, r);
  return r;
}

size_t Icmpv6Repr::BufferLen() const {
  if (!IsSupportedNd(type)) return kIcmpv6HeaderLen + data.size();
  size_t len = NdFixedLen(type);
  if (source_link_address) len += kNdLinkLayerOptionLen;
  if (target_link_address) len += kNdLinkLayerOptionLen;
  if (nd_mtu) len += kNdMtuOptionLen;
  len += std::min(prefix_count, kMaxNdPrefixes) * kNdPrefixOptionLen;
  return len;
}

bool Icmpv6Repr::Emit(std::span<uint8_t> out, const Ipv6Address& source,
                      const Ipv6Address& destination) const {
  size_t len = BufferLen();
  if (out.size() < len) return false;
  if (prefix_count > kMaxNdPrefixes || !(DefinedFields(*this) == *this)) return false;
  if (IsSupportedError(type)) {
    if (CheckInvokingPacket(data) != WireError::kNone) return false;
  } else if (IsSupportedNd(type)) {
    if (code != 0) return false;
    for (size_t i = 0; i < prefix_count; ++i) {
      if (prefixes[i].prefix_len > kMaxPrefixLen) return false;
    }
  } else if (!IsEcho(type)) {
    return false;
  }

  uint8_t* p = out.data();
  // Data first: it may overlap the output (a reply built in the request's buffer).
  if (!data.empty()) std::memmove(p + kIcmpv6HeaderLen, data.data(), data.size());
  p[0] = static_cast<uint8_t>(type);
  p[1] = code;
  StoreBe16(p + 2, 0);
  StoreBe32(p + 4, 0);  // reserved / unused unless set below
  switch (type) {
    case Icmpv6Type::kEchoRequest:
    case Icmpv6Type::kEchoReply:
      StoreBe16(p + 4, echo_ident);
      StoreBe16(p + 6, echo_seq);
      break;
    case Icmpv6Type::kPacketTooBig:
      StoreBe32(p + 4, mtu);
      break;
    case Icmpv6Type::kParameterProblem:
      StoreBe32(p + 4, pointer);
      break;
    case Icmpv6Type::kRouterAdvertisement:
      p[4] = cur_hop_limit;
      p[5] = static_cast<uint8_t>((managed ? 0x80 : 0) | (other_config ? 0x40 : 0));
      StoreBe16(p + 6, router_lifetime);
      StoreBe32(p + 8, reachable_time);
      StoreBe32(p + 12, retrans_timer);
      break;
    case Icmpv6Type::kNeighborAdvertisement:
      p[4] = static_cast<uint8_t>((router_flag ? 0x80 : 0) | (solicited_flag ? 0x40 : 0) |
                                  (override_flag ? 0x20 : 0));
      [[fallthrough]];
    case Icmpv6Type::kNeighborSolicitation:
      std::copy(target.bytes.begin(), target.bytes.end(), p + 8);
      break;
    default:
      break;
  }
  if (IsSupportedNd(type)) {
    uint8_t* o = p + NdFixedLen(type);
    if (source_link_address) {
      o = EmitLinkLayerOption(o, kNdOptionSourceLinkLayerAddress, *source_link_address);
    }
    if (target_link_address) {
      o = EmitLinkLayerOption(o, kNdOptionTargetLinkLayerAddress, *target_link_address);
    }
    if (nd_mtu) {
      o[0] = kNdOptionMtu;
      o[1] = kNdOptionMtuUnits;
      StoreBe16(o + 2, 0);
      StoreBe32(o + 4, *nd_mtu);
      o += kNdMtuOptionLen;
    }
    for (size_t i = 0; i < prefix_count; ++i) {
      const NdPrefixInformation& info = prefixes[i];
      o[0] = kNdOptionPrefixInformation;
      o[1] = kNdOptionPrefixInformationUnits;
      o[2] = info.prefix_len;
      o[3] = static_cast<uint8_t>((info.on_link ? 0x80 : 0) | (info.autonomous ? 0x40 : 0));
      StoreBe32(o + 4, info.valid_lifetime);
      StoreBe32(o + 8, info.preferred_lifetime);
      StoreBe32(o + 12, 0);  // Reserved2
      std::copy(info.prefix.bytes.begin(), info.prefix.bytes.end(), o + 16);
      o += kNdPrefixOptionLen;
    }
  }
  StoreBe16(p + 2,
            Ipv6UpperLayerChecksum(source, destination, static_cast<uint8_t>(IpProtocol::kIcmpv6),
                                   out.first(len)));
  return true;
}

bool operator==(const Icmpv6Repr& a, const Icmpv6Repr& b) {
  if (a.prefix_count != b.prefix_count) return false;
  size_t prefixes = std::min(a.prefix_count, kMaxNdPrefixes);
  return a.type == b.type && a.code == b.code && a.echo_ident == b.echo_ident &&
         a.echo_seq == b.echo_seq && a.mtu == b.mtu && a.pointer == b.pointer &&
         std::equal(a.data.begin(), a.data.end(), b.data.begin(), b.data.end()) &&
         a.cur_hop_limit == b.cur_hop_limit && a.managed == b.managed &&
         a.other_config == b.other_config && a.router_lifetime == b.router_lifetime &&
         a.reachable_time == b.reachable_time && a.retrans_timer == b.retrans_timer &&
         a.target == b.target && a.router_flag == b.router_flag &&
         a.solicited_flag == b.solicited_flag && a.override_flag == b.override_flag &&
         a.source_link_address == b.source_link_address &&
         a.target_link_address == b.target_link_address && a.nd_mtu == b.nd_mtu &&
         std::equal(a.prefixes.begin(), a.prefixes.begin() + prefixes, b.prefixes.begin());
}

}  // namespace braid::wire
