// A generator of numbered kernel events for reload tests: a C program that
// makes COUNT kill(2) calls at RATE per second, each to a pid that can't
// exist (BASE + n, above any pid_max, so ESRCH: nothing is signalled). Each
// is one trace_signal record whose tpid tells which call it was, so the
// receiver's records show every gap and every duplicate.
import { spawn } from 'node:child_process';
import { compileC } from '../../support/c-program.js';

/** Above the largest pid_max (2^22): kill() to these fails with ESRCH. */
export const SEQUENCE_BASE = 1 << 30;

const SOURCE = String.raw`
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* reload-load BASE COUNT RATE: at each 1 ms tick, catch up to RATE * elapsed calls. */
int main(int argc, char **argv) {
  long base = atol(argv[1]), count = atol(argv[2]), rate = atol(argv[3]);
  printf("%d\n", getpid());
  fflush(stdout);
  struct timespec start, now, tick;
  clock_gettime(CLOCK_MONOTONIC, &start);
  tick = start;
  long made = 0;
  while (made < count) {
    clock_gettime(CLOCK_MONOTONIC, &now);
    double elapsed = (now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9;
    long due = (long)(elapsed * rate) + 1;
    if (due > count) due = count;
    for (; made < due; made++) kill((int)(base + made), 0);
    tick.tv_nsec += 1000000;
    if (tick.tv_nsec >= 1000000000) { tick.tv_sec++; tick.tv_nsec -= 1000000000; }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &tick, NULL);
  }
  printf("%ld\n", made);
  return 0;
}
`;

export interface Generator {
  pid: number;
  /** Resolves with the number of calls made once the program has exited. */
  done: Promise<number>;
}

export async function startGenerator(count: number, rate: number): Promise<Generator> {
  const bin = compileC('reload-load', `#include <unistd.h>\n${SOURCE}`);
  const child = spawn(bin, [String(SEQUENCE_BASE), String(count), String(rate)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const done = new Promise<number>((resolve, reject) => {
    child.on('exit', (code) => (code === 0 ? resolve(Number(out.trim().split('\n')[1])) : reject(new Error(`reload-load exited ${code}`))));
  });
  const pid = await new Promise<number>((resolve) => {
    const check = () => {
      if (out.includes('\n')) resolve(Number(out.split('\n')[0]));
      else child.stdout.once('data', check);
    };
    check();
  });
  return { pid, done };
}

export interface Tally {
  offered: number;
  received: number;
  /** Records of a call seen more than once. */
  duplicates: number;
  /** Calls with no record. */
  missing: number;
}

/** Counts a generator's calls among records (trace_signal's tpid = BASE + n). */
export function tally(records: { pid?: unknown; tpid?: unknown; event_type?: unknown }[], pid: number, offered: number): Tally {
  const seen = new Map<number, number>();
  let received = 0;
  for (const r of records) {
    if (r.event_type !== 'signal' || r.pid !== pid || typeof r.tpid !== 'number' || r.tpid < SEQUENCE_BASE) continue;
    received++;
    const n = r.tpid - SEQUENCE_BASE;
    seen.set(n, (seen.get(n) ?? 0) + 1);
  }
  let duplicates = 0;
  for (const times of seen.values()) duplicates += times - 1;
  let missing = 0;
  for (let n = 0; n < offered; n++) if (!seen.has(n)) missing++;
  return { offered, received, duplicates, missing };
}
