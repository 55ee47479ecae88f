#include "datapath/io/dpdk_log.h"

#include <rte_log.h>

#include <cstdlib>
#include <string_view>
#include <vector>

#include "datapath/io/text.h"

namespace braid::io {

DpdkLogCapture::DpdkLogCapture() : previous_(rte_log_get_stream()) {
  stream_ = open_memstream(&buffer_, &size_);
  if (stream_ != nullptr) rte_openlog_stream(stream_);
}

DpdkLogCapture::~DpdkLogCapture() {
  if (stream_ == nullptr) return;
  rte_openlog_stream(previous_);
  std::fclose(stream_);  // buffer_ now holds everything, NUL-terminated
  if (buffer_ != nullptr && size_ != 0 && previous_ != nullptr) {
    std::fputs(buffer_, previous_);
    std::fflush(previous_);
  }
  std::free(buffer_);
}

std::string DpdkLogCapture::Tail(size_t max_lines) {
  if (stream_ == nullptr) return "";
  std::fflush(stream_);
  if (buffer_ == nullptr || size_ == 0) return "";
  std::vector<std::string_view> lines;
  for (std::string_view line : Split(std::string_view(buffer_, size_), '\n')) {
    line = TrimWhitespace(line);
    if (!line.empty()) lines.push_back(line);
  }
  if (lines.size() > max_lines) lines.erase(lines.begin(), lines.end() - max_lines);
  return Join(lines, "; ");
}

}  // namespace braid::io
