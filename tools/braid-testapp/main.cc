// braid-testapp: Braid's TCP stack on DPDK ports with a built-in test application (README.md in
// this folder has the flags and the output format). One JSON object per line on stdout; errors
// and DPDK's log on stderr.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "datapath/channel/service/service.h"
#include "datapath/channel/service/service_app.h"
#include "datapath/net/interface.h"
#include "datapath/runtime/datapath.h"
#include "datapath/runtime/idle_policy.h"
#include "datapath/testapp/json.h"
#include "datapath/testapp/report.h"
#include "datapath/testapp/test_app.h"
#include "datapath/wire/address.h"

namespace {

using braid::runtime::Datapath;
using braid::runtime::DatapathConfig;
using braid::runtime::PathConfig;
using braid::testapp::AppConfig;

constexpr char kUsage[] = R"(usage: braid-testapp --port SPEC --addr CIDR [options] APP
See tools/braid-testapp/README.md. Datapath: --port SPEC --mac MAC --addr CIDR --gateway IP
--mtu N --workers N --idle busy|adaptive --eal-log-level N --lcores LIST
TCP: --sack 0|1 --timestamps 0|1 --window-scaling 0|1 --cc NAME --nodelay
Server: --listen PORT --mode sink|echo|source [--bytes N] [--count K]
Client: --connect ADDR --to-port PORT --mode send|recv|echo|rr [--bytes N] [--rr-size B]
        [--rr-count N] [--bind ADDR]
MPTCP: --mptcp [--mptcp-checksum 0|1] [--scheduler NAME] [--pm kernel|ndiffports|userspace]
       [--endpoint ADDR,id=N[,signal][,subflow][,backup][,fullmesh][,port=P]]...
       [--subflows N] [--add-addr-accepted N] [--ndiffports N]
Actions on the first connection: --action SECONDS:remove|backup|nobackup:ID | SECONDS:abort
Paths: each --port starts a path; --mac/--addr/--gateway/--route/--mtu apply to the last one.
Channel service (instead of a built-in app): --serve PATH [--serve-slots N] [--serve-fifo BYTES]
Common: --timeout S (default 120; with --serve: none unless given)
)";

struct Options {
  DatapathConfig datapath;
  AppConfig app;
  bool have_app = false;
  double timeout_s = 120;
  bool timeout_given = false;
  // --serve: the app channel service on this unix socket path instead of a built-in app.
  std::optional<braid::channel::ServiceAppConfig> serve;
};

[[noreturn]] void Usage(const std::string& error) {
  std::fprintf(stderr, "braid-testapp: %s\n%s", error.c_str(), kUsage);
  std::exit(2);
}

template <typename T>
T Number(std::string_view flag, std::string_view text) {
  T value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    Usage(std::string(flag) + ": not a number: " + std::string(text));
  }
  return value;
}

// "256M", "1G", "4096", "64k": powers of 1000 (k, M, G) or 1024 (Ki, Mi, Gi).
uint64_t Size(std::string_view flag, std::string_view text) {
  uint64_t mult = 1;
  auto strip = [&](std::string_view suffix, uint64_t m) {
    if (text.size() > suffix.size() && text.ends_with(suffix)) {
      text.remove_suffix(suffix.size());
      mult = m;
      return true;
    }
    return false;
  };
  strip("Ki", 1ull << 10) || strip("Mi", 1ull << 20) || strip("Gi", 1ull << 30) ||
      strip("k", 1000) || strip("K", 1000) || strip("M", 1000'000) || strip("G", 1000'000'000);
  return Number<uint64_t>(flag, text) * mult;
}

bool Bool01(std::string_view flag, std::string_view text) {
  if (text == "1") return true;
  if (text == "0") return false;
  Usage(std::string(flag) + ": expected 0 or 1, got " + std::string(text));
}

braid::wire::IpAddress Address(std::string_view flag, std::string_view text) {
  std::optional<braid::wire::IpAddress> a = braid::wire::ParseIpAddress(text);
  if (!a) Usage(std::string(flag) + ": not an IP address: " + std::string(text));
  return *a;
}

void AddCidr(PathConfig& path, std::string_view text) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos)
    Usage("--addr: expected ADDRESS/PREFIX: " + std::string(text));
  const braid::wire::IpAddress a = Address("--addr", text.substr(0, slash));
  const auto len = Number<unsigned>("--addr prefix", text.substr(slash + 1));
  if (const auto* v4 = std::get_if<braid::wire::Ipv4Address>(&a)) {
    if (len > 32) Usage("--addr: IPv4 prefix above 32: " + std::string(text));
    path.ipv4.push_back({*v4, static_cast<uint8_t>(len)});
  } else {
    if (len > 128) Usage("--addr: IPv6 prefix above 128: " + std::string(text));
    path.ipv6.push_back({std::get<braid::wire::Ipv6Address>(a), static_cast<uint8_t>(len)});
  }
}

