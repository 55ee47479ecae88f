// Captures what DPDK logs during a control-plane call (probe, configure, queue set-up, start), so
// that an error Status can quote the PMD's own explanation ("Failed to load BPF program: ...")
// instead of a bare errno. The captured lines are passed on to the previous log stream as well.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>

namespace braid::io {

class DpdkLogCapture {
 public:
  DpdkLogCapture();
  DpdkLogCapture(const DpdkLogCapture&) = delete;
  DpdkLogCapture& operator=(const DpdkLogCapture&) = delete;
  ~DpdkLogCapture();  // restores the previous stream and forwards the captured text to it

  // The last `max_lines` lines logged since construction, joined with "; " (empty when none).
  std::string Tail(size_t max_lines = 4);

 private:
  std::FILE* previous_ = nullptr;
  std::FILE* stream_ = nullptr;
  char* buffer_ = nullptr;
  size_t size_ = 0;
};

}  // namespace braid::io
