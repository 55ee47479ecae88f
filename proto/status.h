// How errors cross the Braid API (proto/braid/v1/README.md, "Errors"). The control plane's
// absl::Status goes out as the gRPC status with the same code and message, and comes back in
// unchanged: absl and gRPC both number their codes as google.rpc.Code does. braid-cni turns a
// failed CniService call into a CNI error code here, so the plugin and the README cannot drift.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "braid/v1/cni.pb.h"

namespace braid::proto {

// The same code and message. Payloads (absl::Status::SetPayload) do not cross.
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// CNI error codes (CNI spec, "Error codes"); the spec leaves 100 and above to plugins.
inline constexpr int kCniOk = 0;
inline constexpr int kCniIncompatibleVersion = 1;
inline constexpr int kCniUnsupportedField = 2;
inline constexpr int kCniUnknownContainer = 3;
inline constexpr int kCniInvalidEnvironment = 4;
inline constexpr int kCniIoFailure = 5;
inline constexpr int kCniDecodeFailure = 6;
inline constexpr int kCniInvalidNetworkConfig = 7;
inline constexpr int kCniTryAgainLater = 11;
inline constexpr int kCniNotAvailable = 50;            // STATUS only
inline constexpr int kCniNotAvailableMayDisrupt = 51;  // STATUS only
// Braid's own: 100 + the gRPC code, for agent errors no well-known CNI code describes
// (FAILED_PRECONDITION is 109, INTERNAL 113).
inline constexpr int kCniAgentErrorBase = 100;

// The CNI error code braid-cni reports when a CniService call for ADD, DEL, CHECK or GC ends
// with `code` (kCniOk for OK).
int CniErrorCode(absl::StatusCode code);

// The CNI error code of STATUS: kCniNotAvailable when the call failed (the agent is not there
// or not answering), otherwise the one for the agent's readiness (kCniOk when ready).
int CniStatusErrorCode(const absl::Status& call, v1::CniReadiness readiness);

}  // namespace braid::proto
