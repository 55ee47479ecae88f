// The rtnetlink messages, byte for byte against the kernel's own structs (linux/netlink.h,
// linux/rtnetlink.h, linux/if_link.h) laid out the way the kernel's nla_put does, and the parser
// against an answer built the way rtnl_fill_vfinfo builds one.
#include "sriov/vf_messages.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <climits>
#include <cstring>
#include <vector>

#include "sriov/netlink.h"

namespace braid::sriov {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::SizeIs;

// Bytes laid out with the kernel's structs and macros, independently of NetlinkMessageBuilder.
class KernelLayout {
 public:
  template <typename T>
  void Struct(const T& value) {
    const auto* p = reinterpret_cast<const uint8_t*>(&value);
    bytes_.insert(bytes_.end(), p, p + sizeof(T));
  }
  void Attribute(uint16_t type, const void* data, size_t len) {
    nlattr nla{};
    nla.nla_len = static_cast<uint16_t>(NLA_HDRLEN + len);
    nla.nla_type = type;
    Struct(nla);
    const auto* p = static_cast<const uint8_t*>(data);
    bytes_.insert(bytes_.end(), p, p + len);
    bytes_.resize(NLA_ALIGN(bytes_.size()), 0);
  }
  template <typename T>
  void Attribute(uint16_t type, const T& value) {
    Attribute(type, &value, sizeof(T));
  }
  size_t Nest(uint16_t type) {
    const size_t at = bytes_.size();
    nlattr nla{};
    nla.nla_type = type;
    Struct(nla);
    return at;
  }
  void EndNest(size_t at) {
    const uint16_t len = static_cast<uint16_t>(bytes_.size() - at);
    std::memcpy(bytes_.data() + at, &len, sizeof(len));
  }
  // The whole message: nlmsghdr with its length, then what was laid out.
  std::vector<uint8_t> Message(uint16_t type, uint16_t flags, uint32_t seq = 0) const {
    nlmsghdr header{};
    header.nlmsg_len = static_cast<uint32_t>(NLMSG_HDRLEN + bytes_.size());
    header.nlmsg_type = type;
    header.nlmsg_flags = flags;
    header.nlmsg_seq = seq;
    std::vector<uint8_t> out(NLMSG_HDRLEN, 0);
    std::memcpy(out.data(), &header, sizeof(header));
    out.insert(out.end(), bytes_.begin(), bytes_.end());
    return out;
  }

