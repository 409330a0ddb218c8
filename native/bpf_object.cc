#include "bpf_object.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cstring>
#include <sys/mman.h>
#include <unistd.h>
#include <pthread.h>
#include <vector>

#include "errors.h"
#include "kernel_btf.h"
#include "ring_reader.h"

namespace ebpf_forward {
namespace {
// Every live object, so that the environment's cleanup hook can detach them
// all even when JS never called close().
std::set<BpfObject*> live_objects;
}  // namespace

Napi::Function BpfObject::Init(Napi::Env env) {
  return DefineClass(env, "BpfObject",
                     {
                         InstanceMethod<&BpfObject::SetGlobal>("setGlobal"),
                         InstanceMethod<&BpfObject::SetMapMaxEntries>("setMapMaxEntries"),
                         InstanceMethod<&BpfObject::SetAutoload>("setAutoload"),
                         InstanceMethod<&BpfObject::UpdateMap>("updateMap"),
                         InstanceMethod<&BpfObject::Programs>("programs"),
                         InstanceMethod<&BpfObject::CoreBtfNote>("coreBtf"),
                         InstanceMethod<&BpfObject::Instructions>("instructions"),
                         InstanceMethod<&BpfObject::Load>("load"),
                         InstanceMethod<&BpfObject::Attach>("attach"),
                         InstanceMethod<&BpfObject::AttachUprobe>("attachUprobe"),
                         InstanceMethod<&BpfObject::PerCpuSum>("perCpuSum"),
                         InstanceMethod<&BpfObject::Detach>("detach"),
                         InstanceMethod<&BpfObject::Close>("close"),
                     });
}

// new BpfObject(path: string, shownAs?: string, wholeKernelBtf?: boolean). shownAs, when `path` is
// another name of the file (/proc/self/fd/N: the descriptor it was checked
// through), names it in messages and gives the object libbpf's name for it
// (its base name up to the first dot: the prefix of .rodata and other maps).
// wholeKernelBtf: CO-RE against libbpf's own read of the kernel's whole BTF,
// not the extract (kernel_btf.h), to compare the two.
BpfObject::BpfObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BpfObject>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString() || (info.Length() > 1 && !info[1].IsString() && !info[1].IsUndefined()) ||
      (info.Length() > 2 && !info[2].IsBoolean() && !info[2].IsUndefined())) {
    ThrowUsage(env, "BpfObject(path: string, shownAs?: string, wholeKernelBtf?: boolean)");
    return;
  }
  bool whole_kernel_btf = info.Length() > 2 && info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  path_ = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : path;
  std::string name = path_.substr(path_.find_last_of('/') + 1);
  name = name.substr(0, name.find('.'));
  LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name.c_str());
  // CO-RE against an extract of the kernel's BTF (kernel_btf.h): libbpf
  // reads it from this memfd at load instead of the whole BTF.
  std::string core_path;
  CoreBtf core;
  if (whole_kernel_btf) {
    core.why_whole = "asked for";
  } else {
    core = ExtractCoreBtf(path);
  }
  if (!core.raw.empty()) {
    core_fd_ = memfd_create("ebpf-forward-core-btf", MFD_CLOEXEC);
    core_path = "/proc/self/fd/" + std::to_string(core_fd_);
    if (core_fd_ < 0 || write(core_fd_, core.raw.data(), core.raw.size()) != static_cast<ssize_t>(core.raw.size()) || access(core_path.c_str(), R_OK) != 0) {
      core.why_whole = core_fd_ < 0 ? "no memfd" : "/proc/self/fd is not readable";
      core.raw.clear();
      CloseCoreBtf();
    }
  }
  if (!core.raw.empty()) {
    opts.btf_custom_path = core_path.c_str();
    core_note_ = "CO-RE against " + std::to_string(core.types) + " types (" + std::to_string((core.raw.size() + 1023) / 1024) + " KB) of the kernel's BTF";
  } else if (core.has_core || whole_kernel_btf) {
    core_note_ = "CO-RE against the kernel's whole BTF: " + core.why_whole;
  }
  BeginLibbpfCapture();
  bpf_object* obj = bpf_object__open_file(path.c_str(), &opts);
  int err = libbpf_get_error(obj);
  if (err || !obj) {
    CloseCoreBtf();
    ThrowFailure(env, "opening BPF object " + path_, err ? err : errno);
    return;
  }
  obj_ = obj;
  live_objects.insert(this);
}

