// braidctl's text output: aligned tables with column headers, and the units they show (bytes in
// IEC units, RTT in milliseconds, spans as "1h2m3s", link speeds), so every command prints the
// same way. Pure functions: what they return depends on their arguments only.
#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/duration.pb.h>
#include <google/protobuf/timestamp.pb.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace braid::braidctl {

enum class Align { kLeft, kRight };

struct Column {
  std::string header;
  Align align = Align::kLeft;
};

// Columns separated by two spaces, each as wide as its widest cell, without trailing blanks.
class Table {
 public:
  explicit Table(std::vector<Column> columns);

  // Missing cells are empty; extra cells are dropped.
  void AddRow(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }
  // The header line and every row, each ending in '\n'.
  std::string Render() const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

// "label:  value" lines, the values aligned after the longest label.
std::string RenderFields(const std::vector<std::pair<std::string, std::string>>& fields);

// Bytes: "0 B", "512 B", "1.5 KiB", "3.0 MiB", ... (IEC, one decimal); with `raw` the plain
// integer.
std::string FormatBytes(uint64_t bytes, bool raw);
// A round-trip time in milliseconds with two decimals ("12.35").
std::string FormatRttMs(const google::protobuf::Duration& rtt);
// A span, largest units first: "250ms", "45s", "1m30s", "2h0m5s", "3d4h5m6s".
std::string FormatSpan(std::chrono::nanoseconds span);
std::string FormatSpan(const google::protobuf::Duration& span);
// How long ago `then` was, as FormatSpan at second resolution ("5m12s"); "-" when unset (0).
std::string FormatAge(const google::protobuf::Timestamp& then,
                      std::chrono::system_clock::time_point now);
// RFC 3339 UTC ("2023-11-14T22:13:20Z"); "-" when unset (0).
std::string FormatTime(const google::protobuf::Timestamp& time);
// A link speed from megabits per second: "100Mb/s", "10Gb/s", "2.5Gb/s"; "-" for 0.
std::string FormatSpeed(uint32_t mbps);
// An address and port: "192.0.2.1:80", "[2001:db8::1]:443"; "-" when the address is empty.
std::string FormatEndpoint(std::string_view address, uint32_t port);
// An enum value by its name without `prefix`, lowercase, '_' as '-'
// ("SUBFLOW_STATE_PRE_ESTABLISHED" → "pre-established"); "-" for the UNSPECIFIED value,
// "unknown(<n>)" for a value the descriptor does not know (a newer agent).
std::string EnumLabel(const google::protobuf::EnumDescriptor* descriptor, int value,
                      std::string_view prefix);
// Joins `parts` with `separator`; "-" when there are none.
std::string JoinOrDash(const std::vector<std::string>& parts, std::string_view separator);

}  // namespace braid::braidctl
