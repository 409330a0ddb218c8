// The record program interpreters: native (RecordProgram, native/
// record_encoder.cc) and TypeScript (test/support/js-encoder.ts). Every case
// runs both and requires the same result, byte for byte; values are checked
// independently (exact msgpack forms, @msgpack/msgpack decoding, Node's own
// UTF-8 decoder and SocketAddress).
import { SocketAddress } from 'node:net';
import { decodeMulti, encode, ExtensionCodec } from '@msgpack/msgpack';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { openRecordProgram, type EncodedBatch } from '../../src/native/addon.js';
import { JsRecordEncoder } from '../support/js-encoder.js';
import { Op } from '../../src/records/program.js';
import { batchOf, program, type ProgramBuilder } from '../support/program-builder.js';

type Built = { code: Uint32Array; pool: Buffer };
const engines = {
  native: (p: Built) => openRecordProgram(p.code, p.pool),
  js: (p: Built) => new JsRecordEncoder(p.code, p.pool),
};

/** Both engines over the records; their results must be identical. */
function encodeBoth(p: ProgramBuilder | Built, records: readonly Uint8Array[], clockOffsetNs = 0n, nowNs = 0n): EncodedBatch {
  const built = 'build' in p ? p.build() : p;
  const batch = batchOf(records);
  const native = engines.native(built).encode(batch, records.length, clockOffsetNs, nowNs);
  const js = engines.js(built).encode(batch, records.length, clockOffsetNs, nowNs);
  // Buffers compared as bytes (a deep equality of large ones is slow); where they differ, shown.
  if (!js.entries.equals(native.entries)) {
    let at = 0;
    while (js.entries[at] === native.entries[at]) at++;
    expect(js.entries.subarray(Math.max(0, at - 16), at + 16).toString('hex'), `entries differ at byte ${at}`).toBe(native.entries.subarray(Math.max(0, at - 16), at + 16).toString('hex'));
  }
  expect({ ...js, entries: null }).toEqual({ ...native, entries: null });
  return native;
}

/** Both engines refuse the program with the same message. */
function expectInvalid(p: ProgramBuilder, message: string | RegExp): void {
  const built = p.build();
  for (const open of Object.values(engines)) expect(() => open(built)).toThrow(message);
  let nativeMessage = '';
  let jsMessage = '';
  try {
    engines.native(built);
  } catch (err) {
    nativeMessage = (err as Error).message;
  }
  try {
    engines.js(built);
  } catch (err) {
    jsMessage = (err as Error).message;
  }
  expect(jsMessage).toBe(nativeMessage);
}

const codec = new ExtensionCodec();
codec.register({
  type: 0,
  encode: () => null,
  decode: (data: Uint8Array) => {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    return { sec: view.getUint32(0), nsec: view.getUint32(4) };
  },
});

/** The entries decoded independently: [time, record] each. */
function decoded(entries: Buffer): [{ sec: number; nsec: number }, Record<string, unknown>][] {
  return [...decodeMulti(entries, { extensionCodec: codec, useBigInt64: true })] as [{ sec: number; nsec: number }, Record<string, unknown>][];
}

/** Entry head (11 bytes) + fixmap 1 + fixstr "v": the value's bytes start here. */
const VALUE_AT = 14;

/** The bytes a value instruction writes for `record` (null if the record is malformed). */
function valueBytes(op: (b: ProgramBuilder) => ProgramBuilder, record: Uint8Array): Buffer | null {
  const result = encodeBoth(op(program().headNow().map(1).value('v')).end(), [record]);
  if (result.malformed) return null;
  expect(result.count).toBe(1);
  return result.entries.subarray(VALUE_AT);
}

/** The decoded value a value instruction gives for `record`. */
function valueOf(op: (b: ProgramBuilder) => ProgramBuilder, record: Uint8Array): unknown {
  const bytes = valueBytes(op, record);
  if (bytes === null) return null;
  const [[, rec]] = decoded(Buffer.concat([Buffer.from([0x92, 0xd7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x81, 0xa1, 0x76]), bytes])) as [[unknown, Record<string, unknown>]];
  return rec.v;
}

function le(size: number, v: bigint): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = Number((BigInt.asUintN(64, v) >> BigInt(8 * i)) & 0xffn);
  return b;
}

/** Smallest msgpack integer, non-negative always unsigned: the spec, independently of both engines. */
function msgpackInt(v: bigint): Buffer {
  if (v >= 0n) {
    if (v < 0x80n) return Buffer.from([Number(v)]);
    if (v < 0x100n) return Buffer.from([0xcc, Number(v)]);
    if (v < 0x10000n) return Buffer.from([0xcd, ...le(2, v).reverse()]);
    if (v < 0x100000000n) return Buffer.from([0xce, ...le(4, v).reverse()]);
    return Buffer.from([0xcf, ...le(8, v).reverse()]);
  }
  if (v >= -32n) return Buffer.from([Number(v) & 0xff]);
  if (v >= -128n) return Buffer.from([0xd0, Number(v) & 0xff]);
  if (v >= -32768n) return Buffer.from([0xd1, ...le(2, v).reverse()]);
  if (v >= -(2n ** 31n)) return Buffer.from([0xd2, ...le(4, v).reverse()]);
  return Buffer.from([0xd3, ...le(8, v).reverse()]);
}

