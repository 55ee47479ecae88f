// Checks Braid's MPTCP crypto and parsers against a capture of two Linux kernels talking MPTCP
// (made by kernel_mptcp_oracle.py): the kernel is the reference, so every value it put on the wire
// must parse with Braid's codecs and every token, IDSN and HMAC Braid computes from the captured
// keys and nonces must equal what the kernel sent.
//
//   kernel_capture_check [--server ADDR] [--signal-address ADDR] [--checksum] CAPTURE.pcap...
//
// --checksum: the kernels negotiated DSS checksums (net.mptcp.checksum_enabled=1). Every
// MP_CAPABLE must then carry flag A, every mapping a checksum, and Braid's DssChecksum over each
// mapping whose payload the capture holds must equal the kernel's (RFC 8684 §3.3.1).
//
// The captures (one per interface) are merged by timestamp. Every check prints its values; the
// exit status is 0 only when every check passed, and a check with nothing to look at (a packet
// missing from the capture) fails. Exit 2: bad arguments or an unreadable capture.
#include <algorithm>
#include <chrono>
#include <compare>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "datapath/mptcp/crypto.h"
#include "datapath/pcap/pcap_format.h"
#include "datapath/pcap/pcap_reader.h"
#include "datapath/wire/address.h"
#include "datapath/wire/checksum.h"
#include "datapath/wire/ethernet.h"
#include "datapath/wire/ipv4.h"
#include "datapath/wire/ipv6.h"
#include "datapath/wire/mptcp_options.h"
#include "datapath/wire/seq.h"
#include "datapath/wire/tcp.h"
#include "datapath/wire/tcp_options.h"

namespace braid::oracle {
namespace {

using IpAddress = std::variant<wire::Ipv4Address, wire::Ipv6Address>;

std::string AddressText(const IpAddress& a) {
  return std::visit([](const auto& x) { return x.ToString(); }, a);
}

std::optional<IpAddress> ParseAddress(std::string_view text) {
  if (auto v4 = wire::Ipv4Address::Parse(text)) return IpAddress(*v4);
  if (auto v6 = wire::Ipv6Address::Parse(text)) return IpAddress(*v6);
  return std::nullopt;
}

struct Endpoint {
  IpAddress address;
  uint16_t port = 0;
  std::string ToString() const {
    bool v6 = std::holds_alternative<wire::Ipv6Address>(address);
    return (v6 ? "[" : "") + AddressText(address) + (v6 ? "]:" : ":") + std::to_string(port);
  }
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
  friend auto operator<=>(const Endpoint&, const Endpoint&) = default;
};

// One TCP segment of the capture, decoded with Braid's parsers.
struct Segment {
  std::chrono::nanoseconds timestamp{0};
  std::string where;  // "file#record", for messages
  Endpoint src, dst;
  wire::TcpSeq seq, ack;
  wire::TcpFlags flags;
  size_t payload_len = 0;
  std::vector<uint8_t> payload;  // the TCP payload as captured
  std::vector<wire::MptcpOption> options;

  template <typename T>
  std::vector<const T*> All() const {
    std::vector<const T*> out;
    for (const auto& o : options) {
      if (const T* p = std::get_if<T>(&o)) out.push_back(p);
    }
    return out;
  }
};

std::string Hex64(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "0x%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string Hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08x", v);
  return buf;
}

std::string Hex16(uint16_t v) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "0x%04x", v);
  return buf;
}

std::string HexBytes(std::span<const uint8_t> bytes) {
  std::string out;
  char buf[4];
  for (uint8_t b : bytes) {
    std::snprintf(buf, sizeof(buf), "%02x", b);
    out += buf;
  }
  return out;
}

class Report {
 public:
  void Check(bool ok, const std::string& name, const std::string& detail) {
    std::printf("[%s] %s: %s\n", ok ? " ok " : "FAIL", name.c_str(), detail.c_str());
    ++checks_;
    if (!ok) ++failures_;
  }
  void Missing(const std::string& name, const std::string& what) {
    Check(false, name, "nothing to check: " + what + " is missing from the capture");
  }
  void Info(const std::string& text) { std::printf("       %s\n", text.c_str()); }
  int failures() const { return failures_; }
  int checks() const { return checks_; }

 private:
  int checks_ = 0;
  int failures_ = 0;
};

// Decoding: link layer -> IP -> TCP -> MPTCP options. Non-TCP traffic (ARP, neighbour discovery)
// is skipped; a TCP segment or MPTCP option that Braid cannot parse is a failure, since these are
// the kernel's own packets.
class Decoder {
 public:
  explicit Decoder(Report& report) : report_(report) {}

