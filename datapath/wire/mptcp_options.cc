#include "datapath/wire/mptcp_options.h"

#include <algorithm>

#include "datapath/wire/bytes.h"

namespace braid::wire {
namespace {

// MP_CAPABLE flags byte (RFC 8684 §3.1, Figure 4).
constexpr uint8_t kMpCapableFlagA = 0x80;
constexpr uint8_t kMpCapableFlagB = 0x40;
constexpr uint8_t kMpCapableFlagC = 0x20;
constexpr uint8_t kMpCapableFlagH = 0x01;
// Flags D-H: the kernel (MPTCP_CAP_FLAG_MASK) wants exactly H among them.
constexpr uint8_t kMpCapableFlagsDToH = 0x1f;

constexpr uint8_t kBackupFlag = 0x01;  // MP_JOIN and MP_PRIO
constexpr uint8_t kAddAddrEchoFlag = 0x01;
constexpr uint8_t kDssFlagMask = 0x1f;

constexpr uint8_t kMpTcpRstFlagU = 0x08;
constexpr uint8_t kMpTcpRstFlagV = 0x04;
constexpr uint8_t kMpTcpRstFlagW = 0x02;
constexpr uint8_t kMpTcpRstFlagT = 0x01;

constexpr size_t kAddAddrBaseLen = 4;  // kind, length, subtype|flags, address ID
constexpr size_t kPortLen = 2;
constexpr size_t kTruncatedHmacLen = 8;

// Kind, length, and the byte holding the subtype in its high nibble. `low_nibble` is the version
// or the flags that share that byte.
void StoreHeader(uint8_t* p, size_t len, MptcpSubtype subtype, uint8_t low_nibble) {
  p[0] = kMptcpOptionKind;
  p[1] = static_cast<uint8_t>(len);
  p[2] = static_cast<uint8_t>(static_cast<uint8_t>(subtype) << 4 | (low_nibble & 0x0f));
}

// ----- parsers: `o` is the whole option, its length already checked against the bytes given.

MptcpParseResult ParseMpCapable(std::span<const uint8_t> o, MptcpSegmentContext ctx) {
  const size_t len = o.size();
  // RFC 8684 §3.1; kernel: strict size checking, the expected size chosen by SYN and ACK. Without
  // SYN, the checksum form (24) is accepted where 22 is, so that a checksum mismatch can be
  // answered with a reset later rather than ignored here.
  MpCapableForm form;
  if (ctx.syn) {
    form = ctx.ack ? MpCapableForm::kSynAck : MpCapableForm::kSyn;
    if (len != (ctx.ack ? kMpCapableSynAckLen : kMpCapableSynLen)) {
      return MptcpOptionDrop::kMpCapableBadLength;
    }
  } else if (len == kMpCapableAckLen) {
    form = MpCapableForm::kAck;
  } else if (len == kMpCapableAckDataLen || len == kMpCapableAckDataChecksumLen) {
    form = MpCapableForm::kAckData;
  } else {
    return MptcpOptionDrop::kMpCapableBadLength;
  }

  // RFC 8684 §3.1: a host offering a higher version on the SYN may be answered with a lower one,
  // so a SYN tolerates versions above 1; every later step must carry exactly 1.
  const uint8_t version = o[2] & 0x0f;
  if (form == MpCapableForm::kSyn ? version < kMptcpVersion : version != kMptcpVersion) {
    return MptcpOptionDrop::kMpCapableBadVersion;
  }
  const uint8_t flags = o[3];
  if ((flags & kMpCapableFlagsDToH) != kMpCapableFlagH) {
    return MptcpOptionDrop::kMpCapableNoHmacSha256;
  }
  if ((flags & kMpCapableFlagB) != 0) return MptcpOptionDrop::kMpCapableExtensibility;

  MpCapable m;
  m.form = form;
  m.version = version;
  m.checksum_required = (flags & kMpCapableFlagA) != 0;
  m.extensibility = false;
  m.no_join_to_initial_address = (flags & kMpCapableFlagC) != 0;
  m.hmac_sha256 = true;
  if (len >= kMpCapableSynAckLen) m.sender_key = LoadBe64(o.data() + 4);
  if (len >= kMpCapableAckLen) m.receiver_key = LoadBe64(o.data() + 12);
  if (len >= kMpCapableAckDataLen) m.data_level_length = LoadBe16(o.data() + 20);
  if (len == kMpCapableAckDataChecksumLen) m.checksum = LoadBe16(o.data() + 22);
  return MptcpOption{m};
}

MptcpParseResult ParseMpJoin(std::span<const uint8_t> o, MptcpSegmentContext ctx) {
  // RFC 8684 §3.2: one form per handshake step, selected by the segment's flags.
  const MpJoinForm form =
      ctx.syn ? (ctx.ack ? MpJoinForm::kSynAck : MpJoinForm::kSyn) : MpJoinForm::kAck;
  const size_t expected = form == MpJoinForm::kSyn      ? kMpJoinSynLen
                          : form == MpJoinForm::kSynAck ? kMpJoinSynAckLen
                                                        : kMpJoinAckLen;
  if (o.size() != expected) return MptcpOptionDrop::kMpJoinBadLength;

  MpJoin j;
  j.form = form;
  switch (form) {
    case MpJoinForm::kSyn:
      j.backup = (o[2] & kBackupFlag) != 0;
      j.address_id = o[3];
      j.receiver_token = LoadBe32(o.data() + 4);
      j.sender_nonce = LoadBe32(o.data() + 8);
      break;
    case MpJoinForm::kSynAck:
      j.backup = (o[2] & kBackupFlag) != 0;
      j.address_id = o[3];
      j.sender_truncated_hmac = LoadBe64(o.data() + 4);
      j.sender_nonce = LoadBe32(o.data() + 12);
      break;
    case MpJoinForm::kAck:
      // Bytes 2-3 after the subtype are reserved.
      std::copy_n(o.data() + 4, kMpJoinHmacLen, j.sender_hmac.begin());
      break;
  }
  return MptcpOption{j};
}

MptcpParseResult ParseDss(std::span<const uint8_t> o) {
  // The flags byte itself must be there before it can tell the expected size.
  if (o.size() < kDssBaseLen) return MptcpOptionDrop::kDssBadLength;
  const uint8_t flags = o[3] & kDssFlagMask;
  const bool has_ack = (flags & kDssFlagDataAck) != 0;
  const bool ack64 = (flags & kDssFlagDataAck64) != 0;
  const bool has_map = (flags & kDssFlagMapping) != 0;
  const bool dsn64 = (flags & kDssFlagDsn64) != 0;

  // RFC 8684 §3.3, kernel size check: the size the flags call for, or 2 more (checksum). 'a' and
  // 'm' mean nothing without 'A' and 'M' and are then ignored (not kept, not re-emitted).
  size_t expected = kDssBaseLen;
  if (has_ack) expected += ack64 ? 8 : 4;
  if (has_map) expected += (dsn64 ? 8 : 4) + 4 + 2;
  const size_t len = o.size();
  if (len != expected && len != expected + kDssChecksumLen) return MptcpOptionDrop::kDssBadLength;
  // Like the kernel, the two trailing bytes of a DSS without a mapping are accepted and ignored:
  // a checksum belongs to a mapping.

  Dss d;
  d.data_fin = (flags & kDssFlagDataFin) != 0;
  const uint8_t* p = o.data() + kDssBaseLen;
  if (has_ack) {
    d.data_ack = ack64 ? DssSequence{LoadBe64(p), false} : DssSequence{LoadBe32(p), true};
    p += ack64 ? 8 : 4;
  }
  if (has_map) {
    DssMapping m;
    m.data_seq = dsn64 ? DssSequence{LoadBe64(p), false} : DssSequence{LoadBe32(p), true};
    p += dsn64 ? 8 : 4;
    m.subflow_seq = LoadBe32(p);
    m.data_level_length = LoadBe16(p + 4);
    if (len == expected + kDssChecksumLen) m.checksum = LoadBe16(p + 6);
    d.mapping = m;
  }
  return MptcpOption{d};
}

MptcpParseResult ParseAddAddr(std::span<const uint8_t> o) {
  // RFC 8684 §3.4.1: the address family is known only from the length, which depends on the echo
  // flag (no HMAC) and the optional port.
  AddAddr a;
  a.echo = (o[2] & kAddAddrEchoFlag) != 0;
  const size_t hmac_len = a.echo ? 0 : kTruncatedHmacLen;
  const size_t v4 = kAddAddrBaseLen + 4 + hmac_len;
  const size_t v6 = kAddAddrBaseLen + 16 + hmac_len;
  const size_t len = o.size();
  bool ipv6;
  bool has_port;
  if (len == v4 || len == v4 + kPortLen) {
    ipv6 = false;
    has_port = len != v4;
  } else if (len == v6 || len == v6 + kPortLen) {
    ipv6 = true;
    has_port = len != v6;
  } else {
    return MptcpOptionDrop::kAddAddrBadLength;
  }

  a.address_id = o[3];
  const uint8_t* p = o.data() + kAddAddrBaseLen;
  if (ipv6) {
    a.address = Ipv6Address::FromBytes(p);
    p += 16;
  } else {
    a.address = Ipv4Address::FromBytes(p);
    p += 4;
  }
  if (has_port) {
    a.port = LoadBe16(p);
    p += kPortLen;
  }
  if (!a.echo) a.truncated_hmac = LoadBe64(p);
  return MptcpOption{a};
}

MptcpParseResult ParseRemoveAddr(std::span<const uint8_t> o) {
  // RFC 8684 §3.4.2: at least one ID; the kernel takes at most MPTCP_RM_IDS_MAX (8).
  const size_t len = o.size();
  if (len < kRemoveAddrBaseLen + 1 || len > kRemoveAddrBaseLen + kMaxRemoveAddrIds) {
    return MptcpOptionDrop::kRemoveAddrBadLength;
  }
  return MptcpOption{RemoveAddr::Of(o.subspan(kRemoveAddrBaseLen))};
}

MptcpParseResult ParseMpTcpRst(std::span<const uint8_t> o, MptcpSegmentContext ctx) {
  if (o.size() != kMpTcpRstLen) return MptcpOptionDrop::kMpTcpRstBadLength;
  // RFC 8684 §3.6: only meaningful on a RST; the kernel ignores it elsewhere.
  if (!ctx.rst) return MptcpOptionDrop::kMpTcpRstWithoutRst;
  MpTcpRst r;
  r.flag_u = (o[2] & kMpTcpRstFlagU) != 0;
  r.flag_v = (o[2] & kMpTcpRstFlagV) != 0;
  r.flag_w = (o[2] & kMpTcpRstFlagW) != 0;
  r.transient = (o[2] & kMpTcpRstFlagT) != 0;
  r.reason = static_cast<MpTcpRstReason>(o[3]);
  return MptcpOption{r};
}

bool Fits32(const DssSequence& s) { return !s.is_32bit || s.value <= UINT32_MAX; }

void StoreDssSequence(uint8_t* p, const DssSequence& s) {
  if (s.is_32bit) {
    StoreBe32(p, static_cast<uint32_t>(s.value));
  } else {
    StoreBe64(p, s.value);
  }
}

bool IsZero(const std::array<uint8_t, kMpJoinHmacLen>& a) {
  return std::all_of(a.begin(), a.end(), [](uint8_t b) { return b == 0; });
}

struct DropInfo {
  std::string_view name;
  std::string_view counter;
  std::string_view description;
};

constexpr std::array<DropInfo, kMptcpOptionDropCount> kDrops = {{
#define BRAID_MPTCP_OPTION_DROP(name, metric, desc) {metric, "mptcp_option_drop_" metric, desc},
#include "datapath/wire/mptcp_option_drop.def"
#undef BRAID_MPTCP_OPTION_DROP
}};

}  // namespace

// ----- MP_CAPABLE

size_t MpCapable::Len() const {
  switch (form) {
    case MpCapableForm::kSyn:
      return kMpCapableSynLen;
    case MpCapableForm::kSynAck:
      return kMpCapableSynAckLen;
    case MpCapableForm::kAck:
      return kMpCapableAckLen;
    case MpCapableForm::kAckData:
      return checksum ? kMpCapableAckDataChecksumLen : kMpCapableAckDataLen;
  }
  return 0;
}

bool MpCapable::Emit(std::span<uint8_t> out) const {
  const size_t len = Len();
  if (len == 0 || out.size() < len || version > 0x0f) return false;
  // A field the form does not carry must be unset, or it would be lost on the wire.
  const bool has_sender = form != MpCapableForm::kSyn;
  const bool has_receiver = form == MpCapableForm::kAck || form == MpCapableForm::kAckData;
  const bool has_data = form == MpCapableForm::kAckData;
  if ((!has_sender && sender_key != 0) || (!has_receiver && receiver_key != 0) ||
      (!has_data && (data_level_length != 0 || checksum))) {
    return false;
  }
  uint8_t* p = out.data();
  StoreHeader(p, len, MptcpSubtype::kMpCapable, version);
  p[3] = static_cast<uint8_t>(
      (checksum_required ? kMpCapableFlagA : 0) | (extensibility ? kMpCapableFlagB : 0) |
      (no_join_to_initial_address ? kMpCapableFlagC : 0) | (hmac_sha256 ? kMpCapableFlagH : 0));
  if (has_sender) StoreBe64(p + 4, sender_key);
  if (has_receiver) StoreBe64(p + 12, receiver_key);
  if (has_data) StoreBe16(p + 20, data_level_length);
  if (checksum) StoreBe16(p + 22, *checksum);
  return true;
}

// ----- MP_JOIN

size_t MpJoin::Len() const {
  switch (form) {
    case MpJoinForm::kSyn:
      return kMpJoinSynLen;
    case MpJoinForm::kSynAck:
      return kMpJoinSynAckLen;
    case MpJoinForm::kAck:
      return kMpJoinAckLen;
  }
  return 0;
}

bool MpJoin::Emit(std::span<uint8_t> out) const {
  const size_t len = Len();
  if (len == 0 || out.size() < len) return false;
  const bool syn = form == MpJoinForm::kSyn;
  const bool synack = form == MpJoinForm::kSynAck;
  const bool ack = form == MpJoinForm::kAck;
  if ((!syn && receiver_token != 0) || (!synack && sender_truncated_hmac != 0) ||
      (ack && (backup || address_id != 0 || sender_nonce != 0)) || (!ack && !IsZero(sender_hmac))) {
    return false;
  }
  uint8_t* p = out.data();
  StoreHeader(p, len, MptcpSubtype::kMpJoin, backup ? kBackupFlag : 0);
  p[3] = address_id;
  switch (form) {
    case MpJoinForm::kSyn:
      StoreBe32(p + 4, receiver_token);
      StoreBe32(p + 8, sender_nonce);
      break;
    case MpJoinForm::kSynAck:
      StoreBe64(p + 4, sender_truncated_hmac);
      StoreBe32(p + 12, sender_nonce);
      break;
    case MpJoinForm::kAck:
      std::copy(sender_hmac.begin(), sender_hmac.end(), p + 4);
      break;
  }
  return true;
}

// ----- DSS

Dss Dss::DataFinWithoutPayload(DataSeq data_fin_seq) {
  Dss d;
  d.data_fin = true;
  d.mapping = DssMapping{DssSequence::Full(data_fin_seq), 0, 1, std::nullopt};
  return d;
}

uint8_t Dss::Flags() const {
  uint8_t f = data_fin ? kDssFlagDataFin : 0;
  if (data_ack) f |= kDssFlagDataAck | (data_ack->is_32bit ? 0 : kDssFlagDataAck64);
  if (mapping) f |= kDssFlagMapping | (mapping->data_seq.is_32bit ? 0 : kDssFlagDsn64);
  return f;
}

size_t Dss::Len() const {
  size_t len = kDssBaseLen;
  if (data_ack) len += data_ack->Len();
  if (mapping) len += mapping->data_seq.Len() + 4 + 2 + (mapping->checksum ? kDssChecksumLen : 0);
  return len;
}

bool Dss::Emit(std::span<uint8_t> out) const {
  const size_t len = Len();
  if (out.size() < len) return false;
  if ((data_ack && !Fits32(*data_ack)) || (mapping && !Fits32(mapping->data_seq))) return false;
  uint8_t* p = out.data();
  StoreHeader(p, len, MptcpSubtype::kDss, 0);
  p[3] = Flags();
  p += kDssBaseLen;
  if (data_ack) {
    StoreDssSequence(p, *data_ack);
    p += data_ack->Len();
  }
  if (mapping) {
    StoreDssSequence(p, mapping->data_seq);
    p += mapping->data_seq.Len();
    StoreBe32(p, mapping->subflow_seq);
    StoreBe16(p + 4, mapping->data_level_length);
    if (mapping->checksum) StoreBe16(p + 6, *mapping->checksum);
  }
  return true;
}

// ----- ADD_ADDR

size_t AddAddr::Len() const {
  return kAddAddrBaseLen + (is_ipv6() ? 16 : 4) + (port ? kPortLen : 0) +
         (truncated_hmac ? kTruncatedHmacLen : 0);
}

bool AddAddr::Emit(std::span<uint8_t> out) const {
  const size_t len = Len();
  // RFC 8684 §3.4.1: the echo carries no HMAC, the announcement always does.
  if (out.size() < len || echo == truncated_hmac.has_value()) return false;
  uint8_t* p = out.data();
  StoreHeader(p, len, MptcpSubtype::kAddAddr, echo ? kAddAddrEchoFlag : 0);
  p[3] = address_id;
  p += kAddAddrBaseLen;
  if (const auto* v6 = std::get_if<Ipv6Address>(&address)) {
    std::copy(v6->bytes.begin(), v6->bytes.end(), p);
    p += 16;
  } else {
    const auto& v4 = std::get<Ipv4Address>(address);
    std::copy(v4.bytes.begin(), v4.bytes.end(), p);
    p += 4;
  }
  if (port) {
    StoreBe16(p, *port);
    p += kPortLen;
  }
  if (truncated_hmac) StoreBe64(p, *truncated_hmac);
  return true;
}

// ----- REMOVE_ADDR

RemoveAddr RemoveAddr::Of(std::span<const uint8_t> address_ids) {
  RemoveAddr r;
  r.count = static_cast<uint8_t>(std::min(address_ids.size(), kMaxRemoveAddrIds));
  std::copy_n(address_ids.begin(), r.count, r.ids.begin());
  return r;
}

bool RemoveAddr::Emit(std::span<uint8_t> out) const {
  if (count == 0 || count > kMaxRemoveAddrIds) return false;
  const size_t len = Len();
  if (out.size() < len) return false;
  StoreHeader(out.data(), len, MptcpSubtype::kRemoveAddr, 0);
  std::copy_n(ids.begin(), count, out.data() + kRemoveAddrBaseLen);
  return true;
}

bool operator==(const RemoveAddr& a, const RemoveAddr& b) {
  return a.count == b.count && std::ranges::equal(a.address_ids(), b.address_ids());
}

// ----- MP_PRIO, MP_FAIL, MP_FASTCLOSE, MP_TCPRST

bool MpPrio::Emit(std::span<uint8_t> out) const {
  if (out.size() < kMpPrioLen) return false;
  StoreHeader(out.data(), kMpPrioLen, MptcpSubtype::kMpPrio, backup ? kBackupFlag : 0);
  return true;
}

bool MpFail::Emit(std::span<uint8_t> out) const {
  if (out.size() < kMpFailLen) return false;
  StoreHeader(out.data(), kMpFailLen, MptcpSubtype::kMpFail, 0);
  out[3] = 0;  // reserved
  StoreBe64(out.data() + 4, data_seq.raw());
  return true;
}

bool MpFastclose::Emit(std::span<uint8_t> out) const {
  if (out.size() < kMpFastcloseLen) return false;
  StoreHeader(out.data(), kMpFastcloseLen, MptcpSubtype::kMpFastclose, 0);
  out[3] = 0;  // reserved
  StoreBe64(out.data() + 4, receiver_key);
  return true;
}

std::string_view MpTcpRstReasonName(MpTcpRstReason reason) {
  switch (reason) {
    case MpTcpRstReason::kUnspecified:
      return "unspecified";
    case MpTcpRstReason::kMptcpSpecific:
      return "mptcp_specific";
    case MpTcpRstReason::kLackOfResources:
      return "lack_of_resources";
    case MpTcpRstReason::kAdministrativelyProhibited:
      return "administratively_prohibited";
    case MpTcpRstReason::kTooMuchOutstandingData:
      return "too_much_outstanding_data";
    case MpTcpRstReason::kUnacceptablePerformance:
      return "unacceptable_performance";
    case MpTcpRstReason::kMiddleboxInterference:
      return "middlebox_interference";
  }
  return "unknown";
}

bool MpTcpRst::Emit(std::span<uint8_t> out) const {
  if (out.size() < kMpTcpRstLen) return false;
  StoreHeader(
      out.data(), kMpTcpRstLen, MptcpSubtype::kMpTcpRst,
      static_cast<uint8_t>((flag_u ? kMpTcpRstFlagU : 0) | (flag_v ? kMpTcpRstFlagV : 0) |
                           (flag_w ? kMpTcpRstFlagW : 0) | (transient ? kMpTcpRstFlagT : 0)));
  out[3] = static_cast<uint8_t>(reason);
  return true;
}

// ----- drop reasons

std::string_view MptcpOptionDropName(MptcpOptionDrop drop) {
  auto i = static_cast<size_t>(drop);
  return i < kDrops.size() ? kDrops[i].name : "invalid";
}

std::string_view MptcpOptionDropCounterName(MptcpOptionDrop drop) {
  auto i = static_cast<size_t>(drop);
  return i < kDrops.size() ? kDrops[i].counter : "mptcp_option_drop_invalid";
}

std::string_view MptcpOptionDropDescription(MptcpOptionDrop drop) {
  auto i = static_cast<size_t>(drop);
  return i < kDrops.size() ? kDrops[i].description : "invalid drop reason";
}

uint64_t MptcpOptionDropCounts::Total() const {
  uint64_t total = 0;
  for (uint64_t c : by_reason) total += c;
  return total;
}

MptcpOptionDropCounts& MptcpOptionDropCounts::operator+=(const MptcpOptionDropCounts& other) {
  for (size_t i = 0; i < by_reason.size(); ++i) by_reason[i] += other.by_reason[i];
  return *this;
}

// ----- any option

MptcpParseResult ParseMptcpOption(std::span<const uint8_t> option, MptcpSegmentContext ctx) {
  if (option.size() < 3) return MptcpOptionDrop::kTooShort;
  if (option[0] != kMptcpOptionKind) return MptcpOptionDrop::kNotMptcp;
  const size_t len = option[1];
  if (len > option.size() || len < 3) return MptcpOptionDrop::kTooShort;
  if (len < option.size()) return MptcpOptionDrop::kLengthMismatch;

  switch (static_cast<MptcpSubtype>(option[2] >> 4)) {
    case MptcpSubtype::kMpCapable:
      return ParseMpCapable(option, ctx);
    case MptcpSubtype::kMpJoin:
      return ParseMpJoin(option, ctx);
    case MptcpSubtype::kDss:
      return ParseDss(option);
    case MptcpSubtype::kAddAddr:
      return ParseAddAddr(option);
    case MptcpSubtype::kRemoveAddr:
      return ParseRemoveAddr(option);
    case MptcpSubtype::kMpPrio:
      // RFC 8684 §3.3.8: 3 bytes (RFC 6824's 4-byte form with an address ID is gone).
      if (len != kMpPrioLen) return MptcpOptionDrop::kMpPrioBadLength;
      return MptcpOption{MpPrio{(option[2] & kBackupFlag) != 0}};
    case MptcpSubtype::kMpFail:
      if (len != kMpFailLen) return MptcpOptionDrop::kMpFailBadLength;
      return MptcpOption{MpFail{DataSeq(LoadBe64(option.data() + 4))}};
    case MptcpSubtype::kMpFastclose:
      if (len != kMpFastcloseLen) return MptcpOptionDrop::kMpFastcloseBadLength;
      return MptcpOption{MpFastclose{LoadBe64(option.data() + 4)}};
    case MptcpSubtype::kMpTcpRst:
      return ParseMpTcpRst(option, ctx);
    case MptcpSubtype::kMpExperimental:
      break;
  }
  return MptcpOptionDrop::kUnknownSubtype;
}

size_t MptcpOptionLen(const MptcpOption& opt) {
  return std::visit([](const auto& o) { return o.Len(); }, opt);
}

bool EmitMptcpOption(const MptcpOption& opt, std::span<uint8_t> out) {
  return std::visit([out](const auto& o) { return o.Emit(out); }, opt);
}

MptcpSubtype MptcpOptionSubtype(const MptcpOption& opt) {
  static constexpr std::array<MptcpSubtype, std::variant_size_v<MptcpOption>> kSubtypes = {
      MptcpSubtype::kMpCapable, MptcpSubtype::kMpJoin,      MptcpSubtype::kDss,
      MptcpSubtype::kAddAddr,   MptcpSubtype::kRemoveAddr,  MptcpSubtype::kMpPrio,
      MptcpSubtype::kMpFail,    MptcpSubtype::kMpFastclose, MptcpSubtype::kMpTcpRst,
  };
  return kSubtypes[opt.index()];
}

std::string_view MptcpSubtypeName(MptcpSubtype subtype) {
  switch (subtype) {
    case MptcpSubtype::kMpCapable:
      return "MP_CAPABLE";
    case MptcpSubtype::kMpJoin:
      return "MP_JOIN";
    case MptcpSubtype::kDss:
      return "DSS";
    case MptcpSubtype::kAddAddr:
      return "ADD_ADDR";
    case MptcpSubtype::kRemoveAddr:
      return "REMOVE_ADDR";
    case MptcpSubtype::kMpPrio:
      return "MP_PRIO";
    case MptcpSubtype::kMpFail:
      return "MP_FAIL";
    case MptcpSubtype::kMpFastclose:
      return "MP_FASTCLOSE";
    case MptcpSubtype::kMpTcpRst:
      return "MP_TCPRST";
    case MptcpSubtype::kMpExperimental:
      return "MP_EXPERIMENTAL";
  }
  return "unknown";
}

MptcpOptionList ParseMptcpOptions(const TcpOptionsRepr& options, MptcpSegmentContext ctx,
                                  MptcpOptionDropCounts& drops) {
  MptcpOptionList list;
  for (const RawTcpOption& raw : options.raw_options) {
    if (raw.kind() != kMptcpOptionKind) continue;
    MptcpParseResult r = ParseMptcpOption(raw.bytes(), ctx);
    if (!r.ok()) {
      drops.Increment(r.drop());
    } else {
      // Cannot be full: 40 bytes of options hold no more parseable options than the capacity.
      (void)list.TryAppend(*r);
    }
  }
  return list;
}

}  // namespace braid::wire
