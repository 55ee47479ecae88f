#include "agent/daemon/endpoint_server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/daemon/endpoints.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/server_posix.h"
#include "proto/status.h"

namespace braid::agent {

namespace v1 = braid::v1;

absl::StatusOr<std::unique_ptr<EndpointServer>> EndpointServer::Start(Lookup lookup,
                                                                      Changed changed,
                                                                      Connections connections) {
  std::unique_ptr<EndpointServer> s(
      new EndpointServer(std::move(lookup), std::move(changed), std::move(connections)));
  s->wake_ = channel::UniqueFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!s->wake_.valid()) return absl::ErrnoToStatus(errno, "endpoint server: eventfd");
  grpc::ServerBuilder builder;
  builder.RegisterService(s.get());
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr) return absl::InternalError("endpoint server: gRPC did not start");
  s->acceptor_ = std::thread([p = s.get()] { p->AcceptLoop(); });
  return s;
}

EndpointServer::EndpointServer(Lookup lookup, Changed changed, Connections connections)
    : lookup_(std::move(lookup)),
      changed_(std::move(changed)),
      connections_(std::move(connections)) {}

EndpointServer::~EndpointServer() {
  stopping_.store(true);
  const uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof(one));
  if (acceptor_.joinable()) acceptor_.join();
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    server_->Wait();
  }
}

void EndpointServer::Serve(const std::string& id, channel::UniqueFd listening) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    listening_[id] = std::move(listening);
  }
  const uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof(one));
}

void EndpointServer::Stop(const std::string& id) {
  channel::UniqueFd gone;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = listening_.find(id);
    if (it == listening_.end()) return;
    gone = std::move(it->second);
    listening_.erase(it);
    // Connections already handed to gRPC stay open until their client closes them; their calls
    // find the pod gone (NotFound).
  }
  const uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof(one));
  // `gone` closes here, after the acceptor was told to rebuild its set: it may still poll the
  // old number until then, which at worst reports POLLNVAL once.
}

void EndpointServer::AcceptLoop() {
  std::vector<pollfd> fds;
  std::vector<std::string> ids;
  while (!stopping_.load()) {
    fds.assign(1, pollfd{wake_.get(), POLLIN, 0});
    ids.assign(1, std::string());
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (const auto& [id, fd] : listening_) {
        fds.push_back(pollfd{fd.get(), POLLIN, 0});
        ids.push_back(id);
      }
    }
    if (::poll(fds.data(), fds.size(), 1000) <= 0) continue;
    if (fds[0].revents != 0) {
      uint64_t n;
      (void)!::read(wake_.get(), &n, sizeof(n));
      continue;  // the set changed: rebuild it
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if ((fds[i].revents & POLLIN) == 0) continue;
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = listening_.find(ids[i]);
      if (it == listening_.end() || it->second.get() != fds[i].fd) continue;
      const int conn = ::accept4(fds[i].fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (conn < 0) continue;
      peers_[conn] = ids[i];
      // gRPC owns the descriptor from here.
      grpc::AddInsecureChannelFromFd(server_.get(), conn);
    }
  }
}

absl::StatusOr<std::pair<std::string, std::shared_ptr<PodEndpoints>>> EndpointServer::PodOf(
    grpc::ServerContext* context) {
  const std::string peer = context->peer();
  int fd = -1;
  if (peer.rfind("fd:", 0) == 0) {
    fd = 0;
    for (char c : peer.substr(3)) {
      if (c < '0' || c > '9') {
        fd = -1;
        break;
      }
      fd = fd * 10 + (c - '0');
    }
  }
  std::string id;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = peers_.find(fd);
    if (fd < 0 || it == peers_.end()) {
      return absl::PermissionDeniedError(
          "EndpointService answers only a pod's own socket (@braid/endpoint in its namespace); "
          "peer " +
          peer);
    }
    id = it->second;
  }
  absl::StatusOr<std::shared_ptr<PodEndpoints>> eps = lookup_(id);
  if (!eps.ok()) return eps.status();
  return std::make_pair(id, *eps);
}