// "192.0.2.1,id=2,signal,backup,port=4000" (the kernel's `ip mptcp endpoint add` words).
braid::mptcp::Endpoint ParseEndpoint(std::string_view text) {
  braid::mptcp::Endpoint e;
  size_t comma = text.find(',');
  e.address = Address("--endpoint", text.substr(0, comma));
  while (comma != std::string_view::npos) {
    text = text.substr(comma + 1);
    comma = text.find(',');
    const std::string_view word = text.substr(0, comma);
    if (word == "signal") {
      e.signal = true;
    } else if (word == "subflow") {
      e.subflow = true;
    } else if (word == "backup") {
      e.backup = true;
    } else if (word == "fullmesh") {
      e.fullmesh = true;
    } else if (word.starts_with("id=")) {
      e.id = Number<uint8_t>("--endpoint id", word.substr(3));
    } else if (word.starts_with("port=")) {
      e.port = Number<uint16_t>("--endpoint port", word.substr(5));
    } else {
      Usage("--endpoint: unknown word " + std::string(word));
    }
  }
  return e;
}

braid::mptcp::MptcpConfig& Mptcp(Options& o) {
  if (!o.datapath.mptcp) o.datapath.mptcp.emplace();
  return *o.datapath.mptcp;
}

Options Parse(int argc, char** argv) {
  Options o;
  o.datapath.eal.program = "braid-testapp";
  std::vector<PathConfig> paths(1);
  PathConfig* current = &paths.back();
  std::optional<std::string> mode;
  std::optional<bool> server;
  bool nodelay = false;
  std::optional<uint16_t> to_port;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (flag == "--nodelay") {
      nodelay = true;
      continue;
    }
    if (flag == "--mptcp") {
      Mptcp(o);
      continue;
    }
    if (i + 1 >= argc) Usage(std::string(flag) + ": missing value");
    const std::string_view v = argv[++i];
    PathConfig& path = *current;
    if (flag == "--port") {
      if (!path.port.empty()) {
        paths.emplace_back();
        current = &paths.back();
      }
      current->port = std::string(v);
    } else if (flag == "--mac") {
      path.mac = braid::wire::MacAddress::Parse(v);
      if (!path.mac) Usage("--mac: not a MAC address: " + std::string(v));
    } else if (flag == "--addr") {
      AddCidr(path, v);
    } else if (flag == "--gateway") {
      const braid::wire::IpAddress g = Address(flag, v);
      if (const auto* v4 = std::get_if<braid::wire::Ipv4Address>(&g)) {
        path.ipv4_gateway = *v4;
      } else {
        path.ipv6_gateway = std::get<braid::wire::Ipv6Address>(g);
      }
    } else if (flag == "--route") {
      // CIDR[,via=GATEWAY]: through this path (its gateway of that family by default).
      const size_t comma = v.find(',');
      const std::string_view cidr = v.substr(0, comma);
      const size_t slash = cidr.find('/');
      if (slash == std::string_view::npos) Usage("--route: expected PREFIX/LEN: " + std::string(v));
      braid::runtime::PathConfig::Route r;
      r.prefix = Address("--route", cidr.substr(0, slash));
      r.prefix_len = Number<uint8_t>("--route prefix", cidr.substr(slash + 1));
      if (comma != std::string_view::npos) {
        const std::string_view via = v.substr(comma + 1);
        if (!via.starts_with("via=")) Usage("--route: expected ,via=GATEWAY: " + std::string(v));
        r.gateway = Address("--route via", via.substr(4));
      }
      path.routes.push_back(r);
    } else if (flag == "--mtu") {
      path.mtu = Number<uint16_t>(flag, v);
    } else if (flag == "--workers") {
      o.datapath.workers = Number<uint16_t>(flag, v);
    } else if (flag == "--lcores") {
      o.datapath.eal.lcores.clear();
      std::string_view rest = v;
      while (!rest.empty()) {
        const size_t comma = rest.find(',');
        o.datapath.eal.lcores.push_back(Number<unsigned>(flag, rest.substr(0, comma)));
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      }
    } else if (flag == "--idle") {
      const std::optional<braid::runtime::IdleMode> m = braid::runtime::ParseIdleMode(v);
      if (!m) Usage("--idle: expected busy or adaptive, got " + std::string(v));
      o.datapath.idle.mode = *m;
    } else if (flag == "--eal-log-level") {
      o.datapath.eal.log_level = Number<int>(flag, v);
    } else if (flag == "--sack") {
      o.app.tcp.sack = Bool01(flag, v);
    } else if (flag == "--timestamps") {
      o.app.tcp.timestamps = Bool01(flag, v);
    } else if (flag == "--window-scaling") {
      o.app.tcp.window_scaling = Bool01(flag, v);
    } else if (flag == "--cc") {
      o.app.tcp.congestion_control = std::string(v);
    } else if (flag == "--listen") {
      server = true;
      o.app.listen_port = Number<uint16_t>(flag, v);
    } else if (flag == "--connect") {
      server = false;
      o.app.remote = Address(flag, v);
    } else if (flag == "--to-port") {
      to_port = Number<uint16_t>(flag, v);
    } else if (flag == "--bind") {
      o.app.bind = Address(flag, v);
    } else if (flag == "--mode") {
      mode = std::string(v);
    } else if (flag == "--bytes") {
      o.app.bytes = Size(flag, v);
    } else if (flag == "--count") {
      o.app.count = Number<uint32_t>(flag, v);
    } else if (flag == "--rr-size") {
      o.app.rr_size = static_cast<uint32_t>(Size(flag, v));
    } else if (flag == "--rr-count") {
      o.app.rr_count = Number<uint32_t>(flag, v);
    } else if (flag == "--timeout") {
      o.timeout_s = Number<double>(flag, v);
      o.timeout_given = true;
    } else if (flag == "--serve") {
      if (!o.serve) o.serve.emplace();
      o.serve->path = std::string(v);
    } else if (flag == "--serve-slots") {
      if (!o.serve) o.serve.emplace();
      o.serve->geometry.slots = Number<uint32_t>(flag, v);
    } else if (flag == "--serve-fifo") {
      if (!o.serve) o.serve.emplace();
      o.serve->geometry.tx_fifo_bytes = static_cast<uint32_t>(Size(flag, v));
      o.serve->geometry.rx_fifo_bytes = o.serve->geometry.tx_fifo_bytes;
    } else if (flag == "--mptcp-checksum") {
      Mptcp(o).checksum = Bool01(flag, v);
    } else if (flag == "--scheduler") {
      Mptcp(o).scheduler = std::string(v);
    } else if (flag == "--pm") {
      Mptcp(o).path_manager.policy = std::string(v);
    } else if (flag == "--endpoint") {
      Mptcp(o).path_manager.endpoints.push_back(ParseEndpoint(v));
    } else if (flag == "--subflows") {
      Mptcp(o).path_manager.limits.subflows = Number<uint32_t>(flag, v);
    } else if (flag == "--add-addr-accepted") {
      Mptcp(o).path_manager.limits.add_addr_accepted = Number<uint32_t>(flag, v);
    } else if (flag == "--action") {
      const std::optional<braid::testapp::ConnectionAction> a =
          braid::testapp::ParseConnectionAction(v);
      if (!a) Usage("--action: expected SECONDS:remove|backup|nobackup:ID or SECONDS:abort");
      o.app.actions.push_back(*a);
    } else if (flag == "--ndiffports") {
      Mptcp(o).path_manager.ndiffports = Number<uint32_t>(flag, v);
    } else {
      Usage("unknown flag " + std::string(flag));
    }
  }
  for (const PathConfig& path : paths) {
    if (path.port.empty()) Usage("--port is required");
    if (path.ipv4.empty() && path.ipv6.empty()) {
      Usage("at least one --addr is required for --port " + path.port);
    }
  }
  if (o.serve) {
    if (server) Usage("--serve runs the channel service: no --listen or --connect with it");
    if (const std::string e = o.serve->geometry.Validate(); !e.empty()) Usage("--serve: " + e);
    if (o.datapath.workers != 1) Usage("--serve runs one worker: no --workers N with it");
    o.app.tcp.nagle = !nodelay;
    o.serve->tcp = o.app.tcp;
    if (o.timeout_s <= 0) Usage("--timeout must be > 0");
    o.datapath.paths = std::move(paths);
    return o;
  }
  if (!server) Usage("give --listen PORT or --connect ADDR, or --serve PATH");
  o.app.server = *server;
  if (!*server) {
    if (!to_port || *to_port == 0) Usage("--connect needs --to-port PORT");
    o.app.remote_port = *to_port;
  } else if (o.app.listen_port == 0) {
    Usage("--listen: port 0");
  }
  const std::optional<braid::testapp::Mode> m =
      braid::testapp::ParseMode(mode.value_or(*server ? "sink" : "send"), *server);
  if (!m)
    Usage("--mode " + mode.value_or("") + " is not a " + (*server ? "server" : "client") + " mode");
  o.app.mode = *m;
  if (o.app.mode == braid::testapp::Mode::kRr) {
    if (o.app.rr_size == 0 || o.app.rr_count == 0) Usage("--rr-size and --rr-count must be > 0");
    nodelay = true;  // request/response latency is meaningless behind Nagle
  }
  o.app.tcp.nagle = !nodelay;
  if (o.timeout_s <= 0) Usage("--timeout must be > 0");
  o.datapath.paths = std::move(paths);
  return o;
}

