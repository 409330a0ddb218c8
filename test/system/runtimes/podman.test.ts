// podman 4.3 with runc and the cgroupfs manager, host network. Observed
// here: a container's processes are in /libpod_parent/libpod-<id> (no
// .scope: that is the systemd manager's name), id the 64 hex of
// `podman inspect`, e.g. /libpod_parent/libpod-b93816ed6119925d141c6518b4075605c4fd0fb23627ade9fdc8360bc439b53d.
// Up to commit 26a8045 only `libpod-<id>.scope` named a container, so this
// layout had no container_id and the cgroup filter did not match it; these
// tests pass once the rule (src/records/container-names.ts, native and BPF
// twins) takes `libpod-<id>` too.
//
// The systemd cgroup manager (machine.slice/libpod-<id>.scope, with the
// container in its `container` child) can't run here: it asks systemd, over
// D-Bus, to make the scope, and systemd is not running (not PID 1); podman
// --cgroup-manager=systemd fails with runc's "systemd not running on this
// host, cannot use systemd cgroups manager". test/containers covers that
// layout on cgroups made by hand.
import { BASE_IMAGE } from './setup-status.js';
import { command, describeRuntime, type RunningContainer } from './runtime-identity.js';

const names: string[] = [];

describeRuntime({
  name: 'podman (cgroupfs)',
  setup: 'podman',
  async start(role) {
    const name = `ebpf-forward-test-${process.pid}-${role}`;
    names.push(name);
    await command('podman', ['run', '-d', '--network', 'host', '--cgroup-manager', 'cgroupfs', '--name', name, BASE_IMAGE, 'sleep', 'infinity']);
    const [id, pid] = (await command('podman', ['inspect', '-f', '{{.Id}} {{.State.Pid}}', name])).split(' ');
    return {
      id: id!,
      pid: Number(pid),
      exec: async (argv) => void (await command('podman', ['exec', name, ...argv])),
    } satisfies RunningContainer;
  },
  async removeAll() {
    if (names.length) await command('podman', ['rm', '-f', '-t', '0', ...names.splice(0)]);
  },
  expectedCgroup: (c) => `/libpod_parent/libpod-${c.id}`,
});
