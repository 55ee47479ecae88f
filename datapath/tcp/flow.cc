#include "datapath/tcp/flow.h"

namespace braid::tcp {
namespace {

constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ull;
constexpr uint64_t kFnvPrime = 0x100000001b3ull;

void Mix(uint64_t& h, const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= kFnvPrime;
  }
}

void MixAddress(uint64_t& h, const wire::IpAddress& a) {
  std::visit([&](const auto& ip) { Mix(h, ip.bytes.data(), ip.bytes.size()); }, a);
}

}  // namespace

size_t FlowKeyHash::operator()(const FlowKey& k) const {
  uint64_t h = kFnvOffset;
  MixAddress(h, k.local);
  MixAddress(h, k.remote);
  const uint8_t ports[4] = {
      static_cast<uint8_t>(k.local_port >> 8), static_cast<uint8_t>(k.local_port),
      static_cast<uint8_t>(k.remote_port >> 8), static_cast<uint8_t>(k.remote_port)};
  Mix(h, ports, sizeof(ports));
  return static_cast<size_t>(h);
}

std::ostream& operator<<(std::ostream& os, const FlowKey& k) {
  auto endpoint = [&](const wire::IpAddress& a, uint16_t port) {
    if (wire::IsIpv4(a)) {
      os << wire::ToString(a) << ':' << port;
    } else {
      os << '[' << wire::ToString(a) << "]:" << port;
    }
  };
  endpoint(k.local, k.local_port);
  os << "->";
  endpoint(k.remote, k.remote_port);
  return os;
}

}  // namespace braid::tcp
