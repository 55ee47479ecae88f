#include "cni/result.h"

#include <optional>
#include <string>
#include <utility>

#include "cni/ip.h"
#include "cni/version.h"
#include "proto/status.h"

namespace braid::cni {
namespace {

std::string Quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

const google::protobuf::RepeatedPtrField<JsonValue>* ListAt(const JsonValue& object,
                                                            std::string_view key) {
  const JsonValue* value = FindField(object, key);
  return value != nullptr && IsList(*value) ? &value->list_value().values() : nullptr;
}

std::string StringAt(const JsonValue& object, std::string_view key) {
  const JsonValue* value = FindField(object, key);
  return value != nullptr && IsString(*value) ? value->string_value() : "";
}

// An ips[] entry in `version`'s shape: 0.3.x and 0.4.0 name the family, 1.0.0 dropped it.
JsonValue IpInVersion(JsonValue ip, std::string_view version) {
  if (AtLeast(version, kNoIpVersionFieldFrom)) {
    ip.mutable_struct_value()->mutable_fields()->erase("version");
  } else if (FindField(ip, "version") == nullptr) {
    SetField(ip, "version", JsonString(std::to_string(FamilyOfText(StringAt(ip, "address")))));
  }
  return ip;
}

// The gateway of the path's address of `family`, or "".
std::string GatewayOfFamily(const v1::PathIpConfig& path, int family) {
  for (const v1::IpAddressConfig& ip : path.ips()) {
    if (FamilyOfText(ip.address()) == family && !ip.gateway().empty()) return ip.gateway();
  }
  return "";
}

}  // namespace

absl::StatusOr<std::vector<v1::PathIpConfig>> SplitByPath(const NetworkConfig& config,
                                                          const JsonValue& host_local_result) {
  std::vector<v1::PathIpConfig> paths(config.paths.size());
  for (size_t p = 0; p < config.paths.size(); ++p) {
    paths[p].set_path(config.paths[p].name);
    for (const RouteConfig& route : config.paths[p].routes) {
      v1::Route& out = *paths[p].add_routes();
      out.set_destination(route.dst.ToString());
      if (route.gw) out.set_gateway(route.gw->ToString());
    }
  }
  const auto* ips = ListAt(host_local_result, "ips");
  if (ips != nullptr) {
    for (int i = 0; i < ips->size(); ++i) {
      const JsonValue& ip = (*ips)[i];
      const std::string where = "host-local's result: " + IndexPath("ips", static_cast<size_t>(i));
      const std::string address = StringAt(ip, "address");
      const std::optional<IpPrefix> prefix = IpPrefix::Parse(address);
      if (!prefix) {
        return MakeError(proto::kCniIoFailure, where + ".address: " + Quoted(address) +
                                                   " is not an address with a "
                                                   "prefix length");
      }
      const std::optional<size_t> p = PathOfAddress(config, prefix->address);
      if (!p) {
        return MakeError(proto::kCniIoFailure, where + ".address: " + Quoted(address) +
                                                   " is in none of the paths' ranges");
      }
      v1::IpAddressConfig& out = *paths[*p].add_ips();
      out.set_address(prefix->ToString());
      const std::string gateway = StringAt(ip, "gateway");
      if (!gateway.empty()) out.set_gateway(gateway);
    }
  }
  for (const v1::PathIpConfig& path : paths) {
    if (path.ips_size() == 0) {
      return MakeError(proto::kCniIoFailure,
                       "host-local's result: no address for path " + Quoted(path.path()));
    }
  }
  return paths;
}

JsonValue BuildAddResult(const NetworkConfig& config, const CniEnv& env,
                         const v1::CniAddResponse& response, const JsonValue* ipam_dns) {
  const std::string& version = config.cni_version;
  JsonValue interfaces = JsonList();
  JsonValue ips = JsonList();
  JsonValue routes = JsonList();
  const JsonValue* dns = ipam_dns;

  if (config.prev_result) {
    const JsonValue& prev = *config.prev_result;
    if (const auto* list = ListAt(prev, "interfaces")) {
      for (const JsonValue& item : *list) Append(interfaces, item);
    }
    if (const auto* list = ListAt(prev, "ips")) {
      for (const JsonValue& item : *list) Append(ips, IpInVersion(item, version));
    }
    if (const auto* list = ListAt(prev, "routes")) {
      for (const JsonValue& item : *list) Append(routes, item);
    }
    if (const JsonValue* prev_dns = FindField(prev, "dns")) dns = prev_dns;
  }

  const int index = interfaces.list_value().values_size();
  JsonValue interface = JsonObject();
  SetField(interface, "name", JsonString(env.ifname));
  SetField(interface, "sandbox", JsonString(env.netns));
  if (AtLeast(version, kSocketPathFrom) && !response.socket_path().empty()) {
    SetField(interface, "socketPath", JsonString(response.socket_path()));
  }
  Append(interfaces, std::move(interface));

  for (const v1::PathIpConfig& path : response.paths()) {
    for (const v1::IpAddressConfig& ip : path.ips()) {
      JsonValue entry = JsonObject();
      SetField(entry, "address", JsonString(ip.address()));
      if (!ip.gateway().empty()) SetField(entry, "gateway", JsonString(ip.gateway()));
      SetField(entry, "interface", JsonNumber(index));
      Append(ips, IpInVersion(std::move(entry), version));
    }
    for (const v1::Route& route : path.routes()) {
      JsonValue entry = JsonObject();
      SetField(entry, "dst", JsonString(route.destination()));
      const std::string gw = route.gateway().empty()
                                 ? GatewayOfFamily(path, FamilyOfText(route.destination()))
                                 : route.gateway();
      if (!gw.empty()) SetField(entry, "gw", JsonString(gw));
      Append(routes, std::move(entry));
    }
  }

  JsonValue result = JsonObject();
  SetField(result, "cniVersion", JsonString(version));
  SetField(result, "interfaces", std::move(interfaces));
  SetField(result, "ips", std::move(ips));
  if (routes.list_value().values_size() > 0) SetField(result, "routes", std::move(routes));
  if (dns != nullptr && IsObject(*dns) && dns->struct_value().fields_size() > 0) {
    SetField(result, "dns", *dns);
  }
  return result;
}

absl::StatusOr<std::vector<v1::PathIpConfig>> PathsFromPrevResult(const NetworkConfig& config,
                                                                  const CniEnv& env) {
  const JsonValue& prev = *config.prev_result;
  std::optional<int> index;
  if (const auto* interfaces = ListAt(prev, "interfaces")) {
    for (int i = 0; i < interfaces->size(); ++i) {
      if (StringAt((*interfaces)[i], "name") == env.ifname &&
          StringAt((*interfaces)[i], "sandbox") == env.netns) {
        index = i;
      }
    }
  }
  if (!index) {
    return MakeError(proto::kCniInvalidNetworkConfig,
                     "prevResult.interfaces: no interface " + Quoted(env.ifname) + " in sandbox " +
                         Quoted(env.netns) + " (braid-cni's ADD result has one)");
  }

  std::vector<v1::PathIpConfig> paths(config.paths.size());
  for (size_t p = 0; p < config.paths.size(); ++p) paths[p].set_path(config.paths[p].name);

  if (const auto* ips = ListAt(prev, "ips")) {
    for (int i = 0; i < ips->size(); ++i) {
      const JsonValue& ip = (*ips)[i];
      const JsonValue* interface = FindField(ip, "interface");
      if (interface == nullptr || interface->kind_case() != JsonValue::kNumberValue ||
          interface->number_value() != *index) {
        continue;
      }
      const std::string where = IndexPath("prevResult.ips", static_cast<size_t>(i)) + ".address";
      const std::string address = StringAt(ip, "address");
      const std::optional<IpPrefix> prefix = IpPrefix::Parse(address);
      if (!prefix) {
        return MakeError(
            proto::kCniInvalidNetworkConfig,
            where + ": " + Quoted(address) + " is not an address with a prefix length");
      }
      const std::optional<size_t> p = PathOfAddress(config, prefix->address);
      if (!p) {
        return MakeError(proto::kCniInvalidNetworkConfig,
                         where + ": " + Quoted(address) + " is in none of the paths' ranges");
      }
      v1::IpAddressConfig& out = *paths[*p].add_ips();
      out.set_address(prefix->ToString());
      const std::string gateway = StringAt(ip, "gateway");
      if (!gateway.empty()) out.set_gateway(gateway);
    }
  }
  if (const auto* routes = ListAt(prev, "routes")) {
    for (const JsonValue& route : *routes) {
      const std::optional<IpAddress> gw = IpAddress::Parse(StringAt(route, "gw"));
      if (!gw) continue;
      const std::optional<size_t> p = PathOfAddress(config, *gw);
      if (!p) continue;
      v1::Route& out = *paths[*p].add_routes();
      out.set_destination(StringAt(route, "dst"));
      out.set_gateway(gw->ToString());
    }
  }
  return paths;
}

JsonValue ErrorResult(std::string_view version, const CniError& error) {
  JsonValue result = JsonObject();
  SetField(result, "cniVersion", JsonString(version));
  SetField(result, "code", JsonNumber(error.code));
  SetField(result, "msg", JsonString(error.msg));
  if (!error.details.empty()) SetField(result, "details", JsonString(error.details));
  return result;
}

JsonValue VersionResult(std::string_view version) {
  JsonValue result = JsonObject();
  SetField(result, "cniVersion", JsonString(version));
  JsonValue versions = JsonList();
  for (const std::string_view supported : kSupportedVersions) {
    Append(versions, JsonString(supported));
  }
  SetField(result, "supportedVersions", std::move(versions));
  return result;
}

}  // namespace braid::cni
