#include "sdk/preload/pending.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace braid::preload {

void Pending::RecordOption(int level, int name, const void* value, socklen_t len) {
  auto it = std::find_if(options.begin(), options.end(), [&](const RecordedOption& o) {
    return o.level == level && o.name == name;
  });
  if (it == options.end()) it = options.insert(options.end(), RecordedOption{level, name, {}});
  const auto* bytes = static_cast<const uint8_t*>(value);
  it->value.assign(bytes, bytes + (value != nullptr ? len : 0));
}

void Pending::RecordEpoll(int epfd, int op, const epoll_event* event) {
  auto it = std::find_if(epolls.begin(), epolls.end(),
                         [&](const std::pair<int, epoll_event>& e) { return e.first == epfd; });
  if (op == EPOLL_CTL_DEL) {
    if (it != epolls.end()) epolls.erase(it);
    return;
  }
  if (event == nullptr) return;
  if (it == epolls.end()) {
    epolls.emplace_back(epfd, *event);
  } else {
    it->second = *event;
  }
}

uint16_t Pending::BoundPort() const {
  if (!bound.has_value()) return 0;
  if (bound->ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&*bound)->sin_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in6*>(&*bound)->sin6_port);
}

void PendingTable::Add(int fd, std::unique_ptr<Pending> pending) {
  std::lock_guard lock(mu_);
  if (static_cast<size_t>(fd) >= entries_.size()) entries_.resize(fd + 64);
  if (entries_[fd] == nullptr) count_.fetch_add(1, std::memory_order_release);
  entries_[fd] = std::move(pending);
}

std::unique_ptr<Pending> PendingTable::Take(int fd) {
  if (Empty() || fd < 0) return nullptr;
  std::lock_guard lock(mu_);
  if (static_cast<size_t>(fd) >= entries_.size() || entries_[fd] == nullptr) return nullptr;
  count_.fetch_sub(1, std::memory_order_release);
  return std::move(entries_[fd]);
}

void PendingTable::ForgetEpoll(int epfd) {
  if (Empty()) return;
  std::lock_guard lock(mu_);
  for (std::unique_ptr<Pending>& p : entries_) {
    if (p != nullptr) p->RecordEpoll(epfd, EPOLL_CTL_DEL, nullptr);
  }
}

}  // namespace braid::preload
