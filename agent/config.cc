#include "agent/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/config_options.h"
#include "datapath/mptcp/path_manager/path_manager.h"

namespace braid::agent {

namespace {

constexpr std::array<std::string_view, 3> kPathKindNames = {"vf", "af_xdp", "af_packet"};
constexpr std::array<std::string_view, 4> kLogLevelNames = {"error", "warning", "info", "debug"};
constexpr std::array<std::string_view, 2> kIdleModeNames = {"busy", "adaptive"};

}  // namespace

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::span<const std::string_view> PathKindNames() { return kPathKindNames; }
std::span<const std::string_view> LogLevelNames() { return kLogLevelNames; }
std::span<const std::string_view> IdleModeNames() { return kIdleModeNames; }

namespace {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

// Every problem found, each naming its key.
class Errors {
 public:
  void Add(std::string_view key, std::string_view message) {
    lines_.push_back(absl::StrCat(std::string(key), ": ", std::string(message)));
  }
  // "<key>: got "<value>", expected <expected>"
  void Got(std::string_view key, std::string_view value, std::string_view expected) {
    Add(key, absl::StrCat("got \"", std::string(value), "\", expected ", std::string(expected)));
  }
  bool empty() const { return lines_.empty(); }
  absl::Status ToStatus(std::string_view source) const {
    return absl::InvalidArgumentError(absl::StrCat(std::string(source), " has ", lines_.size(),
                                                   lines_.size() == 1 ? " error" : " errors", ":\n",
                                                   absl::StrJoin(lines_, "\n")));
  }

 private:
  std::vector<std::string> lines_;
};

std::string_view NodeKind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
      return "no value";
    default:
      return "a scalar";
  }
}

// "datapath.wokers" -> "unknown key, did you mean datapath.workers?" when a sibling is close.
std::string UnknownKeyMessage(std::string_view prefix, std::string_view name,
                              const std::set<std::string>& siblings) {
  std::string best;
  size_t best_distance = SIZE_MAX;
  for (const std::string& s : siblings) {
    const size_t d = EditDistance(name, s);
    if (d < best_distance) {
      best_distance = d;
      best = s;
    }
  }
  const size_t allowed = std::max<size_t>(2, name.size() / 3);
  if (!best.empty() && best_distance <= allowed) {
    return absl::StrCat("unknown key, did you mean ", std::string(prefix), best, "?");
  }
  return absl::StrCat("unknown key, expected one of ", absl::StrJoin(siblings, ", "));
}

bool ParseUint(std::string_view text, uint64_t& out) {
  if (text.empty() || text.size() > 19) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return absl::SimpleAtoi(std::string(text), &out);
}

template <typename Cidr, typename Address>
std::optional<Cidr> ParseCidr(std::string_view text, uint8_t max_len) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::optional<Address> address = Address::Parse(text.substr(0, slash));
  uint64_t len = 0;
  if (!address || !ParseUint(text.substr(slash + 1), len) || len > max_len) return std::nullopt;
  const auto prefix_len = static_cast<uint8_t>(len);
  // A subnet is its network address: host bits set are a typo, not a subnet.
  if (!(net::PrefixOf(*address, prefix_len) == wire::IpAddress(*address))) return std::nullopt;
  return Cidr{*address, prefix_len};
}

