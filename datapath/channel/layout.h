// The ABI of an app channel region (architecture.md §6): one memfd per app process, created by
// the service and mapped by both. This header is the whole contract between the service and the
// SDK, so it depends on the C++ standard library and Linux headers only.
//
// Region, in order, every section 64-byte aligned and the data section page aligned:
//   RegionHeader | command RingIndices | CommandRecord[command_entries]
//                | event RingIndices   | EventRecord[event_entries]
//                | SlotShared[slots]   | per slot: TX bytes, then RX bytes
//
// The service computes this layout from its own Geometry and never reads geometry or offsets
// back from the header: they are there for the app to check. Records are host byte order (both
// sides run on one machine). Anything a record carries is decoded from a private copy and every
// field is checked: unknown values and non-zero reserved bits or bytes are rejected, so a record
// that decodes re-encodes to exactly the same 64 bytes.
//
// Changing anything here that the other side can observe means bumping kLayoutVersion.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "datapath/channel/byte_fifo.h"
#include "datapath/channel/shm.h"
#include "datapath/channel/spsc_ring.h"

namespace braid::channel {

// "BRAIDCH\0" read as a little-endian u64.
inline constexpr uint64_t kMagic = 0x0048434449415242ull;
inline constexpr uint32_t kLayoutVersion = 2;

// The limits Geometry::Validate enforces.
inline constexpr uint32_t kMaxSlots = 65536;
inline constexpr uint32_t kMinFifoBytes = 4096;
inline constexpr uint32_t kMaxFifoBytes = 16u << 20;
inline constexpr uint32_t kMinRingEntries = 16;
inline constexpr uint32_t kMaxRingEntries = 1u << 20;
inline constexpr uint64_t kMaxRegionBytes = 4ull << 30;
// The data section and the region's total size are multiples of this.
inline constexpr uint64_t kDataAlignBytes = 4096;

// The shared state of one socket slot. The coalescing flags say "a command (tx_pending) or an
// event (rx_pending) announcing new bytes is already in flight": the writer publishes bytes,
// then sends the announcement only if it swaps the flag 0 -> 1; the other side clears the flag,
// issues a full fence, then drains the FIFO. Commit ends with a full fence, so either the
// drain sees the new bytes or the swap sees the cleared flag: no bytes are left unannounced.
struct SlotShared {
  FifoIndices tx;  // app writes, service reads
  FifoIndices rx;  // service writes, app reads
  alignas(kCacheLineBytes) std::atomic<uint32_t> tx_pending;
  std::atomic<uint32_t> rx_pending;
};
static_assert(offsetof(SlotShared, rx) == 2 * kCacheLineBytes);
static_assert(offsetof(SlotShared, tx_pending) == 4 * kCacheLineBytes);
static_assert(sizeof(SlotShared) == 5 * kCacheLineBytes);

// The sizes of one region, chosen by the service.
struct Geometry {
  uint32_t slots = 0;            // sockets the app can have open at once
  uint32_t tx_fifo_bytes = 0;    // per socket, app -> service; a power of two
  uint32_t rx_fifo_bytes = 0;    // per socket, service -> app; a power of two
  uint32_t command_entries = 0;  // command ring records; a power of two
  uint32_t event_entries = 0;    // event ring records; a power of two

  // Empty when usable; otherwise what is wrong, naming the field and the limit.
  std::string Validate() const;
  bool operator==(const Geometry&) const = default;
};
static_assert(sizeof(Geometry) == 20);

// Where everything is, in bytes from the start of the region. Only meaningful for a Geometry
// that validates.
struct Layout {
  Geometry geometry;
  uint64_t command_ring_offset = 0;     // RingIndices
  uint64_t command_records_offset = 0;  // CommandRecord[command_entries]
  uint64_t event_ring_offset = 0;       // RingIndices
  uint64_t event_records_offset = 0;    // EventRecord[event_entries]
  uint64_t slots_offset = 0;            // SlotShared[slots]
  uint64_t data_offset = 0;             // per slot: tx_fifo_bytes, then rx_fifo_bytes
  uint64_t slot_data_bytes = 0;         // tx_fifo_bytes + rx_fifo_bytes
  uint64_t region_bytes = 0;            // the memfd's size

