#include "datapath/mptcp/crypto.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cassert>
#include <cstdio>
#include <cstdlib>

#include "datapath/wire/bytes.h"

namespace braid::mptcp {
namespace {

// SHA-256 fetched once: passing EVP_sha256() to every call would make OpenSSL 3 look the
// algorithm up in its provider store each time.
const EVP_MD* Sha256() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
  return md;
}

// A random source that does not work leaves no safe way to go on: keys and nonces that an
// attacker can predict defeat MP_JOIN and ADD_ADDR authentication (RFC 8684 §5).
void RandomBytesOrDie(uint8_t* out, int len) {
  if (RAND_bytes(out, len) != 1) {
    std::fprintf(stderr, "braid: OpenSSL RAND_bytes failed; cannot generate MPTCP keys\n");
    std::abort();
  }
}

// The 16-byte HMAC key of RFC 8684 §3.2/§3.4.1: two 64-bit keys, big-endian, first then second.
std::array<uint8_t, 16> KeyPair(uint64_t first, uint64_t second) {
  std::array<uint8_t, 16> key;
  wire::StoreBe64(key.data(), first);
  wire::StoreBe64(key.data() + 8, second);
  return key;
}

// Message R_1 ‖ R_2 of the MP_JOIN HMACs (RFC 8684 §3.2).
std::array<uint8_t, 8> NoncePair(uint32_t first, uint32_t second) {
  std::array<uint8_t, 8> msg;
  wire::StoreBe32(msg.data(), first);
  wire::StoreBe32(msg.data() + 4, second);
  return msg;
}

// RFC 8684 §3.4.1: address ID (1 byte) ‖ address (4 or 16 bytes) ‖ port (2 bytes, 0 if absent).
uint64_t AddAddrHmacOf(uint64_t sender_key, uint64_t receiver_key, uint8_t address_id,
                       std::span<const uint8_t> address, std::optional<uint16_t> port) {
  std::array<uint8_t, 1 + 16 + 2> msg{};
  size_t len = 0;
  msg[len++] = address_id;
  for (uint8_t b : address) msg[len++] = b;
  wire::StoreBe16(msg.data() + len, port.value_or(0));
  len += 2;
  auto key = KeyPair(sender_key, receiver_key);
  Sha256Digest digest = HmacSha256(key, std::span<const uint8_t>(msg.data(), len));
  return wire::LoadBe64(digest.data() + kSha256Len - 8);  // rightmost 64 bits
}

}  // namespace

uint64_t GenerateKey() {
  uint64_t key = 0;
  while (key == 0) {
    std::array<uint8_t, 8> bytes;
    RandomBytesOrDie(bytes.data(), static_cast<int>(bytes.size()));
    key = wire::LoadBe64(bytes.data());
  }
  return key;
}

uint32_t GenerateNonce() {
  uint32_t nonce = 0;
  while (nonce == 0) {
    std::array<uint8_t, 4> bytes;
    RandomBytesOrDie(bytes.data(), static_cast<int>(bytes.size()));
    nonce = wire::LoadBe32(bytes.data());
  }
  return nonce;
}

KeyDerivation DeriveFromKey(uint64_t key) {
  std::array<uint8_t, 8> input;
  wire::StoreBe64(input.data(), key);
  Sha256Digest digest{};
  unsigned int len = 0;
  int ok = EVP_Digest(input.data(), input.size(), digest.data(), &len, Sha256(), nullptr);
  // Only an allocation failure inside OpenSSL gets here; the zero digest fails safe (the token
  // matches no connection, the IDSN makes the peer's data checks fail).
  assert(ok == 1 && len == kSha256Len);
  if (ok != 1 || len != kSha256Len) digest.fill(0);
  return KeyDerivation{.token = wire::LoadBe32(digest.data()),
                       .idsn = wire::LoadBe64(digest.data() + kSha256Len - 8)};
}

Sha256Digest HmacSha256(std::span<const uint8_t> key, std::span<const uint8_t> message) {
  // OpenSSL reads a null key pointer as "no key" and fails; an empty key is a valid HMAC key.
  static constexpr uint8_t kEmpty[1] = {0};
  const uint8_t* key_ptr = key.empty() ? kEmpty : key.data();
  const uint8_t* msg_ptr = message.empty() ? kEmpty : message.data();
  Sha256Digest digest{};
  unsigned int len = 0;
  const unsigned char* out = HMAC(Sha256(), key_ptr, static_cast<int>(key.size()), msg_ptr,
                                  message.size(), digest.data(), &len);
  // As in DeriveFromKey: a zero digest verifies nothing and authenticates nothing.
  assert(out != nullptr && len == kSha256Len);
  if (out == nullptr || len != kSha256Len) digest.fill(0);
  return digest;
}

uint64_t JoinSynAckHmac(uint64_t responder_key_b, uint64_t initiator_key_a,
                        uint32_t responder_nonce_b, uint32_t initiator_nonce_a) {
  auto key = KeyPair(responder_key_b, initiator_key_a);
  auto msg = NoncePair(responder_nonce_b, initiator_nonce_a);
  Sha256Digest digest = HmacSha256(key, msg);
  return wire::LoadBe64(digest.data());  // leftmost 64 bits
}

JoinAckHmacBytes JoinAckHmac(uint64_t initiator_key_a, uint64_t responder_key_b,
                             uint32_t initiator_nonce_a, uint32_t responder_nonce_b) {
  auto key = KeyPair(initiator_key_a, responder_key_b);
  auto msg = NoncePair(initiator_nonce_a, responder_nonce_b);
  Sha256Digest digest = HmacSha256(key, msg);
  JoinAckHmacBytes out;
  for (size_t i = 0; i < kJoinAckHmacLen; ++i) out[i] = digest[i];  // leftmost 160 bits
  return out;
}

uint64_t AddAddrHmac(uint64_t sender_key, uint64_t receiver_key, uint8_t address_id,
                     const wire::Ipv4Address& address, std::optional<uint16_t> port) {
  return AddAddrHmacOf(sender_key, receiver_key, address_id, address.bytes, port);
}

uint64_t AddAddrHmac(uint64_t sender_key, uint64_t receiver_key, uint8_t address_id,
                     const wire::Ipv6Address& address, std::optional<uint16_t> port) {
  return AddAddrHmacOf(sender_key, receiver_key, address_id, address.bytes, port);
}

uint64_t AddAddrHmac(uint64_t sender_key, uint64_t receiver_key, uint8_t address_id,
                     const std::variant<wire::Ipv4Address, wire::Ipv6Address>& address,
                     std::optional<uint16_t> port) {
  return std::visit(
      [&](const auto& a) { return AddAddrHmac(sender_key, receiver_key, address_id, a, port); },
      address);
}

}  // namespace braid::mptcp
