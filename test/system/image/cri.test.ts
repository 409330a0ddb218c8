// The DaemonSet's container as the kubelet would ask containerd 1.6 for it
// through the CRI, read from deploy/kubernetes/base/daemonset.yaml: its
// capabilities (drop ALL, add BPF and PERFMON), seccompProfile
// RuntimeDefault (containerd's default profile), read-only root,
// no_new_privs, uid 0, the host's pid namespace and its hostPath mounts read-only
// (BTF, tracefs, the cgroup tree, the runtime's socket), in a pod sandbox
// of its own. One difference: the host's network (no pod network here),
// so its config forwards to a receiver on 127.0.0.1 instead of the
// ConfigMap's. A pod made as the kubelet makes it (test/system/runtimes/
// kubelet-pod.ts) runs an exec, whose record must come with its
// container_id and its kubernetes map; the aggregators' rewrite_tag rule
// gives it its namespace's tag.
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseClassicConfig } from '../../../src/config/parser.js';
import { find, kubernetesDir, podTemplate, resourcesOf, writeConfigMapFiles } from '../../deploy/manifests.js';
import { parseRewriteRule, rewriteTag } from '../../deploy/rewrite-tag.js';
import { CriClient } from '../runtimes/cri-client.js';
import { KubeletPod, type PodContainer } from '../runtimes/kubelet-pod.js';
import { BASE_IMAGE, requireRuntime } from '../runtimes/setup-status.js';
import { waitFor } from '../../support/cli.js';
import { startReceivers, type Receivers, type WireEntry } from '../../support/receiver.js';
import { containerdImage, podmanImage } from './image.js';

const daemonSet = find(resourcesOf(join(kubernetesDir, 'base')), 'DaemonSet', 'ebpf-forward');
const template = podTemplate(daemonSet);
const spec = template.spec.containers[0]!;
const securityContext = spec.securityContext as NonNullable<typeof spec.securityContext> & { seccompProfile?: { type: string } };

/** The kubelet's translation of the container's securityContext (pkg/kubelet/kuberuntime). */
function criSecurityContext(): Record<string, unknown> {
  const namespaces = { network: 'NODE', pid: template.spec.hostPID ? 'NODE' : 'CONTAINER', ipc: 'POD' };
  return {
    capabilities: { add_capabilities: securityContext.capabilities?.add ?? [], drop_capabilities: securityContext.capabilities?.drop ?? [] },
    privileged: securityContext.privileged ?? false,
    namespace_options: namespaces,
    run_as_user: { value: String(securityContext.runAsUser ?? 0) },
    readonly_rootfs: securityContext.readOnlyRootFilesystem ?? false,
    no_new_privs: securityContext.allowPrivilegeEscalation === false,
    seccomp: { profile_type: securityContext.seccompProfile?.type === 'RuntimeDefault' ? 'RuntimeDefault' : 'Unconfined' },
    masked_paths: ['/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap'],
    readonly_paths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
  };
}

/**
 * The container's mounts: each hostPath volume as the manifest mounts it;
 * the ConfigMap's main file is the test's config; storage.path a folder of
 * the test's (it is not used: the test's config spools nothing).
 */
function criMounts(config: string, storage: string): Record<string, unknown>[] {
  return (spec.volumeMounts ?? []).flatMap((mount) => {
    const volume = template.spec.volumes?.find((v) => v.name === mount.name);
    const readonly = mount.readOnly ?? false;
    if (volume?.configMap) return mount.subPath === 'ebpf-forward.conf' ? [{ container_path: mount.mountPath, host_path: config, readonly }] : [];
    if (volume?.hostPath?.type === 'DirectoryOrCreate') return [{ container_path: mount.mountPath, host_path: storage, readonly }];
    if (volume?.hostPath) return [{ container_path: mount.mountPath, host_path: volume.hostPath.path, readonly }];
    throw new Error(`daemonset.yaml: volume ${mount.name} is of a kind this test does not mount`);
  });
}

/** The agent's pod: a sandbox (hostPID, host network) in a burstable pod cgroup, and the container. */
class AgentPod {
  readonly uid = randomUUID();
  readonly name = `ebpf-forward-${randomBytes(3).toString('hex')}`;
  readonly cgroupParent = `/kubepods/burstable/pod${this.uid}`;
  readonly dir = mkdtempSync(join(tmpdir(), 'ebpf-forward-agent-pod-'));
  sandboxId = '';
  containerId = '';

