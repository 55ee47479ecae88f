// ICMPv6 (RFC 4443) errors and echo, and the Neighbor Discovery messages a host needs (RFC 4861:
// Router Solicitation/Advertisement, Neighbor Solicitation/Advertisement) with their options.
// The checksum covers the IPv6 pseudo-header (RFC 4443 §2.3), so verifying and computing it
// need the packet's source and destination.
//
// Left to the net layer, which sees the IPv6 header: ND's hop limit 255 rule (RFC 4861 §6.1,
// §7.1), and the address rules (no source link-layer option from the unspecified address, a
// multicast target, the S flag towards a multicast destination).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>

#include "datapath/wire/address.h"
#include "datapath/wire/error.h"

namespace braid::wire {

inline constexpr size_t kIcmpv6HeaderLen = 8;  // type, code, checksum, 4 type-specific bytes
inline constexpr size_t kNdRouterSolicitLen = 8;
inline constexpr size_t kNdRouterAdvertLen = 16;
inline constexpr size_t kNdNeighborSolicitLen = 24;
inline constexpr size_t kNdNeighborAdvertLen = 24;
inline constexpr size_t kNdRedirectLen = 40;

enum class Icmpv6Type : uint8_t {
  kDestinationUnreachable = 1,
  kPacketTooBig = 2,
  kTimeExceeded = 3,
  kParameterProblem = 4,
  kEchoRequest = 128,
  kEchoReply = 129,
  kRouterSolicitation = 133,
  kRouterAdvertisement = 134,
  kNeighborSolicitation = 135,
  kNeighborAdvertisement = 136,
  kRedirect = 137,
};

// Destination unreachable codes (RFC 4443 §3.1).
inline constexpr uint8_t kIcmpv6NoRoute = 0;
inline constexpr uint8_t kIcmpv6AdminProhibited = 1;
inline constexpr uint8_t kIcmpv6AddressUnreachable = 3;
inline constexpr uint8_t kIcmpv6PortUnreachable = 4;
// Time exceeded codes (§3.3).
inline constexpr uint8_t kIcmpv6HopLimitExceeded = 0;
inline constexpr uint8_t kIcmpv6ReassemblyTimeExceeded = 1;
// Parameter problem codes (§3.4).
inline constexpr uint8_t kIcmpv6ErroneousHeaderField = 0;
inline constexpr uint8_t kIcmpv6UnrecognizedNextHeader = 1;
inline constexpr uint8_t kIcmpv6UnrecognizedOption = 2;

// ND option types (RFC 4861 §4.6) and the lengths, in 8-octet units, this codec accepts.
inline constexpr uint8_t kNdOptionSourceLinkLayerAddress = 1;
inline constexpr uint8_t kNdOptionTargetLinkLayerAddress = 2;
inline constexpr uint8_t kNdOptionPrefixInformation = 3;
inline constexpr uint8_t kNdOptionMtu = 5;
inline constexpr uint8_t kNdOptionLinkLayerAddressUnits = 1;  // Ethernet (RFC 2464 §6)
inline constexpr uint8_t kNdOptionPrefixInformationUnits = 4;
inline constexpr uint8_t kNdOptionMtuUnits = 1;
inline constexpr size_t kMaxNdPrefixes = 4;

// One option of a checked ND message: the whole option, type and length octets included.
struct NdOption {
  std::span<const uint8_t> bytes;

  uint8_t type() const { return bytes[0]; }
  uint8_t length_units() const { return bytes[1]; }                   // 8-octet units, never 0
  std::span<const uint8_t> body() const { return bytes.subspan(2); }  // after type and length
};

// Walks an option list whose structure Icmpv6Packet::Check has proven (every length non-zero and
// inside the message). Still safe on its own: an impossible length ends the walk there, so an
// option handed out always holds its type, its length and length * 8 bytes.
class NdOptionIterator {
 public:
  // A forward range to C++20 algorithms; only an input iterator to legacy ones, since
  // dereferencing yields a value rather than a reference.
  using iterator_concept = std::forward_iterator_tag;
  using iterator_category = std::input_iterator_tag;
  using value_type = NdOption;
  using difference_type = std::ptrdiff_t;
  using pointer = void;
  using reference = NdOption;

  NdOptionIterator() = default;
  NdOption operator*() const { return NdOption{rest_.first(size_t{rest_[1]} * 8)}; }
  NdOptionIterator& operator++() {
    rest_ = rest_.subspan(size_t{rest_[1]} * 8);
    StopIfMalformed();
    return *this;
  }
  NdOptionIterator operator++(int) {
    NdOptionIterator old = *this;
    ++*this;
    return old;
  }
  // Iterators of one list: equal when as many bytes remain.
  friend bool operator==(const NdOptionIterator& a, const NdOptionIterator& b) {
    return a.rest_.size() == b.rest_.size();
  }

 private:
  friend class NdOptionList;
  explicit NdOptionIterator(std::span<const uint8_t> rest) : rest_(rest) { StopIfMalformed(); }
  void StopIfMalformed() {
    if (!rest_.empty() &&
        (rest_.size() < 2 || rest_[1] == 0 || size_t{rest_[1]} * 8 > rest_.size())) {
      rest_ = rest_.last(0);
    }
  }
  std::span<const uint8_t> rest_;
};

class NdOptionList {
 public:
  NdOptionIterator begin() const { return NdOptionIterator(bytes_); }
  NdOptionIterator end() const { return NdOptionIterator(bytes_.last(0)); }
  bool empty() const { return bytes_.empty(); }
  std::span<const uint8_t> bytes() const { return bytes_; }

