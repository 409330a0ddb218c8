// trace_sched on the real kernel: two processes ping-pong a byte over a pipe
// on one CPU; their records are checked against the kernel's own count of
// their switches (read while both are blocked, before and after), field by
// field, narrowed by pid, comm and run-queue latency; a system-wide trace
// never shows ebpf-forward's own switches.
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { durationToNs, trace_sched } from '../../src/traces/sched/index.js';
import { writeConfig } from '../support/cli.js';
import { configError } from '../config/helpers.js';
import type { DecodedEvent, DecodedRecord } from '../support/decoded-events.js';
import { expectDeclaredTypes } from '../support/field-types.js';
import { keepOffCpu, startPingPong, type PingPong, type SwitchCounts } from '../support/sched.js';
import { startTrace, type StartedTrace } from '../support/trace-session.js';

const ROUNDS = 1000;
/** Kernel priorities: nice 0 and nice 5 (sched-pong). */
const PRIO = { ping: 120, pong: 125 };
/** A flag of the state word (include/linux/sched.h). */
const TASK_FREEZABLE = 0x2000;

let pp: PingPong;
let restoreCpus: (() => void) | undefined;
const started: StartedTrace[] = [];

beforeAll(async () => {
  pp = await startPingPong(ROUNDS);
  // Switches from or to the test (ebpf-forward) are never recorded: none
  // may happen where the children's records are counted.
  restoreCpus = keepOffCpu(pp.cpu);
});
afterAll(async () => {
  restoreCpus?.();
  await pp?.stop();
});
afterEach(() => {
  for (const t of started.splice(0)) t.session.close();
});

interface Window {
  records: DecodedRecord[];
  events: DecodedEvent[];
  trace: StartedTrace;
  /** Each child's switches during the window, by the kernel's count. */
  ping: SwitchCounts;
  pong: SwitchCounts;
}

const delta = (a: SwitchCounts, b: SwitchCounts): SwitchCounts => ({ voluntary: b.voluntary - a.voluntary, involuntary: b.involuntary - a.involuntary });
const total = (c: SwitchCounts) => c.voluntary + c.involuntary;

/**
 * Traces one action of the children: the trace starts while both are
 * blocked and stops (everything in the ring handed on) once both are
 * blocked again, so every switch-in of theirs in between is one the
 * kernel's counts include, and no other.
 */
async function traced(keys: Record<string, unknown>, action: () => Promise<unknown> = () => pp.go()): Promise<Window> {
  const before = await pp.settled();
  const trace = startTrace(trace_sched, keys);
  started.push(trace);
  await action();
  const after = await pp.settled();
  trace.session.stop();
  return {
    records: trace.events.map((e) => e.record),
    events: trace.events,
    trace,
    ping: delta(before.ping, after.ping),
    pong: delta(before.pong, after.pong),
  };
}

const ns = (e: DecodedEvent) => BigInt(e.sec) * 1_000_000_000n + BigInt(e.nsec);
const big = (v: unknown) => BigInt(v as number | bigint);

