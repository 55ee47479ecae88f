#include "datapath/wire/error.h"

#include <array>

namespace braid::wire {
namespace {

struct ErrorInfo {
  std::string_view name;
  std::string_view description;
};

constexpr std::array<ErrorInfo, static_cast<size_t>(WireError::kCount)> kErrors = {{
    {"none", "no error"},
#define BRAID_WIRE_ERROR(name, metric, desc) {metric, desc},
#include "datapath/wire/error.def"
#undef BRAID_WIRE_ERROR
}};

}  // namespace

std::string_view WireErrorName(WireError e) {
  auto i = static_cast<size_t>(e);
  return i < kErrors.size() ? kErrors[i].name : "invalid";
}

std::string_view WireErrorDescription(WireError e) {
  auto i = static_cast<size_t>(e);
  return i < kErrors.size() ? kErrors[i].description : "invalid error code";
}

}  // namespace braid::wire