// Sets one field from one YAML value, or records why not.
void SetField(FieldRef field, const YAML::Node& node, std::string_view key, int64_t min,
              int64_t max, const StringCheck* check, Errors& errors) {
  const std::string expected = Expected(field, min, max, check);
  const bool is_list = std::holds_alternative<std::vector<uint32_t>*>(field);
  if (is_list ? !node.IsSequence() : !node.IsScalar()) {
    errors.Add(key, absl::StrCat("got ", std::string(NodeKind(node)), ", expected ", expected));
    return;
  }
  const std::string text = is_list ? std::string() : node.Scalar();
  auto enum_index = [&](std::span<const std::string_view> names) -> std::optional<size_t> {
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == text) return i;
    }
    errors.Got(key, text, expected);
    return std::nullopt;
  };
  std::visit(Overloaded{
                 [&](bool* v) {
                   if (text == "true" || text == "false") {
                     *v = text == "true";
                   } else {
                     errors.Got(key, text, expected);
                   }
                 },
                 [&](uint32_t* v) {
                   uint64_t n = 0;
                   if (!ParseUint(text, n) || n < static_cast<uint64_t>(min) ||
                       n > static_cast<uint64_t>(max)) {
                     errors.Got(key, text, expected);
                   } else {
                     *v = static_cast<uint32_t>(n);
                   }
                 },
                 [&](std::string* v) {
                   if (check != nullptr && !check->valid(text)) {
                     errors.Got(key, text, expected);
                   } else {
                     *v = text;
                   }
                 },
                 [&](tcp::Duration* v) {
                   std::optional<tcp::Duration> d = ParseDuration(text);
                   if (!d || d->count() < min || d->count() > max) {
                     errors.Got(key, text, expected);
                   } else {
                     *v = *d;
                   }
                 },
                 [&](std::vector<uint32_t>* v) {
                   v->clear();
                   for (size_t i = 0; i < node.size(); ++i) {
                     const std::string element_key = absl::StrCat(std::string(key), "[", i, "]");
                     uint64_t n = 0;
                     if (!node[i].IsScalar() || !ParseUint(node[i].Scalar(), n) ||
                         n < static_cast<uint64_t>(min) || n > static_cast<uint64_t>(max)) {
                       errors.Got(element_key,
                                  node[i].IsScalar() ? node[i].Scalar() : NodeKind(node[i]),
                                  absl::StrCat("an integer from ", min, " to ", max));
                     } else {
                       v->push_back(static_cast<uint32_t>(n));
                     }
                   }
                 },
                 [&](runtime::IdleMode* v) {
                   if (auto i = enum_index(IdleModeNames()))
                     *v = static_cast<runtime::IdleMode>(*i);
                 },
                 [&](PathKind* v) {
                   if (auto i = enum_index(PathKindNames())) *v = static_cast<PathKind>(*i);
                 },
                 [&](LogLevel* v) {
                   if (auto i = enum_index(LogLevelNames())) *v = static_cast<LogLevel>(*i);
                 },
                 [&](std::optional<net::Ipv4Cidr>* v) {
                   if (auto c = ParseCidr<net::Ipv4Cidr, wire::Ipv4Address>(text, 32)) {
                     *v = *c;
                   } else {
                     errors.Got(key, text, expected);
                   }
                 },
                 [&](std::optional<net::Ipv6Cidr>* v) {
                   if (auto c = ParseCidr<net::Ipv6Cidr, wire::Ipv6Address>(text, 128)) {
                     *v = *c;
                   } else {
                     errors.Got(key, text, expected);
                   }
                 },
                 [&](std::optional<wire::Ipv4Address>* v) {
                   if (auto a = wire::Ipv4Address::Parse(text)) {
                     *v = *a;
                   } else {
                     errors.Got(key, text, expected);
                   }
                 },
                 [&](std::optional<wire::Ipv6Address>* v) {
                   if (auto a = wire::Ipv6Address::Parse(text)) {
                     *v = *a;
                   } else {
                     errors.Got(key, text, expected);
                   }
                 },
             },
             field);
}

// Walks a mapping against a table whose keys are dotted below `table_prefix`. `shown_prefix`
// is what error keys start with ("paths[1]." for a list element). `lists` are keys handled by
// the caller (their nodes are returned in `list_nodes`). Fills `seen` with the keys present.
template <typename Target>
void WalkMapping(const YAML::Node& map, std::string_view prefix, std::string_view shown_prefix,
                 std::span<const Option<Target>> table, std::span<const std::string_view> lists,
                 Target& target, Errors& errors, std::set<std::string>& seen,
                 std::map<std::string, YAML::Node>& list_nodes) {
  // The names one level below `prefix`: sections, options and lists.
  std::set<std::string> siblings;
  auto add_sibling = [&](std::string_view full) {
    if (full.substr(0, prefix.size()) != prefix) return;
    std::string_view rest = full.substr(prefix.size());
    siblings.insert(std::string(rest.substr(0, rest.find('.'))));
  };
  for (const Option<Target>& o : table) add_sibling(o.key);
  for (std::string_view l : lists) add_sibling(l);

  std::set<std::string> keys_here;
  for (auto it = map.begin(); it != map.end(); ++it) {
    const std::string name = it->first.IsScalar() ? it->first.Scalar() : std::string("?");
    const std::string full = absl::StrCat(std::string(prefix), name);
    const std::string shown = absl::StrCat(std::string(shown_prefix), full);
    if (!keys_here.insert(name).second) {
      errors.Add(shown, "key appears twice");
      continue;
    }
    if (!siblings.contains(name)) {
      errors.Add(shown,
                 UnknownKeyMessage(absl::StrCat(std::string(shown_prefix), std::string(prefix)),
                                   name, siblings));
      continue;
    }
    if (std::find(lists.begin(), lists.end(), full) != lists.end()) {
      list_nodes[full] = it->second;
      continue;
    }
    const auto option = std::find_if(table.begin(), table.end(),
                                     [&](const Option<Target>& o) { return o.key == full; });
    if (option != table.end()) {
      seen.insert(full);
      SetField(option->field(target), it->second, shown, option->min, option->max, option->check,
               errors);
      continue;
    }
    if (!it->second.IsMap()) {
      errors.Add(shown,
                 absl::StrCat("got ", std::string(NodeKind(it->second)), ", expected a mapping"));
      continue;
    }
    WalkMapping(it->second, absl::StrCat(full, "."), shown_prefix, table, lists, target, errors,
                seen, list_nodes);
  }
}

