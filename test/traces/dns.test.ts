// trace_dns on the real kernel, from syscall tracepoints only: DNS queries
// and responses made the way real resolvers make them (glibc, systemd-resolved,
// Go, musl; getaddrinfo itself), over UDP and TCP, IPv4 and IPv6, against a
// DNS server the test runs on loopback, on port 53 and on ports named by
// dns_port. Every record's fields are checked, their values and types.
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trace_dns } from '../../src/traces/dns/index.js';
import { waitFor } from '../support/cli.js';
import type { DecodedRecord } from '../support/decoded-events.js';
import { DNS_CLIENT_COMM, runDnsClient, runGetaddrinfo, type ClientRun, type ReceivedReply, type SentQuery } from '../support/dns-client.js';
import { ANSWER_A, ANSWER_AAAA, Rcode, startDnsServer, type DnsServer } from '../support/dns-server.js';
import { expectDeclaredTypes } from '../support/field-types.js';
import { startTrace, type StartedTrace } from '../support/trace-session.js';

const A = 1;
const AAAA = 28;
const NS = 2;
const EMSGSIZE = 90;
const EAGAIN = 11;
const ECONNREFUSED = 111;

let dns: DnsServer; // port 53, 127.0.0.1 and ::1
let other: DnsServer; // another port, named by dns_port
let unlisted: DnsServer; // a port no dns_port names
let closedPort: number; // named by dns_port, nobody listening
let traced: StartedTrace; // dns_port 53, other.port, closedPort
let byDefault: StartedTrace; // no dns_port: 53 alone

/** A UDP port free on 127.0.0.1 just now. */
async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const { port } = s.address();
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

beforeAll(async () => {
  dns = await startDnsServer(53);
  other = await startDnsServer();
  unlisted = await startDnsServer();
  closedPort = await freeUdpPort();
  // As the config loader hands a repeated key's values over: one list per line.
  traced = startTrace(trace_dns, { dns_port: [[53], [other.port, closedPort]] });
  byDefault = startTrace(trace_dns);
});

afterAll(async () => {
  traced?.session.close();
  byDefault?.session.close();
  await Promise.all([dns?.close(), other?.close(), unlisted?.close()]);
});

/**
 * Waits until the trace has every record of what ran before: a marker
 * query's records come after them in the ring, which is read in order.
 */
async function settle(trace: StartedTrace): Promise<void> {
  const marker = await runDnsClient('udp', '127.0.0.1', 53, [], ['settle.dns.test:1']);
  await waitFor(() => (trace.events.filter((e) => e.record.pid === marker.pid).length >= 2 ? true : undefined), 10_000, 'the marker query and its response');
}

/** Every record of that process, once all have arrived; their types checked against the declaration. */
async function recordsOf(pid: number, trace = traced): Promise<DecodedRecord[]> {
  await settle(trace);
  const records = trace.events.filter((e) => e.record.pid === pid).map((e) => e.record);
  for (const r of records) expectDeclaredTypes(trace_dns, r);
  return records;
}

interface Server {
  addr: string;
  port: number;
  transport: 'udp' | 'tcp';
}

const head = (pid: number) => ({ event_type: 'dns', pid, tid: pid, comm: DNS_CLIENT_COMM });
const at = (s: Server) => ({ server_addr: s.addr, server_port: s.port, transport: s.transport });

function queryRecord(pid: number, q: SentQuery, s: Server, errorRaw = 0) {
  return { ...head(pid), query: q.name, query_type: q.type, txid: q.txid, response: 0, rcode: 0, latency_ns: 0n, error_raw: errorRaw, ...at(s) };
}

function responseRecord(pid: number, r: ReceivedReply, s: Server) {
  return { ...head(pid), query: r.name ?? '', query_type: r.type, txid: r.txid, response: 1, rcode: r.rcode, latency_ns: 0n, error_raw: 0, ...at(s) };
}

/** latency_ns as a bigint, whichever width it came in. */
const latency = (r: DecodedRecord) => BigInt(r.latency_ns as number | bigint);
const withoutLatency = (r: Record<string, unknown>) => ({ ...r, latency_ns: undefined });

/**
 * Checks a client's records: a query record per query sent, in order, then
 * a response record per reply received, in order, each with its own
 * question; a response's latency is measured from its own query's send, so
 * it lies within the client's clock readings around that send and receive.
 */
