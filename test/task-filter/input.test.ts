// An input filtered to one cgroup, from a config file, while processes
// outside it make the same events: it sends nothing from the rest of the
// machine, and the kernel's count of what it left out reaches the trace's
// counters and the Prometheus metric.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { prometheusRegistry } from '../../src/http/metrics.js';
import { EbpfInput } from '../../src/inputs/ebpf-input.js';
import type { Logger } from '../../src/log.js';
import { addon } from '../../src/native/addon.js';
import { traces } from '../../src/traces/registry.js';
import { waitFor, writeConfig } from '../support/cli.js';
import { decodeEntries, type DecodedEvent } from '../support/decoded-events.js';
import { actorFile, startActor, TestCgroups } from '../support/filter-actor.js';

const quiet: Logger = {
  error() {},
  warn() {},
  info() {},
  debug() {},
  trace() {},
  enabled: () => false,
  child: () => quiet,
};

let cgroups: TestCgroups;
let input: EbpfInput | undefined;

beforeAll(() => {
  addon().ensureTracefs();
  cgroups = new TestCgroups('input');
});

afterAll(() => {
  input?.stop();
  cgroups?.remove();
});

it('an input filtered to one cgroup sends nothing from the rest of the machine; ebpf_forward_trace_filtered_total counts the rest', async () => {
  const inside = cgroups.make('only');
  const config = loadConfig(writeConfig(`[INPUT]\n    Name   ebpf\n    Trace  trace_vfs\n    Trace  trace_signal\n    cgroup ${inside}\n`), { traces, outputs: new Map(), env: {} });
  const events: DecodedEvent[] = [];
  const inActor = await startActor({ comm: 'inside' });
  const outActors = [await startActor({ comm: 'outside-1' }), await startActor({ comm: 'outside-2' })];
  // Moved in after the input started: the filter follows the task's cgroup as it is at each event.
  input = new EbpfInput({ settings: config.inputs[0]!, log: quiet, emit: (_tag, chunk) => events.push(...decodeEntries(chunk)) });
  input.start();
  writeFileSync(`${inside}/cgroup.procs`, String(inActor.pid));
  for (const a of outActors) await a.go();
  await inActor.go();
  await waitFor(() => (events.some((e) => e.record.pid === inActor.pid && e.record.path === actorFile()) ? true : undefined), 10_000, 'the open of the actor inside');
  await waitFor(() => (events.some((e) => e.record.pid === inActor.pid && e.record.event_type === 'signal') ? true : undefined), 10_000, 'the kill of the actor inside');
  expect(events.filter((e) => e.record.pid !== inActor.pid).map((e) => `${e.record.pid} ${e.record.comm}`)).toEqual([]);
  const counters = input.counters();
  expect(counters.map((c) => c.trace)).toEqual(['trace_vfs', 'trace_signal']);
  for (const c of counters) {
    expect(c.filtersCounted).toBe(true);
    expect(c.filtered, c.trace).toBeGreaterThan(0);
  }
  const registry = prometheusRegistry({ counters: () => ({ inputs: [{ instance: 'ebpf.0', traces: input!.counters() }], outputs: [], unrouted: 0, reloads: 0 }), version: 'test', startedAt: Date.now() });
  const text = await registry.metrics();
  for (const c of counters) {
    const value = new RegExp(`^ebpf_forward_trace_filtered_total\\{name="ebpf\\.0",trace="${c.trace}"\\} (\\d+)$`, 'm').exec(text)?.[1];
    expect(Number(value), c.trace).toBeGreaterThanOrEqual(c.filtered);
  }
});

it("a BPF_Object of the user's own without the filters: refused at start, with what to do", () => {
  const object = join(import.meta.dirname, '..', '..', 'conf', 'examples', 'process_exits.bpf.o');
  const config = loadConfig(writeConfig(`[INPUT]\n    Name            ebpf\n    BPF_Object      ${object}\n    BPF_Record_Type process_exit\n    exclude_comm    fluent-bit\n    Trace_Error     exit\n`), { traces, outputs: new Map(), env: {} });
  const own = new EbpfInput({ settings: config.inputs[0]!, log: quiet, emit: () => {} });
  expect(() => own.start()).toThrow(
    `its BPF object ${object} has no filters (bpf/task_filter.bpf.h), so the input's pid, comm, uid and cgroup keys can't apply to it: put it in an [INPUT] of its own without them (Trace_Error exit: stopping)`,
  );
  expect(own.running()).toEqual([]);
});
