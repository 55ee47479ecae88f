// cni/error.h: a CNI error code travels in an absl::Status through every layer's context; an
// agent's status becomes the code of proto::CniErrorCode.
#include <gtest/gtest.h>

#include "cni/error.h"
#include "proto/status.h"

namespace braid::cni {
namespace {

TEST(ErrorTest, TheCodeSurvivesContext) {
  const absl::Status status =
      WithNote(WithContext(MakeError(proto::kCniInvalidNetworkConfig, "bad", "more"), "paths[0]"),
               "also this");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  const CniError error = ToCniError(status);
  EXPECT_EQ(error.code, 7);
  EXPECT_EQ(error.msg, "paths[0]: bad; also this");
  EXPECT_EQ(error.details, "more");
  EXPECT_TRUE(WithContext(absl::OkStatus(), "x").ok());
}

TEST(ErrorTest, DelegatesCodesPassAsTheyAre) {
  const CniError error = ToCniError(MakeError(999, "host-local: no IP addresses available"));
  EXPECT_EQ(error.code, 999);
  EXPECT_EQ(error.details, "");
  EXPECT_EQ(ToCniError(MakeError(proto::kCniNotAvailableMayDisrupt, "x")).code, 51);
}

TEST(ErrorTest, AgentStatusesGetTheTablesCode) {
  const CniError unavailable = ToCniError(
      WithContext(absl::UnavailableError("failed to connect"), "agent at unix:/run/x.sock: Add"));
  EXPECT_EQ(unavailable.code, 11);
  EXPECT_EQ(unavailable.msg, "agent at unix:/run/x.sock: Add: failed to connect");
  EXPECT_EQ(unavailable.details, "UNAVAILABLE");
  EXPECT_EQ(ToCniError(absl::InvalidArgumentError("x")).code, 7);
  EXPECT_EQ(ToCniError(absl::NotFoundError("x")).code, 3);
  EXPECT_EQ(ToCniError(absl::UnimplementedError("x")).code, 2);
  EXPECT_EQ(ToCniError(absl::InternalError("x")).code, 113);
  EXPECT_EQ(ToCniError(absl::FailedPreconditionError("x")).details, "FAILED_PRECONDITION");
}

}  // namespace
}  // namespace braid::cni
