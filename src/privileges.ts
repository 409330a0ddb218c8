// Privileges: all of root's are needed to load and attach (checked before
// trying, so that the user gets one clear message instead of a verifier
// EPERM), and none once everything is attached: reading the rings (mapped
// memory and epoll on fds already open), reading the per-CPU loss counters
// (the bpf system call on a map fd already open: since Linux 5.19 no
// capability, see capabilitiesToKeep), detaching (closing fds) and writing
// the spool (as its owner, uid 0). tracefs, if ebpf-forward mounted it, is
// unmounted before the drop (src/app.ts). With hot reload, what loading
// needs stays permitted (never effective) for a reload to raise and lower.
import { readdirSync, readFileSync } from 'node:fs';
import { addon } from './native/addon.js';

const CAP_SYS_PTRACE = 19;
const CAP_SYS_ADMIN = 21;
const CAP_PERFMON = 38;
const CAP_BPF = 39;

/** What a thread may do, from /proc/self/task/<tid>/status. */
interface ThreadPrivileges {
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

/** Every thread of this process (a thread that ends while being read is left out). */
function threadPrivileges(): ThreadPrivileges[] {
  const threads: ThreadPrivileges[] = [];
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      threads.push(privilegesIn(readFileSync(`/proc/self/task/${tid}/status`, 'utf8'), Number(tid)));
    } catch {
      // it ended
    }
  }
  return threads;
}

/** Undefined when allowed, else the message to show. */
/** Whether the main thread has a capability in its effective set. */
function hasEffective(cap: number): boolean {
  const caps = privilegesIn(readFileSync('/proc/self/status', 'utf8'), process.pid).effective;
  return ((caps >> BigInt(cap)) & 1n) === 1n;
}

/** Whether a refusal as uid 0 may come from a capability this process lacks (not from the kernel's own policy). */
export function lacksSysAdmin(): boolean {
  return !hasEffective(CAP_SYS_ADMIN);
}

/**
 * Whether a seccomp filter screens this process's system calls (Seccomp: 2,
 * as a container runtime's default profile does): then a refusal of bpf(2)
 * is the filter's more likely than the kernel's.
 */
export function underSeccompFilter(): boolean {
  return /^Seccomp:\s*2$/m.test(readFileSync('/proc/self/status', 'utf8'));
}

export function missingPrivileges(): string | undefined {
  const has = hasEffective;
  // tracefs may need mounting (CAP_SYS_ADMIN); BPF and perf events need CAP_BPF + CAP_PERFMON or CAP_SYS_ADMIN.
  if (has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))) return undefined;
  const who = process.getuid?.() === 0 ? 'root without the needed capabilities' : `uid ${process.getuid?.()}`;
  return `root is needed (or CAP_BPF and CAP_PERFMON; uprobe traces and mounting tracefs also need CAP_SYS_ADMIN) to load BPF programs, and this runs as ${who}: run it with sudo`;
}

/** What the kernel tells of itself that decides which capability the loss counters need. */
export interface KernelFacts {
  /** /proc/sys/kernel/osrelease, e.g. "6.1.0-18-amd64". */
  release: string;
  /** /proc/sys/kernel/unprivileged_bpf_disabled: 0, 1 or 2. */
  unprivilegedBpfDisabled: number;
  /** /proc/sys/kernel/cap_last_cap (CAP_BPF is 39, from Linux 5.8). */
  lastCapability: number;
}

function kernelFacts(): KernelFacts {
  const read = (name: string) => readFileSync(`/proc/sys/kernel/${name}`, 'utf8').trim();
  return { release: read('osrelease'), unprivilegedBpfDisabled: Number(read('unprivileged_bpf_disabled')), lastCapability: Number(read('cap_last_cap')) };
}

/**
 * Capabilities to keep once attached, with why. Before Linux 5.19,
 * kernel.unprivileged_bpf_disabled refused every bpf command without
 * CAP_BPF (CAP_SYS_ADMIN before 5.8), map lookups on open fds included:
 * the per-CPU loss counters need it there. From 5.19 it guards only the
 * creation of maps and programs: nothing is kept.
 */
