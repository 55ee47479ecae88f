// MPTCP v1 options (RFC 8684 §3): TCP option kind 30, subtype in the high nibble of the third
// byte. One value type per subtype, all held by the MptcpOption variant, parsed from one whole
// option (kind, length, ...) and emitted back.
//
// Parsing matches the Linux kernel's mptcp_parse_option() (net/mptcp/options.c): the length must
// be exactly one the subtype allows (for MP_CAPABLE and MP_JOIN, the one the segment's SYN/ACK
// flags select), otherwise the option is ignored and its MptcpOptionDrop reason counted. Reserved
// bits are ignored on input and written as zero.
//
// Emitting writes exactly Len() bytes, or nothing and returns false when `out` is shorter or when
// a field cannot be encoded (does not fit its bits, or is set in a form that does not carry it).
// So Parse(Emit(x)) == x whenever x is acceptable to the parser and Emit succeeded.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <variant>

#include "datapath/wire/address.h"
#include "datapath/wire/seq.h"
#include "datapath/wire/tcp_options.h"

namespace braid::wire {

inline constexpr uint8_t kMptcpOptionKind = 30;  // RFC 8684 §3, IANA TCP option kind
inline constexpr uint8_t kMptcpVersion = 1;      // RFC 8684 is MPTCP v1

enum class MptcpSubtype : uint8_t {
  kMpCapable = 0x0,
  kMpJoin = 0x1,
  kDss = 0x2,
  kAddAddr = 0x3,
  kRemoveAddr = 0x4,
  kMpPrio = 0x5,
  kMpFail = 0x6,
  kMpFastclose = 0x7,
  kMpTcpRst = 0x8,
  kMpExperimental = 0xf,  // reserved for private use; parsed as unknown
};

// Total option lengths in bytes (kind and length bytes included), RFC 8684 §3 figures.
inline constexpr size_t kMpCapableSynLen = 4;
inline constexpr size_t kMpCapableSynAckLen = 12;
inline constexpr size_t kMpCapableAckLen = 20;
inline constexpr size_t kMpCapableAckDataLen = 22;
inline constexpr size_t kMpCapableAckDataChecksumLen = 24;
inline constexpr size_t kMpJoinSynLen = 12;
inline constexpr size_t kMpJoinSynAckLen = 16;
inline constexpr size_t kMpJoinAckLen = 24;
inline constexpr size_t kMpJoinHmacLen = 20;  // third ACK: leftmost 160 bits of the HMAC
inline constexpr size_t kDssBaseLen = 4;
inline constexpr size_t kDssChecksumLen = 2;
inline constexpr size_t kRemoveAddrBaseLen = 3;
inline constexpr size_t kMaxRemoveAddrIds = 8;  // the kernel's MPTCP_RM_IDS_MAX
inline constexpr size_t kMpPrioLen = 3;
inline constexpr size_t kMpFailLen = 12;
inline constexpr size_t kMpFastcloseLen = 12;
inline constexpr size_t kMpTcpRstLen = 4;
inline constexpr size_t kMptcpOptionMaxLen = 30;  // ADD_ADDR IPv6 + port + HMAC

// Flags of the TCP segment that carries the option. MP_CAPABLE and MP_JOIN have one form per
// handshake step, told apart by these flags as the kernel does; MP_TCPRST is only valid with RST.
struct MptcpSegmentContext {
  bool syn = false;
  bool ack = false;
  bool rst = false;
};

// ---------------------------------------------------------------------------------------------
// MP_CAPABLE (RFC 8684 §3.1)

enum class MpCapableForm : uint8_t {
  kSyn,      // 4 bytes: version and flags only
  kSynAck,   // 12 bytes: + sender's key
  kAck,      // 20 bytes: + sender's and receiver's keys (third ACK)
  kAckData,  // 22 bytes (24 with checksum): + data-level length, on the first data segment
};

struct MpCapable {
  using Form = MpCapableForm;
  // Version and flags are in every form. Parsing accepts only version 1 (>= 1 on a SYN), H set
  // with D-G clear, and B clear, as the kernel does; Emit writes whatever is set, so that tests
  // can build what a peer must not send.
  MpCapableForm form = MpCapableForm::kSyn;
  uint8_t version = kMptcpVersion;          // 4 bits
  bool checksum_required = false;           // flag A (0x80)
  bool extensibility = false;               // flag B (0x40)
  bool no_join_to_initial_address = false;  // flag C (0x20): do not join the initial addr/port
  bool hmac_sha256 = true;                  // flag H (0x01)
  uint64_t sender_key = 0;                  // kSynAck, kAck, kAckData
  uint64_t receiver_key = 0;                // kAck, kAckData
  uint16_t data_level_length = 0;           // kAckData (DSN implied: IDSN + 1, SSN 1)
  std::optional<uint16_t> checksum = std::nullopt;  // kAckData only: 24 bytes instead of 22

