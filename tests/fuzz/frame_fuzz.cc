// Fuzzes whole frames the way the net layer takes them apart: Ethernet (optionally tagged), then
// ARP, or IPv4 -> ICMPv4, or IPv6 -> extension headers -> ICMPv6, each layer checked as in its own
// fuzz target (l2l3_fuzz_checks.h). TCP is left to tcp_fuzz.
#include <cstddef>
#include <cstdint>
#include <span>

#include "datapath/wire/ethernet.h"
#include "datapath/wire/ipv4.h"
#include "tests/fuzz/l2l3_fuzz_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace braid::wire;        // NOLINT: a fuzz entry point, names from one module
  using namespace braid::wire::fuzz;  // NOLINT
  auto frame = FuzzEthernet(std::span<const uint8_t>(data, size));
  if (!frame) return 0;
  switch (frame->ethertype()) {
    case kEtherTypeArp:
      FuzzArp(frame->payload());
      break;
    case kEtherTypeIpv4: {
      auto ip = FuzzIpv4(frame->payload());
      if (ip && ip->protocol() == IpProtocol::kIcmp && !ip->is_fragment()) {
        FuzzIcmpv4(ip->payload());
      }
      break;
    }
    case kEtherTypeIpv6: {
      auto ip = FuzzIpv6(frame->payload());
      if (!ip) break;
      auto walk = ip->WalkExtensionHeaders();
      if (walk.ok() && walk->upper_layer_protocol == IpProtocol::kIcmpv6 && !walk->is_fragment()) {
        FuzzIcmpv6(walk->upper_layer, ip->source(), ip->destination());
      }
      break;
    }
    default:
      break;
  }
  return 0;
}
