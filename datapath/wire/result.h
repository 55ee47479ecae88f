// A value or the reason there is none: the packet path's error type (no exceptions, no heap;
// conventions.md errors tier 1). E is an enum whose value-initialized state (0) means "no error".
// Control-plane code uses absl::StatusOr instead.
#pragma once

#include <optional>
#include <utility>

namespace braid::wire {

template <typename T, typename E>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(E error) : error_(error) {}             // NOLINT: implicit by design

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  E error() const { return error_; }

  const T& value() const& { return *value_; }
  T& value() & { return *value_; }
  T&& value() && { return std::move(*value_); }
  const T& operator*() const& { return *value_; }
  T& operator*() & { return *value_; }
  const T* operator->() const { return &*value_; }
  T* operator->() { return &*value_; }

 private:
  std::optional<T> value_;
  E error_{};
};

}  // namespace braid::wire
