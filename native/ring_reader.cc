#include "ring_reader.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "bpf_object.h"
#include "errors.h"
#include "host.h"
#include "record_program.h"

namespace ebpf_forward {
namespace {
// Returned by EncodeSample and ConsumeRing once the batch is full; the sample
// that filled it is consumed.
constexpr int kBatchFull = -ENOBUFS;
// Batches sent per read before yielding to the event loop; if records remain,
// the read resumes on the loop's next turn.
constexpr int kRoundsPerRead = 8;
// How late a deadline read may come before the kernel wakes the reader for
// the records it would have taken (see Read()).
constexpr uint64_t kDeadlineMarginMs = 2;
}  // namespace

Napi::Function RingReader::Init(Napi::Env env) {
  return DefineClass(env, "RingReader",
                     {
                         InstanceMethod<&RingReader::Drain>("drain"),
                         InstanceMethod<&RingReader::Pause>("pause"),
                         InstanceMethod<&RingReader::Resume>("resume"),
                         InstanceMethod<&RingReader::Close>("close"),
                         InstanceMethod<&RingReader::Stats>("stats"),
                         InstanceMethod<&RingReader::SendTo>("sendTo"),
                     });
}

// new RingReader(object: BpfObject, map: string, onBatch: Function, maxBatchBytes: number,
//                deadlineMs: number, program: RecordProgram, wakeupClock?: string)
RingReader::RingReader(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<RingReader>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  RecordProgram* program = info.Length() > 5 ? RecordProgram::FromValue(env, info[5]) : nullptr;
  if (info.Length() < 6 || !info[0].IsObject() || !info[1].IsString() || !info[2].IsFunction() ||
      !info[3].IsNumber() || !info[4].IsNumber() || !program) {
    ThrowUsage(env, "RingReader(object: BpfObject, map: string, onBatch: Function, maxBatchBytes: number, deadlineMs: number, program: RecordProgram, wakeupClock?: string)");
    return;
  }
  owner_ = BpfObject::Unwrap(info[0].As<Napi::Object>());
  if (!owner_ || !owner_->object() || !owner_->loaded()) {
    Napi::Error::New(env, "RingReader needs a loaded BpfObject").ThrowAsJavaScriptException();
    return;
  }
  std::string map_name = info[1].As<Napi::String>().Utf8Value();
  bpf_map* map = bpf_object__find_map_by_name(owner_->object(), map_name.c_str());
  if (!map || bpf_map__type(map) != BPF_MAP_TYPE_RINGBUF) {
    Napi::Error::New(env, "no ring buffer map named '" + map_name + "'").ThrowAsJavaScriptException();
    return;
  }
  max_batch_bytes_ = static_cast<size_t>(info[3].As<Napi::Number>().Int64Value());
  if (info.Length() > 4 && info[4].IsNumber()) deadline_ms_ = static_cast<uint64_t>(info[4].As<Napi::Number>().Int64Value());
  // Room for a full batch plus the record that fills it (most are far smaller).
  if (!Reserve(max_batch_bytes_ + 64 * 1024)) {
    Napi::Error::New(env, "RingReader: out of memory for the batch buffer").ThrowAsJavaScriptException();
    return;
  }

  int err = MapRing(bpf_map__fd(map), bpf_map__max_entries(map));
  if (err) {
    ThrowFailure(env, "opening ring buffer " + map_name, err);
    return;
  }

  // Without it (an object that has no such global, or a kernel that can't
  // map it) the kernel wakes the reader as before, the deadline a backstop.
  if (info.Length() > 6 && info[6].IsString() && deadline_ms_ > 0) MapWakeupClock(info[6].As<Napi::String>().Utf8Value());

  // Readiness comes from our own epoll with the ring edge-triggered: libbpf's
  // is level-triggered, which reports the ring readable whenever it holds a
  // record, so the loop would read again on every turn and records that were
  // told not to wake the reader (wake-up batching) would wake it anyway.
  edge_fd_ = epoll_create1(EPOLL_CLOEXEC);
  epoll_event watch = {};
  watch.events = EPOLLIN | EPOLLET;
  if (edge_fd_ < 0 || epoll_ctl(edge_fd_, EPOLL_CTL_ADD, bpf_map__fd(map), &watch) < 0) {
    int e = errno;
    Shutdown();
    ThrowFailure(env, "watching ring buffer " + map_name, e);
    return;
  }
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  poll_ = new uv_poll_t;
  poll_->data = this;
  int rc = uv_poll_init(loop, poll_, edge_fd_);
  if (rc == 0) rc = uv_poll_start(poll_, UV_READABLE, &RingReader::OnReadable);
  if (rc != 0) {
    delete poll_;
    poll_ = nullptr;
    Shutdown();
    Napi::Error::New(env, std::string("watching ring buffer: ") + uv_strerror(rc)).ThrowAsJavaScriptException();
    return;
  }
  timer_ = new uv_timer_t;
  timer_->data = this;
  uv_timer_init(loop, timer_);
  // A pending deadline must not keep the process alive on its own.
  uv_unref(reinterpret_cast<uv_handle_t*>(timer_));
  callback_ = Napi::Persistent(info[2].As<Napi::Function>());
  owner_ref_ = Napi::Persistent(info[0].As<Napi::Object>());
  // Held so that the encoder outlives every read.
  program_ref_ = Napi::Persistent(info[5].As<Napi::Object>());
  encoder_ = &program->encoder();
  owner_->AddReader(this);
}

RingReader::~RingReader() { Shutdown(); }

void RingReader::Shutdown() {
  StopSending();
  if (poll_) {
    uv_poll_stop(poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(poll_),
             [](uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); });
    poll_ = nullptr;
  }
  if (timer_) {
    uv_timer_stop(timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(timer_),
             [](uv_handle_t* handle) { delete reinterpret_cast<uv_timer_t*>(handle); });
    timer_ = nullptr;
  }
  if (edge_fd_ >= 0) {  // libuv stopped watching it above
    close(edge_fd_);
    edge_fd_ = -1;
  }
  long page = sysconf(_SC_PAGESIZE);
  if (consumer_pos_) {
    munmap(consumer_pos_, page);
    consumer_pos_ = nullptr;
  }
  if (producer_page_) {
    munmap(producer_page_, producer_map_len_);
    producer_page_ = nullptr;
  }
  data_ = nullptr;
  free(wrap_scratch_);
  wrap_scratch_ = nullptr;
  wrap_scratch_len_ = 0;
  if (clock_section_) {
    munmap(clock_section_, clock_section_len_);
    clock_section_ = nullptr;
    wakeup_clock_ = nullptr;
  }
  if (owner_) {
    owner_->RemoveReader(this);
    owner_ = nullptr;
  }
  // The bytes stay with the batch Buffer (freed by its finalizer).
  batch_ = nullptr;
  batch_size_ = batch_capacity_ = 0;
}

