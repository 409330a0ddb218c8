// trace_signal on the real kernel: kill, tkill, tgkill and signals the kernel
// generates, exactly one record each, with the receiver as tpid.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FluentEvent } from '../../src/event.js';
import { TraceSession } from '../../src/inputs/trace-session.js';
import { addon } from '../../src/native/addon.js';
import { trace_signal } from '../../src/traces/signal/index.js';
import { waitFor } from '../support/cli.js';
import { compileC } from '../support/c-program.js';

const SOURCE = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Each mode makes one signal event and prints "pid tid errno" of the call. */
int main(int argc, char **argv) {
  const char *mode = argv[1];
  long r = 0;
  if (!strcmp(mode, "kill")) r = kill(atoi(argv[2]), atoi(argv[3]));
  else if (!strcmp(mode, "tkill")) r = syscall(SYS_tkill, atoi(argv[2]), atoi(argv[3]));
  else if (!strcmp(mode, "tgkill")) r = syscall(SYS_tgkill, atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
  else if (!strcmp(mode, "child")) {            /* SIGCHLD from the kernel */
    pid_t c = fork();
    if (c == 0) _exit(0);
    printf("%d %d 0 %d\n", getpid(), (int)syscall(SYS_gettid), c);
    waitpid(c, NULL, 0);
    return 0;
  } else if (!strcmp(mode, "segv")) {           /* SIGSEGV from the kernel */
    printf("%d %d 0\n", getpid(), (int)syscall(SYS_gettid));
    fflush(stdout);
    *(volatile int *)0 = 1;
  } else if (!strcmp(mode, "pipe")) {           /* SIGPIPE from the kernel */
    int fds[2];
    pipe(fds);
    close(fds[0]);
    printf("%d %d 0\n", getpid(), (int)syscall(SYS_gettid));
    fflush(stdout);
    write(fds[1], "x", 1);
  }
  printf("%d %d %d\n", getpid(), (int)syscall(SYS_gettid), r < 0 ? errno : 0);
  return 0;
}
`;

let session: TraceSession;
const events: FluentEvent[] = [];
let tool: string;

function run(...args: string[]): { pid: number; tid: number; errno: number; extra?: number } {
  const r = spawnSync(tool, args, { encoding: 'utf8' });
  const [pid, tid, errno, extra] = r.stdout.trim().split(/\s+/).map(Number);
  return { pid: pid!, tid: tid!, errno: errno!, extra };
}

/** Records from a process, less the SIGCHLD its exit sends to us, its parent. */
function fromPid(pid: number) {
  return events.filter((e) => e.record.pid === pid && !(e.record.signal === 17 && e.record.tpid === process.pid));
}

beforeAll(() => {
  tool = compileC('signal-tool', SOURCE);
  addon().ensureTracefs();
  session = TraceSession.start({
    trace: trace_signal,
    settings: { keys: new Map(), selfPid: process.pid },
    ringbufMapName: 'events',
    ringbufBytes: 1 << 22,
    onEvents: (e) => events.push(...e),
  });
});

afterAll(() => session?.close());

function expectSignalRecord(record: Record<string, unknown>, want: { pid: number; tid: number; signal: number; tpid: number; error_raw: number; comm?: string }) {
  expect(Object.keys(record)).toEqual(['event_type', 'pid', 'tid', 'comm', 'signal', 'tpid', 'error_raw']);
  expect(record).toMatchObject({ event_type: 'signal', ...want });
  for (const k of ['pid', 'tid', 'signal', 'tpid', 'error_raw']) expect(Number.isInteger(record[k])).toBe(true);
  expect(typeof record.comm).toBe('string');
  expect(record.comm as string).not.toContain('\0');
}

describe('trace_signal', () => {
  it('kill: one record, tpid is the receiver', async () => {
    const sleeper = spawnSync('sh', ['-c', 'sleep 30 >/dev/null 2>&1 & echo $!'], { encoding: 'utf8' });
    const target = Number(sleeper.stdout.trim());
    const call = run('kill', String(target), '12');
    const [e] = await waitFor(() => (fromPid(call.pid).length ? fromPid(call.pid) : undefined), 5000, 'kill record');
    await new Promise((r) => setTimeout(r, 200));
    expect(fromPid(call.pid)).toHaveLength(1);
    expectSignalRecord(e!.record, { pid: call.pid, tid: call.tid, signal: 12, tpid: target, error_raw: 0, comm: 'signal-tool' });
  });

  it('kill(pid, 0) and failed kills carry the errno', async () => {
    const probe = run('kill', String(process.pid), '0');
    const missing = run('kill', '999999', '0');
    const bad = run('kill', String(process.pid), '999');
    expect([probe.errno, missing.errno, bad.errno]).toEqual([0, 3, 22]);
    for (const [call, signal, errno, tpid] of [
      [probe, 0, 0, process.pid],
      [missing, 0, 3, 999999],
      [bad, 999, 22, process.pid],
    ] as const) {
      const [e] = await waitFor(() => (fromPid(call.pid).length ? fromPid(call.pid) : undefined), 5000, 'kill record');
      expect(fromPid(call.pid)).toHaveLength(1);
      expectSignalRecord(e!.record, { pid: call.pid, tid: call.tid, signal, tpid, error_raw: errno });
    }
  });

  it('tkill and tgkill: tpid is the receiving thread', async () => {
    const sleeper = spawnSync('sh', ['-c', 'sleep 30 >/dev/null 2>&1 & echo $!'], { encoding: 'utf8' });
    const target = Number(sleeper.stdout.trim());
    const t1 = run('tkill', String(target), '10');
    const t2 = run('tgkill', String(target), String(target), '15');
    for (const [call, signal] of [[t1, 10], [t2, 15]] as const) {
      const [e] = await waitFor(() => (fromPid(call.pid).length ? fromPid(call.pid) : undefined), 5000, 'tkill record');
      await new Promise((r) => setTimeout(r, 100));
      expect(fromPid(call.pid)).toHaveLength(1);
      expectSignalRecord(e!.record, { pid: call.pid, tid: call.tid, signal, tpid: target, error_raw: 0 });
    }
  });

  it('kernel-generated SIGCHLD, SIGSEGV and SIGPIPE: one record each', async () => {
    const child = run('child');
    const childPid = child.extra!;
    // SIGCHLD is generated by the exiting child for its parent.
    const [chld] = await waitFor(() => (fromPid(childPid).filter((e) => e.record.signal === 17).length ? fromPid(childPid) : undefined), 5000, 'SIGCHLD');
    expectSignalRecord(chld!.record, { pid: childPid, tid: childPid, signal: 17, tpid: child.pid, error_raw: 0 });

    const segv = run('segv');
    const [sv] = await waitFor(() => {
      const r = fromPid(segv.pid).filter((e) => e.record.signal === 11);
      return r.length ? r : undefined;
    }, 5000, 'SIGSEGV');
    expectSignalRecord(sv!.record, { pid: segv.pid, tid: segv.tid, signal: 11, tpid: segv.pid, error_raw: 0 });

    const pipe = run('pipe');
    const [sp] = await waitFor(() => {
      const r = fromPid(pipe.pid).filter((e) => e.record.signal === 13);
      return r.length ? r : undefined;
    }, 5000, 'SIGPIPE');
    expectSignalRecord(sp!.record, { pid: pipe.pid, tid: pipe.tid, signal: 13, tpid: pipe.pid, error_raw: 0 });
    await new Promise((r) => setTimeout(r, 200));
    expect(fromPid(segv.pid).filter((e) => e.record.signal === 11)).toHaveLength(1);
    expect(fromPid(pipe.pid).filter((e) => e.record.signal === 13)).toHaveLength(1);
  });

  it('record time is the kernel event time, in wall-clock nanoseconds', async () => {
    const before = Date.now();
    const call = run('kill', String(process.pid), '0');
    const after = Date.now();
    const [e] = await waitFor(() => (fromPid(call.pid).length ? fromPid(call.pid) : undefined), 5000, 'kill record');
    const ms = e!.sec * 1000 + e!.nsec / 1e6;
    expect(ms).toBeGreaterThanOrEqual(before - 5);
    expect(ms).toBeLessThanOrEqual(after + 5);
    expect(Number.isInteger(e!.nsec)).toBe(true);
    expect(e!.nsec).toBeGreaterThanOrEqual(0);
    expect(e!.nsec).toBeLessThan(1e9);
    expect(session.lost()).toBe(0);
  });
});
