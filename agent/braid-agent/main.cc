// braid-agent: the node agent (agent/README.md).
//
//   braid-agent --config FILE        run until SIGINT / SIGTERM
//   braid-agent --config FILE --check  validate the configuration and exit
//   braid-agent --config-reference     print every option with its default (docs/agent-config.md)
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "agent/config.h"
#include "agent/daemon/agent.h"

namespace {

constexpr char kUsage[] =
    "usage: braid-agent --config FILE [--check]\n"
    "       braid-agent --config-reference\n";

int Fail(const std::string& message) {
  std::fprintf(stderr, "braid-agent: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg == "--check") {
      check = true;
    } else if (arg == "--config-reference") {
      std::fputs(braid::agent::ConfigReference().c_str(), stdout);
      return 0;
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      std::fprintf(stderr, "braid-agent: unknown argument \"%s\"\n%s", arg.c_str(), kUsage);
      return 2;
    }
  }
  if (config_path.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  absl::StatusOr<braid::agent::AgentConfig> config = braid::agent::LoadConfig(config_path);
  if (!config.ok()) return Fail(std::string(config.status().message()));
  if (check) {
    std::printf("%s: ok\n", config_path.c_str());
    return 0;
  }

  // SIGINT and SIGTERM go to one thread that asks the agent to shut down; every other thread
  // (the datapath's, gRPC's) inherits the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<std::unique_ptr<braid::agent::Agent>> agent =
      braid::agent::Agent::Start(std::move(*config));
  if (!agent.ok()) return Fail(agent.status().ToString());
  std::thread waiter([&signals, a = agent->get()] {
    int sig = 0;
    sigwait(&signals, &sig);
    braid::agent::Log(braid::agent::LogLevel::kInfo,
                      std::string("signal ") + strsignal(sig) + ": shutting down");
    a->RequestShutdown();
  });
  const absl::Status status = (*agent)->Wait();
  agent->reset();
  // The waiter may still wait for a signal when the datapath ended on its own.
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  if (!status.ok()) return Fail("datapath: " + status.ToString());
  return 0;
}