// A list of mappings, each checked against `table`; required keys must be present.
template <typename Item>
std::vector<Item> ParseList(const YAML::Node& node, std::string_view key,
                            std::span<const Option<Item>> table, Errors& errors) {
  std::vector<Item> items;
  if (!node.IsSequence()) {
    if (!node.IsNull()) {
      errors.Add(key, absl::StrCat("got ", std::string(NodeKind(node)), ", expected a list"));
    }
    return items;
  }
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string item_key = absl::StrCat(std::string(key), "[", i, "]");
    Item item;
    if (!node[i].IsMap()) {
      errors.Add(item_key,
                 absl::StrCat("got ", std::string(NodeKind(node[i])), ", expected a mapping"));
      items.push_back(item);
      continue;
    }
    std::set<std::string> seen;
    std::map<std::string, YAML::Node> no_lists;
    WalkMapping<Item>(node[i], "", item_key + ".", table, {}, item, errors, seen, no_lists);
    for (const Option<Item>& o : table) {
      if (o.required && !seen.contains(std::string(o.key))) {
        errors.Add(absl::StrCat(item_key, ".", std::string(o.key)), "required key is missing");
      }
    }
    items.push_back(item);
  }
  return items;
}

bool Contains(const net::Ipv4Cidr& c, const wire::Ipv4Address& a) { return c.Contains(a); }
bool Contains(const net::Ipv6Cidr& c, const wire::Ipv6Address& a) { return c.Contains(a); }

template <typename Cidr, typename Address>
void CheckGateway(const std::optional<Cidr>& subnet, const std::optional<Address>& gateway,
                  std::string_view key, std::string_view subnet_key, std::string_view item,
                  Errors& errors) {
  if (!gateway) return;
  const std::string shown = absl::StrCat(std::string(item), ".", std::string(key));
  if (!subnet) {
    errors.Add(shown, absl::StrCat("needs ", std::string(item), ".", std::string(subnet_key)));
  } else if (!Contains(*subnet, *gateway)) {
    errors.Got(
        shown, gateway->ToString(),
        absl::StrCat("an address inside ", subnet->address.ToString(), "/", subnet->prefix_len));
  }
}

// Rules between keys of one path, and between paths.
void CheckPaths(const std::vector<PathConfig>& paths, Errors& errors) {
  std::map<std::string, size_t> names;
  std::map<std::string, size_t> devices;
  for (size_t i = 0; i < paths.size(); ++i) {
    const PathConfig& p = paths[i];
    const std::string item = absl::StrCat("paths[", i, "]");
    if (!p.name.empty()) {
      auto [it, inserted] = names.emplace(p.name, i);
      if (!inserted) {
        errors.Add(item + ".name",
                   absl::StrCat("\"", p.name, "\" is already the name of paths[", it->second, "]"));
      }
    }
    const std::string_view kind = PathKindNames()[static_cast<size_t>(p.kind)];
    if (p.kind == PathKind::kVf) {
      if (p.pci.empty()) errors.Add(item + ".pci", "required for kind vf");
      if (!p.netdev.empty()) {
        errors.Add(item + ".netdev", "not used by kind vf (a VF is named by its pci address)");
      }
    } else {
      if (p.netdev.empty()) {
        errors.Add(item + ".netdev", absl::StrCat("required for kind ", std::string(kind)));
      }
      if (!p.pci.empty())
        errors.Add(item + ".pci",
                   absl::StrCat("only for kind vf, this path is ", std::string(kind)));
    }
    const std::string device = p.kind == PathKind::kVf ? p.pci : p.netdev;
    if (!device.empty()) {
      auto [it, inserted] = devices.emplace(device, i);
      if (!inserted) {
        errors.Add(item + (p.kind == PathKind::kVf ? ".pci" : ".netdev"),
                   absl::StrCat("\"", device, "\" is already used by paths[", it->second, "]"));
      }
    }
    if (!p.ipv4_subnet && !p.ipv6_subnet) {
      errors.Add(item, "needs ipv4_subnet, ipv6_subnet or both");
    }
    CheckGateway(p.ipv4_subnet, p.ipv4_gateway, "ipv4_gateway", "ipv4_subnet", item, errors);
    CheckGateway(p.ipv6_subnet, p.ipv6_gateway, "ipv6_gateway", "ipv6_subnet", item, errors);
    if (p.ipv6_subnet && p.mtu < 1280) {
      errors.Got(item + ".mtu", absl::StrCat(p.mtu), "at least 1280 on a path with IPv6");
    }
  }
}

