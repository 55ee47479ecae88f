/* libbraid: the C API of Braid's app channel (docs/channel-protocol.md).
 *
 * Sockets are real, reserved kernel file descriptors, so they fit in fd_set, survive FD_SETSIZE
 * checks and behave with close-on-exec; calls on a descriptor that is not a Braid socket go to
 * the kernel unchanged. With no Braid service reachable, braid_socket() follows the fallback
 * policy: kernel sockets (BRAID_FALLBACK_KERNEL, the default) or an error
 * (BRAID_FALLBACK_FAIL). Every call returns what its POSIX namesake returns and sets errno the
 * way Linux does; blocking behaviour follows O_NONBLOCK as with kernel sockets.
 *
 * Thread-safe: any thread may call any function. A socket read by several threads at once sees
 * each byte once, in order.
 *
 * The reserved descriptor is an eventfd (never signalled by this version): poll, epoll and
 * select see Braid sockets only through braid_poll / braid_epoll_wait. A Braid socket whose
 * service went away fails with ECONNABORTED. After fork() the child never uses its parent's
 * channel: its calls on inherited Braid sockets fail with ECONNABORTED (braid_close releases the
 * child's descriptor only) and its new sockets attach a channel of its own.
 */
#ifndef BRAID_BRAID_H_
#define BRAID_BRAID_H_

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

/* libbraid.so exports these functions only (the rest of the library is hidden). */
#if defined(__GNUC__)
#define BRAID_API __attribute__((visibility("default")))
#else
#define BRAID_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Library ----------------------------------------------------------------------------- */

#define BRAID_FALLBACK_KERNEL 0 /* no service: sockets are kernel sockets */
#define BRAID_FALLBACK_FAIL 1   /* no service: braid_socket fails with ECONNREFUSED */
#define BRAID_FALLBACK_WAIT 2   /* no service: braid_socket waits (wait_ms), then ECONNREFUSED */

struct braid_config {
  const char* socket_path; /* the service's unix socket; NULL: $BRAID_SOCKET or "@braid/node" */
  const char* app_name;    /* shown by braidctl; NULL: the program's name */
  int fallback;            /* BRAID_FALLBACK_*; default from $BRAID_FALLBACK or KERNEL */
  int wait_ms;             /* BRAID_FALLBACK_WAIT: how long; also the attach timeout */
  int spin_us;             /* how long a blocking call polls before it sleeps (default 50) */
};

/* Optional: attaches now with `config` (NULL: defaults from the environment: BRAID_SOCKET,
 * BRAID_FALLBACK = kernel|fail|wait, BRAID_WAIT_MS, BRAID_SPIN_US). Without it, the first
 * braid_socket() attaches with the defaults. Returns 0, or -1 with errno: EPROTO for a refusal
 * or a layout version mismatch, ECONNREFUSED when no service listens, ETIMEDOUT when it does not
 * answer, EISCONN when already attached (braid_detach first), EINVAL for a bad config; the
 * message is in braid_last_error(). The configuration is kept even when attaching fails: new
 * sockets then follow its fallback policy. */
BRAID_API int braid_init(const struct braid_config* config);
/* Closes every Braid socket (reset towards the peers) and detaches; calls still blocked on a
 * Braid socket return ECONNABORTED. The next braid_socket() attaches again. */
BRAID_API void braid_detach(void);
/* 1 when attached to a running service, 0 otherwise (checks the connection: one poll). */
BRAID_API int braid_attached(void);
/* 1 when fd is a Braid socket (not a kernel one). */
BRAID_API int braid_is_braid_fd(int fd);
/* The last attach or protocol error in words ("" if none); thread-local. */
BRAID_API const char* braid_last_error(void);
/* "1.0.0 (channel layout 1)". */
BRAID_API const char* braid_version(void);

/* ---- Sockets ----------------------------------------------------------------------------- */

/* domain AF_INET or AF_INET6; type SOCK_STREAM (| SOCK_NONBLOCK | SOCK_CLOEXEC); protocol 0 or
 * IPPROTO_TCP (MPTCP, falling back per connection when the peer does not speak it: Braid's
 * default) or IPPROTO_MPTCP (262, the same) — or BRAID_PROTO_TCP_ONLY for a plain TCP socket. */
