// Robustness of a port's receive path against malformed input (issue 4). The fuzz corpora and
// seeded random mutations of valid frames addressed to the stack are replayed into a ring-PMD
// port's RX ring, in bursts, and each frame goes the way a worker takes it: RxQueue::Burst ->
// io::ContiguousFrame -> NetStack::Receive (a NativeTcpBackend behind it with a listener, and
// connections the test set up with valid handshakes and keeps feeding) -> rte_pktmbuf_free; after
// each burst the timers run, the ICMP and TCP events are drained (the app reads what arrived) and
// the TxQueue is flushed. Checked:
//  - nothing crashes (build with ASan/UBSan to make that mean something);
//  - every frame is counted exactly once: delivered + consumed + dropped == injected, each drop
//    under the reason its RxOutcome names, and every other drop increment (a reply the send path
//    could not send) is a send-path drop, so that the drop counters add up to the RX and TX drops;
//  - every mbuf is back in the pool at the end;
//  - the TCP engine's counters agree with what the net layer delivered, the events the app saw,
//    and the bytes it read;
//  - every frame the stack sends parses, from our MAC, with valid checksums;
//  - afterwards the stack still works: a fresh handshake gets its SYN-ACK, an echo its reply.
// The drop table is printed. A net_ring port sends into the ring it receives from: the test puts
// each burst into that ring and receives exactly that many frames (what the TxQueue flushes early
// meanwhile queues behind them); after the TxQueue's flush it takes everything the stack sent out
// of the ring (and checks it) before the next burst goes in, so the stack never reads its own
// frames.
//
// BRAID_REPLAY_SEED (default 4242) and BRAID_REPLAY_FRAMES (mutated frames, default 200000)
// change the run; the seed is printed so that a failing run can be replayed.
#include <gtest/gtest.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "datapath/io/mbuf.h"
#include "datapath/io/mempool.h"
#include "datapath/io/port.h"
#include "datapath/io/rx_queue.h"
#include "datapath/io/tx_queue.h"
#include "datapath/net/net_counters.h"
#include "datapath/net/net_stack.h"
#include "datapath/tcp/listener.h"
#include "datapath/tcp/native_backend.h"
#include "datapath/tcp/tcp_info.h"
#include "datapath/wire/arp.h"
#include "datapath/wire/bytes.h"
#include "datapath/wire/checksum.h"
#include "datapath/wire/ethernet.h"
#include "datapath/wire/icmpv4.h"
#include "datapath/wire/icmpv6.h"
#include "datapath/wire/ipv4.h"
#include "datapath/wire/ipv6.h"
#include "datapath/wire/tcp.h"
#include "datapath/wire/tcp_options.h"
#include "tests/dpdk/dpdk_test_env.h"
#include "tests/unit/datapath/net/net_fixture.h"

namespace braid::io::testing {
namespace {

namespace nt = net::test;
using namespace std::chrono_literals;
using net::NetCounter;
using net::NetDrop;
using net::RxOutcome;
using nt::Bytes;
using wire::Ipv4Address;
using wire::Ipv6Address;
using wire::LoadBe16;
using wire::LoadBe32;
using wire::MacAddress;
using wire::StoreBe16;
using wire::StoreBe32;

constexpr uint64_t kDefaultSeed = 4242;
constexpr uint64_t kDefaultFrames = 200000;
constexpr uint16_t kListenPort = 80;
constexpr uint16_t kClosedPort = 81;
constexpr uint16_t kFirstHandshakePort = 50000;  // base SYNs use ports below it
constexpr uint16_t kProbeIdent = 0xb4a1;         // the final echo probes; base echoes stay below
constexpr size_t kMaxBurst = 64;
constexpr size_t kMaxFrame = 9216;  // the largest frame a mutation makes (jumbo, chained mbufs)
constexpr tcp::Duration kBurstInterval = 1ms;

constexpr uint8_t kTcp = 6;
constexpr uint8_t kIcmp = 1;
constexpr uint8_t kIcmpv6 = 58;

const Ipv6Address kOurLinkLocal = nt::V6("fe80::ff:fe00:1");  // derived from kOurMac
const Ipv6Address kPeerLinkLocal = nt::V6("fe80::aa");
const Ipv6Address kAllNodes = nt::V6("ff02::1");

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v, &end, 0);
  return *end == '\0' ? n : fallback;
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  uint64_t Next() { return gen_(); }
  uint32_t Below(uint64_t n) { return n == 0 ? 0 : static_cast<uint32_t>(gen_() % n); }
  bool Percent(uint32_t p) { return Below(100) < p; }
  uint8_t Byte() { return static_cast<uint8_t>(gen_()); }
  template <typename T, size_t N>
  T Pick(const std::array<T, N>& choices) {
    return choices[Below(N)];
  }
  void Fill(std::span<uint8_t> out) {
    for (uint8_t& b : out) b = Byte();
  }

 private:
  std::mt19937_64 gen_;
};

// --- Where the headers of a (possibly malformed) frame are, found leniently ---

struct Layout {
  bool ethernet = false;
  size_t type_at = 0;  // offset of the innermost ethertype
  uint16_t ethertype = 0;
  size_t l3 = 0;
  bool ip = false;  // a whole fixed IPv4 (20) or IPv6 (40) header is there
  bool v6 = false;
  size_t l4 = 0;  // offset of the upper layer; 0 when it could not be located
  uint8_t protocol = 0;
};

Layout Locate(std::span<const uint8_t> f) {
  Layout l;
  if (f.size() < wire::kEthernetHeaderLen) return l;
  l.ethernet = true;
  size_t at = 12;
  for (int tags = 0; tags < 3 && at + 6 <= f.size(); ++tags) {
    const uint16_t t = LoadBe16(&f[at]);
    if (t != wire::kEtherTypeVlan && t != wire::kEtherTypeQinQ) break;
    at += 4;
  }
  l.type_at = at;
  l.ethertype = LoadBe16(&f[at]);
  l.l3 = at + 2;
  const size_t h = l.l3;
  if (l.ethertype == wire::kEtherTypeIpv4 && f.size() >= h + 20) {
    l.ip = true;
    const size_t ihl = size_t{f[h] & 0x0fu} * 4;
    l.protocol = f[h + 9];
    if (ihl >= 20 && h + ihl <= f.size()) l.l4 = h + ihl;
  } else if (l.ethertype == wire::kEtherTypeIpv6 && f.size() >= h + 40) {
    l.ip = true;
    l.v6 = true;
    uint8_t next = f[h + 6];
    size_t off = h + 40;
    for (int i = 0; i < 16 && off != 0; ++i) {
      if (next == 0 || next == 43 || next == 60) {
        if (off + 2 > f.size()) off = 0;
        if (off == 0) break;
        next = f[off];
        off += (size_t{f[off + 1]} + 1) * 8;
      } else if (next == 44) {
        if (off + 8 > f.size()) off = 0;
        if (off == 0) break;
        next = f[off];
        off += 8;
      } else if (next == 51) {
        if (off + 2 > f.size()) off = 0;
        if (off == 0) break;
        next = f[off];
        off += (size_t{f[off + 1]} + 2) * 4;
      } else {
        break;
      }
    }
    if (off != 0 && off <= f.size()) {
      l.l4 = off;
      l.protocol = next;
    }
  }
  return l;
}

// Sets the IPv4 total length / IPv6 payload length to what the frame holds.
void SetIpLengths(Bytes& f) {
  const Layout l = Locate(f);
  if (!l.ip) return;
  const size_t h = l.l3;
  if (l.v6) {
    StoreBe16(&f[h + 4], static_cast<uint16_t>(std::min<size_t>(f.size() - h - 40, 0xffff)));
  } else {
    StoreBe16(&f[h + 2], static_cast<uint16_t>(std::min<size_t>(f.size() - h, 0xffff)));
  }
}

// Recomputes the IPv4 header checksum and the TCP/ICMP/ICMPv6 checksum, where the headers and
// lengths allow it, so that a mutation reaches the layers above the checksums.
void FixChecksums(Bytes& f) {
  const Layout l = Locate(f);
  if (!l.ip) return;
  const size_t h = l.l3;
  size_t end = 0;
  if (l.v6) {
    end = h + 40 + LoadBe16(&f[h + 4]);
  } else {
    const size_t ihl = size_t{f[h] & 0x0fu} * 4;
    if (ihl >= 20 && h + ihl <= f.size()) {
      StoreBe16(&f[h + 10], 0);
      StoreBe16(&f[h + 10], wire::ComputeChecksum({&f[h], ihl}));
    }
    end = h + LoadBe16(&f[h + 2]);
  }
  if (l.l4 == 0 || end > f.size() || end < l.l4) return;
  const std::span<uint8_t> upper(f.data() + l.l4, end - l.l4);
  size_t field = 0;
  if (l.protocol == kTcp && upper.size() >= 18) {
    field = 16;
  } else if ((l.protocol == kIcmp && !l.v6) || (l.protocol == kIcmpv6 && l.v6)) {
    if (upper.size() < 4) return;
    field = 2;
  } else {
    return;
  }
  StoreBe16(upper.data() + field, 0);
  uint16_t sum = 0;
  if (l.v6) {
    sum = wire::Ipv6UpperLayerChecksum(Ipv6Address::FromBytes(&f[h + 8]),
                                       Ipv6Address::FromBytes(&f[h + 24]), l.protocol, upper);
  } else if (l.protocol == kTcp) {
    sum = wire::Ipv4UpperLayerChecksum(Ipv4Address::FromBytes(&f[h + 12]),
                                       Ipv4Address::FromBytes(&f[h + 16]), kTcp, upper);
  } else {
    sum = wire::ComputeChecksum(upper);
  }
  StoreBe16(upper.data() + field, sum);
}

void Put(Bytes& f, size_t at, std::span<const uint8_t> bytes) {
  if (at + bytes.size() <= f.size()) std::copy(bytes.begin(), bytes.end(), f.begin() + at);
}

// Inserts `bytes` at `at` (grows the frame, moves the tail).
void InsertAt(Bytes& f, size_t at, std::span<const uint8_t> bytes) {
  const size_t old = f.size();
  f.resize(old + bytes.size());
  std::move_backward(f.begin() + at, f.begin() + old, f.end());
  std::copy(bytes.begin(), bytes.end(), f.begin() + at);
}

// --- Mutations: generic, and aware of each header's fields ---

class Mutator {
 public:
  explicit Mutator(Rng& rng) : rng_(rng) {}

