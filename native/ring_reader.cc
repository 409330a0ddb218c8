#include "ring_reader.h"

#include <bpf/libbpf.h>

#include <cstdlib>
#include <cstring>

#include "bpf_object.h"
#include "errors.h"

namespace ebpf_forward {
namespace {
// Returned by OnSample to stop ring_buffer__consume once the batch is full;
// libbpf has already consumed the sample that returned it.
constexpr int kBatchFull = -ENOBUFS;
// Batches sent per wake-up before yielding to the event loop; the fd stays
// readable, so libuv calls again on its next turn.
constexpr int kRoundsPerWakeup = 8;
}  // namespace

Napi::Function RingReader::Init(Napi::Env env) {
  return DefineClass(env, "RingReader",
                     {
                         InstanceMethod<&RingReader::Drain>("drain"),
                         InstanceMethod<&RingReader::Close>("close"),
                         InstanceMethod<&RingReader::Stats>("stats"),
                     });
}

// new RingReader(object: BpfObject, map: string, onBatch: Function, maxBatchBytes: number)
RingReader::RingReader(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<RingReader>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsObject() || !info[1].IsString() || !info[2].IsFunction() ||
      !info[3].IsNumber()) {
    ThrowUsage(env, "RingReader(object: BpfObject, map: string, onBatch: Function, maxBatchBytes: number)");
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

  BeginLibbpfCapture();
  ring_ = ring_buffer__new(bpf_map__fd(map), &RingReader::OnSample, this, nullptr);
  int err = libbpf_get_error(ring_);
  if (err || !ring_) {
    ring_ = nullptr;
    ThrowFailure(env, "opening ring buffer " + map_name, err ? err : errno);
    return;
  }

  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  poll_ = new uv_poll_t;
  poll_->data = this;
  int rc = uv_poll_init(loop, poll_, ring_buffer__epoll_fd(ring_));
  if (rc == 0) rc = uv_poll_start(poll_, UV_READABLE, &RingReader::OnReadable);
  if (rc != 0) {
    delete poll_;
    poll_ = nullptr;
    ring_buffer__free(ring_);
    ring_ = nullptr;
    Napi::Error::New(env, std::string("watching ring buffer: ") + uv_strerror(rc)).ThrowAsJavaScriptException();
    return;
  }
  callback_ = Napi::Persistent(info[2].As<Napi::Function>());
  owner_ref_ = Napi::Persistent(info[0].As<Napi::Object>());
  owner_->AddReader(this);
}

RingReader::~RingReader() { Shutdown(); }

void RingReader::Shutdown() {
  if (poll_) {
    uv_poll_stop(poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(poll_),
             [](uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); });
    poll_ = nullptr;
  }
  if (ring_) {
    ring_buffer__free(ring_);
    ring_ = nullptr;
  }
  if (owner_) {
    owner_->RemoveReader(this);
    owner_ = nullptr;
  }
  free(batch_);
  batch_ = nullptr;
  batch_size_ = batch_capacity_ = 0;
}

int RingReader::OnSample(void* ctx, void* data, size_t size) {
  auto* self = static_cast<RingReader*>(ctx);
  size_t padded = (8 + size + 7) & ~static_cast<size_t>(7);
  if (self->batch_size_ + padded > self->batch_capacity_) {
    size_t capacity = self->batch_capacity_ ? self->batch_capacity_ : 64 * 1024;
    while (capacity < self->batch_size_ + padded) capacity *= 2;
    auto* grown = static_cast<uint8_t*>(realloc(self->batch_, capacity));
    if (!grown) {  // the sample is lost (and counted); the batch so far is kept
      self->dropped_++;
      return -ENOMEM;
    }
    self->batch_ = grown;
    self->batch_capacity_ = capacity;
  }
  uint8_t* slot = self->batch_ + self->batch_size_;
  self->batch_size_ += padded;
  uint32_t head[2] = {static_cast<uint32_t>(size), 0};
  memcpy(slot, head, sizeof head);
  memcpy(slot + 8, data, size);
  if (padded > 8 + size) memset(slot + 8 + size, 0, padded - 8 - size);
  self->batch_count_++;
  return self->batch_size_ >= self->max_batch_bytes_ ? kBatchFull : 0;
}

int64_t RingReader::Pump(Napi::Env env, int max_rounds) {
  int64_t total = 0;
  for (int round = 0; round < max_rounds && ring_; round++) {
    batch_size_ = 0;
    batch_count_ = 0;
    int rc = ring_buffer__consume(ring_);
    if (batch_count_ == 0) break;
    uint32_t count = batch_count_;
    total += count;
    batches_++;
    records_ += count;
    // The batch becomes an external Buffer: JS owns the bytes from here on.
    Napi::Buffer<uint8_t> buffer =
        Napi::Buffer<uint8_t>::New(env, batch_, batch_size_, [](Napi::Env, uint8_t* p) { free(p); });
    batch_ = nullptr;
    batch_size_ = batch_capacity_ = 0;
    Napi::Value result = callback_.MakeCallback(Value(), {buffer, Napi::Number::New(env, count)});
    if (env.IsExceptionPending() || result.IsEmpty()) return -1;
    if (rc != kBatchFull) break;
  }
  return total;
}

void RingReader::OnReadable(uv_poll_t* handle, int status, int) {
  auto* self = static_cast<RingReader*>(handle->data);
  if (!self || !self->ring_) return;
  self->wakeups_++;
  Napi::Env env = self->env_;
  Napi::HandleScope scope(env);
  if (self->Pump(env, kRoundsPerWakeup) < 0 && env.IsExceptionPending()) {
    // A throwing batch handler is a bug in JS: surface it as uncaught.
    Napi::Error error = env.GetAndClearPendingException();
    napi_fatal_exception(env, error.Value());
  }
}

// drain(): consumes everything in the ring now (used at shutdown), calling
// onBatch as usual; returns the number of records.
Napi::Value RingReader::Drain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!ring_) return Napi::Number::New(env, 0);
  int64_t n = Pump(env, 1 << 20);
  if (n < 0) return env.Undefined();
  return Napi::Number::New(env, static_cast<double>(n));
}

Napi::Value RingReader::Close(const Napi::CallbackInfo& info) {
  Shutdown();
  callback_.Reset();
  owner_ref_.Reset();
  return info.Env().Undefined();
}

// stats(): {wakeups, batches, records}
Napi::Value RingReader::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("wakeups", Napi::Number::New(env, static_cast<double>(wakeups_)));
  out.Set("batches", Napi::Number::New(env, static_cast<double>(batches_)));
  out.Set("records", Napi::Number::New(env, static_cast<double>(records_)));
  out.Set("dropped", Napi::Number::New(env, static_cast<double>(dropped_)));
  return out;
}

}  // namespace ebpf_forward
