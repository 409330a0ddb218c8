// RecordEncoder: the interpreter of a record program (src/records/program.ts,
// the opcode spec): one ring-buffer record in, one Forward entry out, written
// straight from the record's bytes. No N-API here: RecordProgram (the JS
// object) and RingReader both drive it.
//
// The program is validated and translated once (Compile) into instructions
// with decoded arguments; runs of LIT are folded into the next instruction's
// prefix, so a key and its value are one dispatch.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ebpf_forward {

// The clocks one batch is encoded with.
struct EncodeClock {
  int64_t offset_ns = 0;  // CLOCK_REALTIME - CLOCK_MONOTONIC, added to HEAD_KTIME's value
  uint32_t now_sec = 0;   // HEAD_NOW's time (the batch's wall clock)
  uint32_t now_nsec = 0;
  static EncodeClock At(int64_t offset_ns, uint64_t now_ns);
};

enum class RecordOutcome { kEntry, kMalformed, kSkipped };

struct EncodedRecord {
  RecordOutcome outcome;
  size_t bytes;  // written at out (0 unless kEntry)
  // The entry's time (the last head written); has_time false if none was.
  bool has_time;
  uint32_t sec, nsec;
};

// The earliest and latest entry times of a batch (all 0 while it has none).
struct EntryTimeRange {
  bool any = false;
  uint32_t min_sec = 0, min_nsec = 0, max_sec = 0, max_nsec = 0;

  void Include(const EncodedRecord& e) {
    if (!e.has_time) return;
    if (!any || e.sec < min_sec || (e.sec == min_sec && e.nsec < min_nsec)) min_sec = e.sec, min_nsec = e.nsec;
    if (!any || e.sec > max_sec || (e.sec == max_sec && e.nsec > max_nsec)) max_sec = e.sec, max_nsec = e.nsec;
    any = true;
  }
};

class RecordEncoder {
 public:
  // Validates and translates; false with *error set if the program is invalid.
  bool Compile(const uint32_t* code, size_t words, const uint8_t* pool, size_t pool_size, std::string* error);

  // Bytes to have free at out before Encode of a record of `length` bytes
  // (strings counted at 3x their bytes, U+FFFD for every byte in the worst
  // case; plus slack for the 16-byte literal copies).
  uint64_t Bound(uint64_t length) const { return fixed_bound_ + string_bound_ * (5 + 3 * length) + kSlack; }

  // Encodes one record (its `length` bytes at `record`, any alignment).
  EncodedRecord Encode(const uint8_t* record, uint32_t length, uint8_t* out, const EncodeClock& clock) const;

  static constexpr uint64_t kSlack = 32;

 private:
  struct Instr {
    uint8_t op;
    uint8_t size;   // integer / length size in bytes
    uint8_t size2;  // TSTR_FDPATH flags size; ENUM: 1 if signed
    uint8_t pad = 0;
    uint32_t prefix_off, prefix_len;  // literal bytes (in pool_) written first
    uint32_t a, b, c, d;              // decoded arguments (per opcode, see Compile)
  };
  struct EnumCase {
    uint64_t value;
    uint32_t pool_off, len;
  };
  struct SwitchCase {
    uint64_t value;
    uint32_t target;  // instruction index
  };

  std::vector<Instr> instrs_;
  std::vector<EnumCase> enum_cases_;
  std::vector<SwitchCase> switch_cases_;
  // The program's pool and the folded literals after it, padded by 16 bytes
  // so that a short literal is copied as one 16-byte move.
  std::string pool_;
  uint64_t fixed_bound_ = 0;
  uint64_t string_bound_ = 0;
};

}  // namespace ebpf_forward
