// MPTCP's keys, tokens, initial data sequence numbers and HMACs (RFC 8684 §3.1, §3.2, §3.4.1),
// the counterpart of the kernel's net/mptcp/crypto.c. SHA-256 and HMAC-SHA256 come from OpenSSL 3
// libcrypto. Nothing here allocates on Braid's side; the results are plain values.
//
// Roles in the MP_JOIN functions follow RFC 8684 §3.2: host A opens the new subflow (sends the
// MP_JOIN SYN), host B accepts it (sends the SYN/ACK). Both ends compute both HMACs — one to send,
// one to verify — so the parameters are named by role, never by "local"/"remote".
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <variant>

#include "datapath/wire/address.h"

namespace braid::mptcp {

inline constexpr size_t kSha256Len = 32;
// RFC 8684 §3.2: the MP_JOIN third ACK carries the leftmost 160 bits of the HMAC.
inline constexpr size_t kJoinAckHmacLen = 20;

using Sha256Digest = std::array<uint8_t, kSha256Len>;
using JoinAckHmacBytes = std::array<uint8_t, kJoinAckHmacLen>;

// A fresh 64-bit key from OpenSSL's CSPRNG (RFC 8684 §3.1). Never 0: the kernel treats a zero key
// as "none", so a zero draw is discarded and drawn again. Checking the token for collisions with
// other connections is the token table's job, not this function's.
uint64_t GenerateKey();

// A fresh 32-bit MP_JOIN nonce (RFC 8684 §3.2). Never 0, like the kernel's
// (__mptcp_subflow_connect draws again on 0).
uint32_t GenerateNonce();

struct KeyDerivation {
  uint32_t token = 0;  // most significant 32 bits of SHA-256(key)
  uint64_t idsn = 0;   // least significant 64 bits of SHA-256(key)
  friend bool operator==(const KeyDerivation&, const KeyDerivation&) = default;
};

// RFC 8684 §3.1 (token) and §3.2 (IDSN): SHA-256 over the key as 8 big-endian bytes; the token is
// the digest's first 4 bytes, the IDSN its last 8 bytes, both read big-endian. The first data
// byte a host sends has DSN IDSN + 1 (the SYN takes one data sequence number, §3.3).
KeyDerivation DeriveFromKey(uint64_t key);

// Plain HMAC-SHA256 (RFC 2104) over arbitrary key and message bytes; the building block of the
// functions below, exposed for test vectors.
Sha256Digest HmacSha256(std::span<const uint8_t> key, std::span<const uint8_t> message);

// MP_JOIN SYN/ACK (RFC 8684 §3.2), sent by B: the leftmost 64 bits of
// HMAC(key = K_B ‖ K_A, msg = R_B ‖ R_A), returned as the big-endian value of the first 8 digest
// bytes — what the option carries (the kernel: subflow_req_create_thmac, get_unaligned_be64 of
// the digest's start).
uint64_t JoinSynAckHmac(uint64_t responder_key_b, uint64_t initiator_key_a,
                        uint32_t responder_nonce_b, uint32_t initiator_nonce_a);

// MP_JOIN third ACK (RFC 8684 §3.2), sent by A: the leftmost 160 bits of
// HMAC(key = K_A ‖ K_B, msg = R_A ‖ R_B), i.e. the first 20 digest bytes in wire order.
JoinAckHmacBytes JoinAckHmac(uint64_t initiator_key_a, uint64_t responder_key_b,
                             uint32_t initiator_nonce_a, uint32_t responder_nonce_b);

// ADD_ADDR (RFC 8684 §3.4.1): the RIGHTMOST 64 bits of
// HMAC(key = sender's key ‖ receiver's key, msg = address ID ‖ address ‖ port), the port always 2
// bytes (0 when the option carries none). Returned as the big-endian value of the last 8 digest
// bytes (the kernel: add_addr_generate_hmac; it moved from leftmost to rightmost in 2020 to match
// the RFC). The sender is the host announcing the address.
uint64_t AddAddrHmac(uint64_t sender_key, uint64_t receiver_key, uint8_t address_id,
                     const wire::Ipv4Address& address, std::optional<uint16_t> port);
uint64_t AddAddrHmac(uint64_t sender_key, uint64_t receiver_key, uint8_t address_id,
                     const wire::Ipv6Address& address, std::optional<uint16_t> port);
// Either family, as wire::AddAddr holds it.
uint64_t AddAddrHmac(uint64_t sender_key, uint64_t receiver_key, uint8_t address_id,
                     const std::variant<wire::Ipv4Address, wire::Ipv6Address>& address,
                     std::optional<uint16_t> port);

}  // namespace braid::mptcp
