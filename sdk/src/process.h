// What libbraid keeps per process: the configuration, the channel to the service (attached on
// demand, replaced when the service went away), the table of Braid descriptors and of epoll
// instances, and what fork does to them.
//
// Descriptors. Every Braid socket owns a real kernel descriptor, an eventfd, so the number fits
// in fd_set, close-on-exec and dup limits behave, and the kernel never hands the number to
// anything else while the socket lives. An eventfd because it is the cheapest descriptor that
// poll/epoll understand and that this library can make readable at will: a preload shim that
// wants the kernel's own epoll to watch a Braid socket can mirror the socket's readiness into
// it. Version 1 of the library leaves it unsignalled (readiness comes from braid_poll and
// braid_epoll_wait).
//
// Exit. exit() closes every Braid socket the process still holds, as the kernel closes a
// process's descriptors: the service sends what the TX FIFO holds, then the FIN (or resets, as
// close() with unread data). A process that dies otherwise (_exit, a fatal signal) leaves its
// sockets open, and the service resets them when it sees the process gone.
//
// Fork. The child never touches its parent's channel (two producers on one ring would corrupt
// it): the channel becomes foreign in the child, its unix connection and doorbell are closed
// there, and the child's new sockets attach its own channel. An inherited connection moves to
// the child's channel on the child's first call on it (Find: kAdopt, docs/channel-protocol.md),
// once the parent closed its copy: the parent's close of a socket that existed at a fork is a
// kRelease, which the service turns into a close only when no child adopts the connection.
// What cannot move (a listener, a connection the parent keeps, no service) fails in the child
// with ECONNABORTED; closing it only releases the child's descriptor.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "braid/braid.h"
#include "sdk/src/channel_client.h"

namespace braid::sdk {

class Socket;
class EpollSet;

class Process {
 public:
  // Never destroyed: calls made while the program exits still find it.
  static Process& Get();

  // braid_init: sets the configuration and attaches now. Returns 0 or an errno.
  int Init(const braid_config* config);
  // braid_detach: aborts every Braid socket and drops the channel.
  void Detach();
  bool Attached();
  Config config();

  // The channel a new socket goes to, attached (again) on demand and following the fallback
  // policy. nullptr with *error == 0: make a kernel socket; with an errno: fail with it.
  std::shared_ptr<Channel> ChannelForNewSocket(int* error);

  // The Braid socket behind `fd`, or nullptr for any other descriptor. In a fork child, an
  // inherited connection is adopted first (the socket returned is then a new one).
  std::shared_ptr<Socket> Find(int fd);
  // Forks this process made (pthread_atfork, parent side).
  uint64_t forks() const { return forks_.load(std::memory_order_acquire); }
  // Every descriptor naming `from` names `to` instead.
  void Replace(const std::shared_ptr<Socket>& from, const std::shared_ptr<Socket>& to);
  void Insert(int fd, std::shared_ptr<Socket> socket);
  // Removes `fd` from the table (before the caller closes the kernel descriptor, so that the
  // number cannot be reused while it still names the socket). *last: no other descriptor
  // names the socket any more (dup).
  std::shared_ptr<Socket> Take(int fd, bool* last = nullptr);
  // The socket named by `from` is named by `to` instead (the caller moved the descriptor).
  bool Renumber(int from, int to);
  // No Braid socket and no Braid epoll instance exists: every call is the kernel's.
  bool Quiet() const { return entries_.load(std::memory_order_acquire) == 0; }

  std::shared_ptr<EpollSet> FindEpoll(int fd) const;
  void InsertEpoll(int fd, std::shared_ptr<EpollSet> set);
  std::shared_ptr<EpollSet> TakeEpoll(int fd);

 private:
  Process();
  void EnsureConfiguredLocked();
  static void PrepareFork();
  static void ParentAfterFork();
  static void ChildAfterFork();
  static void AtExit();

  std::mutex mu_;  // config_ and channel_
  bool configured_ = false;
  Config config_;
  std::shared_ptr<Channel> channel_;

  mutable std::shared_mutex table_mu_;
  std::vector<std::shared_ptr<Socket>> table_;  // by descriptor number
  std::unordered_map<int, std::shared_ptr<EpollSet>> epolls_;
  // Lets calls on kernel descriptors skip the lock while no Braid descriptor exists.
  std::atomic<size_t> entries_{0};
  std::atomic<uint64_t> forks_{0};
};

// A fork child's first call on an inherited connection: moves it to this process's channel
// (kAdopt) and returns the socket that now stands for it, or `inherited` when it cannot move.
std::shared_ptr<Socket> AdoptInherited(const std::shared_ptr<Socket>& inherited);

// braid_last_error's text for the calling thread.
void SetLastError(const std::string& message);
const char* LastError();

}  // namespace braid::sdk
