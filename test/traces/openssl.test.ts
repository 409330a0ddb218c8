// trace_openssl on the real kernel: a TLS client and server on loopback
// (test/support/tls-peer.c, on the shared libssl.so.3 loaded by dlopen)
// give one record per SSL call, with the result the program saw, one
// ssl_ptr per connection; nested and abandoned calls hide nothing; the
// uprobes go into the libssl files processes really map (a copy through
// LD_LIBRARY_PATH, a deleted one), never the development symlink libssl.so;
// narrowing by pid and comm.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { findLibraries } from '../../src/inputs/shared-libraries.js';
import { TraceStartError } from '../../src/inputs/start-errors.js';
import { OPENSSL_LIBRARY, trace_openssl } from '../../src/traces/openssl/index.js';
import { waitFor } from '../support/cli.js';
import type { DecodedRecord } from '../support/decoded-events.js';
import { expectDeclaredTypes } from '../support/field-types.js';
import { expectedRecord, makeCertificate, startTlsClient, startTlsServer, tlsPeerPath, type TlsCall, type TlsClient, type TlsServer } from '../support/tls-peer.js';
import { startTrace, type StartedTrace } from '../support/trace-session.js';

const SERVER_COMM = 'tls-server';
let server: TlsServer;
let port: number;
const traces: StartedTrace[] = [];
const children: ChildProcess[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  const dir = tempDir();
  server = startTlsServer(makeCertificate(dir), { path: tlsPeerPath({ name: SERVER_COMM, dir }) });
  children.push(server.child);
  port = await server.port;
});

afterEach(() => {
  for (const t of traces.splice(0)) t.session.close();
});

