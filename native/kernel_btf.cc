#include "kernel_btf.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <bpf/libbpf_legacy.h>
#include <fcntl.h>
#include <linux/btf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace ebpf_forward {
namespace {

constexpr const char* kVmlinuxBtf = "/sys/kernel/btf/vmlinux";
// The size of each pread: the BTF passes through this much memory at a time.
constexpr size_t kChunk = 64 * 1024;

// libbpf's bpf_core_essential_name_len: a name up to its flavor suffix
// ("task_struct___old" is a task_struct).
size_t EssentialLength(const char* name, size_t n) {
  for (long i = static_cast<long>(n) - 5; i >= 0; i--) {
    const char* s = name + i;
    if (s[0] != '_' && s[1] == '_' && s[2] == '_' && s[3] == '_' && s[4] != '_') return static_cast<size_t>(i) + 1;
  }
  return n;
}

// A type's record length (struct btf_type and what follows it); 0 for a kind this
// code does not know (a newer kernel's): then libbpf reads the BTF itself.
size_t RecordLength(const struct btf_type* t) {
  const size_t base = sizeof(struct btf_type);
  const size_t vlen = btf_vlen(t);
  switch (btf_kind(t)) {
    case BTF_KIND_FWD:
    case BTF_KIND_CONST:
    case BTF_KIND_VOLATILE:
    case BTF_KIND_RESTRICT:
    case BTF_KIND_PTR:
    case BTF_KIND_TYPEDEF:
    case BTF_KIND_FUNC:
    case BTF_KIND_FLOAT:
    case BTF_KIND_TYPE_TAG: return base;
    case BTF_KIND_INT: return base + sizeof(uint32_t);
    case BTF_KIND_ENUM: return base + vlen * sizeof(struct btf_enum);
    case BTF_KIND_ENUM64: return base + vlen * sizeof(struct btf_enum64);
    case BTF_KIND_ARRAY: return base + sizeof(struct btf_array);
    case BTF_KIND_STRUCT:
    case BTF_KIND_UNION: return base + vlen * sizeof(struct btf_member);
    case BTF_KIND_FUNC_PROTO: return base + vlen * sizeof(struct btf_param);
    case BTF_KIND_VAR: return base + sizeof(struct btf_var);
    case BTF_KIND_DATASEC: return base + vlen * sizeof(struct btf_var_secinfo);
    case BTF_KIND_DECL_TAG: return base + sizeof(struct btf_decl_tag);
    default: return 0;
  }
}

// Kinds libbpf takes as one for candidates (btf_kind_core_compat).
int CoreKind(int kind) { return kind == BTF_KIND_ENUM64 ? BTF_KIND_ENUM : kind; }

// /sys/kernel/btf/vmlinux through pread: scanned from end to end in
// kChunk pieces, and single types read again by id.
class KernelBtfFile {
 public:
  ~KernelBtfFile() {
    if (fd_ >= 0) close(fd_);
  }

