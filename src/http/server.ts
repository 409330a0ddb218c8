// The monitoring HTTP server of [SERVICE] HTTP_Server On, at Fluent Bit's
// paths. It only reads counters when asked; the record path never sees it.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { BlockList, type Socket } from 'node:net';
import type { ReloadControl } from './app-view.js';
import type { KeyValues } from '../config/model.js';
import type { Logger } from '../log.js';
import { HealthWindow } from './health.js';
import { metricsJson, prometheusRegistry, type CountersSource } from './metrics.js';
import { packageVersion } from '../version.js';

export class HttpServerError extends Error {
  constructor(
    message: string,
    /** The [SERVICE] key to change: http_port or http_listen. */
    readonly key: 'http_port' | 'http_listen',
  ) {
    super(message);
  }
}

/** Which key a failed listen is about. */
const keyOf = (code: string | undefined) => (code === 'EADDRINUSE' || code === 'EACCES' ? 'http_port' : 'http_listen');

export interface HttpServerOptions {
  service: KeyValues;
  counters: CountersSource;
  /** /api/v2/reload; without it, a POST there answers "not enabled". */
  reload?: ReloadControl;
  /** Where refused reloads are told. */
  log?: Logger;
}

/**
 * Connections open at once. At the cap a new one is still taken: the one
 * idle longest is closed for it, so that clients holding connections open
 * can't keep a probe out.
 */
const MAX_CONNECTIONS = 64;
/** A monitoring request is small: a client gets this long for its headers and its whole request. */
const REQUEST_TIMEOUT_MS = 5_000;
/** A connection with no byte either way for this long is closed (one that never sends a request, too). */
const IDLE_TIMEOUT_MS = 5_000;
/** A kept-alive connection waits this long for its next request. */
const KEEP_ALIVE_TIMEOUT_MS = 2_000;
/** How often Node checks the request timeouts (its default, 30 s, let them run 30 s late). */
const TIMEOUT_CHECK_MS = 1_000;

/**
 * Keeps at most MAX_CONNECTIONS open: at the cap, the connection idle
 * longest is closed for the new one (the idle ones are kept in the order
 * they became idle; a Set iterates in insertion order).
 */
function capConnections(server: Server): void {
  const idle = new Set<Socket>();
  /** Connections answering requests, with how many (pipelined requests overlap). */
  const busy = new Map<Socket, number>();
  server.on('connection', (socket: Socket) => {
    if (idle.size + busy.size >= MAX_CONNECTIONS) {
      const oldest = idle.values().next().value;
      // All busy: each is done within REQUEST_TIMEOUT_MS; the newcomer may try again.
      if (!oldest) return void socket.destroy();
      idle.delete(oldest);
      oldest.destroy();
    }
    idle.add(socket);
    socket.once('close', () => {
      idle.delete(socket);
      busy.delete(socket);
    });
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    if (socket.destroyed) return;
    idle.delete(socket);
    busy.set(socket, (busy.get(socket) ?? 0) + 1);
    res.once('close', () => {
      const left = (busy.get(socket) ?? 0) - 1;
      if (left > 0) return void busy.set(socket, left);
      busy.delete(socket);
      if (!socket.destroyed) idle.add(socket);
    });
  });
}

const loopbackAddresses = new BlockList();
loopbackAddresses.addSubnet('127.0.0.0', 8, 'ipv4');
loopbackAddresses.addAddress('::1', 'ipv6');

/** Whether a peer address is loopback: 127.0.0.0/8 or ::1, also as an IPv4-mapped IPv6 address. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const family = address.includes(':') ? 'ipv6' : 'ipv4';
  try {
    return loopbackAddresses.check(address, family);
  } catch {
    return false; // not an address
  }
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();

/** Refused reloads in the log: one line a second at most (a flood of requests is no flood of lines), counting those left out. */
class RefusalLog {
  private lastAt = 0;
  private untold = 0;

  constructor(private readonly log: Logger | undefined) {}

