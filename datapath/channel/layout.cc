#include "datapath/channel/layout.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "datapath/channel/shm.h"

namespace braid::channel {
namespace {

constexpr uint64_t AlignUp(uint64_t v, uint64_t align) { return (v + align - 1) & ~(align - 1); }

bool AllZero(const uint8_t* p, size_t n) {
  return std::all_of(p, p + n, [](uint8_t b) { return b == 0; });
}

std::string CheckPowerOfTwo(const char* name, uint32_t value, uint32_t min, uint32_t max) {
  if (IsPowerOfTwo(value) && value >= min && value <= max) return "";
  return std::string(name) + " " + std::to_string(value) + " is not a power of two in " +
         std::to_string(min) + ".." + std::to_string(max);
}

void EncodeSockAddr(const SockAddr& a, uint8_t* p) {
  Store<uint16_t>(p, a.family);
  Store<uint16_t>(p + 2, a.port);
  Store<uint32_t>(p + 4, a.scope_id);
  std::memcpy(p + 8, a.address.data(), a.address.size());
}

RecordError DecodeSockAddr(const uint8_t* p, SockAddr& a) {
  a.family = Load<uint16_t>(p);
  a.port = Load<uint16_t>(p + 2);
  a.scope_id = Load<uint32_t>(p + 4);
  std::memcpy(a.address.data(), p + 8, a.address.size());
  if (a.family == AF_INET6) return RecordError::kOk;
  if (a.family != AF_INET) return RecordError::kBadFamily;
  if (a.scope_id != 0 || !AllZero(a.address.data() + 4, 12)) return RecordError::kBadAddress;
  return RecordError::kOk;
}

void EncodeConnectionInfo(const ConnectionInfo& c, uint8_t* p) {
  p[0] = c.state;
  p[1] = c.mptcp;
  Store<uint16_t>(p + 2, c.subflows);
  Store<uint32_t>(p + 4, c.rtt_us);
  Store<uint32_t>(p + 8, c.cwnd_bytes);
  Store<uint32_t>(p + 12, c.mss);
  Store<uint64_t>(p + 16, c.bytes_sent);
  Store<uint64_t>(p + 24, c.bytes_received);
  Store<uint64_t>(p + 32, c.bytes_retransmitted);
}

RecordError DecodeConnectionInfo(const uint8_t* p, ConnectionInfo& c) {
  c.state = p[0];
  c.mptcp = p[1];
  c.subflows = Load<uint16_t>(p + 2);
  c.rtt_us = Load<uint32_t>(p + 4);
  c.cwnd_bytes = Load<uint32_t>(p + 8);
  c.mss = Load<uint32_t>(p + 12);
  c.bytes_sent = Load<uint64_t>(p + 16);
  c.bytes_received = Load<uint64_t>(p + 24);
  c.bytes_retransmitted = Load<uint64_t>(p + 32);
  if (c.state < TCP_ESTABLISHED || c.state > TCP_CLOSING || c.mptcp > 1) {
    return RecordError::kBadValue;
  }
  return RecordError::kOk;
}

bool ValidHandle(uint32_t handle) { return HandleIndex(handle) < kMaxSlots; }

// An option value: `length` bytes, zeros after them.
RecordError DecodeOptValue(const uint8_t* p, uint32_t length,
                           std::array<uint8_t, kMaxOptBytes>& value) {
  if (length > kMaxOptBytes) return RecordError::kBadLength;
  std::memcpy(value.data(), p, kMaxOptBytes);
  if (!AllZero(value.data() + length, kMaxOptBytes - length)) return RecordError::kReservedBytes;
  return RecordError::kOk;
}

// Writes one command's arguments into the payload; returns how many bytes they use.
struct CommandPayloadEncoder {
  uint8_t* p;
  size_t operator()(const OpenArgs& a) const {
    Store<uint16_t>(p, a.family);
    Store<uint16_t>(p + 2, static_cast<uint16_t>(a.protocol));
    return 4;
  }
  size_t operator()(const BindArgs& a) const {
    EncodeSockAddr(a.address, p);
    return kSockAddrBytes;
  }
  size_t operator()(const ListenArgs& a) const {
    Store<uint32_t>(p, a.backlog);
    return 4;
  }
  size_t operator()(const ConnectArgs& a) const {
    EncodeSockAddr(a.address, p);
    return kSockAddrBytes;
  }
  size_t operator()(const AcceptIntoArgs& a) const {
    Store<uint32_t>(p, a.new_handle);
    return 4;
  }
  size_t operator()(const SendArgs&) const { return 0; }
  size_t operator()(const RxSpaceArgs&) const { return 0; }
  size_t operator()(const ShutdownArgs& a) const {
    Store<uint32_t>(p, a.how);
    return 4;
  }
  size_t operator()(const CloseArgs&) const { return 0; }
  size_t operator()(const AbortArgs&) const { return 0; }
  size_t operator()(const SetOptArgs& a) const {
    Store<int32_t>(p, a.level);
    Store<int32_t>(p + 4, a.name);
    Store<uint32_t>(p + 8, a.length);
    std::memcpy(p + 12, a.value.data(), a.value.size());
    return 12 + kMaxOptBytes;
  }
  size_t operator()(const GetOptArgs& a) const {
    Store<int32_t>(p, a.level);
    Store<int32_t>(p + 4, a.name);
    Store<uint32_t>(p + 8, a.max_length);
    return 12;
  }
  size_t operator()(const GetInfoArgs& a) const {
    Store<uint16_t>(p, static_cast<uint16_t>(a.what));
    return 2;
  }
  size_t operator()(const ReleaseArgs&) const { return 0; }
  size_t operator()(const AdoptArgs& a) const {
    Store<uint64_t>(p, a.owner_token);
    Store<uint32_t>(p + 8, a.owner_handle);
    return 12;
  }
};
static_assert(12 + kMaxOptBytes == sizeof(CommandRecord::payload));

// Reads the arguments of `op` from the payload into `args`; sets `used` to the bytes they take
// (the rest must be zero).
RecordError DecodeCommandPayload(Op op, const uint8_t* p, CommandArgs& args, size_t& used) {
  used = 0;
  switch (op) {
    case Op::kOpen: {
      OpenArgs a;
      a.family = Load<uint16_t>(p);
      const uint16_t protocol = Load<uint16_t>(p + 2);
      used = 4;
      if (a.family != AF_INET && a.family != AF_INET6) return RecordError::kBadFamily;
      if (protocol != static_cast<uint16_t>(Protocol::kTcp) &&
          protocol != static_cast<uint16_t>(Protocol::kMptcp)) {
        return RecordError::kBadProtocol;
      }
      a.protocol = static_cast<Protocol>(protocol);
      args = a;
      return RecordError::kOk;
    }
    case Op::kBind:
    case Op::kConnect: {
      SockAddr address;
      used = kSockAddrBytes;
      if (RecordError e = DecodeSockAddr(p, address); e != RecordError::kOk) return e;
      if (op == Op::kBind) {
        args = BindArgs{address};
      } else {
        args = ConnectArgs{address};
      }
      return RecordError::kOk;
    }
    case Op::kListen:
      args = ListenArgs{Load<uint32_t>(p)};
      used = 4;
      return RecordError::kOk;
    case Op::kAcceptInto: {
      const uint32_t new_handle = Load<uint32_t>(p);
      used = 4;
      if (!ValidHandle(new_handle)) return RecordError::kBadHandle;
      args = AcceptIntoArgs{new_handle};
      return RecordError::kOk;
    }
    case Op::kSend:
      args = SendArgs{};
      return RecordError::kOk;
    case Op::kRxSpace:
      args = RxSpaceArgs{};
      return RecordError::kOk;
    case Op::kShutdown: {
      const uint32_t how = Load<uint32_t>(p);
      used = 4;
      if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR) return RecordError::kBadValue;
      args = ShutdownArgs{how};
      return RecordError::kOk;
    }
    case Op::kClose:
      args = CloseArgs{};
      return RecordError::kOk;
    case Op::kAbort:
      args = AbortArgs{};
      return RecordError::kOk;
    case Op::kSetOpt: {
      SetOptArgs a;
      a.level = Load<int32_t>(p);
      a.name = Load<int32_t>(p + 4);
      a.length = Load<uint32_t>(p + 8);
      used = 12 + kMaxOptBytes;
      if (RecordError e = DecodeOptValue(p + 12, a.length, a.value); e != RecordError::kOk) {
        return e;
      }
      args = a;
      return RecordError::kOk;
    }
    case Op::kGetOpt: {
      GetOptArgs a;
      a.level = Load<int32_t>(p);
      a.name = Load<int32_t>(p + 4);
      a.max_length = Load<uint32_t>(p + 8);
      used = 12;
      if (a.max_length > kMaxOptBytes) return RecordError::kBadLength;
      args = a;
      return RecordError::kOk;
    }
    case Op::kGetInfo: {
      const uint16_t what = Load<uint16_t>(p);
      used = 2;
      if (what >= kInfoKindCount) return RecordError::kBadValue;
      args = GetInfoArgs{static_cast<InfoKind>(what)};
      return RecordError::kOk;
    }
    case Op::kRelease:
      args = ReleaseArgs{};
      return RecordError::kOk;
    case Op::kAdopt: {
      AdoptArgs a;
      a.owner_token = Load<uint64_t>(p);
      a.owner_handle = Load<uint32_t>(p + 8);
      used = 12;
      if (!ValidHandle(a.owner_handle)) return RecordError::kBadHandle;
      args = a;
      return RecordError::kOk;
    }
  }
  return RecordError::kUnknownOp;
}

// Writes one event's arguments into aux, flags and the payload; returns the payload bytes they
// use.
struct EventPayloadEncoder {
  uint32_t* aux;
  uint16_t* flags;
  uint8_t* p;
  size_t operator()(const DoneArgs& a) const {
    *aux = static_cast<uint16_t>(a.op);
    return 0;
  }
  size_t operator()(const ConnectedArgs& a) const {
    EncodeSockAddr(a.local, p);
    return kSockAddrBytes;
  }
  size_t operator()(const AcceptedArgs& a) const {
    *aux = a.listener;
    EncodeSockAddr(a.peer, p);
    return kSockAddrBytes;
  }
  size_t operator()(const ReadableArgs&) const { return 0; }
  size_t operator()(const WritableArgs&) const { return 0; }
  size_t operator()(const PeerClosedArgs&) const { return 0; }
  size_t operator()(const ClosedArgs&) const { return 0; }
  size_t operator()(const ErrorArgs&) const { return 0; }
  size_t operator()(const OptValueArgs& a) const {
    *aux = a.length;
    *flags = a.more ? kOptValueMore : 0;
    std::memcpy(p, a.value.data(), a.value.size());
    return kMaxOptBytes;
  }
  size_t operator()(const InfoArgs& a) const {
    *aux = static_cast<uint16_t>(a.what);
    if (a.what == InfoKind::kConnection) {
      EncodeConnectionInfo(a.connection, p);
      return sizeof(EventRecord::payload);
    }
    EncodeSockAddr(a.address, p);
    return kSockAddrBytes;
  }
};

// The bytes one record of an option value carries: all of a single-record value; for a longer
// value kMaxOptBytes in every record but the last, the rest in the last.
uint32_t OptPieceBytes(uint32_t length, bool more) {
  if (more) return kMaxOptBytes;
  if (length <= kMaxOptBytes) return length;
  return (length - 1) % kMaxOptBytes + 1;
}

RecordError DecodeEventPayload(EventKind kind, uint32_t aux, bool more, const uint8_t* p,
                               EventArgs& args, size_t& used) {
  used = 0;
  // Kinds that define no aux leave it zero.
  const bool uses_aux = kind == EventKind::kDone || kind == EventKind::kAccepted ||
                        kind == EventKind::kOptValue || kind == EventKind::kInfo;
  if (!uses_aux && aux != 0) return RecordError::kReservedBytes;
  switch (kind) {
    case EventKind::kDone:
      if (aux >= kOpCount) return RecordError::kBadValue;
      args = DoneArgs{static_cast<Op>(aux)};
      return RecordError::kOk;
    case EventKind::kConnected: {
      ConnectedArgs a;
      used = kSockAddrBytes;
      if (RecordError e = DecodeSockAddr(p, a.local); e != RecordError::kOk) return e;
      args = a;
      return RecordError::kOk;
    }
    case EventKind::kAccepted: {
      AcceptedArgs a;
      a.listener = aux;
      used = kSockAddrBytes;
      if (!ValidHandle(aux)) return RecordError::kBadHandle;
      if (RecordError e = DecodeSockAddr(p, a.peer); e != RecordError::kOk) return e;
      args = a;
      return RecordError::kOk;
    }
    case EventKind::kReadable:
      args = ReadableArgs{};
      return RecordError::kOk;
    case EventKind::kWritable:
      args = WritableArgs{};
      return RecordError::kOk;
    case EventKind::kPeerClosed:
      args = PeerClosedArgs{};
      return RecordError::kOk;
    case EventKind::kClosed:
      args = ClosedArgs{};
      return RecordError::kOk;
    case EventKind::kError:
      args = ErrorArgs{};
      return RecordError::kOk;
    case EventKind::kOptValue: {
      OptValueArgs a;
      a.length = aux;
      a.more = more;
      used = kMaxOptBytes;
      // A value that fits one record never spans several.
      if (aux > kMaxOptValueBytes || (more && aux <= kMaxOptBytes)) return RecordError::kBadLength;
      if (RecordError e = DecodeOptValue(p, OptPieceBytes(aux, more), a.value);
          e != RecordError::kOk) {
        return e;
      }
      args = a;
      return RecordError::kOk;
    }
    case EventKind::kInfo: {
      if (aux >= kInfoKindCount) return RecordError::kBadValue;
      InfoArgs a;
      a.what = static_cast<InfoKind>(aux);
      if (a.what == InfoKind::kConnection) {
        used = sizeof(EventRecord::payload);
        if (RecordError e = DecodeConnectionInfo(p, a.connection); e != RecordError::kOk) {
          return e;
        }
      } else {
        used = kSockAddrBytes;
        if (RecordError e = DecodeSockAddr(p, a.address); e != RecordError::kOk) return e;
      }
      args = a;
      return RecordError::kOk;
    }
  }
  return RecordError::kUnknownOp;
}

}  // namespace