  uint64_t SlotOffset(uint32_t slot) const { return slots_offset + slot * sizeof(SlotShared); }
  uint64_t TxDataOffset(uint32_t slot) const { return data_offset + slot * slot_data_bytes; }
  uint64_t RxDataOffset(uint32_t slot) const { return TxDataOffset(slot) + geometry.tx_fifo_bytes; }
  bool operator==(const Layout&) const = default;
};

// `geometry` must Validate(); the sums cannot overflow then.
Layout ComputeLayout(const Geometry& geometry);

// RegionHeader::service_state. An app seeing anything but kRunning stops using the region.
enum class ServiceState : uint32_t {
  kStarting = 0,  // the header is not written yet
  kRunning = 1,
  kStopping = 2,  // no new commands are taken; sockets are being closed
  kGone = 3,      // the service has let go of the region
};

// The start of the region. The fields up to `slot_data_bytes` are written once by the service
// before the region is handed over and never change; the atomics below are live.
struct RegionHeader {
  uint64_t magic;
  uint32_t version;
  uint32_t header_bytes;  // sizeof(RegionHeader)
  uint64_t region_bytes;
  // Chosen by the service when it starts: an app that reconnects and finds another epoch knows
  // the service restarted and its old sockets are gone.
  uint64_t service_epoch;
  Geometry geometry;
  uint32_t reserved;
  uint64_t command_ring_offset;
  uint64_t command_records_offset;
  uint64_t event_ring_offset;
  uint64_t event_records_offset;
  uint64_t slots_offset;
  uint64_t data_offset;
  uint64_t slot_data_bytes;
  // Random, chosen by the service for this region: proves in kAdopt that the adopting process
  // inherited the region (a fork child).
  uint64_t adopt_token;
  alignas(kCacheLineBytes) std::atomic<uint32_t> service_state;  // a ServiceState
  // Sleep flags (doorbell.h): set by a side about to block on its doorbell, read by the other
  // side after it publishes. Each on its own line: each is polled by the other process.
  alignas(kCacheLineBytes) std::atomic<uint32_t> app_sleeping;
  alignas(kCacheLineBytes) std::atomic<uint32_t> service_sleeping;
};
static_assert(offsetof(RegionHeader, version) == 8);
static_assert(offsetof(RegionHeader, region_bytes) == 16);
static_assert(offsetof(RegionHeader, service_epoch) == 24);
static_assert(offsetof(RegionHeader, geometry) == 32);
static_assert(offsetof(RegionHeader, command_ring_offset) == 56);
static_assert(offsetof(RegionHeader, slot_data_bytes) == 104);
static_assert(offsetof(RegionHeader, adopt_token) == 112);
static_assert(offsetof(RegionHeader, service_state) == 128);
static_assert(offsetof(RegionHeader, app_sleeping) == 192);
static_assert(offsetof(RegionHeader, service_sleeping) == 256);
static_assert(sizeof(RegionHeader) == 320);

// ---------------------------------------------------------------------------------------------
// Handles: a slot index and a generation, so that a handle from a closed socket never names the
// socket that reuses its slot. The app picks free slots itself (kOpen, kAcceptInto); the service
// checks them against its own table.

inline constexpr uint32_t kHandleIndexBits = 20;
inline constexpr uint32_t kHandleIndexMask = (1u << kHandleIndexBits) - 1;
inline constexpr uint32_t kMaxHandleGeneration = (1u << (32 - kHandleIndexBits)) - 1;
// Never a valid handle: its index is above every possible slot.
inline constexpr uint32_t kNoHandle = 0xffffffffu;

constexpr uint32_t MakeHandle(uint32_t index, uint32_t generation) {
  return (index & kHandleIndexMask) | (generation << kHandleIndexBits);
}
constexpr uint32_t HandleIndex(uint32_t handle) { return handle & kHandleIndexMask; }
constexpr uint32_t HandleGeneration(uint32_t handle) { return handle >> kHandleIndexBits; }

// ---------------------------------------------------------------------------------------------
// Records.

enum class Op : uint16_t {
  kOpen,        // handle: the new socket's slot (picked by the app); OpenArgs
  kBind,        // BindArgs
  kListen,      // ListenArgs
  kConnect,     // ConnectArgs
  kAcceptInto,  // handle: the listener; AcceptIntoArgs names the slot for the new connection
  kSend,        // new bytes in the TX FIFO (sent when tx_pending went 0 -> 1)
  kRxSpace,     // the app freed RX FIFO space (the receive window may open)
  kShutdown,    // ShutdownArgs
  kClose,       // graceful close; the slot is free again after kClosed
  kAbort,       // close with RST (MP_FASTCLOSE for MPTCP)
  kSetOpt,      // SetOptArgs
  kGetOpt,      // GetOptArgs; answered by kOptValue
  kGetInfo,     // GetInfoArgs; answered by kInfo
  // Close, unless a fork child adopts the connection (kAdopt): answered by kClosed once the
  // slot is free, whichever happens.
  kRelease,
  // handle: the adopting app's new slot; AdoptArgs names another region's connection that its
  // owner released (or will): it moves here. Answered by kDone.
  kAdopt,
};
inline constexpr uint16_t kOpCount = 15;

enum class EventKind : uint16_t {
  kDone,        // a command completed (error 0) or failed (error = errno); DoneArgs
  kConnected,   // ConnectedArgs
  kAccepted,    // handle: the new connection's slot; AcceptedArgs
  kReadable,    // new bytes in the RX FIFO (sent when rx_pending went 0 -> 1)
  kWritable,    // TX FIFO space freed
  kPeerClosed,  // the peer sent FIN (DATA_FIN for MPTCP): no more RX bytes after these
  kClosed,      // the service let go of the slot; error says why (0: clean)
  kError,       // an asynchronous error (error = errno), e.g. ECONNRESET, ETIMEDOUT
  kOptValue,    // answer to kGetOpt; OptValueArgs
  kInfo,        // answer to kGetInfo; InfoArgs
};
inline constexpr uint16_t kEventKindCount = 10;

struct CommandRecord {
  uint16_t op;  // an Op
  uint16_t flags;
  uint32_t handle;
  uint64_t cookie;  // chosen by the app, echoed by the events that answer the command
  uint8_t payload[48];
};
static_assert(sizeof(CommandRecord) == 64);
static_assert(offsetof(CommandRecord, payload) == 16);

struct EventRecord {
  uint16_t kind;  // an EventKind
  uint16_t flags;
  uint32_t handle;
  uint64_t cookie;  // the command's cookie for answers; 0 for unsolicited events
  int32_t error;    // 0 or a positive errno value
  uint32_t aux;
  uint8_t payload[40];
};
static_assert(sizeof(EventRecord) == 64);
static_assert(offsetof(EventRecord, payload) == 24);

// An IPv4 or IPv6 socket address, 24 bytes in a payload: family u16, port u16, scope_id u32,
// address[16]. IPv4 uses the first 4 address bytes; the rest and scope_id are zero.
struct SockAddr {
  uint16_t family = 0;  // AF_INET or AF_INET6
  uint16_t port = 0;    // host byte order
  uint32_t scope_id = 0;
  std::array<uint8_t, 16> address{};
  bool operator==(const SockAddr&) const = default;
};
inline constexpr size_t kSockAddrBytes = 24;

// Conversions from and to the socket API's sockaddr_in / sockaddr_in6.
std::optional<SockAddr> FromSockaddr(const sockaddr* addr, socklen_t len);
socklen_t ToSockaddr(const SockAddr& addr, sockaddr_storage* out);

// Socket protocols, numbered as IPPROTO_*.
enum class Protocol : uint16_t { kTcp = IPPROTO_TCP, kMptcp = 262 };

// What kGetInfo asks for and kInfo answers.
enum class InfoKind : uint16_t { kLocalAddress, kPeerAddress, kConnection };
inline constexpr uint16_t kInfoKindCount = 3;

// A socket option value travels in the record: setsockopt/getsockopt values up to this size.
inline constexpr uint32_t kMaxOptBytes = 36;
// A getsockopt value larger than kMaxOptBytes (TCP_INFO, MPTCP_INFO, ...) comes as several
// kOptValue records; this bounds its total length.
inline constexpr uint32_t kMaxOptValueBytes = 65536;
// EventRecord::flags of kOptValue: more records of the same value follow. The only flag defined.
inline constexpr uint16_t kOptValueMore = 1;

// One argument struct per op, in Op order: Command::args' index is the op.
struct OpenArgs {
  uint16_t family = AF_INET;  // AF_INET or AF_INET6
  Protocol protocol = Protocol::kMptcp;
  bool operator==(const OpenArgs&) const = default;
};
struct BindArgs {
  SockAddr address;
  bool operator==(const BindArgs&) const = default;
};
struct ListenArgs {
  uint32_t backlog = 0;
  bool operator==(const ListenArgs&) const = default;
};
struct ConnectArgs {
  SockAddr address;
  bool operator==(const ConnectArgs&) const = default;
};
struct AcceptIntoArgs {
  uint32_t new_handle = 0;  // the slot (and generation) the accepted connection goes to
  bool operator==(const AcceptIntoArgs&) const = default;
};
struct SendArgs {
  bool operator==(const SendArgs&) const = default;
};
struct RxSpaceArgs {
  bool operator==(const RxSpaceArgs&) const = default;
};
struct ShutdownArgs {
  uint32_t how = SHUT_WR;  // SHUT_RD, SHUT_WR or SHUT_RDWR
  bool operator==(const ShutdownArgs&) const = default;
};
struct CloseArgs {
  bool operator==(const CloseArgs&) const = default;
};
struct AbortArgs {
  bool operator==(const AbortArgs&) const = default;
};
struct SetOptArgs {
  int32_t level = 0;
  int32_t name = 0;
  uint32_t length = 0;                        // at most kMaxOptBytes
  std::array<uint8_t, kMaxOptBytes> value{};  // bytes past `length` are zero
  bool operator==(const SetOptArgs&) const = default;
};
struct GetOptArgs {
  int32_t level = 0;
  int32_t name = 0;
  uint32_t max_length = 0;  // at most kMaxOptBytes
  bool operator==(const GetOptArgs&) const = default;
};
struct GetInfoArgs {
  InfoKind what = InfoKind::kLocalAddress;
  bool operator==(const GetInfoArgs&) const = default;
};
struct ReleaseArgs {
  bool operator==(const ReleaseArgs&) const = default;
};
struct AdoptArgs {
  // The owner region's RegionHeader::adopt_token: only processes that mapped that region (the
  // owner and its fork children) know it.
  uint64_t owner_token = 0;
  uint32_t owner_handle = 0;  // the connection's handle in the owner's region
  bool operator==(const AdoptArgs&) const = default;
};

using CommandArgs = std::variant<OpenArgs, BindArgs, ListenArgs, ConnectArgs, AcceptIntoArgs,
                                 SendArgs, RxSpaceArgs, ShutdownArgs, CloseArgs, AbortArgs,
                                 SetOptArgs, GetOptArgs, GetInfoArgs, ReleaseArgs, AdoptArgs>;
static_assert(std::variant_size_v<CommandArgs> == kOpCount);

struct Command {
  uint32_t handle = 0;
  uint64_t cookie = 0;
  CommandArgs args;
  Op op() const { return static_cast<Op>(args.index()); }
  bool operator==(const Command&) const = default;
};

// A connection's state in brief (kInfo with kConnection), 40 bytes in the payload.
struct ConnectionInfo {
  uint8_t state = 0;  // TCP_ESTABLISHED (1) .. TCP_CLOSING (11), as Linux numbers them
  uint8_t mptcp = 0;  // 1 while MPTCP is in use, 0 for TCP or after a fallback
  uint16_t subflows = 0;
  uint32_t rtt_us = 0;
  uint32_t cwnd_bytes = 0;
  uint32_t mss = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t bytes_retransmitted = 0;
  bool operator==(const ConnectionInfo&) const = default;
};

// One argument struct per event kind, in EventKind order: Event::args' index is the kind.
struct DoneArgs {
  Op op = Op::kOpen;  // the command that completed (carried in aux)
  bool operator==(const DoneArgs&) const = default;
};
struct ConnectedArgs {
  SockAddr local;  // the address the connection got
  bool operator==(const ConnectedArgs&) const = default;
};
struct AcceptedArgs {
  uint32_t listener = 0;  // the listener's handle (carried in aux)
  SockAddr peer;
  bool operator==(const AcceptedArgs&) const = default;
};
struct ReadableArgs {
  bool operator==(const ReadableArgs&) const = default;
};
struct WritableArgs {
  bool operator==(const WritableArgs&) const = default;
};
struct PeerClosedArgs {
  bool operator==(const PeerClosedArgs&) const = default;
};
struct ClosedArgs {
  bool operator==(const ClosedArgs&) const = default;
};
struct ErrorArgs {
  bool operator==(const ErrorArgs&) const = default;
};
// One record of an option value. A value of up to kMaxOptBytes is one record: `length` bytes,
// zeros after them. A longer one (up to kMaxOptValueBytes) is a run of records with the same
// cookie, each with `length` = the total length: every record but the last carries the next
// kMaxOptBytes bytes and has `more` set (flags bit 0, kOptValueMore), the last carries the rest
// followed by zeros.
struct OptValueArgs {
  uint32_t length = 0;  // the whole value's length (carried in aux)
  bool more = false;    // more records of this value follow (carried in flags)
  std::array<uint8_t, kMaxOptBytes> value{};  // this record's piece; zeros after it
  bool operator==(const OptValueArgs&) const = default;
};
struct InfoArgs {
  InfoKind what = InfoKind::kLocalAddress;  // carried in aux
  SockAddr address;                         // for kLocalAddress and kPeerAddress, else zero
  ConnectionInfo connection;                // for kConnection, else zero
  bool operator==(const InfoArgs&) const = default;
};

using EventArgs = std::variant<DoneArgs, ConnectedArgs, AcceptedArgs, ReadableArgs, WritableArgs,
                               PeerClosedArgs, ClosedArgs, ErrorArgs, OptValueArgs, InfoArgs>;
static_assert(std::variant_size_v<EventArgs> == kEventKindCount);

inline constexpr int32_t kMaxErrno = 4095;

struct Event {
  uint32_t handle = 0;
  uint64_t cookie = 0;
  int32_t error = 0;  // 0 or an errno value in 1..kMaxErrno
  EventArgs args;
  EventKind kind() const { return static_cast<EventKind>(args.index()); }
  bool operator==(const Event&) const = default;
};

// Why a record did not decode.
enum class RecordError : uint8_t {
  kOk,
  kUnknownOp,      // command op or event kind out of range
  kReservedFlags,  // flags other than kOptValueMore on kOptValue (no other flag is defined)
  kBadHandle,      // handle index beyond kMaxSlots
  kBadFamily,      // not AF_INET / AF_INET6
  kBadAddress,     // IPv4 with non-zero padding or scope id
  kBadProtocol,    // not TCP / MPTCP
  kBadValue,       // an enumerated field out of range (shutdown how, info kind, op, state)
  kBadLength,      // an option length beyond kMaxOptBytes
  kBadError,       // error outside 0..kMaxErrno
  kReservedBytes,  // non-zero bytes where nothing is defined
};
const char* RecordErrorName(RecordError error);

// Encoding is total and faithful: it writes what it is given, and DecodeX rejects what is out of
// range. Unused payload bytes are zero.
CommandRecord EncodeCommand(const Command& command);
EventRecord EncodeEvent(const Event& event);

// Decode a private copy of a record (never the shared slot itself: RingConsumer copies out).
// On anything but kOk, `out` is unspecified.
RecordError DecodeCommand(const CommandRecord& record, Command& out);
RecordError DecodeEvent(const EventRecord& record, Event& out);

}  // namespace braid::channel
