#include "datapath/io/mempool.h"

#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <bit>
#include <utility>

#include "absl/status/status.h"
#include "datapath/io/errors.h"
#include "datapath/io/text.h"

namespace braid::io {

static_assert(kDefaultDataRoom == RTE_MBUF_DEFAULT_BUF_SIZE);
static_assert(kMaxMempoolName == RTE_MEMPOOL_NAMESIZE - 1);
static_assert(kAnySocket == SOCKET_ID_ANY);

uint32_t MbufsFor(const MempoolSizing& s) {
  const uint64_t n = uint64_t{s.rx_queues} * s.rx_desc + uint64_t{s.tx_queues} * s.tx_desc +
                     uint64_t{s.tx_queues} * s.tx_batch + s.handoff_ring + s.cache_size * 2ull +
                     s.extra;
  const uint64_t capped = std::min<uint64_t>(n + 1, uint64_t{1} << 31);
  return static_cast<uint32_t>(std::bit_ceil(capped) - 1);
}

absl::StatusOr<std::string> MempoolName(std::string_view role, unsigned worker, uint16_t port) {
  std::string name = Cat("braid_", role, "_w", worker, "_p", port);
  if (name.size() > kMaxMempoolName) {
    return absl::InvalidArgumentError(
        Cat("mempool name \"", name, "\" is longer than ", kMaxMempoolName, " characters"));
  }
  return name;
}

int LcoreSocket(unsigned lcore) {
  if (lcore >= RTE_MAX_LCORE) return kAnySocket;
  const unsigned socket = rte_lcore_to_socket_id(lcore);
  return socket == static_cast<unsigned>(SOCKET_ID_ANY) ? kAnySocket : static_cast<int>(socket);
}

absl::StatusOr<Mempool> Mempool::Create(const MempoolConfig& config) {
  if (config.name.empty() || config.name.size() > kMaxMempoolName) {
    return absl::InvalidArgumentError(
        Cat("mempool name \"", config.name, "\" must be 1..", kMaxMempoolName, " characters"));
  }
  if (config.mbufs == 0) {
    return absl::InvalidArgumentError(Cat("mempool ", config.name, ": 0 mbufs"));
  }
  if (config.cache_size > RTE_MEMPOOL_CACHE_MAX_SIZE ||
      uint64_t{config.cache_size} * 3 / 2 > config.mbufs) {  // the EAL's CACHE_FLUSHTHRESH
    return absl::InvalidArgumentError(
        Cat("mempool ", config.name, ": cache_size ", config.cache_size, " too large for ",
            config.mbufs, " mbufs (at most ", RTE_MEMPOOL_CACHE_MAX_SIZE, " and mbufs / 1.5)"));
  }
  if (config.data_room <= RTE_PKTMBUF_HEADROOM) {
    return absl::InvalidArgumentError(Cat("mempool ", config.name, ": data_room ", config.data_room,
                                          " leaves no room after the ", RTE_PKTMBUF_HEADROOM,
                                          "-byte headroom"));
  }
  rte_mempool* pool = rte_pktmbuf_pool_create(config.name.c_str(), config.mbufs, config.cache_size,
                                              0, config.data_room, config.socket);
  if (pool == nullptr) {
    return LastErrorStatus(Cat("rte_pktmbuf_pool_create(", config.name, ", ", config.mbufs,
                               " mbufs of ", config.data_room, " bytes, socket ", config.socket,
                               ")"));
  }
  Mempool m;
  m.pool_ = pool;
  m.name_ = config.name;
  m.capacity_ = config.mbufs;
  m.data_room_ = config.data_room;
  return m;
}

Mempool::Mempool(Mempool&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      name_(std::move(other.name_)),
      capacity_(other.capacity_),
      data_room_(other.data_room_) {}

Mempool& Mempool::operator=(Mempool&& other) noexcept {
  if (this != &other) {
    if (pool_ != nullptr) rte_mempool_free(pool_);
    pool_ = std::exchange(other.pool_, nullptr);
    name_ = std::move(other.name_);
    capacity_ = other.capacity_;
    data_room_ = other.data_room_;
  }
  return *this;
}

Mempool::~Mempool() {
  if (pool_ != nullptr) rte_mempool_free(pool_);
}

uint32_t Mempool::buffer_size() const {
  return data_room_ > RTE_PKTMBUF_HEADROOM ? data_room_ - RTE_PKTMBUF_HEADROOM : 0;
}

uint32_t Mempool::available() const {
  return pool_ == nullptr ? 0 : rte_mempool_avail_count(pool_);
}

uint32_t Mempool::in_use() const { return pool_ == nullptr ? 0 : rte_mempool_in_use_count(pool_); }

}  // namespace braid::io
