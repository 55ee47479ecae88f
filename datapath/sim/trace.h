// Drop reasons and the per-event trace hook. The drop reasons are one X-macro list (as the
// kernel's mib.h) so that the enum, the counters and the printed names agree. The hook sees every
// enqueue, drop, duplication and delivery with the packet's bytes, which is what a pcap writer or
// a determinism hash needs.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

#include "datapath/sim/packet.h"
#include "datapath/sim/types.h"

namespace braid::sim {

// X(enumerator, name): why a packet did not reach the far end of its link.
#define BRAID_SIM_DROP_REASONS(X)                                                            \
  X(kQueueFull, "queue_full")   /* drop-tail queue over its byte or packet limit */          \
  X(kRandomLoss, "random_loss") /* Bernoulli loss */                                         \
  X(kBurstLoss, "burst_loss")   /* Gilbert-Elliott loss */                                   \
  X(kScripted, "scripted")      /* Link::DropNth or Link::DropIf */                          \
  X(kLinkDown, "link_down")     /* sent while down, or queued/in flight when it went down */ \
  X(kBlackhole, "blackhole")    /* sent while the link silently drops everything */          \
  X(kNoLink, "no_link")         /* sent on an interface that has no link */

enum class DropReason : uint8_t {
#define BRAID_SIM_DROP_ENUM(name, str) name,
  BRAID_SIM_DROP_REASONS(BRAID_SIM_DROP_ENUM)
#undef BRAID_SIM_DROP_ENUM
};

#define BRAID_SIM_DROP_COUNT(name, str) +1
inline constexpr size_t kDropReasonCount = 0 BRAID_SIM_DROP_REASONS(BRAID_SIM_DROP_COUNT);
#undef BRAID_SIM_DROP_COUNT

// Stable snake_case name, for counters and debug output.
std::string_view DropReasonName(DropReason reason);

enum class TraceKind : uint8_t {
  kEnqueue,    // offered to a link (or, with kNoLink, sent on an unwired interface)
  kDrop,       // will never arrive; `reason` says why
  kDuplicate,  // the link made a copy; the copy is delivered right after the original
  kDeliver,    // handed to the receiving node
};

std::string_view TraceKindName(TraceKind kind);

struct TraceEvent {
  SimTime at;
  TraceKind kind;
  std::optional<LinkId> link;  // empty only for a kNoLink drop (and its kEnqueue)
  DropReason reason;           // meaningful for kDrop only
  const Packet& packet;
};

using TraceHook = std::function<void(const TraceEvent&)>;

}  // namespace braid::sim
