#include "sriov/netlink.h"

#include <linux/netlink.h>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <utility>

namespace braid::sriov {
namespace {

// Offsets in struct nlmsghdr and struct nlattr.
constexpr size_t kLenOffset = 0;
constexpr size_t kTypeOffset = 4;
constexpr size_t kFlagsOffset = 6;
constexpr size_t kSeqOffset = 8;
constexpr size_t kPidOffset = 12;

constexpr size_t kNlmsgerrLen = 4 + kNetlinkHeaderLen;  // struct nlmsgerr: error + request header

static_assert(kNetlinkHeaderLen == NLMSG_HDRLEN);
static_assert(kAttributeHeaderLen == NLA_HDRLEN);

std::string Bytes(size_t n) { return std::to_string(n) + (n == 1 ? " byte" : " bytes"); }

}  // namespace

uint16_t LoadHost16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

uint32_t LoadHost32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

void StoreHost16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, sizeof(v)); }
void StoreHost32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, sizeof(v)); }

NetlinkMessageBuilder::NetlinkMessageBuilder(uint16_t type, uint16_t flags)
    : bytes_(kNetlinkHeaderLen, 0) {
  StoreHost16(bytes_.data() + kTypeOffset, type);
  StoreHost16(bytes_.data() + kFlagsOffset, flags);
}

void NetlinkMessageBuilder::AppendFamilyHeader(std::span<const uint8_t> bytes) {
  bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
  bytes_.resize(NetlinkAlign(bytes_.size()), 0);
}

void NetlinkMessageBuilder::PutAttribute(uint16_t type, std::span<const uint8_t> value) {
  assert(kAttributeHeaderLen + value.size() <= UINT16_MAX);
  const size_t at = bytes_.size();
  bytes_.resize(at + kAttributeHeaderLen, 0);
  StoreHost16(bytes_.data() + at, static_cast<uint16_t>(kAttributeHeaderLen + value.size()));
  StoreHost16(bytes_.data() + at + 2, type);
  bytes_.insert(bytes_.end(), value.begin(), value.end());
  bytes_.resize(NetlinkAlign(bytes_.size()), 0);
}

void NetlinkMessageBuilder::PutU32(uint16_t type, uint32_t value) {
  uint8_t bytes[4];
  StoreHost32(bytes, value);
  PutAttribute(type, bytes);
}

void NetlinkMessageBuilder::PutString(uint16_t type, std::string_view value) {
  std::vector<uint8_t> bytes(value.begin(), value.end());
  bytes.push_back(0);
  PutAttribute(type, bytes);
}

size_t NetlinkMessageBuilder::BeginNested(uint16_t type) {
  const size_t at = bytes_.size();
  bytes_.resize(at + kAttributeHeaderLen, 0);
  StoreHost16(bytes_.data() + at + 2, type);
  return at;
}

void NetlinkMessageBuilder::EndNested(size_t token) {
  assert(bytes_.size() - token <= UINT16_MAX);
  StoreHost16(bytes_.data() + token, static_cast<uint16_t>(bytes_.size() - token));
}

std::vector<uint8_t> NetlinkMessageBuilder::Finish() && {
  StoreHost32(bytes_.data() + kLenOffset, static_cast<uint32_t>(bytes_.size()));
  return std::move(bytes_);
}

absl::StatusOr<std::vector<NetlinkMessage>> SplitMessages(std::span<const uint8_t> datagram) {
  std::vector<NetlinkMessage> messages;
  size_t at = 0;
  while (at < datagram.size()) {
    const size_t left = datagram.size() - at;
    if (left < kNetlinkHeaderLen) {
      return absl::DataLossError("netlink datagram: " + Bytes(left) + " after message " +
                                 std::to_string(messages.size()) + ", less than a header");
    }
    const uint8_t* p = datagram.data() + at;
    const uint32_t len = LoadHost32(p + kLenOffset);
    if (len < kNetlinkHeaderLen || len > left) {
      return absl::DataLossError("netlink datagram: message " + std::to_string(messages.size()) +
                                 " claims " + Bytes(len) + " with " + Bytes(left) + " left");
    }
    NetlinkMessage m;
    m.type = LoadHost16(p + kTypeOffset);
    m.flags = LoadHost16(p + kFlagsOffset);
    m.seq = LoadHost32(p + kSeqOffset);
    m.pid = LoadHost32(p + kPidOffset);
    m.payload = datagram.subspan(at + kNetlinkHeaderLen, len - kNetlinkHeaderLen);
    messages.push_back(m);
    at += std::min<size_t>(NetlinkAlign(len), left);
  }
  return messages;
}

