// braid-cni: the CNI 1.1 plugin binary (cni/README.md). The container runtime (or Multus) runs it
// with CNI_* in the environment and the network configuration on stdin; the result or the error
// goes to stdout, nothing else does (diagnostics go to stderr).
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

#include "cni/plugin.h"
#include "cni/process.h"
#include "cni/version.h"

int main() {
  const braid::cni::EnvMap env = braid::cni::CurrentEnvironment();
  if (!env.contains("CNI_COMMAND")) {
    // Run by hand: say what this is (CNI's plugins do the same), then the CNI error.
    std::cerr << "braid-cni: Braid's CNI plugin; CNI spec versions";
    for (const std::string_view version : braid::cni::kSupportedVersions) {
      std::cerr << " " << version;
    }
    std::cerr << "\n";
  }
  std::string input;
  // A runtime always gives stdin; a terminal (someone trying VERSION by hand) is not read.
  if (::isatty(STDIN_FILENO) == 0) {
    input.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  const braid::cni::PluginOutput output = braid::cni::RunPlugin(env, input);
  std::fwrite(output.stdout_text.data(), 1, output.stdout_text.size(), stdout);
  std::fflush(stdout);
  return output.exit_status;
}
