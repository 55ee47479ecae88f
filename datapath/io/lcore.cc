#include "datapath/io/lcore.h"

#include <rte_launch.h>
#include <rte_lcore.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace braid::io {

unsigned MainLcore() { return rte_get_main_lcore(); }

std::vector<unsigned> WorkerLcores() {
  std::vector<unsigned> out;
  unsigned lcore = 0;
  RTE_LCORE_FOREACH_WORKER(lcore) { out.push_back(lcore); }
  return out;
}

absl::Status LaunchOnLcore(unsigned lcore, int (*fn)(void*), void* arg) {
  if (lcore >= RTE_MAX_LCORE || !rte_lcore_is_enabled(lcore) || lcore == rte_get_main_lcore()) {
    return absl::FailedPreconditionError(absl::StrCat("lcore ", lcore, " is not a worker lcore"));
  }
  const int rc = rte_eal_remote_launch(fn, arg, lcore);
  if (rc != 0) {
    return absl::FailedPreconditionError(absl::StrCat("lcore ", lcore, " is busy (", rc, ")"));
  }
  return absl::OkStatus();
}

int WaitLcore(unsigned lcore) { return rte_eal_wait_lcore(lcore); }

}  // namespace braid::io
