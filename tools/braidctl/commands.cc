#include "tools/braidctl/commands.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "braid/v1/debug.pb.h"
#include "tools/braidctl/args.h"
#include "tools/braidctl/client.h"
#include "tools/braidctl/format.h"
#include "tools/braidctl/render.h"

namespace braid::braidctl {
namespace {

// Set by SIGINT/SIGTERM/SIGHUP during a capture; lock-free, so a handler may store to it.
std::atomic<bool> g_capture_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free);

void OnCaptureSignal(int) { g_capture_stop.store(true); }

void Print(std::FILE* f, std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), f);
  std::fflush(f);
}

class Runner {
 public:
  Runner(Invocation inv, std::FILE* out, std::FILE* err)
      : inv_(std::move(inv)), out_(out), err_(err), client_(inv_.socket, inv_.timeout) {
    render_.raw = inv_.raw;
    render_.now = std::chrono::system_clock::now();
  }

  int Run() {
    switch (inv_.command) {
      case Command::kHelp:
        Print(out_, UsageText());
        return kExitOk;
      case Command::kStatus:
        return Status();
      case Command::kPaths:
        return Paths();
      case Command::kPods:
        return Pods();
      case Command::kConnections:
        return Connections();
      case Command::kSubflows:
        return Subflows();
      case Command::kCounters:
        return Counters();
      case Command::kCapture:
        return Capture();
      case Command::kLogLevel:
        return LogLevel();
      case Command::kVersion:
        return Version();
    }
    return kExitUsage;
  }

 private:
  int Fail(const absl::Status& status) {
    Print(err_, "braidctl: " + inv_.command_name + ": " + absl::StatusCodeToString(status.code()) +
                    ": " + std::string(status.message()) + "\n");
    if (status.code() == absl::StatusCode::kUnavailable) {
      Print(err_, "braidctl: is braid-agent running? socket " + inv_.socket + "\n");
    }
    return kExitError;
  }

  int PrintTable(const std::string& text) {
    Print(out_, text);
    return kExitOk;
  }
  int PrintJson(const absl::StatusOr<std::string>& json) {
    if (!json.ok()) return Fail(json.status());
    Print(out_, *json);
    return kExitOk;
  }
  bool json() const { return inv_.output == OutputFormat::kJson; }

  int Status() {
    absl::StatusOr<v1::GetStatusResponse> status = client_.GetStatus();
    if (!status.ok()) return Fail(status.status());
    if (json()) return PrintJson(ToJson(*status));
    return PrintTable(RenderStatus(*status, render_));
  }

  int Paths() {
    absl::StatusOr<v1::GetStatusResponse> status = client_.GetStatus();
    if (!status.ok()) return Fail(status.status());
    if (json()) return PrintJson(PathsJson(*status));
    return PrintTable(RenderPaths(status->paths(), render_));
  }

  int Pods() {
    absl::StatusOr<v1::ListPodsResponse> pods = client_.ListPods(inv_.pods);
    if (!pods.ok()) return Fail(pods.status());
    if (json()) return PrintJson(ToJson(*pods));
    return PrintTable(RenderPods(*pods, render_));
  }

  int Connections() {
    absl::StatusOr<v1::ListConnectionsResponse> connections =
        client_.ListAllConnections(inv_.connections);
    if (!connections.ok()) return Fail(connections.status());
    if (json()) return PrintJson(ToJson(*connections));
    return PrintTable(
        RenderConnections(*connections, inv_.connections.include_subflows(), render_));
  }

  int Subflows() {
    absl::StatusOr<v1::ListSubflowsResponse> subflows = client_.ListAllSubflows(inv_.subflows);
    if (!subflows.ok()) return Fail(subflows.status());
    if (json()) return PrintJson(ToJson(*subflows));
    return PrintTable(RenderSubflows(subflows->subflows(), render_));
  }

