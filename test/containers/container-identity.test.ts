// Container identity on trace records, on the real kernel: real cgroups
// under the cgroup v2 mount named as docker, containerd, CRI-O, podman and
// kubepods name them, a child moved into each before it execs, traced by
// trace_exec. cgroup_id must be the directory's inode, container_id the id
// its path names (absent for a host-like cgroup), mntns_id the child's mount
// namespace; a cgroup removed and made again at the same path gives its new
// id; container_metadata Off leaves the three out.
import { statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeContainerNames } from '../../src/records/native-container-names.js';
import { trace_exec } from '../../src/traces/exec/index.js';
import { trace_sched } from '../../src/traces/sched/index.js';
import { trace_signal } from '../../src/traces/signal/index.js';
import { containerIdFrom, runInCgroup, TestCgroups, type CgroupChild } from '../support/cgroups.js';
import { waitFor } from '../support/cli.js';
import type { DecodedEvent } from '../support/decoded-events.js';
import { expectDeclaredTypes, expectedKeys } from '../support/field-types.js';
import { startTrace, type StartedTrace } from '../support/trace-session.js';

const ids = {
  docker: containerIdFrom('docker'),
  containerd: containerIdFrom('containerd'),
  crio: containerIdFrom('crio'),
  podman: containerIdFrom('podman'),
  kubepods: containerIdFrom('kubepods'),
  bare: containerIdFrom('bare'),
  reused: containerIdFrom('reused'),
};

/** Each cgroup: its path under the test folder, and the container id it names (undefined: a host one). */
const CASES: { name: string; rel: string; container: string | undefined; newMountNamespace?: boolean }[] = [
  { name: 'docker (systemd driver)', rel: `system.slice/docker-${ids.docker}.scope`, container: ids.docker },
  { name: 'containerd (kubelet, systemd driver)', rel: `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234.slice/cri-containerd-${ids.containerd}.scope`, container: ids.containerd },
  { name: 'CRI-O', rel: `crio-${ids.crio}.scope`, container: ids.crio },
  { name: 'podman, in its nested container child', rel: `machine.slice/libpod-${ids.podman}.scope/container`, container: ids.podman, newMountNamespace: true },
  { name: 'kubepods (cgroupfs driver)', rel: `kubepods/burstable/pod5f1c3e5a-2d0b-4a8e-9d3c-1b2a3c4d5e6f/${ids.kubepods}`, container: ids.kubepods },
  { name: 'docker (cgroupfs driver)', rel: `docker/${ids.bare}`, container: ids.bare },
  { name: 'a host service', rel: 'system.slice/cron.service', container: undefined },
  { name: 'a conmon scope (not the container)', rel: `machine.slice/libpod-conmon-${ids.podman}.scope`, container: undefined },
];

const cgroups = new TestCgroups();
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

/** The exit record of the child's exec of /bin/true (pid kept across exec). */
async function execOf(trace: StartedTrace, child: CgroupChild): Promise<DecodedEvent> {
  return waitFor(() => trace.events.find((e) => e.record.pid === child.pid && e.record.filename === '/bin/true' && e.record.stage === 'exit'), 10_000, `the exec record of pid ${child.pid}`);
}

