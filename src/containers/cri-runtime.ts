// Pods and containers from a CRI runtime's own socket (containerd's CRI
// plugin, CRI-O), as the kubelet sees them: ListPodSandbox and
// ListContainers, and ContainerStatus once per container for its image's
// name. No API server: a pod's name, namespace, uid, labels and annotations
// are what the kubelet gave the runtime with the sandbox.
//
// Kept current by the first of these the runtime has, each a reason to list
// again: the CRI's GetContainerEvents stream (containerd 1.7+, CRI-O);
// containerd's own event stream on the same socket (containerd 1.6, whose
// /containers/create comes as CreateContainer returns, before the kubelet's
// StartContainer runs the first process); else a list every POLL_MS. A
// list every RELIST_MS besides, in case an event was missed.
import type { Client, ClientReadableStream, ServiceError } from '@grpc/grpc-js';
import type { ContainerFacts, ContainerMetadataStore, PodFacts } from './metadata.js';
import { NotThisRuntime, RuntimeConnection, type RuntimeConnectionOptions } from './runtime-connection.js';

const CRI_PROTO = new URL('../../src/containers/cri/api.proto', import.meta.url).pathname;
const EVENTS_PROTO = new URL('../../src/containers/cri/containerd-events.proto', import.meta.url).pathname;
const LOAD_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };
const CALL_TIMEOUT_MS = 10_000;
const POLL_MS = 2000;
const RELIST_MS = 30_000;
/** A container an event told of is listed for until it shows: after 5 ms, doubling to 200 ms, for 5 s at most (about 30 lists). */
const AWAIT_FIRST_MS = 5;
const AWAIT_MAX_MS = 200;
const AWAIT_MS = 5000;
/** The kubelet's own labels on a sandbox, not the pod's. */
const KUBELET_LABELS = new Set(['io.kubernetes.pod.name', 'io.kubernetes.pod.namespace', 'io.kubernetes.pod.uid']);
/** containerd's namespace for the CRI's containers. */
const CRI_NAMESPACE = 'k8s.io';

type Message = Record<string, any>;
type Unary = (request: Message, options: { deadline: Date }, callback: (error: ServiceError | null, response: Message) => void) => void;
type Streaming = (request: Message) => ClientReadableStream<Message>;

interface Services {
  runtime: Client;
  events: Client;
}

// gRPC and the protos (about 20 MB of RSS) are loaded by the first connect
// to a socket that takes connections (RuntimeConnection tries it first): a
// node without a CRI runtime, or with a stale socket file, never loads them.
let grpc: typeof import('@grpc/grpc-js') | undefined;
let services: ((socket: string) => Services) | undefined;
/** The CRI and containerd events services' constructors (the protos read once). */
async function servicesAt(socket: string): Promise<Services> {
  if (!services) {
    const [grpcJs, { loadSync }] = await Promise.all([import('@grpc/grpc-js'), import('@grpc/proto-loader')]);
    const { credentials, loadPackageDefinition } = grpcJs;
    const cri = (loadPackageDefinition(loadSync(CRI_PROTO, LOAD_OPTIONS)) as any).runtime.v1;
    const events = (loadPackageDefinition(loadSync(EVENTS_PROTO, LOAD_OPTIONS)) as any).containerd.services.events.v1;
    grpc = grpcJs;
    services = (path) => {
      const address = `unix://${path}`;
      return { runtime: new cri.RuntimeService(address, credentials.createInsecure()), events: new events.Events(address, credentials.createInsecure()) };
    };
  }
  return services(socket);
}

/** gRPC's status codes (gRPC is loaded once a connect got that far). */
const grpcStatus = () => grpc!.status;

export interface CriRuntimeOptions extends RuntimeConnectionOptions {
  store: ContainerMetadataStore;
}

export class CriRuntimeWatcher extends RuntimeConnection {
  private clients?: Services;
  private stream?: ClientReadableStream<Message>;
  private poll?: NodeJS.Timeout;
  private relist?: NodeJS.Timeout;
  private listing?: Promise<void>;
  private listAgain = false;
  private onLost?: (why: Error) => void;
  /** Containers an event told of that a list has not shown yet, with when to stop listing again for them. */
  private readonly awaited = new Map<string, number>();
  private awaitTimer?: NodeJS.Timeout;
  private awaitDelay = AWAIT_FIRST_MS;
  /** The pods of the last list, by sandbox id. */
  private readonly pods = new Map<string, PodFacts>();
  /** Image names by container id (ContainerStatus, asked once per container). */
  private readonly images = new Map<string, string>();
  /** How this runtime tells of new containers (for logs and tests). */
  how: 'cri-events' | 'containerd-events' | 'polling' | undefined;

  constructor(private readonly cri: CriRuntimeOptions) {
    super(cri);
  }

