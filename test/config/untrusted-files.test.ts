// Config files as a hostile local user or a careless operator may hand them
// over: writable by others or owned by them, not text, huge, or secret. Each
// is warned about or refused with a message that quotes at most a short
// slice of the file.
import { chmodSync, chownSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { quoteExcerpt } from '../../src/config/model.js';
import { parseClassicConfig } from '../../src/config/parser.js';
import { outputPlugins } from '../../src/outputs/registry.js';
import { traces } from '../../src/traces/registry.js';
import { configError } from './helpers.js';

const input = '[INPUT]\n    Name  ebpf\n    Trace trace_signal\n';

/** A fresh folder of root's, mode 0700 (as mkdtemp makes it), in the sticky /tmp. */
const folder = () => mkdtempSync(join(tmpdir(), 'ebpf-forward-conf-'));

function file(dir: string, name: string, text: string | Buffer, mode = 0o644): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

function warningsOf(path: string): string[] {
  const warnings: string[] = [];
  parseClassicConfig(path, {}, { onWarning: (f, line, message) => warnings.push(`${f}:${line}: ${message}`) });
  return warnings;
}

describe('config files others could change: a loud warning, as sshd and sudo give', () => {
  it("root's file, 0644, in root's folders: no warning", () => {
    expect(warningsOf(file(folder(), 'a.conf', input))).toEqual([]);
  });

  it.each([
    [0o666, 'writable by anyone (mode 0666)'],
    [0o664, 'writable by its group, gid 0 (mode 0664)'],
  ])('mode %s: %s', (mode, what) => {
    const path = file(folder(), 'a.conf', input, mode);
    const warnings = warningsOf(path);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toBe(`${path}:0: WARNING: it is ${what}, so others than root can change what is traced and where every record goes (command lines included): make it root's and not writable by group or others (chown root; chmod go-w)`);
  });

  it('owned by another user', () => {
    const path = file(folder(), 'a.conf', input);
    chownSync(path, 65534, 65534);
    expect(warningsOf(path)[0]).toMatch(/:0: WARNING: it is owned by uid 65534, so others than root can change/);
  });

  it('in a folder others can write (they could replace the file), but not in a sticky one such as /tmp', () => {
    const dir = folder();
    const open = join(dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const path = file(open, 'a.conf', input);
    expect(warningsOf(path)[0]).toMatch(new RegExp(`WARNING: its folder ${open} is writable by anyone \\(mode 0777\\)`));
    chmodSync(open, 0o1777);
    expect(warningsOf(path)).toEqual([]);
  });

  it('an @INCLUDEd file is checked too, and loadConfig passes the warning on without a line number', () => {
    const dir = folder();
    file(dir, 'outputs.conf', '[OUTPUT]\n    Name stdout\n    Match *\n', 0o666);
    const main = file(dir, 'main.conf', `${input}@INCLUDE outputs.conf\n`);
    const config = loadConfig(main, { traces, outputs: outputPlugins, env: {} });
    expect(config.warnings).toEqual([expect.stringMatching(new RegExp(`^${join(dir, 'outputs.conf')}: WARNING: it is writable by anyone`))]);
  });
});

describe('config files that are not config text', () => {
  it('a file over 4 MiB is refused without being read', () => {
    const path = file(folder(), 'big.conf', Buffer.alloc((4 << 20) + 1, 0x23));
    const err = configError(() => parseClassicConfig(path, {}));
    expect(err.message).toBe(`${path}: cannot read the configuration file: it is ${(4 << 20) + 1} bytes, more than a configuration file can be (${4 << 20})`);
  });

  it('an @INCLUDE of a character device is refused at the @INCLUDE', () => {
    const path = file(folder(), 'a.conf', `${input}@INCLUDE /dev/zero\n`);
    const err = configError(() => parseClassicConfig(path, {}));
    expect([err.line, err.problem]).toEqual([4, '@INCLUDE: /dev/zero is not a file']);
  });

  it('a line that is not UTF-8 (a Tag) is an error at its line; in a comment it is let be', () => {
    const dir = folder();
    const bad = file(dir, 'bad.conf', Buffer.concat([Buffer.from(`${input}    Tag   host.`), Buffer.from([0xff, 0xfe]), Buffer.from('\n')]));
    const err = configError(() => parseClassicConfig(bad, {}));
    expect([err.line, err.problem]).toEqual([4, 'this line is not valid UTF-8: a configuration file is UTF-8 text']);
    const comment = file(dir, 'comment.conf', Buffer.concat([Buffer.from('# caf'), Buffer.from([0xe9]), Buffer.from(`\n${input}`)]));
    expect(parseClassicConfig(comment, {})[0]!.entries.map((e) => e.value)).toEqual(['ebpf', 'trace_signal']);
  });

  it('a ${VAR} whose environment value was not UTF-8 (Node makes those bytes U+FFFD) is an error', () => {
    const path = file(folder(), 'a.conf', `${input}    Tag   \${TAG}\n`);
    const err = configError(() => parseClassicConfig(path, { TAG: 'host.\uFFFD' }));
    expect([err.line, err.problem]).toEqual([4, '${TAG}: the environment variable is not valid UTF-8']);
  });
});

describe('messages quote at most a short slice of the file', () => {
  const secret = 'root:$y$j9T$3SxSWmNwXzHkPzUvVRiP71$Yz0iBoBhgpYW8tc6pPvzRnNB1TOp5pnhQvtS3sI1AL7:19000:0:99999:7:::';
  /** Secret-looking files that are not configs: a shadow file, a private key, an env file, as YAML would read them too. */
  const notConfigs = {
    shadow: `${secret}\ndaemon:*:19000:0:99999:7:::\n`,
    key: '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n',
    env: 'DB_PASSWORD=hunter2-secret\n',
    yamlish: 'password: hunter2-secret\ntoken: abcdef-secret\n',
  };
  /** Whether a message holds any 6 characters in a row of `text` (but for the file's name). */
  const quotes = (message: string, text: string) => [...text.matchAll(/(?=(.{6}))/gs)].some((m) => message.includes(m[1]!));

  it('the main file that is not a config (-c /etc/shadow): said so at its first line, quoting none of it', () => {
    const path = file(folder(), 'shadow', notConfigs.shadow);
    const err = configError(() => parseClassicConfig(path, {}));
    expect([err.line, err.problem]).toEqual([1, 'this is not a configuration file (it does not start with a [SECTION] header, @INCLUDE or @SET); nothing of it is shown']);
  });

  it.each(Object.keys(notConfigs) as (keyof typeof notConfigs)[])('@INCLUDE of a file that is not a config (%s): said so at the @INCLUDE line, naming the file, quoting none of it', (name) => {
    const dir = folder();
    const included = file(dir, name, notConfigs[name]);
    const main = file(dir, 'main.conf', `${input}@INCLUDE ${included}\n`);
    const err = configError(() => loadConfig(main, { traces, outputs: outputPlugins, env: {} }));
    expect([err.file, err.line, err.problem]).toEqual([main, 4, `@INCLUDE: ${included} is not a configuration file (it does not start with a [SECTION] header, @INCLUDE or @SET); nothing of it is shown`]);
    expect(quotes(err.message.replace(included, ''), notConfigs[name])).toBe(false);
  });

  it.each(Object.keys(notConfigs) as (keyof typeof notConfigs)[])('YAML includes: of a file that is not a config (%s): the same, at the includes item', (name) => {
    const dir = folder();
    const included = file(dir, name, notConfigs[name]);
    const main = file(dir, 'main.yaml', `pipeline:\n  inputs:\n    - name: ebpf\n      trace: trace_signal\nincludes:\n  - ${included}\n`);
    const err = configError(() => loadConfig(main, { traces, outputs: outputPlugins, env: {} }));
    expect([err.file, err.line, err.problem]).toEqual([main, 6, `includes: ${included} is not a configuration file (not a YAML map of env, includes, service, pipeline); nothing of it is shown`]);
    expect(quotes(err.message.replace(included, ''), notConfigs[name])).toBe(false);
  });

  it('an included config with a mistake is still quoted where it is wrong (it is a config)', () => {
    const dir = folder();
    const included = file(dir, 'outputs.conf', '[OUTPUT]\n    Name stdout\n    Match *\nnot indented\n');
    const err = configError(() => parseClassicConfig(file(dir, 'main.conf', `${input}@INCLUDE ${included}\n`), {}));
    expect([err.file, err.line, err.problem]).toEqual([included, 4, '"not indented" is not indented: entries of a section must be indented (section headers start at column 1)']);
  });

  it('a megabyte line, as a key, a value or a section header, gives a short message', () => {
    const huge = 'x'.repeat(1 << 20);
    const dir = folder();
    const deps = { traces, outputs: outputPlugins, env: {} };
    const cases = [
      `${input}    ${huge} 1\n`, // unknown key
      `${input.replace('trace_signal', huge)}`, // unknown trace
      `${input}    Tag ${huge}\n    Tag again\n`, // set twice
      `[SERVICE]\n    Flush ${huge}\n${input}`, // a parser of keys.ts
      `${input}[OUTPUT]\n    Name stdout\n    Match *\n    Format ${huge}\n`, // a plugin's own parser quoting the value
      `[${huge}\n`, // bad header
      `${input}    @SET ${huge}\n`, // indented directive
    ];
    for (const [i, text] of cases.entries()) {
      const err = configError(() => loadConfig(file(dir, `${i}.conf`, text), deps));
      expect(err.problem.length, err.problem.slice(0, 300)).toBeLessThan(600);
    }
  });
});
