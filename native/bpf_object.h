// BpfObject: one BPF object file, opened, configured, loaded and attached.
// Owns its links; closing it (or the environment's cleanup hook) detaches all.
#pragma once
#include <napi.h>

#include <set>
#include <string>
#include <vector>

struct bpf_object;
struct bpf_link;
struct bpf_map;
struct bpf_program;

namespace ebpf_forward {

class RingReader;

class BpfObject : public Napi::ObjectWrap<BpfObject> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit BpfObject(const Napi::CallbackInfo& info);
  ~BpfObject() override;

  bpf_object* object() const { return obj_; }
  bool loaded() const { return loaded_; }

  // Where a global variable is: the internal map of its data section
  // (libbpf names it "<object prefix><section name>"), its offset and size.
  struct GlobalPlace {
    enum Status { kFound, kNoBtf, kNoGlobal, kNoSectionMap } status;
    bpf_map* map;
    uint32_t offset;
    uint32_t size;
  };
  GlobalPlace FindGlobal(const std::string& name) const;
  void AddReader(RingReader* reader) { readers_.insert(reader); }
  void RemoveReader(RingReader* reader) { readers_.erase(reader); }
  // Detaches every link, closes every reader, closes the object. Idempotent.
  void Destroy();
  // Destroys the links only: no new records, the ring can still be drained.
  void DetachLinks();

  static void CloseAll();

 private:
  Napi::Value SetGlobal(const Napi::CallbackInfo& info);
  Napi::Value SetMapMaxEntries(const Napi::CallbackInfo& info);
  Napi::Value SetAutoload(const Napi::CallbackInfo& info);
  Napi::Value UpdateMap(const Napi::CallbackInfo& info);
  Napi::Value Programs(const Napi::CallbackInfo& info);
  Napi::Value CoreBtfNote(const Napi::CallbackInfo& info);
  Napi::Value Instructions(const Napi::CallbackInfo& info);
  void CloseCoreBtf();
  Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value Attach(const Napi::CallbackInfo& info);
  Napi::Value AttachUprobe(const Napi::CallbackInfo& info);
  Napi::Value PerCpuSum(const Napi::CallbackInfo& info);
  Napi::Value Detach(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  bool Usable(Napi::Env env, bool want_loaded);
  bpf_map* MapNamed(Napi::Env env, const std::string& name);
  bpf_program* ProgramNamed(Napi::Env env, const std::string& name);

  bpf_object* obj_ = nullptr;
  bool loaded_ = false;
  // The memfd libbpf reads the kernel BTF extract from at load (-1: none).
  int core_fd_ = -1;
  std::string core_note_;
  std::string path_;
  std::vector<bpf_link*> links_;
  std::set<RingReader*> readers_;
};

}  // namespace ebpf_forward
