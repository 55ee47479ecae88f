#include "datapath/wire/tcp_options.h"

#include <algorithm>

#include "datapath/wire/bytes.h"

namespace braid::wire {
namespace {

struct DropInfo {
  std::string_view name;
  std::string_view description;
};

constexpr std::array<DropInfo, static_cast<size_t>(TcpOptionDrop::kCount)> kDrops = {{
#define BRAID_TCP_OPTION_DROP(name, metric, desc) {metric, desc},
#include "datapath/wire/tcp_option_drop.def"
#undef BRAID_TCP_OPTION_DROP
}};

constexpr size_t RoundUp4(size_t n) { return (n + 3) & ~size_t{3}; }

bool IsParsedKind(uint8_t kind) {
  switch (kind) {
    case kTcpOptionEol:
    case kTcpOptionNop:
    case kTcpOptionMss:
    case kTcpOptionWindowScale:
    case kTcpOptionSackPermitted:
    case kTcpOptionSack:
    case kTcpOptionTimestamps:
      return true;
    default:
      return false;
  }
}

size_t SackLen(size_t blocks) { return kTcpOptionSackBaseLen + kTcpOptionSackBlockLen * blocks; }

// One option of the list (kind, length, data; length already proven to be option.size() >= 2)
// into `r`. Known kinds are matched on (kind, length) exactly, as the kernel does.
void ParseOne(std::span<const uint8_t> option, TcpOptionsRepr& r) {
  const uint8_t* p = option.data();
  const size_t len = option.size();
  switch (p[0]) {
    case kTcpOptionMss:
      if (len != kTcpOptionMssLen) {
        r.drops.Add(TcpOptionDrop::kMssBadLength);
      } else if (r.mss) {
        r.drops.Add(TcpOptionDrop::kDuplicateMss);
      } else {
        r.mss = LoadBe16(p + 2);
      }
      return;
    case kTcpOptionWindowScale:
      if (len != kTcpOptionWindowScaleLen) {
        r.drops.Add(TcpOptionDrop::kWindowScaleBadLength);
      } else if (r.window_scale) {
        r.drops.Add(TcpOptionDrop::kDuplicateWindowScale);
      } else if (p[2] > kTcpMaxWindowScale) {
        // RFC 7323 §2.3: use 14 instead of a larger shift (and, like the kernel, say so).
        r.drops.Add(TcpOptionDrop::kWindowScaleTooLarge);
        r.window_scale = kTcpMaxWindowScale;
      } else {
        r.window_scale = p[2];
      }
      return;
    case kTcpOptionSackPermitted:
      if (len != kTcpOptionSackPermittedLen) {
        r.drops.Add(TcpOptionDrop::kSackPermittedBadLength);
      } else if (r.sack_permitted) {
        r.drops.Add(TcpOptionDrop::kDuplicateSackPermitted);
      } else {
        r.sack_permitted = true;
      }
      return;
    case kTcpOptionSack: {
      // RFC 2018 §3: 2 + 8n bytes, n >= 1; the option space bounds n to 4.
      const size_t blocks = (len - kTcpOptionSackBaseLen) / kTcpOptionSackBlockLen;
      if (blocks == 0 || blocks > kTcpMaxSackBlocks || len != SackLen(blocks)) {
        r.drops.Add(TcpOptionDrop::kSackBadLength);
      } else if (!r.sack_blocks.empty()) {
        r.drops.Add(TcpOptionDrop::kDuplicateSack);
      } else {
        for (size_t i = 0; i < blocks; ++i) {
          const uint8_t* b = p + kTcpOptionSackBaseLen + i * kTcpOptionSackBlockLen;
          // Cannot fail: blocks <= kTcpMaxSackBlocks, the list's capacity.
          (void)r.sack_blocks.TryAppend({TcpSeq(LoadBe32(b)), TcpSeq(LoadBe32(b + 4))});
        }
      }
      return;
    }
    case kTcpOptionTimestamps:
      if (len != kTcpOptionTimestampsLen) {
        r.drops.Add(TcpOptionDrop::kTimestampsBadLength);
      } else if (r.timestamps) {
        r.drops.Add(TcpOptionDrop::kDuplicateTimestamps);
      } else {
        r.timestamps = TcpTimestamps{LoadBe32(p + 2), LoadBe32(p + 6)};
      }
      return;
    default:
      // Unknown kinds and MPTCP are kept. Cannot fail: the option is whole, its kind is not one
      // of ours, and 40 bytes hold at most kTcpMaxRawOptions options.
      if (auto raw = RawTcpOption::FromBytes(option)) (void)r.raw_options.TryAppend(*raw);
      return;
  }
}

// Each option starting on a 4-byte boundary, in the kernel's order (tcp_options_write()).
size_t AlignedLen(const TcpOptionsRepr& r) {
  size_t n = 0;
  if (r.mss) n += 4;
  if (r.timestamps) {
    n += 12;  // NOP NOP TS, or SACK-permitted TS
  } else if (r.sack_permitted) {
    n += 4;  // NOP NOP SACK-permitted
  }
  if (r.window_scale) n += 4;                                          // NOP WS
  if (!r.sack_blocks.empty()) n += 2 + SackLen(r.sack_blocks.size());  // NOP NOP SACK
  for (const RawTcpOption& o : r.raw_options) n += RoundUp4(o.length());
  return n;
}

// Every option back to back, then padded: fits whenever the options themselves fit.
size_t PackedLen(const TcpOptionsRepr& r) {
  size_t n = 0;
  if (r.mss) n += kTcpOptionMssLen;
  if (r.window_scale) n += kTcpOptionWindowScaleLen;
  if (r.sack_permitted) n += kTcpOptionSackPermittedLen;
  if (r.timestamps) n += kTcpOptionTimestampsLen;
  if (!r.sack_blocks.empty()) n += SackLen(r.sack_blocks.size());
  for (const RawTcpOption& o : r.raw_options) n += o.length();
  return RoundUp4(n);
}

uint8_t* PutNops(uint8_t* p, size_t n) {
  std::fill_n(p, n, kTcpOptionNop);
  return p + n;
}

uint8_t* PutMss(uint8_t* p, uint16_t mss) {
  p[0] = kTcpOptionMss;
  p[1] = kTcpOptionMssLen;
  StoreBe16(p + 2, mss);
  return p + kTcpOptionMssLen;
}

uint8_t* PutWindowScale(uint8_t* p, uint8_t shift) {
  p[0] = kTcpOptionWindowScale;
  p[1] = kTcpOptionWindowScaleLen;
  p[2] = shift;
  return p + kTcpOptionWindowScaleLen;
}

uint8_t* PutSackPermitted(uint8_t* p) {
  p[0] = kTcpOptionSackPermitted;
  p[1] = kTcpOptionSackPermittedLen;
  return p + kTcpOptionSackPermittedLen;
}

uint8_t* PutTimestamps(uint8_t* p, const TcpTimestamps& ts) {
  p[0] = kTcpOptionTimestamps;
  p[1] = kTcpOptionTimestampsLen;
  StoreBe32(p + 2, ts.tsval);
  StoreBe32(p + 6, ts.tsecr);
  return p + kTcpOptionTimestampsLen;
}

uint8_t* PutSack(uint8_t* p, const InlineList<TcpSackBlock, kTcpMaxSackBlocks>& blocks) {
  p[0] = kTcpOptionSack;
  p[1] = static_cast<uint8_t>(SackLen(blocks.size()));
  p += kTcpOptionSackBaseLen;
  for (const TcpSackBlock& b : blocks) {
    StoreBe32(p, b.left.raw());
    StoreBe32(p + 4, b.right.raw());
    p += kTcpOptionSackBlockLen;
  }
  return p;
}

uint8_t* PutRaw(uint8_t* p, const RawTcpOption& o) {
  std::copy(o.bytes().begin(), o.bytes().end(), p);
  return p + o.length();
}

}  // namespace

std::string_view TcpOptionDropName(TcpOptionDrop reason) {
  auto i = static_cast<size_t>(reason);
  return i < kDrops.size() ? kDrops[i].name : "invalid";
}

std::string_view TcpOptionDropDescription(TcpOptionDrop reason) {
  auto i = static_cast<size_t>(reason);
  return i < kDrops.size() ? kDrops[i].description : "invalid drop reason";
}

size_t TcpOptionDrops::total() const {
  size_t n = 0;
  for (uint8_t c : counts_) n += c;
  return n;
}

void TcpOptionDrops::Add(TcpOptionDrop reason) {
  auto i = static_cast<size_t>(reason);
  if (i < counts_.size() && counts_[i] != UINT8_MAX) ++counts_[i];
}

std::optional<RawTcpOption> RawTcpOption::FromBytes(std::span<const uint8_t> option) {
  if (option.size() < 2 || option.size() > kTcpMaxOptionsLen) return std::nullopt;
  if (option[1] != option.size() || IsParsedKind(option[0])) return std::nullopt;
  RawTcpOption o;
  std::copy(option.begin(), option.end(), o.bytes_.begin());
  o.length_ = static_cast<uint8_t>(option.size());
  return o;
}

TcpOptionsRepr TcpOptionsRepr::Parse(std::span<const uint8_t> options) {
  TcpOptionsRepr r;
  if (options.size() > kTcpMaxOptionsLen) {
    r.drops.Add(TcpOptionDrop::kOptionSpaceTooLong);
    options = options.first(kTcpMaxOptionsLen);
  }
  size_t i = 0;
  while (i < options.size()) {
    const uint8_t kind = options[i];
    if (kind == kTcpOptionEol) break;  // RFC 9293 §3.1: the rest is padding
    if (kind == kTcpOptionNop) {
      ++i;
      continue;
    }
    const size_t left = options.size() - i;
    // Kernel tcp_parse_options(): no length byte, a "silly" length below 2, or a "partial"
    // option running past the space all end the walk.
    if (left < 2 || options[i + 1] < 2 || options[i + 1] > left) {
      r.drops.Add(TcpOptionDrop::kMalformedList);
      break;
    }
    const size_t len = options[i + 1];
    ParseOne(options.subspan(i, len), r);
    i += len;
  }
  return r;
}

size_t TcpOptionsRepr::EncodedLen() const {
  const size_t aligned = AlignedLen(*this);
  return aligned <= kTcpMaxOptionsLen ? aligned : PackedLen(*this);
}

bool TcpOptionsRepr::Emit(std::span<uint8_t> out) const {
  const size_t aligned = AlignedLen(*this);
  const size_t len = aligned <= kTcpMaxOptionsLen ? aligned : PackedLen(*this);
  if (len > kTcpMaxOptionsLen || len > out.size()) return false;
  if (window_scale && *window_scale > kTcpMaxWindowScale) return false;
  uint8_t* p = out.data();
  uint8_t* const end = p + len;
  if (aligned <= kTcpMaxOptionsLen) {
    // Linux's layout, which also keeps NOP NOP TS first on data segments for the receiver's
    // header prediction (kernel tcp_fast_parse_options()).
    if (mss) p = PutMss(p, *mss);
    if (timestamps) {
      p = sack_permitted ? PutSackPermitted(p) : PutNops(p, 2);
      p = PutTimestamps(p, *timestamps);
    } else if (sack_permitted) {
      p = PutSackPermitted(PutNops(p, 2));
    }
    if (window_scale) p = PutWindowScale(PutNops(p, 1), *window_scale);
    if (!sack_blocks.empty()) p = PutSack(PutNops(p, 2), sack_blocks);
    for (const RawTcpOption& o : raw_options) {
      p = PutRaw(p, o);
      p = PutNops(p, RoundUp4(o.length()) - o.length());
    }
  } else {
    if (mss) p = PutMss(p, *mss);
    if (window_scale) p = PutWindowScale(p, *window_scale);
    if (sack_permitted) p = PutSackPermitted(p);
    if (timestamps) p = PutTimestamps(p, *timestamps);
    if (!sack_blocks.empty()) p = PutSack(p, sack_blocks);
    for (const RawTcpOption& o : raw_options) p = PutRaw(p, o);
  }
  PutNops(p, static_cast<size_t>(end - p));
  return true;
}

bool TcpOptionsRepr::AppendRaw(const RawTcpOption& option) {
  if (!raw_options.TryAppend(option)) return false;
  if (EncodedLen() > kTcpMaxOptionsLen) {
    raw_options.PopBack();
    return false;
  }
  return true;
}

bool TcpOptionsRepr::AppendRaw(std::span<const uint8_t> option) {
  auto raw = RawTcpOption::FromBytes(option);
  return raw && AppendRaw(*raw);
}

std::ostream& operator<<(std::ostream& os, const RawTcpOption& option) {
  os << "kind " << int{option.kind()} << " [";
  static constexpr char kHex[] = "0123456789abcdef";
  for (uint8_t b : option.data()) os << kHex[b >> 4] << kHex[b & 0xf];
  return os << "]";
}

std::ostream& operator<<(std::ostream& os, const TcpOptionsRepr& options) {
  os << "{";
  const char* sep = "";
  auto next = [&]() -> std::ostream& {
    os << sep;
    sep = " ";
    return os;
  };
  if (options.mss) next() << "mss " << *options.mss;
  if (options.window_scale) next() << "wscale " << int{*options.window_scale};
  if (options.sack_permitted) next() << "sackOK";
  if (options.timestamps) {
    next() << "TS val " << options.timestamps->tsval << " ecr " << options.timestamps->tsecr;
  }
  if (!options.sack_blocks.empty()) {
    next() << "sack";
    for (const TcpSackBlock& b : options.sack_blocks) os << " " << b.left << ":" << b.right;
  }
  for (const RawTcpOption& o : options.raw_options) next() << o;
  for (size_t i = 0; i < static_cast<size_t>(TcpOptionDrop::kCount); ++i) {
    auto reason = static_cast<TcpOptionDrop>(i);
    if (options.drops.count(reason) != 0) {
      next() << TcpOptionDropName(reason) << "=" << int{options.drops.count(reason)};
    }
  }
  return os << "}";
}

}  // namespace braid::wire