  // Empty on success, else why it can't be read this way.
  std::string Open() {
    fd_ = open(kVmlinuxBtf, O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return std::string("no ") + kVmlinuxBtf;
    struct btf_header hdr;
    if (pread(fd_, &hdr, sizeof(hdr), 0) != static_cast<ssize_t>(sizeof(hdr))) return "its header can't be read";
    if (hdr.magic != BTF_MAGIC || hdr.version != BTF_VERSION || hdr.hdr_len < sizeof(hdr)) return "it is of another byte order or version";
    types_at_ = hdr.hdr_len + hdr.type_off;
    types_len_ = hdr.type_len;
    strings_at_ = hdr.hdr_len + hdr.str_off;
    strings_len_ = hdr.str_len;
    return "";
  }

  // Calls `each(offset, text)` for every string of the string section.
  bool ScanStrings(const std::function<void(uint32_t, std::string_view)>& each) {
    return ScanSection(strings_at_, strings_len_, [&](uint32_t start, const char* data, size_t size) -> size_t {
      size_t begin = 0;
      for (size_t i = 0; i < size; i++) {
        if (data[i] != '\0') continue;
        each(start + static_cast<uint32_t>(begin), std::string_view(data + begin, i - begin));
        begin = i + 1;
      }
      return begin;  // a string cut by the piece's end is completed by the next
    });
  }

  // Calls `each(id, type)` for every type, in id order, and notes where each
  // is for Type(); false if a record is of a kind this code does not know or
  // the section is cut short.
  bool ScanTypes(const std::function<void(uint32_t, const struct btf_type*)>& each) {
    offsets_.clear();
    return ScanSection(types_at_, types_len_, [&](uint32_t start, const char* data, size_t size) -> size_t {
      size_t pos = 0;
      while (size - pos >= sizeof(struct btf_type)) {
        const struct btf_type* t = reinterpret_cast<const struct btf_type*>(data + pos);
        size_t len = RecordLength(t);
        if (len == 0) return kRefused;
        if (size - pos < len) break;
        offsets_.push_back(start + static_cast<uint32_t>(pos));
        each(static_cast<uint32_t>(offsets_.size()), t);
        pos += len;
      }
      return pos;
    });
  }

  // Type `id`'s record, after a ScanTypes; empty if out of range.
  std::vector<char> Type(uint32_t id) {
    std::vector<char> rec;
    if (id == 0 || id > offsets_.size()) return rec;
    uint32_t at = types_at_ + offsets_[id - 1];
    rec.resize(sizeof(struct btf_type));
    if (!ReadAll(rec.data(), rec.size(), at)) return {};
    size_t len = RecordLength(reinterpret_cast<const struct btf_type*>(rec.data()));
    if (len == 0) return {};
    rec.resize(len);
    if (len > sizeof(struct btf_type) && !ReadAll(rec.data() + sizeof(struct btf_type), len - sizeof(struct btf_type), at + sizeof(struct btf_type))) return {};
    return rec;
  }

  std::string String(uint32_t off) {
    std::string out;
    char piece[128];
    while (off < strings_len_) {
      size_t want = std::min<size_t>(sizeof(piece), strings_len_ - off);
      if (!ReadAll(piece, want, strings_at_ + off)) return out;
      size_t n = strnlen(piece, want);
      out.append(piece, n);
      if (n < want) break;
      off += want;
    }
    return out;
  }

 private:
  static constexpr size_t kRefused = SIZE_MAX;

  // Reads the `len` bytes at `at` a kChunk at a time. `consume(start, data,
  // size)` gets the bytes not taken yet (start: their offset in the section)
  // and returns how many it took (kRefused: stop); the rest waits for the
  // next piece. False on a failed read, a refusal, or bytes left at the end.
  bool ScanSection(uint32_t at, uint32_t len, const std::function<size_t(uint32_t, const char*, size_t)>& consume) {
    std::vector<char> buf;
    uint32_t start = 0;
    for (uint32_t done = 0; done < len;) {
      size_t want = std::min<size_t>(kChunk, len - done);
      size_t had = buf.size();
      buf.resize(had + want);
      if (!ReadAll(buf.data() + had, want, at + done)) return false;
      done += static_cast<uint32_t>(want);
      size_t taken = consume(start, buf.data(), buf.size());
      if (taken == kRefused) return false;
      buf.erase(buf.begin(), buf.begin() + static_cast<long>(taken));
      start += static_cast<uint32_t>(taken);
    }
    return buf.empty();
  }

  bool ReadAll(char* into, size_t len, uint64_t at) {
    while (len > 0) {
      ssize_t n = pread(fd_, into, len, static_cast<off_t>(at));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      into += n;
      len -= static_cast<size_t>(n);
      at += static_cast<uint64_t>(n);
    }
    return true;
  }

  int fd_ = -1;
  uint32_t types_at_ = 0, types_len_ = 0, strings_at_ = 0, strings_len_ = 0;
  std::vector<uint32_t> offsets_;
};

const struct btf_type* AsType(const std::vector<char>& rec) { return reinterpret_cast<const struct btf_type*>(rec.data()); }

// One CO-RE relocation's needs, as read from the object: its root type's
// essential name and kind, and for a field relocation, the named members and
// array indexes of its access path (anonymous members are not steps: libbpf
// searches through them by name).
struct CoreNeed {
  std::string root;
  int kind = 0;
  // Member names; "" for an array index.
  std::vector<std::string> steps;
};

// The CO-RE relocations of the object, from its .BTF.ext; empty with `why` set when it can't be done here.
bool ReadCoreNeeds(const std::string& path, std::vector<CoreNeed>& needs, bool& has_core, std::string& why) {
  btf_ext* ext = nullptr;
  btf* local = btf__parse_elf(path.c_str(), &ext);
  if (libbpf_get_error(local)) {
    has_core = false;  // no BTF: libbpf relocates nothing
    return true;
  }
  bool ok = true;
  uint32_t size = 0;
  // btf_ext__get_raw_data: Debian's libbpf 1.1.2 does not export its newer name.
  const uint8_t* raw = ext ? static_cast<const uint8_t*>(btf_ext__get_raw_data(ext, &size)) : nullptr;
  // struct btf_ext_header: magic, version, flags, hdr_len, then func_info,
  // line_info and (hdr_len >= 32) core_relo offset/length pairs.
  uint32_t hdr_len = 0, relo_off = 0, relo_len = 0;
  if (raw && size >= 8) memcpy(&hdr_len, raw + 4, 4);
  if (raw && hdr_len >= 32 && size >= 32) {
    memcpy(&relo_off, raw + 24, 4);
    memcpy(&relo_len, raw + 28, 4);
  }
  has_core = relo_len > 0;
  const uint8_t* p = raw ? raw + hdr_len + relo_off : nullptr;
  const uint8_t* end = p ? p + relo_len : nullptr;
  if (has_core && (static_cast<uint64_t>(hdr_len) + relo_off + relo_len > size || relo_len < 4)) {
    why = "its .BTF.ext is malformed";
    ok = false;
  }
  uint32_t record_size = 0;
  if (ok && has_core) {
    memcpy(&record_size, p, 4);
    p += 4;
    if (record_size < 4 * sizeof(uint32_t)) {
      why = "its .BTF.ext is malformed";
      ok = false;
    }
  }
  while (ok && has_core && end - p >= 8) {
    uint32_t count;
    memcpy(&count, p + 4, 4);
    p += 8;
    if (static_cast<uint64_t>(end - p) < static_cast<uint64_t>(count) * record_size) {
      why = "its .BTF.ext is malformed";
      ok = false;
      break;
    }
    for (uint32_t i = 0; ok && i < count; i++, p += record_size) {
      // struct bpf_core_relo, read as numbers: its kind may be any value in a bad file.
      uint32_t relo[4];  // insn_off, type_id, access_str_off, kind
      memcpy(relo, p, sizeof(relo));
      const uint32_t type_id = relo[1], access_str_off = relo[2], kind = relo[3];
      if (kind == BPF_CORE_TYPE_ID_LOCAL) continue;  // the object's own type: no kernel type involved
      if (kind == BPF_CORE_TYPE_ID_TARGET || kind > BPF_CORE_ENUMVAL_VALUE) {
        why = kind == BPF_CORE_TYPE_ID_TARGET ? "a relocation asks for a kernel type id" : "a relocation matches whole types";
        ok = false;
        break;
      }
      const struct btf_type* t = btf__type_by_id(local, type_id);
      const char* name = t ? btf__name_by_offset(local, t->name_off) : nullptr;
      const char* access = btf__name_by_offset(local, access_str_off);
      if (!name || !*name || !access) {
        why = "a relocation is malformed";
        ok = false;
        break;
      }
      CoreNeed need;
      need.root.assign(name, EssentialLength(name, strlen(name)));
      need.kind = CoreKind(btf_kind(t));
      if (kind <= BPF_CORE_FIELD_RSHIFT_U64) {
        // Access "0:3:1": the root's array index, then member or element indexes.
        uint32_t id = type_id;
        const char* s = strchr(access, ':');
        while (s) {
          unsigned idx = static_cast<unsigned>(strtoul(s + 1, nullptr, 10));
          const struct btf_type* at = btf__type_by_id(local, id);
          while (at && (btf_is_mod(at) || btf_is_typedef(at))) {
            id = at->type;
            at = btf__type_by_id(local, id);
          }
          if (at && btf_is_composite(at) && idx < btf_vlen(at)) {
            const struct btf_member* m = btf_members(at) + idx;
            const char* member = m->name_off ? btf__name_by_offset(local, m->name_off) : "";
            if (!member) {
              why = "a relocation's access path is malformed";
              ok = false;
              break;
            }
            if (*member) need.steps.emplace_back(member);
            id = m->type;
          } else if (at && btf_is_array(at)) {
            need.steps.emplace_back("");
            id = btf_array(at)->type;
          } else {
            why = "a relocation's access path is malformed";
            ok = false;
            break;
          }
          s = strchr(s + 1, ':');
        }
      }
      needs.push_back(std::move(need));
    }
  }
  btf_ext__free(ext);
  btf__free(local);
  return ok;
}

// The types kept and, for each kept struct or union, the members kept.
class Extract {
 public:
  explicit Extract(KernelBtfFile& file) : file_(file) {}