  bool ReadFile(const std::string& path) {
    auto reader = pcap::PcapReader::Open(path);
    if (!reader.ok()) {
      std::fprintf(stderr, "%s\n", reader.status().ToString().c_str());
      return false;
    }
    uint32_t linktype = reader->linktype();
    if (linktype != pcap::kLinkTypeEthernet && linktype != pcap::kLinkTypeRaw) {
      std::fprintf(stderr, "%s: link type %u is neither Ethernet nor raw IP\n", path.c_str(),
                   linktype);
      return false;
    }
    pcap::PcapRecord rec;
    uint64_t records = 0;
    while (reader->Next(rec)) {
      ++records;
      std::string where = path.substr(path.find_last_of('/') + 1) + "#" + std::to_string(rec.index);
      DecodeFrame(linktype, rec, where);
    }
    if (!reader->status().ok()) {
      std::fprintf(stderr, "%s\n", reader->status().ToString().c_str());
      return false;
    }
    std::printf("read %s: %llu records (%s, %s, snaplen %u)\n", path.c_str(),
                static_cast<unsigned long long>(records),
                linktype == pcap::kLinkTypeEthernet ? "Ethernet" : "raw IP",
                reader->header().nanosecond ? "ns" : "us", reader->snaplen());
    return true;
  }

  std::vector<Segment>& segments() { return segments_; }
  int decode_errors() const { return decode_errors_; }

 private:
  void Error(const std::string& where, const std::string& what) {
    ++decode_errors_;
    report_.Check(false, "decode " + where, what);
  }

  void DecodeFrame(uint32_t linktype, const pcap::PcapRecord& rec, const std::string& where) {
    std::span<const uint8_t> ip = rec.data;
    uint16_t ethertype = 0;
    if (linktype == pcap::kLinkTypeEthernet) {
      auto eth = wire::EthernetFrame::Check(rec.data);
      if (!eth) return Error(where, "Ethernet: " + std::string(wire::WireErrorName(eth.error())));
      ethertype = eth->ethertype();
      ip = eth->payload();
    } else if (!ip.empty()) {
      ethertype = (ip[0] >> 4) == 6 ? wire::kEtherTypeIpv6 : wire::kEtherTypeIpv4;
    }
    Segment seg;
    seg.timestamp = rec.timestamp;
    seg.where = where;
    std::span<const uint8_t> tcp_bytes;
    if (ethertype == wire::kEtherTypeIpv4) {
      auto pkt = wire::Ipv4Packet::Check(ip);
      if (!pkt) return Error(where, "IPv4: " + std::string(wire::WireErrorName(pkt.error())));
      auto repr = wire::Ipv4Repr::Parse(*pkt);
      if (!repr) return Error(where, "IPv4: " + std::string(wire::WireErrorName(repr.error())));
      if (pkt->protocol() != wire::IpProtocol::kTcp || pkt->is_fragment()) return;
      seg.src.address = pkt->source();
      seg.dst.address = pkt->destination();
      tcp_bytes = pkt->payload();
    } else if (ethertype == wire::kEtherTypeIpv6) {
      auto pkt = wire::Ipv6Packet::Check(ip);
      if (!pkt) return Error(where, "IPv6: " + std::string(wire::WireErrorName(pkt.error())));
      auto walk = pkt->WalkExtensionHeaders();
      if (!walk) return Error(where, "IPv6: " + std::string(wire::WireErrorName(walk.error())));
      if (walk->upper_layer_protocol != wire::IpProtocol::kTcp || walk->is_fragment()) return;
      seg.src.address = pkt->source();
      seg.dst.address = pkt->destination();
      tcp_bytes = walk->upper_layer;
    } else {
      return;  // ARP and the like
    }
    auto tcp = wire::TcpSegment::Check(tcp_bytes);
    if (!tcp) return Error(where, "TCP: " + std::string(wire::WireErrorName(tcp.error())));
    seg.src.port = tcp->src_port();
    seg.dst.port = tcp->dst_port();
    seg.seq = tcp->seq();
    seg.ack = tcp->ack();
    seg.flags = tcp->flags();
    seg.payload_len = tcp->payload().size();
    seg.payload.assign(tcp->payload().begin(), tcp->payload().end());
    auto opts = wire::TcpOptionsRepr::Parse(tcp->options());
    if (opts.drops.any()) {
      return Error(where, "TCP options: the kernel's option list has " +
                              std::to_string(opts.drops.total()) + " ignored option(s)");
    }
    wire::MptcpSegmentContext ctx{
        .syn = seg.flags.syn(), .ack = seg.flags.ack(), .rst = seg.flags.rst()};
    for (const wire::RawTcpOption& raw : opts.raw_options) {
      if (raw.kind() != wire::kMptcpOptionKind) continue;
      auto parsed = wire::ParseMptcpOption(raw.bytes(), ctx);
      if (!parsed) {
        return Error(where, "MPTCP option " + HexBytes(raw.bytes()) + " rejected: " +
                                std::string(wire::MptcpOptionDropName(parsed.drop())));
      }
      // RFC 8684 §3.1: the 20-byte MP_CAPABLE goes on a segment without data, the 22/24-byte one
      // with data (the parser leaves this to the caller, which knows the payload length).
      if (const auto* mpc = parsed.get_if<wire::MpCapable>()) {
        if ((mpc->form == wire::MpCapableForm::kAck && seg.payload_len != 0) ||
            (mpc->form == wire::MpCapableForm::kAckData && seg.payload_len == 0)) {
          return Error(where, "MP_CAPABLE length does not match the payload (" +
                                  std::to_string(seg.payload_len) + " bytes)");
        }
      }
      seg.options.push_back(*parsed);
    }
    segments_.push_back(std::move(seg));
  }

