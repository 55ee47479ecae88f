// Small string helpers for messages. The io layer builds its error and summary text with these
// rather than absl/strings: Debian's Abseil is built with its own absl::string_view (not
// std::string_view), so absl::StrCat and friends do not take the std::string_view the rest of the
// project uses.
#pragma once

#include <cstddef>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace braid::io {

// Streams every part (numbers in decimal; pass 8-bit integers as int).
template <typename... Parts>
std::string Cat(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}

template <typename Range>
std::string Join(const Range& items, std::string_view separator) {
  std::ostringstream os;
  bool first = true;
  for (const auto& item : items) {
    if (!first) os << separator;
    os << item;
    first = false;
  }
  return os.str();
}

// Pieces of `text` between `separator`s; empty pieces kept unless `skip_empty`.
std::vector<std::string_view> Split(std::string_view text, char separator, bool skip_empty = false);
std::string_view TrimWhitespace(std::string_view text);

}  // namespace braid::io
