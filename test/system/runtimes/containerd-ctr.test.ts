// containerd 1.6 through ctr (runc, cgroupfs), host network, namespace
// `default`. ctr takes the container id it is given: a 64-hex one here, as
// nerdctl and the engines make them (a name like "web" carries no id a
// cgroup path could be told by). Observed here: a container's processes
// are in /<namespace>/<id>, i.e. /default/<id>.
import { createHash, randomBytes } from 'node:crypto';
import { BASE_IMAGE } from './setup-status.js';
import { command, describeRuntime, type RunningContainer } from './runtime-identity.js';

const NAMESPACE = 'default';
const ids: string[] = [];
const ctr = (...args: string[]) => command('ctr', ['-n', NAMESPACE, ...args]);

describeRuntime({
  name: 'containerd (ctr)',
  setup: 'ctr',
  async start() {
    const wanted = createHash('sha256').update(randomBytes(16)).digest('hex');
    ids.push(wanted);
    await ctr('run', '-d', '--net-host', BASE_IMAGE, wanted, 'sleep', 'infinity');
    const id = (JSON.parse(await ctr('containers', 'info', wanted)) as { ID: string }).ID;
    const task = (await ctr('tasks', 'ls')).split('\n').map((l) => l.trim().split(/\s+/)).find((f) => f[0] === wanted);
    if (!task) throw new Error(`ctr tasks ls shows no task ${wanted}`);
    return {
      id,
      pid: Number(task[1]),
      exec: async (argv) => void (await ctr('tasks', 'exec', '--exec-id', `exec-${randomBytes(4).toString('hex')}`, wanted, ...argv)),
    } satisfies RunningContainer;
  },
  async removeAll() {
    for (const id of ids.splice(0)) {
      await ctr('tasks', 'kill', '-s', 'SIGKILL', id).catch(() => undefined);
      await ctr('tasks', 'delete', '-f', id).catch(() => undefined);
      await ctr('containers', 'delete', id);
    }
  },
  expectedCgroup: (c) => `/${NAMESPACE}/${c.id}`,
});
