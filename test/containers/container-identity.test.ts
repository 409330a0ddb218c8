// Container identity on trace records, on the real kernel: real cgroups
// where docker, containerd, CRI-O, podman and the kubelet make them (from
// the root of the cgroup v2 hierarchy), and imitations of their names where
// a user or a delegated service could make them; a child moved into each
// before it execs, traced by trace_exec. cgroup_id must be the directory's
// inode, container_id the id its runtime's layout names (absent for a host
// cgroup and for every imitation), mntns_id the child's mount namespace; a
// cgroup removed and made again at the same path gives its new id; records
// from many removed cgroups cost a few scans, not one walk each;
// container_metadata Off leaves the three out.
import { statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeContainerNames } from '../support/native-container-names.js';
import { trace_exec } from '../../src/traces/exec/index.js';
import { trace_sched } from '../../src/traces/sched/index.js';
import { trace_signal } from '../../src/traces/signal/index.js';
import { containerIdFrom, runInCgroup, type CgroupChild } from '../support/cgroups.js';
import { waitFor } from '../support/cli.js';
import type { DecodedEvent } from '../support/decoded-events.js';
import { expectDeclaredTypes, expectedKeys } from '../support/field-types.js';
import { startTrace, type StartedTrace } from '../support/trace-session.js';
import { AnchoredCgroups, settledContainerOf } from './anchored-cgroups.js';

const run = `ebpf-forward-identity-${process.pid}`;
const id = (what: string) => containerIdFrom(`${run} ${what}`);
const ids = {
  docker: id('docker'),
  dockerFs: id('docker cgroupfs'),
  podman: id('podman'),
  podmanFs: id('podman cgroupfs'),
  ctr: id('ctr'),
  containerd: id('containerd'),
  crio: id('crio'),
  kubepods: id('kubepods'),
  guaranteed: id('guaranteed'),
  outer: id('outer'),
  inner: id('inner'),
  spoof: id('spoof'),
  reused: id('reused'),
};
const pod = 'pod0f1c3e5a-2d0b-4a8e-9d3c-1b2a3c4d5e6f';
const user = 'user.slice/user-4242.slice/user@4242.service';

/** Each cgroup: its path from the v2 root, and the container id it names (undefined: none). */
const CASES: { name: string; rel: string; container: string | undefined; newMountNamespace?: boolean }[] = [
  { name: 'docker (systemd driver)', rel: `system.slice/docker-${ids.docker}.scope`, container: ids.docker },
  { name: 'docker (cgroupfs driver)', rel: `docker/${ids.dockerFs}`, container: ids.dockerFs },
  { name: 'podman (cgroupfs manager, no .scope)', rel: `libpod_parent/libpod-${ids.podmanFs}`, container: ids.podmanFs },
  { name: 'podman (systemd), in its nested container child', rel: `machine.slice/libpod-${ids.podman}.scope/container`, container: ids.podman, newMountNamespace: true },
  { name: 'containerd through ctr (/<namespace>/<id>)', rel: `${run}/${ids.ctr}`, container: ids.ctr },
  { name: 'containerd (kubelet, systemd driver)', rel: `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234.slice/cri-containerd-${ids.containerd}.scope`, container: ids.containerd },
  { name: 'CRI-O (kubelet, cgroupfs driver)', rel: `kubepods/besteffort/${pod}/crio-${ids.crio}`, container: ids.crio },
  { name: 'kubepods (cgroupfs driver)', rel: `kubepods/burstable/${pod}/${ids.kubepods}`, container: ids.kubepods },
  { name: 'kubepods, guaranteed (no QoS level)', rel: `kubepods/${pod}/${ids.guaranteed}`, container: ids.guaranteed },
  { name: 'nested docker scopes: the outer one', rel: `system.slice/docker-${ids.outer}.scope/docker-${ids.inner}.scope`, container: ids.outer },
  { name: 'a host service', rel: 'system.slice/cron.service', container: undefined },
  { name: 'a conmon scope (not the container)', rel: `machine.slice/libpod-conmon-${ids.podman}.scope`, container: undefined },
  { name: "spoofed: a runtime's name under user.slice", rel: `user.slice/evil/cri-containerd-${ids.spoof}.scope`, container: undefined },
  { name: "spoofed: in a user's delegated systemd (rootless podman's place)", rel: `${user}/user.slice/libpod-${ids.spoof}.scope/container`, container: undefined },
  { name: 'spoofed: under a delegated service', rel: `system.slice/${run}.service/docker-${ids.spoof}.scope`, container: undefined },
];

const cgroups = new AnchoredCgroups();
let exec: StartedTrace;

beforeAll(() => {
  cgroups.cleanup();
  for (const c of CASES) cgroups.make(c.rel);
  exec = startTrace(trace_exec, {}, { keepContainerFields: true });
});

