// Hot reload as an operator uses it, on a CLI tracing kill(2) calls that a
// generator makes at 10,000 a second: SIGHUP, POST and PUT /api/v2/reload
// from one config to another and back, bad configs refused at their
// file:line while records keep flowing, and every call counted at the
// receivers (none missing, none twice) while the input stays; capabilities
// effective in no thread outside a reload.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { repoRoot, startCli, type RunningCli } from '../../support/cli.js';
import { startReceivers, type Receivers } from '../../support/receiver.js';
import { SEQUENCE_BASE, startGenerator, tally, type Tally } from './load.js';
import { freePort } from '../../support/free-port.js';

const RATE = 10_000;

/**
 * The real BPF objects, but trace_bind's built with its bind_enter on a
 * tracepoint no kernel has: a trace that passes every config check and
 * can't attach (as test/system/e2e/attach-failure.test.ts makes it).
 */
function objectsWithUnattachableBind(): string {
  const real = join(repoRoot, 'bpf', '.output');
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-forward-reload-bpf-'));
  for (const name of readdirSync(real).filter((f) => f.endsWith('.bpf.o') && f !== 'bind.bpf.o')) symlinkSync(join(real, name), join(dir, name));
  const src = join(dir, 'bind.bpf.c');
  writeFileSync(src, '#include "common.bpf.h"\n#include "bind.h"\nRECORD_TYPE(bind_event);\nSEC("tracepoint/syscalls/sys_enter_no_such_call")\nint bind_enter(void *ctx) { return is_self(); }\nSEC("tracepoint/syscalls/sys_exit_bind")\nint bind_exit(void *ctx) { return is_self(); }\n');
  const arch = { x64: 'x86', arm64: 'arm64' }[process.arch as string] ?? process.arch;
  execFileSync('clang', ['-g', '-O2', '-target', 'bpf', `-D__TARGET_ARCH_${arch}`, '-I', real, '-I', join(repoRoot, 'bpf'), '-I', join(repoRoot, 'src', 'traces', 'bind'), '-c', src, '-o', join(dir, 'bind.bpf.o')]);
  return dir;
}

async function until<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Each thread's capability sets, from /proc/<pid>/task/<tid>/status. */
function threadCapabilities(pid: number): { tid: string; eff: string; prm: string }[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
    try {
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      const field = (k: string) => new RegExp(`^${k}:\\s*(\\S+)$`, 'm').exec(status)![1]!;
      return [{ tid, eff: field('CapEff'), prm: field('CapPrm') }];
    } catch {
      return [];
    }
  });
}
/** CAP_SYS_PTRACE, CAP_SYS_ADMIN, CAP_PERFMON, CAP_BPF: what a reload raises. */
const RELOAD_PERMITTED = '000000c000280000';

/** Drives a running CLI's reloads: writes the config, triggers, waits for the outcome line. */
class Reloads {
  constructor(
    private readonly cli: RunningCli,
    private readonly path: string,
    private readonly httpPort: number,
  ) {}

  private outcomes(): string[] {
    return this.cli.stderr().split('\n').filter((l) => /reload (done|refused)/.test(l));
  }

  /** Writes `text`, triggers a reload by `how`, and resolves with its outcome line. */
  async to(text: string, how: 'SIGHUP' | 'POST' | 'PUT'): Promise<string> {
    writeFileSync(this.path, text);
    const before = this.outcomes().length;
    if (how === 'SIGHUP') {
      this.cli.process.kill('SIGHUP');
    } else {
      const res = await fetch(`http://127.0.0.1:${this.httpPort}/api/v2/reload`, { method: how, body: '{}' });
      expect({ status: res.status, body: await res.json() }).toEqual({ status: 200, body: { reload: 'done', status: 0 } });
    }
    return until(`the outcome of reload ${before + 1}`, () => this.outcomes()[before]);
  }
}

