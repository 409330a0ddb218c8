// Command-line pipelines as Fluent Bit takes them (-i/-o, -p for the plugin
// named last, -t, -m, -f, -c mixed in): the same AppConfig as the same
// pipeline written in a config file, the same checks and errors (at
// "command line:N"), and the help of every plugin with its keys.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { COMMAND_LINE, loadCommandLine, parseCommandLine } from '../../src/config/command-line.js';
import { ebpfInputKeys } from '../../src/config/input-section.js';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError, type AppConfig } from '../../src/config/model.js';
import { outputPlugins } from '../../src/outputs/registry.js';
import { traces } from '../../src/traces/registry.js';
import { runCli, startCli, writeConfig, type RunningCli } from '../support/cli.js';
import { startReceivers, type Receivers } from '../support/receiver.js';

const deps = { traces, outputs: outputPlugins };

/** An AppConfig without where each item was written, to compare two ways of writing it. */
function withoutLocations(config: AppConfig): unknown {
  const strip = (value: unknown): unknown => {
    if (value instanceof Map) return new Map([...value].map(([k, v]) => [k, strip(v)]));
    if (Array.isArray(value)) return value.map(strip);
    if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
      return Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'file' && k !== 'line' && k !== 'column').map(([k, v]) => [k, strip(v)]));
    }
    return value;
  };
  return strip({ ...config, file: undefined });
}

const fromCommandLine = (argv: string[], cwd?: string) => loadCommandLine(parseCommandLine(argv), deps, cwd);

/** The ConfigError a command line is refused with. */
function refusal(argv: string[], cwd?: string): ConfigError {
  try {
    fromCommandLine(argv, cwd);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`accepted: ${argv.join(' ')}`);
}

const documentedPipeline = ['-i', 'ebpf', '-p', 'trace=trace_vfs', '-p', 'trace=trace_exec', '-t', 'host.ebpf', '-o', 'forward', '-p', 'host=127.0.0.1', '-p', 'port=24224', '-m', '*', '-f', '1'];
const documentedConfig = `[SERVICE]
    Flush  1
[INPUT]
    Name   ebpf
    Trace  trace_vfs
    Trace  trace_exec
    Tag    host.ebpf
[OUTPUT]
    Name   forward
    Host   127.0.0.1
    Port   24224
    Match  *
`;

