// Application payload checks shared by the simulator and the test applications: a seeded
// pseudo-random byte stream (the payload of a transfer, reproducible from its seed so sender and
// receiver can be checked against each other) and SHA-256 over a stream (OpenSSL's EVP interface).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace braid::util {

// Mixes (seed, stream) into an independent-looking seed (SplitMix64 finaliser): one seed gives
// many streams that do not overlap in practice.
uint64_t DeriveSeed(uint64_t seed, uint64_t stream);

// Bytes of SplitMix64 output, little-endian, from a state derived from (seed, stream). Fill()
// continues where the previous call stopped, at any byte granularity.
class PatternStream {
 public:
  PatternStream(uint64_t seed, uint64_t stream);
  void Fill(std::span<uint8_t> out);

 private:
  uint64_t Next();
  uint64_t state_;
  uint64_t word_ = 0;
  size_t word_left_ = 0;  // unread bytes of word_
};

using Sha256Digest = std::array<uint8_t, 32>;
std::string ToHex(const Sha256Digest& digest);

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::span<const uint8_t> bytes);
  // The digest of everything so far; the hash can go on being updated afterwards.
  Sha256Digest Digest() const;

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

}  // namespace braid::util
