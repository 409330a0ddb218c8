// Generated from src/records/program.ts by scripts/record-ops-header.mjs: do not edit.
#pragma once
#include <cstdint>

namespace ebpf_forward::record_ops {

enum Op : uint32_t {
  END = 0,
  MIN_LEN = 1,
  HEAD_KTIME = 2,
  HEAD_NOW = 3,
  LIT = 4,
  UINT = 5,
  SINT = 6,
  ERRNO = 7,
  BOOL = 8,
  FLOAT = 9,
  CSTR = 10,
  LSTR = 11,
  TAIL = 12,
  TSTR = 13,
  TSTR_FDPATH = 14,
  INET = 15,
  ENUM = 16,
  SWITCH = 17,
  MAP = 18,
  CONTAINER_ID = 19,
  CONTAINER_METADATA = 20,
  UINT_NONZERO = 21,
  kOpCount
};
// Argument words of each opcode (ENUM and SWITCH have their cases after these).
constexpr uint32_t kFixedArgs[kOpCount] = {0, 1, 1, 0, 2, 2, 2, 2, 1, 2, 2, 3, 1, 2, 6, 2, 6, 4, 1, 4, 3, 4};
constexpr const char* kOpNames[kOpCount] = {
    "END",
    "MIN_LEN",
    "HEAD_KTIME",
    "HEAD_NOW",
    "LIT",
    "UINT",
    "SINT",
    "ERRNO",
    "BOOL",
    "FLOAT",
    "CSTR",
    "LSTR",
    "TAIL",
    "TSTR",
    "TSTR_FDPATH",
    "INET",
    "ENUM",
    "SWITCH",
    "MAP",
    "CONTAINER_ID",
    "CONTAINER_METADATA",
    "UINT_NONZERO",
};
// ENUM's defLen for "no default string"; SWITCH's target for "skip the record".
constexpr uint32_t kNoDefault = 0xffffffffu;
constexpr uint32_t kNoTarget = 0xffffffffu;
// The hex digits of the longest container id CONTAINER_ID writes.
constexpr uint32_t kContainerIdDigits = 64;

}  // namespace ebpf_forward::record_ops
