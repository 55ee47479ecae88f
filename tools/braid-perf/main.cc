// braid-perf: an iperf-like client and server on libbraid (README.md in this folder). With a
// Braid service reachable its sockets run on Braid's stack; without one, on the kernel's
// (libbraid's fallback), which is how the same binary measures the kernel baseline.
#include <netinet/in.h>
#include <signal.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "braid/braid.h"
#include "tools/braid-perf/app.h"

namespace braid::perf {

const char* ProtocolName(Protocol protocol) {
  switch (protocol) {
    case Protocol::kDefault:
      return "default";
    case Protocol::kMptcp:
      return "mptcp";
    case Protocol::kTcp:
      return "tcp";
  }
  return "?";
}

int SocketProtocol(Protocol protocol) {
  switch (protocol) {
    case Protocol::kDefault:
      return 0;
    case Protocol::kMptcp:
      return IPPROTO_MPTCP;
    case Protocol::kTcp:
      return BRAID_PROTO_TCP_ONLY;
  }
  return 0;
}

}  // namespace braid::perf

namespace {

using braid::perf::Options;

constexpr char kUsage[] = R"(usage:
  braid-perf -s [-p PORT] [-B ADDR] [--zerocopy] [--mptcp|--tcp] [--json]
  braid-perf -c HOST [-p PORT] [--mode bulk|rr|crr] [-t SECONDS] [-P STREAMS] [--size BYTES]
             [--zerocopy] [--reverse] [--mptcp|--tcp] [--json]
Sockets go to the Braid service at $BRAID_SOCKET (default @braid/node); with none reachable,
to the kernel ($BRAID_FALLBACK=kernel, the default). See tools/braid-perf/README.md.
)";

[[noreturn]] void Usage(const std::string& why) {
  std::fprintf(stderr, "braid-perf: %s\n%s", why.c_str(), kUsage);
  std::exit(2);
}

template <typename T>
T Number(std::string_view flag, std::string_view v, T lo, T hi) {
  T n{};
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() || n < lo || n > hi) {
    Usage(std::string(flag) + ": bad value '" + std::string(v) + "'");
  }
  return n;
}

Options Parse(int argc, char** argv) {
  Options o;
  bool client = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) Usage(std::string(flag) + " needs a value");
      return argv[++i];
    };
    if (flag == "-s" || flag == "--server") {
      o.server = true;
    } else if (flag == "-c" || flag == "--client") {
      client = true;
      o.host = std::string(value());
    } else if (flag == "-p" || flag == "--port") {
      o.port = Number<uint16_t>(flag, value(), 1, 65535);
    } else if (flag == "-B" || flag == "--bind") {
      o.bind = std::string(value());
    } else if (flag == "--mode") {
      const std::string_view v = value();
      const auto mode = braid::perf::ParseMode(v);
      if (!mode) Usage("--mode " + std::string(v) + ": bulk, rr or crr");
      o.mode = *mode;
    } else if (flag == "-t" || flag == "--time") {
      o.seconds = Number<double>(flag, value(), 0.01, 86400);
    } else if (flag == "-P" || flag == "--parallel") {
      o.streams = Number<int>(flag, value(), 1, 128);
    } else if (flag == "--size") {
      o.size = Number<uint32_t>(flag, value(), 1, 1u << 20);
    } else if (flag == "--zerocopy") {
      o.zerocopy = true;
    } else if (flag == "--reverse" || flag == "-R") {
      o.reverse = true;
    } else if (flag == "--mptcp") {
      o.protocol = braid::perf::Protocol::kMptcp;
    } else if (flag == "--tcp") {
      o.protocol = braid::perf::Protocol::kTcp;
    } else if (flag == "--json") {
      o.json = true;
    } else if (flag == "-h" || flag == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else {
      Usage("unknown option " + std::string(flag));
    }
  }
  if (o.server == client) Usage("give -s or -c HOST");
  if (o.reverse && o.mode != braid::perf::Mode::kBulk) Usage("--reverse is for --mode bulk");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = Parse(argc, argv);
  // A peer's reset must come back as EPIPE from send, not kill the process.
  signal(SIGPIPE, SIG_IGN);
  return options.server ? braid::perf::RunServer(options) : braid::perf::RunClient(options);
}
