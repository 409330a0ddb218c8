// Which cgroup paths name a container: the one rule, in native code (the
// records' container_id) and in TypeScript (the reference encoder and the
// cgroup filter's walk), held to the same answers: on each runtime's layout,
// on imitations of them where a user can make cgroups (delegated subtrees),
// on nested containers, and on every path of up to five components drawn
// from the names these are made of.
import { describe, expect, it } from 'vitest';
import { containerIdOfPath } from '../../src/records/container-names.js';
import { nativeContainerNames } from '../support/native-container-names.js';

const A = 'ab'.repeat(32);
const B = 'cd'.repeat(32);
const POD = 'pod5f1c3e5a-2d0b-4a8e-9d3c-1b2a3c4d5e6f';
const USER = '/user.slice/user-1000.slice/user@1000.service';

const native = (path: string) => nativeContainerNames().parse(path) || undefined;

/** Each runtime's layout, as it makes it (a root-owned place anchored at the top of the hierarchy). */
const RUNTIMES: [string, string, string | undefined][] = [
  ['docker, cgroupfs driver', `/docker/${A}`, A],
  ['docker, systemd driver', `/system.slice/docker-${A}.scope`, A],
  ['podman, cgroupfs manager (no .scope)', `/libpod_parent/libpod-${A}`, A],
  ['podman, systemd manager', `/machine.slice/libpod-${A}.scope`, A],
  ["podman, systemd manager: its container child takes its scope's id", `/machine.slice/libpod-${A}.scope/container`, A],
  ['podman, in a pod', `/machine.slice/machine-libpod_pod_${B}.slice/libpod-${A}.scope`, A],
  ['containerd through ctr: /<namespace>/<id>', `/default/${A}`, A],
  ['containerd through ctr, another namespace', `/k8s.io/${A}`, A],
  ['kubelet, cgroupfs, burstable', `/kubepods/burstable/${POD}/${A}`, A],
  ['kubelet, cgroupfs, besteffort', `/kubepods/besteffort/${POD}/${A}`, A],
  ['kubelet, cgroupfs, guaranteed (no QoS level)', `/kubepods/${POD}/${A}`, A],
  ['kubelet, cgroupfs, CRI-O (crio-<id>, no .scope)', `/kubepods/burstable/${POD}/crio-${A}`, A],
  ['kubelet, systemd, containerd', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod5f1c3e5a_2d0b.slice/cri-containerd-${A}.scope`, A],
  ['kubelet, systemd, CRI-O', `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod5f1c3e5a_2d0b.slice/crio-${A}.scope`, A],
  ['kubelet, systemd, guaranteed', `/kubepods.slice/kubepods-pod5f1c3e5a_2d0b.slice/cri-containerd-${A}.scope`, A],
  ['kubelet, systemd, cri-dockerd', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/docker-${A}.scope`, A],
  ["a container's own sub-cgroup (its workload)", `/docker/${A}/init`, A],
  ['conmon beside a podman container', `/machine.slice/libpod-conmon-${A}.scope`, undefined],
  ['conmon beside a CRI-O container', `/system.slice/crio-conmon-${A}.scope`, undefined],
  ['the runtime daemon', '/system.slice/docker.service', undefined],
  ['a pod cgroup itself', `/kubepods/burstable/${POD}`, undefined],
  ['the root', '/', undefined],
];

/** Imitations: a runtime's name where a user (or a delegated service) can make cgroups. */
const SPOOFS: [string, string][] = [
  ['under a user slice (the issue\'s path)', `/user.slice/evil/cri-containerd-${A}.scope`],
  ["in a user's systemd (delegated)", `${USER}/app.slice/docker-${A}.scope`],
  ['rootless podman (the user\'s own, reported by a delegated cgroup: not trusted)', `${USER}/user.slice/libpod-${A}.scope`],
  ['rootless podman, its container child', `${USER}/user.slice/libpod-${A}.scope/container`],
  ['a bare id in a delegated service', `/system.slice/build.service/${A}`],
  ['a scope at the top (delegatable)', `/session-1.scope/docker-${A}.scope`],
  ['a service at the top (delegatable)', `/agent.service/${A}`],
  ['a bare id at the top', `/${A}`],
  ['a kubepods look-alike under a user', `${USER}/kubepods/burstable/${POD}/${A}`],
  ['a pod look-alike under a service', `/system.slice/x.service/kubepods/${POD}/${A}`],
  ['a podman pod look-alike outside machine.slice', `/system.slice/machine-libpod_pod_${B}.slice/libpod-${A}.scope`],
  ['an id one digit short', `/docker/${A.slice(1)}`],
  ['an upper-case id', `/docker/${A.toUpperCase()}`],
  ['.service for .scope', `/system.slice/docker-${A}.service`],
  ['a user session', '/user.slice/user-0.slice/session-3.scope'],
];

describe('container ids from cgroup paths: native and TypeScript alike', () => {
  it.each(RUNTIMES)('%s', (_, path, want) => {
    expect(native(path)).toBe(want);
    expect(containerIdOfPath(path)).toBe(want);
  });

  it.each(SPOOFS)('not trusted: %s', (_, path) => {
    expect(native(path)).toBeUndefined();
    expect(containerIdOfPath(path)).toBeUndefined();
  });

  it('nested containers: the outermost is the container, whatever the inner one is named', () => {
    for (const path of [
      `/system.slice/docker-${A}.scope/docker-${B}.scope`,
      `/docker/${A}/docker/${B}`,
      `/docker/${A}/${B}`,
      `/kubepods/besteffort/${POD}/${A}/kubepods/${POD}/${B}`,
      `/machine.slice/libpod-${A}.scope/container/libpod-${B}.scope`,
    ]) {
      expect(native(path), path).toBe(A);
      expect(containerIdOfPath(path), path).toBe(A);
    }
  });

  it('every path of up to five components from the layouts\' names: the same answer in both', () => {
    const names = [
      'docker', 'system.slice', 'machine.slice', 'user.slice', 'libpod_parent', 'default', 'kubepods', 'kubepods.slice',
      'burstable', 'besteffort', 'kubepods-burstable.slice', 'kubepods-besteffort.slice', 'pod1', 'kubepods-pod1.slice',
      'kubepods-burstable-pod1.slice', `machine-libpod_pod_${B}.slice`, 'x.service', 'x.scope', 'container', 'pod',
      A, `docker-${A}.scope`, `cri-containerd-${A}.scope`, `crio-${A}`, `libpod-${A}`, `libpod-conmon-${A}.scope`, B, `docker-${B}.scope`,
    ];
    let paths = [''];
    let compared = 0;
    let named = 0;
    for (let depth = 0; depth < 5; depth++) {
      // Each level keeps a spread of the paths before it (all of them up to three levels).
      const next: string[] = [];
      for (const [i, base] of paths.entries()) for (const [j, name] of names.entries()) if (depth < 3 || (i + j) % 7 === 0) next.push(`${base}/${name}`);
      for (const path of next) {
        const want = native(path);
        if (containerIdOfPath(path) !== want) expect(containerIdOfPath(path), path).toBe(want);
        if (want) named++;
        compared++;
      }
      paths = next;
    }
    expect(compared).toBeGreaterThan(20_000);
    // Both kinds were compared: paths that name a container, and paths that don't.
    expect(named).toBeGreaterThan(1000);
    expect(compared - named).toBeGreaterThan(1000);
  });
});
