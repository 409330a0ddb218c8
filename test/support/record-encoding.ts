// Ring records encoded by a trace's record program, outside the kernel: for
// synthetic records (edge cases) and recorded ones (the golden test).
import { join } from 'node:path';
import { bpfObjectDir } from '../../src/inputs/session-options.js';
import { compileTrace } from '../../src/records/compile.js';
import type { FieldDeclaration } from '../../src/records/declaration.js';
import { openRecordProgram } from '../../src/native/addon.js';
import { Btf } from '../../src/records/btf.js';
import type { TraceDefinition } from '../../src/traces/types.js';
import { decodeEntries, type DecodedEvent } from './decoded-events.js';
import { batchOf } from './program-builder.js';

export interface EncodedBatch {
  entries: Buffer;
  count: number;
  malformed: number;
  skipped: number;
}

export interface EncodeOptions {
  clockOffsetNs?: bigint;
  sequenceKey?: string;
  /** The layout the records were made with (default: the built object's BTF). */
  btf?: Btf;
  headFields?: readonly FieldDeclaration[];
  /** As the input's container_metadata (default true). */
  containerMetadata?: boolean;
}

/** A trace's program, compiled once, to run over batches with a fixed clock offset. */
export function traceEncoder(trace: TraceDefinition, options: EncodeOptions = {}): (batch: Buffer, count: number) => EncodedBatch {
  if ('asIs' in trace.record) throw new Error('traceEncoder is for declared records');
  const btf = options.btf ?? Btf.ofObject(join(bpfObjectDir, trace.object));
  const program = compileTrace(trace.record, btf, { trace: trace.name, object: trace.object, sequenceKey: options.sequenceKey, headFields: options.headFields, containerMetadata: options.containerMetadata });
  const native = openRecordProgram(program.code, program.pool);
  return (batch, count) => {
    const out = native.encode(batch, count, options.clockOffsetNs ?? 0n, 0n);
    return { entries: out.entries, count: out.count, malformed: out.malformed, skipped: out.skipped };
  };
}

/** Synthetic records through a trace's program (without the container fields: test/containers/ has those), decoded back. */
export function decodeWithTrace(trace: TraceDefinition, records: readonly Buffer[]): DecodedEvent[] {
  const encoded = traceEncoder(trace, { containerMetadata: false })(batchOf(records), records.length);
  return decodeEntries(encoded.entries);
}
