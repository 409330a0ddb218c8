// YAML configs (Fluent Bit's schema) read into the same model as the classic
// format: twins of the classic fixtures load to the same AppConfig or fail
// with the same problem, at the YAML item's line:column; YAML's own shapes
// (lists, env, includes, anchors, syntax) each have their error.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import type { ConfigDeps } from '../../src/config/deps.js';
import { loadConfig } from '../../src/config/load.js';
import type { AppConfig } from '../../src/config/model.js';
import { parseClassicConfig } from '../../src/config/parser.js';
import { parseYamlConfig, parseYamlUpstreamFile } from '../../src/config/yaml.js';
import { outputPlugins } from '../../src/outputs/registry.js';
import { traces } from '../../src/traces/registry.js';
import type { TraceDefinition } from '../../src/traces/types.js';
import { startReceivers } from '../support/receiver.js';
import { runCli, startCli, waitFor, writeConfig } from '../support/cli.js';
import { configError, fixture, testDeps } from './helpers.js';

const deps = testDeps;

const load = (name: string, env: Record<string, string> = {}) => loadConfig(fixture(name), { ...deps, env });

/** Loads a fixture that must fail at file:line:column; returns the problem. */
function problemAt(name: string, line: number, column: number | undefined, file = fixture(name)): string {
  const err = configError(() => load(name));
  expect([err.file, err.line, err.column]).toEqual([file, line, column]);
  const where = line > 0 ? `${file}:${line}${column ? `:${column}` : ''}` : file;
  expect(err.message).toBe(`${where}: ${err.problem}`);
  return err.problem;
}

/** An AppConfig without where things were written, to compare two formats' meaning. */
function meaning(config: AppConfig): unknown {
  return JSON.parse(
    JSON.stringify(config, (key, value: unknown) => {
      if (key === 'file' || key === 'line' || key === 'column') return undefined;
      if (value instanceof Map) return Object.fromEntries(value);
      if (key === 'trace' && typeof value === 'object' && value && 'name' in value) return (value as TraceDefinition).name;
      return value;
    }),
  );
}

describe('YAML and classic twins mean the same', () => {
  for (const name of ['minimal', 'full', 'service-merge', 'output-one-to-one']) {
    it(`${name}.yaml loads to the AppConfig of load/${name}.conf`, () => {
      const yaml = load(`yaml/${name}.yaml`);
      expect(meaning(yaml)).toEqual(meaning(load(`load/${name}.conf`)));
      expect(yaml.warnings).toEqual([]);
    });
  }

  it('positions are the YAML items: a section at its "- " item, a trace at its list item', () => {
    const config = load('yaml/full.yaml');
    // The loader keeps file and line of sections and traces (not the column).
    expect(config.inputs.map((i) => i.line)).toEqual([16, 27, 31]);
    expect(config.inputs[0]!.traces.map((t) => [t.trace.name, t.line])).toEqual([
      ['trace_signal', 17],
      ['trace_keyed', 17],
    ]);
    expect(parseYamlConfig(fixture('yaml/full.yaml'), {})[1]!.entries.filter((e) => e.name === 'trace').map((e) => [e.line, e.column])).toEqual([
      [17, 15],
      [17, 29],
    ]);
    expect(config.outputs.map((o) => [o.instance, o.line])).toEqual([['null.0', 36], ['fake.1', 39], ['second-fake', 45]]);
  });

  // Twins of classic fixtures that fail: the same problem, at the YAML position.
  const twins: [name: string, yamlLine: number, yamlColumn: number | undefined, classicLine: number][] = [
    ['service-unknown-key', 3, 3, 3],
    ['flush-bad', 2, 3, 2],
    ['input-no-name', 3, 7, 1],
    ['input-no-trace', 5, 7, 4],
    ['unknown-input-key', 5, 7, 4],
    ['unknown-trace', 4, 29, 4],
    ['output-unknown-key', 8, 7, 7],
    ['output-unknown', 6, 7, 5],
    ['output-no-match', 8, 7, 8],
    ['unselected-trace-key', 5, 7, 4],
    ['traces-on-one-line', 4, 7, 3],
    ['filter', 6, 7, 5],
    ['no-input', 0, undefined, 0],
  ];
  for (const [name, line, column, classicLine] of twins) {
    it(`${name}: the classic problem, at ${line}:${column ?? '-'}`, () => {
      const classic = configError(() => load(`load/${name}.conf`));
      expect(classic.line).toBe(classicLine);
      const problem = problemAt(`yaml/${name}.yaml`, line, column);
      // Key names are as written: "Flush"/"Log_File" in both; YAML's lower-case "tag"/"name" elsewhere.
      expect(problem).toBe(classic.problem);
    });
  }

  it('an unset ${VAR} that empties a value: the classic problem, with the variable named', () => {
    expect(problemAt('yaml/tag-unset-var.yaml', 5, 7)).toBe('tag: the value is empty (${CONFIG_TEST_NO_SUCH_TAG} is not set)');
  });
});