  size_t Len() const;
  [[nodiscard]] bool Emit(std::span<uint8_t> out) const;
  friend bool operator==(const MpCapable&, const MpCapable&) = default;
};

// ---------------------------------------------------------------------------------------------
// MP_JOIN (RFC 8684 §3.2)

enum class MpJoinForm : uint8_t {
  kSyn,     // 12 bytes: backup, address ID, receiver's token, sender's nonce
  kSynAck,  // 16 bytes: backup, address ID, sender's truncated HMAC, sender's nonce
  kAck,     // 24 bytes: sender's 160-bit HMAC
};

struct MpJoin {
  using Form = MpJoinForm;
  MpJoinForm form = MpJoinForm::kSyn;
  bool backup = false;                                // kSyn, kSynAck (flag B, 0x01)
  uint8_t address_id = 0;                             // kSyn, kSynAck
  uint32_t receiver_token = 0;                        // kSyn
  uint64_t sender_truncated_hmac = 0;                 // kSynAck: leftmost 64 bits of the HMAC
  uint32_t sender_nonce = 0;                          // kSyn, kSynAck ("sender's random number")
  std::array<uint8_t, kMpJoinHmacLen> sender_hmac{};  // kAck

  size_t Len() const;
  [[nodiscard]] bool Emit(std::span<uint8_t> out) const;
  friend bool operator==(const MpJoin&, const MpJoin&) = default;
};

// ---------------------------------------------------------------------------------------------
// DSS (RFC 8684 §3.3)

inline constexpr uint8_t kDssFlagDataFin = 0x10;    // F
inline constexpr uint8_t kDssFlagDsn64 = 0x08;      // m: DSN is 8 bytes
inline constexpr uint8_t kDssFlagMapping = 0x04;    // M: mapping present
inline constexpr uint8_t kDssFlagDataAck64 = 0x02;  // a: data ACK is 8 bytes
inline constexpr uint8_t kDssFlagDataAck = 0x01;    // A: data ACK present

// A data ACK or data sequence number as the DSS carries it: the full 64 bits, or only the low 32
// (flag 'a' / 'm' clear). The connection turns the 32-bit form into a DataSeq with Expand().
struct DssSequence {
  uint64_t value = 0;  // when is_32bit, the raw 32-bit field (must fit 32 bits to emit)
  bool is_32bit = false;

  static constexpr DssSequence Full(DataSeq seq) { return {seq.raw(), false}; }
  static constexpr DssSequence Low32(uint32_t low) { return {low, true}; }
  // The 64-bit value; a 32-bit one is expanded next to `reference` (ExpandDataSeq32, seq.h).
  constexpr DataSeq Expand(DataSeq reference) const {
    return is_32bit ? ExpandDataSeq32(static_cast<uint32_t>(value), reference) : DataSeq(value);
  }
  size_t Len() const { return is_32bit ? 4 : 8; }
  friend bool operator==(const DssSequence&, const DssSequence&) = default;
};

struct DssMapping {
  DssSequence data_seq{};
  uint32_t subflow_seq = 0;        // relative: the subflow's first payload byte is 1
  uint16_t data_level_length = 0;  // 0 is the infinite mapping (RFC 8684 §3.7)
  std::optional<uint16_t> checksum = std::nullopt;  // present when checksums were negotiated
  friend bool operator==(const DssMapping&, const DssMapping&) = default;
};

struct Dss {
  bool data_fin = false;                               // F: takes one byte of data-sequence space
  std::optional<DssSequence> data_ack = std::nullopt;  // A (a: 64-bit)
  std::optional<DssMapping> mapping = std::nullopt;    // M (m: 64-bit DSN)

  // RFC 8684 §3.3.3: a DATA_FIN on a segment without payload is a mapping of the DATA_FIN's DSN,
  // subflow sequence 0 and data-level length 1. No data ACK and no checksum: add them if needed.
  static Dss DataFinWithoutPayload(DataSeq data_fin_seq);