// The rules of the datapath's own structs, and those across sections.
void CheckSections(const AgentConfig& c, Errors& errors) {
  if (!c.datapath.lcores.empty() && c.datapath.lcores.size() < c.datapath.workers) {
    errors.Add("datapath.lcores",
               absl::StrCat("has ", c.datapath.lcores.size(), " cores, datapath.workers needs ",
                            c.datapath.workers));
  }
  if (absl::Status s = c.datapath.idle.Validate(); !s.ok()) {
    errors.Add("datapath.idle", std::string(s.message()));
  }
  if (absl::Status s = mptcp::ValidatePathManagerConfig(c.mptcp.path_manager); !s.ok()) {
    errors.Add("mptcp.path_manager", std::string(s.message()));
  }
  if (c.mptcp.path_manager.recreate_max < c.mptcp.path_manager.recreate_min) {
    errors.Add("mptcp.path_manager.recreate_max", "must be at least recreate_min");
  }
  if (std::string e = c.channel.geometry.Validate(); !e.empty()) errors.Add("channel", e);
  if (absl::Status s = c.channel.limits.Validate(); !s.ok())
    errors.Add("channel", std::string(s.message()));
  std::set<std::string> pfs;
  for (size_t i = 0; i < c.sriov.pfs.size(); ++i) {
    const std::string& n = c.sriov.pfs[i].netdev;
    if (!n.empty() && !pfs.insert(n).second) {
      errors.Add(absl::StrCat("sriov.pfs[", i, "].netdev"),
                 absl::StrCat("\"", n, "\" appears twice"));
    }
  }
}

}  // namespace

absl::StatusOr<AgentConfig> ParseConfig(std::string_view yaml, std::string_view source) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(source),
                                                   ": YAML syntax error at line ", e.mark.line + 1,
                                                   ", column ", e.mark.column + 1, ": ", e.msg));
  }
  AgentConfig config;
  Errors errors;
  if (root.IsNull()) return config;
  if (!root.IsMap()) {
    errors.Add("(top level)",
               absl::StrCat("got ", std::string(NodeKind(root)), ", expected a mapping"));
    return errors.ToStatus(source);
  }
  static constexpr std::string_view kLists[] = {kPathsKey, kSriovPfsKey};
  std::set<std::string> seen;
  std::map<std::string, YAML::Node> lists;
  WalkMapping<AgentConfig>(root, "", "", AgentOptions(), kLists, config, errors, seen, lists);
  if (auto it = lists.find(std::string(kPathsKey)); it != lists.end()) {
    config.paths = ParseList<PathConfig>(it->second, kPathsKey, PathOptions(), errors);
  }
  if (auto it = lists.find(std::string(kSriovPfsKey)); it != lists.end()) {
    config.sriov.pfs = ParseList<SriovPfConfig>(it->second, kSriovPfsKey, SriovPfOptions(), errors);
  }
  CheckPaths(config.paths, errors);
  CheckSections(config, errors);
  if (!errors.empty()) return errors.ToStatus(source);
  return config;
}

absl::StatusOr<AgentConfig> LoadConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    const int err = errno;
    const std::string message = absl::StrCat("agent config ", path, ": ", std::strerror(err));
    if (err == EACCES) return absl::PermissionDeniedError(message);
    if (err == ENOENT) return absl::NotFoundError(message);
    return absl::UnavailableError(message);
  }
  std::stringstream text;
  text << in.rdbuf();
  return ParseConfig(text.str(), absl::StrCat("agent config ", path));
}

}  // namespace braid::agent