BpfObject::~BpfObject() { Destroy(); }

void BpfObject::Destroy() {
  // Readers first: their ring buffers use this object's map.
  std::set<RingReader*> readers = std::move(readers_);
  readers_.clear();
  for (RingReader* reader : readers) reader->Shutdown();
  DetachLinks();
  if (obj_) {
    bpf_object__close(obj_);
    obj_ = nullptr;
  }
  CloseCoreBtf();
  live_objects.erase(this);
}

void BpfObject::CloseCoreBtf() {
  if (core_fd_ >= 0) close(core_fd_);
  core_fd_ = -1;
}

// instructions(program: string): a copy of the program's instructions as
// libbpf holds them; after load, relocated (CO-RE offsets in, map fds in
// ld_imm64), so that the extract's relocations can be compared with libbpf's.
Napi::Value BpfObject::Instructions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    ThrowUsage(env, "instructions(program: string)");
    return env.Undefined();
  }
  if (!obj_) {
    Napi::Error::New(env, "BPF object is closed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  bpf_program* prog = ProgramNamed(env, info[0].As<Napi::String>().Utf8Value());
  if (!prog) return env.Undefined();
  const bpf_insn* insns = bpf_program__insns(prog);
  return Napi::Buffer<char>::Copy(env, reinterpret_cast<const char*>(insns), bpf_program__insn_cnt(prog) * sizeof(bpf_insn));
}

// coreBtf(): how CO-RE relocations are made, for the log; "" without any.
Napi::Value BpfObject::CoreBtfNote(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), core_note_); }

void BpfObject::DetachLinks() {
  // Each detach waits for the kernel (an RCU grace period as the tracepoint
  // or uprobe is unregistered): hundreds of ms for a trace's links one after
  // another, so they are destroyed side by side.
  std::vector<bpf_link*> links = std::move(links_);
  links_.clear();
  if (links.size() <= 1) {
    for (bpf_link* link : links) bpf_link__destroy(link);
    return;
  }
  std::vector<pthread_t> threads;
  threads.reserve(links.size());
  for (bpf_link* link : links) {
    pthread_t thread;
    auto destroy = [](void* arg) -> void* {
      bpf_link__destroy(static_cast<bpf_link*>(arg));
      return nullptr;
    };
    if (pthread_create(&thread, nullptr, destroy, link) == 0)
      threads.push_back(thread);
    else
      bpf_link__destroy(link);  // no thread to be had: detach it here
  }
  for (pthread_t thread : threads) pthread_join(thread, nullptr);
}

void BpfObject::CloseAll() {
  std::set<BpfObject*> all = std::move(live_objects);
  live_objects.clear();
  for (BpfObject* object : all) object->Destroy();
}