describe('trace_sched', () => {
  it('sched_pid: one record per switch-in of each child, as the kernel counts them; every field', async () => {
    const w = await traced({ sched_pid: [[pp.ping, pp.pong]] });
    expect(w.trace.session.lost()).toBe(0);
    expect(w.trace.session.malformed()).toBe(0);
    // Narrowed in the kernel: nothing of any other process.
    expect(w.records.filter((r) => r.pid !== pp.ping && r.pid !== pp.pong)).toEqual([]);
    const child = { [pp.ping]: { name: 'sched-ping', prio: PRIO.ping, counts: w.ping }, [pp.pong]: { name: 'sched-pong', prio: PRIO.pong, counts: w.pong } };

    for (const r of w.records) {
      expectDeclaredTypes(trace_sched, r, ['event_id']); // event_id: checked and set aside by startTrace
      const c = child[r.pid as number]!;
      expect(r).toMatchObject({ event_type: 'sched', tid: r.pid, comm: c.name, cpu: pp.cpu, next_pid: r.pid, next_prio: c.prio });
      // A latency exactly when the wake-up was seen.
      if (r.wakeup_tracked) expect(big(r.runq_latency_ns)).toBeGreaterThan(0n);
      else expect(big(r.runq_latency_ns)).toBe(0n);
    }

    for (const pid of [pp.ping, pp.pong]) {
      const { counts } = child[pid]!;
      const mine = w.records.filter((r) => r.pid === pid);
      expect(mine.length, `switch-ins of ${child[pid]!.name}`).toBe(total(counts));
      // Every block ends with a wake-up, seen; a preemption has none.
      const tracked = mine.filter((r) => r.wakeup_tracked).length;
      expect(tracked).toBeGreaterThanOrEqual(counts.voluntary);
      expect(mine.length - tracked).toBeLessThanOrEqual(counts.involuntary);
    }
    // Each round trip blocks one of them at least once.
    expect(w.records.filter((r) => r.wakeup_tracked).length).toBeGreaterThanOrEqual(ROUNDS);

    // The task switched out: when it is one of the children, it is the one
    // the CPU's previous record switched in (they never leave this CPU).
    const handOffs = { [pp.ping]: 0, [pp.pong]: 0 };
    const states = new Set<number>();
    w.records.forEach((r, i) => {
      expect(r.prev_pid).not.toBe(r.tid);
      const from = child[r.prev_pid as number];
      if (!from || i === 0) return;
      expect(w.records[i - 1]!.tid, `record ${i}: the task switched out`).toBe(r.prev_pid);
      expect(r.prev_prio).toBe(from.prio);
      states.add(Number(r.prev_state));
      handOffs[r.pid as number]!++;
    });
    expect(handOffs[pp.ping]).toBeGreaterThan(0);
    expect(handOffs[pp.pong]).toBeGreaterThan(0);
    // Blocked in a read (1, S; with TASK_FREEZABLE, 0x2000, in some pipe
    // waits) or preempted (0), nothing else: the raw state word.
    expect(states.has(1)).toBe(true);
    expect([...states].filter((s) => (s & ~TASK_FREEZABLE) !== 0 && (s & ~TASK_FREEZABLE) !== 1)).toEqual([]);

    // No stale wake-up: the one that counts came after the task's previous
    // switch-in (1 us for converting the two kernel times to wall-clock).
    for (const pid of [pp.ping, pp.pong]) {
      const mine = w.events.filter((e) => e.record.pid === pid);
      for (let i = 1; i < mine.length; i++) {
        expect(big(mine[i]!.record.runq_latency_ns)).toBeLessThanOrEqual(ns(mine[i]!) - ns(mine[i - 1]!) + 1000n);
      }
    }
  });

  it('sched_comm: only switches to tasks of that name', async () => {
    const w = await traced({ sched_comm: [['no-such-task', 'sched-pong']] });
    expect(w.records.filter((r) => r.comm !== 'sched-pong' || r.pid !== pp.pong)).toEqual([]);
    expect(w.records).toHaveLength(total(w.pong));
    expect(total(w.ping)).toBeGreaterThanOrEqual(ROUNDS); // ping switched as much, and is not there
    expect(w.trace.session.lost()).toBe(0);
  });

  it('sched_min_runq_latency: only switches that waited at least that long', async () => {
    const all = await traced({ sched_pid: [[pp.ping, pp.pong]], sched_min_runq_latency: durationToNs('10s') });
    expect(total(all.ping) + total(all.pong)).toBeGreaterThanOrEqual(2 * ROUNDS);
    expect(all.records).toEqual([]);

    // 1 ns: every switch whose wake-up was seen, and no other.
    const seen = await traced({ sched_pid: [[pp.ping, pp.pong]], sched_min_runq_latency: 1n });
    for (const pid of [pp.ping, pp.pong]) {
      const counts = pid === pp.ping ? seen.ping : seen.pong;
      const mine = seen.records.filter((r) => r.pid === pid);
      expect(mine.length).toBeGreaterThanOrEqual(counts.voluntary);
      expect(mine.length).toBeLessThanOrEqual(total(counts));
    }
    expect(seen.records.filter((r) => !r.wakeup_tracked || big(r.runq_latency_ns) < 1n)).toEqual([]);

    const slow = await traced({ sched_pid: [[pp.ping, pp.pong]], sched_min_runq_latency: durationToNs('2us') });
    expect(slow.records.filter((r) => big(r.runq_latency_ns) < 2000n)).toEqual([]);
    expect(slow.trace.session.lost()).toBe(0);
  });

  it('a new task: its first switch-in follows its wake-up (sched_wakeup_new); a dead one is switched out in state 128', async () => {
    let children: number[] = [];
    const w = await traced({ sched_comm: [['sched-ping']] }, async () => (children = await pp.fork()));
    expect(children.length).toBeGreaterThan(0);
    const dead = new Set<number>();
    for (const pid of children) {
      const mine = w.records.filter((r) => r.pid === pid);
      expect(mine.length, `switch-ins of child ${pid}`).toBeGreaterThan(0);
      expect(mine[0]).toMatchObject({ tid: pid, comm: 'sched-ping', wakeup_tracked: true });
      expect(big(mine[0]!.runq_latency_ns)).toBeGreaterThan(0n);
      for (const r of w.records.filter((r) => r.prev_pid === pid)) {
        expect([0, 128]).toContain(Number(r.prev_state));
        if (Number(r.prev_state) === 128) dead.add(pid);
      }
    }
    // A dying child is switched out for ping (woken by its exit) at least
    // once in all these, when no other task takes the CPU in between.
    expect(dead.size).toBeGreaterThan(0);
    expect(w.trace.session.lost()).toBe(0);
  });

  it("ebpf-forward's own switches are never recorded, in nor out; nor switches to the idle task", async () => {
    const tasks = () => readdirSync('/proc/self/task').map(Number);
    // This thread's count: another of ours (a pool thread) may end between
    // listing the tasks and reading one (ESRCH, ENOENT), and take its count with it.
    const voluntary = () => Number(/^voluntary_ctxt_switches:\s+(\d+)$/m.exec(readFileSync('/proc/thread-self/status', 'utf8'))?.[1] ?? 0);
    const ownBefore = voluntary();
    const trace = startTrace(trace_sched);
    started.push(trace);
    await pp.go();
    for (let i = 0; i < 10; i++) await new Promise((r) => setTimeout(r, 20)); // our own thread blocks and wakes
    trace.session.stop();
    expect(voluntary()).toBeGreaterThan(ownBefore);
    const own = new Set(tasks());
    const records = trace.events.map((e) => e.record);
    // Every other process is there (unnarrowed).
    expect(records.filter((r) => r.pid === pp.pong).length).toBeGreaterThanOrEqual(1);
    expect(records.filter((r) => r.pid === process.pid || own.has(r.tid as number) || own.has(r.prev_pid as number))).toEqual([]);
    expect(records.filter((r) => r.tid === 0 || r.next_pid === 0)).toEqual([]);
    for (const r of records) expectDeclaredTypes(trace_sched, r, ['event_id']); // event_id: checked and set aside by startTrace
  });
});

