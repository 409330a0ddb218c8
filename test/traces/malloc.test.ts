// trace_malloc on the real kernel: malloc, calloc, realloc and free from a C
// program, narrowed in the kernel to its pid or its comm; one record per
// call, the addresses the program saw, u64s that stay integers on the wire.
import { spawnSync } from 'node:child_process';
import { decode } from '@msgpack/msgpack';
import { pack } from 'msgpackr';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TraceSession } from '../../src/inputs/trace-session.js';
import { addon } from '../../src/native/addon.js';
import { trace_malloc } from '../../src/traces/malloc/index.js';
import { waitFor } from '../support/cli.js';
import { END_MARKER_SIZE, MallocOperation, mallocProgramPath, START_MARKER_SIZE, startMallocProgram, type MallocCall } from '../support/malloc.js';
import { decodeEntries, EventIds, type DecodedEvent, type DecodedRecord } from '../support/decoded-events.js';

const sessions: TraceSession[] = [];

function start(keys: Record<string, unknown>, events: DecodedEvent[]): TraceSession {
  const ids = new EventIds();
  const session = TraceSession.start({
    trace: trace_malloc,
    settings: { keys: new Map(Object.entries(keys)), selfPid: process.pid },
    ringbufMapName: 'events',
    ringbufBytes: 1 << 22,
    onChunk: (chunk) => events.push(...ids.take(decodeEntries(chunk))),
  });
  sessions.push(session);
  return session;
}

beforeAll(() => {
  addon().ensureTracefs();
});

afterEach(() => {
  for (const s of sessions.splice(0)) s.close();
});

const big = (v: unknown) => BigInt(v as number | bigint);

/** The records between the program's start and end markers, waited for. */
async function between(events: DecodedEvent[], pid: number): Promise<DecodedRecord[]> {
  const mine = () => events.map((e) => e.record).filter((r) => r.pid === pid);
  const isMarker = (r: DecodedRecord, size: number) => r.operation === MallocOperation.malloc && big(r.size) === BigInt(size);
  await waitFor(() => (mine().some((r) => isMarker(r, END_MARKER_SIZE)) ? true : undefined), 10_000, 'the end marker');
  const all = mine();
  const first = all.findIndex((r) => isMarker(r, START_MARKER_SIZE));
  const last = all.findIndex((r) => isMarker(r, END_MARKER_SIZE));
  expect(first).toBeGreaterThanOrEqual(0);
  // The marker's malloc, then its free, then the calls.
  expect(all[first + 1]).toMatchObject({ operation: MallocOperation.free, address: all[first]!.address });
  return all.slice(first + 2, last);
}

function expectCalls(records: DecodedRecord[], calls: MallocCall[], pid: number, tid: number, comm: string) {
  expect(records).toHaveLength(calls.length);
  calls.forEach((c, i) => {
    const r = records[i]!;
    const fields = ['event_type', 'pid', 'tid', 'comm', 'operation', 'address', 'size'];
    if (c.op === 'realloc') fields.push('old_address');
    expect(Object.keys(r)).toEqual(fields);
    expect(r).toMatchObject({ event_type: 'malloc', pid, tid, comm, operation: MallocOperation[c.op] });
    expect(big(r.address), `${c.op} #${i} address`).toBe(c.address);
    expect(big(r.size), `${c.op} #${i} size`).toBe(c.size);
    if (c.op === 'realloc') expect(big(r.old_address)).toBe(c.oldAddress);
    for (const k of ['pid', 'tid', 'operation']) expect(Number.isInteger(r[k]), k).toBe(true);
    for (const k of ['address', 'size', 'old_address']) {
      if (!(k in r)) continue;
      const v = r[k]!;
      // Numbers only while they fit 32 bits: msgpackr would send larger ones as float64.
      if (typeof v === 'number') expect(Number.isInteger(v) && v >= 0 && v <= 0xffffffff, k).toBe(true);
      else expect(typeof v, k).toBe('bigint');
    }
    expect(r.comm as string).not.toContain('\0');
  });
}

