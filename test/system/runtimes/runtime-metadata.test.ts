// What the node's runtimes say of their containers, on the records (the
// input's container_runtime_metadata), with the real runtimes: the built CLI
// traces execs while a container is made, and the very first exec record
// of the container's first process (runc's exec of its command) already
// carries it, since the runtime told of the container as it was created,
// before that process ran (podman aside, below):
//  - containerd's CRI, a pod made as the kubelet makes it: kubernetes with
//    pod_name, namespace_name, pod_id, the pod's labels (not the kubelet's
//    own), container_name, and container_image (on a later exec: its name
//    takes one more call, ContainerStatus);
//  - docker: container_name and container_image;
//  - podman, through its API service: the same, on an exec into it (its
//    service may tell of a container after its first process ran).
// With container_runtime_metadata Off, the same container's records have
// container_id and none of it. Records are picked by each container's own
// marker argument.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli, waitFor, type RunningCli } from '../../support/cli.js';
import { CriClient } from './cri-client.js';
import { KubeletPod } from './kubelet-pod.js';
import { command } from './runtime-identity.js';
import { BASE_IMAGE, requireRuntime } from './setup-status.js';

type ExecRecord = Record<string, any>;

const newMarker = () => `ebpf-forward-meta-${randomBytes(6).toString('hex')}`;
/** The container's command: a shell whose last argument is the marker, alive until removed. */
const markedCommand = (marker: string) => ['/bin/sh', '-c', 'sleep 600', marker];

function recordsOf(cli: RunningCli): ExecRecord[] {
  return cli.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as ExecRecord);
}

/** The records of the exec of markedCommand(marker) (runc's exec of the container's command), enter first. */
async function execRecords(cli: RunningCli, marker: string, script = 'sleep 600'): Promise<ExecRecord[]> {
  return waitFor(
    () => {
      const mine = recordsOf(cli).filter((r) => r.argv_last === marker && r.argv2 === script && r.container_id);
      return mine.some((r) => r.stage === 'exit') ? mine : undefined;
    },
    20_000,
    `the exec records of ${marker}`,
  );
}

let on: RunningCli | undefined;
let off: RunningCli | undefined;
let notStarted: Error | undefined;

beforeAll(async () => {
  try {
    const tracing = (extra: string[]) => startCli(['-i', 'ebpf', '-p', 'trace=trace_exec', ...extra, '-o', 'stdout', '-p', 'format=json_lines', '-m', '*', '-f', '0.2']);
    on = tracing([]);
    off = tracing(['-p', 'container_runtime_metadata=off']);
    await Promise.all([on.waitForLog(/privileges dropped in all \d+ threads/), off.waitForLog(/privileges dropped in all \d+ threads/)]);
  } catch (error) {
    notStarted = error as Error;
  }
});

afterAll(async () => {
  await Promise.all([on?.stop(), off?.stop()]);
});

function started(): RunningCli {
  if (notStarted) throw notStarted;
  return on!;
}

describe('a CRI pod (containerd, as the kubelet makes it)', () => {
  let cri: CriClient | undefined;
  let pod: KubeletPod | undefined;
  afterAll(async () => {
    await pod?.remove();
    cri?.close();
  });

  it("the first exec record of the pod's container has its kubernetes map", async () => {
    const cli = started();
    requireRuntime('cri');
    await cli.waitForLog(/CRI \(containerd\): reading container metadata from \/run\/containerd\/containerd\.sock/);
    cri = new CriClient();
    pod = new KubeletPod(cri, `ebpf-forward-meta-${process.pid}`);
    await pod.run();
    const marker = newMarker();
    const container = await pod.start('traced', BASE_IMAGE, markedCommand(marker));
    const records = await execRecords(cli, marker);
    expect(records[0]!.stage).toBe('enter');
    const kubernetes = {
      pod_name: pod.name,
      namespace_name: 'default',
      pod_id: pod.uid,
      labels: { 'app.kubernetes.io/name': 'ebpf-forward-test', 'controller-revision-hash': '6d4f8c7b9', 'pod-template-generation': '1' },
      container_name: 'traced',
      container_image: BASE_IMAGE,
    };
    for (const record of records) {
      expect(record.container_id).toBe(container.id);
      // The image's name takes one more call (ContainerStatus): the first records may be without it.
      const { container_image, ...rest } = record.kubernetes ?? {};
      expect(rest).toEqual({ ...kubernetes, container_image: undefined });
      if (container_image !== undefined) expect(container_image).toBe(BASE_IMAGE);
      expect(record).not.toHaveProperty('container_name');
    }
    // An exec into it later: all of it.
    const later = newMarker();
    await pod.exec(container.id, ['/bin/sh', '-c', 'sleep 0.5', later]);
    const [exec] = await execRecords(cli, later, 'sleep 0.5');
    expect(exec!.kubernetes).toEqual(kubernetes);
    // The input with it Off: container_id, and nothing of the runtime's.
    const plain = await execRecords(off!, marker);
    expect(plain[0]!.container_id).toBe(container.id);
    expect(plain[0]).not.toHaveProperty('kubernetes');
  });
});

for (const engine of ['docker', 'podman'] as const) {
  describe(`a ${engine} container`, () => {
    const name = `ebpf-forward-meta-${engine}-${process.pid}`;
    let made = false;
    afterAll(async () => {
      if (made) await command(engine, engine === 'podman' ? ['rm', '-f', '-t', '0', name] : ['rm', '-f', name]);
    });

    // docker tells of a container as it is created; podman's service, with
    // the file events logger set up here, reads its event log by polling,
    // and may tell after the first process ran: there, an exec into it.
    const when = engine === 'docker' ? 'the first exec record of its command has' : 'an exec in it has';
    it(`${when} container_name and container_image`, async () => {
      const cli = started();
      requireRuntime(engine);
      const socket = engine === 'docker' ? '/var/run/docker.sock' : '/run/podman/podman.sock';
      await cli.waitForLog(new RegExp(`${engine}: reading container metadata from ${socket.replaceAll('/', '\\/').replaceAll('.', '\\.')}`));
      let marker = newMarker();
      made = true;
      const id = (await command(engine, ['run', '-d', '--network', 'host', '--name', name, BASE_IMAGE, ...markedCommand(marker)])).split('\n').at(-1);
      let records: ExecRecord[] = [];
      if (engine === 'docker') {
        records = await execRecords(cli, marker);
      } else {
        // An exec every half second until podman's service has told of it (it
        // is not known when: later on a loaded machine), and the exec's records
        // came after that, all of them.
        const deadline = Date.now() + 60_000;
        for (;;) {
          marker = newMarker();
          await command(engine, ['exec', name, ...markedCommand(marker).slice(0, 2), 'sleep 600 & exit 0', marker]);
          records = await execRecords(cli, marker, 'sleep 600 & exit 0');
          if ((records.length > 0 && records.every((r) => r.container_name)) || Date.now() > deadline) break;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
      expect(records[0]!.stage).toBe('enter');
      for (const record of records) {
        expect(record.container_id).toBe(id);
        expect(record.container_name).toBe(name);
        expect(record.container_image).toBe(BASE_IMAGE);
        expect(record).not.toHaveProperty('kubernetes');
      }
      const plain = await execRecords(off!, marker, records[0]!.argv2);
      expect(plain[0]!.container_id).toBe(id);
      expect(plain[0]).not.toHaveProperty('container_name');
      expect(plain[0]).not.toHaveProperty('container_image');
    }, 90_000);
  });
}
