// JSON for braid-cni without a new dependency: documents are google::protobuf::Value (protobuf is
// already the API's dependency), read by protobuf's JSON parser and written by a small writer of
// our own, because protobuf's printer writes object keys in hash order and CNI results read
// better with "cniVersion" first. JSON numbers are doubles in a Value; the writer prints integral
// ones as integers ("code": 7, "interface": 0). protobuf's parser also takes JavaScript's looser
// forms (unquoted or single-quoted keys, trailing commas); they mean what they look like.
#pragma once

#include <google/protobuf/struct.pb.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace braid::cni {

using JsonValue = google::protobuf::Value;

// Parses one JSON document (any kind at the top). INVALID_ARGUMENT with the parser's message on
// one line; a key twice in one object is an error.
absl::StatusOr<JsonValue> ParseJson(std::string_view text);

// Compact JSON, object keys in a fixed order: the CNI result's own keys first ("cniVersion",
// "code", "msg", "details", "interfaces", "ips", ...), then the others alphabetically.
std::string WriteJson(const JsonValue& value);

// A JSON number as JSON text: integral values as integers ("7", "-2"), others in the shortest
// form that reads back to the same double ("1.5", "1e+300").
std::string FormatJsonNumber(double number);

// Builders.
JsonValue JsonString(std::string_view text);
JsonValue JsonNumber(double number);
JsonValue JsonBool(bool value);
JsonValue JsonObject();
JsonValue JsonList();
// Sets `key` of `object` (which must be an object).
void SetField(JsonValue& object, std::string_view key, JsonValue value);
// Appends to `list` (which must be a list).
void Append(JsonValue& list, JsonValue value);

// Readers. A JSON null counts as absent, as Go's decoder (libcni's) treats it.
// The field, or nullptr when `object` is not an object, has no `key`, or has null there.
const JsonValue* FindField(const JsonValue& object, std::string_view key);
bool IsObject(const JsonValue& value);
bool IsList(const JsonValue& value);
bool IsString(const JsonValue& value);
// "a string", "a number", "an object", ... for messages.
std::string_view KindName(const JsonValue& value);
// The keys of an object, sorted (protobuf's map keeps no order).
std::vector<std::string> SortedKeys(const JsonValue& object);

// Where a value sits in a document, for messages: Field("paths[1]", "subnet") is
// "paths[1].subnet", Field("", "name") is "name", Index("paths", 1) is "paths[1]".
std::string FieldPath(std::string_view parent, std::string_view key);
std::string IndexPath(std::string_view parent, size_t index);

}  // namespace braid::cni
