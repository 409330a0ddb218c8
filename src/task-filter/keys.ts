// The input's filters as keys: pid, comm, uid and cgroup, each repeatable,
// and their exclude_ forms, checked in the kernel at every trace's entry
// points (bpf/task_filter.bpf.h, written by kernel.ts). A few
// traces also keep trace-scoped include keys of their own from before
// (malloc_pid, malloc_comm...): those apply to that trace only.
import { readFileSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import { cgroupRoot } from '../records/container-names.js';
import type { TraceDefinition, TraceKey, TraceSettings } from '../traces/types.js';
import { FILTER_KINDS, MAX_FILTER_ITEMS, type CgroupItem, type FilterKind, type FilterLists, type TaskFilter } from './filter.js';

/** A container id prefix: at least as much as is unlikely to match two ids, at most a whole id. */
const PREFIX = /^[0-9a-f]{6,64}$/;
const MAX_PID = 0x3fffffff;
const MAX_UID = 0xfffffffe; // (uid_t)-1 is "no uid"

/** Splits "1, 2 3" into its items. */
function listItems(value: string): string[] {
  return value.split(/[\s,]+/).filter((s) => s.length > 0);
}

function commaItems(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

function parsePids(key: string, value: string): number[] {
  const items = listItems(value);
  if (items.length === 0) throw new Error(`${key} needs at least one pid`);
  return items.map((item) => {
    if (!/^\d+$/.test(item) || Number(item) < 1 || Number(item) > MAX_PID) {
      throw new Error(`${key}: '${item}' is not a pid (a whole number from 1 to ${MAX_PID})`);
    }
    return Number(item);
  });
}

function parseComms(key: string, value: string): string[] {
  const items = commaItems(value);
  if (items.length === 0) throw new Error(`${key} needs at least one command name`);
  return items;
}

/** User names from /etc/passwd (read when a uid key names one). */
function passwdUid(name: string): number | undefined {
  let text: string;
  try {
    text = readFileSync('/etc/passwd', 'utf8');
  } catch {
    return undefined;
  }
  const line = text.split('\n').find((l) => l.split(':')[0] === name);
  const uid = line?.split(':')[2];
  return uid !== undefined && /^\d+$/.test(uid) ? Number(uid) : undefined;
}

function parseUids(key: string, value: string): number[] {
  const items = listItems(value);
  if (items.length === 0) throw new Error(`${key} needs at least one uid`);
  return items.map((item) => {
    if (/^\d+$/.test(item)) {
      if (Number(item) > MAX_UID) throw new Error(`${key}: '${item}' is not a uid (a whole number from 0 to ${MAX_UID}, or a user name)`);
      return Number(item);
    }
    const uid = passwdUid(item);
    if (uid === undefined) throw new Error(`${key}: '${item}' is neither a uid (a whole number) nor a user of /etc/passwd`);
    return uid;
  });
}

/**
 * With cgroup v2 mounted at /sys/fs/cgroup, "/sys/fs/cgroup/a/b" and "/a/b"
 * are the cgroup /a/b (as /proc/<pid>/cgroup shows it); it must exist.
 */
function parseCgroupPath(key: string, item: string): CgroupItem {
  const root = cgroupRoot();
  let path = posix.normalize(item);
  if (item.split('/').includes('..')) throw new Error(`${key}: '${item}': a cgroup path has no '..'`);
  if (path === root || path.startsWith(`${root}/`)) path = path.slice(root.length) || '/';
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  const dir = posix.join(root, path);
  let isCgroup = false;
  try {
    isCgroup = statSync(dir).isDirectory() && statSync(posix.join(dir, 'cgroup.procs')).isFile();
  } catch {
    // missing: said below
  }
  if (!isCgroup) throw new Error(`${key}: no cgroup ${path} (${dir} is not a cgroup v2 directory): give a path under ${root}, or relative to it as /proc/<pid>/cgroup shows it`);
  return { path };
}

function parseCgroups(key: string, value: string): CgroupItem[] {
  const items = commaItems(value);
  if (items.length === 0) throw new Error(`${key} needs at least one cgroup path or container id prefix`);
  return items.map((item) => {
    if (item.startsWith('/')) return parseCgroupPath(key, item);
    if (PREFIX.test(item.toLowerCase())) return { containerPrefix: item.toLowerCase() };
    throw new Error(`${key}: '${item}' is neither a cgroup path (starting with /) nor a container id prefix (6 to 64 hex digits, as docker ps shows 12)`);
  });
}

const parsers: Record<FilterKind, (key: string, value: string) => unknown[]> = {
  pid: parsePids,
  comm: parseComms,
  uid: parseUids,
  cgroup: parseCgroups,
};

const what: Record<FilterKind, string> = {
  pid: 'processes with these thread-group ids (a list separated by commas or spaces)',
  comm: 'processes with this command name (the kernel keeps its first 15 bytes, so longer names are cut there; a list separated by commas)',
  uid: "processes of these real uids, numbers or user names (a list separated by commas or spaces)",
  cgroup: `processes in these cgroups and their descendants: a cgroup v2 path (under its mount, /sys/fs/cgroup, or relative to it: /system.slice/docker.service) or a container id prefix of 6 to 64 hex digits (docker, containerd, CRI-O and podman cgroups, also of containers started later); a list separated by commas`,
};

/** The input-wide filter keys: pid, comm, uid, cgroup and exclude_pid... ([INPUT] ebpf, YAML and -p alike). */
export const filterKeys = FILTER_KINDS.flatMap((kind) => [
  {
    name: kind,
    description: `only ${what[kind]}, checked in the kernel for every trace; the key may repeat, at most ${MAX_FILTER_ITEMS[kind]} ${kind} items in all`,
    repeatable: true,
    parse: (value: string) => parsers[kind](kind, value),
  },
  {
    name: `exclude_${kind}`,
    description: `not ${what[kind].replace(/^processes/, 'the processes')}, checked in the kernel for every trace; the key may repeat`,
    repeatable: true,
    parse: (value: string) => parsers[kind](`exclude_${kind}`, value),
  },
]);

/** A trace's own include key of a kind ("malloc_pid"): it applies to that trace only. */
export function traceFilterKey(prefix: string, kind: 'pid' | 'comm'): TraceKey {
  const name = `${prefix}_${kind}`;
  return {
    name,
    filter: kind,
    maxItems: MAX_FILTER_ITEMS[kind],
    description: `${what[kind].replace(/^processes/, 'only processes')} for this trace alone, checked in the kernel; the key may repeat (the input-wide ${kind} key does the same for every trace)`,
    repeatable: true,
    parse: (value) => parsers[kind](name, value),
  };
}

/** The `<prefix>_pid` and `<prefix>_comm` keys ("malloc_pid", "malloc_comm"). */
export function processFilterKeys(prefix: string): TraceKey[] {
  return [traceFilterKey(prefix, 'pid'), traceFilterKey(prefix, 'comm')];
}

/** A repeatable key's values, flattened and each once: [[1, 2], [1, 3]] -> [1, 2, 3]. */
function items<T>(value: unknown): T[] {
  if (value === undefined) return [];
  const all = (Array.isArray(value) ? value.flat(2) : [value]) as T[];
  const seen = new Set<string>();
  return all.filter((item) => {
    const key = JSON.stringify(item);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * One trace's filters from its input's keys: each kind's include list is
 * the trace's own key of that kind where it has one set (the config loader
 * refuses it together with the input-wide key), else the input's.
 */
export function taskFilterFor(trace: TraceDefinition, values: ReadonlyMap<string, unknown>): TaskFilter {
  const own = new Map<FilterKind, string>((trace.keys ?? []).filter((k) => k.filter && values.has(k.name)).map((k) => [k.filter!, k.name]));
  const lists = <T>(kind: FilterKind): FilterLists<T> => ({
    include: items<T>(values.get(own.get(kind) ?? kind)),
    exclude: items<T>(values.get(`exclude_${kind}`)),
  });
  return { pid: lists('pid'), comm: lists('comm'), uid: lists('uid'), cgroup: lists('cgroup') };
}

/** With a pid include list, the only processes a uprobe trace installs its uprobes in. */
export function includedPids(settings: TraceSettings): readonly number[] | undefined {
  const pids = settings.filter?.pid.include ?? [];
  return pids.length ? pids : undefined;
}
