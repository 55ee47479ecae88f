// Running a program the way a CNI runtime runs a plugin: its own environment, a document on
// stdin, its stdout collected; stderr is shared with ours (diagnostics). braid-cni runs host-local
// this way (CNI spec, "Plugin delegation"), and the tests run braid-cni and the reference plugins.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "cni/env.h"

namespace braid::cni {

struct ProcessResult {
  // The exit status, or 128 + the signal's number when a signal ended it (as a shell says).
  int exit_status = 0;
  bool signaled = false;
  std::string stdout_text;
};

// Runs `argv[0]` (a path, not searched in PATH) with exactly `env`, writes `stdin_text` to it
// and reads its stdout until it exits. INTERNAL when it cannot start or a pipe fails.
absl::StatusOr<ProcessResult> RunProcess(const std::vector<std::string>& argv, const EnvMap& env,
                                         std::string_view stdin_text);

// The environment of this process.
EnvMap CurrentEnvironment();

}  // namespace braid::cni
