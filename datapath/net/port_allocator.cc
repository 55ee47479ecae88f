#include "datapath/net/port_allocator.h"

#include <algorithm>
#include <span>
#include <variant>

namespace braid::net {

EphemeralPortAllocator::EphemeralPortAllocator(const EphemeralPortConfig& config)
    : first_(std::max<uint16_t>(1, std::min(config.first, config.last))),
      last_(std::max<uint16_t>(1, std::max(config.first, config.last))),
      key_f_(tcp::DeriveSipKey(config.secret, "braid.net.ephemeral.f")),
      key_g_(tcp::DeriveSipKey(config.secret, "braid.net.ephemeral.g")),
      reserved_(config.max_flows) {
  // RFC 6056 §3.3.4: the table's entries "could be initialized" randomly; derive them from the
  // secret so each worker and each run starts elsewhere, reproducibly under a fixed test key.
  tcp::SipKey key_t = tcp::DeriveSipKey(config.secret, "braid.net.ephemeral.table");
  for (size_t i = 0; i < table_.size(); ++i) {
    const uint8_t index[2] = {static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
    table_[i] = static_cast<uint32_t>(tcp::SipHash24(key_t, index));
  }
}

EphemeralPortAllocator::Hashes EphemeralPortAllocator::Hash(const wire::IpAddress& local,
                                                            const wire::IpAddress& remote,
                                                            uint16_t remote_port) const {
  // local ‖ remote ‖ remote_port, at most 16 + 16 + 2 bytes.
  std::array<uint8_t, 34> bytes{};
  size_t n = 0;
  auto put = [&](const wire::IpAddress& a) {
    std::visit(
        [&](const auto& ip) {
          std::copy(ip.bytes.begin(), ip.bytes.end(), bytes.begin() + static_cast<ptrdiff_t>(n));
          n += ip.bytes.size();
        },
        a);
  };
  put(local);
  put(remote);
  bytes[n++] = static_cast<uint8_t>(remote_port >> 8);
  bytes[n++] = static_cast<uint8_t>(remote_port);
  std::span<const uint8_t> message(bytes.data(), n);
  return {static_cast<uint32_t>(tcp::SipHash24(key_f_, message)),
          static_cast<size_t>(tcp::SipHash24(key_g_, message) % kTableSize)};
}

bool EphemeralPortAllocator::Reserve(const tcp::FlowKey& flow) {
  return reserved_.Insert(flow, true).second;
}

bool EphemeralPortAllocator::Release(const tcp::FlowKey& flow) { return reserved_.Erase(flow); }

}  // namespace braid::net