const serviceSection = (httpPort: number) => `[SERVICE]
    Flush        0.2
    Hot_Reload   On
    HTTP_Server  On
    HTTP_Listen  127.0.0.1
    HTTP_Port    ${httpPort}
`;
const inputSection = (tag = 'load', ringbufSize = '64M') => `[INPUT]
    Name          ebpf
    Trace         trace_signal
    Tag           ${tag}
    ringbuf_size  ${ringbufSize}
`;
const outputSection = (port: number, extra = '') => `[OUTPUT]
    Name   forward
    Match  *
    Host   127.0.0.1
    Port   ${port}
${extra}`;

/** The generator's records at both receivers, counted. */
function counted(receivers: Receivers[], pid: number, offered: number): Tally {
  return tally(receivers.flatMap((r) => r.wire.map((e) => e.record)), pid, offered);
}

let cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function setUp(): Promise<{ r1: Receivers; r2: Receivers; httpPort: number; path: string }> {
  const r1 = await startReceivers();
  const r2 = await startReceivers();
  cleanup.push(() => r1.close(), () => r2.close());
  const httpPort = await freePort();
  const path = join(mkdtempSync(join(tmpdir(), 'ebpf-forward-reload-')), 'ebpf-forward.conf');
  return { r1, r2, httpPort, path };
}

function run(args: string[], env: NodeJS.ProcessEnv = {}): RunningCli {
  const cli = startCli(args, env);
  cleanup.push(() => cli.stop());
  return cli;
}

