// Fuzzes the TCP option list alone (any length, so also lists longer than the 40-byte option
// space): the parse never fails, always re-emits, and Parse(Emit(x)) == x. The input's leading
// bytes also serve as a raw option to append, which must either fit and round-trip or leave the
// repr unchanged.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "datapath/wire/tcp_options.h"

namespace {

using braid::wire::kTcpMaxOptionsLen;
using braid::wire::TcpOptionDrops;
using braid::wire::TcpOptionsRepr;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

// Emits `r`, which must fit, and checks that it parses back to `r` and re-emits the same bytes.
void RoundTrip(const TcpOptionsRepr& r) {
  const size_t len = r.EncodedLen();
  Check(len <= kTcpMaxOptionsLen && len % 4 == 0);
  std::vector<uint8_t> out(len + 4, 0xa5);
  Check(r.Emit(out));
  Check(std::all_of(out.begin() + len, out.end(), [](uint8_t b) { return b == 0xa5; }));
  out.resize(len);
  TcpOptionsRepr expected = r;
  expected.drops = TcpOptionDrops();
  const TcpOptionsRepr again = TcpOptionsRepr::Parse(out);
  Check(again == expected);
  std::vector<uint8_t> out2(len);
  Check(again.Emit(out2) && out2 == out);
  if (len > 0) {
    std::vector<uint8_t> small(len - 1, 0x5a);
    Check(!r.Emit(small));
    Check(std::all_of(small.begin(), small.end(), [](uint8_t b) { return b == 0x5a; }));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> in(data, size);
  TcpOptionsRepr r = TcpOptionsRepr::Parse(in);
  Check(!r.window_scale || *r.window_scale <= braid::wire::kTcpMaxWindowScale);
  Check(r.sack_blocks.size() <= braid::wire::kTcpMaxSackBlocks);
  Check(r.drops.total() <= size);
  for (const auto& raw : r.raw_options) {
    Check(raw.length() >= 2 && raw.bytes().size() == raw.length());
    Check(raw.data().size() + 2 == raw.length() && raw.bytes()[1] == raw.length());
  }
  RoundTrip(r);

  if (size >= 2) {
    const TcpOptionsRepr before = r;
    const auto candidate = in.first(std::min<size_t>(size, in[1]));
    if (r.AppendRaw(candidate)) {
      Check(r.raw_options.size() == before.raw_options.size() + 1);
      RoundTrip(r);
    } else {
      Check(r == before);
    }
  }
  return 0;
}
