#include "sdk/preload/rules.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace braid::preload {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> SplitCommas(std::string_view s) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    const size_t comma = s.find(',');
    out.push_back(Trim(s.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

std::optional<int> ParseNumber(std::string_view s, int max) {
  int v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < 0 || v > max) return std::nullopt;
  return v;
}

// "a.b.c.d[/n]" or "v6[/n]".
bool ParsePrefix(std::string_view s, DestinationRule* rule) {
  std::string_view address = s;
  std::optional<int> length;
  if (const size_t slash = s.find('/'); slash != std::string_view::npos) {
    address = s.substr(0, slash);
    length = ParseNumber(s.substr(slash + 1), 128);
    if (!length.has_value()) return false;
  }
  const std::string text(address);
  if (::inet_pton(AF_INET, text.c_str(), rule->address) == 1) {
    rule->family = AF_INET;
    rule->prefix_len = length.value_or(32);
    return rule->prefix_len <= 32;
  }
  if (::inet_pton(AF_INET6, text.c_str(), rule->address) == 1) {
    rule->family = AF_INET6;
    rule->prefix_len = length.value_or(128);
    return true;
  }
  return false;
}

std::optional<DestinationRule> ParseDestination(std::string_view s) {
  DestinationRule rule;
  if (s == "*") return rule;
  std::string_view address = s;
  std::string_view ports;
  if (!s.empty() && s.front() == '[') {
    const size_t close = s.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    address = s.substr(1, close - 1);
    std::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      ports = rest.substr(1);
    }
  } else if (std::count(s.begin(), s.end(), ':') == 1) {
    // IPv4 (or nothing) with a port range; more colons: an IPv6 prefix without ports.
    const size_t colon = s.find(':');
    address = s.substr(0, colon);
    ports = s.substr(colon + 1);
    if (ports.empty()) return std::nullopt;
  }
  if (!ports.empty()) {
    std::optional<PortRange> range = ParsePortRange(ports);
    if (!range.has_value()) return std::nullopt;
    rule.ports = *range;
  }
  if (!address.empty() && !ParsePrefix(address, &rule)) return std::nullopt;
  return rule;
}

bool PrefixMatches(const uint8_t* a, const uint8_t* b, int bits) {
  const int bytes = bits / 8;
  if (std::memcmp(a, b, bytes) != 0) return false;
  const int rest = bits % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[bytes] & mask) == (b[bytes] & mask);
}

}  // namespace

std::optional<PortRange> ParsePortRange(std::string_view text) {
  text = Trim(text);
  const size_t dash = text.find('-');
  std::optional<int> first = ParseNumber(text.substr(0, dash), 65535);
  std::optional<int> last =
      dash == std::string_view::npos ? first : ParseNumber(text.substr(dash + 1), 65535);
  if (!first.has_value() || !last.has_value() || *first > *last) return std::nullopt;
  return PortRange{static_cast<uint16_t>(*first), static_cast<uint16_t>(*last)};
}

std::optional<Rules> Rules::Parse(std::string_view destinations, std::string_view listen,
                                  std::string* error) {
  Rules rules;
  for (std::string_view entry : SplitCommas(Trim(destinations))) {
    std::optional<DestinationRule> rule = ParseDestination(entry);
    if (!rule.has_value()) {
      *error = "BRAID_PRELOAD_DESTINATIONS: cannot parse \"" + std::string(entry) + "\"";
      return std::nullopt;
    }
    rules.destinations_.push_back(*rule);
  }
  for (std::string_view entry : SplitCommas(Trim(listen))) {
    if (entry == "*") {
      rules.listen_.push_back(PortRange{});
      continue;
    }
    std::optional<PortRange> range = ParsePortRange(entry);
    if (!range.has_value()) {
      *error = "BRAID_PRELOAD_LISTEN: cannot parse \"" + std::string(entry) + "\"";
      return std::nullopt;
    }
    rules.listen_.push_back(*range);
  }
  return rules;
}

Rules Rules::FromEnvironment() {
  const char* destinations = std::getenv("BRAID_PRELOAD_DESTINATIONS");
  const char* listen = std::getenv("BRAID_PRELOAD_LISTEN");
  std::string error;
  std::optional<Rules> rules =
      Parse(destinations != nullptr ? destinations : "", listen != nullptr ? listen : "", &error);
  if (rules.has_value()) return *rules;
  ::dprintf(STDERR_FILENO, "libbraid_preload: %s; every socket stays the kernel's\n",
            error.c_str());
  Rules none;
  none.none_ = true;
  return none;
}

bool Rules::MatchDestination(const sockaddr* addr, socklen_t len) const {
  if (none_) return false;
  if (destinations_.empty()) return true;
  int family = AF_UNSPEC;
  uint8_t address[16] = {};
  uint16_t port = 0;
  if (addr->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    family = AF_INET;
    std::memcpy(address, &in->sin_addr, 4);
    port = ntohs(in->sin_port);
  } else if (addr->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    port = ntohs(in6->sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      family = AF_INET;
      std::memcpy(address, in6->sin6_addr.s6_addr + 12, 4);
    } else {
      family = AF_INET6;
      std::memcpy(address, in6->sin6_addr.s6_addr, 16);
    }
  } else {
    return false;
  }
  for (const DestinationRule& rule : destinations_) {
    if (!rule.ports.Contains(port)) continue;
    if (rule.family == AF_UNSPEC) return true;
    if (rule.family == family && PrefixMatches(rule.address, address, rule.prefix_len)) {
      return true;
    }
  }
  return false;
}

bool Rules::MatchListen(uint16_t port) const {
  if (none_) return false;
  if (listen_.empty()) return true;
  for (const PortRange& range : listen_) {
    if (range.Contains(port)) return true;
  }
  return false;
}

}  // namespace braid::preload
