// host-local, braid-cni's IPAM (architecture.md §7), run as a delegated plugin (CNI spec,
// "Plugin delegation"): found in CNI_PATH, run with the plugin's own environment (CNI_COMMAND and
// the rest) and its own configuration on stdin (config.h, HostLocalConfig). Its errors come back
// with host-local's code, msg and details.
//
// The configuration goes to host-local in the highest version both support, learnt from its
// VERSION: Debian 12's host-local (plugins 1.1.1) stops at 1.0.0 and refuses a 1.1.0
// configuration, and only a 1.1.0 host-local knows STATUS and GC.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "cni/env.h"
#include "cni/json.h"

namespace braid::cni {

class HostLocal {
 public:
  // host-local in the first directory of `cni_path` (':'-separated) that has it as an executable
  // file; CNI error 4 naming CNI_PATH when none has. `env` is what host-local runs with.
  static absl::StatusOr<HostLocal> Find(std::string_view cni_path, EnvMap env);

  const std::string& path() const { return path_; }

  // Runs VERSION and picks the highest version host-local and braid-cni share (CNI error 1 when
  // none). Remembered for supports_status_gc().
  absl::StatusOr<std::string> NegotiateVersion();
  // Whether the negotiated version has STATUS and GC (1.1.0 on).
  bool supports_status_gc() const;

  // Runs `command` with `config` on stdin and this plugin's environment, CNI_COMMAND set to
  // `command`, IgnoreUnknown=1 added to a CNI_ARGS without it, and `overrides` applied (an empty
  // value unsets the variable). Its result, or
  // nullopt when it printed nothing (DEL, CHECK, GC, STATUS). A failure carries host-local's
  // CNI error; a crash or output that is not JSON is CNI error 5.
  absl::StatusOr<std::optional<JsonValue>> Run(std::string_view command, const JsonValue& config,
                                               const EnvMap& overrides = {}) const;

 private:
  HostLocal(std::string path, EnvMap env) : path_(std::move(path)), env_(std::move(env)) {}

  std::string path_;
  EnvMap env_;
  std::string version_;
};

}  // namespace braid::cni
