// Causes execs for trace_exec tests (kernel and end-to-end): a C helper
// (exec-probe.c) forks a child that execs in a chosen way — with its strings
// resident or in pages never touched, from the leader or another thread, by
// execve or execveat — and says which pid/tid did it and how it ended.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { compileC } from './c-program.js';

export const EXEC_PROBE_COMM = 'exec-probe';

export interface ExecProbeRun {
  /** pid of the forked child (the exec'ing process), and the helper's own pid (its parent). */
  pid: number;
  parent: number;
  /** Thread that called exec (differs from pid with the "thread" option). */
  tid: number;
  status: number;
  /** errno of a failed exec, 0 when it succeeded. */
  errno: number;
  /** execveat's dirfd, -100 (AT_FDCWD) for execve. */
  dirfd: number;
  /** CLOCK_REALTIME just before the exec call. */
  calledSec: number;
  calledNsec: number;
}

export type ExecProbeOption = 'unmapped' | 'thread' | 'execveat' | 'noargv';

export function execProbePath(): string {
  return compileC(EXEC_PROBE_COMM, readFileSync(new URL('./exec-probe.c', import.meta.url), 'utf8'));
}

/** Runs `path` with `argv` (argv[0] included; ignored with "noargv") from a forked child, waits for it. */
export function runExecProbe(options: ExecProbeOption[], path: string, argv: string[]): ExecProbeRun {
  const how = options.length ? options.join(',') : 'resident';
  const r = spawnSync(execProbePath(), [how, path, ...argv], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`exec-probe ${how} ${path} failed (${r.status ?? r.signal}): ${r.stderr}`);
  const out = JSON.parse(r.stdout.trim()) as Omit<ExecProbeRun, 'parent'>;
  return { ...out, parent: r.pid! };
}

/** n distinct, recognisable arguments after argv[0]. */
export function numberedArgs(n: number, tag = 'arg'): string[] {
  return Array.from({ length: n }, (_, i) => `${tag}-${i + 1}`);
}
