// BPF_Object and its keys at config load: what a good object becomes (one
// more trace whose configure() sets the BPF_Set knobs, as bytes of their C
// types), and every bad one's single message at the key's file:line. The
// objects are built from fixtures/bpf-object/knobs.bpf.c (and -D variants)
// into a temp folder; nothing is loaded into the kernel.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, lchownSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { TraceSelection } from '../../src/config/model.js';
import { Btf } from '../../src/records/btf.js';
import { Knobs } from '../../src/records/knobs.js';
import { traces } from '../../src/traces/registry.js';
import { configError, fixture } from './helpers.js';

let dir: string;
let configCount = 0;

/** Compiles knobs.bpf.c into dir/<name>.bpf.o with these clang arguments. */
function buildObject(name: string, args: string[] = []): void {
  execFileSync('clang', ['-O2', '-Wall', '-target', 'bpf', '-I/usr/include/x86_64-linux-gnu', ...args, '-c', fixture('bpf-object/knobs.bpf.c'), '-o', join(dir, `${name}.bpf.o`)]);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ebpf-forward-bpf-object-'));
  buildObject('knobs', ['-g']);
  buildObject('no-btf');
  buildObject('no-ring', ['-g', '-DNO_RING']);
  buildObject('no-programs', ['-g', '-DNO_PROGRAMS']);
  buildObject('xdp', ['-g', '-DBAD_SECTION']);
  buildObject('bare-uprobe', ['-g', '-DBARE_UPROBE']);
  buildObject('wide-self', ['-g', '-DWIDE_SELF_TGID']);
  writeFileSync(join(dir, 'not-elf.bpf.o'), 'this is not an ELF file\n');
  // A record whose anonymous structs nest 40 deep: walking them as shared ones (2^40 paths) froze the config load.
  const deep = join(dir, 'deep.bpf.c');
  writeFileSync(deep, `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
char LICENSE[] SEC("license") = "GPL";
struct deep_record { __u64 ts_ns; ${'struct { '.repeat(40)}__u32 leaf; ${'}; '.repeat(40)}};
const struct deep_record *unused __attribute__((unused));
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } events SEC(".maps");
SEC("tracepoint/syscalls/sys_enter_getpid") int on_getpid(void *ctx) { return 0; }
`);
  execFileSync('clang', ['-g', '-O2', '-target', 'bpf', '-I/usr/include/x86_64-linux-gnu', '-c', deep, '-o', join(dir, 'deep.bpf.o')]);
  mkdirSync(join(dir, 'a-folder.bpf.o'));
});

/** Writes an [INPUT] section with these lines (indented) to a config in dir; returns its path. */
function writeInput(lines: string[]): string {
  const path = join(dir, `input-${configCount++}.conf`);
  writeFileSync(path, ['[INPUT]', '    Name ebpf', ...lines.map((l) => `    ${l}`), ''].join('\n'));
  return path;
}

const deps = { traces, outputs: new Map(), env: {} };

/** The input's BPF_Object selection of a config that loads. */
function selectionOf(lines: string[]): TraceSelection {
  const config = loadConfig(writeInput(lines), deps);
  const own = config.inputs[0]!.traces.find((t) => t.trace.name.startsWith('bpf_object'));
  expect(own).toBeDefined();
  return own!;
}

/** Loads a config that must fail: its line (the input's lines count from 3) and problem. */
function problemOf(lines: string[]): { line: number; problem: string } {
  const path = writeInput(lines);
  const err = configError(() => loadConfig(path, deps));
  expect(err.file).toBe(path);
  expect(err.message).toBe(`${path}:${err.line}: ${err.problem}`);
  return { line: err.line, problem: err.problem };
}

const good = ['BPF_Object knobs.bpf.o', 'BPF_Record_Type good_record'];