describe('repeatable keys: a YAML list or the key written again', () => {
  it('trace: [a, b] and trace written twice select the same traces as two Trace lines', () => {
    const listed = load('yaml/full.yaml').inputs[0]!;
    expect(listed.values.get('trace')).toEqual(['trace_signal', 'trace_keyed']);
    expect(listed.values.get('keyed_path')).toEqual(['/a', '/b']);
    const repeated = load('yaml/trace-repeated.yaml').inputs[0]!;
    expect(repeated.traces.map((t) => [t.trace.name, t.line])).toEqual([
      ['trace_signal', 4],
      ['trace_keyed', 5],
    ]);
  });

  it('a key that takes one value, given a list or written twice, is refused at the second', () => {
    expect(problemAt('yaml/tag-list.yaml', 5, 16)).toBe('tag is set twice (first at line 5); it takes one value');
    expect(problemAt('yaml/tag-twice.yaml', 6, 7)).toBe('TAG is set twice (first at line 5); it takes one value');
  });

  it('a trace listed twice is refused at its second item', () => {
    expect(problemAt('yaml/trace-twice.yaml', 4, 42)).toBe('trace trace_signal is selected twice in this input (first at line 4)');
  });

  it('an empty list is refused rather than meaning nothing', () => {
    expect(problemAt('yaml/empty-list.yaml', 4, 7)).toBe('trace has an empty list: give it at least one value, or remove it');
  });
});

describe('env: and ${VAR}', () => {
  it("env: values expand ${VAR}s and win over the environment; the environment fills the rest", () => {
    const config = load('yaml/env.yaml', { FWD_TAG: 'from.environment', CONFIG_TEST_HOST: 'receiver.example', CONFIG_TEST_SUFFIX: '-a' });
    expect(config.inputs[0]).toMatchObject({ tag: 'host.ebpf', instance: 'sig-a' });
    expect(Object.fromEntries(config.outputs[0]!.values)).toMatchObject({ port: 24224, host: 'receiver.example' });
  });

  it('an unset ${VAR} that leaves a valid value is a warning at its line', () => {
    const config = load('yaml/env.yaml', { CONFIG_TEST_HOST: 'h' });
    expect(config.warnings).toEqual([`${fixture('yaml/env.yaml')}:9: \${CONFIG_TEST_SUFFIX} is not set (no env:, no environment variable): it expands to ""`]);
  });
});

describe('includes:', () => {
  it('reads included files (relative to the including file, globs sorted, nested) where the include is', () => {
    const config = load('yaml/includes/main.yaml');
    expect(config.service.flushSeconds).toBe(3);
    // env: of an included file defines ${FROM_INCLUDE} for the main file.
    expect(config.inputs[0]!.tag).toBe('included.tag');
    expect(config.outputs.map((o) => [o.instance, o.match.pattern, o.file])).toEqual([
      ['null.0', '*', fixture('yaml/includes/parts/outputs-1.yaml')],
      ['fake.1', 'included.*', fixture('yaml/includes/parts/nested.yaml')],
    ]);
  });

  it('a missing file, a pattern matching nothing, a cycle and a second inclusion are errors at the include', () => {
    expect(problemAt('yaml/include-missing.yaml', 2, 5)).toBe(`includes: cannot read ${fixture('yaml/no-such-file.yaml')}: no such file`);
    expect(problemAt('yaml/include-glob-no-match.yaml', 2, 5)).toMatch(/^includes: nothing-\*\.yaml: no file matches /);
    const a = fixture('yaml/include-cycle/a.yaml');
    const b = fixture('yaml/include-cycle/b.yaml');
    expect(problemAt('yaml/include-cycle/a.yaml', 6, 5, b)).toBe(`include cycle: ${a} -> ${b} -> ${a}`);
    expect(problemAt('yaml/include-twice.yaml', 3, 5)).toBe(
      `${fixture('yaml/includes/parts/nested.yaml')} is already included (first at ${fixture('yaml/include-twice.yaml')}:2); a file can be read only once`,
    );
    expect(problemAt('yaml/include-not-list.yaml', 1, 11)).toBe('includes must be a list (items starting with "- "), not a value');
  });
});