describe('a command-line pipeline is its config file', () => {
  it("the documented pipeline: the same AppConfig as its [SERVICE]/[INPUT]/[OUTPUT] twin", () => {
    const commandLine = fromCommandLine(documentedPipeline);
    const file = loadConfig(writeConfig(documentedConfig), deps);
    expect(withoutLocations(commandLine)).toEqual(withoutLocations(file));
    // Not equal by accident: the values are there.
    expect(commandLine.inputs[0]!.traces.map((t) => t.trace.name)).toEqual(['trace_vfs', 'trace_exec']);
    expect(commandLine.inputs[0]!.tag).toBe('host.ebpf');
    expect(commandLine.outputs[0]!.values.get('port')).toBe(24224);
    // Each item says which argument it came from.
    expect(commandLine.inputs[0]).toMatchObject({ file: COMMAND_LINE, line: 1 });
    expect(commandLine.inputs[0]!.traces[1]).toMatchObject({ file: COMMAND_LINE, line: 5 });
    expect(commandLine.outputs[0]).toMatchObject({ file: COMMAND_LINE, line: 9 });
  });

  it('two inputs, trace keys, two outputs with their own keys, long flags, Match_Regex and Alias', () => {
    const argv = [
      '--input', 'ebpf', '-p', 'Trace=trace_sched', '-p', 'sched_pid=1,2', '-p', 'sched_pid=3', '--tag=sched', '-p', 'ringbuf_size=256K',
      '-i', 'ebpf', '-p', 'trace=trace_signal', '-p', 'alias=signals',
      '-o', 'stdout', '-p', 'format=json_lines', '--match', 'sched',
      '--output', 'forward', '-p', 'match_regex=^sig', '-p', 'port=24225', '-p', 'Require_ack_response=on',
      '--flush=0.5', '-b', '/var/tmp/spool',
    ];
    const file = `[SERVICE]
    Flush         0.5
    storage.path  /var/tmp/spool
[INPUT]
    Name          ebpf
    Trace         trace_sched
    sched_pid     1,2
    sched_pid     3
    Tag           sched
    Ringbuf_Size  256K
[INPUT]
    Name   ebpf
    Trace  trace_signal
    Alias  signals
[OUTPUT]
    Name    stdout
    Format  json_lines
    Match   sched
[OUTPUT]
    Name                  forward
    Match_Regex           ^sig
    Port                  24225
    Require_ack_response  on
`;
    const commandLine = fromCommandLine(argv);
    expect(withoutLocations(commandLine)).toEqual(withoutLocations(loadConfig(writeConfig(file), deps)));
    expect(commandLine.inputs.map((i) => i.instance)).toEqual(['ebpf.0', 'signals']);
    expect(commandLine.outputs.map((o) => o.instance)).toEqual(['stdout.0', 'forward.1']);
    expect(commandLine.service.storagePath).toBe('/var/tmp/spool');
  });

  it('-c FILE with -i/-o: the command line\'s plugins first, then the file\'s, as one config (classic or YAML)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ebpf-forward-pipeline-'));
    const filePipeline = `[INPUT]
    Name   ebpf
    Trace  trace_exec
    Tag    exec
[OUTPUT]
    Name   stdout
    Match  exec
`;
    const path = writeConfig(`[SERVICE]\n    Log_Level  debug\n${filePipeline}`);
    const argv = ['-i', 'ebpf', '-p', 'trace=trace_signal', '-t', 'signal', '-c', path, '-o', 'forward', '-m', 'signal', '-f', '2'];
    const merged = fromCommandLine(argv, dir);
    const twin = loadConfig(writeConfig(`[SERVICE]
    Flush      2
    Log_Level  debug
[INPUT]
    Name   ebpf
    Trace  trace_signal
    Tag    signal
[OUTPUT]
    Name   forward
    Match  signal
${filePipeline}`), deps);
    expect(withoutLocations(merged)).toEqual(withoutLocations(twin));
    const yamlPath = writeConfig(`service:
  log_level: debug
pipeline:
  inputs:
    - name: ebpf
      trace: trace_exec
      tag: exec
  outputs:
    - name: stdout
      match: exec
`, 'ebpf-forward.yaml');
    expect(withoutLocations(fromCommandLine(argv.map((a) => (a === path ? yamlPath : a)), dir))).toEqual(withoutLocations(twin));
    expect(merged.file).toBe(path); // relative paths resolve from the file's folder
    expect(merged.inputs.map((i) => [i.instance, i.tag, i.file])).toEqual([['ebpf.0', 'signal', COMMAND_LINE], ['ebpf.1', 'exec', path]]);
    // -c alone is the file as loadConfig reads it.
    expect(withoutLocations(fromCommandLine(['-c', path]))).toEqual(withoutLocations(loadConfig(path, deps)));
  });

  it('-Y (--enable-hot-reload) is Hot_Reload On, as in the classic and YAML formats', () => {
    const fromFlag = fromCommandLine(['-Y', '-i', 'ebpf', '-p', 'trace=trace_signal']);
    const classic = loadConfig(writeConfig('[SERVICE]\n    Hot_Reload On\n[INPUT]\n    Name ebpf\n    Trace trace_signal\n'), deps);
    const yaml = loadConfig(writeConfig('service:\n  hot_reload: on\npipeline:\n  inputs:\n    - name: ebpf\n      trace: trace_signal\n', 'ebpf-forward.yaml'), deps);
    for (const config of [fromFlag, classic, yaml]) expect(config.service.values.get('hot_reload')).toBe(true);
    expect(withoutLocations(fromFlag)).toEqual(withoutLocations(classic));
    expect(fromCommandLine(['--enable-hot-reload', '-i', 'ebpf', '-p', 'trace=trace_signal']).service.values.get('hot_reload')).toBe(true);
    expect(fromCommandLine(['-i', 'ebpf', '-p', 'trace=trace_signal']).service.values.get('hot_reload')).toBe(false);
  });

  it('a pipeline without -c resolves relative paths from the working folder', () => {
    const config = fromCommandLine(['-i', 'ebpf', '-p', 'trace=trace_exec'], '/srv/pipelines');
    expect(config.file).toBe(join('/srv/pipelines', COMMAND_LINE));
    expect(config.outputs).toEqual([]); // the CLI then prints to stdout, as for a file without [OUTPUT]
  });
});

