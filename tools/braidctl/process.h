// Running kubectl for kubectl-braid, without a shell: argv goes to the program as it is, so pod
// names and braidctl's arguments need no quoting.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace braid::braidctl {

struct CapturedRun {
  // The exit status, or 128 + the signal's number when a signal ended it (as a shell says).
  int exit_status = 0;
  std::string stdout_text;
};

// Runs `argv` (argv[0] searched in PATH) with this process's environment, stdin and stderr, and
// collects its stdout until it exits. NOT_FOUND when argv[0] is nowhere in PATH; INTERNAL when
// it cannot start or a pipe fails.
absl::StatusOr<CapturedRun> RunCapturingStdout(const std::vector<std::string>& argv);

// Replaces this process with `argv` (execvp: argv[0] searched in PATH): its stdin, stdout,
// stderr, signals and exit status become the program's. Returns only when that failed: NOT_FOUND
// when argv[0] is nowhere in PATH, INTERNAL otherwise.
absl::Status ExecReplacing(const std::vector<std::string>& argv);

}  // namespace braid::braidctl
