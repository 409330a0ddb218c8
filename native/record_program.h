// RecordProgram: a validated record program (src/records/program.ts) as a JS
// object. A RingReader given one encodes its samples with it; encode() runs
// it over a batch in the ring format (tests, benchmarks).
#pragma once
#include <napi.h>

#include <cstdint>

#include "record_encoder.h"

namespace ebpf_forward {

class RecordProgram : public Napi::ObjectWrap<RecordProgram> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit RecordProgram(const Napi::CallbackInfo& info);
  ~RecordProgram() override;

  // The RecordProgram behind a JS value, or nullptr if it is not one (a type
  // tag, so another wrapped object is never taken for one).
  static RecordProgram* FromValue(Napi::Env env, Napi::Value value);
  const RecordEncoder& encoder() const { return encoder_; }

 private:
  Napi::Value Encode(const Napi::CallbackInfo& info);
  // Makes room for `needed` bytes of entries; false if memory ran out.
  bool ReserveScratch(uint64_t needed);

  RecordEncoder encoder_;
  // Entries are written here, then copied into the Buffer returned (of their
  // exact size); kept for the next call.
  uint8_t* scratch_ = nullptr;
  size_t scratch_capacity_ = 0;
};

}  // namespace ebpf_forward
