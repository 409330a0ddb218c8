// Framing against hand-checked bytes: each mode's message is a few header
// bytes around a chunk's entries, which appear in it verbatim; each mode
// decoded by an independent msgpack library (@msgpack/msgpack). And the test
// chunks themselves against the same bytes (the native encoder's, as
// src/chunk.ts describes them).
import { gunzipSync, gzipSync } from 'node:zlib';
import { decode, decodeMulti, ExtensionCodec } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { arrayHeader, binHeader } from '../../../src/msgpack/headers.js';
import { encodeForwardMessage, encodePackedForwardMessage } from '../../../src/outputs/forward/framing.js';
import { chunkOf, recordsOf, type TestEvent } from '../../support/chunks.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+|#[^\n]*/g, ''), 'hex');
const ascii = (s: string) => Buffer.from(s).toString('hex');

const event: TestEvent = {
  sec: 1_790_000_000, // 0x6ab13b80
  nsec: 123_456_789, // 0x075bcd15
  record: { event_type: 'signal', pid: 1234, tid: 1235, comm: 'bash', signal: 10, tpid: 99, error_raw: 0 },
};

// [EventTime, {7 keys}] written out by hand from the msgpack spec.
const entryHex = `
  92                                   # array of 2: [time, record]
  d7 00 6ab13b80 075bcd15              # fixext 8, type 0 (EventTime): sec, nsec big-endian
  87                                   # fixmap of 7
  aa ${ascii('event_type')} a6 ${ascii('signal')}
  a3 ${ascii('pid')} cd 04d2           # uint16 1234
  a3 ${ascii('tid')} cd 04d3
  a4 ${ascii('comm')} a4 ${ascii('bash')}
  a6 ${ascii('signal')} 0a             # positive fixint 10
  a4 ${ascii('tpid')} 63
  a9 ${ascii('error_raw')} 00
`;

const codec = new ExtensionCodec();
codec.register({
  type: 0,
  encode: () => null,
  decode: (d: Uint8Array) => ({ sec: new DataView(d.buffer, d.byteOffset).getUint32(0), nsec: new DataView(d.buffer, d.byteOffset).getUint32(4) }),
});
const decodeAll = (b: Uint8Array) => [...decodeMulti(b, { extensionCodec: codec, useBigInt64: true })];

describe('test chunks (chunkOf)', () => {
  it('writes [EventTime, record] as Fluent Bit does, with count and time range', () => {
    const chunk = chunkOf([event]);
    expect(chunk.entries.toString('hex')).toBe(hex(entryHex).toString('hex'));
    expect(chunk).toMatchObject({ count: 1, minTime: { sec: event.sec, nsec: event.nsec }, maxTime: { sec: event.sec, nsec: event.nsec } });
    expect(decodeAll(chunk.entries)).toEqual([[{ sec: event.sec, nsec: event.nsec }, event.record]]);
  });

  it('gives 64-bit integers unsigned/signed wire types, not float64 or int64 for positives', () => {
    const e: TestEvent = {
      sec: 1,
      nsec: 2,
      record: { a: 0x7f00deadbeefn, b: 2 ** 40, c: -(2n ** 40n), d: 5n, e: -5, f: 1.5, g: 2n ** 64n - 1n, h: -(2 ** 40) },
    };
    const { entries } = chunkOf([e]);
    const map = entries.subarray(11).toString('hex');
    expect(map).toBe(
      hex(`
        88
        a1 61 cf 00007f00deadbeef      # uint64
        a1 62 cf 0000010000000000      # 2^40 held in a number: uint64, not float64
        a1 63 d3 ffffff0000000000      # int64
        a1 64 05                       # a small bigint: fixint
        a1 65 fb                       # negative fixint
        a1 66 cb 3ff8000000000000      # float64
        a1 67 cf ffffffffffffffff
        a1 68 d3 ffffff0000000000
      `).toString('hex'),
    );
    expect(decodeAll(entries)[0]).toEqual([{ sec: 1, nsec: 2 }, { a: 0x7f00deadbeefn, b: 2n ** 40n, c: -(2n ** 40n), d: 5, e: -5, f: 1.5, g: 2n ** 64n - 1n, h: -(2n ** 40n) }]);
  });

  it('refuses what msgpack cannot carry', () => {
    expect(() => chunkOf([{ sec: 1, nsec: 0, record: { x: 2n ** 64n } }])).toThrow(/64 bits/);
    expect(() => chunkOf([{ sec: -1, nsec: 0, record: {} }])).toThrow(/invalid event time/);
    expect(() => chunkOf([{ sec: 1, nsec: 1e9, record: {} }])).toThrow(/invalid event time/);
  });

  it('encodes many events back to back; recordsOf reads them back', () => {
    const events = Array.from({ length: 300 }, (_, i) => ({ ...event, nsec: 1000 - i, record: { ...event.record, i } }));
    const chunk = chunkOf(events);
    const decoded = decodeAll(chunk.entries);
    expect(decoded).toHaveLength(300);
    expect(decoded[299]).toEqual([{ sec: event.sec, nsec: 701 }, { ...event.record, i: 299 }]);
    expect(recordsOf(chunk)).toEqual(events);
    expect(chunk).toMatchObject({ count: 300, minTime: { sec: event.sec, nsec: 701 }, maxTime: { sec: event.sec, nsec: 1000 } });
  });
});