describe('command-line errors: one message at the argument', () => {
  const cases: [string, string[], string][] = [
    ['-p before any plugin', ['-p', 'trace=trace_exec', '-i', 'ebpf'], 'command line:1: -p trace=trace_exec applies to the plugin named last, and no plugin is named before it'],
    ['-t before any plugin', ['-t', 'x', '-i', 'ebpf'], 'command line:1: -t applies to the plugin named last'],
    ['-t after an output', ['-i', 'ebpf', '-p', 'trace=trace_exec', '-o', 'stdout', '-t', 'x'], 'command line:7: -t applies to an input (-i), and the plugin named last is the output stdout (argument 5)'],
    ['-m after an input', ['-i', 'ebpf', '-m', '*'], 'command line:3: -m applies to an output (-o), and the plugin named last is the input ebpf (argument 1)'],
    ['-p without =', ['-i', 'ebpf', '-p', 'trace'], 'command line:3: -p takes key=value'],
    ['-p with an empty key', ['-i', 'ebpf', '-p', '=trace_exec'], 'command line:3: -p takes key=value'],
    ['-R, a parsers file', ['-R', 'parsers.conf', '-i', 'ebpf'], 'command line:1: -R takes a parsers file, and ebpf-forward parses nothing'],
    ['-F, a filter', ['-i', 'ebpf', '-p', 'trace=trace_exec', '-F', 'grep', '-p', 'regex=x'], 'command line:5: [FILTER] sections are not supported'],
    ['a word that is no flag\'s value', ['-i', 'ebpf', 'trace_exec'], 'command line:3: unexpected argument "trace_exec"'],
    ['no input', ['-o', 'stdout'], 'command line: no input: give a config file (-c FILE) or a pipeline'],
    // The loader's own checks, at the argument:
    ['an input other than ebpf', ['-i', 'tail', '-p', 'path=/var/log/x'], 'command line:1: input plugin "tail" is not supported'],
    ['an unknown output', ['-i', 'ebpf', '-p', 'trace=trace_exec', '-o', 'kafka'], 'command line:5: output plugin "kafka" is not supported'],
    ['an unknown trace', ['-i', 'ebpf', '-p', 'trace=trace_nope'], 'command line:3: unknown trace "trace_nope"'],
    ['an unknown key', ['-i', 'ebpf', '-p', 'trace=trace_exec', '-p', 'Prot=1'], 'command line:5: unknown key "Prot" in [INPUT] ebpf'],
    ['a trace key without its trace', ['-i', 'ebpf', '-p', 'trace=trace_exec', '-p', 'sched_pid=1'], 'command line:5: sched_pid is a key of trace_sched'],
    ['a bad value', ['-i', 'ebpf', '-p', 'trace=trace_exec', '-f', '0'], 'command line:5: flush: '],
    ['a key twice', ['-i', 'ebpf', '-p', 'trace=trace_exec', '-t', 'a', '-t', 'b'], 'command line:7: Tag is set twice (first at line 5)'],
    ['-d, daemon mode', ['-d', '-i', 'ebpf', '-p', 'trace=trace_exec'], 'command line:1: daemon: On is not supported'],
    ['two outputs, one without -m', ['-i', 'ebpf', '-p', 'trace=trace_exec', '-o', 'stdout', '-o', 'stdout', '-m', '*'], 'command line:5: [OUTPUT] stdout has no Match'],
  ];
  for (const [what, argv, message] of cases) {
    it(what, () => {
      const err = refusal(argv);
      expect(err.message.startsWith(message), err.message).toBe(true);
      expect(err.message).not.toMatch(/\n/);
    });
  }

  it('a [SERVICE] key both on the command line and in the -c file: refused at the file\'s line, naming the argument', () => {
    const path = writeConfig('[SERVICE]\n    Flush  1\n[INPUT]\n    Name  ebpf\n    Trace trace_exec\n');
    expect(refusal(['-f', '2', '-c', path]).message).toBe(`${path}:2: Flush is set twice (first at ${COMMAND_LINE}:1); it takes one value`);
  });

  it('an error in the -c file is at its file:line, with -i/-o given too', () => {
    const path = writeConfig('[INPUT]\n    Name  ebpf\n    Trace trace_nope\n');
    expect(refusal(['-i', 'ebpf', '-p', 'trace=trace_exec', '-c', path]).message).toMatch(new RegExp(`^${path}:3: unknown trace "trace_nope"`));
  });

  it('an error in a YAML -c file is at its file:line:column, with -i/-o given too', () => {
    const path = writeConfig('pipeline:\n  inputs:\n    - name: ebpf\n      trace: trace_nope\n', 'ebpf-forward.yaml');
    expect(refusal(['-i', 'ebpf', '-p', 'trace=trace_exec', '-c', path]).message).toMatch(new RegExp(`^${path}:4:\\d+: unknown trace "trace_nope"`));
  });

  it('parseArgs refuses an unknown flag and a flag without its value', () => {
    expect(() => parseCommandLine(['-i', 'ebpf', '--frobnicate'])).toThrow(/frobnicate/);
    expect(() => parseCommandLine(['-i'])).toThrow(/argument missing/);
  });
});