async function expectExchange(run: ClientRun, server: Server, trace = traced): Promise<DecodedRecord[]> {
  const records = await recordsOf(run.pid, trace);
  const expected = [...run.queries.map((q) => queryRecord(run.pid, q, server)), ...run.replies.map((r) => responseRecord(run.pid, r, server))];
  expect(records.map(withoutLatency)).toEqual(expected.map(withoutLatency));
  for (const r of records) {
    if (r.response === 0) {
      expect(latency(r)).toBe(0n);
      continue;
    }
    const reply = run.replies.find((p) => p.txid === r.txid && (p.name ?? '') === r.query && p.type === r.query_type)!;
    const query = run.queries.find((q) => q.txid === r.txid && q.type === r.query_type && q.name === r.query);
    expect(query, `the query of response ${String(r.query)}`).toBeDefined();
    expect(latency(r)).toBeGreaterThan(0n);
    expect(latency(r)).toBeLessThanOrEqual(reply.receivedNs - query!.sentNs);
  }
  return records;
}

const v4 = (port = 53): Server => ({ addr: '127.0.0.1', port, transport: 'udp' });
const v6 = (port = 53): Server => ({ addr: '::1', port, transport: 'udp' });
const tcp = (s: Server): Server => ({ ...s, transport: 'tcp' });

describe('trace_dns: resolvers over UDP', () => {
  it.each([
    ['IPv4', v4()],
    ['IPv6', v6()],
  ])('glibc, %s: connect, then sendmmsg with A and AAAA together (two query records), then recvfrom', async (_, server) => {
    const run = await runDnsClient('udp', server.addr, 53, ['--connect', '--send', 'sendmmsg', '--recv', 'recvfrom'], ['www.glibc.dns.test:1', 'www.glibc.dns.test:28']);
    const records = await expectExchange(run, server);
    expect(records.map((r) => [r.response, r.query_type])).toEqual([[0, A], [0, AAAA], [1, A], [1, AAAA]]);
    expect(run.replies.map((r) => r.rcode)).toEqual([Rcode.noError, Rcode.noError]);
  });

  it('systemd-resolved: a connected socket, sendmsg and recvmsg', async () => {
    const run = await runDnsClient('udp', '::1', 53, ['--connect', '--send', 'sendmsg', '--recv', 'recvmsg'], ['resolved.dns.test:28']);
    await expectExchange(run, v6());
  });

  it('sendmsg with the destination in msg_name, recvmsg with the source in it', async () => {
    const run = await runDnsClient('udp', '127.0.0.1', 53, ['--send', 'sendmsg', '--recv', 'recvmsg'], ['msgname.dns.test:1']);
    await expectExchange(run, v4());
  });

  it('Go: connect, then write and read', async () => {
    const run = await runDnsClient('udp', '127.0.0.1', 53, ['--connect', '--send', 'write', '--recv', 'read'], ['go.dns.test:1', 'go.dns.test:28']);
    await expectExchange(run, v4());
  });

  it('a dual-stack socket: an IPv4 server is ::ffff:127.0.0.1', async () => {
    const run = await runDnsClient('udp', '::ffff:127.0.0.1', 53, ['--connect', '--send', 'write', '--recv', 'read'], ['mapped.dns.test:1']);
    await expectExchange(run, { addr: '::ffff:127.0.0.1', port: 53, transport: 'udp' });
  });

  it('musl: sendto with the destination, then recvmsg', async () => {
    const run = await runDnsClient('udp', '::1', 53, ['--send', 'sendto', '--recv', 'recvmsg'], ['musl.dns.test:1']);
    await expectExchange(run, v6());
  });

  it('writev and readv, the DNS header split across two iovecs', async () => {
    const run = await runDnsClient('udp', '127.0.0.1', 53, ['--connect', '--send', 'writev', '--recv', 'readv'], ['iovec.dns.test:28']);
    await expectExchange(run, v4());
  });

  it('NXDOMAIN (rcode 3) and SERVFAIL (rcode 2)', async () => {
    const run = await runDnsClient('udp', '127.0.0.1', 53, [], ['nx.dns.test:1', 'fail.dns.test:28']);
    expect(run.replies.map((r) => r.rcode)).toEqual([Rcode.nxDomain, Rcode.servFail]);
    const records = await expectExchange(run, v4());
    expect(records.filter((r) => r.response === 1).map((r) => [r.query, r.rcode])).toEqual([
      ['nx.dns.test', 3],
      ['fail.dns.test', 2],
    ]);
  });

  it('two outstanding queries with one txid on one socket: each response has its own name and latency', async () => {
    // The first is answered late, the second at once, so the replies come
    // back in the other order; the sends are apart, so a response matched
    // to the other query would have a latency beyond its own exchange.
    const run = await runDnsClient('udp', '127.0.0.1', 53, ['--gap-ms', '50'], ['slow.dns.test:1:4660', 'fast.dns.test:1:4660']);
    expect(run.replies.map((r) => [r.name, r.txid])).toEqual([
      ['fast.dns.test', 4660],
      ['slow.dns.test', 4660],
    ]);
    await expectExchange(run, v4());
  });

  it('a query with no reply has its query record alone', async () => {
    const run = await runDnsClient('udp', '127.0.0.1', 53, ['--timeout-ms', '300'], ['drop.dns.test:1']);
    expect(run.timedOut).toBe(true);
    const records = await expectExchange(run, v4());
    expect(records).toHaveLength(1);
  });

  it('the root name is "."', async () => {
    const run = await runDnsClient('udp', '127.0.0.1', 53, [], ['.:2']);
    const records = await expectExchange(run, v4());
    expect(records.map((r) => [r.query, r.query_type])).toEqual([
      ['.', NS],
      ['.', NS],
    ]);
  });

  it('a question name ending in a compression pointer is refused: query "" and query_type 0, its response still matched', async () => {
    // "www" then a pointer back to itself: a name that never ends if followed.
    const run = await runDnsClient('udp', '127.0.0.1', 53, ['--compress'], ['www:1']);
    expect(run.replies).toMatchObject([{ rcode: Rcode.formErr, name: null }]);
    const records = await recordsOf(run.pid);
    const txid = run.queries[0]!.txid;
    expect(records.map(withoutLatency)).toEqual(
      [
        { ...queryRecord(run.pid, run.queries[0]!, v4()), query: '', query_type: 0 },
        { ...responseRecord(run.pid, run.replies[0]!, v4()), query: '', query_type: 0, txid, rcode: Rcode.formErr },
      ].map(withoutLatency),
    );
    expect(latency(records[1]!)).toBeGreaterThan(0n);
  });
});