export function capabilitiesToKeep(kernel: KernelFacts): { caps: number[]; why?: string } {
  const [major = 0, minor = 0] = kernel.release.split(/[.-]/).map(Number);
  if (major > 5 || (major === 5 && minor >= 19) || kernel.unprivilegedBpfDisabled === 0) return { caps: [] };
  const [cap, name] = kernel.lastCapability >= CAP_BPF ? [CAP_BPF, 'CAP_BPF'] : [CAP_SYS_ADMIN, 'CAP_SYS_ADMIN'];
  return { caps: [cap], why: `${name} kept: Linux ${kernel.release} with kernel.unprivileged_bpf_disabled=${kernel.unprivilegedBpfDisabled} needs it to read the loss counters` };
}

export class PrivilegeDropError extends Error {}

/**
 * What a hot reload needs to load and attach, kept in the permitted set
 * only: BPF and perf events, tracefs's mount (CAP_SYS_ADMIN), and the
 * /proc/<pid>/maps and root of other users' processes that uprobe traces
 * read to find their libraries (CAP_SYS_PTRACE).
 */
export const RELOAD_CAPABILITIES: readonly number[] = [CAP_SYS_PTRACE, CAP_SYS_ADMIN, CAP_PERFMON, CAP_BPF];

const maskOf = (caps: readonly number[]) => caps.reduce((m, cap) => m | (1n << BigInt(cap)), 0n);

/** Kept since dropPrivileges, in every thread's effective set (nothing on kernels from 5.19). */
let keptEffective: number[] = [];
let reloadable: number[] = [];

/**
 * Once every trace is attached: no capability left in any thread (bounding
 * set included, where CAP_SETPCAP allows), and no_new_privs, so that no exec
 * can give one back. With `forReload` (Hot_Reload On), RELOAD_CAPABILITIES
 * stay in the permitted sets, none effective, for withReloadCapabilities.
 * Checked thread by thread in /proc; returns what to log.
 */
export function dropPrivileges(options: { forReload?: boolean } = {}): string {
  let keep: ReturnType<typeof capabilitiesToKeep>;
  let threads: number;
  let after: ThreadPrivileges[];
  const forReload = options.forReload ? RELOAD_CAPABILITIES.slice() : [];
  try {
    keep = capabilitiesToKeep(kernelFacts());
    threads = addon().keepOnlyCapabilities(keep.caps, forReload).threads;
    after = threadPrivileges();
  } catch (err) {
    throw new PrivilegeDropError(`cannot drop privileges after attaching: ${(err as Error).message}`);
  }
  keptEffective = keep.caps;
  reloadable = forReload;
  const mask = maskOf(keep.caps);
  const permitted = mask | maskOf(forReload);
  const kept = after.find((t) => t.effective !== mask || t.permitted !== permitted || t.inheritable || t.ambient || !t.noNewPrivs);
  if (kept) {
    const what = kept.noNewPrivs ? `capabilities ${(kept.effective | kept.permitted | kept.inheritable | kept.ambient).toString(16)}` : 'no no_new_privs';
    throw new PrivilegeDropError(`cannot drop privileges after attaching: thread ${kept.tid} still has ${what}`);
  }
  const left = keep.why ?? (forReload.length ? 'none effective, CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN and CAP_SYS_PTRACE permitted for hot reload' : 'no capabilities left');
  const bounding = after.some((t) => t.bounding & ~mask) ? ' (the bounding set stays: dropping from it needs CAP_SETPCAP)' : '';
  return `privileges dropped in all ${Math.max(threads, after.length)} threads: ${left}, no_new_privs set${bounding}`;
}

/**
 * Runs `attach` (synchronous: no other JS runs meanwhile, and no thread is
 * started that would inherit them) with the reload capabilities effective
 * in this thread, and lowers them after, whatever happens. Before
 * dropPrivileges (the first start), it just runs.
 */
export function withReloadCapabilities<T>(attach: () => T): T {
  if (reloadable.length === 0) return attach();
  addon().setEffectiveCapabilities([...keptEffective, ...reloadable]);
  try {
    return attach();
  } finally {
    addon().setEffectiveCapabilities(keptEffective);
  }
}

/**
 * Hot reload turned off by a reload: what was kept for it goes from every
 * thread too, for good.
 */
export function dropReloadCapabilities(): string {
  if (reloadable.length === 0) return 'no capabilities kept for reload';
  return dropPrivileges({ forReload: false });
}

/** Threads that have any effective capability beyond what is kept (none, outside a reload). */
export function threadsWithEffectiveCapabilities(): { tid: number; effective: bigint }[] {
  const mask = maskOf(keptEffective);
  return threadPrivileges().filter((t) => t.effective & ~mask).map((t) => ({ tid: t.tid, effective: t.effective }));
}
