#include "datapath/wire/tcp.h"

#include <string_view>

#include "datapath/wire/bytes.h"
#include "datapath/wire/checksum.h"

namespace braid::wire {
namespace {

constexpr uint8_t kIpProtocolNumberTcp = 6;  // IANA protocol numbers
constexpr size_t kChecksumOffset = 16;

constexpr std::string_view kFlagNames[8] = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"};

}  // namespace

std::string TcpFlags::ToString() const {
  if (bits_ == 0) return "none";
  std::string s;
  for (size_t i = 0; i < 8; ++i) {
    if ((bits_ & (1u << i)) == 0) continue;
    if (!s.empty()) s += ',';
    s += kFlagNames[i];
  }
  return s;
}

WireResult<TcpSegment> TcpSegment::Check(std::span<const uint8_t> segment) {
  if (segment.size() < kTcpHeaderLen) return WireError::kTruncated;
  const size_t header_len = size_t{static_cast<uint8_t>(segment[12] >> 4)} * 4;
  if (header_len < kTcpHeaderLen || header_len > segment.size()) {
    return WireError::kBadHeaderLength;
  }
  return TcpSegment(segment);
}

uint16_t TcpSegment::src_port() const { return LoadBe16(bytes_.data()); }
uint16_t TcpSegment::dst_port() const { return LoadBe16(bytes_.data() + 2); }
TcpSeq TcpSegment::seq() const { return TcpSeq(LoadBe32(bytes_.data() + 4)); }
TcpSeq TcpSegment::ack() const { return TcpSeq(LoadBe32(bytes_.data() + 8)); }
uint16_t TcpSegment::window() const { return LoadBe16(bytes_.data() + 14); }
uint16_t TcpSegment::checksum() const { return LoadBe16(bytes_.data() + kChecksumOffset); }
uint16_t TcpSegment::urgent_pointer() const { return LoadBe16(bytes_.data() + 18); }

bool TcpSegment::VerifyChecksumV4(const Ipv4Address& src, const Ipv4Address& dst) const {
  if (bytes_.size() > UINT16_MAX) return false;
  return Ipv4UpperLayerChecksum(src, dst, kIpProtocolNumberTcp, bytes_) == 0;
}

bool TcpSegment::VerifyChecksumV6(const Ipv6Address& src, const Ipv6Address& dst) const {
  if (bytes_.size() > UINT32_MAX) return false;
  return Ipv6UpperLayerChecksum(src, dst, kIpProtocolNumberTcp, bytes_) == 0;
}

TcpRepr TcpRepr::Parse(const TcpSegment& segment) {
  TcpRepr r;
  r.src_port = segment.src_port();
  r.dst_port = segment.dst_port();
  r.seq = segment.seq();
  r.ack = segment.ack();
  r.flags = segment.flags();
  r.window = segment.window();
  r.urgent_pointer = segment.urgent_pointer();
  r.options = TcpOptionsRepr::Parse(segment.options());
  r.payload_len = segment.payload().size();
  return r;
}

bool TcpRepr::Emit(std::span<uint8_t> out) const {
  const size_t options_len = options.EncodedLen();
  const size_t header_len = kTcpHeaderLen + options_len;
  if (options_len > kTcpMaxOptionsLen || out.size() < header_len) return false;
  // Options first: the only part that can still refuse (an out-of-range window scale).
  if (!options.Emit(out.subspan(kTcpHeaderLen, options_len))) return false;
  uint8_t* p = out.data();
  StoreBe16(p, src_port);
  StoreBe16(p + 2, dst_port);
  StoreBe32(p + 4, seq.raw());
  StoreBe32(p + 8, ack.raw());
  p[12] = static_cast<uint8_t>((header_len / 4) << 4);  // reserved bits zero
  p[13] = flags.bits();
  StoreBe16(p + 14, window);
  StoreBe16(p + kChecksumOffset, 0);
  StoreBe16(p + 18, urgent_pointer);
  return true;
}

bool TcpRepr::FillChecksumV4(std::span<uint8_t> segment, const Ipv4Address& src,
                             const Ipv4Address& dst) {
  if (segment.size() < kTcpHeaderLen || segment.size() > UINT16_MAX) return false;
  StoreBe16(segment.data() + kChecksumOffset, 0);
  StoreBe16(segment.data() + kChecksumOffset,
            Ipv4UpperLayerChecksum(src, dst, kIpProtocolNumberTcp, segment));
  return true;
}

bool TcpRepr::FillChecksumV6(std::span<uint8_t> segment, const Ipv6Address& src,
                             const Ipv6Address& dst) {
  if (segment.size() < kTcpHeaderLen || segment.size() > UINT32_MAX) return false;
  StoreBe16(segment.data() + kChecksumOffset, 0);
  StoreBe16(segment.data() + kChecksumOffset,
            Ipv6UpperLayerChecksum(src, dst, kIpProtocolNumberTcp, segment));
  return true;
}

std::ostream& operator<<(std::ostream& os, const TcpRepr& repr) {
  return os << repr.src_port << " > " << repr.dst_port << " [" << repr.flags << "] seq " << repr.seq
            << " ack " << repr.ack << " win " << repr.window << " urg " << repr.urgent_pointer
            << " options " << repr.options << " len " << repr.payload_len;
}

}  // namespace braid::wire
