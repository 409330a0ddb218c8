// Batch decoding without the kernel: ring batches built by hand in the
// reader's layout ([u32 length][u32 0][record] at 8-aligned offsets).
import { describe, expect, it } from 'vitest';
import { BatchDecoder } from '../../src/inputs/batch-decoder.js';
import { MonotonicClock } from '../../src/inputs/clock.js';
import { emptyHeader, HEADER_SIZE, readHeader } from '../../src/traces/header.js';
import { trace_signal } from '../../src/traces/signal/index.js';
import type { TraceDefinition } from '../../src/traces/types.js';

interface RawSignal {
  ts: bigint;
  seq: number;
  pid: number;
  tid?: number;
  comm: string | Buffer;
  sig: number;
  tpid: number;
  errorRaw?: number;
}

function signalRecord(r: RawSignal): Buffer {
  const b = Buffer.alloc(HEADER_SIZE + 16);
  b.writeBigUInt64LE(r.ts, 0);
  b.writeBigUInt64LE(BigInt(r.seq), 8);
  b.writeUInt32LE(r.pid, 16);
  b.writeUInt32LE(r.tid ?? r.pid, 20);
  b.writeUInt16LE(0, 24);
  if (typeof r.comm === 'string') b.write(r.comm, 32);
  else r.comm.copy(b, 32);
  b.writeInt32LE(r.sig, 48);
  b.writeUInt32LE(r.tpid, 52);
  b.writeInt32LE(r.errorRaw ?? 0, 56);
  return b;
}

/** A batch in the ring reader's layout, `shift` bytes into a larger buffer. */
function batchOf(records: Buffer[], shift = 0): Buffer {
  const size = records.reduce((n, r) => n + ((8 + r.length + 7) & ~7), 0);
  const backing = Buffer.alloc(size + shift + 64, 0xee);
  const batch = backing.subarray(shift, shift + size + 64);
  let at = 0;
  for (const r of records) {
    batch.writeUInt32LE(r.length, at);
    batch.writeUInt32LE(0, at + 4);
    r.copy(batch, at + 8);
    at = (at + 8 + r.length + 7) & ~7;
  }
  return batch;
}

// Wall clock = monotonic + 1.7e18 ns exactly.
const OFFSET = 1_700_000_000_000_000_000n;
const newDecoder = (trace: TraceDefinition = trace_signal) => new BatchDecoder(trace, new MonotonicClock(() => OFFSET));

describe('BatchDecoder', () => {
  it('decodes every record of a batch with its wall-clock time to the nanosecond', () => {
    const records = [
      { ts: 5_000_000_123n, seq: 1, pid: 100, tid: 101, comm: 'loadgen', sig: 0, tpid: 100 },
      { ts: 0xffff_ffffn, seq: 2, pid: 200, comm: 'bash', sig: 15, tpid: 300, errorRaw: 3 },
      { ts: 0x1_0000_0000n, seq: 3, pid: 100, comm: 'loadgen', sig: 9, tpid: 7 },
    ];
    const events = newDecoder().decode(batchOf(records.map(signalRecord)), records.length);
    expect(events.map((e) => e.record)).toEqual([
      { event_type: 'signal', pid: 100, tid: 101, comm: 'loadgen', signal: 0, tpid: 100, error_raw: 0 },
      { event_type: 'signal', pid: 200, tid: 200, comm: 'bash', signal: 15, tpid: 300, error_raw: 3 },
      { event_type: 'signal', pid: 100, tid: 100, comm: 'loadgen', signal: 9, tpid: 7, error_raw: 0 },
    ]);
    const wall = (ts: bigint) => ({ sec: Number((ts + OFFSET) / 1_000_000_000n), nsec: Number((ts + OFFSET) % 1_000_000_000n) });
    expect(events.map((e) => ({ sec: e.sec, nsec: e.nsec }))).toEqual(records.map((r) => wall(r.ts)));
  });

  it('gives the right name for every comm, including ones that share a cache slot', () => {
    // Enough distinct names to collide in the 64-slot comm cache, each seen twice.
    const names = Array.from({ length: 300 }, (_, i) => `proc-${i}`);
    const raws = [...names, ...names].map((comm, i) => ({ ts: BigInt(i), seq: i, pid: i + 1, comm, sig: 0, tpid: 1 }));
    const events = newDecoder().decode(batchOf(raws.map(signalRecord)), raws.length);
    expect(events.map((e) => e.record.comm)).toEqual([...names, ...names]);
  });

  it('keeps a 15-character comm whole and drops the NUL padding', () => {
    const events = newDecoder().decode(batchOf([signalRecord({ ts: 1n, seq: 0, pid: 1, comm: 'abcdefghijklmno', sig: 0, tpid: 1 })]), 1);
    expect(events[0]!.record.comm).toBe('abcdefghijklmno');
  });

  it('decodes the same from a batch that is not 4-aligned in memory', () => {
    const raws = [
      { ts: 77n, seq: 9, pid: 4242, comm: 'x', sig: 2, tpid: 5 },
      { ts: 78n, seq: 10, pid: 4243, comm: 'yy', sig: 3, tpid: 6 },
    ];
    const aligned = newDecoder().decode(batchOf(raws.map(signalRecord)), 2);
    const shifted = newDecoder().decode(batchOf(raws.map(signalRecord), 1), 2);
    expect(shifted).toEqual(aligned);
  });

  it('counts records too short for a header and records the trace holds back, and goes on', () => {
    const holding: TraceDefinition = { ...trace_signal, decode: (data, offset, length, h) => (h.pid === 2 ? null : trace_signal.decode(data, offset, length, h)) };
    const decoder = newDecoder(holding);
    const batch = batchOf([
      signalRecord({ ts: 1n, seq: 1, pid: 1, comm: 'a', sig: 0, tpid: 1 }),
      Buffer.alloc(HEADER_SIZE - 1),
      signalRecord({ ts: 2n, seq: 2, pid: 2, comm: 'b', sig: 0, tpid: 1 }),
      signalRecord({ ts: 3n, seq: 3, pid: 3, comm: 'c', sig: 0, tpid: 1 }),
    ]);
    const events = decoder.decode(batch, 4);
    expect(events.map((e) => e.record.pid)).toEqual([1, 3]);
    expect(decoder.malformed).toBe(1);
    expect(decoder.held).toBe(1);
  });
});

describe('readHeader', () => {
  it('reads every header field, seq beyond 32 bits included', () => {
    const b = signalRecord({ ts: 0x1234_5678_9abc_def0n, seq: 0x1_0000_0005, pid: 11, tid: 12, comm: 'node', sig: 0, tpid: 0 });
    b.writeUInt16LE(3, 24);
    b.writeUInt16LE(0x8001, 26);
    const aligned = Buffer.alloc(b.length);
    b.copy(aligned);
    expect(readHeader(aligned, 0, emptyHeader())).toEqual({
      tsHigh: 0x1234_5678,
      tsLow: 0x9abc_def0,
      seq: 0x1_0000_0005,
      pid: 11,
      tid: 12,
      kind: 3,
      flags: 0x8001,
      comm: 'node',
    });
  });
});
