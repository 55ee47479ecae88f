// EAL lcores for the runtime's workers: which lcores the EAL gave us, and running a worker's loop
// on one of them (rte_eal_remote_launch). The main lcore runs a worker itself (the calling thread).
// Control plane only.
#pragma once

#include <vector>

#include "absl/status/status.h"

namespace braid::io {

// The main lcore (the thread that called Eal::Init).
unsigned MainLcore();
// The EAL's worker lcores (every enabled lcore but the main one), in order.
std::vector<unsigned> WorkerLcores();
// Starts fn(arg) on worker lcore `lcore`. FailedPrecondition when the lcore is not a worker lcore
// or is busy.
absl::Status LaunchOnLcore(unsigned lcore, int (*fn)(void*), void* arg);
// Waits for the function launched on `lcore` and returns its result (0 when nothing ran).
int WaitLcore(unsigned lcore);

}  // namespace braid::io
