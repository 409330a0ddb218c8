// The record program interpreter in TypeScript: the reference the native one
// (native/record_encoder.cc) is tested against, and the engine it is
// benchmarked against. Same program (src/records/program.ts), same checks and
// messages, same bytes, same inputs and outputs as RecordProgram.encode.
// Pure: no addon. Written for speed as well (DataView reads and writes, into
// one growing Buffer, nothing allocated per record; runs of LIT copied as
// one, as the native one folds them) so that the comparison is fair.
import type { EncodedBatch } from '../../src/native/addon.js';
import { ContainerNames } from '../../src/records/container-names.js';
import { CONTAINER_ID_MAX, CONTAINER_METADATA_MAX, FIXED_ARGS, NO_DEFAULT, NO_TARGET, Op, type Opcode } from '../../src/records/program.js';

// Indexed by opcode: program.ts's Op and FIXED_ARGS, as arrays for the checks.
const NAMES: string[] = [];
for (const [name, op] of Object.entries(Op)) NAMES[op] = name;
const FIXED: number[] = NAMES.map((_, op) => FIXED_ARGS[op as Opcode]);
/** Resolves CONTAINER_ID: the container id of a cgroup, or undefined. */
export type ContainerIdOf = (cgroupId: bigint, pid: number) => string | undefined;
/** Resolves CONTAINER_METADATA: a container's pre-encoded pairs (with the pod's annotations or not) and their number, or undefined. */
export type ContainerMetadataOf = (containerId: string, withAnnotations: boolean) => { pairs: Buffer; count: number } | undefined;
const noMetadata: ContainerMetadataOf = () => undefined;
const processNames = new ContainerNames();
const processContainerIdOf: ContainerIdOf = (cgroupId, pid) => processNames.containerIdOf(cgroupId, pid);
const AT_FDCWD = -100;
const TWO32 = 0x1_0000_0000;
const NS = 1_000_000_000;
/** Longest INET text ("ffff:...:ffff") and its header. */
const INET_MAX = 40;
/** As native/record_encoder.h kSlack. */
const SLACK = 32;

const isIntSize = (n: number) => n === 1 || n === 2 || n === 4 || n === 8;

// Writers: each takes the output and the position to write at, and returns
// the position after what it wrote (a local in the hot loop, not a field).

function putUint32(o: DataView, p: number, v: number): number {
  if (v < 0x80) {
    o.setUint8(p, v);
    return p + 1;
  }
  if (v < 0x100) {
    o.setUint8(p, 0xcc);
    o.setUint8(p + 1, v);
    return p + 2;
  }
  if (v < 0x10000) {
    o.setUint8(p, 0xcd);
    o.setUint16(p + 1, v);
    return p + 3;
  }
  o.setUint8(p, 0xce);
  return putBE32(o, p + 1, v);
}

function putBE32(o: DataView, p: number, v: number): number {
  o.setUint32(p, v);
  return p + 4;
}

function putUint64(o: DataView, p: number, hi: number, lo: number): number {
  if (hi === 0) return putUint32(o, p, lo);
  o.setUint8(p, 0xcf);
  return putBE32(o, putBE32(o, p + 1, hi), lo);
}

/** A signed integer of at most 32 bits. */
function putInt32(o: DataView, p: number, v: number): number {
  if (v >= 0) return putUint32(o, p, v);
  if (v >= -32) {
    o.setUint8(p, v & 0xff);
    return p + 1;
  }
  if (v >= -128) {
    o.setUint8(p, 0xd0);
    o.setUint8(p + 1, v & 0xff);
    return p + 2;
  }
  if (v >= -32768) {
    o.setUint8(p, 0xd1);
    o.setUint8(p + 1, (v >> 8) & 0xff);
    o.setUint8(p + 2, v & 0xff);
    return p + 3;
  }
  o.setUint8(p, 0xd2);
  return putBE32(o, p + 1, v >>> 0);
}

/** A signed 64-bit integer as u32 halves (two's complement). */
function putInt64(o: DataView, p: number, hi: number, lo: number): number {
  if (hi < 0x80000000) return putUint64(o, p, hi, lo);
  if (hi === 0xffffffff && lo >= 0x80000000) return putInt32(o, p, lo - TWO32);
  o.setUint8(p, 0xd3);
  return putBE32(o, putBE32(o, p + 1, hi), lo);
}

function putHead(o: DataView, p: number, sec: number, nsec: number): number {
  o.setUint8(p, 0x92); // [time, record]
  o.setUint8(p + 1, 0xd7); // fixext 8
  o.setUint8(p + 2, 0x00); // EventTime
  return putBE32(o, putBE32(o, p + 3, sec), nsec);
}

