// Readiness over Braid sockets and kernel descriptors, for callers that need more than the C
// API gives: a signal mask held during the wait (ppoll, pselect, epoll_pwait) and epoll
// instances made Braid-aware after the fact (a preload shim sees epoll_create before it knows
// whether the set will ever hold a Braid socket).
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>

namespace braid::sdk {

// braid_poll with `sigmask` (nullptr: none) in force while it sleeps, as ppoll(2).
int Poll(pollfd* fds, unsigned long nfds, int timeout_ms, const sigset_t* sigmask);
// braid_epoll_wait with `sigmask` in force while it sleeps, as epoll_pwait(2).
int EpollWait(int epfd, epoll_event* events, int max, int timeout_ms, const sigset_t* sigmask);
// Makes the kernel epoll instance `epfd` a Braid one (braid_epoll_ctl then accepts Braid
// sockets in it); nothing when it is one already.
void EnsureEpoll(int epfd);
// The epoll instance `epfd` watches at least one Braid socket.
bool HoldsBraidSockets(int epfd);

}  // namespace braid::sdk
