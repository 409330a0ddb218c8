#pragma once
#include <napi.h>

#include <cstdint>

namespace ebpf_forward {
void InitHost(Napi::Env env, Napi::Object exports);
void ReleaseTracefsMount();
// CLOCK_REALTIME minus CLOCK_MONOTONIC in ns, from the closest of a few
// reading pairs: what turns bpf_ktime_get_ns() into wall-clock time.
int64_t RealtimeMinusMonotonicNs();
// CLOCK_REALTIME in ns.
uint64_t RealtimeNs();
}  // namespace ebpf_forward
