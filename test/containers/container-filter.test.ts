// The cgroup filter's container id prefixes against the records' rule, on
// the real kernel: a podman cgroupfs container (`libpod-<id>`, no .scope)
// made before the start (found by the walk) and one made after (added by
// the cgroup_mkdir program) pass; an imitation of a runtime's name under
// user.slice, made before the start, does not, though its id has a prefix
// of the filter.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trace_exec } from '../../src/traces/exec/index.js';
import { filterKeys } from '../../src/traces/process-filter.js';
import { containerIdFrom, runInCgroup, type CgroupChild } from '../support/cgroups.js';
import { waitFor } from '../support/cli.js';
import { startTrace, type StartedTrace } from '../support/trace-session.js';
import { AnchoredCgroups } from './anchored-cgroups.js';

const run = `container-filter ${process.pid}`;
const before = containerIdFrom(`${run} before`);
const after = containerIdFrom(`${run} after`);
const spoof = containerIdFrom(`${run} spoof`);
const SPOOFED = `user.slice/user-${process.pid}.slice/user@${process.pid}.service/app.slice/docker-${spoof}.scope`;

const cgroups = new AnchoredCgroups();
let exec: StartedTrace;

beforeAll(() => {
  cgroups.cleanup();
  cgroups.make(`libpod_parent/libpod-${before}`);
  cgroups.make(SPOOFED);
  const cgroupKey = filterKeys.find((k) => k.name === 'cgroup')!;
  exec = startTrace(trace_exec, { cgroup: [cgroupKey.parse([before, after, spoof].map((id) => id.slice(0, 12)).join(','))] });
});

afterAll(() => {
  exec?.session.stop();
  cgroups.cleanup();
});

const sleepOf = (child: CgroupChild) => exec.events.find((e) => e.record.pid === child.pid && e.record.filename === '/bin/sleep' && e.record.stage === 'exit');

describe('cgroup filter by container id prefix, where the runtimes put containers', () => {
  it('podman cgroupfs containers made before and after the start pass; an imitation under user.slice does not', async () => {
    const imitation = await runInCgroup(cgroups.path(SPOOFED), '/bin/sleep 0.1');
    const first = await runInCgroup(cgroups.path(`libpod_parent/libpod-${before}`), '/bin/sleep 0.1');
    // Made after the start: the cgroup_mkdir program adds it.
    cgroups.make(`libpod_parent/libpod-${after}`);
    const second = await runInCgroup(cgroups.path(`libpod_parent/libpod-${after}`), '/bin/sleep 0.1');
    await waitFor(() => sleepOf(first), 10_000, 'the exec record from the container made before');
    // One ring, in order: once the last one's record is read, the imitation's would have been.
    await waitFor(() => sleepOf(second), 10_000, 'the exec record from the container made after');
    expect(sleepOf(imitation)).toBeUndefined();
  });
});
