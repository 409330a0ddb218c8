// Msgpack forms written straight into an output buffer with room for them
// (the encoder bounds each record first): big-endian numbers, the entry's
// head, string and map headers (and a map's count changed after its pairs
// are written), integers in their shortest form; the array and bin headers
// of a Forward message. Used by record_encoder.cc and forward_socket.cc.
#pragma once
#include <cstdint>
#include <cstring>

namespace ebpf_forward {

inline uint8_t* PutBE16(uint8_t* o, uint16_t v) {
  v = __builtin_bswap16(v);
  memcpy(o, &v, 2);
  return o + 2;
}
inline uint8_t* PutBE32(uint8_t* o, uint32_t v) {
  v = __builtin_bswap32(v);
  memcpy(o, &v, 4);
  return o + 4;
}
inline uint8_t* PutBE64(uint8_t* o, uint64_t v) {
  v = __builtin_bswap64(v);
  memcpy(o, &v, 8);
  return o + 8;
}

inline uint8_t* PutHead(uint8_t* o, uint32_t sec, uint32_t nsec) {
  o[0] = 0x92;  // [time, record]
  o[1] = 0xd7;  // fixext 8
  o[2] = 0x00;  // EventTime
  PutBE32(o + 3, sec);
  PutBE32(o + 7, nsec);
  return o + 11;
}

inline uint8_t* PutStrHeader(uint8_t* o, size_t n) {
  if (n < 32) {
    *o = static_cast<uint8_t>(0xa0 | n);
    return o + 1;
  }
  if (n < 256) {
    o[0] = 0xd9;
    o[1] = static_cast<uint8_t>(n);
    return o + 2;
  }
  if (n < 65536) {
    *o = 0xda;
    return PutBE16(o + 1, static_cast<uint16_t>(n));
  }
  *o = 0xdb;
  return PutBE32(o + 1, static_cast<uint32_t>(n));
}

inline uint8_t* PutArrayHeader(uint8_t* o, uint32_t n) {
  if (n < 16) {
    *o = static_cast<uint8_t>(0x90 | n);
    return o + 1;
  }
  if (n < 65536) {
    *o = 0xdc;
    return PutBE16(o + 1, static_cast<uint16_t>(n));
  }
  *o = 0xdd;
  return PutBE32(o + 1, n);
}

inline uint8_t* PutBinHeader(uint8_t* o, uint32_t n) {
  if (n < 256) {
    o[0] = 0xc4;
    o[1] = static_cast<uint8_t>(n);
    return o + 2;
  }
  if (n < 65536) {
    *o = 0xc5;
    return PutBE16(o + 1, static_cast<uint16_t>(n));
  }
  *o = 0xc6;
  return PutBE32(o + 1, n);
}

inline uint8_t* PutMapHeader(uint8_t* o, uint32_t n) {
  if (n < 16) {
    *o = static_cast<uint8_t>(0x80 | n);
    return o + 1;
  }
  if (n < 65536) {
    *o = 0xde;
    return PutBE16(o + 1, static_cast<uint16_t>(n));
  }
  *o = 0xdf;
  return PutBE32(o + 1, n);
}

inline size_t MapHeaderSize(uint32_t n) { return n < 16 ? 1 : n < 65536 ? 3 : 5; }

// Rewrites the map header at `at` (of n pairs, the record's bytes after it
// ending at `end`) for n - 1 pairs; returns the new end (the header can get
// shorter: 16 pairs are a map16, 15 a fixmap).
inline uint8_t* LowerMapCount(uint8_t* at, uint32_t n, uint8_t* end) {
  size_t before = MapHeaderSize(n), after = MapHeaderSize(n - 1);
  if (before != after) {
    memmove(at + after, at + before, static_cast<size_t>(end - (at + before)));
    end -= before - after;
  }
  PutMapHeader(at, n - 1);
  return end;
}

// The map header at `at` (n pairs) raised to n + k, the bytes up to `end`
// moved down when it grows (fixmap to map16, map16 to map32); the new end.
inline uint8_t* RaiseMapCount(uint8_t* at, uint32_t n, uint32_t k, uint8_t* end) {
  size_t before = MapHeaderSize(n), after = MapHeaderSize(n + k);
  if (before != after) {
    memmove(at + after, at + before, static_cast<size_t>(end - (at + before)));
    end += after - before;
  }
  PutMapHeader(at, n + k);
  return end;
}

inline uint8_t* PutUint(uint8_t* o, uint64_t v) {
  if (v < 0x80) {
    *o = static_cast<uint8_t>(v);
    return o + 1;
  }
  if (v < 0x100) {
    o[0] = 0xcc;
    o[1] = static_cast<uint8_t>(v);
    return o + 2;
  }
  if (v < 0x10000) {
    *o = 0xcd;
    return PutBE16(o + 1, static_cast<uint16_t>(v));
  }
  if (v <= 0xffffffffull) {
    *o = 0xce;
    return PutBE32(o + 1, static_cast<uint32_t>(v));
  }
  *o = 0xcf;
  return PutBE64(o + 1, v);
}

inline uint8_t* PutInt(uint8_t* o, int64_t v) {
  if (v >= 0) return PutUint(o, static_cast<uint64_t>(v));
  if (v >= -32) {
    *o = static_cast<uint8_t>(v);  // negative fixint
    return o + 1;
  }
  if (v >= -128) {
    o[0] = 0xd0;
    o[1] = static_cast<uint8_t>(v);
    return o + 2;
  }
  if (v >= -32768) {
    *o = 0xd1;
    return PutBE16(o + 1, static_cast<uint16_t>(v));
  }
  if (v >= INT32_MIN) {
    *o = 0xd2;
    return PutBE32(o + 1, static_cast<uint32_t>(v));
  }
  *o = 0xd3;
  return PutBE64(o + 1, static_cast<uint64_t>(v));
}

}  // namespace ebpf_forward
