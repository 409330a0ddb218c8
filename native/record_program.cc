#include "record_program.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "errors.h"

namespace ebpf_forward {
namespace {
const napi_type_tag kRecordProgramTag = {0x6d8a1f0c2b7e4d53ull, 0x9c3a5e17f0b24a61ull};
}  // namespace

Napi::Function RecordProgram::Init(Napi::Env env) {
  return DefineClass(env, "RecordProgram", {InstanceMethod<&RecordProgram::Encode>("encode")});
}

// new RecordProgram(code: Uint32Array, pool: Buffer): throws if the program is invalid.
RecordProgram::RecordProgram(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RecordProgram>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array ||
      !info[1].IsBuffer()) {
    ThrowUsage(env, "RecordProgram(code: Uint32Array, pool: Buffer)");
    return;
  }
  Napi::Uint32Array code = info[0].As<Napi::Uint32Array>();
  Napi::Buffer<uint8_t> pool = info[1].As<Napi::Buffer<uint8_t>>();
  std::string error;
  if (!encoder_.Compile(code.Data(), code.ElementLength(), pool.Data(), pool.Length(), &error)) {
    Napi::Error::New(env, error).ThrowAsJavaScriptException();
    return;
  }
  info.This().As<Napi::Object>().TypeTag(&kRecordProgramTag);
}

RecordProgram::~RecordProgram() { free(scratch_); }

RecordProgram* RecordProgram::FromValue(Napi::Env env, Napi::Value value) {
  if (!value.IsObject()) return nullptr;
  Napi::Object object = value.As<Napi::Object>();
  if (!object.CheckTypeTag(&kRecordProgramTag)) return nullptr;
  return Unwrap(object);
}

bool RecordProgram::ReserveScratch(uint64_t needed) {
  if (needed <= scratch_capacity_) return true;
  size_t capacity = scratch_capacity_ ? scratch_capacity_ : 64 * 1024;
  while (capacity < needed) capacity *= 2;
  auto* grown = static_cast<uint8_t*>(realloc(scratch_, capacity));
  if (!grown) return false;
  scratch_ = grown;
  scratch_capacity_ = capacity;
  return true;
}

// encode(batch: Buffer, count: number, clockOffsetNs: bigint, nowNs: bigint):
// {entries, count, malformed, skipped, minSec, minNsec, maxSec, maxNsec} for
// the first `count` records of a batch in the ring format ([u32 length][u32 0]
// [bytes] at 8-aligned offsets).
Napi::Value RecordProgram::Encode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsBuffer() || !info[1].IsNumber() || !info[2].IsBigInt() || !info[3].IsBigInt()) {
    ThrowUsage(env, "encode(batch: Buffer, count: number, clockOffsetNs: bigint, nowNs: bigint)");
    return env.Undefined();
  }
  Napi::Buffer<uint8_t> batch = info[0].As<Napi::Buffer<uint8_t>>();
  const uint8_t* data = batch.Data();
  const size_t size = batch.Length();
  const int64_t count = info[1].As<Napi::Number>().Int64Value();
  bool lossless;
  const int64_t offset_ns = info[2].As<Napi::BigInt>().Int64Value(&lossless);
  const uint64_t now_ns = info[3].As<Napi::BigInt>().Uint64Value(&lossless);
  const EncodeClock clock = EncodeClock::At(offset_ns, now_ns);
  if (!ReserveScratch(RecordEncoder::kSlack)) {  // never a null scratch_, even for no records
    Napi::Error::New(env, "RecordProgram.encode: out of memory").ThrowAsJavaScriptException();
    return env.Undefined();
  }

  size_t at = 0, written = 0;
  uint32_t entries = 0, malformed = 0, skipped = 0;
  EntryTimeRange times;
  for (int64_t i = 0; i < count; i++) {
    if (at + 8 > size) {
      Napi::RangeError::New(env, "record " + std::to_string(i) + ": its header at byte " + std::to_string(at) +
                                     " is past the batch's end (" + std::to_string(size) + " bytes)")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    uint32_t length;
    memcpy(&length, data + at, 4);
    const size_t body = at + 8;
    if (length > size - body) {
      Napi::RangeError::New(env, "record " + std::to_string(i) + ": its " + std::to_string(length) + " bytes at byte " +
                                     std::to_string(body) + " run past the batch's end (" + std::to_string(size) + " bytes)")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (!ReserveScratch(written + encoder_.Bound(length))) {
      Napi::Error::New(env, "RecordProgram.encode: out of memory").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    EncodedRecord e = encoder_.Encode(data + body, length, scratch_ + written, clock);
    if (e.outcome == RecordOutcome::kEntry) {
      written += e.bytes;
      entries++;
      times.Include(e);
    } else if (e.outcome == RecordOutcome::kMalformed) {
      malformed++;
    } else {
      skipped++;
    }
    at = (body + length + 7) & ~static_cast<size_t>(7);
  }

  Napi::Object out = Napi::Object::New(env);
  out.Set("entries", Napi::Buffer<uint8_t>::Copy(env, scratch_, written));
  out.Set("count", Napi::Number::New(env, entries));
  out.Set("malformed", Napi::Number::New(env, malformed));
  out.Set("skipped", Napi::Number::New(env, skipped));
  out.Set("minSec", Napi::Number::New(env, times.min_sec));
  out.Set("minNsec", Napi::Number::New(env, times.min_nsec));
  out.Set("maxSec", Napi::Number::New(env, times.max_sec));
  out.Set("maxNsec", Napi::Number::New(env, times.max_nsec));
  return out;
}

}  // namespace ebpf_forward
