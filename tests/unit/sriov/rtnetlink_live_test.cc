// RTM_SETLINK and RTM_GETLINK against the running kernel, in a fresh network namespace, on a veth
// pair: a device without SR-IOV, so every VF setting must come back refused with the kernel's
// errno and our context, and the VF query must parse with no VFs. This is as far as VF
// configuration can be checked without an SR-IOV NIC.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "sriov/netlink.h"
#include "sriov/rtnetlink_socket.h"
#include "sriov/sysfs.h"
#include "sriov/vf_messages.h"

namespace braid::sriov {
namespace {

using ::testing::HasSubstr;

constexpr char kVeth[] = "braid-sriov0";

// A socket opened inside a new network namespace holding a veth pair; the test's thread returns
// to its own namespace before the tests run, and the namespace lives as long as the socket.
class LiveRtnetlinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (CAP_SYS_ADMIN) for a network namespace";
    if (::access("/usr/sbin/ip", X_OK) != 0 && ::access("/sbin/ip", X_OK) != 0) {
      GTEST_SKIP() << "needs iproute2's ip to create the veth pair";
    }
    const int home = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(home, 0) << std::strerror(errno);
    if (::unshare(CLONE_NEWNET) != 0) {
      const int error = errno;
      ::close(home);
      GTEST_SKIP() << "unshare(CLONE_NEWNET): " << std::strerror(error);
    }
    // ip runs as a child of this thread and so in the new namespace.
    const std::string command = std::string("ip link add ") + kVeth +
                                " type veth peer name braid-sriov1 && ip link set " + kVeth + " up";
    const int rc = std::system(command.c_str());
    absl::StatusOr<RtnetlinkSocket> socket = RtnetlinkSocket::Open(std::chrono::seconds(2));
    const int back = ::setns(home, CLONE_NEWNET);
    const int back_error = errno;
    ::close(home);
    ASSERT_EQ(back, 0) << "setns back home: " << std::strerror(back_error);
    ASSERT_EQ(rc, 0) << command;
    ASSERT_TRUE(socket.ok()) << socket.status();
    socket_.emplace(*std::move(socket));
    // The test's own namespace must not have the device: the socket is what reaches it.
    ASSERT_FALSE(SysfsRoot("/").LinkExists(std::string("sys/class/net/") + kVeth));
  }

  std::optional<RtnetlinkSocket> socket_;
};

VfSettings Mac(uint32_t vf) {
  VfSettings s;
  s.vf = vf;
  s.mac = MacAddress::Parse("02:00:5e:10:00:01");
  return s;
}

TEST_F(LiveRtnetlinkTest, GetLinkParsesAVethWithoutVfs) {
  const absl::StatusOr<LinkInfo> by_name = GetLinkVfs(*socket_, LinkId::ByName(kVeth));
  ASSERT_TRUE(by_name.ok()) << by_name.status();
  EXPECT_EQ(by_name->ifname, kVeth);
  EXPECT_GT(by_name->ifindex, 0);
  // veth has no parent device, so the kernel sends neither IFLA_NUM_VF nor a VF list.
  EXPECT_FALSE(by_name->num_vfs);
  EXPECT_TRUE(by_name->vfs.empty());

  const absl::StatusOr<LinkInfo> by_index = GetLinkVfs(*socket_, LinkId::ByIndex(by_name->ifindex));
  ASSERT_TRUE(by_index.ok()) << by_index.status();
  EXPECT_EQ(by_index->ifname, kVeth);

  const absl::StatusOr<LinkInfo> lo = GetLinkVfs(*socket_, LinkId::ByName("lo"));
  ASSERT_TRUE(lo.ok()) << lo.status();
  EXPECT_EQ(lo->ifindex, 1);  // a new namespace's loopback is always ifindex 1
}

TEST_F(LiveRtnetlinkTest, SetVfMacIsRefusedWithTheKernelsErrno) {
  const absl::Status status =
      SetVfSettings(*socket_, LinkId::ByName(kVeth), std::vector<VfSettings>{Mac(0)});
  // do_setvfinfo: no ndo_set_vf_mac on veth -> EOPNOTSUPP, reached only if our nests parsed.
  EXPECT_EQ(status.code(), absl::StatusCode::kUnimplemented) << status;
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("RTM_SETLINK on braid-sriov0 (VF 0: mac 02:00:5e:10:00:01)"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("(EOPNOTSUPP)"));
}

TEST_F(LiveRtnetlinkTest, EverySettingIsRefusedTheSameWay) {
  std::vector<VfSettings> each;
  VfSettings s;
  s.vf = 1;
  s.vlan = VfVlan{100, 2, kEtherType8021Q};
  each.push_back(s);
  s = VfSettings{};
  s.vf = 1;
  s.vlan = VfVlan{100, 0, kEtherType8021AD};
  each.push_back(s);
  s = VfSettings{};
  s.vf = 1;
  s.spoof_check = true;
  each.push_back(s);
  s = VfSettings{};
  s.vf = 1;
  s.link_state = VfLinkState::kDisable;
  each.push_back(s);
  s = VfSettings{};
  s.vf = 1;
  s.trust = true;
  each.push_back(s);
  for (const VfSettings& setting : each) {
    const absl::Status status =
        SetVfSettings(*socket_, LinkId::ByName(kVeth), std::vector<VfSettings>{setting});
    EXPECT_EQ(status.code(), absl::StatusCode::kUnimplemented) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr(setting.ToString())) << status;
  }
}

