#include "proto/status.h"

#include <string>

namespace braid::proto {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

int CniErrorCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return kCniOk;
    // The request carried something the agent refuses: an option, a path, an address.
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return kCniInvalidNetworkConfig;
    // CHECK of an attachment the agent does not have (DEL never sees it: it succeeds instead).
    case absl::StatusCode::kNotFound:
      return kCniUnknownContainer;
    // An option or verb this agent does not support; the message names it.
    case absl::StatusCode::kUnimplemented:
      return kCniUnsupportedField;
    // Transient: the runtime retries the pod's sandbox later.
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kCancelled:
      return kCniTryAgainLater;
    default:
      return kCniAgentErrorBase + static_cast<int>(code);
  }
}

int CniStatusErrorCode(const absl::Status& call, v1::CniReadiness readiness) {
  if (!call.ok()) return kCniNotAvailable;
  switch (readiness) {
    case v1::CNI_READINESS_READY:
      return kCniOk;
    case v1::CNI_READINESS_DEGRADED:
      return kCniNotAvailableMayDisrupt;
    default:  // NOT_READY, and UNSPECIFIED from an agent that did not say
      return kCniNotAvailable;
  }
}

}  // namespace braid::proto