std::string Geometry::Validate() const {
  if (slots == 0 || slots > kMaxSlots) {
    return "slots " + std::to_string(slots) + " is not in 1.." + std::to_string(kMaxSlots);
  }
  for (const std::string& error :
       {CheckPowerOfTwo("tx_fifo_bytes", tx_fifo_bytes, kMinFifoBytes, kMaxFifoBytes),
        CheckPowerOfTwo("rx_fifo_bytes", rx_fifo_bytes, kMinFifoBytes, kMaxFifoBytes),
        CheckPowerOfTwo("command_entries", command_entries, kMinRingEntries, kMaxRingEntries),
        CheckPowerOfTwo("event_entries", event_entries, kMinRingEntries, kMaxRingEntries)}) {
    if (!error.empty()) return error;
  }
  // Every field is bounded now, so the layout's sums fit in 64 bits.
  const uint64_t total = ComputeLayout(*this).region_bytes;
  if (total > kMaxRegionBytes) {
    return "the region would take " + std::to_string(total) + " bytes, more than " +
           std::to_string(kMaxRegionBytes);
  }
  return "";
}

Layout ComputeLayout(const Geometry& geometry) {
  Layout l;
  l.geometry = geometry;
  uint64_t at = AlignUp(sizeof(RegionHeader), kCacheLineBytes);
  l.command_ring_offset = at;
  at += sizeof(RingIndices);
  l.command_records_offset = at;
  at += uint64_t{geometry.command_entries} * sizeof(CommandRecord);
  l.event_ring_offset = at;
  at += sizeof(RingIndices);
  l.event_records_offset = at;
  at += uint64_t{geometry.event_entries} * sizeof(EventRecord);
  l.slots_offset = at;
  at += uint64_t{geometry.slots} * sizeof(SlotShared);
  l.data_offset = AlignUp(at, kDataAlignBytes);
  l.slot_data_bytes = uint64_t{geometry.tx_fifo_bytes} + geometry.rx_fifo_bytes;
  l.region_bytes =
      AlignUp(l.data_offset + uint64_t{geometry.slots} * l.slot_data_bytes, kDataAlignBytes);
  return l;
}

