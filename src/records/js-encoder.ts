// The record program interpreter in TypeScript: the reference the native one
// (native/record_encoder.cc) is tested against, and the engine it is
// benchmarked against. Same program (src/records/program.ts), same checks and
// messages, same bytes, same inputs and outputs as RecordProgram.encode.
// Pure: no addon. Written for speed as well (direct byte reads and writes into
// one growing Buffer, nothing allocated per record) so the comparison is fair.
import type { EncodedBatch } from '../native/addon.js';
import { NO_DEFAULT, NO_TARGET, Op } from './program.js';

// Indexed by opcode (program.ts FIXED_ARGS, as an array for the checks).
const FIXED = [0, 1, 1, 0, 2, 2, 2, 2, 1, 2, 2, 3, 1, 2, 6, 2, 6, 4];
const NAMES = ['END', 'MIN_LEN', 'HEAD_KTIME', 'HEAD_NOW', 'LIT', 'UINT', 'SINT', 'ERRNO', 'BOOL', 'FLOAT', 'CSTR', 'LSTR', 'TAIL', 'TSTR', 'TSTR_FDPATH', 'INET', 'ENUM', 'SWITCH'];
const AT_FDCWD = -100;
const TWO32 = 0x1_0000_0000;
const NS = 1_000_000_000;
/** Longest INET text ("ffff:...:ffff") and its header. */
const INET_MAX = 40;
/** As native/record_encoder.h kSlack. */
const SLACK = 32;

const isIntSize = (n: number) => n === 1 || n === 2 || n === 4 || n === 8;

// The entry bytes being written: one Buffer per encoder, grown as needed;
// module state so the hot loop reads and writes plain variables.
let out: Buffer = Buffer.alloc(0);
let pos = 0;

function putUint32(v: number): void {
  if (v < 0x80) {
    out[pos++] = v;
  } else if (v < 0x100) {
    out[pos++] = 0xcc;
    out[pos++] = v;
  } else if (v < 0x10000) {
    out[pos++] = 0xcd;
    out[pos++] = v >>> 8;
    out[pos++] = v & 0xff;
  } else {
    out[pos++] = 0xce;
    putBE32(v);
  }
}

function putBE32(v: number): void {
  out[pos++] = v >>> 24;
  out[pos++] = (v >>> 16) & 0xff;
  out[pos++] = (v >>> 8) & 0xff;
  out[pos++] = v & 0xff;
}

function putUint64(hi: number, lo: number): void {
  if (hi === 0) return putUint32(lo);
  out[pos++] = 0xcf;
  putBE32(hi);
  putBE32(lo);
}

/** A signed integer of at most 32 bits. */
function putInt32(v: number): void {
  if (v >= 0) return putUint32(v);
  if (v >= -32) {
    out[pos++] = v & 0xff;
  } else if (v >= -128) {
    out[pos++] = 0xd0;
    out[pos++] = v & 0xff;
  } else if (v >= -32768) {
    out[pos++] = 0xd1;
    out[pos++] = (v >> 8) & 0xff;
    out[pos++] = v & 0xff;
  } else {
    out[pos++] = 0xd2;
    putBE32(v >>> 0);
  }
}

/** A signed 64-bit integer as u32 halves (two's complement). */
function putInt64(hi: number, lo: number): void {
  if (hi < 0x80000000) return putUint64(hi, lo);
  if (hi === 0xffffffff && lo >= 0x80000000) return putInt32(lo - TWO32);
  out[pos++] = 0xd3;
  putBE32(hi);
  putBE32(lo);
}

function putHead(sec: number, nsec: number): void {
  out[pos++] = 0x92; // [time, record]
  out[pos++] = 0xd7; // fixext 8
  out[pos++] = 0x00; // EventTime
  putBE32(sec);
  putBE32(nsec);
}

