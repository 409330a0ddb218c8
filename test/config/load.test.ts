import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { outputPlugins } from '../../src/outputs/registry.js';
import { traces } from '../../src/traces/registry.js';
import { configError, fixture, testDeps } from './helpers.js';

const deps = testDeps;
const validTraces = [...deps.traces.keys()].sort().join(', ');

const load = (name: string) => loadConfig(fixture(name), deps);

/** Loads a fixture that must fail; checks file:line and returns the problem. */
function problemAt(name: string, line: number, file = fixture(name)): string {
  const err = configError(() => load(name));
  expect([err.file, err.line]).toEqual([file, line]);
  expect(err.message).toBe(line > 0 ? `${file}:${line}: ${err.problem}` : `${file}: ${err.problem}`);
  return err.problem;
}

describe('loadConfig: a minimal config', () => {
  it('fills every default: service, input tag ebpf.0, input keys; no outputs is allowed', () => {
    const config = load('load/minimal.conf');
    expect(config.file).toBe(fixture('load/minimal.conf'));
    expect(config.service).toMatchObject({ flushSeconds: 1, graceSeconds: 5, logLevel: 'info', storagePath: undefined });
    expect(Object.fromEntries(config.service.values)).toEqual({
      flush: 1,
      grace: 5,
      log_level: 'info',
      daemon: false,
      hot_reload: false,
      http_server: false,
      http_listen: '0.0.0.0',
      http_port: 2020,
      http_reload_allow: 'loopback',
      health_check: false,
      hc_errors_count: 5,
      hc_retry_failure_count: 5,
      hc_period: 60,
      'storage.sync': 'normal',
      'storage.checksum': false,
      'storage.backlog.mem_limit': 5_000_000,
      'scheduler.base': 5,
      'scheduler.cap': 2000,
    });
    expect(config.inputs).toHaveLength(1);
    const input = config.inputs[0]!;
    expect(input).toMatchObject({ index: 0, tag: 'ebpf.0', instance: 'ebpf.0', file: fixture('load/minimal.conf'), line: 1 });
    expect(input.traces.map((t) => [t.trace, t.line])).toEqual([[traces.get('trace_signal'), 3]]);
    expect(Object.fromEntries(input.values)).toEqual({
      trace: ['trace_signal'],
      tag: 'ebpf.0',
      poll_ms: 1000,
      wakeup_ms: 90,
      ringbuf_map_name: 'events',
      ringbuf_size: 8 * 1024 * 1024, // "8M": powers of 1024 for the ring buffer
      container_metadata: true,
      container_runtime_metadata: true,
      kubernetes_annotations: false,
      trace_error: 'continue',
    });
    expect(config.outputs).toEqual([]);
    expect(config.warnings).toEqual([]);
  });
});

describe('loadConfig: a full config', () => {
  const config = load('load/full.conf');

  it('reads every [SERVICE] key, fractional Flush included', () => {
    expect(config.service).toMatchObject({ flushSeconds: 0.5, graceSeconds: 10, logLevel: 'debug', storagePath: '/var/lib/ebpf-forward' });
    expect(Object.fromEntries(config.service.values)).toMatchObject({
      'storage.sync': 'full',
      'storage.checksum': true,
      'storage.backlog.mem_limit': 10_000_000,
      http_server: false,
      http_listen: '127.0.0.1',
      http_port: 2021,
      daemon: false,
      hot_reload: false,
    });
  });

  it('numbers ebpf inputs from 0 for their default tag and instance; Name is case-insensitive', () => {
    expect(config.inputs.map((i) => [i.index, i.tag, i.instance, i.line])).toEqual([
      [0, 'ebpf.0', 'ebpf.0', 14],
      [1, 'ebpf.1', 'signals', 26],
      [2, 'custom.tag', 'ebpf.2', 31],
    ]);
  });

  it("keeps the input's keys and its traces' keys (repeatable ones as arrays)", () => {
    const input = config.inputs[0]!;
    expect(input.traces.map((t) => t.trace.name)).toEqual(['trace_signal', 'trace_keyed']);
    expect(Object.fromEntries(input.values)).toEqual({
      trace: ['trace_signal', 'trace_keyed'],
      tag: 'ebpf.0',
      keyed_pid: 42,
      keyed_path: ['/a', '/b'],
      poll_ms: 250,
      wakeup_ms: 90,
      ringbuf_map_name: 'rb',
      ringbuf_size: 256 * 1024,
      container_metadata: true,
      container_runtime_metadata: true,
      kubernetes_annotations: false,
      trace_error: 'exit',
    });
    expect(config.inputs[1]!.values.get('alias')).toBe('signals');
  });

  it('numbers outputs across plugins as Fluent Bit does; plugin keys parsed with defaults; Alias names the instance', () => {
    expect(config.outputs.map((o) => [o.plugin, o.instance, o.match, o.line])).toEqual([
      ['null', 'null.0', { kind: 'wildcard', pattern: 'ebpf.*' }, 36],
      ['fake', 'fake.1', { kind: 'regex', pattern: '^custom\\.' }, 40],
      ['fake', 'second-fake', { kind: 'wildcard', pattern: '*' }, 47],
    ]);
    expect(Object.fromEntries(config.outputs[1]!.values)).toEqual({
      host: '127.0.0.1',
      port: 24225,
      buffer: 1_000_000,
      header: ['a', 'b'],
      tls: false,
    });
    expect(Object.fromEntries(config.outputs[0]!.values)).toEqual({});
  });
});