  void Mutate(Bytes& f) {
    const uint32_t roll = rng_.Below(100);
    const int ops = roll < 60 ? 1 : roll < 85 ? 2 : 3 + static_cast<int>(rng_.Below(3));
    for (int i = 0; i < ops; ++i) MutateOnce(f);
    // Half the time the checksums are made right again, so the mutation reaches the layer above.
    if (rng_.Percent(55)) FixChecksums(f);
  }

 private:
  void MutateOnce(Bytes& f) {
    const Layout l = Locate(f);
    const uint32_t roll = rng_.Below(100);
    if (roll < 28 || !l.ethernet) return Generic(f);
    if (roll < 40) return Link(f);
    if (roll < 68) {
      if (l.ethertype == wire::kEtherTypeIpv4 && l.ip) return Ipv4Field(f, l);
      if (l.ethertype == wire::kEtherTypeIpv6 && l.ip) return Ipv6Field(f, l);
      if (l.ethertype == wire::kEtherTypeArp && f.size() >= l.l3 + 28) return ArpField(f, l);
      return Generic(f);
    }
    if (l.l4 != 0 && l.protocol == kTcp && f.size() >= l.l4 + 20) return TcpField(f, l);
    if (l.l4 != 0 && (l.protocol == kIcmp || l.protocol == kIcmpv6) && f.size() >= l.l4 + 4) {
      return IcmpField(f, l);
    }
    return Generic(f);
  }

  // A position, mostly among the headers.
  size_t Pos(size_t size) {
    return rng_.Percent(75) ? rng_.Below(std::min<size_t>(size, 96)) : rng_.Below(size);
  }
  uint8_t Interesting() {
    static constexpr std::array<uint8_t, 16> kValues = {0x00, 0x01, 0x02, 0x04, 0x05, 0x06,
                                                        0x0f, 0x10, 0x3f, 0x40, 0x45, 0x60,
                                                        0x7f, 0x80, 0xfe, 0xff};
    return rng_.Percent(80) ? rng_.Pick(kValues) : rng_.Byte();
  }
  uint16_t Interesting16(size_t actual) {
    switch (rng_.Below(7)) {
      case 0:
        return 0;
      case 1:
        return static_cast<uint16_t>(actual - 1);
      case 2:
        return static_cast<uint16_t>(actual + 1);
      case 3:
        return static_cast<uint16_t>(actual + 1 + rng_.Below(200));
      case 4:
        return 0xffff;
      case 5:
        return static_cast<uint16_t>(rng_.Below(std::max<size_t>(actual, 1)));
      default:
        return static_cast<uint16_t>(rng_.Next());
    }
  }

  Ipv4Address PickV4() {
    static const std::array<Ipv4Address, 9> kChoices = {
        nt::kOurIp,          nt::kPeerIp,         nt::V4("192.0.2.255"), nt::V4("255.255.255.255"),
        nt::V4("224.0.0.1"), nt::V4("127.0.0.1"), Ipv4Address{},         nt::kGatewayIp,
        nt::kRemoteIp};
    if (rng_.Percent(10)) return Ipv4Address::FromU32(static_cast<uint32_t>(rng_.Next()));
    return rng_.Pick(kChoices);
  }
  Ipv6Address PickV6() {
    static const std::array<Ipv6Address, 11> kChoices = {nt::kOurIp6,
                                                         nt::kPeerIp6,
                                                         kOurLinkLocal,
                                                         kPeerLinkLocal,
                                                         kAllNodes,
                                                         nt::kOurIp6.SolicitedNodeMulticast(),
                                                         nt::kPeerIp6.SolicitedNodeMulticast(),
                                                         Ipv6Address{},
                                                         nt::V6("::1"),
                                                         nt::kRemoteIp6,
                                                         nt::V6("ff05::2")};
    if (rng_.Percent(10)) {
      Ipv6Address a;
      rng_.Fill(a.bytes);
      return a;
    }
    return rng_.Pick(kChoices);
  }
  MacAddress PickMac() {
    static const std::array<MacAddress, 7> kChoices = {
        nt::kOurMac,
        nt::kPeerMac,
        MacAddress::Broadcast(),
        kAllNodes.MulticastMac(),
        nt::kOurIp6.SolicitedNodeMulticast().MulticastMac(),
        nt::Mac("01:00:5e:00:00:01"),
        MacAddress{}};
    if (rng_.Percent(10)) {
      MacAddress m;
      rng_.Fill(m.bytes);
      return m;
    }
    return rng_.Pick(kChoices);
  }

  void Generic(Bytes& f) {
    switch (rng_.Below(6)) {
      case 0: {  // bit flips
        if (f.empty()) f.push_back(0);
        const int n = 1 + static_cast<int>(rng_.Below(4));
        for (int i = 0; i < n; ++i) f[Pos(f.size())] ^= static_cast<uint8_t>(1u << rng_.Below(8));
        break;
      }
      case 1:  // truncation, mostly inside the headers
        if (!f.empty())
          f.resize(rng_.Percent(50) ? rng_.Below(std::min<size_t>(f.size(), 80))
                                    : rng_.Below(f.size()));
        break;
      case 2: {  // extension: trailing bytes (Ethernet padding, garbage), or a jumbo frame
        const size_t old = f.size();
        const size_t add = rng_.Percent(10) && old < kMaxFrame ? rng_.Below(kMaxFrame - old) + 1
                                                               : rng_.Below(64) + 1;
        f.resize(old + add, 0);
        if (rng_.Percent(50)) rng_.Fill({f.data() + old, add});
        break;
      }
      case 3:  // one byte set to a boundary value
        if (!f.empty()) f[Pos(f.size())] = Interesting();
        break;
      case 4: {  // bytes inserted
        std::array<uint8_t, 16> bytes;
        rng_.Fill(bytes);
        InsertAt(f, f.empty() ? 0 : Pos(f.size()),
                 std::span<const uint8_t>(bytes).first(1 + rng_.Below(16)));
        break;
      }
      default: {  // bytes removed
        if (f.empty()) break;
        const size_t at = Pos(f.size());
        const size_t n = std::min<size_t>(1 + rng_.Below(16), f.size() - at);
        f.erase(f.begin() + static_cast<ptrdiff_t>(at), f.begin() + static_cast<ptrdiff_t>(at + n));
        break;
      }
    }
  }

  void Link(Bytes& f) {
    switch (rng_.Below(5)) {
      case 0:
        Put(f, 0, PickMac().bytes);
        break;
      case 1:
        Put(f, 6, PickMac().bytes);
        break;
      case 2: {
        static constexpr std::array<uint16_t, 8> kTypes = {wire::kEtherTypeIpv4,
                                                           wire::kEtherTypeArp,
                                                           wire::kEtherTypeIpv6,
                                                           wire::kEtherTypeVlan,
                                                           wire::kEtherTypeQinQ,
                                                           0x88cc /* LLDP */,
                                                           0x0000,
                                                           0xffff};
        const Layout l = Locate(f);
        StoreBe16(&f[l.type_at],
                  rng_.Percent(85) ? rng_.Pick(kTypes) : static_cast<uint16_t>(rng_.Next()));
        break;
      }
      case 3: {  // an 802.1Q (or 802.1ad) tag: a priority tag (VID 0), another VID, or two tags
        const int tags = rng_.Percent(20) ? 2 : 1;
        for (int i = 0; i < tags; ++i) {
          std::array<uint8_t, 4> tag;
          StoreBe16(&tag[0], rng_.Percent(20) ? wire::kEtherTypeQinQ : wire::kEtherTypeVlan);
          const uint16_t vid = rng_.Percent(50) ? 0 : static_cast<uint16_t>(rng_.Below(4096));
          StoreBe16(&tag[2], static_cast<uint16_t>((rng_.Below(8) << 13) | vid));
          InsertAt(f, 12, tag);
        }
        break;
      }
      default: {  // a tag removed
        const uint16_t t = LoadBe16(&f[12]);
        if ((t == wire::kEtherTypeVlan || t == wire::kEtherTypeQinQ) && f.size() >= 18) {
          f.erase(f.begin() + 12, f.begin() + 16);
        } else {
          f[Pos(f.size())] ^= 0x01;
        }
        break;
      }
    }
  }

  void Ipv4Field(Bytes& f, const Layout& l) {
    const size_t h = l.l3;
    switch (rng_.Below(9)) {
      case 0:  // version
        f[h] = static_cast<uint8_t>((rng_.Below(16) << 4) | (f[h] & 0x0f));
        break;
      case 1:  // IHL alone
        f[h] = static_cast<uint8_t>((f[h] & 0xf0) | rng_.Below(16));
        break;
      case 2:
        InsertIpv4Options(f, l);
        break;
      case 3:
        StoreBe16(&f[h + 2], Interesting16(f.size() - h));
        break;
      case 4: {  // fragments: MF, an offset, both; DF cleared; the reserved bit
        static constexpr std::array<uint16_t, 6> kFlags = {0x2000, 0x0001, 0x2000 | 0x00b9,
                                                           0x0000, 0x8000, 0x6000};
        uint16_t v = rng_.Pick(kFlags);
        if (rng_.Percent(30)) v = static_cast<uint16_t>(v | rng_.Below(0x2000));
        StoreBe16(&f[h + 6], v);
        break;
      }
      case 5: {
        static constexpr std::array<uint8_t, 4> kTtls = {0, 1, 64, 255};
        f[h + 8] = rng_.Pick(kTtls);
        break;
      }
      case 6: {
        static constexpr std::array<uint8_t, 11> kProtocols = {0,  1,  2,  4,   6,  17,
                                                               41, 47, 58, 132, 255};
        f[h + 9] = rng_.Percent(85) ? rng_.Pick(kProtocols) : rng_.Byte();
        break;
      }
      case 7:
        Put(f, h + 12, PickV4().bytes);
        break;
      default:
        Put(f, h + 16, PickV4().bytes);
        break;
    }
  }

