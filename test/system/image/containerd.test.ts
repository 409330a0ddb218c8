// The image on containerd 1.6 through ctr (runc, cgroupfs), with
// containerd's default seccomp profile (`ctr run --seccomp`), the one its
// CRI plugin gives a pod whose seccompProfile is RuntimeDefault: it lets a
// holder of CAP_BPF call bpf(2) and of CAP_PERFMON perf_event_open(2). So
// the DaemonSet's settings hold as they are: every capability dropped but
// BPF and PERFMON. ctr knows no "ALL": its default capabilities are dropped
// one by one.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BASE_IMAGE } from '../runtimes/setup-status.js';
import { containerdImage } from './image.js';
import { command, commandResult, CONFIG_IN_IMAGE, describeImageOn, HOST_MOUNTS, type ImageRuntime } from './run-image.js';

const NAMESPACE = 'default';
/** What ctr 1.6 gives a container unless told otherwise (its CapBnd, observed). */
const CTR_DEFAULT_CAPS = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP', 'NET_BIND_SERVICE', 'NET_RAW', 'SYS_CHROOT', 'MKNOD', 'AUDIT_WRITE', 'SETFCAP'];
const DROP_ALL = CTR_DEFAULT_CAPS.flatMap((cap) => ['--cap-drop', `CAP_${cap}`]);
const ctr = (...args: string[]) => command('ctr', ['-n', NAMESPACE, ...args]);
const newId = () => createHash('sha256').update(randomBytes(16)).digest('hex');

const ids: string[] = [];

function agentFlags(config: string): string[] {
  const bind = (src: string, dst: string) => ['--mount', `type=bind,src=${src},dst=${dst},options=rbind:ro`];
  // The host's pid namespace as this test sees it (the DaemonSet's hostPID).
  return ['--net-host', '--with-ns', `pid:/proc/${process.pid}/ns/pid`, '--read-only',
    ...bind(config, CONFIG_IN_IMAGE), ...HOST_MOUNTS.flatMap((path) => bind(path, path))];
}

const containerd: ImageRuntime = {
  name: 'containerd (ctr)',
  setup: 'ctr',
  load: (tag) => containerdImage(tag, NAMESPACE),
  async startAgent(tag, config, settings) {
    const id = newId();
    ids.push(id);
    const log = join(mkdtempSync(join(tmpdir(), 'ebpf-forward-image-')), 'agent.log');
    await ctr('run', '-d', '--log-uri', `file://${log}`, ...agentFlags(config), ...settings, tag, id);
    return {
      output: async () => readFileSync(log, 'utf8'),
      pid: async () => Number((await ctr('tasks', 'ls')).split('\n').map((l) => l.trim().split(/\s+/)).find((f) => f[0] === id)?.[1]),
    };
  },
  async runAgent(tag, config, settings) {
    return commandResult('ctr', ['-n', NAMESPACE, 'run', '--rm', ...agentFlags(config), ...settings, tag, newId()], 60_000);
  },
  async startWorkload() {
    const id = newId();
    ids.push(id);
    await ctr('run', '-d', '--net-host', BASE_IMAGE, id, 'sleep', 'infinity');
    return {
      id,
      exec: async (argv) => void (await ctr('tasks', 'exec', '--exec-id', `exec-${randomBytes(4).toString('hex')}`, id, ...argv)),
    };
  },
  async removeAll() {
    for (const id of ids.splice(0)) {
      await ctr('tasks', 'kill', '-s', 'SIGKILL', id).catch(() => undefined);
      await ctr('tasks', 'delete', '-f', id).catch(() => undefined);
      await ctr('containers', 'delete', id).catch(() => undefined);
    }
  },
};

describeImageOn(
  containerd,
  { what: "CAP_BPF, CAP_PERFMON and containerd's default seccomp profile", capabilities: ['BPF', 'PERFMON'], flags: ['--seccomp', ...DROP_ALL, '--cap-add', 'CAP_BPF', '--cap-add', 'CAP_PERFMON'] },
  [{ what: 'CAP_BPF alone', flags: ['--seccomp', ...DROP_ALL, '--cap-add', 'CAP_BPF'], says: /^ebpf-forward: root is needed \(or CAP_BPF and CAP_PERFMON[^\n]*\n?$/ }],
);
