// One connection to one receiver: TCP or TLS, the optional handshake, batch
// writes with backpressure, and acks read from the same socket.
import { connect as netConnect, type Socket } from 'node:net';
import type { ConnectionOptions as TlsConnectionOptions, TLSSocket } from 'node:tls';
import { tlsModule } from '../../builtins-on-use.js';
import type { Logger } from '../../log.js';
import { packValue } from '../../msgpack/values.js';
import { AckTracker, type PendingAck } from './ack.js';
import { AuthError, ConnectError, ConnectionLostError, ForwardError, ProtocolError } from './errors.js';
import { Handshake, type Credentials } from './handshake.js';
import { parseServerMessage, type Helo, type Pong, type ServerMessage } from './protocol.js';
import { ReplyReader } from './replies.js';

/** Where to connect and how to prove who we are. */
export interface Endpoint {
  /** For logs: "host:port", or the node's Name in an Upstream file. */
  name: string;
  host: string;
  port: number;
  /** TLS options when tls is on. */
  tls?: TlsConnectionOptions;
  /** Set when Shared_Key (or Empty_Shared_Key) asks for the handshake. */
  credentials?: Credentials;
}

export interface ConnectOptions {
  /** To connect and finish the handshake; also the most a reply may take to arrive whole. */
  connectTimeoutMs: number;
  log: Logger;
  /** Aborts a connect or handshake in progress (the output is closing). */
  signal?: AbortSignal;
}

/** Up to this size a message's parts are copied into one socket write; above, written together uncopied (writev). */
const COPY_INTO_ONE_WRITE_BYTES = 64 * 1024;

/** Node's TLS error codes that mean "the certificate is not trusted". */
const certificateErrors = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)/;

function describeConnectError(endpoint: Endpoint, err: NodeJS.ErrnoException): ConnectError {
  const where = `${endpoint.host}:${endpoint.port}`;
  if (endpoint.tls && err.code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return new ConnectError(`TLS to ${where}: ${err.message} (set tls.vhost to a name the certificate holds)`);
  }
  // The CA is right there: the dates are not (the aborted handshake keeps no certificate to quote them from).
  if (endpoint.tls && err.code === 'CERT_HAS_EXPIRED') {
    return new ConnectError(`TLS to ${where}: the receiver's certificate has expired (renew it on the receiver; if it should still be valid, check this machine's clock)`);
  }
  if (endpoint.tls && err.code === 'CERT_NOT_YET_VALID') {
    return new ConnectError(`TLS to ${where}: the receiver's certificate is not valid yet (check this machine's clock and the receiver's)`);
  }
  if (endpoint.tls && err.code && certificateErrors.test(err.code)) {
    return new ConnectError(`TLS to ${where}: ${err.message} (tls.verify is on: give the CA that signed the receiver's certificate in tls.ca_file)`);
  }
  return new ConnectError(`cannot connect to ${where}: ${err.message}`);
}

/**
 * Whether every byte handed to the socket is in the kernel: libuv's queue of
 * bytes not yet written is empty (TCP and TLS handles report it; unknown
 * counts as no, so a record is never counted as sent on a guess).
 */
function kernelHasAllWritten(socket: Socket | TLSSocket): boolean {
  const handle = (socket as unknown as { _handle?: { writeQueueSize?: number } | null })._handle;
  return handle?.writeQueueSize === 0;
}

export class ForwardConnection {
  private readonly acks = new AckTracker();
  private failure: ForwardError | undefined;
  private awaiting: { resolve(m: ServerMessage): void; reject(e: ForwardError): void } | undefined;
  private readonly closeListeners: ((err: ForwardError) => void)[] = [];
  /** The last write started (settled or not): the next one starts after it. */
  private writing: Promise<void> = Promise.resolve();
  private writesInProgress = 0;
  /** A writeIfIdle() is in progress, and what a write() waiting for it resolves when it ends. */
  private idleWriteActive = false;
  private idleWriteEnded: (() => void) | undefined;
  /** Whether, when we closed the socket, every byte written had reached the kernel. */
  private kernelHadAllAtClose = false;
  private readonly replies = new ReplyReader();
  /** Runs while a reply has begun and not ended. */
  private replyTimer: NodeJS.Timeout | undefined;
  /** Acks for batches nobody awaits (late or repeated): tolerated up to the number of batches sent. */
  private unawaitedAcks = 0;

  private constructor(
    private readonly socket: Socket | TLSSocket,
    readonly endpoint: Endpoint,
    private readonly log: Logger,
    private readonly replyTimeoutMs: number,
  ) {
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    socket.on('close', () => this.lost(new ConnectionLostError(`${endpoint.name}: connection closed by the receiver`)));
    socket.on('data', (data: Buffer) => this.onData(data));
  }

