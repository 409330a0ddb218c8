// Forward messages from Fluent events, encoded with msgpackr.
//
// Entries are encoded once, when events arrive, as "packed entries"
// ([time, record] arrays back to back, the PackedForward payload); each mode's
// message is then a few header bytes around them, so a batch is never
// re-encoded for a resend, a spool file or another node.
//
// msgpackr's addExtension refuses ext type 0 (EventTime), so each entry's
// head ([time, record] array header and the time) is a small class whose
// pack() writes its bytes in place (as Uint64 below), and a whole batch is
// one packr.pack() of heads and records (EntryHead): per-record
// pack() calls (and a Buffer each, copied after) were the largest part of
// ebpf-forward's CPU under load (bench/run.mjs, --cpu-prof). Array and bin
// headers around pre-encoded entries are framing msgpackr has no API for.
import { Packr, addExtension } from 'msgpackr';
import type { FluentEvent } from '../../event.js';
import type { TransportOptions } from './protocol.js';

const packr = new Packr({ useRecords: false, variableMapSize: true });

/**
 * A non-negative integer that must go out as msgpack uint64: msgpackr writes
 * bigints below 2^63 as int64 (0xd3) and integers beyond 32 bits held in a
 * number as float64, while Fluent Bit sends such fields (addresses, sizes) as
 * unsigned integers.
 */
class Uint64 {
  constructor(readonly value: bigint) {}
}

// msgpackr calls pack(value, allocateForWrite): writing through it emits our
// own bytes in place (here 0xcf + 8 bytes) instead of an ext wrapper. The type
// code is only a registration key (msgpackr requires a non-zero one); it
// never reaches the wire. test/outputs/forward/encoder.test.ts pins the bytes.
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

/**
 * The head of an entry, written in place: the `[time, record]` array header
 * and the time, fixext 8 type 0 (EventTime) or, with Time_as_Integer, uint32.
 * Packing [head, record, head, record...] and leaving out that outer array's
 * header gives the entries back to back, with no array per entry.
 */
class EntryHead {
  constructor(
    readonly sec: number,
    readonly nsec: number,
    readonly asInteger: boolean,
  ) {}
}
addExtension({
  Class: EntryHead,
  type: 0x64,
  pack: ((value: EntryHead, allocateForWrite: Allocate) => {
    if (value.asInteger) {
      const { target, position } = allocateForWrite(6);
      target[position] = 0x92; // [time, record]
      target[position + 1] = 0xce; // uint32 (what msgpack_pack_uint64 gives for today's epoch seconds)
      target.writeUInt32BE(value.sec, position + 2);
    } else {
      const { target, position } = allocateForWrite(11);
      target[position] = 0x92; // [time, record]
      target[position + 1] = 0xd7; // fixext 8
      target[position + 2] = 0x00; // EventTime
      target.writeUInt32BE(value.sec, position + 3);
      target.writeUInt32BE(value.nsec, position + 7);
    }
  }) as unknown as (value: unknown) => Buffer,
});

const U32_MAX = 0xffffffff;
const I32_MIN = -0x80000000;
const U64_LIMIT = 1n << 64n;
const I64_MIN = -(1n << 63n);

const fitsInt32Encoding = (v: number) => v >>> 0 === v || v >> 0 === v;

/** A record value as msgpackr should see it to give Fluent Bit's wire types. */
function wireValue(v: string | number | bigint): string | number | bigint | Uint64 {
  if (typeof v === 'bigint') {
    if (v >= 0n) {
      if (v <= U32_MAX) return Number(v);
      if (v < U64_LIMIT) return new Uint64(v);
    } else {
      if (v >= I32_MIN) return Number(v);
      if (v >= I64_MIN) return v;
    }
    throw new RangeError(`${v} does not fit in 64 bits`);
  }
  if (typeof v === 'number' && Number.isInteger(v) && !fitsInt32Encoding(v)) {
    return v >= 0 ? new Uint64(BigInt(v)) : BigInt(v);
  }
  return v;
}

