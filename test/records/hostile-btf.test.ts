// A BPF object's BTF is the user's file, perhaps a hostile one: anonymous
// structs nested 40 deep, or one anonymous struct shared by many members
// at every level (2^depth paths to walk). Each is refused (or, where it
// means nothing harmful, compiled) at once, with one message naming the
// object and the struct, instead of keeping the main thread busy for
// hours. The BTF is written here, byte by byte: C can't share a member type.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BtfError } from '../../src/records/btf-format.js';
import { Btf } from '../../src/records/btf.js';
import { memberAt } from '../../src/records/members.js';
import { compileStruct } from '../../src/records/compile-struct.js';
import { RecordLayoutError } from '../../src/records/program-builder.js';
import { addon } from '../../src/native/addon.js';
import { repoRoot } from '../support/cli.js';

/** Writes raw BTF: ints and structs, members as [name, type id]. */
class BtfWriter {
  private readonly strings: string[] = [''];
  private stringsLength = 1;
  private readonly types: Buffer[] = [];

  private name(text: string): number {
    if (text === '') return 0;
    const at = this.stringsLength;
    this.strings.push(text);
    this.stringsLength += Buffer.byteLength(text) + 1;
    return at;
  }

  /** An unsigned integer of `size` bytes; returns its type id. */
  int(name: string, size: number): number {
    const t = Buffer.alloc(16);
    t.writeUInt32LE(this.name(name), 0);
    t.writeUInt32LE(1 << 24, 4);
    t.writeUInt32LE(size, 8);
    t.writeUInt32LE(size * 8, 12);
    this.types.push(t);
    return this.types.length;
  }

  /** A struct whose members, each `size` bytes at offsets 0, size, 2 size...; returns its type id. */
  struct(name: string, memberSize: number, members: [string, number][]): number {
    const t = Buffer.alloc(12 + 12 * members.length);
    t.writeUInt32LE(this.name(name), 0);
    t.writeUInt32LE((4 << 24) | members.length, 4);
    t.writeUInt32LE(memberSize * Math.max(members.length, 1), 8);
    members.forEach(([memberName, type], i) => {
      t.writeUInt32LE(this.name(memberName), 12 + 12 * i);
      t.writeUInt32LE(type, 16 + 12 * i);
      t.writeUInt32LE(i * memberSize * 8, 20 + 12 * i);
    });
    this.types.push(t);
    return this.types.length;
  }

  /** A typedef (kind 8) or qualifier (const 10, volatile 9...) of type `type`; returns its type id. */
  alias(kind: number, name: string, type: number): number {
    const t = Buffer.alloc(12);
    t.writeUInt32LE(this.name(name), 0);
    t.writeUInt32LE(kind << 24, 4);
    t.writeUInt32LE(type, 8);
    this.types.push(t);
    return this.types.length;
  }

  /** Reserves the next type id (for a struct written after the ones it holds). */
  get nextId(): number {
    return this.types.length + 1;
  }

  btf(): Btf {
    const types = Buffer.concat(this.types);
    const strings = Buffer.from(this.strings.map((s) => `${s}\0`).join(''));
    const header = Buffer.alloc(24);
    header.writeUInt16LE(0xeb9f, 0);
    header.writeUInt8(1, 2);
    header.writeUInt32LE(24, 4);
    header.writeUInt32LE(0, 8);
    header.writeUInt32LE(types.length, 12);
    header.writeUInt32LE(types.length, 16);
    header.writeUInt32LE(strings.length, 20);
    return Btf.parse(Buffer.concat([header, types, strings]), 'hostile.bpf.o');
  }
}

/**
 * struct hostile_event { __u64 ts_ns; <anonymous level 1>; }, where each
 * level holds `width` anonymous members of the next level's struct, and the
 * last level holds `leaf` (its members' names), or nothing.
 */
function nested(levels: number, width: number, leaf: string[]): Btf {
  const w = new BtfWriter();
  const u64 = w.int('unsigned long long', 8);
  // Written innermost first: each level's members are the one written before it.
  let inner = w.struct('', 8, leaf.map((name) => [name, u64]));
  for (let level = levels - 1; level >= 1; level--) inner = w.struct('', 8, Array.from({ length: width }, () => ['', inner] as [string, number]));
  w.struct('hostile_event', 8, [
    ['ts_ns', u64],
    ['', inner],
  ]);
  return w.btf();
}

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    if (err instanceof RecordLayoutError) return err.message;
    throw err;
  }
  throw new Error('expected a RecordLayoutError, got none');
}

