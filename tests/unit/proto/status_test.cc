// proto/status.h: absl::Status <-> grpc::Status keep code and message, and every gRPC code maps
// to the CNI error code of proto/braid/v1/README.md's table.
#include "proto/status.h"

#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace braid::proto {
namespace {

TEST(StatusTest, EveryCodeAndItsMessageSurviveBothWays) {
  for (int c = 1; c <= 16; ++c) {
    const auto code = static_cast<absl::StatusCode>(c);
    const absl::Status status(code, "path1: link down");
    const grpc::Status out = ToGrpcStatus(status);
    EXPECT_EQ(static_cast<int>(out.error_code()), c);
    EXPECT_EQ(out.error_message(), "path1: link down");
    EXPECT_EQ(FromGrpcStatus(out), status) << absl::StatusCodeToString(code);
  }
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

// The table in proto/braid/v1/README.md ("Errors"), row by row.
TEST(StatusTest, CniErrorCodesFollowTheReadmeTable) {
  struct Row {
    absl::StatusCode code;
    int cni;
  };
  const Row rows[] = {
      {absl::StatusCode::kOk, 0},
      {absl::StatusCode::kCancelled, 11},
      {absl::StatusCode::kUnknown, 102},
      {absl::StatusCode::kInvalidArgument, 7},
      {absl::StatusCode::kDeadlineExceeded, 11},
      {absl::StatusCode::kNotFound, 3},
      {absl::StatusCode::kAlreadyExists, 106},
      {absl::StatusCode::kPermissionDenied, 107},
      {absl::StatusCode::kResourceExhausted, 11},
      {absl::StatusCode::kFailedPrecondition, 109},
      {absl::StatusCode::kAborted, 11},
      {absl::StatusCode::kOutOfRange, 7},
      {absl::StatusCode::kUnimplemented, 2},
      {absl::StatusCode::kInternal, 113},
      {absl::StatusCode::kUnavailable, 11},
      {absl::StatusCode::kDataLoss, 115},
      {absl::StatusCode::kUnauthenticated, 116},
  };
  for (const Row& row : rows) {
    EXPECT_EQ(CniErrorCode(row.code), row.cni) << absl::StatusCodeToString(row.code);
  }
}

TEST(StatusTest, StatusVerbCodes) {
  const absl::Status ok = absl::OkStatus();
  EXPECT_EQ(CniStatusErrorCode(ok, v1::CNI_READINESS_READY), kCniOk);
  EXPECT_EQ(CniStatusErrorCode(ok, v1::CNI_READINESS_NOT_READY), 50);
  EXPECT_EQ(CniStatusErrorCode(ok, v1::CNI_READINESS_DEGRADED), 51);
  // An agent that answered without saying is not ready.
  EXPECT_EQ(CniStatusErrorCode(ok, v1::CNI_READINESS_UNSPECIFIED), 50);
  // No answer at all: not available, whatever the (default) readiness field says.
  EXPECT_EQ(CniStatusErrorCode(absl::UnavailableError("connect: refused"), v1::CNI_READINESS_READY),
            50);
}

}  // namespace
}  // namespace braid::proto