type WireRecord = Record<string, string | number | bigint>;

/** The record itself when msgpackr encodes it right as is (the usual case), else a converted copy. */
function wireRecord(record: WireRecord): Record<string, unknown> {
  for (const key in record) {
    const v = record[key]!;
    if (typeof v === 'string' || (typeof v === 'number' && (!Number.isInteger(v) || fitsInt32Encoding(v)))) continue;
    const copy: Record<string, unknown> = {};
    for (const k in record) copy[k] = wireValue(record[k]!);
    return copy;
  }
  return record;
}

function checkTime(e: FluentEvent): void {
  if (!(e.sec >>> 0 === e.sec) || !(e.nsec >>> 0 === e.nsec) || e.nsec >= 1e9) {
    throw new RangeError(`invalid event time ${e.sec}.${e.nsec}`);
  }
}

export class EntryEncoder {
  constructor(
    /** Time_as_Integer: whole seconds (Fluentd v0.12) instead of EventTime. */
    readonly timeAsInteger: boolean,
  ) {}

  /** Packed entries: one `[time, record]` msgpack array per event, back to back. */
  encode(events: readonly FluentEvent[]): Buffer {
    const flat = new Array<EntryHead | Record<string, unknown>>(2 * events.length);
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      checkTime(e);
      flat[2 * i] = new EntryHead(e.sec, e.nsec, this.timeAsInteger);
      flat[2 * i + 1] = wireRecord(e.record);
    }
    // (msgpackr does not reuse the bytes it returned, so this view stays valid.)
    return packr.pack(flat).subarray(arrayHeaderBytes(flat.length));
  }
}

/** Length of the msgpack array header for n elements. */
function arrayHeaderBytes(n: number): number {
  return n < 16 ? 1 : n < 0x10000 ? 3 : 5;
}

/** Msgpack array header for n elements. */
export function arrayHeader(n: number): Buffer {
  if (n < 16) return Buffer.from([0x90 | n]);
  if (n < 0x10000) return Buffer.from([0xdc, n >> 8, n & 0xff]);
  const b = Buffer.allocUnsafe(5);
  b[0] = 0xdd;
  b.writeUInt32BE(n, 1);
  return b;
}

/** Msgpack bin header for n bytes. */
export function binHeader(n: number): Buffer {
  if (n < 0x100) return Buffer.from([0xc4, n]);
  if (n < 0x10000) return Buffer.from([0xc5, n >> 8, n & 0xff]);
  const b = Buffer.allocUnsafe(5);
  b[0] = 0xc6;
  b.writeUInt32BE(n, 1);
  return b;
}

/** The options map with only the keys that are set, in Fluent Bit's order. */
function optionsBytes(options: TransportOptions): Buffer {
  const ordered: Record<string, unknown> = {};
  if (options.chunk !== undefined) ordered.chunk = options.chunk;
  if (options.size !== undefined) ordered.size = options.size;
  if (options.compressed !== undefined) ordered.compressed = options.compressed;
  return packr.pack(ordered);
}

/** Forward mode: `[tag, [entries...], options?]` as one buffer (one socket write). */
export function encodeForwardMessage(tag: string, entries: Buffer, count: number, options?: TransportOptions): Buffer {
  const parts = [Buffer.from([options ? 0x93 : 0x92]), packr.pack(tag), arrayHeader(count), entries];
  if (options) parts.push(optionsBytes(options));
  return Buffer.concat(parts);
}

/**
 * PackedForward / CompressedPackedForward: `[tag, bin(payload), options?]`,
 * payload being the packed entries or their gzip.
 */
export function encodePackedForwardMessage(tag: string, payload: Buffer, options?: TransportOptions): Buffer {
  const parts = [Buffer.from([options ? 0x93 : 0x92]), packr.pack(tag), binHeader(payload.length), payload];
  if (options) parts.push(optionsBytes(options));
  return Buffer.concat(parts);
}

/** Any small msgpack value (handshake messages), with msgpackr. */
export function encodeValue(value: unknown): Buffer {
  return packr.pack(value);
}
