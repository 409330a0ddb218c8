// Every trace in ONE input, as a user runs it: one CLI, a forward receiver
// that decodes the bytes on the wire itself. Each trace's case is caused by a child this test runs, and
// its records must arrive as the trace declares them: keys in order
// (event_type, event_id, pid, tid, comm, then the trace's), every value of
// its declared type, and for the net, malloc and TLS cases every value.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { traces } from '../../../src/traces/registry.js';
import type { TraceDefinition } from '../../../src/traces/types.js';
import { startCli, waitFor, writeConfig, type RunningCli } from '../../support/cli.js';
import { runDnsClient } from '../../support/dns-client.js';
import { startDnsServer, type DnsServer } from '../../support/dns-server.js';
import { execProbePath, runExecProbe } from '../../support/exec.js';
import { expectDeclaredTypes } from '../../support/field-types.js';
import { END_MARKER_SIZE, mallocProgramPath, startMallocProgram } from '../../support/malloc.js';
import { runAcceptScenario, runBindScenario } from '../../support/net-scenarios.js';
import { TestCgroups } from '../../support/filter-actor.js';
import { startReceivers, type Receivers, type WireEntry } from '../../support/receiver.js';
import { startPingPong } from '../../support/sched.js';
import { runSignalTool, signalToolPath, startSignalTarget } from '../../support/signal-tool.js';
import { expectedRecord, makeCertificate, startTlsClient, startTlsServer, tlsPeerPath, type TlsServer } from '../../support/tls-peer.js';
import { runVfsProgram } from '../../support/vfs.js';

/** Every trace there is, in the registry's order (the CLI's "tracing ..." line). */
const ALL = [...traces.keys()];
const MALLOC_COMM = 'nine-malloc';
const TLS_COMM = 'nine-tls';

let receivers: Receivers;
let cli: RunningCli;
let dns: DnsServer;
let tls: TlsServer;
let tlsPort: number;
let cgroups: TestCgroups;
let leaveCgroup: (() => void) | undefined;
const dir = mkdtempSync(join(tmpdir(), 'ebpf-forward-nine-'));

/** The record as it was on the wire (the receiver sets event_id and the container fields apart): keys in their order. */
function wireRecord(e: WireEntry): Record<string, unknown> {
  return Object.fromEntries(e.keys.map((k) => [k, k === 'event_id' ? e.eventId : e.container && k in e.container ? e.container[k] : e.record[k]]));
}

/** Every record of `pid` of these event types, once at least one of each came. */
async function recordsOf(pid: number, eventTypes: string[], what: string): Promise<WireEntry[]> {
  return waitFor(() => {
    const mine = receivers.wire.filter((e) => e.record.pid === pid && eventTypes.includes(e.record.event_type as string));
    return eventTypes.every((t) => mine.some((e) => e.record.event_type === t)) ? mine : undefined;
  }, 10_000, what);
}

/** Keys, order and declared types of each record, checked against its trace's declaration; the tag is the input's. */
function expectDeclared(name: string, entries: WireEntry[]): void {
  const trace = traces.get(name) as TraceDefinition;
  for (const e of entries) {
    expect(e.tag).toBe('nine');
    expectDeclaredTypes(trace, wireRecord(e), ['old_address']);
  }
}

beforeAll(async () => {
  // Compiled before the CLI starts: the compilers' processes are none of ours.
  execProbePath();
  signalToolPath();
  mallocProgramPath(MALLOC_COMM);
  receivers = await startReceivers();
  // The input sees only this test's cgroup, which the test process enters
  // before it starts anything: a busy machine's other processes neither
  // crowd the records out nor make the checks of every record slow.
  cgroups = new TestCgroups('every-trace');
  leaveCgroup = cgroups.enter();
  dns = await startDnsServer(0, ['127.0.0.1']);
  // Running before the CLI starts, so its libssl is mapped when trace_openssl looks.
  tls = startTlsServer(makeCertificate(dir), { path: tlsPeerPath({ name: 'nine-tls-server', dir }) });
  tlsPort = await tls.port;
  const config = writeConfig(`[SERVICE]
    Flush      0.2
    Log_Level  info

[INPUT]
    Name          ebpf
${ALL.map((t) => `    Trace         ${t}`).join('\n')}
    malloc_comm   ${MALLOC_COMM}
    sched_comm    sched-pong
    openssl_comm  ${TLS_COMM}
    dns_port      ${dns.port}
    cgroup        ${cgroups.path()}
    Tag           nine

[OUTPUT]
    Name   forward
    Match  *
    Host   127.0.0.1
    Port   ${receivers.port}
`);
  cli = startCli(['-c', config]);
  await cli.waitForLog(new RegExp(`tracing ${ALL.join(', ')}\\n`), 30_000);
});

