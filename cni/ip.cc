#include "cni/ip.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <string>

namespace braid::cni {

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
  const std::string copy(text);  // inet_pton needs a terminated string
  IpAddress address;
  if (copy.find(':') == std::string::npos) {
    address.family = 4;
    if (inet_pton(AF_INET, copy.c_str(), address.bytes.data()) != 1) return std::nullopt;
  } else {
    address.family = 6;
    if (inet_pton(AF_INET6, copy.c_str(), address.bytes.data()) != 1) return std::nullopt;
  }
  return address;
}

std::string IpAddress::ToString() const {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == 4 ? AF_INET : AF_INET6, bytes.data(), text, sizeof(text));
  return text;
}

std::optional<IpPrefix> IpPrefix::Parse(std::string_view text) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const std::optional<IpAddress> address = IpAddress::Parse(text.substr(0, slash));
  if (!address) return std::nullopt;
  const std::string_view length_text = text.substr(slash + 1);
  int length = -1;
  const auto [end, ec] =
      std::from_chars(length_text.data(), length_text.data() + length_text.size(), length);
  if (length_text.empty() || ec != std::errc() || end != length_text.data() + length_text.size()) {
    return std::nullopt;
  }
  if (length < 0 || length > static_cast<int>(address->size() * 8)) return std::nullopt;
  return IpPrefix{*address, length};
}

std::string IpPrefix::ToString() const { return address.ToString() + "/" + std::to_string(length); }

IpAddress IpPrefix::Network() const {
  IpAddress network = address;
  for (size_t i = 0; i < network.size(); ++i) {
    const int bits_here = std::clamp(length - static_cast<int>(i * 8), 0, 8);
    network.bytes[i] &= static_cast<uint8_t>(0xff00 >> bits_here);
  }
  return network;
}

bool IpPrefix::Contains(const IpAddress& other) const {
  if (other.family != address.family) return false;
  return IpPrefix{other, length}.Network() == Network();
}

bool IpPrefix::Overlaps(const IpPrefix& other) const {
  // Two prefixes overlap when the shorter one contains the other's network.
  return length <= other.length ? Contains(other.Network()) : other.Contains(Network());
}

int FamilyOfText(std::string_view text) { return text.find(':') == std::string_view::npos ? 4 : 6; }

}  // namespace braid::cni
