// The running kernel's BTF, read in pieces and never held whole.
//
// libbpf 1.1 reads /sys/kernel/btf/vmlinux (5.5 MB on 6.18) into one buffer
// and copies it into another before parsing: 11-12 MB for some 50 ms, the
// largest allocation of a start, made for every BPF object with CO-RE
// relocations and for the fexit probe. What the relocations can match is a
// few hundred of its 126,000 types. These functions find those with pread,
// in a few hundred KB, and give libbpf only them (btf_custom_path).
#pragma once
#include <string>

namespace ebpf_forward {

// The vmlinux BTF id of the function `name` (BTF_KIND_FUNC); 0 when there is
// none, -1 when the kernel's BTF can't be read this way (not at
// /sys/kernel/btf/vmlinux, another byte order): then ask libbpf.
int KernelFunctionId(const std::string& name);

struct CoreBtf {
  // The extract as raw BTF, empty when libbpf must use the kernel's whole BTF.
  std::string raw;
  // Types in `raw`.
  unsigned types = 0;
  // Why the whole BTF, when `raw` is empty and the object has CO-RE relocations.
  std::string why_whole;
  // The object has CO-RE relocations (libbpf needs the kernel's BTF for them).
  bool has_core = false;
};

// The types of the kernel's BTF that the CO-RE relocations of the BPF object
// at `object_path` can match, with what libbpf reads of them to relocate:
// every candidate of each relocation's root type (same essential name and
// kind), the members on its access paths (anonymous containers included, in
// their order), and every type these refer to, structs and unions with the
// members kept only. libbpf then relocates exactly as against the whole BTF
// (test/native/kernel-btf.test.ts compares the instructions). The whole BTF
// instead, with the reason, for what it can't give: a root type that is not
// in vmlinux (libbpf would then look in the modules' BTF), a relocation
// whose result is a kernel type id or needs whole types matched
// (bpf_core_type_id_kernel, bpf_core_type_matches).
CoreBtf ExtractCoreBtf(const std::string& object_path);

}  // namespace ebpf_forward
