// Netlink framing (RFC 3549; include/uapi/linux/netlink.h): building a request message with its
// attributes, splitting a datagram into messages and a payload into attributes, and reading the
// kernel's acknowledgement (NLMSG_ERROR, with extended ACK attributes when the kernel adds them).
//
// Netlink fields are in host byte order; messages and attributes are 4-byte aligned. Nothing here
// overlays a struct on the bytes: every field is loaded and stored by offset. Readers check every
// length against what is left and return DataLoss on a truncated or impossible one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace braid::sriov {

inline constexpr size_t kNetlinkHeaderLen = 16;   // struct nlmsghdr
inline constexpr size_t kAttributeHeaderLen = 4;  // struct nlattr
inline constexpr size_t NetlinkAlign(size_t len) { return (len + 3) & ~size_t{3}; }

// Host-order loads and stores at any alignment.
uint16_t LoadHost16(const uint8_t* p);
uint32_t LoadHost32(const uint8_t* p);
void StoreHost16(uint8_t* p, uint16_t v);
void StoreHost32(uint8_t* p, uint32_t v);

// One request message: the header, a fixed family header (e.g. struct ifinfomsg) and attributes,
// nested ones included. The sequence number is left 0 for the socket to set. An attribute,
// nested or not, has a 16-bit length: callers keep each below 64 KiB.
class NetlinkMessageBuilder {
 public:
  NetlinkMessageBuilder(uint16_t type, uint16_t flags);

  // The family header, appended as is (the caller lays out its fields), padded to 4 bytes.
  void AppendFamilyHeader(std::span<const uint8_t> bytes);
  void PutAttribute(uint16_t type, std::span<const uint8_t> value);
  void PutU32(uint16_t type, uint32_t value);
  // A NUL-terminated string, as the kernel's NLA_STRING/NLA_NUL_STRING policies read it.
  void PutString(uint16_t type, std::string_view value);
  // Starts a nested attribute; EndNested(token) sets its length once its contents are in.
  // The NLA_F_NESTED flag is not set, as iproute2 does not for IFLA_VFINFO_LIST: the kernel
  // parses these nests leniently and has always been sent them without it.
  size_t BeginNested(uint16_t type);
  void EndNested(size_t token);

  // The message with its total length set.
  std::vector<uint8_t> Finish() &&;

 private:
  std::vector<uint8_t> bytes_;
};

// A view of one message in a datagram; `payload` follows the 16-byte header and spans
// nlmsg_len - 16 bytes (without the padding to the next message).
struct NetlinkMessage {
  uint16_t type = 0;
  uint16_t flags = 0;
  uint32_t seq = 0;
  uint32_t pid = 0;
  std::span<const uint8_t> payload;
};

// Every message of a datagram. DataLoss when a header is cut or a length is impossible.
absl::StatusOr<std::vector<NetlinkMessage>> SplitMessages(std::span<const uint8_t> datagram);
// Exactly one message (e.g. one kept from Transact's answer).
absl::StatusOr<NetlinkMessage> ParseMessage(std::span<const uint8_t> bytes);

// A view of one attribute; `type` has the NLA_F_NESTED and NLA_F_NET_BYTEORDER flags masked off.
struct NetlinkAttribute {
  uint16_t type = 0;
  std::span<const uint8_t> value;
};

// Every attribute in `bytes` (a payload after its fixed header, or a nested attribute's value).
absl::StatusOr<std::vector<NetlinkAttribute>> SplitAttributes(std::span<const uint8_t> bytes);

// The contents of an NLMSG_ERROR message: `error` is 0 for an ACK, else a negative errno.
// With NETLINK_EXT_ACK the kernel may add why (NLMSGERR_ATTR_MSG) and the offset of the
// attribute it refused in the request (NLMSGERR_ATTR_OFFS).
struct NetlinkAck {
  int32_t error = 0;
  uint32_t request_seq = 0;
  std::string extack_message;
  std::optional<uint32_t> extack_offset;
};

absl::StatusOr<NetlinkAck> ParseAck(const NetlinkMessage& message);

}  // namespace braid::sriov
