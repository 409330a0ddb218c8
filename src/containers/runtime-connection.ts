// One runtime's connection, kept up: connect, and when that fails or the
// runtime goes away (a restart), try again after a wait that doubles up to
// a cap. What the user sees is one warning per outage (not one per try):
// the records keep their container_id meanwhile, only the runtime's
// metadata is missing. A usual socket path with nothing there is a node
// without that runtime: not warned of (logged at debug), looked at again
// now and then; a socket given by a key is warned of whatever it is.
import { existsSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import type { Logger } from '../log.js';

export interface RuntimeConnectionOptions {
  /** How the runtime is named in log lines ("docker", "podman", "CRI"). */
  label: string;
  socketPath: string;
  /** Whether the socket was given by a key (its absence is then warned of). */
  configured: boolean;
  log: Logger;
  /** The first wait before trying again, and the longest (tests shorten them). */
  retryMs?: { first: number; max: number };
  /** Told each time the connection is up (everything listed) or down. */
  onState?: (state: 'up' | 'down') => void;
}

const DEFAULT_RETRY = { first: 1000, max: 30_000 };

/** Thrown by connect when the socket answers but is not this runtime's API (containerd without its CRI plugin, as docker's is). */
export class NotThisRuntime extends Error {}

/** Resolves once a connection to the socket opens (then closed); rejects as connect(2) does (ENOENT, ECONNREFUSED). */
function takesConnections(socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(socketPath);
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
  });
}

export abstract class RuntimeConnection {
  protected readonly log: Logger;
  protected readonly socketPath: string;
  private readonly retry: { first: number; max: number };
  private delay: number;
  private timer?: NodeJS.Timeout;
  private stopped = true;
  private up = false;
  /** Whether this outage was told already. */
  private told = false;

  constructor(private readonly options: RuntimeConnectionOptions) {
    this.log = options.log;
    this.socketPath = options.socketPath;
    this.retry = options.retryMs ?? DEFAULT_RETRY;
    this.delay = this.retry.first;
  }

  /**
   * Connects and lists what the runtime has; resolves once it is all in.
   * `onLost` is called (once) if the connection goes away after that.
   */
  protected abstract connect(onLost: (why: Error) => void): Promise<void>;
  /** Closes whatever connect opened (also after a failed connect). */
  protected abstract disconnect(): void;

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.attempt();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.disconnect();
    this.up = false;
  }

  get connected(): boolean {
    return this.up;
  }

  private async attempt(): Promise<void> {
    this.timer = undefined;
    if (this.stopped) return;
    const { label, configured } = this.options;
    if (!configured && !existsSync(this.socketPath)) {
      if (!this.told) this.log.debug(`${label}: no socket at ${this.socketPath}: not on this node (looked for again every ${this.retry.max / 1000} s)`);
      this.told = true;
      this.schedule(this.retry.max);
      return;
    }
    let lostEarly: Error | undefined;
    let connecting = true;
    const onLost = (why: Error) => {
      if (connecting) lostEarly ??= why;
      else this.lost(why);
    };
    try {
      // A plain connect first: a runtime's client library (gRPC's 20 MB of
      // RSS, node:http) is loaded only for a socket that takes connections.
      await takesConnections(this.socketPath);
      await this.connect(onLost);
      connecting = false;
      if (lostEarly) throw lostEarly;
    } catch (err) {
      connecting = false;
      this.disconnect();
      if (this.stopped) return;
      if (err instanceof NotThisRuntime && !configured) {
        if (!this.told) this.log.debug(`${label}: ${this.socketPath}: ${err.message}: not on this node (looked for again every ${this.retry.max / 1000} s)`);
        this.told = true;
        this.schedule(this.retry.max);
        return;
      }
      if (!this.told) {
        this.log.warn(`${label}: can't read container metadata from ${this.socketPath}: ${(err as Error).message}; records keep container_id without it, and the socket is tried again`);
        this.told = true;
      } else {
        this.log.debug(`${label}: ${this.socketPath}: ${(err as Error).message}`);
      }
      this.schedule(this.delay);
      this.delay = Math.min(this.delay * 2, this.retry.max);
      return;
    }
    if (this.stopped) {
      this.disconnect();
      return;
    }
    this.up = true;
    this.delay = this.retry.first;
    this.log.info(`${label}: reading container metadata from ${this.socketPath}`);
    this.told = false;
    this.options.onState?.('up');
  }

  private lost(why: Error): void {
    if (this.stopped || !this.up) return;
    this.up = false;
    this.disconnect();
    this.log.warn(`${this.options.label}: lost ${this.socketPath} (${why.message}); records keep container_id, and new containers have no metadata until it is back`);
    this.told = true;
    this.options.onState?.('down');
    this.schedule(this.retry.first);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.attempt(), ms);
    this.timer.unref();
  }
}
