#include "datapath/util/stream_check.h"

#include <openssl/evp.h>

#include <bit>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace braid::util {

uint64_t DeriveSeed(uint64_t seed, uint64_t stream) {
  auto mix = [](uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  return mix(mix(seed) ^ stream);
}

PatternStream::PatternStream(uint64_t seed, uint64_t stream) : state_(DeriveSeed(seed, stream)) {}

uint64_t PatternStream::Next() {
  // SplitMix64 (Steele, Lea, Flood 2014).
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void PatternStream::Fill(std::span<uint8_t> out) {
  size_t i = 0;
  while (i < out.size() && word_left_ > 0) {
    out[i++] = static_cast<uint8_t>(word_);
    word_ >>= 8;
    --word_left_;
  }
  while (out.size() - i >= 8) {
    // The stream is defined little-endian: on such hosts (every one the datapath runs on) a word
    // is its own byte order and one 8-byte store does it.
    uint64_t w = Next();
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(out.data() + i, &w, 8);
      i += 8;
    } else {
      for (int b = 0; b < 8; ++b) {
        out[i++] = static_cast<uint8_t>(w);
        w >>= 8;
      }
    }
  }
  if (i < out.size()) {
    word_ = Next();
    word_left_ = 8;
    while (i < out.size()) {
      out[i++] = static_cast<uint8_t>(word_);
      word_ >>= 8;
      --word_left_;
    }
  }
}

std::string ToHex(const Sha256Digest& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(64);
  for (uint8_t b : digest) {
    s.push_back(kHex[b >> 4]);
    s.push_back(kHex[b & 0xf]);
  }
  return s;
}

struct Sha256::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() { EVP_MD_CTX_free(md); }
};

namespace {

// A harness without a working SHA-256 cannot check anything: stop loudly.
void Require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "braid::sim: OpenSSL %s failed\n", what);
    std::abort();
  }
}

}  // namespace

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  Require(ctx_->md != nullptr, "EVP_MD_CTX_new");
  Require(EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) == 1, "EVP_DigestInit_ex");
}

Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::Update(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return;
  Require(EVP_DigestUpdate(ctx_->md, bytes.data(), bytes.size()) == 1, "EVP_DigestUpdate");
}

Sha256Digest Sha256::Digest() const {
  EVP_MD_CTX* copy = EVP_MD_CTX_new();
  Require(copy != nullptr && EVP_MD_CTX_copy_ex(copy, ctx_->md) == 1, "EVP_MD_CTX_copy_ex");
  Sha256Digest d{};
  unsigned int len = 0;
  Require(EVP_DigestFinal_ex(copy, d.data(), &len) == 1 && len == d.size(), "EVP_DigestFinal_ex");
  EVP_MD_CTX_free(copy);
  return d;
}

}  // namespace braid::util
