// Which sockets the preload shim gives to Braid: BRAID_PRELOAD_DESTINATIONS for connect(),
// BRAID_PRELOAD_LISTEN for listen().
//
// Destinations: comma-separated entries, each an address prefix, a port range, or both —
// "10.0.0.0/8", "192.0.2.0/24:5201-5300", "198.51.100.7", ":443", "[2001:db8::/32]:80",
// "2001:db8::/32", "*" (everything). An IPv4-mapped IPv6 destination (::ffff:a.b.c.d) matches
// IPv4 entries. Listen: comma-separated ports or ranges ("80,8000-8100", "*"). Unset or empty:
// everything. A variable that does not parse matches nothing (every socket stays the kernel's)
// and says why once on stderr: an unmodified app must not end up on the wrong stack because of a
// typo.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace braid::preload {

struct PortRange {
  uint16_t first = 0;
  uint16_t last = 65535;
  bool Contains(uint16_t port) const { return port >= first && port <= last; }
};

struct DestinationRule {
  int family = AF_UNSPEC;  // AF_UNSPEC: any address
  uint8_t address[16] = {};
  int prefix_len = 0;
  PortRange ports;
};

class Rules {
 public:
  // Parses the two specifications; an error names the entry that does not parse.
  static std::optional<Rules> Parse(std::string_view destinations, std::string_view listen,
                                    std::string* error);
  // From the environment (see the file comment); prints a parse error once on stderr.
  static Rules FromEnvironment();

  bool MatchDestination(const sockaddr* addr, socklen_t len) const;
  bool MatchListen(uint16_t port) const;

 private:
  bool none_ = false;                          // a variable did not parse
  std::vector<DestinationRule> destinations_;  // empty: all
  std::vector<PortRange> listen_;              // empty: all
};

// "5201" or "5201-5300".
std::optional<PortRange> ParsePortRange(std::string_view text);

}  // namespace braid::preload
