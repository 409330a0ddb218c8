// The DaemonSet's container as the node would run it, without a cluster: the
// built CLI as uid 0 in the host's pid namespace with exactly the
// capabilities the manifest adds (bounding, inheritable and ambient sets,
// no_new_privs as allowPrivilegeEscalation: false sets it), in a mount
// namespace where / , /sys, tracefs and the cgroup tree are read-only and
// storage.path is a fresh root-owned folder, as the pod's mounts make them.
// With the ConfigMap's own config (its receiver list pointed at a local
// Forward server) it must attach, send records, leave out the receiver's
// comm, drop its privileges, and stop cleanly; without any one of those
// capabilities it must refuse to start.
import { spawn, spawnSync, type ChildProcess, type SpawnSyncOptionsWithStringEncoding } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNothingLoadedBy } from '../support/bpf-loaded.js';
import { cliPath, waitFor } from '../support/cli.js';
import { startReceivers, type Receivers } from '../support/receiver.js';
import { capabilityComments, effectiveConfigMapData, find, kubernetesDir, podTemplate, resourcesOf, writeConfigMapFiles } from './manifests.js';

const baseDir = join(kubernetesDir, 'base');
const daemonSet = find(resourcesOf(baseDir), 'DaemonSet', 'ebpf-forward');
const container = podTemplate(daemonSet).spec.containers[0]!;
const granted = container.securityContext?.capabilities?.add ?? [];
const storagePath = container.volumeMounts!.find((m) => m.name === 'storage')!.mountPath;
const NODE_NAME = 'test-node';

/**
 * The shell run in the new mount namespace: the pod's view of the file
 * system, then setpriv with the given capabilities, then the CLI.
 */
function podCommand(capabilities: string[], config: string): string[] {
  const caps = ['-all', ...capabilities.map((c) => `+${c.toLowerCase()}`)].join(',');
  const script = [
    'set -e',
    // The hostPath storage.path: made by the kubelet, root's, 0755.
    `mount -t tmpfs -o mode=0755 ebpf-forward-pod "${dirname(storagePath)}"`,
    `mkdir -m 0755 "${storagePath}"`,
    'mount -o remount,bind,ro /sys/kernel/tracing',
    'mount -o remount,bind,ro /sys/fs/cgroup',
    'mount -o remount,bind,ro /sys',
    // readOnlyRootFilesystem.
    'mount -o remount,bind,ro /',
    `exec setpriv --bounding-set=${caps} --inh-caps=${caps} --ambient-caps=${caps} --no-new-privs -- "$@"`,
  ].join('\n');
  return ['--mount', '--propagation', 'private', '--', 'sh', '-c', script, 'pod', process.execPath, cliPath, '-c', config];
}

function writePodConfig(receiverPort: number): string {
  const data = effectiveConfigMapData(baseDir, 'ebpf-forward-config');
  // The receiver list is the one part each deployment sets (the aggregator example replaces it too).
  data['upstream.conf'] = `[UPSTREAM]\n    Name  test\n[NODE]\n    Name  local\n    Host  \${NODE_IP}\n    Port  ${receiverPort}\n`;
  return join(writeConfigMapFiles(data), 'ebpf-forward.conf');
}

function podEnv(): NodeJS.ProcessEnv {
  return { ...process.env, NODE_NAME, NODE_IP: '127.0.0.1' };
}

/** A Node child named `title` (its comm) that binds a UDP socket and exits; resolves with its pid. */
async function bindAs(title: string): Promise<number> {
  const code = `process.title = ${JSON.stringify(title)}; const s = require('node:dgram').createSocket('udp4'); s.bind(0, '127.0.0.1', () => s.close());`;
  const child = spawn(process.execPath, ['-e', code], { stdio: 'ignore' });
  await new Promise<void>((resolve, reject) => child.on('exit', (c) => (c === 0 ? resolve() : reject(new Error(`${title} exited ${c}`)))));
  return child.pid!;
}