int RingReader::MapRing(int map_fd, uint64_t ring_bytes) {
  long page = sysconf(_SC_PAGESIZE);
  // A ring's size is a power of 2 and a multiple of the page size (the kernel checks).
  if (ring_bytes == 0 || (ring_bytes & (ring_bytes - 1)) != 0) return EINVAL;
  void* consumer = mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
  if (consumer == MAP_FAILED) return errno;
  // The kernel maps the data pages twice in a row after the producer page,
  // so that a record wrapping past the end reads as contiguous; mapping less
  // than all of it is allowed (remap_vmalloc_range checks only the bounds).
  // One copy: a record that wraps is copied whole instead (ConsumeRing).
  size_t len = page + ring_bytes;
  void* producer = mmap(nullptr, len, PROT_READ, MAP_SHARED, map_fd, page);
  if (producer == MAP_FAILED) {
    int e = errno;
    munmap(consumer, page);
    return e;
  }
  consumer_pos_ = static_cast<uint64_t*>(consumer);
  producer_page_ = producer;
  producer_map_len_ = len;
  data_ = static_cast<const uint8_t*>(producer) + page;
  ring_mask_ = ring_bytes - 1;
  ring_bytes_ = ring_bytes;
  return 0;
}

int RingReader::ConsumeRing() {
  const uint64_t* producer_pos = static_cast<const uint64_t*>(producer_page_);
  uint64_t cons = __atomic_load_n(consumer_pos_, __ATOMIC_ACQUIRE);
  bool got_new_data;
  do {
    got_new_data = false;
    uint64_t prod = __atomic_load_n(producer_pos, __ATOMIC_ACQUIRE);
    while (cons < prod) {
      // Each record: a u32 length (with the busy and discard bits) and a u32
      // page offset, then the sample, padded to 8 bytes. The header never
      // wraps (positions and the size are multiples of 8); the sample may.
      size_t at = cons & ring_mask_;
      const uint32_t* header = reinterpret_cast<const uint32_t*>(data_ + at);
      uint32_t len = __atomic_load_n(header, __ATOMIC_ACQUIRE);
      if (len & BPF_RINGBUF_BUSY_BIT) return 0;  // not committed yet: the next read takes it
      got_new_data = true;
      uint32_t size = len & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
      cons += (static_cast<uint64_t>(size) + BPF_RINGBUF_HDR_SZ + 7) & ~7ull;
      int rc = 0;
      if (!(len & BPF_RINGBUF_DISCARD_BIT)) {
        size_t start = (at + BPF_RINGBUF_HDR_SZ) & ring_mask_;
        const uint8_t* sample = data_ + start;
        if (start + size > ring_bytes_) {
          // Wraps past the end: the encoder reads one contiguous record.
          if (wrap_scratch_len_ < size) {
            auto* grown = static_cast<uint8_t*>(realloc(wrap_scratch_, size));
            if (!grown) {
              dropped_++;
              __atomic_store_n(consumer_pos_, cons, __ATOMIC_RELEASE);
              continue;
            }
            wrap_scratch_ = grown;
            wrap_scratch_len_ = size;
          }
          size_t head = ring_bytes_ - start;
          memcpy(wrap_scratch_, sample, head);
          memcpy(wrap_scratch_ + head, data_, size - head);
          sample = wrap_scratch_;
        }
        rc = EncodeSample(sample, size);
      }
      __atomic_store_n(consumer_pos_, cons, __ATOMIC_RELEASE);
      if (rc < 0) return rc;
    }
  } while (got_new_data);
  return 0;
}

