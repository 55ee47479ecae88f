#include "cni/options.h"

#include <string>

#include "cni/error.h"
#include "proto/status.h"

namespace braid::cni {
namespace {

absl::Status ConfigError(std::string_view msg) {
  return MakeError(proto::kCniInvalidNetworkConfig, msg);
}

// The object at `key` of `parent`, or nullptr when absent; an error when it is not an object.
absl::StatusOr<const JsonValue*> OptionalObject(const JsonValue& parent, std::string_view key,
                                                std::string_view where) {
  const JsonValue* value = FindField(parent, key);
  if (value == nullptr) return nullptr;
  if (!IsObject(*value)) {
    return ConfigError(std::string(where) + ": expected an object, got " +
                       std::string(KindName(*value)));
  }
  return value;
}

}  // namespace

absl::StatusOr<std::string> OptionValueText(const JsonValue& value, std::string_view where) {
  switch (value.kind_case()) {
    case JsonValue::kStringValue:
      return value.string_value();
    case JsonValue::kNumberValue:
      return FormatJsonNumber(value.number_value());
    case JsonValue::kBoolValue:
      return std::string(value.bool_value() ? "true" : "false");
    case JsonValue::kListValue: {
      std::string joined;
      for (int i = 0; i < value.list_value().values_size(); ++i) {
        const JsonValue& item = value.list_value().values(i);
        if (!IsString(item)) {
          return ConfigError(IndexPath(where, static_cast<size_t>(i)) +
                             ": expected a string, got " + std::string(KindName(item)));
        }
        if (i > 0) joined += ',';
        joined += item.string_value();
      }
      return joined;
    }
    case JsonValue::kStructValue:
    case JsonValue::kNullValue:
    case JsonValue::KIND_NOT_SET:
      break;
  }
  return ConfigError(std::string(where) +
                     ": expected a string, number, boolean or list of strings, got " +
                     std::string(KindName(value)));
}

absl::StatusOr<std::vector<v1::PodOption>> PodOptions(const JsonValue& config) {
  std::vector<v1::PodOption> options;

  absl::StatusOr<const JsonValue*> args = OptionalObject(config, "args", "args");
  if (!args.ok()) return args.status();
  if (*args != nullptr) {
    absl::StatusOr<const JsonValue*> cni_args = OptionalObject(**args, "cni", "args.cni");
    if (!cni_args.ok()) return cni_args.status();
    if (*cni_args != nullptr) {
      for (const std::string& name : SortedKeys(**cni_args)) {
        const JsonValue& value = (*cni_args)->struct_value().fields().at(name);
        absl::StatusOr<std::string> text = OptionValueText(value, FieldPath("args.cni", name));
        if (!text.ok()) return text.status();
        v1::PodOption& option = options.emplace_back();
        option.set_name(name);
        option.set_value(*text);
        option.set_source(v1::OPTION_SOURCE_CNI_ARGS);
      }
    }
  }

  absl::StatusOr<const JsonValue*> runtime_config =
      OptionalObject(config, "runtimeConfig", "runtimeConfig");
  if (!runtime_config.ok()) return runtime_config.status();
  if (*runtime_config != nullptr) {
    const std::string where = "runtimeConfig[\"" + std::string(kPodAnnotationsCapability) + "\"]";
    absl::StatusOr<const JsonValue*> annotations =
        OptionalObject(**runtime_config, kPodAnnotationsCapability, where);
    if (!annotations.ok()) return annotations.status();
    if (*annotations != nullptr) {
      for (const std::string& key : SortedKeys(**annotations)) {
        if (!key.starts_with(kAnnotationPrefix)) continue;
        const JsonValue& value = (*annotations)->struct_value().fields().at(key);
        absl::StatusOr<std::string> text = OptionValueText(value, where + "[\"" + key + "\"]");
        if (!text.ok()) return text.status();
        v1::PodOption& option = options.emplace_back();
        option.set_name(key.substr(kAnnotationPrefix.size()));
        option.set_value(*text);
        option.set_source(v1::OPTION_SOURCE_POD_ANNOTATION);
      }
    }
  }
  return options;
}

}  // namespace braid::cni