// Prints reports as they come, from any worker thread.
class Printer final : public braid::testapp::ReportSink {
 public:
  void OnConnection(const braid::testapp::ConnectionReport& r) override {
    Print(braid::testapp::ConnectionJson(r));
  }
  void OnRr(const braid::testapp::RrReport& r) override { Print(braid::testapp::RrJson(r)); }
  void Print(const std::string& line) {
    std::lock_guard<std::mutex> lock(mu_);
    std::fputs(line.c_str(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }

 private:
  std::mutex mu_;
};

std::atomic<Datapath*> g_datapath{nullptr};
std::atomic<braid::channel::ChannelServiceApp*> g_service{nullptr};
std::atomic<bool> g_signalled{false};

void OnSignal(int) {
  g_signalled.store(true);
  // The channel service stops on its worker (apps see kGone, connections are reset), then the
  // loop ends by itself.
  if (braid::channel::ChannelServiceApp* service = g_service.load()) {
    service->RequestStop();
    return;
  }
  if (Datapath* dp = g_datapath.load()) dp->Stop();
}

// The service's counters as a JSON object: every counter of service_counters.def and the apps
// still attached.
std::string ChannelJson(const braid::channel::ChannelService& service) {
  braid::testapp::JsonObject o;
  for (size_t i = 0; i < braid::channel::kServiceCounterCount; ++i) {
    const auto c = static_cast<braid::channel::ServiceCounter>(i);
    o.Add(braid::channel::ServiceCounterName(c), service.counters()[c]);
  }
  o.Add("sessions", uint64_t{service.sessions()});
  return o.str();
}

// Runs the channel service on the datapath's one worker until SIGINT/SIGTERM (or --timeout).
int Serve(Options& options, Datapath& dp, Printer& printer) {
  braid::channel::ChannelServiceApp app(*options.serve);
  g_service.store(&app);
  if (g_signalled.load()) app.RequestStop();
  {
    braid::testapp::JsonObject o;
    o.Add("event", "ready")
        .Add("port", dp.port(0).name())
        .Add("pmd", braid::io::PortKindName(dp.port(0).kind()))
        .Add("mac", dp.port(0).mac().ToString())
        .Add("serve", options.serve->path)
        .Add("mptcp", options.datapath.mptcp.has_value())
        .Add("pid", int64_t{getpid()});
    printer.Print(o.str());
  }
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  bool timed_out = false;
  std::thread watchdog([&] {
    if (!options.timeout_given) return;
    std::unique_lock<std::mutex> lock(mu);
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(options.timeout_s));
    if (!cv.wait_until(lock, deadline, [&] { return finished; })) {
      timed_out = true;
      app.RequestStop();
    }
  });
  braid::runtime::WorkerApp* apps[] = {&app};
  const absl::Status run = dp.Run(apps);
  {
    std::lock_guard<std::mutex> lock(mu);
    finished = true;
  }
  cv.notify_all();
  watchdog.join();
  g_service.store(nullptr);
  int status = 0;
  if (!run.ok()) {
    std::fprintf(stderr, "braid-testapp: %s\n", std::string(run.message()).c_str());
    status = 1;
  }
  if (!app.start_error().empty()) {
    braid::testapp::JsonObject o;
    o.Add("event", "error").Add("error", app.start_error());
    printer.Print(o.str());
    status = 1;
  }
  if (timed_out) {
    braid::testapp::JsonObject o;
    o.Add("event", "error").Add("error", "timeout");
    printer.Print(o.str());
    status = 1;
  }
  std::string summary = braid::testapp::SummaryJson(dp);
  if (app.service() != nullptr && !summary.empty() && summary.back() == '}') {
    summary.pop_back();
    summary += ", \"channel\": " + ChannelJson(*app.service()) + "}";
  }
  printer.Print(summary);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  Options options = Parse(argc, argv);
  Printer printer;

  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  absl::StatusOr<std::unique_ptr<Datapath>> started = Datapath::Start(options.datapath);
  if (!started.ok()) {
    std::fprintf(stderr, "braid-testapp: %s\n", std::string(started.status().message()).c_str());
    braid::testapp::JsonObject o;
    o.Add("event", "error").Add("error", std::string(started.status().message()));
    printer.Print(o.str());
    return 1;
  }
  Datapath& dp = **started;
  if (options.serve) return Serve(options, dp, printer);
  g_datapath.store(&dp);
  if (g_signalled.load()) dp.Stop();

  std::vector<std::unique_ptr<braid::testapp::TestApp>> apps;
  std::vector<braid::runtime::WorkerApp*> app_ptrs;
  // --count is for the whole server: every worker serves the listen port.
  std::atomic<uint32_t> connections_finished{0};
  for (size_t w = 0; w < dp.workers(); ++w) {
    apps.push_back(std::make_unique<braid::testapp::TestApp>(options.app, printer, w == 0,
                                                             &connections_finished));
    app_ptrs.push_back(apps.back().get());
  }

  {
    const PathConfig& p = options.datapath.paths[0];
    std::string addrs = "[";
    for (const auto& a : p.ipv4) {
      if (addrs.size() > 1) addrs += ", ";
      addrs +=
          braid::testapp::JsonString(a.address.ToString() + "/" + std::to_string(a.prefix_len));
    }
    for (const auto& a : p.ipv6) {
      if (addrs.size() > 1) addrs += ", ";
      addrs +=
          braid::testapp::JsonString(a.address.ToString() + "/" + std::to_string(a.prefix_len));
    }
    addrs += "]";
    std::string lcores = "[";
    for (size_t w = 0; w < dp.lcores().size(); ++w) {
      lcores += (w == 0 ? "" : ", ") + std::to_string(dp.lcores()[w]);
    }
    lcores += "]";
    braid::testapp::JsonObject o;
    o.Add("event", "ready")
        .Add("port", dp.port(0).name())
        .Add("pmd", braid::io::PortKindName(dp.port(0).kind()))
        .Add("mac", dp.port(0).mac().ToString())
        .Add("link", dp.port(0).Link().ToString())
        .AddRaw("addrs", addrs)
        .Add("workers", uint64_t{dp.workers()})
        .AddRaw("lcores", lcores)
        .Add("pid", int64_t{getpid()});
    if (options.app.server) o.Add("listen", uint64_t{options.app.listen_port});
    printer.Print(o.str());
  }

  // The overall deadline: stops the workers, and the run counts as failed.
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  bool timed_out = false;
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> lock(mu);
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(options.timeout_s));
    if (!cv.wait_until(lock, deadline, [&] { return finished; })) {
      timed_out = true;
      dp.Stop();
    }
  });

  const absl::Status run = dp.Run(app_ptrs);
  {
    std::lock_guard<std::mutex> lock(mu);
    finished = true;
  }
  cv.notify_all();
  watchdog.join();
  g_datapath.store(nullptr);

  int status = 0;
  if (!run.ok()) {
    std::fprintf(stderr, "braid-testapp: %s\n", std::string(run.message()).c_str());
    status = 1;
  }
  for (const auto& app : apps) {
    if (!app->start_error().empty()) {
      braid::testapp::JsonObject o;
      o.Add("event", "error").Add("error", app->start_error());
      printer.Print(o.str());
      status = 1;
    }
    if (app->failed() != 0) status = 1;
  }
  // A client that never finished (timeout, signal) has failed; a server stopped by a signal has
  // served what it was asked to.
  if (!options.app.server && !apps[0]->Done()) status = 1;
  if (timed_out) {
    braid::testapp::JsonObject o;
    o.Add("event", "error").Add("error", "timeout");
    printer.Print(o.str());
    status = 1;
  }
  printer.Print(braid::testapp::SummaryJson(dp));
  return status;
}
