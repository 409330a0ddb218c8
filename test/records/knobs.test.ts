// Knobs are written from their BTF types: sizes, signedness, array lengths
// and enumerators come from the object, and a value that does not fit is an
// error naming the object, the knob and what it takes.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { Btf } from '../../src/records/btf.js';
import { KnobError, Knobs } from '../../src/records/knobs.js';

const dir = mkdtempSync(join(tmpdir(), 'ebpf-forward-knobs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SOURCE = `
typedef unsigned long long __u64; typedef unsigned int __u32; typedef unsigned short __u16; typedef unsigned char __u8; typedef signed char __s8;
enum side { SIDE_IN = 4, SIDE_OUT = 8 };
const volatile __u32 count = 0;
const volatile __s8 small = 0;
const volatile __u64 big = 0;
const volatile _Bool flag = 0;
const volatile __u16 ports[3] = {};
const volatile char name[8] = {};
const volatile char ids[2][4] = {};
const enum side *keep_side;
`;

function knobs(): { knobs: Knobs; written: Map<string, string> } {
  const c = join(dir, 'knobs.c');
  const o = join(dir, 'knobs.o');
  writeFileSync(c, SOURCE);
  execFileSync('clang', ['-g', '-O2', '-target', 'bpf', '-c', c, '-o', o]);
  const written = new Map<string, string>();
  const recorder = { setGlobal: (name: string, value: Buffer) => void written.set(name, value.toString('hex')) };
  return { knobs: new Knobs(recorder, Btf.ofObject(o), 'knobs.o'), written };
}

it('writes integers, bools, strings, raw bytes and arrays at the sizes the BTF gives', () => {
  const { knobs: k, written } = knobs();
  k.set('count', 0x01020304);
  k.set('small', -2);
  k.set('big', 2n ** 64n - 1n);
  k.set('flag', true);
  k.set('ports', [53, 5353]);
  k.set('name', 'abc');
  k.set('ids', [Buffer.from('abcd'), Buffer.from('ef')]);
  expect(Object.fromEntries(written)).toEqual({
    count: '04030201',
    small: 'fe',
    big: 'ffffffffffffffff',
    flag: '01',
    ports: '3500e9140000',
    name: '6162630000000000',
    ids: '6162636465660000',
  });
  expect(k.length('ports')).toBe(3);
  expect(k.enumerator('side', 'SIDE_OUT')).toBe(8);
});

it('refuses what does not fit, naming the object, the knob and what it takes', () => {
  const { knobs: k, written } = knobs();
  expect(() => k.set('count', -1)).toThrow(KnobError);
  expect(() => k.set('count', -1)).toThrow('knobs.o: count is __u32, an unsigned 4-byte integer (0 to 4294967295): -1 does not fit');
  expect(() => k.set('small', 128)).toThrow('-128 to 127');
  expect(() => k.set('ports', [1, 2, 3, 4])).toThrow('knobs.o: ports holds at most 3 items: 4 given');
  expect(() => k.set('ports', [70000])).toThrow('70000 does not fit');
  expect(() => k.set('name', 'abcdefgh')).toThrow('is 8 bytes');
  expect(() => k.set('flag', 1)).toThrow('is not a bool');
  expect(() => k.set('nope', 1)).toThrow('knobs.o has no global nope');
  expect(() => k.length('count')).toThrow('count is __u32, not an array');
  expect(() => k.enumerator('side', 'SIDE_UP')).toThrow("knobs.o's BTF has no enumerator SIDE_UP of enum side");
  expect(written.size).toBe(0);
  k.setIfPresent('nope', 1); // a user's object may lack the session's knobs
  expect(written.size).toBe(0);
});
