// The input's filters in the kernel, for five traces on the real kernel:
// actors (test/support/filter-actor.ts) named, run as some uid and placed in
// real cgroups make the same events; only those the filters let through are
// recorded, nothing else on the machine is, and the kernel counts the rest.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TraceSession } from '../../src/inputs/trace-session.js';
import { addon } from '../../src/native/addon.js';
import { filterKeys } from '../../src/task-filter/keys.js';
import { trace_exec } from '../../src/traces/exec/index.js';
import { trace_malloc } from '../../src/traces/malloc/index.js';
import { trace_sched } from '../../src/traces/sched/index.js';
import { trace_signal } from '../../src/traces/signal/index.js';
import type { TraceDefinition } from '../../src/traces/types.js';
import { trace_vfs } from '../../src/traces/vfs/index.js';
import { waitFor } from '../support/cli.js';
import type { DecodedRecord } from '../support/decoded-events.js';
import { ACTOR_SIZE, actorFile, containerId, startActor, TestCgroups, trueLink, type Actor } from '../support/filter-actor.js';
import { startTrace } from '../support/trace-session.js';

const NOBODY = 65534;

/** A filter key's value as the config loader gives it: one list per line. */
const parse = (key: string, ...lines: string[]) => lines.map((line) => filterKeys.find((k) => k.name === key)!.parse(line));

/** The record of each trace that shows an actor's events all arrived (its last one). */
const markers: [TraceDefinition, (r: DecodedRecord, a: Actor) => boolean][] = [
  [trace_exec, (r, a) => r.pid === a.pid && r.stage === 'exit' && r.filename === trueLink(a.comm)],
  [trace_vfs, (r, a) => r.pid === a.pid && r.path === actorFile()],
  [trace_signal, (r, a) => r.pid === a.pid && r.signal === 0 && r.tpid === a.pid],
  [trace_sched, (r, a) => r.pid === a.pid],
  [trace_malloc, (r, a) => r.pid === a.pid && Number(r.size) === ACTOR_SIZE + 2],
];

interface Case {
  /** The input's filter keys, as parsed. */
  keys: Record<string, unknown>;
  /** The actors that must be recorded, and those that must not. */
  pass: Actor[];
  fail: Actor[];
}

let cgroups: TestCgroups;
let sessions: TraceSession[] = [];

beforeAll(() => {
  addon().ensureTracefs();
  cgroups = new TestCgroups('filters');
});

afterAll(() => {
  for (const s of sessions) s.close();
  cgroups?.remove();
});

/**
 * Starts the trace with the case's filter keys (afterStart may add actors
 * then, in cgroups made after the start), lets the actors that must be left
 * out act first (each to its exit), then the others, waits for their last
 * records, and checks: every record is of an actor that passes (nothing
 * else on the machine), and the kernel's filtered count is not 0.
 */
async function check(trace: TraceDefinition, marker: (r: DecodedRecord, a: Actor) => boolean, setup: () => Promise<Case>, afterStart?: () => Promise<Partial<Case>>): Promise<void> {
  const { keys, pass, fail } = await setup();
  const { session, events } = startTrace(trace, keys);
  sessions.push(session);
  const later = (await afterStart?.()) ?? {};
  pass.push(...(later.pass ?? []));
  fail.push(...(later.fail ?? []));
  for (const a of fail) await a.go();
  for (const a of pass) await a.go();
  for (const a of pass) await waitFor(() => (events.some((e) => marker(e.record, a)) ? true : undefined), 10_000, `${trace.name} record of ${a.comm} (pid ${a.pid})`);
  const passing = new Set(pass.map((a) => a.pid));
  const others = events.filter((e) => !passing.has(e.record.pid as number));
  expect(others.map((e) => `${e.record.pid} ${e.record.comm}`), 'records of processes the filters leave out').toEqual([]);
  expect(session.filtered()).toBeGreaterThan(0);
  session.close();
  sessions = sessions.filter((s) => s !== session);
}