void EndpointServer::Refresh(const std::string& id, PodEndpoints& endpoints) {
  absl::StatusOr<std::vector<v1::Connection>> all = connections_(id, "", false);
  if (!all.ok()) return;
  std::map<std::string, uint32_t> counts;
  for (const v1::Connection& c : *all) {
    if (!c.endpoint().empty()) ++counts[c.endpoint()];
  }
  endpoints.SetLiveCounts(std::move(counts));
}

grpc::Status EndpointServer::CreateEndpoint(grpc::ServerContext* context,
                                            const v1::CreateEndpointRequest* request,
                                            v1::CreateEndpointResponse* response) {
  auto pod = PodOf(context);
  if (!pod.ok()) return proto::ToGrpcStatus(pod.status());
  absl::StatusOr<v1::EndpointStatus> s = pod->second->Add(request->endpoint());
  if (!s.ok()) return proto::ToGrpcStatus(s.status());
  if (absl::Status saved = changed_(pod->first); !saved.ok()) {
    (void)pod->second->Remove(request->endpoint().name());
    return proto::ToGrpcStatus(saved);
  }
  *response->mutable_endpoint() = std::move(*s);
  return grpc::Status::OK;
}

grpc::Status EndpointServer::DeleteEndpoint(grpc::ServerContext* context,
                                            const v1::DeleteEndpointRequest* request,
                                            v1::DeleteEndpointResponse*) {
  auto pod = PodOf(context);
  if (!pod.ok()) return proto::ToGrpcStatus(pod.status());
  if (absl::Status s = pod->second->Remove(request->name()); !s.ok()) {
    return proto::ToGrpcStatus(s);
  }
  return proto::ToGrpcStatus(changed_(pod->first));
}

grpc::Status EndpointServer::GetEndpoint(grpc::ServerContext* context,
                                         const v1::GetEndpointRequest* request,
                                         v1::GetEndpointResponse* response) {
  auto pod = PodOf(context);
  if (!pod.ok()) return proto::ToGrpcStatus(pod.status());
  Refresh(pod->first, *pod->second);
  absl::StatusOr<v1::EndpointStatus> s = pod->second->Get(request->name());
  if (!s.ok()) return proto::ToGrpcStatus(s.status());
  *response->mutable_endpoint() = std::move(*s);
  return grpc::Status::OK;
}

grpc::Status EndpointServer::ListEndpoints(grpc::ServerContext* context,
                                           const v1::ListEndpointsRequest*,
                                           v1::ListEndpointsResponse* response) {
  auto pod = PodOf(context);
  if (!pod.ok()) return proto::ToGrpcStatus(pod.status());
  Refresh(pod->first, *pod->second);
  for (v1::EndpointStatus& s : pod->second->List()) *response->add_endpoints() = std::move(s);
  return grpc::Status::OK;
}

grpc::Status EndpointServer::ListEndpointConnections(
    grpc::ServerContext* context, const v1::ListEndpointConnectionsRequest* request,
    v1::ListEndpointConnectionsResponse* response) {
  auto pod = PodOf(context);
  if (!pod.ok()) return proto::ToGrpcStatus(pod.status());
  if (absl::StatusOr<v1::EndpointStatus> e = pod->second->Get(request->endpoint()); !e.ok()) {
    return proto::ToGrpcStatus(e.status());
  }
  absl::StatusOr<std::vector<v1::Connection>> all =
      connections_(pod->first, request->endpoint(), request->include_subflows());
  if (!all.ok()) return proto::ToGrpcStatus(all.status());
  size_t first = 0;
  for (char c : request->page_token()) {
    if (c < '0' || c > '9' || first > all->size()) {
      return proto::ToGrpcStatus(absl::InvalidArgumentError("page_token: not one we gave"));
    }
    first = first * 10 + static_cast<size_t>(c - '0');
  }
  const size_t size = request->page_size() == 0 ? 100 : std::min(request->page_size(), 1000u);
  const size_t end = std::min(all->size(), first + size);
  for (size_t i = std::min(first, all->size()); i < end; ++i) {
    *response->add_connections() = std::move((*all)[i]);
  }
  if (end < all->size()) response->set_next_page_token(std::to_string(end));
  return grpc::Status::OK;
}

}  // namespace braid::agent
