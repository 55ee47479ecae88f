// Parse errors of the wire codecs and the small result type parsers return. Packet path: no
// exceptions, no heap (conventions.md, errors tier 1).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

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
class [[nodiscard]] WireResult {
 public:
  WireResult(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  WireResult(WireError error) : error_(error) {}     // NOLINT: implicit by design

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  WireError error() const { return error_; }

  const T& value() const& { return *value_; }
  T& value() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T& operator*() & { return *value_; }
  const T* operator->() const { return &*value_; }
  T* operator->() { return &*value_; }

 private:
  std::optional<T> value_;
  WireError error_ = WireError::kNone;
};

}  // namespace braid::wire
