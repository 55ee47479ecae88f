// Descriptor bookkeeping beyond the C API, for a preload shim that sees dup, dup2 and dup3:
// several descriptors may name one Braid socket (or one Braid epoll instance), and the socket
// closes when the last of them goes, as a kernel socket does.
#pragma once

namespace braid::sdk {

// `new_fd` (just made by the kernel's dup of `fd`) names what `fd` names. False when `fd` is
// neither a Braid socket nor a Braid epoll instance.
bool Alias(int fd, int new_fd);
// Forgets `fd` without closing the kernel descriptor (dup2 onto it closes that): a Braid socket
// whose last descriptor this was is closed (its connection ends gracefully). False when `fd`
// named nothing of Braid's.
bool Release(int fd);

}  // namespace braid::sdk
