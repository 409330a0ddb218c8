// What the node's container runtimes say of their containers, kept by
// container id and encoded once per container as the msgpack pairs the
// record program's CONTAINER_METADATA writes after a record's container
// fields (src/records/program.ts). The runtime clients (docker-engine.ts,
// cri-runtime.ts) fill it from the JS thread, off the records' path; the
// native encoder gets a copy of each container's pairs (its own cache,
// native/cgroup_names.h ContainerMetadata), the TypeScript reference encoder
// reads them here.
import { packValue as pack } from '../msgpack/values.js';
import { CONTAINER_METADATA_MAX } from '../records/program.js';

export type RuntimeKind = 'docker' | 'podman' | 'cri';

/** A CRI pod sandbox, as filter_kubernetes names its fields. */
export interface PodFacts {
  name: string;
  namespace: string;
  uid: string;
  /** The pod's labels (the kubelet's own io.kubernetes.pod.* left out). */
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
}

export interface ContainerFacts {
  runtime: RuntimeKind;
  /** The container's name (a CRI container's name in its pod spec; none for a sandbox). */
  name?: string;
  /** Its image as it was named ("nginx:1.27", "localhost/base:bookworm"). */
  image?: string;
  /** A CRI container's (or sandbox's) pod. */
  pod?: PodFacts;
}

/** One container's pairs and their number, in the two forms an input may want. */
export interface EncodedFacts {
  plain: EncodedPairs;
  /** With the pod's annotations (kubernetes_annotations On); the same as plain when there are none. */
  annotated: EncodedPairs;
}

export interface EncodedPairs {
  pairs: Buffer;
  count: number;
}

/**
 * The record's pairs for a container: a CRI container's `kubernetes` map
 * (filter_kubernetes' keys and order, less what it learns from the API
 * server only), a docker or podman container's `container_name` and
 * `container_image` (as docker's fluentd log driver puts container_name at
 * the top). Empty values are left out. A map too big for the encoder loses
 * its annotations, then its labels.
 */
export function encodeFacts(facts: ContainerFacts, withAnnotations: boolean): EncodedPairs {
  const fields: [string, unknown][] = [];
  if (facts.pod) {
    const pod = facts.pod;
    const kubernetes = (labels: boolean, annotations: boolean): Record<string, unknown> => {
      const map: Record<string, unknown> = {};
      if (pod.name) map.pod_name = pod.name;
      if (pod.namespace) map.namespace_name = pod.namespace;
      if (pod.uid) map.pod_id = pod.uid;
      if (labels && Object.keys(pod.labels).length) map.labels = pod.labels;
      if (annotations && Object.keys(pod.annotations).length) map.annotations = pod.annotations;
      if (facts.name) map.container_name = facts.name;
      if (facts.image) map.container_image = facts.image;
      return map;
    };
    for (const [labels, annotations] of [[true, withAnnotations], [true, false], [false, false]] as const) {
      const pairs = pack('kubernetes');
      const value = pack(kubernetes(labels, annotations));
      if (pairs.length + value.length <= CONTAINER_METADATA_MAX) return { pairs: Buffer.concat([pairs, value]), count: 1 };
    }
    return { pairs: Buffer.alloc(0), count: 0 };
  }
  if (facts.name) fields.push(['container_name', facts.name]);
  if (facts.image) fields.push(['container_image', facts.image]);
  const pairs = Buffer.concat(fields.flatMap(([k, v]) => [pack(k), pack(v)]));
  if (pairs.length > CONTAINER_METADATA_MAX) return { pairs: Buffer.alloc(0), count: 0 };
  return { pairs, count: fields.length };
}

/** Where a container's pairs are copied to (the native encoder's cache). */
export interface MetadataMirror {
  set(containerId: string, plain: EncodedPairs, annotated: EncodedPairs): void;
  remove(containerId: string): void;
}

/** How long a removed container's metadata stays: its last records (its exit) may still be in the ring. */
export const RETIRE_AFTER_MS = 10_000;

interface Known {
  /** Which runtime connection told of it (one per socket). */
  source: string;
  key: string;
  encoded: EncodedFacts;
  retire?: NodeJS.Timeout;
}

export class ContainerMetadataStore {
  private readonly known = new Map<string, Known>();

  constructor(private readonly mirror?: MetadataMirror) {}

  /** What a runtime (`source`: its connection, by default its kind) says of container `id`; re-encoded only when it changed. */
  set(id: string, facts: ContainerFacts, source: string = facts.runtime): void {
    const key = JSON.stringify(facts);
    const before = this.known.get(id);
    if (before?.retire) clearTimeout(before.retire);
    if (before && before.key === key) {
      before.retire = undefined;
      return;
    }
    const plain = encodeFacts(facts, false);
    const annotated = facts.pod && Object.keys(facts.pod.annotations).length ? encodeFacts(facts, true) : plain;
    this.known.set(id, { source, key, encoded: { plain, annotated } });
    this.mirror?.set(id, plain, annotated);
  }

  /** Forgets container `id` after RETIRE_AFTER_MS (its last records still get it); a set meanwhile keeps it. */
  retire(id: string): void {
    const known = this.known.get(id);
    if (!known || known.retire) return;
    known.retire = setTimeout(() => this.remove(id), RETIRE_AFTER_MS);
    known.retire.unref();
  }

  remove(id: string): void {
    const known = this.known.get(id);
    if (!known) return;
    if (known.retire) clearTimeout(known.retire);
    this.known.delete(id);
    this.mirror?.remove(id);
  }

  /** The containers `source` told of (retiring ones included). */
  idsOf(source: string): string[] {
    return [...this.known].filter(([, k]) => k.source === source).map(([id]) => id);
  }

  /** The pairs of container `id`, for the reference encoder. */
  of(id: string, withAnnotations: boolean): EncodedPairs | undefined {
    const known = this.known.get(id);
    if (!known) return undefined;
    const pairs = withAnnotations ? known.encoded.annotated : known.encoded.plain;
    return pairs.count ? pairs : undefined;
  }

  get size(): number {
    return this.known.size;
  }

  /** Forgets everything (the last user of the runtimes stopped). */
  clear(): void {
    for (const id of [...this.known.keys()]) this.remove(id);
  }
}
