// deploy/kubernetes checked as far as it can be without a cluster: every
// document against Kubernetes' schemas (kubernetes-models), the configs the
// ConfigMaps hold through ebpf-forward's own loader and --dry-run, and the
// pieces that must agree with each other (probes and HTTP_Port, mounts and
// storage.path, Upstream nodes and the aggregators' names).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeMulti } from '@msgpack/msgpack';
import { DaemonSet, StatefulSet } from 'kubernetes-models/apps/v1';
import { ConfigMap, Namespace, Service, ServiceAccount } from 'kubernetes-models/v1';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { encodeFacts } from '../../src/containers/metadata.js';
import { USUAL_SOCKETS } from '../../src/containers/runtime-metadata.js';
import { parseClassicConfig } from '../../src/config/parser.js';
import { outputPlugins } from '../../src/outputs/registry.js';
import { readUpstreamFile } from '../../src/outputs/forward/upstream.js';
import { traces } from '../../src/traces/registry.js';
import { repoRoot, runCli } from '../support/cli.js';
import { parse as parseYaml } from 'yaml';
import { matchesTag, parseRewriteRule, rewriteTag } from './rewrite-tag.js';
import {
  capabilityComments,
  effectiveConfigMapData,
  find,
  kubernetesDir,
  patchesOf,
  podTemplate,
  portNumber,
  readKustomization,
  resourcesOf,
  writeConfigMapFiles,
  type Manifest,
} from './manifests.js';

const base = join(kubernetesDir, 'base');
const aggregator = join(kubernetesDir, 'aggregator');
const CONFIG_MAP = 'ebpf-forward-config';
const MAIN_CONFIG = 'ebpf-forward.conf';

function model(m: Manifest): { validate(): void } {
  const { apiVersion, kind } = m.object;
  const byKind: Record<string, new (data: never) => { validate(): void }> = {
    'v1/ConfigMap': ConfigMap,
    'v1/Namespace': Namespace,
    'v1/Service': Service,
    'v1/ServiceAccount': ServiceAccount,
    'apps/v1/DaemonSet': DaemonSet,
    'apps/v1/StatefulSet': StatefulSet,
  };
  const Model = byKind[`${apiVersion}/${kind}`];
  if (!Model) throw new Error(`${m.file}: no schema here for ${apiVersion} ${kind}: add its model to this test`);
  return new Model(m.object as never);
}

/** Values for the environment the DaemonSet gives the container, as the kubelet would fill them. */
function podEnvironment(daemonSet: Manifest): Record<string, string> {
  const fieldValues: Record<string, string> = { 'spec.nodeName': 'node-a', 'status.hostIP': '10.0.0.7' };
  const env: Record<string, string> = {};
  for (const e of podTemplate(daemonSet).spec.containers[0]!.env ?? []) {
    const value = e.value ?? fieldValues[e.valueFrom?.fieldRef?.fieldPath ?? ''];
    if (value === undefined) throw new Error(`env ${e.name}: no test value for ${JSON.stringify(e.valueFrom)}`);
    env[e.name] = value;
  }
  return env;
}

