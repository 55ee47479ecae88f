#include "datapath/io/offloads.h"

#include <algorithm>

#include "absl/status/status.h"
#include "datapath/io/text.h"
#include "datapath/wire/bytes.h"
#include "datapath/wire/checksum.h"

namespace braid::io {
namespace {

std::string Flags(std::initializer_list<std::pair<bool, const char*>> flags) {
  std::vector<std::string> on;
  for (const auto& [set, name] : flags) {
    if (set) on.push_back(name);
  }
  return Cat("[", Join(on, " "), "]");
}

std::string QueueHint(const DeviceCapabilities& caps) {
  if (caps.driver == "net_af_packet") return " (af_packet: add qpairs=N to the port spec)";
  if (caps.driver == "net_af_xdp") {
    return " (af_xdp: add queue_count=N, and give the netdev N combined channels/queues)";
  }
  return "";
}

}  // namespace

std::string DeviceCapabilities::Summary() const {
  return Cat(driver, ": ", max_rx_queues, "/", max_tx_queues, " queues, mtu ", min_mtu, "..",
             max_mtu, ", rx",
             Flags({{rx_ipv4_checksum, "ipv4_cksum"},
                    {rx_tcp_checksum, "tcp_cksum"},
                    {rx_vlan_strip, "vlan_strip"},
                    {rx_scatter, "scatter"},
                    {rx_rss_hash, "rss_hash"}}),
             " tx",
             Flags({{tx_ipv4_checksum, "ipv4_cksum"},
                    {tx_tcp_checksum, "tcp_cksum"},
                    {tx_tcp_tso, "tso"},
                    {tx_multi_segs, "multi_segs"},
                    {tx_mbuf_fast_free, "fast_free"}}),
             rss() ? Cat(" rss(reta ", reta_size, ")") : std::string(" no-rss"));
}

std::string OffloadsInForce::Summary() const {
  std::vector<std::string> software;
  if (software_rx_checksum()) software.push_back("rx_checksum");
  if (software_tx_checksum()) software.push_back("tx_checksum");
  if (software_segmentation()) software.push_back("segmentation");
  return Cat("rx",
             Flags({{rx_ipv4_checksum, "ipv4_cksum"},
                    {rx_tcp_checksum, "tcp_cksum"},
                    {rx_vlan_strip, "vlan_strip"},
                    {rx_scatter, "scatter"}}),
             " tx",
             Flags({{tx_ipv4_checksum, "ipv4_cksum"},
                    {tx_tcp_checksum, "tcp_cksum"},
                    {tso, "tso"},
                    {tx_multi_segs, "multi_segs"},
                    {mbuf_fast_free, "fast_free"}}),
             rss ? " rss" : "", "; software: [", Join(software, " "), "]");
}

uint16_t ClampDescriptors(uint16_t wanted, uint16_t min, uint16_t max, uint16_t align) {
  if (max == 0) max = 0xffff;
  if (align == 0) align = 1;
  uint32_t n = std::clamp<uint32_t>(wanted, min, max);
  n = (n + align - 1) / align * align;
  while (n > max) n -= align;  // rounding up passed max: the largest aligned value below it
  return static_cast<uint16_t>(n);
}

absl::StatusOr<PortPlan> PlanPort(const DeviceCapabilities& caps, const PortRequest& request) {
  PortPlan plan;
  if (request.rx_queues == 0 || request.tx_queues == 0) {
    return absl::InvalidArgumentError(Cat(caps.driver, ": ", request.rx_queues, " RX / ",
                                          request.tx_queues,
                                          " TX queues: need at least one of each"));
  }
  if (request.rx_queues > caps.max_rx_queues || request.tx_queues > caps.max_tx_queues) {
    return absl::InvalidArgumentError(Cat(caps.driver, ": ", request.rx_queues, " RX / ",
                                          request.tx_queues, " TX queues asked, the device has ",
                                          caps.max_rx_queues, " / ", caps.max_tx_queues,
                                          QueueHint(caps)));
  }
  if (request.mtu < caps.min_mtu || request.mtu > caps.max_mtu) {
    return absl::InvalidArgumentError(Cat(caps.driver, ": MTU ", request.mtu,
                                          " outside the device's ", caps.min_mtu, "..",
                                          caps.max_mtu));
  }
  plan.rx_queues = request.rx_queues;
  plan.tx_queues = request.tx_queues;
  plan.rx_desc =
      ClampDescriptors(request.rx_desc, caps.rx_desc_min, caps.rx_desc_max, caps.rx_desc_align);
  plan.tx_desc =
      ClampDescriptors(request.tx_desc, caps.tx_desc_min, caps.tx_desc_max, caps.tx_desc_align);
  if (plan.rx_desc != request.rx_desc || plan.tx_desc != request.tx_desc) {
    plan.notes.push_back(Cat("descriptors adjusted to the device's limits: rx ", plan.rx_desc,
                             " tx ", plan.tx_desc));
  }
  plan.mtu = request.mtu;
  plan.max_frame = MaxFrameForMtu(request.mtu);

  OffloadsInForce& o = plan.offloads;
  const OffloadRequest& want = request.offloads;
  if (plan.max_frame > request.rx_buffer_size) {
    if (!caps.rx_scatter) {
      return absl::InvalidArgumentError(
          Cat(caps.driver, ": frames of MTU ", request.mtu, " (", plan.max_frame,
              " bytes) do not fit one RX buffer of ", request.rx_buffer_size,
              " bytes and the device cannot scatter; use a larger mbuf data room"));
    }
    o.rx_scatter = true;
    plan.notes.push_back("RX scatter on: frames longer than one mbuf arrive chained");
  }
  o.rx_ipv4_checksum = want.rx_checksum && caps.rx_ipv4_checksum;
  o.rx_tcp_checksum = want.rx_checksum && caps.rx_tcp_checksum;
  o.rx_vlan_strip = want.vlan_strip && caps.rx_vlan_strip;
  o.tx_ipv4_checksum = want.tx_checksum && caps.tx_ipv4_checksum;
  o.tx_tcp_checksum = want.tx_checksum && caps.tx_tcp_checksum;
  // TSO completes the checksums of the segments it cuts: useless without the checksum offload.
  o.tso = want.tso && caps.tx_tcp_tso && o.tx_tcp_checksum;
  o.tx_multi_segs = want.tx_multi_segs && caps.tx_multi_segs;
  o.mbuf_fast_free = want.mbuf_fast_free && caps.tx_mbuf_fast_free && !o.tx_multi_segs;
  if (plan.rx_queues > 1) {
    if (want.rss && caps.rss()) {
      o.rss = true;
    } else {
      plan.notes.push_back(
          Cat("no RSS (", caps.rss() ? "not requested" : "the device has none",
              "): queues beyond 0 receive only what rte_flow rules or the PMD's own spreading "
              "send them"));
    }
  }
  if (o.software_rx_checksum()) {
    plan.notes.push_back("RX checksums verified in software");
  }
  if (o.software_tx_checksum()) plan.notes.push_back("TX checksums computed in software");
  return plan;
}

bool TcpChecksumValue(std::span<const uint8_t> frame, size_t l2_len, size_t l3_len,
                      uint16_t* value) {
  const size_t tcp = l2_len + l3_len;
  if (frame.size() < tcp + kTcpChecksumOffset + 2 || l3_len == 0) return false;
  // The segment ends where the IP header says, not at the frame's end (short frames are padded).
  size_t end = 0;
  const uint8_t version = frame[l2_len] >> 4;
  if (version == 4) {
    end = l2_len + wire::LoadBe16(&frame[l2_len + 2]);
  } else if (version == 6 && l3_len >= 40) {
    end = l2_len + 40 + wire::LoadBe16(&frame[l2_len + 4]);
  }
  if (end < tcp + kTcpChecksumOffset + 2 || end > frame.size()) return false;
  wire::InternetChecksum sum;
  sum.Add(frame.subspan(tcp, end - tcp));
  // RFC 768's zero rule does not apply to TCP: 0 is a valid checksum value.
  *value = sum.Finish();
  return true;
}

bool FinishTcpChecksum(std::span<uint8_t> frame, size_t l2_len, size_t l3_len) {
  uint16_t value = 0;
  if (!TcpChecksumValue(frame, l2_len, l3_len, &value)) return false;
  wire::StoreBe16(&frame[l2_len + l3_len + kTcpChecksumOffset], value);
  return true;
}

}  // namespace braid::io