describe('trace_dns: TCP', () => {
  it('the length prefix in the same write as the message; the reply read whole', async () => {
    const run = await runDnsClient('tcp', '127.0.0.1', 53, ['--send', 'write', '--recv', 'read'], ['joined.tcp.dns.test:1']);
    await expectExchange(run, tcp(v4()));
  });

  it('the length prefix in a write of its own; the reply read prefix first, then the message', async () => {
    const run = await runDnsClient('tcp', '::1', 53, ['--send', 'write', '--recv', 'read', '--split'], ['split.tcp.dns.test:28']);
    await expectExchange(run, tcp(v6()));
  });

  it('the length prefix a byte per write', async () => {
    const run = await runDnsClient('tcp', '127.0.0.1', 53, ['--send', 'write', '--recv', 'read', '--split', '--prefix-bytes'], ['bytes.tcp.dns.test:1']);
    await expectExchange(run, tcp(v4()));
  });

  it('glibc: one writev holding A and AAAA with their prefixes (two query records), replies read apart', async () => {
    const run = await runDnsClient('tcp', '127.0.0.1', 53, ['--send', 'writev', '--batch', '--recv', 'read', '--split'], ['vc.tcp.dns.test:1', 'vc.tcp.dns.test:28']);
    const records = await expectExchange(run, tcp(v4()));
    expect(records.map((r) => [r.response, r.query_type])).toEqual([[0, A], [0, AAAA], [1, A], [1, AAAA]]);
  });

  it('send and recv, two messages in one send', async () => {
    const run = await runDnsClient('tcp', '::1', 53, ['--send', 'sendto', '--batch', '--recv', 'recvfrom'], ['two.tcp.dns.test:1', 'nx.tcp.dns.test:1']);
    await expectExchange(run, tcp(v6()));
  });
});