describe('trace_sched keys', () => {
  const key = (name: string) => trace_sched.keys!.find((k) => k.name === name)!;
  const load = (input: string) =>
    loadConfig(writeConfig(`[INPUT]\n    Name  ebpf\n    Trace trace_sched\n${input}`), { traces: new Map([[trace_sched.name, trace_sched]]), outputs: new Map(), env: {} });

  it('sched_min_runq_latency: plain nanoseconds, or ns, us, ms, s', () => {
    const cases: [string, bigint][] = [['250000', 250_000n], ['0', 0n], ['100us', 100_000n], ['100µs', 100_000n], ['1.5ms', 1_500_000n], ['2s', 2_000_000_000n], ['7ns', 7n], ['1.25US', 1250n]];
    for (const [text, value] of cases) expect(key('sched_min_runq_latency').parse(text), text).toBe(value);
    for (const bad of ['-1', '1.5ns', '5m', 'ms', '1 ms', '0x10']) expect(() => key('sched_min_runq_latency').parse(bad), bad).toThrow(/is not a duration/);
    expect(load('    sched_min_runq_latency 1ms\n').inputs[0]!.values.get('sched_min_runq_latency')).toBe(1_000_000n);
    const err = configError(() => load('    sched_min_runq_latency 5 minutes\n'));
    expect(err.line).toBe(4);
    expect(err.problem).toMatch(/^sched_min_runq_latency: '5 minutes' is not a duration: use whole nanoseconds/);
  });

  it('sched_pid and sched_comm: lists, repeatable; bad ones named at their line; more than the kernel holds refused at start', () => {
    expect(key('sched_pid').parse('12, 34 56')).toEqual([12, 34, 56]);
    expect(key('sched_comm').parse('nginx, my app')).toEqual(['nginx', 'my app']);
    const values = load('    sched_pid 1 2\n    sched_pid 3\n    sched_comm a\n').inputs[0]!.values;
    expect(values.get('sched_pid')).toEqual([[1, 2], [3]]);
    expect(values.get('sched_comm')).toEqual([['a']]);
    const err = configError(() => load('    sched_comm x\n    sched_pid 12 abc\n'));
    expect([err.line, err.problem]).toEqual([5, "sched_pid: 'abc' is not a pid (a whole number from 1 to 1073741823)"]);
    expect(() => key('sched_comm').parse(' , ')).toThrow(/at least one command name/);
    const pids = Array.from({ length: 1025 }, (_, i) => i + 1);
    expect(() => startTrace(trace_sched, { sched_pid: [pids] })).toThrow(/pid: 1025 items given in all, at most 1024/);
  });
});