function putStrHeader(n: number): void {
  if (n < 32) {
    out[pos++] = 0xa0 | n;
  } else if (n < 256) {
    out[pos++] = 0xd9;
    out[pos++] = n;
  } else if (n < 0x10000) {
    out[pos++] = 0xda;
    out[pos++] = n >>> 8;
    out[pos++] = n & 0xff;
  } else {
    out[pos++] = 0xdb;
    putBE32(n);
  }
}

function putBytes(src: Buffer, start: number, n: number): void {
  if (n <= 16) {
    for (let i = 0; i < n; i++) out[pos + i] = src[start + i]!;
  } else {
    src.copy(out, pos, start, start + n);
  }
  pos += n;
}

/** Whether src[start, end) is valid UTF-8 (the WHATWG decoder's rules). */
function isValidUtf8(src: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; ) {
    const b = src[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    } else return false;
    for (let k = 1; k <= need; k++) {
      const c = i + k < end ? src[i + k]! : -1;
      if (c < lo || c > hi) return false;
      lo = 0x80;
      hi = 0xbf;
    }
    i += need + 1;
  }
  return true;
}

/** A string of src[start, start + n), sanitised as Buffer#toString('utf8') does. */
function putString(src: Buffer, start: number, n: number): void {
  if (isValidUtf8(src, start, start + n)) {
    putStrHeader(n);
    putBytes(src, start, n);
    return;
  }
  // Rare: Node's own decoder gives the replacement text.
  const text = src.toString('utf8', start, start + n);
  const m = Buffer.byteLength(text, 'utf8');
  putStrHeader(m);
  pos += out.write(text, pos, m, 'utf8');
}

function putAscii(text: string): void {
  putStrHeader(text.length);
  for (let i = 0; i < text.length; i++) out[pos++] = text.charCodeAt(i);
}

/**
 * uv_inet_ntop's IPv6 text, as net.SocketAddress gives it: the longest run
 * of two or more zero groups (the first of equal ones) as "::", lower-case
 * hex, a dotted quad for "::ffff:a.b.c.d" and "::a.b.c.d" (libuv's check for
 * "::0.0.0.1" is dead code, so "::1" stays hex).
 */
export function inet6Text(b: Uint8Array, at: number): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((b[at + 2 * i]! << 8) | b[at + 2 * i + 1]!);
  let bestBase = -1;
  let bestLen = 0;
  let curBase = -1;
  let curLen = 0;
  for (let i = 0; i < 8; i++) {
    if (words[i] === 0) {
      if (curBase === -1) {
        curBase = i;
        curLen = 0;
      }
      curLen++;
    } else if (curBase !== -1) {
      if (bestBase === -1 || curLen > bestLen) {
        bestBase = curBase;
        bestLen = curLen;
      }
      curBase = -1;
    }
  }
  if (curBase !== -1 && (bestBase === -1 || curLen > bestLen)) {
    bestBase = curBase;
    bestLen = curLen;
  }
  if (bestBase !== -1 && bestLen < 2) bestBase = -1;
  let text = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase !== -1 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) text += ':';
      continue;
    }
    if (i !== 0) text += ':';
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))) {
      return `${text}${b[at + 12]}.${b[at + 13]}.${b[at + 14]}.${b[at + 15]}`;
    }
    text += words[i]!.toString(16);
  }
  if (bestBase !== -1 && bestBase + bestLen === 8) text += ':';
  return text;
}

/** A record program (program.ts) run in TypeScript. The constructor validates it as the native one does. */
export class JsRecordEncoder {
  private readonly code: Uint32Array;
  private readonly pool: Buffer;
  private readonly fixedBound: number;
  private readonly stringBound: number;
  private buffer: Buffer = Buffer.alloc(64 * 1024);
  // HEAD_KTIME's cache: the wall time of the last high half of a sum.
  private cachedHigh = -1;
  private cachedSec = 0;
  private cachedNsec = 0;

