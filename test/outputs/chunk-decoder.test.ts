// decodeChunk: a chunk's entries back as events, 64-bit integers exact, nested
// values as written; a chunk that is not what src/chunk.ts describes is
// refused with MalformedChunkError.
import { describe, expect, it } from 'vitest';
import { MalformedChunkError, decodeChunk } from '../../src/outputs/chunk-decoder.js';
import { chunkOf } from '../support/chunks.js';

describe('decodeChunk', () => {
  it('gives each entry its time and record, in order', () => {
    const events = Array.from({ length: 300 }, (_, i) => ({ sec: 1_790_000_000 + i, nsec: 999_999_999 - i, record: { event_type: 'signal', i, comm: 'kill' } }));
    const decoded = decodeChunk(chunkOf(events));
    expect(decoded).toHaveLength(300);
    expect(decoded[0]).toEqual({ time: { sec: 1_790_000_000, nsec: 999_999_999 }, record: { event_type: 'signal', i: 0, comm: 'kill' } });
    expect(decoded[299]).toEqual({ time: { sec: 1_790_000_299, nsec: 999_999_700 }, record: { event_type: 'signal', i: 299, comm: 'kill' } });
    expect(decodeChunk(chunkOf([]))).toEqual([]);
  });

  it('64-bit integers as bigints, smaller ones as numbers; floats, booleans, nil, bin, nested maps and arrays', () => {
    const record = {
      u64: 2n ** 64n - 1n,
      i64: -(2n ** 63n),
      big: 2n ** 40n,
      u32: 0xffffffff,
      neg: -5,
      f: 1.5,
      yes: true,
      no: false,
      none: null,
      raw: Buffer.from([0, 1, 0xff]),
      nested: { a: [1, 'two', { three: 3n ** 40n }], b: {} },
    };
    const [event] = decodeChunk(chunkOf([{ sec: 1, nsec: 2, record }]));
    expect(event!.record).toEqual(record);
    expect(typeof event!.record.big).toBe('bigint');
    expect(typeof event!.record.u32).toBe('number');
  });

  it('refuses entries that are not [EventTime, map], truncated bytes and a wrong count', () => {
    const good = chunkOf([{ sec: 1, nsec: 2, record: { a: 'b' } }, { sec: 3, nsec: 4, record: { c: 'd' } }]);
    const truncated = { ...good, entries: good.entries.subarray(0, good.entries.length - 1) };
    expect(() => decodeChunk(truncated)).toThrow(MalformedChunkError);
    expect(() => decodeChunk({ ...good, count: 3 })).toThrow(/says 3 entries and holds 2/);
    // [1, {a: "b"}]: an integer time is not what a chunk holds.
    const integerTime = { ...good, count: 1, entries: Buffer.from('9201' + '81a161a162', 'hex') };
    expect(() => decodeChunk(integerTime)).toThrow(/entry 0 is not \[EventTime, map\]/);
    // [EventTime, "x"]
    const notAMap = { ...good, count: 1, entries: Buffer.concat([good.entries.subarray(0, 11), Buffer.from('a178', 'hex')]) };
    expect(() => decodeChunk(notAMap)).toThrow(MalformedChunkError);
  });
});