TEST_F(LiveRtnetlinkTest, NoSuchLink) {
  const absl::Status set =
      SetVfSettings(*socket_, LinkId::ByName("braid-none"), std::vector<VfSettings>{Mac(0)});
  EXPECT_EQ(set.code(), absl::StatusCode::kNotFound) << set;
  EXPECT_THAT(std::string(set.message()), HasSubstr("(ENODEV)"));
  const absl::StatusOr<LinkInfo> get = GetLinkVfs(*socket_, LinkId::ByIndex(999999));
  EXPECT_EQ(get.status().code(), absl::StatusCode::kNotFound) << get.status();
  EXPECT_THAT(std::string(get.status().message()), HasSubstr("RTM_GETLINK of ifindex 999999"));
}

// Requests the kernel refuses before it asks the driver: do_setlink accepts only IFLA_VF_INFO in
// the list (EINVAL), and nla_parse_nested checks IFLA_VF_MAC against ifla_vf_policy's minimum
// length (ERANGE, lib/nlattr.c validate_nla).
std::vector<uint8_t> MalformedSetLink(uint16_t info_type, size_t mac_len) {
  NetlinkMessageBuilder message(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK);
  const uint8_t ifinfo[16] = {};
  message.AppendFamilyHeader(ifinfo);
  message.PutString(IFLA_IFNAME, kVeth);
  const size_t list = message.BeginNested(IFLA_VFINFO_LIST);
  const size_t info = message.BeginNested(info_type);
  const std::vector<uint8_t> mac(mac_len, 0);
  message.PutAttribute(IFLA_VF_MAC, mac);
  message.EndNested(info);
  message.EndNested(list);
  return std::move(message).Finish();
}

TEST_F(LiveRtnetlinkTest, MalformedRequestsGetTheKernelsErrnoWithContext) {
  const absl::StatusOr<std::vector<std::vector<uint8_t>>> wrong_type =
      socket_->Transact(MalformedSetLink(IFLA_VF_INFO + 1, 36), "VF list with a stray entry");
  EXPECT_EQ(wrong_type.status().code(), absl::StatusCode::kInvalidArgument) << wrong_type.status();
  EXPECT_THAT(std::string(wrong_type.status().message()),
              HasSubstr("VF list with a stray entry: Invalid argument (EINVAL)"));

  const absl::StatusOr<std::vector<std::vector<uint8_t>>> short_mac =
      socket_->Transact(MalformedSetLink(IFLA_VF_INFO, 8), "short IFLA_VF_MAC");
  EXPECT_EQ(short_mac.status().code(), absl::StatusCode::kOutOfRange) << short_mac.status();
  EXPECT_THAT(std::string(short_mac.status().message()),
              HasSubstr("short IFLA_VF_MAC: Numerical result out of range (ERANGE)"));
}

TEST_F(LiveRtnetlinkTest, TheKernelsExtendedAckIsInTheMessage) {
  // The top-level attributes are checked against ifla_policy with an extack: a name longer than
  // IFNAMSIZ - 1 gets the kernel's own words back.
  NetlinkMessageBuilder message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK);
  const uint8_t ifinfo[16] = {};
  message.AppendFamilyHeader(ifinfo);
  message.PutString(IFLA_IFNAME, "a-name-much-longer-than-ifnamsiz");
  const absl::StatusOr<std::vector<std::vector<uint8_t>>> answer =
      socket_->Transact(std::move(message).Finish(), "long name");
  ASSERT_FALSE(answer.ok());
  // "long name: Numerical result out of range (ERANGE); kernel: Attribute failed policy
  // validation" on Linux 6.x.
  EXPECT_THAT(std::string(answer.status().message()), HasSubstr("long name: "));
  EXPECT_THAT(std::string(answer.status().message()), HasSubstr("; kernel: "));
}

TEST_F(LiveRtnetlinkTest, ARequestWithoutAckIsNotSent) {
  NetlinkMessageBuilder message(RTM_GETLINK, NLM_F_REQUEST);
  const uint8_t ifinfo[16] = {};
  message.AppendFamilyHeader(ifinfo);
  const absl::StatusOr<std::vector<std::vector<uint8_t>>> answer =
      socket_->Transact(std::move(message).Finish(), "no ack");
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(LiveRtnetlinkTest, TheSocketKeepsWorkingAfterRefusals) {
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(
        SetVfSettings(*socket_, LinkId::ByName(kVeth), std::vector<VfSettings>{Mac(0)}).code(),
        absl::StatusCode::kUnimplemented);
    EXPECT_TRUE(GetLinkVfs(*socket_, LinkId::ByName(kVeth)).ok());
  }
}

TEST(RtnetlinkHostTest, GetLinkOfAHostDeviceWithAParent) {
  // A device with a parent (a PCI NIC, or virtio on a VM) reports IFLA_NUM_VF even with no VFs:
  // the first real answer carrying the attribute. Read-only, in the host's namespace.
  std::optional<std::string> name;
  const SysfsRoot root("/");
  absl::StatusOr<std::vector<std::string>> names = root.ListDirectory("sys/class/net");
  if (names.ok()) {
    for (const std::string& n : *names) {
      if (root.Exists("sys/class/net/" + n + "/device")) {
        name = n;
        break;
      }
    }
  }
  if (!name) GTEST_SKIP() << "no network device with a parent device on this machine";
  absl::StatusOr<RtnetlinkSocket> socket = RtnetlinkSocket::Open();
  ASSERT_TRUE(socket.ok()) << socket.status();
  const absl::StatusOr<LinkInfo> link = GetLinkVfs(*socket, LinkId::ByName(*name));
  ASSERT_TRUE(link.ok()) << link.status();
  EXPECT_EQ(link->ifname, *name);
  ASSERT_TRUE(link->num_vfs) << *name;
  EXPECT_EQ(*link->num_vfs, link->vfs.size());
}

}  // namespace
}  // namespace braid::sriov
