#include "cni/json.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <string>
#include <utility>

#include "absl/status/status.h"

namespace braid::cni {
namespace {

// Keys of CNI results and errors in the order the spec's examples show them; any other key
// follows, alphabetically.
constexpr std::string_view kKeyOrder[] = {
    "cniVersion", "code",      "msg",     "details",    "supportedVersions",
    "interfaces", "ips",       "routes",  "dns",        "name",
    "mac",        "mtu",       "sandbox", "socketPath", "pciID",
    "version",    "address",   "subnet",  "rangeStart", "rangeEnd",
    "gateway",    "interface", "dst",     "gw",         "nameservers",
    "domain"};

size_t KeyRank(std::string_view key) {
  const auto* it = std::find(std::begin(kKeyOrder), std::end(kKeyOrder), key);
  return static_cast<size_t>(it - std::begin(kKeyOrder));  // past the last when not listed
}

void WriteString(std::string_view text, std::string& out) {
  out += '"';
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", static_cast<unsigned char>(c));
          out += escaped;
        } else {
          out += c;  // UTF-8 passes as is: the parser accepted only valid text
        }
    }
  }
  out += '"';
}

void Write(const JsonValue& value, std::string& out) {
  switch (value.kind_case()) {
    case JsonValue::kStringValue:
      WriteString(value.string_value(), out);
      return;
    case JsonValue::kNumberValue:
      out += FormatJsonNumber(value.number_value());
      return;
    case JsonValue::kBoolValue:
      out += value.bool_value() ? "true" : "false";
      return;
    case JsonValue::kStructValue: {
      std::vector<std::string> keys = SortedKeys(value);
      std::stable_sort(keys.begin(), keys.end(), [](const std::string& a, const std::string& b) {
        return KeyRank(a) < KeyRank(b);
      });
      out += '{';
      bool first = true;
      for (const std::string& key : keys) {
        if (!first) out += ',';
        first = false;
        WriteString(key, out);
        out += ':';
        Write(value.struct_value().fields().at(key), out);
      }
      out += '}';
      return;
    }
    case JsonValue::kListValue: {
      out += '[';
      bool first = true;
      for (const JsonValue& item : value.list_value().values()) {
        if (!first) out += ',';
        first = false;
        Write(item, out);
      }
      out += ']';
      return;
    }
    case JsonValue::kNullValue:
    case JsonValue::KIND_NOT_SET:
      out += "null";
      return;
  }
}

}  // namespace

absl::StatusOr<JsonValue> ParseJson(std::string_view text) {
  JsonValue value;
  const auto status = google::protobuf::util::JsonStringToMessage(std::string(text), &value);
  if (!status.ok()) {
    // The parser's message continues with the input and a caret on further lines.
    std::string message(status.message());
    const size_t newline = message.find('\n');
    if (newline != std::string::npos) message.resize(newline);
    return absl::InvalidArgumentError(message);
  }
  return value;
}

std::string WriteJson(const JsonValue& value) {
  std::string out;
  Write(value, out);
  return out;
}

std::string FormatJsonNumber(double number) {
  if (!std::isfinite(number)) return "null";  // JSON has no NaN or infinity
  // Exactly representable integers (|x| < 2^53) print as integers.
  if (number == std::trunc(number) && std::fabs(number) < 9007199254740992.0) {
    return std::to_string(static_cast<int64_t>(number));
  }
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), number);
  return ec == std::errc() ? std::string(buffer, end) : "null";
}

JsonValue JsonString(std::string_view text) {
  JsonValue value;
  value.set_string_value(std::string(text));
  return value;
}

JsonValue JsonNumber(double number) {
  JsonValue value;
  value.set_number_value(number);
  return value;
}

JsonValue JsonBool(bool flag) {
  JsonValue value;
  value.set_bool_value(flag);
  return value;
}

JsonValue JsonObject() {
  JsonValue value;
  value.mutable_struct_value();
  return value;
}

JsonValue JsonList() {
  JsonValue value;
  value.mutable_list_value();
  return value;
}

void SetField(JsonValue& object, std::string_view key, JsonValue value) {
  (*object.mutable_struct_value()->mutable_fields())[std::string(key)] = std::move(value);
}

void Append(JsonValue& list, JsonValue value) {
  *list.mutable_list_value()->add_values() = std::move(value);
}

const JsonValue* FindField(const JsonValue& object, std::string_view key) {
  if (!IsObject(object)) return nullptr;
  const auto& fields = object.struct_value().fields();
  const auto it = fields.find(std::string(key));
  if (it == fields.end() || it->second.kind_case() == JsonValue::kNullValue) return nullptr;
  return &it->second;
}

bool IsObject(const JsonValue& value) { return value.kind_case() == JsonValue::kStructValue; }
bool IsList(const JsonValue& value) { return value.kind_case() == JsonValue::kListValue; }
bool IsString(const JsonValue& value) { return value.kind_case() == JsonValue::kStringValue; }

std::string_view KindName(const JsonValue& value) {
  switch (value.kind_case()) {
    case JsonValue::kStringValue:
      return "a string";
    case JsonValue::kNumberValue:
      return "a number";
    case JsonValue::kBoolValue:
      return "a boolean";
    case JsonValue::kStructValue:
      return "an object";
    case JsonValue::kListValue:
      return "a list";
    case JsonValue::kNullValue:
    case JsonValue::KIND_NOT_SET:
      break;
  }
  return "null";
}

std::vector<std::string> SortedKeys(const JsonValue& object) {
  std::vector<std::string> keys;
  if (!IsObject(object)) return keys;
  for (const auto& [key, unused] : object.struct_value().fields()) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::string FieldPath(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return std::string(parent) + "." + std::string(key);
}

std::string IndexPath(std::string_view parent, size_t index) {
  return std::string(parent) + "[" + std::to_string(index) + "]";
}

}  // namespace braid::cni
