// Sockets the preload shim has not decided yet.
//
// socket() cannot know where a TCP socket belongs: that depends on the destination of its
// connect() or the port of its listen(). Until then the application's descriptor is a real
// kernel socket of the kind it asked for, so everything it does before deciding (options,
// flags, getsockopt, poll) gets the kernel's own answers; the shim records what it will have to
// repeat on a Braid socket: the options set, the address bound (bind is only recorded: the
// address may be one only Braid has) and the epoll sets watching the descriptor. When the
// socket goes to Braid, a Braid socket is made, the record replayed on it, and its descriptor
// moved onto the application's number (dup3), which closes the kernel socket.
#pragma once

#include <sys/epoll.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace braid::preload {

struct RecordedOption {
  int level = 0;
  int name = 0;
  std::vector<uint8_t> value;
};

struct Pending {
  int domain = 0;
  int type = 0;  // socket()'s type, SOCK_NONBLOCK / SOCK_CLOEXEC included
  int protocol = 0;
  std::vector<RecordedOption> options;  // in the order set; a later value replaces an earlier
  std::optional<sockaddr_storage> bound;
  socklen_t bound_len = 0;
  std::vector<std::pair<int, epoll_event>> epolls;  // (epoll descriptor, its interest)

  void RecordOption(int level, int name, const void* value, socklen_t len);
  void RecordEpoll(int epfd, int op, const epoll_event* event);
  // The port bound, 0 when none (listen then picks one).
  uint16_t BoundPort() const;
};

class PendingTable {
 public:
  bool Empty() const { return count_.load(std::memory_order_acquire) == 0; }
  void Add(int fd, std::unique_ptr<Pending> pending);
  // Takes `fd`'s entry out (nullptr when it has none): the caller decides it.
  std::unique_ptr<Pending> Take(int fd);
  // Puts an entry back that could not be decided yet.
  void Restore(int fd, std::unique_ptr<Pending> pending) { Add(fd, std::move(pending)); }
  // Runs `f(Pending&)` under the table's lock; false when `fd` has no entry.
  template <typename F>
  bool With(int fd, F&& f) {
    if (Empty() || fd < 0) return false;
    std::lock_guard lock(mu_);
    if (static_cast<size_t>(fd) >= entries_.size() || entries_[fd] == nullptr) return false;
    f(*entries_[fd]);
    return true;
  }
  // Forgets every entry naming `epfd` as a watching epoll set (the set was closed).
  void ForgetEpoll(int epfd);

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<Pending>> entries_;  // by descriptor
  std::atomic<size_t> count_{0};
};

}  // namespace braid::preload
