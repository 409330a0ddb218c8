// RingReader: one BPF ring buffer watched by libuv. When the ring's fd turns
// readable, each sample is encoded by the reader's RecordProgram as a Forward
// entry straight from the ring's memory into a batch, and the batch is handed
// to JS in one call: (entries: Buffer, count, bytes, minSec, minNsec, maxSec,
// maxNsec): `count` entries in the first `bytes` bytes, and their time range.
// The batch Buffer is reused: its bytes are valid during the call only.
// With a deadline (ms), the ring is read again within that long after every
// read that found records: the BPF side lets records wait for a wake-up
// (wake-up batching, bpf/common.bpf.h) and this bounds their wait. With the
// name of the object's wake-up clock (a u64 global, `last_wakeup_ns`), each
// such read stamps it, so that the kernel wakes the reader only for records
// that come a whole deadline after the last read: under a steady flow the
// deadline reads alone take the records, one wake-up per deadline. Deadlines
// fall on a grid of their length (the loop's clock), so that the readers of
// several traces read in the same turn of the loop.
// Lent a forward output's socket (sendTo), it writes each batch to the
// receiver itself, as a Forward message, instead of handing it to JS: a
// wake-up then never enters JS. A socket that is busy finishing a message
// or closed makes it hand batches to JS again (whose output takes over).
#pragma once
#include <napi.h>
#include <uv.h>

#include <cstdint>

#include "forward_socket.h"
#include "record_encoder.h"

namespace ebpf_forward {

class BpfObject;
class RecordProgram;

class RingReader : public Napi::ObjectWrap<RingReader>, private SocketUser {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit RingReader(const Napi::CallbackInfo& info);
  ~RingReader() override;

  // Stops watching and frees the ring; the JS callback is not called again.
  void Shutdown();

 private:
  Napi::Value Drain(const Napi::CallbackInfo& info);
  Napi::Value Pause(const Napi::CallbackInfo& info);
  Napi::Value Resume(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value SendTo(const Napi::CallbackInfo& info);

  // Back to handing batches to JS.
  void StopSending();
  // SocketUser: the socket is being finalized.
  void SocketGone() override;

  // Consumes committed records into the batch until the ring is empty or the
  // batch is full (then kBatchFull), as libbpf's ringbuf_process_ring does.
  int ConsumeRing();
  // Maps the ring: the consumer page read-write, the producer page and ONE
  // copy of the data pages read-only (libbpf maps them twice: 2 x its size
  // resident, since the kernel maps every page at mmap time).
  int MapRing(int map_fd, uint64_t ring_bytes);
  bool ring_open() const { return data_ != nullptr; }
  static void OnReadable(uv_poll_t* handle, int status, int events);
  static void OnTimer(uv_timer_t* handle);
  // Reads after a wake-up or a deadline; re-arms the deadline if it found records.
  void Read();
  // Maps the object's data section holding `global` (a u64) to stamp it.
  bool MapWakeupClock(const std::string& global);
  // Makes room for `needed` bytes in the batch; false if memory ran out.
  bool Reserve(size_t needed);
  // Consumes until the ring is empty (or max_rounds batches were sent; then
  // more_ is set). Returns the number of records (entries, with a program)
  // handed to JS, or -1 if JS threw; pump_samples_ is what it consumed.
  int64_t Pump(Napi::Env env, int max_rounds);
  // OnSample with a program: encodes the sample into the batch.
  int EncodeSample(const uint8_t* data, size_t size);

  Napi::Env env_;
  BpfObject* owner_ = nullptr;
  Napi::ObjectReference owner_ref_;
  Napi::FunctionReference callback_;
  // The ring's pages (see MapRing); data_ is null once closed.
  uint64_t* consumer_pos_ = nullptr;  // in its own read-write page
  void* producer_page_ = nullptr;     // producer position page + data pages
  size_t producer_map_len_ = 0;
  const uint8_t* data_ = nullptr;
  uint64_t ring_mask_ = 0;
  // A record that wraps past the ring's end is copied here, whole.
  uint8_t* wrap_scratch_ = nullptr;
  size_t wrap_scratch_len_ = 0;
  uv_poll_t* poll_ = nullptr;
  // Our epoll instance holding the ring's fd edge-triggered (see the constructor).
  int edge_fd_ = -1;
  // Fires for the deadline, or to go on with a read cut short.
  uv_timer_t* timer_ = nullptr;
  uint64_t deadline_ms_ = 0;
  bool more_ = false;
  // Set by pause(): the ring is not read (records wait there, or are lost
  // and counted by the kernel) until resume().
  bool paused_ = false;
  // The batch being filled, and the external Buffer over it that JS is handed
  // each time. The Buffer's finalizer frees the bytes (JS may outlive us).
  Napi::Reference<Napi::Buffer<uint8_t>> batch_ref_;
  uint8_t* batch_ = nullptr;
  size_t batch_size_ = 0;
  size_t batch_capacity_ = 0;
  uint32_t batch_count_ = 0;
  uint32_t batch_samples_ = 0;  // consumed into this batch (records, or entries + malformed + skipped)
  size_t max_batch_bytes_;
  // With a program: its encoder, the clocks of the batch being filled, and the
  // batch's time range.
  Napi::ObjectReference program_ref_;
  const RecordEncoder* encoder_ = nullptr;  // the program's, set by the constructor
  EncodeClock clock_;
  EntryTimeRange batch_times_;
  uint64_t pump_samples_ = 0;
  uint64_t samples_ = 0;
  uint64_t malformed_ = 0;  // records the program found malformed (not sent)
  uint64_t skipped_ = 0;    // records of a kind the program does not know (not sent)
  uint64_t wakeups_ = 0;
  uint64_t batches_ = 0;
  uint64_t records_ = 0;
  uint64_t dropped_ = 0;  // samples lost to a failed allocation here
  uint64_t deadline_reads_ = 0;  // deadline reads that found records
  uint64_t ring_bytes_ = 0;
  // The object's wake-up clock (see above), in its data section mapped
  // read-write; null without one.
  void* clock_section_ = nullptr;
  size_t clock_section_len_ = 0;
  uint64_t* wakeup_clock_ = nullptr;
  // The lent socket (see above) and how its messages are framed; null when
  // batches go to JS.
  ForwardSocket* socket_ = nullptr;
  Napi::ObjectReference socket_ref_;
  MessageFrame frame_;
  uint64_t sent_records_ = 0;  // records written to the lent socket
  uint64_t sent_bytes_ = 0;    // their entries' bytes
};

}  // namespace ebpf_forward