function strHeader(n: number): Buffer {
  if (n < 32) return Buffer.from([0xa0 | n]);
  if (n < 256) return Buffer.from([0xd9, n]);
  if (n < 65536) return Buffer.from([0xda, n >> 8, n & 0xff]);
  return Buffer.from([0xdb, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
}

/** A seeded generator (mulberry32), so a failing fuzz case can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('program validation (both engines, same message)', () => {
  it('accepts the smallest program, and checks argument types in TypeScript', () => {
    expect(encodeBoth(program().end(), [Buffer.alloc(0)]).count).toBe(1);
    expect(() => openRecordProgram([0] as unknown as Uint32Array, Buffer.alloc(0))).toThrow(TypeError);
    expect(() => openRecordProgram(new Uint32Array([0]), new Uint8Array(0) as Buffer)).toThrow(TypeError);
    const p = openRecordProgram(new Uint32Array([0]), Buffer.alloc(0));
    expect(() => p.encode(new Uint8Array(8) as Buffer, 0, 0n, 0n)).toThrow(TypeError);
    expect(() => p.encode(Buffer.alloc(8), -1, 0n, 0n)).toThrow(RangeError);
    expect(() => p.encode(Buffer.alloc(8), 0, 0 as unknown as bigint, 0n)).toThrow(RangeError);
    expect(() => p.encode(Buffer.alloc(8), 0, 1n << 63n, 0n)).toThrow(RangeError);
    expect(() => p.encode(Buffer.alloc(8), 0, 0n, -1n)).toThrow(RangeError);
  });

  it('refuses empty code, unknown opcodes and instructions cut short', () => {
    expectInvalid(program(), 'record program: no code');
    expectInvalid(program().headNow().op(99), 'record program: word 1: unknown opcode 99');
    expectInvalid(program().op(Op.LIT, 0), 'record program: word 0: LIT needs 2 argument words; the code ends first');
    expectInvalid(program().op(Op.TSTR_FDPATH, 0, 1, 2, 3, 4), /word 0: TSTR_FDPATH needs 6 argument words/);
    // Case counts that run past the code.
    expectInvalid(program().op(Op.ENUM, 0, 1, 0, 2, 0, 0xffffffff, 0, 0, 0, 0).end(), 'record program: word 0: ENUM has 2 cases; the code ends first');
    expectInvalid(program().op(Op.SWITCH, 0, 1, 0x40000000, 5).end(), 'record program: word 0: SWITCH has 1073741824 cases; the code ends first');
  });

  it('refuses pool ranges outside the pool', () => {
    const p = program();
    p.poolBytes([1, 2, 3]);
    expectInvalid(p.op(Op.LIT, 2, 2).end(), 'record program: word 0: LIT pool range 2+2 is outside the pool (3 bytes)');
    expectInvalid(program().op(Op.LIT, 0xffffffff, 2).end(), /LIT pool range 4294967295\+2 is outside the pool \(0 bytes\)/);
    expectInvalid(program().op(Op.ENUM, 0, 1, 0, 0, 0, 1).end(), 'record program: word 0: ENUM default pool range 0+1 is outside the pool (0 bytes)');
    expectInvalid(program().op(Op.ENUM, 0, 1, 0, 1, 0, 0xffffffff, 7, 0, 0, 1).end(), 'record program: word 0: ENUM case 0 pool range 0+1 is outside the pool (0 bytes)');
    // NO_DEFAULT's offset is not a range; an empty range at the pool's end is.
    expect(() => engines.native(program().op(Op.ENUM, 0, 1, 0, 0, 12345, 0xffffffff).end().build())).not.toThrow();
    expect(() => engines.js(program().op(Op.LIT, 0, 0).end().build())).not.toThrow();
  });

  it('refuses sizes other than 1, 2, 4 or 8 (4 or 8 for floats) and signed flags other than 0 or 1', () => {
    expectInvalid(program().uint(0, 3).end(), 'record program: word 0: UINT size 3 is not 1, 2, 4 or 8');
    expectInvalid(program().sint(0, 0).end(), 'record program: word 0: SINT size 0 is not 1, 2, 4 or 8');
    expectInvalid(program().errno(0, 16).end(), 'record program: word 0: ERRNO size 16 is not 1, 2, 4 or 8');
    expectInvalid(program().float(0, 2).end(), 'record program: word 0: FLOAT size 2 is not 4 or 8');
    expectInvalid(program().lstr(0, 0, 3).end(), 'record program: word 0: LSTR length size 3 is not 1, 2, 4 or 8');
    expectInvalid(program().tstr(0, 5).end(), 'record program: word 0: TSTR length size 5 is not 1, 2, 4 or 8');
    expectInvalid(program().fdpath(0, 6, 0, 0, 4, 0).end(), 'record program: word 0: TSTR_FDPATH length size 6 is not 1, 2, 4 or 8');
    expectInvalid(program().fdpath(0, 2, 0, 0, 7, 0).end(), 'record program: word 0: TSTR_FDPATH flags size 7 is not 1, 2, 4 or 8');
    expectInvalid(program().op(Op.ENUM, 0, 9, 0, 0, 0, 0xffffffff).end(), 'record program: word 0: ENUM size 9 is not 1, 2, 4 or 8');
    expectInvalid(program().op(Op.ENUM, 0, 4, 2, 0, 0, 0xffffffff).end(), 'record program: word 0: ENUM signed flag 2 is not 0 or 1');
    expectInvalid(program().op(Op.SWITCH, 0, 3, 0, 5).end(), 'record program: word 0: SWITCH size 3 is not 1, 2, 4 or 8');
  });

  it('refuses jumps to anything but an instruction start', () => {
    // Into the middle of the UINT at word 5, past the code, and a case target.
    expectInvalid(program().op(Op.SWITCH, 0, 1, 0, 6).uint(0, 1).end(), 'record program: word 0: SWITCH target 6 is not the start of an instruction');
    expectInvalid(program().op(Op.SWITCH, 0, 1, 0, 100).end(), 'record program: word 0: SWITCH target 100 is not the start of an instruction');
    expectInvalid(program().op(Op.SWITCH, 0, 1, 1, 0xffffffff, 7, 2).end(), 'record program: word 0: SWITCH target 2 is not the start of an instruction');
  });

  it('refuses a program with a path that does not reach END: off the code, or a loop', () => {
    expectInvalid(program().headNow().uint(0, 1), 'record program: word 1: UINT is the last instruction and not END: a path runs past the end of the code');
    // Only the default path falls off.
    expectInvalid(program().switchOn(0, 1, [[1, 'done']], 'open').label('done').end().label('open').bool(0), /word 8: BOOL is the last instruction and not END/);
    expectInvalid(program().label('top').headNow().switchOn(0, 1, [[1, 'top']], 'out').label('out').end(), 'record program: word 1: a loop: SWITCH jumps back to word 0');
    expectInvalid(program().label('self').switchOn(0, 1, [], 'self').end(), 'record program: word 0: a loop: SWITCH jumps back to word 0');
    // A jump back that is no loop (a join, reached twice) is fine; so is unreachable code after END.
    const join = program().switchOn(0, 1, [[1, 'a']], 'b').label('a').value('A').switchOn(0, 1, [], 'join').label('b').value('B').label('join').end().headNow();
    expect(encodeBoth(join, [Buffer.from([1]), Buffer.from([0])]).entries).toEqual(Buffer.concat([encode('A'), encode('B')]));
  });
});

describe('entry head and time', () => {
  it('HEAD_KTIME: the u64 at off plus the clock offset, as EventTime (0x92, fixext 8 type 0, sec and nsec big-endian)', () => {
    const p = program().headKtime(8).map(0).end();
    const r = Buffer.concat([Buffer.alloc(8), le(8, 1_700_000_000_999_999_999n)]);
    const out = encodeBoth(p, [r], 2n);
    expect(out.entries).toEqual(Buffer.from([0x92, 0xd7, 0x00, ...le(4, 1_700_000_001n).reverse(), 0, 0, 0, 1, 0x80]));
    expect(out).toMatchObject({ count: 1, minSec: 1_700_000_001, minNsec: 1, maxSec: 1_700_000_001, maxNsec: 1 });
    // An offset of the usual size (boot time is about the epoch's distance from now).
    const ts = 12_345_678_901_234n;
    const offset = 1_700_000_000_123_456_789n;
    const [time] = decoded(encodeBoth(p, [Buffer.concat([Buffer.alloc(8), le(8, ts)])], offset).entries)[0]!;
    expect(time).toEqual({ sec: Number((ts + offset) / 1_000_000_000n), nsec: Number((ts + offset) % 1_000_000_000n) });
    const [back] = decoded(encodeBoth(p, [Buffer.concat([Buffer.alloc(8), le(8, 5_000_000_000n)])], -1n).entries)[0]!;
    expect(back).toEqual({ sec: 4, nsec: 999_999_999 });
  });

  it('HEAD_KTIME: times beyond 32-bit seconds wrap as u32 in both engines (u64 sum modulo 2^64)', () => {
    const p = program().headKtime(0).map(0).end();
    for (const ts of [0n, 1n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 63n, 2n ** 64n - 1n, 4_294_967_296n * 1_000_000_000n + 7n]) {
      for (const offset of [0n, -1n, 1_000_000_000n, -(2n ** 63n), 2n ** 63n - 1n]) {
        const wall = BigInt.asUintN(64, ts + offset);
        const [time] = decoded(encodeBoth(p, [le(8, ts)], offset).entries)[0]!;
        expect(time).toEqual({ sec: Number(BigInt.asUintN(32, wall / 1_000_000_000n)), nsec: Number(wall % 1_000_000_000n) });
      }
    }
  });

  it('HEAD_NOW: the time given for the batch; min and max over entries; 0s without entries', () => {
    const now = 1_700_000_123_000_000_456n;
    const out = encodeBoth(program().headNow().map(0).end(), [Buffer.alloc(0), Buffer.alloc(3)], 999n, now);
    expect(decoded(out.entries).map(([t]) => t)).toEqual([
      { sec: 1_700_000_123, nsec: 456 },
      { sec: 1_700_000_123, nsec: 456 },
    ]);
    expect(out).toMatchObject({ count: 2, minSec: 1_700_000_123, minNsec: 456, maxSec: 1_700_000_123, maxNsec: 456 });
    const none = encodeBoth(program().minLen(4).headNow().map(0).end(), [Buffer.alloc(1)], 0n, now);
    expect(none).toMatchObject({ count: 0, malformed: 1, minSec: 0, minNsec: 0, maxSec: 0, maxNsec: 0, entries: Buffer.alloc(0) });
  });

  it('min and max are over entry times in any order (records from different CPUs)', () => {
    const times = [5_000_000_003n, 4_000_000_009n, 5_000_000_001n, 9_999_999_999n, 4_000_000_008n];
    const out = encodeBoth(program().headKtime(0).map(0).end(), times.map((t) => le(8, t)));
    expect(out).toMatchObject({ count: 5, minSec: 4, minNsec: 8, maxSec: 9, maxNsec: 999_999_999 });
  });
});

describe('integers: the smallest msgpack form, unsigned whenever non-negative', () => {
  const unsigned = [0n, 1n, 0x7fn, 0x80n, 0xffn, 0x100n, 0xffffn, 0x10000n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n];
  const signed = [0n, 1n, 0x7fn, 0x80n, 0xffn, 0x100n, 0x7fffn, 0x8000n, 0x7fffffffn, 0x80000000n, 2n ** 63n - 1n, -1n, -31n, -32n, -33n, -127n, -128n, -129n, -32767n, -32768n, -32769n, -(2n ** 31n) + 1n, -(2n ** 31n), -(2n ** 31n) - 1n, -(2n ** 53n) - 1n, -(2n ** 63n)];
  const fits = (v: bigint, size: number, isSigned: boolean) =>
    isSigned ? v >= -(2n ** BigInt(8 * size - 1)) && v < 2n ** BigInt(8 * size - 1) : v >= 0n && v < 2n ** BigInt(8 * size);

  for (const size of [1, 2, 4, 8]) {
    it(`UINT of ${size} bytes`, () => {
      for (const v of unsigned.filter((x) => fits(x, size, false))) {
        const bytes = valueBytes((b) => b.uint(1, size), Buffer.concat([Buffer.from([0xee]), le(size, v)]));
        expect(bytes, `${v}`).toEqual(msgpackInt(v));
        if (v <= BigInt(Number.MAX_SAFE_INTEGER)) expect(bytes, `${v}`).toEqual(Buffer.from(encode(Number(v))));
      }
    });

    it(`SINT of ${size} bytes`, () => {
      for (const v of signed.filter((x) => fits(x, size, true))) {
        const bytes = valueBytes((b) => b.sint(0, size), le(size, v));
        expect(bytes, `${v}`).toEqual(msgpackInt(v));
        if (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) expect(bytes, `${v}`).toEqual(Buffer.from(encode(Number(v))));
      }
    });

    it(`ERRNO of ${size} bytes: -v when negative, else 0`, () => {
      for (const v of signed.filter((x) => fits(x, size, true))) {
        expect(valueBytes((b) => b.errno(0, size), le(size, v)), `${v}`).toEqual(msgpackInt(v < 0n ? -v : 0n));
      }
    });
  }

  it('as msgpackr packs numbers in the 32-bit range (the old path)', () => {
    const packr = new Packr({ useRecords: false, variableMapSize: true });
    for (const v of [0, 1, 127, 128, 255, 256, 65535, 65536, 0x7fffffff, 0xffffffff, -1, -32, -33, -128, -129, -32768, -32769, -0x80000000]) {
      const size = v < 0 ? 4 : 8;
      const op = v < 0 ? (b: ProgramBuilder) => b.sint(0, size) : (b: ProgramBuilder) => b.uint(0, size);
      expect(valueBytes(op, le(size, BigInt(v))), `${v}`).toEqual(packr.pack(v));
    }
  });

  it('BOOL and FLOAT', () => {
    expect(valueBytes((b) => b.bool(0), Buffer.from([0]))).toEqual(Buffer.from([0xc2]));
    expect(valueBytes((b) => b.bool(0), Buffer.from([2]))).toEqual(Buffer.from([0xc3]));
    for (const v of [0, -0, 1.5, -2.25, Math.PI, Infinity, NaN, 3.4e38]) {
      const f32 = Buffer.alloc(4);
      f32.writeFloatLE(v);
      const be32 = Buffer.alloc(4);
      be32.writeFloatBE(v);
      expect(valueBytes((b) => b.float(0, 4), f32)).toEqual(Buffer.concat([Buffer.from([0xca]), be32]));
      const f64 = Buffer.alloc(8);
      f64.writeDoubleLE(v);
      const be64 = Buffer.alloc(8);
      be64.writeDoubleBE(v);
      expect(valueBytes((b) => b.float(0, 8), f64)).toEqual(Buffer.concat([Buffer.from([0xcb]), be64]));
    }
    expect(valueOf((b) => b.float(0, 8), Buffer.from(new Float64Array([-7.125]).buffer))).toBe(-7.125);
  });
});

describe('strings', () => {
  it('str header by byte length: fixstr to 31, str8 to 255, str16 to 65535, then str32', () => {
    for (const n of [0, 1, 31, 32, 255, 256, 65535, 65536, 70000]) {
      const text = Buffer.alloc(n, 'x');
      const bytes = valueBytes((b) => b.lstr(4, 0, 4), Buffer.concat([le(4, BigInt(n)), text]));
      expect(bytes!.subarray(0, strHeader(n).length), `${n}`).toEqual(strHeader(n));
      expect(bytes, `${n}`).toEqual(Buffer.from(encode(text.toString())));
    }
  });

  it('the header grows when replacements lengthen a string past a boundary', () => {
    // 11 invalid bytes (fixstr) -> 33 bytes (str8); 100 -> 300 (str16).
    for (const n of [10, 11, 85, 86, 100]) {
      const raw = Buffer.alloc(n, 0xff);
      const bytes = valueBytes((b) => b.lstr(1, 0, 1), Buffer.concat([Buffer.from([n]), raw]));
      expect(bytes, `${n}`).toEqual(Buffer.concat([strHeader(3 * n), Buffer.from(raw.toString('utf8'))]));
    }
  });

  it('UTF-8 sanitised exactly as Buffer#toString("utf8") (maximal subparts become U+FFFD)', () => {
    const samples: number[][] = [
      [0x68, 0xc3, 0xa9, 0x6c, 0x6c, 0x6f], // héllo
      [0xe6, 0x97, 0xa5, 0xe6, 0x9c, 0xac], // 日本
      [0xf0, 0x9f, 0x98, 0x80], // U+1F600
      [0x80], [0xbf], [0xc0, 0x80], [0xc1, 0xbf], [0xc2], [0xc2, 0x41], [0xc2, 0xc2, 0xa9],
      [0xe0, 0x80, 0x80], [0xe0, 0x9f, 0xbf], [0xe0, 0xa0], [0xe0, 0xa0, 0x41], [0xe0, 0xa0, 0x80],
      [0xed, 0x9f, 0xbf], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xef, 0xbf, 0xbf], [0xef, 0xbf],
      [0xf0, 0x80, 0x80, 0x80], [0xf0, 0x8f, 0xbf, 0xbf], [0xf0, 0x90, 0x80], [0xf0, 0x90, 0x80, 0x41], [0xf0, 0x90, 0x80, 0x80],
      [0xf4, 0x8f, 0xbf, 0xbf], [0xf4, 0x90, 0x80, 0x80], [0xf5, 0x80, 0x80, 0x80], [0xf8], [0xfe], [0xff, 0xfe],
      [0xf1, 0x80, 0x80, 0xc0], [0xe1, 0xc0], [0xf3, 0xbf],
    ];
    const ascii = [...Buffer.from('abcdefghij')];
    for (const s of samples) {
      for (const raw of [s, [...ascii, ...s], [...s, ...ascii], [...ascii, ...s, ...ascii, ...s]]) {
        const bytes = Buffer.from(raw);
        const out = valueBytes((b) => b.lstr(1, 0, 1), Buffer.concat([Buffer.from([bytes.length]), bytes]));
        const text = bytes.toString('utf8');
        expect(out, bytes.toString('hex')).toEqual(Buffer.concat([strHeader(Buffer.byteLength(text)), Buffer.from(text)]));
      }
    }
  });

  it('UTF-8: random byte strings (seeded) as Buffer#toString gives them', () => {
    const next = random(20240601);
    const p = program().headNow().map(1).value('v').lstr(2, 0, 2).end();
    const records: Buffer[] = [];
    const texts: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const n = Math.floor(next() * 40);
      const raw = Buffer.alloc(n);
      // Mostly high bytes and continuation bytes, some ASCII: every decoder state.
      for (let k = 0; k < n; k++) {
        const r = next();
        raw[k] = r < 0.2 ? 0x20 + Math.floor(next() * 0x5f) : r < 0.55 ? 0x80 + Math.floor(next() * 0x40) : 0xc0 + Math.floor(next() * 0x40);
      }
      records.push(Buffer.concat([le(2, BigInt(n)), raw]));
      texts.push(raw.toString('utf8'));
    }
    const out = encodeBoth(p, records);
    expect(decoded(out.entries).map(([, r]) => r.v)).toEqual(texts);
  });

  it('CSTR: up to the first NUL, at most max bytes, never past the record', () => {
    const cstr = (off: number, max: number, record: Buffer) => valueOf((b) => b.cstr(off, max), record);
    expect(cstr(0, 16, Buffer.from('bash\0garbage\0\0\0\0')) ).toBe('bash');
    expect(cstr(0, 4, Buffer.from('bashful'))).toBe('bash');
    expect(cstr(2, 16, Buffer.from('xxkworker/0:1'))).toBe('kworker/0:1'); // cut at the record's end
    expect(cstr(3, 16, Buffer.from('abc'))).toBe(''); // at the end: empty
    expect(cstr(0, 16, Buffer.from([0]))).toBe('');
    expect(cstr(4, 16, Buffer.from('abc'))).toBeNull(); // starts past the end: malformed
    expect(cstr(0, 0, Buffer.from('abc'))).toBe('');
    expect(cstr(0, 16, Buffer.from([0x66, 0xff, 0x6f, 0x00, 0x80]))).toBe('f\ufffdo');
  });

  it('LSTR: n bytes at off, n from a length field of 1, 2, 4 or 8 bytes, cut at the record end', () => {
    const lstr = (size: number, n: bigint, body: string) => valueOf((b) => b.lstr(size, 0, size), Buffer.concat([le(size, n), Buffer.from(body)]));
    for (const size of [1, 2, 4, 8]) {
      expect(lstr(size, 3n, 'abcdef')).toBe('abc');
      expect(lstr(size, 0n, 'abcdef')).toBe('');
      expect(lstr(size, 100n, 'abcdef')).toBe('abcdef');
    }
    expect(lstr(8, 2n ** 64n - 1n, 'xyz')).toBe('xyz');
    expect(lstr(4, 2n ** 32n - 1n, 'xyz')).toBe('xyz');
    // The length field or the start past the end: malformed.
    expect(valueOf((b) => b.lstr(0, 2, 2), Buffer.from([1, 2, 3]))).toBeNull();
    expect(valueOf((b) => b.lstr(5, 0, 1), Buffer.from([0, 1, 2, 3]))).toBeNull();
    expect(valueOf((b) => b.lstr(4, 0, 1), Buffer.from([9, 1, 2, 3]))).toBe('');
  });

  it('TAIL and TSTR: strings back to back after the struct, the last cut at the record end', () => {
    // struct {u16 a_len, u16 b_len, u16 c_len} then the strings.
    const p = program().headNow().map(3).value('a').tail(6).tstr(0, 2).value('b').tstr(2, 2).value('c').tstr(4, 2).end();
    const rec = (a: number, b: number, c: number, tail: string) => Buffer.concat([le(2, BigInt(a)), le(2, BigInt(b)), le(2, BigInt(c)), Buffer.from(tail)]);
    const values = (r: Buffer) => decoded(encodeBoth(p, [r]).entries).map(([, v]) => v)[0];
    expect(values(rec(3, 4, 2, 'onetwo!xy'))).toEqual({ a: 'one', b: 'two!', c: 'xy' });
    expect(values(rec(3, 40, 9, 'onetwo'))).toEqual({ a: 'one', b: 'two', c: '' });
    expect(values(rec(0, 0, 0, ''))).toEqual({ a: '', b: '', c: '' });
    // The cursor starts at 0 without a TAIL; a TAIL past the end makes TSTR malformed.
    expect(valueOf((b) => b.tstr(0, 1), Buffer.from([3, 0x61, 0x62]))).toBe('\x03ab');
    expect(valueOf((b) => b.tail(4).tstr(0, 1), Buffer.from([0, 1, 2]))).toBeNull();
    expect(valueOf((b) => b.tail(3).tstr(0, 1), Buffer.from([5, 1, 2]))).toBe('');
    expect(valueOf((b) => b.tail(0).tstr(4, 1), Buffer.from([5, 1, 2]))).toBeNull(); // length field past the end
  });

  it('TSTR_FDPATH: a path relative to a dirfd as passed, when the flags say so', () => {
    // struct {u16 len, u16 flags, s32 dirfd} then the path.
    const AT = 0x1;
    const fdpath = (path: string, dirfd: number, flags: number, mask = AT) => {
      const head = Buffer.alloc(8);
      head.writeUInt16LE(Buffer.byteLength(path), 0);
      head.writeUInt16LE(flags, 2);
      head.writeInt32LE(dirfd, 4);
      return valueOf((b) => b.tail(8).fdpath(0, 2, 4, 2, 2, mask), Buffer.concat([head, Buffer.from(path)]));
    };
    expect(fdpath('/dev/fd/3', 3, AT)).toBe('');
    expect(fdpath('/dev/fd/3/bin/true', 3, AT)).toBe('bin/true');
    expect(fdpath('/dev/fd/3/', 3, AT)).toBe('');
    expect(fdpath('/dev/fd/-7/x', -7, AT)).toBe('x');
    expect(fdpath('/dev/fd/30/x', 3, AT)).toBe('/dev/fd/30/x');
    expect(fdpath('/dev/fd/3x', 3, AT)).toBe('/dev/fd/3x');
    expect(fdpath('/dev/fd/', 3, AT)).toBe('/dev/fd/');
    expect(fdpath('/usr/bin/true', 3, AT)).toBe('/usr/bin/true');
    // AT_FDCWD, or the flag not set: as is.
    expect(fdpath('/dev/fd/-100/x', -100, AT)).toBe('/dev/fd/-100/x');
    expect(fdpath('/dev/fd/3/x', 3, 0)).toBe('/dev/fd/3/x');
    expect(fdpath('/dev/fd/3/x', 3, 0x2, 0x3)).toBe('/dev/fd/3/x');
    expect(fdpath('/dev/fd/3/x', 3, 0x7, 0x3)).toBe('x');
    expect(fdpath('/dev/fd/3/x', 3, 0, 0)).toBe('x'); // an empty mask always holds
    expect(fdpath('/dev/fd/3/\xff', 3, AT)).toBe('\u00ff');
    const bad = Buffer.concat([Buffer.from([12, 0, 1, 0]), le(4, 3n), Buffer.from('/dev/fd/3/'), Buffer.from([0xc3, 0x28])]);
    expect(valueOf((b) => b.tail(8).fdpath(0, 2, 4, 2, 2, 1), bad)).toBe('\ufffd(');
    // The cursor moves past the whole path; a dirfd or flags read past the end is malformed.
    const two = program().headNow().map(2).value('p').tail(8).fdpath(0, 2, 4, 2, 2, 1).value('q').tstr(2, 1).end();
    const rec = Buffer.concat([Buffer.from([11, 0, 1, 0]), le(4, 3n), Buffer.from('/dev/fd/3/xyz')]);
    expect(decoded(encodeBoth(two, [rec]).entries)[0]![1]).toEqual({ p: 'x', q: 'y' }); // q: 1 byte (the flags' low byte) after the path
    expect(valueOf((b) => b.fdpath(0, 2, 4, 2, 2, 1), Buffer.from([0, 0, 0, 0, 0, 0]))).toBeNull();
    expect(valueOf((b) => b.fdpath(0, 2, 0, 6, 2, 1), Buffer.from([0, 0, 0, 0, 0, 0]))).toBeNull();
  });
});

describe('INET: as src/traces/inet-address.ts (net.SocketAddress) gives it', () => {
  const inet = (family: number, addr: number[]) => valueOf((b) => b.inet(0, 4), Buffer.concat([le(2, BigInt(family)), Buffer.alloc(2), Buffer.from(addr), Buffer.alloc(16 - addr.length)]));
  const socketAddress = (bytes: Buffer) => {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
    return new SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address;
  };
  const v6 = (text: string) => {
    const groups = text.split(':').map((g) => parseInt(g, 16));
    const b = Buffer.alloc(16);
    groups.forEach((g, i) => b.writeUInt16BE(g, 2 * i));
    return b;
  };

  it('IPv4, and nothing for other families', () => {
    expect(inet(2, [127, 0, 0, 1])).toBe('127.0.0.1');
    expect(inet(2, [255, 255, 255, 255, 9, 9])).toBe('255.255.255.255');
    expect(inet(2, [0, 0, 0, 0])).toBe('0.0.0.0');
    expect(inet(0, [1, 2, 3, 4])).toBe('');
    expect(inet(1, [1, 2, 3, 4])).toBe('');
    expect(valueOf((b) => b.inet(0, 4), Buffer.alloc(19))).toBeNull(); // the 16 address bytes must be there
  });

  it('IPv6: compression, mapped and compatible IPv4, and libuv quirks', () => {
    const cases: [string, string][] = [
      ['0:0:0:0:0:0:0:0', '::'],
      ['0:0:0:0:0:0:0:1', '::1'],
      ['0:0:0:0:0:0:0:2', '::2'],
      ['0:0:0:0:0:0:0:ffff', '::ffff'], // len-7 IPv4-compatible check is dead code in libuv
      ['0:0:0:0:0:0:1:0', '::0.1.0.0'], // IPv4-compatible
      ['0:0:0:0:0:0:102:304', '::1.2.3.4'],
      ['0:0:0:0:0:ffff:0:0', '::ffff:0.0.0.0'],
      ['0:0:0:0:0:ffff:a00:1', '::ffff:10.0.0.1'],
      ['0:0:0:0:ffff:0:102:304', '::ffff:0:102:304'],
      ['0:0:0:0:0:fffe:0:0', '::fffe:0:0'],
      ['1:0:0:1:0:0:0:1', '1:0:0:1::1'],
      ['1:0:0:1:0:0:1:1', '1::1:0:0:1:1'], // the first of equal runs
      ['1:0:1:0:1:0:1:0', '1:0:1:0:1:0:1:0'], // no run of two
      ['0:1:2:3:4:5:6:7', '0:1:2:3:4:5:6:7'],
      ['1:0:0:0:0:0:0:0', '1::'],
      ['fe80:0:0:0:0:0:0:1', 'fe80::1'],
      ['2001:db8:0:0:0:0:2:1', '2001:db8::2:1'],
      ['2001:DB8:abcd:12:ffff:ffff:ffff:ffff', '2001:db8:abcd:12:ffff:ffff:ffff:ffff'],
    ];
    for (const [input, want] of cases) {
      expect(socketAddress(v6(input)), input).toBe(want);
      expect(inet(10, [...v6(input)]), input).toBe(want);
    }
  });

  it('IPv6: random addresses (seeded, zero-heavy) as SocketAddress gives them', () => {
    const next = random(7);
    const records: Buffer[] = [];
    const want: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const addr = Buffer.alloc(16);
      for (let g = 0; g < 8; g++) {
        const r = next();
        addr.writeUInt16BE(r < 0.55 ? 0 : r < 0.65 ? 0xffff : r < 0.75 ? Math.floor(next() * 16) : Math.floor(next() * 0x10000), 2 * g);
      }
      records.push(Buffer.concat([le(2, 10n), Buffer.alloc(2), addr]));
      want.push(socketAddress(addr));
    }
    const out = encodeBoth(program().headNow().map(1).value('a').inet(0, 4).end(), records);
    expect(decoded(out.entries).map(([, r]) => r.a)).toEqual(want);
  });
});

describe('ENUM', () => {
  it('a case string, the default string, or the integer itself with NO_DEFAULT', () => {
    const kinds: [number, string][] = [[0, 'openat'], [1, 'openat2'], [2, 'open']];
    const withDefault = (v: number) => valueOf((b) => b.enumOf(0, 2, false, kinds, 'unknown'), le(2, BigInt(v)));
    expect([0, 1, 2, 3, 65535].map(withDefault)).toEqual(['openat', 'openat2', 'open', 'unknown', 'unknown']);
    expect(valueBytes((b) => b.enumOf(0, 2, false, kinds, null), le(2, 300n))).toEqual(msgpackInt(300n));
    expect(valueBytes((b) => b.enumOf(0, 8, false, kinds, null), le(8, 2n ** 64n - 1n))).toEqual(msgpackInt(2n ** 64n - 1n));
    expect(valueBytes((b) => b.enumOf(0, 4, true, kinds, null), le(4, -5n))).toEqual(msgpackInt(-5n));
    expect(valueBytes((b) => b.enumOf(0, 1, true, kinds, null), le(1, -128n))).toEqual(msgpackInt(-128n));
    expect(valueOf((b) => b.enumOf(1, 2, false, kinds, null), Buffer.alloc(2))).toBeNull();
  });

  it('signed values match their two\'s complement cases; 64-bit values use both halves', () => {
    const cases: [bigint, string][] = [[-1n, 'minus one'], [-(2n ** 63n), 'min'], [2n ** 32n, 'two^32'], [0n, 'zero']];
    for (const size of [1, 2, 4, 8]) {
      expect(valueOf((b) => b.enumOf(0, size, true, cases, 'other'), le(size, -1n)), `${size}`).toBe('minus one');
      expect(valueOf((b) => b.enumOf(0, size, false, cases, 'other'), le(size, -1n)), `${size}`).toBe(size === 8 ? 'minus one' : 'other');
    }
    expect(valueOf((b) => b.enumOf(0, 8, true, cases, 'other'), le(8, -(2n ** 63n)))).toBe('min');
    expect(valueOf((b) => b.enumOf(0, 8, false, cases, 'other'), le(8, 2n ** 32n))).toBe('two^32');
    expect(valueOf((b) => b.enumOf(0, 4, false, cases, 'other'), le(4, 0n))).toBe('zero');
  });

  it('many cases (a sorted search natively), the first of duplicate values wins', () => {
    const cases: [number, string][] = [];
    for (let i = 0; i < 140; i++) cases.push([(i * 37) % 140, `e${i}`]);
    cases.push([5, 'late duplicate']);
    const name = new Map<number, string>();
    for (const [v, s] of cases) if (!name.has(v)) name.set(v, s);
    const p = program().headNow().map(1).value('e').enumOf(0, 4, false, cases, 'none').end();
    const values = [...Array(150).keys()];
    const out = encodeBoth(p, values.map((v) => le(4, BigInt(v))));
    expect(decoded(out.entries).map(([, r]) => r.e)).toEqual(values.map((v) => name.get(v) ?? 'none'));
  });
});

describe('SWITCH, MIN_LEN: skipped and malformed records', () => {
  // By the kind byte at 0: 1 -> a, 2 -> b (one more field), others -> default / skipped.
  const byKind = (def: string | null) =>
    program()
      .minLen(2)
      .headNow()
      .switchOn(0, 1, [[1, 'a'], [2, 'b'], [7, 'b']], def)
      .label('a').map(1).value('k').value('a').end()
      .label('b').map(2).value('k').value('b').value('x').uint(1, 1).end()
      .label('other').map(1).value('k').uint(0, 1).end();

  it('jumps by the value; a value with no case goes to the default target', () => {
    const out = encodeBoth(byKind('other'), [Buffer.from([1, 9]), Buffer.from([2, 9]), Buffer.from([7, 8]), Buffer.from([3, 9])]);
    expect(decoded(out.entries).map(([, r]) => r)).toEqual([{ k: 'a' }, { k: 'b', x: 9 }, { k: 'b', x: 8 }, { k: 3 }]);
    expect(out).toMatchObject({ count: 4, malformed: 0, skipped: 0 });
  });

  it('NO_TARGET: the record is skipped, counted, and nothing of it written (its neighbours intact)', () => {
    const out = encodeBoth(byKind(null), [Buffer.from([1, 0]), Buffer.from([3, 0]), Buffer.from([2, 5]), Buffer.from([9, 9])]);
    expect(out).toMatchObject({ count: 2, malformed: 0, skipped: 2 });
    expect(decoded(out.entries).map(([, r]) => r)).toEqual([{ k: 'a' }, { k: 'b', x: 5 }]);
  });

  it('MIN_LEN and reads past the end: malformed, nothing written, even after a head and fields', () => {
    const out = encodeBoth(byKind(null), [Buffer.from([1]), Buffer.from([2, 4]), Buffer.from([]), Buffer.from([1, 1])]);
    expect(out).toMatchObject({ count: 2, malformed: 2, skipped: 0 });
    const late = program().headNow().map(2).value('a').uint(0, 1).value('b').uint(8, 8).end();
    const mixed = encodeBoth(late, [Buffer.alloc(16, 1), Buffer.alloc(15, 2), Buffer.alloc(16, 3)]);
    expect(mixed).toMatchObject({ count: 2, malformed: 1 });
    expect(decoded(mixed.entries).map(([, r]) => r.a)).toEqual([1, 3]);
    // Every kind of read, one byte short.
    const reads: [(b: ProgramBuilder) => ProgramBuilder, number][] = [
      [(b) => b.uint(4, 4), 8], [(b) => b.sint(0, 8), 8], [(b) => b.errno(6, 2), 8], [(b) => b.bool(7), 8], [(b) => b.float(0, 8), 8],
      [(b) => b.headKtime(0), 8], [(b) => b.enumOf(0, 8, false, [], null), 8], [(b) => b.inet(0, 2), 18],
      [(b) => b.switchOn(4, 4, [], 'end').label('end'), 8],
    ];
    for (const [op, need] of reads) {
      expect(encodeBoth(op(program()).end(), [Buffer.alloc(need)]).count).toBe(1);
      expect(encodeBoth(op(program()).end(), [Buffer.alloc(need - 1)]).malformed).toBe(1);
    }
  });

  it('SWITCH on a 64-bit value: values past 32 bits match no case', () => {
    const p = program().headNow().map(1).value('k').switchOn(0, 8, [[1, 'one']], 'other').label('one').value(1).end().label('other').value(0).end();
    const out = encodeBoth(p, [le(8, 1n), le(8, 2n ** 32n + 1n)]);
    expect(decoded(out.entries).map(([, r]) => r.k)).toEqual([1, 0]);
  });
});

describe('batches', () => {
  it('refuses a record that runs past the batch, in both engines', () => {
    const built = program().end().build();
    const batch = batchOf([Buffer.alloc(4)]);
    for (const open of Object.values(engines)) {
      expect(() => open(built).encode(batch, 2, 0n, 0n)).toThrow('record 1: its header at byte 16 is past the batch\'s end (16 bytes)');
      const long = Buffer.from(batch);
      long.writeUInt32LE(9, 0);
      expect(() => open(built).encode(long, 1, 0n, 0n)).toThrow('record 0: its 9 bytes at byte 8 run past the batch\'s end (16 bytes)');
      expect(open(built).encode(batch, 0, 0n, 0n)).toMatchObject({ count: 0, entries: Buffer.alloc(0) });
    }
  });

  it('a batch far larger than the first buffer, with long strings (the output grows)', () => {
    const p = program().headNow().map(1).value('s').lstr(4, 0, 4).end();
    const records = [...Array(50).keys()].map((i) => Buffer.concat([le(4, 20000n), Buffer.alloc(20000, i % 2 ? 0xff : 0x61)]));
    const out = encodeBoth(p, records);
    expect(out.count).toBe(50);
    expect(decoded(out.entries).map(([, r]) => (r.s as string).length)).toEqual(records.map(() => 20000));
  });
});

// struct vfs_event as trace_vfs has it: header (48) then flags u32, mode u32, fd s32, path_len u16, 2 reserved, the path.
const vfsProgram = () =>
  program()
    .minLen(64)
    .headKtime(0)
    .map(10)
    .value('event_type').value('vfs')
    .value('pid').uint(16, 4)
    .value('tid').uint(20, 4)
    .value('comm').cstr(32, 16)
    .value('operation').uint(24, 2)
    .value('path').lstr(64, 60, 2)
    .value('flags').uint(48, 4)
    .value('mode').uint(52, 4)
    .value('fd').sint(56, 4)
    .value('error_raw').errno(56, 4)
    .end();

function vfsRecord(next: () => number): Buffer {
  const pathLen = Math.floor(next() * 48);
  const r = Buffer.alloc(64 + pathLen);
  for (let i = 0; i < r.length; i++) r[i] = Math.floor(next() * 256);
  r.writeUInt16LE(next() < 0.9 ? pathLen : Math.floor(next() * 0x10000), 60);
  if (next() < 0.7) r.fill(0, 32 + Math.floor(next() * 16), 48);
  return r;
}

describe('native and TypeScript engines agree on random records (seeded fuzz)', () => {
  it('a trace_vfs-like program: values as an independent decoding gives them', () => {
    const next = random(42);
    const records = [...Array(2000).keys()].map(() => vfsRecord(next));
    // Some cut short: malformed.
    for (let i = 0; i < records.length; i += 97) records[i] = records[i]!.subarray(0, Math.floor(next() * 64));
    const offset = 1_700_000_000_000_000_000n;
    const out = encodeBoth(vfsProgram(), records, offset);
    const whole = records.filter((r) => r.length >= 64);
    expect(out).toMatchObject({ count: whole.length, malformed: records.length - whole.length, skipped: 0 });
    const entries = decoded(out.entries);
    entries.forEach(([time, rec], i) => {
      const r = whole[i]!;
      const wall = r.readBigUInt64LE(0) + offset;
      expect(time).toEqual({ sec: Number(BigInt.asUintN(32, BigInt.asUintN(64, wall) / 1_000_000_000n)), nsec: Number(BigInt.asUintN(64, wall) % 1_000_000_000n) });
      const nul = r.indexOf(0, 32);
      const fd = r.readInt32LE(56);
      expect(rec).toEqual({
        event_type: 'vfs',
        pid: r.readUInt32LE(16),
        tid: r.readUInt32LE(20),
        comm: r.toString('utf8', 32, nul < 0 || nul > 48 ? 48 : nul),
        operation: r.readUInt16LE(24),
        path: r.toString('utf8', 64, 64 + Math.min(r.readUInt16LE(60), r.length - 64)),
        flags: r.readUInt32LE(48),
        mode: r.readUInt32LE(52),
        fd,
        error_raw: fd < 0 ? -fd : 0,
      });
    });
  });

  it('random programs over random records: identical results', () => {
    const next = random(99);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
    const sizes = [1, 2, 4, 8];
    for (let round = 0; round < 40; round++) {
      const p = program().minLen(Math.floor(next() * 24));
      if (next() < 0.5) p.headNow();
      else p.headKtime(Math.floor(next() * 40));
      const fields = 1 + Math.floor(next() * 12);
      p.map(fields);
      for (let f = 0; f < fields; f++) {
        p.value(`f${f}`);
        const off = Math.floor(next() * 40);
        switch (Math.floor(next() * 12)) {
          case 0: p.uint(off, pick(sizes)); break;
          case 1: p.sint(off, pick(sizes)); break;
          case 2: p.errno(off, pick(sizes)); break;
          case 3: p.bool(off); break;
          case 4: p.float(off, pick([4, 8])); break;
          case 5: p.cstr(off, Math.floor(next() * 20)); break;
          case 6: p.lstr(off, Math.floor(next() * 40), pick(sizes)); break;
          case 7: p.tail(off).tstr(Math.floor(next() * 40), pick([1, 2])); break;
          case 8: p.fdpath(Math.floor(next() * 40), 1, Math.floor(next() * 40), Math.floor(next() * 40), pick(sizes), Math.floor(next() * 4)); break;
          case 9: p.inet(off, Math.floor(next() * 30)); break;
          case 10: p.enumOf(off, pick(sizes), next() < 0.5, [[0, 'zero'], [1, 'one'], [-1, 'minus']], next() < 0.5 ? 'dflt' : null); break;
          default: p.value(pick([0, -1, 'lit', true, 2 ** 40])); break;
        }
      }
      if (next() < 0.3) p.switchOn(Math.floor(next() * 8), 1, [[0, 'end']], null).label('end');
      p.end();
      const records: Buffer[] = [];
      for (let i = 0; i < 100; i++) {
        const r = Buffer.alloc(Math.floor(next() * 72));
        for (let k = 0; k < r.length; k++) {
          const x = next();
          r[k] = x < 0.3 ? 0 : x < 0.4 ? 0xff : x < 0.5 ? Math.floor(next() * 8) : x < 0.7 ? 0x2f : Math.floor(next() * 256);
        }
        records.push(r);
      }
      const out = encodeBoth(p, records, BigInt(Math.floor(next() * 2 ** 52)) - 2n ** 51n, 1_700_000_000_000_000_000n);
      expect(out.count + out.malformed + out.skipped).toBe(records.length);
      expect(decoded(out.entries)).toHaveLength(out.count);
    }
  });
});
