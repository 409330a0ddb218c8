// Privileges: all of root's are needed to load and attach (checked before
// trying, so that the user gets one clear message instead of a verifier
// EPERM), and none once everything is attached: reading the rings (mapped
// memory and epoll on fds already open), reading the per-CPU loss counters
// (the bpf system call on a map fd already open), detaching (closing fds) and
// writing the spool (as its owner, uid 0) need no capability. tracefs, if
// ebpf-forward mounted it, is unmounted before the drop (src/app.ts).
import { readdirSync, readFileSync } from 'node:fs';
import { addon } from './native/addon.js';

const CAP_SYS_ADMIN = 21;
const CAP_PERFMON = 38;
const CAP_BPF = 39;

/** What a thread may do, from /proc/<pid>/task/<tid>/status. */
export interface ThreadPrivileges {
  tid: number;
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
  ambient: bigint;
  bounding: bigint;
  noNewPrivs: boolean;
}

function privilegesIn(status: string, tid: number): ThreadPrivileges {
  const field = (name: string) => new RegExp(`^${name}:\\s*(\\S+)$`, 'm').exec(status)?.[1];
  const capabilities = (name: string) => BigInt(`0x${field(name) ?? '0'}`);
  return {
    tid,
    effective: capabilities('CapEff'),
    permitted: capabilities('CapPrm'),
    inheritable: capabilities('CapInh'),
    ambient: capabilities('CapAmb'),
    bounding: capabilities('CapBnd'),
    noNewPrivs: field('NoNewPrivs') === '1',
  };
}

/** Every thread of a process (a thread that ends while being read is left out). */
export function threadPrivileges(pid: number | 'self' = 'self'): ThreadPrivileges[] {
  const threads: ThreadPrivileges[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      threads.push(privilegesIn(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'), Number(tid)));
    } catch {
      // it ended
    }
  }
  return threads;
}

/** Undefined when allowed, else the message to show. */
export function missingPrivileges(): string | undefined {
  const caps = privilegesIn(readFileSync('/proc/self/status', 'utf8'), process.pid).effective;
  const has = (cap: number) => (caps >> BigInt(cap)) & 1n;
  // tracefs may need mounting (CAP_SYS_ADMIN); BPF and perf events need CAP_BPF + CAP_PERFMON or CAP_SYS_ADMIN.
  if (has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))) return undefined;
  const who = process.getuid?.() === 0 ? 'root without the needed capabilities' : `uid ${process.getuid?.()}`;
  return `root is needed (or CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN) to load BPF programs, and this runs as ${who}: run it with sudo`;
}

export class PrivilegeDropError extends Error {}

/**
 * Once every trace is attached: no capability left in any thread (bounding
 * set included, where CAP_SETPCAP allows), and no_new_privs, so that no exec
 * can give one back. Checked thread by thread in /proc; returns what to log.
 */
export function dropPrivileges(): string {
  let threads: number;
  try {
    threads = addon().keepOnlyCapabilities([]).threads;
  } catch (err) {
    throw new PrivilegeDropError(`cannot drop privileges after attaching: ${(err as Error).message}`);
  }
  const after = threadPrivileges();
  const kept = after.find((t) => t.effective || t.permitted || t.inheritable || t.ambient || !t.noNewPrivs);
  if (kept) {
    const what = kept.noNewPrivs ? `capabilities ${(kept.effective | kept.permitted | kept.inheritable | kept.ambient).toString(16)}` : 'no no_new_privs';
    throw new PrivilegeDropError(`cannot drop privileges after attaching: thread ${kept.tid} still has ${what}`);
  }
  const bounding = after.some((t) => t.bounding) ? ' (the bounding set stays: dropping from it needs CAP_SETPCAP)' : '';
  return `privileges dropped in all ${Math.max(threads, after.length)} threads: no capabilities left, no_new_privs set${bounding}`;
}
