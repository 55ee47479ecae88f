// braid-perf's two roles (README.md): the server and the client, with the options of each.
#pragma once

#include <cstdint>
#include <string>

#include "tools/braid-perf/perf.h"

namespace braid::perf {

// Which socket protocol to ask libbraid for.
enum class Protocol {
  kDefault,  // 0: Braid's MPTCP falling back per connection; the kernel's plain TCP
  kMptcp,    // IPPROTO_MPTCP: Braid's or the kernel's MPTCP
  kTcp,      // BRAID_PROTO_TCP_ONLY: plain TCP on either stack
};
const char* ProtocolName(Protocol protocol);
int SocketProtocol(Protocol protocol);

struct Options {
  bool server = false;
  std::string host;  // client: -c HOST
  std::string bind;  // server: -B ADDR
  uint16_t port = 5201;
  Mode mode = Mode::kBulk;
  double seconds = 10;
  int streams = 1;
  uint32_t size = 0;  // 0: the mode's default (bulk 128 KiB writes, rr/crr 64 bytes)
  bool zerocopy = false;
  bool reverse = false;
  Protocol protocol = Protocol::kDefault;
  bool json = false;
};

// Both return the process's exit status: 0 when every connection succeeded (and, for bulk, was
// byte-exact), 1 otherwise.
int RunServer(const Options& options);
int RunClient(const Options& options);

}  // namespace braid::perf