describe('the DaemonSet container, run here with its capabilities and mounts', () => {
  let receivers: Receivers;
  let cli: ChildProcess;
  let stderr = '';
  let exited: Promise<number | null>;

  beforeAll(async () => {
    receivers = await startReceivers();
    cli = spawn('unshare', podCommand(granted, writePodConfig(receivers.port)), { env: podEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    cli.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    exited = new Promise((resolve) => cli.on('exit', (code) => resolve(code)));
    await waitFor(
      () => {
        if (/privileges dropped/.test(stderr)) return true;
        if (cli.exitCode !== null) throw new Error(`the CLI exited (${cli.exitCode}) before attaching:\n${stderr}`);
        return undefined;
      },
      30_000,
      'the privilege drop',
    );
  });

  afterAll(async () => {
    if (cli.exitCode === null) cli.kill('SIGKILL');
    await receivers?.close();
  });

  it('grants only explained capabilities, the ones ebpf-forward needs', () => {
    const comments = capabilityComments(daemonSet);
    expect(granted.length).toBeGreaterThan(0);
    for (const cap of granted) expect(comments.get(cap)).toContain(`CAP_${cap}`);
  });

  it('attaches every trace of the ConfigMap, then holds no capability', () => {
    expect(stderr).not.toMatch(/\[ ?error\]|WARNING/);
    expect(stderr).toMatch(/tracing trace_exec, trace_signal, trace_bind, trace_tcp/);
    const status = readFileSync(`/proc/${cli.pid}/status`, 'utf8');
    expect(status).toMatch(/^CapEff:\s+0+$/m);
    expect(status).toMatch(/^CapPrm:\s+0+$/m);
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
  });

  it('sends records tagged with the node, and none of the receiver\'s comm', async () => {
    // The excluded process binds first: its record, had it been queued, would
    // be in the ring before the probe's, so once the probe's has arrived the
    // absence of the other is a fact, not a wait.
    const excluded = await bindAs('fluent-bit');
    const probe = await bindAs('deploy-probe');
    const isBind = (pid: number) => receivers.wire.filter((e) => e.record.event_type === 'bind' && e.record.pid === pid);
    const [record] = await waitFor(() => (isBind(probe).length > 0 ? isBind(probe) : undefined), 15_000, 'the probe\'s bind record');
    expect(record!.tag).toBe(`ebpf.${NODE_NAME}`);
    expect(record!.record).toMatchObject({ comm: 'deploy-probe', address: '127.0.0.1', port: 0, protocol: 17 });
    expect(isBind(excluded)).toEqual([]);
  });

  it('stops on SIGTERM with exit 0 and leaves nothing loaded', async () => {
    cli.kill('SIGTERM');
    expect(await exited).toBe(0);
    await expectNothingLoadedBy(cli.pid!);
  });

  // What the DaemonSet's comment says of the uprobe traces, proven: the kernel
  // refuses uprobes to CAP_PERFMON alone, and CAP_SYS_ADMIN is what they need.
  it('a uprobe trace needs CAP_SYS_ADMIN beyond these capabilities', () => {
    // malloc_comm narrows the records to a name no process has: the uprobes
    // still go into every libc (what needs CAP_SYS_ADMIN), and a busy
    // machine's millions of mallocs a second don't keep SIGTERM waiting.
    const config = join(writeConfigMapFiles({ 'malloc.conf': '[INPUT]\n    Name         ebpf\n    Trace        trace_malloc\n    malloc_comm  no-such-comm\n    Trace_Error  exit\n[OUTPUT]\n    Name   stdout\n    Match  *\n' }), 'malloc.conf');
    const quiet: SpawnSyncOptionsWithStringEncoding = { env: podEnv(), encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'ignore', 'pipe'] };
    const without = spawnSync('unshare', podCommand(granted, config), quiet).stderr;
    expect(without).toMatch(/^ebpf-forward: \S+malloc\.conf:3: trace_malloc: attaching .*uretprobe.*refused without CAP_SYS_ADMIN/m);
    expect(without).not.toMatch(/privileges dropped/);
    // With SYS_ADMIN it attaches; `timeout` ends the run once that is seen.
    const withAdmin = spawnSync('timeout', ['-s', 'TERM', '3', 'unshare', ...podCommand([...granted, 'SYS_ADMIN'], config)], quiet);
    expect(withAdmin.stderr).toMatch(/trace_malloc attached/);
    expect(withAdmin.stderr).toMatch(/privileges dropped/);
  });

  for (const missing of granted) {
    it(`refuses to start without CAP_${missing}, in one line`, () => {
      const r = spawnSync('unshare', podCommand(granted.filter((c) => c !== missing), writePodConfig(1)), { env: podEnv(), encoding: 'utf8', timeout: 30_000 });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^ebpf-forward: .*(CAP_BPF|root is needed)/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    });
  }
});
