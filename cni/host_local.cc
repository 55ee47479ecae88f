#include "cni/host_local.h"

#include <sys/stat.h>
#include <unistd.h>

#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "cni/error.h"
#include "cni/process.h"
#include "cni/version.h"
#include "proto/status.h"

namespace braid::cni {
namespace {

constexpr std::string_view kName = "host-local";
// How much of an unexpected output a message quotes.
constexpr size_t kQuoteLimit = 200;

bool IsExecutableFile(const std::string& path) {
  struct stat st = {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

std::string Quote(std::string_view text) {
  std::string quoted(text.substr(0, kQuoteLimit));
  if (text.size() > kQuoteLimit) quoted += "...";
  return "\"" + quoted + "\"";
}

}  // namespace

absl::StatusOr<HostLocal> HostLocal::Find(std::string_view cni_path, EnvMap env) {
  size_t start = 0;
  while (start <= cni_path.size()) {
    size_t end = cni_path.find(':', start);
    if (end == std::string_view::npos) end = cni_path.size();
    const std::string dir(cni_path.substr(start, end - start));
    start = end + 1;
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + std::string(kName);
    if (IsExecutableFile(candidate)) return HostLocal(std::move(candidate), std::move(env));
  }
  return MakeError(proto::kCniInvalidEnvironment,
                   "CNI_PATH \"" + std::string(cni_path) +
                       "\": no executable host-local in it (braid-cni delegates IPAM to it)");
}

absl::StatusOr<std::string> HostLocal::NegotiateVersion() {
  JsonValue request = JsonObject();
  SetField(request, "cniVersion", JsonString(kLatestVersion));
  absl::StatusOr<std::optional<JsonValue>> answer = Run("VERSION", request);
  if (!answer.ok()) return answer.status();
  const std::string context = "host-local (" + path_ + ") VERSION";
  const JsonValue* versions =
      answer->has_value() ? FindField(**answer, "supportedVersions") : nullptr;
  if (versions == nullptr || !IsList(*versions)) {
    return MakeError(proto::kCniIoFailure, context + ": no supportedVersions list in its answer");
  }
  std::vector<std::string> theirs;
  std::string listed;
  for (const JsonValue& version : versions->list_value().values()) {
    if (!IsString(version)) continue;
    theirs.push_back(version.string_value());
    listed += (listed.empty() ? "" : ", ") + version.string_value();
  }
  std::optional<std::string> shared = HighestShared(theirs);
  if (!shared) {
    return MakeError(proto::kCniIncompatibleVersion,
                     context + ": it supports " + listed + ", none of which braid-cni supports");
  }
  version_ = *shared;
  return version_;
}

bool HostLocal::supports_status_gc() const {
  return !version_.empty() && AtLeast(version_, kStatusGcMinVersion);
}

absl::StatusOr<std::optional<JsonValue>> HostLocal::Run(std::string_view command,
                                                        const JsonValue& config,
                                                        const EnvMap& overrides) const {
  EnvMap env = env_;
  env["CNI_COMMAND"] = std::string(command);
  // braid-cni takes any CNI_ARGS key, and so must its delegate: host-local (like every plugin on
  // CNI's skel) refuses keys it does not know unless IgnoreUnknown is set, which Kubernetes
  // runtimes do and other callers may not.
  if (const auto args = env.find("CNI_ARGS");
      args != env.end() && !args->second.empty() &&
      args->second.find("IgnoreUnknown=") == std::string::npos) {
    args->second = "IgnoreUnknown=1;" + args->second;
  }
  for (const auto& [name, value] : overrides) {
    if (value.empty()) {
      env.erase(name);
    } else {
      env[name] = value;
    }
  }
  const std::string context = "host-local (" + path_ + ") " + std::string(command);
  absl::StatusOr<ProcessResult> run = RunProcess({path_}, env, WriteJson(config));
  if (!run.ok())
    return MakeError(proto::kCniIoFailure, context + ": " + std::string(run.status().message()));

  const bool printed = run->stdout_text.find_first_not_of(" \t\r\n") != std::string::npos;
  std::optional<JsonValue> output;
  if (printed) {
    absl::StatusOr<JsonValue> parsed = ParseJson(run->stdout_text);
    if (parsed.ok() && IsObject(*parsed)) output = std::move(*parsed);
  }

  if (run->exit_status == 0 && !run->signaled) {
    if (printed && !output) {
      return MakeError(proto::kCniIoFailure,
                       context + ": its output is not a JSON object: " + Quote(run->stdout_text));
    }
    return output;
  }
  // CNI spec, "Error": the error is a JSON object on stdout with code, msg and details.
  const JsonValue* code = output ? FindField(*output, "code") : nullptr;
  const bool has_code = code != nullptr && code->kind_case() == JsonValue::kNumberValue &&
                        code->number_value() >= 0 &&
                        code->number_value() <= std::numeric_limits<int>::max();
  if (!has_code) {
    const std::string how = run->signaled
                                ? "was killed by signal " + std::to_string(run->exit_status - 128)
                                : "exited with status " + std::to_string(run->exit_status);
    return MakeError(proto::kCniIoFailure, context + ": " + how + " without a CNI error" +
                                               (printed ? ": " + Quote(run->stdout_text) : ""));
  }
  const JsonValue* msg = FindField(*output, "msg");
  const JsonValue* details = FindField(*output, "details");
  return MakeError(static_cast<int>(code->number_value()),
                   context + ": " + (msg != nullptr && IsString(*msg) ? msg->string_value() : ""),
                   details != nullptr && IsString(*details) ? details->string_value() : "");
}

}  // namespace braid::cni
