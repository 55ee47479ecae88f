#include "datapath/io/eal_config.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>

#include "absl/status/status.h"
#include "datapath/io/text.h"

namespace braid::io {
namespace {

constexpr int kMaxLogLevel = 8;  // RTE_LOG_DEBUG

bool ValidPrefix(std::string_view prefix) {
  return std::none_of(prefix.begin(), prefix.end(), [](char c) {
    return c == '/' || c == ' ' || c == '\t' || c == '\n' || c == '\0';
  });
}

}  // namespace

absl::StatusOr<std::vector<std::string>> EalArgs(const EalConfig& config) {
  std::vector<std::string> args;
  args.push_back(config.program.empty() ? std::string("braid") : config.program);

  if (!config.lcores.empty()) {
    args.push_back("-l");
    args.push_back(Join(config.lcores, ","));
  }
  if (config.main_lcore >= 0) {
    if (!config.lcores.empty() &&
        std::find(config.lcores.begin(), config.lcores.end(),
                  static_cast<unsigned>(config.main_lcore)) == config.lcores.end()) {
      return absl::InvalidArgumentError(Cat("EAL config: main_lcore ", config.main_lcore,
                                            " is not in lcores [", Join(config.lcores, ","), "]"));
    }
    args.push_back(Cat("--main-lcore=", config.main_lcore));
  }

  if (config.hugepages) {
    if (!config.socket_memory_mb.empty()) {
      args.push_back(Cat("--socket-mem=", Join(config.socket_memory_mb, ",")));
    } else {
      if (config.memory_mb == 0) {
        return absl::InvalidArgumentError("EAL config: memory_mb is 0");
      }
      args.push_back("-m");
      args.push_back(Cat(config.memory_mb));
    }
    if (!config.huge_dir.empty()) args.push_back(Cat("--huge-dir=", config.huge_dir));
    if (config.in_memory) args.push_back("--in-memory");
  } else {
    if (!config.socket_memory_mb.empty()) {
      return absl::InvalidArgumentError(
          "EAL config: socket_memory_mb needs hugepages (without them memory comes from one "
          "anonymous mapping sized by memory_mb)");
    }
    if (!config.huge_dir.empty()) {
      return absl::InvalidArgumentError("EAL config: huge_dir set but hugepages is false");
    }
    if (config.memory_mb == 0) return absl::InvalidArgumentError("EAL config: memory_mb is 0");
    args.push_back("--no-huge");
    args.push_back("-m");
    args.push_back(Cat(config.memory_mb));
    // DPDK 22.11 rejects --no-huge with --in-memory; --no-shconf is what is left of it.
    if (config.in_memory) args.push_back("--no-shconf");
  }

  if (config.file_prefix.empty() || !ValidPrefix(config.file_prefix)) {
    return absl::InvalidArgumentError(Cat("EAL config: file_prefix \"", config.file_prefix,
                                          "\" must be non-empty, without '/' or "
                                          "whitespace"));
  }
  args.push_back(Cat("--file-prefix=", config.file_prefix));

  if (!config.pci) {
    if (!config.pci_allow.empty()) {
      return absl::InvalidArgumentError(
          Cat("EAL config: pci is false but pci_allow lists ", Join(config.pci_allow, ", ")));
    }
    args.push_back("--no-pci");
  } else {
    for (const std::string& dev : config.pci_allow) {
      if (dev.empty()) return absl::InvalidArgumentError("EAL config: empty pci_allow entry");
      args.push_back("-a");
      args.push_back(dev);
    }
  }

  for (const std::string& vdev : config.vdevs) {
    if (vdev.empty()) return absl::InvalidArgumentError("EAL config: empty vdev");
    args.push_back(Cat("--vdev=", vdev));
  }

  if (config.log_level < 0 || config.log_level > kMaxLogLevel) {
    return absl::InvalidArgumentError(
        Cat("EAL config: log_level ", config.log_level, " is not in 0..8"));
  }
  if (config.log_level > 0) args.push_back(Cat("--log-level=", config.log_level));
  for (const std::string& level : config.component_log_levels) {
    if (level.find(':') == std::string::npos) {
      return absl::InvalidArgumentError(
          Cat("EAL config: component log level \"", level, "\" is not <pattern>:<level>"));
    }
    args.push_back(Cat("--log-level=", level));
  }
  if (!config.telemetry) args.push_back("--no-telemetry");
  return args;
}

std::string FilePrefixFor(std::string_view base, long pid, unsigned counter) {
  return Cat(base, "-", pid, "-", counter);
}

std::string UniqueFilePrefix(std::string_view base) {
  static std::atomic<unsigned> counter{0};
  return FilePrefixFor(base, static_cast<long>(getpid()), counter++);
}

}  // namespace braid::io
