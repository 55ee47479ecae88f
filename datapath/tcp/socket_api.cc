#include "datapath/tcp/socket_api.h"

namespace braid::tcp {

std::string_view SocketErrorName(SocketError error) {
  switch (error) {
    case SocketError::kRefused:
      return "refused";
    case SocketError::kReset:
      return "reset";
    case SocketError::kTimeout:
      return "timeout";
    case SocketError::kAborted:
      return "aborted";
  }
  return "unknown";
}

}  // namespace braid::tcp
