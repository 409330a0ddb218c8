// A trace's filters (src/traces/process-filter.ts) written into its BPF
// object (bpf/task_filter.bpf.h): which kinds are on and the maps' sizes
// before load; the pid, uid and comm items after load; the cgroups last,
// once the mkdir/rmdir programs are attached, from one walk of the cgroup
// tree that gives every cgroup the bits (and, with container id prefixes,
// the place roles) those programs would have.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { NativeBpfObject } from '../native/addon.js';
import { u32le, u64le } from '../native/little-endian.js';
import { cgroupRoot, childRoles, containerIdOfChild, ROOT } from '../records/container-names.js';
import { FILTER_KINDS, hasFilters, MAX_FILTER_ITEMS, type FilterKind, type FilterLists, type TaskFilter } from '../traces/process-filter.js';

const IN = 1;
const OUT = 2;
/** filter_kinds bits: FILTER_<KIND>_IN, FILTER_<KIND>_OUT in bpf/task_filter.bpf.h. */
const KIND_SHIFT: Readonly<Record<FilterKind, number>> = { pid: 0, comm: 2, uid: 4, cgroup: 6 };
const MAP_OF: Readonly<Record<FilterKind, string>> = { pid: 'filter_pids', comm: 'filter_comms', uid: 'filter_uids', cgroup: 'filter_cgroups' };
/** The programs that keep the cgroup map up to date; loaded only with a cgroup filter. */
export const CGROUP_PROGRAMS = ['filter_cgroup_rmdir', 'filter_cgroup_mkdir'] as const;
/** Cgroups the map can hold (those named, their descendants, matching containers'). */
export const CGROUP_MAP_ENTRIES = 16384;
/** Places where containers can be that the places map can hold (the root, top-level cgroups, pods). */
export const PLACE_MAP_ENTRIES = 16384;
/** Sizes in bpf/task_filter.bpf.h. */
const MAX_CONTAINER_PREFIXES = 16;
const CONTAINER_ID_LEN = 64;
const COMM_LEN = 16;

/** The kernel keeps a comm's first 15 bytes (even mid-character), zero-padded: the map's key. */
function commKey(comm: string): Buffer {
  const key = Buffer.alloc(COMM_LEN);
  Buffer.from(comm, 'utf8').copy(key, 0, 0, COMM_LEN - 1);
  return key;
}

/** Each item's bits: IN, OUT, or both. */
function itemBits<T>(lists: FilterLists<T>, key: (item: T) => string): Map<string, { item: T; bits: number }> {
  const out = new Map<string, { item: T; bits: number }>();
  for (const [list, bit] of [[lists.include, IN], [lists.exclude, OUT]] as const) {
    for (const item of list) {
      const k = key(item);
      const entry = out.get(k) ?? { item, bits: 0 };
      entry.bits |= bit;
      out.set(k, entry);
    }
  }
  return out;
}

function kindBits(filter: TaskFilter): number {
  let kinds = 0;
  for (const kind of FILTER_KINDS) {
    if (filter[kind].include.length) kinds |= IN << KIND_SHIFT[kind];
    if (filter[kind].exclude.length) kinds |= OUT << KIND_SHIFT[kind];
  }
  return kinds;
}

/** Whether an object has the filters (a user's BPF object may not). */
export function objectHasFilters(globals: ReadonlySet<string> | ReadonlyMap<string, unknown>): boolean {
  return globals.has('filter_kinds');
}

/**
 * Before load: the kinds that have items (the others are pruned by the
 * verifier), the maps sized for the items, the container prefixes, and the
 * cgroup programs loaded only when a cgroup filter needs them.
 */
export function configureFilter(object: NativeBpfObject, filter: TaskFilter | undefined): void {
  const on = hasFilters(filter);
  object.setGlobal('filter_kinds', u32le(on ? kindBits(filter) : 0));
  for (const kind of FILTER_KINDS) {
    const count = on ? filter[kind].include.length + filter[kind].exclude.length : 0;
    if (count > MAX_FILTER_ITEMS[kind]) throw new Error(`${kind}: ${count} items given in all, at most ${MAX_FILTER_ITEMS[kind]}`);
    const entries = kind === 'cgroup' ? (count ? CGROUP_MAP_ENTRIES : 1) : Math.max(1, count);
    object.setMapMaxEntries(MAP_OF[kind], entries);
  }
  const prefixes = on ? [...itemBits(filter.cgroup, (c) => ('containerPrefix' in c ? c.containerPrefix : '')).entries()].filter(([k]) => k) : [];
  if (prefixes.length > MAX_CONTAINER_PREFIXES) throw new Error(`cgroup: ${prefixes.length} container id prefixes, at most ${MAX_CONTAINER_PREFIXES}`);
  const text = Buffer.alloc(MAX_CONTAINER_PREFIXES * CONTAINER_ID_LEN);
  const lens = Buffer.alloc(MAX_CONTAINER_PREFIXES);
  const bits = Buffer.alloc(MAX_CONTAINER_PREFIXES);
  prefixes.forEach(([prefix, entry], i) => {
    text.write(prefix, i * CONTAINER_ID_LEN, 'latin1');
    lens[i] = prefix.length;
    bits[i] = entry.bits;
  });
  object.setGlobal('filter_prefix_count', u32le(prefixes.length));
  object.setGlobal('filter_prefixes', text);
  object.setGlobal('filter_prefix_lens', lens);
  object.setGlobal('filter_prefix_bits', bits);
  object.setMapMaxEntries('filter_cgroup_places', prefixes.length ? PLACE_MAP_ENTRIES : 1);
  const cgroups = on && filter.cgroup.include.length + filter.cgroup.exclude.length > 0;
  for (const program of CGROUP_PROGRAMS) object.setAutoload(program, cgroups);
}

