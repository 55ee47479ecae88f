#include "cni/config.h"

#include <cctype>
#include <cmath>
#include <initializer_list>
#include <set>
#include <string>
#include <utility>

#include "cni/error.h"
#include "cni/options.h"
#include "proto/status.h"

namespace braid::cni {
namespace {

absl::Status ConfigError(std::string_view where, std::string_view msg) {
  return MakeError(proto::kCniInvalidNetworkConfig, std::string(where) + ": " + std::string(msg));
}

absl::Status WrongKind(std::string_view where, std::string_view expected, const JsonValue& got) {
  return ConfigError(where,
                     "expected " + std::string(expected) + ", got " + std::string(KindName(got)));
}

std::string Quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

// The string at `key`, or nullopt when absent.
absl::StatusOr<std::optional<std::string>> OptionalString(const JsonValue& object,
                                                          std::string_view where,
                                                          std::string_view key) {
  const JsonValue* value = FindField(object, key);
  if (value == nullptr) return std::nullopt;
  if (!IsString(*value)) return WrongKind(FieldPath(where, key), "a string", *value);
  return value->string_value();
}

absl::StatusOr<std::string> RequiredString(const JsonValue& object, std::string_view where,
                                           std::string_view key) {
  absl::StatusOr<std::optional<std::string>> value = OptionalString(object, where, key);
  if (!value.ok()) return value.status();
  if (!value->has_value() || (*value)->empty())
    return ConfigError(FieldPath(where, key), "missing");
  return **value;
}

// The list at `key`, or nullptr when absent.
absl::StatusOr<const JsonValue*> OptionalList(const JsonValue& object, std::string_view where,
                                              std::string_view key) {
  const JsonValue* value = FindField(object, key);
  if (value == nullptr) return nullptr;
  if (!IsList(*value)) return WrongKind(FieldPath(where, key), "a list", *value);
  return value;
}

// Keys braid-cni reads in its own objects (paths, ranges, routes): anything else is a typo that
// would otherwise be ignored silently.
absl::Status CheckKeys(const JsonValue& object, std::string_view where,
                       std::initializer_list<std::string_view> known) {
  for (const std::string& key : SortedKeys(object)) {
    bool found = false;
    for (const std::string_view k : known) found = found || k == key;
    if (found) continue;
    std::string list;
    for (const std::string_view k : known) list += (list.empty() ? "" : ", ") + std::string(k);
    return ConfigError(FieldPath(where, key), "unknown key (expected one of: " + list + ")");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<IpAddress>> OptionalAddress(const JsonValue& object,
                                                         std::string_view where,
                                                         std::string_view key) {
  absl::StatusOr<std::optional<std::string>> text = OptionalString(object, where, key);
  if (!text.ok()) return text.status();
  if (!text->has_value()) return std::nullopt;
  std::optional<IpAddress> address = IpAddress::Parse(**text);
  if (!address) return ConfigError(FieldPath(where, key), Quoted(**text) + " is not an IP address");
  return address;
}

// A prefix in network form ("10.10.0.0/24").
absl::StatusOr<IpPrefix> RequiredNetwork(const JsonValue& object, std::string_view where,
                                         std::string_view key) {
  absl::StatusOr<std::string> text = RequiredString(object, where, key);
  if (!text.ok()) return text.status();
  const std::optional<IpPrefix> prefix = IpPrefix::Parse(*text);
  if (!prefix) {
    return ConfigError(FieldPath(where, key),
                       Quoted(*text) + " is not an address with a prefix length (CIDR)");
  }
  if (!prefix->HostBitsClear()) {
    return ConfigError(FieldPath(where, key),
                       Quoted(*text) + " has host bits set; the network is " +
                           IpPrefix{prefix->Network(), prefix->length}.ToString());
  }
  return *prefix;
}

bool IsValidNetworkName(std::string_view name) {
  // CNI spec, "Configuration format": the container id's syntax.
  if (name.empty() || !std::isalnum(static_cast<unsigned char>(name[0]))) return false;
  for (const char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
      return false;
    }
  }
  return true;
}

absl::StatusOr<RangeConfig> ParseRange(const JsonValue& object, const std::string& where) {
  if (!IsObject(object)) return WrongKind(where, "an object", object);
  if (absl::Status s = CheckKeys(object, where, {"subnet", "gateway", "rangeStart", "rangeEnd"});
      !s.ok()) {
    return s;
  }
  RangeConfig range;
  absl::StatusOr<IpPrefix> subnet = RequiredNetwork(object, where, "subnet");
  if (!subnet.ok()) return subnet.status();
  range.subnet = *subnet;
  // host-local keeps the network address and the broadcast address (IPv4) out of its pools and
  // refuses subnets with fewer than two others.
  const int bits = static_cast<int>(range.subnet.address.size() * 8);
  if (range.subnet.length > bits - 2) {
    return ConfigError(FieldPath(where, "subnet"), Quoted(range.subnet.ToString()) +
                                                       " is too small to allocate from (at most /" +
                                                       std::to_string(bits - 2) + ")");
  }
  for (const auto& [key, field] :
       {std::pair<std::string_view, std::optional<IpAddress>*>{"gateway", &range.gateway},
        {"rangeStart", &range.range_start},
        {"rangeEnd", &range.range_end}}) {
    absl::StatusOr<std::optional<IpAddress>> address = OptionalAddress(object, where, key);
    if (!address.ok()) return address.status();
    if (address->has_value() && !range.subnet.Contains(**address)) {
      return ConfigError(
          FieldPath(where, key),
          Quoted((*address)->ToString()) + " is outside the subnet " + range.subnet.ToString());
    }
    *field = *address;
  }
  if (range.range_start && range.range_end && *range.range_end < *range.range_start) {
    return ConfigError(FieldPath(where, "rangeEnd"), Quoted(range.range_end->ToString()) +
                                                         " is before rangeStart " +
                                                         Quoted(range.range_start->ToString()));
  }
  return range;
}

absl::StatusOr<RouteConfig> ParseRoute(const JsonValue& object, const std::string& where,
                                       const PathConfig& path) {
  if (!IsObject(object)) return WrongKind(where, "an object", object);
  if (absl::Status s = CheckKeys(object, where, {"dst", "gw"}); !s.ok()) return s;
  RouteConfig route;
  absl::StatusOr<IpPrefix> dst = RequiredNetwork(object, where, "dst");
  if (!dst.ok()) return dst.status();
  route.dst = *dst;
  absl::StatusOr<std::optional<IpAddress>> gw = OptionalAddress(object, where, "gw");
  if (!gw.ok()) return gw.status();
  route.gw = *gw;
  const int family = route.dst.address.family;
  if (route.gw && route.gw->family != family) {
    return ConfigError(FieldPath(where, "gw"), Quoted(route.gw->ToString()) + " is IPv" +
                                                   std::to_string(route.gw->family) +
                                                   " but dst is IPv" + std::to_string(family));
  }
  bool has_family = false;
  for (const RangeConfig& range : path.ranges) {
    has_family = has_family || range.subnet.address.family == family;
  }
  if (!has_family) {
    return ConfigError(FieldPath(where, "dst"),
                       "IPv" + std::to_string(family) + " route, but path " + Quoted(path.name) +
                           " has no IPv" + std::to_string(family) + " range");
  }
  return route;
}

absl::StatusOr<PathConfig> ParsePath(const JsonValue& object, const std::string& where) {
  if (!IsObject(object)) return WrongKind(where, "an object", object);
  if (absl::Status s = CheckKeys(object, where, {"name", "ranges", "routes"}); !s.ok()) return s;
  PathConfig path;
  absl::StatusOr<std::string> name = RequiredString(object, where, "name");
  if (!name.ok()) return name.status();
  // Options list paths joined with ',' (options.h): a name must not hold one.
  if (name->find(',') != std::string::npos || !IsValidNetworkName(*name)) {
    return ConfigError(FieldPath(where, "name"),
                       Quoted(*name) +
                           " must start with a letter or a digit, then letters, digits, '_', "
                           "'.' and '-'");
  }
  path.name = *name;

  absl::StatusOr<const JsonValue*> ranges = OptionalList(object, where, "ranges");
  if (!ranges.ok()) return ranges.status();
  if (*ranges == nullptr || (*ranges)->list_value().values_size() == 0) {
    return ConfigError(FieldPath(where, "ranges"), "missing (a path needs at least one range)");
  }
  for (int i = 0; i < (*ranges)->list_value().values_size(); ++i) {
    absl::StatusOr<RangeConfig> range =
        ParseRange((*ranges)->list_value().values(i),
                   IndexPath(FieldPath(where, "ranges"), static_cast<size_t>(i)));
    if (!range.ok()) return range.status();
    path.ranges.push_back(*range);
  }

  absl::StatusOr<const JsonValue*> routes = OptionalList(object, where, "routes");
  if (!routes.ok()) return routes.status();
  if (*routes != nullptr) {
    for (int i = 0; i < (*routes)->list_value().values_size(); ++i) {
      absl::StatusOr<RouteConfig> route =
          ParseRoute((*routes)->list_value().values(i),
                     IndexPath(FieldPath(where, "routes"), static_cast<size_t>(i)), path);
      if (!route.ok()) return route.status();
      path.routes.push_back(*route);
    }
  }
  return path;
}

absl::Status ParsePaths(const JsonValue& config, NetworkConfig& parsed) {
  absl::StatusOr<const JsonValue*> paths = OptionalList(config, "", "paths");
  if (!paths.ok()) return paths.status();
  if (*paths == nullptr || (*paths)->list_value().values_size() == 0) {
    return ConfigError("paths", "missing (braid-cni needs at least one path)");
  }
  std::set<std::string> names;
  for (int i = 0; i < (*paths)->list_value().values_size(); ++i) {
    const std::string where = IndexPath("paths", static_cast<size_t>(i));
    absl::StatusOr<PathConfig> path = ParsePath((*paths)->list_value().values(i), where);
    if (!path.ok()) return path.status();
    if (!names.insert(path->name).second) {
      return ConfigError(FieldPath(where, "name"), Quoted(path->name) + " names two paths");
    }
    parsed.paths.push_back(std::move(*path));
  }
  // host-local's address must tell its path: no two ranges may overlap.
  struct Placed {
    std::string where;
    const IpPrefix* subnet;
  };
  std::vector<Placed> placed;
  for (size_t p = 0; p < parsed.paths.size(); ++p) {
    for (size_t r = 0; r < parsed.paths[p].ranges.size(); ++r) {
      const IpPrefix& subnet = parsed.paths[p].ranges[r].subnet;
      const std::string where =
          FieldPath(IndexPath(FieldPath(IndexPath("paths", p), "ranges"), r), "subnet");
      for (const Placed& other : placed) {
        if (other.subnet->Overlaps(subnet)) {
          return ConfigError(where, Quoted(subnet.ToString()) + " overlaps " + other.where + " " +
                                        Quoted(other.subnet->ToString()));
        }
      }
      placed.push_back({where, &subnet});
    }
  }
  return absl::OkStatus();
}

absl::Status ParseIpam(const JsonValue& config, NetworkConfig& parsed) {
  const JsonValue* ipam = FindField(config, "ipam");
  if (ipam == nullptr) {
    return ConfigError("ipam",
                       "missing (braid-cni delegates IPAM to host-local: "
                       "{\"type\": \"host-local\"})");
  }
  if (!IsObject(*ipam)) return WrongKind("ipam", "an object", *ipam);
  absl::StatusOr<std::string> type = RequiredString(*ipam, "ipam", "type");
  if (!type.ok()) return type.status();
  if (*type != "host-local") {
    return ConfigError("ipam.type", Quoted(*type) +
                                        " is not supported: braid-cni delegates IPAM to "
                                        "host-local only");
  }
  // braid-cni writes these itself from paths[] (HostLocalConfig).
  for (const std::string_view key :
       {"ranges", "subnet", "rangeStart", "rangeEnd", "gateway", "routes"}) {
    if (FindField(*ipam, key) != nullptr) {
      return ConfigError(FieldPath("ipam", key),
                         "set by braid-cni from paths[] (ranges and routes per path); remove it");
    }
  }
  absl::StatusOr<std::optional<std::string>> data_dir = OptionalString(*ipam, "ipam", "dataDir");
  if (!data_dir.ok()) return data_dir.status();
  parsed.ipam = *ipam;
  return absl::OkStatus();
}

absl::Status ParseAgent(const JsonValue& config, NetworkConfig& parsed) {
  absl::StatusOr<std::optional<std::string>> socket = OptionalString(config, "", "agentSocket");
  if (!socket.ok()) return socket.status();
  if (socket->has_value()) {
    if ((*socket)->empty() || (**socket)[0] != '/') {
      return ConfigError("agentSocket", Quoted(**socket) + " is not an absolute path");
    }
    parsed.agent_socket = **socket;
  }
  if (const JsonValue* timeout = FindField(config, "timeoutSeconds")) {
    if (timeout->kind_case() != JsonValue::kNumberValue) {
      return WrongKind("timeoutSeconds", "a number", *timeout);
    }
    const double seconds = timeout->number_value();
    if (!(seconds > 0) || seconds > kMaxAgentTimeoutSeconds) {
      return ConfigError("timeoutSeconds", FormatJsonNumber(seconds) + " is outside (0, " +
                                               FormatJsonNumber(kMaxAgentTimeoutSeconds) + "]");
    }
    parsed.agent_timeout = std::chrono::milliseconds(std::llround(seconds * 1000));
  }
  return absl::OkStatus();
}

absl::Status ParseValidAttachments(const JsonValue& config, NetworkConfig& parsed) {
  // CNI 1.1's key; libcni also sends the draft's name with the same list.
  std::string key = "cni.dev/valid-attachments";
  const JsonValue* list = FindField(config, key);
  if (list == nullptr) {
    key = "cni.dev/attachments";
    list = FindField(config, key);
  }
  if (list == nullptr) {
    return ConfigError("cni.dev/valid-attachments",
                       "missing (GC needs the attachments to keep; an empty list keeps none)");
  }
  if (!IsList(*list)) return WrongKind(key, "a list", *list);
  for (int i = 0; i < list->list_value().values_size(); ++i) {
    const JsonValue& item = list->list_value().values(i);
    const std::string where = IndexPath(key, static_cast<size_t>(i));
    if (!IsObject(item)) return WrongKind(where, "an object", item);
    absl::StatusOr<std::string> container_id = RequiredString(item, where, "containerID");
    if (!container_id.ok()) return container_id.status();
    absl::StatusOr<std::string> ifname = RequiredString(item, where, "ifname");
    if (!ifname.ok()) return ifname.status();
    v1::CniAttachment& attachment = parsed.valid_attachments.emplace_back();
    attachment.set_container_id(*container_id);
    attachment.set_ifname(*ifname);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<NetworkConfig> ParseNetworkConfig(const JsonValue& config, Command command,
                                                 std::string_view cni_version) {
  if (!IsObject(config)) {
    return MakeError(
        proto::kCniDecodeFailure,
        "network configuration: expected a JSON object, got " + std::string(KindName(config)));
  }
  NetworkConfig parsed;
  parsed.cni_version = std::string(cni_version);

  absl::StatusOr<std::string> name = RequiredString(config, "", "name");
  if (!name.ok()) return name.status();
  if (!IsValidNetworkName(*name)) {
    return ConfigError("name", Quoted(*name) +
                                   " must start with a letter or a digit, then letters, digits, "
                                   "'_', '.' and '-'");
  }
  parsed.name = *name;

  if (absl::Status s = ParseAgent(config, parsed); !s.ok()) return s;
  if (absl::Status s = ParsePaths(config, parsed); !s.ok()) return s;
  if (absl::Status s = ParseIpam(config, parsed); !s.ok()) return s;

  if (const JsonValue* prev = FindField(config, "prevResult")) {
    if (!IsObject(*prev)) return WrongKind("prevResult", "an object", *prev);
    parsed.prev_result = *prev;
  }
  switch (command) {
    case Command::kAdd: {
      // Options matter to ADD only: a bad one must not keep DEL from cleaning up.
      absl::StatusOr<std::vector<v1::PodOption>> options = PodOptions(config);
      if (!options.ok()) return options.status();
      parsed.options = std::move(*options);
      break;
    }
    case Command::kCheck:
      if (!parsed.prev_result) {
        return ConfigError("prevResult", "missing (CHECK checks the result of the ADD)");
      }
      break;
    case Command::kGc:
      if (absl::Status s = ParseValidAttachments(config, parsed); !s.ok()) return s;
      break;
    case Command::kDel:
    case Command::kStatus:
    case Command::kVersion:
      break;
  }
  return parsed;
}

JsonValue HostLocalConfig(const NetworkConfig& config, std::string_view version) {
  JsonValue ipam = config.ipam;
  JsonValue range_sets = JsonList();
  for (const PathConfig& path : config.paths) {
    for (const int family : {4, 6}) {
      JsonValue set = JsonList();
      for (const RangeConfig& range : path.ranges) {
        if (range.subnet.address.family != family) continue;
        JsonValue entry = JsonObject();
        SetField(entry, "subnet", JsonString(range.subnet.ToString()));
        if (range.gateway) SetField(entry, "gateway", JsonString(range.gateway->ToString()));
        if (range.range_start) {
          SetField(entry, "rangeStart", JsonString(range.range_start->ToString()));
        }
        if (range.range_end) SetField(entry, "rangeEnd", JsonString(range.range_end->ToString()));
        Append(set, std::move(entry));
      }
      if (set.list_value().values_size() > 0) Append(range_sets, std::move(set));
    }
  }
  SetField(ipam, "ranges", std::move(range_sets));

  JsonValue host_local = JsonObject();
  SetField(host_local, "cniVersion", JsonString(version));
  SetField(host_local, "name", JsonString(config.name));
  SetField(host_local, "ipam", std::move(ipam));
  return host_local;
}

std::optional<size_t> PathOfAddress(const NetworkConfig& config, const IpAddress& address) {
  for (size_t p = 0; p < config.paths.size(); ++p) {
    for (const RangeConfig& range : config.paths[p].ranges) {
      if (range.subnet.Contains(address)) return p;
    }
  }
  return std::nullopt;
}

}  // namespace braid::cni
