#include "cni/plugin.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "braid/v1/cni.pb.h"
#include "cni/agent_client.h"
#include "cni/config.h"
#include "cni/error.h"
#include "cni/host_local.h"
#include "cni/json.h"
#include "cni/result.h"
#include "cni/version.h"
#include "proto/status.h"

namespace braid::cni {
namespace {

v1::CniAttachment Attachment(const CniEnv& env) {
  v1::CniAttachment attachment;
  attachment.set_container_id(env.container_id);
  attachment.set_ifname(env.ifname);
  return attachment;
}

// An Add whose outcome the plugin cannot know: the agent may have attached the pod.
bool OutcomeUnknown(const absl::Status& status) {
  return status.code() == absl::StatusCode::kDeadlineExceeded ||
         status.code() == absl::StatusCode::kCancelled ||
         status.code() == absl::StatusCode::kUnknown;
}

class Invocation {
 public:
  // `host_local` is there for every verb but STATUS without CNI_PATH.
  Invocation(CniEnv env, NetworkConfig config, std::optional<HostLocal> host_local)
      : env_(std::move(env)),
        config_(std::move(config)),
        host_local_(std::move(host_local)),
        agent_(config_.agent_socket, config_.agent_timeout) {}

  absl::StatusOr<JsonValue> Add();
  absl::Status Del();
  absl::Status Check();
  absl::Status Status();
  absl::Status Gc();

 private:
  // host-local's configuration in the version it speaks.
  absl::StatusOr<JsonValue> HostLocalConfigNegotiated();
  // After a failed agent Add: the agent's side first when it may exist, then host-local's.
  absl::Status UndoAdd(const absl::Status& failure, const JsonValue& host_local_config);

