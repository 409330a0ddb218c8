#include "record_encoder.h"

#include <algorithm>
#include <cstring>

#include "cgroup_names.h"
#include "inet_text.h"
#include "msgpack_write.h"
#include "record_ops.h"
#include "utf8_text.h"

namespace ebpf_forward {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "records are read as little-endian host memory");

namespace {

// Opcodes, their argument words and sentinels: record_ops.h, generated from src/records/program.ts.
using namespace record_ops;
// Longest CONTAINER_ID value: a str8 header and 64 hex digits.
constexpr uint64_t kContainerIdMax = 2 + kContainerIdDigits;
// Most CONTAINER_METADATA writes: the pairs, and a map header grown from 1 to 5 bytes.
constexpr uint64_t kContainerMetadataMax = ContainerMetadata::kMaxBytes + 4;
constexpr int32_t kAtFdcwd = -100;
constexpr uint64_t kNsPerSec = 1000000000ull;
// Longest INET text: eight groups of "ffff" and seven colons.
constexpr uint64_t kInetMax = 1 + 39;

bool IsIntSize(uint32_t size) { return size == 1 || size == 2 || size == 4 || size == 8; }

// Unsigned little-endian integer of 1, 2, 4 or 8 bytes (size checked by Compile).
inline uint64_t LoadLE(const uint8_t* p, unsigned size) {
  switch (size) {
    case 1:
      return p[0];
    case 2: {
      uint16_t v;
      memcpy(&v, p, 2);
      return v;
    }
    case 4: {
      uint32_t v;
      memcpy(&v, p, 4);
      return v;
    }
    default: {
      uint64_t v;
      memcpy(&v, p, 8);
      return v;
    }
  }
}

inline int64_t SignExtend(uint64_t v, unsigned size) {
  unsigned shift = 64 - 8 * size;
  return static_cast<int64_t>(v << shift) >> shift;
}

// Literal bytes: the first 16 as one fixed-size move whatever their length
// (the pool is padded and the output has slack, see Bound), the rest rarely.
inline uint8_t* PutLiteral(uint8_t* o, const uint8_t* src, uint32_t len) {
  memcpy(o, src, 16);
  if (__builtin_expect(len > 16, 0)) memcpy(o + 16, src + 16, len - 16);
  return o + len;
}

}  // namespace

EncodeClock EncodeClock::At(int64_t offset_ns, uint64_t now_ns) {
  EncodeClock clock;
  clock.offset_ns = offset_ns;
  clock.now_sec = static_cast<uint32_t>(now_ns / kNsPerSec);
  clock.now_nsec = static_cast<uint32_t>(now_ns % kNsPerSec);
  return clock;
}