/** What configure() sets, by global name, as hex bytes. */
function knobsSet(selection: TraceSelection): Record<string, string> {
  const set: Record<string, string> = {};
  const recorder = { setGlobal: (name: string, value: Buffer) => (set[name] = value.toString('hex')) };
  selection.trace.configure!(new Knobs(recorder, Btf.ofObject(selection.trace.object), 'knobs.bpf.o'), { keys: new Map(), selfPid: 1 });
  return set;
}

describe('BPF_Object: a good object', () => {
  it('becomes one more trace: its name, the absolute path (relative to the config folder), the struct, no time field', () => {
    const own = selectionOf(good);
    expect(own.line).toBe(3);
    expect(own.trace.name).toBe('bpf_object knobs.bpf.o');
    expect(own.trace.object).toBe(join(dir, 'knobs.bpf.o'));
    expect(own.trace.record).toEqual({ asIs: 'good_record', timeField: undefined });
    expect(own.trace.needs).toBe('a kernel that has the hooks its programs name (tracepoint/syscalls/sys_enter_getpid) and whose verifier accepts them');
    expect(knobsSet(own)).toEqual({});
  });

  it('an absolute path, a time field, next to a Trace line in the same input', () => {
    const config = loadConfig(writeInput(['Trace trace_signal', `BPF_Object ${join(dir, 'knobs.bpf.o')}`, 'BPF_Record_Type good_record', 'BPF_Time_Field ts_ns']), deps);
    expect(config.inputs[0]!.traces.map((t) => [t.trace.name, t.line])).toEqual([
      ['trace_signal', 3],
      ['bpf_object knobs.bpf.o', 4],
    ]);
    expect(config.inputs[0]!.traces[1]!.trace.record).toEqual({ asIs: 'good_record', timeField: 'ts_ns' });
  });

  it('ringbuf_map_name names another of its ring buffers (in an input of its own)', () => {
    expect(selectionOf([...good, 'ringbuf_map_name other_ring']).trace.name).toBe('bpf_object knobs.bpf.o');
  });

  it('BPF_Set: each C type gets its bytes (little-endian, the extremes of every integer size)', () => {
    const own = selectionOf([
      ...good,
      'BPF_Set k_u8=255',
      'BPF_Set k_s8=-128',
      'BPF_Set k_u16=0xffff',
      'BPF_Set k_s16=-32768',
      'BPF_Set k_u32=4294967295',
      'BPF_Set k_s32 = -2147483648',
      'BPF_Set k_u64=18446744073709551615',
      'BPF_Set k_s64=-9223372036854775808',
      'BPF_Set k_bool=on',
      'BPF_Set k_name=abcdefg',
      'BPF_Set k_mode=mode_auto',
      'BPF_Set k_level=level_low',
      'BPF_Set in_data=7',
      'BPF_Set in_bss=0x0102030405060708',
    ]);
    expect(knobsSet(own)).toEqual({
      k_u8: 'ff',
      k_s8: '80',
      k_u16: 'ffff',
      k_s16: '0080',
      k_u32: 'ffffffff',
      k_s32: '00000080',
      k_u64: 'ffffffffffffffff',
      k_s64: '0000000000000080',
      k_bool: '01',
      k_name: '61626364656667' + '00',
      k_mode: '07000000',
      k_level: 'feffffff',
      in_data: '07000000',
      in_bss: '0807060504030201',
    });
  });

  it('BPF_Set: bool as off/true/false, an enum by number, an empty string', () => {
    expect(knobsSet(selectionOf([...good, 'BPF_Set k_bool=off']))).toEqual({ k_bool: '00' });
    expect(knobsSet(selectionOf([...good, 'BPF_Set k_bool=TRUE']))).toEqual({ k_bool: '01' });
    expect(knobsSet(selectionOf([...good, 'BPF_Set k_bool=false']))).toEqual({ k_bool: '00' });
    expect(knobsSet(selectionOf([...good, 'BPF_Set k_mode=1']))).toEqual({ k_mode: '01000000' });
    expect(knobsSet(selectionOf([...good, 'BPF_Set k_name=']))).toEqual({ k_name: '0000000000000000' });
  });

  it('sequence_key next to Trace lines is a warning: BPF_Object records have no sequence number', () => {
    const path = writeInput(['Trace trace_signal', ...good, 'sequence_key seq']);
    const config = loadConfig(path, deps);
    expect(config.warnings).toEqual([
      `${path}:6: sequence_key: the records of a BPF_Object carry no sequence number (only the built-in traces number theirs), so it is added to the records of trace_signal only`,
    ]);
  });
});

