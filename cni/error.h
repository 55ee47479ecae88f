// CNI errors as absl::Status. Every fallible function of braid-cni returns absl::Status /
// absl::StatusOr (conventions.md, control plane); the CNI error code the plugin must print (CNI
// spec, "Error": 1 incompatible version, 4 bad environment, 6 undecodable, 7 bad configuration,
// 11 try again later, 50/51 STATUS, a delegate's own code) rides along as a payload, so a status
// can be wrapped with context on its way up without losing it. A status without the payload is
// an agent's answer and gets the code of proto::CniErrorCode (proto/braid/v1/README.md).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace braid::cni {

// What the plugin prints on failure: {"cniVersion", "code", "msg", "details"}.
struct CniError {
  int code = 0;
  std::string msg;
  std::string details;  // empty: not printed
};

// A status that carries `cni_code` (proto::kCni* or a delegate's code) and `details`.
absl::Status MakeError(int cni_code, std::string_view msg, std::string_view details = "");

// "context: message", same code and payload: each layer names what it was doing
// ("paths[1].ranges[0].subnet", "agent at unix:/run/braid/agent.sock: Add").
absl::Status WithContext(const absl::Status& status, std::string_view context);
// "message; note", same code and payload: what else happened (an undo that failed too).
absl::Status WithNote(const absl::Status& status, std::string_view note);

// The CNI error of a failed status: the carried code, or for an agent's status the code of
// proto::CniErrorCode with the gRPC code's name ("UNAVAILABLE") as the details.
CniError ToCniError(const absl::Status& status);

}  // namespace braid::cni
