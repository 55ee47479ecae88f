#include "sriov/vf_messages.h"

#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <climits>
#include <string>

#include "sriov/netlink.h"
#include "sriov/sysfs.h"

namespace braid::sriov {
namespace {

// struct ifinfomsg: family, pad, type, index, flags, change.
constexpr size_t kIfinfomsgLen = 16;
constexpr size_t kIfiIndexOffset = 4;

// Payload sizes of the kernel's VF structs (if_link.h), which the kernel's policy requires as
// minimum lengths (ifla_vf_policy) and the parser requires of what the kernel sends.
constexpr size_t kVfMacLen = 4 + 32;   // struct ifla_vf_mac: vf, mac[MAX_ADDR_LEN]
constexpr size_t kVfVlanLen = 12;      // struct ifla_vf_vlan: vf, vlan, qos
constexpr size_t kVfVlanInfoLen = 16;  // struct ifla_vf_vlan_info: vf, vlan, qos, be16 proto
constexpr size_t kVfSettingLen = 8;    // spoofchk, trust, link_state: vf, value
constexpr size_t kVfRateLen = 12;      // struct ifla_vf_rate: vf, min, max

// The kernel reports a setting the driver left alone as (u32)-1 (rtnl_fill_vfinfo).
constexpr uint32_t kSettingUnknown = 0xffffffff;

std::array<uint8_t, kIfinfomsgLen> Ifinfomsg(int32_t ifindex) {
  std::array<uint8_t, kIfinfomsgLen> header{};
  header[0] = AF_UNSPEC;
  StoreHost32(header.data() + kIfiIndexOffset, static_cast<uint32_t>(ifindex));
  return header;
}

absl::Status CheckLink(const LinkId& link) {
  if (link.ifindex < 0) {
    return absl::InvalidArgumentError("ifindex " + std::to_string(link.ifindex) +
                                      " is not an interface index");
  }
  if (link.ifindex == 0 && (!IsPathComponent(link.ifname) || link.ifname.size() >= IFNAMSIZ)) {
    return absl::InvalidArgumentError("'" + link.ifname + "' is not an interface name");
  }
  return absl::OkStatus();
}

void PutLink(NetlinkMessageBuilder& message, const LinkId& link) {
  message.AppendFamilyHeader(Ifinfomsg(link.ifindex));
  if (link.ifindex == 0) message.PutString(IFLA_IFNAME, link.ifname);
}

void PutVfValue(NetlinkMessageBuilder& message, uint16_t type, uint32_t vf, uint32_t value) {
  std::array<uint8_t, kVfSettingLen> bytes{};
  StoreHost32(bytes.data(), vf);
  StoreHost32(bytes.data() + 4, value);
  message.PutAttribute(type, bytes);
}

absl::Status CheckVf(const VfSettings& s) {
  const std::string vf = "VF " + std::to_string(s.vf);
  // do_setvfinfo refuses vf >= INT_MAX with EINVAL.
  if (s.vf >= INT_MAX) return absl::InvalidArgumentError(vf + ": not a VF number");
  if (!s.mac && !s.vlan && !s.spoof_check && !s.link_state && !s.trust) {
    return absl::InvalidArgumentError(vf + ": nothing to set");
  }
  if (s.mac && s.mac->IsMulticast()) {
    return absl::InvalidArgumentError(vf + ": " + s.mac->ToString() +
                                      " is a multicast address, not a station's");
  }
  if (s.vlan) {
    // IEEE 802.1Q: 12-bit VLAN id (4095 reserved, but the kernel's check is > 4095), 3-bit PCP.
    if (s.vlan->id > 4095) {
      return absl::InvalidArgumentError(vf + ": VLAN " + std::to_string(s.vlan->id) +
                                        " is above 4095");
    }
    if (s.vlan->qos > 7) {
      return absl::InvalidArgumentError(vf + ": VLAN priority " + std::to_string(s.vlan->qos) +
                                        " is above 7");
    }
    if (s.vlan->proto != kEtherType8021Q && s.vlan->proto != kEtherType8021AD) {
      return absl::InvalidArgumentError(vf + ": VLAN protocol " + std::to_string(s.vlan->proto) +
                                        " is neither 802.1Q (0x8100) nor 802.1ad (0x88a8)");
    }
  }
  if (s.link_state && static_cast<uint32_t>(*s.link_state) > IFLA_VF_LINK_STATE_DISABLE) {
    return absl::InvalidArgumentError(vf + ": unknown link state " +
                                      std::to_string(static_cast<uint32_t>(*s.link_state)));
  }
  return absl::OkStatus();
}

void PutVf(NetlinkMessageBuilder& message, const VfSettings& s) {
  const size_t info = message.BeginNested(IFLA_VF_INFO);
  if (s.mac) {
    std::array<uint8_t, kVfMacLen> bytes{};
    StoreHost32(bytes.data(), s.vf);
    std::copy(s.mac->bytes.begin(), s.mac->bytes.end(), bytes.begin() + 4);
    message.PutAttribute(IFLA_VF_MAC, bytes);
  }
  if (s.vlan && s.vlan->proto == kEtherType8021Q) {
    std::array<uint8_t, kVfVlanLen> bytes{};
    StoreHost32(bytes.data(), s.vf);
    StoreHost32(bytes.data() + 4, s.vlan->id);
    StoreHost32(bytes.data() + 8, s.vlan->qos);
    message.PutAttribute(IFLA_VF_VLAN, bytes);
  } else if (s.vlan) {
    std::array<uint8_t, kVfVlanInfoLen> bytes{};
    StoreHost32(bytes.data(), s.vf);
    StoreHost32(bytes.data() + 4, s.vlan->id);
    StoreHost32(bytes.data() + 8, s.vlan->qos);
    // vlan_proto is the one big-endian field (__be16).
    bytes[12] = static_cast<uint8_t>(s.vlan->proto >> 8);
    bytes[13] = static_cast<uint8_t>(s.vlan->proto & 0xff);
    const size_t list = message.BeginNested(IFLA_VF_VLAN_LIST);
    message.PutAttribute(IFLA_VF_VLAN_INFO, bytes);
    message.EndNested(list);
  }
  if (s.spoof_check) PutVfValue(message, IFLA_VF_SPOOFCHK, s.vf, *s.spoof_check ? 1 : 0);
  if (s.link_state) {
    PutVfValue(message, IFLA_VF_LINK_STATE, s.vf, static_cast<uint32_t>(*s.link_state));
  }
  if (s.trust) PutVfValue(message, IFLA_VF_TRUST, s.vf, *s.trust ? 1 : 0);
  message.EndNested(info);
}

std::optional<bool> Setting(uint32_t value) {
  if (value == kSettingUnknown) return std::nullopt;
  return value != 0;
}

absl::Status Short(std::string_view what, uint32_t vf, size_t have, size_t need) {
  return absl::DataLossError("RTM_NEWLINK: " + std::string(what) + " of VF " + std::to_string(vf) +
                             " has " + std::to_string(have) + " bytes, struct needs " +
                             std::to_string(need));
}

absl::StatusOr<VfInfo> ParseVfInfo(std::span<const uint8_t> nest, size_t position) {
  absl::StatusOr<std::vector<NetlinkAttribute>> attributes = SplitAttributes(nest);
  if (!attributes.ok()) return attributes.status();
  VfInfo vf;
  bool have_mac = false;
  for (const NetlinkAttribute& a : *attributes) {
    if (a.type == IFLA_VF_MAC) {
      if (a.value.size() < kVfMacLen) return Short("IFLA_VF_MAC", vf.vf, a.value.size(), kVfMacLen);
      vf.vf = LoadHost32(a.value.data());
      std::copy(a.value.begin() + 4, a.value.begin() + 10, vf.mac.bytes.begin());
      have_mac = true;
    }
  }
  // rtnl_fill_vfinfo always starts with IFLA_VF_MAC: it is where the VF number is.
  if (!have_mac) {
    return absl::DataLossError("RTM_NEWLINK: IFLA_VF_INFO #" + std::to_string(position) +
                               " has no IFLA_VF_MAC");
  }
  for (const NetlinkAttribute& a : *attributes) {
    switch (a.type) {
      case IFLA_VF_VLAN:
        if (a.value.size() < kVfVlanLen) {
          return Short("IFLA_VF_VLAN", vf.vf, a.value.size(), kVfVlanLen);
        }
        vf.vlan = LoadHost32(a.value.data() + 4);
        vf.qos = LoadHost32(a.value.data() + 8);
        break;
      case IFLA_VF_VLAN_LIST: {
        absl::StatusOr<std::vector<NetlinkAttribute>> list = SplitAttributes(a.value);
        if (!list.ok()) return list.status();
        for (const NetlinkAttribute& item : *list) {
          if (item.type != IFLA_VF_VLAN_INFO) continue;
          if (item.value.size() < kVfVlanInfoLen) {
            return Short("IFLA_VF_VLAN_INFO", vf.vf, item.value.size(), kVfVlanInfoLen);
          }
          vf.vlan = LoadHost32(item.value.data() + 4);
          vf.qos = LoadHost32(item.value.data() + 8);
          vf.vlan_proto = static_cast<uint16_t>(item.value[12] << 8 | item.value[13]);
          break;  // MAX_VLAN_LIST_LEN is 1
        }
        break;
      }
      case IFLA_VF_RATE:
        if (a.value.size() < kVfRateLen) {
          return Short("IFLA_VF_RATE", vf.vf, a.value.size(), kVfRateLen);
        }
        vf.min_tx_rate_mbps = LoadHost32(a.value.data() + 4);
        vf.max_tx_rate_mbps = LoadHost32(a.value.data() + 8);
        break;
      case IFLA_VF_SPOOFCHK:
      case IFLA_VF_TRUST:
      case IFLA_VF_LINK_STATE: {
        if (a.value.size() < kVfSettingLen) {
          return Short(a.type == IFLA_VF_SPOOFCHK ? "IFLA_VF_SPOOFCHK"
                       : a.type == IFLA_VF_TRUST  ? "IFLA_VF_TRUST"
                                                  : "IFLA_VF_LINK_STATE",
                       vf.vf, a.value.size(), kVfSettingLen);
        }
        const uint32_t value = LoadHost32(a.value.data() + 4);
        if (a.type == IFLA_VF_SPOOFCHK) {
          vf.spoof_check = Setting(value);
        } else if (a.type == IFLA_VF_TRUST) {
          vf.trust = Setting(value);
        } else if (value <= IFLA_VF_LINK_STATE_DISABLE) {
          vf.link_state = static_cast<VfLinkState>(value);
        }
        break;
      }
      default:
        break;  // statistics, broadcast address, GUIDs, RSS query, attributes of newer kernels
    }
  }
  return vf;
}

}  // namespace

std::string LinkId::ToString() const {
  return ifindex > 0 ? "ifindex " + std::to_string(ifindex) : ifname;
}

std::string VfSettings::ToString() const {
  std::string text = "VF " + std::to_string(vf) + ":";
  const char* sep = " ";
  auto add = [&](const std::string& part) {
    text += sep + part;
    sep = ", ";
  };
  if (mac) add("mac " + mac->ToString());
  if (vlan) {
    std::string part = "vlan " + std::to_string(vlan->id);
    if (vlan->qos != 0) part += " qos " + std::to_string(vlan->qos);
    if (vlan->proto == kEtherType8021AD) part += " proto 802.1ad";
    add(part);
  }
  if (spoof_check) add(std::string("spoofchk ") + (*spoof_check ? "on" : "off"));
  if (link_state) {
    add(std::string("state ") + (*link_state == VfLinkState::kAuto     ? "auto"
                                 : *link_state == VfLinkState::kEnable ? "enable"
                                                                       : "disable"));
  }
  if (trust) add(std::string("trust ") + (*trust ? "on" : "off"));
  return text;
}

absl::StatusOr<std::vector<uint8_t>> BuildSetVfRequest(const LinkId& pf,
                                                       std::span<const VfSettings> vfs) {
  if (absl::Status link = CheckLink(pf); !link.ok()) return link;
  if (vfs.empty()) return absl::InvalidArgumentError(pf.ToString() + ": no VF settings to send");
  if (vfs.size() > kMaxVfsPerRequest) {
    return absl::InvalidArgumentError(pf.ToString() + ": " + std::to_string(vfs.size()) +
                                      " VFs in one request, at most " +
                                      std::to_string(kMaxVfsPerRequest));
  }
  for (const VfSettings& s : vfs) {
    if (absl::Status vf = CheckVf(s); !vf.ok()) {
      return absl::InvalidArgumentError(pf.ToString() + ": " + std::string(vf.message()));
    }
  }
  NetlinkMessageBuilder message(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK);
  PutLink(message, pf);
  const size_t list = message.BeginNested(IFLA_VFINFO_LIST);
  for (const VfSettings& s : vfs) PutVf(message, s);
  message.EndNested(list);
  return std::move(message).Finish();
}

absl::StatusOr<std::vector<uint8_t>> BuildGetLinkRequest(const LinkId& link) {
  if (absl::Status checked = CheckLink(link); !checked.ok()) return checked;
  NetlinkMessageBuilder message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK);
  PutLink(message, link);
  message.PutU32(IFLA_EXT_MASK, RTEXT_FILTER_VF | RTEXT_FILTER_SKIP_STATS);
  return std::move(message).Finish();
}

