// RingReader: one BPF ring buffer watched by libuv. When the ring's fd turns
// readable, everything in the ring is copied into a batch and handed to JS in
// one call: (batch: Buffer, count: number). In the batch each record stands at
// an 8-byte-aligned offset as [u32 length][u32 0][length bytes].
#pragma once
#include <napi.h>
#include <uv.h>

#include <cstdint>

struct ring_buffer;

namespace ebpf_forward {

class BpfObject;

class RingReader : public Napi::ObjectWrap<RingReader> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit RingReader(const Napi::CallbackInfo& info);
  ~RingReader() override;

  // Stops watching and frees the ring; the JS callback is not called again.
  void Shutdown();

 private:
  Napi::Value Drain(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);

  static int OnSample(void* ctx, void* data, size_t size);
  static void OnReadable(uv_poll_t* handle, int status, int events);
  // Consumes until the ring is empty (or max_rounds batches were sent).
  // Returns the number of records handed to JS, or -1 if JS threw.
  int64_t Pump(Napi::Env env, int max_rounds);

  Napi::Env env_;
  BpfObject* owner_ = nullptr;
  Napi::ObjectReference owner_ref_;
  Napi::FunctionReference callback_;
  ring_buffer* ring_ = nullptr;
  uv_poll_t* poll_ = nullptr;
  // The batch being filled; handed to JS as an external Buffer when sent.
  uint8_t* batch_ = nullptr;
  size_t batch_size_ = 0;
  size_t batch_capacity_ = 0;
  uint32_t batch_count_ = 0;
  size_t max_batch_bytes_;
  uint64_t wakeups_ = 0;
  uint64_t batches_ = 0;
  uint64_t records_ = 0;
  uint64_t dropped_ = 0;  // samples lost to a failed allocation here
};

}  // namespace ebpf_forward