  constructor(code: Uint32Array, pool: Buffer) {
    this.code = Uint32Array.from(code);
    this.pool = Buffer.from(pool);
    [this.fixedBound, this.stringBound] = validate(this.code, this.pool.length);
  }

  /** Bytes an entry of a record of `length` bytes can take at most (as native Bound()). */
  bound(length: number): number {
    return this.fixedBound + this.stringBound * (5 + 3 * length) + SLACK;
  }

  encode(batch: Buffer, count: number, clockOffsetNs: bigint, nowNs: bigint): EncodedBatch {
    const offset = BigInt.asUintN(64, clockOffsetNs);
    const offLo = Number(offset & 0xffffffffn);
    const offHi = Number(offset >> 32n);
    const nowSec = Number(BigInt.asUintN(64, nowNs) / 1_000_000_000n) >>> 0;
    const nowNsec = Number(BigInt.asUintN(64, nowNs) % 1_000_000_000n);
    out = this.buffer;
    pos = 0;
    let at = 0;
    let entries = 0;
    let malformed = 0;
    let skipped = 0;
    let minSec = 0;
    let minNsec = 0;
    let maxSec = 0;
    let maxNsec = 0;
    let anyTime = false;
    for (let i = 0; i < count; i++) {
      if (at + 8 > batch.length) throw new RangeError(`record ${i}: its header at byte ${at} is past the batch's end (${batch.length} bytes)`);
      const length = batch.readUInt32LE(at);
      const body = at + 8;
      if (length > batch.length - body) throw new RangeError(`record ${i}: its ${length} bytes at byte ${body} run past the batch's end (${batch.length} bytes)`);
      const need = pos + this.bound(length);
      if (need > out.length) {
        let size = out.length;
        while (size < need) size *= 2;
        const grown = Buffer.alloc(size);
        out.copy(grown, 0, 0, pos);
        out = this.buffer = grown;
      }
      const start = pos;
      const outcome = this.record(batch, body, length, offHi, offLo, nowSec, nowNsec);
      if (outcome === ENTRY) {
        entries++;
        if (hasTime) {
          if (!anyTime || entrySec < minSec || (entrySec === minSec && entryNsec < minNsec)) {
            minSec = entrySec;
            minNsec = entryNsec;
          }
          if (!anyTime || entrySec > maxSec || (entrySec === maxSec && entryNsec > maxNsec)) {
            maxSec = entrySec;
            maxNsec = entryNsec;
          }
          anyTime = true;
        }
      } else {
        pos = start; // nothing of it is written
        if (outcome === MALFORMED) malformed++;
        else skipped++;
      }
      at = (body + length + 7) & ~7;
    }
    const entriesBytes = Buffer.allocUnsafe(pos);
    out.copy(entriesBytes, 0, 0, pos);
    return { entries: entriesBytes, count: entries, malformed, skipped, minSec, minNsec, maxSec, maxNsec };
  }

