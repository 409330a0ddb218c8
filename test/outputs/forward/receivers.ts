// The two receivers every fault test runs against:
//  - FluentServer from @fluent-org/logger, a Fluentd-like server;
//  - IndependentReceiver, written here from the protocol spec with
//    @msgpack/msgpack, so the bytes ebpf-forward writes (with msgpackr) are
//    checked by another implementation. It can send its HELO nonce as msgpack
//    str (as Fluent Bit does: 16 raw bytes) or bin (as Fluentd), refuse a bad
//    key with a PONG or by closing (Fluent Bit's in_forward), withhold acks,
//    and read slowly.
// Both can be "killed" (sockets reset, no more listening) and restarted on
// the same port.
import { createHash, randomBytes } from 'node:crypto';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { TLSSocket, createServer as createTlsServer } from 'node:tls';
import { gunzipSync } from 'node:zlib';
import { Decoder, Encoder, ExtensionCodec, decodeMulti } from '@msgpack/msgpack';
import { FluentServer } from '@fluent-org/logger';

export interface ReceivedEntry {
  tag: string;
  /** EventTime as {sec, nsec}, or integer seconds. */
  time: { sec: number; nsec: number } | number;
  record: Record<string, unknown>;
}

export interface Security {
  sharedKey: string;
  /** Username → password: the receiver then asks for user authentication. */
  users?: Record<string, string>;
  /** The receiver's hostname (must differ from the client's Self_Hostname). */
  hostname?: string;
}

export interface TlsKeys {
  key: Buffer;
  cert: Buffer;
  /** Require a client certificate signed by this CA. */
  clientCa?: Buffer;
}

export interface TestReceiver {
  readonly kind: 'FluentServer' | 'independent';
  port: number;
  entries: ReceivedEntry[];
  /** `seq` of every record received, duplicates included. */
  seqs(): number[];
  /** Resets every connection and stops listening, as a killed process would. */
  kill(): Promise<void>;
  /** Listens again on the same port. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export interface ReceiverOptions {
  security?: Security;
  tls?: TlsKeys;
  /** Answer acks when a batch asks for one (default true). */
  ack?: boolean;
  port?: number;
}

/** Closes with a TCP reset, as the kernel does for a killed process with unread data (TLS sockets: plain destroy). */
function reset(socket: Socket): void {
  if (socket instanceof TLSSocket) socket.destroy();
  else socket.resetAndDestroy();
}

const seqsOf = (entries: ReceivedEntry[]) => entries.map((e) => e.record.seq as number);

// --- FluentServer ---------------------------------------------------------------

/**
 * FluentServer, killed by resetting its sockets. It always acks; "ack: false"
 * swallows the acks it writes (the one way to get a never-acking
 * FluentServer). Its server decodes EventTime as {epoch, nano}.
 */
/** What both receivers share: listening on a port that stays the same across kill/restart. */
abstract class ListeningReceiver<Options extends ReceiverOptions = ReceiverOptions> {
  port = 0;
  readonly entries: ReceivedEntry[] = [];

  constructor(protected readonly options: Options = {} as Options) {}

  async start(): Promise<this> {
    this.port = this.options.port ?? 0;
    await this.listen();
    return this;
  }

  seqs(): number[] {
    return seqsOf(this.entries);
  }

  protected abstract listen(): Promise<void>;
  abstract kill(): Promise<void>;

  async restart(): Promise<void> {
    await this.listen();
  }

  async close(): Promise<void> {
    await this.kill();
  }
}

export class FluentServerReceiver extends ListeningReceiver implements TestReceiver {
  readonly kind = 'FluentServer';
  private server: FluentServer | undefined;

  protected async listen(): Promise<void> {
    const { security, tls } = this.options;
    const server = new FluentServer({
      listenOptions: { host: '127.0.0.1', port: this.port },
      tlsOptions: tls ? { key: tls.key, cert: tls.cert, ...(tls.clientCa ? { requestCert: true, rejectUnauthorized: true, ca: tls.clientCa } : {}) } : undefined,
      security: security
        ? { serverHostname: security.hostname ?? 'receiver.test', sharedKey: security.sharedKey, authorize: !!security.users, userDict: security.users ?? {} }
        : undefined,
    });
    server.on('entry', (tag: string, time: { epoch: number; nano: number } | number, record: Record<string, unknown>) => {
      this.entries.push({ tag, time: typeof time === 'number' ? time : { sec: time.epoch, nsec: time.nano }, record });
    });
    if (this.options.ack === false) {
      const handle = (server as unknown as { handleConnection(s: Socket): Promise<void> }).handleConnection.bind(server);
      (server as unknown as { handleConnection(s: Socket): Promise<void> }).handleConnection = (socket: Socket) => {
        const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
        // An ack is {ack: "..."}: a fixmap of one whose key is "ack".
        socket.write = ((data: Uint8Array, ...rest: unknown[]) => (data[0] === 0x81 && Buffer.from(data.subarray(1, 5)).toString('latin1') === '\xa3ack' ? true : write(data, ...rest))) as typeof socket.write;
        return handle(socket);
      };
    }
    await server.listen();
    this.port = server.port!;
    this.server = server;
  }