/** Whether the cgroup programs were loaded (and must attach first). */
export function needsCgroupPrograms(filter: TaskFilter | undefined): filter is TaskFilter {
  return hasFilters(filter) && filter.cgroup.include.length + filter.cgroup.exclude.length > 0;
}

/** After load: the pid, uid and comm items into their maps. */
export function fillFilterMaps(object: NativeBpfObject, filter: TaskFilter | undefined): void {
  if (!hasFilters(filter)) return;
  for (const { item, bits } of itemBits(filter.pid, String).values()) object.updateMap('filter_pids', u32le(item), Buffer.of(bits));
  for (const { item, bits } of itemBits(filter.uid, String).values()) object.updateMap('filter_uids', u32le(item), Buffer.of(bits));
  for (const [key, { bits }] of itemBits(filter.comm, (c) => commKey(c).toString('hex'))) object.updateMap('filter_comms', Buffer.from(key, 'hex'), Buffer.of(bits));
}

/**
 * After the cgroup programs are attached (so that no cgroup made meanwhile
 * is missed): every existing cgroup v2 the filter names, each descendant,
 * and each container cgroup of a configured id prefix, with its bits; with
 * prefixes, also each place where containers can be, with its roles (the
 * records' rule, src/records/container-names.ts), from which the mkdir
 * program places the cgroups made later. A cgroup's entries are written
 * before its children are read, so a child made meanwhile is either read
 * or placed by the program. A cgroup's id is its directory's inode number.
 * Returns the cgroups written to the cgroup map.
 */
export function fillCgroupMap(object: NativeBpfObject, filter: TaskFilter | undefined, root = cgroupRoot()): number {
  if (!needsCgroupPrograms(filter)) return 0;
  const paths = new Map<string, number>();
  const prefixes: { prefix: string; bits: number }[] = [];
  for (const { item, bits } of itemBits(filter.cgroup, (c) => JSON.stringify(c)).values()) {
    if ('path' in item) paths.set(item.path, (paths.get(item.path) ?? 0) | bits);
    else prefixes.push({ prefix: item.containerPrefix, bits });
  }
  let written = 0;
  let places = 0;
  // roles: what the cgroup's children may be; containerId: the id it names (its descendants inherit its bits).
  const visit = (dir: string, inherited: number, roles: number, containerId: string | undefined, path: string): void => {
    let bits = inherited | (paths.get(path) ?? 0);
    for (const p of prefixes) if (containerId?.startsWith(p.prefix)) bits |= p.bits;
    let children;
    try {
      if (bits || (prefixes.length && roles)) {
        const id = u64le(statSync(dir, { bigint: true }).ino);
        if (bits) {
          if (written === CGROUP_MAP_ENTRIES) throw new Error(`more than ${CGROUP_MAP_ENTRIES} cgroups match the cgroup filter (those named, their descendants and the containers' of its prefixes): name fewer`);
          object.updateMap('filter_cgroups', id, Buffer.of(bits));
          written++;
        }
        if (prefixes.length && roles) {
          if (places === PLACE_MAP_ENTRIES) throw new Error(`more than ${PLACE_MAP_ENTRIES} cgroups where containers can be (top-level cgroups, kubelet and podman pods): the cgroup filter's container id prefixes can't follow them`);
          object.updateMap('filter_cgroup_places', id, Buffer.of(roles));
          places++;
        }
      }
      children = readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      // Removed while we walked: the rmdir program has its entry, if any.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const child of children) {
      if (!child.isDirectory()) continue;
      // The records' rule: a container only where its runtime puts it (an imitation elsewhere is no container); below one, no place.
      const itsContainer = containerIdOfChild(roles, child.name);
      const itsRoles = itsContainer ? 0 : childRoles(roles, child.name);
      visit(join(dir, child.name), bits, itsRoles, itsContainer, path === '/' ? `/${child.name}` : `${path}/${child.name}`);
    }
  };
  visit(root, 0, ROOT, undefined, '/');
  return written;
}
