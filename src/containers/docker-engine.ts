// The Docker Engine API over its unix socket (docker's /var/run/docker.sock,
// or podman's Docker-compatible /run/podman/podman.sock): every container's
// name and image, listed as the connection opens, then kept by the event
// stream, which tells of a container as it is created (before its first
// process runs). Plain HTTP/1.1 through node:http's socketPath.
import type { IncomingMessage } from 'node:http';
import type { ContainerMetadataStore, RuntimeKind } from './metadata.js';
import { RuntimeConnection, type RuntimeConnectionOptions } from './runtime-connection.js';

/** What GET /containers/json gives of a container (both engines). */
interface ListedContainer {
  Id: string;
  Names?: string[];
  Image?: string;
}

/** An event of GET /events (both engines; podman names some actions its own way). */
interface EngineEvent {
  Type?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

const REQUEST_TIMEOUT_MS = 10_000;
const HEX_ID = /^[0-9a-f]{64}$/;

/** docker's container names start with "/" (`docker ps` shows them without). */
const bareName = (name: string | undefined) => (name?.startsWith('/') ? name.slice(1) : name);

export interface DockerEngineOptions extends RuntimeConnectionOptions {
  runtime: Extract<RuntimeKind, 'docker' | 'podman'>;
  store: ContainerMetadataStore;
}

export class DockerEngineWatcher extends RuntimeConnection {
  private events?: IncomingMessage;

  constructor(private readonly engine: DockerEngineOptions) {
    super(engine);
  }

  /** Opens the event stream, then lists (so that nothing made in between is missed); resolves once both are in. */
  protected async connect(onLost: (why: Error) => void): Promise<void> {
    const filters = encodeURIComponent(JSON.stringify({ type: ['container'] }));
    const events = await this.open(`/events?filters=${filters}`, 0);
    this.events = events;
    let rest = '';
    events.setEncoding('utf8');
    events.on('data', (chunk: string) => {
      rest += chunk;
      let at: number;
      while ((at = rest.indexOf('\n')) >= 0) {
        const line = rest.slice(0, at).trim();
        rest = rest.slice(at + 1);
        if (line) this.onEvent(line);
      }
    });
    const lost = (why: Error) => {
      if (this.events !== events) return;
      this.events = undefined;
      onLost(why);
    };
    events.on('end', () => lost(new Error('the event stream ended')));
    events.on('error', lost);
    events.on('close', () => lost(new Error('the event stream closed')));

    const listed = JSON.parse(await readAll(await this.open('/containers/json?all=1', REQUEST_TIMEOUT_MS))) as ListedContainer[];
    const { store, runtime } = this.engine;
    const ids = new Set<string>();
    for (const c of listed) {
      if (!HEX_ID.test(c.Id)) continue;
      ids.add(c.Id);
      store.set(c.Id, { runtime, name: bareName(c.Names?.[0]), image: c.Image || undefined }, this.socketPath);
    }
    // Removed while we were away.
    for (const id of store.idsOf(this.socketPath)) if (!ids.has(id)) store.retire(id);
  }

  protected disconnect(): void {
    const events = this.events;
    this.events = undefined;
    events?.destroy();
  }

  private onEvent(line: string): void {
    let event: EngineEvent;
    try {
      event = JSON.parse(line) as EngineEvent;
    } catch {
      this.log.debug(`${this.engine.runtime}: an event that is not JSON, skipped: ${line.slice(0, 120)}`);
      return;
    }
    const id = event.Actor?.ID;
    if (event.Type !== 'container' || !id || !HEX_ID.test(id)) return;
    const { store, runtime } = this.engine;
    // docker says destroy, podman remove.
    if (event.Action === 'destroy' || event.Action === 'remove') {
      store.retire(id);
      return;
    }
    const attributes = event.Actor?.Attributes ?? {};
    if (!attributes.name && !attributes.image) return;
    store.set(id, { runtime, name: bareName(attributes.name), image: attributes.image || undefined }, this.socketPath);
  }

  /** GET `path` on the engine's socket; the response once its status is 200. `timeoutMs` 0: none (a stream). */
  private async open(path: string, timeoutMs: number): Promise<IncomingMessage> {
    // node:http (3 MB of RSS) only once a docker or podman socket is there.
    const { request } = await import('node:http');
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socketPath, path, method: 'GET', headers: { Host: 'localhost' }, agent: false }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`GET ${path.split('?')[0]} answered ${res.statusCode} ${res.statusMessage ?? ''}`.trim()));
          return;
        }
        if (timeoutMs) req.setTimeout(0);
        resolve(res);
      });
      if (timeoutMs) req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${path.split('?')[0]}: no answer in ${timeoutMs / 1000} s`)));
      req.on('error', reject);
      req.end();
    });
  }
}

function readAll(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    res.on('data', (part: Buffer) => parts.push(part));
    res.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    res.on('error', reject);
  });
}