  // The members of composite `id` named `name`, directly or inside
  // anonymous members (each kept with its path), as libbpf's
  // bpf_core_match_member searches: their types go into `found`.
  bool SelectNamed(uint32_t id, std::string_view name, const std::unordered_map<uint32_t, std::string_view>& names,
                   std::set<uint32_t>& found, int depth = 0) {
    if (depth > 32) return false;
    uint32_t composite = id;
    std::vector<char> rec = ResolvedType(composite);
    if (rec.empty() || !btf_is_composite(AsType(rec))) return false;
    const struct btf_type* t = AsType(rec);
    bool any = false;
    for (unsigned i = 0; i < btf_vlen(t); i++) {
      const struct btf_member* m = btf_members(t) + i;
      auto named = names.find(m->name_off);
      bool anonymous = m->name_off == 0 || empty_.count(m->name_off);
      if ((anonymous && SelectNamed(m->type, name, names, found, depth + 1)) || (named != names.end() && named->second == name)) {
        if (!anonymous) found.insert(m->type);
        members_[composite].insert(i);
        any = true;
      }
    }
    // libbpf takes a zero-length array as flexible only when it is the
    // last member: keep the last one too, so that the extract says the same.
    if (any && btf_vlen(t) > 0) {
      for (unsigned i : members_[composite]) {
        uint32_t member_type = btf_members(t)[i].type;
        std::vector<char> mt = ResolvedType(member_type);
        if (!mt.empty() && btf_is_array(AsType(mt)) && btf_array(AsType(mt))->nelems == 0) {
          members_[composite].insert(btf_vlen(t) - 1u);
          break;
        }
      }
    }
    return any;
  }

