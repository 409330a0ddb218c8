// Two processes that ping-pong a byte over a pipe, pinned to one CPU so that
// every hand-off is a real context switch, for the trace_sched kernel tests;
// the kernel's own count of each one's switches, read while both are
// blocked, to check the trace's records against; and moving the test's own
// process off their CPU.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { compileC } from './c-program.js';
import { waitFor } from './cli.js';

const SOURCE = String.raw`
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* Commands on stdin: 'g' makes <rounds> round trips between this process
 * (ping) and its child (pong), then prints "done"; 'f' forks <forks>
 * children that exit at once, one after the other, and prints their pids;
 * EOF ends both. In between, both are blocked in a read. */
int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 1000;
  int forks = argc > 2 ? atoi(argv[2]) : 20;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  int cpu = -1;
  for (int i = 0; i < CPU_SETSIZE; i++) if (CPU_ISSET(i, &set)) cpu = i;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) return 1; /* the child inherits it */

  int ping[2], pong[2];
  if (pipe(ping) || pipe(pong)) return 1;
  char c = 'r';
  pid_t child = fork();
  if (child == 0) {
    prctl(PR_SET_NAME, "sched-pong");
    setpriority(PRIO_PROCESS, 0, 5); /* kernel priority 125: told apart from ping's 120 */
    close(ping[1]);
    close(pong[0]);
    if (write(pong[1], &c, 1) != 1) return 1;
    while (read(ping[0], &c, 1) == 1)
      if (write(pong[1], &c, 1) != 1) return 1;
    return 0;
  }
  close(ping[0]);
  close(pong[1]);
  if (read(pong[0], &c, 1) != 1) return 1; /* the child is running */
  printf("ready %d %d %d\n", getpid(), child, cpu);
  fflush(stdout);

  char command;
  while (read(0, &command, 1) == 1) {
    if (command == 'g') {
      for (int i = 0; i < rounds; i++)
        if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1) return 1;
      printf("done\n");
    } else if (command == 'f') {
      printf("forked");
      for (int i = 0; i < forks; i++) {
        pid_t p = fork();
        if (p == 0) _exit(0);
        waitpid(p, NULL, 0);
        printf(" %d", p);
      }
      printf("\n");
    }
    fflush(stdout);
  }
  close(ping[1]);
  waitpid(child, NULL, 0);
  return 0;
}
`;

/** A task's switches so far, by the kernel's count (/proc/<pid>/status). */
export interface SwitchCounts {
  /** Switches away while blocking: each one's end is a wake-up. */
  voluntary: number;
  /** Preemptions: the task stayed runnable. */
  involuntary: number;
}

export interface PingPong {
  /** ping's pid (its comm is "sched-ping"). */
  ping: number;
  /** pong's pid, ping's child ("sched-pong", nice 5). */
  pong: number;
  /** The CPU both are pinned to. */
  cpu: number;
  rounds: number;
  /** Waits until both are blocked and their switch counts hold, then reads them (they can't change before the next command). */
  settled(): Promise<{ ping: SwitchCounts; pong: SwitchCounts }>;
  /** Makes the round trips; resolves once ping has printed "done". */
  go(): Promise<void>;
  /** Forks `forks` children that exit at once, one after the other; resolves with their pids. */
  fork(): Promise<number[]>;
  /** Ends both. */
  stop(): Promise<void>;
}

/** Whether the task is blocked: the kernel gives a wait channel only for a task off its run queue. */
function blocked(pid: number): boolean {
  return readFileSync(`/proc/${pid}/wchan`, 'utf8').trim() !== '0';
}

function switchCounts(pid: number): SwitchCounts {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const count = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)$`, 'm').exec(status)![1]);
  return { voluntary: count('voluntary_ctxt_switches'), involuntary: count('nonvoluntary_ctxt_switches') };
}

export async function startPingPong(rounds = 1000, forks = 20): Promise<PingPong> {
  const child: ChildProcess = spawn(compileC('sched-ping', SOURCE), [String(rounds), String(forks)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const lines = () => out.split('\n').slice(0, -1);
  const ready = await waitFor(() => lines().find((l) => l.startsWith('ready ')), 10_000, 'sched-ping to start');
  const [ping, pong, cpu] = ready.split(' ').slice(1).map(Number) as [number, number, number];
  /** Sends a command and waits for the next line it prints. */
  const command = async (c: string) => {
    const seen = lines().length;
    child.stdin!.write(c);
    return waitFor(() => lines()[seen], 10_000, `sched-ping's answer to '${c}'`);
  };
  return {
    ping,
    pong,
    cpu,
    rounds,
    async settled() {
      // A task is off its run queue (a wait channel) a moment before the
      // kernel counts the switch: in between, __schedule picks the next
      // task, which on an idle CPU can balance load for a while. Counts
      // only hold once they read the same a little later, still blocked.
      const read = () => ({ ping: switchCounts(ping), pong: switchCounts(pong) });
      const same = (a: ReturnType<typeof read>, b: ReturnType<typeof read>) => JSON.stringify(a) === JSON.stringify(b);
      for (;;) {
        await waitFor(() => (blocked(ping) && blocked(pong) ? true : undefined), 10_000, 'sched-ping and sched-pong to block');
        const counts = read();
        await new Promise((resolve) => setTimeout(resolve, 5));
        if (blocked(ping) && blocked(pong) && same(counts, read())) return counts;
      }
    },
    async go() {
      const line = await command('g');
      if (line !== 'done') throw new Error(`sched-ping: ${line}`);
    },
    async fork() {
      const line = await command('f');
      if (!line.startsWith('forked ')) throw new Error(`sched-ping: ${line}`);
      return line.split(' ').slice(1).map(Number);
    },
    async stop() {
      child.stdin!.end();
      await exited;
    },
  };
}

/** CPUs of a list such as "0-3,6". */
function cpuList(text: string): number[] {
  return text.split(',').flatMap((part) => {
    const [from, to = from] = part.split('-').map(Number) as [number, number?];
    return Array.from({ length: to! - from + 1 }, (_, i) => from + i);
  });
}

/**
 * Moves every thread of this process off `cpu`: switches from or to
 * ebpf-forward (here, the test) are never recorded, so none may happen
 * where the kernel's counts are compared with the records. Returns how to
 * undo it.
 */
export function keepOffCpu(cpu: number): () => void {
  const allowed = /^Cpus_allowed_list:\s+(\S+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]!;
  const others = cpuList(allowed).filter((c) => c !== cpu);
  if (others.length === 0) throw new Error(`the trace_sched tests need a CPU besides ${cpu} for the test process`);
  const pin = (list: string) => execFileSync('taskset', ['--all-tasks', '--cpu-list', '--pid', list, String(process.pid)], { stdio: 'ignore' });
  pin(others.join(','));
  return () => pin(allowed);
}
