// One Braid socket: a slot of the channel plus the reserved kernel descriptor the application
// sees (an eventfd: see process.h for why).
//
// Three kinds of state, three kinds of guard:
// - what events change (connection state, addresses, the accept queue): Channel::mu();
// - the FIFO endpoints: tx_mu (writers, one at a time) and rx_mu (readers, one at a time, so
//   two threads reading one socket each see every byte once and in order);
// - flags every path reads without a lock: atomics.
// Lock order: rx_mu / tx_mu before Channel::mu(); the command ring's mutex is a leaf.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "datapath/channel/byte_fifo.h"
#include "datapath/channel/layout.h"
#include "sdk/src/channel_client.h"

namespace braid::sdk {

enum class SocketState : uint8_t {
  kOpen,        // created, perhaps bound
  kListening,   // kListen answered
  kConnecting,  // kConnect sent, no answer yet
  kConnected,   // kConnected, or kAccepted for an accepted socket
  kPosted,      // an empty slot offered to a listener by kAcceptInto
  kClosed,      // closed by the app; the slot waits for kClosed
};

class Socket {
 public:
  Socket(std::shared_ptr<Channel> channel_in, int domain_in, channel::Protocol protocol_in,
         int so_protocol_in)
      : channel(std::move(channel_in)),
        domain(domain_in),
        protocol(protocol_in),
        so_protocol(so_protocol_in) {}

  const std::shared_ptr<Channel> channel;
  const int domain;
  const channel::Protocol protocol;
  const int so_protocol;  // SO_PROTOCOL: what the app asked for (IPPROTO_TCP or IPPROTO_MPTCP)
  uint32_t handle = channel::kNoHandle;  // set once, before the socket is shared
  channel::SlotShared* shared = nullptr;

  std::atomic<int> fd{-1};  // the descriptor it was created on (dup may add more)
  int fd_refs = 0;          // descriptors naming it (dup): guarded by Process's table lock
  std::atomic<bool> nonblocking{false};
  // Raised by the pump: the connection can carry data (kConnected, kAccepted).
  std::atomic<bool> data_ready{false};
  std::atomic<bool> peer_closed{false};  // kPeerClosed: no RX bytes after those in the FIFO
  std::atomic<int> async_error{0};       // kError's errno, or ECONNABORTED for a dead channel
  std::atomic<bool> rx_shut{false};      // shutdown(SHUT_RD)
  std::atomic<bool> tx_shut{false};      // shutdown(SHUT_WR)
  std::atomic<bool> closed{false};       // the app closed it: waiters give up
  // A fork child tried to adopt it (once: a refusal is final).
  std::atomic<bool> adopt_tried{false};
  // Process::forks() when the socket got its first descriptor: a fork since then shares it
  // with a child, and close releases it (kRelease) instead. Guarded by Process's table lock.
  uint64_t forks_at_insert = 0;
  // Bumped for every event on this socket but kReadable/kWritable: with the FIFO indices, what
  // epoll's edge-triggered mode compares to find a new edge.
  std::atomic<uint32_t> event_seq{0};

  // Guarded by Channel::mu().
  SocketState state = SocketState::kOpen;
  int open_error = 0;     // kDone's errno for kOpen: the socket never existed
  int connect_error = 0;  // SO_ERROR: a failed connect, reported once
  bool bound = false;
  bool released = false;
  bool linger_abort = false;  // SO_LINGER {1, 0}: close resets (kAbort)  // kClosed came before the
                              // app closed it: the slot is free to take back
  std::optional<channel::SockAddr> local;
  std::optional<channel::SockAddr> peer;
  uint64_t connect_cookie = 0;
  uint64_t accept_cookie = 0;                    // a posted slot: its kAcceptInto cookie
  std::weak_ptr<Socket> listener;                // a posted or accepted slot's listener
  std::deque<std::shared_ptr<Socket>> accepted;  // a listener: connections waiting for accept
  std::deque<std::shared_ptr<Socket>> posted;    // a listener: slots offered, not yet used

  // Guarded by tx_mu. Endpoints are made on first use after data_ready: the service resets
  // the slot's FIFOs when it takes the slot, and an endpoint reads its own index once.
  std::mutex tx_mu;
  channel::FifoWriter tx;
  bool tx_made = false;
  bool tx_reserved = false;  // braid_send_reserve until braid_send_commit
  size_t tx_reserved_bytes = 0;

  // Guarded by rx_mu.
  std::mutex rx_mu;
  channel::FifoReader rx;
  bool rx_made = false;
  bool rx_leased = false;  // braid_recv_lease until braid_recv_release
  size_t rx_leased_bytes = 0;

  // Waiting bytes and free space straight from the shared indices: readable by any thread
  // without the FIFO endpoints (epoll and poll use these). Zero before data_ready.
  size_t RxBytes() const;
  size_t TxSpace() const;
  // Changes whenever bytes arrive, TX room is freed, or an event changes the socket's state.
  uint64_t EdgeKey() const;
};

}  // namespace braid::sdk
