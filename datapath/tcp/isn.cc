#include "datapath/tcp/isn.h"

#include <algorithm>

#include "datapath/wire/bytes.h"

namespace braid::tcp {
namespace {

// Labels of the derived keys. Changing one changes every ISN or offset computed from it.
constexpr std::string_view kIsnLabel = "braid tcp isn";
constexpr std::string_view kTsOffsetLabel = "braid tcp ts offset";

template <typename Tuple>
uint64_t HashTuple(const SipKey& key, const Tuple& tuple) {
  std::array<uint8_t, kMaxFourTupleBytes> buf;
  const size_t n = EncodeFourTuple(tuple, buf);
  return SipHash24(key, std::span<const uint8_t>(buf.data(), n));
}

template <typename Address>
size_t Encode(const FourTuple<Address>& tuple, std::span<uint8_t, kMaxFourTupleBytes> out) {
  constexpr size_t kAddrLen = sizeof(Address::bytes);
  uint8_t* p = out.data();
  p = std::copy(tuple.local_addr.bytes.begin(), tuple.local_addr.bytes.end(), p);
  p = std::copy(tuple.remote_addr.bytes.begin(), tuple.remote_addr.bytes.end(), p);
  wire::StoreBe16(p, tuple.local_port);
  wire::StoreBe16(p + 2, tuple.remote_port);
  return 2 * kAddrLen + 4;
}

}  // namespace

size_t EncodeFourTuple(const FourTupleV4& tuple, std::span<uint8_t, kMaxFourTupleBytes> out) {
  return Encode(tuple, out);
}

size_t EncodeFourTuple(const FourTupleV6& tuple, std::span<uint8_t, kMaxFourTupleBytes> out) {
  return Encode(tuple, out);
}

IsnGenerator::IsnGenerator(const SipKey& secret)
    : isn_key_(DeriveSipKey(secret, kIsnLabel)), ts_key_(DeriveSipKey(secret, kTsOffsetLabel)) {}

uint32_t IsnGenerator::IsnClock(Instant now) {
  const int64_t ns = NanosSinceEpoch(now);
  const int64_t tick = kIsnTick.count();
  int64_t q = ns / tick;
  if (ns % tick < 0) --q;  // floor, not truncation, for instants before the epoch
  return static_cast<uint32_t>(static_cast<uint64_t>(q));
}

wire::TcpSeq IsnGenerator::Isn(const FourTupleV4& tuple, Instant now) const {
  return wire::TcpSeq(IsnClock(now) + static_cast<uint32_t>(HashTuple(isn_key_, tuple)));
}

wire::TcpSeq IsnGenerator::Isn(const FourTupleV6& tuple, Instant now) const {
  return wire::TcpSeq(IsnClock(now) + static_cast<uint32_t>(HashTuple(isn_key_, tuple)));
}

uint32_t IsnGenerator::TsOffset(const FourTupleV4& tuple) const {
  return static_cast<uint32_t>(HashTuple(ts_key_, tuple));
}

uint32_t IsnGenerator::TsOffset(const FourTupleV6& tuple) const {
  return static_cast<uint32_t>(HashTuple(ts_key_, tuple));
}

}  // namespace braid::tcp
