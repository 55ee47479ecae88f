// SYN cookies (RFC 4987 §3.6): when a listener's SYN queue is full, it answers a SYN without
// keeping any state and encodes what it must remember in the SYN-ACK itself — in its ISN and, when
// the SYN carried timestamps, in the low bits of its TSval. The returning ACK gives both back
// (ack − 1 is the cookie, its TSecr echoes the TSval) and the listener rebuilds the connection
// from it. The scheme follows the kernel's net/ipv4/syncookies.c in what it remembers (an MSS
// table index; window scale, SACK-permitted and ECN in 6 low TSval bits) and differs in the ISN:
// here the cookie is a truncated SipHash MAC over everything it encodes, checked whole.
//
// Cookie (our ISN) layout, most significant bit first:
//   31..30  time slot counter mod 4        (slots of kSlot = 64 s)
//   29      key generation parity          (which of the current and previous keys)
//   28..27  MSS index                      (kSynCookieMssV4 / kSynCookieMssV6)
//   26      timestamps flag                (the SYN-ACK carried TSval with options in it)
//   25..0   MAC: the low 26 bits of SipHash-2-4(key, 4-tuple ‖ client ISN ‖ full slot counter ‖
//           bits 31..26 ‖ TSval option bits)
// TSval low 6 bits (only with the timestamps flag): bits 0..3 the peer's window shift (0..14, 15 =
// no window scaling), bit 4 SACK-permitted, bit 5 ECN.
//
// Contract for the connection (listener side):
//  - Use cookies only under SYN flood (queue full); they lose information. Without timestamps in
//    the SYN the cookie remembers only the MSS: the SYN-ACK must then announce neither window
//    scaling nor SACK-permitted and must not accept ECN — SynCookie::options says exactly what the
//    SYN-ACK may announce, and Check() returns the same options. With timestamps, the SYN-ACK must
//    carry SynCookie::tsval as its TSval (it is at most 63 clock ticks behind the TSval asked for,
//    so later TSvals stay monotonic).
//  - The MSS is rounded down to the table; a peer MSS below the smallest entry is remembered as
//    the smallest entry (as the kernel does): the table starts at the RFC 9293 §3.7.1 defaults.
//  - Our own window scale is not in the cookie: the SYN-ACK's shift must be a function of
//    configuration alone, so that the ACK's processing can compute it again.
//  - Check() takes the first ACK of the handshake as received: `seq` (the client's ISN + 1),
//    `ack` (our ISN + 1) and the TSecr if it carried a timestamps option. An ACK whose sequence is
//    not client ISN + 1 (e.g. the first ACK was lost and this is a later data segment) fails the
//    MAC, as in the kernel. When the cookie says timestamps were on, an ACK without a timestamps
//    option is rejected (RFC 7323 §3.2: such a segment is dropped); when they were off, a TSecr
//    is ignored (same section).
//  - Every rejection has a named reason for the listener's counters. Validation is constant work
//    (one SipHash at most), and an age outside the window costs no hash at all.
//  - Keys: the caller draws the secret from a CSPRNG and may call RotateKey() to replace it; the
//    previous key stays valid for cookies already sent. Rotate at most once per validity window
//    ((max_age_slots + 1) × 64 s), or cookies of the key before the previous one are rejected.
//  - A cookie is accepted for max_age_slots whole slots after the one it was made in (so for
//    between max_age_slots × 64 s and (max_age_slots + 1) × 64 s). Older cookies are rejected as
//    kTooOld while their age is below 4 slots; beyond that the 2-bit counter wraps and they fail
//    as kBadMac.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "datapath/tcp/isn.h"
#include "datapath/tcp/siphash.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/seq.h"

