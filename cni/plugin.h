// braid-cni, the CNI 1.1 plugin (architecture.md §7, cni/README.md): one invocation from the
// environment and stdin to what goes to stdout and the exit status. The plugin stays thin: it
// checks what it was given, delegates IPAM to host-local, forwards everything to the agent's
// CniService and turns the answer into the CNI result, undoing what it did when a later step
// fails (conventions.md: Cilium's CNI).
//
//   ADD     host-local ADD; split its addresses by path; agent Add; the result. If the agent
//           refuses, host-local's addresses are released again.
//   DEL     agent Del (an attachment it does not know is fine), then host-local DEL. When the
//           agent cannot be reached the addresses stay reserved (it may still use them): 11.
//   CHECK   agent Check with the attachment's addresses from prevResult, then host-local CHECK.
//   STATUS  agent Status (50 / 51 when not ready), then host-local STATUS when it has one.
//   GC      agent Gc with cni.dev/valid-attachments; host-local DEL for each attachment the agent
//           removed, and host-local GC with the same list when it has one.
//   VERSION the supported versions.
#pragma once

#include <string>
#include <string_view>

#include "cni/env.h"

namespace braid::cni {

struct PluginOutput {
  std::string stdout_text;  // the result, the error, or nothing
  int exit_status = 0;      // 0 or 1
};

// Runs one CNI invocation. `env` is the whole environment (host-local gets it too).
PluginOutput RunPlugin(const EnvMap& env, std::string_view stdin_text);

}  // namespace braid::cni
