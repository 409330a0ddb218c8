// Time_as_Integer: each entry's 11-byte head becomes 0x92 0xce + u32 seconds
// and the record's bytes are copied as they are, for records holding every
// msgpack format (each written out by hand, so no encoder picks the format);
// and the skipper that finds where each record ends.
import { decodeMulti } from '@msgpack/msgpack';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import type { EventChunk } from '../../../src/chunk.js';
import { MalformedChunkError } from '../../../src/outputs/chunk-decoder.js';
import { skipValue } from '../../../src/msgpack/skip.js';
import { integerTimeEntries } from '../../../src/outputs/forward/time-as-integer.js';
import { chunkOf } from '../../support/chunks.js';

const b = (...parts: (number | Buffer | string)[]) =>
  Buffer.concat(parts.map((p) => (typeof p === 'number' ? Buffer.from([p]) : typeof p === 'string' ? Buffer.from(p, 'hex') : p)));
const u16 = (n: number) => b(n >> 8, n & 0xff);
const u32 = (n: number) => {
  const x = Buffer.alloc(4);
  x.writeUInt32BE(n);
  return x;
};
const fixstr = (s: string) => b(0xa0 | Buffer.byteLength(s), Buffer.from(s));

/** One value of each msgpack format, by name, written out by hand. */
const values: Record<string, Buffer> = {
  'positive fixint': b(0x7f),
  'negative fixint': b(0xe0),
  nil: b(0xc0),
  false: b(0xc2),
  true: b(0xc3),
  uint8: b(0xcc, 0xff),
  uint16: b(0xcd, 'ffff'),
  uint32: b(0xce, 'ffffffff'),
  uint64: b(0xcf, 'ffffffffffffffff'),
  int8: b(0xd0, 0x80),
  int16: b(0xd1, '8000'),
  int32: b(0xd2, '80000000'),
  int64: b(0xd3, '8000000000000000'),
  float32: b(0xca, '3fc00000'),
  float64: b(0xcb, 'bff8000000000000'),
  'fixstr empty': b(0xa0),
  'fixstr 31': b(0xbf, Buffer.alloc(31, 'a')),
  'str8 32': b(0xd9, 32, Buffer.alloc(32, 'b')),
  'str8 255': b(0xd9, 255, Buffer.alloc(255, 'c')),
  'str16 256': b(0xda, u16(256), Buffer.alloc(256, 'd')),
  'str16 65535': b(0xda, u16(65535), Buffer.alloc(65535, 'e')),
  'str32 65536': b(0xdb, u32(65536), Buffer.alloc(65536, 'f')),
  'str8 of multi-byte UTF-8': b(0xd9, 40, Buffer.from('é€😀'.repeat(4) + 'x'.repeat(4))),
  bin8: b(0xc4, 3, '00ff92'),
  bin16: b(0xc5, u16(300), Buffer.alloc(300, 0x92)),
  bin32: b(0xc6, u32(70000), Buffer.alloc(70000, 0xd7)),
  'fixext 1': b(0xd4, 5, 'aa'),
  'fixext 2': b(0xd5, 5, 'aabb'),
  'fixext 4': b(0xd6, 5, 'aabbccdd'),
  'fixext 8 (EventTime)': b(0xd7, 0, '6ab13b80075bcd15'),
  'fixext 16': b(0xd8, 5, Buffer.alloc(16, 0xc1)),
  ext8: b(0xc7, 3, 5, 'c1c1c1'),
  ext16: b(0xc8, u16(258), 5, Buffer.alloc(258, 0xdf)),
  ext32: b(0xc9, u32(70000), 0xfb, Buffer.alloc(70000, 0xdd)),
  'empty fixmap': b(0x80),
  'nested fixmap': b(0x82, fixstr('a'), 0x91, 0xc0, fixstr('b'), 0x81, fixstr('c'), 0x92, 0xa0, 0xc3),
  map16: b(0xde, u16(16), ...Array.from({ length: 16 }, (_, i) => b(fixstr(`k${i}`), i % 2 ? 0x90 : i))),
  map32: b(0xdf, u32(2), fixstr('x'), 0xd0, 0xff, fixstr('y'), 0x80),
  'empty fixarray': b(0x90),
  fixarray: b(0x93, 0x01, fixstr('two'), 0x81, fixstr('k'), 0x90),
  array16: b(0xdc, u16(17), ...Array.from({ length: 17 }, (_, i) => b(i))),
  array32: b(0xdd, u32(3), 0xc2, 0xca, '00000000', 0xd9, 1, 'z'.charCodeAt(0)),
  'arrays 200 deep': b(...Array(200).fill(0x91), 0x2a),
};

/** A map of every value above, keyed by name: a record no encoder would write in these formats. */
const everyFormat = b(0xde, u16(Object.keys(values).length), ...Object.entries(values).flatMap(([name, v]) => [b(0xd9, name.length, Buffer.from(name)), v]));

const head = (sec: number, nsec: number) => b(0x92, 0xd7, 0x00, u32(sec), u32(nsec));
const intHead = (sec: number) => b(0x92, 0xce, u32(sec));
const chunk = (...entries: Buffer[]): EventChunk => ({ entries: Buffer.concat(entries), count: entries.length, minTime: { sec: 0, nsec: 0 }, maxTime: { sec: 0, nsec: 0 } });

