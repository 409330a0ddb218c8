// The addon's entry: the classes, the host functions (and readBtf), and a cleanup hook
// that detaches every BPF program when the environment goes away.
#include <napi.h>

#include "bpf_object.h"
#include "btf_reader.h"
#include "cgroup_names.h"
#include "forward_socket.h"
#include "host.h"
#include "libbpf_log.h"
#include "record_program.h"
#include "ring_reader.h"

namespace ebpf_forward {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InstallLibbpfLog();
  exports.Set("BpfObject", BpfObject::Init(env));
  exports.Set("RingReader", RingReader::Init(env));
  exports.Set("RecordProgram", RecordProgram::Init(env));
  exports.Set("ForwardSocket", ForwardSocket::Init(env));
  InitHost(env, exports);
  InitBtfReader(env, exports);
  InitCgroupNames(env, exports);
  napi_add_env_cleanup_hook(
      env,
      [](void*) {
        BpfObject::CloseAll();
        ReleaseTracefsMount();
      },
      nullptr);
  return exports;
}

}  // namespace ebpf_forward

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return ebpf_forward::Init(env, exports); }

NODE_API_MODULE(ebpf_forward, InitAddon)
