// A pod made through containerd's CRI API the way the kubelet (cgroupfs
// driver) makes a best-effort pod on the host network: RunPodSandbox with
// the kubelet's cgroup parent /kubepods/besteffort/pod<uid>, the pod's
// labels plus the kubelet's io.kubernetes.pod.* ones, the API pod's
// annotations, the sandbox image containerd is configured with (the local
// pause stand-in); then per container CreateContainer (the image by the id
// ImageStatus gives, the kubelet's labels and annotations, log path,
// termination-log and /etc/hosts mounts, best-effort resources) and
// StartContainer. containerd, not the kubelet, chooses the ids.
import { randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CriClient } from './cri-client.js';

/** What `namespacesForPod` gives a hostNetwork pod (hostPID and shareProcessNamespace unset). */
const HOST_NETWORK_NAMESPACES = { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' };

/** The kubelet's default masked and read-only paths (the default ProcMount). */
const MASKED_PATHS = ['/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap'];
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** A best-effort container's resources as the kubelet sets them (no requests, no limits). */
const BEST_EFFORT = { cpu_period: '100000', cpu_quota: '0', cpu_shares: '2', memory_limit_in_bytes: '0', oom_score_adj: '1000' };

export interface PodContainer {
  /** containerd's id for it, as ContainerStatus reports it. */
  id: string;
  /** Its first process, as the host sees it. */
  pid: number;
  labels: Record<string, string>;
}

export class KubeletPod {
  readonly uid = randomUUID();
  readonly name: string;
  readonly namespace = 'default';
  readonly cgroupParent: string;
  sandboxId = '';
  sandboxPid = 0;
  private readonly dir: string;
  private readonly containers: string[] = [];

  constructor(private readonly cri: CriClient, name: string) {
    this.name = name;
    this.cgroupParent = `/kubepods/besteffort/pod${this.uid}`;
    // The kubelet's /var/log/pods/<ns>_<name>_<uid> and /var/lib/kubelet/pods/<uid>, in a temp folder.
    this.dir = mkdtempSync(join(tmpdir(), 'ebpf-forward-pod-'));
  }

  private get logDirectory(): string {
    return join(this.dir, 'logs', `${this.namespace}_${this.name}_${this.uid}`);
  }

  private sandboxConfig(): Record<string, unknown> {
    return {
      metadata: { name: this.name, namespace: this.namespace, uid: this.uid, attempt: 0 },
      // No hostname: the kubelet sets none for a hostNetwork pod (it has the node's UTS namespace).
      log_directory: this.logDirectory,
      dns_config: hostDnsConfig(),
      labels: {
        'app.kubernetes.io/name': 'ebpf-forward-test',
        'controller-revision-hash': '6d4f8c7b9',
        'pod-template-generation': '1',
        'io.kubernetes.pod.name': this.name,
        'io.kubernetes.pod.namespace': this.namespace,
        'io.kubernetes.pod.uid': this.uid,
      },
      annotations: {
        'kubernetes.io/config.seen': new Date().toISOString(),
        'kubernetes.io/config.source': 'api',
      },
      linux: {
        cgroup_parent: this.cgroupParent,
        security_context: { namespace_options: HOST_NETWORK_NAMESPACES, privileged: false, seccomp: { profile_type: 'Unconfined' } },
        resources: { cpu_period: '100000', cpu_quota: '0', cpu_shares: '2', memory_limit_in_bytes: '0' },
      },
    };
  }

  /** RunPodSandbox; its id and pause process. */
  async run(): Promise<void> {
    mkdirSync(this.logDirectory, { recursive: true });
    const { pod_sandbox_id } = await this.cri.call('RunPodSandbox', { config: this.sandboxConfig(), runtime_handler: '' });
    this.sandboxId = pod_sandbox_id;
    const status = await this.cri.call('PodSandboxStatus', { pod_sandbox_id, verbose: true });
    this.sandboxPid = JSON.parse(status.info.info).pid;
  }

  /** CreateContainer and StartContainer, from `image` (as written in a pod spec) running `command`. */
  async start(containerName: string, image: string, command: string[]): Promise<PodContainer> {
    const { image: found } = await this.cri.callImages('ImageStatus', { image: { image } });
    if (!found) throw new Error(`containerd (k8s.io) has no image ${image}: run scripts/test-runtimes.sh`);
    mkdirSync(join(this.logDirectory, containerName), { recursive: true });
    const containerDir = join(this.dir, 'kubelet', this.uid, 'containers', containerName);
    mkdirSync(containerDir, { recursive: true });
    const terminationLog = join(containerDir, randomUUID().slice(0, 8));
    writeFileSync(terminationLog, '');
    const hosts = join(this.dir, 'kubelet', this.uid, 'etc-hosts');
    copyFileSync('/etc/hosts', hosts);
    const labels = {
      'io.kubernetes.container.name': containerName,
      'io.kubernetes.pod.name': this.name,
      'io.kubernetes.pod.namespace': this.namespace,
      'io.kubernetes.pod.uid': this.uid,
    };
    const config = {
      metadata: { name: containerName, attempt: 0 },
      image: { image: found.id, user_specified_image: image },
      command,
      args: [],
      working_dir: '',
      // KeyValue.value is `bytes` since cri-api v0.36.3 (was string: the same on the wire).
      envs: [{ key: 'KUBERNETES_SERVICE_HOST', value: Buffer.from('127.0.0.1') }, { key: 'KUBERNETES_SERVICE_PORT', value: Buffer.from('443') }],
      mounts: [
        { container_path: '/etc/hosts', host_path: hosts, readonly: false, propagation: 'PROPAGATION_PRIVATE' },
        { container_path: '/dev/termination-log', host_path: terminationLog, readonly: false, propagation: 'PROPAGATION_PRIVATE' },
      ],
      labels,
      annotations: {
        'io.kubernetes.container.hash': '5d8a1f0c',
        'io.kubernetes.container.restartCount': '0',
        'io.kubernetes.container.terminationMessagePath': '/dev/termination-log',
        'io.kubernetes.container.terminationMessagePolicy': 'File',
        'io.kubernetes.pod.terminationGracePeriod': '30',
        'io.kubernetes.container.type': 'container',
      },
      log_path: `${containerName}/0.log`,
      stdin: false,
      stdin_once: false,
      tty: false,
      linux: {
        resources: BEST_EFFORT,
        security_context: {
          namespace_options: HOST_NETWORK_NAMESPACES,
          privileged: false,
          masked_paths: MASKED_PATHS,
          readonly_paths: READONLY_PATHS,
          seccomp: { profile_type: 'Unconfined' },
        },
      },
    };
    const { container_id } = await this.cri.call('CreateContainer', { pod_sandbox_id: this.sandboxId, config, sandbox_config: this.sandboxConfig() });
    this.containers.push(container_id);
    await this.cri.call('StartContainer', { container_id });
    const { status, info } = await this.cri.call('ContainerStatus', { container_id, verbose: true });
    return { id: status.id, pid: JSON.parse(info.info).pid, labels: status.labels };
  }

  /** Runs `command` in a container of the pod (ExecSync), resolving once it exited 0. */
  async exec(containerId: string, command: string[]): Promise<void> {
    const { exit_code, stderr } = await this.cri.call('ExecSync', { container_id: containerId, cmd: command, timeout: '10' });
    if (exit_code !== 0) throw new Error(`ExecSync ${command.join(' ')} in ${containerId} exited ${exit_code}: ${Buffer.from(stderr).toString()}`);
  }

  /** As the kubelet ends a pod: its containers stopped and removed, then the sandbox. */
  async remove(): Promise<void> {
    for (const container_id of this.containers) {
      await this.cri.call('StopContainer', { container_id, timeout: '0' });
      await this.cri.call('RemoveContainer', { container_id });
    }
    this.containers.length = 0;
    if (this.sandboxId) {
      await this.cri.call('StopPodSandbox', { pod_sandbox_id: this.sandboxId });
      await this.cri.call('RemovePodSandbox', { pod_sandbox_id: this.sandboxId });
      this.sandboxId = '';
    }
    // The kubelet makes the pod's cgroup in every hierarchy and removes it once the pod is gone (runc leaves it).
    for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
      const [, at, type] = line.split(' ');
      if ((type === 'cgroup' || type === 'cgroup2') && existsSync(`${at}${this.cgroupParent}`)) rmdirSync(`${at}${this.cgroupParent}`);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** dnsPolicy Default (a hostNetwork pod's): the node's resolv.conf, as the kubelet passes it on. */
function hostDnsConfig(): { servers: string[]; searches: string[]; options: string[] } {
  const config = { servers: [] as string[], searches: [] as string[], options: [] as string[] };
  let text = '';
  try {
    text = readFileSync('/etc/resolv.conf', 'utf8');
  } catch {
    return config;
  }
  for (const line of text.split('\n')) {
    const [key, ...values] = line.trim().split(/\s+/);
    if (key === 'nameserver') config.servers.push(...values);
    else if (key === 'search') config.searches.push(...values);
    else if (key === 'options') config.options.push(...values);
  }
  return config;
}
