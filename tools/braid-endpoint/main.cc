// braid-endpoint: a pod's EndpointService from the command line (proto/braid/v1/endpoint.proto),
// for an init container or a shell inside the pod. It talks to the pod's own agent socket
// (unix-abstract:braid/endpoint in the pod's network namespace, or --target). Answers are
// printed as protobuf JSON; errors as "braid-endpoint: <code>: <message>", exit 1; usage, exit 2.
//
//   braid-endpoint [--target T] listen NAME [ADDRESS:]PORT [OPTION=VALUE ...]
//   braid-endpoint [--target T] outgoing NAME [PREFIX ...] [--ports FIRST-LAST ...] [OPTION=VALUE
//   ...] braid-endpoint [--target T] delete NAME | get NAME | list | connections NAME [--subflows]
//
// OPTIONs are the per-pod options' names (proto/braid/v1/README.md): scheduler, path-manager,
// ndiffports-subflows, paths, subflows-per-path, backup-paths, checksum.
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "braid/v1/endpoint.grpc.pb.h"
#include "google/protobuf/util/json_util.h"

namespace {

namespace v1 = braid::v1;

[[noreturn]] void Usage(const std::string& why) {
  std::fprintf(stderr,
               "braid-endpoint: %s\n"
               "usage: braid-endpoint [--target T] listen NAME [ADDRESS:]PORT [OPTION=VALUE ...]\n"
               "       braid-endpoint [--target T] outgoing NAME [PREFIX ...] [--ports A-B ...] "
               "[OPTION=VALUE ...]\n"
               "       braid-endpoint [--target T] delete NAME | get NAME | list | "
               "connections NAME [--subflows]\n",
               why.c_str());
  std::exit(2);
}

uint32_t Number(const std::string& text, const std::string& what) {
  if (text.empty() || text.size() > 9 ||
      text.find_first_not_of("0123456789") != std::string::npos) {
    Usage(what + ": \"" + text + "\" is not a number");
  }
  return static_cast<uint32_t>(std::stoul(text));
}

std::vector<std::string> SplitList(const std::string& v) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= v.size()) {
    const size_t comma = v.find(',', start);
    out.push_back(v.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// OPTION=VALUE into the endpoint's options; false when `arg` is not one.
bool Option(const std::string& arg, v1::MptcpOptions& o) {
  const size_t eq = arg.find('=');
  if (eq == std::string::npos) return false;
  const std::string name = arg.substr(0, eq), value = arg.substr(eq + 1);
  if (name == "scheduler") {
    o.set_scheduler(value);
  } else if (name == "path-manager") {
    v1::PathManagerPolicy p = v1::PATH_MANAGER_POLICY_UNSPECIFIED;
    if (value == "kernel") p = v1::PATH_MANAGER_POLICY_KERNEL;
    if (value == "ndiffports") p = v1::PATH_MANAGER_POLICY_NDIFFPORTS;
    if (value == "userspace") p = v1::PATH_MANAGER_POLICY_USERSPACE;
    if (p == v1::PATH_MANAGER_POLICY_UNSPECIFIED) Usage("path-manager: \"" + value + "\"");
    o.mutable_path_manager()->set_policy(p);
  } else if (name == "ndiffports-subflows") {
    o.mutable_path_manager()->set_ndiffports_subflows(Number(value, name));
  } else if (name == "paths") {
    for (const std::string& p : SplitList(value)) o.add_paths(p);
  } else if (name == "subflows-per-path") {
    o.set_subflows_per_path(Number(value, name));
  } else if (name == "backup-paths") {
    for (const std::string& p : SplitList(value)) o.add_backup_paths(p);
  } else if (name == "checksum") {
    if (value != "true" && value != "false") Usage("checksum: true or false");
    o.set_checksum(value == "true");
  } else {
    Usage("unknown option \"" + name + "\"");
  }
  return true;
}

int Print(const grpc::Status& status, const google::protobuf::Message& answer) {
  if (!status.ok()) {
    std::fprintf(stderr, "braid-endpoint: %d: %s\n", static_cast<int>(status.error_code()),
                 status.error_message().c_str());
    return 1;
  }
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  (void)google::protobuf::util::MessageToJsonString(answer, &json, options);
  std::fputs(json.c_str(), stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string target = "unix-abstract:braid/endpoint";
  if (args.size() >= 2 && args[0] == "--target") {
    target = args[1];
    args.erase(args.begin(), args.begin() + 2);
  }
  if (args.empty()) Usage("a command is needed");
  auto stub =
      v1::EndpointService::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  const std::string& command = args[0];
  if (command == "listen" || command == "outgoing") {
    if (args.size() < 2) Usage(command + ": NAME is needed");
    v1::CreateEndpointRequest request;
    v1::Endpoint& e = *request.mutable_endpoint();
    e.set_name(args[1]);
    size_t i = 2;
    if (command == "listen") {
      if (args.size() < 3) Usage("listen: [ADDRESS:]PORT is needed");
      const std::string& at = args[2];
      const size_t colon = at.rfind(':');
      e.mutable_listener()->set_address(colon == std::string::npos ? "" : at.substr(0, colon));
      e.mutable_listener()->set_port(
          Number(colon == std::string::npos ? at : at.substr(colon + 1), "port"));
      i = 3;
    } else {
      e.mutable_outgoing();
    }
    for (; i < args.size(); ++i) {
      if (Option(args[i], *e.mutable_options())) continue;
      if (command == "outgoing" && args[i] == "--ports" && i + 1 < args.size()) {
        const std::string& r = args[++i];
        const size_t dash = r.find('-');
        v1::PortRange* range = e.mutable_outgoing()->add_destination_ports();
        range->set_first(Number(r.substr(0, dash), "--ports"));
        range->set_last(dash == std::string::npos ? range->first()
                                                  : Number(r.substr(dash + 1), "--ports"));
      } else if (command == "outgoing") {
        e.mutable_outgoing()->add_destination_prefixes(args[i]);
      } else {
        Usage("listen: unexpected \"" + args[i] + "\"");
      }
    }
    v1::CreateEndpointResponse response;
    return Print(stub->CreateEndpoint(&context, request, &response), response);
  }
  if ((command == "delete" || command == "get") && args.size() == 2) {
    if (command == "delete") {
      v1::DeleteEndpointRequest request;
      request.set_name(args[1]);
      v1::DeleteEndpointResponse response;
      return Print(stub->DeleteEndpoint(&context, request, &response), response);
    }
    v1::GetEndpointRequest request;
    request.set_name(args[1]);
    v1::GetEndpointResponse response;
    return Print(stub->GetEndpoint(&context, request, &response), response);
  }
  if (command == "list" && args.size() == 1) {
    v1::ListEndpointsResponse response;
    return Print(stub->ListEndpoints(&context, v1::ListEndpointsRequest{}, &response), response);
  }
  if (command == "connections" && (args.size() == 2 || args.size() == 3)) {
    v1::ListEndpointConnectionsRequest request;
    request.set_endpoint(args[1]);
    request.set_include_subflows(args.size() == 3 && args[2] == "--subflows");
    request.set_page_size(1000);
    v1::ListEndpointConnectionsResponse response;
    return Print(stub->ListEndpointConnections(&context, request, &response), response);
  }
  Usage("unknown command or wrong arguments: " + command);
}
