// The classic libpcap capture file format ("pcap", not pcapng): a 24-byte file header, then
// records, each a 16-byte header followed by the captured bytes. Every field is in the byte order
// of the host that wrote the file; the magic number tells which, and whether the timestamps'
// fraction counts microseconds or nanoseconds. Reference: the libpcap file format description
// (pcap-savefile(5), draft-ietf-opsawg-pcap).
#pragma once

#include <cstddef>
#include <cstdint>

namespace braid::pcap {

inline constexpr uint32_t kMagicMicroseconds = 0xa1b2c3d4;
inline constexpr uint32_t kMagicNanoseconds = 0xa1b23c4d;
inline constexpr uint16_t kVersionMajor = 2;
inline constexpr uint16_t kVersionMinor = 4;

inline constexpr size_t kFileHeaderLen = 24;
inline constexpr size_t kRecordHeaderLen = 16;

// LINKTYPE_* values (tcpdump.org link-layer header types). Braid writes only these two.
inline constexpr uint32_t kLinkTypeEthernet = 1;  // Ethernet II / 802.3 frames
inline constexpr uint32_t kLinkTypeRaw = 101;     // bare IPv4 or IPv6 packets
// The header's link-type field carries flags (FCS length) above the 26-bit link type.
inline constexpr uint32_t kLinkTypeMask = 0x03ffffff;

// Largest record either side accepts: 256 KiB, dumpcap's default snapshot length and more than
// any frame (even a 64 KiB GSO/TSO super-packet) that Braid captures. The reader rejects anything
// longer as a damaged file rather than allocating what a corrupt length field asks for.
inline constexpr uint32_t kMaxSnaplen = 256 * 1024;
inline constexpr uint32_t kDefaultSnaplen = kMaxSnaplen;

}  // namespace braid::pcap