namespace braid::tcp {

// The MSS values a cookie can remember (kernel msstab / msstab6): the RFC 9293 §3.7.1 default
// first, then the values common on the Internet (Ethernet, PPPoE/tunnels).
inline constexpr std::array<uint16_t, 4> kSynCookieMssV4 = {536, 1300, 1440, 1460};
inline constexpr std::array<uint16_t, 4> kSynCookieMssV6 = {1220, 1420, 1440, 8940};

// What a cookie remembers of the SYN.
struct SynCookieOptions {
  uint16_t mss = 0;                     // a table entry: the send MSS to use
  bool timestamps = false;              // RFC 7323 timestamps are on
  std::optional<uint8_t> window_scale;  // the peer's shift (0..14); none: no window scaling
  bool sack_permitted = false;          // RFC 2018
  bool ecn = false;                     // RFC 3168 ECN accepted
  friend bool operator==(const SynCookieOptions&, const SynCookieOptions&) = default;
};

// What the listener read from the SYN, and the TSval it would send.
struct SynCookieSyn {
  wire::TcpSeq seq;                     // the SYN's sequence number: the client's ISN
  std::optional<uint16_t> mss;          // MSS option; none: the RFC 9293 default
  std::optional<uint8_t> window_scale;  // window scale option (a shift above 14 counts as 14)
  bool sack_permitted = false;          // SACK-permitted option
  bool ecn = false;                     // ECN-setup SYN that the listener agrees to
  // The TSval the SYN-ACK would carry (timestamp clock plus the tuple's offset). Set only when
  // the SYN carried a timestamps option and the listener uses timestamps; without it the cookie
  // cannot remember window scale, SACK-permitted or ECN.
  std::optional<uint32_t> tsval;
};

// A cookie to send: the SYN-ACK's ISN, its TSval, and the options it may announce.
struct SynCookie {
  wire::TcpSeq isn;
  std::optional<uint32_t> tsval;  // set iff options.timestamps
  SynCookieOptions options;
};

enum class SynCookieReject : uint8_t {
  kNone = 0,
  kTooOld,             // made more than max_age_slots slots ago
  kBadMac,             // forged, modified, another 4-tuple or client ISN, or an unknown key
  kMissingTimestamps,  // the cookie has timestamps on but the ACK carries no TSecr
};
// Stable snake_case name, for counters and debug output.
std::string_view SynCookieRejectName(SynCookieReject r);

// The outcome of checking an ACK: the options the cookie remembered, or why it was rejected.
struct SynCookieResult {
  SynCookieReject reject = SynCookieReject::kNone;
  SynCookieOptions options;  // meaningful only when ok()
  wire::TcpSeq isn;          // our ISN (ack − 1)
  wire::TcpSeq peer_isn;     // the client's ISN (seq − 1)
  bool ok() const { return reject == SynCookieReject::kNone; }
};

class SynCookies {
 public:
  // The time counter's slot (the kernel uses 60 s; a power of two seconds keeps it a shift in
  // spirit and the arithmetic exact).
  static constexpr Duration kSlot = std::chrono::seconds(64);
  // The counter carries 2 bits: an age of 4 slots cannot be told from an age of 0.
  static constexpr uint32_t kMaxAgeSlotsLimit = 3;
  static constexpr uint32_t kDefaultMaxAgeSlots = 1;
  // Bits of the TSval that carry options.
  static constexpr uint32_t kTsOptionBits = 6;

  // `secret` from a CSPRNG; a key for the MAC is derived from it (DeriveSipKey), so the same
  // secret may also key an IsnGenerator. `max_age_slots` above kMaxAgeSlotsLimit is used as the
  // limit.
  explicit SynCookies(const SipKey& secret, uint32_t max_age_slots = kDefaultMaxAgeSlots);

  // Makes `secret` the current key; the current one becomes the previous one, still accepted.
  void RotateKey(const SipKey& secret);

  SynCookie Make(const FourTupleV4& tuple, const SynCookieSyn& syn, Instant now) const;
  SynCookie Make(const FourTupleV6& tuple, const SynCookieSyn& syn, Instant now) const;

  // Checks the handshake's final ACK: `seq` and `ack` are its header fields, `tsecr` its
  // timestamps option's echo if it had one.
  SynCookieResult Check(const FourTupleV4& tuple, wire::TcpSeq seq, wire::TcpSeq ack,
                        std::optional<uint32_t> tsecr, Instant now) const;
  SynCookieResult Check(const FourTupleV6& tuple, wire::TcpSeq seq, wire::TcpSeq ack,
                        std::optional<uint32_t> tsecr, Instant now) const;

  // The slot counter: whole kSlot periods since the engine clock's epoch (floor), mod 2^32.
  static uint32_t SlotCounter(Instant now);

  uint32_t max_age_slots() const { return max_age_slots_; }

 private:
  template <typename Tuple>
  SynCookie MakeImpl(const Tuple& tuple, std::span<const uint16_t, 4> mss_table,
                     const SynCookieSyn& syn, Instant now) const;
  template <typename Tuple>
  SynCookieResult CheckImpl(const Tuple& tuple, std::span<const uint16_t, 4> mss_table,
                            wire::TcpSeq seq, wire::TcpSeq ack, std::optional<uint32_t> tsecr,
                            Instant now) const;

  SipKey current_key_;
  SipKey previous_key_;
  bool has_previous_ = false;
  uint8_t parity_ = 0;  // key generation parity of current_key_
  uint32_t max_age_slots_;
};

}  // namespace braid::tcp