bool RingReader::MapWakeupClock(const std::string& global) {
  BpfObject::GlobalPlace place = owner_->FindGlobal(global);
  if (place.status != BpfObject::GlobalPlace::kFound) return false;
  if (place.size != sizeof(uint64_t) || place.offset % sizeof(uint64_t) != 0) return false;
  // libbpf makes global data mappable where the kernel allows (5.5+).
  if (!(bpf_map__map_flags(place.map) & BPF_F_MMAPABLE)) return false;
  long page = sysconf(_SC_PAGESIZE);
  size_t len = (bpf_map__value_size(place.map) + page - 1) / page * page;
  void* section = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(place.map), 0);
  if (section == MAP_FAILED) return false;
  clock_section_ = section;
  clock_section_len_ = len;
  wakeup_clock_ = reinterpret_cast<uint64_t*>(static_cast<uint8_t*>(section) + place.offset);
  return true;
}

bool RingReader::Reserve(size_t needed) {
  if (needed <= batch_capacity_) return true;
  size_t capacity = batch_capacity_ ? batch_capacity_ : 64 * 1024;
  while (capacity < needed) capacity *= 2;
  auto* grown = static_cast<uint8_t*>(malloc(capacity));
  if (!grown) return false;
  if (batch_size_ > 0) memcpy(grown, batch_, batch_size_);
  // A new Buffer over the new bytes; the old one frees its bytes when collected.
  batch_ref_ = Napi::Persistent(
      Napi::Buffer<uint8_t>::New(env_, grown, capacity, [](Napi::Env, uint8_t* p) { free(p); }));
  batch_ = grown;
  batch_capacity_ = capacity;
  return true;
}