function putStrHeader(o: DataView, p: number, n: number): number {
  if (n < 32) {
    o.setUint8(p, 0xa0 | n);
    return p + 1;
  }
  if (n < 256) {
    o.setUint8(p, 0xd9);
    o.setUint8(p + 1, n);
    return p + 2;
  }
  if (n < 0x10000) {
    o.setUint8(p, 0xda);
    o.setUint8(p + 1, n >>> 8);
    o.setUint8(p + 2, n & 0xff);
    return p + 3;
  }
  o.setUint8(p, 0xdb);
  return putBE32(o, p + 1, n);
}

/** n bytes of src (a view of the pool or of the batch) at `start`, 4 at a step. */
function putBytes(o: DataView, p: number, src: DataView, start: number, n: number): number {
  let i = 0;
  for (; i + 4 <= n; i += 4) o.setUint32(p + i, src.getUint32(start + i));
  for (; i < n; i++) o.setUint8(p + i, src.getUint8(start + i));
  return p + n;
}

const viewOf = (b: Buffer) => new DataView(b.buffer, b.byteOffset, b.length);

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
function putString(o: Buffer, ov: DataView, p: number, src: Buffer, sv: DataView, start: number, n: number): number {
  if (isValidUtf8(src, start, start + n)) return putBytes(ov, putStrHeader(ov, p, n), sv, start, n);
  // Rare: Node's own decoder gives the replacement text.
  const text = src.toString('utf8', start, start + n);
  const m = Buffer.byteLength(text, 'utf8');
  p = putStrHeader(ov, p, m);
  return p + o.write(text, p, m, 'utf8');
}

function putMapHeader(o: DataView, p: number, n: number): number {
  if (n < 16) {
    o.setUint8(p, 0x80 | n);
    return p + 1;
  }
  if (n < 0x10000) {
    o.setUint8(p, 0xde);
    o.setUint16(p + 1, n);
    return p + 3;
  }
  o.setUint8(p, 0xdf);
  return putBE32(o, p + 1, n);
}

const mapHeaderSize = (n: number) => (n < 16 ? 1 : n < 0x10000 ? 3 : 5);

/**
 * The record's map header at `mapAt` rewritten for one pair fewer (a pair
 * left out); what follows it moves up when the header shrinks (map16 of 16
 * to a fixmap of 15). Returns the new write position.
 */
function lowerMapCount(o: Buffer, ov: DataView, mapAt: number, count: number, p: number): number {
  const before = mapHeaderSize(count);
  const after = mapHeaderSize(count - 1);
  if (before !== after) {
    o.copy(o, mapAt + after, mapAt + before, p);
    p -= before - after;
  }
  putMapHeader(ov, mapAt, count - 1);
  return p;
}