const deps = { traces, outputs: outputPlugins };

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('deploy/kubernetes', () => {
  const baseObjects = resourcesOf(base);
  const aggregatorObjects = [...resourcesOf(aggregator), ...patchesOf(aggregator)];
  const daemonSet = find(baseObjects, 'DaemonSet', 'ebpf-forward');
  const pod = podTemplate(daemonSet);
  const container = pod.spec.containers[0]!;

  it('every document of both kustomizations is valid against Kubernetes schemas', () => {
    const all = [...baseObjects, ...aggregatorObjects];
    expect(all.length).toBeGreaterThanOrEqual(9);
    for (const m of all) {
      expect(() => model(m).validate(), `${m.file}: ${m.object.kind} ${m.object.metadata.name}`).not.toThrow();
      // One namespace for everything, so that the names below resolve.
      if (m.object.kind !== 'Namespace') expect(m.object.metadata.namespace, m.file).toBe('ebpf-forward');
    }
    // The schemas check themselves: a wrong type is refused.
    const broken = structuredClone(daemonSet.object) as unknown as { spec: { template: PodTemplateLike } };
    broken.spec.template.spec.containers[0]!.ports![0]!.containerPort = 'http' as unknown as number;
    expect(() => new DaemonSet(broken as never).validate()).toThrow(/containerPort must be integer/);
  });

  it('the kustomizations name files that exist, and the aggregator builds on the base', () => {
    expect(readKustomization(aggregator).resources).toContain('../base');
    // resourcesOf/patchesOf read every file named; a missing one throws.
    expect(find(aggregatorObjects, 'DaemonSet', 'ebpf-forward').file).toBe(daemonSet.file);
    expect(patchesOf(aggregator).map((p) => `${p.object.kind}/${p.object.metadata.name}`)).toEqual([`ConfigMap/${CONFIG_MAP}`]);
  });

  it('the DaemonSet runs unprivileged, in the host pid namespace, with capabilities each explained', () => {
    expect(pod.spec.hostPID).toBe(true);
    const sc = container.securityContext!;
    expect(sc.privileged).toBe(false);
    expect(sc.runAsUser).toBe(0);
    expect(sc.allowPrivilegeEscalation).toBe(false);
    expect(sc.capabilities?.drop).toEqual(['ALL']);
    const add = sc.capabilities?.add ?? [];
    expect(add).toEqual(expect.arrayContaining(['BPF', 'PERFMON']));
    const comments = capabilityComments(daemonSet);
    for (const cap of add) expect(comments.get(cap), `the comment above ${cap} says what CAP_${cap} is for`).toMatch(new RegExp(`CAP_${cap}\\b.*:`));
    // The API server refuses allowPrivilegeEscalation: false with CAP_SYS_ADMIN added.
    expect(add).not.toContain('CAP_SYS_ADMIN');
    // Kubernetes names capabilities without the prefix.
    for (const cap of add) expect(cap).toMatch(/^[A-Z_]+$/);
  });

  it('the DaemonSet runs on every node, under its ServiceAccount, mounting what ebpf-forward reads', () => {
    expect(pod.spec.tolerations).toContainEqual({ operator: 'Exists' });
    expect(pod.spec.serviceAccountName).toBeDefined();
    const account = find(baseObjects, 'ServiceAccount', pod.spec.serviceAccountName);
    expect(account.object.metadata.namespace).toBe(daemonSet.object.metadata.namespace);
    const mounts = new Map((container.volumeMounts ?? []).map((m) => [m.mountPath, m]));
    const hostPath = (mountPath: string) => pod.spec.volumes?.find((v) => v.name === mounts.get(mountPath)?.name)?.hostPath?.path;
    expect(hostPath('/sys/kernel/btf')).toBe('/sys/kernel/btf');
    expect(mounts.get('/sys/kernel/btf')?.readOnly).toBe(true);
    expect(hostPath('/sys/kernel/tracing')).toBe('/sys/kernel/tracing');
    expect(hostPath('/sys/fs/cgroup')).toBe('/sys/fs/cgroup');
    expect(mounts.get('/sys/fs/cgroup')?.readOnly).toBe(true);
    expect(container.resources?.requests).toHaveProperty('memory');
    expect(container.resources?.limits).toHaveProperty('memory');
  });

  it("mounts the node runtime's socket read-only where ebpf-forward looks for it, the other runtimes' as commented choices", () => {
    const mount = container.volumeMounts?.find((m) => m.name === 'runtime-socket');
    const volume = pod.spec.volumes?.find((v) => v.name === 'runtime-socket');
    expect(mount).toEqual({ name: 'runtime-socket', mountPath: USUAL_SOCKETS.containerd, readOnly: true });
    expect(volume?.hostPath).toEqual({ path: USUAL_SOCKETS.containerd, type: 'Socket' });
    // The commented choices, uncommented, are a mount and a volume of the same kind for CRI-O's and docker's sockets.
    const text = readFileSync(daemonSet.file, 'utf8');
    const choices = [...text.matchAll(/^( *)# (- name: runtime-socket\n(?:\1#   .*\n)+)/gm)]
      .map((m) => parseYaml(m[2]!.replace(new RegExp(`^${m[1]}#   `, 'gm'), '  ')) as [{ mountPath?: string; readOnly?: boolean; hostPath?: { path: string; type: string } }]);
    const mounts = choices.map(([c]) => c).filter((c) => c.mountPath);
    const volumes = choices.map(([c]) => c).filter((c) => c.hostPath);
    const others = [USUAL_SOCKETS.crio, USUAL_SOCKETS.docker];
    expect(mounts).toEqual(others.map((path) => ({ name: 'runtime-socket', mountPath: path, readOnly: true })));
    expect(volumes).toEqual(others.map((path) => ({ name: 'runtime-socket', hostPath: { path, type: 'Socket' } })));
    // The config reads them where they are mounted: metadata on (the default), no socket key set elsewhere.
    for (const [key, value] of Object.entries(podEnvironment(daemonSet))) vi.stubEnv(key, value);
    const config = loadConfig(join(writeConfigMapFiles(effectiveConfigMapData(base, CONFIG_MAP)), MAIN_CONFIG), { ...deps, env: podEnvironment(daemonSet) });
    const input = config.inputs[0]!.values;
    expect(input.get('container_runtime_metadata')).not.toBe(false);
    for (const key of ['cri_socket', 'docker_socket', 'podman_socket']) expect(input.get(key), key).toBeUndefined();
  });

  it('the DaemonSet passes arguments only, to the image whose entrypoint is ebpf-forward', () => {
    const entrypoint = readFileSync(join(repoRoot, 'docker', 'Dockerfile'), 'utf8').match(/^ENTRYPOINT\s+(.+)$/gm)?.at(-1);
    const bin = Object.keys((JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin);
    expect(entrypoint).toBe(`ENTRYPOINT ${JSON.stringify(bin)}`);
    expect(container.args).toEqual(['-c', `/etc/ebpf-forward/${MAIN_CONFIG}`]);
    const image = (daemonSet.object as unknown as { spec: { template: { spec: { containers: { image: string }[] } } } }).spec.template.spec.containers[0]!.image;
    const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
    expect(image).toBe(`ebpf-forward:${version}`);
  });

  for (const [name, dir] of [
    ['base', base],
    ['aggregator', aggregator],
  ] as const) {
    describe(`the ${name} config`, () => {
      const data = effectiveConfigMapData(dir, CONFIG_MAP);
      const env = podEnvironment(daemonSet);

      it('is mounted file by file where the container reads it', () => {
        for (const file of Object.keys(data)) {
          const mount = container.volumeMounts?.find((m) => m.mountPath === `/etc/ebpf-forward/${file}`);
          expect(mount, file).toMatchObject({ subPath: file, readOnly: true });
          expect(pod.spec.volumes?.find((v) => v.name === mount!.name)?.configMap?.name).toBe(CONFIG_MAP);
        }
      });

      it('passes ebpf-forward --dry-run with the pod environment, without a warning', async () => {
        const folder = writeConfigMapFiles(data);
        const r = await runCli(['-c', join(folder, MAIN_CONFIG), '--dry-run'], env);
        expect(r.stderr).toBe('');
        expect(r.stdout).toMatch(/configuration test is successful/);
        expect(r.code).toBe(0);
      });

      it('agrees with the DaemonSet: probes, HTTP port, Grace, storage, receiver filter, environment', () => {
        const folder = writeConfigMapFiles(data);
        // The Upstream file's ${VAR}s come from the process environment.
        for (const [key, value] of Object.entries(env)) vi.stubEnv(key, value);
        const config = loadConfig(join(folder, MAIN_CONFIG), { ...deps, env });
        const service = config.service.values;
        expect(service.get('http_server')).toBe(true);
        expect(service.get('health_check')).toBe(true);
        expect(portNumber(container, container.livenessProbe!.httpGet!.port)).toBe(service.get('http_port'));
        expect(portNumber(container, container.readinessProbe!.httpGet!.port)).toBe(service.get('http_port'));
        expect(container.livenessProbe?.httpGet?.path).toBe('/api/v1/health');
        expect(container.readinessProbe?.httpGet?.path).toBe('/api/v1/uptime');
        expect(pod.spec.terminationGracePeriodSeconds).toBeGreaterThan(config.service.graceSeconds);
        // storage.path is a hostPath the container may write.
        const storage = container.volumeMounts?.find((m) => m.mountPath === config.service.storagePath);
        expect(storage?.readOnly).not.toBe(true);
        expect(pod.spec.volumes?.find((v) => v.name === storage?.name)?.hostPath).toMatchObject({ path: config.service.storagePath, type: 'DirectoryOrCreate' });
        // Not tracing the Fluent Bit that receives the records.
        const [input] = config.inputs;
        expect(config.inputs).toHaveLength(1);
        expect([input!.values.get('exclude_comm')].flat(3)).toContain('fluent-bit');
        expect(input!.tag).toBe('ebpf.node-a');
        expect(config.outputs.map((o) => o.plugin)).toEqual(['forward']);
      });
    });
  }

  it('the aggregator Upstream lists each aggregator pod by its stable name and forward port', () => {
    const data = effectiveConfigMapData(aggregator, CONFIG_MAP);
    const folder = writeConfigMapFiles(data);
    const upstream = readUpstreamFile('upstream.conf', folder, new Map());
    const statefulSet = find(aggregatorObjects, 'StatefulSet', 'aggregator');
    const sts = statefulSet.object as unknown as { spec: { serviceName: string; replicas: number; selector: { matchLabels: Record<string, string> } } };
    const headless = find(aggregatorObjects, 'Service', sts.spec.serviceName).object as unknown as {
      spec: { clusterIP: string; selector: Record<string, string>; ports: { port: number; targetPort: string }[] };
    };
    const namespace = statefulSet.object.metadata.namespace;
    expect(headless.spec.clusterIP).toBe('None');
    expect(sts.spec.replicas).toBe(2);
    const fluentBit = podTemplate(statefulSet).spec.containers[0]!;
    const forwardPort = portNumber(fluentBit, headless.spec.ports[0]!.targetPort);
    expect(upstream.nodes.map((n) => `${n.settings.host}:${n.settings.port}`)).toEqual(
      Array.from({ length: sts.spec.replicas }, (_, i) => `${statefulSet.object.metadata.name}-${i}.${sts.spec.serviceName}.${namespace}.svc:${headless.spec.ports[0]!.port}`),
    );
    // Both Services reach the StatefulSet's pods, on the port its Fluent Bit listens on.
    for (const svcName of [sts.spec.serviceName, 'aggregator']) {
      const svc = find(aggregatorObjects, 'Service', svcName).object as unknown as { spec: { selector: Record<string, string> } };
      expect(podTemplate(statefulSet).metadata.labels).toMatchObject(svc.spec.selector);
    }
    expect(podTemplate(statefulSet).metadata.labels).toMatchObject(sts.spec.selector.matchLabels);
    const fluentBitConfig = find(aggregatorObjects, 'ConfigMap', 'aggregator-config').object as unknown as { data: Record<string, string> };
    const sections = parseClassicConfig(join(writeConfigMapFiles(fluentBitConfig.data), 'fluent-bit.conf'));
    const forwardInput = sections.find((s) => s.name === 'input' && s.entries.some((e) => e.name === 'name' && e.value === 'forward'));
    expect(Number(forwardInput?.entries.find((e) => e.name === 'port')?.value)).toBe(forwardPort);
    const fbHttpPort = sections.find((s) => s.name === 'service')?.entries.find((e) => e.name === 'http_port')?.value;
    expect(portNumber(fluentBit, fluentBit.livenessProbe!.httpGet!.port)).toBe(Number(fbHttpPort));
    // The config file is mounted where the container's -c reads it.
    const configPath = fluentBit.args?.[fluentBit.args.indexOf('-c') + 1];
    expect(fluentBit.volumeMounts?.find((m) => m.mountPath === configPath)?.subPath).toBe('fluent-bit.conf');
  });
});

describe("the aggregators' Fluent Bit config", () => {
  const aggregatorObjects = resourcesOf(aggregator);
  const fluentBitConfig = find(aggregatorObjects, 'ConfigMap', 'aggregator-config').object as unknown as { data: Record<string, string> };
  const sections = parseClassicConfig(join(writeConfigMapFiles(fluentBitConfig.data), 'fluent-bit.conf'));
  const value = (section: (typeof sections)[number], key: string) => section.entries.find((e) => e.name === key)?.value;
  const filters = sections.filter((s) => s.name === 'filter');
  const outputs = sections.filter((s) => s.name === 'output');
  const rewrite = filters.find((f) => value(f, 'name') === 'rewrite_tag')!;

  /** The record ebpf-forward sends for a pod's container: the kubernetes map as its encoder writes it. */
  function podRecord(namespace: string): Record<string, unknown> {
    const facts = { runtime: 'cri' as const, name: 'web', image: 'nginx:1.27', pod: { name: 'web-0', namespace, uid: '8c1f', labels: { app: 'web' }, annotations: {} } };
    const decoded = [...decodeMulti(encodeFacts(facts, false).pairs)];
    const record: Record<string, unknown> = { event_type: 'execve', container_id: 'a'.repeat(64) };
    for (let i = 0; i < decoded.length; i += 2) record[decoded[i] as string] = decoded[i + 1];
    return record;
  }

  /** The outputs a record tagged `tag` reaches once the filters ran. */
  function routed(tag: string, record: Record<string, unknown>): string[] {
    let finalTag = tag;
    if (matchesTag(value(rewrite, 'match')!, tag)) finalTag = rewriteTag(parseRewriteRule(value(rewrite, 'rule')!), tag, record) ?? tag;
    return outputs.filter((o) => matchesTag(value(o, 'match')!, finalTag)).map((o) => value(o, 'match')!);
  }

  it("tags a pod's records again by the namespace in their kubernetes map, and leaves a host process's", () => {
    expect(rewrite, 'a rewrite_tag filter').toBeDefined();
    const rule = parseRewriteRule(value(rewrite, 'rule')!);
    expect(rule.key).toEqual(['kubernetes', 'namespace_name']);
    expect(rule.keep).toBe(false);
    const record = podRecord('shop');
    expect(record.kubernetes).toMatchObject({ namespace_name: 'shop', pod_name: 'web-0', container_name: 'web' });
    const newTag = rewriteTag(rule, 'ebpf.node-a', record)!;
    expect(newTag).toBe('k8s.shop.ebpf.node-a');
    // The new tag is not the filter's again (Fluent Bit would loop), and one output takes it.
    expect(matchesTag(value(rewrite, 'match')!, newTag)).toBe(false);
    expect(routed('ebpf.node-a', record)).toEqual(['k8s.*']);
    expect(routed('ebpf.node-a', { event_type: 'execve', pid: 1 })).toEqual(['ebpf.*']);
  });
});

interface PodTemplateLike {
  spec: { containers: { ports?: { containerPort: number }[] }[] };
}
