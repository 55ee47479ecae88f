// Names for drop reasons and trace kinds, generated from the lists in trace.h.
#include "datapath/sim/trace.h"

namespace braid::sim {

std::string_view DropReasonName(DropReason reason) {
  static constexpr std::array<std::string_view, kDropReasonCount> kNames = {
#define BRAID_SIM_DROP_NAME(name, str) str,
      BRAID_SIM_DROP_REASONS(BRAID_SIM_DROP_NAME)
#undef BRAID_SIM_DROP_NAME
  };
  const auto index = static_cast<size_t>(reason);
  return index < kNames.size() ? kNames[index] : "unknown";
}

std::string_view TraceKindName(TraceKind kind) {
  switch (kind) {
    case TraceKind::kEnqueue:
      return "enqueue";
    case TraceKind::kDrop:
      return "drop";
    case TraceKind::kDuplicate:
      return "duplicate";
    case TraceKind::kDeliver:
      return "deliver";
  }
  return "unknown";
}

}  // namespace braid::sim
