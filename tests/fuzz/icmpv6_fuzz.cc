// Fuzzes ICMPv6 messages (RFC 4443) and Neighbor Discovery (RFC 4861) with their options, as
// sent from fe80::1 to ff02::1: every accepted input is read through every accessor, its option
// list walked, re-emitted, re-parsed and compared (Parse(Emit(x)) == x), trapping on any
// mismatch. See l2l3_fuzz_checks.h.
#include <cstddef>
#include <cstdint>
#include <span>

#include "datapath/wire/address.h"
#include "tests/fuzz/l2l3_fuzz_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const braid::wire::Ipv6Address kSource{
      {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01}};
  static const braid::wire::Ipv6Address kDestination{
      {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01}};
  braid::wire::fuzz::FuzzIcmpv6(std::span<const uint8_t>(data, size), kSource, kDestination);
  return 0;
}