  protected async connect(onLost: (why: Error) => void): Promise<void> {
    this.onLost = onLost;
    this.clients = await servicesAt(this.socketPath);
    let version: Message;
    try {
      version = await this.call('Version', { version: 'v1' });
    } catch (err) {
      if ((err as ServiceError).code === grpcStatus().UNIMPLEMENTED) throw new NotThisRuntime('it has no CRI (runtime.v1)');
      throw err;
    }
    this.log.debug(`${this.cri.label}: ${version.runtime_name} ${version.runtime_version} (CRI ${version.runtime_api_version})`);
    this.follow('cri-events');
    await this.list();
    this.relist = setInterval(() => this.listSoon(), RELIST_MS);
    this.relist.unref();
  }

  protected disconnect(): void {
    const clients = this.clients;
    this.clients = undefined;
    this.onLost = undefined;
    this.stream?.cancel();
    this.stream = undefined;
    clearInterval(this.poll);
    clearInterval(this.relist);
    clearTimeout(this.awaitTimer);
    this.awaitTimer = undefined;
    this.awaited.clear();
    this.poll = this.relist = undefined;
    clients?.runtime.close();
    clients?.events.close();
    this.how = undefined;
  }

  /** Follows the runtime's changes the `how` way, falling back to the next when the runtime lacks it. */
  private follow(how: 'cri-events' | 'containerd-events' | 'polling'): void {
    const clients = this.clients;
    if (!clients) return;
    this.how = how;
    if (how === 'polling') {
      this.log.debug(`${this.cri.label}: no event stream: listing every ${POLL_MS / 1000} s`);
      this.poll = setInterval(() => this.listSoon(), POLL_MS);
      this.poll.unref();
      return;
    }
    const stream =
      how === 'cri-events'
        ? (clients.runtime as unknown as Record<string, Streaming>).GetContainerEvents!.call(clients.runtime, {})
        : (clients.events as unknown as Record<string, Streaming>).Subscribe!.call(clients.events, { filters: [`namespace==${CRI_NAMESPACE}`] });
    this.stream = stream;
    stream.on('data', (event: Message) => {
      if (this.log.enabled('trace')) this.log.trace(`${this.cri.label}: event ${how === 'cri-events' ? `${event.container_event_type} ${event.container_id}` : `${event.namespace} ${event.topic}`}`);
      if (how === 'containerd-events' && !String(event.topic).startsWith('/containers/')) return;
      // containerd publishes /containers/create before the CRI plugin lists
      // the container: it is awaited, listed again until it shows.
      const created = how === 'containerd-events' ? (event.topic === '/containers/create' ? createdId(event.event) : undefined) : event.container_event_type === 'CONTAINER_CREATED_EVENT' ? event.container_id : undefined;
      if (created) {
        this.awaited.set(created, Date.now() + AWAIT_MS);
        this.awaitDelay = AWAIT_FIRST_MS;
        void this.statusOf(created);
      }
      this.listSoon();
    });
    stream.on('error', (error: ServiceError) => {
      if (this.stream !== stream) return;
      this.stream = undefined;
      if (error.code === grpcStatus().UNIMPLEMENTED) {
        this.log.debug(`${this.cri.label}: ${how === 'cri-events' ? 'no GetContainerEvents' : "no containerd event stream"}; trying the next way`);
        this.follow(how === 'cri-events' ? 'containerd-events' : 'polling');
        // Whatever was made before the new stream began.
        this.listSoon();
        return;
      }
      this.onLost?.(new Error(`${how === 'cri-events' ? 'GetContainerEvents' : "containerd's event stream"}: ${error.details || error.message}`));
    });
    stream.on('end', () => {
      if (this.stream !== stream) return;
      this.stream = undefined;
      this.onLost?.(new Error('the event stream ended'));
    });
  }

  /** Lists again, now or (if a list is running) right after it. */
  private listSoon(): void {
    if (this.listing) {
      this.listAgain = true;
      return;
    }
    this.list().catch((err: ServiceError) => this.onLost?.(new Error(`listing: ${err.details || err.message}`)));
  }

  private list(): Promise<void> {
    const run = async () => {
      do {
        this.listAgain = false;
        await this.listOnce();
      } while (this.listAgain && this.clients);
    };
    const listing = run().finally(() => {
      if (this.listing === listing) this.listing = undefined;
    });
    this.listing = listing;
    return listing;
  }