std::optional<SockAddr> FromSockaddr(const sockaddr* addr, socklen_t len) {
  if (addr == nullptr || len < static_cast<socklen_t>(sizeof(sa_family_t))) return std::nullopt;
  SockAddr out;
  if (addr->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    sockaddr_in in;
    std::memcpy(&in, addr, sizeof(in));
    out.family = AF_INET;
    out.port = ntohs(in.sin_port);
    std::memcpy(out.address.data(), &in.sin_addr, 4);
    return out;
  }
  if (addr->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    sockaddr_in6 in6;
    std::memcpy(&in6, addr, sizeof(in6));
    out.family = AF_INET6;
    out.port = ntohs(in6.sin6_port);
    out.scope_id = in6.sin6_scope_id;
    std::memcpy(out.address.data(), &in6.sin6_addr, 16);
    return out;
  }
  return std::nullopt;
}

socklen_t ToSockaddr(const SockAddr& addr, sockaddr_storage* out) {
  std::memset(out, 0, sizeof(*out));
  if (addr.family == AF_INET) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(addr.port);
    std::memcpy(&in.sin_addr, addr.address.data(), 4);
    std::memcpy(out, &in, sizeof(in));
    return sizeof(in);
  }
  if (addr.family == AF_INET6) {
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(addr.port);
    in6.sin6_scope_id = addr.scope_id;
    std::memcpy(&in6.sin6_addr, addr.address.data(), 16);
    std::memcpy(out, &in6, sizeof(in6));
    return sizeof(in6);
  }
  return 0;
}

