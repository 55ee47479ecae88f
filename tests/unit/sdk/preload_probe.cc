// An unmodified application for the preload shim's tests (preload_*_test.cc): plain libc
// socket calls, nothing of Braid's. The tests run it with LD_PRELOAD=libbraid_preload.so
// against the loopback service test double; each scenario exits 0 when every check held, or
// prints the failed check and exits 1. It tells a Braid socket from a kernel one the way an
// outsider can: /proc/self/fd names a Braid socket's descriptor an eventfd.
//
// Built with -O2 -D_FORTIFY_SOURCE=2: reads into arrays of known size are __read_chk and
// __recv_chk calls, polls over arrays __poll_chk, FD_SET __fdelt_chk.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

#define CHECK(cond)                                                                              \
  do {                                                                                           \
    if (!(cond)) {                                                                               \
      std::fprintf(stderr, "probe: line %d: %s failed (errno %d: %s)\n", __LINE__, #cond, errno, \
                   std::strerror(errno));                                                        \
      std::exit(1);                                                                              \
    }                                                                                            \
  } while (0)

// A value the compiler cannot see through: with it, fortified calls cannot be proved safe at
// compile time and become the checked variants (__read_chk, __recv_chk, __poll_chk).
template <typename T>
T Opaque(T v) {
  volatile T x = v;
  return x;
}

std::chrono::steady_clock::time_point Deadline(int seconds) {
  return std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
}

enum class Kind { kBraid, kKernel, kOther };

Kind KindOf(int fd) {
  char path[64];
  char target[128] = {};
  std::snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  if (::readlink(path, target, sizeof(target) - 1) <= 0) return Kind::kOther;
  if (std::strcmp(target, "anon_inode:[eventfd]") == 0) return Kind::kBraid;
  if (std::strncmp(target, "socket:", 7) == 0) return Kind::kKernel;
  return Kind::kOther;
}

// The stack sockets are expected on: PROBE_EXPECT=kernel when the shim must leave them alone.
Kind Expected() {
  const char* v = std::getenv("PROBE_EXPECT");
  return v != nullptr && std::strcmp(v, "kernel") == 0 ? Kind::kKernel : Kind::kBraid;
}

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

