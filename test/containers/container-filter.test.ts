// The cgroup filter's container id prefixes against the records' rule, on
// the real kernel: a podman cgroupfs container (`libpod-<id>`, no .scope)
// made before the start (found by the walk) and one made after (added by
// the cgroup_mkdir program) pass; an imitation of a runtime's name under
// user.slice, made before the start, does not, though its id has a prefix
// of the filter.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerIdOfPath } from '../../src/records/container-names.js';
import { trace_exec } from '../../src/traces/exec/index.js';
import { filterKeys } from '../../src/task-filter/keys.js';
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

// Cgroups made after the start are placed by the cgroup_mkdir program: a
// runtime's name counts only where its runtime puts it (the places the
// start's walk found, and those made since below them), as for those the
// walk finds. Each real placement below is made (wholly or partly) after
// the start; each imitation is made after it, in a delegated subtree or
// another place a user or a service can make cgroups.
const later = new AnchoredCgroups();
const NS = `ebpf-forward-ns-${process.pid}`;
const USER_SERVICE = `user.slice/user-${process.pid}.slice/user@${process.pid}.service`;
const OLD_POD = `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${process.pid}_old.slice`;
const NEW_POD = `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${process.pid}_new.slice`;
const id = (what: string) => containerIdFrom(`${run} later ${what}`);
/** Real placements (with any parent missing), made after the start: the process runs in each. */
const REAL = [
  `${NS}/${id('ctr')}`,
  `system.slice/docker-${id('docker')}.scope`,
  `${OLD_POD}/cri-containerd-${id('old pod')}.scope`,
  `${NEW_POD}/cri-containerd-${id('new pod')}.scope`,
  `machine.slice/libpod-${id('podman')}.scope/container`,
  `machine.slice/machine-libpod_pod_${id('podman pod')}.slice/libpod-${id('in podman pod')}.scope`,
];
/** Imitations, made after the start. */
const SPOOFS = [
  `${USER_SERVICE}/evil/docker-${id('spoof user')}.scope`,
  `system.slice/evil-${process.pid}.service/docker-${id('spoof service')}.scope`,
  `ebpf-forward-evil-${process.pid}.scope/${id('spoof scope')}`,
  `kubepods.slice/kubepods-burstable.slice/evil-${process.pid}/cri-containerd-${id('spoof qos')}.scope`,
  `machine.slice/evil-${process.pid}/libpod-${id('spoof machine')}.scope`,
];
/**
 * The layouts and imitations of test/containers/container-rule.test.ts, made
 * after the start, all with one id: the kernel filter must pass exactly those
 * the records' rule names the container of. The runtimes' own top-level
 * folders (/docker, /kubepods, ...) are another test's, so those layouts are
 * at top-level folders of this run's (the rule's answer is the same).
 */
const TABLE_ID = id('table');
const TOP = `ebpf-forward-${process.pid}`;
const TABLE = ((A: string, B: string, POD: string, USER: string) => [
  `${TOP}-docker/${A}`,
  `${TOP}-docker/${A}/init`,
  `${TOP}-libpod/libpod-${A}`,
  `${TOP}-k8s.io/${A}`,
  `system.slice/docker-${A}.scope`,
  `machine.slice/libpod-${A}.scope/container`,
  `machine.slice/machine-libpod_pod_${B}.slice/libpod-${A}.scope`,
  `kubepods.slice/burstable/${POD}/${A}`,
  `kubepods.slice/besteffort/${POD}/crio-${A}`,
  `kubepods.slice/${POD}/${A}`,
  `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod5f1c3e5a_${process.pid}.slice/cri-containerd-${A}.scope`,
  `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod5f1c3e5a_${process.pid}.slice/crio-${A}.scope`,
  `kubepods.slice/kubepods-pod5f1c3e5a_${process.pid}.slice/docker-${A}.scope`,
  `machine.slice/libpod-conmon-${A}.scope`,
  `system.slice/crio-conmon-${A}.scope`,
  `user.slice/evil-${process.pid}/cri-containerd-${A}.scope`,
  `${USER}/app.slice/docker-${A}.scope`,
  `${USER}/user.slice/libpod-${A}.scope/container`,
  `system.slice/build-${process.pid}.service/${A}`,
  `${TOP}-session.scope/docker-${A}.scope`,
  `${TOP}-agent.service/${A}`,
  A,
  `${USER}/kubepods/burstable/${POD}/${A}`,
  `system.slice/x-${process.pid}.service/kubepods/${POD}/${A}`,
  `system.slice/machine-libpod_pod_${B}.slice/libpod-${A}.scope`,
  `kubepods.slice/kubepods-burstable.slice/evil-${process.pid}/cri-containerd-${A}.scope`,
  `${TOP}-docker/${A.slice(1)}`,
  `${TOP}-docker/${A.toUpperCase()}`,
  `system.slice/docker-${A}.service`,
])(TABLE_ID, id('table pod'), `pod5f1c3e5a-${process.pid}`, `user.slice/user-${process.pid}.slice/user@${process.pid}.service`);
const prefixOf = (path: string) => /([0-9a-f]{64})(?:\.scope)?(?:\/container)?$/.exec(path)![1]!.slice(0, 12);

