// Runs test/support/dns-client.c (DNS queries made the way real resolvers
// make them) and getaddrinfo through the C library's resolver with a
// resolv.conf of the test's own, in a private mount namespace.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { compileC } from './c-program.js';

/** The client's task name, as comm shows it. */
export const DNS_CLIENT_COMM = 'dns-client';

const run = promisify(execFile);

function binary(): string {
  return compileC(DNS_CLIENT_COMM, readFileSync(join(import.meta.dirname, 'dns-client.c'), 'utf8'));
}

export interface SentQuery {
  name: string;
  type: number;
  txid: number;
  /** CLOCK_MONOTONIC just before the call that sent it. */
  sentNs: bigint;
}

export interface ReceivedReply {
  txid: number;
  rcode: number;
  /** Its question as the C library reads it (null: it refuses the name). */
  name: string | null;
  type: number;
  /** CLOCK_MONOTONIC just after the call that received it. */
  receivedNs: bigint;
}

export interface ClientRun {
  pid: number;
  queries: SentQuery[];
  replies: ReceivedReply[];
  /** errno of the failed send, or 0. */
  sendError: number;
  /** errno of the non-blocking receive made before sending (--nonblock-probe), or 0. */
  probeError: number;
  recvError: number;
  timedOut: boolean;
}

interface ClientOutput {
  pid: number;
  send_error: number;
  probe_error: number;
  queries: { name: string; type: number; txid: number; sent_ns: string }[];
  replies: { txid: number; rcode: number; name: string | null; type: number; received_ns: string }[];
  recv_error: number;
  timed_out: boolean;
}

/**
 * One client run: `transport` to server:port with the options of
 * dns-client.c, sending each query ("name:type[:txid]").
 */
export async function runDnsClient(transport: 'udp' | 'tcp', server: string, port: number, options: string[], queries: string[]): Promise<ClientRun> {
  const { stdout } = await run(binary(), [transport, server, String(port), ...options, ...queries]);
  const out = JSON.parse(stdout) as ClientOutput;
  return {
    pid: out.pid,
    queries: out.queries.map((q) => ({ name: q.name, type: q.type, txid: q.txid, sentNs: BigInt(q.sent_ns) })),
    replies: out.replies.map((r) => ({ txid: r.txid, rcode: r.rcode, name: r.name, type: r.type, receivedNs: BigInt(r.received_ns) })),
    sendError: out.send_error,
    probeError: out.probe_error,
    recvError: out.recv_error,
    timedOut: out.timed_out,
  };
}

export interface GetaddrinfoRun {
  pid: number;
  /** getaddrinfo's return (0 on success). */
  result: number;
  addresses: string[];
}

/**
 * getaddrinfo(name) in a child whose /etc/resolv.conf names only
 * `nameserver` and whose /etc/nsswitch.conf asks DNS alone: both bind
 * mounts made in a mount namespace of its own (unshare --mount makes its
 * mounts private), so the host's files stay as they are.
 */
export async function runGetaddrinfo(name: string, nameserver: string): Promise<GetaddrinfoRun> {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-forward-resolv-'));
  const resolvConf = join(dir, 'resolv.conf');
  const nsswitchConf = join(dir, 'nsswitch.conf');
  writeFileSync(resolvConf, `nameserver ${nameserver}\noptions timeout:2 attempts:1\n`);
  writeFileSync(nsswitchConf, 'hosts: dns\n');
  const script = 'mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/nsswitch.conf && exec "$3" gai "$4"';
  const { stdout } = await run('unshare', ['--mount', 'sh', '-c', script, 'sh', resolvConf, nsswitchConf, binary(), name]);
  const out = JSON.parse(stdout) as { pid: number; gai: number; addresses: string[] };
  return { pid: out.pid, result: out.gai, addresses: out.addresses };
}
