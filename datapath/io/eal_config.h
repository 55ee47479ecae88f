// The EAL's configuration as one struct, turned into the EAL's argv in one place (EalArgs), so
// no caller writes "--vdev=..." strings. Pure: no DPDK, unit-tested.
//
// Memory: without hugepages (`hugepages = false`, every test and laptop) the EAL gets
// `--no-huge -m <memory_mb>`; with them, `--socket-mem` per NUMA socket or `-m`.
// `in_memory` asks for a process that leaves no files behind and takes no part in DPDK's
// multi-process: with hugepages that is `--in-memory`; without, it is `--no-shconf`, because the
// EAL of DPDK 22.11 treats --no-huge as legacy memory and refuses "--no-huge --in-memory"
// ("Option --legacy-mem is not compatible with --in-memory"); --in-memory is --no-shconf plus
// hugepage unlinking, and the latter means nothing without hugepages.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace braid::io {

struct EalConfig {
  // argv[0]: shows in the EAL's log lines.
  std::string program = "braid";
  // Logical cores the EAL may run on ("-l 0,2,3"); the first is the main lcore unless
  // `main_lcore` is set. Empty: every core (the EAL's default).
  std::vector<unsigned> lcores;
  int main_lcore = -1;  // -1: the first of `lcores`

  bool hugepages = false;                  // false: --no-huge, memory from anonymous mmap
  uint32_t memory_mb = 512;                // -m; ignored when socket_memory_mb is set
  std::vector<uint32_t> socket_memory_mb;  // --socket-mem, hugepages only: MB per NUMA socket
  std::string huge_dir;                    // --huge-dir; empty: the EAL finds hugetlbfs itself
  bool in_memory = true;                   // see the header comment
  // --file-prefix: must be unique among the DPDK processes of the machine (it names the runtime
  // directory /var/run/dpdk/<prefix>). Empty: UniqueFilePrefix("braid") at Init.
  std::string file_prefix;

  // PCI: no bus scan at all (`pci = false`: --no-pci), or only these devices ("-a 0000:03:02.1",
  // each a VF the datapath owns). An empty allow list with `pci = true` probes every bound device.
  bool pci = false;
  std::vector<std::string> pci_allow;

  // Virtual devices probed at start ("--vdev=net_af_xdp0,iface=veth0"). Ports can also be
  // probed later (Port::Open with a vdev spec), which is how tests attach per-test devices.
  std::vector<std::string> vdevs;

  // --log-level: 1 (emergency) .. 8 (debug); 0 keeps the EAL's default (notice).
  int log_level = 0;
  // Per-component levels, "pmd.net.af_xdp:8" (--log-level=<pattern>:<level>).
  std::vector<std::string> component_log_levels;
  bool telemetry = false;  // the telemetry socket; off by default: it is one more file and thread
};

// The EAL's argv for `config`, argv[0] first. InvalidArgument for contradictions: PCI devices
// allowed with pci = false, socket memory without hugepages, an empty lcore set with a main lcore,
// a main lcore outside the set, zero memory, a log level above 8, an empty vdev, a file prefix
// with '/' or whitespace.
absl::StatusOr<std::vector<std::string>> EalArgs(const EalConfig& config);

// "<base>-<pid>-<n>": unique among this machine's processes (pid) and within the process (n, a
// counter), short enough for the EAL's socket paths.
std::string UniqueFilePrefix(std::string_view base);
// The same with an explicit pid and counter (tests).
std::string FilePrefixFor(std::string_view base, long pid, unsigned counter);

}  // namespace braid::io