  uint8_t Flags() const;  // the F m M a A byte Emit writes
  size_t Len() const;
  [[nodiscard]] bool Emit(std::span<uint8_t> out) const;
  friend bool operator==(const Dss&, const Dss&) = default;
};

// ---------------------------------------------------------------------------------------------
// ADD_ADDR (RFC 8684 §3.4.1)

struct AddAddr {
  bool echo = false;  // flag E (0x01): an echo carries no HMAC
  uint8_t address_id = 0;
  std::variant<Ipv4Address, Ipv6Address> address{};  // told apart by the length on the wire
  std::optional<uint16_t> port = std::nullopt;
  // Rightmost 64 bits of the HMAC; present exactly when !echo (Emit refuses anything else).
  std::optional<uint64_t> truncated_hmac = std::nullopt;

  bool is_ipv6() const { return std::holds_alternative<Ipv6Address>(address); }
  size_t Len() const;
  [[nodiscard]] bool Emit(std::span<uint8_t> out) const;
  friend bool operator==(const AddAddr&, const AddAddr&) = default;
};

// ---------------------------------------------------------------------------------------------
// REMOVE_ADDR (RFC 8684 §3.4.2)

struct RemoveAddr {
  std::array<uint8_t, kMaxRemoveAddrIds> ids{};  // the first `count` are meaningful
  uint8_t count = 0;                             // 1..8 to emit

  static RemoveAddr Of(std::span<const uint8_t> address_ids);  // keeps at most 8
  std::span<const uint8_t> address_ids() const {
    return {ids.data(), count < ids.size() ? count : ids.size()};
  }
  size_t Len() const { return kRemoveAddrBaseLen + count; }
  [[nodiscard]] bool Emit(std::span<uint8_t> out) const;
  // Only the meaningful IDs count: slots past `count` are not on the wire.
  friend bool operator==(const RemoveAddr& a, const RemoveAddr& b);
};

// ---------------------------------------------------------------------------------------------
// MP_PRIO (RFC 8684 §3.3.8), MP_FAIL (§3.7), MP_FASTCLOSE (§3.5), MP_TCPRST (§3.6)

struct MpPrio {
  bool backup = false;  // flag B (0x01)
  size_t Len() const { return kMpPrioLen; }
  [[nodiscard]] bool Emit(std::span<uint8_t> out) const;
  friend bool operator==(const MpPrio&, const MpPrio&) = default;
};

struct MpFail {
  DataSeq data_seq{};  // 64-bit DSN of the failed mapping
  size_t Len() const { return kMpFailLen; }
  [[nodiscard]] bool Emit(std::span<uint8_t> out) const;
  friend bool operator==(const MpFail&, const MpFail&) = default;
};

struct MpFastclose {
  uint64_t receiver_key = 0;  // the key of the host the option is sent to
  size_t Len() const { return kMpFastcloseLen; }
  [[nodiscard]] bool Emit(std::span<uint8_t> out) const;
  friend bool operator==(const MpFastclose&, const MpFastclose&) = default;
};

// RFC 8684 §3.6 reason codes. Other values are valid on the wire and kept as numbers
// (MpTcpRstReason{n}); MpTcpRstReasonName() calls them "unknown".
enum class MpTcpRstReason : uint8_t {
  kUnspecified = 0x00,
  kMptcpSpecific = 0x01,
  kLackOfResources = 0x02,
  kAdministrativelyProhibited = 0x03,
  kTooMuchOutstandingData = 0x04,
  kUnacceptablePerformance = 0x05,
  kMiddleboxInterference = 0x06,
};
std::string_view MpTcpRstReasonName(MpTcpRstReason reason);

struct MpTcpRst {
  bool flag_u = false;     // 0x08, unassigned
  bool flag_v = false;     // 0x04, unassigned
  bool flag_w = false;     // 0x02, unassigned
  bool transient = false;  // T (0x01): the error is temporary, the subflow may be retried
  MpTcpRstReason reason = MpTcpRstReason::kUnspecified;
  size_t Len() const { return kMpTcpRstLen; }
  [[nodiscard]] bool Emit(std::span<uint8_t> out) const;
  friend bool operator==(const MpTcpRst&, const MpTcpRst&) = default;
};

// ---------------------------------------------------------------------------------------------
// Any option, and why one was rejected.

using MptcpOption = std::variant<MpCapable, MpJoin, Dss, AddAddr, RemoveAddr, MpPrio, MpFail,
                                 MpFastclose, MpTcpRst>;

enum class MptcpOptionDrop : uint8_t {
#define BRAID_MPTCP_OPTION_DROP(name, metric, desc) name,
#include "datapath/wire/mptcp_option_drop.def"
#undef BRAID_MPTCP_OPTION_DROP
  kCount,
};
inline constexpr size_t kMptcpOptionDropCount = static_cast<size_t>(MptcpOptionDrop::kCount);

// Stable snake_case name ("dss_bad_length"), its counter name ("mptcp_option_drop_dss_bad_length")
// and a one-line description.
std::string_view MptcpOptionDropName(MptcpOptionDrop drop);
std::string_view MptcpOptionDropCounterName(MptcpOptionDrop drop);
std::string_view MptcpOptionDropDescription(MptcpOptionDrop drop);

// One counter per drop reason, for the datapath's per-worker statistics.
struct MptcpOptionDropCounts {
  std::array<uint64_t, kMptcpOptionDropCount> by_reason{};