int RingReader::EncodeSample(const uint8_t* data, size_t size) {
  // Room for the longest entry the program can make of this sample.
  if (!Reserve(batch_size_ + encoder_->Bound(size))) {
    dropped_++;
    return -ENOMEM;
  }
  // A ring sample is at most the ring's size (a u32 length in its header).
  EncodedRecord e = encoder_->Encode(data, static_cast<uint32_t>(size), batch_ + batch_size_, clock_);
  batch_samples_++;
  if (e.outcome == RecordOutcome::kEntry) {
    batch_size_ += e.bytes;
    batch_count_++;
    batch_times_.Include(e);
  } else if (e.outcome == RecordOutcome::kMalformed) {
    malformed_++;
  } else {
    skipped_++;
  }
  return batch_size_ >= max_batch_bytes_ ? kBatchFull : 0;
}

int64_t RingReader::Pump(Napi::Env env, int max_rounds) {
  int64_t total = 0;
  more_ = false;
  pump_samples_ = 0;
  // One clock offset per read; HEAD_NOW's time is each batch's start.
  int64_t offset_ns = RealtimeMinusMonotonicNs();
  for (int round = 0; round < max_rounds && ring_open() && !paused_; round++) {
    // Closed, or busy with a message a slow receiver has not taken whole:
    // batches go to JS, whose output has the memory to buffer them.
    if (socket_ && (!socket_->open() || socket_->busy())) StopSending();
    batch_size_ = 0;
    batch_count_ = 0;
    batch_samples_ = 0;
    batch_times_ = EntryTimeRange();
    clock_ = EncodeClock::At(offset_ns, RealtimeNs());
    int rc = ConsumeRing();
    if (batch_samples_ == 0) break;
    pump_samples_ += batch_samples_;
    samples_ += batch_samples_;
    uint32_t count = batch_count_;
    if (count > 0 && socket_) {
      EntryBatch batch = {batch_, batch_size_, count, batch_times_.min_sec, batch_times_.min_nsec, batch_times_.max_sec, batch_times_.max_nsec};
      if (socket_->Send(frame_, batch, true) != ForwardSocket::SendResult::kClosed) {
        sent_records_ += count;
        sent_bytes_ += batch_size_;
        batches_++;
        batch_size_ = 0;
        count = 0;
      } else {
        StopSending();  // this batch, and the next ones, to JS
      }
    }
    if (count > 0) {  // none when every sample was malformed or skipped (or it went to the socket)
      total += count;
      batches_++;
      records_ += count;
      Napi::Number bytes = Napi::Number::New(env, static_cast<double>(batch_size_));
      Napi::Value result = callback_.MakeCallback(
          Value(), {batch_ref_.Value(), Napi::Number::New(env, count), bytes, Napi::Number::New(env, batch_times_.min_sec),
                    Napi::Number::New(env, batch_times_.min_nsec), Napi::Number::New(env, batch_times_.max_sec), Napi::Number::New(env, batch_times_.max_nsec)});
      batch_size_ = 0;
      if (env.IsExceptionPending() || result.IsEmpty()) return -1;
    }
    if (rc != kBatchFull) break;
    more_ = round + 1 == max_rounds;
  }
  return total;
}