describe('loadConfig: [SERVICE]', () => {
  it('merges several [SERVICE] sections; Log_Level "warning" is warn', () => {
    const { service } = load('load/service-merge.conf');
    expect(service).toMatchObject({ flushSeconds: 2, graceSeconds: 0, logLevel: 'warn' });
  });

  it('a key set twice, even in two [SERVICE] sections, is refused (Fluent Bit lets the later win silently)', () => {
    expect(problemAt('load/service-twice.conf', 8)).toBe('Log_Level is set twice (first at line 3); it takes one value');
  });

  it('unknown key: error at its line listing the known keys', () => {
    expect(problemAt('load/service-unknown-key.conf', 3)).toBe(
      'unknown key "Log_File" in [SERVICE]; known keys: flush, grace, log_level, daemon, hot_reload, http_server, http_listen, http_port, http_reload_allow, http_reload_token, health_check, hc_errors_count, hc_retry_failure_count, hc_period, storage.path, storage.sync, storage.checksum, storage.backlog.mem_limit, scheduler.base, scheduler.cap',
    );
  });

  const badValues: [fixture: string, line: number, problem: string][] = [
    ['load/flush-bad.conf', 2, 'Flush: "soon" is not a number of seconds (e.g. 1, 0.5)'],
    ['load/flush-zero.conf', 2, 'Flush: 0 is out of range: it must be more than 0 seconds'],
    ['load/grace-fraction.conf', 2, 'Grace: "2.5" is not a whole number of seconds (e.g. 1, 30)'],
    ['load/log-level-bad.conf', 2, 'Log_Level: "loud" is not one of off, error, warn, info, debug, trace'],
    ['load/http-port-bad.conf', 2, 'HTTP_Port: 70000 is out of range: it must be between 1 and 65535'],
    ['load/bool-bad.conf', 2, 'HTTP_Server: "maybe" is not a boolean: use on/off, true/false or yes/no'],
  ];
  for (const [name, line, problem] of badValues) {
    it(`bad value: ${name}`, () => expect(problemAt(name, line)).toBe(problem));
  }

  it('HTTP_Server On is taken (the HTTP server, test/http)', () => {
    expect(load('load/http-server-on.conf').service.values.get('http_server')).toBe(true);
  });

  it('Daemon On is refused with what to do instead', () => {
    expect(problemAt('load/daemon-on.conf', 2)).toMatch(/^Daemon: On is not supported: .*run it under a supervisor/);
  });
});

describe('loadConfig: sections', () => {
  it('[FILTER] is refused saying ebpf-forward has no filters', () => {
    expect(problemAt('load/filter.conf', 5)).toBe('[FILTER] sections are not supported: ebpf-forward has no filters: records go from the input to the outputs as the traces make them');
  });
  it('[PARSER] is refused', () => {
    expect(problemAt('load/parser-section.conf', 1)).toMatch(/^\[PARSER\] sections are not supported: ebpf-forward parses nothing/);
  });
  it('any other section is refused, naming the ones that work', () => {
    expect(problemAt('load/unknown-section.conf', 4)).toBe('[UPSTREAM] sections are not supported: ebpf-forward reads [SERVICE], [INPUT] and [OUTPUT] sections');
  });
  it('no [INPUT] at all: an error about the file', () => {
    expect(problemAt('load/no-input.conf', 0)).toBe('no [INPUT] section: add one with "Name ebpf" and at least one "Trace"');
  });
});

