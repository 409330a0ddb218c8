// sequence_key on the real kernel: every record carries its trace's sequence
// number, and records the kernel could not queue take one too, so the gaps a
// consumer sees are exactly the losses ebpf-forward counts. The trace sees
// only the test's own cgroup: another process's signals would fill the one
// page and crowd out the marker.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TraceSession } from '../../src/inputs/trace-session.js';
import { addon } from '../../src/native/addon.js';
import { trace_signal } from '../../src/traces/signal/index.js';
import { filterKeys } from '../../src/task-filter/keys.js';
import { waitFor } from '../support/cli.js';
import { TestCgroups } from '../support/filter-actor.js';
import { buildLoadgen } from '../../bench/loadgen.mjs';
import { decodeEntries, EventIds, type DecodedEvent } from '../support/decoded-events.js';

let session: TraceSession;
let cgroups: TestCgroups;
const events: DecodedEvent[] = [];

/** Runs a program to its end inside the test's cgroup; returns its pid. */
function runInCgroup(program: string, args: string[]): number {
  const run = spawnSync('sh', ['-c', 'echo $$ > "$CG/cgroup.procs" && exec "$@"', 'sh', program, ...args], { env: { ...process.env, CG: cgroups.root } });
  if (run.status !== 0) throw new Error(`${program} exited with ${run.status}: ${String(run.stderr)}`);
  return run.pid!;
}

beforeAll(() => {
  addon().ensureTracefs();
  cgroups = new TestCgroups('sequence');
  const cgroupKey = filterKeys.find((k) => k.name === 'cgroup')!;
  const ids = new EventIds();
  session = TraceSession.start({
    trace: trace_signal,
    settings: { keys: new Map([['cgroup', [cgroupKey.parse(cgroups.path())]]]), selfPid: process.pid },
    ringbufMapName: 'events',
    ringbufBytes: 4096, // one page: a burst overflows it
    sequenceKey: 'seq',
    onChunk: (chunk) => events.push(...ids.take(decodeEntries(chunk))),
  });
});

afterAll(() => {
  session?.close();
  cgroups?.remove();
});

it('gaps in the sequence are the records lost in the kernel', async () => {
  // Synchronously: the event loop can't read the ring while the burst runs.
  runInCgroup(buildLoadgen(), ['signal', '20000', '0']);
  // Once the ring is read, one more record gets through, after the gap.
  await waitFor(() => (events.length > 0 ? true : undefined), 5000, 'the records that fitted');
  const marker = runInCgroup('/bin/kill', ['-0', String(process.pid)]);
  await waitFor(() => (events.some((e) => e.record.pid === marker) ? true : undefined), 5000, 'the marker record');
  session.stop(); // detach, then read what the ring holds
  const lost = session.lost();
  const seqs = events.map((e) => e.record.seq as number);
  expect(lost).toBeGreaterThan(0);
  expect(seqs.every((s) => Number.isInteger(s))).toBe(true);
  const total = seqs.length + lost;
  expect(new Set(seqs).size).toBe(seqs.length);
  expect(Math.max(...seqs)).toBeLessThan(total);
  // The lost records left holes: the received numbers are not just 0..n-1.
  expect(Math.max(...seqs)).toBeGreaterThanOrEqual(seqs.length);
  // The key comes after the documented fields.
  expect(Object.keys(events[0]!.record).at(-1)).toBe('seq');
});
