// The MPTCP host's loop; see mptcp_host.h.
#include "datapath/sim/mptcp_host.h"

#include <utility>

namespace braid::sim {
namespace {

// Bounds how often one run lets MPTCP and the apps bounce work back and forth.
constexpr int kMaxRounds = 64;

}  // namespace

absl::StatusOr<std::unique_ptr<MptcpHost>> MptcpHost::Create(const MptcpHostConfig& config) {
  std::unique_ptr<MptcpHost> host(new MptcpHost(config));
  absl::StatusOr<std::unique_ptr<mptcp::MptcpSockets>> m =
      mptcp::MptcpSockets::Create(config.mptcp, host->sockets_);
  if (!m.ok()) return m.status();
  host->mptcp_ = std::move(*m);
  host->SetLayer(host.get());
  return host;
}

MptcpHost::MptcpHost(const MptcpHostConfig& config)
    : TcpHost(config.host), sockets_(config.sockets, *this) {}

MptcpHost::~MptcpHost() {
  SetLayer(nullptr);
  // MPTCP goes first: its connections reference the socket layer.
  mptcp_.reset();
}

void MptcpHost::SetInterfaceUp(InterfaceIndex interface, bool up) {
  sockets_.SetInterfaceUp(interface, up);
  path_changes_.push_back({interface, up});
}

void MptcpHost::Run(tcp::Instant now) {
  run_soon_ = false;
  sockets_.SetNow(now);
  for (const PathChange& change : path_changes_) {
    for (const auto& [address, interface] : addresses()) {
      if (interface == change.interface) mptcp_->OnPathChange(address, change.up, now);
    }
  }
  path_changes_.clear();
  for (int round = 0; round < kMaxRounds; ++round) {
    const std::optional<tcp::Instant> due = mptcp_->PollAt();
    if (due && *due <= now) {
      mptcp_->Poll(now);
    } else {
      mptcp_->Dispatch(now);
    }
    bool woke = false;
    for (SocketApp* app : apps_) {
      const std::optional<tcp::Instant> at = app->WakeAt();
      if (at && *at <= now) {
        app->OnWake(now);
        woke = true;
      }
    }
    if (!woke) break;
  }
  if (probe_) probe_(now);
}

std::optional<tcp::Instant> MptcpHost::RunAt() const {
  // Work from outside the loop waits for the next run: "now" (any past time will do).
  if (run_soon_ || !path_changes_.empty()) return tcp::Instant{};
  std::optional<tcp::Instant> at = mptcp_->PollAt();
  for (const SocketApp* app : apps_) {
    const std::optional<tcp::Instant> w = app->WakeAt();
    if (w && (!at || *w < *at)) at = w;
  }
  return at;
}

}  // namespace braid::sim
