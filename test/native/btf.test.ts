// readBtf(path): the raw .BTF of a BPF object, and its errors.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot, readBtf, type NativeError } from '../../src/native/addon.js';

const dir = mkdtempSync(join(tmpdir(), 'ebpf-forward-btf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function errorOf(fn: () => unknown): NativeError {
  try {
    fn();
  } catch (err) {
    return err as NativeError;
  }
  throw new Error('did not throw');
}

/** A tiny BPF object, with or without debug info (-g puts the BTF in). */
function compile(name: string, debug: boolean): string {
  const src = join(dir, `${name}.c`);
  const obj = join(dir, `${name}.o`);
  writeFileSync(src, 'struct thing { int a; long b; };\nstruct thing *keep __attribute__((used));\n__attribute__((section("tracepoint/x/y"), used)) int f(void *c) { return 0; }\nchar LICENSE[] __attribute__((section("license"), used)) = "GPL";\n');
  const r = spawnSync('clang', [...(debug ? ['-g'] : []), '-O2', '-target', 'bpf', '-c', src, '-o', obj], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return obj;
}

describe('readBtf', () => {
  it('gives the .BTF as libbpf reads it: header, types, strings', () => {
    const btf = readBtf(join(packageRoot, 'bpf', '.output', 'signal.bpf.o'));
    expect(btf.readUInt16LE(0)).toBe(0xeb9f); // magic
    expect(btf[2]).toBe(1); // version
    const hdrLen = btf.readUInt32LE(4);
    const [typeOff, typeLen, strOff, strLen] = [8, 12, 16, 20].map((at) => btf.readUInt32LE(at)) as [number, number, number, number];
    expect(hdrLen).toBe(24);
    expect(hdrLen + typeOff + typeLen).toBeLessThanOrEqual(btf.length);
    expect(hdrLen + strOff + strLen).toBe(btf.length);
    const strings = btf.toString('latin1', hdrLen + strOff, hdrLen + strOff + strLen).split('\0');
    expect(strings).toContain('signal_event');
    expect(strings).toContain('event_header');
  });

  it('of a small object of our own', () => {
    const btf = readBtf(compile('with', true));
    expect(btf.readUInt16LE(0)).toBe(0xeb9f);
    expect(btf.toString('latin1')).toContain('\0thing\0');
  });

  it('ENOENT for a missing file; a clear error for an object without BTF, or a file that is no object', () => {
    const missing = errorOf(() => readBtf(join(dir, 'nothing.o')));
    expect(missing.code).toBe('ENOENT');
    const plain = compile('without', false);
    const none = errorOf(() => readBtf(plain));
    expect(none.message).toBe(`${plain} has no BTF (build it with clang -g)`);
    expect(none.code).toBe('ENODATA');
    const text = join(dir, 'text.o');
    writeFileSync(text, 'not an ELF file\n');
    expect(errorOf(() => readBtf(text)).message).toMatch(/^reading the BTF of .*text\.o: /);
    expect(() => readBtf('')).toThrow(TypeError);
  });
});