describe('the CLI with a pipeline (dist/cli.js)', () => {
  let cli: RunningCli | undefined;
  let receivers: Receivers | undefined;
  afterEach(async () => {
    await cli?.stop('SIGINT');
    await receivers?.close();
    cli = receivers = undefined;
  });

  it('--dry-run checks a pipeline; a bad one is one line at its argument, exit 1', async () => {
    const good = await runCli([...documentedPipeline, '--dry-run']);
    expect(good).toMatchObject({ code: 0, stderr: '' });
    expect(good.stdout).toBe('configuration test is successful\n');
    const bad = await runCli(['-i', 'ebpf', '-p', 'trace=trace_exec', '-m', '*', '-D']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('ebpf-forward: command line:5: -m applies to an output (-o), and the plugin named last is the input ebpf (argument 1)\n');
    const flag = await runCli(['-i', 'ebpf', '-w', '/tmp']);
    expect(flag.code).toBe(1);
    expect(flag.stderr).toMatch(/^ebpf-forward: Unknown option '-w'/);
    expect(flag.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
  });

  it("the documented pipeline runs and forwards; -l puts the log lines in the file", async () => {
    receivers = await startReceivers();
    const logFile = join(mkdtempSync(join(tmpdir(), 'ebpf-forward-log-')), 'ebpf-forward.log');
    cli = startCli(['-i', 'ebpf', '-p', 'trace=trace_signal', '-p', 'trace=trace_exec', '-t', 'host.ebpf', '-o', 'forward', '-p', 'host=127.0.0.1', '-p', `port=${receivers.port}`, '-m', '*', '-f', '0.2', '-l', logFile]);
    const deadline = Date.now() + 20_000;
    while (!(existsSync(logFile) && /tracing trace_signal, trace_exec/.test(readFileSync(logFile, 'utf8'))) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(readFileSync(logFile, 'utf8')).toMatch(/tracing trace_signal, trace_exec/);
    expect(spawnSync('/bin/kill', ['-0', String(process.pid)]).status).toBe(0);
    const isOurKill = (e: { tag: string; record: Record<string, unknown> }) => e.tag === 'host.ebpf' && e.record.event_type === 'signal' && e.record.comm === 'kill' && e.record.tpid === process.pid;
    while (!receivers.server.some(isOurKill) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(receivers.server.find(isOurKill)?.record).toMatchObject({ signal: 0, error_raw: 0 });
    // The kill's exec was traced too, under the same tag.
    const isKillExec = (e: { tag: string; record: Record<string, unknown> }) => e.tag === 'host.ebpf' && e.record.event_type === 'execve' && e.record.filename === '/bin/kill';
    while (!receivers.server.some(isKillExec) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(receivers.server.some(isKillExec)).toBe(true);
    expect(await cli.stop('SIGINT')).toBe(0);
    expect(cli.stderr()).toBe(''); // every log line went to the file
    expect(readFileSync(logFile, 'utf8')).toMatch(/\[ info\]/);
  });

  it('-l FILE that cannot be opened: one line, exit 1', async () => {
    const r = await runCli(['-i', 'ebpf', '-p', 'trace=trace_exec', '-l', '/nonexistent/dir/log']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('ebpf-forward: -l /nonexistent/dir/log: cannot open the log file: ENOENT\n');
  });
});

describe('help: the plugins and their keys with defaults', () => {
  it('--help lists every option, the plugins, and each plugin\'s keys with their defaults', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    for (const flag of ['-c, --config FILE', '-i, --input NAME', '-o, --output NAME', '-p, --prop KEY=VALUE', '-t, --tag TAG', '-m, --match MATCH', '-f, --flush SECONDS', '-l, --log_file FILE', '-J, --help-json']) {
      expect(r.stdout).toContain(flag);
    }
    expect(r.stdout).toMatch(/^ {2}ebpf {6}traces kernel events/m);
    for (const name of outputPlugins.keys()) expect(r.stdout).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
    expect(r.stdout).toMatch(/^ {2}ringbuf_size +ring buffer size.*\(default: 8M\)$/m);
    expect(r.stdout).toMatch(/^ {2}port +TCP port of the receiver \(default: 24224\)$/m);
    expect(r.stdout).toMatch(/^Trace trace_sched: /m);
    expect(r.stdout).toMatch(/^ {2}sched_min_runq_latency /m);
  });

  it('-i ebpf -h and -h ebpf: the ebpf input\'s keys and each trace\'s; -o forward -h: forward\'s; later arguments ignored', async () => {
    const afterInput = await runCli(['-i', 'ebpf', '-h', '-o', 'nope']);
    expect(afterInput.code).toBe(0);
    expect(afterInput.stdout).toMatch(/^ebpf input plugin: /);
    expect(afterInput.stdout).toMatch(/^ {2}trace_error +.*\(default: continue\)$/m);
    expect(afterInput.stdout).not.toMatch(/Options:/);
    expect((await runCli(['-h', 'ebpf'])).stdout).toBe(afterInput.stdout);
    const forward = await runCli(['-o', 'forward', '-h']);
    expect(forward.stdout).toMatch(/^forward output plugin: /);
    expect(forward.stdout).toMatch(/^ {2}match +tags to take/m);
    expect(forward.stdout).not.toMatch(/ringbuf_size/);
    const unknown = await runCli(['-o', 'kafka', '-h']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^ebpf-forward: command line:1: output plugin "kafka" is not supported; supported outputs: forward, null, stdout\n$/);
    const named = await runCli(['-h', 'kafka']);
    expect(named.code).toBe(1);
    expect(named.stderr).toBe('ebpf-forward: command line:2: no plugin named "kafka"; inputs: ebpf; outputs: forward, null, stdout\n');
    expect(await runCli(['-i', 'tail', '-h'])).toMatchObject({ code: 1, stderr: 'ebpf-forward: command line:1: input plugin "tail" is not supported: ebpf-forward\'s only input is ebpf\n' });
  });

  it('-J: every plugin as JSON, defaults as in the key tables; -i ebpf -J: the ebpf input alone', async () => {
    const all = await runCli(['-J']);
    expect(all.code).toBe(0);
    const schema = JSON.parse(all.stdout);
    expect(schema['ebpf-forward'].version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(schema.inputs.map((p: { name: string }) => p.name)).toEqual(['ebpf']);
    expect(schema.outputs.map((p: { name: string }) => p.name).sort()).toEqual([...outputPlugins.keys()].sort());
    const ebpf = schema.inputs[0];
    for (const key of ebpfInputKeys) {
      expect(ebpf.properties).toContainEqual(expect.objectContaining({ name: key.name, ...(key.default !== undefined && { default: key.default }) }));
    }
    expect(ebpf.traces.map((t: { name: string }) => t.name).sort()).toEqual([...traces.keys()].sort());
    const forward = schema.outputs.find((p: { name: string }) => p.name === 'forward');
    for (const key of outputPlugins.get('forward')!.keys) expect(forward.properties).toContainEqual(expect.objectContaining({ name: key.name, ...(key.default !== undefined && { default: key.default }) }));
    const alone = JSON.parse((await runCli(['-i', 'ebpf', '-J'])).stdout);
    expect(alone).toEqual(ebpf);
    expect(JSON.parse((await runCli(['-J', 'stdout'])).stdout)).toMatchObject({ type: 'output', name: 'stdout' });
  });
});