void RingReader::OnReadable(uv_poll_t* handle, int status, int) {
  auto* self = static_cast<RingReader*>(handle->data);
  if (!self || !self->ring_open()) return;
  self->wakeups_++;
  // Takes the edge: a wake-up from here on is a new one.
  epoll_event events[1];
  while (epoll_wait(self->edge_fd_, events, 1, 0) > 0) {
  }
  self->Read();
}

void RingReader::OnTimer(uv_timer_t* handle) {
  auto* self = static_cast<RingReader*>(handle->data);
  if (!self || !self->ring_open()) return;
  uint64_t before = self->samples_;
  bool deadline = !self->more_;
  self->Read();
  if (deadline && self->samples_ != before) self->deadline_reads_++;
}

void RingReader::Read() {
  Napi::Env env = env_;
  Napi::HandleScope scope(env);
  int64_t n = Pump(env, kRoundsPerRead);
  if (n < 0 && env.IsExceptionPending()) {
    // A throwing batch handler is a bug in JS: surface it as uncaught.
    Napi::Error error = env.GetAndClearPendingException();
    napi_fatal_exception(env, error.Value());
    return;
  }
  if (!timer_ || paused_) return;
  if (more_) {
    // Stopped at kRoundsPerRead with records left: go on after the loop has
    // served everything else once.
    uv_timer_start(timer_, &RingReader::OnTimer, 0, 0);
  } else if (pump_samples_ > 0 && deadline_ms_ > 0) {
    // Records committed after this read may not wake us (wake-up batching):
    // look again within the deadline, at the next point of a grid of its
    // length, where the other readers' deadlines fall too (one wake-up of
    // the process for them all).
    uint64_t now = uv_now(uv_handle_get_loop(reinterpret_cast<uv_handle_t*>(timer_)));
    uint64_t wait = deadline_ms_ - now % deadline_ms_;
    if (wakeup_clock_) {
      // The kernel need not wake us for records until the deadline read,
      // which takes them (bpf/common.bpf.h, wakeup_flags): it wakes us for
      // a record once the clock is a deadline old, so the clock is set a
      // deadline before the timer is due (libuv's clock is CLOCK_MONOTONIC
      // in ms, as the kernel's bpf_ktime_get_ns is in ns). A record after
      // that, when the deadline read found nothing, wakes us at once; the
      // margin lets the timer, which fires a little after it is due, come
      // first under a steady flow.
      uint64_t due_ns = (now + wait + kDeadlineMarginMs) * 1000000ull;
      __atomic_store_n(wakeup_clock_, due_ns - deadline_ms_ * 1000000ull, __ATOMIC_RELAXED);
    } else {
      // Without the clock the kernel wakes us every deadline under a steady
      // flow: the deadline read stays a backstop for the tail, after it.
      wait += deadline_ms_;
    }
    uv_timer_start(timer_, &RingReader::OnTimer, wait, 0);
  }
}

// drain(): consumes everything in the ring now (used at shutdown), calling
// onBatch as usual; returns the number of records.
Napi::Value RingReader::Drain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!ring_open()) return Napi::Number::New(env, 0);
  // Everything, paused or not: at shutdown what is left must be handed on
  // (delivered, or dropped and counted there), never left uncounted.
  bool was_paused = paused_;
  paused_ = false;
  // Through JS, whose outputs decide (the socket may be busy: a drain must not wait).
  StopSending();
  int64_t n = Pump(env, 1 << 20);
  paused_ = was_paused;
  if (n < 0) return env.Undefined();
  return Napi::Number::New(env, static_cast<double>(n));
}

// pause(): stops reading the ring until resume(); a batch being handed out
// is the last one.
Napi::Value RingReader::Pause(const Napi::CallbackInfo& info) {
  if (!paused_ && ring_open()) {
    paused_ = true;
    uv_poll_stop(poll_);
    uv_timer_stop(timer_);
  }
  return info.Env().Undefined();
}