  // IPv4 options (RFC 791 §3.1): NOP, EOL, record route, timestamp, security, and unknown ones,
  // with lengths that fit, overrun, or are 0/1.
  void InsertIpv4Options(Bytes& f, const Layout& l) {
    const size_t h = l.l3;
    const size_t words = 1 + rng_.Below(10);
    std::vector<uint8_t> o(words * 4, 0);
    size_t p = 0;
    while (p < o.size()) {
      const size_t left = o.size() - p;
      switch (rng_.Below(6)) {
        case 0:
          o[p++] = 1;  // NOP
          break;
        case 1:
          o[p++] = 0;  // EOL
          break;
        default: {
          static constexpr std::array<uint8_t, 5> kTypes = {7, 68, 130, 131, 137};
          o[p] = rng_.Percent(70) ? rng_.Pick(kTypes) : rng_.Byte();
          if (left < 2) {
            ++p;
            break;
          }
          static constexpr std::array<uint8_t, 4> kBad = {0, 1, 2, 255};
          const uint8_t len =
              rng_.Percent(70) ? static_cast<uint8_t>(2 + rng_.Below(left - 1)) : rng_.Pick(kBad);
          o[p + 1] = len;
          const size_t body = std::min<size_t>(len < 2 ? 0 : len - 2, left - 2);
          rng_.Fill({o.data() + p + 2, body});
          if (body > 0 && rng_.Percent(50)) o[p + 2] = 4;  // a plausible pointer
          p += 2 + body;
          break;
        }
      }
    }
    const size_t ihl = size_t{f[h] & 0x0fu} * 4;
    const size_t at = ihl >= 20 && h + ihl <= f.size() ? h + ihl : h + 20;
    InsertAt(f, at, o);
    f[h] = static_cast<uint8_t>((f[h] & 0xf0) | (((ihl / 4) + words) & 0x0f));
    if (rng_.Percent(80)) SetIpLengths(f);
  }

  void Ipv6Field(Bytes& f, const Layout& l) {
    const size_t h = l.l3;
    switch (rng_.Below(8)) {
      case 0:  // version
        f[h] = static_cast<uint8_t>((rng_.Below(16) << 4) | (f[h] & 0x0f));
        break;
      case 1:  // traffic class and flow label
        rng_.Fill({f.data() + h + 1, 3});
        f[h] = static_cast<uint8_t>(0x60 | (f[h] & 0x0f));
        break;
      case 2:
        StoreBe16(&f[h + 4], Interesting16(f.size() - h - 40));
        break;
      case 3: {
        static constexpr std::array<uint8_t, 13> kNext = {0,  6,  17, 43,  44,  50, 51,
                                                          58, 59, 60, 135, 253, 255};
        f[h + 6] = rng_.Percent(85) ? rng_.Pick(kNext) : rng_.Byte();
        break;
      }
      case 4: {
        static constexpr std::array<uint8_t, 5> kHops = {0, 1, 64, 254, 255};
        f[h + 7] = rng_.Pick(kHops);
        break;
      }
      case 5:
        InsertExtensionChain(f, l);
        break;
      case 6:
        Put(f, h + 8, PickV6().bytes);
        break;
      default:
        Put(f, h + 24, PickV6().bytes);
        break;
    }
  }

  // Options for a hop-by-hop or destination options header (RFC 8200 §4.2): Pad1, PadN, router
  // alert, jumbo payload, and unknown options of each action class, lengths right or overrunning.
  void FillTlvOptions(std::span<uint8_t> area) {
    size_t p = 0;
    while (p < area.size()) {
      const size_t left = area.size() - p;
      const uint32_t kind = rng_.Below(6);
      if (kind == 0 || left < 2) {
        area[p++] = 0;  // Pad1
        continue;
      }
      static constexpr std::array<uint8_t, 7> kTypes = {1, 5, 0xc2, 0x1e, 0x5e, 0x9e, 0xde};
      area[p] = rng_.Percent(80) ? rng_.Pick(kTypes) : rng_.Byte();
      const uint8_t len = rng_.Percent(80) ? static_cast<uint8_t>(rng_.Below(left - 1))
                                           : static_cast<uint8_t>(left - 1 + rng_.Below(8));
      area[p + 1] = len;
      const size_t body = std::min<size_t>(len, left - 2);
      rng_.Fill(area.subspan(p + 2, body));
      p += 2 + body;
    }
  }

  // A chain of extension headers (RFC 8200 §4) right after the IPv6 header: hop-by-hop (first,
  // or misplaced), routing, fragment (atomic, first, later), destination options, AH, no next
  // header; lengths mostly consistent, sometimes claiming more than is there.
  void InsertExtensionChain(Bytes& f, const Layout& l) {
    const size_t h = l.l3;
    const int n = 1 + static_cast<int>(rng_.Percent(80) ? rng_.Below(3) : rng_.Below(12));
    std::vector<uint8_t> chain;
    std::vector<size_t> next_at;
    std::vector<uint8_t> types;
    for (int i = 0; i < n; ++i) {
      static constexpr std::array<uint8_t, 6> kTypes = {0, 43, 44, 60, 51, 59};
      uint8_t type = rng_.Pick(kTypes);
      if (i == 0 && rng_.Percent(30)) type = 0;
      const size_t start = chain.size();
      switch (type) {
        case 0:
        case 60: {
          const uint8_t units =
              rng_.Percent(90) ? static_cast<uint8_t>(rng_.Below(3)) : rng_.Byte();
          const size_t len = std::min<size_t>((size_t{units} + 1) * 8, 64);
          chain.resize(start + len, 0);
          chain[start + 1] = units;
          FillTlvOptions({chain.data() + start + 2, len - 2});
          break;
        }
        case 43: {
          const uint8_t units =
              rng_.Percent(90) ? static_cast<uint8_t>(rng_.Below(3)) : rng_.Byte();
          const size_t len = std::min<size_t>((size_t{units} + 1) * 8, 64);
          chain.resize(start + len, 0);
          chain[start + 1] = units;
          static constexpr std::array<uint8_t, 5> kRouting = {0, 2, 3, 4, 253};
          chain[start + 2] = rng_.Pick(kRouting);
          chain[start + 3] = rng_.Percent(50) ? 0 : rng_.Byte();  // segments left
          rng_.Fill({chain.data() + start + 4, len - 4});
          break;
        }
        case 44: {
          chain.resize(start + 8, 0);
          static constexpr std::array<uint16_t, 4> kFrag = {0x0000, 0x0001, 0x0008, 0x0009};
          uint16_t v = rng_.Pick(kFrag);
          if (rng_.Percent(30)) v = static_cast<uint16_t>(rng_.Next() & 0xfff9);
          StoreBe16(&chain[start + 2], v);
          StoreBe32(&chain[start + 4], static_cast<uint32_t>(rng_.Next()));
          break;
        }
        case 51: {
          const uint8_t units = static_cast<uint8_t>(1 + rng_.Below(6));
          chain.resize(start + (size_t{units} + 2) * 4, 0);
          chain[start + 1] = units;
          rng_.Fill({chain.data() + start + 4, chain.size() - start - 4});
          break;
        }
        default:  // 59: no next header; what follows is not looked at
          break;
      }
      if (type == 59) {
        types.push_back(type);
        break;
      }
      types.push_back(type);
      next_at.push_back(start);
    }
    // Link: IPv6 header -> types[0] -> ... -> the original upper layer.
    const uint8_t original = f[h + 6];
    f[h + 6] = types[0];
    for (size_t i = 0; i < next_at.size(); ++i) {
      chain[next_at[i]] = i + 1 < types.size() ? types[i + 1] : original;
    }
    InsertAt(f, h + 40, chain);
    if (rng_.Percent(80)) SetIpLengths(f);
  }

  void ArpField(Bytes& f, const Layout& l) {
    const size_t a = l.l3;
    switch (rng_.Below(6)) {
      case 0: {
        static constexpr std::array<uint16_t, 4> kHtypes = {0, 1, 6, 0xffff};
        StoreBe16(&f[a], rng_.Pick(kHtypes));
        break;
      }
      case 1: {
        static constexpr std::array<uint16_t, 4> kPtypes = {0x0800, 0x86dd, 0, 0x0806};
        StoreBe16(&f[a + 2], rng_.Pick(kPtypes));
        break;
      }
      case 2: {
        static constexpr std::array<uint8_t, 5> kLens = {0, 4, 6, 16, 255};
        f[a + (rng_.Percent(50) ? 4 : 5)] = rng_.Pick(kLens);
        break;
      }
      case 3: {
        static constexpr std::array<uint16_t, 7> kOps = {0, 1, 2, 3, 4, 8, 0xffff};
        StoreBe16(&f[a + 6], rng_.Pick(kOps));
        break;
      }
      case 4:
        if (rng_.Percent(70)) {
          Put(f, a + 14, PickV4().bytes);
        } else {
          Put(f, a + 8, PickMac().bytes);
        }
        break;
      default:
        if (rng_.Percent(70)) {
          Put(f, a + 24, PickV4().bytes);
        } else {
          Put(f, a + 18, PickMac().bytes);
        }
        break;
    }
  }

  // A TCP option list (RFC 9293 §3.2, RFC 7323, RFC 2018, RFC 8684), each option well formed or
  // with a wrong length, at most 40 bytes, usually padded to a multiple of 4.
  std::vector<uint8_t> TcpOptionBytes() {
    std::vector<uint8_t> o;
    const int count = 1 + static_cast<int>(rng_.Below(6));
    for (int i = 0; i < count && o.size() < 40; ++i) {
      const bool bad = rng_.Percent(25);
      auto add = [&](uint8_t kind, uint8_t good_len) {
        const uint8_t len = bad ? static_cast<uint8_t>(rng_.Below(good_len + 4)) : good_len;
        o.push_back(kind);
        o.push_back(len);
        for (int b = 2; b < std::max<int>(len, 2); ++b) o.push_back(rng_.Byte());
      };
      switch (rng_.Below(11)) {
        case 0:
          add(2, 4);  // MSS
          break;
        case 1:
          o.insert(o.end(), {3, bad ? uint8_t{2} : uint8_t{3},
                             static_cast<uint8_t>(rng_.Percent(50) ? rng_.Below(16) : 255)});
          break;
        case 2:
          add(4, 2);  // SACK permitted
          break;
        case 3:
          add(5, static_cast<uint8_t>(2 + 8 * (1 + rng_.Below(4))));  // SACK blocks
          break;
        case 4:
          add(8, 10);  // timestamps
          break;
        case 5:
          add(30, static_cast<uint8_t>(4 + rng_.Below(20)));  // MPTCP, any subtype
          break;
        case 6:
          add(19, 18);  // MD5 signature
          break;
        case 7:
          add(34, static_cast<uint8_t>(2 + rng_.Below(17)));  // fast open cookie
          break;
        case 8:
          o.push_back(0);  // EOL
          break;
        case 9:
          o.push_back(1);  // NOP
          break;
        default:
          add(static_cast<uint8_t>(9 + rng_.Below(247)), static_cast<uint8_t>(rng_.Below(12)));
          break;
      }
    }
    if (o.size() > 40) o.resize(40);
    if (rng_.Percent(85)) {
      while (o.size() % 4 != 0) o.push_back(1);
    }
    return o;
  }