absl::StatusOr<LinkInfo> ParseLinkMessage(std::span<const uint8_t> bytes) {
  absl::StatusOr<NetlinkMessage> message = ParseMessage(bytes);
  if (!message.ok()) return message.status();
  if (message->type != RTM_NEWLINK) {
    return absl::DataLossError("expected RTM_NEWLINK, got netlink message type " +
                               std::to_string(message->type));
  }
  if (message->payload.size() < kIfinfomsgLen) {
    return absl::DataLossError("RTM_NEWLINK with " + std::to_string(message->payload.size()) +
                               " bytes, less than struct ifinfomsg");
  }
  LinkInfo link;
  link.ifindex = static_cast<int32_t>(LoadHost32(message->payload.data() + kIfiIndexOffset));
  absl::StatusOr<std::vector<NetlinkAttribute>> attributes =
      SplitAttributes(message->payload.subspan(kIfinfomsgLen));
  if (!attributes.ok()) return attributes.status();
  for (const NetlinkAttribute& a : *attributes) {
    if (a.type == IFLA_IFNAME) {
      std::string name(a.value.begin(), a.value.end());
      if (const size_t nul = name.find('\0'); nul != std::string::npos) name.resize(nul);
      link.ifname = std::move(name);
    } else if (a.type == IFLA_NUM_VF) {
      if (a.value.size() < 4) return absl::DataLossError("RTM_NEWLINK: IFLA_NUM_VF is cut short");
      link.num_vfs = LoadHost32(a.value.data());
    } else if (a.type == IFLA_VFINFO_LIST) {
      absl::StatusOr<std::vector<NetlinkAttribute>> infos = SplitAttributes(a.value);
      if (!infos.ok()) return infos.status();
      for (const NetlinkAttribute& info : *infos) {
        if (info.type != IFLA_VF_INFO) continue;
        absl::StatusOr<VfInfo> vf = ParseVfInfo(info.value, link.vfs.size());
        if (!vf.ok()) return vf.status();
        link.vfs.push_back(*vf);
      }
    }
  }
  return link;
}

}  // namespace braid::sriov