describe('loadConfig: [INPUT]', () => {
  const cases: [fixture: string, line: number, problem: string | RegExp][] = [
    ['load/input-no-name.conf', 1, '[INPUT] has no Name'],
    ['load/input-name-twice.conf', 3, 'Name is set twice (first at line 2); it takes one value'],
    ['load/input-tail.conf', 2, 'input plugin "tail" is not supported: ebpf-forward\'s only input is ebpf'],
    ['load/input-no-trace.conf', 4, `[INPUT] ebpf needs at least one Trace (or a BPF_Object); valid traces: ${validTraces}`],
    ['load/unknown-trace.conf', 4, `unknown trace "trace_nope"; valid traces: ${validTraces}`],
    ['load/traces-on-one-line.conf', 3, `unknown trace "trace_signal trace_keyed" (one trace per Trace line); valid traces: ${validTraces}`],
    ['load/trace-twice.conf', 5, 'trace trace_signal is selected twice in this input (first at line 3)'],
    ['load/unselected-trace-key.conf', 4, 'keyed_pid is a key of trace_keyed, which this input doesn\'t trace: add "Trace trace_keyed" or remove keyed_pid'],
    ['load/trace-key-bad.conf', 4, 'keyed_pid: "zero" is not a whole number'],
    ['load/tag-twice.conf', 5, 'TAG is set twice (first at line 4); it takes one value'],
    ['load/tag-unset-var.conf', 4, 'Tag: the value is empty (${CONFIG_TEST_NO_SUCH_TAG} is not set)'],
    ['load/ringbuf-not-pow2.conf', 4, 'ringbuf_size: "3M" is 3145728 bytes: it must be a power of two from 4K to 2G (K, M and G count 1024s here), e.g. 256K or 8M'],
    ['load/ringbuf-small.conf', 4, /^ringbuf_size: "2K" is 2048 bytes: it must be a power of two from 4K to 2G/],
    ['load/ringbuf-garbage.conf', 4, /^ringbuf_size: "lots" is not a size/],
    ['load/poll-zero.conf', 4, 'poll_ms: 0 is out of range: it must be between 1 and 2147483000'],
    ['load/trace-error-bad.conf', 4, 'Trace_Error: "ignore" is not one of continue, exit'],
  ];
  for (const [name, line, problem] of cases) {
    it(`${name}: line ${line}`, () => {
      if (typeof problem === 'string') expect(problemAt(name, line)).toBe(problem);
      else expect(problemAt(name, line)).toMatch(problem);
    });
  }

  it('unknown key: error at its line listing the known keys, with the selected traces\' keys', () => {
    expect(problemAt('load/unknown-input-key.conf', 4)).toBe(
      'unknown key "Path" in [INPUT] ebpf; known keys: name, trace, tag, alias, poll_ms, wakeup_ms, ringbuf_map_name, ringbuf_size, sequence_key, container_metadata, container_runtime_metadata, kubernetes_annotations, cri_socket, docker_socket, podman_socket, trace_error, storage.type, pid, exclude_pid, comm, exclude_comm, uid, exclude_uid, cgroup, exclude_cgroup, bpf_object, bpf_record_type, bpf_time_field, bpf_set',
    );
  });

  it('unknown trace lists the valid ones from the registry it was given', () => {
    const err = configError(() => loadConfig(fixture('load/unknown-trace.conf'), { ...deps, traces }));
    expect(err.problem).toBe(`unknown trace "trace_nope"; valid traces: ${[...traces.keys()].sort().join(', ')}`);
  });

  it('ringbuf_size in plain bytes', () => {
    expect(load('load/ringbuf-bytes.conf').inputs[0]!.values.get('ringbuf_size')).toBe(65536);
  });

  it('an unset ${VAR} that leaves a valid value is a warning in config.warnings', () => {
    const config = load('load/unset-var-warning.conf');
    expect(config.inputs[0]!.instance).toBe('sig');
    expect(config.warnings).toEqual([
      `${fixture('load/unset-var-warning.conf')}:4: \${CONFIG_TEST_SUFFIX} is not set (no @SET, no environment variable): it expands to ""`,
    ]);
  });
});

