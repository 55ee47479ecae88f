#include "datapath/tcp/send_buffer.h"

namespace braid::tcp {

RingPieces SendBuffer::Peek(wire::TcpSeq seq, size_t len) const {
  if (seq < head_seq_ || !(seq < end_seq())) return {};
  return ring_.Peek(static_cast<size_t>(seq - head_seq_), len);
}

void SendBuffer::AckTo(wire::TcpSeq seq) {
  if (!(head_seq_ < seq)) return;
  const size_t n = static_cast<size_t>(seq - head_seq_);
  const size_t take = n < ring_.size() ? n : ring_.size();
  ring_.Consume(take);
  head_seq_ += static_cast<uint32_t>(take);
}

}  // namespace braid::tcp
