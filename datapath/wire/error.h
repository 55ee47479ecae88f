// Parse errors of the wire codecs and the small result type parsers return. Packet path: no
// exceptions, no heap (conventions.md, errors tier 1).
#pragma once

#include <cstdint>
#include <string_view>

#include "datapath/wire/result.h"

namespace braid::wire {

enum class WireError : uint8_t {
  kNone = 0,
#define BRAID_WIRE_ERROR(name, metric, desc) name,
#include "datapath/wire/error.def"
#undef BRAID_WIRE_ERROR
  kCount,
};

// Stable snake_case name, used for counters and debug output.
std::string_view WireErrorName(WireError e);
std::string_view WireErrorDescription(WireError e);

// A parsed value or the reason there is none.
template <typename T>
using WireResult = Result<T, WireError>;

}  // namespace braid::wire