  Report& report_;
  std::vector<Segment> segments_;
  int decode_errors_ = 0;
};

struct Host {
  std::string name;  // "client" / "server"
  uint64_t key = 0;
  mptcp::KeyDerivation derived;
  std::set<Endpoint> endpoints;  // every subflow end of this host
};

struct Join {
  const Segment* syn = nullptr;
  const Segment* synack = nullptr;
  const Segment* ack = nullptr;
  wire::MpJoin syn_opt, synack_opt, ack_opt;
};

std::string Dsn(uint64_t v) { return std::to_string(v); }

class Checker {
 public:
  Checker(Report& report, std::vector<Segment>& segments) : report_(report), segs_(segments) {
    std::stable_sort(segs_.begin(), segs_.end(),
                     [](const Segment& a, const Segment& b) { return a.timestamp < b.timestamp; });
  }

  void Run(const std::optional<IpAddress>& server_address,
           const std::optional<IpAddress>& signal_address, bool checksum) {
    if (!Handshake(server_address)) return;
    Joins();
    AddAddrs(signal_address);
    // Only the client can send MP_CAPABLE with data (RFC 8684 §3.1).
    DataSequence(client_, server_, client_ep_, client_mpc_data_len_.value_or(0));
    DataSequence(server_, client_, server_ep_, 0);
    if (checksum) Checksums();
  }

 private:
  // MP_CAPABLE (RFC 8684 §3.1): the SYN names the client, the SYN/ACK carries the server's key,
  // the third ACK (or first data) both keys.
  bool Handshake(const std::optional<IpAddress>& server_address) {
    const Segment* syn = nullptr;
    for (const auto& s : segs_) {
      if (s.flags.syn() && !s.flags.ack() && !s.All<wire::MpCapable>().empty()) {
        syn = &s;
        break;
      }
    }
    if (syn == nullptr) {
      report_.Missing("MP_CAPABLE handshake", "an MP_CAPABLE SYN");
      return false;
    }
    client_ep_ = syn->src;
    server_ep_ = syn->dst;
    client_.name = "client";
    server_.name = "server";
    client_.endpoints.insert(client_ep_);
    server_.endpoints.insert(server_ep_);
    report_.Info("initial subflow " + client_ep_.ToString() + " -> " + server_ep_.ToString() +
                 " (" + syn->where + ")");
    if (server_address) {
      report_.Check(server_ep_.address == *server_address, "MP_CAPABLE server address",
                    "SYN to " + AddressText(server_ep_.address) + ", expected " +
                        AddressText(*server_address));
    }

    std::optional<uint64_t> synack_key;
    for (const auto& s : segs_) {
      if (s.flags.syn() && s.flags.ack() && s.src == server_ep_ && s.dst == client_ep_) {
        for (const auto* m : s.All<wire::MpCapable>()) {
          if (m->form == wire::MpCapableForm::kSynAck) synack_key = m->sender_key;
        }
        if (synack_key) break;
      }
    }
    // Every MP_CAPABLE the client sends after the handshake carries both keys (third ACK, and
    // the first data when it goes as MP_CAPABLE with data); they must all agree.
    std::optional<std::pair<uint64_t, uint64_t>> keys;
    bool keys_agree = true;
    int mpc_acks = 0;
    for (const auto& s : segs_) {
      if (s.flags.syn() || s.src != client_ep_ || s.dst != server_ep_) continue;
      for (const auto* m : s.All<wire::MpCapable>()) {
        if (m->form != wire::MpCapableForm::kAck && m->form != wire::MpCapableForm::kAckData) {
          continue;
        }
        ++mpc_acks;
        auto k = std::make_pair(m->sender_key, m->receiver_key);
        if (!keys) {
          keys = k;
          report_.Info(
              "MP_CAPABLE " +
              std::string(m->form == wire::MpCapableForm::kAck ? "third ACK" : "ACK with data") +
              " at " + s.where + ": sender (client) key " + Hex64(k.first) +
              ", receiver (server) key " + Hex64(k.second));
        } else if (*keys != k) {
          keys_agree = false;
        }
        if (m->form == wire::MpCapableForm::kAckData && !client_mpc_data_len_) {
          client_mpc_data_len_ = m->data_level_length;
        }
      }
    }
    if (!synack_key) {
      report_.Missing("MP_CAPABLE SYN/ACK key", "the MP_CAPABLE SYN/ACK");
      return false;
    }
    if (!keys) {
      report_.Missing("MP_CAPABLE keys", "the MP_CAPABLE third ACK");
      return false;
    }
    report_.Check(keys_agree, "MP_CAPABLE keys repeated",
                  std::to_string(mpc_acks) + " client MP_CAPABLE(s) after the SYN, " +
                      (keys_agree ? "all with the same keys" : "with DIFFERENT keys"));
    report_.Check(keys->second == *synack_key, "MP_CAPABLE server key",
                  "SYN/ACK sender key " + Hex64(*synack_key) + ", third ACK receiver key " +
                      Hex64(keys->second));
    client_.key = keys->first;
    server_.key = keys->second;
    client_.derived = mptcp::DeriveFromKey(client_.key);
    server_.derived = mptcp::DeriveFromKey(server_.key);
    for (const Host* h : {&client_, &server_}) {
      report_.Info("DeriveFromKey(" + h->name + " key " + Hex64(h->key) + "): token " +
                   Hex32(h->derived.token) + ", IDSN " + Dsn(h->derived.idsn) + " (" +
                   Hex64(h->derived.idsn) + ")");
    }
    return true;
  }

