// Congestion control for one TCP flow: the CongestionController that the connection calls, and the
// registry that builds one from a configured name (conventions.md "Policies": an interface plus a
// registry with a default that cannot be removed, like the kernel's tcp_cong.c or VPP's
// tcp_cc_algo_register).
//
// Dispatch is static: CongestionController holds a std::variant of the algorithms and forwards each
// event with std::visit, so the per-ACK call is a jump on the variant's index, not a virtual call.
// Adding an algorithm is one more alternative satisfying CongestionControlAlgorithm (cc_types.h),
// one more config in CcParams and one Register() line in the registry's constructor. MPTCP's
// coupled controllers (lia.h, olia.h) also hold the coupling state their MPTCP connection owns
// (coupled_group.h, CcParams::coupling); the events stay the same.
//
// Contract: what the connection calls, and when. All windows are bytes; `now` is engine time.
//  0. Construction: registry.Create(name, params) at connection setup, with params.common.smss the
//     effective SMSS (RFC 5681 §2; MSS minus the TCP options carried on every segment). After a
//     path MTU or option change, SetSmss(); windows keep their size in segments.
//  1. Sending: new data may be sent while FlightSize (RFC 5681 §2) — or the RFC 6675 pipe when the
//     peer uses SACK — is below cwnd(). In non-SACK fast recovery the connection adds its own
//     RFC 6582 inflation on top of cwnd(); with PRR (RFC 6937) it sends sndcnt, aiming at
//     ssthresh(). The controller knows nothing of sequence holes or retransmissions.
//  2. Each ACK that advances SND.UNA: first RttEstimator::OnRttSample() if the ACK yields a
//     Karn-valid sample, then OnAck() with that sample and the estimator's srtt()/min_rtt(),
//     in_recovery as it was before this ACK, cwnd_limited, SND.UNA after the ACK and SND.NXT.
//     Duplicate ACKs are not reported.
//  3. Loss detected by ACKs (three duplicate ACKs, RFC 6675 IsLost, RFC 8985 RACK) while not in
//     recovery: OnCongestionEvent({now, FlightSize}) once, as the connection enters fast recovery
//     and records its recovery point (RFC 6582 §3.2 step 2). Not again until recovery ends.
//     ECN-Echo (RFC 3168 §6.1.2): OnCongestionEvent({.ecn = true}), at most once per window of
//     data; the connection then treats that window as a reduction episode (Linux's CWR state),
//     reporting ACKs with in_recovery = true until it is acknowledged.
//  4. The cumulative ACK reaches the recovery point (RFC 6582 §3.2 step 5, RFC 6675 §5): OnAck()
//     with in_recovery = true, then OnRecoveryExit().
//  5. The retransmission timer fires: RttEstimator::OnRetransmitTimeout(), then
//     OnRetransmitTimeout({now, FlightSize, repeat = the estimator's backoff() was > 0 before this
//     expiry}). An RTO ends fast recovery: do not call OnRecoveryExit() for that episode.
//  6. A reduction found spurious — F-RTO (RFC 5682), Eifel with timestamps (RFC 3522), DSACK
//     (RFC 3708): OnSpuriousCongestion(); on true the connection also leaves recovery. Adapting the
//     RTO after a spurious timeout (RFC 4015) is the connection's business.
//  7. About to send with nothing in flight: OnIdleRestart({now, now − last send, rto()}).
//
// None of these allocate or throw. The registry is control plane: built once at start, read-only
// afterwards, one per worker or shared read-only.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "datapath/tcp/cc_types.h"
#include "datapath/tcp/coupled_group.h"
#include "datapath/tcp/cubic.h"
#include "datapath/tcp/lia.h"
#include "datapath/tcp/newreno.h"
#include "datapath/tcp/olia.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/result.h"

namespace braid::tcp {

static_assert(CongestionControlAlgorithm<NewReno>);
static_assert(CongestionControlAlgorithm<Cubic>);
static_assert(CongestionControlAlgorithm<Lia>);
static_assert(CongestionControlAlgorithm<Olia>);

class CongestionController {
 public:
  using Algorithm = std::variant<NewReno, Cubic, Lia, Olia>;

  template <typename T>
  requires CongestionControlAlgorithm<T> && std::is_constructible_v<Algorithm, T&&>
  explicit CongestionController(T algorithm) : algorithm_(std::move(algorithm)) {}