 private:
  std::vector<uint8_t> bytes_;
};

ifinfomsg Ifinfo(int index) {
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = index;
  return ifi;
}

void KernelName(KernelLayout& k, const char* name) {
  k.Attribute(IFLA_IFNAME, name, std::strlen(name) + 1);
}

ifla_vf_mac KernelMac(uint32_t vf, std::array<uint8_t, 6> mac) {
  ifla_vf_mac m;
  std::memset(&m, 0, sizeof(m));
  m.vf = vf;
  std::memcpy(m.mac, mac.data(), mac.size());
  return m;
}

constexpr std::array<uint8_t, 6> kMac = {0x02, 0x00, 0x5e, 0x10, 0x00, 0x01};

VfSettings MacOnly(uint32_t vf) {
  VfSettings s;
  s.vf = vf;
  s.mac = MacAddress{kMac};
  return s;
}

TEST(VfMessagesTest, KernelStructSizes) {
  // The sizes the builder and parser use, as the kernel defines them.
  EXPECT_EQ(sizeof(ifinfomsg), 16u);
  EXPECT_EQ(sizeof(ifla_vf_mac), 36u);
  EXPECT_EQ(sizeof(ifla_vf_vlan), 12u);
  EXPECT_EQ(sizeof(ifla_vf_vlan_info), 16u);
  EXPECT_EQ(sizeof(ifla_vf_spoofchk), 8u);
  EXPECT_EQ(sizeof(ifla_vf_trust), 8u);
  EXPECT_EQ(sizeof(ifla_vf_link_state), 8u);
  EXPECT_EQ(sizeof(ifla_vf_rate), 12u);
}

TEST(VfMessagesTest, SetMacByName) {
  const std::vector<VfSettings> vfs = {MacOnly(3)};
  const absl::StatusOr<std::vector<uint8_t>> built =
      BuildSetVfRequest(LinkId::ByName("enp3s0f0"), vfs);
  ASSERT_TRUE(built.ok()) << built.status();

  KernelLayout k;
  k.Struct(Ifinfo(0));
  KernelName(k, "enp3s0f0");
  const size_t list = k.Nest(IFLA_VFINFO_LIST);
  const size_t info = k.Nest(IFLA_VF_INFO);
  k.Attribute(IFLA_VF_MAC, KernelMac(3, kMac));
  k.EndNest(info);
  k.EndNest(list);
  EXPECT_THAT(*built, ElementsAreArray(k.Message(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK)));
  // 16 header + 16 ifinfomsg + 16 name ("enp3s0f0\0" padded) + 4 + 4 + 40 MAC.
  EXPECT_THAT(*built, SizeIs(96));
}

TEST(VfMessagesTest, SetEverythingByIndex) {
  VfSettings s = MacOnly(1);
  s.vlan = VfVlan{100, 3, kEtherType8021Q};
  s.spoof_check = false;
  s.link_state = VfLinkState::kEnable;
  s.trust = true;
  const absl::StatusOr<std::vector<uint8_t>> built =
      BuildSetVfRequest(LinkId::ByIndex(7), std::vector<VfSettings>{s});
  ASSERT_TRUE(built.ok()) << built.status();

  KernelLayout k;
  k.Struct(Ifinfo(7));
  const size_t list = k.Nest(IFLA_VFINFO_LIST);
  const size_t info = k.Nest(IFLA_VF_INFO);
  k.Attribute(IFLA_VF_MAC, KernelMac(1, kMac));
  ifla_vf_vlan vlan{};
  vlan.vf = 1;
  vlan.vlan = 100;
  vlan.qos = 3;
  k.Attribute(IFLA_VF_VLAN, vlan);
  ifla_vf_spoofchk spoofchk{};
  spoofchk.vf = 1;
  spoofchk.setting = 0;
  k.Attribute(IFLA_VF_SPOOFCHK, spoofchk);
  ifla_vf_link_state link_state{};
  link_state.vf = 1;
  link_state.link_state = IFLA_VF_LINK_STATE_ENABLE;
  k.Attribute(IFLA_VF_LINK_STATE, link_state);
  ifla_vf_trust trust{};
  trust.vf = 1;
  trust.setting = 1;
  k.Attribute(IFLA_VF_TRUST, trust);
  k.EndNest(info);
  k.EndNest(list);
  EXPECT_THAT(*built, ElementsAreArray(k.Message(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK)));
  EXPECT_EQ(s.ToString(),
            "VF 1: mac 02:00:5e:10:00:01, vlan 100 qos 3, spoofchk off, state enable, trust on");
}

TEST(VfMessagesTest, SetQinQVlanGoesInTheVlanList) {
  VfSettings s;
  s.vf = 2;
  s.vlan = VfVlan{4000, 0, kEtherType8021AD};
  const absl::StatusOr<std::vector<uint8_t>> built =
      BuildSetVfRequest(LinkId::ByName("p0"), std::vector<VfSettings>{s});
  ASSERT_TRUE(built.ok()) << built.status();

  KernelLayout k;
  k.Struct(Ifinfo(0));
  KernelName(k, "p0");
  const size_t list = k.Nest(IFLA_VFINFO_LIST);
  const size_t info = k.Nest(IFLA_VF_INFO);
  const size_t vlans = k.Nest(IFLA_VF_VLAN_LIST);
  ifla_vf_vlan_info vlan;
  std::memset(&vlan, 0, sizeof(vlan));  // the struct's tail padding is sent too
  vlan.vf = 2;
  vlan.vlan = 4000;
  vlan.qos = 0;
  vlan.vlan_proto = htons(0x88a8);
  k.Attribute(IFLA_VF_VLAN_INFO, vlan);
  k.EndNest(vlans);
  k.EndNest(info);
  k.EndNest(list);
  EXPECT_THAT(*built, ElementsAreArray(k.Message(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK)));
  EXPECT_EQ(s.ToString(), "VF 2: vlan 4000 proto 802.1ad");
}

TEST(VfMessagesTest, SeveralVfsInOneRequest) {
  VfSettings trust;
  trust.vf = 5;
  trust.trust = false;
  const absl::StatusOr<std::vector<uint8_t>> built =
      BuildSetVfRequest(LinkId::ByIndex(2), std::vector<VfSettings>{MacOnly(0), trust});
  ASSERT_TRUE(built.ok()) << built.status();

  KernelLayout k;
  k.Struct(Ifinfo(2));
  const size_t list = k.Nest(IFLA_VFINFO_LIST);
  size_t info = k.Nest(IFLA_VF_INFO);
  k.Attribute(IFLA_VF_MAC, KernelMac(0, kMac));
  k.EndNest(info);
  info = k.Nest(IFLA_VF_INFO);
  ifla_vf_trust t{};
  t.vf = 5;
  t.setting = 0;
  k.Attribute(IFLA_VF_TRUST, t);
  k.EndNest(info);
  k.EndNest(list);
  EXPECT_THAT(*built, ElementsAreArray(k.Message(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK)));
}

TEST(VfMessagesTest, GetLinkAsksForVfsWithoutStatistics) {
  for (const LinkId& link : {LinkId::ByName("enp3s0f0"), LinkId::ByIndex(9)}) {
    const absl::StatusOr<std::vector<uint8_t>> built = BuildGetLinkRequest(link);
    ASSERT_TRUE(built.ok()) << built.status();
    KernelLayout k;
    k.Struct(Ifinfo(link.ifindex));
    if (link.ifindex == 0) KernelName(k, "enp3s0f0");
    const uint32_t mask = RTEXT_FILTER_VF | RTEXT_FILTER_SKIP_STATS;
    k.Attribute(IFLA_EXT_MASK, mask);
    EXPECT_THAT(*built, ElementsAreArray(k.Message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK)))
        << link.ToString();
  }
}

