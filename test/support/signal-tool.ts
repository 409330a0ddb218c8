// A C program that makes one signal event per run — a kill, tkill or tgkill
// call, or a signal the kernel generates on its own — and says who made it,
// for trace_signal tests (kernel and end-to-end).
import { spawnSync } from 'node:child_process';
import { compileC } from './c-program.js';

export const SIGNAL_TOOL_COMM = 'signal-tool';

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

/* Each mode makes one signal event and prints "pid tid errno [child]". */
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

export type SignalToolMode =
  | ['kill', pid: number, signal: number]
  | ['tkill', tid: number, signal: number]
  | ['tgkill', tgid: number, tid: number, signal: number]
  /** forks a child that exits: the kernel sends the tool SIGCHLD */
  | ['child']
  /** writes through a NULL pointer: SIGSEGV */
  | ['segv']
  /** writes to a pipe with no reader: SIGPIPE */
  | ['pipe'];

export interface SignalToolRun {
  /** The tool's pid and the thread that made the call (the same: it has one thread). */
  pid: number;
  tid: number;
  /** errno of a failed kill/tkill/tgkill, else 0. */
  errno: number;
  /** "child": the forked child's pid. */
  child?: number;
  /** How the tool ended: its exit code, or the signal that killed it. */
  status: number | null;
  signal: NodeJS.Signals | null;
}

export function signalToolPath(): string {
  return compileC(SIGNAL_TOOL_COMM, SOURCE);
}

/** Runs one mode to its end. */
export function runSignalTool(...mode: SignalToolMode): SignalToolRun {
  const r = spawnSync(signalToolPath(), mode.map(String), { encoding: 'utf8' });
  const [pid, tid, errno, child] = r.stdout.trim().split('\n')[0]!.split(' ').map(Number);
  if (!pid) throw new Error(`signal-tool ${mode.join(' ')} printed nothing (${r.status ?? r.signal}): ${r.stderr}`);
  return { pid, tid: tid!, errno: errno!, child, status: r.status, signal: r.signal };
}

/** A `sleep` that is not our child (its end sends no SIGCHLD to us), to receive signals. */
export function startSignalTarget(): number {
  const r = spawnSync('sh', ['-c', 'sleep 30 >/dev/null 2>&1 & echo $!'], { encoding: 'utf8' });
  return Number(r.stdout.trim());
}