const char* RecordErrorName(RecordError error) {
  switch (error) {
    case RecordError::kOk:
      return "ok";
    case RecordError::kUnknownOp:
      return "unknown op or kind";
    case RecordError::kReservedFlags:
      return "reserved flags set";
    case RecordError::kBadHandle:
      return "handle index out of range";
    case RecordError::kBadFamily:
      return "address family not AF_INET/AF_INET6";
    case RecordError::kBadAddress:
      return "IPv4 address with padding or scope id";
    case RecordError::kBadProtocol:
      return "protocol not TCP/MPTCP";
    case RecordError::kBadValue:
      return "value out of range";
    case RecordError::kBadLength:
      return "option length too long";
    case RecordError::kBadError:
      return "error not 0 or an errno value";
    case RecordError::kReservedBytes:
      return "reserved bytes set";
  }
  return "?";
}

CommandRecord EncodeCommand(const Command& command) {
  CommandRecord r{};
  r.op = static_cast<uint16_t>(command.op());
  r.handle = command.handle;
  r.cookie = command.cookie;
  std::visit(CommandPayloadEncoder{r.payload}, command.args);
  return r;
}

RecordError DecodeCommand(const CommandRecord& record, Command& out) {
  if (record.op >= kOpCount) return RecordError::kUnknownOp;
  if (record.flags != 0) return RecordError::kReservedFlags;
  if (!ValidHandle(record.handle)) return RecordError::kBadHandle;
  out.handle = record.handle;
  out.cookie = record.cookie;
  size_t used = 0;
  RecordError e = DecodeCommandPayload(static_cast<Op>(record.op), record.payload, out.args, used);
  if (e != RecordError::kOk) return e;
  if (!AllZero(record.payload + used, sizeof(record.payload) - used)) {
    return RecordError::kReservedBytes;
  }
  return RecordError::kOk;
}