afterAll(() => {
  exec?.session.stop();
  cgroups.cleanup();
});

/** EventIds (startTrace) sets event_id aside. */
const withoutEventId = (keys: string[]) => keys.filter((k) => k !== 'event_id');

/** The exit record of the child's exec of `filename` (pid kept across exec). */
async function execOf(trace: StartedTrace, child: CgroupChild, filename = '/bin/true'): Promise<DecodedEvent> {
  return waitFor(() => trace.events.find((e) => e.record.pid === child.pid && e.record.filename === filename && e.record.stage === 'exit'), 10_000, `the exec record of pid ${child.pid}`);
}

describe('container identity (trace_exec in real cgroups)', () => {
  it('the cgroup v2 mount is found', () => {
    expect(nativeContainerNames().root).toBe(cgroups.path('x').slice(0, -2));
  });

  // The children sleep, so that each record finds its process through /proc/<pid>/cgroup: the path's answer, not a scan's.
  let children: Map<string, CgroupChild>;
  beforeAll(async () => {
    const started = await Promise.all(CASES.map((c) => runInCgroup(cgroups.path(c.rel), '/bin/sleep 0.5', { newMountNamespace: c.newMountNamespace })));
    children = new Map(CASES.map((c, i) => [c.rel, started[i]!]));
  });

  for (const c of CASES) {
    it(`${c.name}: cgroup_id is the directory's inode, container_id ${c.container ? 'its id' : 'absent'}, mntns_id the child's`, async () => {
      const child = children.get(c.rel)!;
      const { record } = await execOf(exec, child, '/bin/sleep');
      expect(BigInt(record.cgroup_id!)).toBe(cgroups.idOf(c.rel));
      expect(record.container_id).toBe(c.container);
      expect(BigInt(record.mntns_id!)).toBe(child.mntns);
      if (c.newMountNamespace) expect(child.mntns).not.toBe(statSync('/proc/self/ns/mnt', { bigint: true }).ino);
      expect(Object.keys(record)).toEqual(withoutEventId(expectedKeys(trace_exec, 'execve', undefined, c.container ? 'container' : 'host')));
      expectDeclaredTypes(trace_exec, record);
      // The cache holds that answer (not a "not known yet"), and a scan for a gone process gives the same.
      expect(await settledContainerOf(cgroups.idOf(c.rel))).toBe(c.container);
    });
  }

  it('the root cgroup names no container', () => {
    const here = nativeContainerNames().lookup(BigInt(statSync(nativeContainerNames().root, { bigint: true }).ino), process.pid);
    expect(here).toBeUndefined();
  });

  it('a cgroup removed and made again at the same path has a new id, and its records say so', async () => {
    const rel = `system.slice/docker-${ids.reused}.scope`;
    const first = cgroups.make(rel);
    const before = await execOf(exec, await runInCgroup(first.path, '/bin/sleep 0.3'), '/bin/sleep');
    expect(BigInt(before.record.cgroup_id!)).toBe(first.id);
    expect(before.record.container_id).toBe(ids.reused);
    cgroups.remove(rel);
    const again = cgroups.make(rel);
    expect(again.id).not.toBe(first.id);
    const after = await execOf(exec, await runInCgroup(again.path, '/bin/sleep 0.3'), '/bin/sleep');
    expect(BigInt(after.record.cgroup_id!)).toBe(again.id);
    expect(after.record.container_id).toBe(ids.reused);

    // A container dies and another starts in the same pod folder: the new one's id.
    const pod = 'kubepods/burstable/pod0a0b0c0d-1111-2222-3333-444455556666';
    const old = cgroups.make(`${pod}/${ids.docker}`);
    expect((await execOf(exec, await runInCgroup(old.path, '/bin/sleep 0.3'), '/bin/sleep')).record.container_id).toBe(ids.docker);
    cgroups.remove(`${pod}/${ids.docker}`);
    const next = cgroups.make(`${pod}/${ids.crio}`);
    const record = (await execOf(exec, await runInCgroup(next.path, '/bin/sleep 0.3'), '/bin/sleep')).record;
    expect(BigInt(record.cgroup_id!)).toBe(next.id);
    expect(record.container_id).toBe(ids.crio);
  });

  it('a cgroup is looked up once: later records of it are cache hits', async () => {
    const rel = `kubepods/besteffort/${pod}/crio-${ids.crio}`;
    const names = nativeContainerNames();
    await settledContainerOf(cgroups.idOf(rel));
    const before = names.stats();
    const child = await runInCgroup(cgroups.path(rel), '/bin/true');
    expect((await execOf(exec, child)).record.container_id).toBe(ids.crio);
    const after = names.stats();
    // The child's records (its sh, stat and true execs, enter and exit) all hit; only other processes' new cgroups may miss.
    expect(after.hits).toBeGreaterThan(before.hits);
    expect(names.lookup(cgroups.idOf(rel), 0)).toBe(ids.crio);
    expect(names.stats().misses).toBe(after.misses);
  });

  it('a record whose process is gone is still named: a scan of where containers can be finds its cgroup', async () => {
    const names = nativeContainerNames();
    const gone = id('gone');
    const rel = `machine.slice/libpod-${gone}.scope/container`;
    const made = cgroups.make(rel);
    // pid 0 has no /proc entry. Named at once by a scan here, or "not known yet" until the scan thread's.
    expect([gone, undefined]).toContain(names.lookup(made.id, 0));
    expect(await settledContainerOf(made.id)).toBe(gone);
    expect(await settledContainerOf(cgroups.idOf(`machine.slice/libpod-${gone}.scope`))).toBe(gone);
  });

  it('records from many removed cgroups: a few scans in all (not a walk each), which read only where containers can be, then cache hits', async () => {
    const names = nativeContainerNames();
    // 200 directories of a user's own, which a scan must not enter (nor a walk of the whole tree avoid).
    for (let i = 0; i < 200; i++) cgroups.make(`${user}/app.slice/d${i}`);
    // 50 containers made and removed: their records come after the fact.
    const removed: bigint[] = [];
    for (let i = 0; i < 50; i++) {
      const rel = `${run}/${id(`churn ${i}`)}`;
      removed.push(cgroups.make(rel).id);
      cgroups.remove(rel);
    }
    const before = names.stats();
    for (let round = 0; round < 3; round++) for (const cgroupId of removed) expect(names.lookup(cgroupId, 0)).toBeUndefined();
    for (const cgroupId of removed) expect(await settledContainerOf(cgroupId)).toBeUndefined();
    const settled = names.stats();
    const scans = settled.walks - before.walks;
    // One scan here, and the scan thread's (at most one a second, each for every miss before it): not one per cgroup.
    expect(scans).toBeGreaterThanOrEqual(1);
    expect(scans).toBeLessThan(10);
    // Each read the root, the top-level folders and the containers' places: fewer than the user's 200.
    expect((settled.walkedDirs - before.walkedDirs) / scans).toBeLessThan(200);
    // A removed cgroup costs one lookup after its answer: the next records of all 50 hit.
    for (const cgroupId of removed) expect(names.lookup(cgroupId, 0)).toBeUndefined();
    expect(names.stats().misses).toBe(settled.misses);
    expect(names.stats().walks).toBe(settled.walks);
  });

  it('trace_sched: the identity is that of the task switched in, not of the one on the CPU', async () => {
    const sched = startTrace(trace_sched, {}, { keepContainerFields: true });
    try {
      const rel = `system.slice/docker-${ids.docker}.scope`;
      // The sleep blocks and wakes: switched in while another task was on the CPU.
      const child = await runInCgroup(cgroups.path(rel), '/bin/sleep 0.1', { newMountNamespace: true });
      // A switch into the sleep, in the cgroup by then (the first may be from
      // before it moved), while it still has its namespaces (one in its
      // exit has no mntns_id).
      const inside = (e: DecodedEvent) => e.record.pid === child.pid && e.record.mntns_id !== undefined && BigInt(e.record.cgroup_id!) === cgroups.idOf(rel);
      const records = await waitFor(() => {
        const mine = sched.events.filter(inside);
        return mine.length >= 1 ? mine : undefined;
      }, 10_000, 'a switch into the child in its cgroup');
      const last = records.at(-1)!.record;
      expect(BigInt(last.cgroup_id!)).toBe(cgroups.idOf(rel));
      expect(last.container_id).toBe(ids.docker);
      expect(BigInt(last.mntns_id!)).toBe(child.mntns);
      expect(last.prev_pid).not.toBe(child.pid);
    } finally {
      sched.session.stop();
    }
  });

  it('container_metadata Off: no cgroup_id, container_id nor mntns_id', async () => {
    const plain = startTrace(trace_signal, {}, { containerMetadata: false });
    try {
      const rel = `system.slice/docker-${ids.docker}.scope`;
      const child = await runInCgroup(cgroups.path(rel), "sh -c 'kill -0 $$'");
      const event = await waitFor(() => plain.events.find((e) => e.record.pid === child.pid && e.record.signal === 0), 10_000, 'the kill(0) record');
      expect(Object.keys(event.record)).toEqual(withoutEventId(expectedKeys(trace_signal, 'signal', undefined, false)));
      // The same call, traced with them on, has them.
      const withThem = await waitFor(() => exec.events.find((e) => e.record.pid === child.pid && e.record.stage === 'exit' && e.record.error_raw === 0 && e.record.argv2 === 'kill -0 $$'), 10_000, 'the exec record');
      expect(withThem.record.container_id).toBe(ids.docker);
    } finally {
      plain.session.stop();
    }
  });
});