  Host* HostOf(const Endpoint& e) {
    if (client_.endpoints.count(e)) return &client_;
    if (server_.endpoints.count(e)) return &server_;
    return nullptr;
  }

  // MP_JOIN (RFC 8684 §3.2): token in the SYN, truncated HMAC in the SYN/ACK, full HMAC in the
  // third ACK.
  void Joins() {
    std::map<std::pair<Endpoint, Endpoint>, Join> joins;  // keyed (initiator A, responder B)
    for (const auto& s : segs_) {
      for (const auto* j : s.All<wire::MpJoin>()) {
        if (j->form == wire::MpJoinForm::kSyn) {
          Join& join = joins[{s.src, s.dst}];
          if (join.syn == nullptr) {
            join.syn = &s;
            join.syn_opt = *j;
          }
        } else if (j->form == wire::MpJoinForm::kSynAck) {
          Join& join = joins[{s.dst, s.src}];
          if (join.synack == nullptr) {
            join.synack = &s;
            join.synack_opt = *j;
          }
        } else if (j->form == wire::MpJoinForm::kAck) {
          Join& join = joins[{s.src, s.dst}];
          if (join.ack == nullptr) {
            join.ack = &s;
            join.ack_opt = *j;
          }
        }
      }
    }
    int tokens = 0, synacks = 0, acks = 0;
    for (auto& [ends, join] : joins) {
      const auto& [a_ep, b_ep] = ends;
      std::string sub = a_ep.ToString() + " -> " + b_ep.ToString();
      if (join.syn == nullptr) {
        report_.Missing("MP_JOIN " + sub, "the MP_JOIN SYN");
        continue;
      }
      // The token names the responder's connection: find which host B is.
      uint32_t token = join.syn_opt.receiver_token;
      Host* b = token == server_.derived.token   ? &server_
                : token == client_.derived.token ? &client_
                                                 : nullptr;
      ++tokens;
      report_.Check(b == &server_, "MP_JOIN SYN token (" + sub + ")",
                    "kernel sent receiver token " + Hex32(token) +
                        ", DeriveFromKey(server key).token = " + Hex32(server_.derived.token) +
                        " (client's would be " + Hex32(client_.derived.token) + ")");
      if (b == nullptr) continue;
      Host* a = b == &server_ ? &client_ : &server_;
      a->endpoints.insert(a_ep);
      b->endpoints.insert(b_ep);
      uint32_t nonce_a = join.syn_opt.sender_nonce;
      report_.Info("MP_JOIN SYN at " + join.syn->where + ": address ID " +
                   std::to_string(join.syn_opt.address_id) + ", backup " +
                   (join.syn_opt.backup ? "1" : "0") + ", R_A " + Hex32(nonce_a));
      if (join.synack == nullptr) {
        report_.Missing("MP_JOIN SYN/ACK HMAC (" + sub + ")", "the MP_JOIN SYN/ACK");
        continue;
      }
      uint32_t nonce_b = join.synack_opt.sender_nonce;
      uint64_t ours = mptcp::JoinSynAckHmac(/*responder_key_b=*/b->key, /*initiator_key_a=*/a->key,
                                            /*responder_nonce_b=*/nonce_b,
                                            /*initiator_nonce_a=*/nonce_a);
      ++synacks;
      report_.Check(ours == join.synack_opt.sender_truncated_hmac,
                    "MP_JOIN SYN/ACK truncated HMAC (" + sub + ")",
                    "kernel " + Hex64(join.synack_opt.sender_truncated_hmac) +
                        ", JoinSynAckHmac(K_B=" + Hex64(b->key) + ", K_A=" + Hex64(a->key) +
                        ", R_B=" + Hex32(nonce_b) + ", R_A=" + Hex32(nonce_a) +
                        ") = " + Hex64(ours));
      if (join.ack == nullptr) {
        report_.Missing("MP_JOIN third ACK HMAC (" + sub + ")", "the MP_JOIN third ACK");
        continue;
      }
      auto ours_full =
          mptcp::JoinAckHmac(/*initiator_key_a=*/a->key, /*responder_key_b=*/b->key,
                             /*initiator_nonce_a=*/nonce_a, /*responder_nonce_b=*/nonce_b);
      ++acks;
      report_.Check(std::equal(ours_full.begin(), ours_full.end(), join.ack_opt.sender_hmac.begin(),
                               join.ack_opt.sender_hmac.end()),
                    "MP_JOIN third ACK HMAC (" + sub + ")",
                    "kernel " + HexBytes(join.ack_opt.sender_hmac) +
                        ", JoinAckHmac(K_A, K_B, R_A, R_B) = " + HexBytes(ours_full));
    }
    if (tokens == 0) report_.Missing("MP_JOIN SYN token", "an MP_JOIN SYN");
    if (synacks == 0) report_.Missing("MP_JOIN SYN/ACK truncated HMAC", "an MP_JOIN SYN/ACK");
    if (acks == 0) report_.Missing("MP_JOIN third ACK HMAC", "an MP_JOIN third ACK");
  }