  async kill(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const clients = (server as unknown as { clients: Record<string, { socket: Socket }> }).clients;
    for (const c of Object.values(clients)) reset(c.socket);
    const listening = (server as unknown as { server: Server }).server;
    await new Promise<void>((resolve) => listening.close(() => resolve()));
  }
}

// --- the independent receiver ------------------------------------------------------

export interface IndependentOptions extends ReceiverOptions {
  /** How HELO carries nonce and auth salt: str (Fluent Bit) or bin (Fluentd). */
  nonceAs?: 'str' | 'bin';
  /** On a wrong key: a PONG saying so (Fluentd) or just closing (Fluent Bit). */
  refuseWith?: 'pong' | 'close';
  /** Milliseconds to pause after each message: a slow receiver. */
  delayPerMessageMs?: number;
  /** Read the socket at most this fast (bytes/s), as a slow receiver does; the sender's writes back up into its kernel buffers and its own queue. */
  bytesPerSecond?: number;
}

/** Everything on the wire, per message, for tests of modes and options. */
export interface WireMessage {
  mode: 'Message' | 'Forward' | 'PackedForward' | 'CompressedPackedForward';
  tag: string;
  options: Record<string, unknown> | undefined;
  entries: number;
  bytes: number;
}

const eventTimeCodec = new ExtensionCodec();
eventTimeCodec.register({
  type: 0,
  encode: () => null,
  decode: (data: Uint8Array) => {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    return { sec: view.getUint32(0), nsec: view.getUint32(4) };
  },
});

