// What a record must look like, from its trace's declaration: its keys in
// documented order and each value of its declared type.
import { expect } from 'vitest';
import type { FieldType } from '../../src/records/declaration.js';
import { fieldsByEventType } from '../../src/records/field-table.js';
import { CONTAINER_FIELDS, HEAD_FIELDS } from '../../src/records/head.js';
import type { TraceDefinition } from '../../src/traces/types.js';

const isInt = (v: unknown) => (typeof v === 'number' && Number.isInteger(v)) || typeof v === 'bigint';
const inRange = (v: unknown, min: bigint, max: bigint) => isInt(v) && BigInt(v as number | bigint) >= min && BigInt(v as number | bigint) <= max;

const checks: Record<FieldType, (v: unknown) => boolean> = {
  int: (v) => inRange(v, -(2n ** 31n), 2n ** 31n - 1n),
  int64: (v) => inRange(v, -(2n ** 63n), 2n ** 63n - 1n),
  uint: (v) => inRange(v, 0n, 2n ** 32n - 1n),
  uint8: (v) => inRange(v, 0n, 255n),
  uint16: (v) => inRange(v, 0n, 65535n),
  uint32: (v) => inRange(v, 0n, 2n ** 32n - 1n),
  uint64: (v) => inRange(v, 0n, 2n ** 64n - 1n),
  string: (v) => typeof v === 'string',
  bool: (v) => typeof v === 'boolean',
};

/** container_id is left out for a process that is in no container. */
export const HOST_OMITS = ['container_id'];

/**
 * The keys a record of this event_type has, in order (the container fields,
 * unless `container: false`, then sequenceKey last when given); a host
 * process's records have no container_id.
 */
export function expectedKeys(trace: TraceDefinition, eventType: string, sequenceKey?: string, container: 'host' | 'container' | false = 'host'): string[] {
  if ('asIs' in trace.record) throw new Error('a struct sent as it is has no declared keys');
  const fields = fieldsByEventType(trace.record).get(eventType);
  if (!fields) throw new Error(`${trace.name} has no event_type ${eventType}`);
  const tail = container === false ? [] : CONTAINER_FIELDS.map((f) => f.key).filter((k) => container === 'container' || !HOST_OMITS.includes(k));
  return ['event_type', ...HEAD_FIELDS.map((f) => f.key), ...fields.map((f) => f.key), ...tail, ...(sequenceKey ? [sequenceKey] : [])];
}

/**
 * Checks one record against its trace's declaration: documented keys in
 * order (optional further fields, such as realloc's old_address, only
 * where they belong: allowed by `optionalKeys`; event_id may have been set
 * aside) and every value's type.
 */
export function expectDeclaredTypes(trace: TraceDefinition, record: Record<string, unknown>, optionalKeys: readonly string[] = []): void {
  if ('asIs' in trace.record) throw new Error('a struct sent as it is has no declared types');
  const eventType = record.event_type as string;
  const fields = fieldsByEventType(trace.record).get(eventType);
  expect(fields, `${trace.name} event_type ${eventType}`).toBeDefined();
  const declared = [...HEAD_FIELDS, ...fields!, ...CONTAINER_FIELDS];
  // event_id is set aside by EventIds (test/support/decoded-events.ts), which checks it.
  // The container fields are checked, and often set aside, by EventIds too.
  const optional = [...optionalKeys, 'event_id', ...CONTAINER_FIELDS.map((f) => f.key)];
  const wanted = declared.map((f) => f.key).filter((k) => k in record || !optional.includes(k));
  expect(Object.keys(record).slice(1), `${trace.name} ${eventType} keys`).toEqual(wanted);
  expect(typeof record.event_type).toBe('string');
  for (const f of declared) {
    if (!(f.key in record)) continue;
    expect(checks[f.type](record[f.key]), `${trace.name} ${f.key} = ${String(record[f.key])} is ${f.type}`).toBe(true);
  }
}
