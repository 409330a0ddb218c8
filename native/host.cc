// Facts about the host that only native code can get cheaply and exactly:
// the clocks (to turn BPF's monotonic timestamps into wall-clock time) and
// tracefs (libbpf reads tracepoint ids from it).
#include "host.h"

#include <bpf/libbpf.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>

#include "errors.h"
#include "libbpf_log.h"

namespace ebpf_forward {
namespace {

constexpr const char* kTracefs = "/sys/kernel/tracing";
constexpr const char* kDebugfsTracing = "/sys/kernel/debug/tracing";
bool we_mounted_tracefs = false;

uint64_t Nanos(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

bool HasEvents(const std::string& dir) {
  struct stat st;
  return stat((dir + "/events").c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// clockOffset(): bigint — RealtimeMinusMonotonicNs().
Napi::Value ClockOffset(const Napi::CallbackInfo& info) {
  return Napi::BigInt::New(info.Env(), RealtimeMinusMonotonicNs());
}

// ensureTracefs(): 'present' | 'mounted'. Mounts tracefs at
// /sys/kernel/tracing when neither it nor debugfs's tracing is there, as on a
// fresh host or in a container; throws when that is not allowed.
Napi::Value EnsureTracefs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (HasEvents(kDebugfsTracing) || HasEvents(kTracefs)) return Napi::String::New(env, "present");
  BeginLibbpfCapture();
  if (mount("tracefs", kTracefs, "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
    ThrowFailure(env, std::string("tracefs is not mounted and mounting it at ") + kTracefs + " failed", errno);
    return env.Undefined();
  }
  we_mounted_tracefs = true;
  return Napi::String::New(env, "mounted");
}

// releaseTracefs(): unmounts tracefs if ensureTracefs mounted it (lazily, so
// that another tracer holding it open keeps working).
Napi::Value ReleaseTracefs(const Napi::CallbackInfo& info) {
  ReleaseTracefsMount();
  return info.Env().Undefined();
}

Napi::Value SetDebug(const Napi::CallbackInfo& info) {
  SetLibbpfDebug(info.Length() > 0 && info[0].ToBoolean().Value());
  return info.Env().Undefined();
}

Napi::Value Versions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("libbpf", libbpf_version_string());
  out.Set("possibleCpus", Napi::Number::New(env, libbpf_num_possible_cpus()));
  return out;
}

}  // namespace

int64_t RealtimeMinusMonotonicNs() {
  int64_t best_offset = 0;
  uint64_t best_span = UINT64_MAX;
  for (int i = 0; i < 5; i++) {
    uint64_t m1 = Nanos(CLOCK_MONOTONIC);
    uint64_t r = Nanos(CLOCK_REALTIME);
    uint64_t m2 = Nanos(CLOCK_MONOTONIC);
    if (m2 - m1 < best_span) {
      best_span = m2 - m1;
      best_offset = static_cast<int64_t>(r) - static_cast<int64_t>(m1 + (m2 - m1) / 2);
    }
  }
  return best_offset;
}

uint64_t RealtimeNs() { return Nanos(CLOCK_REALTIME); }

void ReleaseTracefsMount() {
  if (!we_mounted_tracefs) return;
  umount2(kTracefs, MNT_DETACH);
  we_mounted_tracefs = false;
}

void InitHost(Napi::Env env, Napi::Object exports) {
  exports.Set("clockOffset", Napi::Function::New(env, ClockOffset));
  exports.Set("ensureTracefs", Napi::Function::New(env, EnsureTracefs));
  exports.Set("releaseTracefs", Napi::Function::New(env, ReleaseTracefs));
  exports.Set("setLibbpfDebug", Napi::Function::New(env, SetDebug));
  exports.Set("versions", Napi::Function::New(env, Versions));
}

}  // namespace ebpf_forward