describe('message framing', () => {
  const { entries } = chunkOf([event]);
  const threeEntries = chunkOf([event, { ...event, nsec: 1 }, { ...event, record: { nested: { a: [1, 'x'] } } }]);

  it('headers for every size class', () => {
    expect(arrayHeader(15).toString('hex')).toBe('9f');
    expect(arrayHeader(16).toString('hex')).toBe('dc0010');
    expect(arrayHeader(70000).toString('hex')).toBe('dd00011170');
    expect(binHeader(255).toString('hex')).toBe('c4ff');
    expect(binHeader(256).toString('hex')).toBe('c50100');
    expect(binHeader(70000).toString('hex')).toBe('c600011170');
  });

  it('Forward: [tag, [entries], options]', () => {
    const bare = Buffer.concat(encodeForwardMessage('t', entries, 1));
    expect(bare.toString('hex')).toBe(hex(`92 a1 74 91 ${entryHex}`).toString('hex'));
    const withOptions = Buffer.concat(encodeForwardMessage('t', entries, 1, { chunk: 'abc', size: 1 }));
    expect(withOptions.toString('hex')).toBe(hex(`93 a1 74 91 ${entryHex} 82 a5 ${ascii('chunk')} a3 ${ascii('abc')} a4 ${ascii('size')} 01`).toString('hex'));
    expect(decode(withOptions, { extensionCodec: codec })).toEqual(['t', [[{ sec: event.sec, nsec: event.nsec }, event.record]], { chunk: 'abc', size: 1 }]);
  });

  it('PackedForward: [tag, bin(entries), options]', () => {
    const message = Buffer.concat(encodePackedForwardMessage('t', entries, { size: 1 }));
    expect(message.toString('hex')).toBe(hex(`93 a1 74 c4 ${entries.length.toString(16)} ${entryHex} 81 a4 ${ascii('size')} 01`).toString('hex'));
    const [tag, packed, options] = decode(message) as [string, Uint8Array, unknown];
    expect([tag, options]).toEqual(['t', { size: 1 }]);
    expect(decodeAll(packed)).toEqual([[{ sec: event.sec, nsec: event.nsec }, event.record]]);
  });

  it('every mode carries the entries verbatim', () => {
    const { entries: e } = threeEntries;
    const forward = Buffer.concat(encodeForwardMessage('tag', e, 3, { size: 3 }));
    expect(forward.subarray(0, 6).toString('hex')).toBe(`93a3${ascii('tag')}93`);
    expect(forward.subarray(6, 6 + e.length).equals(e)).toBe(true);
    expect(forward.subarray(6 + e.length).toString('hex')).toBe(`81a4${ascii('size')}03`);
    const packed = Buffer.concat(encodePackedForwardMessage('tag', e));
    expect(packed.subarray(0, 7).toString('hex')).toBe(`92a3${ascii('tag')}c4${e.length.toString(16)}`);
    expect(packed.subarray(7).equals(e)).toBe(true);
  });

  it('CompressedPackedForward: [tag, bin(gzip(entries)), {compressed: "gzip"}]', () => {
    const message = Buffer.concat(encodePackedForwardMessage('t', gzipSync(entries), { size: 1, compressed: 'gzip' }));
    const [, packed, options] = decode(message) as [string, Uint8Array, unknown];
    expect(options).toEqual({ size: 1, compressed: 'gzip' });
    expect(decodeAll(gunzipSync(packed))).toEqual([[{ sec: event.sec, nsec: event.nsec }, event.record]]);
  });
});