  void TcpField(Bytes& f, const Layout& l) {
    const size_t t = l.l4;
    switch (rng_.Below(8)) {
      case 0:  // data offset
        f[t + 12] = static_cast<uint8_t>((rng_.Below(16) << 4) | (f[t + 12] & 0x0f));
        break;
      case 1: {
        static constexpr std::array<uint8_t, 11> kFlags = {0x00, 0x03, 0x06, 0x02, 0x04, 0x14,
                                                           0x11, 0x12, 0x30, 0x10, 0xff};
        f[t + 13] = rng_.Percent(70) ? rng_.Pick(kFlags) : rng_.Byte();
        if (rng_.Percent(20)) f[t + 12] = static_cast<uint8_t>((f[t + 12] & 0xf0) | rng_.Below(16));
        break;
      }
      case 2: {
        static constexpr std::array<uint16_t, 5> kPorts = {0, kListenPort, kClosedPort, 65535,
                                                           kFirstHandshakePort};
        const uint16_t port =
            rng_.Percent(70) ? rng_.Pick(kPorts) : static_cast<uint16_t>(rng_.Next());
        StoreBe16(&f[t + (rng_.Percent(50) ? 0 : 2)], port);
        break;
      }
      case 3: {  // sequence or acknowledgment number, near the right one or anywhere
        static constexpr std::array<uint32_t, 8> kDeltas = {
            1, 0xffffffff, 1000, 0xfffffc18, 65535, 0x80000000, 0x7fffffff, 0x40000000};
        const size_t at = t + (rng_.Percent(50) ? 4 : 8);
        const uint32_t v = rng_.Percent(80) ? LoadBe32(&f[at]) + rng_.Pick(kDeltas)
                                            : static_cast<uint32_t>(rng_.Next());
        StoreBe32(&f[at], v);
        break;
      }
      case 4:  // window, urgent pointer
        if (rng_.Percent(50)) {
          static constexpr std::array<uint16_t, 4> kWindows = {0, 1, 512, 0xffff};
          StoreBe16(&f[t + 14], rng_.Pick(kWindows));
        } else {
          StoreBe16(&f[t + 18], static_cast<uint16_t>(rng_.Next()));
          if (rng_.Percent(50)) f[t + 13] |= 0x20;
        }
        break;
      case 5: {  // a new option list
        const size_t doff = (size_t{f[t + 12]} >> 4) * 4;
        const size_t old = doff > 20 && t + doff <= f.size() ? doff - 20 : 0;
        f.erase(f.begin() + static_cast<ptrdiff_t>(t + 20),
                f.begin() + static_cast<ptrdiff_t>(t + 20 + old));
        const std::vector<uint8_t> o = TcpOptionBytes();
        InsertAt(f, t + 20, o);
        const size_t words = std::min<size_t>(5 + (o.size() + 3) / 4, 15);
        f[t + 12] = static_cast<uint8_t>((words << 4) | (f[t + 12] & 0x0f));
        if (rng_.Percent(85)) SetIpLengths(f);
        break;
      }
      case 6: {  // one byte of the option list (kinds, lengths)
        const size_t doff = (size_t{f[t + 12]} >> 4) * 4;
        if (doff > 20 && t + doff <= f.size()) {
          f[t + 20 + rng_.Below(doff - 20)] = Interesting();
        } else {
          f[t + 12] = static_cast<uint8_t>(0x60 | (f[t + 12] & 0x0f));  // claims 4 option bytes
        }
        break;
      }
      default: {  // payload: changed, or more of it
        const size_t doff = (size_t{f[t + 12]} >> 4) * 4;
        if (t + doff < f.size() && rng_.Percent(60)) {
          const size_t len = f.size() - t - doff;
          for (int i = 0; i < 4; ++i) f[t + doff + rng_.Below(len)] = rng_.Byte();
        } else {
          const size_t old = f.size();
          f.resize(old + 1 + rng_.Below(1400), 0);
          rng_.Fill({f.data() + old, f.size() - old});
          if (rng_.Percent(85)) SetIpLengths(f);
        }
        break;
      }
    }
  }

  void IcmpField(Bytes& f, const Layout& l) {
    const size_t c = l.l4;
    switch (rng_.Below(4)) {
      case 0:
        if (l.v6) {
          static constexpr std::array<uint8_t, 14> kTypes = {1,   2,   3,   4,   128, 129, 130,
                                                             133, 134, 135, 136, 137, 143, 255};
          f[c] = rng_.Pick(kTypes);
        } else {
          static constexpr std::array<uint8_t, 11> kTypes = {0,  3,  4,  5,  8,  11,
                                                             12, 13, 14, 17, 255};
          f[c] = rng_.Pick(kTypes);
        }
        break;
      case 1:
        f[c + 1] = rng_.Percent(70) ? static_cast<uint8_t>(rng_.Below(6)) : rng_.Byte();
        break;
      case 2: {  // the body: echo identifier and sequence, a quoted packet, ND fields
        if (c + 4 >= f.size()) break;
        const size_t len = f.size() - c - 4;
        const int n = 1 + static_cast<int>(rng_.Below(4));
        for (int i = 0; i < n; ++i) {
          const size_t at =
              c + 4 + (rng_.Percent(70) ? rng_.Below(std::min<size_t>(len, 48)) : rng_.Below(len));
          f[at] = rng_.Percent(50) ? Interesting() : rng_.Byte();
        }
        break;
      }
      default: {  // ND options (RFC 4861 §4.6): zero length, unknown type, duplicates, overruns
        if (!l.v6 || f.size() < c + 24) {
          f[c + 1] ^= 0x01;
          break;
        }
        const size_t opts = c + 24;
        if (opts + 2 <= f.size() && rng_.Percent(40)) {
          f[opts + (rng_.Percent(50) ? 1 : 0)] = Interesting();
        } else {
          std::array<uint8_t, 8> o;
          rng_.Fill(o);
          static constexpr std::array<uint8_t, 5> kTypes = {1, 2, 5, 14, 3};
          o[0] = rng_.Pick(kTypes);
          static constexpr std::array<uint8_t, 4> kLens = {0, 1, 2, 255};
          o[1] = rng_.Percent(60) ? 1 : rng_.Pick(kLens);
          if (o[0] <= 2 && rng_.Percent(50))
            std::copy(nt::kPeerMac.bytes.begin(), nt::kPeerMac.bytes.end(), o.begin() + 2);
          InsertAt(f, std::min(f.size(), opts), o);
          if (rng_.Percent(85)) SetIpLengths(f);
        }
        break;
      }
    }
  }

  Rng& rng_;
};

// --- The replay ---

Bytes ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The peer's side of a connection the test set up with a handshake and keeps feeding.
struct PeerConnection {
  tcp::ConnectionId id;
  bool v6 = false;
  uint16_t port = 0;        // the peer's port
  uint32_t tsval = 0;       // the peer's timestamp clock
  uint32_t last_tsecr = 0;  // the stack's latest TSval, echoed back
};

struct SynAck {
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint32_t tsval = 0;
};

class Replay {
 public:
  explicit Replay(uint64_t seed) : rng_(seed), mutator_(rng_), seed_(seed) {}

  // The ring port, the pool, the stack and the TCP engine; false (with a failure) when the port
  // cannot be made.
  bool SetUp() {
    MempoolConfig pc;
    pc.name = UniqueName("braid_rp");
    pc.mbufs = 4095;
    pc.cache_size = 64;
    pc.socket = LcoreSocket(0);
    auto pool = Mempool::Create(pc);
    if (!pool.ok()) {
      ADD_FAILURE() << pool.status();
      return false;
    }
    pool_ = *std::move(pool);
    auto spec = ParsePortSpec(UniqueName("net_ring"));
    if (!spec.ok()) {
      ADD_FAILURE() << spec.status();
      return false;
    }
    PortConfig config;
    config.spec = *spec;
    config.rx_desc = 256;
    config.tx_desc = 256;
    std::array<rte_mempool*, 1> pools = {pool_.get()};
    auto port = Port::Open(config, pools);
    if (!port.ok()) {
      ADD_FAILURE() << port.status();
      return false;
    }
    port_ = *std::move(port);
    // The ring net_ring made for queue pair 0 (its name is the PMD's: ETH_RXTX<queue>_<device>).
    ring_ = rte_ring_lookup(("ETH_RXTX0_" + port_->name()).c_str());
    if (ring_ == nullptr) {
      ADD_FAILURE() << "no ring ETH_RXTX0_" << port_->name();
      return false;
    }
    rxq_ = port_->rx_queue(0);
    txq_ = std::make_unique<TxQueue>(
        TxQueueConfig{port_->id(), 0, pool_.get(), port_->offloads(), 32});

    net::NetStackConfig nc = nt::TestConfig();
    stack_ = std::make_unique<net::NetStack>(nc, *txq_);
    tcp::NativeTcpBackendConfig bc;
    bc.secret = {0x1111, 0x2222};
    bc.max_connections = 4096;
    bc.max_time_wait = 1024;
    bc.max_listeners = 4;
    backend_ = std::make_unique<tcp::NativeTcpBackend>(bc, *stack_);
    stack_->AttachTcp(backend_.get());
    net::InterfaceConfig ic = nt::Path0Config();
    ic.port = port_->id();
    net::InterfaceId id = 0;
    EXPECT_EQ(stack_->AddInterface(ic, &id), net::NetError::kOk);
    Outside([&] { EXPECT_EQ(stack_->SetInterfaceUp(id, true, now_), net::NetError::kOk); });
    EXPECT_EQ(backend_->Listen(nullptr, kListenPort, tcp::TcpConfig{}, nullptr, &listener_),
              tcp::TcpError::kOk);
    Service();
    return !::testing::Test::HasFailure();
  }

  // Every corpus seed that is a frame, an IP packet or a message a frame can carry.
  void ReplayCorpora() {
    const std::filesystem::path root =
        std::filesystem::path(BRAID_SOURCE_DIR) / "tests/fuzz/corpus";
    for (const char* target :
         {"frame", "net_rx", "arp", "ipv4", "ipv6", "icmpv4", "icmpv6", "tcp"}) {
      std::vector<std::filesystem::path> files;
      for (const auto& e : std::filesystem::directory_iterator(root / target)) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
      std::sort(files.begin(), files.end());  // a fixed order: the run depends on the seed only
      EXPECT_FALSE(files.empty()) << "no seeds in " << (root / target);
      for (const auto& path : files) {
        for (Bytes& f : CorpusFrames(target, ReadFile(path))) corpus_.push_back(std::move(f));
      }
      corpus_files_ += files.size();
    }
    for (size_t i = 0; i < corpus_.size(); i += 32) {
      const size_t n = std::min<size_t>(32, corpus_.size() - i);
      RunBurst(std::span<const Bytes>(corpus_).subspan(i, n));
    }
    corpus_injected_ = corpus_.size();
  }

