// Layouts come from BTF: the same declaration, compiled against two builds of
// a struct laid out differently, decodes each build's records right with no
// other edit; and a declaration that does not fit the BTF is refused at
// compile time, with a message naming both sides.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openRecordProgram } from '../../src/native/addon.js';
import { Btf } from '../../src/records/btf.js';
import { compileStruct } from '../../src/records/compile-struct.js';
import { compileTrace } from '../../src/records/compile.js';
import { RecordLayoutError } from '../../src/records/program-builder.js';
import type { RecordShape } from '../../src/records/declaration.js';
import { decodeEntries } from '../support/decoded-events.js';
import { batchOf } from '../support/program-builder.js';

const dir = mkdtempSync(join(tmpdir(), 'ebpf-forward-layout-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HEADER = `
typedef unsigned long long __u64; typedef long long __s64; typedef unsigned int __u32; typedef int __s32;
typedef unsigned short __u16; typedef unsigned char __u8;
struct event_header { __u64 ts_ns; __u64 seq; __u64 event_id; __u32 pid; __u32 tid; __u16 kind; __u16 flags; __u32 reserved; char comm[16]; };
`;
/** This older header has no container identity (test/containers/ covers it): compiled without it. */
const NO_CONTAINER = { containerMetadata: false };

/** A BPF object (clang -g, so with BTF) holding these declarations. */
function objectWith(name: string, source: string): Btf {
  const c = join(dir, `${name}.c`);
  const o = join(dir, `${name}.o`);
  writeFileSync(c, `${HEADER}\n${source}\n`);
  execFileSync('clang', ['-g', '-O2', '-target', 'bpf', '-c', c, '-o', o]);
  return Btf.ofObject(o);
}

const shape: RecordShape = {
  struct: 'demo_event',
  eventType: 'demo',
  fields: [
    { key: 'a', type: 'uint', from: { copy: 'a' }, doc: '' },
    { key: 'b', type: 'int', from: { copy: 'b' }, doc: '' },
    { key: 'c', type: 'uint16', from: { copy: 'c' }, doc: '' },
    { key: 'name', type: 'string', from: { copy: 'name' }, doc: '' },
  ],
};

// The records below are written at the C offsets on purpose: this test checks
// the offsets the BTF gives. Header: ts_ns@0, seq@8, event_id@16, pid@24, tid@28, comm@40.
function header(b: Buffer): void {
  b.writeBigUInt64LE(5_000_000_123n, 0);
  b.writeBigUInt64LE((1n << 48n) | 7n, 16);
  b.writeUInt32LE(41, 24);
  b.writeUInt32LE(42, 28);
  b.write('demo', 40);
}

function encode(btf: Btf, records: Buffer[]) {
  const program = compileTrace(shape, btf, { trace: 'trace_demo', object: 'demo.bpf.o', ...NO_CONTAINER });
  const out = openRecordProgram(program.code, program.pool).encode(batchOf(records), records.length, 1_000_000_000n, 0n);
  return decodeEntries(out.entries);
}

describe('record layouts from BTF', () => {
  it('follows a struct whose members moved, with no other edit', () => {
    const v1 = objectWith('v1', 'struct demo_event { struct event_header hdr; __u32 a; __s32 b; __u16 c; char name[6]; }; struct demo_event *p;');
    const v2 = objectWith('v2', 'struct demo_event { struct event_header hdr; char name[6]; __u16 c; __u64 pad; __s32 b; __u32 a; }; struct demo_event *p;');
    expect(v1.struct('demo_event')!.size).not.toBe(v2.struct('demo_event')!.size);

    const r1 = Buffer.alloc(v1.struct('demo_event')!.size);
    header(r1);
    r1.writeUInt32LE(7, 56);
    r1.writeInt32LE(-9, 60);
    r1.writeUInt16LE(65535, 64);
    r1.write('hello', 66);
    const r2 = Buffer.alloc(v2.struct('demo_event')!.size);
    header(r2);
    r2.write('hello', 56);
    r2.writeUInt16LE(65535, 62);
    r2.writeInt32LE(-9, 72);
    r2.writeUInt32LE(7, 76);

    const expected = { event_type: 'demo', event_id: (1n << 48n) + 7n, pid: 41, tid: 42, comm: 'demo', a: 7, b: -9, c: 65535, name: 'hello' };
    const [e1] = encode(v1, [r1]);
    const [e2] = encode(v2, [r2]);
    expect(e1!.record).toEqual(expected);
    expect(Object.keys(e2!.record)).toEqual(Object.keys(expected));
    expect(e2!.record).toEqual(expected);
    expect({ sec: e1!.sec, nsec: e1!.nsec }).toEqual({ sec: 6, nsec: 123 });
  });

  it('refuses a record shorter than its struct (malformed, counted)', () => {
    const v1 = objectWith('short', 'struct demo_event { struct event_header hdr; __u32 a; __s32 b; __u16 c; char name[6]; }; struct demo_event *p;');
    const program = compileTrace(shape, v1, { trace: 'trace_demo', object: 'demo.bpf.o', ...NO_CONTAINER });
    const out = openRecordProgram(program.code, program.pool).encode(batchOf([Buffer.alloc(60)]), 1, 0n, 0n);
    expect(out).toMatchObject({ count: 0, malformed: 1 });
  });

  it('a declaration that does not fit the BTF is an error naming both', () => {
    const signed = objectWith('signed', 'struct demo_event { struct event_header hdr; __s32 a; __s32 b; __u16 c; char name[6]; }; struct demo_event *p;');
    expect(() => compileTrace(shape, signed, { trace: 'trace_demo', object: 'demo.bpf.o' })).toThrow(RecordLayoutError);
    expect(() => compileTrace(shape, signed, { trace: 'trace_demo', object: 'demo.bpf.o' })).toThrow(
      "trace_demo: field a (declared uint) needs an integer that fits uint, but demo.bpf.o's BTF has demo_event.a as __s32 (signed, 4 bytes)",
    );
    const missing = objectWith('missing', 'struct demo_event { struct event_header hdr; __u32 a; __s32 b; char name[6]; }; struct demo_event *p;');
    expect(() => compileTrace(shape, missing, { trace: 'trace_demo', object: 'demo.bpf.o' })).toThrow("field c (declared uint16) reads demo_event.c, which demo.bpf.o's BTF does not have");
    const wide = objectWith('wide', 'struct demo_event { struct event_header hdr; __u32 a; __s32 b; __u32 c; char name[6]; }; struct demo_event *p;');
    expect(() => compileTrace(shape, wide, { trace: 'trace_demo', object: 'demo.bpf.o' })).toThrow('demo_event.c as __u32 (unsigned, 4 bytes)');
    const none = objectWith('none', 'struct other_event { struct event_header hdr; }; struct other_event *p;');
    expect(() => compileTrace(shape, none, { trace: 'trace_demo', object: 'demo.bpf.o' })).toThrow("its record struct demo_event is not in demo.bpf.o's BTF (has: other_event); declare it with RECORD_TYPE(demo_event)");
  });

  it("record kinds and names of values are the object's enumerators: the numbers come from its BTF", () => {
    const source = (kinds: string) => `enum demo_kind { ${kinds} }; enum demo_color { RED = 3, BLUE = 5 };
      struct demo_event { struct event_header hdr; __u32 color; }; struct demo_event *p; enum demo_kind *k; enum demo_color *c;`;
    const colored = (eventType: string): RecordShape => ({
      struct: 'demo_event',
      eventType,
      fields: [{ key: 'color', type: 'string', from: { names: { RED: 'red', BLUE: 'blue' }, enum: 'demo_color', of: 'color', otherwise: 'other' }, doc: '' }],
    });
    const declaration = { by: 'hdr.kind', kinds: 'demo_kind', cases: { DEMO_A: colored('a'), DEMO_B: colored('b') } };
    const recordOf = (kind: number, color: number) => {
      const r = Buffer.alloc(64); // 60, padded to the alignment of its u64s
      header(r);
      r.writeUInt16LE(kind, 32);
      r.writeUInt32LE(color, 56);
      return r;
    };
    const entries = (btf: Btf, records: Buffer[]) => {
      const program = compileTrace(declaration, btf, { trace: 'trace_demo', object: 'demo.bpf.o', ...NO_CONTAINER });
      return decodeEntries(openRecordProgram(program.code, program.pool).encode(batchOf(records), records.length, 0n, 0n).entries).map((e) => [e.record.event_type, e.record.color]);
    };
    // The same declaration follows the numbers of each build; a kind with no case is skipped.
    const v1 = objectWith('kinds1', source('DEMO_A = 7, DEMO_B = 9'));
    expect(entries(v1, [recordOf(7, 5), recordOf(9, 3), recordOf(9, 4), recordOf(8, 3)])).toEqual([['a', 'blue'], ['b', 'red'], ['b', 'other']]);
    const v2 = objectWith('kinds2', source('DEMO_B = 1, DEMO_A = 2'));
    expect(entries(v2, [recordOf(2, 5), recordOf(1, 3), recordOf(7, 3)])).toEqual([['a', 'blue'], ['b', 'red']]);
    // A missing enum or enumerator is an error naming both sides.
    expect(() => compileTrace({ ...declaration, kinds: 'nope' }, v1, { trace: 'trace_demo', object: 'demo.bpf.o' })).toThrow(
      "trace_demo's record kinds: demo.bpf.o's BTF has no enum nope; put it there with ENUM_TYPE(nope) in the .bpf.c",
    );
    expect(() => compileTrace({ ...declaration, cases: { ...declaration.cases, DEMO_C: colored('c') } }, v1, { trace: 'trace_demo', object: 'demo.bpf.o' })).toThrow(
      "trace_demo: enum demo_kind in demo.bpf.o's BTF has no enumerator DEMO_C (it has: DEMO_A, DEMO_B)",
    );
    expect(() => compileTrace({ ...declaration, kinds: 'demo_color', cases: { RED: colored('a') } }, objectWith('wide-kind', 'enum demo_color { RED = 70000 }; struct demo_event { struct event_header hdr; __u32 color; }; struct demo_event *p; enum demo_color *c;'), { trace: 'trace_demo', object: 'demo.bpf.o' })).toThrow(
      "a record kind of enum demo_color is 70000, which hdr.kind (2 bytes, unsigned) can't hold",
    );
  });

  it('compiles any struct as it is: nested structs, arrays, enums, bools', () => {
    const btf = objectWith(
      'any',
      `enum how { EXITED = 0, KILLED = 9 }; struct ids { __u32 uid; __s32 gid; };
       struct any_record { __u64 when; _Bool dumped; enum how how; struct ids ids; __u16 codes[3]; char comm[8]; __s64 delta; };
       struct any_record *p;`,
    );
    const program = compileStruct(btf, 'any_record', { object: 'any.o', timeField: 'when' });
    const r = Buffer.alloc(btf.struct('any_record')!.size);
    r.writeBigUInt64LE(2_500_000_000n, 0);
    r[8] = 1;
    r.writeUInt32LE(9, 12);
    r.writeUInt32LE(1000, 16);
    r.writeInt32LE(-1, 20);
    [1, 2, 65535].forEach((v, i) => r.writeUInt16LE(v, 24 + 2 * i));
    r.write('sh', 30);
    r.writeBigInt64LE(-5n, 40);
    const out = openRecordProgram(program.code, program.pool).encode(batchOf([r]), 1, 0n, 0n);
    const [e] = decodeEntries(out.entries);
    expect(e!.record).toEqual({ when: 2_500_000_000, dumped: true, how: 'KILLED', ids: { uid: 1000, gid: -1 }, codes: [1, 2, 65535], comm: 'sh', delta: -5 });
    expect(e!.sec).toBe(2);
    expect(() => compileStruct(btf, 'nope', { object: 'any.o' })).toThrow("any.o's BTF has no struct nope (it has: ");
    expect(() => compileStruct(btf, 'any_record', { object: 'any.o', timeField: 'dumped' })).toThrow('BPF_Time_Field dumped');
  });
});
