// A BPF_Object rebuilt in place, then a hot reload: the new build is what
// runs after it; made writable by others, the reload is refused and the
// running build stays. The object (a process_exits.bpf.c-style one of the
// test's own) stamps each record with its build number; the test's own
// children exit before and after the object file is overwritten with
// another build (same path, same inode, as `cp` does) and SIGHUP. Records
// come from the CLI's stdout (json_lines) and are only those of the test's
// children (parent_pid is the test's pid).
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { repoRoot, startCli, waitFor, type RunningCli } from '../../support/cli.js';

const arch = { x64: 'x86', arm64: 'arm64' }[process.arch as string] ?? process.arch;

const SOURCE = `#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
char LICENSE[] SEC("license") = "Dual BSD/GPL";
struct build_exit { __u64 ktime_ns; __u32 pid; __u32 build; };
const struct build_exit *unused __attribute__((unused));
const volatile __u32 parent_pid = 0;
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 256 * 1024); } events SEC(".maps");
SEC("tracepoint/sched/sched_process_exit")
int handle_exit(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (BPF_CORE_READ(task, signal, live.counter) != 0 || BPF_CORE_READ(task, real_parent, tgid) != parent_pid)
		return 0;
	struct build_exit *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->ktime_ns = bpf_ktime_get_ns();
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->build = BUILD;
	bpf_ringbuf_submit(e, 0);
	return 0;
}
`;

/** Compiles the object with BUILD=n into `out`. */
function build(dir: string, n: number, out: string): void {
  const src = join(dir, 'build_exits.bpf.c');
  writeFileSync(src, SOURCE);
  execFileSync('clang', ['-g', '-O2', '-target', 'bpf', `-D__TARGET_ARCH_${arch}`, `-DBUILD=${n}`, '-I', join(repoRoot, 'bpf', '.output'), '-c', src, '-o', out]);
}

let cli: RunningCli | undefined;
afterEach(async () => {
  await cli?.stop();
  cli = undefined;
});

/** The builds of the records of these pids that the CLI printed. */
function buildsOf(cli: RunningCli, pids: Set<number>): number[] {
  return cli
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { pid: number; build: number })
    .filter((r) => pids.has(r.pid))
    .map((r) => r.build);
}

/** A child of the test that exits at once; its pid. */
const exitOnce = () => spawnSync('/bin/true').pid!;

/** A folder with build 1 as build_exits.bpf.o (and build 2 next to it) and a config running it; the CLI started on it. */
async function startOnBuild1(): Promise<{ dir: string; object: string; config: string; cli: RunningCli }> {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-forward-rebuilt-'));
  const object = join(dir, 'build_exits.bpf.o');
  build(dir, 1, object);
  build(dir, 2, join(dir, 'build2.bpf.o'));
  const config = join(dir, 'ebpf-forward.conf');
  writeFileSync(
    config,
    `[SERVICE]
    Flush       0.2
    Hot_Reload  On
[INPUT]
    Name             ebpf
    Tag              exits
    BPF_Object       build_exits.bpf.o
    BPF_Record_Type  build_exit
    BPF_Time_Field   ktime_ns
    BPF_Set          parent_pid=${process.pid}
[OUTPUT]
    Name    stdout
    Match   *
    Format  json_lines
`,
  );
  cli = startCli(['-c', config]);
  await cli.waitForLog(/privileges dropped/);
  const before = new Set([exitOnce()]);
  await waitFor(() => (buildsOf(cli!, before).length ? true : undefined), 10_000, 'the first build\'s record');
  expect(buildsOf(cli, before)).toEqual([1]);
  return { dir, object, config, cli };
}

/** The builds of the records of children that exit after this call (a few exits, until one is seen). */
async function buildsFromNow(cli: RunningCli): Promise<Set<number>> {
  const after = new Set<number>();
  await waitFor(() => {
    after.add(exitOnce());
    return buildsOf(cli, after).length ? true : undefined;
  }, 10_000, 'a record after the reload');
  return new Set(buildsOf(cli, after));
}

describe('BPF_Object rebuilt in place, then a hot reload', () => {
  it('runs the new build: the records after the reload are the new build\'s', async () => {
    const { dir, object, cli } = await startOnBuild1();

    // Overwritten in place: the same file (inode), new bytes.
    const inode = statSync(object).ino;
    copyFileSync(join(dir, 'build2.bpf.o'), object);
    expect(statSync(object).ino).toBe(inode);
    cli.process.kill('SIGHUP');
    await cli.waitForLog(/reload done/);

    // The reload's attach is done when "reload done" is logged.
    expect(await buildsFromNow(cli)).toEqual(new Set([2]));
  });

  it('made writable by others (0666): the reload is refused at its BPF_Object line, and the running build stays', async () => {
    const { dir, object, config, cli } = await startOnBuild1();
    copyFileSync(join(dir, 'build2.bpf.o'), object);
    chmodSync(object, 0o666);
    cli.process.kill('SIGHUP');
    await cli.waitForLog(/reload refused/);
    const refusal = cli.stderr().split('\n').find((l) => /reload refused/.test(l));
    expect(refusal).toContain(`${config}:7: BPF_Object build_exits.bpf.o (${object}): it is mode 0666, writable by its group (gid 0) and others: they could change the kernel code it loads; chmod go-w ${object}`);
    expect(await buildsFromNow(cli)).toEqual(new Set([1]));
  });
});
