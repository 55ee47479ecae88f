#include "datapath/tcp/syn_cookies.h"

#include <algorithm>

#include "datapath/wire/bytes.h"
#include "datapath/wire/tcp_options.h"

namespace braid::tcp {
namespace {

constexpr std::string_view kMacLabel = "braid tcp syn cookie";

// Cookie layout (see the header).
constexpr uint32_t kCounterShift = 30;
constexpr uint32_t kCounterMask = 0x3;
constexpr uint32_t kParityShift = 29;
constexpr uint32_t kMssShift = 27;
constexpr uint32_t kMssMask = 0x3;
constexpr uint32_t kTsFlagShift = 26;
constexpr uint32_t kMacBits = 26;
constexpr uint32_t kMacMask = (uint32_t{1} << kMacBits) - 1;

// TSval option bits (the kernel's TS_OPT_* layout).
constexpr uint32_t kTsOptMask = (uint32_t{1} << SynCookies::kTsOptionBits) - 1;
constexpr uint32_t kTsWscaleMask = 0xf;  // 15: no window scaling
constexpr uint32_t kTsSackBit = 1u << 4;
constexpr uint32_t kTsEcnBit = 1u << 5;

uint32_t EncodeTsOptions(const SynCookieOptions& o) {
  uint32_t bits = o.window_scale ? *o.window_scale : kTsWscaleMask;
  if (o.sack_permitted) bits |= kTsSackBit;
  if (o.ecn) bits |= kTsEcnBit;
  return bits;
}

void DecodeTsOptions(uint32_t bits, SynCookieOptions& o) {
  const uint32_t ws = bits & kTsWscaleMask;
  // RFC 7323 §2.3: a shift above 14 is used as 14; 15 is our "none".
  if (ws != kTsWscaleMask) o.window_scale = static_cast<uint8_t>(std::min<uint32_t>(ws, 14));
  o.sack_permitted = (bits & kTsSackBit) != 0;
  o.ecn = (bits & kTsEcnBit) != 0;
}

// The MAC over everything the cookie encodes plus what the ACK gives back unchanged (the 4-tuple
// and the client's ISN). `meta` is the cookie's bits 31..26, `ts_bits` the TSval option bits (0
// without timestamps: the timestamps flag in `meta` already tells the two cases apart).
template <typename Tuple>
uint32_t CookieMac(const SipKey& key, const Tuple& tuple, wire::TcpSeq client_isn, uint32_t counter,
                   uint32_t meta, uint32_t ts_bits) {
  std::array<uint8_t, kMaxFourTupleBytes + 10> msg;
  size_t n = EncodeFourTuple(
      tuple, std::span<uint8_t, kMaxFourTupleBytes>(msg.data(), kMaxFourTupleBytes));
  wire::StoreBe32(msg.data() + n, client_isn.raw());
  wire::StoreBe32(msg.data() + n + 4, counter);
  msg[n + 8] = static_cast<uint8_t>(meta);
  msg[n + 9] = static_cast<uint8_t>(ts_bits);
  n += 10;
  return static_cast<uint32_t>(SipHash24(key, std::span<const uint8_t>(msg.data(), n))) & kMacMask;
}

uint32_t MssIndex(std::span<const uint16_t, 4> table, std::optional<uint16_t> mss) {
  if (!mss) return 0;  // RFC 9293 §3.7.1 default: the table's first entry
  uint32_t i = static_cast<uint32_t>(table.size()) - 1;
  while (i > 0 && *mss < table[i]) --i;
  return i;
}

}  // namespace

std::string_view SynCookieRejectName(SynCookieReject r) {
  switch (r) {
    case SynCookieReject::kNone:
      return "none";
    case SynCookieReject::kTooOld:
      return "too_old";
    case SynCookieReject::kBadMac:
      return "bad_mac";
    case SynCookieReject::kMissingTimestamps:
      return "missing_timestamps";
  }
  return "unknown";
}

SynCookies::SynCookies(const SipKey& secret, uint32_t max_age_slots)
    : current_key_(DeriveSipKey(secret, kMacLabel)),
      max_age_slots_(std::min(max_age_slots, kMaxAgeSlotsLimit)) {}

void SynCookies::RotateKey(const SipKey& secret) {
  previous_key_ = current_key_;
  has_previous_ = true;
  current_key_ = DeriveSipKey(secret, kMacLabel);
  parity_ ^= 1;
}

uint32_t SynCookies::SlotCounter(Instant now) {
  const int64_t ns = NanosSinceEpoch(now);
  const int64_t slot = std::chrono::duration_cast<std::chrono::nanoseconds>(kSlot).count();
  int64_t q = ns / slot;
  if (ns % slot < 0) --q;  // floor, so the counter never steps back across the epoch
  return static_cast<uint32_t>(static_cast<uint64_t>(q));
}

template <typename Tuple>
SynCookie SynCookies::MakeImpl(const Tuple& tuple, std::span<const uint16_t, 4> mss_table,
                               const SynCookieSyn& syn, Instant now) const {
  const uint32_t counter = SlotCounter(now);
  const uint32_t mss_index = MssIndex(mss_table, syn.mss);

  SynCookie out;
  out.options.mss = mss_table[mss_index];
  uint32_t ts_bits = 0;
  if (syn.tsval) {
    // RFC 4987 §3.6 / the kernel's cookie_init_timestamp(): the options the ISN has no room for
    // ride in the TSval's low bits, which the peer echoes in every TSecr.
    out.options.timestamps = true;
    if (syn.window_scale) {
      out.options.window_scale = std::min<uint8_t>(*syn.window_scale, wire::kTcpMaxWindowScale);
    }
    out.options.sack_permitted = syn.sack_permitted;
    out.options.ecn = syn.ecn;
    ts_bits = EncodeTsOptions(out.options);
    // Replace the low bits, stepping back one period if that moved the TSval ahead of the clock:
    // the next TSvals the connection sends must not be below this one.
    uint32_t tsval = (*syn.tsval & ~kTsOptMask) | ts_bits;
    if (static_cast<int32_t>(tsval - *syn.tsval) > 0) tsval -= kTsOptMask + 1;
    out.tsval = tsval;
  }

  const uint32_t meta = ((counter & kCounterMask) << (kCounterShift - kTsFlagShift)) |
                        (uint32_t{parity_} << (kParityShift - kTsFlagShift)) |
                        (mss_index << (kMssShift - kTsFlagShift)) |
                        (out.options.timestamps ? 1u : 0u);
  const uint32_t mac = CookieMac(current_key_, tuple, syn.seq, counter, meta, ts_bits);
  out.isn = wire::TcpSeq((meta << kTsFlagShift) | mac);
  return out;
}

template <typename Tuple>
SynCookieResult SynCookies::CheckImpl(const Tuple& tuple, std::span<const uint16_t, 4> mss_table,
                                      wire::TcpSeq seq, wire::TcpSeq ack,
                                      std::optional<uint32_t> tsecr, Instant now) const {
  SynCookieResult r;
  r.isn = ack - 1;
  r.peer_isn = seq - 1;
  const uint32_t cookie = r.isn.raw();

  // Age first: it costs no hash, and most forged ACKs of a flood fail it.
  const uint32_t now_counter = SlotCounter(now);
  const uint32_t age = (now_counter - (cookie >> kCounterShift)) & kCounterMask;
  if (age > max_age_slots_) {
    r.reject = SynCookieReject::kTooOld;
    return r;
  }
  const uint32_t counter = now_counter - age;

  const bool timestamps = ((cookie >> kTsFlagShift) & 1) != 0;
  uint32_t ts_bits = 0;
  if (timestamps) {
    if (!tsecr) {
      r.reject = SynCookieReject::kMissingTimestamps;
      return r;
    }
    ts_bits = *tsecr & kTsOptMask;
  }

  const uint8_t parity = static_cast<uint8_t>((cookie >> kParityShift) & 1);
  if (parity != parity_ && !has_previous_) {
    r.reject = SynCookieReject::kBadMac;
    return r;
  }
  const SipKey& key = parity == parity_ ? current_key_ : previous_key_;
  const uint32_t meta = cookie >> kTsFlagShift;
  if (CookieMac(key, tuple, r.peer_isn, counter, meta, ts_bits) != (cookie & kMacMask)) {
    r.reject = SynCookieReject::kBadMac;
    return r;
  }

  r.options.mss = mss_table[(cookie >> kMssShift) & kMssMask];
  r.options.timestamps = timestamps;
  if (timestamps) DecodeTsOptions(ts_bits, r.options);
  return r;
}

SynCookie SynCookies::Make(const FourTupleV4& tuple, const SynCookieSyn& syn, Instant now) const {
  return MakeImpl(tuple, kSynCookieMssV4, syn, now);
}

SynCookie SynCookies::Make(const FourTupleV6& tuple, const SynCookieSyn& syn, Instant now) const {
  return MakeImpl(tuple, kSynCookieMssV6, syn, now);
}

SynCookieResult SynCookies::Check(const FourTupleV4& tuple, wire::TcpSeq seq, wire::TcpSeq ack,
                                  std::optional<uint32_t> tsecr, Instant now) const {
  return CheckImpl(tuple, kSynCookieMssV4, seq, ack, tsecr, now);
}

SynCookieResult SynCookies::Check(const FourTupleV6& tuple, wire::TcpSeq seq, wire::TcpSeq ack,
                                  std::optional<uint32_t> tsecr, Instant now) const {
  return CheckImpl(tuple, kSynCookieMssV6, seq, ack, tsecr, now);
}

}  // namespace braid::tcp
