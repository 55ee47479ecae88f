#include "cni/error.h"

#include <charconv>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/cord.h"
#include "proto/status.h"

namespace braid::cni {
namespace {

// The payload: "<code>\n<details>".
constexpr char kPayloadUrl[] = "type.braid.io/braid.cni.Error";

absl::StatusCode StatusCodeFor(int cni_code) {
  switch (cni_code) {
    case proto::kCniUnknownContainer:
      return absl::StatusCode::kNotFound;
    case proto::kCniTryAgainLater:
    case proto::kCniNotAvailable:
    case proto::kCniNotAvailableMayDisrupt:
      return absl::StatusCode::kUnavailable;
    case proto::kCniIncompatibleVersion:
      return absl::StatusCode::kFailedPrecondition;
    case proto::kCniUnsupportedField:
      return absl::StatusCode::kUnimplemented;
    case proto::kCniInvalidEnvironment:
    case proto::kCniDecodeFailure:
    case proto::kCniInvalidNetworkConfig:
      return absl::StatusCode::kInvalidArgument;
    default:  // I/O failures and delegates' own codes
      return absl::StatusCode::kInternal;
  }
}

struct Payload {
  int code;
  std::string details;
};

std::optional<Payload> ReadPayload(const absl::Status& status) {
  const auto cord = status.GetPayload(kPayloadUrl);  // absl::optional in Debian's Abseil
  if (!cord) return std::nullopt;
  const std::string text(*cord);
  const size_t newline = text.find('\n');
  const std::string code_text = text.substr(0, newline);
  int code = 0;
  const auto [end, ec] =
      std::from_chars(code_text.data(), code_text.data() + code_text.size(), code);
  if (ec != std::errc() || end != code_text.data() + code_text.size()) return std::nullopt;
  return Payload{code, newline == std::string::npos ? "" : text.substr(newline + 1)};
}

absl::Status WithMessage(const absl::Status& status, std::string message) {
  absl::Status rewritten(status.code(), std::move(message));
  status.ForEachPayload([&rewritten](absl::string_view url, const absl::Cord& payload) {
    rewritten.SetPayload(url, payload);
  });
  return rewritten;
}

}  // namespace

absl::Status MakeError(int cni_code, std::string_view msg, std::string_view details) {
  absl::Status status(StatusCodeFor(cni_code), std::string(msg));
  status.SetPayload(kPayloadUrl,
                    absl::Cord(std::to_string(cni_code) + "\n" + std::string(details)));
  return status;
}

absl::Status WithContext(const absl::Status& status, std::string_view context) {
  if (status.ok()) return status;
  return WithMessage(status, std::string(context) + ": " + std::string(status.message()));
}

absl::Status WithNote(const absl::Status& status, std::string_view note) {
  if (status.ok()) return status;
  return WithMessage(status, std::string(status.message()) + "; " + std::string(note));
}

CniError ToCniError(const absl::Status& status) {
  if (const std::optional<Payload> payload = ReadPayload(status)) {
    return CniError{payload->code, std::string(status.message()), payload->details};
  }
  return CniError{proto::CniErrorCode(status.code()), std::string(status.message()),
                  absl::StatusCodeToString(status.code())};
}

}  // namespace braid::cni