  // The record of type `id` past its modifiers and typedefs (as libbpf's
  // skip_mods_and_typedefs), `id` set to that type's; empty if unreadable.
  std::vector<char> ResolvedType(uint32_t& id) {
    for (int depth = 0; depth < 32; depth++) {
      std::vector<char> rec = file_.Type(id);
      if (rec.empty()) return rec;
      const struct btf_type* t = AsType(rec);
      if (!btf_is_mod(t) && !btf_is_typedef(t)) return rec;
      id = t->type;
    }
    return {};
  }

  void Seed(uint32_t id) { seeds_.insert(id); }

  // Every type reachable from the seeds and from the kept members, as raw
  // BTF with ids renumbered and strings of its own; empty if a kept type is
  // of a kind no relocation can reach (then the whole BTF is safer).
  std::string Build(unsigned& count) {
    std::set<uint32_t> kept;
    std::vector<uint32_t> work(seeds_.begin(), seeds_.end());
    for (auto& [composite, members] : members_) work.push_back(composite);
    std::map<uint32_t, std::vector<char>> records;
    while (!work.empty()) {
      uint32_t id = work.back();
      work.pop_back();
      if (id == 0 || !kept.insert(id).second) continue;
      std::vector<char> rec = file_.Type(id);
      if (rec.empty()) return "";
      const struct btf_type* t = AsType(rec);
      switch (btf_kind(t)) {
        case BTF_KIND_INT:
        case BTF_KIND_FLOAT:
        case BTF_KIND_FWD:
        case BTF_KIND_ENUM:
        case BTF_KIND_ENUM64: break;
        case BTF_KIND_PTR:
        case BTF_KIND_TYPEDEF:
        case BTF_KIND_CONST:
        case BTF_KIND_VOLATILE:
        case BTF_KIND_RESTRICT:
        case BTF_KIND_TYPE_TAG: work.push_back(t->type); break;
        case BTF_KIND_ARRAY:
          work.push_back(btf_array(t)->type);
          work.push_back(btf_array(t)->index_type);
          break;
        case BTF_KIND_FUNC_PROTO:
          work.push_back(t->type);
          for (unsigned i = 0; i < btf_vlen(t); i++) work.push_back(btf_params(t)[i].type);
          break;
        case BTF_KIND_STRUCT:
        case BTF_KIND_UNION: {
          auto selected = members_.find(id);
          if (selected != members_.end())
            for (unsigned i : selected->second) work.push_back(btf_members(t)[i].type);
          break;
        }
        default: return "";
      }
      records.emplace(id, std::move(rec));
    }

    std::unordered_map<uint32_t, uint32_t> new_id;
    uint32_t next = 1;
    for (auto& [id, rec] : records) new_id[id] = next++;
    auto map_id = [&](uint32_t id) { return id == 0 ? 0 : new_id.at(id); };
    std::string strings(1, '\0');
    std::unordered_map<uint32_t, uint32_t> new_str;
    auto map_str = [&](uint32_t off) -> uint32_t {
      if (off == 0) return 0;
      auto known = new_str.find(off);
      if (known != new_str.end()) return known->second;
      std::string text = file_.String(off);
      if (text.empty()) return new_str[off] = 0;
      uint32_t at = static_cast<uint32_t>(strings.size());
      strings.append(text).push_back('\0');
      return new_str[off] = at;
    };

    std::string types;
    for (auto& [id, rec] : records) {
      struct btf_type t;
      memcpy(&t, rec.data(), sizeof(t));
      int kind = btf_kind(&t);
      t.name_off = map_str(t.name_off);
      const char* rest = rec.data() + sizeof(struct btf_type);
      std::string tail;
      switch (kind) {
        case BTF_KIND_PTR:
        case BTF_KIND_TYPEDEF:
        case BTF_KIND_CONST:
        case BTF_KIND_VOLATILE:
        case BTF_KIND_RESTRICT:
        case BTF_KIND_TYPE_TAG: t.type = map_id(t.type); break;
        case BTF_KIND_ARRAY: {
          struct btf_array a;
          memcpy(&a, rest, sizeof(a));
          a.type = map_id(a.type);
          a.index_type = map_id(a.index_type);
          tail.assign(reinterpret_cast<char*>(&a), sizeof(a));
          break;
        }
        case BTF_KIND_FUNC_PROTO: {
          t.type = map_id(t.type);
          for (unsigned i = 0; i < btf_vlen(&t); i++) {
            struct btf_param p;
            memcpy(&p, rest + i * sizeof(p), sizeof(p));
            p.name_off = 0;  // parameter names are never matched
            p.type = map_id(p.type);
            tail.append(reinterpret_cast<char*>(&p), sizeof(p));
          }
          break;
        }
        case BTF_KIND_ENUM:
        case BTF_KIND_ENUM64: {
          size_t each = kind == BTF_KIND_ENUM ? sizeof(struct btf_enum) : sizeof(struct btf_enum64);
          for (unsigned i = 0; i < btf_vlen(&t); i++) {
            std::string value(rest + i * each, each);
            uint32_t name_off;
            memcpy(&name_off, value.data(), 4);
            name_off = map_str(name_off);
            memcpy(&value[0], &name_off, 4);
            tail += value;
          }
          break;
        }
        case BTF_KIND_STRUCT:
        case BTF_KIND_UNION: {
          auto selected = members_.find(id);
          unsigned n = 0;
          if (selected != members_.end()) {
            for (unsigned i : selected->second) {
              struct btf_member m;
              memcpy(&m, rest + i * sizeof(m), sizeof(m));
              m.name_off = map_str(m.name_off);
              m.type = map_id(m.type);
              tail.append(reinterpret_cast<char*>(&m), sizeof(m));
              n++;
            }
          }
          t.info = (t.info & ~0xffffu) | n;
          break;
        }
        case BTF_KIND_INT: tail.assign(rest, sizeof(uint32_t)); break;
        default: break;
      }
      types.append(reinterpret_cast<char*>(&t), sizeof(t)).append(tail);
    }

    struct btf_header hdr{};
    hdr.magic = BTF_MAGIC;
    hdr.version = BTF_VERSION;
    hdr.hdr_len = sizeof(hdr);
    hdr.type_off = 0;
    hdr.type_len = static_cast<uint32_t>(types.size());
    hdr.str_off = hdr.type_len;
    hdr.str_len = static_cast<uint32_t>(strings.size());
    count = static_cast<unsigned>(records.size());
    return std::string(reinterpret_cast<char*>(&hdr), sizeof(hdr)) + types + strings;
  }