  int Counters() {
    absl::StatusOr<v1::ListCountersResponse> counters = client_.ListCounters(inv_.counters);
    if (!counters.ok()) return Fail(counters.status());
    if (json()) {
      if (!inv_.counters.include_zero()) {
        // Zeros stay hidden in JSON too, whatever the agent sent.
        auto* list = counters->mutable_counters();
        for (int i = list->size() - 1; i >= 0; --i) {
          if (list->Get(i).value() == 0) list->DeleteSubrange(i, 1);
        }
      }
      return PrintJson(ToJson(*counters));
    }
    return PrintTable(
        RenderCounters(*counters, inv_.counters.include_zero(), inv_.counters.per_worker()));
  }

  int LogLevel() {
    const std::string component =
        inv_.log_level.component().empty() ? "agent" : inv_.log_level.component();
    if (!inv_.new_log_level) {
      absl::StatusOr<v1::GetLogLevelResponse> level = client_.GetLogLevel(inv_.log_level);
      if (!level.ok()) return Fail(level.status());
      if (json()) return PrintJson(ToJson(*level));
      return PrintTable(component + ": " + LogLevelName(level->level()) + "\n");
    }
    v1::SetLogLevelRequest request;
    request.set_component(inv_.log_level.component());
    request.set_level(*inv_.new_log_level);
    absl::StatusOr<v1::SetLogLevelResponse> previous = client_.SetLogLevel(request);
    if (!previous.ok()) return Fail(previous.status());
    if (json()) return PrintJson(ToJson(*previous));
    return PrintTable(component + ": " + LogLevelName(*inv_.new_log_level) + " (was " +
                      LogLevelName(previous->previous_level()) + ")\n");
  }

  int Version() {
    const std::string client_line = "braidctl " + std::string(ClientVersion()) + "\n";
    if (inv_.client_only) {
      if (json()) return PrintJson(VersionJson(ClientVersion(), nullptr));
      return PrintTable(client_line);
    }
    // Our own version is worth printing even when the agent cannot be asked.
    if (!json()) Print(out_, client_line);
    absl::StatusOr<v1::GetStatusResponse> status = client_.GetStatus();
    if (!status.ok()) return Fail(status.status());
    if (json()) return PrintJson(VersionJson(ClientVersion(), &*status));
    return PrintTable("braid-agent " + status->version() + " (node " + status->node_name() + ")\n");
  }

  int Capture();

  Invocation inv_;
  std::FILE* out_;
  std::FILE* err_;
  DebugClient client_;
  RenderOptions render_;
};

std::string EndReasonText(v1::CaptureEndReason reason, const v1::CaptureRequest& request) {
  switch (reason) {
    case v1::CAPTURE_END_REASON_PACKET_LIMIT:
      return "packet limit reached";
    case v1::CAPTURE_END_REASON_BYTE_LIMIT:
      return "byte limit reached";
    case v1::CAPTURE_END_REASON_TIME_LIMIT:
      return "time limit reached";
    case v1::CAPTURE_END_REASON_TARGET_GONE:
      return request.target_case() == v1::CaptureRequest::kPath ? "the path went away"
                                                                : "the connection closed";
    default:
      return "the agent ended the capture";
  }
}

// Installs the capture's signal handlers and restores the previous ones when it ends.
class CaptureSignals {
 public:
  CaptureSignals() {
    g_capture_stop.store(false);
    struct sigaction action = {};
    action.sa_handler = OnCaptureSignal;
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < std::size(kSignals); ++i) {
      ::sigaction(kSignals[i], &action, &previous_[i]);
    }
    // A reader that goes away (`| head -c`) is an end of output, not a reason to die.
    struct sigaction ignore = {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    ::sigaction(SIGPIPE, &ignore, &previous_pipe_);
  }
  ~CaptureSignals() {
    for (size_t i = 0; i < std::size(kSignals); ++i) {
      ::sigaction(kSignals[i], &previous_[i], nullptr);
    }
    ::sigaction(SIGPIPE, &previous_pipe_, nullptr);
  }
  CaptureSignals(const CaptureSignals&) = delete;
  CaptureSignals& operator=(const CaptureSignals&) = delete;