const sha512Hex = (...parts: (string | Uint8Array)[]) => {
  const h = createHash('sha512');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

/** Fluent Bit's HELO: nonce and auth as msgpack str holding raw bytes (hand-built: no encoder makes a str from bytes). */
function heloWithStrings(nonce: Buffer, auth: Buffer): Buffer {
  const str = (b: Buffer) => Buffer.concat([Buffer.from([0xa0 | b.length]), b]);
  return Buffer.concat([
    Buffer.from([0x92, 0xa4]), Buffer.from('HELO'),
    Buffer.from([0x83, 0xa5]), Buffer.from('nonce'), str(nonce),
    Buffer.from([0xa4]), Buffer.from('auth'), str(auth),
    Buffer.from([0xa9]), Buffer.from('keepalive'), Buffer.from([0xc3]),
  ]);
}

/** A socket's bytes, read no faster than `bytesPerSecond` (the socket is paused while we wait). */
async function* readSlowly(socket: Socket, rate: () => number): AsyncGenerator<Buffer> {
  for await (const data of socket) {
    yield data as Buffer;
    await new Promise((r) => setTimeout(r, ((data as Buffer).length / rate()) * 1000));
  }
}

export class IndependentReceiver extends ListeningReceiver<IndependentOptions> implements TestReceiver {
  readonly kind = 'independent';
  readonly messages: WireMessage[] = [];
  /** PINGs refused (wrong key or user). */
  refused = 0;
  connections = 0;
  /** TLS handshakes that failed (e.g. no client certificate). */
  tlsRefusals = 0;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly encoder = new Encoder();

  /** Reads at this rate from now on (with bytesPerSecond set at start). */
  setReadRate(bytesPerSecond: number): void {
    this.options.bytesPerSecond = bytesPerSecond;
  }

  /** Connections the sender has not closed yet (their bytes not all read). */
  get openConnections(): number {
    return this.sockets.size;
  }

  protected async listen(): Promise<void> {
    const onSocket = (socket: Socket) => void this.serve(socket);
    const tls = this.options.tls;
    const server = tls
      ? createTlsServer({ key: tls.key, cert: tls.cert, ...(tls.clientCa ? { requestCert: true, rejectUnauthorized: true, ca: tls.clientCa } : {}) }, onSocket)
      : createNetServer(onSocket);
    if (tls) server.on('tlsClientError', () => this.tlsRefusals++);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    this.server = server;
  }

  private async serve(socket: Socket): Promise<void> {
    this.connections++;
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    const security = this.options.security;
    const hostname = security?.hostname ?? 'receiver.test';
    let nonce: Buffer | undefined;
    let authSalt: Buffer | undefined;
    if (security) {
      nonce = randomBytes(16);
      nonce[0] = 0xff; // never valid UTF-8: a client that decodes the str as text gets a wrong digest
      authSalt = security.users ? randomBytes(16) : Buffer.alloc(0);
      if (security.users) authSalt[0] = 0xfe;
      const helo =
        this.options.nonceAs === 'bin'
          ? Buffer.from(this.encoder.encode(['HELO', { nonce, auth: authSalt, keepalive: true }]))
          : heloWithStrings(nonce, authSalt);
      socket.write(helo);
    }
    let established = !security;
    const decoder = new Decoder({ extensionCodec: eventTimeCodec, useBigInt64: true });
    const slow = this.options.bytesPerSecond !== undefined;
    try {
      for await (const message of decoder.decodeStream(slow ? readSlowly(socket, () => this.options.bytesPerSecond!) : socket)) {
        if (!established) {
          if (!this.checkPing(socket, message, security!, hostname, nonce!, authSalt!)) return;
          established = true;
          continue;
        }
        this.take(socket, message as unknown[]);
        if (this.options.delayPerMessageMs) await new Promise((r) => setTimeout(r, this.options.delayPerMessageMs));
      }
    } catch {
      socket.destroy();
    }
  }

  private checkPing(socket: Socket, message: unknown, security: Security, hostname: string, nonce: Buffer, authSalt: Buffer): boolean {
    const ping = message as [string, string, string, string, string, string];
    const refuse = (reason: string) => {
      this.refused++;
      if (this.options.refuseWith === 'close') socket.destroy();
      else socket.end(this.encoder.encode(['PONG', false, reason, hostname, '']));
      return false;
    };
    if (!Array.isArray(ping) || ping[0] !== 'PING' || ping.length !== 6) return refuse('expected PING');
    const [, clientHostname, salt, digest, username, passwordDigest] = ping;
    if (digest !== sha512Hex(salt, clientHostname, nonce, security.sharedKey)) return refuse('shared_key mismatch');
    if (security.users) {
      const password = security.users[username];
      if (password === undefined || passwordDigest !== sha512Hex(authSalt, username, password)) return refuse('username/password mismatch');
    }
    socket.write(this.encoder.encode(['PONG', true, '', hostname, sha512Hex(salt, hostname, nonce, security.sharedKey)]));
    return true;
  }

  private take(socket: Socket, message: unknown[]): void {
    const tag = message[0] as string;
    const second = message[1];
    let options: Record<string, unknown> | undefined;
    let mode: WireMessage['mode'];
    let entries: [ReceivedEntry['time'], Record<string, unknown>][];
    let bytes = 0;
    if (Array.isArray(second)) {
      mode = 'Forward';
      entries = second as typeof entries;
      options = message[2] as typeof options;
    } else if (second instanceof Uint8Array) {
      options = message[2] as typeof options;
      let packed = second;
      bytes = packed.length;
      mode = 'PackedForward';
      if (options?.compressed === 'gzip') {
        mode = 'CompressedPackedForward';
        packed = gunzipSync(packed);
      }
      entries = [...decodeMulti(packed, { extensionCodec: eventTimeCodec, useBigInt64: true })] as typeof entries;
    } else {
      mode = 'Message';
      entries = [[second as ReceivedEntry['time'], message[2] as Record<string, unknown>]];
      options = message[3] as typeof options;
    }
    this.messages.push({ mode, tag, options, entries: entries.length, bytes });
    for (const [time, record] of entries) this.entries.push({ tag, time, record });
    const chunk = options?.chunk;
    if (typeof chunk === 'string' && this.options.ack !== false) socket.write(this.encoder.encode({ ack: chunk }));
  }

  async kill(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const s of this.sockets) reset(s);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

export type ReceiverFactory = (options?: IndependentOptions) => Promise<TestReceiver>;

/** Both receivers, for describe.each. */
export const receivers: [string, ReceiverFactory][] = [
  ['FluentServer', (o) => new FluentServerReceiver(o).start()],
  ['independent receiver', (o) => new IndependentReceiver(o).start()],
];