  /** One record at b[base, base + len): ENTRY (its entry written at pos), MALFORMED or SKIPPED. */
  private record(b: Buffer, base: number, len: number, offHi: number, offLo: number, nowSec: number, nowNsec: number): number {
    const code = this.code;
    const pool = this.pool;
    let cursor = 0;
    hasTime = false;
    for (let pc = 0; ; ) {
      const op = code[pc]!;
      switch (op) {
        case Op.END:
          return ENTRY;
        case Op.MIN_LEN:
          if (len < code[pc + 1]!) return MALFORMED;
          pc += 2;
          break;
        case Op.HEAD_KTIME: {
          const off = code[pc + 1]!;
          if (off + 8 > len) return MALFORMED;
          let lo = u32(b, base + off) + offLo;
          let carry = 0;
          if (lo >= TWO32) {
            lo -= TWO32;
            carry = 1;
          }
          const hi = (u32(b, base + off + 4) + offHi + carry) >>> 0;
          if (hi !== this.cachedHigh) {
            const wall = BigInt(hi) << 32n;
            this.cachedSec = Number(wall / 1_000_000_000n);
            this.cachedNsec = Number(wall % 1_000_000_000n);
            this.cachedHigh = hi;
          }
          const n = this.cachedNsec + lo;
          const extra = Math.floor(n / NS);
          hasTime = true;
          entrySec = (this.cachedSec + extra) >>> 0;
          entryNsec = n - extra * NS;
          putHead(entrySec, entryNsec);
          pc += 2;
          break;
        }
        case Op.HEAD_NOW:
          hasTime = true;
          entrySec = nowSec;
          entryNsec = nowNsec;
          putHead(nowSec, nowNsec);
          pc += 1;
          break;
        case Op.LIT:
          putBytes(pool, code[pc + 1]!, code[pc + 2]!);
          pc += 3;
          break;
        case Op.UINT: {
          const off = code[pc + 1]!;
          const size = code[pc + 2]!;
          if (off + size > len) return MALFORMED;
          const p = base + off;
          if (size === 8) putUint64(u32(b, p + 4), u32(b, p));
          else putUint32(size === 1 ? b[p]! : size === 2 ? b[p]! | (b[p + 1]! << 8) : u32(b, p));
          pc += 3;
          break;
        }
        case Op.SINT:
        case Op.ERRNO: {
          const off = code[pc + 1]!;
          const size = code[pc + 2]!;
          if (off + size > len) return MALFORMED;
          const p = base + off;
          let hi: number;
          let lo: number;
          if (size === 8) {
            hi = u32(b, p + 4);
            lo = u32(b, p);
          } else {
            const v = size === 1 ? (b[p]! << 24) >> 24 : size === 2 ? ((b[p]! | (b[p + 1]! << 8)) << 16) >> 16 : u32(b, p) | 0;
            hi = v < 0 ? 0xffffffff : 0;
            lo = v >>> 0;
          }
          if (op === Op.SINT) putInt64(hi, lo);
          else if (hi < 0x80000000) out[pos++] = 0; // not negative: no errno
          else putUint64((~hi + (lo === 0 ? 1 : 0)) >>> 0, (TWO32 - lo) % TWO32); // -v
          pc += 3;
          break;
        }
        case Op.BOOL: {
          const off = code[pc + 1]!;
          if (off + 1 > len) return MALFORMED;
          out[pos++] = b[base + off] !== 0 ? 0xc3 : 0xc2;
          pc += 2;
          break;
        }
        case Op.FLOAT: {
          const off = code[pc + 1]!;
          const size = code[pc + 2]!;
          if (off + size > len) return MALFORMED;
          out[pos++] = size === 4 ? 0xca : 0xcb;
          for (let i = size - 1; i >= 0; i--) out[pos++] = b[base + off + i]!;
          pc += 3;
          break;
        }
        case Op.CSTR: {
          const off = code[pc + 1]!;
          if (off > len) return MALFORMED;
          const start = base + off;
          const stop = start + Math.min(code[pc + 2]!, len - off);
          let end = start;
          while (end < stop && b[end] !== 0) end++;
          putString(b, start, end - start);
          pc += 3;
          break;
        }
        case Op.LSTR: {
          const off = code[pc + 1]!;
          const lenOff = code[pc + 2]!;
          const lenSize = code[pc + 3]!;
          if (lenOff + lenSize > len || off > len) return MALFORMED;
          putString(b, base + off, Math.min(readLength(b, base + lenOff, lenSize), len - off));
          pc += 4;
          break;
        }
        case Op.TAIL:
          cursor = code[pc + 1]!;
          pc += 2;
          break;
        case Op.TSTR: {
          const lenOff = code[pc + 1]!;
          const lenSize = code[pc + 2]!;
          if (lenOff + lenSize > len || cursor > len) return MALFORMED;
          const n = Math.min(readLength(b, base + lenOff, lenSize), len - cursor);
          putString(b, base + cursor, n);
          cursor += n;
          pc += 3;
          break;
        }
        case Op.TSTR_FDPATH: {
          const lenOff = code[pc + 1]!;
          const lenSize = code[pc + 2]!;
          const dirfdOff = code[pc + 3]!;
          const flagsOff = code[pc + 4]!;
          const flagsSize = code[pc + 5]!;
          const mask = code[pc + 6]!;
          if (lenOff + lenSize > len || dirfdOff + 4 > len || flagsOff + flagsSize > len || cursor > len) return MALFORMED;
          let n = Math.min(readLength(b, base + lenOff, lenSize), len - cursor);
          let start = base + cursor;
          cursor += n;
          const dirfd = u32(b, base + dirfdOff) | 0;
          // The mask is 32 bits: only the flags' low word can matter.
          const flags = flagsSize === 1 ? b[base + flagsOff]! : flagsSize === 2 ? b[base + flagsOff]! | (b[base + flagsOff + 1]! << 8) : u32(b, base + flagsOff);
          if (((flags & mask) >>> 0) === mask && dirfd !== AT_FDCWD) {
            // The kernel's name for a path relative to dirfd: "/dev/fd/<dirfd>[/rest]".
            const prefix = `/dev/fd/${dirfd}`;
            const plen = prefix.length;
            let same = n >= plen;
            for (let i = 0; same && i < plen; i++) same = b[start + i] === prefix.charCodeAt(i);
            if (same && n === plen) {
              start += n;
              n = 0;
            } else if (same && b[start + plen] === 0x2f) {
              start += plen + 1;
              n -= plen + 1;
            }
          }
          putString(b, start, n);
          pc += 7;
          break;
        }
        case Op.INET: {
          const familyOff = code[pc + 1]!;
          const addrOff = code[pc + 2]!;
          if (familyOff + 2 > len || addrOff + 16 > len) return MALFORMED;
          const family = b[base + familyOff]! | (b[base + familyOff + 1]! << 8);
          const a = base + addrOff;
          putAscii(family === 2 ? `${b[a]}.${b[a + 1]}.${b[a + 2]}.${b[a + 3]}` : family === 10 ? inet6Text(b, a) : '');
          pc += 3;
          break;
        }
        case Op.ENUM: {
          const off = code[pc + 1]!;
          const size = code[pc + 2]!;
          const signed = code[pc + 3]! === 1;
          const n = code[pc + 4]!;
          if (off + size > len) return MALFORMED;
          const p = base + off;
          let hi: number;
          let lo: number;
          if (size === 8) {
            hi = u32(b, p + 4);
            lo = u32(b, p);
          } else {
            const u = size === 1 ? b[p]! : size === 2 ? b[p]! | (b[p + 1]! << 8) : u32(b, p);
            const shift = 32 - 8 * size;
            const v = signed ? (u << shift) >> shift : u;
            hi = v < 0 ? 0xffffffff : 0;
            lo = v >>> 0;
          }
          let hit = -1;
          for (let c = 0, k = pc + 7; c < n; c++, k += 4) {
            if (code[k] === lo && code[k + 1] === hi) {
              hit = k;
              break;
            }
          }
          if (hit >= 0) putBytes(pool, code[hit + 2]!, code[hit + 3]!);
          else if (code[pc + 6] !== NO_DEFAULT) putBytes(pool, code[pc + 5]!, code[pc + 6]!);
          else if (signed) putInt64(hi, lo);
          else putUint64(hi, lo);
          pc += 7 + 4 * n;
          break;
        }
        case Op.SWITCH: {
          const off = code[pc + 1]!;
          const size = code[pc + 2]!;
          const n = code[pc + 3]!;
          if (off + size > len) return MALFORMED;
          const p = base + off;
          const high = size === 8 ? u32(b, p + 4) : 0;
          const value = size === 1 ? b[p]! : size === 2 ? b[p]! | (b[p + 1]! << 8) : u32(b, p);
          let target = code[pc + 4]!;
          if (high === 0) {
            for (let c = 0, k = pc + 5; c < n; c++, k += 2) {
              if (code[k] === value) {
                target = code[k + 1]!;
                break;
              }
            }
          }
          if (target === NO_TARGET) return SKIPPED;
          pc = target;
          break;
        }
        default:
          throw new Error(`record program: word ${pc}: unknown opcode ${op}`); // (validated: never)
      }
    }
  }
}