  // `count` mutated frames in bursts of 1..kMaxBurst.
  void ReplayMutations(uint64_t count) {
    std::vector<Bytes> burst;
    while (mutated_ < count) {
      EnsureConnections();
      const size_t n = std::min<uint64_t>(1 + rng_.Below(kMaxBurst), count - mutated_);
      burst.clear();
      for (size_t i = 0; i < n; ++i) {
        Bytes f = BaseFrame();
        // A few go in valid: they move the connections on and keep the neighbour entries fresh.
        if (!rng_.Percent(8)) mutator_.Mutate(f);
        burst.push_back(std::move(f));
      }
      RunBurst(burst);
      mutated_ += n;
    }
  }

  // The stack still works: after a pause (timers run, the echo bucket refills), a fresh handshake
  // on each family gets its SYN-ACK and completes, and an echo request on each gets its reply.
  void CheckStillWorks() {
    for (int i = 0; i < 20; ++i) {
      now_ += 100ms;
      Service();
    }
    for (bool v6 : {false, true}) {
      const std::optional<PeerConnection> c = Handshake(v6, next_port_++);
      EXPECT_TRUE(c.has_value()) << "no completed handshake after the replay (IPv" << (v6 ? 6 : 4)
                                 << ")";
      echo_reply_ = false;
      const std::array<uint8_t, 8> data = {'b', 'r', 'a', 'i', 'd', 'r', 'p', '!'};
      RunBurst(std::vector<Bytes>{v6 ? Echo6(kProbeIdent, 7, data) : Echo4(kProbeIdent, 7, data)});
      EXPECT_TRUE(echo_reply_) << "no echo reply after the replay (IPv" << (v6 ? 6 : 4) << ")";
    }
  }

  void CheckAccounting() {
    const net::NetCounters& c = stack_->counters();
    EXPECT_EQ(failures_, 0u) << "frames whose accounting failed (the first ones are above)";
    EXPECT_EQ(tx_bad_, 0u) << "frames the stack sent that do not parse (the first ones are above)";
    EXPECT_EQ(delivered_ + consumed_ + dropped_, injected_);
    EXPECT_EQ(rxq_.counters()[IoCounter::kRxFrames], injected_);
    EXPECT_EQ(c[NetCounter::kRxFrames], injected_);
    EXPECT_EQ(c[NetCounter::kRxDelivered], delivered_);
    EXPECT_EQ(c[NetCounter::kRxConsumed], consumed_);
    EXPECT_EQ(c[NetCounter::kRxDropped], dropped_);
    uint64_t rx_sum = 0;
    uint64_t tx_sum = 0;
    for (size_t r = 0; r < net::kNetDropCount; ++r) {
      EXPECT_EQ(rx_drops_[r] + tx_drops_[r], c.drops[r]) << net::NetDropName(NetDrop(r));
      rx_sum += rx_drops_[r];
      tx_sum += tx_drops_[r];
    }
    EXPECT_EQ(rx_sum, dropped_);
    EXPECT_EQ(tx_sum, c[NetCounter::kTxDropped]);

    // The TCP engine: every delivered segment reached it once; what it announced is what the app
    // saw; every live connection is an accepted one not yet closed or a half-open one.
    const tcp::BackendCounters& b = backend_->counters();
    using tcp::BackendCounter;
    EXPECT_EQ(b[BackendCounter::kSegmentsIn], delivered_);
    EXPECT_EQ(b[BackendCounter::kConnectionsOpened], 0u);
    EXPECT_EQ(b[BackendCounter::kConnectionsAccepted], events_[tcp::TcpEvent::Kind::kAccepted]);
    EXPECT_EQ(events_[tcp::TcpEvent::Kind::kEstablished], events_[tcp::TcpEvent::Kind::kAccepted]);
    EXPECT_EQ(b[BackendCounter::kConnectionsClosed], events_[tcp::TcpEvent::Kind::kClosed]);
    const tcp::TcpListener* l = backend_->listener(listener_);
    ASSERT_NE(l, nullptr);
    EXPECT_EQ(l->accept_queue(), 0u) << "every accepted connection was drained";
    EXPECT_LE(l->half_open(), l->config().syn_backlog);
    EXPECT_EQ(backend_->connection_count(), app_.size() + l->half_open());
    EXPECT_EQ(app_.size(),
              b[BackendCounter::kConnectionsAccepted] - b[BackendCounter::kConnectionsClosed]);
    const tcp::ListenerCounters& lc = l->counters();
    using tcp::ListenerCounter;
    EXPECT_LE(lc[ListenerCounter::kSynsReceived], b[BackendCounter::kSegmentsIn]);
    EXPECT_LE(b[BackendCounter::kConnectionsAccepted],
              lc[ListenerCounter::kHalfOpenCreated] + lc[ListenerCounter::kCookiesValidated]);
    EXPECT_LE(b[BackendCounter::kHalfOpenFailed], lc[ListenerCounter::kHalfOpenCreated]);
    EXPECT_GT(b[BackendCounter::kConnectionsAccepted], 0u);
    EXPECT_GT(lc[ListenerCounter::kSynsReceived], 0u);
    for (const auto& [key, app] : app_) {
      const std::optional<tcp::TcpInfo> info = backend_->Info(app.id);
      ASSERT_TRUE(info.has_value());
      EXPECT_EQ(info->counters[tcp::TcpCounter::kBytesReceived], app.read + info->receive_queue);
      EXPECT_EQ(info->counters[tcp::TcpCounter::kBytesAcked] + info->send_queue, app.sent);
    }
  }

  void Print(double seconds) const {
    const net::NetCounters& c = stack_->counters();
    std::printf("malformed replay results (seed %llu):\n", U(seed_));
    std::printf(
        "  injected %llu frames in %llu bursts (%llu corpus frames from %llu seeds, %llu mutated "
        "or valid, %llu handshake/probe), %llu chained, %llu with RX offload flags, %.2f s (%.0f "
        "frames/s)\n",
        U(injected_), U(bursts_), U(corpus_injected_), U(corpus_files_), U(mutated_),
        U(injected_ - corpus_injected_ - mutated_), U(chained_), U(offload_claims_), seconds,
        static_cast<double>(injected_) / seconds);
    std::printf("  delivered %llu, consumed %llu, dropped %llu (sum %llu)\n", U(delivered_),
                U(consumed_), U(dropped_), U(delivered_ + consumed_ + dropped_));
    std::printf("  %-28s %10s %10s\n", "drop reason", "receive", "send");
    for (size_t r = 0; r < net::kNetDropCount; ++r) {
      if (c.drops[r] == 0) continue;
      std::printf("  %-28s %10llu %10llu\n", std::string(net::NetDropName(NetDrop(r))).c_str(),
                  U(rx_drops_[r]), U(tx_drops_[r]));
    }
    std::printf(
        "  stack sent %llu frames: %llu ARP, %llu TCP (%llu SYN-ACK, %llu RST), %llu ICMP\n",
        U(tx_frames_), U(tx_arp_), U(tx_tcp_), U(tx_synack_), U(tx_rst_), U(tx_icmp_));
    const tcp::BackendCounters& b = backend_->counters();
    std::printf(
        "  TCP: segments_in %llu, accepted %llu, closed %llu, live %zu, half_open_failed "
        "%llu, no_listener_resets %llu, listener_drops %llu, handshakes by the test %llu, "
        "app read %llu bytes and sent %llu, ICMP events %llu\n",
        U(b[tcp::BackendCounter::kSegmentsIn]), U(b[tcp::BackendCounter::kConnectionsAccepted]),
        U(b[tcp::BackendCounter::kConnectionsClosed]), backend_->connection_count(),
        U(b[tcp::BackendCounter::kHalfOpenFailed]), U(b[tcp::BackendCounter::kNoListenerResets]),
        U(b[tcp::BackendCounter::kListenerDrops]), U(handshakes_), U(app_read_), U(app_sent_),
        U(icmp_events_));
    std::fflush(stdout);
  }

  // Tears everything down; every mbuf must be back in the pool.
  void TearDownAndCheckPool() {
    backend_.reset();  // may still send (through the stack, into the TxQueue)
    txq_->Flush();
    DrainTx();
    // Every frame the stack handed over went out (and the test saw it) or was counted dropped.
    const IoCounters& io = txq_->counters();
    EXPECT_EQ(stack_->counters()[NetCounter::kTxFrames],
              io[IoCounter::kTxFrames] + io.total_dropped());
    EXPECT_EQ(tx_frames_, io[IoCounter::kTxFrames]);
    txq_dropped_ = io.total_dropped();
    stack_.reset();
    txq_.reset();
    EXPECT_EQ(rte_ring_count(ring_), 0u);
    ring_ = nullptr;
    EXPECT_TRUE(port_->Close().ok());  // detaches the device, frees its ring
    port_.reset();
    EXPECT_EQ(pool_.available(), pool_.capacity()) << "an mbuf leaked";
  }

  uint64_t injected() const { return injected_; }

  // Sets up the connections the data segments go to; once before the replay, the test requires it.
  bool Connect() {
    EnsureConnections();
    return conn4_.has_value() && conn6_.has_value();
  }

 private:
  static unsigned long long U(uint64_t v) { return static_cast<unsigned long long>(v); }

  // --- Valid frames addressed to the stack ---

