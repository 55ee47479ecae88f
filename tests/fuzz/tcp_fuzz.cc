// Fuzzes the TCP header view and repr with their options: every accepted segment is read through
// every accessor, re-emitted, re-parsed and compared (Parse(Emit(x)) == x), and its checksum
// filled and verified, trapping on any mismatch.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "datapath/wire/address.h"
#include "datapath/wire/tcp.h"
#include "datapath/wire/tcp_options.h"

namespace {

using braid::wire::Ipv4Address;
using braid::wire::Ipv6Address;
using braid::wire::TcpOptionDrops;
using braid::wire::TcpRepr;
using braid::wire::TcpSegment;
using braid::wire::WireError;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> in(data, size);
  auto seg = TcpSegment::Check(in);
  if (!seg.ok()) {
    Check(seg.error() == WireError::kTruncated || seg.error() == WireError::kBadHeaderLength);
    return 0;
  }

  // Every accessor; the sizes must agree with each other and the buffer.
  volatile uint32_t sink = seg->src_port() ^ seg->dst_port() ^ seg->seq().raw() ^ seg->ack().raw() ^
                           seg->window() ^ seg->checksum() ^ seg->urgent_pointer() ^
                           seg->reserved() ^ seg->flags().bits();
  (void)sink;
  Check(seg->flags().ToString().size() > 0);
  Check(seg->header_len() == size_t{seg->data_offset()} * 4);
  Check(seg->header_len() >= braid::wire::kTcpHeaderLen && seg->header_len() <= size);
  Check(seg->options().size() <= braid::wire::kTcpMaxOptionsLen);
  Check(seg->header_len() + seg->payload().size() == size);
  Check(seg->bytes().size() == size);
  const Ipv4Address a4 = Ipv4Address::FromU32(0xc0000201);
  const Ipv4Address b4 = Ipv4Address::FromU32(0xc0000202);
  Ipv6Address a6;
  Ipv6Address b6;
  a6.bytes[0] = b6.bytes[0] = 0x20;
  a6.bytes[15] = 1;
  b6.bytes[15] = 2;
  (void)seg->VerifyChecksumV4(a4, b4);
  (void)seg->VerifyChecksumV6(a6, b6);

  const TcpRepr r = TcpRepr::Parse(*seg);
  Check(r.payload_len == seg->payload().size());
  for (const auto& raw : r.options.raw_options) {
    auto again = braid::wire::RawTcpOption::FromBytes(raw.bytes());
    Check(again.has_value() && *again == raw);
  }

  // Options parsed from at most 40 bytes always fit again.
  Check(r.HeaderLen() <= braid::wire::kTcpMaxHeaderLen && r.HeaderLen() % 4 == 0);
  std::vector<uint8_t> out(r.BufferLen(), 0xa5);
  Check(r.Emit(out));
  std::copy(seg->payload().begin(), seg->payload().end(), out.begin() + r.HeaderLen());

  auto seg2 = TcpSegment::Check(out);
  Check(seg2.ok());
  TcpRepr expected = r;
  expected.options.drops = TcpOptionDrops();  // a report of the parse, not emitted
  const TcpRepr r2 = TcpRepr::Parse(*seg2);
  Check(r2 == expected);

  // Emitting the re-parsed repr gives the same bytes.
  std::vector<uint8_t> out2(r2.BufferLen(), 0xa5);
  Check(r2.Emit(out2));
  Check(std::equal(out2.begin(), out2.begin() + r2.HeaderLen(), out.begin()));

  // Checksums filled over the emitted segment verify.
  Check(TcpRepr::FillChecksumV4(out, a4, b4));
  Check(TcpSegment::Check(out)->VerifyChecksumV4(a4, b4));
  Check(TcpRepr::FillChecksumV6(out, a6, b6));
  Check(TcpSegment::Check(out)->VerifyChecksumV6(a6, b6));

  // One byte short: refused, nothing written.
  std::vector<uint8_t> small(r.HeaderLen() - 1, 0x5a);
  Check(!r.Emit(small));
  Check(std::all_of(small.begin(), small.end(), [](uint8_t b) { return b == 0x5a; }));
  return 0;
}
