#include "tools/braidctl/format.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cctype>
#include <cinttypes>
#include <cstdio>
#include <iterator>
#include <string>
#include <utility>

namespace braid::braidctl {
namespace {

using google::protobuf::util::TimeUtil;

std::chrono::nanoseconds ToNanoseconds(const google::protobuf::Duration& d) {
  return std::chrono::seconds(d.seconds()) + std::chrono::nanoseconds(d.nanos());
}

bool IsUnset(const google::protobuf::Timestamp& t) { return t.seconds() == 0 && t.nanos() == 0; }

}  // namespace

Table::Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::Render() const {
  std::vector<size_t> widths(columns_.size());
  for (size_t c = 0; c < columns_.size(); ++c) widths[c] = columns_[c].header.size();
  for (const std::vector<std::string>& row : rows_) {
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  std::string out;
  const auto emit = [&](const auto& cell_of) {
    std::string line;
    for (size_t c = 0; c < columns_.size(); ++c) {
      const std::string& cell = cell_of(c);
      if (c > 0) line += "  ";
      const std::string pad(widths[c] - cell.size(), ' ');
      line += columns_[c].align == Align::kRight ? pad + cell : cell + pad;
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out += line;
    out += '\n';
  };
  emit([&](size_t c) -> const std::string& { return columns_[c].header; });
  for (const std::vector<std::string>& row : rows_) {
    emit([&](size_t c) -> const std::string& { return row[c]; });
  }
  return out;
}

std::string RenderFields(const std::vector<std::pair<std::string, std::string>>& fields) {
  size_t width = 0;
  for (const auto& [label, value] : fields) width = std::max(width, label.size() + 1);
  std::string out;
  for (const auto& [label, value] : fields) {
    std::string line = label + ":" + std::string(width - label.size() - 1, ' ') + "  " + value;
    line.erase(line.find_last_not_of(' ') + 1);
    out += line;
    out += '\n';
  }
  return out;
}

std::string FormatBytes(uint64_t bytes, bool raw) {
  if (raw) return std::to_string(bytes);
  if (bytes < 1024) return std::to_string(bytes) + " B";
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  constexpr size_t kLastUnit = std::size(kUnits) - 1;
  double value = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  // One decimal: a value that would print as "1024.0" goes up a unit instead.
  while (value >= 1023.95 && unit < kLastUnit) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f %s", value, kUnits[unit]);
  return text;
}

std::string FormatRttMs(const google::protobuf::Duration& rtt) {
  const int64_t ns = ToNanoseconds(rtt).count();
  const bool negative = ns < 0;
  // Hundredths of a millisecond, rounded half away from zero.
  const int64_t hundredths = ((negative ? -ns : ns) + 5'000) / 10'000;
  char text[40];
  std::snprintf(text, sizeof(text), "%s%" PRId64 ".%02" PRId64, negative ? "-" : "",
                hundredths / 100, hundredths % 100);
  return text;
}

std::string FormatSpan(std::chrono::nanoseconds span) {
  using std::chrono::duration_cast;
  if (span < std::chrono::nanoseconds(0)) return "-" + FormatSpan(-span);
  char text[64];
  if (span < std::chrono::microseconds(1)) {
    std::snprintf(text, sizeof(text), "%" PRId64 "ns", static_cast<int64_t>(span.count()));
    return text;
  }
  if (span < std::chrono::milliseconds(1)) {
    std::snprintf(text, sizeof(text), "%" PRId64 "us",
                  static_cast<int64_t>(duration_cast<std::chrono::microseconds>(span).count()));
    return text;
  }
  if (span < std::chrono::seconds(1)) {
    std::snprintf(text, sizeof(text), "%" PRId64 "ms",
                  static_cast<int64_t>(duration_cast<std::chrono::milliseconds>(span).count()));
    return text;
  }
  if (span < std::chrono::seconds(10)) {
    // A tenth of a second still matters at this scale (CPU time, short captures).
    const int64_t tenths = duration_cast<std::chrono::milliseconds>(span).count() / 100;
    std::snprintf(text, sizeof(text), "%" PRId64 ".%" PRId64 "s", tenths / 10, tenths % 10);
    return text;
  }
  int64_t seconds = duration_cast<std::chrono::seconds>(span).count();
  const int64_t days = seconds / 86'400;
  seconds %= 86'400;
  const int64_t hours = seconds / 3'600;
  seconds %= 3'600;
  const int64_t minutes = seconds / 60;
  seconds %= 60;
  if (days > 0) {
    std::snprintf(text, sizeof(text), "%" PRId64 "d%" PRId64 "h%" PRId64 "m%" PRId64 "s", days,
                  hours, minutes, seconds);
  } else if (hours > 0) {
    std::snprintf(text, sizeof(text), "%" PRId64 "h%" PRId64 "m%" PRId64 "s", hours, minutes,
                  seconds);
  } else if (minutes > 0) {
    std::snprintf(text, sizeof(text), "%" PRId64 "m%" PRId64 "s", minutes, seconds);
  } else {
    std::snprintf(text, sizeof(text), "%" PRId64 "s", seconds);
  }
  return text;
}

std::string FormatSpan(const google::protobuf::Duration& span) {
  return FormatSpan(ToNanoseconds(span));
}

std::string FormatAge(const google::protobuf::Timestamp& then,
                      std::chrono::system_clock::time_point now) {
  if (IsUnset(then)) return "-";
  const auto now_seconds =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  // A clock behind the agent's says "0s", not a negative age.
  const int64_t age = std::max<int64_t>(0, now_seconds - then.seconds());
  if (age < 10) return std::to_string(age) + "s";  // whole seconds, unlike FormatSpan's tenths
  return FormatSpan(std::chrono::seconds(age));
}

std::string FormatTime(const google::protobuf::Timestamp& time) {
  if (IsUnset(time)) return "-";
  google::protobuf::Timestamp whole = time;
  whole.set_nanos(0);
  return TimeUtil::ToString(whole);
}

std::string FormatSpeed(uint32_t mbps) {
  if (mbps == 0) return "-";
  char text[32];
  if (mbps < 1000) {
    std::snprintf(text, sizeof(text), "%uMb/s", mbps);
  } else if (mbps % 1000 == 0) {
    std::snprintf(text, sizeof(text), "%uGb/s", mbps / 1000);
  } else {
    std::snprintf(text, sizeof(text), "%.1fGb/s", mbps / 1000.0);
  }
  return text;
}

std::string FormatEndpoint(std::string_view address, uint32_t port) {
  if (address.empty()) return "-";
  const std::string port_text = std::to_string(port);
  if (address.find(':') != std::string_view::npos) {
    return "[" + std::string(address) + "]:" + port_text;
  }
  return std::string(address) + ":" + port_text;
}

std::string EnumLabel(const google::protobuf::EnumDescriptor* descriptor, int value,
                      std::string_view prefix) {
  if (value == 0) return "-";
  const google::protobuf::EnumValueDescriptor* known = descriptor->FindValueByNumber(value);
  if (known == nullptr) return "unknown(" + std::to_string(value) + ")";
  std::string name = known->name();
  if (name.starts_with(prefix)) name.erase(0, prefix.size());
  for (char& c : name) {
    c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return name;
}

std::string JoinOrDash(const std::vector<std::string>& parts, std::string_view separator) {
  if (parts.empty()) return "-";
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += separator;
    out += parts[i];
  }
  return out;
}

}  // namespace braid::braidctl
