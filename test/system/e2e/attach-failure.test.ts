// A trace that can't attach on this kernel, made for real:
// EBPF_FORWARD_BPF_DIR points the CLI at the real BPF objects except
// trace_bind's, replaced by one compiled here whose bind_enter attaches to a
// tracepoint no kernel has, so libbpf fails as it would on a kernel that
// lacks the hook. The user gets one message naming the trace and the missing
// hook; with `Trace_Error continue` (the default) the other traces keep
// running; with `Trace_Error exit` the CLI exits 1 with that message and no
// stack trace. Either way nothing of the CLI's stays loaded in the kernel.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNothingLoadedBy, loadedBy } from '../../support/bpf-loaded.js';
import { repoRoot, runCli, startCli, waitFor, writeConfig, type RunningCli } from '../../support/cli.js';
import { startReceivers, type Receivers } from '../../support/receiver.js';
import { compileC } from '../../support/c-program.js';
import { runSignalTool, signalToolPath } from '../../support/signal-tool.js';

const realObjects = join(repoRoot, 'bpf', '.output');
const MISSING_HOOK = 'syscalls:sys_enter_no_such_call';

/** trace_bind's programs by name, the first on a tracepoint that does not exist. */
const BROKEN_BIND = String.raw`
#include "common.bpf.h"
#include "bind.h" /* its record, whose layout the trace reads */

RECORD_TYPE(bind_event);

SEC("tracepoint/syscalls/sys_enter_no_such_call")
int bind_enter(void *ctx)
{
	return is_self();
}

SEC("tracepoint/syscalls/sys_exit_bind")
int bind_exit(void *ctx)
{
	return is_self();
}
`;

/** trace_bind's programs, the first one reading memory through a number: every verifier refuses it. */
const REJECTED_BIND = String.raw`
#include "common.bpf.h"
#include "bind.h" /* its record, whose layout the trace reads */

RECORD_TYPE(bind_event);

SEC("tracepoint/syscalls/sys_enter_bind")
int bind_enter(void *ctx)
{
	int *p = (int *)(long)bpf_get_prandom_u32();
	return *p + is_self();
}

SEC("tracepoint/syscalls/sys_exit_bind")
int bind_exit(void *ctx)
{
	return is_self();
}
`;

/** As REJECTED_BIND, after a few hundred instructions: the verifier's log runs to tens of KB. */
const REJECTED_BIND_LONG_LOG = REJECTED_BIND.replace(
  'int *p = (int *)(long)bpf_get_prandom_u32();',
  `__u64 acc = bpf_get_prandom_u32();
#pragma unroll
	for (int i = 0; i < 300; i++)
		acc = acc * 31 + (acc >> 3);
	int *p = (int *)(long)(acc | bpf_get_prandom_u32());`,
);

/** A folder of BPF objects: the real ones, with trace_bind's built from `bindSource` (or left out). */
function objectFolder(bindSource: string | undefined): string {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-forward-bpf-dir-'));
  for (const name of readdirSync(realObjects).filter((f) => f.endsWith('.bpf.o') && f !== 'bind.bpf.o')) {
    symlinkSync(join(realObjects, name), join(dir, name));
  }
  if (bindSource !== undefined) {
    const src = join(mkdtempSync(join(tmpdir(), 'ebpf-forward-broken-bind-')), 'bind.bpf.c');
    writeFileSync(src, bindSource);
    const arch = { x64: 'x86', arm64: 'arm64' }[process.arch as string] ?? process.arch;
    execFileSync('clang', ['-g', '-O2', '-target', 'bpf', `-D__TARGET_ARCH_${arch}`, '-I', realObjects, '-I', join(repoRoot, 'bpf'), '-I', join(repoRoot, 'src', 'traces', 'bind'), '-c', src, '-o', join(dir, 'bind.bpf.o')]);
  }
  return dir;
}

function expectNoStack(text: string) {
  expect(text).not.toMatch(/\n\s+at .+:\d+:\d+/);
  expect(text).not.toMatch(/TraceStartError|Error:/);
}

/** The message, as the user must read it: the trace, the hook this kernel lacks, what the trace needs. */
const MESSAGE = new RegExp(
  `trace_bind: can't attach bind_enter: this kernel has no tracepoint ${MISSING_HOOK} \\(it has no system call no_such_call\\); ` +
    'trace_bind needs syscall tracepoints \\(syscalls:sys_enter_bind, syscalls:sys_exit_bind\\) and BTF for CO-RE socket reads',
);

