// Reads deploy/kubernetes as kubectl and kustomize would: every YAML document
// of a kustomization's resources (bases included), its patches, and the
// files ebpf-forward's ConfigMap holds, so that the tests check what a
// cluster would be given.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { isSeq, parseAllDocuments, type Document } from 'yaml';
import { repoRoot } from '../support/cli.js';

export const kubernetesDir = join(repoRoot, 'deploy', 'kubernetes');

/** A Kubernetes object as written, with the file it came from. */
export interface Manifest {
  file: string;
  document: Document;
  object: {
    apiVersion: string;
    kind: string;
    metadata: { name: string; namespace?: string; labels?: Record<string, string> };
    [field: string]: unknown;
  };
}

export function readYamlFile(file: string): Document[] {
  const documents = parseAllDocuments(readFileSync(file, 'utf8'));
  if (!Array.isArray(documents)) throw new Error(`${file}: not a YAML stream`);
  for (const d of documents) {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]!.message}`);
  }
  return documents.filter((d) => d.contents !== null);
}

function manifestsOf(file: string): Manifest[] {
  return readYamlFile(file).map((document) => ({ file, document, object: document.toJS() as Manifest['object'] }));
}

export interface Kustomization {
  dir: string;
  resources: string[];
  patches: { path: string }[];
}

export function readKustomization(dir: string): Kustomization {
  const [document] = readYamlFile(join(dir, 'kustomization.yaml'));
  const k = document!.toJS() as Partial<Kustomization> & { apiVersion?: string; kind?: string };
  if (k.apiVersion !== 'kustomize.config.k8s.io/v1beta1' || k.kind !== 'Kustomization') throw new Error(`${dir}/kustomization.yaml: not a Kustomization`);
  return { dir, resources: k.resources ?? [], patches: k.patches ?? [] };
}

/** The objects a kustomization builds, before its patches: its files' and its bases'. */
export function resourcesOf(dir: string): Manifest[] {
  const k = readKustomization(dir);
  return k.resources.flatMap((r) => {
    const path = resolve(dir, r);
    return r.endsWith('.yaml') ? manifestsOf(path) : resourcesOf(path);
  });
}

export function patchesOf(dir: string): Manifest[] {
  return readKustomization(dir).patches.flatMap((p) => manifestsOf(resolve(dir, p.path)));
}

export function find(manifests: Manifest[], kind: string, name?: string): Manifest {
  const found = manifests.filter((m) => m.object.kind === kind && (name === undefined || m.object.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0]!;
}

export type ConfigMapObject = { data: Record<string, string> };

/**
 * A ConfigMap's data once a kustomization's patches apply: a strategic merge
 * patch of a ConfigMap replaces the data keys it names and keeps the others.
 */
export function effectiveConfigMapData(dir: string, name: string): Record<string, string> {
  const base = find(resourcesOf(dir), 'ConfigMap', name).object as unknown as ConfigMapObject;
  const patches = patchesOf(dir).filter((p) => p.object.kind === 'ConfigMap' && p.object.metadata.name === name);
  return Object.assign({}, base.data, ...patches.map((p) => (p.object as unknown as ConfigMapObject).data));
}

/** Writes a ConfigMap's files to a new folder, as the pod sees them under its mount path. */
export function writeConfigMapFiles(data: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-forward-deploy-'));
  for (const [file, text] of Object.entries(data)) writeFileSync(join(dir, file), text);
  return dir;
}

interface Container {
  name: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports?: { name?: string; containerPort: number }[];
  securityContext?: {
    privileged?: boolean;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    runAsUser?: number;
    capabilities?: { add?: string[]; drop?: string[] };
  };
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  volumeMounts?: { name: string; mountPath: string; subPath?: string; readOnly?: boolean }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}

export interface PodTemplate {
  metadata: { labels: Record<string, string> };
  spec: {
    hostPID?: boolean;
    serviceAccountName?: string;
    terminationGracePeriodSeconds?: number;
    tolerations?: { operator?: string; key?: string; effect?: string }[];
    containers: Container[];
    volumes?: { name: string; hostPath?: { path: string; type?: string }; configMap?: { name: string } }[];
  };
}

export function podTemplate(m: Manifest): PodTemplate {
  return (m.object as unknown as { spec: { template: PodTemplate } }).spec.template;
}

/** The container's port number for a probe's port (a name or a number). */
export function portNumber(container: Container, port: string | number): number | undefined {
  return typeof port === 'number' ? port : container.ports?.find((p) => p.name === port)?.containerPort;
}

/**
 * The comment written above each item of the container's
 * securityContext.capabilities.add list (the YAML node's own comment).
 */
export function capabilityComments(daemonSet: Manifest, containerIndex = 0): Map<string, string> {
  const add = daemonSet.document.getIn(['spec', 'template', 'spec', 'containers', containerIndex, 'securityContext', 'capabilities', 'add'], true);
  if (!isSeq(add)) throw new Error('securityContext.capabilities.add is not a list');
  const comments = new Map<string, string>();
  for (const [i, item] of add.items.entries()) {
    const node = item as { value?: unknown; commentBefore?: string | null };
    // The yaml library gives the first item's comment to the list.
    comments.set(String(node.value), (node.commentBefore ?? (i === 0 ? add.commentBefore : undefined)) ?? '');
  }
  return comments;
}
