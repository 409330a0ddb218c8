// Chunks for tests, made as the native encoder makes them, and read back with
// a decoder of their own.
//
// chunkOf() encodes with msgpackr by Fluent Bit's wire types (the rules in
// src/records/program.ts): integers in their smallest form, non-negative
// ones unsigned (uint64 0xcf beyond 32 bits, which msgpackr would write as
// int64 or float64), each entry's head the 11 bytes src/chunk.ts describes.
// recordsOf() reads a chunk with msgpackr's decoder, not the
// @msgpack/msgpack one src/outputs/chunk-decoder.ts uses, so a test that
// checks one with the other does not check a decoder against itself.
import { Packr, Unpackr, addExtension } from 'msgpackr';
import type { EventChunk, EventTime } from '../../src/chunk.js';

/** What a test makes a chunk of: an event time and a record. */
export interface TestEvent {
  sec: number;
  nsec: number;
  record: Record<string, unknown>;
}

const packr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/** A non-negative integer that goes out as msgpack uint64 (0xcf). */
class Uint64 {
  constructor(readonly value: bigint) {}
}

/** An entry's head: 0x92 (array of 2), then EventTime (fixext 8, type 0). */
class EntryHead {
  constructor(
    readonly sec: number,
    readonly nsec: number,
  ) {}
}

// msgpackr calls pack(value, allocateForWrite): writing through it puts our
// own bytes in place instead of an ext wrapper. The type codes are only
// registration keys (msgpackr requires non-zero ones); they never reach the
// bytes.
type Allocate = (size: number) => { target: Buffer; position: number };
addExtension({
  Class: Uint64,
  type: 0x63,
  pack: ((value: Uint64, allocateForWrite: Allocate) => {
    const { target, position } = allocateForWrite(9);
    target[position] = 0xcf;
    target.writeBigUInt64BE(value.value, position + 1);
  }) as unknown as (value: unknown) => Buffer,
});
addExtension({
  Class: EntryHead,
  type: 0x64,
  pack: ((value: EntryHead, allocateForWrite: Allocate) => {
    const { target, position } = allocateForWrite(11);
    target[position] = 0x92;
    target[position + 1] = 0xd7;
    target[position + 2] = 0x00;
    target.writeUInt32BE(value.sec, position + 3);
    target.writeUInt32BE(value.nsec, position + 7);
  }) as unknown as (value: unknown) => Buffer,
});

const fitsInt32Encoding = (v: number) => v >>> 0 === v || v >> 0 === v;

/** A value as msgpackr must see it to write the native encoder's wire types (nested maps and arrays too). */
function wireValue(v: unknown): unknown {
  if (typeof v === 'bigint') {
    if (v >= 0n && v <= 0xffffffffn) return Number(v);
    if (v < 0n && v >= -0x80000000n) return Number(v);
    if (v > 0n) {
      if (v >= 1n << 64n) throw new RangeError(`${v} does not fit in 64 bits`);
      return new Uint64(v);
    }
    if (v < -(1n << 63n)) throw new RangeError(`${v} does not fit in 64 bits`);
    return v; // msgpackr: int64
  }
  if (typeof v === 'number' && Number.isInteger(v) && !fitsInt32Encoding(v)) return wireValue(BigInt(v));
  if (Array.isArray(v)) return v.map(wireValue);
  if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) {
    const copy: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(v)) copy[key] = wireValue(value);
    return copy;
  }
  return v;
}

const earlier = (a: EventTime, b: EventTime) => a.sec < b.sec || (a.sec === b.sec && a.nsec < b.nsec);

/** An EventChunk of the events, entries written as the native encoder writes them. */
export function chunkOf(events: readonly TestEvent[]): EventChunk {
  const flat: unknown[] = [];
  let minTime: EventTime = { sec: 0, nsec: 0 };
  let maxTime: EventTime = { sec: 0, nsec: 0 };
  for (const [i, e] of events.entries()) {
    if (e.sec >>> 0 !== e.sec || e.nsec >>> 0 !== e.nsec || e.nsec >= 1e9) throw new RangeError(`invalid event time ${e.sec}.${e.nsec}`);
    const time = { sec: e.sec, nsec: e.nsec };
    if (i === 0 || earlier(time, minTime)) minTime = time;
    if (i === 0 || earlier(maxTime, time)) maxTime = time;
    flat.push(new EntryHead(e.sec, e.nsec), wireValue(e.record));
  }
  // [head, record, head, record...] without that array's header: the entries back to back.
  const packed = packr.pack(flat);
  const headerBytes = flat.length < 16 ? 1 : flat.length < 0x10000 ? 3 : 5;
  return { entries: Buffer.from(packed.subarray(headerBytes)), count: events.length, minTime, maxTime };
}

/** The events of a chunk's entries, each checked to start with the 11-byte EventTime head. */
export function recordsOf(chunk: EventChunk): TestEvent[] {
  const events: TestEvent[] = [];
  const bytes = chunk.entries;
  if (bytes.length === 0) return events;
  unpackr.unpackMultiple(bytes, (value: unknown, start = 0) => {
    if (bytes[start] !== 0x92 || bytes[start + 1] !== 0xd7 || bytes[start + 2] !== 0x00) {
      throw new Error(`entry at byte ${start} does not start with [EventTime: ${bytes.subarray(start, start + 3).toString('hex')}`);
    }
    // msgpackr reads ext 0 as undefined: the time comes from the head's bytes.
    const [, record] = value as [undefined, Record<string, unknown>];
    events.push({ sec: bytes.readUInt32BE(start + 3), nsec: bytes.readUInt32BE(start + 7), record });
  });
  if (events.length !== chunk.count) throw new Error(`chunk says ${chunk.count} entries, holds ${events.length}`);
  return events;
}
