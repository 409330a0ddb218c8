// Record bytes as msgpack strings: copied exactly, cut at their NUL, and
// sanitised as Buffer#toString('utf8') does (each invalid sequence one
// U+FFFD, WHATWG's way), the valid ASCII prefix found 8 bytes a step.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "msgpack_write.h"

namespace ebpf_forward {

// Copies n record bytes exactly (never reading past them: the record may end
// a mapping); short ones as two overlapping moves instead of a memcpy call.
inline void CopyBytes(uint8_t* o, const uint8_t* s, size_t n) {
  if (n >= 8 && n <= 16) {
    uint64_t head, tail;
    memcpy(&head, s, 8);
    memcpy(&tail, s + n - 8, 8);
    memcpy(o, &head, 8);
    memcpy(o + n - 8, &tail, 8);
  } else if (n >= 4 && n < 8) {
    uint32_t head, tail;
    memcpy(&head, s, 4);
    memcpy(&tail, s + n - 4, 4);
    memcpy(o, &head, 4);
    memcpy(o + n - 4, &tail, 4);
  } else if (n < 4) {
    for (size_t i = 0; i < n; i++) o[i] = s[i];
  } else {
    memcpy(o, s, n);
  }
}

// Bytes before the first NUL among s[0, n) (n if none), 8 at a step: a zero
// byte in a word is the lowest one flagged by (v - 0x01..) & ~v & 0x80..
// (little-endian; flags above a real zero can be false, the lowest never is).
inline size_t NulIndex(const uint8_t* s, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    memcpy(&v, s + i, 8);
    uint64_t zero = (v - 0x0101010101010101ull) & ~v & 0x8080808080808080ull;
    if (zero) return i + (__builtin_ctzll(zero) >> 3);
  }
  for (; i < n; i++)
    if (!s[i]) return i;
  return n;
}

// Index of the first byte >= 0x80 (n if none), 8 bytes a step.
inline size_t AsciiPrefix(const uint8_t* s, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, s + i, 8);
    if (w & 0x8080808080808080ull) break;
  }
  for (; i < n; i++)
    if (s[i] & 0x80) return i;
  return n;
}

// The UTF-8 sequence at s (s[0] >= 0x80): its length if valid, else 0 with
// *bad = the bytes of its maximal subpart (WHATWG: one U+FFFD replaces them,
// and decoding goes on at the byte that broke the sequence).
inline size_t SequenceAt(const uint8_t* s, size_t n, size_t* bad) {
  uint8_t b = s[0];
  size_t need;
  uint8_t lo = 0x80, hi = 0xbf;
  if (b >= 0xc2 && b <= 0xdf) {
    need = 1;
  } else if (b >= 0xe0 && b <= 0xef) {
    need = 2;
    if (b == 0xe0) lo = 0xa0;  // overlong
    if (b == 0xed) hi = 0x9f;  // surrogates
  } else if (b >= 0xf0 && b <= 0xf4) {
    need = 3;
    if (b == 0xf0) lo = 0x90;  // overlong
    if (b == 0xf4) hi = 0x8f;  // past U+10FFFF
  } else {
    *bad = 1;
    return 0;
  }
  for (size_t k = 1; k <= need; k++) {
    if (k >= n || s[k] < lo || s[k] > hi) {
      *bad = k;
      return 0;
    }
    lo = 0x80;
    hi = 0xbf;
  }
  return need + 1;
}

// Where the first invalid sequence starts (n if the bytes are valid UTF-8).
inline size_t FirstInvalid(const uint8_t* s, size_t n, size_t i) {
  while (i < n) {
    if (s[i] < 0x80) {
      i += AsciiPrefix(s + i, n - i);
      continue;
    }
    size_t bad;
    size_t len = SequenceAt(s + i, n - i, &bad);
    if (!len) return i;
    i += len;
  }
  return n;
}

// The rare case of PutString: s has an invalid sequence at `invalid`.
__attribute__((noinline)) inline uint8_t* PutReplacedString(uint8_t* o, const uint8_t* s, size_t n, size_t invalid) {
  // Count the replaced length first (the header comes before the text).
  size_t out_len = invalid;
  for (size_t i = invalid; i < n;) {
    if (s[i] < 0x80) {
      out_len++;
      i++;
      continue;
    }
    size_t bad;
    size_t len = SequenceAt(s + i, n - i, &bad);
    out_len += len ? len : 3;
    i += len ? len : bad;
  }
  o = PutStrHeader(o, out_len);
  memcpy(o, s, invalid);
  o += invalid;
  for (size_t i = invalid; i < n;) {
    if (s[i] < 0x80) {
      *o++ = s[i++];
      continue;
    }
    size_t bad;
    size_t len = SequenceAt(s + i, n - i, &bad);
    if (len) {
      memcpy(o, s + i, len);
      o += len;
      i += len;
    } else {
      o[0] = 0xef;  // U+FFFD
      o[1] = 0xbf;
      o[2] = 0xbd;
      o += 3;
      i += bad;
    }
  }
  return o;
}

inline uint8_t* PutString(uint8_t* o, const uint8_t* s, size_t n) {
  size_t invalid = FirstInvalid(s, n, AsciiPrefix(s, n));
  if (__builtin_expect(invalid != n, 0)) return PutReplacedString(o, s, n, invalid);
  o = PutStrHeader(o, n);
  CopyBytes(o, s, n);
  return o + n;
}

}  // namespace ebpf_forward
