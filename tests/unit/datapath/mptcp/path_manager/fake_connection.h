// A PmConnection that records what a path manager asks for and plays the connection's part: it
// lists its subflows and the peer's addresses, carries out (or refuses) actions, and calls the
// policy on each event after updating its own state, as mptcp/connection.h does.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "datapath/mptcp/path_manager/path_manager.h"
#include "datapath/tcp/time.h"
#include "datapath/wire/address.h"

namespace braid::mptcp::testing {

inline wire::IpAddress Ip(std::string_view text) {
  std::optional<wire::IpAddress> a = wire::ParseIpAddress(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(wire::IpAddress{});
}

inline tcp::Instant At(std::chrono::milliseconds ms) { return tcp::Instant(ms); }

// `ip mptcp endpoint` flags, or-ed together.
enum EndpointFlag : unsigned {
  kNoFlags = 0,
  kSignal = 1,
  kSubflow = 2,
  kBackup = 4,
  kFullmesh = 8,
};

inline Endpoint Ep(uint8_t id, std::string_view address, unsigned flags,
                   std::optional<uint16_t> port = std::nullopt) {
  Endpoint ep;
  ep.id = id;
  ep.address = Ip(address);
  ep.port = port;
  ep.signal = (flags & kSignal) != 0;
  ep.subflow = (flags & kSubflow) != 0;
  ep.backup = (flags & kBackup) != 0;
  ep.fullmesh = (flags & kFullmesh) != 0;
  return ep;
}

inline PmRemoteAddress Remote(uint8_t id, std::string_view address,
                              std::optional<uint16_t> port = std::nullopt) {
  PmRemoteAddress r;
  r.id = id;
  r.address = Ip(address);
  r.port = port;
  return r;
}

class FakeConnection : public PmConnection {
 public:
  static constexpr uint16_t kInitialLocalPort = 40000;
  static constexpr uint16_t kInitialRemotePort = 5201;

  // The initial subflow: local_address -> remote_address:5201, id 1.
  FakeConnection(PathManagerConfig config, bool client, std::string_view local_address,
                 std::string_view remote_address)
      : config_(std::move(config)), client_(client) {
    initial_.id = next_id_++;
    initial_.local_address = Ip(local_address);
    initial_.local_port = kInitialLocalPort;
    initial_.remote_address = Ip(remote_address);
    initial_.remote_port = kInitialRemotePort;
    initial_.initial = true;
    initial_.established = true;
    subflows_.push_back(initial_);
    remotes_.push_back(Remote(0, remote_address));
    route_source_ = initial_.local_address;
  }

  // PmConnection.
  bool is_client() const override { return client_; }
  const PathManagerConfig& config() const override { return config_; }
  std::span<const PmSubflow> subflows() const override { return subflows_; }
  std::span<const PmRemoteAddress> remote_addresses() const override { return remotes_; }
  const PmSubflow& initial_subflow() const override { return initial_; }
  bool path_up(const wire::IpAddress& local) const override { return !down_.contains(local); }

  bool OpenSubflow(const SubflowRequest& request) override {
    open_attempts.push_back(request);
    if (fail_open) return false;
    opens.push_back(request);
    PmSubflow s;
    s.id = next_id_++;
    s.local_id = request.local ? request.local->id : 0;
    s.local_address = request.local ? request.local->address : route_source_;
    s.local_port = next_port_++;
    s.remote_address = request.remote;
    s.remote_port = request.remote_port;
    s.remote_id = request.remote_id;
    s.backup = request.backup;
    subflows_.push_back(s);
    return true;
  }
  bool Announce(const Endpoint& endpoint) override {
    announce_attempts.push_back(endpoint.id);
    if (fail_announce.contains(endpoint.id)) return false;
    announces.push_back(endpoint.id);
    return true;
  }
  bool Remove(uint8_t local_id) override {
    removes.push_back(local_id);
    return true;
  }
  bool SetBackup(uint32_t subflow_id, bool backup) override {
    backups.emplace_back(subflow_id, backup);
    return true;
  }
  bool CloseSubflow(uint32_t subflow_id) override {
    closes.push_back(subflow_id);
    return true;
  }

  // Events, played as the connection would.
  void Establish(PathManager& pm, tcp::Instant now) { pm.OnEstablished(*this, now); }

  void EstablishSubflow(PathManager& pm, uint32_t id, tcp::Instant now) {
    PmSubflow* s = Mutable(id);
    ASSERT_NE(s, nullptr) << "subflow " << id;
    s->established = true;
    const PmSubflow copy = *s;
    pm.OnSubflowEstablished(*this, copy, now);
  }

  void Close(PathManager& pm, uint32_t id, SubflowCloseReason reason, tcp::Instant now) {
    auto it = std::find_if(subflows_.begin(), subflows_.end(),
                           [&](const PmSubflow& s) { return s.id == id; });
    ASSERT_NE(it, subflows_.end()) << "subflow " << id;
    const PmSubflow gone = *it;
    subflows_.erase(it);
    pm.OnSubflowClosed(*this, gone, reason, now);
  }

  void AddAddr(PathManager& pm, const PmRemoteAddress& address, tcp::Instant now) {
    remotes_.push_back(address);
    pm.OnAddAddr(*this, address, now);
  }

  // REMOVE_ADDR: the connection closes the subflows to it, then tells the policy.
  void RemoveAddr(PathManager& pm, uint8_t remote_id, tcp::Instant now) {
    std::erase_if(remotes_, [&](const PmRemoteAddress& r) { return r.id == remote_id; });
    for (uint32_t id : IdsWhere([&](const PmSubflow& s) { return s.remote_id == remote_id; })) {
      Close(pm, id, SubflowCloseReason::kRemoved, now);
    }
    pm.OnRemoveAddr(*this, remote_id, now);
  }

  void AnnounceDone(PathManager& pm, uint8_t local_id, bool echoed, tcp::Instant now) {
    pm.OnAnnounceDone(*this, local_id, echoed, now);
  }

  // A path going down takes its subflows with it (kPathDown) before the policy hears of it.
  void SetPath(PathManager& pm, std::string_view local, bool up, tcp::Instant now) {
    const wire::IpAddress address = Ip(local);
    if (up) {
      down_.erase(address);
    } else {
      down_.insert(address);
      for (uint32_t id : IdsWhere([&](const PmSubflow& s) { return s.local_address == address; })) {
        Close(pm, id, SubflowCloseReason::kPathDown, now);
      }
    }
    pm.OnPathChange(*this, address, up, now);
  }
  // The path state alone, without telling the policy (before the connection is established).
  void MarkPathDown(std::string_view local) { down_.insert(Ip(local)); }

  // An MP_JOIN SYN from the peer: the subflow exists only if the policy accepts it.
  std::optional<uint32_t> Join(PathManager& pm, std::string_view local, std::string_view remote) {
    const wire::IpAddress l = Ip(local);
    const wire::IpAddress r = Ip(remote);
    if (!pm.AcceptJoin(*this, l, r)) return std::nullopt;
    PmSubflow s;
    s.id = next_id_++;
    s.local_address = l;
    s.local_port = kInitialRemotePort;
    s.remote_address = r;
    s.remote_port = next_port_++;
    subflows_.push_back(s);
    return s.id;
  }

  // Fires the policy's timers due up to `until`, in order; returns how many fired.
  int RunTimers(PathManager& pm, tcp::Instant until) {
    int fired = 0;
    for (std::optional<tcp::Instant> t = pm.NextTimer(); t && *t <= until; t = pm.NextTimer()) {
      pm.OnTimer(*this, *t);
      if (++fired > 1000) {
        ADD_FAILURE() << "timer loop";
        break;
      }
    }
    return fired;
  }

  void set_route_source(std::string_view address) { route_source_ = Ip(address); }
  uint32_t last_id() const { return next_id_ - 1; }
  const PmSubflow* Find(uint32_t id) const {
    auto it = std::find_if(subflows_.begin(), subflows_.end(),
                           [&](const PmSubflow& s) { return s.id == id; });
    return it == subflows_.end() ? nullptr : &*it;
  }

  // What the policy asked for.
  std::vector<SubflowRequest> open_attempts;  // every OpenSubflow call
  std::vector<SubflowRequest> opens;          // the ones carried out
  std::vector<uint8_t> announce_attempts;
  std::vector<uint8_t> announces;
  std::vector<uint8_t> removes;
  std::vector<std::pair<uint32_t, bool>> backups;
  std::vector<uint32_t> closes;
  // Refusals.
  bool fail_open = false;
  std::set<uint8_t> fail_announce;

  size_t actions() const {
    return open_attempts.size() + announce_attempts.size() + removes.size() + backups.size() +
           closes.size();
  }

 private:
  PmSubflow* Mutable(uint32_t id) {
    auto it = std::find_if(subflows_.begin(), subflows_.end(),
                           [&](const PmSubflow& s) { return s.id == id; });
    return it == subflows_.end() ? nullptr : &*it;
  }
  template <typename Pred>
  std::vector<uint32_t> IdsWhere(Pred pred) const {
    std::vector<uint32_t> ids;
    for (const PmSubflow& s : subflows_) {
      if (pred(s)) ids.push_back(s.id);
    }
    return ids;
  }

  PathManagerConfig config_;
  bool client_;
  PmSubflow initial_;
  std::vector<PmSubflow> subflows_;
  std::vector<PmRemoteAddress> remotes_;
  std::set<wire::IpAddress> down_;
  wire::IpAddress route_source_;
  uint32_t next_id_ = 1;
  uint16_t next_port_ = 40001;
};

}  // namespace braid::mptcp::testing
