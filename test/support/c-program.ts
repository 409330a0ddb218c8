// Compiles a small C program used by a test to cause kernel events, once per
// test run, into a temp folder.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const built = new Map<string, string>();

export function compileC(name: string, source: string): string {
  const key = `${name}\0${source}`;
  const existing = built.get(key);
  if (existing) return existing;
  const dir = mkdtempSync(join(tmpdir(), `ebpf-forward-${name}-`));
  const src = join(dir, `${name}.c`);
  const bin = join(dir, name);
  writeFileSync(src, source);
  execFileSync('cc', ['-O0', '-Wall', '-o', bin, src]);
  built.set(key, bin);
  return bin;
}
