// braidctl, and kubectl-braid when run under that name (a symlink in kubectl's PATH): see
// tools/braidctl/README.md.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "tools/braidctl/commands.h"
#include "tools/braidctl/kubectl_plugin.h"

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  std::string_view self = argc > 0 ? argv[0] : "braidctl";
  self.remove_prefix(std::min(self.size(), self.rfind('/') + 1));
  if (self == "kubectl-braid") return braid::braidctl::RunKubectlPlugin(args, stdout, stderr);
  const char* socket = std::getenv("BRAID_SOCKET");
  return braid::braidctl::RunBraidctl(args, socket != nullptr ? socket : "", stdout, stderr);
}