  private async listOnce(): Promise<void> {
    const [{ items: sandboxes }, { containers }] = await Promise.all([this.call('ListPodSandbox', {}), this.call('ListContainers', {})]);
    const { store } = this.cri;
    const source = this.socketPath;
    const pods = this.pods;
    pods.clear();
    const seen = new Set<string>();
    for (const sandbox of sandboxes as Message[]) {
      const pod = podOf(sandbox);
      pods.set(sandbox.id, pod);
      seen.add(sandbox.id);
      store.set(sandbox.id, { runtime: 'cri', pod }, source);
    }
    const unnamed: Message[] = [];
    for (const container of containers as Message[]) {
      seen.add(container.id);
      // The kubelet's labels on the container name its pod when the sandbox was not listed (made in between).
      const pod = pods.get(container.pod_sandbox_id) ?? podOfLabels(container.labels ?? {});
      const image = this.images.get(container.id);
      store.set(container.id, factsOf(container, pod, image), source);
      if (image === undefined) unnamed.push(container);
    }
    // The image as the pod spec named it: ListContainers may give only its id. Set after the rest, which need no call.
    await Promise.all(
      unnamed.map(async (container) => {
        const { status: found } = await this.call('ContainerStatus', { container_id: container.id });
        const image = found?.image?.image || container.image?.image || '';
        this.images.set(container.id, image);
        store.set(container.id, factsOf(container, pods.get(container.pod_sandbox_id) ?? podOfLabels(container.labels ?? {}), image), source);
      }),
    ).catch((err: ServiceError) => {
      // Removed since it was listed: the next list settles it.
      if (err.code !== grpcStatus().NOT_FOUND) throw err;
    });
    for (const id of store.idsOf(source)) {
      if (seen.has(id)) continue;
      store.retire(id);
      this.images.delete(id);
    }
    const now = Date.now();
    for (const [id, until] of this.awaited) if (seen.has(id) || until < now) this.awaited.delete(id);
    if (this.awaited.size && !this.awaitTimer) {
      this.awaitTimer = setTimeout(() => {
        this.awaitTimer = undefined;
        this.listSoon();
      }, this.awaitDelay);
      this.awaitTimer.unref();
      this.awaitDelay = Math.min(this.awaitDelay * 2, AWAIT_MAX_MS);
    }
  }

  /**
   * A container an event told of, asked for at once (the kubelet starts it
   * right after creating it): ContainerStatus has its name, image and the
   * kubelet's labels naming its pod, whose own labels the last list has
   * (its sandbox was made before). Until the CRI plugin has it, NOT_FOUND:
   * the lists it awaits settle it then.
   */
  private async statusOf(id: string): Promise<void> {
    let found: Message | undefined;
    try {
      ({ status: found } = await this.call('ContainerStatus', { container_id: id }));
    } catch {
      return;
    }
    if (!found || !this.clients) return;
    const labels = (found.labels ?? {}) as Record<string, string>;
    const uid = labels['io.kubernetes.pod.uid'];
    const pod = [...this.pods.values()].find((p) => uid && p.uid === uid) ?? podOfLabels(labels);
    const image = found.image?.image || '';
    this.images.set(id, image);
    this.cri.store.set(id, factsOf(found, pod, image), this.socketPath);
  }

  private call(method: string, request: Message): Promise<Message> {
    const clients = this.clients;
    if (!clients) return Promise.reject(new Error('not connected'));
    const call = (clients.runtime as unknown as Record<string, Unary>)[method]!;
    return new Promise((resolve, reject) => {
      call.call(clients.runtime, request, { deadline: new Date(Date.now() + CALL_TIMEOUT_MS) }, (error, response) => (error ? reject(error) : resolve(response)));
    });
  }
}

function podOf(sandbox: Message): PodFacts {
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries((sandbox.labels ?? {}) as Record<string, string>)) if (!KUBELET_LABELS.has(k)) labels[k] = v;
  return {
    name: sandbox.metadata?.name ?? '',
    namespace: sandbox.metadata?.namespace ?? '',
    uid: sandbox.metadata?.uid ?? '',
    labels: sorted(labels),
    annotations: sorted(sandbox.annotations ?? {}),
  };
}

function podOfLabels(labels: Record<string, string>): PodFacts {
  return {
    name: labels['io.kubernetes.pod.name'] ?? '',
    namespace: labels['io.kubernetes.pod.namespace'] ?? '',
    uid: labels['io.kubernetes.pod.uid'] ?? '',
    labels: {},
    annotations: {},
  };
}

function factsOf(container: Message, pod: PodFacts, image: string | undefined): ContainerFacts {
  return { runtime: 'cri', name: container.metadata?.name || undefined, image: image || undefined, pod };
}

/** A map with its keys in order (a map's order is not the runtime's to keep: the same pod gives the same bytes). */
function sorted(map: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(map).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * The container id of a containerd /containers/create event: its envelope's
 * event is a google.protobuf.Any (value, field 2) of a ContainerCreate (id,
 * field 1). Undefined if it is not laid out so.
 */
export function createdId(any: Uint8Array | undefined): string | undefined {
  const value = any && fieldBytes(any, 2);
  const id = value && fieldBytes(value, 1);
  return id ? Buffer.from(id).toString('utf8') : undefined;
}

/** The first length-delimited field `wanted` of a protobuf message. */
function fieldBytes(message: Uint8Array, wanted: number): Uint8Array | undefined {
  let at = 0;
  const varint = (): number | undefined => {
    let value = 0;
    for (let shift = 0; shift < 50 && at < message.length; shift += 7) {
      const byte = message[at++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
    return undefined;
  };
  while (at < message.length) {
    const key = varint();
    if (key === undefined) return undefined;
    const wire = key % 8;
    const field = Math.floor(key / 8);
    if (wire === 0) {
      if (varint() === undefined) return undefined;
    } else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else if (wire === 2) {
      const length = varint();
      if (length === undefined || at + length > message.length) return undefined;
      if (field === wanted) return message.subarray(at, at + length);
      at += length;
    } else return undefined;
  }
  return undefined;
}
