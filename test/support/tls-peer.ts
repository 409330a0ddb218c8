// Runs test/support/tls-peer.c, a TLS server and client on OpenSSL's shared
// libssl (dlopen'd, no development files), and says which trace_openssl
// records each call it printed must give.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileC } from './c-program.js';
import { watchChild } from './child-output.js';

/** One SSL call the peer made, as it printed it. */
export interface TlsCall {
  /** As called: SSL_connect and SSL_accept are records of SSL_do_handshake. */
  function: string;
  ssl: bigint;
  /** What the record's ret must be (SSL_*_ex: the byte count). */
  ret: number;
}

const EVENT_TYPES: Record<string, string> = {
  SSL_do_handshake: 'tls_handshake',
  SSL_read: 'tls_read',
  SSL_read_ex: 'tls_read',
  SSL_write: 'tls_write',
  SSL_write_ex: 'tls_write',
  SSL_shutdown: 'tls_shutdown',
};

/** The fields of the record a call must give (after the common head). */
export function expectedRecord(call: TlsCall) {
  const fn = call.function === 'SSL_connect' || call.function === 'SSL_accept' ? 'SSL_do_handshake' : call.function;
  const eventType = EVENT_TYPES[fn]!;
  return { event_type: eventType, trace: `openssl_${eventType}`, ssl_ptr: call.ssl, ret: call.ret, function: fn };
}

/** The program; with a name (its comm), a copy by that name in `dir`. */
export function tlsPeerPath(copy?: { name: string; dir: string }): string {
  const bin = compileC('tls-peer', readFileSync(join(import.meta.dirname, 'tls-peer.c'), 'utf8'));
  if (!copy) return bin;
  const path = join(copy.dir, copy.name);
  copyFileSync(bin, path);
  return path;
}

/** A self-signed certificate and its key in `dir`, made with the openssl command. */
export function makeCertificate(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost', '-days', '2', '-keyout', key, '-out', cert], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`openssl req failed (is the openssl package installed? scripts/setup.sh installs it): ${made.stderr ?? made.error}`);
  return { cert, key };
}

function parseCalls(out: string): TlsCall[] {
  return out
    .split('\n')
    .filter((l) => l.startsWith('call '))
    .map((l) => {
      const [, fn, ssl, ret] = l.split(' ');
      return { function: fn!, ssl: BigInt(ssl!), ret: Number(ret) };
    });
}

export interface PeerOptions {
  /** The program (tlsPeerPath()). */
  path?: string;
  env?: NodeJS.ProcessEnv;
}

/** Collects a child's output; rejects `ready` if it exits before printing `readyLine`. */
export interface TlsServer {
  child: ChildProcess;
  pid: number;
  /** Resolves with its port once it listens (libssl mapped). */
  port: Promise<number>;
  /** The calls it made on a connection, once it has served it. */
  served(ssl: bigint): TlsCall[] | undefined;
  /** Every call it made so far. */
  calls(): TlsCall[];
}

/** Starts the server (stop it with child.kill()). */
export function startTlsServer(certificate: { cert: string; key: string }, options: PeerOptions = {}): TlsServer {
  const child = spawn(options.path ?? tlsPeerPath(), ['server', certificate.cert, certificate.key], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
  const { output, ready } = watchChild(child, 'tls-peer', /^port (\d+)$/m);
  return {
    child,
    pid: child.pid!,
    port: ready.then((m) => Number(m[1])),
    served: (ssl) => (output.out.includes(`done ${ssl}\n`) ? parseCalls(output.out).filter((c) => c.ssl === ssl) : undefined),
    calls: () => parseCalls(output.out),
  };
}

export interface TlsClientRun {
  pid: number;
  calls: TlsCall[];
  /** abandon: the monotonic nanoseconds around the last SSL_read. */
  window?: bigint;
}

export interface TlsClient {
  child: ChildProcess;
  pid: number;
  /** Resolves once it has mapped libssl. */
  ready: Promise<unknown>;
  /** Lets it run its scenario; resolves with its calls once it exits. */
  go(): Promise<TlsClientRun>;
}

/** Starts a client for a scenario of tls-peer.c (basic, nested, abandon), or the bench (args ['bench', N]). */
export function startTlsClient(args: string[], options: PeerOptions = {}): TlsClient {
  const child = spawn(options.path ?? tlsPeerPath(), args[0] === 'bench' ? args : ['client', ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
  const { output, ready, exited } = watchChild(child, 'tls-peer', /^ready$/m);
  return {
    child,
    pid: child.pid!,
    ready,
    async go() {
      child.stdin!.end('g');
      const code = await exited;
      if (code !== 0) throw new Error(`tls-peer ${args.join(' ')} exited with ${code}: ${output.err}`);
      const window = /^window (\d+)$/m.exec(output.out)?.[1];
      return { pid: child.pid!, calls: parseCalls(output.out), window: window === undefined ? undefined : BigInt(window) };
    },
  };
}
