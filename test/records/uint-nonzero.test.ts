// The record program's UINT_NONZERO (src/records/program.ts), in both engines
// byte for byte: the key and the integer, or, for 0, neither and the map
// count lowered (a fixmap of 16 pairs falling from map16 to a fixmap of 15
// moves the record up two bytes). mntns_id is declared with it: 0 means the
// task had let its namespaces go, and is no namespace.
import { describe, expect, it } from 'vitest';
import { openRecordProgram } from '../../src/native/addon.js';
import { CONTAINER_FIELDS } from '../../src/records/head.js';
import { JsRecordEncoder } from '../support/js-encoder.js';
import { Op } from '../../src/records/program.js';
import { encodeBoth, recordMaps } from '../support/both-encoders.js';
import { program, type ProgramBuilder } from '../support/program-builder.js';

/** A record: u64 time at 0, then a u32 at 8 and a u64 at 12. */
function record(u32: number, u64: bigint): Buffer {
  const r = Buffer.alloc(20);
  r.writeBigUInt64LE(1_000_000_000n, 0);
  r.writeUInt32LE(u32, 8);
  r.writeBigUInt64LE(u64, 12);
  return r;
}

/** n pairs: n - 2 numbered ones, then `a` (the u32) and `b` (the u64), each left out when 0. */
function pairs(n: number): ProgramBuilder {
  const p = program().minLen(20).headKtime(0).mapOp(n);
  for (let i = 0; i < n - 2; i++) p.value(`k${i}`).uint(8, 4);
  return p.uintNonzero(8, 4, 'a').uintNonzero(12, 8, 'b').end();
}


const maps = (entries: Buffer) => recordMaps(entries, true);

describe('UINT_NONZERO', () => {
  it('the key and the value when it is not 0; neither when it is', () => {
    const out = encodeBoth(pairs(2), [record(7, 2n ** 40n), record(0, 5n), record(9, 0n), record(0, 0n)]);
    expect(maps(out.entries)).toEqual([{ a: 7, b: 2n ** 40n }, { b: 5 }, { a: 9 }, {}]);
  });

  it('16 pairs less one is a fixmap: the record moves up', () => {
    const out = encodeBoth(pairs(16), [record(3, 1n), record(3, 0n)]);
    const [full, less] = maps(out.entries);
    expect(Object.keys(full!)).toHaveLength(16);
    expect(Object.keys(less!)).toHaveLength(15);
    expect(out.entries[out.entries.indexOf(0xde, 1)]).toBe(0xde); // the first record's map16 header
  });

  it('malformed: a 0 to leave out with no MAP before it; a member past the record', () => {
    const noMap = program().minLen(0).headKtime(0).lit([0x81]).uintNonzero(8, 4, 'a').end();
    expect(encodeBoth(noMap, [record(0, 0n)])).toMatchObject({ count: 0, malformed: 1 });
    expect(encodeBoth(pairs(2), [record(1, 1n).subarray(0, 19)])).toMatchObject({ count: 0, malformed: 1 });
  });

  it('a size other than 1, 2, 4 or 8 is refused by both, with the same message', () => {
    const bad = program().minLen(0).headNow().mapOp(1).op(Op.UINT_NONZERO, 8, 3, 0, 1).end().build();
    const message = 'UINT_NONZERO size 3 is not 1, 2, 4 or 8';
    expect(() => openRecordProgram(bad.code, bad.pool)).toThrow(message);
    expect(() => new JsRecordEncoder(bad.code, bad.pool)).toThrow(message);
  });

  it('mntns_id is declared with it', () => {
    expect(CONTAINER_FIELDS.find((f) => f.key === 'mntns_id')?.from).toEqual({ nonzero: 'hdr.mntns_id' });
  });
});
