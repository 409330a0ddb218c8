// containerd 1.6 through its CRI API, as the kubelet (cgroupfs driver) uses
// it (see kubelet-pod.ts): one best-effort pod on the host network, its
// sandbox the local pause stand-in, its two containers from the base image.
// Observed here: a container's processes are in
// /kubepods/besteffort/pod<uid>/<id>, id the 64 hex of ContainerStatus; the
// sandbox's pause process likewise under its own (sandbox) id.
import { afterAll, expect, it } from 'vitest';
import { CriClient } from './cri-client.js';
import { KubeletPod, type PodContainer } from './kubelet-pod.js';
import { BASE_IMAGE } from './setup-status.js';
import { cgroupPathOf, describeRuntime, type RunningContainer } from './runtime-identity.js';

let cri: CriClient | undefined;
let pod: KubeletPod | undefined;
const started: PodContainer[] = [];

describeRuntime({
  name: 'containerd (CRI, as the kubelet)',
  setup: 'cri',
  async start(role) {
    cri ??= new CriClient();
    if (!pod) {
      pod = new KubeletPod(cri, `ebpf-forward-test-${process.pid}`);
      await pod.run();
    }
    const container = await pod.start(role, BASE_IMAGE, ['sleep', 'infinity']);
    started.push(container);
    return {
      id: container.id,
      pid: container.pid,
      exec: (argv) => pod!.exec(container.id, argv),
    } satisfies RunningContainer;
  },
  async removeAll() {
    await pod?.remove();
  },
  expectedCgroup: (c) => `${pod!.cgroupParent}/${c.id}`,
}, (notStarted) => {
  it('the pod is as the kubelet makes it: the sandbox in its own cgroup of the pod, the containers labelled', () => {
    const failure = notStarted();
    if (failure) throw failure;
    expect(cgroupPathOf(pod!.sandboxPid)).toBe(`${pod!.cgroupParent}/${pod!.sandboxId}`);
    for (const c of started) {
      expect(c.labels).toMatchObject({ 'io.kubernetes.pod.uid': pod!.uid, 'io.kubernetes.pod.name': pod!.name, 'io.kubernetes.pod.namespace': 'default' });
      expect(c.labels['io.kubernetes.container.name']).toMatch(/^(traced|other)$/);
    }
  });
});

afterAll(() => cri?.close());
