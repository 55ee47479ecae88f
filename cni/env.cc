#include "cni/env.h"

#include <array>
#include <cctype>
#include <string>
#include <utility>
#include <vector>

#include "cni/error.h"
#include "proto/status.h"

namespace braid::cni {
namespace {

constexpr std::array<std::pair<Command, std::string_view>, 6> kCommands = {{
    {Command::kAdd, "ADD"},
    {Command::kDel, "DEL"},
    {Command::kCheck, "CHECK"},
    {Command::kStatus, "STATUS"},
    {Command::kGc, "GC"},
    {Command::kVersion, "VERSION"},
}};

std::vector<std::string_view> RequiredVariables(Command command) {
  switch (command) {
    case Command::kAdd:
    case Command::kCheck:
      return {"CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"};
    case Command::kDel:
      return {"CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"};
    case Command::kGc:
      return {"CNI_PATH"};
    case Command::kStatus:
    case Command::kVersion:
      break;
  }
  return {};
}

std::string Get(const EnvMap& env, std::string_view name) {
  const auto it = env.find(std::string(name));
  return it == env.end() ? "" : it->second;
}

bool IsIdChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

absl::Status EnvError(std::string_view msg) {
  return MakeError(proto::kCniInvalidEnvironment, msg);
}

// CNI_ARGS: "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=web-0;IgnoreUnknown=1". Keys braid-cni does not
// use are accepted whatever IgnoreUnknown says: they are the runtime's.
absl::Status ParseCniArgs(std::string_view args, v1::PodRef& pod) {
  size_t start = 0;
  while (start <= args.size()) {
    size_t end = args.find(';', start);
    if (end == std::string_view::npos) end = args.size();
    const std::string_view pair = args.substr(start, end - start);
    start = end + 1;
    if (pair.empty()) continue;  // "A=1;" or ";;"
    const size_t equals = pair.find('=');
    if (equals == std::string_view::npos || equals == 0) {
      return EnvError("CNI_ARGS: \"" + std::string(pair) +
                      "\" is not KEY=VALUE (pairs are separated by ';')");
    }
    const std::string_view key = pair.substr(0, equals);
    const std::string value(pair.substr(equals + 1));
    if (key == "K8S_POD_NAMESPACE") pod.set_namespace_(value);
    if (key == "K8S_POD_NAME") pod.set_name(value);
    if (key == "K8S_POD_UID") pod.set_uid(value);
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view CommandName(Command command) {
  for (const auto& [value, name] : kCommands) {
    if (value == command) return name;
  }
  return "?";
}

std::optional<Command> ParseCommand(std::string_view name) {
  for (const auto& [value, command_name] : kCommands) {
    if (command_name == name) return value;
  }
  return std::nullopt;
}

std::optional<std::string> ContainerIdError(std::string_view text) {
  // CNI spec, "Parameters": alphanumeric first, then alphanumerics, '_', '.', '-'.
  if (text.empty()) return "must not be empty";
  if (!std::isalnum(static_cast<unsigned char>(text[0]))) {
    return "must start with a letter or a digit";
  }
  for (const char c : text) {
    if (!IsIdChar(c)) return "may hold only letters, digits, '_', '.' and '-'";
  }
  return std::nullopt;
}

std::optional<std::string> InterfaceNameError(std::string_view text) {
  // CNI spec, "Parameters": Linux's rules (IFNAMSIZ 16 with the NUL; no '/', ':' or spaces).
  if (text.empty()) return "must not be empty";
  if (text == "." || text == "..") return "must not be \".\" or \"..\"";
  if (text.size() > 15) return "must be at most 15 characters";
  for (const char c : text) {
    if (c == '/' || c == ':' || std::isspace(static_cast<unsigned char>(c))) {
      return "must not contain '/', ':' or white space";
    }
  }
  return std::nullopt;
}

absl::StatusOr<CniEnv> ParseEnv(const EnvMap& env) {
  const std::string command_name = Get(env, "CNI_COMMAND");
  if (command_name.empty()) return EnvError("CNI_COMMAND: missing");
  const std::optional<Command> command = ParseCommand(command_name);
  if (!command) {
    return EnvError("CNI_COMMAND: unknown command \"" + command_name +
                    "\" (ADD, DEL, CHECK, STATUS, GC, VERSION)");
  }

  std::string missing;
  for (const std::string_view name : RequiredVariables(*command)) {
    if (Get(env, name).empty()) missing += (missing.empty() ? "" : ", ") + std::string(name);
  }
  if (!missing.empty()) {
    return EnvError(missing + ": missing (" + command_name + " needs them)");
  }

  CniEnv parsed;
  parsed.command = *command;
  parsed.container_id = Get(env, "CNI_CONTAINERID");
  parsed.netns = Get(env, "CNI_NETNS");
  parsed.ifname = Get(env, "CNI_IFNAME");
  parsed.args = Get(env, "CNI_ARGS");
  parsed.cni_path = Get(env, "CNI_PATH");
  if (!parsed.container_id.empty()) {
    if (const auto error = ContainerIdError(parsed.container_id)) {
      return EnvError("CNI_CONTAINERID \"" + parsed.container_id + "\": " + *error);
    }
  }
  if (!parsed.ifname.empty()) {
    if (const auto error = InterfaceNameError(parsed.ifname)) {
      return EnvError("CNI_IFNAME \"" + parsed.ifname + "\": " + *error);
    }
  }
  if (absl::Status status = ParseCniArgs(parsed.args, parsed.pod); !status.ok()) return status;
  return parsed;
}

}  // namespace braid::cni