  constructor(private readonly cri: CriClient) {}

  private sandboxConfig(): Record<string, unknown> {
    return {
      metadata: { name: this.name, namespace: 'ebpf-forward', uid: this.uid, attempt: 0 },
      log_directory: join(this.dir, 'logs'),
      labels: { ...template.metadata.labels, 'io.kubernetes.pod.name': this.name, 'io.kubernetes.pod.namespace': 'ebpf-forward', 'io.kubernetes.pod.uid': this.uid },
      linux: {
        cgroup_parent: this.cgroupParent,
        security_context: { namespace_options: { network: 'NODE', pid: 'NODE', ipc: 'POD' }, privileged: false, seccomp: { profile_type: 'RuntimeDefault' } },
      },
    };
  }

  async start(image: string, config: string): Promise<void> {
    mkdirSync(join(this.dir, 'logs', spec.name), { recursive: true });
    this.sandboxId = (await this.cri.call('RunPodSandbox', { config: this.sandboxConfig(), runtime_handler: '' })).pod_sandbox_id;
    const storage = join(this.dir, 'storage');
    mkdirSync(storage, { mode: 0o755 });
    const { image: found } = await this.cri.callImages('ImageStatus', { image: { image } });
    if (!found) throw new Error(`containerd (k8s.io) has no image ${image}`);
    const container = {
      metadata: { name: spec.name, attempt: 0 },
      image: { image: found.id, user_specified_image: image },
      args: spec.args ?? [],
      mounts: criMounts(config, storage),
      labels: { 'io.kubernetes.container.name': spec.name, 'io.kubernetes.pod.name': this.name, 'io.kubernetes.pod.namespace': 'ebpf-forward', 'io.kubernetes.pod.uid': this.uid },
      log_path: `${spec.name}/0.log`,
      linux: { security_context: criSecurityContext() },
    };
    this.containerId = (await this.cri.call('CreateContainer', { pod_sandbox_id: this.sandboxId, config: container, sandbox_config: this.sandboxConfig() })).container_id;
    await this.cri.call('StartContainer', { container_id: this.containerId });
  }

  /** What the agent wrote, without the CRI log format's time, stream and tag. */
  output(): string {
    const log = join(this.dir, 'logs', spec.name, '0.log');
    if (!existsSync(log)) return '';
    return readFileSync(log, 'utf8').split('\n').map((l) => l.replace(/^\S+ (stdout|stderr) [FP] /, '')).join('\n');
  }

  async pid(): Promise<number> {
    const { info } = await this.cri.call('ContainerStatus', { container_id: this.containerId, verbose: true });
    return JSON.parse(info.info).pid;
  }

