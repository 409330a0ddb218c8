import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { parseClassicConfig } from '../../src/config/parser.js';
import { configError, fixture } from './helpers.js';

const noEnv = {};

/** Sections as [name, {key: value}] pairs, for compact assertions. */
const summary = (path: string, env: Record<string, string | undefined> = noEnv) =>
  parseClassicConfig(path, env).map((s) => [s.name, s.entries.map((e) => `${e.key}=${e.value}`)]);

describe('parseClassicConfig: sections and entries', () => {
  it('reads sections by lower-cased name, keys as written and lower-cased, values trimmed, comments skipped', () => {
    const path = fixture('parser/basic.conf');
    const sections = parseClassicConfig(path, noEnv);
    expect(sections.map((s) => [s.name, s.line, s.file])).toEqual([
      ['service', 2, path],
      ['input', 7, path],
      ['output', 12, path],
    ]);
    const input = sections[1]!;
    expect(input.entries.map((e) => [e.key, e.name, e.value, e.line])).toEqual([
      ['Name', 'name', 'ebpf', 8],
      ['Trace', 'trace', 'trace_signal', 9],
      ['TAG', 'tag', 'value with  inner   spaces', 10],
      // Fluent Bit has no end-of-line comments: the value keeps its '#'.
      ['Note', 'note', '# not a comment: values keep their hashes', 11],
    ]);
    expect(sections[0]!.entries.map((e) => e.key)).toEqual(['Flush', 'Log_Level']);
    expect(sections[2]!.entries[0]).toMatchObject({ key: 'name', name: 'name', value: 'stdout', line: 13 });
  });

  it('accepts CRLF line ends', () => {
    expect(summary(fixture('parser/crlf.conf'))).toEqual([['input', ['Name=ebpf', 'Tag=crlf']]]);
  });

  it('accepts tab indentation and a tab between key and value', () => {
    expect(summary(fixture('parser/tabs.conf'))).toEqual([['input', ['Name=ebpf', 'Tag=x y']]]);
  });

  it('ignores a byte-order mark before the first line', () => {
    expect(summary(fixture('parser/bom.conf'))).toEqual([['service', ['Flush=1']]]);
  });

  it('treats white-space-only lines as blank', () => {
    expect(summary(fixture('parser/whitespace-line.conf'))).toEqual([['input', ['Name=ebpf', 'Tag=x']]]);
  });
});

describe('parseClassicConfig: errors with file:line', () => {
  const cases: [string, number, RegExp][] = [
    ['parser/not-indented.conf', 2, /"Name ebpf" is not indented: entries of a section must be indented/],
    ['parser/outside-section.conf', 2, /"Name ebpf" is outside of any section/],
    ['parser/indent-less.conf', 5, /indented less than the other entries: this file indents entries with 4 spaces \(line 2\), this line with 2 spaces/],
    ['parser/indent-deeper.conf', 3, /indented deeper than the other entries: this file indents entries with 2 spaces \(line 2\), this line with 4 spaces/],
    ['parser/indent-tabs-spaces.conf', 3, /inconsistent use of tabs and spaces: this file indents entries with 4 spaces \(line 2\), this line with 1 tab/],
    ['parser/no-value.conf', 3, /key "Tag" has no value/],
    ['parser/blank-value.conf', 3, /key "Tag" has no value/],
    ['parser/bad-header.conf', 3, /bad section header "\[INPUT": missing "\]"/],
    ['parser/empty-header.conf', 1, /empty section name/],
    ['parser/header-trailing.conf', 1, /^"extra" after the section header \[INPUT\]: a header line holds only \[NAME\]/],
    ['parser/group.conf', 3, /groups inside a section are not supported/],
    ['parser/indented-directive.conf', 3, /@INCLUDE and @SET must start at column 1/],
    ['parser/unknown-directive.conf', 2, /unknown directive @INCLUDES: the classic format has @INCLUDE and @SET/],
    ['parser/set-no-equals.conf', 1, /@SET expects NAME=VALUE, got "tag"/],
    ['parser/set-no-name.conf', 1, /@SET expects NAME=VALUE/],
    ['parser/include-no-path.conf', 3, /@INCLUDE needs a file name or a glob pattern/],
  ];
  for (const [name, line, problem] of cases) {
    it(`${name}: line ${line}`, () => {
      const path = fixture(name);
      const err = configError(() => parseClassicConfig(path, noEnv));
      expect([err.file, err.line]).toEqual([path, line]);
      expect(err.problem).toMatch(problem);
      expect(err.message).toBe(`${path}:${line}: ${err.problem}`);
    });
  }

  it('a main file that does not exist: file-level error (no line)', () => {
    const path = fixture('parser/no-such-file.conf');
    const err = configError(() => parseClassicConfig(path, noEnv));
    expect([err.file, err.line]).toEqual([path, 0]);
    expect(err.message).toBe(`${path}: cannot read the configuration file: no such file`);
  });
});

