// What every structure in the channel region shares: the cache-line size the layout aligns to,
// copies out of memory the other process may change at any moment, and the pause used while
// spinning on that memory.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace braid::channel {

// Indices written by different processes live on different lines of this size, so that one
// side's stores do not invalidate the line the other side polls.
inline constexpr size_t kCacheLineBytes = 64;

// Copies `n` bytes out of shared memory into memory the peer cannot reach. The compiler barrier
// forbids reading the shared bytes again later in place of the copy (a double fetch): what gets
// validated and decoded is exactly what was copied once.
inline void CopyFromShared(void* to, const void* from, size_t n) {
  std::memcpy(to, from, n);
  std::atomic_signal_fence(std::memory_order_seq_cst);
}

// One step of a spin-wait: lets the sibling hyperthread run and saves power.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#else
  std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
}

inline constexpr bool IsPowerOfTwo(uint64_t v) { return std::has_single_bit(v); }

// Host-order fields of records and handover messages (both sides run on one machine), read and
// written through memcpy: never by overlaying a struct on bytes.
template <typename T>
T Load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}
template <typename T>
void Store(uint8_t* p, T v) {
  std::memcpy(p, &v, sizeof(T));
}

}  // namespace braid::channel
