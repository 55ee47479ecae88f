#include "tools/braidctl/client.h"

#include <google/protobuf/util/time_util.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <set>
#include <string>
#include <thread>
#include <utility>

#include "proto/status.h"

namespace braid::braidctl {
namespace {

using google::protobuf::util::TimeUtil;

// Calls one unary RPC with a deadline; the agent's status on failure.
template <typename Request, typename Response, typename Method>
absl::StatusOr<Response> Call(Method method, const Request& request,
                              std::chrono::system_clock::time_point deadline) {
  grpc::ClientContext context;
  context.set_deadline(deadline);
  Response response;
  const grpc::Status status = method(&context, request, &response);
  if (!status.ok()) return proto::FromGrpcStatus(status);
  return response;
}

// Every page of a paged list: `fetch` gets one, `append` keeps its items.
template <typename Request, typename Response, typename Fetch, typename Append>
absl::StatusOr<Response> AllPages(Request request, Fetch fetch, Append append) {
  Response all;
  std::set<std::string> seen_tokens;
  while (true) {
    absl::StatusOr<Response> page = fetch(request);
    if (!page.ok()) return page.status();
    append(*page, all);
    if (page->next_page_token().empty()) return all;
    if (!seen_tokens.insert(page->next_page_token()).second) {
      return absl::InternalError("the agent repeated page token \"" + page->next_page_token() +
                                 "\": paging would not end");
    }
    request.set_page_token(page->next_page_token());
  }
}

}  // namespace

DebugClient::DebugClient(std::string_view socket_path, std::chrono::milliseconds timeout)
    : timeout_(timeout),
      stub_(v1::DebugService::NewStub(grpc::CreateChannel("unix:" + std::string(socket_path),
                                                          grpc::InsecureChannelCredentials()))) {}

std::chrono::system_clock::time_point DebugClient::Deadline() const {
  return std::chrono::system_clock::now() + timeout_;
}

absl::StatusOr<v1::GetStatusResponse> DebugClient::GetStatus() {
  return Call<v1::GetStatusRequest, v1::GetStatusResponse>(
      [&](auto* c, const auto& q, auto* r) { return stub_->GetStatus(c, q, r); },
      v1::GetStatusRequest(), Deadline());
}

absl::StatusOr<v1::ListPodsResponse> DebugClient::ListPods(const v1::ListPodsRequest& request) {
  return Call<v1::ListPodsRequest, v1::ListPodsResponse>(
      [&](auto* c, const auto& q, auto* r) { return stub_->ListPods(c, q, r); }, request,
      Deadline());
}

absl::StatusOr<v1::ListConnectionsResponse> DebugClient::ListAllConnections(
    v1::ListConnectionsRequest request) {
  return AllPages<v1::ListConnectionsRequest, v1::ListConnectionsResponse>(
      std::move(request),
      [&](const v1::ListConnectionsRequest& q) {
        return Call<v1::ListConnectionsRequest, v1::ListConnectionsResponse>(
            [&](auto* c, const auto& q2, auto* r) { return stub_->ListConnections(c, q2, r); }, q,
            Deadline());
      },
      [](v1::ListConnectionsResponse& page, v1::ListConnectionsResponse& all) {
        for (v1::Connection& c : *page.mutable_connections()) {
          *all.add_connections() = std::move(c);
        }
      });
}

absl::StatusOr<v1::ListSubflowsResponse> DebugClient::ListAllSubflows(
    v1::ListSubflowsRequest request) {
  return AllPages<v1::ListSubflowsRequest, v1::ListSubflowsResponse>(
      std::move(request),
      [&](const v1::ListSubflowsRequest& q) {
        return Call<v1::ListSubflowsRequest, v1::ListSubflowsResponse>(
            [&](auto* c, const auto& q2, auto* r) { return stub_->ListSubflows(c, q2, r); }, q,
            Deadline());
      },
      [](v1::ListSubflowsResponse& page, v1::ListSubflowsResponse& all) {
        for (v1::Subflow& s : *page.mutable_subflows()) *all.add_subflows() = std::move(s);
      });
}

absl::StatusOr<v1::ListCountersResponse> DebugClient::ListCounters(
    const v1::ListCountersRequest& request) {
  return Call<v1::ListCountersRequest, v1::ListCountersResponse>(
      [&](auto* c, const auto& q, auto* r) { return stub_->ListCounters(c, q, r); }, request,
      Deadline());
}

absl::StatusOr<v1::GetLogLevelResponse> DebugClient::GetLogLevel(
    const v1::GetLogLevelRequest& request) {
  return Call<v1::GetLogLevelRequest, v1::GetLogLevelResponse>(
      [&](auto* c, const auto& q, auto* r) { return stub_->GetLogLevel(c, q, r); }, request,
      Deadline());
}

absl::StatusOr<v1::SetLogLevelResponse> DebugClient::SetLogLevel(
    const v1::SetLogLevelRequest& request) {
  return Call<v1::SetLogLevelRequest, v1::SetLogLevelResponse>(
      [&](auto* c, const auto& q, auto* r) { return stub_->SetLogLevel(c, q, r); }, request,
      Deadline());
}

absl::Status DebugClient::Capture(const v1::CaptureRequest& request,
                                  const std::function<bool(const v1::CaptureResponse&)>& sink,
                                  const std::atomic<bool>* stop) {
  grpc::ClientContext context;
  // Only a time-limited capture has a known end; one limited by packets or bytes may rightly
  // wait as long as the traffic takes.
  if (request.has_max_duration()) {
    context.set_deadline(
        std::chrono::system_clock::now() + timeout_ +
        std::chrono::nanoseconds(TimeUtil::DurationToNanoseconds(request.max_duration())));
  }
  std::unique_ptr<grpc::ClientReader<v1::CaptureResponse>> reader =
      stub_->Capture(&context, request);

  // A signal handler can only set a flag; this thread turns it into a cancellation, which wakes
  // the Read below.
  std::atomic<bool> done{false};
  std::thread watcher;
  if (stop != nullptr) {
    watcher = std::thread([&] {
      while (!done.load()) {
        if (stop->load()) {
          context.TryCancel();
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  }
  v1::CaptureResponse message;
  bool cancelled = false;
  while (reader->Read(&message)) {
    if (!cancelled && !sink(message)) {
      context.TryCancel();
      cancelled = true;  // drain what is already on its way, then Finish
    }
  }
  const grpc::Status status = reader->Finish();
  done.store(true);
  if (watcher.joinable()) watcher.join();
  return proto::FromGrpcStatus(status);
}

}  // namespace braid::braidctl