afterAll(async () => {
  await cli?.stop();
  tls?.child.kill();
  await dns?.close();
  await receivers?.close();
  leaveCgroup?.();
  cgroups?.remove();
  rmSync(dir, { recursive: true, force: true });
});

describe('every trace in one input, to a forward receiver', () => {
  it('trace_signal: a kill', async () => {
    const target = startSignalTarget();
    const run = runSignalTool('kill', target, 0);
    const [e] = await recordsOf(run.pid, ['signal'], 'the kill');
    expect(e!.record).toMatchObject({ event_type: 'signal', pid: run.pid, signal: 0, tpid: target, error_raw: 0 });
    expectDeclared('trace_signal', [e!]);
  });

  it('trace_exec: enter and exit of an execve', async () => {
    const run = runExecProbe([], '/bin/true', ['true', 'nine']);
    const records = await recordsOf(run.pid, ['execve'], 'the exec');
    await waitFor(() => (receivers.wire.filter((e) => e.record.pid === run.pid && e.record.event_type === 'execve').length >= 2 ? true : undefined), 5000, 'both stages');
    const both = receivers.wire.filter((e) => e.record.pid === run.pid && e.record.event_type === 'execve');
    expect(both.map((e) => e.record.stage)).toEqual(['enter', 'exit']);
    expect(both[0]!.record).toMatchObject({ filename: '/bin/true', argv: 'true', argv1: 'nine', argc: 2, error_raw: 0 });
    expectDeclared('trace_exec', [...records, ...both]);
  });

  it('trace_bind and trace_tcp: binds, listen, connects and accepts, every value', async () => {
    const bind = await runBindScenario();
    const accept = await runAcceptScenario('127.0.0.1', '127.0.0.1');
    const binds = await recordsOf(bind.pid, ['bind'], 'the binds');
    const net = await recordsOf(accept.pid, ['listen', 'connect', 'accept'], 'listen, connect, accept');
    // Only its tcp records count: its exec and opens (trace_exec, trace_vfs) come too.
    const tcpOf = () => receivers.wire.filter((e) => e.record.pid === accept.pid && ['listen', 'connect', 'accept'].includes(e.record.event_type as string));
    await waitFor(() => (tcpOf().length >= accept.expected.length ? true : undefined), 5000, 'every tcp record');
    const bindsOf = () => receivers.wire.filter((e) => e.record.pid === bind.pid && e.record.event_type === 'bind');
    await waitFor(() => (bindsOf().length >= bind.expected.length ? true : undefined), 5000, 'every bind record');
    expect(bindsOf().map((e) => e.record)).toEqual(bind.expected);
    const tcp = tcpOf();
    expect(tcp.map((e) => e.record)).toEqual(expect.arrayContaining(accept.expected));
    expectDeclared('trace_bind', binds);
    expectDeclared('trace_tcp', net);
  });

  it('trace_vfs: the program\'s opens', async () => {
    const run = runVfsProgram();
    const opens = await recordsOf(run.pid, ['vfs'], 'the opens');
    expect(opens.some((e) => e.record.error_raw === 2)).toBe(true);
    expectDeclared('trace_vfs', opens);
  });

  it('trace_malloc: malloc, calloc, realloc, free of the program (malloc_comm)', async () => {
    const program = startMallocProgram({ path: mallocProgramPath(MALLOC_COMM) });
    await program.ready;
    const run = await program.go();
    await waitFor(() => (receivers.wire.some((e) => e.record.pid === run.pid && e.record.size === END_MARKER_SIZE) ? true : undefined), 10_000, 'the end marker');
    const calls = receivers.wire.filter((e) => e.record.pid === run.pid && e.record.event_type === 'malloc');
    expect(new Set(calls.map((e) => e.record.operation))).toEqual(new Set([0, 1, 2, 3]));
    expect(receivers.wire.filter((e) => e.record.event_type === 'malloc' && e.record.comm !== MALLOC_COMM)).toEqual([]);
    expectDeclared('trace_malloc', calls);
  });

  it('trace_dns: a query and its reply (dns_port), and an NXDOMAIN', async () => {
    const run = await runDnsClient('udp', '127.0.0.1', dns.port, [], ['nine.example:1', 'nx.nine.example:1']);
    await waitFor(() => (receivers.wire.filter((e) => e.record.pid === run.pid && e.record.event_type === 'dns').length >= 4 ? true : undefined), 10_000, 'two queries and two replies');
    const records = receivers.wire.filter((e) => e.record.pid === run.pid && e.record.event_type === 'dns');
    const of = (query: string, response: number) => records.find((e) => e.record.query === query && e.record.response === response)!.record;
    expect(of('nine.example', 0)).toMatchObject({ query_type: 1, rcode: 0, latency_ns: 0, error_raw: 0, server_addr: '127.0.0.1', server_port: dns.port, transport: 'udp' });
    expect(of('nine.example', 1)).toMatchObject({ query_type: 1, rcode: 0, error_raw: 0, server_port: dns.port });
    expect(of('nx.nine.example', 1)).toMatchObject({ rcode: 3 });
    expect(Number(of('nine.example', 1).latency_ns)).toBeGreaterThan(0);
    expectDeclared('trace_dns', records);
  });

  it('trace_sched: switches of a ping-pong pair (sched_comm)', async () => {
    const pair = await startPingPong(200, 0);
    try {
      await pair.go();
      await recordsOf(pair.pong, ['sched'], 'sched-pong switched in');
      // Records come in batches (wakeup_ms): wait for one whose wake-up was seen, not just the first.
      const woken = (e: WireEntry) => e.record.pid === pair.pong && e.record.event_type === 'sched' && e.record.wakeup_tracked === true && Number(e.record.runq_latency_ns) > 0;
      await waitFor(() => (receivers.wire.some(woken) ? true : undefined), 10_000, 'a switch of sched-pong after a wake-up');
      const switches = receivers.wire.filter((e) => e.record.pid === pair.pong && e.record.event_type === 'sched');
      for (const e of switches) expect(e.record).toMatchObject({ comm: 'sched-pong', next_pid: pair.pong });
      expect(receivers.wire.filter((e) => e.record.event_type === 'sched' && e.record.comm !== 'sched-pong')).toEqual([]);
      expectDeclared('trace_sched', switches);
    } finally {
      await pair.stop();
    }
  });

  it('trace_openssl: a TLS client\'s handshake, write, read and shutdown, every value', async () => {
    const client = startTlsClient([String(tlsPort), 'basic'], { path: tlsPeerPath({ name: TLS_COMM, dir }) });
    await client.ready;
    const run = await client.go();
    const kinds = ['tls_handshake', 'tls_write', 'tls_read', 'tls_shutdown'];
    await recordsOf(run.pid, kinds, 'the TLS calls');
    await waitFor(() => (receivers.wire.filter((e) => e.record.pid === run.pid && kinds.includes(e.record.event_type as string)).length >= run.calls.length ? true : undefined), 5000, 'every TLS call');
    const records = receivers.wire.filter((e) => e.record.pid === run.pid && kinds.includes(e.record.event_type as string));
    const same = (a: unknown, b: unknown) => (typeof a === 'bigint' || typeof b === 'bigint' ? BigInt(a as bigint) === BigInt(b as bigint) : a === b);
    for (const call of run.calls) {
      const want = expectedRecord(call);
      const found = records.filter((e) => Object.entries(want).every(([k, v]) => same(e.record[k], v)));
      expect(found.length, `a record for ${call.function} ret ${call.ret} of SSL ${call.ssl}`).toBeGreaterThan(0);
    }
    expectDeclared('trace_openssl', records);
  });

  it('every record received names its CPU in event_id, and none repeats within its trace', () => {
    const traceOf = new Map<string, string>();
    for (const name of ALL) {
      const record = traces.get(name)!.record;
      if ('asIs' in record) continue;
      for (const shape of 'by' in record ? [...Object.values(record.cases), ...(record.otherwise ? [record.otherwise] : [])] : [record]) traceOf.set(shape.eventType, name);
    }
    const seen = new Map<string, Set<bigint>>();
    for (const e of receivers.wire) {
      const trace = traceOf.get(e.record.event_type as string);
      expect(trace, `event_type ${String(e.record.event_type)}`).toBeDefined();
      const ids = seen.get(trace!) ?? new Set<bigint>();
      const id = BigInt(e.eventId!);
      expect(ids.has(id), `${trace}: event_id ${id} twice`).toBe(false);
      ids.add(id);
      seen.set(trace!, ids);
    }
    expect([...seen.keys()].sort()).toEqual([...ALL].sort());
  });
});
