#pragma once
#include <napi.h>

namespace ebpf_forward {
void InitHost(Napi::Env env, Napi::Object exports);
void ReleaseTracefsMount();
}  // namespace ebpf_forward