  async remove(): Promise<void> {
    if (this.containerId) {
      await this.cri.call('StopContainer', { container_id: this.containerId, timeout: '5' }).catch(() => undefined);
      await this.cri.call('RemoveContainer', { container_id: this.containerId }).catch(() => undefined);
    }
    if (this.sandboxId) {
      await this.cri.call('StopPodSandbox', { pod_sandbox_id: this.sandboxId }).catch(() => undefined);
      await this.cri.call('RemovePodSandbox', { pod_sandbox_id: this.sandboxId }).catch(() => undefined);
    }
    // The kubelet removes the pod's cgroup once the pod is gone (runc leaves it).
    for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
      const [, at, type] = line.split(' ');
      if ((type === 'cgroup' || type === 'cgroup2') && existsSync(`${at}${this.cgroupParent}`)) rmdirSync(`${at}${this.cgroupParent}`);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function writeAgentConfig(port: number): string {
  const dir = writeConfigMapFiles({ 'ebpf-forward.conf': `[SERVICE]
    Flush      0.2
    Log_Level  info

[INPUT]
    Name   ebpf
    Trace  trace_exec
    Tag    ebpf.test-node

[OUTPUT]
    Name   forward
    Match  *
    Host   127.0.0.1
    Port   ${port}
` });
  chmodSync(dir, 0o755);
  return join(dir, 'ebpf-forward.conf');
}

const ATTACHED = /privileges dropped in all \d+ threads/;

describe('the DaemonSet container through the CRI (containerd 1.6)', () => {
  let cri: CriClient | undefined;
  let agent: AgentPod | undefined;
  let workloadPod: KubeletPod | undefined;
  let workload: PodContainer;
  let receivers: Receivers | undefined;
  let notStarted: Error | undefined;

  beforeAll(async () => {
    try {
      requireRuntime('cri');
      const { tag } = await podmanImage();
      containerdImage(tag, 'k8s.io');
      receivers = await startReceivers();
      cri = new CriClient();
      agent = new AgentPod(cri);
      await agent.start(tag, writeAgentConfig(receivers.port));
      await waitFor(() => {
        const output = agent!.output();
        if (/ebpf-forward: /.test(output)) throw new Error(`the agent stopped before attaching:\n${output}`);
        return ATTACHED.test(output) ? true : undefined;
      }, 30_000, 'the agent to attach');
      workloadPod = new KubeletPod(cri, `ebpf-forward-workload-${process.pid}`);
      await workloadPod.run();
      workload = await workloadPod.start('workload', BASE_IMAGE, ['sleep', 'infinity']);
    } catch (error) {
      notStarted = error as Error;
    }
  }, 20 * 60_000);

  afterAll(async () => {
    await workloadPod?.remove().catch(() => undefined);
    await agent?.remove();
    cri?.close();
    await receivers?.close();
  });

  it("runs with the manifest's capabilities only, under containerd's default seccomp filter", async () => {
    if (notStarted) throw notStarted;
    const status = readFileSync(`/proc/${await agent!.pid()}/status`, 'utf8');
    expect(status).toMatch(/^Seccomp:\s+2$/m);
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
    // CAP_PERFMON (38) and CAP_BPF (39) in the bounding set, nothing else; none left once attached.
    expect(/^CapBnd:\s+([0-9a-f]+)$/m.exec(status)![1]).toBe((3n << 38n).toString(16).padStart(16, '0'));
    expect(status).toMatch(/^CapEff:\s+0+$/m);
    expect(agent!.output()).not.toMatch(/\[ ?error\]|\[ ?warn\]/);
  });

  it("sends a pod's exec with its container_id and kubernetes map, which the aggregators route by namespace", async () => {
    if (notStarted) throw notStarted;
    /** Runs a marked exec in the workload; resolves with its record. */
    const execRecord = async () => {
      const marker = `ebpf-forward-image-${randomBytes(6).toString('hex')}`;
      await workloadPod!.exec(workload.id, ['/bin/sh', '-c', 'sleep 0.5', marker]);
      const isIt = (e: WireEntry) => e.record.filename === '/bin/sh' && e.record.argv_last === marker && e.record.stage === 'exit';
      return waitFor(() => receivers!.wire.find(isIt), 15_000, `the exec record of ${marker}`);
    };
    // The agent learns of the workload from containerd's event, then a
    // list over gRPC: on a busy machine an exec can come first, and goes
    // out with its container_id only. Once one record has the map, the
    // agent knows the container: the next one is judged.
    let first = await execRecord();
    expect(first.container?.container_id).toBe(workload.id);
    for (const deadline = Date.now() + 30_000; !first.record.kubernetes && Date.now() < deadline; ) first = await execRecord();
    const entry = await execRecord();
    expect(entry.container?.container_id).toBe(workload.id);
    expect(entry.record.kubernetes).toMatchObject({ pod_name: workloadPod!.name, namespace_name: workloadPod!.namespace, pod_id: workloadPod!.uid, container_name: 'workload', container_image: BASE_IMAGE });
    // deploy/kubernetes/aggregator's rule, on the record as it came.
    const aggregatorConfig = find(resourcesOf(join(kubernetesDir, 'aggregator')), 'ConfigMap', 'aggregator-config').object as unknown as { data: Record<string, string> };
    const sections = parseClassicConfig(join(writeConfigMapFiles(aggregatorConfig.data), 'fluent-bit.conf'));
    const rule = sections.find((s) => s.name === 'filter' && s.entries.some((e) => e.name === 'name' && e.value === 'rewrite_tag'))!.entries.find((e) => e.name === 'rule')!.value;
    expect(rewriteTag(parseRewriteRule(rule), entry.tag, entry.record)).toBe(`k8s.${workloadPod!.namespace}.${entry.tag}`);
  });
});