  // An empty string other than at offset 0 names nothing either (an anonymous member).
  void NoteEmptyString(uint32_t off) { empty_.insert(off); }

 private:
  KernelBtfFile& file_;
  std::unordered_set<uint32_t> empty_;
  std::set<uint32_t> seeds_;
  std::map<uint32_t, std::set<unsigned>> members_;
};

}  // namespace

int KernelFunctionId(const std::string& name) {
  KernelBtfFile file;
  if (!file.Open().empty()) return -1;
  std::unordered_set<uint32_t> offsets;
  if (!file.ScanStrings([&](uint32_t off, std::string_view text) {
        if (text == name) offsets.insert(off);
      }))
    return -1;
  int found = 0;
  if (offsets.empty()) return 0;
  if (!file.ScanTypes([&](uint32_t id, const struct btf_type* t) {
        if (!found && btf_kind(t) == BTF_KIND_FUNC && offsets.count(t->name_off)) found = static_cast<int>(id);
      }))
    return -1;
  return found;
}

CoreBtf ExtractCoreBtf(const std::string& object_path) {
  CoreBtf out;
  std::vector<CoreNeed> needs;
  if (!ReadCoreNeeds(object_path, needs, out.has_core, out.why_whole) || !out.has_core || needs.empty()) return out;

  KernelBtfFile file;
  std::string why = file.Open();
  if (!why.empty()) {
    out.why_whole = why;
    return out;
  }
  // Names wanted: the roots' essential names and every member on a path.
  // Views into `needs`, which outlives them: the scan of some 100,000 strings makes no copy.
  std::map<std::string_view, std::set<int>> root_kinds;
  std::unordered_set<std::string_view> member_names;
  for (const CoreNeed& need : needs) {
    root_kinds[need.root].insert(need.kind);
    for (const std::string& step : need.steps)
      if (!step.empty()) member_names.insert(step);
  }
  std::unordered_map<uint32_t, std::string_view> root_offsets, member_offsets;
  Extract extract(file);
  if (!file.ScanStrings([&](uint32_t off, std::string_view text) {
        if (text.empty()) {
          extract.NoteEmptyString(off);
          return;
        }
        auto root = root_kinds.find(text.substr(0, EssentialLength(text.data(), text.size())));
        if (root != root_kinds.end()) root_offsets.emplace(off, root->first);
        auto member = member_names.find(text);
        if (member != member_names.end()) member_offsets.emplace(off, *member);
      })) {
    out.why_whole = "its string section can't be read";
    return out;
  }
  // Candidates, by root name and kind, as libbpf's bpf_core_add_cands finds them.
  std::map<std::pair<std::string_view, int>, std::vector<uint32_t>> candidates;
  if (!file.ScanTypes([&](uint32_t id, const struct btf_type* t) {
        auto root = root_offsets.find(t->name_off);
        if (root == root_offsets.end()) return;
        int kind = CoreKind(btf_kind(t));
        if (root_kinds.at(root->second).count(kind)) candidates[{root->second, kind}].push_back(id);
      })) {
    out.why_whole = "it has a type of a kind this build does not know";
    return out;
  }

  for (const CoreNeed& need : needs) {
    auto roots = candidates.find({need.root, need.kind});
    if (roots == candidates.end()) {
      out.why_whole = need.root + " is not in vmlinux's BTF (libbpf then looks in the modules')";
      return out;
    }
    std::set<uint32_t> at(roots->second.begin(), roots->second.end());
    for (uint32_t id : at) extract.Seed(id);
    for (const std::string& step : need.steps) {
      std::set<uint32_t> next;
      for (uint32_t id : at) {
        if (!step.empty()) {
          extract.SelectNamed(id, step, member_offsets, next);
          continue;
        }
        std::vector<char> rec = extract.ResolvedType(id);
        if (!rec.empty() && btf_is_array(AsType(rec))) next.insert(btf_array(AsType(rec))->type);
      }
      at = std::move(next);
    }
  }
  out.raw = extract.Build(out.types);
  if (out.raw.empty()) out.why_whole = "a type on a relocation's path is of an unexpected kind";
  return out;
}

}  // namespace ebpf_forward