  /** Connects (TCP or TLS) and runs the handshake when credentials are set. */
  static async open(endpoint: Endpoint, options: ConnectOptions): Promise<ForwardConnection> {
    const socket = await new Promise<Socket | TLSSocket>((resolve, reject) => {
      const s = endpoint.tls
        ? tlsModule().connect({ ...endpoint.tls, host: endpoint.host, port: endpoint.port })
        : netConnect({ host: endpoint.host, port: endpoint.port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new ConnectError(`cannot connect to ${endpoint.host}:${endpoint.port}: no answer within ${options.connectTimeoutMs / 1000}s`));
      }, options.connectTimeoutMs);
      const aborted = () => {
        clearTimeout(timer);
        s.destroy();
        reject(new ConnectError(`connection to ${endpoint.host}:${endpoint.port} abandoned: the output is closing`));
      };
      const ready = () => {
        clearTimeout(timer);
        s.off('error', failed);
        options.signal?.removeEventListener('abort', aborted);
        resolve(s);
      };
      const failed = (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', aborted);
        s.destroy();
        reject(describeConnectError(endpoint, err));
      };
      if (options.signal?.aborted) return aborted();
      options.signal?.addEventListener('abort', aborted, { once: true });
      s.once(endpoint.tls ? 'secureConnect' : 'connect', ready);
      s.once('error', failed);
    });
    // Errors after connect surface as 'close' (and through the read loop).
    socket.on('error', (err) => options.log.debug(`${endpoint.name}: socket error: ${err.message}`));
    const connection = new ForwardConnection(socket, endpoint, options.log, options.connectTimeoutMs);
    if (endpoint.credentials) {
      const abandon = () => connection.destroy(new ConnectionLostError(`${endpoint.name}: handshake abandoned: the output is closing`));
      options.signal?.addEventListener('abort', abandon, { once: true });
      try {
        await connection.handshake(endpoint.credentials, options.connectTimeoutMs);
      } catch (err) {
        connection.destroy(err as ForwardError);
        throw err;
      } finally {
        options.signal?.removeEventListener('abort', abandon);
      }
    }
    return connection;
  }

  get closed(): boolean {
    return this.failure !== undefined;
  }

  /** Open, and no write in progress. */
  get idle(): boolean {
    return this.failure === undefined && this.writesInProgress === 0 && kernelHasAllWritten(this.socket);
  }

  /** The socket's fd, for a plain TCP connection (a TLS one must be written through Node); undefined otherwise. */
  get fd(): number | undefined {
    if (this.endpoint.tls) return undefined;
    const fd = (this.socket as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
    return typeof fd === 'number' && fd >= 0 ? fd : undefined;
  }

  /** Called once when the connection ends, with why. */
  onClose(listener: (err: ForwardError) => void): void {
    if (this.failure) listener(this.failure);
    else this.closeListeners.push(listener);
  }

  /** Registers an ack to wait for; do it before writing the batch that asks for it. */
  expectAck(chunk: string): PendingAck {
    if (this.failure) {
      const done = Promise.reject(this.failure);
      done.catch(() => {});
      return { done, startTimer() {} };
    }
    // A receiver that does not ack in time is not trusted with more: close,
    // and what it had not acked is sent again on a new connection.
    return this.acks.expect(chunk, () => this.destroy(new ConnectionLostError(`${this.endpoint.name}: closed after an ack timeout`)));
  }

  /**
   * Writes a message (its parts together, uncopied); resolves once the
   * kernel has all of it. Writes go one at a time, so that at teardown the
   * one in progress is known to have left or not (see destroy()).
   */
  write(message: Buffer | Buffer[]): Promise<void> {
    const parts = Array.isArray(message) ? message : [message];
    // A writeIfIdle() in progress: this one waits for it as for any write.
    if (this.idleWriteActive && !this.idleWriteEnded) this.writing = new Promise<void>((resolve) => (this.idleWriteEnded = resolve));
    // No write in progress: this one at once (a turn of promises less per batch).
    const written = this.writesInProgress === 0 ? this.writeNow(parts) : this.writing.then(() => this.writeNow(parts));
    this.writesInProgress++;
    const settled = () => {
      this.writesInProgress--;
    };
    this.writing = written.then(settled, settled);
    return written;
  }

  /**
   * Writes a message at once when no write is in progress and the connection
   * is open, calling `done` once the kernel has all of it (or with why not):
   * a batch on an idle connection without a promise. False, nothing written,
   * otherwise (write() then).
   */
  writeIfIdle(parts: Buffer[], done: (err?: ForwardError) => void): boolean {
    if (this.writesInProgress > 0 || this.failure) return false;
    this.writesInProgress++;
    this.idleWriteActive = true;
    this.send(parts, (err) => {
      this.writesInProgress--;
      this.idleWriteActive = false;
      const ended = this.idleWriteEnded;
      this.idleWriteEnded = undefined;
      ended?.();
      done(err);
    });
    return true;
  }

  private writeNow(parts: Buffer[]): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => this.send(parts, (err) => (err ? reject(err) : resolve())));
  }

  /** The socket write of a message; `done` once the kernel has all of it, or with why not. */
  private send(parts: Buffer[], done: (err?: ForwardError) => void): void {
    const written = (err?: Error | null) => {
      // Node calls a write back without an error when destroy() cut it
      // short: whether it left is what destroy() saw.
      if (err || (this.socket.destroyed && !this.kernelHadAllAtClose)) {
        done(this.failure ?? new ConnectionLostError(`${this.endpoint.name}: ${err?.message ?? 'connection closed while writing'}`));
      } else {
        done();
      }
    };
    const bytes = parts.reduce((n, p) => n + p.length, 0);
    if (parts.length === 1 || bytes <= COPY_INTO_ONE_WRITE_BYTES) {
      // A small message is copied into one buffer: one plain write costs
      // less than a corked writev of its parts (the batches of a low rate).
      this.socket.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts, bytes), written);
      return;
    }
    this.socket.cork();
    for (let i = 0; i < parts.length - 1; i++) this.socket.write(parts[i]!);
    this.socket.write(parts[parts.length - 1]!, written);
    this.socket.uncork();
  }

  destroy(reason: ForwardError = new ConnectionLostError(`${this.endpoint.name}: connection closed`)): void {
    if (!this.socket.destroyed) this.kernelHadAllAtClose = kernelHasAllWritten(this.socket);
    this.lost(reason);
    this.socket.destroy();
  }

  private lost(err: ForwardError): void {
    if (this.failure) return;
    this.failure = err;
    this.acks.failAll(err);
    this.awaiting?.reject(err);
    this.awaiting = undefined;
    for (const listener of this.closeListeners.splice(0)) listener(err);
  }

  private async handshake(credentials: Credentials, timeoutMs: number): Promise<void> {
    const helo = await this.next('HELO', timeoutMs, 'the receiver sent no HELO: is it set up for Shared_Key (security section)?');
    const handshake = new Handshake(credentials);
    await this.write(packValue(handshake.ping(helo as Helo)));
    const pong = await this.next(
      'PONG',
      timeoutMs,
      'the receiver did not answer our PING',
      // Fluent Bit's in_forward closes without a PONG when the key does not match.
      'the receiver closed the connection after our PING: it most likely refused Shared_Key (or Username/Password)',
    );
    try {
      handshake.checkPong(pong as Pong);
    } catch (err) {
      throw new AuthError(`${this.endpoint.name}: ${(err as Error).message}`);
    }
    this.log.debug(`${this.endpoint.name}: handshake done`);
  }

  /** The next server message, which must be of `kind`. */
  private next(kind: 'HELO' | 'PONG', timeoutMs: number, onTimeout: string, onClose?: string): Promise<ServerMessage> {
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(onClose ? new AuthError(onClose) : this.failure);
      const timer = setTimeout(() => {
        this.awaiting = undefined;
        reject(new ProtocolError(`${this.endpoint.name}: ${onTimeout} within ${timeoutMs / 1000}s`));
      }, timeoutMs);
      this.awaiting = {
        resolve: (m) => {
          clearTimeout(timer);
          if (m.kind !== kind) reject(new ProtocolError(`${this.endpoint.name}: expected ${kind}, got ${m.kind}`));
          else resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(onClose && e instanceof ConnectionLostError ? new AuthError(`${this.endpoint.name}: ${onClose}`) : e);
        },
      };
    });
  }

  private dispatch(message: ServerMessage): void {
    if (this.awaiting) {
      const awaiting = this.awaiting;
      this.awaiting = undefined;
      awaiting.resolve(message);
      return;
    }
    if (message.kind === 'ack') {
      if (this.acks.settle(message.chunk)) return;
      if (++this.unawaitedAcks > this.acks.asked) throw new ProtocolError(`sent ${this.unawaitedAcks} acks for batches it was not sent or had acked`);
      this.log.debug(`${this.endpoint.name}: ack for ${message.chunk} that nobody awaits (late or duplicate)`);
      return;
    }
    if (message.kind === 'HELO') {
      throw new AuthError('the receiver asks for a handshake (HELO): set Shared_Key, or Empty_Shared_Key on');
    }
    throw new ProtocolError(`unexpected ${message.kind} from the receiver`);
  }

  private onData(data: Buffer): void {
    if (this.failure) return;
    try {
      const replies = this.replies.read(data);
      for (const reply of replies) this.dispatch(parseServerMessage(reply));
      if (replies.length > 0 || !this.replies.unfinished) {
        clearTimeout(this.replyTimer);
        this.replyTimer = undefined;
      }
    } catch (err) {
      this.broken(err as Error);
      return;
    }
    // A reply that has begun must end within the time given to connect: a
    // receiver trickling a reply gets no longer than one that sends none.
    if (this.replies.unfinished && !this.replyTimer) {
      this.replyTimer = setTimeout(() => this.broken(new ProtocolError(`a reply did not arrive whole within ${this.replyTimeoutMs / 1000}s`)), this.replyTimeoutMs);
      this.replyTimer.unref();
    }
  }

  /** The receiver broke the protocol: the connection is dropped, for the reason given. */
  private broken(err: Error): void {
    clearTimeout(this.replyTimer);
    const Kind = err instanceof ForwardError ? (err.constructor as new (m: string) => ForwardError) : ProtocolError;
    this.destroy(new Kind(`${this.endpoint.name}: ${err.message}`));
  }
}