 private:
  static constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};
  struct sigaction previous_[std::size(kSignals)];
  struct sigaction previous_pipe_;
};

int Runner::Capture() {
  const bool to_stdout = inv_.capture_output == "-";
  const std::string where = to_stdout ? "stdout" : inv_.capture_output;
  if (to_stdout && ::isatty(::fileno(out_)) != 0) {
    Print(err_,
          "braidctl: capture: refusing to write pcap bytes to a terminal; use -w FILE or a "
          "pipe (-w - | tshark -r -)\n");
    return kExitUsage;
  }
  std::FILE* file = to_stdout ? out_ : std::fopen(inv_.capture_output.c_str(), "wb");
  if (file == nullptr) {
    Print(err_, "braidctl: capture: cannot open " + where + ": " + std::strerror(errno) + "\n");
    return kExitError;
  }

  v1::CaptureResponse totals;  // packet_count summed; packets_missed and end_reason from the last
  uint64_t bytes = 0;
  int write_errno = 0;
  const auto sink = [&](const v1::CaptureResponse& message) {
    const std::string& data = message.pcap_data();
    // Each message holds whole records: flushing after each one lets a reader on a pipe follow
    // live.
    if ((!data.empty() && std::fwrite(data.data(), 1, data.size(), file) != data.size()) ||
        std::fflush(file) != 0) {
      write_errno = errno;
      return false;
    }
    bytes += data.size();
    totals.set_packet_count(totals.packet_count() + message.packet_count());
    totals.set_packets_missed(message.packets_missed());
    if (message.end_reason() != v1::CAPTURE_END_REASON_UNSPECIFIED) {
      totals.set_end_reason(message.end_reason());
    }
    return true;
  };
  absl::Status status;
  {
    CaptureSignals signals;
    status = client_.Capture(inv_.capture, sink, &g_capture_stop);
  }
  const bool interrupted = g_capture_stop.load();
  if (!to_stdout && std::fclose(file) != 0 && write_errno == 0) write_errno = errno;

  std::string ended;
  if (write_errno != 0) {
    if (!(to_stdout && write_errno == EPIPE)) {
      Print(err_, "braidctl: capture: writing " + where + ": " + std::strerror(write_errno) + "\n");
      return kExitError;
    }
    ended = "the output was closed";
  } else if (interrupted && status.code() == absl::StatusCode::kCancelled) {
    ended = "interrupted";
  } else if (!status.ok()) {
    // Nothing captured: leave no empty file behind.
    if (!to_stdout && bytes == 0) std::remove(inv_.capture_output.c_str());
    return Fail(status);
  } else {
    ended = EndReasonText(totals.end_reason(), inv_.capture);
  }

  if (json()) {
    absl::StatusOr<std::string> summary = ToJson(totals);
    if (!summary.ok()) return Fail(summary.status());
    // stdout carries the pcap bytes with -w -; the summary then goes to stderr.
    Print(to_stdout ? err_ : out_, *summary);
    return kExitOk;
  }
  std::string summary = "braidctl: capture: " + std::to_string(totals.packet_count()) +
                        " packets (" + FormatBytes(bytes, inv_.raw) + ") written to " + where +
                        "; ended: " + ended;
  if (totals.packets_missed() > 0) {
    summary += "; " + std::to_string(totals.packets_missed()) +
               " packets missed (the agent's capture buffer was full)";
  }
  Print(err_, summary + "\n");
  return kExitOk;
}

}  // namespace

std::string_view ClientVersion() { return BRAIDCTL_VERSION; }

int RunBraidctl(const std::vector<std::string>& args, std::string_view socket_env, std::FILE* out,
                std::FILE* err) {
  absl::StatusOr<Invocation> inv = ParseArgs(args, socket_env);
  if (!inv.ok()) {
    Print(err, "braidctl: " + std::string(inv.status().message()) + "\n\n" + UsageText());
    return kExitUsage;
  }
  return Runner(*std::move(inv), out, err).Run();
}

}  // namespace braid::braidctl