describe('skipValue', () => {
  for (const [name, value] of Object.entries(values)) {
    it(`${name}: ends where it ends, and a cut value is refused`, () => {
      const after = b(value, 0xc0); // a value follows: skip must not run into it
      expect(skipValue(after, 0)).toBe(value.length);
      expect(skipValue(b(0xc3, value), 1)).toBe(value.length + 1);
      for (const cut of new Set([1, 2, 3, 5, 9, value.length - 1])) {
        if (cut >= 1 && cut < value.length) expect(() => skipValue(value.subarray(0, cut), 0), `cut at ${cut}`).toThrow(RangeError);
      }
    });
  }

  it('refuses the reserved byte 0xc1 and a start past the end', () => {
    expect(() => skipValue(b(0x91, 0xc1), 0)).toThrow(/reserved msgpack byte 0xc1 at byte 1/);
    expect(() => skipValue(b(0x90), 1)).toThrow(RangeError);
  });

  it('a record with every format', () => {
    expect(skipValue(b(everyFormat, 0xc0), 0)).toBe(everyFormat.length);
  });
});

describe('integerTimeEntries', () => {
  it('plain records: each head becomes 0x92 0xce + seconds, the record bytes stay', () => {
    const events = Array.from({ length: 20 }, (_, i) => ({
      sec: 1_790_000_000 + i,
      nsec: 123_456_789,
      record: { event_type: 'signal', pid: 4000 + i, comm: 'kill', signal: 10, error_raw: 0 },
    }));
    const input = chunkOf(events);
    const before = Buffer.from(input.entries);
    const out = integerTimeEntries(input);
    expect(out.length).toBe(input.entries.length - 5 * 20);
    expect(out.subarray(0, 6).toString('hex')).toBe('92ce6ab13b80');
    expect([...decodeMulti(out)]).toEqual(events.map((e) => [e.sec, e.record]));
    expect(input.entries.equals(before)).toBe(true); // the chunk itself is left alone
  });

  it('records with every msgpack format, several entries, empty records: only the heads change', () => {
    const records = [everyFormat, b(0x80), values['nested fixmap']!, b(0x81, fixstr('s'), values['str32 65536']!), everyFormat];
    const entries = records.map((r, i) => b(head(0xfffffff0 + i, 999_999_999), r));
    const out = integerTimeEntries(chunk(...entries));
    expect(out.equals(Buffer.concat(records.map((r, i) => b(intHead(0xfffffff0 + i), r))))).toBe(true);
    // And an independent decoder reads `count` [seconds, map] entries from it.
    const decoded = [...decodeMulti(out, { useBigInt64: true })] as [number, Record<string, unknown>][];
    expect(decoded.map(([sec]) => sec)).toEqual([0xfffffff0, 0xfffffff1, 0xfffffff2, 0xfffffff3, 0xfffffff4]);
    expect(decoded[0]![1]).toMatchObject({ uint64: 2n ** 64n - 1n, int64: -(2n ** 63n), 'negative fixint': -32, float64: -1.5, 'str16 65535': 'e'.repeat(65535), true: true, nil: null });
  });

  it('records msgpackr wrote: nested maps and arrays, floats, negatives, 64-bit integers, bin', () => {
    const packr = new Packr({ useRecords: false, variableMapSize: true });
    const records = Array.from({ length: 50 }, (_, i) => ({
      i,
      neg: -i * 100_000,
      f: i / 3,
      u64: 2n ** 63n + BigInt(i),
      bin: Buffer.alloc(i * 10, i),
      nested: { list: Array.from({ length: i }, (_, j) => ({ j, s: 'x'.repeat(j * 7) })), deeper: { and: [[i], [], {}] } },
    }));
    const entries = records.map((r, i) => b(head(1_790_000_000 + i, i), packr.pack(r)));
    const out = integerTimeEntries(chunk(...entries));
    const expected = records.map((r, i) => b(intHead(1_790_000_000 + i), packr.pack(r)));
    expect(out.equals(Buffer.concat(expected))).toBe(true);
  });

  it('refuses a chunk that is not count [EventTime, map] entries', () => {
    const one = b(head(1, 2), 0x81, fixstr('a'), 0x01);
    const refused = (c: EventChunk) => {
      expect(() => integerTimeEntries(c)).toThrow(MalformedChunkError);
    };
    refused({ ...chunk(one), count: 2 }); // fewer entries than it says
    refused(chunk(one, b(0xc0))); // bytes after the entries
    refused(chunk(one.subarray(0, one.length - 1))); // cut record
    refused(chunk(b(0x92, 0xce, u32(1), 0x80, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0))); // integer time already
    refused(chunk(b(head(1, 2), 0x91, 0xc0))); // record not a map
    refused(chunk(b(head(1, 2), 0x81, fixstr('a'), 0xc1))); // reserved byte
    expect(() => integerTimeEntries({ ...chunk(one), count: 2 })).toThrow(/says 2 entries and has only 15 bytes/);
    expect(integerTimeEntries(chunk()).length).toBe(0);
  });
});
