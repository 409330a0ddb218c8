// A RingReader with a record program on the real kernel: trace_signal's
// object, a program for struct signal_event written here by hand from
// signal.bpf.c, and a kill(pid, 0) from a child. The reader hands on Forward
// entries encoded from the ring's memory; malformed and skipped records are
// counted and never handed on.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { decodeMulti, ExtensionCodec } from '@msgpack/msgpack';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addon, openBpfObject, openRecordProgram, openRingReader, packageRoot, type NativeBpfObject, type NativeRecordProgram, type NativeRingReader } from '../../src/native/addon.js';
import { Btf } from '../../src/records/btf.js';
import { memberAt } from '../../src/records/members.js';
import { program } from '../support/program-builder.js';

const OBJECT = join(packageRoot, 'bpf', '.output', 'signal.bpf.o');

// A program for struct signal_event written here by hand, at the offsets of
// the object's BTF (the record layout is never written in TypeScript).
const layout = Btf.ofObject(OBJECT).struct('signal_event')!;
const at = (path: string) => memberAt(layout, path)!.offset;
const signalProgram = () =>
  program()
    .minLen(at('error_raw') + 4)
    .headKtime(at('hdr.ts_ns'))
    .map(7)
    .value('event_type').value('signal')
    .value('pid').uint(at('hdr.pid'), 4)
    .value('tid').uint(at('hdr.tid'), 4)
    .value('comm').cstr(at('hdr.comm'), 16)
    .value('signal').sint(at('sig'), 4)
    .value('tpid').uint(at('tpid'), 4)
    .value('error_raw').sint(at('error_raw'), 4)
    .end()
    .build();

const codec = new ExtensionCodec();
codec.register({
  type: 0,
  encode: () => null,
  decode: (d: Uint8Array) => ({ sec: new DataView(d.buffer, d.byteOffset).getUint32(0), nsec: new DataView(d.buffer, d.byteOffset).getUint32(4) }),
});

interface Batch {
  entries: Buffer;
  count: number;
  min: number;
  max: number;
}

let object: NativeBpfObject | undefined;
let reader: NativeRingReader | undefined;

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
}

/** signal.bpf.o loaded with kill's tracepoints attached, its ring read with `prog`. */
function start(prog: NativeRecordProgram, batches: Batch[]): NativeRingReader {
  object = openBpfObject(OBJECT);
  object.setGlobal('self_tgid', u32(process.pid)); // our own kills are not traced
  object.load();
  object.attach('kill_exit');
  object.attach('kill_enter');
  reader = openRingReader(
    object,
    'events',
    (entries, count, bytes, minSec, minNsec, maxSec, maxNsec) => {
      // The Buffer is reused: keep a copy.
      batches.push({ entries: Buffer.from(entries.subarray(0, bytes)), count, min: minSec + minNsec / 1e9, max: maxSec + maxNsec / 1e9 });
    },
    1 << 16,
    5,
    prog,
  );
  return reader;
}

async function until<T>(what: string, get: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const got = get();
    if (got !== undefined) return got;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

beforeAll(() => {
  addon().ensureTracefs();
});

afterEach(() => {
  reader?.close();
  object?.close();
  reader = undefined;
  object = undefined;
});

describe('RingReader with a record program', () => {
  it('hands on Forward entries of real records: kill(pid, 0) from a child', async () => {
    const batches: Batch[] = [];
    const built = signalProgram();
    const r = start(openRecordProgram(built.code, built.pool), batches);
    const before = Date.now() / 1000;
    const child = spawnSync('sh', ['-c', `kill -0 ${process.pid}`]);
    expect(child.status).toBe(0);
    // Other processes' kills may come too: find the child's.
    const found = await until('the child\'s entry', () => {
      for (const batch of batches) {
        const entries = [...decodeMulti(batch.entries, { extensionCodec: codec })] as [{ sec: number; nsec: number }, Record<string, unknown>][];
        expect(entries).toHaveLength(batch.count);
        const mine = entries.find(([, rec]) => rec.pid === child.pid);
        if (mine) return { batch, time: mine[0], record: mine[1] };
      }
      return undefined;
    });
    expect(found.record).toEqual({ event_type: 'signal', pid: child.pid, tid: child.pid, comm: 'sh', signal: 0, tpid: process.pid, error_raw: 0 });
    const t = found.time.sec + found.time.nsec / 1e9;
    expect(t).toBeGreaterThan(before - 1);
    expect(t).toBeLessThan(Date.now() / 1000 + 1);
    expect(found.batch.min).toBeLessThanOrEqual(t);
    expect(found.batch.max).toBeGreaterThanOrEqual(t);
    const stats = r.stats();
    expect(stats.records).toBe(batches.reduce((n, b) => n + b.count, 0));
    expect(stats).toMatchObject({ malformed: 0, skipped: 0, dropped: 0 });
  });

  it('counts malformed and skipped records and hands none of them on', async () => {
    // sig 0: a MIN_LEN no record meets (malformed); any other signal: no case (skipped).
    const built = program().switchOn(at('sig'), 4, [[0, 'probe']], null).label('probe').minLen(1 << 20).end().build();
    const batches: Batch[] = [];
    const r = start(openRecordProgram(built.code, built.pool), batches);
    const child = spawnSync('sh', ['-c', `kill -0 ${process.pid}; kill -CONT $$`]);
    expect(child.status).toBe(0);
    const stats = await until('both counted', () => {
      const s = r.stats();
      return s.malformed >= 1 && s.skipped >= 1 ? s : undefined;
    });
    expect(stats).toMatchObject({ batches: 0, records: 0 });
    expect(batches).toEqual([]);
    // drain() finds nothing more to hand on.
    expect(r.drain()).toBe(0);
  });

  it('refuses anything but a record program as the program', () => {
    object = openBpfObject(OBJECT);
    object.load();
    const fn = () => {};
    expect(() => openRingReader(object!, 'events', fn, 4096, 0, {} as NativeRecordProgram)).toThrow(TypeError);
    // The addon itself checks the object's type tag (another wrapped object is not a program).
    expect(() => new (addon().RingReader)(object!, 'events', fn, 4096, 0, object as unknown as NativeRecordProgram)).toThrow(TypeError);
  });
});
