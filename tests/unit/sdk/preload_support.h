// What the preload shim's tests share: running the probe (preload_probe.cc, an unmodified
// application) with LD_PRELOAD=libbraid_preload.so against the loopback service test double.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <link.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "tests/unit/sdk/loopback_service.h"
#include "tests/unit/sdk/sdk_test_support.h"

extern char** environ;

namespace braid::sdk::testing {

inline std::string PreloadLibrary() { return BRAID_BINARY_DIR "/sdk/preload/libbraid_preload.so"; }
inline std::string ProbeProgram() { return BRAID_BINARY_DIR "/sdk/preload/braid_preload_probe"; }

// The sanitizer runtimes this test process runs with: a sanitized shim needs them loaded ahead
// of everything else in the probe, which is not sanitized itself.
inline std::vector<std::string> SanitizerRuntimes() {
  std::vector<std::string> out;
  ::dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        const char* name = info->dlpi_name;
        if (name != nullptr && (std::strstr(name, "/libasan.so") != nullptr ||
                                std::strstr(name, "/libubsan.so") != nullptr)) {
          static_cast<std::vector<std::string>*>(data)->push_back(name);
        }
        return 0;
      },
      &out);
  return out;
}

struct ProbeResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs the probe's `scenario` with LD_PRELOAD and `env` (NAME=value) added to this process's
// environment; gives up (exit_code -1) after `timeout`.
inline ProbeResult RunProbe(const std::string& scenario, const std::vector<std::string>& env,
                            std::chrono::seconds timeout = std::chrono::seconds(60)) {
  std::string preload;
  for (const std::string& lib : SanitizerRuntimes()) preload += lib + ":";
  preload += PreloadLibrary();
  std::vector<std::string> vars = {"LD_PRELOAD=" + preload,
                                   // The probe's memory is the application's: not ours to judge.
                                   "ASAN_OPTIONS=detect_leaks=0"};
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "LD_PRELOAD=", 11) != 0 && std::strncmp(*e, "ASAN_OPTIONS=", 13) != 0 &&
        std::strncmp(*e, "BRAID_", 6) != 0) {
      vars.push_back(*e);
    }
  }
  vars.insert(vars.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (std::string& v : vars) envp.push_back(v.data());
  envp.push_back(nullptr);
  std::string program = ProbeProgram();
  std::string arg = scenario;
  char* argv[] = {program.data(), arg.data(), nullptr};

  int out[2];
  ProbeResult result;
  if (::pipe2(out, O_CLOEXEC) != 0) return result;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, out[1], 2);
  pid_t pid = -1;
  const int spawned = ::posix_spawn(&pid, program.c_str(), &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  if (spawned != 0) {
    ::close(out[0]);
    result.output = "posix_spawn: " + std::string(std::strerror(spawned));
    return result;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(pid, SIGKILL);
      result.output += "\n[probe killed: timeout]";
      break;
    }
    pollfd p{out[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    const ssize_t n = ::read(out[0], buf, sizeof(buf));
    if (n <= 0) break;
    result.output.append(buf, n);
  }
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

// A loopback service the probes attach to.
class PreloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = TestPath("preload");
    auto service = LoopbackService::Start(path_);
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = std::move(*service);
  }

  // The probe on Braid: the loopback service's addresses are loopback ones, which the shim
  // leaves to the kernel unless the rules name them.
  ProbeResult RunOnBraid(const std::string& scenario, std::vector<std::string> env = {}) {
    env.push_back("BRAID_SOCKET=" + path_);
    env.push_back("BRAID_PRELOAD_DESTINATIONS=127.0.0.0/8");
    return RunProbe(scenario, env);
  }

  std::string path_;
  std::unique_ptr<LoopbackService> service_;
};

}  // namespace braid::sdk::testing
