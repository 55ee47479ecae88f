// What every DPDK test process shares: an EAL started once per process with --no-huge, no PCI, no
// shared files and a unique --file-prefix (pid-based), torn down after the last test; a main that
// exits 77 (CTest: skipped) when every test that ran was skipped, so a test that cannot run here
// is never counted as passed; and helpers to build and recognise test frames.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "datapath/io/eal_config.h"

namespace braid::io::testing {

// The config the test EAL was started with (lcore 0, 256 MB without hugepages).
EalConfig TestEalConfig();

// Unique per process and call: "net_ring" -> "net_ring3", for vdev names and pool names.
std::string UniqueName(const std::string& base);

// Runs the tests; see the header comment for the exit code.
int RunDpdkTests(int argc, char** argv);

// A test frame: Ethernet with the IEEE local experimental ethertype 0x88b5, then "BRAIDIO",
// the sequence number (big-endian 32 bits), padded with a byte pattern to `len` (>= 60).
inline constexpr uint16_t kTestEtherType = 0x88b5;
std::vector<uint8_t> TestFrame(const uint8_t dst[6], const uint8_t src[6], uint32_t seq,
                               size_t len = 60);
// The sequence number of a test frame, or -1 when `frame` is not one (or its pattern is wrong).
int64_t TestFrameSeq(std::span<const uint8_t> frame);

}  // namespace braid::io::testing