describe('trace_malloc', () => {
  it('malloc_pid: every call of that process, in order, with the addresses it got', async () => {
    const program = startMallocProgram();
    const events: DecodedEvent[] = [];
    const session = start({ malloc_pid: [[program.pid, 1]] }, events);
    const run = await program.go();
    expect(run.pid).toBe(program.pid);
    const records = await between(events, run.pid);
    expectCalls(records, run.calls, run.pid, run.tid, 'malloc-ops');
    // The realloc(NULL, n) and realloc(p, 0) made one record each: the
    // malloc and free the C library makes inside them are not calls of their own.
    expect(records.filter((r) => r.operation === MallocOperation.realloc)).toHaveLength(3);
    // Narrowed in the kernel: nothing from any other process on the machine.
    expect(events.filter((e) => e.record.pid !== run.pid)).toEqual([]);
    expect(session.lost()).toBe(0);
    expect(session.malformed()).toBe(0);
  });

  it('malloc_pid: the uprobes are in those processes only, so others never trap', async () => {
    const wanted = startMallocProgram();
    const other = startMallocProgram({ path: mallocProgramPath('malloc-other') });
    await Promise.all([wanted.ready, other.ready]);
    start({ malloc_pid: [[wanted.pid]] }, []);
    // The kernel's per-program run counts (bpf_stats) show whether a probe fired.
    const stats = spawnSync('sysctl', ['-n', 'kernel.bpf_stats_enabled'], { encoding: 'utf8' }).stdout.trim();
    spawnSync('sysctl', ['-qw', 'kernel.bpf_stats_enabled=1']);
    const runs = () => {
      const progs = JSON.parse(spawnSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8' }).stdout) as { name?: string; run_cnt?: number }[];
      return progs.filter((p) => p.name === 'free_entry' || p.name === 'malloc_entry').reduce((n, p) => n + (p.run_cnt ?? 0), 0);
    };
    try {
      const before = runs();
      const run = await other.go();
      expect(run.calls.length).toBeGreaterThan(0);
      expect(runs()).toBe(before);
      await wanted.go();
      expect(runs()).toBeGreaterThan(before);
    } finally {
      spawnSync('sysctl', ['-qw', `kernel.bpf_stats_enabled=${stats || '0'}`]);
    }
  });

  it('malloc_comm: only processes of that name', async () => {
    const events: DecodedEvent[] = [];
    start({ malloc_comm: [['malloc-ops']] }, events);
    const wanted = startMallocProgram();
    const other = startMallocProgram({ path: mallocProgramPath('malloc-other') });
    const [run, otherRun] = await Promise.all([wanted.go(), other.go()]);
    const records = await between(events, run.pid);
    expectCalls(records, run.calls, run.pid, run.tid, 'malloc-ops');
    expect(events.filter((e) => e.record.comm !== 'malloc-ops')).toEqual([]);
    expect(events.filter((e) => e.record.pid === otherRun.pid)).toEqual([]);
  });

  it('addresses and sizes above 32 bits reach the wire as msgpack integers', async () => {
    const program = startMallocProgram();
    const events: DecodedEvent[] = [];
    start({ malloc_pid: [[program.pid]] }, events);
    const run = await program.go();
    const records = await between(events, run.pid);
    const huge = records.find((r) => big(r.size) === 1n << 62n)!;
    const first = records[0]!;
    expect(typeof first.address).toBe('bigint'); // a heap pointer is above 2^32 on 64-bit Linux
    for (const record of [first, huge]) {
      const wire = decode(pack(record), { useBigInt64: true }) as Record<string, unknown>;
      expect(Number.isInteger(wire.address) || typeof wire.address === 'bigint').toBe(true);
      expect(big(wire.address)).toBe(big(record.address));
      expect(big(wire.size)).toBe(big(record.size));
    }
    // With useBigInt64 a msgpack 64-bit int decodes to a bigint and a float64 to a number.
    expect((decode(pack(first), { useBigInt64: true }) as { address: unknown }).address).toBeTypeOf('bigint');
    expect((decode(pack(huge), { useBigInt64: true }) as { size: unknown }).size).toBe(1n << 62n);
  });
});

describe('trace_malloc keys', () => {
  const key = (name: string) => trace_malloc.keys!.find((k) => k.name === name)!;

  it('malloc_pid takes lists and refuses what is not a pid', () => {
    expect(key('malloc_pid').parse('12, 34 56')).toEqual([12, 34, 56]);
    expect(() => key('malloc_pid').parse('12 abc')).toThrow(/malloc_pid: 'abc' is not a pid/);
    expect(() => key('malloc_pid').parse('0')).toThrow(/not a pid/);
    expect(() => key('malloc_pid').parse(' ')).toThrow(/at least one pid/);
  });

  it('malloc_comm takes a comma list; more filters than the kernel holds is an error', () => {
    expect(key('malloc_comm').parse('nginx, my app')).toEqual(['nginx', 'my app']);
    const pids = Array.from({ length: 1025 }, (_, i) => i + 1);
    expect(() => start({ malloc_pid: [pids] }, [])).toThrow(/pid: 1025 items given in all, at most 1024/);
  });
});
