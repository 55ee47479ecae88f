// Initial sequence numbers (RFC 6528) and per-connection timestamp offsets (RFC 7323 §7.1), the
// counterpart of the kernel's net/core/secure_seq.c. Sans-I/O: time comes in as an Instant, the
// secret comes in at construction; nothing here reads a clock or a random source.
//
// Contract for the connection:
//  - Every ISS the engine picks for a SYN or a SYN-ACK comes from IsnGenerator::Isn(), except a
//    SYN-ACK answered with a SYN cookie (syn_cookies.h), whose ISS is the cookie.
//  - Isn() = M + F(4-tuple, secret) (RFC 6528 §3): M is a 4 µs clock (RFC 9293 §3.4.1's 250 kHz
//    ISN clock) and F is SipHash-2-4 under a key derived from the secret. For one 4-tuple the ISN
//    therefore grows with time like the RFC 793 clock: a new incarnation of a connection starts
//    above the old one's sequence numbers as long as the old one did not send faster than
//    250 kB/s on average, which is what lets a SYN reopen a connection in TIME-WAIT (RFC 6191).
//    The clock wraps every 2^32 × 4 µs ≈ 4.77 h.
//  - The secret must stay the same for the life of the process (or at least for longer than the
//    maximum segment lifetime): a new secret makes F jump, and the ISNs of reused 4-tuples lose
//    their monotonicity. It must come from a CSPRNG; an attacker who knows it can predict ISNs
//    (RFC 6528 §4).
//  - TsOffset() is added to the timestamp clock for every TSval the connection sends and
//    subtracted from every TSecr it receives before it uses the value (RTT samples, PAWS). It is a
//    pure function of the 4-tuple: the SYN-ACK, a SYN-cookie connection and a later incarnation
//    on the same 4-tuple all get the same offset without storing it anywhere, so that TSvals stay
//    monotonic across incarnations (PAWS in TIME-WAIT) while no observer learns the host's uptime
//    or can relate two connections' clocks.
//  - "local" is this host, "remote" the peer, whichever side opened the connection.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>

#include "datapath/tcp/siphash.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/address.h"
#include "datapath/wire/seq.h"

namespace braid::tcp {

// A TCP connection's identity as seen from this host.
template <typename Address>
struct FourTuple {
  Address local_addr{};
  uint16_t local_port = 0;
  Address remote_addr{};
  uint16_t remote_port = 0;
  friend constexpr bool operator==(const FourTuple&, const FourTuple&) = default;
};
using FourTupleV4 = FourTuple<wire::Ipv4Address>;
using FourTupleV6 = FourTuple<wire::Ipv6Address>;

// The byte string the PRFs of this module and of syn_cookies.h hash for a 4-tuple: local
// address, remote address, local port, remote port, in network order (12 bytes for IPv4, 36 for
// IPv6; the lengths differ, so an IPv4 tuple never hashes like an IPv6 one). Writes into `out`
// and returns the number of bytes written.
inline constexpr size_t kMaxFourTupleBytes = 36;
size_t EncodeFourTuple(const FourTupleV4& tuple, std::span<uint8_t, kMaxFourTupleBytes> out);
size_t EncodeFourTuple(const FourTupleV6& tuple, std::span<uint8_t, kMaxFourTupleBytes> out);

class IsnGenerator {
 public:
  // The ISN clock's period: RFC 6528 §3 keeps RFC 793's 4 µs timer for M.
  static constexpr Duration kIsnTick = std::chrono::microseconds(4);

  // `secret` comes from a CSPRNG (see the contract above). The ISN and timestamp-offset keys are
  // derived from it with different labels (DeriveSipKey), so neither output reveals the other.
  explicit IsnGenerator(const SipKey& secret);

  // RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey).
  wire::TcpSeq Isn(const FourTupleV4& tuple, Instant now) const;
  wire::TcpSeq Isn(const FourTupleV6& tuple, Instant now) const;

  // The per-4-tuple offset added to the timestamp clock (RFC 7323 §7.1).
  uint32_t TsOffset(const FourTupleV4& tuple) const;
  uint32_t TsOffset(const FourTupleV6& tuple) const;

  // M: the number of whole 4 µs ticks since the engine clock's epoch, modulo 2^32. Rounds toward
  // minus infinity, so it never steps backwards as `now` grows, even across the epoch.
  static uint32_t IsnClock(Instant now);

 private:
  SipKey isn_key_;
  SipKey ts_key_;
};

}  // namespace braid::tcp
