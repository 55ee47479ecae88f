// Golden packet bytes written as hex text in tests: "02 04 05 b4" -> {0x02, 0x04, 0x05, 0xb4}.
// Anything that is not a lowercase hex digit (spaces, newlines, separators) is skipped.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace braid::wire::testing {

inline std::vector<uint8_t> Hex(std::string_view text) {
  std::vector<uint8_t> out;
  int hi = -1;
  for (char c : text) {
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else {
      continue;
    }
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<uint8_t>(hi << 4 | v));
      hi = -1;
    }
  }
  return out;
}

}  // namespace braid::wire::testing
