// mbuf <-> std::span, and the offload metadata the net layer exchanges with the device
// (net::RxOffload / net::TxOffload in frame_sink.h). Inline and allocation-free: packet path.
#pragma once

#include <rte_mbuf.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "datapath/io/io_counters.h"
#include "datapath/net/frame_sink.h"

namespace braid::io {

// This segment's bytes (the whole frame when it is not chained).
inline std::span<uint8_t> SegmentData(rte_mbuf* m) {
  return {rte_pktmbuf_mtod(m, uint8_t*), m->data_len};
}
inline std::span<const uint8_t> SegmentData(const rte_mbuf* m) {
  return {rte_pktmbuf_mtod(m, const uint8_t*), m->data_len};
}
inline uint32_t FrameLength(const rte_mbuf* m) { return m->pkt_len; }
// Gives received frames back to their pools (each chain whole), one bulk call per burst.
inline void FreeFrames(std::span<rte_mbuf* const> frames) {
  rte_pktmbuf_free_bulk(const_cast<rte_mbuf**>(frames.data()),
                        static_cast<unsigned>(frames.size()));
}
inline uint16_t Headroom(const rte_mbuf* m) { return rte_pktmbuf_headroom(m); }
inline uint16_t Tailroom(const rte_mbuf* m) { return rte_pktmbuf_tailroom(m); }
inline bool IsChained(const rte_mbuf* m) { return m->nb_segs > 1; }
inline uint16_t SegmentCount(const rte_mbuf* m) { return m->nb_segs; }

// The whole frame as one span, for the net layer: the mbuf's own bytes when it has one segment;
// a chained frame is copied into `scratch` (counted rx_chained), or dropped from view (empty span,
// counted rx_chained_too_long) when it does not fit. The caller still owns and frees `m`.
inline std::span<const uint8_t> ContiguousFrame(const rte_mbuf* m, std::span<uint8_t> scratch,
                                                IoCounters& counters) {
  if (!IsChained(m)) return SegmentData(m);
  if (m->pkt_len > scratch.size()) {
    counters.AddDrop(IoDrop::kRxChainedTooLong);
    return {};
  }
  counters.Add(IoCounter::kRxChained);
  const void* p = rte_pktmbuf_read(m, 0, m->pkt_len, scratch.data());
  return {static_cast<const uint8_t*>(p), m->pkt_len};
}

// What the device verified on a received frame.
inline net::RxOffload RxOffloadOf(const rte_mbuf* m) {
  net::RxOffload o;
  const uint64_t f = m->ol_flags;
  o.ipv4_checksum_good = (f & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD;
  o.l4_checksum_good = (f & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_GOOD;
  o.vlan_stripped = (f & RTE_MBUF_F_RX_VLAN_STRIPPED) != 0;
  o.vlan_tci = o.vlan_stripped ? m->vlan_tci : 0;
  return o;
}

// Marks `m` for the device to complete its TCP checksum (the field already holds the pseudo-header
// sum: frame_sink.h). Only on ports whose OffloadsInForce::tx_tcp_checksum is true.
inline void SetTxOffload(rte_mbuf* m, const net::TxOffload& o) {
  if (!o.tcp_checksum) return;
  m->l2_len = o.l2_len;
  m->l3_len = o.l3_len;
  m->l4_len = o.l4_len;
  m->ol_flags |= RTE_MBUF_F_TX_TCP_CKSUM | (o.ipv4 ? RTE_MBUF_F_TX_IPV4 : RTE_MBUF_F_TX_IPV6);
}

// Appends `bytes` to the frame in `head`, chaining new segments from `pool` when the last one is
// full. False when the pool runs dry: `head` then holds a prefix; the caller frees it.
inline bool AppendBytes(rte_mbuf* head, rte_mempool* pool, std::span<const uint8_t> bytes) {
  rte_mbuf* last = rte_pktmbuf_lastseg(head);
  size_t done = 0;
  while (done < bytes.size()) {
    uint16_t room = rte_pktmbuf_tailroom(last);
    if (room == 0) {
      rte_mbuf* seg = rte_pktmbuf_alloc(pool);
      if (seg == nullptr) return false;
      if (rte_pktmbuf_chain(head, seg) != 0) {  // more than RTE_MBUF_MAX_NB_SEGS
        rte_pktmbuf_free(seg);
        return false;
      }
      last = seg;
      room = rte_pktmbuf_tailroom(last);
    }
    const size_t n = bytes.size() - done < room ? bytes.size() - done : room;
    std::memcpy(rte_pktmbuf_mtod_offset(last, uint8_t*, last->data_len), bytes.data() + done, n);
    last->data_len = static_cast<uint16_t>(last->data_len + n);
    head->pkt_len += static_cast<uint32_t>(n);
    done += n;
  }
  return true;
}

}  // namespace braid::io
