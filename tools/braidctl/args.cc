#include "tools/braidctl/args.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "datapath/pcap/pcap_format.h"

namespace braid::braidctl {
namespace {

using google::protobuf::util::TimeUtil;

struct OptionSpec {
  std::string_view name;   // "--socket"
  std::string_view alias;  // "-o"; empty: none
  bool takes_value;
};

constexpr OptionSpec kGlobalOptions[] = {
    {"--socket", "", true}, {"--output", "-o", true}, {"--timeout", "", true},
    {"--raw", "", false},   {"--help", "-h", false},
};

struct CommandSpec {
  std::string_view name;
  Command command;
  std::vector<OptionSpec> options;
};

const std::vector<CommandSpec>& Commands() {
  static const auto* const commands = new std::vector<CommandSpec>{
      {"status", Command::kStatus, {}},
      {"paths", Command::kPaths, {}},
      {"pods", Command::kPods, {{"--namespace", "-n", true}, {"--name", "", true}}},
      {"connections",
       Command::kConnections,
       {{"--pod", "", true}, {"--path", "", true}, {"--subflows", "", false}}},
      {"subflows", Command::kSubflows, {}},
      {"counters",
       Command::kCounters,
       {{"--subsystem", "", true}, {"--all", "", false}, {"--per-worker", "", false}}},
      {"capture",
       Command::kCapture,
       {{"--connection", "", true},
        {"--path", "", true},
        {"--count", "", true},
        {"--bytes", "", true},
        {"--duration", "", true},
        {"--snaplen", "", true},
        {"--write", "-w", true}}},
      {"log-level", Command::kLogLevel, {{"--component", "", true}}},
      {"version", Command::kVersion, {{"--client", "", false}}},
      {"help", Command::kHelp, {}},
  };
  return *commands;
}

absl::Status Usage(std::string message) { return absl::InvalidArgumentError(std::move(message)); }

const OptionSpec* FindOption(std::string_view name, const std::vector<OptionSpec>& command) {
  const auto matches = [name](const OptionSpec& spec) {
    return spec.name == name || (!spec.alias.empty() && spec.alias == name);
  };
  for (const OptionSpec& spec : kGlobalOptions) {
    if (matches(spec)) return &spec;
  }
  for (const OptionSpec& spec : command) {
    if (matches(spec)) return &spec;
  }
  return nullptr;
}

absl::StatusOr<uint64_t> ParseUnsigned(std::string_view what, std::string_view text) {
  uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
    return Usage(std::string(what) + ": \"" + std::string(text) +
                 "\" is not a non-negative integer");
  }
  return value;
}

absl::StatusOr<uint64_t> ParsePositive(std::string_view what, std::string_view text) {
  absl::StatusOr<uint64_t> value = ParseUnsigned(what, text);
  if (value.ok() && *value == 0) return Usage(std::string(what) + ": must be at least 1");
  return value;
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// One option with its value, as the user wrote it.
struct Option {
  std::string name;  // the spec's long name
  std::string value;
};

absl::Status Apply(const Option& option, Invocation& inv) {
  const std::string& name = option.name;
  const std::string& value = option.value;
  if (name == "--socket") {
    if (value.empty()) return Usage("--socket: empty path");
    inv.socket = value;
  } else if (name == "--output") {
    if (value == "table") {
      inv.output = OutputFormat::kTable;
    } else if (value == "json") {
      inv.output = OutputFormat::kJson;
    } else {
      return Usage("--output: \"" + value + "\": expected table or json");
    }
  } else if (name == "--timeout") {
    absl::StatusOr<std::chrono::nanoseconds> span = ParseSpan(value);
    if (!span.ok()) return Usage("--timeout: " + std::string(span.status().message()));
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*span);
    if (ms.count() <= 0) return Usage("--timeout: must be at least 1ms");
    inv.timeout = ms;
  } else if (name == "--raw") {
    inv.raw = true;
  } else if (name == "--namespace") {
    inv.pods.mutable_pod()->set_namespace_(value);
  } else if (name == "--name") {
    inv.pods.mutable_pod()->set_name(value);
  } else if (name == "--pod") {
    absl::StatusOr<v1::PodRef> pod = ParsePodRef(value);
    if (!pod.ok()) return Usage("--pod: " + std::string(pod.status().message()));
    *inv.connections.mutable_pod() = *pod;
  } else if (name == "--path" && inv.command == Command::kConnections) {
    if (value.empty()) return Usage("--path: empty path name");
    inv.connections.set_path(value);
  } else if (name == "--subflows") {
    inv.connections.set_include_subflows(true);
  } else if (name == "--subsystem") {
    // Repeatable, and each may list several: --subsystem mptcp,tcp.
    size_t start = 0;
    while (start <= value.size()) {
      const size_t comma = std::min(value.find(',', start), value.size());
      const std::string part = value.substr(start, comma - start);
      if (part.empty()) return Usage("--subsystem: empty subsystem name in \"" + value + "\"");
      inv.counters.add_subsystems(part);
      start = comma + 1;
    }
  } else if (name == "--all") {
    inv.counters.set_include_zero(true);
  } else if (name == "--per-worker") {
    inv.counters.set_per_worker(true);
  } else if (name == "--connection") {
    absl::StatusOr<uint64_t> id = ParsePositive("--connection", value);
    if (!id.ok()) return id.status();
    if (inv.capture.target_case() != v1::CaptureRequest::TARGET_NOT_SET) {
      return Usage("capture: --connection and --path exclude each other");
    }
    inv.capture.set_connection_id(*id);
  } else if (name == "--path" && inv.command == Command::kCapture) {
    if (value.empty()) return Usage("--path: empty path name");
    if (inv.capture.target_case() != v1::CaptureRequest::TARGET_NOT_SET) {
      return Usage("capture: --connection and --path exclude each other");
    }
    inv.capture.set_path(value);
  } else if (name == "--count") {
    absl::StatusOr<uint64_t> count = ParsePositive("--count", value);
    if (!count.ok()) return count.status();
    inv.capture.set_max_packets(*count);
  } else if (name == "--bytes") {
    absl::StatusOr<uint64_t> bytes = ParseSize(value);
    if (!bytes.ok()) return Usage("--bytes: " + std::string(bytes.status().message()));
    if (*bytes == 0) return Usage("--bytes: must be at least 1");
    inv.capture.set_max_bytes(*bytes);
  } else if (name == "--duration") {
    absl::StatusOr<std::chrono::nanoseconds> span = ParseSpan(value);
    if (!span.ok()) return Usage("--duration: " + std::string(span.status().message()));
    if (span->count() <= 0) return Usage("--duration: must be more than 0");
    *inv.capture.mutable_max_duration() = TimeUtil::NanosecondsToDuration(span->count());
  } else if (name == "--snaplen") {
    absl::StatusOr<uint64_t> snaplen = ParsePositive("--snaplen", value);
    if (!snaplen.ok()) return snaplen.status();
    if (*snaplen > pcap::kMaxSnaplen) {
      return Usage("--snaplen: at most " + std::to_string(pcap::kMaxSnaplen));
    }
    inv.capture.set_snaplen(static_cast<uint32_t>(*snaplen));
  } else if (name == "--write") {
    if (value.empty()) return Usage("-w: empty file name");
    inv.capture_output = value;
  } else if (name == "--component") {
    inv.log_level.set_component(value);
  } else if (name == "--client") {
    inv.client_only = true;
  }
  return absl::OkStatus();
}

absl::Status ApplyPositionals(const std::vector<std::string>& positionals, Invocation& inv) {
  const std::string& cmd = inv.command_name;
  switch (inv.command) {
    case Command::kSubflows: {
      if (positionals.size() != 1) return Usage("subflows: expected one CONNECTION_ID");
      absl::StatusOr<uint64_t> id = ParsePositive("subflows: CONNECTION_ID", positionals[0]);
      if (!id.ok()) return id.status();
      inv.subflows.set_connection_id(*id);
      return absl::OkStatus();
    }
    case Command::kLogLevel: {
      if (positionals.size() > 1) return Usage("log-level: expected at most one LEVEL");
      if (positionals.size() == 1) {
        absl::StatusOr<v1::LogLevel> level = ParseLogLevel(positionals[0]);
        if (!level.ok()) return Usage("log-level: " + std::string(level.status().message()));
        inv.new_log_level = *level;
      }
      return absl::OkStatus();
    }
    default:
      if (!positionals.empty()) {
        return Usage(cmd + ": unexpected argument \"" + positionals[0] + "\"");
      }
      return absl::OkStatus();
  }
}

absl::Status CheckCapture(const Invocation& inv) {
  const v1::CaptureRequest& c = inv.capture;
  if (c.target_case() == v1::CaptureRequest::TARGET_NOT_SET) {
    return Usage("capture: needs --connection ID or --path PATH");
  }
  if (c.max_packets() == 0 && c.max_bytes() == 0 && !c.has_max_duration()) {
    return Usage("capture: needs a limit: --count, --bytes or --duration");
  }
  if (inv.capture_output.empty()) return Usage("capture: needs -w FILE (or -w - for stdout)");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Invocation> ParseArgs(const std::vector<std::string>& args,
                                     std::string_view socket_env) {
  Invocation inv;
  if (!socket_env.empty()) inv.socket = std::string(socket_env);
  static const std::vector<OptionSpec> kNoOptions;
  const std::vector<OptionSpec>* command_options = &kNoOptions;
  bool have_command = false;
  bool options_done = false;
  bool help = false;
  std::vector<Option> options;
  std::vector<std::string> positionals;

  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (options_done || arg == "-" || !arg.starts_with("-")) {
      if (!have_command) {
        const auto& commands = Commands();
        const auto it = std::find_if(commands.begin(), commands.end(),
                                     [&](const CommandSpec& c) { return c.name == arg; });
        if (it == commands.end()) return Usage("unknown command \"" + arg + "\"");
        inv.command = it->command;
        inv.command_name = arg;
        command_options = &it->options;
        have_command = true;
      } else {
        positionals.push_back(arg);
      }
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    std::string name = arg;
    std::optional<std::string> value;
    if (arg.starts_with("--")) {
      const size_t equals = arg.find('=');
      if (equals != std::string::npos) {
        name = arg.substr(0, equals);
        value = arg.substr(equals + 1);
      }
    } else if (arg.size() > 2) {
      // -ojson, -wFILE: a short option glued to its value.
      name = arg.substr(0, 2);
      value = arg.substr(2);
    }
    const OptionSpec* spec = FindOption(name, *command_options);
    if (spec == nullptr) {
      return Usage((have_command ? inv.command_name + ": " : std::string()) + "unknown option " +
                   name);
    }
    if (spec->takes_value && !value) {
      if (i + 1 >= args.size()) return Usage(std::string(spec->name) + ": needs a value");
      value = args[++i];
    } else if (!spec->takes_value && value) {
      return Usage(std::string(spec->name) + ": takes no value");
    }
    if (spec->name == "--help") help = true;
    options.push_back({std::string(spec->name), value.value_or("")});
  }
  if (help || !have_command) {
    if (!help) return Usage("no command");
    inv.command = Command::kHelp;
    return inv;
  }
  // Options apply once the command is known: --path means a connection filter or a capture
  // target depending on it.
  for (const Option& option : options) {
    if (absl::Status status = Apply(option, inv); !status.ok()) return status;
  }
  if (absl::Status status = ApplyPositionals(positionals, inv); !status.ok()) return status;
  if (inv.command == Command::kCapture) {
    if (absl::Status status = CheckCapture(inv); !status.ok()) return status;
  }
  return inv;
}

std::string UsageText() {
  return R"(usage: braidctl [--socket PATH] [-o table|json] [--timeout DURATION] [--raw] COMMAND [ARGS...]

Shows what the node's braid-agent is doing (its DebugService).

commands:
  status                        the agent: version, node, uptime, workers, paths
  paths                         the node's paths: port, link, addresses, device counters
  pods [--namespace NS] [--name NAME]
                                the attached pods
  connections [--pod NS/NAME] [--path PATH] [--subflows]
                                live connections (every page); --subflows lists theirs too
  subflows CONNECTION_ID        a connection's subflows: addresses, path, state, RTT, cwnd,
                                bytes, retransmissions
  counters [--subsystem S]... [--all] [--per-worker]
                                datapath counters named as their metrics; zeros only with --all
  capture (--connection ID | --path PATH) [--count N] [--bytes SIZE] [--duration DURATION]
          [--snaplen N] -w FILE|-
                                live packets into a pcap file (- for stdout) until a limit is
                                reached, the target goes away or Ctrl-C
  log-level [--component C] [LEVEL]
                                show or set (until the agent restarts) a log level: error,
                                warning, info, debug
  version [--client]            braidctl's version and the agent's

options (before or after the command):
  --socket PATH         the agent's socket (default: $BRAID_SOCKET, else /run/braid/agent.sock)
  -o, --output FORMAT   table (default), or json: the agent's answer as protobuf JSON
  --timeout DURATION    each call's deadline (default 10s): 500ms, 5s, 2m, or seconds
  --raw                 bytes as plain integers instead of KiB, MiB, ...
  -h, --help            this text

exit status: 0 done, 1 the agent answered with an error or could not be reached, 2 usage error
)";
}

absl::StatusOr<std::chrono::nanoseconds> ParseSpan(std::string_view text) {
  const size_t number_end = text.find_first_not_of("0123456789.");
  const std::string_view number = text.substr(0, number_end);
  const std::string_view unit =
      number_end == std::string_view::npos ? std::string_view() : text.substr(number_end);
  double value = 0;
  const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (number.empty() || error != std::errc() || end != number.data() + number.size()) {
    return Usage("\"" + std::string(text) + "\" is not a duration (500ms, 10s, 2m, 1h)");
  }
  double seconds_per_unit = 0;
  if (unit.empty() || unit == "s") {
    seconds_per_unit = 1;
  } else if (unit == "ns") {
    seconds_per_unit = 1e-9;
  } else if (unit == "us") {
    seconds_per_unit = 1e-6;
  } else if (unit == "ms") {
    seconds_per_unit = 1e-3;
  } else if (unit == "m") {
    seconds_per_unit = 60;
  } else if (unit == "h") {
    seconds_per_unit = 3600;
  } else {
    return Usage("\"" + std::string(text) + "\": unknown unit \"" + std::string(unit) +
                 "\" (ns, us, ms, s, m, h)");
  }
  const double seconds = value * seconds_per_unit;
  // A year is more than any deadline or capture needs, and far from int64 nanoseconds' limit.
  if (!std::isfinite(seconds) || seconds > 365.0 * 86'400) {
    return Usage("\"" + std::string(text) + "\" is longer than a year");
  }
  return std::chrono::nanoseconds(static_cast<int64_t>(std::llround(seconds * 1e9)));
}

absl::StatusOr<uint64_t> ParseSize(std::string_view text) {
  const size_t number_end = std::min(text.find_first_not_of("0123456789"), text.size());
  absl::StatusOr<uint64_t> number = ParseUnsigned("size", text.substr(0, number_end));
  if (!number.ok()) {
    return Usage("\"" + std::string(text) + "\" is not a size (1500, 64K, 10MiB)");
  }
  const std::string unit = Lower(text.substr(number_end));
  uint64_t multiplier = 0;
  if (unit.empty() || unit == "b") {
    multiplier = 1;
  } else if (unit == "k" || unit == "kib") {
    multiplier = uint64_t{1} << 10;
  } else if (unit == "m" || unit == "mib") {
    multiplier = uint64_t{1} << 20;
  } else if (unit == "g" || unit == "gib") {
    multiplier = uint64_t{1} << 30;
  } else {
    return Usage("\"" + std::string(text) + "\": unknown unit (K/KiB, M/MiB, G/GiB)");
  }
  if (*number > UINT64_MAX / multiplier) return Usage("\"" + std::string(text) + "\" is too big");
  return *number * multiplier;
}

absl::StatusOr<v1::LogLevel> ParseLogLevel(std::string_view text) {
  const std::string lower = Lower(text);
  if (lower == "error") return v1::LOG_LEVEL_ERROR;
  if (lower == "warning" || lower == "warn") return v1::LOG_LEVEL_WARNING;
  if (lower == "info") return v1::LOG_LEVEL_INFO;
  if (lower == "debug") return v1::LOG_LEVEL_DEBUG;
  v1::LogLevel level = v1::LOG_LEVEL_UNSPECIFIED;
  if (v1::LogLevel_Parse(std::string(text), &level) && level != v1::LOG_LEVEL_UNSPECIFIED) {
    return level;
  }
  return Usage("\"" + std::string(text) + "\" is not a log level (error, warning, info, debug)");
}

absl::StatusOr<v1::PodRef> ParsePodRef(std::string_view text) {
  v1::PodRef pod;
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    if (text.empty()) return Usage("empty pod name");
    pod.set_name(std::string(text));
    return pod;
  }
  const std::string_view ns = text.substr(0, slash);
  const std::string_view name = text.substr(slash + 1);
  if (ns.empty() || name.find('/') != std::string_view::npos) {
    return Usage("\"" + std::string(text) + "\": expected NAMESPACE/NAME");
  }
  pod.set_namespace_(std::string(ns));
  pod.set_name(std::string(name));
  return pod;
}

}  // namespace braid::braidctl