const SIGNAL_PROGRAMS = ['kill_enter', 'kill_exit', 'signal_generate', 'tgkill_enter', 'tgkill_exit', 'tkill_enter', 'tkill_exit'];
const EXEC_PROGRAMS = ['execve_enter', 'execve_exit', 'execveat_enter', 'execveat_exit', 'process_exec'];

let brokenDir: string;

/** A path as a regular expression matches it. */
const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

beforeAll(() => {
  signalToolPath();
  brokenDir = objectFolder(BROKEN_BIND);
});

describe('Trace_Error continue (the default): the other traces keep running', () => {
  let receivers: Receivers;
  let cli: RunningCli;
  let configFile: string;

  beforeAll(async () => {
    receivers = await startReceivers();
    const config = writeConfig(`[SERVICE]
    Flush  0.2

[INPUT]
    Name   ebpf
    Trace  trace_bind
    Trace  trace_signal
    Tag    e2e.continue

[INPUT]
    Name   ebpf
    Trace  trace_exec

[OUTPUT]
    Name   forward
    Match  *
    Host   127.0.0.1
    Port   ${receivers.port}
`);
    configFile = config;
    cli = startCli(['-c', config], { EBPF_FORWARD_BPF_DIR: brokenDir });
    await cli.waitForLog(/tracing trace_signal, trace_exec\n/);
  });

  afterAll(async () => {
    await cli?.stop();
    await receivers?.close();
  });

  it('one message names the trace and the missing hook, and says the others keep running', () => {
    const lines = cli.stderr().split('\n').filter((l) => l.includes('trace_bind'));
    expect(lines).toHaveLength(1);
    // Named at its Trace line, as a config error is.
    expect(lines[0]).toMatch(new RegExp(`^\\[.+\\] \\[error\\] \\[input:ebpf:ebpf\\.0\\] ${escaped(configFile)}:6: trace_bind: `));
    expect(lines[0]).toMatch(MESSAGE);
    expect(lines[0]).toMatch(/\(Trace_Error continue: the other traces keep running\)$/);
    // No libbpf lines around it: the message says it all.
    expect(cli.stderr()).not.toMatch(/libbpf/);
    expectNoStack(cli.stderr());
  });

  it('the traces of the same input and of another input run: a kill arrives through the forward output', async () => {
    const kill = runSignalTool('kill', process.pid, 0);
    const entry = await waitFor(() => receivers.wire.find((e) => e.record.pid === kill.pid && e.record.event_type === 'signal' && e.record.signal === 0), 10_000, 'the kill record');
    expect(entry.tag).toBe('e2e.continue');
    expect(entry.record).toMatchObject({ comm: 'signal-tool', tpid: process.pid, error_raw: 0 });
    // The tool's own exec went to the second input (no Tag: ebpf.1).
    const exec = await waitFor(() => receivers.wire.find((e) => e.record.pid === kill.pid && e.record.event_type === 'execve' && e.record.stage === 'exit'), 10_000, 'the exec record');
    expect(exec.tag).toBe('ebpf.1');
  });

  it('in the kernel: the running traces, nothing of trace_bind; after SIGTERM nothing at all', async () => {
    const running = loadedBy(cli.process.pid!);
    expect(running.programs).toEqual([...EXEC_PROGRAMS, ...SIGNAL_PROGRAMS].sort());
    expect(running.maps).toEqual(['exec.rodata', 'signal.rodata'].sort());
    expect(running.links).toBe(running.programs.length);
    expect(await cli.stop('SIGTERM')).toBe(0);
    await expectNothingLoadedBy(cli.process.pid!);
  });
});