function putAscii(o: DataView, p: number, text: string): number {
  p = putStrHeader(o, p, text.length);
  for (let i = 0; i < text.length; i++) o.setUint8(p + i, text.charCodeAt(i));
  return p + text.length;
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
  private readonly poolView: DataView;
  private readonly fixedBound: number;
  private readonly stringBound: number;
  // By LIT word: where in the pool the literal bytes from it to the end of
  // its run are, and the word after the run.
  private readonly litOff: Uint32Array;
  private readonly litLen: Uint32Array;
  private readonly litNext: Uint32Array;
  private buffer: Buffer = Buffer.alloc(64 * 1024);
  private bufferView = viewOf(this.buffer);
  // HEAD_KTIME's cache: the wall time of the last high half of a sum.
  private cachedHigh = -1;
  private cachedSec = 0;
  private cachedNsec = 0;

  /**
   * `containerIdOf` answers CONTAINER_ID (default: one ContainerNames cache
   * for the process, as the native encoder has); `metadataOf`
   * CONTAINER_METADATA (default: no runtime said anything).
   */
  constructor(
    code: Uint32Array,
    pool: Buffer,
    private readonly containerIdOf: ContainerIdOf = processContainerIdOf,
    private readonly metadataOf: ContainerMetadataOf = noMetadata,
  ) {
    this.code = Uint32Array.from(code);
    const checked = validate(this.code, pool.length);
    this.fixedBound = checked.fixed;
    this.stringBound = checked.strings;
    // Each LIT copies the LITs after it too, up to the first that is not one
    // or that a jump lands on (their bytes put together after the pool).
    this.litOff = new Uint32Array(this.code.length);
    this.litLen = new Uint32Array(this.code.length);
    this.litNext = new Uint32Array(this.code.length);
    const folded: number[] = [];
    const starts = checked.starts;
    for (let i = 0; i < starts.length; i++) {
      const w = starts[i]!;
      if (this.code[w] !== Op.LIT) continue;
      let j = i;
      const at = pool.length + folded.length;
      do {
        const k = starts[j]!;
        for (let b = 0; b < this.code[k + 2]!; b++) folded.push(pool[this.code[k + 1]! + b]!);
        j++;
      } while (j < starts.length && this.code[starts[j]!] === Op.LIT && !checked.targets.has(starts[j]!));
      this.litOff[w] = at;
      this.litLen[w] = pool.length + folded.length - at;
      this.litNext[w] = j < starts.length ? starts[j]! : this.code.length;
    }
    this.pool = Buffer.concat([pool, Buffer.from(folded)]);
    this.poolView = viewOf(this.pool);
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
    let out = this.buffer;
    let outView = this.bufferView;
    const batchView = viewOf(batch);
    let pos = 0;
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
        outView = this.bufferView = viewOf(grown);
      }
      const end = this.record(batch, batchView, body, length, out, outView, pos, offHi, offLo, nowSec, nowNsec);
      if (end >= 0) {
        pos = end;
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
      } else if (end === MALFORMED) {
        malformed++; // nothing of it is kept
      } else {
        skipped++;
      }
      at = (body + length + 7) & ~7;
    }
    const entriesBytes = Buffer.allocUnsafe(pos);
    out.copy(entriesBytes, 0, 0, pos);
    return { entries: entriesBytes, count: entries, malformed, skipped, minSec, minNsec, maxSec, maxNsec };
  }

  /** One record at b[base, base + len): its entry written at o[p...], and where it ends; or MALFORMED or SKIPPED. */
  private record(b: Buffer, bv: DataView, base: number, len: number, o: Buffer, ov: DataView, p: number, offHi: number, offLo: number, nowSec: number, nowNsec: number): number {
    const code = this.code;
    const pool = this.poolView;
    let cursor = 0;
    // The record's map header (MAP), which CONTAINER_ID may lower.
    let mapAt = -1;
    let mapCount = 0;
    // CONTAINER_ID's answer, which CONTAINER_METADATA of the same cgroup takes.
    let lookedUp = false;
    let lookedUpCgroup = 0n;
    let lookedUpId: string | undefined;
    hasTime = false;
    for (let pc = 0; ; ) {
      const op = code[pc]!;
      switch (op) {
        case Op.END:
          return p;
        case Op.MIN_LEN:
          if (len < code[pc + 1]!) return MALFORMED;
          pc += 2;
          break;
        case Op.HEAD_KTIME: {
          const off = code[pc + 1]!;
          if (off + 8 > len) return MALFORMED;
          let lo = bv.getUint32(base + off, true) + offLo;
          let carry = 0;
          if (lo >= TWO32) {
            lo -= TWO32;
            carry = 1;
          }
          const hi = (bv.getUint32(base + off + 4, true) + offHi + carry) >>> 0;
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
          p = putHead(ov, p, entrySec, entryNsec);
          pc += 2;
          break;
        }
        case Op.HEAD_NOW:
          hasTime = true;
          entrySec = nowSec;
          entryNsec = nowNsec;
          p = putHead(ov, p, nowSec, nowNsec);
          pc += 1;
          break;
        case Op.LIT:
          p = putBytes(ov, p, pool, this.litOff[pc]!, this.litLen[pc]!);
          pc = this.litNext[pc]!;
          break;
        case Op.UINT: {
          const off = code[pc + 1]!;
          const size = code[pc + 2]!;
          if (off + size > len) return MALFORMED;
          const at = base + off;
          if (size === 8) p = putUint64(ov, p, bv.getUint32(at + 4, true), bv.getUint32(at, true));
          else p = putUint32(ov, p, size === 1 ? b[at]! : size === 2 ? bv.getUint16(at, true) : bv.getUint32(at, true));
          pc += 3;
          break;
        }
        case Op.SINT:
        case Op.ERRNO: {
          const off = code[pc + 1]!;
          const size = code[pc + 2]!;
          if (off + size > len) return MALFORMED;
          const at = base + off;
          let hi: number;
          let lo: number;
          if (size === 8) {
            hi = bv.getUint32(at + 4, true);
            lo = bv.getUint32(at, true);
          } else {
            const v = size === 1 ? (b[at]! << 24) >> 24 : size === 2 ? ((bv.getUint16(at, true)) << 16) >> 16 : bv.getInt32(at, true);
            hi = v < 0 ? 0xffffffff : 0;
            lo = v >>> 0;
          }
          if (op === Op.SINT) p = putInt64(ov, p, hi, lo);
          else if (hi < 0x80000000) ov.setUint8(p++, 0); // not negative: no errno
          else p = putUint64(ov, p, (~hi + (lo === 0 ? 1 : 0)) >>> 0, (TWO32 - lo) % TWO32); // -v
          pc += 3;
          break;
        }
        case Op.BOOL: {
          const off = code[pc + 1]!;
          if (off + 1 > len) return MALFORMED;
          ov.setUint8(p++, b[base + off] !== 0 ? 0xc3 : 0xc2);
          pc += 2;
          break;
        }
        case Op.FLOAT: {
          const off = code[pc + 1]!;
          const size = code[pc + 2]!;
          if (off + size > len) return MALFORMED;
          ov.setUint8(p++, size === 4 ? 0xca : 0xcb);
          for (let i = size - 1; i >= 0; i--) ov.setUint8(p++, b[base + off + i]!);
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
          p = putString(o, ov, p, b, bv, start, end - start);
          pc += 3;
          break;
        }
        case Op.LSTR: {
          const off = code[pc + 1]!;
          const lenOff = code[pc + 2]!;
          const lenSize = code[pc + 3]!;
          if (lenOff + lenSize > len || off > len) return MALFORMED;
          p = putString(o, ov, p, b, bv, base + off, Math.min(readLength(b, base + lenOff, lenSize), len - off));
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
          p = putString(o, ov, p, b, bv, base + cursor, n);
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
          const dirfd = bv.getUint32(base + dirfdOff, true) | 0;
          // The mask is 32 bits: only the flags' low word can matter.
          const flags = flagsSize === 1 ? b[base + flagsOff]! : flagsSize === 2 ? b[base + flagsOff]! | (b[base + flagsOff + 1]! << 8) : bv.getUint32(base + flagsOff, true);
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
          p = putString(o, ov, p, b, bv, start, n);
          pc += 7;
          break;
        }
        case Op.INET: {
          const familyOff = code[pc + 1]!;
          const addrOff = code[pc + 2]!;
          if (familyOff + 2 > len || addrOff + 16 > len) return MALFORMED;
          const family = b[base + familyOff]! | (b[base + familyOff + 1]! << 8);
          const a = base + addrOff;
          p = putAscii(ov, p, family === 2 ? `${b[a]}.${b[a + 1]}.${b[a + 2]}.${b[a + 3]}` : family === 10 ? inet6Text(b, a) : '');
          pc += 3;
          break;
        }
        case Op.ENUM: {
          const off = code[pc + 1]!;
          const size = code[pc + 2]!;
          const signed = code[pc + 3]! === 1;
          const n = code[pc + 4]!;
          if (off + size > len) return MALFORMED;
          const at = base + off;
          let hi: number;
          let lo: number;
          if (size === 8) {
            hi = bv.getUint32(at + 4, true);
            lo = bv.getUint32(at, true);
          } else {
            const u = size === 1 ? b[at]! : size === 2 ? bv.getUint16(at, true) : bv.getUint32(at, true);
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
          if (hit >= 0) p = putBytes(ov, p, pool, code[hit + 2]!, code[hit + 3]!);
          else if (code[pc + 6] !== NO_DEFAULT) p = putBytes(ov, p, pool, code[pc + 5]!, code[pc + 6]!);
          else if (signed) p = putInt64(ov, p, hi, lo);
          else p = putUint64(ov, p, hi, lo);
          pc += 7 + 4 * n;
          break;
        }
        case Op.SWITCH: {
          const off = code[pc + 1]!;
          const size = code[pc + 2]!;
          const n = code[pc + 3]!;
          if (off + size > len) return MALFORMED;
          const at = base + off;
          const high = size === 8 ? bv.getUint32(at + 4, true) : 0;
          const value = size === 1 ? b[at]! : size === 2 ? bv.getUint16(at, true) : bv.getUint32(at, true);
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
        case Op.MAP:
          mapAt = p;
          mapCount = code[pc + 1]!;
          p = putMapHeader(ov, p, mapCount);
          pc += 2;
          break;
        case Op.CONTAINER_ID: {
          const idOff = code[pc + 1]!;
          const pidOff = code[pc + 2]!;
          if (idOff + 8 > len || pidOff + 4 > len) return MALFORMED;
          const cgroupId = (BigInt(bv.getUint32(base + idOff + 4, true)) << 32n) | BigInt(bv.getUint32(base + idOff, true));
          const id = this.containerIdOf(cgroupId, bv.getUint32(base + pidOff, true));
          lookedUp = true;
          lookedUpCgroup = cgroupId;
          lookedUpId = id;
          if (id !== undefined) {
            p = putBytes(ov, p, pool, code[pc + 3]!, code[pc + 4]!);
            p = putAscii(ov, p, id);
          } else {
            if (mapAt < 0 || mapCount === 0) return MALFORMED;
            p = lowerMapCount(o, ov, mapAt, mapCount--, p);
          }
          pc += 5;
          break;
        }
        case Op.UINT_NONZERO: {
          const off = code[pc + 1]!;
          const size = code[pc + 2]!;
          if (off + size > len) return MALFORMED;
          const at = base + off;
          const hi = size === 8 ? bv.getUint32(at + 4, true) : 0;
          const lo = size === 1 ? b[at]! : size === 2 ? bv.getUint16(at, true) : bv.getUint32(at, true);
          if (hi !== 0 || lo !== 0) {
            p = putBytes(ov, p, pool, code[pc + 3]!, code[pc + 4]!);
            p = size === 8 ? putUint64(ov, p, hi, lo) : putUint32(ov, p, lo);
          } else {
            if (mapAt < 0 || mapCount === 0) return MALFORMED;
            p = lowerMapCount(o, ov, mapAt, mapCount--, p);
          }
          pc += 5;
          break;
        }
        case Op.CONTAINER_METADATA: {
          const idOff = code[pc + 1]!;
          const pidOff = code[pc + 2]!;
          if (idOff + 8 > len || pidOff + 4 > len) return MALFORMED;
          const cgroupId = (BigInt(bv.getUint32(base + idOff + 4, true)) << 32n) | BigInt(bv.getUint32(base + idOff, true));
          const id = lookedUp && lookedUpCgroup === cgroupId ? lookedUpId : this.containerIdOf(cgroupId, bv.getUint32(base + pidOff, true));
          const metadata = id === undefined ? undefined : this.metadataOf(id, code[pc + 3] === 1);
          if (metadata && metadata.count > 0) {
            if (mapAt < 0) return MALFORMED;
            const before = mapHeaderSize(mapCount);
            mapCount += metadata.count;
            const after = mapHeaderSize(mapCount);
            if (before !== after) {
              o.copy(o, mapAt + after, mapAt + before, p);
              p += after - before;
            }
            putMapHeader(ov, mapAt, mapCount);
            metadata.pairs.copy(o, p);
            p += metadata.pairs.length;
          }
          pc += 4;
          break;
        }
        default:
          throw new Error(`record program: word ${pc}: unknown opcode ${op}`); // (validated: never)
      }
    }
  }
}

const MALFORMED = -1;
const SKIPPED = -2;
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
 * messages; returns its output bound (fixed bytes and strings over its
 * longest path), its instruction starts and its jump targets.
 */
function validate(code: Uint32Array, poolSize: number): { fixed: number; strings: number; starts: number[]; targets: Set<number> } {
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
      case Op.CONTAINER_ID:
        if (!inPool(arg(2), arg(3))) fail(w, `CONTAINER_ID key pool range ${arg(2)}+${arg(3)} is outside the pool (${poolSize} bytes)`);
        break;
      case Op.CONTAINER_METADATA:
        if (arg(2) > 1) fail(w, `CONTAINER_METADATA annotations flag ${arg(2)} is not 0 or 1`);
        break;
      case Op.UINT_NONZERO:
        if (!isIntSize(arg(1))) fail(w, `UINT_NONZERO size ${arg(1)} is not 1, 2, 4 or 8`);
        if (!inPool(arg(2), arg(3))) fail(w, `UINT_NONZERO key pool range ${arg(2)}+${arg(3)} is outside the pool (${poolSize} bytes)`);
        break;
    }
    indexOf[w] = starts.length;
    starts.push(w);
    w += length;
  }
  const count = starts.length;

  const next: number[][] = [];
  const targets = new Set<number>();
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
      targets.add(target);
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
      case Op.MAP:
        own = 5;
        break;
      case Op.CONTAINER_ID:
        own = arg(3) + 2 + CONTAINER_ID_MAX;
        break;
      case Op.CONTAINER_METADATA:
        own = CONTAINER_METADATA_MAX + 4;
        break;
      case Op.UINT_NONZERO:
        own = arg(3) + 9;
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
  return { fixed: fixed[0]!, strings: strings[0]!, starts, targets };
}
