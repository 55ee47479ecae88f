// A real gRPC server in the test process, listening on a unix-abstract address as the agent
// does (testbed.md: gRPC 1.51 serves unix-abstract:), and a client channel to it. The API's
// round-trip tests put a test double of one service behind it and call it through the generated
// stub, so every request and answer crosses a real socket in protobuf wire format.
#pragma once

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace braid::proto::testing {

// A name no other server on the machine uses: CTest runs test cases in parallel processes, and
// abstract names are shared by every process of the network namespace.
inline std::string UniqueAbstractAddress(std::string_view what) {
  static std::atomic<int> counter{0};
  return "unix-abstract:braid-test/" + std::string(what) + "/" + std::to_string(::getpid()) + "/" +
         std::to_string(counter++);
}

class InProcessServer {
 public:
  InProcessServer(grpc::Service& service, std::string_view what)
      : address_(UniqueAbstractAddress(what)) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(address_, grpc::InsecureServerCredentials());
    builder.RegisterService(&service);
    server_ = builder.BuildAndStart();
  }
  ~InProcessServer() {
    // Calls still running (a stream the client cancelled) get a moment to see it.
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  }
  InProcessServer(const InProcessServer&) = delete;
  InProcessServer& operator=(const InProcessServer&) = delete;

  bool started() const { return server_ != nullptr; }
  const std::string& address() const { return address_; }
  std::shared_ptr<grpc::Channel> NewChannel() const {
    return grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
  }

 private:
  std::string address_;
  std::unique_ptr<grpc::Server> server_;
};

// A deadline for one call: no test waits forever on a server that is not there.
inline std::chrono::system_clock::time_point Deadline(
    std::chrono::milliseconds after = std::chrono::seconds(10)) {
  return std::chrono::system_clock::now() + after;
}

}  // namespace braid::proto::testing