TEST(VfMessagesTest, RefusesWhatTheKernelWouldOrShouldNotBeSent) {
  const LinkId pf = LinkId::ByName("enp3s0f0");
  const auto error = [&](VfSettings s) {
    const absl::StatusOr<std::vector<uint8_t>> built =
        BuildSetVfRequest(pf, std::vector<VfSettings>{s});
    EXPECT_EQ(built.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(built.status().message());
  };
  VfSettings nothing;
  nothing.vf = 4;
  EXPECT_EQ(error(nothing), "enp3s0f0: VF 4: nothing to set");
  VfSettings s = MacOnly(0);
  s.vlan = VfVlan{4096, 0, kEtherType8021Q};
  EXPECT_THAT(error(s), HasSubstr("VLAN 4096 is above 4095"));
  s.vlan = VfVlan{10, 8, kEtherType8021Q};
  EXPECT_THAT(error(s), HasSubstr("VLAN priority 8 is above 7"));
  s.vlan = VfVlan{10, 0, 0x9100};
  EXPECT_THAT(error(s), HasSubstr("neither 802.1Q"));
  s = MacOnly(0);
  s.mac = MacAddress::Parse("01:00:5e:00:00:01");
  EXPECT_THAT(error(s), HasSubstr("multicast"));
  s = MacOnly(INT_MAX);
  EXPECT_THAT(error(s), HasSubstr("not a VF number"));
  s = MacOnly(0);
  s.link_state = static_cast<VfLinkState>(3);
  EXPECT_THAT(error(s), HasSubstr("unknown link state 3"));

  const std::vector<VfSettings> one = {MacOnly(0)};
  for (const LinkId& bad : {LinkId::ByName(""), LinkId::ByName("sixteen-chars-xx"),
                            LinkId::ByName("a/b"), LinkId::ByIndex(-3)}) {
    EXPECT_EQ(BuildSetVfRequest(bad, one).status().code(), absl::StatusCode::kInvalidArgument)
        << bad.ToString();
    EXPECT_EQ(BuildGetLinkRequest(bad).status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(BuildSetVfRequest(LinkId::ByName("fifteen-chars-x"), one).ok());
  EXPECT_EQ(BuildSetVfRequest(pf, {}).status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<VfSettings> many;
  for (uint32_t i = 0; i <= kMaxVfsPerRequest; ++i) many.push_back(MacOnly(i));
  EXPECT_THAT(std::string(BuildSetVfRequest(pf, many).status().message()),
              HasSubstr("at most 256"));
  many.pop_back();
  EXPECT_TRUE(BuildSetVfRequest(pf, many).ok());
}

// An RTM_NEWLINK answer as rtnl_fill_ifinfo/rtnl_fill_vfinfo lay it out for a PF with two VFs.
std::vector<uint8_t> KernelAnswerWithTwoVfs() {
  KernelLayout k;
  k.Struct(Ifinfo(7));
  KernelName(k, "enp3s0f0");
  const uint32_t mtu = 1500;
  k.Attribute(IFLA_MTU, mtu);
  const uint32_t num_vf = 2;
  k.Attribute(IFLA_NUM_VF, num_vf);
  const size_t list = k.Nest(IFLA_VFINFO_LIST);
  for (uint32_t vf = 0; vf < 2; ++vf) {
    const size_t info = k.Nest(IFLA_VF_INFO);
    k.Attribute(IFLA_VF_MAC, KernelMac(vf, {0x02, 0, 0, 0, 0, static_cast<uint8_t>(vf + 1)}));
    ifla_vf_broadcast broadcast;
    std::memset(&broadcast, 0xff, sizeof(broadcast));
    k.Attribute(IFLA_VF_BROADCAST, broadcast);
    ifla_vf_vlan vlan{};
    vlan.vf = vf;
    vlan.vlan = vf == 0 ? 100 : 0;
    vlan.qos = vf == 0 ? 5 : 0;
    k.Attribute(IFLA_VF_VLAN, vlan);
    ifla_vf_rate rate{};
    rate.vf = vf;
    rate.min_tx_rate = 0;
    rate.max_tx_rate = vf == 1 ? 1000 : 0;
    k.Attribute(IFLA_VF_RATE, rate);
    ifla_vf_tx_rate tx_rate{};
    tx_rate.vf = vf;
    tx_rate.rate = rate.max_tx_rate;
    k.Attribute(IFLA_VF_TX_RATE, tx_rate);
    ifla_vf_spoofchk spoofchk{};
    spoofchk.vf = vf;
    spoofchk.setting = vf == 0 ? 1 : 0xffffffff;
    k.Attribute(IFLA_VF_SPOOFCHK, spoofchk);
    ifla_vf_link_state link_state{};
    link_state.vf = vf;
    link_state.link_state = vf == 0 ? IFLA_VF_LINK_STATE_AUTO : IFLA_VF_LINK_STATE_DISABLE;
    k.Attribute(IFLA_VF_LINK_STATE, link_state);
    ifla_vf_rss_query_en rss{};
    rss.vf = vf;
    rss.setting = 0xffffffff;
    k.Attribute(IFLA_VF_RSS_QUERY_EN, rss);
    ifla_vf_trust trust{};
    trust.vf = vf;
    trust.setting = vf == 0 ? 0xffffffff : 1;
    k.Attribute(IFLA_VF_TRUST, trust);
    const size_t vlans = k.Nest(IFLA_VF_VLAN_LIST);
    ifla_vf_vlan_info info_vlan;
    std::memset(&info_vlan, 0, sizeof(info_vlan));
    info_vlan.vf = vf;
    info_vlan.vlan = vlan.vlan;
    info_vlan.qos = vlan.qos;
    info_vlan.vlan_proto = htons(vf == 0 ? 0x8100 : 0x88a8);
    k.Attribute(IFLA_VF_VLAN_INFO, info_vlan);
    k.EndNest(vlans);
    const size_t stats = k.Nest(IFLA_VF_STATS | NLA_F_NESTED);
    const uint64_t packets = 12345;
    k.Attribute(IFLA_VF_STATS_RX_PACKETS, packets);
    k.EndNest(stats);
    k.EndNest(info);
  }
  k.EndNest(list);
  return k.Message(RTM_NEWLINK, 0, 42);
}

TEST(VfMessagesTest, ParsesTheKernelsAnswer) {
  const absl::StatusOr<LinkInfo> link = ParseLinkMessage(KernelAnswerWithTwoVfs());
  ASSERT_TRUE(link.ok()) << link.status();
  EXPECT_EQ(link->ifindex, 7);
  EXPECT_EQ(link->ifname, "enp3s0f0");
  EXPECT_EQ(link->num_vfs, 2u);
  ASSERT_THAT(link->vfs, SizeIs(2));

  const VfInfo& vf0 = link->vfs[0];
  EXPECT_EQ(vf0.vf, 0u);
  EXPECT_EQ(vf0.mac.ToString(), "02:00:00:00:00:01");
  EXPECT_EQ(vf0.vlan, 100u);
  EXPECT_EQ(vf0.qos, 5u);
  EXPECT_EQ(vf0.vlan_proto, kEtherType8021Q);
  EXPECT_EQ(vf0.spoof_check, true);
  EXPECT_EQ(vf0.trust, std::nullopt);  // (u32)-1: the driver does not report it
  EXPECT_EQ(vf0.link_state, VfLinkState::kAuto);
  EXPECT_EQ(vf0.max_tx_rate_mbps, 0u);

  const VfInfo& vf1 = link->vfs[1];
  EXPECT_EQ(vf1.vf, 1u);
  EXPECT_EQ(vf1.mac.ToString(), "02:00:00:00:00:02");
  EXPECT_EQ(vf1.vlan, 0u);
  EXPECT_EQ(vf1.vlan_proto, kEtherType8021AD);
  EXPECT_EQ(vf1.spoof_check, std::nullopt);
  EXPECT_EQ(vf1.trust, true);
  EXPECT_EQ(vf1.link_state, VfLinkState::kDisable);
  EXPECT_EQ(vf1.max_tx_rate_mbps, 1000u);
}

TEST(VfMessagesTest, ParsesALinkWithoutVfs) {
  KernelLayout k;
  k.Struct(Ifinfo(3));
  KernelName(k, "veth0");
  const std::vector<uint8_t> bytes = k.Message(RTM_NEWLINK, 0);
  const absl::StatusOr<LinkInfo> link = ParseLinkMessage(bytes);
  ASSERT_TRUE(link.ok()) << link.status();
  EXPECT_EQ(link->ifindex, 3);
  EXPECT_EQ(link->ifname, "veth0");
  EXPECT_FALSE(link->num_vfs);
  EXPECT_TRUE(link->vfs.empty());
}

TEST(VfMessagesTest, EveryTruncationIsAnErrorNeverACrash) {
  const std::vector<uint8_t> full = KernelAnswerWithTwoVfs();
  for (size_t len = 0; len < full.size(); ++len) {
    std::vector<uint8_t> cut(full.begin(), full.begin() + len);
    // Cut the bytes but keep the header's length honest too: both must fail cleanly.
    EXPECT_FALSE(ParseLinkMessage(cut).ok()) << len;
    if (len >= NLMSG_HDRLEN) {
      const uint32_t n = static_cast<uint32_t>(len);
      std::memcpy(cut.data(), &n, sizeof(n));
      (void)ParseLinkMessage(cut);  // may parse a prefix of attributes, or fail; never crash
    }
  }
}

TEST(VfMessagesTest, AShortVfAttributeIsDataLossNamingIt) {
  KernelLayout k;
  k.Struct(Ifinfo(7));
  const size_t list = k.Nest(IFLA_VFINFO_LIST);
  const size_t info = k.Nest(IFLA_VF_INFO);
  k.Attribute(IFLA_VF_MAC, KernelMac(4, kMac));
  const uint32_t vf_only = 4;
  k.Attribute(IFLA_VF_TRUST, vf_only);  // 4 bytes, struct ifla_vf_trust has 8
  k.EndNest(info);
  k.EndNest(list);
  const absl::StatusOr<LinkInfo> link = ParseLinkMessage(k.Message(RTM_NEWLINK, 0));
  EXPECT_EQ(link.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(link.status().message()), HasSubstr("IFLA_VF_TRUST of VF 4 has 4 bytes"));
}

TEST(VfMessagesTest, AVfInfoWithoutMacIsDataLoss) {
  KernelLayout k;
  k.Struct(Ifinfo(7));
  const size_t list = k.Nest(IFLA_VFINFO_LIST);
  const size_t info = k.Nest(IFLA_VF_INFO);
  ifla_vf_trust trust{};
  k.Attribute(IFLA_VF_TRUST, trust);
  k.EndNest(info);
  k.EndNest(list);
  const absl::StatusOr<LinkInfo> link = ParseLinkMessage(k.Message(RTM_NEWLINK, 0));
  EXPECT_THAT(std::string(link.status().message()),
              HasSubstr("IFLA_VF_INFO #0 has no IFLA_VF_MAC"));
}

TEST(VfMessagesTest, OnlyNewLinkMessagesAreLinks) {
  KernelLayout k;
  k.Struct(Ifinfo(7));
  EXPECT_THAT(std::string(ParseLinkMessage(k.Message(RTM_NEWADDR, 0)).status().message()),
              HasSubstr("expected RTM_NEWLINK"));
  KernelLayout empty;
  EXPECT_THAT(std::string(ParseLinkMessage(empty.Message(RTM_NEWLINK, 0)).status().message()),
              HasSubstr("less than struct ifinfomsg"));
}

// Netlink framing.

TEST(NetlinkTest, SplitsADatagramIntoMessages) {
  KernelLayout a;
  a.Struct(Ifinfo(1));
  KernelName(a, "lo");
  KernelLayout b;
  const uint8_t odd[3] = {1, 2, 3};  // an attribute value that needs padding
  b.Attribute(1, odd, sizeof(odd));
  std::vector<uint8_t> datagram = a.Message(RTM_NEWLINK, NLM_F_MULTI, 5);
  const std::vector<uint8_t> second = b.Message(NLMSG_DONE, NLM_F_MULTI, 5);
  datagram.insert(datagram.end(), second.begin(), second.end());
  const absl::StatusOr<std::vector<NetlinkMessage>> messages = SplitMessages(datagram);
  ASSERT_TRUE(messages.ok()) << messages.status();
  ASSERT_THAT(*messages, SizeIs(2));
  EXPECT_EQ((*messages)[0].type, RTM_NEWLINK);
  EXPECT_EQ((*messages)[0].flags, NLM_F_MULTI);
  EXPECT_EQ((*messages)[0].seq, 5u);
  EXPECT_THAT((*messages)[0].payload, SizeIs(16 + 8));
  EXPECT_EQ((*messages)[1].type, NLMSG_DONE);
  EXPECT_THAT((*messages)[1].payload, SizeIs(8));

  const absl::StatusOr<std::vector<NetlinkAttribute>> attributes =
      SplitAttributes((*messages)[1].payload);
  ASSERT_TRUE(attributes.ok());
  ASSERT_THAT(*attributes, SizeIs(1));
  EXPECT_THAT((*attributes)[0].value, ElementsAreArray(odd));
}

TEST(NetlinkTest, ImpossibleLengthsAreDataLoss) {
  std::vector<uint8_t> datagram = KernelLayout().Message(NLMSG_NOOP, 0);
  datagram.push_back(0);  // a fragment of a header
  EXPECT_THAT(std::string(SplitMessages(datagram).status().message()),
              HasSubstr("less than a header"));
  std::vector<uint8_t> longer = KernelLayout().Message(NLMSG_NOOP, 0);
  longer[0] = 200;
  EXPECT_THAT(std::string(SplitMessages(longer).status().message()), HasSubstr("claims 200 bytes"));
  std::vector<uint8_t> shorter = KernelLayout().Message(NLMSG_NOOP, 0);
  shorter[0] = 8;
  EXPECT_EQ(SplitMessages(shorter).status().code(), absl::StatusCode::kDataLoss);
  const uint8_t attribute[6] = {9, 0, 1, 0, 0, 0};  // claims 9 bytes, has 6
  EXPECT_THAT(std::string(SplitAttributes(attribute).status().message()),
              HasSubstr("claims 9 bytes"));
  const uint8_t tiny[4] = {2, 0, 1, 0};  // shorter than its own header
  EXPECT_EQ(SplitAttributes(tiny).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(SplitMessages({}).ok());
}

// An NLMSG_ERROR as netlink_ack lays it out: the error, the request's header, the request's
// payload unless capped, then the extended ACK attributes.
std::vector<uint8_t> KernelAck(int error, bool capped, const char* text,
                               std::optional<uint32_t> offset) {
  const std::vector<uint8_t> request = KernelAnswerWithTwoVfs();  // any request will do
  nlmsghdr request_header;
  std::memcpy(&request_header, request.data(), sizeof(request_header));
  request_header.nlmsg_seq = 77;
  KernelLayout k;
  nlmsgerr err{};
  err.error = error;
  err.msg = request_header;
  k.Struct(err);
  if (!capped) {
    for (size_t i = NLMSG_HDRLEN; i < request.size(); ++i) k.Struct(request[i]);
  }
  uint16_t flags = capped ? NLM_F_CAPPED : 0;
  if (text != nullptr) {
    flags |= NLM_F_ACK_TLVS;
    k.Attribute(NLMSGERR_ATTR_MSG, text, std::strlen(text) + 1);
  }
  if (offset) {
    flags |= NLM_F_ACK_TLVS;
    k.Attribute(NLMSGERR_ATTR_OFFS, *offset);
  }
  return k.Message(NLMSG_ERROR, flags, 77);
}

TEST(NetlinkTest, ParsesAnAck) {
  const std::vector<uint8_t> bytes = KernelAck(0, true, nullptr, std::nullopt);
  const absl::StatusOr<NetlinkAck> ack = ParseAck(*ParseMessage(bytes));
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_EQ(ack->error, 0);
  EXPECT_EQ(ack->request_seq, 77u);
  EXPECT_TRUE(ack->extack_message.empty());
}

TEST(NetlinkTest, ParsesAnErrorWithItsExtendedAck) {
  for (bool capped : {true, false}) {
    const std::vector<uint8_t> bytes =
        KernelAck(-EOPNOTSUPP, capped, "VF operation not supported", 52);
    const absl::StatusOr<NetlinkAck> ack = ParseAck(*ParseMessage(bytes));
    ASSERT_TRUE(ack.ok()) << ack.status();
    EXPECT_EQ(ack->error, -EOPNOTSUPP);
    EXPECT_EQ(ack->extack_message, "VF operation not supported") << capped;
    EXPECT_EQ(ack->extack_offset, 52u);
  }
}

TEST(NetlinkTest, AShortErrorMessageIsDataLoss) {
  KernelLayout k;
  const int32_t error = -EINVAL;
  k.Struct(error);
  const std::vector<uint8_t> bytes = k.Message(NLMSG_ERROR, 0);
  EXPECT_EQ(ParseAck(*ParseMessage(bytes)).status().code(), absl::StatusCode::kDataLoss);
  const std::vector<uint8_t> other = KernelLayout().Message(NLMSG_DONE, 0);
  EXPECT_EQ(ParseAck(*ParseMessage(other)).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace braid::sriov