bool RecordEncoder::Compile(const uint32_t* code, size_t words, const uint8_t* pool, size_t pool_size,
                            std::string* error) {
  auto fail = [&](size_t at, const std::string& what) {
    *error = "record program: word " + std::to_string(at) + ": " + what;
    return false;
  };
  auto in_pool = [&](uint32_t off, uint32_t len) { return static_cast<uint64_t>(off) + len <= pool_size; };
  if (words == 0) {
    *error = "record program: no code";
    return false;
  }

  // 1. Instruction starts, opcodes, lengths and arguments.
  std::vector<size_t> starts;                 // word of each instruction
  std::vector<int32_t> index_of(words, -1);   // word -> instruction index
  for (size_t w = 0; w < words;) {
    uint32_t op = code[w];
    if (op >= kOpCount) return fail(w, "unknown opcode " + std::to_string(op));
    const std::string name = kOpNames[op];
    uint64_t length = 1 + kFixedArgs[op];
    if (w + length > words) return fail(w, name + " needs " + std::to_string(kFixedArgs[op]) + " argument words; the code ends first");
    const uint32_t* arg = code + w + 1;
    if (op == ENUM) length += 4ull * arg[3];
    if (op == SWITCH) length += 2ull * arg[2];
    if (w + length > words) return fail(w, name + " has " + std::to_string(op == ENUM ? arg[3] : arg[2]) + " cases; the code ends first");
    switch (op) {
      case LIT:
        if (!in_pool(arg[0], arg[1]))
          return fail(w, "LIT pool range " + std::to_string(arg[0]) + "+" + std::to_string(arg[1]) + " is outside the pool (" + std::to_string(pool_size) + " bytes)");
        break;
      case UINT:
      case SINT:
      case ERRNO:
        if (!IsIntSize(arg[1])) return fail(w, name + " size " + std::to_string(arg[1]) + " is not 1, 2, 4 or 8");
        break;
      case FLOAT:
        if (arg[1] != 4 && arg[1] != 8) return fail(w, "FLOAT size " + std::to_string(arg[1]) + " is not 4 or 8");
        break;
      case LSTR:
        if (!IsIntSize(arg[2])) return fail(w, "LSTR length size " + std::to_string(arg[2]) + " is not 1, 2, 4 or 8");
        break;
      case TSTR:
        if (!IsIntSize(arg[1])) return fail(w, "TSTR length size " + std::to_string(arg[1]) + " is not 1, 2, 4 or 8");
        break;
      case TSTR_FDPATH:
        if (!IsIntSize(arg[1])) return fail(w, "TSTR_FDPATH length size " + std::to_string(arg[1]) + " is not 1, 2, 4 or 8");
        if (!IsIntSize(arg[4])) return fail(w, "TSTR_FDPATH flags size " + std::to_string(arg[4]) + " is not 1, 2, 4 or 8");
        break;
      case ENUM: {
        if (!IsIntSize(arg[1])) return fail(w, "ENUM size " + std::to_string(arg[1]) + " is not 1, 2, 4 or 8");
        if (arg[2] > 1) return fail(w, "ENUM signed flag " + std::to_string(arg[2]) + " is not 0 or 1");
        if (arg[5] != kNoDefault && !in_pool(arg[4], arg[5]))
          return fail(w, "ENUM default pool range " + std::to_string(arg[4]) + "+" + std::to_string(arg[5]) + " is outside the pool (" + std::to_string(pool_size) + " bytes)");
        for (uint32_t i = 0; i < arg[3]; i++) {
          const uint32_t* c = arg + 6 + 4 * i;
          if (!in_pool(c[2], c[3]))
            return fail(w, "ENUM case " + std::to_string(i) + " pool range " + std::to_string(c[2]) + "+" + std::to_string(c[3]) + " is outside the pool (" + std::to_string(pool_size) + " bytes)");
        }
        break;
      }
      case SWITCH:
        if (!IsIntSize(arg[1])) return fail(w, "SWITCH size " + std::to_string(arg[1]) + " is not 1, 2, 4 or 8");
        break;
      case CONTAINER_ID:
        if (!in_pool(arg[2], arg[3]))
          return fail(w, "CONTAINER_ID key pool range " + std::to_string(arg[2]) + "+" + std::to_string(arg[3]) + " is outside the pool (" + std::to_string(pool_size) + " bytes)");
        break;
      case CONTAINER_METADATA:
        if (arg[2] > 1) return fail(w, "CONTAINER_METADATA annotations flag " + std::to_string(arg[2]) + " is not 0 or 1");
        break;
      case UINT_NONZERO:
        if (!IsIntSize(arg[1])) return fail(w, "UINT_NONZERO size " + std::to_string(arg[1]) + " is not 1, 2, 4 or 8");
        if (!in_pool(arg[2], arg[3]))
          return fail(w, "UINT_NONZERO key pool range " + std::to_string(arg[2]) + "+" + std::to_string(arg[3]) + " is outside the pool (" + std::to_string(pool_size) + " bytes)");
        break;
      default:
        break;
    }
    index_of[w] = static_cast<int32_t>(starts.size());
    starts.push_back(w);
    w += length;
  }
  const size_t count = starts.size();

  // 2. Jump targets, and each instruction's successors.
  std::vector<bool> targeted(count, false);
  targeted[0] = true;
  auto target_index = [&](size_t at, uint32_t target, int32_t* index) {
    if (target >= words || index_of[target] < 0)
      return fail(at, "SWITCH target " + std::to_string(target) + " is not the start of an instruction");
    *index = index_of[target];
    targeted[*index] = true;
    return true;
  };
  std::vector<std::vector<int32_t>> next(count);  // -1: past the end of the code
  for (size_t i = 0; i < count; i++) {
    size_t w = starts[i];
    uint32_t op = code[w];
    if (op == END) continue;
    if (op != SWITCH) {
      next[i].push_back(i + 1 < count ? static_cast<int32_t>(i + 1) : -1);
      continue;
    }
    const uint32_t* arg = code + w + 1;
    int32_t index;
    if (arg[3] != kNoTarget) {
      if (!target_index(w, arg[3], &index)) return false;
      next[i].push_back(index);
    }
    for (uint32_t c = 0; c < arg[2]; c++) {
      if (!target_index(w, arg[5 + 2 * c], &index)) return false;
      next[i].push_back(index);
    }
  }

  // 3. Every path from word 0 ends at END: no path runs off the code, none
  // loops. Depth-first, iteratively; post-order gives the bounds (longest
  // output over the paths: the program is a DAG by then).
  std::vector<uint8_t> state(count, 0);  // 0 new, 1 on the path, 2 done
  std::vector<uint64_t> fixed(count, 0), strings(count, 0);
  std::vector<std::pair<size_t, size_t>> stack;  // instruction, next successor to visit
  stack.push_back({0, 0});
  state[0] = 1;
  while (!stack.empty()) {
    auto& [i, k] = stack.back();
    if (k < next[i].size()) {
      int32_t s = next[i][k++];
      if (s < 0) return fail(starts[i], std::string(kOpNames[code[starts[i]]]) + " is the last instruction and not END: a path runs past the end of the code");
      if (state[s] == 1) return fail(starts[i], "a loop: SWITCH jumps back to word " + std::to_string(starts[s]));
      if (state[s] == 0) {
        state[s] = 1;
        stack.push_back({static_cast<size_t>(s), 0});
      }
      continue;
    }
    const uint32_t* arg = code + starts[i] + 1;
    uint64_t own = 0, own_strings = 0;
    switch (code[starts[i]]) {
      case HEAD_KTIME:
      case HEAD_NOW: own = 11; break;
      case LIT: own = arg[1]; break;
      case UINT:
      case SINT:
      case ERRNO:
      case FLOAT: own = 9; break;
      case BOOL: own = 1; break;
      case CSTR:
      case LSTR:
      case TSTR:
      case TSTR_FDPATH: own_strings = 1; break;
      case INET: own = kInetMax; break;
      case MAP: own = 5; break;
      case CONTAINER_ID: own = arg[3] + kContainerIdMax; break;
      case CONTAINER_METADATA: own = kContainerMetadataMax; break;
      case UINT_NONZERO: own = arg[3] + 9; break;
      case ENUM: {
        own = 9;
        if (arg[5] != kNoDefault) own = std::max<uint64_t>(own, arg[5]);
        for (uint32_t c = 0; c < arg[3]; c++) own = std::max<uint64_t>(own, arg[6 + 4 * c + 3]);
        break;
      }
      default: break;
    }
    uint64_t after_fixed = 0, after_strings = 0;
    for (int32_t s : next[i]) {
      after_fixed = std::max(after_fixed, fixed[s]);
      after_strings = std::max(after_strings, strings[s]);
    }
    fixed[i] = own + after_fixed;
    strings[i] = own_strings + after_strings;
    state[i] = 2;
    stack.pop_back();
  }
  fixed_bound_ = fixed[0];
  string_bound_ = strings[0];

  // 4. Translation. A run of LITs becomes the prefix of the instruction after
  // it, unless a jump lands in between (then the run is an instruction of its own).
  instrs_.clear();
  enum_cases_.clear();
  switch_cases_.clear();
  pool_.assign(reinterpret_cast<const char*>(pool), pool_size);
  std::vector<uint32_t> instr_of(count, 0);  // original instruction -> translated one
  Instr pending = {};
  pending.op = LIT;
  pending.prefix_off = static_cast<uint32_t>(pool_.size());
  auto flush_pending = [&]() {
    if (pending.prefix_len == 0) return;
    instrs_.push_back(pending);
    pending = {};
    pending.op = LIT;
    pending.prefix_off = static_cast<uint32_t>(pool_.size());
  };
  struct Fixup {
    size_t instr;
    uint32_t cases, word;
  };
  std::vector<Fixup> switches;
  for (size_t i = 0; i < count; i++) {
    const uint32_t op = code[starts[i]];
    const uint32_t* arg = code + starts[i] + 1;
    if (targeted[i]) flush_pending();
    instr_of[i] = static_cast<uint32_t>(instrs_.size());
    if (op == LIT) {
      if (pending.prefix_len == 0) pending.prefix_off = static_cast<uint32_t>(pool_.size());
      pool_.append(reinterpret_cast<const char*>(pool) + arg[0], arg[1]);
      pending.prefix_len += arg[1];
      continue;
    }
    Instr in = pending;
    pending = {};
    in.op = static_cast<uint8_t>(op);
    switch (op) {
      case MIN_LEN:
      case HEAD_KTIME:
      case BOOL:
      case TAIL:
        in.a = arg[0];
        break;
      case UINT:
      case SINT:
      case ERRNO:
      case FLOAT:
        in.a = arg[0];
        in.size = static_cast<uint8_t>(arg[1]);
        break;
      case CSTR:
        in.a = arg[0];
        in.b = arg[1];
        break;
      case LSTR:
        in.a = arg[0];
        in.b = arg[1];
        in.size = static_cast<uint8_t>(arg[2]);
        break;
      case TSTR:
        in.b = arg[0];
        in.size = static_cast<uint8_t>(arg[1]);
        break;
      case TSTR_FDPATH:
        in.b = arg[0];
        in.size = static_cast<uint8_t>(arg[1]);
        in.c = arg[2];
        in.d = arg[3];
        in.size2 = static_cast<uint8_t>(arg[4]);
        in.a = arg[5];
        break;
      case INET:
        in.a = arg[0];
        in.b = arg[1];
        break;
      case MAP:
        in.a = arg[0];
        break;
      case CONTAINER_ID:
        in.a = arg[0];
        in.b = arg[1];
        in.c = arg[2];  // the key, in the program's own pool (pool_ starts with it)
        in.d = arg[3];
        break;
      case CONTAINER_METADATA:
        in.a = arg[0];
        in.b = arg[1];
        in.c = arg[2];  // 0 plain, 1 with annotations
        break;
      case UINT_NONZERO:
        in.a = arg[0];
        in.size = static_cast<uint8_t>(arg[1]);
        in.c = arg[2];  // the key, in the program's own pool
        in.d = arg[3];
        break;
      case ENUM: {
        in.a = arg[0];
        in.size = static_cast<uint8_t>(arg[1]);
        in.size2 = static_cast<uint8_t>(arg[2]);
        // Default first, then the cases sorted by value (the first of equal values kept).
        in.b = static_cast<uint32_t>(enum_cases_.size());
        enum_cases_.push_back({0, arg[4], arg[5]});
        std::vector<EnumCase> cases;
        for (uint32_t c = 0; c < arg[3]; c++) {
          const uint32_t* k = arg + 6 + 4 * c;
          cases.push_back({static_cast<uint64_t>(k[1]) << 32 | k[0], k[2], k[3]});
        }
        std::stable_sort(cases.begin(), cases.end(), [](const EnumCase& x, const EnumCase& y) { return x.value < y.value; });
        cases.erase(std::unique(cases.begin(), cases.end(), [](const EnumCase& x, const EnumCase& y) { return x.value == y.value; }), cases.end());
        in.c = static_cast<uint32_t>(cases.size());
        enum_cases_.insert(enum_cases_.end(), cases.begin(), cases.end());
        break;
      }
      case SWITCH:
        in.a = arg[0];
        in.size = static_cast<uint8_t>(arg[1]);
        switches.push_back({instrs_.size(), arg[2], static_cast<uint32_t>(starts[i])});
        break;
      default:  // END, HEAD_NOW
        break;
    }
    instrs_.push_back(in);
    pending.op = LIT;
    pending.prefix_off = static_cast<uint32_t>(pool_.size());
  }
  flush_pending();  // only after an unreachable tail
  // Jump targets as translated instruction indexes, now that all exist.
  for (const Fixup& f : switches) {
    const uint32_t* arg = code + f.word + 1;
    Instr& in = instrs_[f.instr];
    in.b = static_cast<uint32_t>(switch_cases_.size());
    in.d = arg[3] == kNoTarget ? kNoTarget : instr_of[index_of[arg[3]]];
    std::vector<SwitchCase> cases;
    for (uint32_t c = 0; c < f.cases; c++) cases.push_back({arg[4 + 2 * c], instr_of[index_of[arg[5 + 2 * c]]]});
    std::stable_sort(cases.begin(), cases.end(), [](const SwitchCase& x, const SwitchCase& y) { return x.value < y.value; });
    cases.erase(std::unique(cases.begin(), cases.end(), [](const SwitchCase& x, const SwitchCase& y) { return x.value == y.value; }), cases.end());
    in.c = static_cast<uint32_t>(cases.size());
    switch_cases_.insert(switch_cases_.end(), cases.begin(), cases.end());
  }
  pool_.append(16, '\0');  // PutLiteral's 16-byte moves stay inside
  return true;
}

