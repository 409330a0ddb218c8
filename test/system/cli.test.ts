// The command line as a user meets it: help, version, --dry-run, and one
// clear message (no stack trace) for each kind of bad input.
import { spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Lifecycle } from '../../src/lifecycle.js';
import { createLogger } from '../../src/log.js';
import { cliPath, runCli, startCli, waitFor, writeConfig } from '../support/cli.js';

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
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, cliPath, '-c', conf], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('ebpf-forward: root is needed (or CAP_BPF and CAP_PERFMON; uprobe traces and mounting tracefs also need CAP_SYS_ADMIN) to load BPF programs, and this runs as uid 65534: run it with sudo\n');
  });

  it('-c of a FIFO or of /dev/zero: one line and exit 1, not a hang or a read without end', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ebpf-forward-fifo-'));
    const fifo = join(dir, 'conf');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    for (const [path, kind] of [[fifo, 'a FIFO'], ['/dev/zero', 'a character device']] as const) {
      const r = spawnSync(process.execPath, [cliPath, '-c', path, '--dry-run'], { encoding: 'utf8', timeout: 20_000 });
      expect(r.signal, `${path} still being read after 20 s`).toBeNull();
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(`ebpf-forward: ${path}: cannot read the configuration file: it is ${kind}, not a regular file\n`);
    }
  });

  it('--dry-run warns loudly of a config others can write, and still checks it', async () => {
    const path = writeConfig(good);
    chmodSync(path, 0o666);
    const r = await runCli(['-c', path, '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`ebpf-forward: warning: ${path}: WARNING: it is writable by anyone (mode 0666), so others than root can change what is traced and where every record goes (command lines included): make it root's and not writable by group or others (chown root; chmod go-w)\n`);
  });

  it('a Tag from an environment variable that is not UTF-8 is an error at its line', () => {
    const path = writeConfig(good.replace('Tag    host.ebpf', 'Tag    ${EBPF_TAG}'));
    const r = spawnSync('bash', ['-c', `EBPF_TAG=$'host.\\xff' exec "$0" "$1" -c "$2" --dry-run`, process.execPath, cliPath, path], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`ebpf-forward: ${path}:9: \${EBPF_TAG}: the environment variable is not valid UTF-8\n`);
  });

  it('without an [OUTPUT], prints records to stdout as JSON lines', async () => {
    const cli = startCli(['-c', writeConfig(`[INPUT]
    Name  ebpf
    Trace trace_signal
`)]);
    await cli.waitForLog(/tracing trace_signal/);
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

// The Lifecycle the CLI runs, with the process's signals and stdout given
// as emitters: the one case the real CLI can't be put in on demand is a
// start-up that never finishes.
describe('Lifecycle: how a run ends', () => {
  function setUp(graceSeconds = 0.05) {
    const signals = new EventEmitter();
    const stdout = new EventEmitter();
    const exits: number[] = [];
    const lines: string[] = [];
    const log = createLogger('info', { write: (line) => lines.push(line) });
    const lifecycle = new Lifecycle({ signals, stdout, log: () => log, exit: (code) => exits.push(code) });
    lifecycle.graceSeconds = graceSeconds;
    return { signals, stdout, exits, lines, lifecycle };
  }
  const stoppable = () => {
    const app = { stops: 0, stop: async () => void app.stops++ };
    return app;
  };

  it('SIGTERM while start-up is stuck: given up once Grace is over, exit 1, one error line', async () => {
    const { signals, exits, lines, lifecycle } = setUp();
    void lifecycle.start(() => new Promise(() => {}));
    signals.emit('SIGTERM', 'SIGTERM');
    await waitFor(() => exits[0]);
    expect(exits).toEqual([1]);
    expect(lines).toEqual([expect.stringMatching(/\[error\] start-up did not finish within Grace \(0\.05s\) of SIGTERM: exiting \(the kernel detaches what was attached\)\n$/)]);
  });

  it('SIGHUP while start-up finishes: the started app is stopped as for SIGTERM, exit 0', async () => {
    const { signals, exits, lines, lifecycle } = setUp(60);
    const app = stoppable();
    let started!: () => void;
    const starting = lifecycle.start(() => new Promise((resolve) => (started = () => resolve(app))));
    signals.emit('SIGHUP', 'SIGHUP');
    started();
    await starting;
    await waitFor(() => exits[0]);
    expect([app.stops, exits]).toEqual([1, [0]]);
    expect(lines.join('')).toMatch(/\[ info\] SIGHUP \(Hot_Reload is off: no reload\): stopping \(Grace 60s\)\n$/);
  });

  it('with hot reload, SIGHUP reloads instead (one at a time: another while one runs is "in progress"), and the count goes up only for a reload done', async () => {
    const { signals, exits, lines, lifecycle } = setUp();
    const app = stoppable();
    let finish!: (done: boolean) => void;
    const sources: string[] = [];
    lifecycle.hotReload = true;
    lifecycle.reloader = (source) => {
      sources.push(source);
      return new Promise((resolve) => (finish = resolve));
    };
    await lifecycle.start(async () => app);
    signals.emit('SIGHUP', 'SIGHUP');
    expect(sources).toEqual(['SIGHUP']);
    expect(lifecycle.reloadControl.request('POST /api/v2/reload')).toEqual({ answer: 'in progress' });
    signals.emit('SIGHUP', 'SIGHUP');
    expect(sources).toEqual(['SIGHUP']);
    expect(lines.join('')).toMatch(/\[ warn\] SIGHUP: a reload is in progress \(or start-up is\): ignored\n$/);
    finish(true);
    await waitFor(() => (lifecycle.reloadControl.count() === 1 ? true : undefined));
    const { answer, run } = lifecycle.reloadControl.request('PUT /api/v2/reload');
    expect(answer).toBe('done');
    run!();
    expect(sources).toEqual(['SIGHUP', 'PUT /api/v2/reload']);
    finish(false); // refused: not counted
    await new Promise((r) => setTimeout(r, 10));
    expect(lifecycle.reloadControl.count()).toBe(1);
    expect([app.stops, exits]).toEqual([0, []]);
    // Turned off by a reload: SIGHUP stops again, and POST says so.
    lifecycle.hotReload = false;
    expect(lifecycle.reloadControl.request('POST /api/v2/reload')).toEqual({ answer: 'not enabled' });
    signals.emit('SIGHUP', 'SIGHUP');
    await waitFor(() => exits[0]);
    expect([app.stops, exits]).toEqual([1, [0]]);
  });

  it('stdout errors (EPIPE, once per write) stop a running app once; a second signal exits at once with 1', async () => {
    const { signals, stdout, exits, lines, lifecycle } = setUp();
    const app = { stops: 0, stop: () => new Promise<void>(() => void app.stops++) }; // still delivering
    stdout.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })); // before start: nothing to stop
    expect(exits).toEqual([]);
    await lifecycle.start(async () => app);
    for (let i = 0; i < 3; i++) stdout.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    expect(app.stops).toBe(1);
    expect(lines.join('')).toMatch(/stdout closed \(EPIPE\): stopping/);
    signals.emit('SIGTERM', 'SIGTERM');
    expect(exits).toEqual([]);
    signals.emit('SIGINT', 'SIGINT');
    expect(exits).toEqual([1]);
  });
});