describe('BPF_Object: every bad input is one message at its key', () => {
  const path = (name: string) => join(dir, name);
  const cases: [what: string, lines: () => string[], line: number, problem: () => string | RegExp][] = [
    ['BPF_Record_Type without BPF_Object', () => ['BPF_Record_Type good_record'], 3, () => 'BPF_Record_Type needs a BPF_Object (the BPF object file to run) in this input'],
    ['BPF_Set without BPF_Object', () => ['Trace trace_signal', 'BPF_Set k_u8=1'], 4, () => 'BPF_Set needs a BPF_Object (the BPF object file to run) in this input'],
    ['BPF_Time_Field without BPF_Object', () => ['Trace trace_signal', 'BPF_Time_Field ts_ns'], 4, () => 'BPF_Time_Field needs a BPF_Object (the BPF object file to run) in this input'],
    ['BPF_Object without BPF_Record_Type', () => ['BPF_Object knobs.bpf.o'], 3, () => 'BPF_Object needs a BPF_Record_Type: the struct of its BTF that its ring buffer records are'],
    ['BPF_Object twice', () => [...good, 'BPF_Object no-btf.bpf.o'], 5, () => 'BPF_Object is set twice (first at line 3); it takes one value'],
    ['a missing file', () => ['BPF_Object nope.bpf.o', 'BPF_Record_Type good_record'], 3, () => `BPF_Object nope.bpf.o (${path('nope.bpf.o')}): no such file`],
    ['a folder', () => ['BPF_Object a-folder.bpf.o', 'BPF_Record_Type good_record'], 3, () => `BPF_Object a-folder.bpf.o (${path('a-folder.bpf.o')}): not a file`],
    ['not an ELF file', () => ['BPF_Object not-elf.bpf.o', 'BPF_Record_Type good_record'], 3, () => new RegExp(`^BPF_Object not-elf.bpf.o \\(${path('not-elf.bpf.o')}\\): not a BPF object ebpf-forward can read \\(.+\\)$`)],
    ['an object without BTF', () => ['BPF_Object no-btf.bpf.o', 'BPF_Record_Type good_record'], 3, () => `BPF_Object no-btf.bpf.o (${path('no-btf.bpf.o')}): it has no BTF, where ebpf-forward reads its record layout: build it with clang -g`],
    ['an object without programs', () => ['BPF_Object no-programs.bpf.o', 'BPF_Record_Type good_record'], 3, () => `BPF_Object no-programs.bpf.o (${path('no-programs.bpf.o')}): it has no BPF programs (functions with a SEC("tracepoint/...") or other hook)`],
    ['an XDP program', () => ['BPF_Object xdp.bpf.o', 'BPF_Record_Type good_record'], 3, () => `BPF_Object xdp.bpf.o (${path('xdp.bpf.o')}): its program on_packet is SEC("xdp"), which is not a tracing program: it attaches to an interface, socket or cgroup that its SEC() name does not say; ebpf-forward attaches each program by its SEC() name, e.g. SEC("tracepoint/sched/sched_process_exit")`],
    ['a uprobe with no target', () => ['BPF_Object bare-uprobe.bpf.o', 'BPF_Record_Type good_record'], 3, () => `BPF_Object bare-uprobe.bpf.o (${path('bare-uprobe.bpf.o')}): its program on_call is SEC("uprobe"), which names no binary:function to attach to; ebpf-forward attaches each program by its SEC() name, e.g. SEC("tracepoint/sched/sched_process_exit")`],
    ['a self_tgid that is not a __u32', () => ['BPF_Object wide-self.bpf.o', 'BPF_Record_Type good_record'], 3, () => `BPF_Object wide-self.bpf.o (${path('wide-self.bpf.o')}): its global self_tgid is __u64, but ebpf-forward sets self_tgid as a __u32: declare it const volatile __u32 self_tgid = 0;`],
    ['no ring buffer map at all', () => ['BPF_Object no-ring.bpf.o', 'BPF_Record_Type good_record'], 3, () => `BPF_Object no-ring.bpf.o (${path('no-ring.bpf.o')}): it has no map named events, which ringbuf_map_name (default events) names (it has no ring buffer map: declare one with __uint(type, BPF_MAP_TYPE_RINGBUF) in SEC(".maps"))`],
    ['ringbuf_map_name names no map', () => [...good, 'ringbuf_map_name nosuch'], 3, () => `BPF_Object knobs.bpf.o (${path('knobs.bpf.o')}): it has no map named nosuch, which ringbuf_map_name nosuch (${path(`input-${configCount - 1}.conf`)}:5) names (its ring buffer maps: events, other_ring; set ringbuf_map_name to one)`],
    ['ringbuf_map_name names a hash map', () => [...good, 'ringbuf_map_name counts'], 3, () => /^BPF_Object knobs.bpf.o \(.+\): its map counts, which ringbuf_map_name counts \(.+:5\) names, is a BPF_MAP_TYPE_HASH, not a BPF_MAP_TYPE_RINGBUF \(its ring buffer maps: events, other_ring; set ringbuf_map_name to one\)$/],
    ['ringbuf_map_name names a perf buffer', () => [...good, 'ringbuf_map_name perf_events'], 3, () => /is a BPF_MAP_TYPE_PERF_EVENT_ARRAY, not a BPF_MAP_TYPE_RINGBUF \(.+\); ebpf-forward reads ring buffers, not perf buffers: use BPF_MAP_TYPE_RINGBUF and bpf_ringbuf_output\(\)$/],
    ['another ringbuf_map_name next to Trace lines', () => ['Trace trace_signal', ...good, 'ringbuf_map_name other_ring'], 6, () => 'ringbuf_map_name other_ring: the traces of this input (trace_signal) have their ring buffer map named events; put the BPF_Object in an [INPUT] of its own, or name its ring buffer map events'],
    ['a struct that is not there', () => ['BPF_Object knobs.bpf.o', 'BPF_Record_Type nope'], 4, () => "BPF_Record_Type nope: knobs.bpf.o's BTF has no struct nope (structs its globals use: good_record, union_record); a struct is in BTF when a global uses it, e.g. const struct nope *unused __attribute__((unused));"],
    ['anonymous structs nested 40 deep', () => ['BPF_Object deep.bpf.o', 'BPF_Record_Type deep_record'], 4, () => 'BPF_Record_Type deep_record: struct deep_record in deep.bpf.o nests anonymous structs more than 16 deep (in deep_record): ebpf-forward refuses it rather than walk them'],
    ['a struct ebpf-forward cannot send', () => ['BPF_Object knobs.bpf.o', 'BPF_Record_Type union_record'], 4, () => /^BPF_Record_Type union_record: union_record.v in knobs.bpf.o is a union: ebpf-forward can't tell which member holds the value$/],
    ['BPF_Record_Type not a C name', () => ['BPF_Object knobs.bpf.o', 'BPF_Record_Type struct good_record'], 4, () => 'BPF_Record_Type: "struct good_record" is not a C name'],
    ['a time field that is not there', () => [...good, 'BPF_Time_Field when'], 5, () => 'BPF_Time_Field when: struct good_record has no member when (its members: ts_ns, when32, signed_ts, in); the time field must be a u64 holding bpf_ktime_get_ns()'],
    ['a 32-bit time field', () => [...good, 'BPF_Time_Field when32'], 5, () => 'BPF_Time_Field when32: it is __u32 (unsigned, 32 bits); the time field must be a u64 holding bpf_ktime_get_ns()'],
    ['a signed time field', () => [...good, 'BPF_Time_Field signed_ts'], 5, () => 'BPF_Time_Field signed_ts: it is __s64 (signed, 64 bits); the time field must be a u64 holding bpf_ktime_get_ns()'],
    ['a nested struct as time field', () => [...good, 'BPF_Time_Field in'], 5, () => 'BPF_Time_Field in: it is struct inner (struct); the time field must be a u64 holding bpf_ktime_get_ns()'],
    ['BPF_Set not name=value', () => [...good, 'BPF_Set k_u8'], 5, () => 'BPF_Set: "k_u8" is not name=value (a global of the object, e.g. BPF_Set parent_pid=1)'],
    ['BPF_Set of a global that is not there', () => [...good, 'BPF_Set nope=1'], 5, () => 'BPF_Set nope=1: knobs.bpf.o has no global nope in .rodata, .data or .bss (what BPF_Set can set: in_bss, in_data, k_u8, k_s8, k_u16, k_s16, k_u32, k_s32, k_u64, k_s64, k_bool, k_name, k_mode, k_level)'],
    ['BPF_Set of a map', () => [...good, 'BPF_Set counts=1'], 5, () => /^BPF_Set counts=1: knobs.bpf.o has no global counts in .rodata, .data or .bss/],
    ['BPF_Set of the license', () => [...good, 'BPF_Set LICENSE=GPL'], 5, () => /^BPF_Set LICENSE=GPL: knobs.bpf.o has no global LICENSE in .rodata, .data or .bss/],
    ['BPF_Set of self_tgid', () => [...good, 'BPF_Set self_tgid=1'], 5, () => 'BPF_Set self_tgid=1: ebpf-forward sets self_tgid itself, to its own pid'],
    ['BPF_Set of one knob twice', () => [...good, 'BPF_Set k_u8=1', 'BPF_Set k_u8=2'], 6, () => 'BPF_Set k_u8=2: k_u8 is set twice (first at line 5)'],
    ['__u8 256', () => [...good, 'BPF_Set k_u8=256'], 5, () => 'BPF_Set k_u8=256: k_u8 is __u8, an unsigned 1-byte integer (0 to 255): 256 does not fit'],
    ['__s8 -129', () => [...good, 'BPF_Set k_s8=-129'], 5, () => 'BPF_Set k_s8=-129: k_s8 is __s8, a signed 1-byte integer (-128 to 127): -129 does not fit'],
    ['__s8 128', () => [...good, 'BPF_Set k_s8=128'], 5, () => 'BPF_Set k_s8=128: k_s8 is __s8, a signed 1-byte integer (-128 to 127): 128 does not fit'],
    ['__u16 -1', () => [...good, 'BPF_Set k_u16=-1'], 5, () => 'BPF_Set k_u16=-1: k_u16 is __u16, an unsigned 2-byte integer (0 to 65535): -1 does not fit'],
    ['__s16 32768', () => [...good, 'BPF_Set k_s16=32768'], 5, () => 'BPF_Set k_s16=32768: k_s16 is __s16, a signed 2-byte integer (-32768 to 32767): 32768 does not fit'],
    ['__u32 2^32', () => [...good, 'BPF_Set k_u32=4294967296'], 5, () => 'BPF_Set k_u32=4294967296: k_u32 is __u32, an unsigned 4-byte integer (0 to 4294967295): 4294967296 does not fit'],
    ['__s32 2^31', () => [...good, 'BPF_Set k_s32=0x80000000'], 5, () => 'BPF_Set k_s32=0x80000000: k_s32 is __s32, a signed 4-byte integer (-2147483648 to 2147483647): 2147483648 does not fit'],
    ['__u64 2^64', () => [...good, 'BPF_Set k_u64=18446744073709551616'], 5, () => 'BPF_Set k_u64=18446744073709551616: k_u64 is __u64, an unsigned 8-byte integer (0 to 18446744073709551615): 18446744073709551616 does not fit'],
    ['__s64 2^63', () => [...good, 'BPF_Set k_s64=9223372036854775808'], 5, () => 'BPF_Set k_s64=9223372036854775808: k_s64 is __s64, a signed 8-byte integer (-9223372036854775808 to 9223372036854775807): 9223372036854775808 does not fit'],
    ['an integer that is not a number', () => [...good, 'BPF_Set k_u32=ten'], 5, () => 'BPF_Set k_u32=ten: k_u32 is __u32, an unsigned 4-byte integer (0 to 4294967295): "ten" is not a whole number'],
    ['a fraction', () => [...good, 'BPF_Set k_u32=1.5'], 5, () => 'BPF_Set k_u32=1.5: k_u32 is __u32, an unsigned 4-byte integer (0 to 4294967295): "1.5" is not a whole number'],
    ['a bool that is neither', () => [...good, 'BPF_Set k_bool=maybe'], 5, () => 'BPF_Set k_bool=maybe: k_bool is _Bool, a bool (on/off or true/false): "maybe" is neither'],
    ['a string too long', () => [...good, 'BPF_Set k_name=abcdefgh'], 5, () => 'BPF_Set k_name=abcdefgh: k_name is char[8], a string of at most 7 bytes (and its NUL): "abcdefgh" is 8 bytes'],
    ['an enum by a name it lacks', () => [...good, 'BPF_Set k_mode=mode_fast'], 5, () => 'BPF_Set k_mode=mode_fast: k_mode is enum mode (mode_off, mode_on, mode_auto, or a number): "mode_fast" is none of them'],
    ['an enum by a number that does not fit', () => [...good, 'BPF_Set k_mode=-1'], 5, () => 'BPF_Set k_mode=-1: k_mode is enum mode, 4 bytes unsigned (0 to 4294967295): -1 does not fit'],
    ['an array of integers', () => [...good, 'BPF_Set k_list=1'], 5, () => "BPF_Set k_list=1: k_list is __u32[4], which BPF_Set can't set: it sets integers, bools, enums and char arrays"],
    ['a pointer', () => [...good, 'BPF_Set unused_good=0'], 5, () => "BPF_Set unused_good=0: unused_good is pointer, which BPF_Set can't set: it sets integers, bools, enums and char arrays"],
    ['sequence_key with only a BPF_Object', () => [...good, 'sequence_key seq'], 5, () => 'sequence_key: the records of a BPF_Object carry no sequence number (only the built-in traces number theirs); remove sequence_key'],
  ];
  for (const [what, lines, line, problem] of cases) {
    it(`${what}: line ${line}`, () => {
      const got = problemOf(lines());
      expect(got.line).toBe(line);
      const expected = problem();
      if (typeof expected === 'string') expect(got.problem).toBe(expected);
      else expect(got.problem).toMatch(expected);
    });
  }

  it('an input with neither Trace nor BPF_Object says both are possible', () => {
    expect(problemOf(['Tag x']).problem).toMatch(/^\[INPUT\] ebpf needs at least one Trace \(or a BPF_Object\); valid traces: /);
  });
});

describe('BPF_Object: kernel code only root can change (as the spool\'s folders), at --dry-run and reload as at start', () => {
  /** A copy of knobs.bpf.o in a new folder of root's (0700, in the sticky /tmp), with this mode. */
  function objectIn(mode = 0o644): { folder: string; object: string } {
    const folder = mkdtempSync(join(dir, 'owned-'));
    const object = join(folder, 'knobs.bpf.o');
    copyFileSync(join(dir, 'knobs.bpf.o'), object);
    chmodSync(object, mode);
    return { folder, object };
  }
  const problemFor = (object: string) => problemOf([`BPF_Object ${object}`, 'BPF_Record_Type good_record']);

  it("root's, mode 0644, in root's folders (a sticky /tmp on the way): loads", () => {
    const { object } = objectIn();
    expect(selectionOf([`BPF_Object ${object}`, 'BPF_Record_Type good_record']).trace.object).toBe(object);
  });

  it("through a symbolic link of root's in a folder of root's: loads", () => {
    const { folder, object } = objectIn();
    symlinkSync(object, join(folder, 'link.bpf.o'));
    expect(selectionOf([`BPF_Object ${join(folder, 'link.bpf.o')}`, 'BPF_Record_Type good_record']).trace.record).toEqual({ asIs: 'good_record', timeField: undefined });
  });

  it('owned by nobody: refused at the BPF_Object line, saying chown root', () => {
    const { object } = objectIn();
    chownSync(object, 65534, 65534);
    expect(problemFor(object)).toEqual({ line: 3, problem: `BPF_Object ${object}: it is owned by uid 65534, not root: that user could change the kernel code it loads; chown root ${object} and chmod go-w ${object}` });
  });

  it('mode 0666: refused, saying chmod go-w', () => {
    const { object } = objectIn(0o666);
    expect(problemFor(object)).toEqual({ line: 3, problem: `BPF_Object ${object}: it is mode 0666, writable by its group (gid 0) and others: they could change the kernel code it loads; chmod go-w ${object}` });
  });

  it('group-writable (0664): refused', () => {
    const { object } = objectIn(0o664);
    expect(problemFor(object).problem).toBe(`BPF_Object ${object}: it is mode 0664, writable by its group (gid 0): they could change the kernel code it loads; chmod go-w ${object}`);
  });

  it('in a folder others can write (0777, not sticky): refused, naming the folder', () => {
    const { folder, object } = objectIn();
    chmodSync(folder, 0o777);
    expect(problemFor(object).problem).toBe(`BPF_Object ${object}: its folder ${folder} is mode 0777, writable by its group (gid 0) and others: they could swap the object for kernel code of their own; chmod go-w ${folder}, or keep the object in a folder of root's`);
  });

  it('in a folder owned by nobody: refused', () => {
    const { folder, object } = objectIn();
    chownSync(folder, 65534, 65534);
    expect(problemFor(object).problem).toMatch(new RegExp(`^BPF_Object ${object}: its folder ${folder} is owned by uid 65534, not root: that user could swap the object for kernel code of their own; chown root `));
  });

  it("a symbolic link in a world-writable folder (to root's good object): refused, naming the folder", () => {
    const { folder, object } = objectIn();
    const open = join(folder, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    symlinkSync(object, join(open, 'link.bpf.o'));
    expect(problemFor(join(open, 'link.bpf.o')).problem).toMatch(new RegExp(`^BPF_Object ${open}/link\\.bpf\\.o: its folder ${open} is mode 0777, writable by its group \\(gid 0\\) and others: they could swap`));
  });

  it("a symbolic link of nobody's in a sticky world-writable folder (as /tmp): refused, naming the link", () => {
    const { folder, object } = objectIn();
    const sticky = join(folder, 'sticky');
    mkdirSync(sticky);
    chmodSync(sticky, 0o1777);
    const link = join(sticky, 'link.bpf.o');
    symlinkSync(object, link);
    lchownSync(link, 65534, 65534);
    expect(problemFor(link).problem).toBe(`BPF_Object ${link}: ${link} is a symbolic link owned by uid 65534, not root: that user could point it at kernel code of their own; name the object by its own path, or make the link root's`);
  });

  it("a link to an object of nobody's: refused for the object it points at", () => {
    const { folder, object } = objectIn();
    chownSync(object, 65534, 65534);
    symlinkSync(object, join(folder, 'link.bpf.o'));
    expect(problemFor(join(folder, 'link.bpf.o')).problem).toMatch(/: it is owned by uid 65534, not root: that user could change the kernel code it loads; chown root /);
  });
});