  // ADD_ADDR (RFC 8684 §3.4.1): every announcement (not echo) carries an HMAC keyed by the
  // sender's and the receiver's keys.
  void AddAddrs(const std::optional<IpAddress>& signal_address) {
    int announcements = 0, echoes = 0;
    for (const auto& s : segs_) {
      for (const auto* aa : s.All<wire::AddAddr>()) {
        if (aa->echo) {
          ++echoes;
          continue;
        }
        ++announcements;
        std::string what = "ADD_ADDR HMAC (" + s.where + ", ID " + std::to_string(aa->address_id) +
                           ", " + AddressText(aa->address) +
                           (aa->port ? " port " + std::to_string(*aa->port) : " no port") + ")";
        Host* sender = HostOf(s.src);
        Host* receiver = sender == &server_ ? &client_ : sender == &client_ ? &server_ : nullptr;
        if (sender == nullptr || !aa->truncated_hmac) {
          report_.Check(false, what, "sent from an unknown subflow, or without an HMAC");
          continue;
        }
        uint64_t ours = mptcp::AddAddrHmac(/*sender_key=*/sender->key,
                                           /*receiver_key=*/receiver->key, aa->address_id,
                                           aa->address, aa->port);
        report_.Check(ours == *aa->truncated_hmac, what,
                      "sent by the " + sender->name + ": kernel " + Hex64(*aa->truncated_hmac) +
                          ", AddAddrHmac(sender key, receiver key, ...) = " + Hex64(ours));
        if (signal_address) {
          report_.Check(aa->address == *signal_address, "ADD_ADDR address",
                        "announced " + AddressText(aa->address) + ", configured signal endpoint " +
                            AddressText(*signal_address));
        }
      }
    }
    report_.Info(std::to_string(echoes) + " ADD_ADDR echo(es) seen");
    if (announcements == 0) report_.Missing("ADD_ADDR HMAC", "an ADD_ADDR announcement");
  }

