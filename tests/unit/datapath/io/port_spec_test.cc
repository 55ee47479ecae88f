#include "datapath/io/port_spec.h"

#include <gtest/gtest.h>

namespace braid::io {
namespace {

TEST(ParsePortSpec, PciAddresses) {
  auto spec = ParsePortSpec("0000:03:02.1");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->kind, PortKind::kPci);
  EXPECT_EQ(spec->name, "0000:03:02.1");
  EXPECT_EQ(spec->devargs(), "0000:03:02.1");
  EXPECT_EQ(ParsePortSpec("3b:00.7")->kind, PortKind::kPci);
  EXPECT_FALSE(ParsePortSpec("0000:03:02.9").ok()) << "function is 0..7";
  EXPECT_FALSE(ParsePortSpec("0000:3:02.1").ok());
  EXPECT_FALSE(ParsePortSpec("00:03:02:1").ok());
}

TEST(ParsePortSpec, EveryVirtualDevice) {
  struct Case {
    const char* text;
    PortKind kind;
    const char* name;
    const char* args;
  };
  const Case cases[] = {
      {"net_af_xdp0,iface=veth0,queue_count=2", PortKind::kAfXdp, "net_af_xdp0",
       "iface=veth0,queue_count=2"},
      {"net_af_packet1,iface=pa0", PortKind::kAfPacket, "net_af_packet1", "iface=pa0"},
      {"net_tap0,iface=dtap0", PortKind::kTap, "net_tap0", "iface=dtap0"},
      {"net_tap3", PortKind::kTap, "net_tap3", ""},
      {"net_memif0,role=server,socket=/run/braid/memif.sock", PortKind::kMemif, "net_memif0",
       "role=server,socket=/run/braid/memif.sock"},
      {"net_ring0", PortKind::kRing, "net_ring0", ""},
      {"net_null12,size=128", PortKind::kNull, "net_null12", "size=128"},
      {"net_pcap0,iface=eth0", PortKind::kOtherVdev, "net_pcap0", "iface=eth0"},
  };
  for (const Case& c : cases) {
    auto spec = ParsePortSpec(c.text);
    ASSERT_TRUE(spec.ok()) << c.text << ": " << spec.status();
    EXPECT_EQ(spec->kind, c.kind) << c.text;
    EXPECT_EQ(spec->name, c.name);
    EXPECT_EQ(spec->args, c.args);
    EXPECT_EQ(spec->devargs(), c.text);
  }
  EXPECT_EQ(ParsePortSpec("net_af_xdp0,iface=veth0,queue_count=2")->Arg("queue_count"), "2");
  EXPECT_EQ(ParsePortSpec("net_af_xdp0,iface=veth0")->Arg("start_queue"), "");
  EXPECT_EQ(PortKindName(PortKind::kAfXdp), "af_xdp");
}

TEST(ParsePortSpec, Malformed) {
  EXPECT_FALSE(ParsePortSpec("").ok());
  EXPECT_FALSE(ParsePortSpec("net_ring").ok()) << "no instance number";
  EXPECT_FALSE(ParsePortSpec("0,iface=x").ok());
  EXPECT_FALSE(ParsePortSpec("net_af_xdp0").ok()) << "iface is required";
  EXPECT_FALSE(ParsePortSpec("net_af_packet0,qpairs=2").ok()) << "iface is required";
  EXPECT_FALSE(ParsePortSpec("net_memif0,role=server").ok()) << "socket is required";
  EXPECT_FALSE(ParsePortSpec("net_tap0,iface").ok()) << "not key=value";
  EXPECT_EQ(ParsePortSpec("net_tap0,=x").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace braid::io
