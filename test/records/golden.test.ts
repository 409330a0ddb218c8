// The golden test: real ring records (test/fixtures/golden, captured from the
// trace tests before the direct encoder existed) give, through each trace's
// record program compiled from its object's BTF, exactly the bytes the old
// path (a JS object per record, then msgpackr) gave. Two old bugs are the only
// differences allowed, each checked to be just that:
//  - records of signal, bind and tcp shorter than their struct, which the old
//    decoders read past their end (into the padding and the next record):
//    the new encoder counts them as malformed;
//  - a sequence number above 2^53, which the old path rounded to a double:
//    the new encoder sends it exactly.
// The records were made by the objects of that time: the programs are
// compiled against their BTF (kept beside each fixture), and without the
// head fields added since (event_id), so the record layout may change and
// this test still pins every other byte.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { skipValue } from '../../src/msgpack/skip.js';
import { bpfObjectDir } from '../../src/inputs/session-options.js';
import { Btf } from '../../src/records/btf.js';
import { HEAD_FIELDS } from '../../src/records/head.js';
import { traces } from '../../src/traces/registry.js';
import { decodeEntries } from '../support/decoded-events.js';
import { batchOf } from '../support/program-builder.js';
import { traceEncoder } from '../support/record-encoding.js';

const dir = join(import.meta.dirname, '..', 'fixtures', 'golden');

interface Golden {
  trace: string;
  clockOffsetNs: string;
  sequenceKey: string | null;
  records: number;
  events: number;
  ring: string;
  entries: string;
}

/** The records of a batch in the native ring format. */
function recordsOf(batch: Buffer, count: number): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    const length = batch.readUInt32LE(at);
    out.push(batch.subarray(at + 8, at + 8 + length));
    at = (at + 8 + length + 7) & ~7;
  }
  return out;
}

/** Packed entries split into one Buffer per entry. */
function entriesOf(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    const end = skipValue(bytes, at);
    out.push(bytes.subarray(at, end));
    at = end;
  }
  return out;
}

/** Traces whose old decoders read a record without checking its length. */
const UNCHECKED_BEFORE = new Set(['trace_signal', 'trace_bind', 'trace_tcp']);

/** Whether `mine` is `old` but for a last u64 (the sequence key's value) that the old path rounded to a double. */
function onlySequenceRounded(mine: Buffer, old: Buffer): boolean {
  if (mine.length !== old.length || mine.length < 9) return false;
  const tail = mine.length - 9;
  if (!mine.subarray(0, tail + 1).equals(old.subarray(0, tail + 1)) || mine[tail] !== 0xcf) return false;
  const exact = mine.readBigUInt64BE(tail + 1);
  return exact > 2n ** 53n && old.readBigUInt64BE(tail + 1) === BigInt(Number(exact));
}

const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

/** The head the fixtures' records had: event_id came later. */
const HEAD_AT_CAPTURE = HEAD_FIELDS.filter((f) => f.key !== 'event_id');

describe('golden: the direct encoder writes what the old encoder wrote', () => {
  it('has a fixture for every trace', () => {
    expect(new Set(files.map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')).trace))).toEqual(new Set(['trace_signal', 'trace_exec', 'trace_bind', 'trace_tcp', 'trace_vfs', 'trace_malloc']));
  });

  /**
   * The fixture's BTF (the layouts of that time), with the enums of today's
   * object: the declarations name record kinds and values by enumerator,
   * and those objects carried no enums in their BTF (the numbers are the same).
   */
  function withEnumsOf(fixture: Btf, current: Btf): Btf {
    return Object.assign(Object.create(fixture) as Btf, { enumerators: (name: string) => current.enumerators(name) });
  }

  for (const file of files) {
    it(file, () => {
      const golden = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Golden;
      const trace = traces.get(golden.trace)!;
      const ring = Buffer.from(golden.ring, 'base64');
      const expected = entriesOf(Buffer.from(golden.entries, 'base64'));
      expect(expected).toHaveLength(golden.events);
      const btf = withEnumsOf(Btf.parse(readFileSync(join(dir, `${golden.trace}.btf`)), `${golden.trace}.btf`), Btf.ofObject(join(bpfObjectDir, trace.object)));
      // The fixtures' headers had no container identity: compiled as with container_metadata Off.
      const options = { clockOffsetNs: BigInt(golden.clockOffsetNs), sequenceKey: golden.sequenceKey ?? undefined, btf, headFields: HEAD_AT_CAPTURE, containerMetadata: false };

      // Record by record: each gives the old entry, or nothing where the old path gave nothing.
      let next = 0;
      let deviations = 0;
      const kept: Buffer[] = [];
      const encode = traceEncoder(trace, options);
      for (const [i, record] of recordsOf(ring, golden.records).entries()) {
        const one = encode(batchOf([record]), 1);
        if (one.count === 1) {
          const old = expected[next]!;
          if (golden.sequenceKey && onlySequenceRounded(one.entries, old)) deviations++;
          else expect(one.entries.toString('hex'), `${file}: record ${i} (${record.length} bytes)`).toBe(old.toString('hex'));
          next++;
          kept.push(one.entries);
          continue;
        }
        if (UNCHECKED_BEFORE.has(golden.trace) && record.length >= 48 && one.malformed === 1) {
          // The old path made an entry of bytes past this record; the new one refuses it.
          next++;
          deviations++;
        }
      }
      expect(next, `${file}: every old entry accounted for`).toBe(expected.length);

      // The whole batch at once gives the same bytes as record by record.
      const whole = encode(ring, golden.records);
      expect(whole.entries.equals(Buffer.concat(kept))).toBe(true);
      expect(whole.count + whole.malformed + whole.skipped).toBe(golden.records);
      // And an independent decoder reads them.
      expect(decodeEntries(whole.entries)).toHaveLength(whole.count);
      expect(whole.count, `${file}: the old entries but those of records read past their end`).toBe(kept.length);
      expect(deviations, `${file}: differences, each an old bug`).toBeLessThanOrEqual(12);
    });
  }
});
