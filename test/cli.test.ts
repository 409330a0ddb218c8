// The command line as a user meets it: help, version, --dry-run, and one
// clear message (no stack trace) for each kind of bad input.
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliPath, runCli, startCli, writeConfig } from './support/cli.js';

const good = `[SERVICE]
    Flush      1
    Log_Level  info

[INPUT]
    Name   ebpf
    Trace  trace_signal
    Trace  trace_exec
    Tag    host.ebpf

[OUTPUT]
    Name   forward
    Match  *
    Host   127.0.0.1
    Port   24224
`;

function expectNoStack(text: string) {
  expect(text).not.toMatch(/\n\s+at .+:\d+:\d+/);
}

describe('ebpf-forward CLI', () => {
  it('--help and --version', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/-c, --config FILE/);
    expect(help.stdout).toMatch(/trace_signal/);
    const version = await runCli(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^ebpf-forward v\d+\.\d+\.\d+\n$/);
  });

  it('--dry-run accepts a valid config and attaches nothing', async () => {
    const r = await runCli(['-c', writeConfig(good), '--dry-run']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/configuration test is successful/);
  });

  it('--dry-run on a broken config prints file:line and exits 1', async () => {
    const path = writeConfig(good.replace('Trace  trace_exec', 'Trace  trace_nope'));
    const r = await runCli(['-c', path, '--dry-run']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^ebpf-forward: ${path.replace(/[.]/g, '\\.')}:8: `));
    expect(r.stderr).toMatch(/trace_nope/);
    expect(r.stderr).toMatch(/trace_signal/); // lists the valid traces
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expectNoStack(r.stderr);
  });

  it('an unknown key is an error, not ignored', async () => {
    const path = writeConfig(good.replace('    Port   24224', '    Port   24224\n    Prot   1'));
    const r = await runCli(['-c', path, '--dry-run']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/:16: unknown key "Prot"/);
  });

  it('a missing config file, a missing -c and an unknown flag are one line each', async () => {
    const missing = await runCli(['-c', '/nonexistent/ebpf.conf']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^ebpf-forward: .*\/nonexistent\/ebpf\.conf/);
    expectNoStack(missing.stderr);
    const none = await runCli([]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^ebpf-forward: no configuration file: use -c FILE/);
    const flag = await runCli(['--frobnicate']);
    expect(flag.code).toBe(1);
    expect(flag.stderr).toMatch(/^ebpf-forward: .*frobnicate/);
    expectNoStack(flag.stderr);
  });

  it('without privileges: one clear message, exit 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ebpf-forward-nobody-'));
    chmodSync(dir, 0o755);
    const conf = join(dir, 'a.conf');
    writeFileSync(conf, good);
    chmodSync(conf, 0o644);
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, cliPath, '-c', conf], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^ebpf-forward: ebpf-forward needs root/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('without an [OUTPUT], prints records to stdout as JSON lines', async () => {
    const cli = startCli(['-c', writeConfig(`[INPUT]
    Name  ebpf
    Trace trace_signal
`)]);
    await cli.waitForLog(/tracing trace_signal/);
    const { spawnSync } = await import('node:child_process');
    const kill = spawnSync('/bin/kill', ['-0', String(process.pid)]);
    expect(kill.status).toBe(0);
    const deadline = Date.now() + 5000;
    while (!cli.stdout().includes('"comm":"kill"') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await cli.stop('SIGINT')).toBe(0);
    const line = cli.stdout().split('\n').find((l) => l.includes('"comm":"kill"') && l.includes(`"tpid":${process.pid}`));
    expect(line).toBeDefined();
    const record = JSON.parse(line!);
    expect(record).toMatchObject({ event_type: 'signal', comm: 'kill', signal: 0, tpid: process.pid, error_raw: 0 });
    expect(typeof record.date).toBe('number');
    expect(Object.keys(record)[0]).toBe('date');
  });
});