  // RFC 8684 §3.3: `sender`'s first data byte has DSN IDSN + 1 (implied by MP_CAPABLE with data,
  // or the lowest DSS mapping), and the data ACKs `peer` sends back stay within what `sender`
  // mapped, ending exactly at its end: the peer's kernel derived the same IDSN from the key.
  // `initial` is the sender's end of the initial subflow; `implied_len` the data-level length of
  // its MP_CAPABLE with data, if it sent one.
  void DataSequence(const Host& sender, const Host& peer, const Endpoint& initial,
                    uint64_t implied_len) {
    const std::string who = sender.name;
    const wire::DataSeq first(sender.derived.idsn + 1);
    std::optional<std::pair<wire::DataSeq, const Segment*>> lowest;
    std::optional<uint32_t> lowest_ssn;
    uint64_t lowest_len = 0;
    bool lowest_on_initial = false;
    std::optional<wire::DataSeq> end;  // one past the highest mapped DSN (DATA_FIN included)
    if (implied_len > 0) end = first + implied_len;
    std::vector<std::pair<wire::DataSeq, const Segment*>> acks;
    for (const auto& s : segs_) {
      const Host* from = HostOf(s.src);
      for (const auto* dss : s.All<wire::Dss>()) {
        if (from == &sender && dss->mapping) {
          const auto& m = *dss->mapping;
          wire::DataSeq dsn = m.data_seq.Expand(first);
          uint64_t len = m.data_level_length;
          if (len > 0 && (!end || *end < dsn + len)) end = dsn + len;
          if (len > 0 && s.payload_len > 0 && (!lowest || dsn < lowest->first)) {
            lowest = {dsn, &s};
            lowest_ssn = m.subflow_seq;
            lowest_len = len;
            lowest_on_initial = s.src == initial;
          }
        }
        if (from == &peer && dss->data_ack) {
          acks.emplace_back(dss->data_ack->Expand(first), &s);
        }
      }
    }
    if (implied_len > 0) {
      report_.Info(who + " sent its first data as MP_CAPABLE with data: implied DSN IDSN+1 = " +
                   Dsn(first.raw()) + ", " + std::to_string(implied_len) + " bytes");
    }
    if (!lowest) {
      report_.Missing(who + " first data DSN", "a DSS mapping from the " + who);
    } else {
      // After MP_CAPABLE with data, the kernel either repeats that same mapping in DSS options on
      // the segments that follow (DSN IDSN+1, SSN 1, the same length: one mapping spanning
      // several segments) or starts the next mapping right after it. Either way, data and
      // subflow sequence start together on the initial subflow (SSN 1 = IDSN + 1).
      const bool repeats_implied =
          implied_len > 0 && lowest->first == first && lowest_len == implied_len;
      const uint64_t skip = repeats_implied ? 0 : implied_len;
      wire::DataSeq expected = first + skip;
      std::string detail = "lowest DSS mapping DSN " + Dsn(lowest->first.raw()) + " (SSN " +
                           std::to_string(*lowest_ssn) + ", length " + std::to_string(lowest_len) +
                           ", " + lowest->second->where + "), expected IDSN+1" +
                           (skip ? "+" + std::to_string(skip) : "") + " = " + Dsn(expected.raw()) +
                           (repeats_implied ? " (repeats the MP_CAPABLE-with-data mapping)" : "");
      bool ok = lowest->first == expected;
      if (lowest_on_initial) ok = ok && *lowest_ssn == 1 + skip;
      report_.Check(ok, who + " first data DSN", detail);
    }
    if (acks.empty()) {
      report_.Missing(peer.name + " data ACKs of " + who + " data",
                      "a DSS data ACK from the " + peer.name);
      return;
    }
    if (!end) return;  // reported above
    bool in_range = true;
    wire::DataSeq highest = acks.front().first;
    std::string bad;
    for (const auto& [a, seg] : acks) {
      if (a < first || *end < a) {
        in_range = false;
        if (bad.empty()) bad = ", first outside: " + Dsn(a.raw()) + " at " + seg->where;
      }
      if (highest < a) highest = a;
    }
    report_.Check(in_range, peer.name + " data ACKs of " + who + " data",
                  std::to_string(acks.size()) + " data ACKs, first " +
                      Dsn(acks.front().first.raw()) +
                      ", all expected within [IDSN+1 = " + Dsn(first.raw()) + ", end of " + who +
                      " mappings = " + Dsn(end->raw()) + "]" + bad);
    report_.Check(highest == *end, peer.name + " acknowledges all " + who + " data",
                  "highest data ACK " + Dsn(highest.raw()) + " = IDSN+1 + " +
                      std::to_string(highest - first) + ", expected " + Dsn(end->raw()) +
                      " = IDSN+1 + " + std::to_string(*end - first));
  }

  // One direction of a subflow, rebuilt from the capture by relative subflow sequence number
  // (RFC 8684 §3.3.1: the SYN takes the ISN, so SSN 1 is the first payload byte).
  struct SubflowStream {
    std::optional<wire::TcpSeq> isn;
    std::vector<uint8_t> bytes;  // indexed by relative SSN
    std::vector<bool> present;
    uint64_t conflicts = 0;  // bytes seen again with a different value
  };
  using Direction = std::pair<Endpoint, Endpoint>;  // (source, destination)

  void BuildStreams() {
    // Far beyond what the oracle sends; keeps a wild sequence number from allocating gigabytes.
    constexpr size_t kMaxStreamBytes = size_t{64} << 20;
    for (const auto& s : segs_) {
      if (!s.flags.syn()) continue;
      SubflowStream& st = streams_[{s.src, s.dst}];
      if (!st.isn) st.isn = s.seq;
    }
    for (const auto& s : segs_) {
      if (s.payload.empty()) continue;
      auto it = streams_.find({s.src, s.dst});
      if (it == streams_.end() || !it->second.isn) continue;  // its SYN is not in the capture
      SubflowStream& st = it->second;
      const int32_t rel = (s.seq + (s.flags.syn() ? 1u : 0u)) - *st.isn;
      if (rel <= 0 || static_cast<size_t>(rel) + s.payload.size() > kMaxStreamBytes) continue;
      const size_t start = static_cast<size_t>(rel);
      const size_t end = start + s.payload.size();
      if (st.bytes.size() < end) {
        st.bytes.resize(end);
        st.present.resize(end);
      }
      for (size_t i = 0; i < s.payload.size(); ++i) {
        if (st.present[start + i]) {
          if (st.bytes[start + i] != s.payload[i]) ++st.conflicts;
        } else {
          st.bytes[start + i] = s.payload[i];
          st.present[start + i] = true;
        }
      }
    }
  }