  static Bytes ArpRequest() {
    return nt::Eth(
        MacAddress::Broadcast(), nt::kPeerMac, wire::kEtherTypeArp,
        nt::Arp(wire::ArpOperation::kRequest, nt::kPeerMac, nt::kPeerIp, MacAddress{}, nt::kOurIp));
  }
  static Bytes Echo4(uint16_t ident, uint16_t seq, std::span<const uint8_t> data) {
    wire::Icmpv4Repr icmp;
    icmp.type = wire::Icmpv4Type::kEchoRequest;
    icmp.echo_ident = ident;
    icmp.echo_seq = seq;
    icmp.data = data;
    return nt::Eth(nt::kOurMac, nt::kPeerMac, wire::kEtherTypeIpv4,
                   nt::Ip4(nt::kPeerIp, nt::kOurIp, wire::IpProtocol::kIcmp, nt::Icmp4(icmp)));
  }
  static Bytes Echo6(uint16_t ident, uint16_t seq, std::span<const uint8_t> data) {
    wire::Icmpv6Repr icmp;
    icmp.type = wire::Icmpv6Type::kEchoRequest;
    icmp.echo_ident = ident;
    icmp.echo_seq = seq;
    icmp.data = data;
    return nt::Eth(nt::kOurMac, nt::kPeerMac, wire::kEtherTypeIpv6,
                   nt::Ip6(nt::kPeerIp6, nt::kOurIp6, wire::IpProtocol::kIcmpv6,
                           nt::Icmp6(icmp, nt::kPeerIp6, nt::kOurIp6)));
  }
  static Bytes Solicitation() {
    wire::Icmpv6Repr ns;
    ns.type = wire::Icmpv6Type::kNeighborSolicitation;
    ns.target = nt::kOurIp6;
    ns.source_link_address = nt::kPeerMac;
    const Ipv6Address group = nt::kOurIp6.SolicitedNodeMulticast();
    return nt::Eth(group.MulticastMac(), nt::kPeerMac, wire::kEtherTypeIpv6,
                   nt::Ip6(nt::kPeerIp6, group, wire::IpProtocol::kIcmpv6,
                           nt::Icmp6(ns, nt::kPeerIp6, group), 255));
  }
  static Bytes Segment(bool v6, const nt::TcpSpec& s) {
    return v6 ? nt::TcpFrame6(nt::kPeerIp6, nt::kOurIp6, s)
              : nt::TcpFrame4(nt::kPeerIp, nt::kOurIp, s);
  }
  static nt::TcpSpec SynSpec(uint16_t src_port, uint16_t dst_port, uint32_t isn, uint32_t tsval) {
    nt::TcpSpec s;
    s.src_port = src_port;
    s.dst_port = dst_port;
    s.seq = isn;
    s.flags = wire::TcpFlag::kSyn;
    s.options.mss = 1460;
    s.options.window_scale = 7;
    s.options.sack_permitted = true;
    s.options.timestamps = wire::TcpTimestamps{tsval, 0};
    return s;
  }

  // A data segment (or a pure ACK) the connection expects next; nullopt when it is not
  // established any more.
  std::optional<Bytes> Data(PeerConnection& c) {
    const std::optional<tcp::TcpInfo> info = backend_->Info(c.id);
    if (!info || info->state != tcp::TcpState::kEstablished) return std::nullopt;
    nt::TcpSpec s;
    s.src_port = c.port;
    s.dst_port = kListenPort;
    s.seq = info->rcv_nxt.raw();
    s.ack = info->snd_nxt.raw();
    s.flags = wire::TcpFlags(wire::TcpFlag::kAck) | wire::TcpFlag::kPsh;
    s.options.timestamps = wire::TcpTimestamps{++c.tsval, c.last_tsecr};
    s.payload.resize(rng_.Percent(20) ? 0 : 1 + rng_.Below(1200));
    rng_.Fill(s.payload);
    return Segment(c.v6, s);
  }

  // An ICMP error from the gateway quoting one of our segments on `c`: fragmentation needed
  // (RFC 1191) or packet too big (RFC 8201).
  std::optional<Bytes> IcmpError(const PeerConnection& c) {
    const std::optional<tcp::TcpInfo> info = backend_->Info(c.id);
    if (!info) return std::nullopt;
    nt::TcpSpec s;
    s.src_port = kListenPort;
    s.dst_port = c.port;
    s.seq = info->snd_una.raw();
    s.ack = info->rcv_nxt.raw();
    s.flags = wire::TcpFlag::kAck;
    s.payload.assign(100, 0x5a);
    if (!c.v6) {
      Bytes quoted = nt::Ip4(nt::kOurIp, nt::kPeerIp, wire::IpProtocol::kTcp,
                             nt::Tcp(nt::kOurIp, nt::kPeerIp, s));
      quoted.resize(rng_.Percent(50) ? 28 : quoted.size());
      wire::Icmpv4Repr icmp;
      icmp.type = wire::Icmpv4Type::kDestinationUnreachable;
      icmp.code = wire::kIcmpv4FragmentationNeeded;
      icmp.next_hop_mtu = static_cast<uint16_t>(576 + rng_.Below(1000));
      icmp.data = quoted;
      return nt::Eth(nt::kOurMac, nt::kGatewayMac, wire::kEtherTypeIpv4,
                     nt::Ip4(nt::kGatewayIp, nt::kOurIp, wire::IpProtocol::kIcmp, nt::Icmp4(icmp)));
    }
    Bytes quoted = nt::Ip6(nt::kOurIp6, nt::kPeerIp6, wire::IpProtocol::kTcp,
                           nt::Tcp(nt::kOurIp6, nt::kPeerIp6, s));
    quoted.resize(rng_.Percent(50) ? 48 : quoted.size());
    wire::Icmpv6Repr icmp;
    icmp.type = wire::Icmpv6Type::kPacketTooBig;
    icmp.mtu = 1280 + rng_.Below(300);
    icmp.data = quoted;
    return nt::Eth(nt::kOurMac, nt::kGatewayMac, wire::kEtherTypeIpv6,
                   nt::Ip6(nt::kGatewayIp6, nt::kOurIp6, wire::IpProtocol::kIcmpv6,
                           nt::Icmp6(icmp, nt::kGatewayIp6, nt::kOurIp6)));
  }

  // One valid frame to mutate: each kind the stack handles, or a corpus frame.
  Bytes BaseFrame() {
    const uint32_t roll = rng_.Below(100);
    std::array<uint8_t, 64> data;
    rng_.Fill(data);
    const auto echo_data = std::span<const uint8_t>(data).first(rng_.Below(data.size()));
    const uint16_t ident = static_cast<uint16_t>(rng_.Below(0x8000));
    const uint16_t port = static_cast<uint16_t>(1024 + rng_.Below(kFirstHandshakePort - 1024));
    const uint32_t isn = static_cast<uint32_t>(rng_.Next());
    if (roll < 8) return ArpRequest();
    if (roll < 16) return Echo4(ident, static_cast<uint16_t>(roll), echo_data);
    if (roll < 24) return Echo6(ident, static_cast<uint16_t>(roll), echo_data);
    if (roll < 32) return Solicitation();
    if (roll < 42) return Segment(false, SynSpec(port, kListenPort, isn, isn >> 8));
    if (roll < 50) return Segment(true, SynSpec(port, kListenPort, isn, isn >> 8));
    if (roll < 56) return Segment(rng_.Percent(50), SynSpec(port, kClosedPort, isn, isn >> 8));
    std::optional<Bytes> f;
    if (roll < 72 && conn4_) f = Data(*conn4_);
    if (roll >= 72 && roll < 84 && conn6_) f = Data(*conn6_);
    if (roll >= 84 && roll < 92) {
      const std::optional<PeerConnection>& c = rng_.Percent(50) ? conn4_ : conn6_;
      if (c) f = IcmpError(*c);
    }
    if (roll >= 92 && !corpus_.empty()) f = corpus_[rng_.Below(corpus_.size())];
    if (f) return *std::move(f);
    return Segment(false, SynSpec(port, kListenPort, isn, isn >> 8));
  }

  // What a corpus seed becomes: frames as they are; packets and messages wrapped in what carries
  // them (to our MAC), as they are and re-addressed to us with their checksums made right.
  std::vector<Bytes> CorpusFrames(std::string_view target, const Bytes& seed) {
    std::vector<Bytes> out;
    if (target == "frame" || target == "net_rx") {
      out.push_back(seed);
    } else if (target == "arp") {
      out.push_back(nt::Eth(MacAddress::Broadcast(), nt::kPeerMac, wire::kEtherTypeArp, seed));
    } else if (target == "ipv4" || target == "ipv6") {
      const bool v6 = target == "ipv6";
      const uint16_t type = v6 ? wire::kEtherTypeIpv6 : wire::kEtherTypeIpv4;
      out.push_back(nt::Eth(nt::kOurMac, nt::kPeerMac, type, seed));
      Bytes readdressed = seed;
      if (!v6 && readdressed.size() >= 20) {
        Put(readdressed, 12, nt::kPeerIp.bytes);
        Put(readdressed, 16, nt::kOurIp.bytes);
      } else if (v6 && readdressed.size() >= 40) {
        Put(readdressed, 8, nt::kPeerIp6.bytes);
        Put(readdressed, 24, nt::kOurIp6.bytes);
      }
      Bytes f = nt::Eth(nt::kOurMac, nt::kPeerMac, type, readdressed);
      FixChecksums(f);
      out.push_back(std::move(f));
    } else if (target == "icmpv4") {
      out.push_back(nt::Eth(nt::kOurMac, nt::kPeerMac, wire::kEtherTypeIpv4,
                            nt::Ip4(nt::kPeerIp, nt::kOurIp, wire::IpProtocol::kIcmp, seed)));
    } else if (target == "icmpv6") {
      // As the fuzz target sees them (fe80::1 to ff02::1, hop limit 255), then unicast to us.
      const Ipv6Address fuzz_source = nt::V6("fe80::1");
      out.push_back(nt::Eth(kAllNodes.MulticastMac(), nt::kPeerMac, wire::kEtherTypeIpv6,
                            nt::Ip6(fuzz_source, kAllNodes, wire::IpProtocol::kIcmpv6, seed, 255)));
      Bytes f = nt::Eth(nt::kOurMac, nt::kPeerMac, wire::kEtherTypeIpv6,
                        nt::Ip6(nt::kPeerIp6, nt::kOurIp6, wire::IpProtocol::kIcmpv6, seed, 255));
      FixChecksums(f);
      out.push_back(std::move(f));
    } else if (target == "tcp") {
      Bytes f4 = nt::Eth(nt::kOurMac, nt::kPeerMac, wire::kEtherTypeIpv4,
                         nt::Ip4(nt::kPeerIp, nt::kOurIp, wire::IpProtocol::kTcp, seed));
      Bytes f6 = nt::Eth(nt::kOurMac, nt::kPeerMac, wire::kEtherTypeIpv6,
                         nt::Ip6(nt::kPeerIp6, nt::kOurIp6, wire::IpProtocol::kTcp, seed));
      FixChecksums(f4);
      FixChecksums(f6);
      out.push_back(std::move(f4));
      out.push_back(std::move(f6));
    }
    return out;
  }

  // --- Connections set up by the test ---

  bool Usable(const std::optional<PeerConnection>& c) const {
    if (!c) return false;
    const std::optional<tcp::TcpInfo> info = backend_->Info(c->id);
    return info && info->state == tcp::TcpState::kEstablished;
  }

