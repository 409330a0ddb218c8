// storage.path checked when the config is read (so --dry-run and a reload
// tell, and a start's refusal names the key's file:line), as the spool and
// the journal's start would find it (src/storage/folder.ts), creating and
// changing nothing: real folders, owners and modes.
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { outputPlugins } from '../../src/outputs/registry.js';
import { traces } from '../../src/traces/registry.js';
import { runCli } from '../support/cli.js';
import { configError } from './helpers.js';

const deps = { traces, outputs: outputPlugins, env: {} };

/** A config whose storage.path (line 2) is `path`, with a forward output and a journaled input. */
function configWith(path: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-forward-storage-conf-'));
  const file = join(dir, 'ebpf-forward.conf');
  writeFileSync(file, `[SERVICE]
    storage.path ${path}
[INPUT]
    Name          ebpf
    Trace         trace_signal
    storage.type  filesystem
[OUTPUT]
    Name   forward
    Match  *
`);
  return file;
}

const root = () => mkdtempSync(join(tmpdir(), 'ebpf-forward-storage-'));

describe('storage.path, checked as a start would use it', () => {
  it('a folder start would create (under one it may write in) passes, and nothing is created', () => {
    const path = join(root(), 'a', 'b');
    loadConfig(configWith(path), deps);
    expect(existsSync(join(path, '..'))).toBe(false);
  });

  it('usable instance folders pass as they are', () => {
    const path = root();
    mkdirSync(join(path, 'ebpf.0'), 0o700);
    mkdirSync(join(path, 'forward.0'), 0o755);
    loadConfig(configWith(path), deps);
  });

  const refused: [string, () => string, RegExp][] = [
    ['a file, not a folder', () => { const p = join(root(), 'file'); writeFileSync(p, ''); return p; }, /is not a folder/],
    ['under a file', () => { const p = join(root(), 'file'); writeFileSync(p, ''); return join(p, 'spool'); }, /cannot create .*: .*file is not a folder/],
    ['writable by others', () => { const p = root(); chmodSync(p, 0o777); return p; }, /is writable by its group and others \(mode 0777\)/],
    ['owned by another user', () => { const p = root(); chownSync(p, 65534, 65534); return p; }, /is owned by uid 65534, not by root/],
    ['an instance folder that is a symbolic link', () => { const p = root(); symlinkSync(tmpdir(), join(p, 'forward.0')); return p; }, /forward\.0 is a symbolic link: it is not followed/],
    ['an instance folder of another user', () => { const p = root(); mkdirSync(join(p, 'ebpf.0')); chownSync(join(p, 'ebpf.0'), 65534, 65534); return p; }, /ebpf\.0 is owned by uid 65534/],
  ];
  for (const [what, make, problem] of refused) {
    it(`${what}: an error at the key's line`, () => {
      const path = make();
      const file = configWith(path);
      const err = configError(() => loadConfig(file, deps));
      expect(err.message.startsWith(`${file}:2: storage.path ${path}: `)).toBe(true);
      expect(err.message).toMatch(problem);
    });
  }

  it('--dry-run says it in one line, exit 1', async () => {
    const path = root();
    chmodSync(path, 0o777);
    const file = configWith(path);
    const { code, stdout, stderr } = await runCli(['-c', file, '--dry-run']);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe(`ebpf-forward: ${file}:2: storage.path ${path}: ${path} is writable by its group and others (mode 0777): they could put records in it that would go out as genuine; chmod go-w it, or use another folder\n`);
  });
});