namespace {

// Case of `value` among n sorted cases, or nullptr.
template <typename Case>
inline const Case* FindCase(const Case* cases, uint32_t n, uint64_t value) {
  if (n <= 8) {
    for (uint32_t i = 0; i < n; i++)
      if (cases[i].value == value) return cases + i;
    return nullptr;
  }
  const Case* end = cases + n;
  const Case* at = std::lower_bound(cases, end, value, [](const Case& c, uint64_t v) { return c.value < v; });
  return at != end && at->value == value ? at : nullptr;
}

}  // namespace

EncodedRecord RecordEncoder::Encode(const uint8_t* r, uint32_t len, uint8_t* out, const EncodeClock& clock) const {
  const Instr* instrs = instrs_.data();
  const uint8_t* pool = reinterpret_cast<const uint8_t*>(pool_.data());
  uint8_t* o = out;
  uint64_t cursor = 0;
  // The record's map header (MAP), which CONTAINER_ID may lower.
  uint8_t* map_at = nullptr;
  uint32_t map_count = 0;
  // CONTAINER_ID's answer, which CONTAINER_METADATA of the same cgroup
  // takes rather than asking again (a miss would be a second miss).
  bool looked_up = false;
  uint64_t looked_up_cgroup = 0;
  const std::string* looked_up_id = nullptr;
  EncodedRecord result = {RecordOutcome::kEntry, 0, false, 0, 0};
  // Whether `size` bytes at `off` are inside the record.
  auto inside = [len](uint64_t off, uint64_t size) { return off + size <= len; };
  // Threaded dispatch: each handler jumps to the next on its own, which
  // predicts far better than one switch for all. The prefix is copied
  // whether there is one or not (most have one: no branch).
  static const void* const kHandlers[kOpCount] = {
      &&op_END,  &&op_MIN_LEN, &&op_HEAD_KTIME,  &&op_HEAD_NOW, &&op_LIT,  &&op_UINT,
      &&op_SINT, &&op_ERRNO,   &&op_BOOL,        &&op_FLOAT,    &&op_CSTR, &&op_LSTR,
      &&op_TAIL, &&op_TSTR,    &&op_TSTR_FDPATH, &&op_INET,     &&op_ENUM, &&op_SWITCH,
      &&op_MAP,  &&op_CONTAINER_ID, &&op_CONTAINER_METADATA, &&op_UINT_NONZERO};
  uint32_t pc = 0;
  const Instr* in;
#define NEXT()                                                \
  do {                                                        \
    in = &instrs[pc++];                                       \
    o = PutLiteral(o, pool + in->prefix_off, in->prefix_len); \
    goto* kHandlers[in->op];                                  \
  } while (0)
  NEXT();
  op_END:
    result.bytes = static_cast<size_t>(o - out);
    return result;
  op_MIN_LEN:
    if (len < in->a) goto malformed;
    NEXT();
  op_HEAD_KTIME: {
    if (!inside(in->a, 8)) goto malformed;
    uint64_t wall = LoadLE(r + in->a, 8) + static_cast<uint64_t>(clock.offset_ns);  // mod 2^64
    result.has_time = true;
    result.sec = static_cast<uint32_t>(wall / kNsPerSec);
    result.nsec = static_cast<uint32_t>(wall % kNsPerSec);
    o = PutHead(o, result.sec, result.nsec);
    NEXT();
  }
  op_HEAD_NOW:
    result.has_time = true;
    result.sec = clock.now_sec;
    result.nsec = clock.now_nsec;
    o = PutHead(o, result.sec, result.nsec);
    NEXT();
  op_LIT:
    NEXT();  // the prefix was all of it
  op_UINT:
    if (!inside(in->a, in->size)) goto malformed;
    o = PutUint(o, LoadLE(r + in->a, in->size));
    NEXT();
  op_SINT:
    if (!inside(in->a, in->size)) goto malformed;
    o = PutInt(o, SignExtend(LoadLE(r + in->a, in->size), in->size));
    NEXT();
  op_ERRNO: {
    if (!inside(in->a, in->size)) goto malformed;
    int64_t v = SignExtend(LoadLE(r + in->a, in->size), in->size);
    o = PutUint(o, v < 0 ? 0 - static_cast<uint64_t>(v) : 0);
    NEXT();
  }
  op_BOOL:
    if (!inside(in->a, 1)) goto malformed;
    *o++ = r[in->a] ? 0xc3 : 0xc2;
    NEXT();
  op_FLOAT:
    if (!inside(in->a, in->size)) goto malformed;
    if (in->size == 4) {
      *o = 0xca;
      o = PutBE32(o + 1, static_cast<uint32_t>(LoadLE(r + in->a, 4)));
    } else {
      *o = 0xcb;
      o = PutBE64(o + 1, LoadLE(r + in->a, 8));
    }
    NEXT();
  op_CSTR: {
    if (in->a > len) goto malformed;
    size_t avail = std::min<size_t>(in->b, len - in->a);
    o = PutString(o, r + in->a, NulIndex(r + in->a, avail));
    NEXT();
  }
  op_LSTR: {
    if (!inside(in->b, in->size) || in->a > len) goto malformed;
    uint64_t n = std::min<uint64_t>(LoadLE(r + in->b, in->size), len - in->a);
    o = PutString(o, r + in->a, n);
    NEXT();
  }
  op_TAIL:
    cursor = in->a;
    NEXT();
  op_TSTR: {
    if (!inside(in->b, in->size) || cursor > len) goto malformed;
    uint64_t n = std::min<uint64_t>(LoadLE(r + in->b, in->size), len - cursor);
    o = PutString(o, r + cursor, n);
    cursor += n;
    NEXT();
  }
  op_TSTR_FDPATH: {
    if (!inside(in->b, in->size) || !inside(in->c, 4) || !inside(in->d, in->size2) || cursor > len) goto malformed;
    uint64_t n = std::min<uint64_t>(LoadLE(r + in->b, in->size), len - cursor);
    const uint8_t* s = r + cursor;
    cursor += n;
    int32_t dirfd = static_cast<int32_t>(LoadLE(r + in->c, 4));
    uint64_t flags = LoadLE(r + in->d, in->size2);
    if ((flags & in->a) == in->a && dirfd != kAtFdcwd) {
      // The kernel's name for a path relative to dirfd: "/dev/fd/<dirfd>[/rest]".
      char prefix[24] = "/dev/fd/";
      char* t = prefix + 8;
      if (dirfd < 0) *t++ = '-';
      t = PutDecimal(t, dirfd < 0 ? 0u - static_cast<uint32_t>(dirfd) : static_cast<uint32_t>(dirfd));
      size_t plen = static_cast<size_t>(t - prefix);
      if (n >= plen && memcmp(s, prefix, plen) == 0) {
        if (n == plen) {
          s += n;
          n = 0;
        } else if (s[plen] == '/') {
          s += plen + 1;
          n -= plen + 1;
        }
      }
    }
    o = PutString(o, s, n);
    NEXT();
  }
  op_INET: {
    if (!inside(in->a, 2) || !inside(in->b, 16)) goto malformed;
    char text[48];
    size_t n = FormatInet(static_cast<uint16_t>(LoadLE(r + in->a, 2)), r + in->b, text);
    o = PutStrHeader(o, n);
    memcpy(o, text, n);
    o += n;
    NEXT();
  }
  op_ENUM: {
    if (!inside(in->a, in->size)) goto malformed;
    uint64_t v = LoadLE(r + in->a, in->size);
    if (in->size2) v = static_cast<uint64_t>(SignExtend(v, in->size));
    const EnumCase* cases = enum_cases_.data() + in->b;  // [0] is the default
    const EnumCase* hit = FindCase(cases + 1, in->c, v);
    if (!hit && cases[0].len != kNoDefault) hit = cases;
    if (hit)
      o = PutLiteral(o, pool + hit->pool_off, hit->len);
    else if (in->size2)
      o = PutInt(o, static_cast<int64_t>(v));
    else
      o = PutUint(o, v);
    NEXT();
  }
  op_SWITCH: {
    if (!inside(in->a, in->size)) goto malformed;
    const SwitchCase* hit = FindCase(switch_cases_.data() + in->b, in->c, LoadLE(r + in->a, in->size));
    if (hit) {
      pc = hit->target;
    } else if (in->d != kNoTarget) {
      pc = in->d;
    } else {
      return {RecordOutcome::kSkipped, 0, false, 0, 0};
    }
    NEXT();
  }
  op_MAP:
    map_at = o;
    map_count = in->a;
    o = PutMapHeader(o, map_count);
    NEXT();
  op_CONTAINER_ID: {
    if (!inside(in->a, 8) || !inside(in->b, 4)) goto malformed;
    looked_up_cgroup = LoadLE(r + in->a, 8);
    const std::string* id = CgroupNames::Process().ContainerOf(looked_up_cgroup, static_cast<uint32_t>(LoadLE(r + in->b, 4)));
    looked_up = true;
    looked_up_id = id;
    if (id) {
      o = PutLiteral(o, pool + in->c, in->d);
      o = PutStrHeader(o, id->size());
      memcpy(o, id->data(), id->size());
      o += id->size();
    } else {
      if (!map_at || map_count == 0) goto malformed;
      o = LowerMapCount(map_at, map_count, o);
      map_count--;
    }
    NEXT();
  }
  op_CONTAINER_METADATA: {
    if (!inside(in->a, 8) || !inside(in->b, 4)) goto malformed;
    ContainerMetadata& metadata = ContainerMetadata::Process();
    if (metadata.size() == 0) NEXT();  // no runtime said anything: nothing to look up
    uint64_t cgroup = LoadLE(r + in->a, 8);
    const std::string* id = looked_up && looked_up_cgroup == cgroup
                                ? looked_up_id
                                : CgroupNames::Process().ContainerOf(cgroup, static_cast<uint32_t>(LoadLE(r + in->b, 4)));
    const ContainerMetadata::Blob* blob = id ? metadata.Of(cgroup, *id) : nullptr;
    if (blob && blob->pairs[in->c]) {
      if (!map_at) goto malformed;
      const std::string& bytes = blob->bytes[in->c];
      o = RaiseMapCount(map_at, map_count, blob->pairs[in->c], o);
      map_count += blob->pairs[in->c];
      memcpy(o, bytes.data(), bytes.size());
      o += bytes.size();
    }
    NEXT();
  }
  op_UINT_NONZERO: {
    if (!inside(in->a, in->size)) goto malformed;
    uint64_t v = LoadLE(r + in->a, in->size);
    if (v) {
      o = PutLiteral(o, pool + in->c, in->d);
      o = PutUint(o, v);
    } else {
      if (!map_at || map_count == 0) goto malformed;
      o = LowerMapCount(map_at, map_count, o);
      map_count--;
    }
    NEXT();
  }
#undef NEXT
malformed:
  return {RecordOutcome::kMalformed, 0, false, 0, 0};
}

}  // namespace ebpf_forward