bool BpfObject::Usable(Napi::Env env, bool want_loaded) {
  if (!obj_) {
    Napi::Error::New(env, "BPF object is closed").ThrowAsJavaScriptException();
    return false;
  }
  if (loaded_ != want_loaded) {
    Napi::Error::New(env, want_loaded ? "BPF object is not loaded yet" : "BPF object is already loaded")
        .ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

bpf_map* BpfObject::MapNamed(Napi::Env env, const std::string& name) {
  bpf_map* map = bpf_object__find_map_by_name(obj_, name.c_str());
  if (!map) Napi::Error::New(env, "no map named '" + name + "' in " + path_).ThrowAsJavaScriptException();
  return map;
}

bpf_program* BpfObject::ProgramNamed(Napi::Env env, const std::string& name) {
  bpf_program* prog = bpf_object__find_program_by_name(obj_, name.c_str());
  if (!prog) Napi::Error::New(env, "no program named '" + name + "' in " + path_).ThrowAsJavaScriptException();
  return prog;
}

BpfObject::GlobalPlace BpfObject::FindGlobal(const std::string& name) const {
  const btf* types = bpf_object__btf(obj_);
  if (!types) return {GlobalPlace::kNoBtf, nullptr, 0, 0};
  __u32 count = btf__type_cnt(types);
  for (__u32 id = 1; id < count; id++) {
    const btf_type* sec = btf__type_by_id(types, id);
    if (!btf_is_datasec(sec)) continue;
    std::string sec_name = btf__name_by_offset(types, sec->name_off);
    const btf_var_secinfo* var = btf_var_secinfos(sec);
    for (__u16 i = 0; i < btf_vlen(sec); i++, var++) {
      const btf_type* var_type = btf__type_by_id(types, var->type);
      if (name != btf__name_by_offset(types, var_type->name_off)) continue;
      bpf_map* map;
      bpf_object__for_each_map(map, obj_) {
        std::string map_name = bpf_map__name(map);
        if (bpf_map__is_internal(map) && map_name.size() >= sec_name.size() &&
            map_name.compare(map_name.size() - sec_name.size(), sec_name.size(), sec_name) == 0)
          return {GlobalPlace::kFound, map, var->offset, var->size};
      }
      return {GlobalPlace::kNoSectionMap, nullptr, var->offset, var->size};
    }
  }
  return {GlobalPlace::kNoGlobal, nullptr, 0, 0};
}

// setGlobal(name: string, value: Buffer): sets a global variable of the BPF
// program (a `const volatile` knob in .rodata, or .data/.bss) before load.
Napi::Value BpfObject::SetGlobal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usable(env, false)) return env.Undefined();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  Napi::Buffer<uint8_t> value = info[1].As<Napi::Buffer<uint8_t>>();

  GlobalPlace place = FindGlobal(name);
  switch (place.status) {
    case GlobalPlace::kNoBtf:
      Napi::Error::New(env, path_ + " has no BTF").ThrowAsJavaScriptException();
      return env.Undefined();
    case GlobalPlace::kNoGlobal:
      Napi::Error::New(env, "no global named '" + name + "' in " + path_).ThrowAsJavaScriptException();
      return env.Undefined();
    case GlobalPlace::kNoSectionMap:
    case GlobalPlace::kFound:
      break;
  }
  if (place.size != value.Length()) {
    Napi::Error::New(env, "global '" + name + "' is " + std::to_string(place.size) + " bytes, got " +
                              std::to_string(value.Length()))
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  size_t size = 0;
  const void* initial = place.map ? bpf_map__initial_value(place.map, &size) : nullptr;
  if (!initial || place.offset + place.size > size) {
    Napi::Error::New(env, "global '" + name + "' is not in a writable data section").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::vector<uint8_t> data(static_cast<const uint8_t*>(initial), static_cast<const uint8_t*>(initial) + size);
  memcpy(data.data() + place.offset, value.Data(), place.size);
  BeginLibbpfCapture();
  int err = bpf_map__set_initial_value(place.map, data.data(), data.size());
  if (err) ThrowFailure(env, "setting global '" + name + "'", err);
  return env.Undefined();
}

// setMapMaxEntries(map: string, entries: number), before load.
Napi::Value BpfObject::SetMapMaxEntries(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usable(env, false)) return env.Undefined();
  bpf_map* map = MapNamed(env, info[0].As<Napi::String>().Utf8Value());
  if (!map) return env.Undefined();
  BeginLibbpfCapture();
  int err = bpf_map__set_max_entries(map, info[1].As<Napi::Number>().Uint32Value());
  if (err) ThrowFailure(env, "sizing map " + std::string(bpf_map__name(map)), err);
  return env.Undefined();
}

// setAutoload(program: string, load: boolean), before load: a program left
// out is neither loaded nor attachable.
Napi::Value BpfObject::SetAutoload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usable(env, false)) return env.Undefined();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  bpf_program* prog = ProgramNamed(env, name);
  if (!prog) return env.Undefined();
  BeginLibbpfCapture();
  int err = bpf_program__set_autoload(prog, info[1].As<Napi::Boolean>().Value());
  if (err) ThrowFailure(env, "setting autoload of " + name, err);
  return env.Undefined();
}

// updateMap(map: string, key: Buffer, value: Buffer), after load: sets one
// entry (BPF_ANY). libbpf checks the sizes against the map's.
Napi::Value BpfObject::UpdateMap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usable(env, true)) return env.Undefined();
  bpf_map* map = MapNamed(env, info[0].As<Napi::String>().Utf8Value());
  if (!map) return env.Undefined();
  Napi::Buffer<uint8_t> key = info[1].As<Napi::Buffer<uint8_t>>();
  Napi::Buffer<uint8_t> value = info[2].As<Napi::Buffer<uint8_t>>();
  BeginLibbpfCapture();
  int err = bpf_map__update_elem(map, key.Data(), key.Length(), value.Data(), value.Length(), BPF_ANY);
  if (err) ThrowFailure(env, "updating map " + std::string(bpf_map__name(map)), err);
  return env.Undefined();
}