const options = { object: 'hostile.bpf.o' };

describe('a hostile BTF: anonymous structs nested deep or shared', () => {
  it('40 levels of anonymous structs, two of the next at each level (2^40 paths), are refused', () => {
    const btf = nested(40, 2, []);
    expect(refusal(() => compileStruct(btf, 'hostile_event', options))).toBe(
      'struct hostile_event in hostile.bpf.o nests anonymous structs more than 16 deep (in hostile_event): ebpf-forward refuses it rather than walk them',
    );
  });

  it('40 levels of one anonymous struct each (no sharing) are refused just the same', () => {
    expect(refusal(() => compileStruct(nested(40, 1, ['x']), 'hostile_event', options))).toMatch(/^struct hostile_event in hostile\.bpf\.o nests anonymous structs more than 16 deep/);
  });

  it('a wide DAG (12 levels, each 8 anonymous members of the next: 8^12 paths) whose last level has members: refused (the same members twice)', () => {
    const btf = nested(12, 8, ['secret_a', 'secret_b']);
    expect(refusal(() => compileStruct(btf, 'hostile_event', options))).toBe(
      'hostile_event in hostile.bpf.o has two members named secret_a (through its anonymous members), which C does not allow',
    );
  });

  it('the same DAG with nothing in it: each struct is merged once, and it compiles (ts_ns is all there is)', () => {
    const program = compileStruct(nested(12, 8, []), 'hostile_event', { ...options, timeField: 'ts_ns' });
    expect(program.code.length).toBeGreaterThan(0);
  });

  it('looking up a member that is not there walks each shared struct once (BPF_Time_Field, declared fields)', () => {
    const btf = nested(14, 8, ['x']);
    const struct = btf.struct('hostile_event')!;
    expect(memberAt(struct, 'no_such_member')).toBeUndefined();
    expect(refusal(() => compileStruct(btf, 'hostile_event', { ...options, timeField: 'no_such_member' }))).toMatch(/^BPF_Time_Field no_such_member: struct hostile_event in hostile\.bpf\.o has no such member/);
    expect(memberAt(struct, 'x')).toEqual({ offset: 8, type: expect.objectContaining({ kind: 'int', size: 8 }), bitSize: 0 });
  });
});

describe('ordinary objects (clang -g) still compile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-forward-hostile-btf-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** struct deep_event { __u64 ts_ns; struct { struct { ... __u32 leaf; }; }; } nested `levels` deep, compiled by clang. */
  function deepObject(levels: number): Btf {
    const open = Array.from({ length: levels }, () => 'struct {').join(' ');
    const close = Array.from({ length: levels }, () => '};').join(' ');
    const source = `typedef unsigned long long __u64; typedef unsigned int __u32;\nstruct deep_event { __u64 ts_ns; ${open} __u32 leaf; ${close} __u32 after; };\nstruct deep_event *unused __attribute__((unused));\n`;
    const c = join(dir, `deep${levels}.c`);
    const o = join(dir, `deep${levels}.o`);
    writeFileSync(c, source);
    execFileSync('clang', ['-g', '-O2', '-target', 'bpf', '-c', c, '-o', o]);
    return Btf.ofObject(o);
  }

  it('anonymous structs 16 deep merge into the record (leaf at its offset), as before', () => {
    const btf = deepObject(16);
    const program = compileStruct(btf, 'deep_event', { object: 'deep16.o', timeField: 'ts_ns' });
    expect(program.code.length).toBeGreaterThan(0);
    expect(memberAt(btf.struct('deep_event')!, 'leaf')?.offset).toBe(8);
  });

  it('17 deep is refused, naming the object and the struct', () => {
    expect(refusal(() => compileStruct(deepObject(17), 'deep_event', { object: 'deep17.o' }))).toMatch(/^struct deep_event in deep17\.o nests anonymous structs more than 16 deep/);
  });
});

describe('a type id past the last type (a damaged object)', () => {
  it('is refused as the BTF is read, naming the type', () => {
    const w = new BtfWriter();
    w.int('__u64', 8);
    w.struct('broken_event', 8, [['ts_ns', 999]]);
    expect(() => w.btf()).toThrow(BtfError);
    expect(() => w.btf()).toThrow(/^hostile\.bpf\.o: its BTF is damaged: type 2 \(broken_event\) refers to type 999, past the last one \(2\); rebuild the object$/);
  });

  it('the CLI says so in one line at the BPF_Object line, where libbpf 1.1 would die of SIGSEGV opening it', () => {
    // The first VAR pointed past the last type.
    const run = dryRunWithDamagedObject(14, () => ({ type: 0x7fffffff }));
    expect(run.status).toBe(1);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/damaged\.conf:\d+: BPF_Object .*damaged\.bpf\.o: .*its BTF is damaged: type \d+ \(\w+\) refers to type 2147483647/);
  });
});

