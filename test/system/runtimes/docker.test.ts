// docker (docker.io 20.10, cgroupfs driver: no systemd here) with the host
// network. Observed here: a container's processes are in /docker/<id>, id
// the 64 hex of `docker inspect`.
import { BASE_IMAGE } from './setup-status.js';
import { command, describeRuntime, type RunningContainer } from './runtime-identity.js';

const names: string[] = [];

describeRuntime({
  name: 'docker',
  setup: 'docker',
  async start(role) {
    const name = `ebpf-forward-test-${process.pid}-${role}`;
    names.push(name);
    await command('docker', ['run', '-d', '--network', 'host', '--name', name, BASE_IMAGE, 'sleep', 'infinity']);
    const [id, pid] = (await command('docker', ['inspect', '-f', '{{.Id}} {{.State.Pid}}', name])).split(' ');
    return {
      id: id!,
      pid: Number(pid),
      exec: async (argv) => void (await command('docker', ['exec', name, ...argv])),
    } satisfies RunningContainer;
  },
  async removeAll() {
    if (names.length) await command('docker', ['rm', '-f', ...names.splice(0)]);
  },
  expectedCgroup: (c) => `/docker/${c.id}`,
});