  tell(line: string): void {
    const now = Date.now();
    if (now - this.lastAt < 1000) {
      this.untold++;
      return;
    }
    const more = this.untold > 0 ? ` (and ${this.untold} more refused since the last one logged)` : '';
    this.lastAt = now;
    this.untold = 0;
    this.log?.warn(`${line}${more}`);
  }
}

/**
 * Who may POST /api/v2/reload: with HTTP_Reload_Allow loopback (the
 * default) only loopback peers; with HTTP_Reload_Token only a request
 * bearing it, wherever it comes from.
 */
class ReloadAccess {
  private readonly loopbackOnly: boolean;
  /** The token's digest: compared in constant time whatever the length sent. */
  private readonly tokenDigest: Buffer | undefined;

  constructor(service: KeyValues) {
    this.loopbackOnly = service.get('http_reload_allow') !== 'all';
    const token = service.get('http_reload_token') as string | undefined;
    this.tokenDigest = token === undefined ? undefined : sha256(token);
  }

  /** Whether any peer may reload, with nothing to show (Fluent Bit's way). */
  get open(): boolean {
    return !this.loopbackOnly && !this.tokenDigest;
  }

  /** Why the request may not reload, or undefined when it may. */
  refusal(req: IncomingMessage): string | undefined {
    if (this.loopbackOnly && !isLoopback(req.socket.remoteAddress)) return 'not a loopback address (HTTP_Reload_Allow loopback)';
    if (this.tokenDigest) {
      const bearer = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '')?.[1];
      if (bearer === undefined || !timingSafeEqual(sha256(bearer), this.tokenDigest)) return 'no Authorization: Bearer with HTTP_Reload_Token';
    }
    return undefined;
  }
}

type Reply = { status: number; type: string; body: string };

const json = (value: unknown, status = 200): Reply => ({ status, type: 'application/json', body: JSON.stringify(value) });
const text = (body: string, status = 200): Reply => ({ status, type: 'text/plain; charset=utf-8', body });

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

function uptime(startedAt: number): Reply {
  const sec = Math.floor((Date.now() - startedAt) / 1000);
  const [d, h, m, s] = [Math.floor(sec / 86400), Math.floor(sec / 3600) % 24, Math.floor(sec / 60) % 60, sec % 60];
  return json({ uptime_sec: sec, uptime_hr: `ebpf-forward has been running: ${plural(d, 'day')}, ${plural(h, 'hour')}, ${plural(m, 'minute')} and ${plural(s, 'second')}` });
}