 private:
  friend class Icmpv6Packet;
  explicit NdOptionList(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  std::span<const uint8_t> bytes_;
};

// A checked view over an ICMPv6 message (the upper-layer part of an IPv6 packet). Check() proves
// the 8-byte header; for ND messages, their fixed part and an option list where every option has
// a non-zero length inside the message (RFC 4861 §4.6: otherwise the whole message is invalid).
// Type-specific accessors return zero / empty when asked of another type.
class Icmpv6Packet {
 public:
  static WireResult<Icmpv6Packet> Check(std::span<const uint8_t> bytes);

  Icmpv6Type type() const { return static_cast<Icmpv6Type>(bytes_[0]); }
  uint8_t code() const { return bytes_[1]; }
  uint16_t checksum() const;
  // RFC 4443 §2.3: over the pseudo-header (RFC 8200 §8.1) and the message.
  bool checksum_ok(const Ipv6Address& source, const Ipv6Address& destination) const;

  uint16_t echo_ident() const;  // echo request/reply
  uint16_t echo_seq() const;
  uint32_t mtu() const;      // packet too big (RFC 4443 §3.2)
  uint32_t pointer() const;  // parameter problem (§3.4): offset into the invoking packet
  // Echo: the data. Errors: the invoking packet, from its IPv6 header. ND: empty.
  std::span<const uint8_t> data() const;

  uint8_t ra_cur_hop_limit() const;     // router advertisement (RFC 4861 §4.2)
  bool ra_managed() const;              // M
  bool ra_other_config() const;         // O
  uint16_t ra_router_lifetime() const;  // seconds
  uint32_t ra_reachable_time() const;   // milliseconds
  uint32_t ra_retrans_timer() const;    // milliseconds
  Ipv6Address nd_target() const;        // neighbor solicitation/advertisement, redirect
  bool na_router() const;               // R
  bool na_solicited() const;            // S
  bool na_override() const;             // O
  NdOptionList nd_options() const;      // empty for non-ND types

  std::span<const uint8_t> bytes() const { return bytes_; }

 private:
  Icmpv6Packet(std::span<const uint8_t> bytes, size_t options_offset)
      : bytes_(bytes), options_offset_(options_offset) {}
  bool Is(Icmpv6Type t) const { return type() == t; }
  std::span<const uint8_t> bytes_;
  size_t options_offset_;  // the message length when it has no ND options
};

// RFC 4861 §4.6.2.
struct NdPrefixInformation {
  uint8_t prefix_len = 64;          // 0..128
  bool on_link = false;             // L
  bool autonomous = false;          // A
  uint32_t valid_lifetime = 0;      // seconds, 0xffffffff = infinity
  uint32_t preferred_lifetime = 0;  // seconds
  Ipv6Address prefix;
  friend bool operator==(const NdPrefixInformation&, const NdPrefixInformation&) = default;
};

// One supported message. Fields not defined for `type` are zero / empty. `data` refers to the
// parsed buffer (no copy).
//
// ND options: Parse keeps the options the message type defines (RS and NS: source link-layer
// address; RA: source link-layer address, MTU, up to kMaxNdPrefixes prefixes; NA: target
// link-layer address), the first of each kind. Unknown options and options the type does not
// define are skipped (RFC 4861 §4.6: silently ignored); a defined option with a wrong length (or
// a prefix length over 128), a repeat, or a prefix beyond kMaxNdPrefixes is skipped and counted
// in nd_options_ignored. Emit writes the options that are set, in that order.
struct Icmpv6Repr {
  Icmpv6Type type = Icmpv6Type::kEchoRequest;
  uint8_t code = 0;
  // Echo request/reply.
  uint16_t echo_ident = 0;
  uint16_t echo_seq = 0;
  // Packet too big: the next-hop MTU. Parameter problem: the pointer.
  uint32_t mtu = 0;
  uint32_t pointer = 0;
  // Echo: the data. Errors: the invoking packet, proven to start with an IPv6 header.
  std::span<const uint8_t> data;
  // Router advertisement.
  uint8_t cur_hop_limit = 0;
  bool managed = false;
  bool other_config = false;
  uint16_t router_lifetime = 0;
  uint32_t reachable_time = 0;
  uint32_t retrans_timer = 0;
  // Neighbor solicitation/advertisement.
  Ipv6Address target;
  bool router_flag = false;
  bool solicited_flag = false;
  bool override_flag = false;
  // ND options.
  std::optional<MacAddress> source_link_address;
  std::optional<MacAddress> target_link_address;
  std::optional<uint32_t> nd_mtu;
  std::array<NdPrefixInformation, kMaxNdPrefixes> prefixes{};
  size_t prefix_count = 0;
  // Receive-side diagnostic for the net layer's counters; not part of the value (not emitted,
  // not compared).
  size_t nd_options_ignored = 0;

  // kBadChecksum; kBadCode for an ND message whose code is not 0 (RFC 4861 §6.1, §7.1);
  // kUnsupported for other types (Redirect included); for errors, kTruncated / kBadVersion when
  // the invoking packet does not start with an IPv6 header.
  static WireResult<Icmpv6Repr> Parse(const Icmpv6Packet& packet, const Ipv6Address& source,
                                      const Ipv6Address& destination);
  size_t BufferLen() const;
  // Writes BufferLen() bytes, checksum over the pseudo-header of `source`/`destination`
  // included; `data` may already sit at out[8...]. False (nothing written) when `out` is smaller
  // or the fields are not a message Parse accepts (a field or option the type does not define,
  // an ND code other than 0, prefix_count > kMaxNdPrefixes, a prefix length over 128).
  [[nodiscard]] bool Emit(std::span<uint8_t> out, const Ipv6Address& source,
                          const Ipv6Address& destination) const;
  friend bool operator==(const Icmpv6Repr& a, const Icmpv6Repr& b);
};

}  // namespace braid::wire