  void OnAck(const AckEvent& ack) {
    std::visit([&](auto& a) { a.OnAck(ack); }, algorithm_);
  }
  void OnCongestionEvent(const CongestionEvent& ev) {
    std::visit([&](auto& a) { a.OnCongestionEvent(ev); }, algorithm_);
  }
  void OnRecoveryExit(Instant now) {
    std::visit([&](auto& a) { a.OnRecoveryExit(now); }, algorithm_);
  }
  void OnRetransmitTimeout(const RtoEvent& ev) {
    std::visit([&](auto& a) { a.OnRetransmitTimeout(ev); }, algorithm_);
  }
  bool OnSpuriousCongestion(Instant now) {
    return std::visit([&](auto& a) { return a.OnSpuriousCongestion(now); }, algorithm_);
  }
  void OnIdleRestart(const IdleRestartEvent& ev) {
    std::visit([&](auto& a) { a.OnIdleRestart(ev); }, algorithm_);
  }
  void SetSmss(uint32_t smss) {
    std::visit([&](auto& a) { a.SetSmss(smss); }, algorithm_);
  }

  uint64_t cwnd() const {
    return std::visit([](const auto& a) { return a.cwnd(); }, algorithm_);
  }
  uint64_t ssthresh() const {
    return std::visit([](const auto& a) { return a.ssthresh(); }, algorithm_);
  }
  uint32_t smss() const {
    return std::visit([](const auto& a) { return a.smss(); }, algorithm_);
  }
  bool InSlowStart() const {
    return std::visit([](const auto& a) { return a.InSlowStart(); }, algorithm_);
  }
  std::string_view name() const {
    return std::visit([](const auto& a) { return a.name(); }, algorithm_);
  }

  // The concrete algorithm, for debug output and tests; nullptr if it is another one.
  template <typename T>
  T* get_if() {
    return std::get_if<T>(&algorithm_);
  }
  template <typename T>
  const T* get_if() const {
    return std::get_if<T>(&algorithm_);
  }

 private:
  Algorithm algorithm_;
};

// Everything a factory may need. Each algorithm reads `common` and its own part.
struct CcParams {
  CcCommonConfig common;
  NewRenoConfig newreno;
  CubicConfig cubic;
  // The MPTCP connection's coupling state, for the coupled algorithms ("lia", "olia"; they also
  // read `newreno`). Null for a plain TCP connection; the others ignore it.
  std::shared_ptr<CoupledGroup> coupling;
};

using CcFactory = CongestionController (*)(const CcParams& params);

// Registry errors. Stable snake_case names through CcErrorName().
enum class CcError : uint8_t {
  kNone = 0,
  kUnknownName,          // Create/Unregister: no algorithm by that name
  kDuplicateName,        // Register: the name is taken
  kInvalidName,          // Register: empty, too long, or not [a-z0-9_-]
  kRegistryFull,         // Register: kMaxEntries reached
  kDefaultNotRemovable,  // Unregister of the default
};

std::string_view CcErrorName(CcError e);

// A controller or the reason there is none.
template <typename T>
using CcResult = wire::Result<T, CcError>;

class CongestionControlRegistry {
 public:
  static constexpr std::string_view kDefaultName = Cubic::kName;
  static constexpr size_t kMaxEntries = 8;
  // Like the kernel's TCP_CA_NAME_MAX (16 with the NUL).
  static constexpr size_t kMaxNameLen = 15;

  // Holds the built-ins: "cubic" (the default), "newreno", and MPTCP's coupled "lia" (RFC 6356)
  // and "olia".
  CongestionControlRegistry();

  [[nodiscard]] CcError Register(std::string_view name, CcFactory factory);
  // Every name but the default's may be removed.
  [[nodiscard]] CcError Unregister(std::string_view name);
  bool Contains(std::string_view name) const;

  // Builds the named controller; an empty name means the default. kUnknownName otherwise.
  CcResult<CongestionController> Create(std::string_view name, const CcParams& params) const;
  CongestionController CreateDefault(const CcParams& params) const;

  // Registered names, in registration order (the default first).
  size_t size() const { return size_; }
  std::string_view name_at(size_t i) const;

  // "cubic (default), newreno, lia, olia".
  std::string KnownNames() const;
  // A sentence for logs and gRPC status, naming the algorithm and, for an unknown name, the known
  // ones: `unknown congestion control "bbr"; known: cubic (default), newreno, lia, olia`.
  std::string ErrorMessage(CcError error, std::string_view name) const;

 private:
  struct Entry {
    std::array<char, kMaxNameLen> name{};
    uint8_t name_len = 0;
    CcFactory factory = nullptr;
    std::string_view view() const { return {name.data(), name_len}; }
  };
  const Entry* Find(std::string_view name) const;

  std::array<Entry, kMaxEntries> entries_{};
  size_t size_ = 0;
};

}  // namespace braid::tcp