describe('cgroups made after the start: a runtime name counts only where its runtime puts it', () => {
  const traces: StartedTrace[] = [];
  const start = (keys: Record<string, unknown>) => {
    const started = startTrace(trace_exec, keys);
    traces.push(started);
    return started;
  };
  const sleepIn = (trace: StartedTrace, child: CgroupChild) => trace.events.find((e) => e.record.pid === child.pid && e.record.filename === '/bin/sleep' && e.record.stage === 'exit');

  afterAll(() => {
    for (const t of traces) t.session.close();
    later.cleanup();
  });

  it('cgroup <prefix>: the real placements pass, the imitations do not', async () => {
    // There at the start (the walk places them): a kubelet's parent and one pod, a user's delegated service.
    later.make(OLD_POD);
    later.make(USER_SERVICE);
    const cgroupKey = filterKeys.find((k) => k.name === 'cgroup')!;
    const trace = start({ cgroup: [cgroupKey.parse([...REAL, ...SPOOFS].map(prefixOf).join(','))] });
    const imitations: CgroupChild[] = [];
    for (const spoofed of SPOOFS) imitations.push(await runInCgroup(later.make(spoofed).path, '/bin/sleep 0.1'));
    const reals: CgroupChild[] = [];
    for (const real of REAL) reals.push(await runInCgroup(later.make(real).path, '/bin/sleep 0.1'));
    // One ring, in order: once the last real one's record is read, the imitations' would have been.
    for (const [i, child] of reals.entries()) await waitFor(() => sleepIn(trace, child), 10_000, `the exec record from ${REAL[i]}`);
    expect(SPOOFS.filter((_, i) => sleepIn(trace, imitations[i]!)), 'imitations recorded').toEqual([]);
  });

  it('exclude_cgroup <prefix>: the real placement is left out, the imitation is not', async () => {
    const real = `${NS}/${id('excluded ctr')}`;
    const spoofed = `${USER_SERVICE}/evil/docker-${id('excluded spoof')}.scope`;
    const excludeKey = filterKeys.find((k) => k.name === 'exclude_cgroup')!;
    const trace = start({ exclude_cgroup: [excludeKey.parse([real, spoofed].map(prefixOf).join(','))] });
    const left = await runInCgroup(later.make(real).path, '/bin/sleep 0.1');
    const imitation = await runInCgroup(later.make(spoofed).path, '/bin/sleep 0.1');
    await waitFor(() => sleepIn(trace, imitation), 10_000, `the exec record from ${spoofed} (an imitation: not excluded)`);
    expect(sleepIn(trace, left), 'the excluded container recorded').toBeUndefined();
  });

  it("on the records' rule's layouts and imitations, made after the start, the filter passes exactly the rule's containers", async () => {
    const cgroupKey = filterKeys.find((k) => k.name === 'cgroup')!;
    const trace = start({ cgroup: [cgroupKey.parse(TABLE_ID.slice(0, 12))] });
    const contained = (path: string) => containerIdOfPath(`/${path}`) === TABLE_ID;
    const others = [];
    for (const path of TABLE.filter((p) => !contained(p))) others.push({ path, child: await runInCgroup(later.make(path).path, '/bin/sleep 0.1') });
    const containers = [];
    for (const path of TABLE.filter(contained)) containers.push({ path, child: await runInCgroup(later.make(path).path, '/bin/sleep 0.1') });
    expect(containers.length).toBeGreaterThan(10);
    for (const { path, child } of containers) await waitFor(() => sleepIn(trace, child), 10_000, `the exec record from ${path}`);
    expect(others.filter(({ child }) => sleepIn(trace, child)).map(({ path }) => path), "recorded, though the rule names no container of the prefix").toEqual([]);
  });
});