describe('loadConfig: [OUTPUT]', () => {
  const cases: [fixture: string, line: number, problem: string | RegExp][] = [
    ['load/output-no-name.conf', 4, '[OUTPUT] has no Name'],
    ['load/output-unknown.conf', 5, 'output plugin "kafka" is not supported; supported outputs: fake, null'],
    ['load/output-unknown-key.conf', 7, 'unknown key "Hots" in [OUTPUT] fake; known keys: name, match, match_regex, alias, host, port, buffer, header, tls, tls.crt_file'],
    ['load/output-bad-value.conf', 7, 'Port: "http" is not a whole number'],
    ['load/output-no-match.conf', 8, '[OUTPUT] fake has no Match or Match_Regex (Fluent Bit only assumes "Match *" when there is one input and one output)'],
    ['load/output-both-matches.conf', 7, 'set Match or Match_Regex, not both (Match is at line 6)'],
    ['load/output-bad-regex.conf', 6, /^Match_Regex: invalid regular expression "ebpf\.\(": /],
    ['load/output-validate.conf', 5, '[OUTPUT] fake: tls On needs tls.crt_file'],
    ['load/duplicate-alias.conf', 7, 'instance name "null.0" is already used by the section at ' + fixture('load/duplicate-alias.conf') + ':4: give each an Alias of its own'],
  ];
  for (const [name, line, problem] of cases) {
    it(`${name}: line ${line}`, () => {
      if (typeof problem === 'string') expect(problemAt(name, line)).toBe(problem);
      else expect(problemAt(name, line)).toMatch(problem);
    });
  }

  it('one input and one output without Match: "Match *", as Fluent Bit', () => {
    const config = load('load/output-one-to-one.conf');
    expect(config.outputs.map((o) => [o.instance, o.match])).toEqual([['fake.0', { kind: 'wildcard', pattern: '*' }]]);
  });
});

describe('loadConfig: durations and sizes over their bounds, with the real outputs', () => {
  const input = '[INPUT]\n    Name  ebpf\n    Trace trace_signal\n';
  const forward = '[OUTPUT]\n    Name  forward\n    Match *\n';
  const problemOf = (text: string) => {
    const path = join(mkdtempSync(join(tmpdir(), 'ebpf-forward-bounds-')), 'a.conf');
    writeFileSync(path, text);
    const err = configError(() => loadConfig(path, { traces, outputs: outputPlugins, env: {} }));
    return `${err.line}: ${err.problem}`;
  };

  it.each([
    ['[SERVICE]\n    Flush 3000000\n', 'Flush'],
    ['[SERVICE]\n    Grace 3000000\n', 'Grace'],
    ['[SERVICE]\n    scheduler.base 3000000\n    scheduler.cap 3000000\n', 'scheduler.base'],
    ['[SERVICE]\n    scheduler.cap 3000000\n', 'scheduler.cap'],
  ])('[SERVICE] %j', (service, key) => {
    expect(problemOf(`${service}${input}`)).toMatch(new RegExp(`^2: ${key.replace('.', '\\.')}: "3000000" is too long: a duration is at most 2147483 seconds`));
  });

  it.each([
    ['ack_response_timeout 30d', 'ack_response_timeout: "30d" is too long'],
    ['net.connect_timeout 2147484', 'net.connect_timeout: "2147484" is too long'],
    ['mem_buf_limit 10000000G', 'mem_buf_limit: "10000000G" is too large'],
    ['storage.total_limit_size 99999999999999999999', 'storage.total_limit_size: "99999999999999999999" is too large'],
  ])('[OUTPUT] forward %s', (line, problem) => {
    expect(problemOf(`${input}${forward}    ${line}\n`)).toMatch(`7: ${problem}`);
  });

  it('storage.backlog.mem_limit and poll_ms', () => {
    expect(problemOf(`[SERVICE]\n    storage.backlog.mem_limit 10000000G\n${input}`)).toMatch(/^2: storage\.backlog\.mem_limit: "10000000G" is too large/);
    expect(problemOf(`${input}    poll_ms 2147483648\n`)).toBe('4: poll_ms: 2147483648 is out of range: it must be between 1 and 2147483000');
  });

  it('scheduler.cap below scheduler.base is refused at scheduler.cap (or at base, when cap is the default)', () => {
    expect(problemOf(`[SERVICE]\n    scheduler.base 10\n    scheduler.cap 5\n${input}`)).toBe("3: scheduler.cap (5s) is less than scheduler.base (10s): the most wait before a retry can't be shorter than the least");
    expect(problemOf(`[SERVICE]\n    scheduler.base 3000\n${input}`)).toBe("2: scheduler.cap (2000s) is less than scheduler.base (3000s): the most wait before a retry can't be shorter than the least");
    const path = join(mkdtempSync(join(tmpdir(), 'ebpf-forward-bounds-')), 'a.conf');
    writeFileSync(path, `[SERVICE]\n    scheduler.base 7\n    scheduler.cap 7\n${input}`);
    expect(loadConfig(path, { traces, outputs: outputPlugins, env: {} }).service.values.get('scheduler.cap')).toBe(7);
  });
});

