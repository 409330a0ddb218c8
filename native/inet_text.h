// IP addresses as text, as Node's net.SocketAddress (libuv's inet_ntop)
// writes them.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ebpf_forward {

// Appends the decimal digits of v.
inline char* PutDecimal(char* t, uint32_t v) {
  char digits[10];
  int k = 0;
  do {
    digits[k++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  while (k) *t++ = digits[--k];
  return t;
}

inline char* PutDottedQuad(char* t, const uint8_t* a) {
  for (int i = 0; i < 4; i++) {
    if (i) *t++ = '.';
    t = PutDecimal(t, a[i]);
  }
  return t;
}

// uv_inet_ntop's text (what net.SocketAddress gives): the longest run of two
// or more zero groups (the first of equal ones) as "::", lower-case hex, and
// a dotted quad for "::ffff:a.b.c.d" and for "::a.b.c.d" (IPv4-compatible;
// its check for "::0.0.0.1" is dead code in libuv, so "::1" stays hex).
inline size_t FormatInet(uint16_t family, const uint8_t addr[16], char text[48]) {
  char* t = text;
  if (family == 2) {
    t = PutDottedQuad(t, addr);
  } else if (family == 10) {
    uint16_t words[8];
    for (int i = 0; i < 8; i++) words[i] = static_cast<uint16_t>(addr[2 * i] << 8 | addr[2 * i + 1]);
    int best_base = -1, best_len = 0, cur_base = -1, cur_len = 0;
    for (int i = 0; i < 8; i++) {
      if (words[i] == 0) {
        if (cur_base == -1) cur_base = i, cur_len = 0;
        cur_len++;
      } else if (cur_base != -1) {
        if (best_base == -1 || cur_len > best_len) best_base = cur_base, best_len = cur_len;
        cur_base = -1;
      }
    }
    if (cur_base != -1 && (best_base == -1 || cur_len > best_len)) best_base = cur_base, best_len = cur_len;
    if (best_base != -1 && best_len < 2) best_base = -1;
    static const char kHex[] = "0123456789abcdef";
    for (int i = 0; i < 8; i++) {
      if (best_base != -1 && i >= best_base && i < best_base + best_len) {
        if (i == best_base) *t++ = ':';
        continue;
      }
      if (i != 0) *t++ = ':';
      if (i == 6 && best_base == 0 && (best_len == 6 || (best_len == 5 && words[5] == 0xffff))) {
        t = PutDottedQuad(t, addr + 12);
        break;
      }
      uint16_t w = words[i];
      bool started = false;
      for (int shift = 12; shift >= 0; shift -= 4) {
        unsigned digit = (w >> shift) & 0xf;
        if (digit || started || shift == 0) {
          *t++ = kHex[digit];
          started = true;
        }
      }
    }
    if (best_base != -1 && best_base + best_len == 8) *t++ = ':';
  }
  return static_cast<size_t>(t - text);
}

}  // namespace ebpf_forward
