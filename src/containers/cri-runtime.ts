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
import { credentials, loadPackageDefinition, status, type Client, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type { ContainerFacts, ContainerMetadataStore, PodFacts } from './metadata.js';
import { NotThisRuntime, RuntimeConnection, type RuntimeConnectionOptions } from './runtime-connection.js';

const CRI_PROTO = new URL('../../src/containers/cri/api.proto', import.meta.url).pathname;
const EVENTS_PROTO = new URL('../../src/containers/cri/containerd-events.proto', import.meta.url).pathname;
const LOAD_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };
const CALL_TIMEOUT_MS = 10_000;
const POLL_MS = 2000;
const RELIST_MS = 30_000;
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

let services: ((socket: string) => Services) | undefined;
/** The CRI and containerd events services' constructors (the protos read once). */
function servicesAt(socket: string): Services {
  if (!services) {
    const cri = (loadPackageDefinition(loadSync(CRI_PROTO, LOAD_OPTIONS)) as any).runtime.v1;
    const events = (loadPackageDefinition(loadSync(EVENTS_PROTO, LOAD_OPTIONS)) as any).containerd.services.events.v1;
    services = (path) => {
      const address = `unix://${path}`;
      return { runtime: new cri.RuntimeService(address, credentials.createInsecure()), events: new events.Events(address, credentials.createInsecure()) };
    };
  }
  return services(socket);
}

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
  /** Image names by container id (ContainerStatus, asked once per container). */
  private readonly images = new Map<string, string>();
  /** How this runtime tells of new containers (for logs and tests). */
  how: 'cri-events' | 'containerd-events' | 'polling' | undefined;

  constructor(private readonly cri: CriRuntimeOptions) {
    super(cri);
  }

  protected async connect(onLost: (why: Error) => void): Promise<void> {
    this.onLost = onLost;
    this.clients = servicesAt(this.socketPath);
    let version: Message;
    try {
      version = await this.call('Version', { version: 'v1' });
    } catch (err) {
      if ((err as ServiceError).code === status.UNIMPLEMENTED) throw new NotThisRuntime('it has no CRI (runtime.v1)');
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
      if (how === 'containerd-events' && !String(event.topic).startsWith('/containers/')) return;
      this.listSoon();
    });
    stream.on('error', (error: ServiceError) => {
      if (this.stream !== stream) return;
      this.stream = undefined;
      if (error.code === status.UNIMPLEMENTED) {
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
    const pods = new Map<string, PodFacts>();
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
      if (err.code !== status.NOT_FOUND) throw err;
    });
    for (const id of store.idsOf(source)) {
      if (seen.has(id)) continue;
      store.retire(id);
      this.images.delete(id);
    }
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
