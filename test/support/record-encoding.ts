// Ring records encoded by a trace's record program, outside the kernel: for
// synthetic records (edge cases) and recorded ones (the golden test).
import { join } from 'node:path';
import { bpfObjectDir, compileRecordProgram } from '../../src/inputs/trace-session.js';
import { openRecordProgram } from '../../src/native/addon.js';
import { Btf } from '../../src/records/btf.js';
import type { TraceDefinition } from '../../src/traces/types.js';
import { decodeEntries, type DecodedEvent } from './decoded-events.js';

/** Records as the native ring reader hands them on: each [u32 length][u32 0][bytes] at an 8-aligned offset. */
export function ringBatch(records: readonly Buffer[]): Buffer {
  const size = records.reduce((n, r) => n + ((8 + r.length + 7) & ~7), 0);
  const batch = Buffer.alloc(size);
  let at = 0;
  for (const r of records) {
    batch.writeUInt32LE(r.length, at);
    r.copy(batch, at + 8);
    at += (8 + r.length + 7) & ~7;
  }
  return batch;
}

export interface EncodedBatch {
  entries: Buffer;
  count: number;
  malformed: number;
  skipped: number;
}

/** A trace's program (from its built object's BTF) run over a batch with a fixed clock offset. */
export function encodeWithTrace(trace: TraceDefinition, batch: Buffer, count: number, options: { clockOffsetNs?: bigint; sequenceKey?: string } = {}): EncodedBatch {
  const file = join(bpfObjectDir, trace.object);
  const program = compileRecordProgram(trace, Btf.ofObject(file), file, options.sequenceKey);
  const native = openRecordProgram(program.code, program.pool);
  const out = native.encode(batch, count, options.clockOffsetNs ?? 0n, 0n);
  return { entries: out.entries, count: out.count, malformed: out.malformed, skipped: out.skipped };
}

/** Synthetic records through a trace's program, decoded back. */
export function decodeWithTrace(trace: TraceDefinition, records: readonly Buffer[]): DecodedEvent[] {
  const encoded = encodeWithTrace(trace, ringBatch(records), records.length);
  return decodeEntries(encoded.entries);
}