describe('reload under 10,000 events/s', () => {
  it('keeps the input running while the output changes, refuses bad configs at file:line: every event received exactly once', async () => {
    const { r1, r2, httpPort, path } = await setUp();
    const configTo = (port: number, more = '') => serviceSection(httpPort) + inputSection() + more + outputSection(port);
    writeFileSync(path, configTo(r1.port));
    const cli = run(['-c', path], { EBPF_FORWARD_BPF_DIR: objectsWithUnattachableBind() });
    await cli.waitForLog(/privileges dropped/);
    const reloads = new Reloads(cli, path, httpPort);

    const offered = 10 * RATE;
    const generator = await startGenerator(offered, RATE);
    await sleep(500);
    // Good ones: the output switches receivers; the input is the same in all.
    const kept = /reload done: 1 of 1 inputs and 0 of 1 outputs kept running; 0 inputs and 1 outputs started, 0 and 1 stopped/;
    expect(await reloads.to(configTo(r2.port), 'SIGHUP')).toMatch(kept);
    await sleep(500);
    // Bad ones: refused at the line a start would name, the pipeline untouched.
    const lines = configTo(r1.port).split('\n');
    const refused = async (text: string, line: number, problem: RegExp) => {
      const outcome = await reloads.to(text, 'SIGHUP');
      expect(outcome).toContain(`SIGHUP: reload refused: ${path}:${line}: `);
      expect(outcome).toMatch(problem);
      expect(outcome).toMatch(/; the running pipeline is unchanged$/);
    };
    await refused(configTo(r1.port).replace('[INPUT]', '[INPUT'), lines.indexOf('[INPUT]') + 1, /\[INPUT/);
    await refused(configTo(r1.port).replace('    Tag           load\n', '    Tag           load\n    Nonsense      1\n'), lines.indexOf('    Tag           load') + 2, /unknown key "?Nonsense"?/);
    await refused(configTo(r1.port).replace('Trace         trace_signal', 'Trace         trace_nope'), lines.indexOf('    Trace         trace_signal') + 1, /unknown trace "?trace_nope"?/);
    const tls = configTo(r1.port) + '    tls         on\n    tls.ca_file /nonexistent/ebpf-forward-ca.pem\n';
    await refused(tls, tls.split('\n').indexOf('    tls.ca_file /nonexistent/ebpf-forward-ca.pem') + 1, /ebpf-forward-ca\.pem/);
    // A trace that can't attach: refused, the new input undone, ebpf.0 untouched.
    const bind = '[INPUT]\n    Name   ebpf\n    Trace  trace_bind\n    Tag    bind\n';
    const withBind = configTo(r2.port, bind);
    const unattachable = await reloads.to(withBind, 'SIGHUP');
    expect(unattachable).toContain(`SIGHUP: reload refused: ${path}:${withBind.split('\n').indexOf('    Trace  trace_bind') + 1}: trace_bind: can't attach bind_enter: `);
    expect(unattachable).toMatch(/\(the reload is refused\).*; the running pipeline is unchanged$/);
    // The same with ebpf.0 changed too (another Tag): its trace, taken over by the new
    // ebpf.0 as it ran, is taken back as it runs (no event missed: the counts below).
    const takenBack = await reloads.to(withBind.replace('    Tag           load\n', '    Tag           load.x\n'), 'SIGHUP');
    expect(takenBack).toMatch(/trace_bind: can't attach bind_enter: .*\(the reload is refused\).*; the running pipeline is unchanged$/);
    expect(cli.stderr().match(/trace_signal kept running \(taken over from ebpf\.0\)/g)).toHaveLength(2);
    expect(await reloads.to(configTo(r1.port), 'POST')).toMatch(kept);
    await sleep(500);
    expect(await reloads.to(configTo(r2.port), 'PUT')).toMatch(kept);
    await sleep(500);
    expect(await reloads.to(configTo(r1.port), 'SIGHUP')).toMatch(kept);
    expect(threadCapabilities(cli.process.pid!).filter((t) => t.eff !== '0000000000000000' || t.prm !== RELOAD_PERMITTED)).toEqual([]);

    expect(await generator.done).toBe(offered);
    const reloadCount = await (await fetch(`http://127.0.0.1:${httpPort}/api/v2/reload`)).json();
    expect(reloadCount).toEqual({ hot_reload_count: 4 });
    const prometheus = await (await fetch(`http://127.0.0.1:${httpPort}/api/v2/metrics/prometheus`)).text();
    expect(prometheus).toMatch(/^fluentbit_hot_reloaded_times\{hostname="[^"]+"\} 4$/m);
    await until('every record at the receivers', () => (counted([r1, r2], generator.pid, offered).received >= offered ? true : undefined), 30_000);
    expect(await cli.stop()).toBe(0);
    const lost = Number(/ebpf\.0 trace_signal: \d+ records, (\d+) lost in the kernel/.exec(cli.stderr())?.[1]);

    const counts = counted([r1, r2], generator.pid, offered);
    console.log(`reload, input kept: offered ${counts.offered}, received ${counts.received}, duplicates ${counts.duplicates}, missing ${counts.missing}, lost in the kernel ${lost}; at receiver 1 ${counted([r1], generator.pid, offered).received}, at receiver 2 ${counted([r2], generator.pid, offered).received}`);
    expect({ ...counts, lost }).toEqual({ offered, received: offered, duplicates: 0, missing: 0, lost: 0 });
    // Both receivers took part, and a kept input's event ids never repeat.
    expect(counted([r1], generator.pid, offered).received).toBeGreaterThan(0);
    expect(counted([r2], generator.pid, offered).received).toBeGreaterThan(0);
    const ids = [r1, r2].flatMap((r) => r.wire.filter((e) => e.record.pid === generator.pid && (e.record.tpid as number) >= SEQUENCE_BASE).map((e) => e.eventId));
    expect(new Set(ids).size).toBe(offered);
    // Only the configs that ran tagged records: the refused one's Tag never did.
    expect(new Set([r1, r2].flatMap((r) => r.wire.filter((e) => e.record.pid === generator.pid).map((e) => e.tag)))).toEqual(new Set(['load']));
  }, 90_000);

  /**
   * Runs the generator (50,000 calls at 10,000/s) while the input's Tag
   * switches load → load.b → load → load.b (SIGHUP, POST, SIGHUP), with
   * `ringbufSize(tag)`; the CLI stopped after. What the receiver got, counted.
   */
  async function changeTheInputThreeTimes(ringbufSize: (tag: string) => string) {
    const { r1, httpPort, path } = await setUp();
    const configWith = (tag: string) => serviceSection(httpPort) + inputSection(tag, ringbufSize(tag)) + outputSection(r1.port);
    writeFileSync(path, configWith('load'));
    const cli = run(['-c', path]);
    await cli.waitForLog(/tracing trace_signal/);
    const reloads = new Reloads(cli, path, httpPort);
    const offered = 5 * RATE;
    const generator = await startGenerator(offered, RATE);
    const replaced = /reload done: 0 of 1 inputs and 1 of 1 outputs kept running; 1 inputs and 0 outputs started, 1 and 0 stopped/;
    for (const [tag, how] of [['load.b', 'SIGHUP'], ['load', 'POST'], ['load.b', 'SIGHUP']] as const) {
      await sleep(700);
      expect(await reloads.to(configWith(tag), how)).toMatch(replaced);
      expect(threadCapabilities(cli.process.pid!).filter((t) => t.eff !== '0000000000000000' || t.prm !== RELOAD_PERMITTED)).toEqual([]);
    }
    expect(await generator.done).toBe(offered);
    await sleep(1000);
    expect(await cli.stop()).toBe(0);
    const tags = new Set(r1.wire.filter((e) => e.record.pid === generator.pid).map((e) => e.tag));
    expect([...tags].sort()).toEqual(['load', 'load.b']);
    // Every trace's shutdown line (replaced ones at their reload) says nothing was lost in the kernel.
    const totals = cli.stderr().split('\n').filter((l) => /ebpf\.0 trace_signal: \d+ records/.test(l));
    for (const line of totals) expect(line).toMatch(/, 0 lost in the kernel$/);
    return { counts: counted([r1], generator.pid, offered), offered, stderr: cli.stderr(), totals };
  }

  it('a changed input whose trace is the same (another Tag): the trace is taken over as it runs, every event once, none missed', async () => {
    const { counts, offered, stderr, totals } = await changeTheInputThreeTimes(() => '64M');
    console.log(`reload, input changed around its trace 3 times: offered ${counts.offered}, received ${counts.received}, duplicates ${counts.duplicates}, missing ${counts.missing}`);
    expect(counts).toMatchObject({ received: offered, duplicates: 0, missing: 0 });
    expect(stderr.match(/trace_signal kept running \(taken over from ebpf\.0\)/g)).toHaveLength(3);
    // One session all along: one shutdown line, counting every record.
    expect(totals).toHaveLength(1);
  }, 60_000);

  it('replaces a changed trace (another ringbuf_size): the old one detached before the new one attaches, so no event twice; capabilities raised only while attaching', async () => {
    const { counts, offered, stderr, totals } = await changeTheInputThreeTimes((tag) => (tag === 'load' ? '64M' : '32M'));
    console.log(`reload, input replaced 3 times: offered ${counts.offered}, received ${counts.received}, duplicates ${counts.duplicates}, not traced while switching ${counts.missing}`);
    expect(counts.duplicates).toBe(0);
    expect(counts.received).toBe(offered - counts.missing);
    expect(stderr).not.toMatch(/trace_signal kept running/);
    expect(totals).toHaveLength(4);
  }, 60_000);
});

describe('reload requests', () => {
  it('a pipeline given on the command line only: the reload is refused in one line, the run goes on', async () => {
    const { r1 } = await setUp();
    const cli = run(['-Y', '-i', 'ebpf', '-p', 'trace=trace_signal', '-o', 'forward', '-p', 'host=127.0.0.1', '-p', `port=${r1.port}`, '-m', '*']);
    await cli.waitForLog(/tracing trace_signal/);
    cli.process.kill('SIGHUP');
    await cli.waitForLog(/reload refused/);
    expect(cli.stderr()).toMatch(/\[error\] SIGHUP: reload refused: the pipeline was given on the command line only \(-i\/-o, no -c FILE\): there is no file to read again; the running pipeline is unchanged\n/);
    expect(cli.process.exitCode).toBe(null);
    expect(await cli.stop()).toBe(0);
  });

  it('service keys: a new HTTP_Port moves the server, Log_Level applies, and Hot_Reload Off gives up what reloading kept, so SIGHUP then stops', async () => {
    const { r1, httpPort, path } = await setUp();
    const other = await freePort();
    const config = (port: number, more: string) => serviceSection(port) + more + inputSection() + outputSection(r1.port);
    writeFileSync(path, config(httpPort, ''));
    const cli = run(['-c', path]);
    await cli.waitForLog(/privileges dropped/);
    const reloads = new Reloads(cli, path, httpPort);
    expect(await reloads.to(config(other, '    Log_Level    warn\n'), 'POST')).toMatch(/kept running; .*; HTTP server restarted$/);
    expect(await (await fetch(`http://127.0.0.1:${other}/api/v2/reload`)).json()).toEqual({ hot_reload_count: 1 });
    await expect(fetch(`http://127.0.0.1:${httpPort}/`)).rejects.toThrow();
    // At warn, a refused reload is its error line alone (no "reloading" info line before it).
    const atOther = new Reloads(cli, path, other);
    const linesBefore = cli.stderr().split('\n').length;
    expect(await atOther.to(config(other, '    Nonsense     1\n'), 'SIGHUP')).toMatch(/\[error\] SIGHUP: reload refused: .*:7: unknown key/);
    expect(cli.stderr().split('\n').slice(linesBefore - 1).filter((l) => l.includes('[ info]'))).toEqual([]);
    // Hot_Reload Off (and Log_Level info again): what reloading kept is given up.
    writeFileSync(path, config(other, '').replace('Hot_Reload   On', 'Hot_Reload   Off'));
    cli.process.kill('SIGHUP');
    await cli.waitForLog(/Hot_Reload is off now: privileges dropped in all \d+ threads: no capabilities left/);
    expect(threadCapabilities(cli.process.pid!).filter((t) => t.eff !== '0000000000000000' || t.prm !== '0000000000000000')).toEqual([]);
    expect(await (await fetch(`http://127.0.0.1:${other}/api/v2/reload`, { method: 'POST' })).json()).toEqual({ reload: 'not enabled', status: -1 });
    expect(await cli.stop('SIGHUP')).toBe(0);
    expect(cli.stderr()).toMatch(/SIGHUP \(Hot_Reload is off: no reload\): stopping/);
  });

  it('without Hot_Reload: POST answers "not enabled", GET the count, other methods 400, and SIGHUP stops with exit 0', async () => {
    const { r1, httpPort, path } = await setUp();
    writeFileSync(path, serviceSection(httpPort).replace('Hot_Reload   On', 'Hot_Reload   Off') + inputSection() + outputSection(r1.port));
    const cli = run(['-c', path]);
    await cli.waitForLog(/privileges dropped in all \d+ threads: no capabilities left/);
    const url = `http://127.0.0.1:${httpPort}/api/v2/reload`;
    const post = await fetch(url, { method: 'POST' });
    expect({ status: post.status, type: post.headers.get('content-type'), body: await post.json() }).toEqual({ status: 200, type: 'application/json', body: { reload: 'not enabled', status: -1 } });
    const get = await fetch(url);
    expect({ status: get.status, body: await get.json() }).toEqual({ status: 200, body: { hot_reload_count: 0 } });
    expect((await fetch(url, { method: 'DELETE' })).status).toBe(400);
    expect(await cli.stop('SIGHUP')).toBe(0);
    expect(cli.stderr()).toMatch(/SIGHUP \(Hot_Reload is off: no reload\): stopping \(Grace 5s\)\n[^]*ebpf\.0 trace_signal: \d+ records, 0 lost in the kernel/);
    expect(cli.stderr()).not.toMatch(/reloading/);
  });
});