// resume(): reads what gathered meanwhile (on the next loop turn) and
// watches the ring again.
Napi::Value RingReader::Resume(const Napi::CallbackInfo& info) {
  if (paused_ && ring_open()) {
    paused_ = false;
    uv_poll_start(poll_, UV_READABLE, &RingReader::OnReadable);
    uv_timer_start(timer_, &RingReader::OnTimer, 0, 0);
  }
  return info.Env().Undefined();
}

void RingReader::StopSending() {
  if (!socket_) return;
  socket_->Detach(this);
  socket_ = nullptr;
  socket_ref_.Reset();
}

void RingReader::SocketGone() {
  // The socket is being finalized (teardown): nothing of it may be touched.
  socket_ = nullptr;
}

// sendTo(socket: ForwardSocket | null, prefix: Buffer, packed: boolean, withSize: boolean):
// batches are written to the socket (see the header), or with null handed to JS again.
Napi::Value RingReader::SendTo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || info[0].IsNull() || info[0].IsUndefined()) {
    StopSending();
    return env.Undefined();
  }
  ForwardSocket* socket = ForwardSocket::FromValue(env, info[0]);
  if (!socket || info.Length() < 4 || !info[1].IsBuffer()) {
    ThrowUsage(env, "sendTo(socket: ForwardSocket | null, prefix: Buffer, packed: boolean, withSize: boolean)");
    return env.Undefined();
  }
  StopSending();
  auto prefix = info[1].As<Napi::Buffer<uint8_t>>();
  frame_.prefix.assign(prefix.Data(), prefix.Data() + prefix.Length());
  frame_.packed = info[2].ToBoolean();
  frame_.with_size = info[3].ToBoolean();
  socket_ = socket;
  socket_ref_ = Napi::Persistent(info[0].As<Napi::Object>());
  socket_->Attach(this);
  return env.Undefined();
}

Napi::Value RingReader::Close(const Napi::CallbackInfo& info) {
  Shutdown();
  callback_.Reset();
  batch_ref_.Reset();
  owner_ref_.Reset();
  encoder_ = nullptr;  // (no read comes after Shutdown)
  program_ref_.Reset();
  return info.Env().Undefined();
}

// stats(): {wakeups, batches, records, dropped, deadlineReads, malformed, skipped, ringWaitingBytes, ringBytes}
Napi::Value RingReader::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("wakeups", Napi::Number::New(env, static_cast<double>(wakeups_)));
  out.Set("batches", Napi::Number::New(env, static_cast<double>(batches_)));
  out.Set("records", Napi::Number::New(env, static_cast<double>(records_)));
  out.Set("dropped", Napi::Number::New(env, static_cast<double>(dropped_)));
  out.Set("deadlineReads", Napi::Number::New(env, static_cast<double>(deadline_reads_)));
  out.Set("malformed", Napi::Number::New(env, static_cast<double>(malformed_)));
  out.Set("skipped", Napi::Number::New(env, static_cast<double>(skipped_)));
  out.Set("sentRecords", Napi::Number::New(env, static_cast<double>(sent_records_)));
  out.Set("sentBytes", Napi::Number::New(env, static_cast<double>(sent_bytes_)));
  // Bytes waiting in the ring (records not read yet, with their 8-byte
  // headers) and its size; 0 and 0 when its pages could not be mapped.
  uint64_t waiting = 0;
  if (ring_open()) {
    uint64_t c = __atomic_load_n(consumer_pos_, __ATOMIC_ACQUIRE);
    uint64_t p = __atomic_load_n(static_cast<const uint64_t*>(producer_page_), __ATOMIC_ACQUIRE);
    waiting = p > c ? p - c : 0;
  }
  out.Set("ringWaitingBytes", Napi::Number::New(env, static_cast<double>(waiting)));
  out.Set("ringBytes", Napi::Number::New(env, static_cast<double>(ring_bytes_)));
  return out;
}

}  // namespace ebpf_forward
