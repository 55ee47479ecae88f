// The library half of the C API (braid.h): configuration, attach and detach, diagnostics.
#include <errno.h>

#include <memory>

#include "braid/braid.h"
#include "datapath/channel/layout.h"
#include "sdk/src/process.h"
#include "sdk/src/socket.h"

using braid::sdk::Process;

extern "C" {

int braid_init(const struct braid_config* config) {
  const int error = Process::Get().Init(config);
  if (error == 0) return 0;
  errno = error;
  return -1;
}

void braid_detach(void) { Process::Get().Detach(); }

int braid_attached(void) { return Process::Get().Attached() ? 1 : 0; }

int braid_is_braid_fd(int fd) { return Process::Get().Find(fd) != nullptr ? 1 : 0; }

const char* braid_last_error(void) { return braid::sdk::LastError(); }

const char* braid_version(void) {
  static_assert(braid::channel::kLayoutVersion == 2, "update the version string");
  return "1.0.0 (channel layout 2)";
}

}  // extern "C"
