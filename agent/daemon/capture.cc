#include "agent/daemon/capture.h"

#include <utility>

#include "datapath/wire/ethernet.h"
#include "datapath/wire/ipv4.h"
#include "datapath/wire/ipv6.h"
#include "datapath/wire/tcp.h"

namespace braid::agent {

PacketCapture::PacketCapture(Target target, Limits limits)
    : target_(std::move(target)), limits_(limits) {
  absl::StatusOr<pcap::PcapWriter> w =
      pcap::PcapWriter::ForBuffer(&scratch_, pcap::kLinkTypeEthernet, limits_.snaplen);
  if (w.ok()) {
    writer_.emplace(std::move(*w));
    header_ = std::move(scratch_);
    scratch_.clear();
    recorded_bytes_ = header_.size();
  }
}

void PacketCapture::RefreshFlows(tcp::Instant now) {
  // Subflows come and go: the set is read again every 100 ms.
  if (refreshed_ && now - *refreshed_ < std::chrono::milliseconds(100)) return;
  refreshed_ = now;
  flows_.clear();
  if (stack_ == nullptr || !target_.connection) return;
  if (!stack_->ConnectionInfo(*target_.connection)) {
    std::lock_guard<std::mutex> lock(mutex_);
    gone_ = true;
    return;
  }
  for (const mptcp::SubflowInfo& sf : stack_->SubflowsOf(*target_.connection)) {
    flows_.insert({sf.local_address, sf.local_port, sf.remote_address, sf.remote_port});
    flows_.insert({sf.remote_address, sf.remote_port, sf.local_address, sf.local_port});
  }
}

bool PacketCapture::Matches(std::span<const uint8_t> frame) const {
  const auto eth = wire::EthernetFrame::Check(frame);
  if (!eth) return false;
  std::span<const uint8_t> segment;
  wire::IpAddress src, dst;
  if (eth->ethertype() == wire::kEtherTypeIpv4) {
    const auto ip = wire::Ipv4Packet::Check(eth->payload());
    if (!ip || ip->protocol() != wire::IpProtocol::kTcp) return false;
    src = ip->source();
    dst = ip->destination();
    segment = ip->payload();
  } else if (eth->ethertype() == wire::kEtherTypeIpv6) {
    const auto ip = wire::Ipv6Packet::Check(eth->payload());
    if (!ip || ip->next_header() != wire::IpProtocol::kTcp) return false;
    src = ip->source();
    dst = ip->destination();
    segment = ip->payload();
  } else {
    return false;
  }
  const auto tcp = wire::TcpSegment::Check(segment);
  return tcp && flows_.count({src, tcp->src_port(), dst, tcp->dst_port()}) != 0;
}

void PacketCapture::OnFrame(uint16_t port, std::span<const uint8_t> frame, bool /*tx*/,
                            tcp::Instant now) {
  if (!writer_) return;
  if (target_.port && port != *target_.port) return;
  if (target_.connection) {
    RefreshFlows(now);
    if (!Matches(frame)) return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (full_) return;
  }
  scratch_.clear();
  const auto stamp = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  if (!writer_->Write(stamp, frame).ok()) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (held_ + scratch_.size() > limits_.buffer) {
    ++missed_;
    return;
  }
  held_ += scratch_.size();
  ++recorded_packets_;
  recorded_bytes_ += scratch_.size();
  records_.push_back(std::move(scratch_));
  scratch_ = {};
  if ((limits_.packets != 0 && recorded_packets_ >= limits_.packets) ||
      (limits_.bytes != 0 && recorded_bytes_ >= limits_.bytes)) {
    full_ = true;
  }
}

PacketCapture::Chunk PacketCapture::Take(size_t max_bytes) {
  Chunk c;
  std::lock_guard<std::mutex> lock(mutex_);
  c.bytes = std::move(header_);
  header_.clear();
  while (!records_.empty() &&
         (c.packets == 0 || c.bytes.size() + records_.front().size() <= max_bytes)) {
    std::vector<uint8_t>& r = records_.front();
    c.bytes.insert(c.bytes.end(), r.begin(), r.end());
    held_ -= r.size();
    ++c.packets;
    records_.pop_front();
  }
  return c;
}

uint64_t PacketCapture::missed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return missed_;
}

bool PacketCapture::target_gone() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return gone_;
}

bool PacketCapture::limit_reached() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return full_ && records_.empty();
}

}  // namespace braid::agent
