// What an operator can rely on with ebpf-forward running as root beside
// everything it traces (README "Security"): no signal opens a debugger,
// SIGHUP and a closed stdout end the run as SIGTERM does, and once attached
// it holds no capability in any thread, yet still reads its loss counters,
// writes its spool and detaches everything.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capabilitiesToKeep } from '../../../src/privileges.js';
import { expectNothingLoadedBy } from '../../support/bpf-loaded.js';
import { startCli, waitFor, writeConfig } from '../../support/cli.js';
import { startReceivers, type Receivers } from '../../support/receiver.js';

const signalInput = `[INPUT]
    Name   ebpf
    Trace  trace_signal
`;

const noStack = /\n\s+at .+:\d+:\d+/;

/** A kill(pid, 0) from a child: one trace_signal record with comm "kill" and tpid = this process. */
const probe = () => expect(spawnSync('/bin/kill', ['-0', String(process.pid)]).status).toBe(0);

/** TCP sockets in LISTEN that belong to `pid` (by the socket inodes among its fds), as "address:port" in hex. */
function listeningSocketsOf(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  return ['tcp', 'tcp6'].flatMap((table) =>
    readFileSync(`/proc/${pid}/net/${table}`, 'utf8')
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((f) => f[3] === '0A' && inodes.has(f[9]!))
      .map((f) => f[1]!),
  );
}

