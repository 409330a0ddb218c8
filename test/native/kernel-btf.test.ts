// CO-RE against an extract of the kernel's BTF (native/kernel_btf.h): libbpf
// must relocate every instruction exactly as it does against the whole BTF,
// for our nine traces and for an object whose local types differ from the
// kernel's in every way a relocation can see; and the extract must give way
// to the whole BTF where it can't serve.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addon, openBpfObject, packageRoot, type NativeBpfObject } from '../../src/native/addon.js';
import { traces } from '../../src/traces/registry.js';

const dir = mkdtempSync(join(tmpdir(), 'ebpf-forward-kernel-btf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const EXTRACT = /^CO-RE against (\d+) types \(\d+ KB\) of the kernel's BTF$/;

/** Instructions with the map fds of ld_imm64 zeroed: two loads of one object differ only there. */
function withoutMapFds(insns: Buffer): Buffer {
  const out = Buffer.from(insns);
  for (let at = 0; at + 16 <= out.length; at += 8) {
    // BPF_LD | BPF_IMM | BPF_DW whose src_reg is a map fd or map value (1, 2, 5, 6).
    if (out[at] === 0x18 && [1, 2, 5, 6].includes(out[at + 1]! >> 4)) out.writeUInt32LE(0, at + 4);
    if (out[at] === 0x18) at += 8;
  }
  return out;
}

/** Loads `path` against the extract and against the whole BTF; each program's instructions from both, and the pre-load ones. */
function loadBoth(path: string): { notes: string[]; programs: { name: string; before: Buffer; extract: Buffer; whole: Buffer }[] } {
  const objects: NativeBpfObject[] = [openBpfObject(path), openBpfObject(path, undefined, { wholeKernelBtf: true })];
  try {
    const names = objects[0]!.programs().map((p) => p.name);
    const before = names.map((n) => Buffer.from(objects[0]!.instructions(n)));
    // A program this kernel refuses (fexit here) fails the load of both
    // alike, after libbpf relocated every program: compared all the same.
    const failures = objects.map((o) => {
      try {
        o.load();
        return '';
      } catch (err) {
        return (err as { code?: string }).code ?? 'error';
      }
    });
    expect(failures[0]).toBe(failures[1]);
    return {
      notes: objects.map((o) => o.coreBtf()),
      programs: names.map((name, i) => ({ name, before: before[i]!, extract: withoutMapFds(objects[0]!.instructions(name)), whole: withoutMapFds(objects[1]!.instructions(name)) })),
    };
  } finally {
    for (const o of objects) o.close();
  }
}

function compile(name: string, source: string): string {
  const src = join(dir, `${name}.bpf.c`);
  const obj = join(dir, `${name}.bpf.o`);
  writeFileSync(src, source);
  const r = spawnSync('clang', ['-g', '-O2', '-target', 'bpf', '-D__TARGET_ARCH_x86', '-c', src, '-o', obj], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return obj;
}

const HEADER = `typedef unsigned char __u8;
typedef short __s16;
typedef unsigned short __u16;
typedef int __s32;
typedef unsigned int __u32;
typedef long long __s64;
typedef unsigned long long __u64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
char LICENSE[] SEC("license") = "GPL";
#define PAI __attribute__((preserve_access_index))
`;

describe('CO-RE against an extract of the kernel BTF', () => {
  it.each([...traces.values()].map((t) => [t.name, t.object] as const))('%s: every program relocated as against the whole BTF', (_name, object) => {
    const { notes, programs } = loadBoth(join(packageRoot, 'bpf', '.output', object));
    expect(notes[0]).toMatch(EXTRACT);
    expect(notes[1]).toBe("CO-RE against the kernel's whole BTF: asked for");
    for (const p of programs) expect(p.extract.equals(p.whole), p.name).toBe(true);
  });

  it('relocates as libbpf does where the local types differ from the kernel: offsets, sizes, shifts, existence, flavors, anonymous members, arrays, enums, types', () => {
    // Local layouts unlike the kernel's, so that every relocation changes an instruction.
    const obj = compile(
      'differs',
      `${HEADER}
struct task_struct { char comm[16]; int pid; int tgid; struct task_struct *real_parent; long not_in_this_kernel; } PAI;
struct task_struct___mine { int tgid; long also_not_there; } PAI;
/* tstamp and next are in anonymous unions and structs of the kernel's sk_buff */
struct sk_buff { unsigned int len; long long tstamp; struct sk_buff *next; } PAI;
enum pid_type { PIDTYPE_TGID = 7, PIDTYPE_NOT_THERE = 9 };
struct mm_struct { unsigned long arg_end; unsigned long arg_start; } PAI;
volatile __u64 out[32];
SEC("tracepoint/syscalls/sys_enter_getppid")
int relocations(void *ctx)
{
  struct task_struct *t = 0;
  struct task_struct___mine *m = 0;
  struct sk_buff *s = 0;
  struct mm_struct *mm = 0;
  out[0] = bpf_core_field_offset(t->pid);
  out[1] = bpf_core_field_offset(t->tgid);
  out[2] = bpf_core_field_offset(t->real_parent);
  out[3] = bpf_core_field_offset(t->comm[5]);
  out[4] = bpf_core_field_exists(t->not_in_this_kernel);
  out[5] = bpf_core_field_size(t->comm);
  out[6] = bpf_core_field_offset(m->tgid);
  out[7] = bpf_core_field_exists(m->also_not_there);
  out[8] = bpf_core_field_offset(s->tstamp);
  out[9] = bpf_core_field_offset(s->next);
  out[10] = bpf_core_field_offset(s->len);
  out[11] = __builtin_preserve_field_info(t->pid, BPF_FIELD_SIGNED);
  out[12] = __builtin_preserve_field_info(t->pid, BPF_FIELD_LSHIFT_U64);
  out[13] = __builtin_preserve_field_info(t->pid, BPF_FIELD_RSHIFT_U64);
  out[14] = bpf_core_enum_value(enum pid_type, PIDTYPE_TGID);
  out[15] = bpf_core_enum_value_exists(enum pid_type, PIDTYPE_NOT_THERE);
  out[16] = bpf_core_type_exists(struct mm_struct);
  out[17] = bpf_core_type_size(struct task_struct);
  out[18] = bpf_core_field_offset(mm->arg_start);
  out[19] = BPF_CORE_READ(t, real_parent, tgid);
  return 0;
}
`,
    );
    const { notes, programs } = loadBoth(obj);
    expect(notes[0]).toMatch(EXTRACT);
    const [p] = programs;
    expect(p!.extract.equals(p!.whole)).toBe(true);
    // Relocation did change the instructions: the test is not one of equal no-ops.
    expect(p!.extract.equals(withoutMapFds(p!.before))).toBe(false);
  });

  it('gives way to the whole BTF, saying why, where the extract can not serve', () => {
    const cases = [
      {
        name: 'not_in_vmlinux',
        body: 'struct not_a_kernel_struct { int a; } PAI;\nvolatile __u64 out;\nSEC("tracepoint/syscalls/sys_enter_getppid") int f(void *c) { struct not_a_kernel_struct *x = 0; out = bpf_core_field_exists(x->a); return 0; }\n',
        why: "not_a_kernel_struct is not in vmlinux's BTF (libbpf then looks in the modules')",
      },
      {
        name: 'kernel_type_id',
        body: 'struct task_struct { int pid; } PAI;\nvolatile __u64 out;\nSEC("tracepoint/syscalls/sys_enter_getppid") int f(void *c) { out = bpf_core_type_id_kernel(struct task_struct); return 0; }\n',
        why: 'a relocation asks for a kernel type id',
      },
    ];
    for (const c of cases) {
      const { notes, programs } = loadBoth(compile(c.name, `${HEADER}${c.body}`));
      expect(notes[0]).toBe(`CO-RE against the kernel's whole BTF: ${c.why}`);
      for (const p of programs) expect(p.extract.equals(p.whole)).toBe(true);
    }
  });

  it('says nothing of CO-RE for an object without relocations', () => {
    const obj = compile('no_core', `${HEADER}SEC("tracepoint/syscalls/sys_enter_getppid") int f(void *c) { return 0; }\n`);
    const object = openBpfObject(obj);
    try {
      expect(object.coreBtf()).toBe('');
    } finally {
      object.close();
    }
  });

  it("finds the fexit probe's function without libbpf's parse: refused here as the kernel refuses fexit, quiet for no such function", () => {
    // This host's kernel refuses fexit programs (EPERM); a kernel that takes them returns quietly.
    let refused: { code?: string } | undefined;
    try {
      addon().probeFexit('__x64_sys_openat');
    } catch (err) {
      refused = err as { code?: string };
    }
    if (refused) expect(refused.code).toBe('EPERM');
    expect(addon().probeFexit('no_such_kernel_function_at_all')).toBeUndefined();
  });
});
