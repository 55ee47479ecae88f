#include "datapath/mptcp/token_table.h"

namespace braid::mptcp {

TokenTable::Reservation TokenTable::Reserve(uint32_t connection) {
  Reservation r;
  for (;;) {
    r.key = GenerateKey();
    r.derived = DeriveFromKey(r.key);
    if (Insert(r.derived.token, connection)) return r;
    ++r.collisions;
  }
}

bool TokenTable::Insert(uint32_t token, uint32_t connection) {
  return tokens_.emplace(token, connection).second;
}

void TokenTable::Remove(uint32_t token) { tokens_.erase(token); }

std::optional<uint32_t> TokenTable::Find(uint32_t token) const {
  const auto it = tokens_.find(token);
  if (it == tokens_.end()) return std::nullopt;
  return it->second;
}

}  // namespace braid::mptcp