describe('container identity (trace_exec in real cgroups)', () => {
  it('the cgroup v2 mount is found', () => {
    expect(nativeContainerNames().root).toBe(cgroups.base.slice(0, cgroups.base.lastIndexOf('/')));
  });

  for (const c of CASES) {
    it(`${c.name}: cgroup_id is the directory's inode, container_id ${c.container ? 'its id' : 'absent'}, mntns_id the child's`, async () => {
      const child = await runInCgroup(`${cgroups.base}/${c.rel}`, '/bin/true', { newMountNamespace: c.newMountNamespace });
      const { record } = await execOf(exec, child);
      expect(BigInt(record.cgroup_id!)).toBe(cgroups.idOf(c.rel));
      expect(record.container_id).toBe(c.container);
      expect(BigInt(record.mntns_id!)).toBe(child.mntns);
      if (c.newMountNamespace) expect(child.mntns).not.toBe(statSync('/proc/self/ns/mnt', { bigint: true }).ino);
      expect(Object.keys(record)).toEqual(withoutEventId(expectedKeys(trace_exec, 'execve', undefined, c.container ? 'container' : 'host')));
      expectDeclaredTypes(trace_exec, record);
    });
  }

  it('the root cgroup names no container', () => {
    const here = nativeContainerNames().lookup(BigInt(statSync(nativeContainerNames().root, { bigint: true }).ino), process.pid);
    expect(here).toBeUndefined();
  });

  it('a cgroup removed and made again at the same path has a new id, and its records say so', async () => {
    const rel = `system.slice/docker-${ids.reused}.scope`;
    const first = cgroups.make(rel);
    const before = await execOf(exec, await runInCgroup(first.path, '/bin/true'));
    expect(BigInt(before.record.cgroup_id!)).toBe(first.id);
    expect(before.record.container_id).toBe(ids.reused);
    cgroups.remove(rel);
    const again = cgroups.make(rel);
    expect(again.id).not.toBe(first.id);
    const after = await execOf(exec, await runInCgroup(again.path, '/bin/true'));
    expect(BigInt(after.record.cgroup_id!)).toBe(again.id);
    expect(after.record.container_id).toBe(ids.reused);

    // A container dies and another starts in the same pod folder: the new one's id.
    const pod = 'kubepods/burstable/pod0a0b0c0d-1111-2222-3333-444455556666';
    const old = cgroups.make(`${pod}/${ids.docker}`);
    expect((await execOf(exec, await runInCgroup(old.path, '/bin/true'))).record.container_id).toBe(ids.docker);
    cgroups.remove(`${pod}/${ids.docker}`);
    const next = cgroups.make(`${pod}/${ids.crio}`);
    const record = (await execOf(exec, await runInCgroup(next.path, '/bin/true'))).record;
    expect(BigInt(record.cgroup_id!)).toBe(next.id);
    expect(record.container_id).toBe(ids.crio);
  });

  it('a cgroup is looked up once: later records of it are cache hits', async () => {
    const rel = `crio-${ids.crio}.scope`;
    const names = nativeContainerNames();
    await execOf(exec, await runInCgroup(`${cgroups.base}/${rel}`, '/bin/true'));
    const before = names.stats();
    const child = await runInCgroup(`${cgroups.base}/${rel}`, '/bin/true');
    expect((await execOf(exec, child)).record.container_id).toBe(ids.crio);
    const after = names.stats();
    // The child's records (its sh, stat and true execs, enter and exit) all hit; only other processes' new cgroups may miss.
    expect(after.hits).toBeGreaterThan(before.hits);
    expect(names.lookup(cgroups.idOf(rel), 0)).toBe(ids.crio);
    expect(names.stats().misses).toBe(after.misses);
  });

  it('a record whose process is gone is still named: the tree is walked for its id', () => {
    const names = nativeContainerNames();
    const rel = `walked/libpod-${ids.bare}.scope/container`;
    const { id } = cgroups.make(rel);
    const walks = names.stats().walks;
    // pid 0 has no /proc entry: the walk finds it, and caches what it saw on the way.
    expect(names.lookup(id, 0)).toBe(ids.bare);
    expect(names.stats().walks).toBe(walks + 1);
    expect(names.lookup(cgroups.idOf('walked'), 0)).toBeUndefined();
    expect(names.stats().walks).toBe(walks + 1);
  });

  it('trace_sched: the identity is that of the task switched in, not of the one on the CPU', async () => {
    const sched = startTrace(trace_sched, {}, { keepContainerFields: true });
    try {
      const rel = `system.slice/docker-${ids.docker}.scope`;
      // The sleep blocks and wakes: switched in while another task was on the CPU.
      const child = await runInCgroup(`${cgroups.base}/${rel}`, '/bin/sleep 0.1', { newMountNamespace: true });
      const records = await waitFor(() => {
        const mine = sched.events.filter((e) => e.record.pid === child.pid);
        return mine.length >= 2 ? mine : undefined;
      }, 10_000, 'switches into the child');
      // Its last ones are the sleep's, in the cgroup by then (the first may be from before it moved).
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
      const child = await runInCgroup(`${cgroups.base}/${rel}`, "sh -c 'kill -0 $$'");
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