describe('trace_dns: dns_port', () => {
  it('a port dns_port names is DNS; 53 stays DNS only while listed (the default)', async () => {
    const run = await runDnsClient('udp', '127.0.0.1', other.port, [], ['other.port.dns.test:1']);
    await expectExchange(run, v4(other.port));
    expect(await recordsOf(run.pid, byDefault)).toEqual([]);
    const on53 = await runDnsClient('udp', '127.0.0.1', 53, [], ['default.port.dns.test:1']);
    await expectExchange(on53, v4(), byDefault);
  });

  it('a port no dns_port names is not DNS', async () => {
    const before = unlisted.received;
    const run = await runDnsClient('udp', '127.0.0.1', unlisted.port, [], ['unlisted.port.dns.test:1']);
    expect(run.replies).toHaveLength(1);
    expect(unlisted.received).toBe(before + 1);
    expect(await recordsOf(run.pid)).toEqual([]);
  });
});

describe('trace_dns: failures', () => {
  it('a send that fails (EMSGSIZE) is a query record with its errno and name', async () => {
    const run = await runDnsClient('udp', '127.0.0.1', 53, ['--oversize', '--replies', '0'], ['big.dns.test:1']);
    expect(run.sendError).toBe(EMSGSIZE);
    expect(await recordsOf(run.pid)).toEqual([queryRecord(run.pid, run.queries[0]!, v4(), EMSGSIZE)].map((r) => ({ ...r, latency_ns: 0 })));
  });

  it('a receive that fails (ECONNREFUSED) is a response record with its errno; one that finds nothing (EAGAIN) is none', async () => {
    const run = await runDnsClient('udp', '127.0.0.1', closedPort, ['--connect', '--nonblock-probe'], ['refused.dns.test:1']);
    expect([run.probeError, run.recvError]).toEqual([EAGAIN, ECONNREFUSED]);
    const records = await recordsOf(run.pid);
    expect(records.map(withoutLatency)).toEqual(
      [
        queryRecord(run.pid, run.queries[0]!, v4(closedPort)),
        { ...head(run.pid), query: '', query_type: 0, txid: 0, response: 1, rcode: 0, latency_ns: 0, error_raw: ECONNREFUSED, ...at(v4(closedPort)) },
      ].map(withoutLatency),
    );
    expect(records.map(latency)).toEqual([0n, 0n]);
  });
});

describe('trace_dns: getaddrinfo and self', () => {
  it('getaddrinfo through glibc, with a resolv.conf naming the test server (in a mount namespace of its own)', async () => {
    const run = await runGetaddrinfo('gai.dns.test', '127.0.0.1');
    expect(run.result).toBe(0);
    expect([...run.addresses].sort()).toEqual([ANSWER_A, ANSWER_AAAA].sort());
    const records = await recordsOf(run.pid);
    const queries = records.filter((r) => r.response === 0);
    const responses = records.filter((r) => r.response === 1);
    const common = { ...head(run.pid), query: 'gai.dns.test', error_raw: 0, rcode: 0, ...at(v4()) };
    expect(queries.map(withoutLatency)).toEqual([A, AAAA].map((type) => withoutLatency({ ...common, query_type: type, txid: queries.find((q) => q.query_type === type)?.txid, response: 0 })));
    expect([...responses].sort((a, b) => Number(a.query_type) - Number(b.query_type)).map(withoutLatency)).toEqual(
      queries.map((q) => withoutLatency({ ...common, query_type: q.query_type, txid: q.txid, response: 1 })),
    );
    for (const r of responses) expect(latency(r)).toBeGreaterThan(0n);
  });

  it("ebpf-forward's own queries are not recorded", async () => {
    const socket = dgram.createSocket('udp4');
    const query = Buffer.from([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4, ...Buffer.from('self'), 0, 0, 1, 0, 1]);
    const reply = new Promise<Buffer>((resolve) => socket.once('message', resolve));
    socket.send(query, 53, '127.0.0.1');
    expect((await reply).readUInt16BE(0)).toBe(0x1234);
    socket.close();
    expect(await recordsOf(process.pid)).toEqual([]);
  });

  it('lost and malformed nothing', () => {
    for (const t of [traced, byDefault]) {
      expect(t.session.lost()).toBe(0);
      expect(t.session.malformed()).toBe(0);
    }
  });
});
