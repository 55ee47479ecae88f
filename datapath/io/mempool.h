// Per-worker packet mempools. Each worker takes its mbufs from its own pool, on its own NUMA
// socket (architecture.md §5: shared nothing), for both the RX queues it polls and the frames it
// builds. Names are unique per process: MempoolName(role, worker, port).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

struct rte_mempool;

namespace braid::io {

// RTE_MBUF_DEFAULT_DATAROOM (2048) + RTE_PKTMBUF_HEADROOM (128): one standard frame per mbuf.
inline constexpr uint16_t kDefaultDataRoom = 2048 + 128;
// RTE_MEMPOOL_NAMESIZE - 1 (the EAL prefixes memzone names with "MP_").
inline constexpr size_t kMaxMempoolName = 25;
inline constexpr int kAnySocket = -1;  // SOCKET_ID_ANY

struct MempoolConfig {
  std::string name;           // unique in the process, at most kMaxMempoolName characters
  uint32_t mbufs = 8191;      // 2^n - 1 suits the ring underneath best
  uint32_t cache_size = 256;  // per-lcore cache; 0 for pools used from non-EAL threads only
  uint16_t data_room = kDefaultDataRoom;
  int socket = kAnySocket;  // the worker's NUMA socket (LcoreSocket)
};

// What a worker's pool must hold so that it never runs dry in steady state: every RX descriptor
// it fills, the TX descriptors it may have in flight, its TX batches, the frames in its handoff
// ring, the per-lcore cache, plus `extra` for frames the stack holds (neighbour queues). Rounded up
// to 2^n - 1.
struct MempoolSizing {
  uint32_t rx_queues = 1;  // queues this worker polls (one per port, usually)
  uint32_t rx_desc = 1024;
  uint32_t tx_queues = 1;
  uint32_t tx_desc = 1024;
  uint32_t tx_batch = 64;
  uint32_t handoff_ring = 0;
  uint32_t cache_size = 256;
  uint32_t extra = 1024;
};
uint32_t MbufsFor(const MempoolSizing& sizing);

// "braid_<role>_w<worker>_p<port>", e.g. "braid_rx_w0_p1"; InvalidArgument when longer than
// kMaxMempoolName.
absl::StatusOr<std::string> MempoolName(std::string_view role, unsigned worker, uint16_t port);

// The NUMA socket of an lcore (rte_lcore_to_socket_id); kAnySocket when unknown.
int LcoreSocket(unsigned lcore);

// An rte_pktmbuf pool, freed with the object. Every mbuf must be back before it is destroyed:
// close the ports (their RX rings hold mbufs) and drain the TX batchers and handoff rings first.
class Mempool {
 public:
  // InvalidArgument for a bad name or size; the EAL's error (ENOMEM: not enough memory for
  // `mbufs`; EEXIST: the name is taken) otherwise, naming the pool.
  static absl::StatusOr<Mempool> Create(const MempoolConfig& config);

  Mempool() = default;
  Mempool(Mempool&& other) noexcept;
  Mempool& operator=(Mempool&& other) noexcept;
  Mempool(const Mempool&) = delete;
  Mempool& operator=(const Mempool&) = delete;
  ~Mempool();

  rte_mempool* get() const { return pool_; }
  const std::string& name() const { return name_; }
  uint32_t capacity() const { return capacity_; }
  uint16_t data_room() const { return data_room_; }
  // Bytes of frame one mbuf holds after the headroom.
  uint32_t buffer_size() const;
  // Free mbufs, per-lcore caches included (rte_mempool_avail_count): equal to capacity() when
  // nothing is in flight, which is how tests prove that no mbuf leaked.
  uint32_t available() const;
  uint32_t in_use() const;

 private:
  rte_mempool* pool_ = nullptr;
  std::string name_;
  uint32_t capacity_ = 0;
  uint16_t data_room_ = 0;
};

}  // namespace braid::io