EventRecord EncodeEvent(const Event& event) {
  EventRecord r{};
  r.kind = static_cast<uint16_t>(event.kind());
  r.handle = event.handle;
  r.cookie = event.cookie;
  r.error = event.error;
  std::visit(EventPayloadEncoder{&r.aux, &r.flags, r.payload}, event.args);
  return r;
}

RecordError DecodeEvent(const EventRecord& record, Event& out) {
  if (record.kind >= kEventKindCount) return RecordError::kUnknownOp;
  const uint16_t allowed_flags =
      record.kind == static_cast<uint16_t>(EventKind::kOptValue) ? kOptValueMore : 0;
  if ((record.flags & ~allowed_flags) != 0) return RecordError::kReservedFlags;
  if (!ValidHandle(record.handle)) return RecordError::kBadHandle;
  if (record.error < 0 || record.error > kMaxErrno) return RecordError::kBadError;
  out.handle = record.handle;
  out.cookie = record.cookie;
  out.error = record.error;
  size_t used = 0;
  RecordError e =
      DecodeEventPayload(static_cast<EventKind>(record.kind), record.aux,
                         (record.flags & kOptValueMore) != 0, record.payload, out.args, used);
  if (e != RecordError::kOk) return e;
  if (!AllZero(record.payload + used, sizeof(record.payload) - used)) {
    return RecordError::kReservedBytes;
  }
  return RecordError::kOk;
}

}  // namespace braid::channel
