// The EAL of this process: started once from an EalConfig, cleaned up once at shutdown.
//
// The EAL is process-global and DPDK 22.11 cannot start it twice (rte_eal_init fails with EALREADY
// even after rte_eal_cleanup), so this is a set of static functions over one process-wide state:
//  - Init with a config equal to the running one is a no-op (idempotent start-up code);
//  - Init with another config is FailedPrecondition, naming both argument lists;
//  - Init after Cleanup is FailedPrecondition ("cannot be initialized again");
//  - a failed rte_eal_init is returned with the EAL's rte_errno converted (errors.h) and the
//    argument list in the message.
// Not thread-safe against itself: call from the control thread before the workers start.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "datapath/io/eal_config.h"

namespace braid::io {

class Eal {
 public:
  // Starts the EAL. An empty config.file_prefix becomes UniqueFilePrefix("braid").
  static absl::Status Init(const EalConfig& config);
  // rte_eal_cleanup, then removes the runtime directory (/var/run/dpdk/<prefix>) when the EAL
  // left it empty (it does with --no-shconf). Close every Port first. Ok when not initialized.
  static absl::Status Cleanup();

  static bool initialized();
  // The argv given to rte_eal_init (empty before Init).
  static const std::vector<std::string>& args();
  // The file prefix in use (empty before Init).
  static const std::string& file_prefix();
};

}  // namespace braid::io
