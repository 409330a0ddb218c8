// Facts about the host that only native code can get cheaply and exactly:
// the clocks (to turn BPF's monotonic timestamps into wall-clock time) and
// tracefs (libbpf reads tracepoint ids from it); whether the kernel takes
// fexit programs at all; and the one privilege
// change JS cannot make: giving up capabilities in every thread.
#include "host.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <linux/capability.h>
#include <malloc.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "errors.h"
#include "kernel_btf.h"
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
// that another tracer holding it open keeps working). Called once loading
// and attaching are over, it also hands back to the kernel the heap that
// loading freed: libbpf's parse of the kernel's BTF for CO-RE is about 11 MB
// that glibc would otherwise keep resident for the rest of the run.
Napi::Value ReleaseTracefs(const Napi::CallbackInfo& info) {
  ReleaseTracefsMount();
  malloc_trim(0);
  return info.Env().Undefined();
}

// Capabilities and no_new_privs belong to each thread, not to the process,
// and Node runs a dozen threads (V8's workers, libuv's pool, the inspector's
// watchdog). Each must change its own: the caller does, and every other
// thread is made to by a signal whose handler does it. The signal is glibc's
// SIGSETXID (its own broadcast for setuid() and friends, which it uses the
// same way), because glibc lets no thread block it, and Node's watchdog
// thread blocks every other one. glibc's handler is put back afterwards.
constexpr int kSetxidSignal = 33;  // __SIGRTMIN + 1, reserved by glibc's NPTL

std::atomic<uint64_t> capabilities_kept{0};
// Hot reload: also kept in the permitted set (never effective), for the
// calling thread to raise while a reload loads and attaches.
std::atomic<uint64_t> capabilities_reloadable{0};
std::atomic<int> capabilities_last{0};
std::atomic<int> threads_done{0};
std::atomic<int> thread_failure{0};

