// The TCP option list (RFC 9293 §3.1-3.2): MSS, window scale and timestamps (RFC 7323),
// SACK-permitted and SACK (RFC 2018). Other kinds, MPTCP's (kind 30) among them, are kept as raw
// bytes in order; datapath/wire/mptcp_options.h parses MPTCP's.
//
// Parsing follows the Linux kernel's tcp_parse_options() walk: EOL ends the list, NOP is skipped,
// an option whose length byte is missing, below 2 or past the option space ends the walk. A known
// kind is trusted only with its exact length; anything ignored is counted by reason in
// TcpOptionsRepr::drops, so that the list as a whole never fails to parse.
#pragma once

#include <algorithm>
#include <array>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <span>
#include <string_view>

#include "datapath/wire/seq.h"

namespace braid::wire {

// Option kinds (IANA "TCP Option Kind Numbers").
inline constexpr uint8_t kTcpOptionEol = 0;
inline constexpr uint8_t kTcpOptionNop = 1;
inline constexpr uint8_t kTcpOptionMss = 2;
inline constexpr uint8_t kTcpOptionWindowScale = 3;
inline constexpr uint8_t kTcpOptionSackPermitted = 4;
inline constexpr uint8_t kTcpOptionSack = 5;
inline constexpr uint8_t kTcpOptionTimestamps = 8;
inline constexpr uint8_t kTcpOptionMptcp = 30;

// Exact lengths of the known options (kind and length bytes included).
inline constexpr uint8_t kTcpOptionMssLen = 4;
inline constexpr uint8_t kTcpOptionWindowScaleLen = 3;
inline constexpr uint8_t kTcpOptionSackPermittedLen = 2;
inline constexpr uint8_t kTcpOptionTimestampsLen = 10;
inline constexpr uint8_t kTcpOptionSackBaseLen = 2;  // + 8 per block
inline constexpr uint8_t kTcpOptionSackBlockLen = 8;

// A data offset of 15 words leaves 40 bytes for options (RFC 9293 §3.1).
inline constexpr size_t kTcpMaxOptionsLen = 40;
inline constexpr size_t kTcpMaxSackBlocks = 4;  // 2 + 8 * 4 = 34 <= 40 < 2 + 8 * 5
inline constexpr size_t kTcpMaxRawOptions = kTcpMaxOptionsLen / 2;  // the shortest option is 2
// RFC 7323 §2.3: a shift above 14 is used as 14.
inline constexpr uint8_t kTcpMaxWindowScale = 14;

// A list of at most N values stored inline (no heap), for the packet path. Elements past size()
// are default values and take no part in comparisons.
template <typename T, size_t N>
class InlineList {
  static_assert(N <= 255, "size is kept in one byte");

 public:
  InlineList() = default;

  size_t size() const { return size_; }
  static constexpr size_t capacity() { return N; }
  bool empty() const { return size_ == 0; }
  bool full() const { return size_ == N; }
  // Appends a copy of `value`; false (list unchanged) when full.
  [[nodiscard]] bool TryAppend(const T& value) {
    if (full()) return false;
    items_[size_++] = value;
    return true;
  }
  void PopBack() {
    if (size_ > 0) items_[--size_] = T();
  }
  void clear() { *this = InlineList(); }

  // `i` < size().
  const T& operator[](size_t i) const {
    assert(i < size_);
    return items_[i];
  }
  T& operator[](size_t i) {
    assert(i < size_);
    return items_[i];
  }
  const T* begin() const { return items_.data(); }
  const T* end() const { return items_.data() + size_; }
  T* begin() { return items_.data(); }
  T* end() { return items_.data() + size_; }
  std::span<const T> items() const { return {items_.data(), size_}; }

  friend bool operator==(const InlineList& a, const InlineList& b) {
    if (a.size_ != b.size_) return false;
    for (size_t i = 0; i < a.size_; ++i) {
      if (!(a.items_[i] == b.items_[i])) return false;
    }
    return true;
  }

 private:
  std::array<T, N> items_{};
  uint8_t size_ = 0;
};

// An option kept as bytes: unknown kinds, and MPTCP (kind 30) which datapath/wire/mptcp_options.h
// parses.
class RawTcpOption {
 public:
  // `option` is one whole option: kind, length, data, with the length byte equal to
  // option.size() (2..40). nullopt otherwise, and for the kinds TcpOptionsRepr parses itself
  // (EOL, NOP, MSS, window scale, SACK-permitted, SACK, timestamps): kept raw, they would come
  // back from a re-parse as something else.
  static std::optional<RawTcpOption> FromBytes(std::span<const uint8_t> option);