absl::StatusOr<NetlinkMessage> ParseMessage(std::span<const uint8_t> bytes) {
  absl::StatusOr<std::vector<NetlinkMessage>> messages = SplitMessages(bytes);
  if (!messages.ok()) return messages.status();
  if (messages->size() != 1) {
    return absl::DataLossError("expected one netlink message, found " +
                               std::to_string(messages->size()));
  }
  return messages->front();
}

absl::StatusOr<std::vector<NetlinkAttribute>> SplitAttributes(std::span<const uint8_t> bytes) {
  std::vector<NetlinkAttribute> attributes;
  size_t at = 0;
  while (at < bytes.size()) {
    const size_t left = bytes.size() - at;
    if (left < kAttributeHeaderLen) {
      return absl::DataLossError("netlink attributes: " + Bytes(left) +
                                 " left over, less than an attribute header");
    }
    const uint8_t* p = bytes.data() + at;
    const uint16_t len = LoadHost16(p);
    if (len < kAttributeHeaderLen || len > left) {
      return absl::DataLossError("netlink attribute type " + std::to_string(LoadHost16(p + 2)) +
                                 " claims " + Bytes(len) + " with " + Bytes(left) + " left");
    }
    NetlinkAttribute a;
    a.type = LoadHost16(p + 2) & NLA_TYPE_MASK;
    a.value = bytes.subspan(at + kAttributeHeaderLen, len - kAttributeHeaderLen);
    attributes.push_back(a);
    at += std::min<size_t>(NetlinkAlign(len), left);
  }
  return attributes;
}

absl::StatusOr<NetlinkAck> ParseAck(const NetlinkMessage& message) {
  if (message.type != NLMSG_ERROR) {
    return absl::InvalidArgumentError("netlink message type " + std::to_string(message.type) +
                                      " is not NLMSG_ERROR");
  }
  const std::span<const uint8_t> p = message.payload;
  if (p.size() < kNlmsgerrLen) {
    return absl::DataLossError("NLMSG_ERROR with " + Bytes(p.size()) +
                               ", less than struct "
                               "nlmsgerr (" +
                               Bytes(kNlmsgerrLen) + ")");
  }
  NetlinkAck ack;
  ack.error = static_cast<int32_t>(LoadHost32(p.data()));
  ack.request_seq = LoadHost32(p.data() + 4 + kSeqOffset);
  // Without NLM_F_CAPPED the kernel echoes the whole request before the TLVs.
  size_t tlv_at = kNlmsgerrLen;
  if ((message.flags & NLM_F_CAPPED) == 0) {
    const uint32_t request_len = LoadHost32(p.data() + 4 + kLenOffset);
    if (request_len >= kNetlinkHeaderLen) tlv_at += NetlinkAlign(request_len - kNetlinkHeaderLen);
  }
  if ((message.flags & NLM_F_ACK_TLVS) == 0 || tlv_at >= p.size()) return ack;
  absl::StatusOr<std::vector<NetlinkAttribute>> tlvs = SplitAttributes(p.subspan(tlv_at));
  if (!tlvs.ok()) return tlvs.status();
  for (const NetlinkAttribute& tlv : *tlvs) {
    if (tlv.type == NLMSGERR_ATTR_MSG) {
      std::string text(tlv.value.begin(), tlv.value.end());
      if (const size_t nul = text.find('\0'); nul != std::string::npos) text.resize(nul);
      ack.extack_message = std::move(text);
    } else if (tlv.type == NLMSGERR_ATTR_OFFS && tlv.value.size() >= 4) {
      ack.extack_offset = LoadHost32(tlv.value.data());
    }
  }
  return ack;
}

}  // namespace braid::sriov