// Async-signal-safe: system calls only. 0 or the errno of what failed.
int KeepOnlyInThisThread() {
  const uint64_t keep = capabilities_kept.load();
  const uint64_t permitted = keep | capabilities_reloadable.load();
  const int last = capabilities_last.load();
  // The bounding set first: dropping from it needs CAP_SETPCAP, which goes
  // next. Without CAP_SETPCAP it stays (EPERM): with no_new_privs and no
  // permitted capabilities, an exec gains nothing from it anyway.
  for (int cap = 0; cap <= last; cap++) {
    if (keep & (1ull << cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EPERM && errno != EINVAL) return errno;
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) return errno;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno;
  __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  data[0].effective = static_cast<uint32_t>(keep);
  data[1].effective = static_cast<uint32_t>(keep >> 32);
  data[0].permitted = static_cast<uint32_t>(permitted);
  data[1].permitted = static_cast<uint32_t>(permitted >> 32);
  if (syscall(SYS_capset, &header, data) != 0) return errno;
  return 0;
}

bool CapabilityMask(Napi::Env env, Napi::Value value, uint64_t* mask) {
  if (!value.IsArray()) return false;
  Napi::Array caps = value.As<Napi::Array>();
  *mask = 0;
  for (uint32_t i = 0; i < caps.Length(); i++) {
    const int cap = caps.Get(i).ToNumber().Int32Value();
    if (cap < 0 || cap > 63) return false;
    *mask |= 1ull << cap;
  }
  return true;
}

void KeepOnlyHandler(int, siginfo_t*, void*) {
  const int saved = errno;
  if (int err = KeepOnlyInThisThread()) thread_failure.store(err);
  threads_done.fetch_add(1);
  errno = saved;
}

#if defined(__x86_64__) || defined(__aarch64__)
// struct sigaction as the kernel takes it (glibc's sigaction() refuses
// glibc's own signals, so this one is set with the raw system call).
struct KernelSigaction {
  void (*handler)(int, siginfo_t*, void*);
  unsigned long flags;
  void (*restorer)();
  uint64_t mask;
};

int RawSigaction(int sig, const KernelSigaction* action, KernelSigaction* old) {
  return syscall(SYS_rt_sigaction, sig, action, old, sizeof(uint64_t)) == 0 ? 0 : errno;
}

// Our handler as the kernel needs it, with glibc's signal return trampoline
// (which only glibc's sigaction() knows): set on a spare signal through
// glibc, read back raw, and the spare signal put back as it was.
int HandlerAction(KernelSigaction* out) {
  struct sigaction ours = {}, before = {};
  ours.sa_sigaction = KeepOnlyHandler;
  ours.sa_flags = SA_SIGINFO | SA_RESTART;
  sigfillset(&ours.sa_mask);
  if (sigaction(SIGRTMAX, &ours, &before) != 0) return errno;
  const int err = RawSigaction(SIGRTMAX, nullptr, out);
  sigaction(SIGRTMAX, &before, nullptr);
  return err;
}
#endif

std::vector<pid_t> OtherThreads() {
  std::vector<pid_t> tids;
  DIR* dir = opendir("/proc/self/task");
  if (!dir) return tids;
  const pid_t self = static_cast<pid_t>(syscall(SYS_gettid));
  while (dirent* entry = readdir(dir)) {
    const pid_t tid = static_cast<pid_t>(atoi(entry->d_name));
    if (tid > 0 && tid != self) tids.push_back(tid);
  }
  closedir(dir);
  return tids;
}

// keepOnlyCapabilities(caps: number[], reloadable?: number[]): { threads,
// answered } — in every thread: bounding set and effective down to `caps`,
// permitted to `caps` and `reloadable`, inheritable and ambient cleared,
// no_new_privs set. Throws if the caller's own change
// fails; the other threads' results are for the caller to check in
// /proc/self/task (`answered` says how many ran the handler in time).
Napi::Value KeepOnlyCapabilities(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) {
    ThrowUsage(env, "keepOnlyCapabilities(caps: number[])");
    return env.Undefined();
  }
#if defined(__x86_64__) || defined(__aarch64__)
  if (SIGRTMIN != kSetxidSignal + 1) {
    ThrowFailure(env, "dropping capabilities in every thread needs glibc's thread signals, which this C library lays out differently", ENOTSUP);
    return env.Undefined();
  }
  int last = CAP_LAST_CAP;
  if (FILE* f = fopen("/proc/sys/kernel/cap_last_cap", "r")) {
    if (fscanf(f, "%d", &last) != 1) last = CAP_LAST_CAP;
    fclose(f);
  }
  uint64_t keep = 0, reloadable = 0;
  if (!CapabilityMask(env, info[0], &keep) || (info.Length() > 1 && !CapabilityMask(env, info[1], &reloadable))) {
    ThrowUsage(env, "keepOnlyCapabilities: a capability is a number from 0 to 63");
    return env.Undefined();
  }
  capabilities_kept.store(keep);
  capabilities_reloadable.store(reloadable);
  capabilities_last.store(last < 63 ? last : 63);
  threads_done.store(0);
  thread_failure.store(0);

  KernelSigaction ours = {}, glibc = {};
  if (int err = HandlerAction(&ours)) {
    ThrowFailure(env, "cannot set up the signal that drops capabilities in Node's threads", err);
    return env.Undefined();
  }
  if (int err = RawSigaction(kSetxidSignal, &ours, &glibc)) {
    ThrowFailure(env, "cannot set up the signal that drops capabilities in Node's threads", err);
    return env.Undefined();
  }
  const pid_t pid = getpid();
  int sent = 0;
  for (pid_t tid : OtherThreads()) {
    if (syscall(SYS_tgkill, pid, tid, kSetxidSignal) == 0) sent++;  // else it has just ended
  }
  // Every thread runs the handler as soon as it is scheduled (a blocked
  // system call is interrupted and restarted); 2 s is far more than that.
  for (int waited = 0; threads_done.load() < sent && waited < 2000; waited++) {
    timespec ms = {0, 1000000};
    nanosleep(&ms, nullptr);
  }
  const int answered = threads_done.load();
  // glibc's handler back, unless a thread has yet to take the signal: it
  // would then run glibc's handler with no setuid() under way.
  if (answered >= sent) RawSigaction(kSetxidSignal, &glibc, nullptr);

  if (int err = KeepOnlyInThisThread()) {
    ThrowFailure(env, "cannot drop this thread's capabilities", err);
    return env.Undefined();
  }
  if (int err = thread_failure.load()) {
    ThrowFailure(env, "a thread could not drop its capabilities", err);
    return env.Undefined();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("threads", Napi::Number::New(env, sent + 1));
  out.Set("answered", Napi::Number::New(env, answered + 1));
  return out;
#else
  ThrowFailure(env, "dropping capabilities in every thread is not implemented for this CPU architecture", ENOTSUP);
  return env.Undefined();
#endif
}

// setEffectiveCapabilities(caps: number[]) — this thread only (where libbpf's
// calls run): its effective set becomes `caps`, which must be in its
// permitted set (EPERM otherwise). A hot reload raises the reloadable ones
// for its load and attach, then lowers them again.
Napi::Value SetEffectiveCapabilities(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t mask = 0;
  if (info.Length() < 1 || !CapabilityMask(env, info[0], &mask)) {
    ThrowUsage(env, "setEffectiveCapabilities(caps: number[]), each from 0 to 63");
    return env.Undefined();
  }
  __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capget, &header, data) != 0) {
    ThrowFailure(env, "cannot read this thread's capabilities", errno);
    return env.Undefined();
  }
  data[0].effective = static_cast<uint32_t>(mask);
  data[1].effective = static_cast<uint32_t>(mask >> 32);
  if (syscall(SYS_capset, &header, data) != 0) {
    ThrowFailure(env, "cannot change this thread's effective capabilities", errno);
    return env.Undefined();
  }
  return env.Undefined();
}

