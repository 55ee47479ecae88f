// Tokens of the connections one worker owns (RFC 8684 §3.2: an MP_JOIN SYN names its connection
// by the receiver's token), the counterpart of the kernel's net/mptcp/token.c. A key is drawn
// again until its token is unused here, as the kernel's mptcp_token_new_request does, so a token
// names one connection at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>

#include "datapath/mptcp/crypto.h"

namespace braid::mptcp {

class TokenTable {
 public:
  struct Reservation {
    uint64_t key = 0;
    KeyDerivation derived;
    uint32_t collisions = 0;  // keys drawn and discarded first
  };

  // Draws a key whose token is free and registers it for `connection`.
  Reservation Reserve(uint32_t connection);
  // Registers a token chosen elsewhere; false when it is taken.
  bool Insert(uint32_t token, uint32_t connection);
  void Remove(uint32_t token);
  std::optional<uint32_t> Find(uint32_t token) const;
  size_t size() const { return tokens_.size(); }

 private:
  std::unordered_map<uint32_t, uint32_t> tokens_;
};

}  // namespace braid::mptcp
