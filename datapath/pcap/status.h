// A small success-or-error-message result for the capture files' control-plane calls (opening,
// writing, reading records): no exceptions (conventions.md, errors tier 2). Its interface is the
// subset of absl::Status/absl::StatusOr the pcap code uses, so that switching to Abseil later is a
// rename.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace braid::pcap {

class [[nodiscard]] Status {
 public:
  Status() = default;  // success
  static Status Error(std::string message) { return Status(std::move(message)); }

  bool ok() const { return !failed_; }
  // Empty on success; otherwise what went wrong, naming the file, record or field.
  const std::string& message() const { return message_; }

 private:
  explicit Status(std::string message) : failed_(true), message_(std::move(message)) {}
  bool failed_ = false;
  std::string message_;
};

inline Status OkStatus() { return Status(); }

// A value, or the failed Status that explains its absence.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design, like absl
  // `status` must be an error; an ok Status without a value is turned into one.
  StatusOr(Status status)  // NOLINT: implicit by design, like absl
      : status_(status.ok() ? Status::Error("StatusOr built from an ok Status without a value")
                            : std::move(status)) {}

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  // Only when ok().
  const T& value() const& { return *value_; }
  T& value() & { return *value_; }
  T&& value() && { return std::move(*value_); }
  const T& operator*() const& { return *value_; }
  T& operator*() & { return *value_; }
  const T* operator->() const { return &*value_; }
  T* operator->() { return &*value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace braid::pcap