Napi::Value SetDebug(const Napi::CallbackInfo& info) {
  SetLibbpfDebug(info.Length() > 0 && info[0].ToBoolean().Value());
  return info.Env().Undefined();
}

// probeFexit(function: string): throws (errno set) when the kernel refuses a
// two-instruction fexit program on that vmlinux function, as libbpf-tools'
// fentry_can_attach asks. A trace's own fexit programs, refused, would cost
// a verifier log of up to 16 MB (libbpf loads again to get one): asking
// first keeps that out of memory where fexit is not allowed. Quiet when it
// can't tell (no vmlinux BTF, no such function): the real load says.
Napi::Value ProbeFexit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  BeginLibbpfCapture();
  // Found by pread, not by libbpf's parse of the whole BTF (kernel_btf.h).
  int id = KernelFunctionId(name);
  if (id < 0) {
    btf* vmlinux = btf__load_vmlinux_btf();
    if (!vmlinux) return env.Undefined();
    id = btf__find_by_name_kind(vmlinux, name.c_str(), BTF_KIND_FUNC);
    btf__free(vmlinux);
  }
  if (id <= 0) return env.Undefined();
  const bpf_insn insns[] = {
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0},  // r0 = 0
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},                  // exit
  };
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_FEXIT, .attach_btf_id = static_cast<__u32>(id));
  int fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, nullptr, "GPL", insns, 2, &opts);
  if (fd < 0) {
    ThrowFailure(env, "loading a minimal fexit program on " + name, errno);
    return env.Undefined();
  }
  close(fd);
  return env.Undefined();
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
  exports.Set("ensureTracefs", Napi::Function::New(env, EnsureTracefs));
  exports.Set("releaseTracefs", Napi::Function::New(env, ReleaseTracefs));
  exports.Set("keepOnlyCapabilities", Napi::Function::New(env, KeepOnlyCapabilities));
  exports.Set("setEffectiveCapabilities", Napi::Function::New(env, SetEffectiveCapabilities));
  exports.Set("setLibbpfDebug", Napi::Function::New(env, SetDebug));
  exports.Set("probeFexit", Napi::Function::New(env, ProbeFexit));
  exports.Set("versions", Napi::Function::New(env, Versions));
}

}  // namespace ebpf_forward