const ENTRY = 0;
const MALFORMED = 1;
const SKIPPED = 2;
// The time of the record being encoded (its last head).
let hasTime = false;
let entrySec = 0;
let entryNsec = 0;

function u32(b: Uint8Array, p: number): number {
  return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
}

/** A string length field; one past 2^32 is as good as infinite (strings are cut at the record's end). */
function readLength(b: Uint8Array, p: number, size: number): number {
  if (size === 1) return b[p]!;
  if (size === 2) return b[p]! | (b[p + 1]! << 8);
  if (size === 4) return u32(b, p);
  return u32(b, p + 4) !== 0 ? Infinity : u32(b, p);
}

/**
 * Checks a program as native RecordEncoder::Compile does, with the same
 * messages; returns its output bound: [fixed bytes, strings] over its longest path.
 */
function validate(code: Uint32Array, poolSize: number): [number, number] {
  const fail = (at: number, what: string): never => {
    throw new Error(`record program: word ${at}: ${what}`);
  };
  const inPool = (off: number, len: number) => off + len <= poolSize;
  const words = code.length;
  if (words === 0) throw new Error('record program: no code');

  const starts: number[] = [];
  const indexOf = new Int32Array(words).fill(-1);
  for (let w = 0; w < words; ) {
    const op = code[w]!;
    if (op >= FIXED.length) fail(w, `unknown opcode ${op}`);
    const name = NAMES[op]!;
    let length = 1 + FIXED[op]!;
    if (w + length > words) fail(w, `${name} needs ${FIXED[op]} argument words; the code ends first`);
    const arg = (i: number) => code[w + 1 + i]!;
    if (op === Op.ENUM) length += 4 * arg(3);
    if (op === Op.SWITCH) length += 2 * arg(2);
    if (w + length > words) fail(w, `${name} has ${op === Op.ENUM ? arg(3) : arg(2)} cases; the code ends first`);
    switch (op) {
      case Op.LIT:
        if (!inPool(arg(0), arg(1))) fail(w, `LIT pool range ${arg(0)}+${arg(1)} is outside the pool (${poolSize} bytes)`);
        break;
      case Op.UINT:
      case Op.SINT:
      case Op.ERRNO:
        if (!isIntSize(arg(1))) fail(w, `${name} size ${arg(1)} is not 1, 2, 4 or 8`);
        break;
      case Op.FLOAT:
        if (arg(1) !== 4 && arg(1) !== 8) fail(w, `FLOAT size ${arg(1)} is not 4 or 8`);
        break;
      case Op.LSTR:
        if (!isIntSize(arg(2))) fail(w, `LSTR length size ${arg(2)} is not 1, 2, 4 or 8`);
        break;
      case Op.TSTR:
        if (!isIntSize(arg(1))) fail(w, `TSTR length size ${arg(1)} is not 1, 2, 4 or 8`);
        break;
      case Op.TSTR_FDPATH:
        if (!isIntSize(arg(1))) fail(w, `TSTR_FDPATH length size ${arg(1)} is not 1, 2, 4 or 8`);
        if (!isIntSize(arg(4))) fail(w, `TSTR_FDPATH flags size ${arg(4)} is not 1, 2, 4 or 8`);
        break;
      case Op.ENUM:
        if (!isIntSize(arg(1))) fail(w, `ENUM size ${arg(1)} is not 1, 2, 4 or 8`);
        if (arg(2) > 1) fail(w, `ENUM signed flag ${arg(2)} is not 0 or 1`);
        if (arg(5) !== NO_DEFAULT && !inPool(arg(4), arg(5))) fail(w, `ENUM default pool range ${arg(4)}+${arg(5)} is outside the pool (${poolSize} bytes)`);
        for (let i = 0; i < arg(3); i++) {
          const off = arg(6 + 4 * i + 2);
          const len = arg(6 + 4 * i + 3);
          if (!inPool(off, len)) fail(w, `ENUM case ${i} pool range ${off}+${len} is outside the pool (${poolSize} bytes)`);
        }
        break;
      case Op.SWITCH:
        if (!isIntSize(arg(1))) fail(w, `SWITCH size ${arg(1)} is not 1, 2, 4 or 8`);
        break;
    }
    indexOf[w] = starts.length;
    starts.push(w);
    w += length;
  }
  const count = starts.length;

  const next: number[][] = [];
  for (let i = 0; i < count; i++) {
    const w = starts[i]!;
    const op = code[w]!;
    const successors: number[] = [];
    next.push(successors);
    if (op === Op.END) continue;
    if (op !== Op.SWITCH) {
      successors.push(i + 1 < count ? i + 1 : -1);
      continue;
    }
    const targetIndex = (target: number) => {
      if (target >= words || indexOf[target]! < 0) fail(w, `SWITCH target ${target} is not the start of an instruction`);
      return indexOf[target]!;
    };
    if (code[w + 4] !== NO_TARGET) successors.push(targetIndex(code[w + 4]!));
    for (let c = 0; c < code[w + 3]!; c++) successors.push(targetIndex(code[w + 6 + 2 * c]!));
  }

  // Every path from word 0 reaches END; post-order gives the longest output.
  const state = new Uint8Array(count);
  const fixed = new Float64Array(count);
  const strings = new Float64Array(count);
  const stack: [number, number][] = [[0, 0]];
  state[0] = 1;
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const i = top[0];
    const successors = next[i]!;
    if (top[1] < successors.length) {
      const s = successors[top[1]++]!;
      if (s < 0) fail(starts[i]!, `${NAMES[code[starts[i]!]!]} is the last instruction and not END: a path runs past the end of the code`);
      if (state[s] === 1) fail(starts[i]!, `a loop: SWITCH jumps back to word ${starts[s]}`);
      if (state[s] === 0) {
        state[s] = 1;
        stack.push([s, 0]);
      }
      continue;
    }
    const w = starts[i]!;
    const arg = (k: number) => code[w + 1 + k]!;
    let own = 0;
    let ownStrings = 0;
    switch (code[w]) {
      case Op.HEAD_KTIME:
      case Op.HEAD_NOW:
        own = 11;
        break;
      case Op.LIT:
        own = arg(1);
        break;
      case Op.UINT:
      case Op.SINT:
      case Op.ERRNO:
      case Op.FLOAT:
        own = 9;
        break;
      case Op.BOOL:
        own = 1;
        break;
      case Op.CSTR:
      case Op.LSTR:
      case Op.TSTR:
      case Op.TSTR_FDPATH:
        ownStrings = 1;
        break;
      case Op.INET:
        own = INET_MAX;
        break;
      case Op.ENUM:
        own = 9;
        if (arg(5) !== NO_DEFAULT) own = Math.max(own, arg(5));
        for (let c = 0; c < arg(3); c++) own = Math.max(own, arg(6 + 4 * c + 3));
        break;
    }
    let afterFixed = 0;
    let afterStrings = 0;
    for (const s of successors) {
      afterFixed = Math.max(afterFixed, fixed[s]!);
      afterStrings = Math.max(afterStrings, strings[s]!);
    }
    fixed[i] = own + afterFixed;
    strings[i] = ownStrings + afterStrings;
    state[i] = 2;
    stack.pop();
  }
  return [fixed[0]!, strings[0]!];
}
