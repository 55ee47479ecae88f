#include "datapath/wire/ethernet.h"

#include <algorithm>

#include "datapath/wire/bytes.h"

namespace braid::wire {
namespace {

bool IsTagTpid(uint16_t type) { return type == kEtherTypeVlan || type == kEtherTypeQinQ; }

}  // namespace

WireResult<EthernetFrame> EthernetFrame::Check(std::span<const uint8_t> frame) {
  if (frame.size() < kEthernetHeaderLen) return WireError::kTruncated;
  size_t header_len = kEthernetHeaderLen;
  if (IsTagTpid(LoadBe16(frame.data() + 12))) {
    header_len += kVlanTagLen;
    if (frame.size() < header_len) return WireError::kTruncated;
  }
  return EthernetFrame(frame, header_len);
}

uint16_t EthernetFrame::vlan_tpid() const { return has_vlan() ? LoadBe16(bytes_.data() + 12) : 0; }
uint16_t EthernetFrame::vlan_tci() const { return has_vlan() ? LoadBe16(bytes_.data() + 14) : 0; }
uint16_t EthernetFrame::ethertype() const { return LoadBe16(bytes_.data() + header_len_ - 2); }

EthernetRepr EthernetRepr::Parse(const EthernetFrame& frame) {
  EthernetRepr r;
  r.destination = frame.destination();
  r.source = frame.source();
  if (frame.has_vlan()) {
    uint16_t tci = frame.vlan_tci();
    r.vlan = VlanTag{frame.vlan_tpid(), static_cast<uint8_t>(tci >> 13), (tci & 0x1000) != 0,
                     static_cast<uint16_t>(tci & 0x0fff)};
  }
  r.ethertype = frame.ethertype();
  return r;
}

bool EthernetRepr::Emit(std::span<uint8_t> out) const {
  if (out.size() < HeaderLen()) return false;
  if (vlan && (vlan->vid > 0x0fff || vlan->pcp > 7 || !IsTagTpid(vlan->tpid))) return false;
  uint8_t* p = out.data();
  std::copy(destination.bytes.begin(), destination.bytes.end(), p);
  std::copy(source.bytes.begin(), source.bytes.end(), p + 6);
  p += 12;
  if (vlan) {
    StoreBe16(p, vlan->tpid);
    StoreBe16(p + 2, static_cast<uint16_t>(vlan->pcp << 13 | (vlan->dei ? 0x1000 : 0) | vlan->vid));
    p += 4;
  }
  StoreBe16(p, ethertype);
  return true;
}

}  // namespace braid::wire