  // The subflow bytes [ssn, ssn + len) of a direction, when the capture holds all of them.
  std::optional<std::span<const uint8_t>> StreamBytes(const Direction& dir, uint32_t ssn,
                                                      size_t len) const {
    if (len == 0) return std::span<const uint8_t>();
    auto it = streams_.find(dir);
    if (it == streams_.end() || ssn == 0) return std::nullopt;
    const SubflowStream& st = it->second;
    if (size_t{ssn} + len > st.bytes.size()) return std::nullopt;
    for (size_t i = ssn; i < ssn + len; ++i) {
      if (!st.present[i]) return std::nullopt;
    }
    return std::span<const uint8_t>(st.bytes.data() + ssn, len);
  }

  // A data-level mapping as the kernel sent it: a DSS mapping, or the implied one of the
  // client's MP_CAPABLE with data (DSN IDSN + 1, SSN 1; RFC 8684 §3.1).
  struct Mapping {
    const Segment* seg = nullptr;
    const Host* sender = nullptr;
    std::string kind;  // "DSS", "DATA_FIN-only DSS", "MP_CAPABLE with data"
    wire::DataSeq dsn;
    bool dsn_32bit = false;
    uint32_t ssn = 0;
    uint16_t len = 0;
    size_t payload_len = 0;  // subflow bytes covered: len, less one for a DATA_FIN
    bool data_fin = false;
    std::optional<uint16_t> checksum;
  };

  // RFC 8684 §3.3.1 with checksums negotiated: flag A on every MP_CAPABLE, a checksum on every
  // mapping, and each checksum equal to Braid's DssChecksum over the pseudo-header (64-bit DSN,
  // relative SSN, data-level length) and the mapped payload rebuilt from the capture.
  void Checksums() {
    int mpcs = 0, mpcs_without_a = 0;
    std::string first_without_a;
    for (const auto& s : segs_) {
      for (const auto* m : s.All<wire::MpCapable>()) {
        ++mpcs;
        if (!m->checksum_required) {
          if (mpcs_without_a++ == 0) first_without_a = ", first without at " + s.where;
        }
      }
    }
    report_.Check(mpcs > 0 && mpcs_without_a == 0, "MP_CAPABLE flag A (checksum required)",
                  std::to_string(mpcs) + " MP_CAPABLE option(s), " +
                      std::to_string(mpcs - mpcs_without_a) + " with flag A" + first_without_a);

    std::vector<Mapping> mappings;
    for (const auto& s : segs_) {
      const Host* sender = HostOf(s.src);
      for (const auto* m : s.All<wire::MpCapable>()) {
        if (m->form != wire::MpCapableForm::kAckData) continue;
        mappings.push_back({.seg = &s,
                            .sender = sender,
                            .kind = "MP_CAPABLE with data",
                            .dsn = wire::DataSeq(client_.derived.idsn + 1),
                            .ssn = 1,
                            .len = m->data_level_length,
                            .payload_len = m->data_level_length,
                            .checksum = m->checksum});
      }
      for (const auto* dss : s.All<wire::Dss>()) {
        if (!dss->mapping) continue;
        const wire::DssMapping& m = *dss->mapping;
        // A 32-bit DSN is expanded next to the sender's first data byte, IDSN + 1 (the
        // pseudo-header always carries the 64-bit DSN).
        wire::DataSeq reference(sender ? sender->derived.idsn + 1 : 0);
        bool fin_only = dss->data_fin && m.subflow_seq == 0 && m.data_level_length == 1;
        mappings.push_back(
            {.seg = &s,
             .sender = sender,
             .kind = fin_only ? "DATA_FIN-only DSS" : "DSS",
             .dsn = m.data_seq.Expand(reference),
             .dsn_32bit = m.data_seq.is_32bit,
             .ssn = m.subflow_seq,
             .len = m.data_level_length,
             // RFC 8684 §3.3.3: a DATA_FIN takes the mapping's last data-level byte, which has
             // no subflow byte.
             .payload_len = m.data_level_length - (dss->data_fin && m.data_level_length ? 1u : 0u),
             .data_fin = dss->data_fin,
             .checksum = m.checksum});
      }
    }

    int without_checksum = 0, infinite = 0, unknown_sender = 0;
    std::string first_without;
    for (const Mapping& m : mappings) {
      if (!m.checksum && without_checksum++ == 0) {
        first_without = ", first without: " + m.kind + " at " + m.seg->where;
      }
      if (m.len == 0) ++infinite;
      if (m.sender == nullptr) ++unknown_sender;
    }
    report_.Check(!mappings.empty() && without_checksum == 0, "every mapping carries a checksum",
                  std::to_string(mappings.size()) + " mapping(s) on the wire, " +
                      std::to_string(without_checksum) + " without a checksum" + first_without);
    report_.Check(infinite == 0 && unknown_sender == 0, "mappings are ordinary",
                  std::to_string(infinite) + " infinite mapping(s) (fallback), " +
                      std::to_string(unknown_sender) + " from an unknown subflow");

    BuildStreams();
    uint64_t conflicts = 0;
    for (const auto& [dir, st] : streams_) conflicts += st.conflicts;
    std::set<std::tuple<Endpoint, Endpoint, uint64_t, uint32_t, uint16_t, uint16_t, bool>> seen;
    std::map<std::string, int> verified_by_kind;
    std::map<std::string, int> verified_by_sender;
    int verified = 0, repeats = 0, incomplete = 0;
    for (const Mapping& m : mappings) {
      if (!m.checksum || m.len == 0 || m.sender == nullptr) continue;  // failed above
      auto key = std::make_tuple(m.seg->src, m.seg->dst, m.dsn.raw(), m.ssn, m.len, *m.checksum,
                                 m.data_fin);
      if (!seen.insert(key).second) {
        ++repeats;  // the same mapping again (next segment of it, retransmission)
        continue;
      }
      const std::string name = "DSS checksum, " + m.kind + " (" + m.sender->name + " " +
                               m.seg->src.ToString() + " -> " + m.seg->dst.ToString() + ", " +
                               m.seg->where + ")";
      const std::string fields = "DSN " + Dsn(m.dsn.raw()) + (m.dsn_32bit ? " (32-bit)" : "") +
                                 ", SSN " + std::to_string(m.ssn) + ", length " +
                                 std::to_string(m.len) + (m.data_fin ? " incl. DATA_FIN" : "");
      auto payload = StreamBytes({m.seg->src, m.seg->dst}, m.ssn, m.payload_len);
      if (!payload) {
        ++incomplete;
        report_.Info(name + ": " + fields + ": payload not (fully) in the capture, not checked");
        continue;
      }
      const uint16_t ours = wire::DssChecksum(m.dsn.raw(), m.ssn, m.len, *payload);
      ++verified;
      ++verified_by_kind[m.kind];
      ++verified_by_sender[m.sender->name];
      report_.Check(ours == *m.checksum, name,
                    fields + ": kernel " + Hex16(*m.checksum) + ", DssChecksum(DSN, SSN, length, " +
                        std::to_string(payload->size()) + " payload bytes) = " + Hex16(ours));
    }
    std::string by;
    for (const auto& [kind, n] : verified_by_kind) {
      by += (by.empty() ? "" : ", ") + std::to_string(n) + " " + kind;
    }
    for (const auto& [sender, n] : verified_by_sender) {
      by += ", " + std::to_string(n) + " from the " + sender;
    }
    if (verified_by_kind.count("DATA_FIN-only DSS") == 0) {
      report_.Info("no DATA_FIN-only mapping in the capture (DATA_FINs rode on data mappings)");
    }
    report_.Check(verified > 0 && conflicts == 0, "DSS checksums verified",
                  std::to_string(verified) + " distinct mapping(s) verified" +
                      (by.empty() ? "" : " (" + by + ")") + "; " + std::to_string(repeats) +
                      " repeat(s); " + std::to_string(incomplete) +
                      " with payload missing from the capture; " + std::to_string(conflicts) +
                      " retransmitted byte(s) differing from the first copy");
  }