describe("SIGUSR1 does not open Node's inspector", () => {
  it('nothing listens after it, the run goes on, and SIGTERM still stops it cleanly', async () => {
    const cli = startCli(['-c', writeConfig(signalInput)]);
    await cli.waitForLog(/tracing trace_signal\n/);
    const pid = cli.process.pid!;
    expect(listeningSocketsOf(pid)).toEqual([]);
    cli.process.kill('SIGUSR1');
    // Node prints "Debugger listening on ws://127.0.0.1:9229/..." once its inspector is open.
    await cli.waitForLog(/SIGUSR1 ignored|Debugger listening/);
    expect(listeningSocketsOf(pid)).toEqual([]);
    probe();
    await waitFor(() => (cli.stdout().includes('"comm":"kill"') ? true : undefined), 10_000, 'a record after SIGUSR1');
    expect(await cli.stop('SIGTERM')).toBe(0);
    expect(cli.stderr()).not.toMatch(/Debugger listening/);
    expect(cli.stderr()).toMatch(/\[ warn\] SIGUSR1 ignored: ebpf-forward never opens Node's inspector\n/);
    await expectNothingLoadedBy(pid);
  });
});

describe('SIGHUP without Hot_Reload stops cleanly, as SIGTERM does', () => {
  let receivers: Receivers;
  beforeAll(async () => {
    receivers = await startReceivers();
  });
  afterAll(() => receivers.close());

  it('what is buffered is delivered, then exit 0 with the summary, nothing left loaded', async () => {
    const cli = startCli(['-c', writeConfig(`[SERVICE]
    Flush  60
${signalInput}
[OUTPUT]
    Name   forward
    Match  *
    Host   127.0.0.1
    Port   ${receivers.port}
`)]);
    await cli.waitForLog(/tracing trace_signal\n/);
    const child = spawnSync('/bin/kill', ['-0', String(process.pid)]);
    expect(child.status).toBe(0);
    const code = await cli.stop('SIGHUP');
    expect(code, cli.stderr()).toBe(0);
    expect(cli.stderr()).toMatch(/SIGHUP \(Hot_Reload is off: no reload\): stopping \(Grace 5s\)\n[^]*ebpf\.0 trace_signal: \d+ records, 0 lost in the kernel/);
    expect(receivers.wire.some((e) => e.record.comm === 'kill' && e.record.tpid === process.pid)).toBe(true);
    await expectNothingLoadedBy(cli.process.pid!);
  });
});

describe('a closed stdout (ebpf-forward -c conf | head -2) ends the run as SIGTERM does', () => {
  it('records printed until then, a line saying why on stderr, the summary, exit 0, no stack trace, nothing left loaded', async () => {
    const cli = startCli(['-c', writeConfig(signalInput)]);
    await cli.waitForLog(/tracing trace_signal\n/);
    const lines = () => cli.stdout().split('\n').length - 1;
    while (lines() < 2) {
      probe();
      await new Promise((r) => setTimeout(r, 20));
    }
    cli.process.stdout!.destroy(); // as head does once it has its lines
    const exited = cli.exited;
    let done = false;
    void exited.then(() => (done = true));
    while (!done) {
      probe(); // records to print into the closed pipe
      await new Promise((r) => setTimeout(r, 50));
    }
    const code = await exited;
    expect(code, cli.stderr()).toBe(0);
    expect(cli.stderr()).toMatch(/\[ info\] stdout closed \(EPIPE\): stopping \(Grace 5s\)\n[^]*\[ info\] ebpf\.0 trace_signal: \d+ records, 0 lost in the kernel\n/);
    expect(cli.stderr()).not.toMatch(noStack);
    expect(cli.stderr()).not.toMatch(/\[error\]/);
    await expectNothingLoadedBy(cli.process.pid!);
  });
});

describe('privileges once attached', () => {
  it('every thread: no capability (effective, permitted, inheritable, ambient, bounding), no_new_privs; loss counters read, spool written, all detached', async () => {
    // A port nobody listens on: every batch fails and is spooled at shutdown.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    const storage = mkdtempSync(join(tmpdir(), 'ebpf-forward-spool-'));
    const cli = startCli(['-c', writeConfig(`[SERVICE]
    Grace         1
    storage.path  ${storage}
${signalInput}
[OUTPUT]
    Name   forward
    Match  *
    Host   127.0.0.1
    Port   ${port}
    Retry_Limit  no_limits
`)]);
    await cli.waitForLog(/privileges dropped in all \d+ threads: no capabilities left, no_new_privs set\n/);
    const pid = cli.process.pid!;
    const tasks = readdirSync(`/proc/${pid}/task`);
    expect(tasks.length).toBeGreaterThan(1); // Node's threads too, not only the main one
    for (const tid of tasks) {
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      const fields = Object.fromEntries(['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs'].map((k) => [k, new RegExp(`^${k}:\\s*(\\S+)$`, 'm').exec(status)?.[1]]));
      expect(fields, `thread ${tid}`).toEqual({ CapInh: '0000000000000000', CapPrm: '0000000000000000', CapEff: '0000000000000000', CapBnd: '0000000000000000', CapAmb: '0000000000000000', NoNewPrivs: '1' });
    }
    expect(readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/^Uid:\s+0\s+0\s+0\s+0$/m); // still root's files (the spool)
    for (let i = 0; i < 3; i++) probe();
    const code = await cli.stop('SIGTERM');
    expect(code, cli.stderr()).toBe(0);
    // The shutdown line reads the per-CPU loss counters with the bpf system call.
    expect(cli.stderr()).toMatch(/ebpf\.0 trace_signal: [1-9]\d* records, 0 lost in the kernel\n/);
    const spooled = readdirSync(storage, { recursive: true }).filter((f) => String(f).endsWith('.chunk'));
    expect(spooled.length, cli.stderr()).toBeGreaterThan(0);
    expect(cli.stderr()).not.toMatch(/EACCES|EPERM|operation not permitted/i);
    await expectNothingLoadedBy(pid);
  });
});

describe('what the loss counters need after the drop, by kernel', () => {
  it('nothing from Linux 5.19 (unprivileged_bpf_disabled guards only map and program creation) or with it off; CAP_BPF before, CAP_SYS_ADMIN before CAP_BPF existed', () => {
    expect(capabilitiesToKeep({ release: '6.18.0', unprivilegedBpfDisabled: 2, lastCapability: 40 })).toEqual({ caps: [] });
    expect(capabilitiesToKeep({ release: '5.19.0-1-amd64', unprivilegedBpfDisabled: 2, lastCapability: 40 })).toEqual({ caps: [] });
    expect(capabilitiesToKeep({ release: '5.15.0-91-generic', unprivilegedBpfDisabled: 0, lastCapability: 40 })).toEqual({ caps: [] });
    expect(capabilitiesToKeep({ release: '5.15.0-91-generic', unprivilegedBpfDisabled: 2, lastCapability: 40 })).toEqual({
      caps: [39],
      why: 'CAP_BPF kept: Linux 5.15.0-91-generic with kernel.unprivileged_bpf_disabled=2 needs it to read the loss counters',
    });
    expect(capabilitiesToKeep({ release: '5.4.0', unprivilegedBpfDisabled: 1, lastCapability: 37 }).caps).toEqual([21]);
  });
});