describe('a typedef or qualifier that leads back to itself (a damaged object)', () => {
  it('is refused as the BTF is read, naming the type: directly, or through a chain', () => {
    const self = new BtfWriter();
    self.int('__u64', 8);
    self.alias(8, 'loop_t', 2);
    expect(() => self.btf()).toThrow(/^hostile\.bpf\.o: its BTF is damaged: type 2 \(loop_t\) leads back to itself through typedefs and qualifiers; rebuild the object$/);
    const chain = new BtfWriter();
    chain.int('__u64', 8);
    chain.alias(10, '', 3); // const -> volatile -> typedef -> const
    chain.alias(9, '', 4);
    chain.alias(8, 'ring_t', 2);
    expect(() => chain.btf()).toThrow(/its BTF is damaged: type 2 leads back to itself through typedefs and qualifiers/);
    // Chains that end (and share their end) are fine.
    const fine = new BtfWriter();
    const u64 = fine.int('__u64', 8);
    const t = fine.alias(8, 'u64_t', u64);
    fine.alias(10, '', t);
    fine.alias(9, '', t);
    expect(() => fine.btf()).not.toThrow();
  });

  it('the CLI says so in one line at the BPF_Object line, where libbpf 1.1 would never finish opening it (and no signal stops it)', () => {
    // The first pointer (a map definition's) made a typedef of itself: libbpf
    // 1.1 looks through it for the map's key type for ever.
    const run = dryRunWithDamagedObject(2, (id) => ({ kind: 8, type: id }));
    expect(run.error).toBeUndefined();
    expect(run.status).toBe(1);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/damaged\.conf:\d+: BPF_Object .*damaged\.bpf\.o: .*its BTF is damaged: type 1 leads back to itself through typedefs and qualifiers; rebuild the object\)$/m);
  });
});

/**
 * `ebpf-forward --dry-run` on conf/examples/process_exits.conf with its
 * object's first type of `kind` changed by `patch(its id)`: made to refer to
 * another type, and of another kind of the same record length.
 */
function dryRunWithDamagedObject(kind: number, patch: (id: number) => { kind?: number; type: number }) {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-forward-damaged-btf-'));
  try {
    const source = join(repoRoot, 'conf', 'examples', 'process_exits.bpf.o');
    const file = readFileSync(source);
    // The object's BTF, found in the file.
    const at = file.indexOf(addon().readBtf(source).subarray(0, 64));
    const typeStart = at + file.readUInt32LE(at + 4) + file.readUInt32LE(at + 8);
    const typeEnd = typeStart + file.readUInt32LE(at + 12);
    const extra: Record<number, (vlen: number) => number> = { 1: () => 4, 3: () => 12, 4: (n) => 12 * n, 5: (n) => 12 * n, 6: (n) => 8 * n, 13: (n) => 8 * n, 14: () => 4, 15: (n) => 12 * n, 17: () => 4, 19: (n) => 12 * n };
    let p = typeStart;
    let patched = false;
    for (let id = 1; p < typeEnd && !patched; id++) {
      const info = file.readUInt32LE(p + 4);
      const k = (info >>> 24) & 0x1f;
      if (k === kind) {
        const change = patch(id);
        if (change.kind !== undefined) file.writeUInt32LE(change.kind << 24, p + 4);
        file.writeUInt32LE(change.type, p + 8);
        patched = true;
      }
      p += 12 + (extra[k]?.(info & 0xffff) ?? 0);
    }
    expect(patched).toBe(true);
    const object = join(dir, 'damaged.bpf.o');
    writeFileSync(object, file, { mode: 0o644 });
    const conf = join(dir, 'damaged.conf');
    writeFileSync(conf, readFileSync(join(repoRoot, 'conf', 'examples', 'process_exits.conf'), 'utf8').replace('process_exits.bpf.o', object));
    // Bounded: before the check, libbpf never came back (SIGKILL: SIGTERM can't reach it).
    return spawnSync(process.execPath, [join(repoRoot, 'dist', 'cli.js'), '-c', conf, '--dry-run'], { encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
