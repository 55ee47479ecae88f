// braidctl's command line: `braidctl [--socket PATH] [-o table|json] [--timeout DURATION] [--raw]
// COMMAND [ARGS...]` (tools/braidctl/README.md). Parsing fills the DebugService request each
// command sends, so what the user typed and what the agent gets cannot drift apart. Global
// options may come before or after the command; `--` ends the options.
//
// Every error is INVALID_ARGUMENT with a message naming the option or argument: a usage error
// (exit status 2).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "braid/v1/debug.pb.h"

namespace braid::braidctl {

inline constexpr char kDefaultSocket[] = "/run/braid/agent.sock";
inline constexpr std::chrono::milliseconds kDefaultTimeout{10'000};

enum class Command {
  kHelp,
  kStatus,
  kPaths,
  kPods,
  kConnections,
  kSubflows,
  kCounters,
  kCapture,
  kLogLevel,
  kVersion,
};

enum class OutputFormat { kTable, kJson };

struct Invocation {
  Command command = Command::kHelp;
  std::string command_name;  // as typed ("status"), for messages
  std::string socket = kDefaultSocket;
  OutputFormat output = OutputFormat::kTable;
  std::chrono::milliseconds timeout = kDefaultTimeout;
  bool raw = false;  // bytes as plain integers

  v1::ListPodsRequest pods;
  v1::ListConnectionsRequest connections;
  v1::ListSubflowsRequest subflows;
  v1::ListCountersRequest counters;
  v1::CaptureRequest capture;
  std::string capture_output;  // -w: a file name, or "-" for stdout
  v1::GetLogLevelRequest log_level;
  std::optional<v1::LogLevel> new_log_level;  // log-level LEVEL
  bool client_only = false;                   // version --client
};

// `args` without the program name. `socket_env` is $BRAID_SOCKET (empty: unset), which --socket
// overrides.
absl::StatusOr<Invocation> ParseArgs(const std::vector<std::string>& args,
                                     std::string_view socket_env);

// The usage text, ending in '\n'.
std::string UsageText();

// A span: a number with a unit "ns", "us", "ms", "s", "m" or "h" ("500ms", "1.5s", "2m"), or a
// plain number of seconds ("10").
absl::StatusOr<std::chrono::nanoseconds> ParseSpan(std::string_view text);
// A size in bytes: an integer, optionally with a binary unit "K"/"KiB", "M"/"MiB", "G"/"GiB"
// ("1500", "64K", "10MiB").
absl::StatusOr<uint64_t> ParseSize(std::string_view text);
// "error", "warning" (or "warn"), "info", "debug", any case, or the enum's own name.
absl::StatusOr<v1::LogLevel> ParseLogLevel(std::string_view text);
// "NAMESPACE/NAME", "NAMESPACE/" (every pod of the namespace) or "NAME" (any namespace).
absl::StatusOr<v1::PodRef> ParsePodRef(std::string_view text);

}  // namespace braid::braidctl