describe('Trace_Error exit', () => {
  it('exits 1 with the one message, no stack trace, nothing left loaded', async () => {
    // trace_exec (another input) and trace_signal attach before trace_bind fails: both must be let go.
    const config = writeConfig(`[INPUT]
    Name   ebpf
    Trace  trace_exec

[INPUT]
    Name         ebpf
    Trace        trace_signal
    Trace        trace_bind
    Trace_Error  exit

[OUTPUT]
    Name   stdout
    Match  *
`);
    const cli = startCli(['-c', config], { EBPF_FORWARD_BPF_DIR: brokenDir });
    const code = await cli.exited;
    expect(code).toBe(1);
    const stderr = cli.stderr();
    expect(stderr.split('\n').filter((l) => l.includes('trace_bind'))).toHaveLength(1);
    const last = stderr.trimEnd().split('\n').pop()!;
    expect(last).toMatch(new RegExp(`^ebpf-forward: ${escaped(config)}:8: trace_bind: `));
    expect(last).toMatch(MESSAGE);
    expect(last).toMatch(/\(Trace_Error exit: stopping\)$/);
    expect(stderr).toMatch(/trace_exec attached/);
    expect(stderr).toMatch(/trace_signal attached/);
    expect(stderr).not.toMatch(/\[error\]|libbpf/);
    expectNoStack(stderr);
    // What trace_exec and trace_signal saw (any process's, on a busy machine) in
    // their moment before the stop was delivered, not dropped: records only.
    for (const line of cli.stdout().split('\n').filter(Boolean)) {
      expect(line).toMatch(/^\[\d+\] (ebpf\.0: \[\[\d+\.\d{9}, \{\}\], \{"event_type"=>"execve", |ebpf\.1: \[\[\d+\.\d{9}, \{\}\], \{"event_type"=>"signal", )/);
    }
    await expectNothingLoadedBy(cli.process.pid!);
  });
});

describe('a trace whose BPF object is not there', () => {
  it('says which file is missing and how to get it, not that the kernel lacks something', async () => {
    const dir = objectFolder(undefined);
    const config = writeConfig(`[INPUT]
    Name         ebpf
    Trace        trace_signal
    Trace        trace_bind
    Trace_Error  exit
`);
    const run = await runCli(['-c', config], { EBPF_FORWARD_BPF_DIR: dir });
    expect(run.code).toBe(1);
    const last = run.stderr.trimEnd().split('\n').pop()!;
    expect(last).toBe(
      `ebpf-forward: ${config}:4: trace_bind: its BPF object ${join(dir, 'bind.bpf.o')} is missing: build it (node scripts/build.mjs) ` +
        'or set EBPF_FORWARD_BPF_DIR to the folder that has it (Trace_Error exit: stopping)',
    );
    expect(run.stderr).not.toMatch(/lacks|has no|libbpf/);
    expectNoStack(run.stderr);
  });
});

describe('a program this kernel\'s verifier rejects', () => {
  const cases = [
    { name: 'names the program, its hook and the verifier\'s reason in one line', source: REJECTED_BIND },
    { name: 'a long verifier log still gives its reason (libbpf hands it over as one message)', source: REJECTED_BIND_LONG_LOG },
  ];
  for (const { name, source } of cases) {
    it(name, async () => {
      const config = writeConfig(`[INPUT]
    Name   ebpf
    Trace  trace_bind
    Trace  trace_signal
`);
      const cli = startCli(['-c', config], { EBPF_FORWARD_BPF_DIR: objectFolder(source) });
      await cli.waitForLog(/tracing trace_signal\n/);
      const lines = cli.stderr().split('\n').filter((l) => l.includes('trace_bind'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /\[error\] \[input:ebpf:ebpf\.0\] \S+\.conf:3: trace_bind: the kernel's verifier rejected bind_enter \(tracepoint syscalls:sys_enter_bind\): R\d invalid mem access 'scalar', at `[^`]+` \(bind\.bpf\.c:\d+\); trace_bind needs .+ \(Trace_Error continue: the other traces keep running\)$/,
      );
      expect(cli.stderr()).not.toMatch(/libbpf|PROG LOAD LOG/);
      expect(await cli.stop('SIGTERM')).toBe(0);
      await expectNothingLoadedBy(cli.process.pid!);
    });
  }
});

/** Runs a command under a seccomp filter that refuses bpf(2) with EPERM, as a runtime's default profile does to a container without CAP_SYS_ADMIN. */
const SECCOMP_NO_BPF = String.raw`
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
  struct sock_filter filter[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_bpf, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = { sizeof(filter) / sizeof(filter[0]), filter };
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) { perror("seccomp"); return 2; }
  execv(argv[1], argv + 1);
  perror("execv");
  return 2;
}
`;

describe('under a seccomp filter that refuses bpf(2) (a container runtime\'s default profile)', () => {
  it('says the filter refused it and what to give the container, in one line with no libbpf guess', async () => {
    const wrapper = compileC('seccomp-no-bpf', SECCOMP_NO_BPF);
    const config = writeConfig(`[INPUT]
    Name         ebpf
    Trace        trace_signal
    Trace_Error  exit
`);
    const run = spawnSync(wrapper, [process.execPath, join(repoRoot, 'dist', 'cli.js'), '-c', config], { encoding: 'utf8' });
    expect(run.status).toBe(1);
    const last = run.stderr.trimEnd().split('\n').pop()!;
    expect(last).toMatch(/^ebpf-forward: .*:3: trace_signal: .*refused under this process's seccomp filter .*deploy\/seccomp\/allow-bpf\.sh.*\(Trace_Error exit: stopping\)$/);
    expect(run.stderr).not.toMatch(/libbpf|MEMLOCK/);
    expectNoStack(run.stderr);
  });
});
