#include "sriov/pci_address.h"

#include <gtest/gtest.h>

#include "sriov/mac_address.h"

namespace braid::sriov {
namespace {

TEST(PciAddressTest, ParsesTheKernelsForm) {
  const std::optional<PciAddress> a = PciAddress::Parse("0000:03:10.1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->domain, 0u);
  EXPECT_EQ(a->bus, 0x03);
  EXPECT_EQ(a->device, 0x10);
  EXPECT_EQ(a->function, 1);
  EXPECT_EQ(a->ToString(), "0000:03:10.1");
}

TEST(PciAddressTest, AcceptsUpperCaseAndPrintsLowerCase) {
  const std::optional<PciAddress> a = PciAddress::Parse("00AB:FF:1F.7");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->ToString(), "00ab:ff:1f.7");
}

TEST(PciAddressTest, AcceptsWideDomains) {
  // VMD puts devices in domains 10000 and up; the kernel prints them with %04x.
  const std::optional<PciAddress> a = PciAddress::Parse("10000:e1:00.0");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->domain, 0x10000u);
  EXPECT_EQ(a->ToString(), "10000:e1:00.0");
}

TEST(PciAddressTest, RejectsEverythingElse) {
  for (const char* bad :
       {"", "03:00.0", "0000:03:00", "0000:03:00.8", "0000:03:20.0", "0000:3:00.0", "0000:03:0.0",
        "0000-03:00.0", "0000:03:00.00", "000g:03:00.0", "virtio2", "0000:03:00.0\n",
        " 0000:03:00.0", "+000:03:00.0", "123456789:03:00.0"}) {
    EXPECT_FALSE(PciAddress::Parse(bad)) << "'" << bad << "'";
  }
}

TEST(PciAddressTest, OrdersByDomainBusDeviceFunction) {
  EXPECT_LT(*PciAddress::Parse("0000:03:00.1"), *PciAddress::Parse("0000:03:10.0"));
  EXPECT_LT(*PciAddress::Parse("0000:ff:1f.7"), *PciAddress::Parse("0001:00:00.0"));
  EXPECT_EQ(*PciAddress::Parse("0000:03:00.1"), *PciAddress::Parse("0000:03:00.1"));
}

TEST(MacAddressTest, ParsesAndPrints) {
  const std::optional<MacAddress> mac = MacAddress::Parse("02:00:5E:10:00:0a");
  ASSERT_TRUE(mac);
  EXPECT_EQ(mac->bytes, (std::array<uint8_t, 6>{0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a}));
  EXPECT_EQ(mac->ToString(), "02:00:5e:10:00:0a");
  EXPECT_FALSE(mac->IsMulticast());
  EXPECT_FALSE(mac->IsZero());
  EXPECT_TRUE(MacAddress::Parse("00:00:00:00:00:00")->IsZero());
  EXPECT_TRUE(MacAddress::Parse("01:00:5e:00:00:01")->IsMulticast());
}

TEST(MacAddressTest, RejectsOtherForms) {
  for (const char* bad : {"", "02:00:5e:10:00", "02:00:5e:10:00:0a:0b", "02-00-5e-10-00-0a",
                          "0200.5e10.000a", "02:00:5e:10:00:0g", "2:00:5e:10:00:0a0"}) {
    EXPECT_FALSE(MacAddress::Parse(bad)) << "'" << bad << "'";
  }
}

}  // namespace
}  // namespace braid::sriov
