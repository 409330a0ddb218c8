// A record program run by both engines, the native one (the addon) and the
// TypeScript reference (test/support/js-encoder.ts), which must agree byte for
// byte; and the records of a batch decoded, for the tests of its opcodes.
import { decodeMulti } from '@msgpack/msgpack';
import { expect } from 'vitest';
import { openRecordProgram, type EncodedBatch } from '../../src/native/addon.js';
import { JsRecordEncoder, type ContainerMetadataOf } from './js-encoder.js';
import { batchOf, type ProgramBuilder } from './program-builder.js';

/** Encodes `records` with the program in both engines, expects the same batch, and returns the native one. */
export function encodeBoth(p: ProgramBuilder, records: Buffer[], metadataOf?: ContainerMetadataOf): EncodedBatch {
  const built = p.build();
  const batch = batchOf(records);
  const native = openRecordProgram(built.code, built.pool).encode(batch, records.length, 0n, 0n);
  const js = new JsRecordEncoder(built.code, built.pool, undefined, metadataOf).encode(batch, records.length, 0n, 0n);
  expect(js.entries.toString('hex')).toBe(native.entries.toString('hex'));
  expect({ ...js, entries: null }).toEqual({ ...native, entries: null });
  return native;
}

/** The record maps of a batch's entries ([time, record] each). */
export const recordMaps = (entries: Buffer, useBigInt64 = false) =>
  [...decodeMulti(entries, { useBigInt64 })].map((e) => (e as [unknown, Record<string, unknown>])[1]);