describe('loadConfig: checks a start would make, made when the config is read', () => {
  const loadError = (text: string) => {
    const path = join(mkdtempSync(join(tmpdir(), 'ebpf-forward-start-checks-')), 'a.conf');
    writeFileSync(path, text);
    return configError(() => loadConfig(path, { traces, outputs: outputPlugins, env: {} }));
  };
  it('storage.type filesystem without storage.path, at its line', () => {
    const err = loadError(`[INPUT]
    Name          ebpf
    Trace         trace_signal
    storage.type  filesystem
`);
    expect([err.line, err.problem]).toEqual([4, 'storage.type filesystem keeps records under storage.path: set storage.path in [SERVICE]']);
  });

  it("more items than a trace key's kernel array holds, at the key's last line", () => {
    const pids = Array.from({ length: 600 }, (_, i) => i + 1);
    const err = loadError(`[INPUT]
    Name        ebpf
    Trace       trace_malloc
    malloc_pid  ${pids.join(',')}
    malloc_pid  ${pids.map((p) => p + 1000).join(' ')}
`);
    expect([err.line, err.problem]).toEqual([5, 'malloc_pid: 1200 given in all, at most 1024']);
    const ports = Array.from({ length: 17 }, (_, i) => 1000 + i);
    const dns = loadError(`[INPUT]
    Name      ebpf
    Trace     trace_dns
    dns_port  ${ports.join(',')}
`);
    expect([dns.line, dns.problem]).toEqual([4, 'dns_port: 17 given in all, at most 16']);
  });
});

describe('loadConfig: the files an output names are read when the config is read (--dry-run tells)', () => {
  const dir = () => mkdtempSync(join(tmpdir(), 'ebpf-forward-output-files-'));
  const errorOf = (folder: string, text: string) => {
    const path = join(folder, 'a.conf');
    writeFileSync(path, text);
    return configError(() => loadConfig(path, { traces, outputs: outputPlugins, env: {} }));
  };
  const input = '[INPUT]\n    Name   ebpf\n    Trace  trace_signal\n';

  it('a tls.ca_file that is not there, at its line', () => {
    const err = errorOf(dir(), `${input}[OUTPUT]\n    Name         forward\n    Match        *\n    tls          on\n    tls.ca_file  missing-ca.pem\n`);
    expect(err.line).toBe(8);
    expect(err.problem).toMatch(/^tls\.ca_file: cannot read .*missing-ca\.pem: no such file$/);
  });

  it('an Upstream file that is not there, at its line; one that is broken, at its own line', () => {
    const folder = dir();
    const missing = errorOf(folder, `${input}[OUTPUT]\n    Name      forward\n    Match     *\n    Upstream  nodes.conf\n`);
    expect(missing.line).toBe(7);
    expect(missing.problem).toMatch(/nodes\.conf/);
    writeFileSync(join(folder, 'nodes.conf'), '[UPSTREAM]\n    Name  up\n[NODE]\n    Name  a\n    Host  127.0.0.1\n    Port  not-a-port\n');
    const broken = errorOf(folder, `${input}[OUTPUT]\n    Name      forward\n    Match     *\n    Upstream  nodes.conf\n`);
    expect(broken.file).toBe(join(folder, 'nodes.conf'));
    expect(broken.line).toBe(6);
  });
});