int Listener(uint16_t* port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  CHECK(fd >= 0);
  const int one = 1;
  CHECK(::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0);
  sockaddr_in a = Loopback(0);
  CHECK(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  CHECK(::listen(fd, 16) == 0);
  socklen_t len = sizeof(a);
  CHECK(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  *port = ntohs(a.sin_port);
  CHECK(*port != 0);
  return fd;
}

int Connect(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  CHECK(fd >= 0);
  sockaddr_in a = Loopback(port);
  CHECK(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  return fd;
}

struct Pair {
  int listener, client, server;
};

Pair MakePair() {
  Pair p{};
  uint16_t port = 0;
  p.listener = Listener(&port);
  p.client = Connect(port);
  p.server = ::accept(p.listener, nullptr, nullptr);
  CHECK(p.server >= 0);
  CHECK(KindOf(p.listener) == Expected());
  CHECK(KindOf(p.client) == Expected());
  CHECK(KindOf(p.server) == Expected());
  return p;
}

uint8_t StreamByte(uint64_t i) { return static_cast<uint8_t>((i * 2654435761u) >> 13 ^ (i >> 8)); }

void WriteAll(int fd, uint64_t at, size_t n) {
  char buf[8192];
  while (n > 0) {
    const size_t len = std::min(n, sizeof(buf));
    for (size_t k = 0; k < len; ++k) buf[k] = static_cast<char>(StreamByte(at + k));
    const ssize_t w = ::write(fd, buf, len);
    CHECK(w > 0);
    at += w;
    n -= w;
  }
}

void ReadAll(int fd, uint64_t at, size_t n) {
  char buf[5000];  // a fixed array: read() is __read_chk here
  while (n > 0) {
    const ssize_t r = ::read(fd, buf, std::min(n, Opaque(sizeof(buf))));
    CHECK(r > 0);
    for (ssize_t k = 0; k < r; ++k) CHECK(static_cast<uint8_t>(buf[k]) == StreamByte(at + k));
    at += r;
    n -= r;
  }
}

// `n` bytes of the stream from `from` to `to`, written by another thread.
void Transfer(int from, int to, uint64_t at, size_t n) {
  std::thread writer([=] { WriteAll(from, at, n); });
  ReadAll(to, at, n);
  writer.join();
}

void ExpectEof(int fd) {
  char byte;
  CHECK(::recv(fd, &byte, Opaque<size_t>(1), 0) == 0);
}

// ---- scenarios --------------------------------------------------------------------------

// Every data call both ways: read/write, readv/writev, send/recv, sendto/recvfrom,
// sendmsg/recvmsg; a megabyte through small FIFOs; then EOF.
void Data() {
  Pair p = MakePair();
  constexpr size_t kBytes = 1 << 20;
  std::thread writer([&] { WriteAll(p.client, 0, kBytes); });
  ReadAll(p.server, 0, kBytes);
  writer.join();

  char a[3] = {'a', 'b', 'c'}, b[2] = {'d', 'e'};
  iovec out[2] = {{a, 3}, {b, 2}};
  CHECK(::writev(p.server, out, 2) == 5);
  char x[2], y[3];
  iovec in[2] = {{x, 2}, {y, 3}};
  CHECK(::readv(p.client, in, 2) == 5);
  CHECK(std::memcmp(x, "ab", 2) == 0 && std::memcmp(y, "cde", 3) == 0);

  CHECK(::send(p.client, "hello", 5, MSG_NOSIGNAL) == 5);
  char buf[16];
  CHECK(::recv(p.server, buf, Opaque(sizeof(buf)), MSG_PEEK) == 5);
  int available = 0;
  CHECK(::ioctl(p.server, FIONREAD, &available) == 0 && available == 5);
  sockaddr_in from{};
  socklen_t from_len = sizeof(from);
  CHECK(::recvfrom(p.server, buf, Opaque(sizeof(buf)), 0, reinterpret_cast<sockaddr*>(&from),
                   &from_len) == 5);
  CHECK(std::memcmp(buf, "hello", 5) == 0);

  CHECK(::sendto(p.server, "xy", 2, 0, nullptr, 0) == 2);
  msghdr m{};
  iovec io{buf, sizeof(buf)};
  m.msg_iov = &io;
  m.msg_iovlen = 1;
  CHECK(::recvmsg(p.client, &m, 0) == 2 && std::memcmp(buf, "xy", 2) == 0);
  iovec io2{const_cast<char*>("zz"), 2};
  msghdr m2{};
  m2.msg_iov = &io2;
  m2.msg_iovlen = 1;
  CHECK(::sendmsg(p.client, &m2, 0) == 2);
  CHECK(::recv(p.server, buf, sizeof(buf), 0) == 2);

  // Non-blocking: EAGAIN on an empty socket, through fcntl and FIONBIO.
  const int flags = ::fcntl(p.server, F_GETFL);
  CHECK(flags >= 0 && ::fcntl(p.server, F_SETFL, flags | O_NONBLOCK) == 0);
  CHECK((::fcntl(p.server, F_GETFL) & O_NONBLOCK) != 0);
  CHECK(::read(p.server, buf, sizeof(buf)) == -1 && errno == EAGAIN);
  int on = 1;
  CHECK(::ioctl(p.client, FIONBIO, &on) == 0);
  CHECK(::recv(p.client, buf, sizeof(buf), 0) == -1 && errno == EAGAIN);

  sockaddr_in peer{};
  socklen_t len = sizeof(peer);
  CHECK(::getpeername(p.client, reinterpret_cast<sockaddr*>(&peer), &len) == 0);
  CHECK(peer.sin_family == AF_INET && peer.sin_port != 0);
  CHECK(::shutdown(p.client, SHUT_WR) == 0);
  CHECK(::fcntl(p.server, F_SETFL, flags) == 0);
  ExpectEof(p.server);
  CHECK(::close(p.client) == 0 && ::close(p.server) == 0 && ::close(p.listener) == 0);
  CHECK(::close(p.client) == -1 && errno == EBADF);
}

// dup, dup2, dup3, F_DUPFD: every number names the socket; it closes with the last.
void Dup() {
  Pair p = MakePair();
  const int d1 = ::dup(p.client);
  CHECK(d1 >= 0 && KindOf(d1) == Expected());
  const int d2 = ::fcntl(p.client, F_DUPFD_CLOEXEC, 100);
  CHECK(d2 >= 100 && (::fcntl(d2, F_GETFD) & FD_CLOEXEC) != 0);
  CHECK(::close(p.client) == 0);
  WriteAll(d1, 0, 1000);
  ReadAll(p.server, 0, 1000);
  CHECK(::close(d1) == 0);
  WriteAll(d2, 1000, 1000);  // the socket lives while one number does
  ReadAll(p.server, 1000, 1000);
  // dup2 onto a number that names another Braid socket closes that one.
  Pair q = MakePair();
  CHECK(::dup2(d2, q.client) == q.client);
  ExpectEof(q.server);
  WriteAll(q.client, 2000, 10);
  ReadAll(p.server, 2000, 10);
  const int d3 = 200;
  CHECK(::dup3(d2, d3, O_CLOEXEC) == d3);
  CHECK(::close(d2) == 0 && ::close(q.client) == 0);
  WriteAll(d3, 2010, 10);
  ReadAll(p.server, 2010, 10);
  CHECK(::close(d3) == 0);
  ExpectEof(p.server);
  for (int fd : {p.server, p.listener, q.server, q.listener}) CHECK(::close(fd) == 0);
}

// poll, select and epoll over a pipe and Braid sockets together.
void Readiness() {
  Pair p = MakePair();
  int pipe_fds[2];
  CHECK(::pipe(pipe_fds) == 0);

  pollfd fds[2] = {{pipe_fds[0], POLLIN, 0}, {p.server, POLLIN, 0}};
  CHECK(::poll(fds, Opaque<nfds_t>(2), 50) == 0);  // nothing yet: times out
  CHECK(::write(pipe_fds[1], "k", 1) == 1);
  CHECK(::poll(fds, 2, 1000) == 1 && fds[0].revents == POLLIN && fds[1].revents == 0);
  char byte;
  CHECK(::read(pipe_fds[0], &byte, 1) == 1);
  std::thread later([&] {
    ::usleep(20000);
    CHECK(::send(p.client, "s", 1, 0) == 1);
  });
  CHECK(::poll(fds, 2, 5000) == 1 && fds[1].revents == POLLIN && fds[0].revents == 0);
  later.join();
  timespec ts{1, 0};
  sigset_t mask;
  sigemptyset(&mask);
  CHECK(::ppoll(fds, Opaque<nfds_t>(2), &ts, &mask) == 1 && fds[1].revents == POLLIN);

  fd_set r, w;
  FD_ZERO(&r);
  FD_ZERO(&w);
  FD_SET(pipe_fds[0], &r);
  FD_SET(p.server, &r);
  FD_SET(p.client, &w);
  const int nfds = std::max({pipe_fds[0], p.server, p.client}) + 1;
  timeval tv{1, 0};
  CHECK(::select(nfds, &r, &w, nullptr, &tv) == 2);
  CHECK(FD_ISSET(p.server, &r) && !FD_ISSET(pipe_fds[0], &r) && FD_ISSET(p.client, &w));
  CHECK(::recv(p.server, &byte, 1, 0) == 1);
  FD_ZERO(&r);
  FD_SET(pipe_fds[0], &r);
  FD_SET(p.server, &r);
  timespec pts{0, 30 * 1000 * 1000};
  CHECK(::pselect(nfds, &r, nullptr, nullptr, &pts, &mask) == 0);

  // epoll: the app's own epoll set, kernel and Braid descriptors mixed, level and edge.
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  CHECK(ep >= 0);
  epoll_event e{};
  e.events = EPOLLIN;
  e.data.fd = pipe_fds[0];
  CHECK(::epoll_ctl(ep, EPOLL_CTL_ADD, pipe_fds[0], &e) == 0);
  e.events = EPOLLIN | EPOLLET;
  e.data.fd = p.server;
  CHECK(::epoll_ctl(ep, EPOLL_CTL_ADD, p.server, &e) == 0);
  CHECK(::epoll_ctl(ep, EPOLL_CTL_ADD, p.server, &e) == -1 && errno == EEXIST);
  epoll_event out[4];
  CHECK(::epoll_wait(ep, out, 4, 30) == 0);
  CHECK(::send(p.client, "ab", 2, 0) == 2);
  CHECK(::write(pipe_fds[1], "k", 1) == 1);
  int seen = 0;
  // The pipe is ready at once and stays so (level-triggered): wait by the clock, not by rounds.
  for (const auto until = Deadline(5); seen != 3 && std::chrono::steady_clock::now() < until;) {
    const int n = ::epoll_wait(ep, out, 4, 100);
    CHECK(n >= 0);
    for (int i = 0; i < n; ++i) seen |= out[i].data.fd == p.server ? 1 : 2;
  }
  CHECK(seen == 3);
  // Edge-triggered: no new edge until new bytes; the pipe stays level-triggered ready.
  CHECK(::epoll_wait(ep, out, 4, 30) == 1 && out[0].data.fd == pipe_fds[0]);
  CHECK(::read(pipe_fds[0], &byte, 1) == 1);
  sigset_t none;
  sigemptyset(&none);
  CHECK(::epoll_pwait(ep, out, 4, 30, &none) == 0);
  // An epoll set holding a Braid socket cannot be watched by another one (EPERM, as for a file
  // without epoll support); a Braid socket cannot go into something that is not epoll.
  const int outer = ::epoll_create1(0);
  e.events = EPOLLIN;
  if (Expected() == Kind::kBraid) {
    CHECK(::epoll_ctl(outer, EPOLL_CTL_ADD, ep, &e) == -1 && errno == EPERM);
  }
  CHECK(::epoll_ctl(pipe_fds[0], EPOLL_CTL_ADD, p.client, &e) == -1 && errno == EINVAL);
  CHECK(::epoll_ctl(ep, EPOLL_CTL_DEL, p.server, nullptr) == 0);
  CHECK(::epoll_ctl(ep, EPOLL_CTL_DEL, p.server, nullptr) == -1 && errno == ENOENT);

  // A socket put in an epoll set before it is connected (the shim has not decided yet) is
  // still watched once it became a Braid socket: a non-blocking connect reported by EPOLLOUT.
  uint16_t port = 0;
  const int l2 = Listener(&port);
  const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  e.events = EPOLLOUT;
  e.data.fd = c;
  CHECK(::epoll_ctl(ep, EPOLL_CTL_ADD, c, &e) == 0);
  sockaddr_in a = Loopback(port);
  const int rc = ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  CHECK(rc == 0 || errno == EINPROGRESS);
  CHECK(KindOf(c) == Expected());
  bool writable = false;
  for (const auto until = Deadline(5); !writable && std::chrono::steady_clock::now() < until;) {
    const int n = ::epoll_wait(ep, out, 4, 100);
    for (int i = 0; i < n; ++i) writable |= out[i].data.fd == c && (out[i].events & EPOLLOUT);
  }
  CHECK(writable);
  int err = -1;
  socklen_t len = sizeof(err);
  CHECK(::getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0);
  for (int fd : {c, l2, ep, outer, pipe_fds[0], pipe_fds[1], p.client, p.server, p.listener}) {
    CHECK(::close(fd) == 0);
  }
}

// Options: recorded before the decision and replayed; one Braid does not have keeps the
// socket on the kernel; unknown ones on a Braid socket fail as Linux fails them.
void Options() {
  uint16_t port = 0;
  const int l = Listener(&port);
  const int one = 1;
  const int c = ::socket(AF_INET, SOCK_STREAM, 0);
  CHECK(::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0);
  sockaddr_in a = Loopback(port);
  CHECK(::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  CHECK(KindOf(c) == Expected());
  int v = 0;
  socklen_t len = sizeof(v);
  CHECK(::getsockopt(c, SOL_SOCKET, SO_TYPE, &v, &len) == 0 && v == SOCK_STREAM);
  if (Expected() == Kind::kBraid) {
    len = sizeof(v);
    CHECK(::getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, &len) == 0 && v == 1);
    // An option Braid does not serve: ENOPROTOOPT, never a silent success.
    const int tos = 0x10;
    CHECK(::setsockopt(c, IPPROTO_IP, IP_TOS, &tos, sizeof(tos)) == -1 && errno == ENOPROTOOPT);
    len = sizeof(v);
    CHECK(::getsockopt(c, IPPROTO_IP, IP_TTL, &v, &len) == -1 && errno == ENOPROTOOPT);
    // Set before connect, the same option keeps the socket on the kernel, where it works.
    const int k = ::socket(AF_INET, SOCK_STREAM, 0);
    CHECK(::setsockopt(k, IPPROTO_IP, IP_TOS, &tos, sizeof(tos)) == 0);
    CHECK(::connect(k, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == -1);  // no kernel listener
    CHECK(errno == ECONNREFUSED && KindOf(k) == Kind::kKernel);
    CHECK(::close(k) == 0);
  }
  const int s = ::accept(l, nullptr, nullptr);
  CHECK(s >= 0);
  for (int fd : {c, s, l}) CHECK(::close(fd) == 0);
}

// sendfile from a file into a socket, with and without an offset.
void SendFile() {
  Pair p = MakePair();
  char name[] = "/tmp/braid-probe-XXXXXX";
  const int file = ::mkstemp(name);
  CHECK(file >= 0);
  ::unlink(name);
  constexpr size_t kBytes = 300000;
  std::vector<char> data(kBytes);
  for (size_t i = 0; i < kBytes; ++i) data[i] = static_cast<char>(StreamByte(i));
  CHECK(::write(file, data.data(), kBytes) == static_cast<ssize_t>(kBytes));
  std::thread reader([&] {
    ReadAll(p.server, 0, kBytes);
    ReadAll(p.server, 0, 1000);
  });
  off_t offset = 0;
  size_t sent = 0;
  while (sent < kBytes) {
    const ssize_t n = ::sendfile(p.client, file, &offset, kBytes - sent);
    CHECK(n > 0);
    sent += n;
  }
  CHECK(offset == static_cast<off_t>(kBytes));
  CHECK(::lseek(file, 0, SEEK_SET) == 0);
  CHECK(::sendfile(p.client, file, nullptr, 1000) == 1000);
  CHECK(::lseek(file, 0, SEEK_CUR) == 1000);
  reader.join();
  for (int fd : {file, p.client, p.server, p.listener}) CHECK(::close(fd) == 0);
}

// Fork: the child's own sockets work, its copies of the parent's are the parent's still (its
// close does not end them); the parent's sockets are undisturbed.
void Fork() {
  Pair p = MakePair();
  uint16_t port = 0;
  socklen_t len = sizeof(sockaddr_in);
  sockaddr_in a{};
  CHECK(::getsockname(p.listener, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  port = ntohs(a.sin_port);
  const pid_t child = ::fork();
  CHECK(child >= 0);
  if (child == 0) {
    ::close(p.client);  // the child's copy only
    ::close(p.server);
    Pair q = MakePair();
    Transfer(q.client, q.server, 0, 100000);
    ::_exit(0);
  }
  int status = 0;
  CHECK(::waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  Transfer(p.client, p.server, 0, 100000);
  Transfer(p.server, p.client, 0, 1000);
  // The parent's listener still takes connections.
  const int c = Connect(port);
  const int s = ::accept(p.listener, nullptr, nullptr);
  CHECK(s >= 0);
  for (int fd : {c, s, p.client, p.server, p.listener}) CHECK(::close(fd) == 0);
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s data|dup|readiness|options|sendfile|fork\n", argv[0]);
    return 2;
  }
  const std::string scenario = argv[1];
  if (scenario == "data") {
    Data();
  } else if (scenario == "dup") {
    Dup();
  } else if (scenario == "readiness") {
    Readiness();
  } else if (scenario == "options") {
    Options();
  } else if (scenario == "sendfile") {
    SendFile();
  } else if (scenario == "fork") {
    Fork();
  } else {
    std::fprintf(stderr, "unknown scenario %s\n", scenario.c_str());
    return 2;
  }
  std::printf("ok %s\n", scenario.c_str());
  return 0;
}
