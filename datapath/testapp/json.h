// A minimal JSON writer for the test application's reports: one object per line, keys in the
// order written. Strings are escaped per RFC 8259 §7; non-finite numbers become null.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace braid::testapp {

class JsonObject {
 public:
  JsonObject& Add(std::string_view key, std::string_view value);
  JsonObject& Add(std::string_view key, const char* value) {
    return Add(key, std::string_view(value));
  }
  JsonObject& Add(std::string_view key, uint64_t value);
  JsonObject& Add(std::string_view key, int64_t value);
  JsonObject& Add(std::string_view key, uint32_t value) { return Add(key, uint64_t{value}); }
  JsonObject& Add(std::string_view key, int value) { return Add(key, int64_t{value}); }
  JsonObject& Add(std::string_view key, double value);
  JsonObject& Add(std::string_view key, bool value);
  JsonObject& AddNull(std::string_view key);
  // `json` is already JSON (a nested object or array).
  JsonObject& AddRaw(std::string_view key, std::string_view json);
  bool empty() const { return body_.empty(); }
  std::string str() const { return "{" + body_ + "}"; }

 private:
  void Key(std::string_view key);
  std::string body_;
};

// `s` as a JSON string literal, quotes included.
std::string JsonString(std::string_view s);

}  // namespace braid::testapp
