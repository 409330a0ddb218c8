#pragma once
#include <napi.h>

namespace ebpf_forward {
// readBtf(path): the raw BTF of a BPF object file.
void InitBtfReader(Napi::Env env, Napi::Object exports);
}  // namespace ebpf_forward
