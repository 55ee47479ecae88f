#include "tools/braidctl/process.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

extern char** environ;  // NOLINT: POSIX declares it nowhere

namespace braid::braidctl {
namespace {

absl::Status StartError(const std::string& program, int error) {
  const std::string message = "cannot run " + program + ": " + std::strerror(error);
  return error == ENOENT ? absl::NotFoundError(message) : absl::InternalError(message);
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (std::string& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

}  // namespace

absl::StatusOr<CapturedRun> RunCapturingStdout(const std::vector<std::string>& argv) {
  if (argv.empty()) return absl::InvalidArgumentError("no program to run");
  int out_pipe[2] = {-1, -1};
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(std::string("pipe: ") + std::strerror(errno));
  }
  std::vector<std::string> args = argv;
  std::vector<char*> argp = Pointers(args);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  pid_t pid = -1;
  const int spawn_error =
      ::posix_spawnp(&pid, args[0].c_str(), &actions, nullptr, argp.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  if (spawn_error != 0) {
    ::close(out_pipe[0]);
    return StartError(args[0], spawn_error);
  }

  CapturedRun run;
  int read_errno = 0;
  char buffer[8192];
  while (true) {
    const ssize_t n = ::read(out_pipe[0], buffer, sizeof(buffer));
    if (n > 0) {
      run.stdout_text.append(buffer, static_cast<size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      read_errno = errno;
      break;
    }
  }
  ::close(out_pipe[0]);
  int wait_status = 0;
  while (::waitpid(pid, &wait_status, 0) < 0) {
    if (errno != EINTR) {
      return absl::InternalError("waitpid " + args[0] + ": " + std::strerror(errno));
    }
  }
  if (read_errno != 0) {
    return absl::InternalError("reading " + args[0] + "'s output: " + std::strerror(read_errno));
  }
  run.exit_status =
      WIFSIGNALED(wait_status) ? 128 + WTERMSIG(wait_status) : WEXITSTATUS(wait_status);
  return run;
}

absl::Status ExecReplacing(const std::vector<std::string>& argv) {
  if (argv.empty()) return absl::InvalidArgumentError("no program to run");
  std::vector<std::string> args = argv;
  std::vector<char*> argp = Pointers(args);
  ::execvp(args[0].c_str(), argp.data());
  return StartError(args[0], errno);
}

}  // namespace braid::braidctl