describe.each(markers.map(([trace, marker]) => ({ name: trace.name, trace, marker })))('$name filtered in the kernel', ({ trace, marker }) => {
  const name = trace.name.replace('trace_', '');

  it('pid (a list) and exclude_comm: only the listed processes, less those of the excluded name', async () => {
    await check(trace, marker, async () => {
      const [a, b, c] = [await startActor({ comm: `${name}-a` }), await startActor({ comm: `${name}-b` }), await startActor({ comm: `${name}-c` })];
      return { keys: { pid: parse('pid', `${a.pid}, ${b.pid}`), exclude_comm: parse('exclude_comm', `${name}-b`) }, pass: [a], fail: [b, c] };
    });
  });

  it('comm and uid together (kinds ANDed, items ORed)', async () => {
    await check(trace, marker, async () => {
      const a = await startActor({ comm: `${name}-a`, uid: NOBODY });
      const b = await startActor({ comm: `${name}-b` });
      const c = await startActor({ comm: `${name}-c`, uid: NOBODY });
      return { keys: { comm: parse('comm', `${name}-a`, `${name}-b`), uid: parse('uid', String(NOBODY)) }, pass: [a], fail: [b, c] };
    });
  });

  it('exclude_uid: that uid\'s processes left out', async () => {
    await check(trace, marker, async () => {
      const a = await startActor({ comm: `${name}-a` });
      const b = await startActor({ comm: `${name}-b`, uid: NOBODY });
      return { keys: { comm: parse('comm', `${name}-a, ${name}-b`), exclude_uid: parse('exclude_uid', 'nobody') }, pass: [a], fail: [b] };
    });
  });

  it('cgroup by path: that cgroup and its descendants (also one made after the start), less an excluded descendant', async () => {
    const base = `${name}-path`;
    await check(
      trace,
      marker,
      async () => {
        const inside = cgroups.make(base);
        const sub = cgroups.make(`${base}/excluded`);
        const outside = cgroups.make(`${base}-outside`);
        const a = await startActor({ comm: `${name}-a`, cgroup: inside });
        const b = await startActor({ comm: `${name}-b`, cgroup: sub });
        const c = await startActor({ comm: `${name}-c`, cgroup: outside });
        const d = await startActor({ comm: `${name}-d` });
        return {
          keys: { cgroup: parse('cgroup', `${cgroups.root}/${base}`), exclude_cgroup: parse('exclude_cgroup', cgroups.path(`${base}/excluded`)) },
          pass: [a],
          fail: [b, c, d],
        };
      },
      async () => ({ pass: [await startActor({ comm: `${name}-e`, cgroup: cgroups.make(`${base}/later`) })] }),
    );
  });

  it('cgroup by container id prefix: docker/containerd cgroups made before and after the start, not another container', async () => {
    const seed = markers.findIndex(([t]) => t === trace) * 3 + 1;
    const [before, after, other] = [containerId(seed), containerId(seed + 1), containerId(seed + 2)];
    await check(
      trace,
      marker,
      async () => {
        const a = await startActor({ comm: `${name}-a`, cgroup: cgroups.make(`docker-${before}.scope`) });
        const c = await startActor({ comm: `${name}-c`, cgroup: cgroups.make(`docker-${other}.scope`) });
        const d = await startActor({ comm: `${name}-d`, cgroup: cgroups.root });
        return { keys: { cgroup: parse('cgroup', `${before.slice(0, 12)}, ${after.slice(0, 8).toUpperCase()}`) }, pass: [a], fail: [c, d] };
      },
      async () => {
        // Made after the start: the cgroup_mkdir program must add it, and its child.
        cgroups.make(`cri-containerd-${after}.scope`);
        const inner = cgroups.make(`cri-containerd-${after}.scope/init`);
        return { pass: [await startActor({ comm: `${name}-b`, cgroup: inner })] };
      },
    );
  });
});
