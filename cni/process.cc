#include "cni/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>

#include "absl/status/status.h"

extern char** environ;  // NOLINT: POSIX declares it nowhere

namespace braid::cni {
namespace {

absl::Status Errno(std::string_view what) {
  return absl::InternalError(std::string(what) + ": " + std::strerror(errno));
}

void CloseIfOpen(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// A child that exits without reading its stdin turns our write into SIGPIPE: keep it pending in
// this thread (blocked) and consume it, instead of dying or touching the process's disposition.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&pipe_set_);
    sigaddset(&pipe_set_, SIGPIPE);
    sigpending(&pending_before_);
    pthread_sigmask(SIG_BLOCK, &pipe_set_, &old_mask_);
  }
  ~SigpipeGuard() {
    if (!sigismember(&pending_before_, SIGPIPE)) {
      const timespec zero = {0, 0};
      while (sigtimedwait(&pipe_set_, nullptr, &zero) > 0) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t pipe_set_;
  sigset_t pending_before_;
  sigset_t old_mask_;
};

// Feeds stdin and drains stdout together, so neither side blocks on a full pipe.
absl::Status Exchange(int to_child, int from_child, std::string_view input, std::string& output) {
  size_t written = 0;
  if (input.empty()) CloseIfOpen(to_child);
  if (to_child >= 0) ::fcntl(to_child, F_SETFL, ::fcntl(to_child, F_GETFL) | O_NONBLOCK);
  while (from_child >= 0) {
    pollfd fds[2] = {{from_child, POLLIN, 0}, {to_child, POLLOUT, 0}};
    const int n = ::poll(fds, to_child >= 0 ? 2 : 1, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      const absl::Status status = Errno("poll");
      CloseIfOpen(to_child);
      CloseIfOpen(from_child);
      return status;
    }
    if (to_child >= 0 && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
      const ssize_t w = ::write(to_child, input.data() + written, input.size() - written);
      if (w > 0) written += static_cast<size_t>(w);
      // EPIPE: the child does not read its stdin; what it printed still counts.
      if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == input.size()) {
        CloseIfOpen(to_child);
      }
    }
    if ((fds[0].revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
      char buffer[4096];
      const ssize_t r = ::read(from_child, buffer, sizeof(buffer));
      if (r > 0) {
        output.append(buffer, static_cast<size_t>(r));
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        CloseIfOpen(from_child);
      }
    }
  }
  CloseIfOpen(to_child);
  return absl::OkStatus();
}

}  // namespace

EnvMap CurrentEnvironment() {
  EnvMap env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const size_t equals = text.find('=');
    if (equals == std::string_view::npos) continue;
    env.emplace(std::string(text.substr(0, equals)), std::string(text.substr(equals + 1)));
  }
  return env;
}

absl::StatusOr<ProcessResult> RunProcess(const std::vector<std::string>& argv, const EnvMap& env,
                                         std::string_view stdin_text) {
  if (argv.empty()) return absl::InvalidArgumentError("no program to run");
  int in_pipe[2] = {-1, -1};
  int out_pipe[2] = {-1, -1};
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) return Errno("pipe");
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    const absl::Status status = Errno("pipe");
    CloseIfOpen(in_pipe[0]);
    CloseIfOpen(in_pipe[1]);
    return status;
  }

  std::vector<std::string> env_entries;
  for (const auto& [name, value] : env) env_entries.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (std::string& entry : env_entries) envp.push_back(entry.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  for (std::string& arg : args) argp.push_back(arg.data());
  argp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  // The child starts with default signal handling and nothing blocked, whatever we did.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  pid_t pid = -1;
  const int spawn_error =
      ::posix_spawn(&pid, args[0].c_str(), &actions, &attr, argp.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  CloseIfOpen(in_pipe[0]);
  CloseIfOpen(out_pipe[1]);
  if (spawn_error != 0) {
    CloseIfOpen(in_pipe[1]);
    CloseIfOpen(out_pipe[0]);
    return absl::InternalError("cannot run " + args[0] + ": " + std::strerror(spawn_error));
  }

  ProcessResult result;
  absl::Status exchanged;
  {
    SigpipeGuard guard;
    exchanged = Exchange(in_pipe[1], out_pipe[0], stdin_text, result.stdout_text);
  }
  int wait_status = 0;
  while (::waitpid(pid, &wait_status, 0) < 0) {
    if (errno != EINTR) return Errno("waitpid " + args[0]);
  }
  if (!exchanged.ok()) return exchanged;
  if (WIFSIGNALED(wait_status)) {
    result.signaled = true;
    result.exit_status = 128 + WTERMSIG(wait_status);
  } else {
    result.exit_status = WEXITSTATUS(wait_status);
  }
  return result;
}

}  // namespace braid::cni