  CniEnv env_;
  NetworkConfig config_;
  std::optional<HostLocal> host_local_;
  AgentClient agent_;
};

absl::StatusOr<JsonValue> Invocation::HostLocalConfigNegotiated() {
  absl::StatusOr<std::string> version = host_local_->NegotiateVersion();
  if (!version.ok()) return version.status();
  return HostLocalConfig(config_, *version);
}

absl::StatusOr<JsonValue> Invocation::Add() {
  absl::StatusOr<JsonValue> host_local_config = HostLocalConfigNegotiated();
  if (!host_local_config.ok()) return host_local_config.status();
  absl::StatusOr<std::optional<JsonValue>> ipam = host_local_->Run("ADD", *host_local_config);
  if (!ipam.ok()) return ipam.status();
  if (!ipam->has_value()) {
    return UndoAdd(MakeError(proto::kCniIoFailure,
                             "host-local (" + host_local_->path() + ") ADD: printed no result"),
                   *host_local_config);
  }

  v1::CniAddRequest request;
  *request.mutable_attachment() = Attachment(env_);
  request.set_netns_path(env_.netns);
  *request.mutable_pod() = env_.pod;
  request.set_network_name(config_.name);
  for (const v1::PodOption& option : config_.options) *request.add_options() = option;
  absl::StatusOr<std::vector<v1::PathIpConfig>> paths = SplitByPath(config_, **ipam);
  if (!paths.ok()) return UndoAdd(paths.status(), *host_local_config);
  for (v1::PathIpConfig& path : *paths) *request.add_paths() = std::move(path);

  absl::StatusOr<v1::CniAddResponse> response = agent_.Add(request);
  if (!response.ok()) {
    absl::Status failure = response.status();
    if (OutcomeUnknown(failure)) {
      v1::CniDelRequest del;
      *del.mutable_attachment() = request.attachment();
      del.set_netns_path(env_.netns);
      *del.mutable_pod() = env_.pod;
      del.set_network_name(config_.name);
      const absl::Status undone = agent_.Del(del);
      if (!undone.ok() && undone.code() != absl::StatusCode::kNotFound) {
        // The agent may hold the addresses: they stay reserved until the runtime's DEL.
        return WithNote(failure,
                        "host-local's addresses stay reserved until DEL, because "
                        "undoing the Add failed too: " +
                            std::string(undone.message()));
      }
    }
    return UndoAdd(failure, *host_local_config);
  }
  return BuildAddResult(config_, env_, *response, FindField(**ipam, "dns"));
}

absl::Status Invocation::UndoAdd(const absl::Status& failure, const JsonValue& host_local_config) {
  absl::StatusOr<std::optional<JsonValue>> released = host_local_->Run("DEL", host_local_config);
  if (released.ok()) return failure;
  return WithNote(failure, "releasing host-local's addresses failed too: " +
                               std::string(released.status().message()));
}

absl::Status Invocation::Del() {
  v1::CniDelRequest request;
  *request.mutable_attachment() = Attachment(env_);
  request.set_netns_path(env_.netns);
  *request.mutable_pod() = env_.pod;
  request.set_network_name(config_.name);
  const absl::Status detached = agent_.Del(request);
  // NOT_FOUND: the agent has no record (restarted, or DEL again); DEL must still succeed.
  if (!detached.ok() && detached.code() != absl::StatusCode::kNotFound) {
    return WithNote(detached, "host-local's addresses are kept: the attachment may still use them");
  }
  absl::StatusOr<JsonValue> host_local_config = HostLocalConfigNegotiated();
  if (!host_local_config.ok()) return host_local_config.status();
  return host_local_->Run("DEL", *host_local_config).status();
}

absl::Status Invocation::Check() {
  absl::StatusOr<std::vector<v1::PathIpConfig>> paths = PathsFromPrevResult(config_, env_);
  if (!paths.ok()) return paths.status();
  v1::CniCheckRequest request;
  *request.mutable_attachment() = Attachment(env_);
  request.set_netns_path(env_.netns);
  *request.mutable_pod() = env_.pod;
  request.set_network_name(config_.name);
  for (v1::PathIpConfig& path : *paths) *request.add_paths() = std::move(path);
  if (absl::Status checked = agent_.Check(request); !checked.ok()) return checked;
  // CNI spec, CHECK: "The plugin should call CHECK on any delegated (e.g. IPAM) plugins".
  absl::StatusOr<JsonValue> host_local_config = HostLocalConfigNegotiated();
  if (!host_local_config.ok()) return host_local_config.status();
  return host_local_->Run("CHECK", *host_local_config).status();
}

absl::Status Invocation::Status() {
  v1::CniStatusRequest request;
  request.set_network_name(config_.name);
  const absl::StatusOr<v1::CniStatusResponse> response = agent_.Status(request);
  const v1::CniReadiness readiness =
      response.ok() ? response->readiness() : v1::CNI_READINESS_UNSPECIFIED;
  const int code = proto::CniStatusErrorCode(response.status(), readiness);
  if (code != proto::kCniOk) {
    if (!response.ok()) {
      return MakeError(code, std::string(response.status().message()),
                       absl::StatusCodeToString(response.status().code()));
    }
    const std::string why = response->message().empty() ? "" : ": " + response->message();
    return MakeError(code,
                     "agent at " + agent_.target() +
                         (code == proto::kCniNotAvailableMayDisrupt
                              ? ": not ready, existing attachments may be disrupted"
                              : ": not ready") +
                         why,
                     v1::CniReadiness_Name(readiness));
  }
  if (!host_local_) return absl::OkStatus();
  // CNI spec 1.1, STATUS: a plugin that relies on a delegated plugin asks it too.
  absl::StatusOr<JsonValue> host_local_config = HostLocalConfigNegotiated();
  if (!host_local_config.ok()) return host_local_config.status();
  if (!host_local_->supports_status_gc()) return absl::OkStatus();
  return host_local_->Run("STATUS", *host_local_config).status();
}

absl::Status Invocation::Gc() {
  v1::CniGcRequest request;
  request.set_network_name(config_.name);
  for (const v1::CniAttachment& attachment : config_.valid_attachments) {
    *request.add_valid_attachments() = attachment;
  }
  // The agent first: until it has detached an attachment its addresses are in use.
  absl::StatusOr<v1::CniGcResponse> response = agent_.Gc(request);
  if (!response.ok()) return response.status();

  absl::StatusOr<JsonValue> host_local_config = HostLocalConfigNegotiated();
  if (!host_local_config.ok()) return host_local_config.status();
  // CNI spec 1.1, GC: remove as much as possible, then report what failed.
  std::optional<absl::Status> first_failure;
  std::vector<std::string> failures;
  const auto note_failure = [&](const absl::Status& status) {
    if (!first_failure) first_failure = status;
    failures.emplace_back(status.message());
  };
  for (const v1::CniAttachment& removed : response->removed_attachments()) {
    const EnvMap overrides = {{"CNI_CONTAINERID", removed.container_id()},
                              {"CNI_IFNAME", removed.ifname()},
                              {"CNI_NETNS", ""}};
    absl::StatusOr<std::optional<JsonValue>> released =
        host_local_->Run("DEL", *host_local_config, overrides);
    if (!released.ok()) note_failure(released.status());
  }
  // A host-local with GC also finds leases the agent never knew (an ADD cut short).
  if (host_local_->supports_status_gc()) {
    JsonValue gc_config = *host_local_config;
    JsonValue valid = JsonList();
    for (const v1::CniAttachment& attachment : config_.valid_attachments) {
      JsonValue entry = JsonObject();
      SetField(entry, "containerID", JsonString(attachment.container_id()));
      SetField(entry, "ifname", JsonString(attachment.ifname()));
      Append(valid, std::move(entry));
    }
    SetField(gc_config, "cni.dev/valid-attachments", std::move(valid));
    absl::StatusOr<std::optional<JsonValue>> collected = host_local_->Run("GC", gc_config);
    if (!collected.ok()) note_failure(collected.status());
  }
  if (!first_failure) return absl::OkStatus();
  std::string all;
  for (const std::string& failure : failures) all += (all.empty() ? "" : "; ") + failure;
  return MakeError(ToCniError(*first_failure).code, "GC: " + all,
                   ToCniError(*first_failure).details);
}

// The version errors are reported in before negotiation: the configuration's own, if any.
std::string ReportVersion(const absl::StatusOr<JsonValue>& document) {
  if (document.ok()) {
    const JsonValue* version = FindField(*document, "cniVersion");
    if (version != nullptr && IsString(*version) && !version->string_value().empty()) {
      return version->string_value();
    }
  }
  return std::string(kLatestVersion);
}

PluginOutput Failure(std::string_view version, const absl::Status& status) {
  return PluginOutput{WriteJson(ErrorResult(version, ToCniError(status))) + "\n", 1};
}

absl::Status CheckVerbVersion(Command command, const std::string& version) {
  std::string_view floor;
  if (command == Command::kCheck) floor = kCheckMinVersion;
  if (command == Command::kStatus || command == Command::kGc) floor = kStatusGcMinVersion;
  if (floor.empty() || AtLeast(version, floor)) return absl::OkStatus();
  return MakeError(proto::kCniIncompatibleVersion,
                   "config version does not allow " + std::string(CommandName(command)) + ": " +
                       std::string(CommandName(command)) + " needs cniVersion " +
                       std::string(floor) + " or later, the configuration is " + version);
}

}  // namespace

PluginOutput RunPlugin(const EnvMap& env, std::string_view stdin_text) {
  const absl::StatusOr<JsonValue> document = ParseJson(stdin_text);
  std::string version = ReportVersion(document);

  absl::StatusOr<CniEnv> cni_env = ParseEnv(env);
  if (!cni_env.ok()) return Failure(version, cni_env.status());
  if (cni_env->command == Command::kVersion) {
    // CNI spec, VERSION: answered in the version asked about when braid-cni has it.
    return PluginOutput{
        WriteJson(VersionResult(IsSupported(version) ? version : kLatestVersion)) + "\n", 0};
  }
  if (!document.ok()) {
    return Failure(
        version, MakeError(proto::kCniDecodeFailure, "network configuration (stdin): " +
                                                         std::string(document.status().message())));
  }
  if (!IsObject(*document)) {
    return Failure(version, MakeError(proto::kCniDecodeFailure,
                                      "network configuration: expected a JSON object, got " +
                                          std::string(KindName(*document))));
  }
  absl::StatusOr<std::string> negotiated = NegotiateVersion(*document);
  if (!negotiated.ok()) return Failure(version, negotiated.status());
  version = *negotiated;
  if (absl::Status s = CheckVerbVersion(cni_env->command, version); !s.ok()) {
    return Failure(version, s);
  }
  absl::StatusOr<NetworkConfig> config = ParseNetworkConfig(*document, cni_env->command, version);
  if (!config.ok()) return Failure(version, config.status());

  // STATUS may come without CNI_PATH (CNI spec 1.1): then only the agent is asked. Every other
  // verb has CNI_PATH (ParseEnv) and needs host-local.
  std::optional<HostLocal> host_local;
  if (!cni_env->cni_path.empty()) {
    absl::StatusOr<HostLocal> found = HostLocal::Find(cni_env->cni_path, env);
    if (!found.ok()) return Failure(version, found.status());
    host_local = std::move(*found);
  }
  const Command command = cni_env->command;
  Invocation invocation(std::move(*cni_env), std::move(*config), std::move(host_local));
  absl::Status status;
  switch (command) {
    case Command::kAdd: {
      absl::StatusOr<JsonValue> result = invocation.Add();
      if (!result.ok()) return Failure(version, result.status());
      return PluginOutput{WriteJson(*result) + "\n", 0};
    }
    case Command::kDel:
      status = invocation.Del();
      break;
    case Command::kCheck:
      status = invocation.Check();
      break;
    case Command::kStatus:
      status = invocation.Status();
      break;
    case Command::kGc:
      status = invocation.Gc();
      break;
    case Command::kVersion:
      break;
  }
  if (!status.ok()) return Failure(version, status);
  return PluginOutput{"", 0};
}

}  // namespace braid::cni