// programs(): {name, section}[]
Napi::Value BpfObject::Programs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  if (!obj_) return out;
  bpf_program* prog;
  uint32_t i = 0;
  bpf_object__for_each_program(prog, obj_) {
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("name", bpf_program__name(prog));
    entry.Set("section", bpf_program__section_name(prog));
    out.Set(i++, entry);
  }
  return out;
}

Napi::Value BpfObject::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usable(env, false)) return env.Undefined();
  BeginLibbpfCapture();
  int err = bpf_object__load(obj_);
  CloseCoreBtf();  // read by now, whatever the outcome
  if (err) {
    ThrowFailure(env, "loading BPF object " + path_, err);
    return env.Undefined();
  }
  loaded_ = true;
  return env.Undefined();
}

// attach(program: string): attaches by the program's section name
// (tracepoint/..., raw_tp/..., tp_btf/...).
Napi::Value BpfObject::Attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usable(env, true)) return env.Undefined();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  bpf_program* prog = ProgramNamed(env, name);
  if (!prog) return env.Undefined();
  BeginLibbpfCapture();
  bpf_link* link = bpf_program__attach(prog);
  int err = libbpf_get_error(link);
  if (err || !link) {
    ThrowFailure(env, "attaching " + name + " (" + bpf_program__section_name(prog) + ")", err ? err : errno);
    return env.Undefined();
  }
  links_.push_back(link);
  return env.Undefined();
}

// attachUprobe(program, binaryPath, functionName, retprobe, pid): pid -1 for
// every process that maps the binary.
Napi::Value BpfObject::AttachUprobe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usable(env, true)) return env.Undefined();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  std::string binary = info[1].As<Napi::String>().Utf8Value();
  std::string func = info[2].As<Napi::String>().Utf8Value();
  bool retprobe = info[3].As<Napi::Boolean>().Value();
  int pid = info[4].As<Napi::Number>().Int32Value();
  bpf_program* prog = ProgramNamed(env, name);
  if (!prog) return env.Undefined();
  LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = retprobe, .func_name = func.c_str());
  BeginLibbpfCapture();
  bpf_link* link = bpf_program__attach_uprobe_opts(prog, pid, binary.c_str(), 0, &opts);
  int err = libbpf_get_error(link);
  if (err || !link) {
    ThrowFailure(env, std::string("attaching ") + (retprobe ? "uretprobe " : "uprobe ") + binary + ":" + func,
                 err ? err : errno);
    return env.Undefined();
  }
  links_.push_back(link);
  return env.Undefined();
}

// perCpuSum(map: string, key: number): bigint — the sum over CPUs of a
// per-CPU array's u64 value (the loss counters).
Napi::Value BpfObject::PerCpuSum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usable(env, true)) return env.Undefined();
  bpf_map* map = MapNamed(env, info[0].As<Napi::String>().Utf8Value());
  if (!map) return env.Undefined();
  uint32_t key = info[1].As<Napi::Number>().Uint32Value();
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0 || bpf_map__value_size(map) != sizeof(uint64_t)) {
    Napi::Error::New(env, "perCpuSum needs a per-CPU map of u64 values").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::vector<uint64_t> values(cpus);
  if (bpf_map_lookup_elem(bpf_map__fd(map), &key, values.data()) != 0) {
    ThrowFailure(env, "reading map " + std::string(bpf_map__name(map)), errno);
    return env.Undefined();
  }
  uint64_t sum = 0;
  for (uint64_t v : values) sum += v;
  return Napi::BigInt::New(env, sum);
}

Napi::Value BpfObject::Detach(const Napi::CallbackInfo& info) {
  DetachLinks();
  return info.Env().Undefined();
}

Napi::Value BpfObject::Close(const Napi::CallbackInfo& info) {
  Destroy();
  return info.Env().Undefined();
}

}  // namespace ebpf_forward
