// The rtnetlink messages that configure and read a PF's VFs (include/uapi/linux/if_link.h,
// net/core/rtnetlink.c), built and parsed without a socket so that their bytes can be checked
// against the kernel's structs:
//
//   RTM_SETLINK  ifinfomsg{PF} [IFLA_VFINFO_LIST [IFLA_VF_INFO [IFLA_VF_MAC ifla_vf_mac]
//                                                            [IFLA_VF_VLAN ifla_vf_vlan]
//                                                            [IFLA_VF_VLAN_LIST [IFLA_VF_VLAN_INFO
//                                                                ifla_vf_vlan_info]]
//                                                            [IFLA_VF_SPOOFCHK ifla_vf_spoofchk]
//                                                            [IFLA_VF_LINK_STATE ...]
//                                                            [IFLA_VF_TRUST ifla_vf_trust]] ...]
//   RTM_GETLINK  ifinfomsg{PF} [IFLA_EXT_MASK RTEXT_FILTER_VF | RTEXT_FILTER_SKIP_STATS]
//   answer       RTM_NEWLINK with IFLA_NUM_VF and IFLA_VFINFO_LIST (only for a device with VFs)
//
// The PF is named by ifindex, or by name with ifindex 0 (the kernel looks IFLA_IFNAME up then;
// with a non-zero ifindex IFLA_IFNAME would rename the device, so the two are never combined).
//
// The kernel applies a VF's settings in a fixed order (MAC, VLAN, VLAN list, rates, spoof check,
// link state, RSS query, trust) and stops at the first the driver refuses: settings before it
// stay applied.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sriov/mac_address.h"

namespace braid::sriov {

inline constexpr uint16_t kEtherType8021Q = 0x8100;
inline constexpr uint16_t kEtherType8021AD = 0x88a8;

// Which link a request is about.
struct LinkId {
  int32_t ifindex = 0;  // used when > 0
  std::string ifname;   // used when ifindex is 0

  static LinkId ByIndex(int32_t ifindex) { return LinkId{ifindex, ""}; }
  static LinkId ByName(std::string ifname) { return LinkId{0, std::move(ifname)}; }
  std::string ToString() const;  // "eth0" or "ifindex 7"
};

// A VF's port VLAN: the VF sends untagged and the PF tags with `id` (0 removes the port VLAN).
struct VfVlan {
  uint16_t id = 0;                   // 0..4095
  uint8_t qos = 0;                   // 802.1p priority, 0..7
  uint16_t proto = kEtherType8021Q;  // kEtherType8021Q or kEtherType8021AD (QinQ)
};

enum class VfLinkState : uint32_t {  // IFLA_VF_LINK_STATE_*
  kAuto = 0,                         // follows the PF's link
  kEnable = 1,
  kDisable = 2,
};

// What to change on one VF; unset fields are left as they are.
struct VfSettings {
  uint32_t vf = 0;  // the VF's number (virtfnN)
  std::optional<MacAddress> mac;
  std::optional<VfVlan> vlan;
  std::optional<bool> spoof_check;
  std::optional<VfLinkState> link_state;
  std::optional<bool> trust;

  // "VF 2: mac 02:00:00:00:00:01, vlan 100, trust on", for messages.
  std::string ToString() const;
};

// At most this many VFs in one request: their nest must fit netlink's 16-bit attribute length.
inline constexpr size_t kMaxVfsPerRequest = 256;

// RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK, sequence 0. InvalidArgument for an empty list or a VF
// with nothing to set, a VLAN id above 4095, a priority above 7, a protocol other than 802.1Q or
// 802.1ad, a multicast MAC, a VF number the kernel refuses (>= INT_MAX), too many VFs, or a
// name that is not an interface name.
// An 802.1Q VLAN goes in IFLA_VF_VLAN, which every driver with ndo_set_vf_vlan accepts; an
// 802.1ad one needs IFLA_VF_VLAN_LIST, the only attribute that carries a protocol.
absl::StatusOr<std::vector<uint8_t>> BuildSetVfRequest(const LinkId& pf,
                                                       std::span<const VfSettings> vfs);

// RTM_GETLINK for one link with its VF list and without VF statistics, NLM_F_REQUEST | NLM_F_ACK.
absl::StatusOr<std::vector<uint8_t>> BuildGetLinkRequest(const LinkId& link);

// One VF as the kernel reports it (rtnl_fill_vfinfo).
struct VfInfo {
  uint32_t vf = 0;
  MacAddress mac;
  uint32_t vlan = 0;
  uint32_t qos = 0;
  uint16_t vlan_proto = kEtherType8021Q;
  std::optional<bool> spoof_check;  // nullopt: the driver does not say
  std::optional<bool> trust;        // nullopt: the driver does not say
  std::optional<VfLinkState> link_state;
  uint32_t min_tx_rate_mbps = 0;
  uint32_t max_tx_rate_mbps = 0;

  friend bool operator==(const VfInfo&, const VfInfo&) = default;
};

struct LinkInfo {
  int32_t ifindex = 0;
  std::string ifname;
  std::optional<uint32_t> num_vfs;  // IFLA_NUM_VF: only devices with a parent report it
  std::vector<VfInfo> vfs;
};

// Parses one RTM_NEWLINK message (header included). DataLoss when the message or one of the
// attributes it uses is cut short; unknown attributes are skipped.
absl::StatusOr<LinkInfo> ParseLinkMessage(std::span<const uint8_t> message);

}  // namespace braid::sriov