  void EnsureConnections() {
    for (bool v6 : {false, true}) {
      std::optional<PeerConnection>& c = v6 ? conn6_ : conn4_;
      if (Usable(c)) continue;
      c.reset();
      for (int attempt = 0; attempt < 3 && !c; ++attempt) c = Handshake(v6, next_port_++);
      if (!c) ADD_FAILURE() << "a valid handshake failed (IPv" << (v6 ? 6 : 4) << ")";
    }
  }

  // The peer's address (re)learned, then SYN -> SYN-ACK -> ACK, each in a burst of its own.
  std::optional<PeerConnection> Handshake(bool v6, uint16_t port) {
    ++handshakes_;
    RunBurst(std::vector<Bytes>{v6 ? Solicitation() : ArpRequest()});
    PeerConnection c;
    c.v6 = v6;
    c.port = port;
    const uint32_t isn = static_cast<uint32_t>(rng_.Next());
    c.tsval = static_cast<uint32_t>(rng_.Next() >> 40);
    expect_port_ = port;
    expect_v6_ = v6;
    synack_.reset();
    RunBurst(std::vector<Bytes>{Segment(v6, SynSpec(port, kListenPort, isn, c.tsval))});
    expect_port_ = 0;
    if (!synack_ || synack_->ack != isn + 1) return std::nullopt;
    c.last_tsecr = synack_->tsval;
    nt::TcpSpec ack;
    ack.src_port = port;
    ack.dst_port = kListenPort;
    ack.seq = isn + 1;
    ack.ack = synack_->seq + 1;
    ack.flags = wire::TcpFlag::kAck;
    ack.options.timestamps = wire::TcpTimestamps{++c.tsval, c.last_tsecr};
    RunBurst(std::vector<Bytes>{Segment(v6, ack)});
    for (const auto& [key, app] : app_) {
      const std::optional<tcp::FlowKey> flow = backend_->Flow(app.id);
      if (flow && flow->remote_port == port && flow->local_port == kListenPort &&
          wire::IsIpv4(flow->remote) == !v6) {
        c.id = app.id;
        return c;
      }
    }
    return std::nullopt;
  }

  // --- The packet path ---

  // `frame` in mbufs from the pool: one segment, or (sometimes, and when it does not fit one) a
  // chain, as a device with scattered RX would hand it over.
  rte_mbuf* ToMbuf(std::span<const uint8_t> frame) {
    rte_mbuf* head = rte_pktmbuf_alloc(pool_.get());
    if (head == nullptr) return nullptr;
    const size_t split =
        frame.size() >= 2 && rng_.Percent(10) ? 1 + rng_.Below(frame.size() - 1) : frame.size();
    bool ok = AppendBytes(head, pool_.get(), frame.first(split));
    if (ok && split < frame.size()) {
      rte_mbuf* seg = rte_pktmbuf_alloc(pool_.get());
      ok = seg != nullptr && rte_pktmbuf_chain(head, seg) == 0;
      if (!ok && seg != nullptr) rte_pktmbuf_free(seg);
      ok = ok && AppendBytes(head, pool_.get(), frame.subspan(split));
    }
    if (!ok) {
      rte_pktmbuf_free(head);
      return nullptr;
    }
    if (IsChained(head)) ++chained_;
    // Sometimes the device claims what it did not check (checksums good, a tag stripped): the
    // stack trusts the claim (RxOffloadOf) and must survive what that lets through.
    if (rng_.Percent(4)) {
      if (rng_.Percent(50)) head->ol_flags |= RTE_MBUF_F_RX_IP_CKSUM_GOOD;
      if (rng_.Percent(50)) head->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_GOOD;
      if (rng_.Percent(40)) {
        head->ol_flags |= RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED;
        head->vlan_tci = rng_.Percent(50) ? 0 : static_cast<uint16_t>(rng_.Next());
      }
      ++offload_claims_;
    }
    return head;
  }

  void RunBurst(std::span<const Bytes> frames) {
    std::array<rte_mbuf*, kMaxBurst> mbufs;
    size_t n = 0;
    for (const Bytes& f : frames) {
      rte_mbuf* m = ToMbuf(f);
      if (m == nullptr) {
        ADD_FAILURE() << "mempool dry while injecting";
        continue;
      }
      mbufs[n++] = m;
    }
    EXPECT_EQ(rte_ring_count(ring_), 0u) << "what the stack sent was taken out";
    const unsigned queued = rte_ring_enqueue_burst(ring_, reinterpret_cast<void**>(mbufs.data()),
                                                   static_cast<unsigned>(n), nullptr);
    EXPECT_EQ(queued, n);
    for (size_t i = queued; i < n; ++i) rte_pktmbuf_free(mbufs[i]);
    injected_ += queued;
    ++bursts_;
    // Exactly the injected frames: what the TxQueue flushes early (a full batch) while they are
    // processed lands in the ring behind them, and is the stack's output, taken out by DrainTx.
    std::array<rte_mbuf*, 32> burst;
    for (size_t left = queued; left > 0;) {
      const uint16_t got = rxq_.Burst(std::span(burst).first(std::min(left, burst.size())));
      if (got == 0) {
        ADD_FAILURE() << left << " injected frames did not come out of the port";
        break;
      }
      for (uint16_t i = 0; i < got; ++i) ProcessFrame(burst[i]);
      left -= got;
    }
    Service();
    now_ += kBurstInterval;
  }

  void ProcessFrame(rte_mbuf* m) {
    const std::span<const uint8_t> frame = ContiguousFrame(m, scratch_, rxq_.counters());
    if (frame.size() != FrameLength(m)) Fail("frame did not fit the scratch buffer", frame);
    const net::NetCounters before = stack_->counters();
    const uint64_t tcp_before = backend_->counters()[tcp::BackendCounter::kSegmentsIn];
    const RxOutcome out = stack_->Receive(port_->id(), frame, now_, RxOffloadOf(m));
    const net::NetCounters& after = stack_->counters();
    const uint64_t tcp_in = backend_->counters()[tcp::BackendCounter::kSegmentsIn] - tcp_before;
    auto delta = [&](NetCounter c) { return after[c] - before[c]; };
    bool ok = delta(NetCounter::kRxFrames) == 1;
    const uint64_t d_delivered = delta(NetCounter::kRxDelivered);
    const uint64_t d_consumed = delta(NetCounter::kRxConsumed);
    const uint64_t d_dropped = delta(NetCounter::kRxDropped);
    switch (out.kind) {
      case RxOutcome::Kind::kDelivered:
        ++delivered_;
        ok &= d_delivered == 1 && d_consumed == 0 && d_dropped == 0 && tcp_in == 1;
        break;
      case RxOutcome::Kind::kConsumed:
        ++consumed_;
        ok &= d_delivered == 0 && d_consumed == 1 && d_dropped == 0 && tcp_in == 0;
        break;
      case RxOutcome::Kind::kDropped:
        ++dropped_;
        ok &= d_delivered == 0 && d_consumed == 0 && d_dropped == 1 && tcp_in == 0 &&
              out.drop != NetDrop::kCount;
        if (out.drop != NetDrop::kCount) ++rx_drops_[static_cast<size_t>(out.drop)];
        break;
    }
    // Every other drop increment is the send path's: a reply that could not go out.
    uint64_t tx_part = 0;
    for (size_t r = 0; r < net::kNetDropCount; ++r) {
      uint64_t d = after.drops[r] - before.drops[r];
      if (out.kind == RxOutcome::Kind::kDropped && r == static_cast<size_t>(out.drop)) {
        if (d == 0) {
          ok = false;
        } else {
          --d;
        }
      }
      tx_drops_[r] += d;
      tx_part += d;
    }
    ok &= tx_part == delta(NetCounter::kTxDropped);
    if (!ok) {
      Fail(std::string("accounting: outcome ") +
               (out.kind == RxOutcome::Kind::kDelivered  ? "delivered"
                : out.kind == RxOutcome::Kind::kConsumed ? "consumed"
                                                         : "dropped ") +
               (out.kind == RxOutcome::Kind::kDropped && out.drop != NetDrop::kCount
                    ? std::string(net::NetDropName(out.drop))
                    : std::string()),
           frame);
    }
    rte_pktmbuf_free(m);
  }

  // Runs `fn` (timers, event handling: anything but Receive) and books the drops it caused as
  // send-path drops; it must not touch the receive counters.
  template <typename Fn>
  void Outside(Fn&& fn) {
    const net::NetCounters before = stack_->counters();
    fn();
    const net::NetCounters& after = stack_->counters();
    uint64_t tx_part = 0;
    for (size_t r = 0; r < net::kNetDropCount; ++r) {
      tx_drops_[r] += after.drops[r] - before.drops[r];
      tx_part += after.drops[r] - before.drops[r];
    }
    if (tx_part != after[NetCounter::kTxDropped] - before[NetCounter::kTxDropped] ||
        after[NetCounter::kRxFrames] != before[NetCounter::kRxFrames]) {
      Fail("accounting outside Receive", {});
    }
  }

  // After each burst: timers, ICMP and TCP events (the app reads what arrived, closes after the
  // peer's FIN), then the TX burst, which the test takes off the TX ring and checks.
  void Service() {
    Outside([&] {
      stack_->SetNow(now_);
      if (auto at = backend_->PollAt(); at && *at <= now_) backend_->Poll(now_);
      if (auto at = stack_->PollAt(); at && *at <= now_) stack_->Poll(now_);
      stack_->DrainEvents([&](const net::IcmpEvent&) { ++icmp_events_; });
      DrainTcpEvents();
    });
    txq_->Flush();
    DrainTx();
  }

  static uint64_t Key(tcp::ConnectionId id) { return (uint64_t{id.index} << 32) | id.generation; }

  struct App {
    tcp::ConnectionId id;
    uint64_t read = 0;
    uint64_t sent = 0;  // bytes Send accepted
    bool closed = false;
  };

  // The app keeps a little data in flight on every connection, so that the mutated ACKs, SACK
  // blocks and timestamps meet a sender with something to recover.
  void TopUp(App& app) {
    static constexpr size_t kInFlight = 8192;
    static const std::vector<uint8_t> kData = [] {
      std::vector<uint8_t> d(kInFlight);
      for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<uint8_t>(i * 31 + 7);
      return d;
    }();
    const std::optional<tcp::TcpInfo> info = backend_->Info(app.id);
    if (!info) return;
    if (info->counters[tcp::TcpCounter::kBytesAcked] + info->send_queue != app.sent) {
      Fail("bytes_acked + send_queue disagrees with what the app sent", {});
    }
    if (app.closed || info->send_queue >= kInFlight ||
        (info->state != tcp::TcpState::kEstablished && info->state != tcp::TcpState::kCloseWait)) {
      return;
    }
    const size_t want = kInFlight - info->send_queue;
    const size_t accepted =
        backend_->Send(app.id, std::span<const uint8_t>(kData).first(want), now_).accepted;
    app.sent += accepted;
    app_sent_ += accepted;
  }

