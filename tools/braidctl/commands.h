// braidctl as a program: parses the command line (args.h), calls the agent (client.h), prints the
// answer (render.h) and says what went wrong in one line a person can act on:
//
//   braidctl: <command>: <gRPC code name>: <the agent's message>
//   braidctl: is braid-agent running? socket /run/braid/agent.sock    (when UNAVAILABLE)
//
// Exit status: 0 done, 1 the agent's error, an unreachable agent or an output that failed,
// 2 usage error (the usage text follows the problem on stderr).
#pragma once

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace braid::braidctl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;

// braidctl's own version (the project's).
std::string_view ClientVersion();

// Runs one braidctl command line (`args` without the program name). `socket_env` is
// $BRAID_SOCKET. Tables, JSON and pcap bytes go to `out`; diagnostics to `err`. A capture catches
// SIGINT, SIGTERM and SIGHUP while it runs, to end the pcap file cleanly.
int RunBraidctl(const std::vector<std::string>& args, std::string_view socket_env, std::FILE* out,
                std::FILE* err);

}  // namespace braid::braidctl
