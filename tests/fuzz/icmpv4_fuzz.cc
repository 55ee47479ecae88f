// Fuzzes ICMPv4 messages (RFC 792, RFC 1191): every accepted input is read through every accessor,
// re-emitted, re-parsed and compared (Parse(Emit(x)) == x), trapping on any mismatch. See
// l2l3_fuzz_checks.h.
#include <cstddef>
#include <cstdint>
#include <span>

#include "tests/fuzz/l2l3_fuzz_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> in(data, size);
  braid::wire::fuzz::FuzzIcmpv4(in);
  return 0;
}