  void Increment(MptcpOptionDrop drop) {
    auto i = static_cast<size_t>(drop);
    if (i < by_reason.size()) ++by_reason[i];
  }
  uint64_t operator[](MptcpOptionDrop drop) const {
    auto i = static_cast<size_t>(drop);
    return i < by_reason.size() ? by_reason[i] : 0;
  }
  uint64_t Total() const;
  MptcpOptionDropCounts& operator+=(const MptcpOptionDropCounts& other);
  friend bool operator==(const MptcpOptionDropCounts&, const MptcpOptionDropCounts&) = default;
};

// A parsed option or the reason it was ignored.
class [[nodiscard]] MptcpParseResult {
 public:
  MptcpParseResult(MptcpOption option) : option_(std::move(option)) {}  // NOLINT: implicit
  MptcpParseResult(MptcpOptionDrop drop) : drop_(drop) {}               // NOLINT: implicit

  bool ok() const { return option_.has_value(); }
  explicit operator bool() const { return ok(); }
  // Why the option was ignored; meaningful only when !ok().
  MptcpOptionDrop drop() const { return drop_; }

  const MptcpOption& value() const& { return *option_; }
  MptcpOption& value() & { return *option_; }
  const MptcpOption& operator*() const& { return *option_; }
  const MptcpOption* operator->() const { return &*option_; }
  // The option as one subtype, or nullptr (also when !ok()).
  template <typename T>
  const T* get_if() const {
    return option_ ? std::get_if<T>(&*option_) : nullptr;
  }

 private:
  std::optional<MptcpOption> option_;
  MptcpOptionDrop drop_ = MptcpOptionDrop::kCount;
};

// Parses one option given its whole bytes (kind 30, length, subtype, ...): `option.size()` must
// equal the length byte. `ctx` holds the carrying segment's flags.
//
// MP_CAPABLE on a segment without SYN accepts 20, 22 and 24 bytes; the kernel additionally wants
// 20 exactly when the segment has no payload and 22/24 exactly when it has: the caller checks
// that (form kAck vs kAckData), since only it knows the payload length.
MptcpParseResult ParseMptcpOption(std::span<const uint8_t> option, MptcpSegmentContext ctx);

// Encoded size in bytes (what Emit writes, when it accepts the fields).
size_t MptcpOptionLen(const MptcpOption& opt);

// Writes MptcpOptionLen(opt) bytes; false, nothing written, if `out` is short or a field is out of
// range.
[[nodiscard]] bool EmitMptcpOption(const MptcpOption& opt, std::span<uint8_t> out);

MptcpSubtype MptcpOptionSubtype(const MptcpOption& opt);
std::string_view MptcpSubtypeName(MptcpSubtype subtype);  // "MP_CAPABLE", ..., "unknown"

// ---------------------------------------------------------------------------------------------
// All the MPTCP options of one segment.

// The 40 bytes of TCP options hold at most 13 MPTCP options (the shortest, MP_PRIO, is 3 bytes).
inline constexpr size_t kMaxMptcpOptionsPerSegment = kTcpMaxOptionsLen / kMpPrioLen;
using MptcpOptionList = InlineList<MptcpOption, kMaxMptcpOptionsPerSegment>;

// Parses every kind-30 option TcpOptionsRepr kept raw, in the order they came; each one ignored is
// counted in `drops`. Which combinations may appear together is for the MPTCP layer to judge.
MptcpOptionList ParseMptcpOptions(const TcpOptionsRepr& options, MptcpSegmentContext ctx,
                                  MptcpOptionDropCounts& drops);

}  // namespace braid::wire
