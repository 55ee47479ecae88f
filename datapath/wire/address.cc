#include "datapath/wire/address.h"

#include <arpa/inet.h>

#include <cstdio>

namespace braid::wire {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<MacAddress> MacAddress::Parse(std::string_view text) {
  if (text.size() != 17) return std::nullopt;
  MacAddress m;
  for (size_t i = 0; i < 6; ++i) {
    int hi = HexValue(text[i * 3]);
    int lo = HexValue(text[i * 3 + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    if (i < 5 && text[i * 3 + 2] != ':') return std::nullopt;
    m.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return m;
}

std::string MacAddress::ToString() const {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", bytes[0], bytes[1], bytes[2],
                bytes[3], bytes[4], bytes[5]);
  return buf;
}

std::optional<Ipv4Address> Ipv4Address::Parse(std::string_view text) {
  if (text.find('\0') != std::string_view::npos) return std::nullopt;  // inet_pton stops there
  std::string s(text);
  Ipv4Address a;
  if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
  return a;
}

std::string Ipv4Address::ToString() const {
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, bytes.data(), buf, sizeof(buf));
  return buf;
}

std::optional<Ipv6Address> Ipv6Address::Parse(std::string_view text) {
  if (text.find('\0') != std::string_view::npos) return std::nullopt;  // inet_pton stops there
  std::string s(text);
  Ipv6Address a;
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
  return a;
}

std::string Ipv6Address::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, bytes.data(), buf, sizeof(buf));
  return buf;
}

Ipv6Address Ipv6Address::SolicitedNodeMulticast() const {
  Ipv6Address m{{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff}};
  m.bytes[13] = bytes[13];
  m.bytes[14] = bytes[14];
  m.bytes[15] = bytes[15];
  return m;
}

MacAddress Ipv6Address::MulticastMac() const {
  return {{0x33, 0x33, bytes[12], bytes[13], bytes[14], bytes[15]}};
}

std::string ToString(const IpAddress& a) {
  return std::visit([](const auto& ip) { return ip.ToString(); }, a);
}

std::optional<IpAddress> ParseIpAddress(std::string_view text) {
  if (auto v4 = Ipv4Address::Parse(text)) return IpAddress(*v4);
  if (auto v6 = Ipv6Address::Parse(text)) return IpAddress(*v6);
  return std::nullopt;
}

}  // namespace braid::wire