afterAll(() => {
  for (const c of children) c.kill();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function trace(keys: Record<string, unknown> = {}): StartedTrace {
  const t = startTrace(trace_openssl, keys);
  traces.push(t);
  return t;
}

function client(scenario: string, options: Parameters<typeof startTlsClient>[1] = {}): TlsClient {
  const c = startTlsClient([String(port), scenario], options);
  children.push(c.child);
  return c;
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-forward-openssl-'));
  dirs.push(dir);
  return dir;
}

/** The trace's records of one process, once there are `count` of them. */
async function recordsOf(t: StartedTrace, pid: number, count: number): Promise<DecodedRecord[]> {
  const mine = () => t.events.map((e) => e.record).filter((r) => r.pid === pid);
  await waitFor(() => (mine().length >= count ? true : undefined), 10_000, `${count} records of pid ${pid} (have ${mine().length})`);
  return mine();
}

/** The uprobes this process holds, as the kernel lists them: the program and the file each is in. */
function ourUprobes() {
  const perf = JSON.parse(spawnSync('bpftool', ['perf', 'list', '-j'], { encoding: 'utf8' }).stdout) as { pid: number; prog_id: number; fd_type: string; filename?: string }[];
  return perf.filter((p) => p.pid === process.pid && (p.fd_type === 'uprobe' || p.fd_type === 'uretprobe'));
}

/** Records in call order, each as the call says: the type of every field, its values, a latency. */
function expectCalls(records: DecodedRecord[], calls: TlsCall[], head: { pid: number; comm: string }) {
  expect(records.map((r) => [r.event_type, r.function, r.ret])).toEqual(calls.map((c) => [expectedRecord(c).event_type, expectedRecord(c).function, c.ret]));
  records.forEach((r, i) => {
    expectDeclaredTypes(trace_openssl, r, ['event_id']); // event_id: checked and set aside by startTrace
    expect(r).toMatchObject({ pid: head.pid, comm: head.comm, ...expectedRecord(calls[i]!) });
    expect(BigInt(r.ssl_ptr!)).toBe(calls[i]!.ssl);
    expect(BigInt(r.latency_ns!)).toBeGreaterThan(0n);
  });
}

describe('trace_openssl', () => {
  it('finds the libssl.so.3 that processes map, never the development symlink libssl.so (libssl-dev installed or not)', async () => {
    const devInstalled = spawnSync('dpkg-query', ['-W', '-f=${Status}', 'libssl-dev'], { encoding: 'utf8' }).stdout.includes('install ok installed');
    const mapped = findLibraries(OPENSSL_LIBRARY, [server.pid]);
    expect(mapped).toHaveLength(1);
    expect(mapped[0]!.mappedBy!.as).toMatch(/\/libssl\.so\.3$/);
    const all = findLibraries(OPENSSL_LIBRARY).map((l) => l.path);
    expect(all).toContain(mapped[0]!.path);
    expect(all.filter((p) => /\/libssl\.so$/.test(p) || /\/libssl3\.so$/.test(p)), `libssl-dev ${devInstalled ? 'installed' : 'not installed'}`).toEqual([]);

    // The kernel's own list of this process's uprobes: every one on a libssl.so.3, one per hook.
    trace();
    const ours = ourUprobes();
    expect(ours.length).toBeGreaterThanOrEqual(12); // 6 functions, entry and return, per file
    for (const p of ours) expect(p.filename).toMatch(/\/libssl\.so\.3$/);
    expect(ours.map((p) => p.filename)).toContain(mapped[0]!.path);
  });

  it('a connection: handshake (SSL_connect, SSL_accept), write, read and shutdown records, ret as each call returned, one ssl_ptr', async () => {
    const c = client('basic');
    await c.ready;
    const t = trace({ openssl_pid: [[c.pid, server.pid]] });
    const run = await c.go();
    // SSL_connect, SSL_write 100, SSL_write_ex 200, SSL_read_ex 100, SSL_read 200, SSL_shutdown 0 then 1.
    expect(run.calls.map((k) => [k.function, k.ret])).toEqual([
      ['SSL_connect', 1], ['SSL_write', 100], ['SSL_write_ex', 200], ['SSL_read_ex', 100], ['SSL_read', 200], ['SSL_shutdown', 0], ['SSL_shutdown', 1],
    ]);
    expectCalls(await recordsOf(t, run.pid, run.calls.length), run.calls, { pid: run.pid, comm: 'tls-peer' });
    // Single-threaded client: tid = pid.
    expect(t.events.filter((e) => e.record.pid === run.pid).every((e) => e.record.tid === run.pid)).toBe(true);

    // The server's side, in its connection's thread: SSL_accept, the echoes, the end (SSL_read_ex 0), SSL_shutdown 1.
    const served = await waitFor(() => server.calls().find((k) => k.function === 'SSL_accept' && server.served(k.ssl)) && server.calls().filter((k) => server.served(k.ssl)), 10_000, 'the server');
    const records = await recordsOf(t, server.pid, served.length);
    expectCalls(records, served, { pid: server.pid, comm: SERVER_COMM });
    expect(served.map((k) => [k.function, k.ret])).toEqual([
      ['SSL_accept', 1], ['SSL_read_ex', 100], ['SSL_write', 100], ['SSL_read_ex', 200], ['SSL_write', 200], ['SSL_read_ex', 0], ['SSL_shutdown', 1],
    ]);
    expect(new Set(records.map((r) => r.tid)).size).toBe(1);
    expect(records[0]!.tid).not.toBe(server.pid);
    expect(t.session.lost()).toBe(0);
    expect(t.session.malformed()).toBe(0);
  });

  it('a handshake nobody started (no SSL_connect) is done inside the first SSL_write: no handshake record, that write is one', async () => {
    const c = client('implicit');
    await c.ready;
    const t = trace({ openssl_pid: [[c.pid]] });
    const run = await c.go();
    expect(run.calls.map((k) => [k.function, k.ret])).toEqual([['SSL_write', 50], ['SSL_read', 50], ['SSL_shutdown', 0], ['SSL_shutdown', 1]]);
    expectCalls(await recordsOf(t, run.pid, run.calls.length), run.calls, { pid: run.pid, comm: 'tls-peer' });
    expect(t.events.filter((e) => e.record.event_type === 'tls_handshake')).toEqual([]);
  });

  it('a handshake inside another connection\'s SSL_connect (its info callback): both recorded, the outer one containing the inner', async () => {
    const c = client('nested');
    await c.ready;
    const t = trace({ openssl_pid: [[c.pid]] });
    const run = await c.go();
    const records = await recordsOf(t, run.pid, run.calls.length);
    expectCalls(records, run.calls, { pid: run.pid, comm: 'tls-peer' });
    const [inner, outer] = records;
    expect(inner!.ssl_ptr).not.toBe(outer!.ssl_ptr);
    // The outer call began first (a record's time is its call's entry) and lasted longer.
    const at = (i: number) => BigInt(t.events.find((e) => e.record === records[i])!.sec) * 1_000_000_000n + BigInt(t.events.find((e) => e.record === records[i])!.nsec);
    expect(at(1)).toBeLessThan(at(0));
    expect(BigInt(outer!.latency_ns!)).toBeGreaterThan(BigInt(inner!.latency_ns!));
  });

  it('an SSL_read left by siglongjmp hides nothing: the next SSL_read is one record of its own call', async () => {
    const c = client('abandon');
    await c.ready;
    const t = trace({ openssl_pid: [[c.pid]] });
    const run = await c.go();
    // The abandoned read printed nothing and gives no record.
    expect(run.calls.map((k) => k.function)).toEqual(['SSL_connect', 'SSL_write', 'SSL_read', 'SSL_shutdown', 'SSL_shutdown']);
    const records = await recordsOf(t, run.pid, run.calls.length);
    expectCalls(records, run.calls, { pid: run.pid, comm: 'tls-peer' });
    // Its latency is that call's, inside the program's own clock readings around it, not since the abandoned one.
    expect(BigInt(records[2]!.latency_ns!)).toBeLessThanOrEqual(run.window!);
  });

  it('a libssl.so.3 copied elsewhere and loaded through LD_LIBRARY_PATH is traced, found as mapped', async () => {
    const dir = tempDir();
    copyFileSync(findLibraries(OPENSSL_LIBRARY, [server.pid])[0]!.path, join(dir, 'libssl.so.3'));
    const c = client('basic', { env: { LD_LIBRARY_PATH: dir } });
    await c.ready;
    const found = findLibraries(OPENSSL_LIBRARY, [c.pid]);
    expect(found.map((l) => l.path)).toEqual([join(dir, 'libssl.so.3')]);
    // Machine-wide: the copy is one more file to probe.
    expect(findLibraries(OPENSSL_LIBRARY).map((l) => l.path)).toContain(join(dir, 'libssl.so.3'));
    const t = trace();
    const run = await c.go();
    expectCalls(await recordsOf(t, run.pid, run.calls.length), run.calls, { pid: run.pid, comm: 'tls-peer' });
  });

  it('a deleted copy is reached through /proc/<pid>/map_files', async () => {
    const dir = tempDir();
    copyFileSync(findLibraries(OPENSSL_LIBRARY, [server.pid])[0]!.path, join(dir, 'libssl.so.3'));
    const c = client('basic', { env: { LD_LIBRARY_PATH: dir } });
    await c.ready;
    rmSync(join(dir, 'libssl.so.3'));
    const found = findLibraries(OPENSSL_LIBRARY, [c.pid]);
    expect(found).toHaveLength(1);
    expect(found[0]!.mappedBy!.as).toBe(`${join(dir, 'libssl.so.3')} (deleted)`);
    expect(found[0]!.path).toMatch(new RegExp(`^/proc/${c.pid}/map_files/[0-9a-f]+-[0-9a-f]+$`));
    const t = trace({ openssl_pid: [[c.pid]] });
    const run = await c.go();
    expectCalls(await recordsOf(t, run.pid, run.calls.length), run.calls, { pid: run.pid, comm: 'tls-peer' });
  });

  it('machine-wide, a process started after the trace is traced: the uprobes are on the library file', async () => {
    const t = trace();
    const c = client('basic');
    const run = await c.go();
    expectCalls(await recordsOf(t, run.pid, run.calls.length), run.calls, { pid: run.pid, comm: 'tls-peer' });
  });

  it('openssl_pid: the uprobes are in those processes only, so others never trap', async () => {
    const wanted = client('basic');
    const other = client('basic', { path: tlsPeerPath({ name: 'tls-other', dir: tempDir() }) });
    await Promise.all([wanted.ready, other.ready]);
    const t = trace({ openssl_pid: [[wanted.pid]] });
    // The kernel's per-program run counts (bpf_stats) show whether a probe fired.
    const stats = spawnSync('sysctl', ['-n', 'kernel.bpf_stats_enabled'], { encoding: 'utf8' }).stdout.trim();
    spawnSync('sysctl', ['-qw', 'kernel.bpf_stats_enabled=1']);
    const programs = new Set(ourUprobes().map((p) => p.prog_id));
    const runs = () => {
      const progs = JSON.parse(spawnSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8' }).stdout) as { id: number; run_cnt?: number }[];
      return progs.filter((p) => programs.has(p.id)).reduce((n, p) => n + (p.run_cnt ?? 0), 0);
    };
    try {
      const before = runs();
      const otherRun = await other.go();
      expect(otherRun.calls).toHaveLength(7);
      // The server is not in the list either: the other client's whole connection (it ends
      // when the server's close_notify came) ran untrapped.
      expect(runs()).toBe(before);
      const run = await wanted.go();
      expect(runs()).toBeGreaterThan(before);
      expectCalls(await recordsOf(t, run.pid, run.calls.length), run.calls, { pid: run.pid, comm: 'tls-peer' });
      expect(t.events.filter((e) => e.record.pid !== run.pid)).toEqual([]);
    } finally {
      spawnSync('sysctl', ['-qw', `kernel.bpf_stats_enabled=${stats || '0'}`]);
    }
  });

  it('openssl_comm: only processes of that name, filtered in the kernel', async () => {
    const t = trace({ openssl_comm: [['tls-peer']] });
    const [run] = await Promise.all([client('basic').go(), client('basic', { path: tlsPeerPath({ name: 'tls-other', dir: tempDir() }) }).go()]);
    expectCalls(await recordsOf(t, run.pid, run.calls.length), run.calls, { pid: run.pid, comm: 'tls-peer' });
    // Not the server's records, nor the other client's.
    expect(t.events.filter((e) => e.record.comm !== 'tls-peer')).toEqual([]);
  });

  it('a pid list whose processes map no libssl: one message naming them; a pid without it beside one with it: a warning', async () => {
    const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
    children.push(sleeper);
    let failure: unknown;
    try {
      trace({ openssl_pid: [[sleeper.pid!]] });
    } catch (err) {
      failure = err;
    }
    expect(failure).toBeInstanceOf(TraceStartError);
    expect((failure as Error).message).toBe(`trace_openssl: no OpenSSL library (libssl) to put uprobes in: none is mapped by process ${sleeper.pid}`);
    // Nothing stayed attached.
    expect(ourUprobes()).toEqual([]);

    const t = trace({ openssl_pid: [[sleeper.pid!, server.pid]] });
    expect(t.warnings).toEqual([`trace_openssl: no OpenSSL library (libssl) in process ${sleeper.pid} (not running, or not using it): not traced there`]);
  });
});

describe('trace_openssl keys', () => {
  const key = (name: string) => trace_openssl.keys!.find((k) => k.name === name)!;

  it('openssl_pid and openssl_comm take lists and refuse what is not one; more filters than the kernel holds is an error', () => {
    expect(key('openssl_pid').parse('12, 34 56')).toEqual([12, 34, 56]);
    expect(() => key('openssl_pid').parse('12 abc')).toThrow(/^openssl_pid: 'abc' is not a pid/);
    expect(key('openssl_comm').parse('nginx, my app')).toEqual(['nginx', 'my app']);
    expect(() => key('openssl_comm').parse(' , ')).toThrow(/^openssl_comm needs at least one command name/);
    expect(() => trace({ openssl_pid: [Array.from({ length: 1025 }, (_, i) => i + 1)] })).toThrow(/pid: 1025 items given in all, at most 1024/);
  });
});
