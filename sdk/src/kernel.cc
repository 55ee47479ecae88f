#include "sdk/src/kernel.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace braid::sdk {
namespace {

template <typename F>
void Resolve(F*& out, const char* name) {
  void* f = ::dlsym(RTLD_NEXT, name);
  if (f == nullptr) {
    // Every name here is part of glibc's ABI: without one the process cannot work at all.
    ::dprintf(STDERR_FILENO, "libbraid: libc has no %s (%s)\n", name, ::dlerror());
    std::abort();
  }
  out = reinterpret_cast<F*>(f);
}

LibcCalls ResolveAll() {
  LibcCalls c{};
  Resolve(c.socket, "socket");
  Resolve(c.bind, "bind");
  Resolve(c.listen, "listen");
  Resolve(c.accept, "accept");
  Resolve(c.accept4, "accept4");
  Resolve(c.connect, "connect");
  Resolve(c.read, "read");
  Resolve(c.write, "write");
  Resolve(c.readv, "readv");
  Resolve(c.writev, "writev");
  Resolve(c.send, "send");
  Resolve(c.recv, "recv");
  Resolve(c.sendto, "sendto");
  Resolve(c.recvfrom, "recvfrom");
  Resolve(c.sendmsg, "sendmsg");
  Resolve(c.recvmsg, "recvmsg");
  Resolve(c.sendfile, "sendfile");
  Resolve(c.close, "close");
  Resolve(c.shutdown, "shutdown");
  Resolve(c.fcntl, "fcntl");
  Resolve(c.ioctl, "ioctl");
  Resolve(c.getsockopt, "getsockopt");
  Resolve(c.setsockopt, "setsockopt");
  Resolve(c.getsockname, "getsockname");
  Resolve(c.getpeername, "getpeername");
  Resolve(c.poll, "poll");
  Resolve(c.ppoll, "ppoll");
  Resolve(c.select, "select");
  Resolve(c.pselect, "pselect");
  Resolve(c.epoll_create, "epoll_create");
  Resolve(c.epoll_create1, "epoll_create1");
  Resolve(c.epoll_ctl, "epoll_ctl");
  Resolve(c.epoll_wait, "epoll_wait");
  Resolve(c.epoll_pwait, "epoll_pwait");
  Resolve(c.dup, "dup");
  Resolve(c.dup2, "dup2");
  Resolve(c.dup3, "dup3");
  return c;
}

}  // namespace

const LibcCalls& Libc() {
  static const LibcCalls calls = ResolveAll();
  return calls;
}

}  // namespace braid::sdk
