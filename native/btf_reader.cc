// readBtf(path: string): Buffer — the .BTF of an ELF BPF object as libbpf has
// it (header, types, strings), for TypeScript to read record layouts from
// (src/records/). Throws with .code ENOENT for a missing file, and says so
// when the object has no BTF (built without clang -g).
#include "btf_reader.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>

#include <cerrno>
#include <string>

#include "errors.h"
#include "libbpf_log.h"

namespace ebpf_forward {
namespace {

Napi::Value ReadBtf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    ThrowUsage(env, "readBtf(path: string)");
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  // libbpf answers ENOENT both for no file and for no .BTF in it: tell them apart first.
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    BeginLibbpfCapture();
    ThrowFailure(env, "reading the BTF of " + path, errno);
    return env.Undefined();
  }
  BeginLibbpfCapture();
  btf* types = btf__parse_elf(path.c_str(), nullptr);
  int err = libbpf_get_error(types);
  if (err || !types) {
    err = err ? -err : errno;
    if (err == ENOENT || err == ENODATA) {
      Napi::Error error = Napi::Error::New(env, path + " has no BTF (build it with clang -g)");
      error.Set("errno", Napi::Number::New(env, ENODATA));
      error.Set("code", Napi::String::New(env, "ENODATA"));
      error.ThrowAsJavaScriptException();
    } else if (err >= __LIBBPF_ERRNO__START && err < __LIBBPF_ERRNO__END) {
      // libbpf's own codes (not an ELF file, say) have no strerror text.
      char text[128];
      libbpf_strerror(-err, text, sizeof text);
      Napi::Error error = Napi::Error::New(env, "reading the BTF of " + path + ": " + text);
      error.Set("errno", Napi::Number::New(env, err));
      error.Set("code", Napi::String::New(env, "EBPF"));
      error.ThrowAsJavaScriptException();
    } else {
      ThrowFailure(env, "reading the BTF of " + path, err);
    }
    return env.Undefined();
  }
  __u32 size = 0;
  const void* raw = btf__raw_data(types, &size);
  if (!raw) {
    int e = errno;
    btf__free(types);
    ThrowFailure(env, "reading the BTF of " + path, e ? e : ENOMEM);
    return env.Undefined();
  }
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::Copy(env, static_cast<const uint8_t*>(raw), size);
  btf__free(types);
  return out;
}

}  // namespace

void InitBtfReader(Napi::Env env, Napi::Object exports) { exports.Set("readBtf", Napi::Function::New(env, ReadBtf)); }

}  // namespace ebpf_forward
