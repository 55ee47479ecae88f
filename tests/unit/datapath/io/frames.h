// Hand-built frames for the io tests: just the headers steering and checksum code read, byte by
// byte (no wire emitters, so the tests do not share a bug with the code they check).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "datapath/wire/address.h"
#include "datapath/wire/bytes.h"
#include "datapath/wire/checksum.h"

namespace braid::io::testing {

inline void PutEthernet(std::vector<uint8_t>& f, uint16_t ethertype, int vlan = -1) {
  const uint8_t dst[6] = {0x02, 0, 0, 0, 0, 0x01};
  const uint8_t src[6] = {0x02, 0, 0, 0, 0, 0x02};
  f.insert(f.end(), dst, dst + 6);
  f.insert(f.end(), src, src + 6);
  if (vlan >= 0) {
    f.push_back(0x81);
    f.push_back(0x00);
    f.push_back(static_cast<uint8_t>(vlan >> 8));
    f.push_back(static_cast<uint8_t>(vlan));
  }
  f.push_back(static_cast<uint8_t>(ethertype >> 8));
  f.push_back(static_cast<uint8_t>(ethertype));
}

// IPv4 header (no options) with a correct header checksum.
inline void PutIpv4(std::vector<uint8_t>& f, const wire::Ipv4Address& src,
                    const wire::Ipv4Address& dst, uint8_t protocol, uint16_t payload_len,
                    uint16_t frag = 0x4000) {
  const size_t at = f.size();
  f.resize(at + 20, 0);
  uint8_t* h = &f[at];
  h[0] = 0x45;
  wire::StoreBe16(h + 2, static_cast<uint16_t>(20 + payload_len));
  wire::StoreBe16(h + 6, frag);
  h[8] = 64;
  h[9] = protocol;
  std::copy(src.bytes.begin(), src.bytes.end(), h + 12);
  std::copy(dst.bytes.begin(), dst.bytes.end(), h + 16);
  wire::StoreBe16(h + 10, wire::ComputeChecksum({h, 20}));
}

inline void PutIpv6(std::vector<uint8_t>& f, const wire::Ipv6Address& src,
                    const wire::Ipv6Address& dst, uint8_t next, uint16_t payload_len) {
  const size_t at = f.size();
  f.resize(at + 40, 0);
  uint8_t* h = &f[at];
  h[0] = 0x60;
  wire::StoreBe16(h + 4, payload_len);
  h[6] = next;
  h[7] = 64;
  std::copy(src.bytes.begin(), src.bytes.end(), h + 8);
  std::copy(dst.bytes.begin(), dst.bytes.end(), h + 24);
}

// TCP header (20 bytes, checksum 0) and `payload`.
inline void PutTcp(std::vector<uint8_t>& f, uint16_t src_port, uint16_t dst_port,
                   std::initializer_list<uint8_t> payload = {}) {
  const size_t at = f.size();
  f.resize(at + 20, 0);
  uint8_t* h = &f[at];
  wire::StoreBe16(h, src_port);
  wire::StoreBe16(h + 2, dst_port);
  wire::StoreBe32(h + 4, 1000);
  h[12] = 5 << 4;
  h[13] = 0x10;  // ACK
  wire::StoreBe16(h + 14, 65535);
  f.insert(f.end(), payload.begin(), payload.end());
}

// A complete Ethernet/IPv4/TCP frame, TCP checksum left 0.
inline std::vector<uint8_t> Ipv4TcpFrame(const wire::Ipv4Address& src, uint16_t src_port,
                                         const wire::Ipv4Address& dst, uint16_t dst_port,
                                         std::initializer_list<uint8_t> payload = {},
                                         int vlan = -1) {
  std::vector<uint8_t> f;
  PutEthernet(f, 0x0800, vlan);
  PutIpv4(f, src, dst, 6, static_cast<uint16_t>(20 + payload.size()));
  PutTcp(f, src_port, dst_port, payload);
  return f;
}

inline std::vector<uint8_t> Ipv6TcpFrame(const wire::Ipv6Address& src, uint16_t src_port,
                                         const wire::Ipv6Address& dst, uint16_t dst_port,
                                         std::initializer_list<uint8_t> payload = {}) {
  std::vector<uint8_t> f;
  PutEthernet(f, 0x86dd);
  PutIpv6(f, src, dst, 6, static_cast<uint16_t>(20 + payload.size()));
  PutTcp(f, src_port, dst_port, payload);
  return f;
}

inline wire::Ipv4Address V4(const char* text) { return *wire::Ipv4Address::Parse(text); }
inline wire::Ipv6Address V6(const char* text) { return *wire::Ipv6Address::Parse(text); }

}  // namespace braid::io::testing
