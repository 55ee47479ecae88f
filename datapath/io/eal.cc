#include "datapath/io/eal.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <unistd.h>

#include <cerrno>

#include "datapath/io/errors.h"
#include "datapath/io/text.h"

namespace braid::io {
namespace {

enum class State { kNone, kRunning, kCleanedUp };

struct EalState {
  State state = State::kNone;
  EalConfig config;
  std::vector<std::string> args;
  // rte_eal_init keeps pointers into argv (getopt permutes it, devargs point at it): the strings
  // live as long as the process.
  std::vector<std::string> storage;
  std::vector<char*> argv;
  std::string runtime_dir;
};

EalState& GlobalState() {
  static EalState* state = new EalState();  // never destroyed: the EAL outlives static dtors
  return *state;
}

}  // namespace

absl::Status Eal::Init(const EalConfig& requested) {
  EalState& s = GlobalState();
  EalConfig config = requested;
  if (s.state == State::kRunning && config.file_prefix.empty()) {
    config.file_prefix = s.config.file_prefix;
  }
  if (config.file_prefix.empty()) config.file_prefix = UniqueFilePrefix("braid");
  absl::StatusOr<std::vector<std::string>> args = EalArgs(config);
  if (!args.ok()) return args.status();

  switch (s.state) {
    case State::kRunning:
      if (*args == s.args) return absl::OkStatus();
      return absl::FailedPreconditionError(Cat("EAL already initialized with [", Join(s.args, " "),
                                               "]; a second Init asked for [", Join(*args, " "),
                                               "]"));
    case State::kCleanedUp:
      return absl::FailedPreconditionError(
          "EAL cannot be initialized again in this process after rte_eal_cleanup (DPDK "
          "limitation); start a new process");
    case State::kNone:
      break;
  }

  s.storage = *args;
  s.argv.clear();
  for (std::string& a : s.storage) s.argv.push_back(a.data());
  s.argv.push_back(nullptr);
  // The EAL parses with getopt: reset it in case the program used getopt before us.
  optind = 1;
  const int ret = rte_eal_init(static_cast<int>(s.argv.size() - 1), s.argv.data());
  if (ret < 0) {
    const int err = rte_errno;
    if (err == EALREADY) {
      return absl::FailedPreconditionError(
          Cat("rte_eal_init [", Join(*args, " "),
              "]: the EAL was already initialized outside braid::io::Eal (or a previous attempt "
              "went too far to be retried)"));
    }
    return ErrnoStatus(err, Cat("rte_eal_init [", Join(*args, " "), "]"));
  }
  optind = 1;
  s.state = State::kRunning;
  s.config = config;
  s.args = *std::move(args);
  s.runtime_dir = rte_eal_get_runtime_dir();
  return absl::OkStatus();
}

absl::Status Eal::Cleanup() {
  EalState& s = GlobalState();
  if (s.state != State::kRunning) return absl::OkStatus();
  const int ret = rte_eal_cleanup();
  s.state = State::kCleanedUp;
  // With --no-shconf the EAL creates its runtime directory but writes nothing there; remove it so
  // test runs do not litter /var/run/dpdk. rmdir fails harmlessly when something is left in it.
  if (!s.runtime_dir.empty()) rmdir(s.runtime_dir.c_str());
  return ReturnStatus(ret, "rte_eal_cleanup");
}

bool Eal::initialized() { return GlobalState().state == State::kRunning; }

const std::vector<std::string>& Eal::args() { return GlobalState().args; }

const std::string& Eal::file_prefix() {
  EalState& s = GlobalState();
  static const std::string kEmpty;
  return s.state == State::kNone ? kEmpty : s.config.file_prefix;
}

}  // namespace braid::io