#define BRAID_PROTO_TCP_ONLY 0x10000
BRAID_API int braid_socket(int domain, int type, int protocol);
BRAID_API int braid_bind(int fd, const struct sockaddr* addr, socklen_t len);
BRAID_API int braid_listen(int fd, int backlog);
BRAID_API int braid_accept(int fd, struct sockaddr* addr, socklen_t* len);
BRAID_API int braid_accept4(int fd, struct sockaddr* addr, socklen_t* len, int flags);
BRAID_API int braid_connect(int fd, const struct sockaddr* addr, socklen_t len);
BRAID_API ssize_t braid_send(int fd, const void* buf, size_t len, int flags);
BRAID_API ssize_t braid_recv(int fd, void* buf, size_t len, int flags);
BRAID_API ssize_t braid_writev(int fd, const struct iovec* iov, int iovcnt);
BRAID_API ssize_t braid_readv(int fd, const struct iovec* iov, int iovcnt);
BRAID_API ssize_t braid_sendmsg(int fd, const struct msghdr* msg, int flags);
BRAID_API ssize_t braid_recvmsg(int fd, struct msghdr* msg, int flags);
BRAID_API int braid_shutdown(int fd, int how);
BRAID_API int braid_close(int fd);
BRAID_API int braid_getsockopt(int fd, int level, int name, void* value, socklen_t* len);
BRAID_API int braid_setsockopt(int fd, int level, int name, const void* value, socklen_t len);
BRAID_API int braid_getsockname(int fd, struct sockaddr* addr, socklen_t* len);
BRAID_API int braid_getpeername(int fd, struct sockaddr* addr, socklen_t* len);
/* fcntl F_GETFL/F_SETFL (O_NONBLOCK), F_GETFD/F_SETFD (other commands: EINVAL); ioctl
 * FIONREAD, FIONBIO (others: ENOTTY). Options the service does not know fail with ENOPROTOOPT;
 * values longer than 36 bytes cannot be set (EINVAL) but can be read (TCP_INFO, MPTCP_INFO). */
BRAID_API int braid_fcntl(int fd, int cmd, long arg);
BRAID_API int braid_ioctl(int fd, unsigned long request, void* arg);

/* MPTCP knobs (also reachable with braid_setsockopt at SOL_MPTCP). */
#ifndef SOL_MPTCP
#define SOL_MPTCP 284
#endif
#define BRAID_MPTCP_SCHEDULER \
  0x4201 /* char[]: "default", "roundrobin", "redundant", "blest", "ecf" */
#define BRAID_MPTCP_PATH_MANAGER 0x4202 /* char[]: "kernel", "ndiffports", "userspace" */
#define BRAID_MPTCP_BACKUP 0x4203       /* int: this socket's subflows are backups */

/* ---- Readiness (epoll-style) ------------------------------------------------------------- */

/* An epoll instance over Braid sockets and kernel fds alike (a real epoll fd underneath, so it
 * can itself be polled). Events as epoll's: EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLERR, EPOLLHUP,
 * EPOLLET, EPOLLONESHOT. */
struct epoll_event;
BRAID_API int braid_epoll_create1(int flags);
BRAID_API int braid_epoll_ctl(int epfd, int op, int fd, struct epoll_event* event);
BRAID_API int braid_epoll_wait(int epfd, struct epoll_event* events, int max, int timeout_ms);
/* poll(2) over any mix of Braid and kernel fds. */
struct pollfd;
BRAID_API int braid_poll(struct pollfd* fds, unsigned long nfds, int timeout_ms);

/* ---- Zero copy --------------------------------------------------------------------------- */

/* Bytes in the socket's shared-memory FIFOs, lent to the app: no copy between app and service.
 * A reservation or a lease must be ended (commit/release) before the next one on that socket;
 * meanwhile braid_send (reservation) or braid_recv (lease) on it fails with EBUSY. Up to two
 * pieces: the FIFO wraps. Leased bytes are shared memory the service writes: copy what must
 * not change under you. On a kernel socket these calls fail with ENOTSOCK. */
struct braid_iovec2 {
  struct iovec piece[2];
  int count;
};
/* Reserves up to `max` bytes of TX space (blocking as send does); returns the bytes reserved. */
BRAID_API ssize_t braid_send_reserve(int fd, size_t max, struct braid_iovec2* out);
/* Sends the first `len` bytes of the reservation. */
BRAID_API int braid_send_commit(int fd, size_t len);
/* Lends up to `max` received bytes (blocking as recv does; 0 at end of stream). */
BRAID_API ssize_t braid_recv_lease(int fd, size_t max, struct braid_iovec2* out);
/* Gives back the first `len` bytes of the lease: consumed. */
BRAID_API int braid_recv_release(int fd, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* BRAID_BRAID_H_ */
