// Ring records written by hand for edge cases, at the offsets the trace's
// object's BTF gives: a test names members ("hdr.pid", "peer.addr"), never
// offsets, so records stay right when a struct changes.
import { join } from 'node:path';
import { bpfObjectDir } from '../../src/inputs/session-options.js';
import { Btf } from '../../src/records/btf.js';
import { memberAt } from '../../src/records/members.js';
import type { TraceDefinition } from '../../src/traces/types.js';

export type MemberValue = number | bigint | string | Uint8Array | readonly number[];

/**
 * A record of `struct` from the trace's built object: members set by path,
 * `tail` bytes appended after the struct (strings stored after it).
 */
export function recordOf(trace: TraceDefinition, struct: string, values: Record<string, MemberValue>, tail: Uint8Array = new Uint8Array(0)): Buffer {
  const layout = Btf.ofObject(join(bpfObjectDir, trace.object)).struct(struct);
  if (!layout) throw new Error(`${trace.object} has no struct ${struct}`);
  const record = Buffer.alloc(layout.size + tail.length);
  Buffer.from(tail).copy(record, layout.size);
  for (const [path, value] of Object.entries(values)) {
    const m = memberAt(layout, path);
    if (!m) throw new Error(`struct ${struct} has no member ${path}`);
    if (typeof value === 'string' || value instanceof Uint8Array || Array.isArray(value)) {
      const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value as readonly number[]);
      if (bytes.length > m.type.size) throw new Error(`${path} holds ${m.type.size} bytes, not ${bytes.length}`);
      bytes.copy(record, m.offset);
      continue;
    }
    const type = m.type.kind === 'int' || m.type.kind === 'enum' ? m.type : undefined;
    if (!type) throw new Error(`${path} is not an integer`);
    // Little-endian, two's complement, in the member's own size.
    let v = BigInt.asUintN(type.size * 8, BigInt(value as number | bigint));
    for (let i = 0; i < type.size; i++, v >>= 8n) record[m.offset + i] = Number(v & 0xffn);
  }
  return record;
}