  Report& report_;
  std::vector<Segment>& segs_;
  Endpoint client_ep_, server_ep_;
  Host client_, server_;
  std::optional<uint64_t> client_mpc_data_len_;
  std::map<Direction, SubflowStream> streams_;
};

int Usage() {
  std::fprintf(stderr,
               "usage: kernel_capture_check [--server ADDR] [--signal-address ADDR] "
               "[--checksum] CAPTURE.pcap...\n");
  return 2;
}

int Main(int argc, char** argv) {
  std::optional<IpAddress> server_address, signal_address;
  std::vector<std::string> files;
  bool checksum = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--checksum") {
      checksum = true;
    } else if ((arg == "--server" || arg == "--signal-address") && i + 1 < argc) {
      auto a = ParseAddress(argv[++i]);
      if (!a) return Usage();
      (arg == "--server" ? server_address : signal_address) = a;
    } else if (arg.starts_with("-")) {
      return Usage();
    } else {
      files.emplace_back(arg);
    }
  }
  if (files.empty()) return Usage();

  Report report;
  Decoder decoder(report);
  for (const auto& f : files) {
    if (!decoder.ReadFile(f)) return 2;
  }
  size_t mptcp_segments = 0;
  for (const auto& s : decoder.segments()) mptcp_segments += s.options.empty() ? 0 : 1;
  report.Check(decoder.decode_errors() == 0, "decode",
               std::to_string(decoder.segments().size()) + " TCP segments, " +
                   std::to_string(mptcp_segments) + " with MPTCP options, " +
                   std::to_string(decoder.decode_errors()) + " that Braid could not parse");
  Checker checker(report, decoder.segments());
  checker.Run(server_address, signal_address, checksum);
  std::printf("%d checks, %d failed\n", report.checks(), report.failures());
  return report.failures() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace braid::oracle

int main(int argc, char** argv) { return braid::oracle::Main(argc, argv); }