/** Why a listen failed, for the one line the CLI prints. */
function listenFailure(err: NodeJS.ErrnoException, host: string, port: number): string {
  const where = `HTTP server: cannot listen on ${host}:${port}`;
  switch (err.code) {
    case 'EADDRINUSE':
      return `${where}: the port is in use by another program; set HTTP_Port to a free port`;
    case 'EADDRNOTAVAIL':
      return `${where}: ${host} is not an address of this host; set HTTP_Listen to one (127.0.0.1 keeps the server local)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `${where}: HTTP_Listen ${host} is not a known host name or address`;
    case 'EACCES':
      return `${where}: ports below 1024 need CAP_NET_BIND_SERVICE`;
    default:
      return `${where}: ${err.code ?? err.message}`;
  }
}

export class MonitoringServer {
  private readonly startedAt = Date.now();
  private readonly health: HealthWindow | undefined;
  private readonly routes: Map<string, () => Reply | Promise<Reply>>;
  private readonly reload: ReloadControl | undefined;
  private readonly reloadAccess: ReloadAccess;
  private readonly refusals: RefusalLog;

  private constructor(
    private readonly server: Server,
    readonly address: string,
    options: HttpServerOptions,
  ) {
    const { service, counters } = options;
    this.reload = options.reload;
    this.reloadAccess = new ReloadAccess(service);
    this.refusals = new RefusalLog(options.log);
    if (service.get('hot_reload') && this.reloadAccess.open) {
      options.log?.warn('HTTP_Reload_Allow all without HTTP_Reload_Token: any host that reaches the HTTP server can make ebpf-forward reload');
    }
    const version = packageVersion();
    const registry = prometheusRegistry({ counters, version, startedAt: this.startedAt });
    const prometheus = async (): Promise<Reply> => ({ status: 200, type: registry.contentType, body: await registry.metrics() });
    if (service.get('health_check')) {
      this.health = new HealthWindow({
        errors: service.get('hc_errors_count') as number,
        retryFailures: service.get('hc_retry_failure_count') as number,
        periodSeconds: service.get('hc_period') as number,
      }, counters);
    }
    const health = this.health;
    this.routes = new Map<string, () => Reply | Promise<Reply>>([
      ['/', () => json({ 'fluent-bit': { version, edition: 'ebpf-forward', flags: [] } })],
      ['/api/v1/uptime', () => uptime(this.startedAt)],
      ['/api/v1/metrics', () => json(metricsJson(counters()))],
      ['/api/v1/metrics/prometheus', prometheus],
      ['/api/v2/metrics/prometheus', prometheus],
    ]);
    // As in Fluent Bit, the health endpoint exists only with Health_Check On.
    if (health) this.routes.set('/api/v1/health', () => (health.healthy() ? text('ok') : text('error', 500)));
    server.on('request', (req, res) => void this.answer(req, res));
  }

  /** Listens on HTTP_Listen:HTTP_Port; one HttpServerError when it can't. */
  static async start(options: HttpServerOptions): Promise<MonitoringServer> {
    const host = options.service.get('http_listen') as string;
    const port = options.service.get('http_port') as number;
    // A monitoring scrape is small: slow or idle clients are not kept waiting on.
    const server = createServer({
      headersTimeout: REQUEST_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      connectionsCheckingInterval: TIMEOUT_CHECK_MS,
    });
    server.timeout = IDLE_TIMEOUT_MS;
    capConnections(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(new HttpServerError(listenFailure(err, host, port), keyOf(err.code))));
      server.listen({ host, port }, resolve);
    });
    return new MonitoringServer(server, `${host}:${port}`, options);
  }

  async close(): Promise<void> {
    this.health?.stop();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  /**
   * /api/v2/reload as Fluent Bit answers it: GET the count; POST or PUT a
   * reload, answered at once ({"reload":"done","status":0}; "not enabled"
   * -1 with 200, "in progress" -2 with 400), the reload run once the answer
   * is sent (it may restart this server); any other method 400. A POST or
   * PUT that ReloadAccess refuses: {"reload":"forbidden","status":-3} with 403.
   */
  private reloadReply(req: IncomingMessage, res: ServerResponse): Reply {
    if (req.method === 'GET' || req.method === 'HEAD') return json({ hot_reload_count: this.reload?.count() ?? 0 });
    if (req.method !== 'POST' && req.method !== 'PUT') return text('bad request\n', 400);
    const refusal = this.reloadAccess.refusal(req);
    if (refusal) {
      this.refusals.tell(`${req.method} /api/v2/reload from ${req.socket.remoteAddress}: refused: ${refusal}`);
      return json({ reload: 'forbidden', status: -3 }, 403);
    }
    const { answer, run } = this.reload?.request(`${req.method} /api/v2/reload`) ?? { answer: 'not enabled' as const };
    if (run) res.once('finish', run);
    if (answer === 'done') return json({ reload: 'done', status: 0 });
    if (answer === 'in progress') return json({ reload: 'in progress', status: -2 }, 400);
    return json({ reload: 'not enabled', status: -1 });
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    const route = this.routes.get(path);
    let reply: Reply;
    if (path === '/api/v2/reload') {
      // The request body (Fluent Bit's docs send "{}") is not read: nothing in it counts.
      req.resume();
      reply = this.reloadReply(req, res);
    } else if (!route) {
      reply = text('not found\n', 404);
    } else if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      reply = text('method not allowed\n', 405);
    } else {
      try {
        reply = await route();
      } catch (err) {
        reply = text(`${(err as Error).message}\n`, 500);
      }
    }
    res.writeHead(reply.status, { 'Content-Type': reply.type, 'Content-Length': Buffer.byteLength(reply.body) });
    res.end(req.method === 'HEAD' ? undefined : reply.body);
  }
}