describe('YAML shapes and syntax', () => {
  const errors: [name: string, line: number, column: number, problem: string | RegExp][] = [
    ['syntax-error', 7, 1, /^YAML syntax: Flow sequence in block collection must be sufficiently indented and end with a \]/],
    ['tabs', 2, 1, 'YAML syntax: Tabs are not allowed as indentation'],
    ['two-documents', 3, 1, 'YAML syntax: a configuration is one YAML document: remove the "---" separating documents'],
    ['unknown-top-level', 3, 1, 'unknown top-level key "pipelines"; known keys: env, includes, service, pipeline'],
    ['upstream-servers', 1, 1, /^upstream_servers go in the Upstream file a forward output names \(upstream: servers.yaml\)/],
    ['unknown-pipeline-component', 2, 3, 'unknown pipeline component "input": pipeline holds inputs and outputs'],
    ['map-for-value', 6, 9, 'tag must be a single value, not a map'],
    ['map-in-list', 6, 11, 'an item of trace must be a single value, not a map'],
    ['inputs-not-list', 3, 5, 'inputs must be a list (items starting with "- "), not a map'],
    ['input-not-map', 3, 7, 'an item of inputs must be a map of key: value, not a value'],
    ['service-list', 2, 3, 'service must be a map of key: value, not a list'],
    ['not-a-map', 1, 1, 'a configuration file must be a map of key: value, not a list'],
    ['no-value', 5, 7, 'key "tag" has no value: write "tag: value"'],
    ['processors', 5, 7, 'processors: ebpf-forward has no processors: records go from the input to the outputs as the traces make them'],
  ];
  for (const [name, line, column, problem] of errors) {
    it(`${name}.yaml: ${line}:${column}`, () => {
      const got = problemAt(`yaml/${name}.yaml`, line, column);
      if (typeof problem === 'string') expect(got).toBe(problem);
      else expect(got).toMatch(problem);
    });
  }

  it('values are the text as written (failsafe schema): "0.5" stays a number of seconds, "on" a boolean word, "null" a name', () => {
    const config = load('yaml/full.yaml');
    expect(config.service.values.get('storage.checksum')).toBe(true);
    expect(config.outputs[0]!.plugin).toBe('null');
  });

  it('anchors and aliases stand for their node', () => {
    const config = load('yaml/anchors.yaml');
    expect(config.inputs[0]!.traces.map((t) => t.trace.name)).toEqual(['trace_signal', 'trace_keyed']);
    expect(config.outputs[0]!.match).toEqual({ kind: 'wildcard', pattern: 'shared' });
  });

  it('the format is chosen by the extension: .yml is YAML, .conf stays classic', () => {
    expect(load('yaml/extension.yml').inputs[0]!.traces[0]!.trace.name).toBe('trace_signal');
    expect(load('load/minimal.conf').inputs).toHaveLength(1);
  });
});

describe('upstream_servers: a YAML Upstream file', () => {
  const withoutPlaces = (sections: ReturnType<typeof parseClassicConfig>) =>
    sections.map((s) => ({ name: s.name, entries: s.entries.map((e) => [e.name, e.value]) }));

  it('reads into the sections of its classic twin: [UPSTREAM] with the group name, a [NODE] per node, env: expanded', () => {
    const yaml = parseYamlUpstreamFile(fixture('yaml/upstream/servers.yaml'), {});
    expect(withoutPlaces(yaml)).toEqual(withoutPlaces(parseClassicConfig(fixture('yaml/upstream/servers.conf'), {})));
    expect(yaml.map((s) => [s.name, s.line, s.column])).toEqual([
      ['upstream', 4, 5],
      ['node', 6, 9],
      ['node', 10, 9],
    ]);
  });

  it('holds only env, includes and upstream_servers; nodes is a list', () => {
    const file = fixture('yaml/upstream/pipeline-in-upstream.yaml');
    expect(configError(() => parseYamlUpstreamFile(file, {})).message).toBe(
      `${file}:7:1: unknown key "pipeline" in an Upstream file; known keys: env, includes, upstream_servers`,
    );
    const nodes = fixture('yaml/upstream/nodes-not-list.yaml');
    expect(configError(() => parseYamlUpstreamFile(nodes, {})).message).toBe(`${nodes}:4:7: nodes must be a list (items starting with "- "), not a map`);
  });
});