  uint8_t kind() const { return bytes_[0]; }
  uint8_t length() const { return length_; }
  // The whole option including kind and length.
  std::span<const uint8_t> bytes() const { return {bytes_.data(), length_}; }
  // The bytes after the length byte.
  std::span<const uint8_t> data() const { return bytes().subspan(2); }

  friend bool operator==(const RawTcpOption& a, const RawTcpOption& b) {
    return a.length_ == b.length_ &&
           std::equal(a.bytes_.begin(), a.bytes_.begin() + a.length_, b.bytes_.begin());
  }

 private:
  // Only as a placeholder in an InlineList's unused slots.
  template <typename, size_t>
  friend class InlineList;
  RawTcpOption() = default;

  std::array<uint8_t, kTcpMaxOptionsLen> bytes_{};
  uint8_t length_ = 0;
};

// One SACK block (RFC 2018 §3): the sequence space [left, right) received.
struct TcpSackBlock {
  TcpSeq left;
  TcpSeq right;
  friend bool operator==(const TcpSackBlock&, const TcpSackBlock&) = default;
};

// RFC 7323 §3.2.
struct TcpTimestamps {
  uint32_t tsval = 0;
  uint32_t tsecr = 0;
  friend bool operator==(const TcpTimestamps&, const TcpTimestamps&) = default;
};

enum class TcpOptionDrop : uint8_t {
#define BRAID_TCP_OPTION_DROP(name, metric, desc) name,
#include "datapath/wire/tcp_option_drop.def"
#undef BRAID_TCP_OPTION_DROP
  kCount,
};

// Stable snake_case name, used for counters and debug output.
std::string_view TcpOptionDropName(TcpOptionDrop reason);
std::string_view TcpOptionDropDescription(TcpOptionDrop reason);

// How many options one parse ignored (or altered), by reason.
class TcpOptionDrops {
 public:
  uint8_t count(TcpOptionDrop reason) const {
    auto i = static_cast<size_t>(reason);
    return i < counts_.size() ? counts_[i] : 0;
  }
  size_t total() const;
  bool any() const { return total() != 0; }
  void Add(TcpOptionDrop reason);
  friend bool operator==(const TcpOptionDrops&, const TcpOptionDrops&) = default;

 private:
  // At most 40 options in a list: a byte per reason is enough.
  std::array<uint8_t, static_cast<size_t>(TcpOptionDrop::kCount)> counts_{};
};

struct TcpOptionsRepr {
  std::optional<uint16_t> mss;
  std::optional<uint8_t> window_scale;  // shift count, at most kTcpMaxWindowScale
  bool sack_permitted = false;
  std::optional<TcpTimestamps> timestamps;
  InlineList<TcpSackBlock, kTcpMaxSackBlocks> sack_blocks;  // empty: no SACK option
  InlineList<RawTcpOption, kTcpMaxRawOptions> raw_options;  // in the order they came
  // Filled by Parse; Emit ignores it.
  TcpOptionDrops drops;

  // Never fails: malformation is reported in `drops`. Whether an option is acceptable on this
  // segment (MSS and window scale only on a SYN, RFC 9293 §3.7.1, RFC 7323 §2.2) is for the TCP
  // layer to decide. An MSS of 0 is reported as is (the kernel ignores it).
  static TcpOptionsRepr Parse(std::span<const uint8_t> options);

  // Bytes Emit writes, a multiple of 4. Options are laid out as Linux does (each starts on a
  // 4-byte boundary: MSS, SACK-permitted folded into the timestamps' NOPs, NOP+window scale,
  // NOP NOP+SACK, then raw options each padded with NOPs) when that fits in 40 bytes, otherwise
  // packed back to back. Above kTcpMaxOptionsLen when the options cannot fit at all.
  size_t EncodedLen() const;
  // Writes EncodedLen() bytes; false (nothing written) when that exceeds kTcpMaxOptionsLen or
  // out.size(), or window_scale exceeds kTcpMaxWindowScale. Parse(Emit(x)) == x when x.drops is
  // empty.
  [[nodiscard]] bool Emit(std::span<uint8_t> out) const;

  // Appends an option kept as bytes (e.g. an MPTCP option emitted by its codec); false (repr
  // unchanged) when the list would no longer fit in kTcpMaxOptionsLen bytes, or, for the span
  // form, when RawTcpOption::FromBytes rejects the bytes.
  [[nodiscard]] bool AppendRaw(const RawTcpOption& option);
  [[nodiscard]] bool AppendRaw(std::span<const uint8_t> option);

  friend bool operator==(const TcpOptionsRepr&, const TcpOptionsRepr&) = default;
};

std::ostream& operator<<(std::ostream& os, const RawTcpOption& option);
std::ostream& operator<<(std::ostream& os, const TcpOptionsRepr& options);

}  // namespace braid::wire