  void ReadAll(App& app) {
    std::array<uint8_t, 4096> buf;
    for (;;) {
      const tcp::ReceiveResult r = backend_->Receive(app.id, buf, now_);
      if (r.bytes == 0) break;
      app.read += r.bytes;
      app_read_ += r.bytes;
    }
    const std::optional<tcp::TcpInfo> info = backend_->Info(app.id);
    if (info && info->counters[tcp::TcpCounter::kBytesReceived] != app.read + info->receive_queue) {
      Fail("bytes_received disagrees with what the app read", {});
    }
  }

  void DrainTcpEvents() {
    tcp::TcpEvent e;
    while (backend_->NextEvent(&e)) {
      ++events_[e.kind];
      auto it = app_.find(Key(e.connection));
      switch (e.kind) {
        case tcp::TcpEvent::Kind::kAccepted:
          TopUp(app_[Key(e.connection)] = App{e.connection});
          break;
        case tcp::TcpEvent::Kind::kAcked:
        case tcp::TcpEvent::Kind::kWritable:
          if (it != app_.end()) TopUp(it->second);
          break;
        case tcp::TcpEvent::Kind::kReadable:
          if (it != app_.end()) ReadAll(it->second);
          break;
        case tcp::TcpEvent::Kind::kPeerFin:
          if (it != app_.end()) {
            ReadAll(it->second);
            TopUp(it->second);  // checks the send side once more
            it->second.closed = true;
            backend_->Close(e.connection, now_);
          }
          break;
        case tcp::TcpEvent::Kind::kClosed:
          if (it != app_.end()) app_.erase(it);
          break;
        default:
          break;
      }
    }
  }

  void DrainTx() {
    std::array<rte_mbuf*, 64> out;
    unsigned n = 0;
    while ((n = rte_ring_dequeue_burst(ring_, reinterpret_cast<void**>(out.data()), out.size(),
                                       nullptr)) > 0) {
      for (unsigned i = 0; i < n; ++i) {
        InspectTx(ContiguousFrame(out[i], tx_scratch_, tx_counters_));
        rte_pktmbuf_free(out[i]);
      }
    }
  }

  void BadTx(const char* what, std::span<const uint8_t> frame) {
    if (++tx_bad_ <= 5)
      ADD_FAILURE() << "the stack sent a bad frame: " << what << "\n" << nt::Hex(frame);
  }

  // Every frame the stack sends: from our MAC, at least 60 bytes, headers and checksums valid.
  void InspectTx(std::span<const uint8_t> frame) {
    ++tx_frames_;
    auto eth = wire::EthernetFrame::Check(frame);
    if (!eth.ok() || frame.size() < net::kMinFrameLen || eth->source() != nt::kOurMac) {
      return BadTx("Ethernet", frame);
    }
    switch (eth->ethertype()) {
      case wire::kEtherTypeArp:
        ++tx_arp_;
        if (!wire::ArpPacket::Check(eth->payload()).ok()) BadTx("ARP", frame);
        return;
      case wire::kEtherTypeIpv4: {
        auto ip = wire::Ipv4Packet::Check(eth->payload());
        if (!ip.ok() || !ip->checksum_ok()) return BadTx("IPv4", frame);
        const std::span<const uint8_t> upper = ip->payload();
        if (ip->protocol() == wire::IpProtocol::kTcp) {
          return InspectTcp(frame, upper, ip->source(), ip->destination());
        }
        if (ip->protocol() != wire::IpProtocol::kIcmp || upper.size() < 8 ||
            wire::ComputeChecksum(upper) != 0) {
          return BadTx("ICMPv4", frame);
        }
        ++tx_icmp_;
        if (upper[0] == 0 && LoadBe16(&upper[4]) == kProbeIdent) echo_reply_ = true;
        return;
      }
      case wire::kEtherTypeIpv6: {
        auto ip = wire::Ipv6Packet::Check(eth->payload());
        if (!ip.ok()) return BadTx("IPv6", frame);
        const std::span<const uint8_t> upper = ip->payload();
        if (ip->next_header() == wire::IpProtocol::kTcp) {
          return InspectTcp(frame, upper, ip->source(), ip->destination());
        }
        auto icmp = wire::Icmpv6Packet::Check(upper);
        if (ip->next_header() != wire::IpProtocol::kIcmpv6 || !icmp.ok() ||
            !icmp->checksum_ok(ip->source(), ip->destination()) || upper.size() < 8) {
          return BadTx("ICMPv6", frame);
        }
        ++tx_icmp_;
        if (upper[0] == 129 && LoadBe16(&upper[4]) == kProbeIdent) echo_reply_ = true;
        return;
      }
      default:
        return BadTx("ethertype", frame);
    }
  }

  template <typename Address>
  void InspectTcp(std::span<const uint8_t> frame, std::span<const uint8_t> bytes,
                  const Address& src, const Address& dst) {
    constexpr bool v6 = std::is_same_v<Address, Ipv6Address>;
    auto seg = wire::TcpSegment::Check(bytes);
    bool ok = seg.ok();
    if (ok) {
      if constexpr (v6) {
        ok = seg->VerifyChecksumV6(src, dst);
      } else {
        ok = seg->VerifyChecksumV4(src, dst);
      }
    }
    if (!ok) return BadTx("TCP", frame);
    ++tx_tcp_;
    const wire::TcpFlags flags = seg->flags();
    if (flags.rst()) ++tx_rst_;
    if (flags.syn() && flags.ack()) ++tx_synack_;
    if (seg->src_port() != kListenPort) return;
    const wire::TcpOptionsRepr options = wire::TcpOptionsRepr::Parse(seg->options());
    const uint32_t tsval = options.timestamps ? options.timestamps->tsval : 0;
    if (expect_port_ != 0 && seg->dst_port() == expect_port_ && v6 == expect_v6_ && flags.syn() &&
        flags.ack()) {
      synack_ = SynAck{seg->seq().raw(), seg->ack().raw(), tsval};
    }
    for (std::optional<PeerConnection>* c : {&conn4_, &conn6_}) {
      if (*c && (*c)->v6 == v6 && (*c)->port == seg->dst_port() && options.timestamps) {
        (*c)->last_tsecr = tsval;
      }
    }
  }

  void Fail(const std::string& what, std::span<const uint8_t> frame) {
    if (++failures_ <= 5) {
      ADD_FAILURE() << what << " (frame " << injected_ << " of seed " << seed_ << ")\n"
                    << nt::Hex(frame);
    }
  }

  Rng rng_;
  Mutator mutator_;
  uint64_t seed_ = 0;
  Mempool pool_;
  rte_ring* ring_ = nullptr;  // net_ring's: the port's RX and TX
  uint64_t txq_dropped_ = 0;
  std::unique_ptr<Port> port_;
  RxQueue rxq_;
  std::unique_ptr<TxQueue> txq_;
  std::unique_ptr<net::NetStack> stack_;
  std::unique_ptr<tcp::NativeTcpBackend> backend_;
  tcp::ListenerId listener_;
  tcp::Instant now_ = tcp::InstantFromNanos(1'000'000'000'000);
  std::vector<uint8_t> scratch_ = std::vector<uint8_t>(16384);
  std::vector<uint8_t> tx_scratch_ = std::vector<uint8_t>(16384);
  IoCounters tx_counters_;

  std::vector<Bytes> corpus_;
  uint64_t corpus_files_ = 0;
  uint64_t corpus_injected_ = 0;
  uint64_t mutated_ = 0;
  uint64_t injected_ = 0;
  uint64_t bursts_ = 0;
  uint64_t chained_ = 0;
  uint64_t offload_claims_ = 0;
  uint64_t delivered_ = 0;
  uint64_t consumed_ = 0;
  uint64_t dropped_ = 0;
  std::array<uint64_t, net::kNetDropCount> rx_drops_{};
  std::array<uint64_t, net::kNetDropCount> tx_drops_{};
  uint64_t failures_ = 0;

  uint64_t tx_frames_ = 0;
  uint64_t tx_arp_ = 0;
  uint64_t tx_tcp_ = 0;
  uint64_t tx_synack_ = 0;
  uint64_t tx_rst_ = 0;
  uint64_t tx_icmp_ = 0;
  uint64_t tx_bad_ = 0;
  bool echo_reply_ = false;

  std::map<tcp::TcpEvent::Kind, uint64_t> events_;
  std::map<uint64_t, App> app_;  // accepted connections not yet closed
  uint64_t app_read_ = 0;
  uint64_t app_sent_ = 0;
  uint64_t icmp_events_ = 0;
  uint64_t handshakes_ = 0;
  std::optional<PeerConnection> conn4_;
  std::optional<PeerConnection> conn6_;
  uint16_t next_port_ = kFirstHandshakePort;
  uint16_t expect_port_ = 0;
  bool expect_v6_ = false;
  std::optional<SynAck> synack_;
};

TEST(MalformedReplay, NothingCrashesLeaksOrGoesUncounted) {
  const uint64_t seed = EnvOr("BRAID_REPLAY_SEED", kDefaultSeed);
  const uint64_t frames = EnvOr("BRAID_REPLAY_FRAMES", kDefaultFrames);
  std::printf(
      "malformed replay: seed %llu (BRAID_REPLAY_SEED), %llu mutated frames "
      "(BRAID_REPLAY_FRAMES)\n",
      static_cast<unsigned long long>(seed), static_cast<unsigned long long>(frames));
  std::fflush(stdout);
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  Replay replay(seed);
  ASSERT_TRUE(replay.SetUp());
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(replay.Connect()) << "the connections the data segments go to";
  replay.ReplayCorpora();
  replay.ReplayMutations(frames);
  replay.CheckStillWorks();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  replay.CheckAccounting();
  replay.Print(seconds);
  ::testing::Test::RecordProperty("frames", std::to_string(replay.injected()));
  replay.TearDownAndCheckPool();
}

}  // namespace
}  // namespace braid::io::testing

int main(int argc, char** argv) { return braid::io::testing::RunDpdkTests(argc, argv); }