describe('the file itself', () => {
  const dir = mkdtempSync(join(tmpdir(), 'yaml-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a FIFO is refused without blocking (read through readRegularFile)', () => {
    const fifo = join(dir, 'fifo.yaml');
    execFileSync('mkfifo', [fifo]);
    const err = configError(() => loadConfig(fifo, deps));
    expect(err.message).toBe(`${fifo}: cannot read the configuration file: it is a FIFO, not a regular file`);
  });

  it('a file others can write is warned of, as the classic format does', () => {
    const path = join(dir, 'open.yaml');
    writeFileSync(path, 'pipeline:\n  inputs:\n    - name: ebpf\n      trace: trace_signal\n');
    chmodSync(dir, 0o700);
    chmodSync(path, 0o666);
    const warnings: string[] = [];
    parseYamlConfig(path, {}, { onWarning: (f, line, message) => warnings.push(`${f}:${line}: ${message}`) });
    expect(warnings).toEqual([expect.stringMatching(new RegExp(`^${path}:0: WARNING: it is writable by anyone \\(mode 0666\\)`))]);
  });

  it('the example config (conf/ebpf-forward.yaml) loads with the real traces and outputs', () => {
    const real: ConfigDeps = { traces, outputs: outputPlugins, env: {} };
    const config = loadConfig(join(import.meta.dirname, '..', '..', 'conf', 'ebpf-forward.yaml'), real);
    expect(config.inputs[0]!.traces.map((t) => t.trace.name)).toEqual(['trace_signal', 'trace_vfs']);
    expect(config.inputs[0]!.tag).toBe('host.ebpf');
    expect(config.outputs.map((o) => [o.plugin, o.match.pattern])).toEqual([['forward', '*']]);
  });
});

describe("a Fluent Bit user's YAML example, run by the CLI", () => {
  // Verbatim but for the port: the receiver's is ephemeral.
  const example = (port: number) => `env:
  FWD_TAG: host.ebpf
service:
  flush: 1
pipeline:
  inputs:
    - name: ebpf
      trace:
        - trace_signal
        - trace_vfs
      tag: \${FWD_TAG}
  outputs:
    - name: forward
      match: '*'
      host: 127.0.0.1
      port: ${port}
`;

  it('traces both, forwards a kill -USR2 tagged from env:, stops with exit 0', async () => {
    const receivers = await startReceivers();
    const cli = startCli(['-c', writeConfig(example(receivers.port), 'fluent-bit.yaml')], { FWD_TAG: 'not.this' });
    const target = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await cli.waitForLog(/tracing trace_signal, trace_vfs/);
      expect(spawnSync('/bin/kill', ['-USR2', String(target.pid)]).status).toBe(0);
      const entry = await waitFor(() => receivers.wire.find((e) => e.record.event_type === 'signal' && e.record.tpid === target.pid), 10_000, 'the signal record');
      expect(entry.tag).toBe('host.ebpf');
      expect(entry.record).toMatchObject({ signal: 12, comm: 'kill' });
      expect(await cli.stop('SIGTERM')).toBe(0);
    } finally {
      target.kill();
      await cli.stop();
      await receivers.close();
    }
  });

  it('a broken YAML config is one line naming file:line:column, no stack trace, nothing started', async () => {
    const path = writeConfig('pipeline:\n  inputs:\n    - name: ebpf\n      trace: [trace_signal, trace_nope]\n', 'broken.yml');
    const run = await runCli(['-c', path]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(`${path}:4:29: unknown trace "trace_nope"`);
    expect(run.stderr).not.toMatch(/^\s+at /m);
    expect(run.stderr).not.toMatch(/tracing/);
  });
});