describe('parseClassicConfig: @INCLUDE', () => {
  it('includes files and sorted glob matches in place, relative to the main file folder, each file with its own indentation', () => {
    const sections = parseClassicConfig(fixture('parser/include/main.conf'), noEnv);
    expect(sections.map((s) => [s.name, s.entries.map((e) => e.value).join(',')])).toEqual([
      ['service', '1'],
      ['input', 'ebpf,from-inputs'],
      // conf.d/*.conf sorted; dot files and other extensions left out.
      ['output', 'a'],
      ['output', 'b'],
      // sub/level1.conf's "@INCLUDE level2.conf" is relative to the main file's folder.
      ['output', 'level2-beside-main'],
      ['output', 'stdout'],
    ]);
    expect(sections[2]!.file).toBe(fixture('parser/include/conf.d/10-a.conf'));
    expect(sections[4]).toMatchObject({ file: fixture('parser/include/level2.conf'), line: 1 });
    expect(sections[4]!.entries[0]).toMatchObject({ file: fixture('parser/include/level2.conf'), line: 2 });
  });

  it('entries after an @INCLUDE still belong to the section before it (as in Fluent Bit)', () => {
    expect(summary(fixture('parser/include-continue/main.conf'))).toEqual([
      ['input', ['Name=ebpf', 'Tag=after-include']],
      ['output', ['Name=stdout']],
    ]);
  });

  it('a missing file is an error at the @INCLUDE line', () => {
    const path = fixture('parser/missing-include.conf');
    const err = configError(() => parseClassicConfig(path, noEnv));
    expect([err.file, err.line]).toEqual([path, 3]);
    expect(err.problem).toBe(`@INCLUDE: cannot read ${fixture('parser/does-not-exist.conf')}: no such file`);
  });

  it('a glob that matches nothing is an error (as in Fluent Bit)', () => {
    const path = fixture('parser/glob-no-match.conf');
    const err = configError(() => parseClassicConfig(path, noEnv));
    expect([err.file, err.line]).toEqual([path, 4]);
    expect(err.problem).toBe(`@INCLUDE nothing-here/*.conf: no file matches ${fixture('parser/nothing-here/*.conf')}`);
  });

  it('including a folder is an error', () => {
    const path = fixture('parser/include-folder.conf');
    const err = configError(() => parseClassicConfig(path, noEnv));
    expect([err.file, err.line]).toEqual([path, 1]);
    expect(err.problem).toMatch(/is not a file/);
  });

  it('an include cycle is an error at the @INCLUDE that closes it, naming the chain', () => {
    const a = fixture('parser/cycle/a.conf');
    const b = fixture('parser/cycle/b.conf');
    const err = configError(() => parseClassicConfig(a, noEnv));
    expect([err.file, err.line]).toEqual([b, 2]);
    expect(err.problem).toBe(`include cycle: ${a} -> ${b} -> ${a}`);
  });

  it('a glob that matches the including file is a cycle', () => {
    const main = fixture('parser/self-glob/main.conf');
    const err = configError(() => parseClassicConfig(main, noEnv));
    expect([err.file, err.line]).toEqual([main, 1]);
    expect(err.problem).toBe(`include cycle: ${main} -> ${main}`);
  });

  it('including the same file twice is an error (Fluent Bit reads a file once)', () => {
    const main = fixture('parser/twice/main.conf');
    const err = configError(() => parseClassicConfig(main, noEnv));
    expect([err.file, err.line]).toEqual([main, 2]);
    expect(err.problem).toBe(`${fixture('parser/twice/common.conf')} is already included (first at ${main}:1); a file can be read only once`);
  });
});

describe('parseClassicConfig: @SET and ${VAR}', () => {
  const path = fixture('parser/vars/main.conf');
  const env = { CONFIG_TEST_DIR: '/from/env', CONFIG_TEST_SHADOWED: 'env-loses' };

  it('expands @SET variables, then the environment; unset ones become "" with a warning', () => {
    const warnings: string[] = [];
    const [input] = parseClassicConfig(path, env, { onWarning: (f, l, m) => warnings.push(`${f}:${l}: ${m}`) });
    const values = Object.fromEntries(input!.entries.map((e) => [e.key, e.value]));
    expect(values).toEqual({
      Name: 'ebpf',
      Tag: 'from-set',
      Path: '/from/env/x',
      Both: 'from-set-/from/env',
      Unset: 'beforeafter',
      Spaced: 'a b c',
      // Every @SET applies before expansion, even one further down or in an included file.
      Late: 'set-in-an-included-file',
      Shadow: 'set-wins',
      Literal: '$tag ${} ${unterminated',
    });
    expect(input!.entries.find((e) => e.key === 'Unset')!.unsetVariables).toEqual(['CONFIG_TEST_UNSET']);
    expect(input!.entries.find((e) => e.key === 'Tag')!.unsetVariables).toBeUndefined();
    expect(warnings).toEqual([`${path}:8: \${CONFIG_TEST_UNSET} is not set (no @SET, no environment variable): it expands to ""`]);
  });

  it('an empty environment variable counts as unset', () => {
    const [input] = parseClassicConfig(path, { CONFIG_TEST_DIR: '' });
    const entry = input!.entries.find((e) => e.key === 'Path')!;
    expect(entry.value).toBe('/x');
    expect(entry.unsetVariables).toEqual(['CONFIG_TEST_DIR']);
  });

  it('${HOSTNAME} comes from the environment, else the host name (Fluent Bit presets it)', () => {
    const hostConf = fixture('parser/hostname.conf');
    const tag = (env: Record<string, string>) => parseClassicConfig(hostConf, env)[0]!.entries[1]!.value;
    expect(tag({ HOSTNAME: 'from-env' })).toBe('host.from-env');
    expect(tag({})).toBe(`host.${hostname()}`);
  });

  it('uses process.env when no env is given', () => {
    process.env.CONFIG_TEST_DIR = '/from/process';
    try {
      const [input] = parseClassicConfig(path);
      expect(input!.entries.find((e) => e.key === 'Path')!.value).toBe('/from/process/x');
    } finally {
      delete process.env.CONFIG_TEST_DIR;
    }
  });
});
