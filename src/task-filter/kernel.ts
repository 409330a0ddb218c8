// A trace's filters (filter.ts, from the keys.ts keys) written into its BPF
// object (bpf/task_filter.bpf.h): which kinds are on and the maps' sizes
// before load; the pid, uid and comm items after load; the cgroups last,
// once the mkdir/rmdir programs are attached, from one walk of the cgroup
// tree that gives every cgroup the bits (and, with container id prefixes,
// the place roles) those programs would have.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { NativeBpfObject } from '../native/addon.js';
import type { Knobs } from '../records/knobs.js';
import { u32le, u64le } from '../native/little-endian.js';
import { cgroupRoot, childRoles, containerIdOfChild, ROOT } from '../records/container-names.js';
import { FILTER_KINDS, hasFilters, MAX_FILTER_ITEMS, type FilterKind, type FilterLists, type TaskFilter } from './filter.js';

/**
 * The bits of bpf/task_filter.bpf.h, from the object's BTF: an item's
 * (FILTER_IN, FILTER_OUT) and each kind's in filter_kinds
 * (FILTER_<KIND>_IN, FILTER_<KIND>_OUT).
 */
export interface FilterBits {
  in: number;
  out: number;
  kinds: Readonly<Record<FilterKind, { in: number; out: number }>>;
}

function filterBits(knobs: Knobs): FilterBits {
  const kind = (k: FilterKind, side: 'IN' | 'OUT') => knobs.enumerator('filter_kind_bits', `FILTER_${k.toUpperCase()}_${side}`);
  return {
    in: knobs.enumerator('filter_item_bits', 'FILTER_IN'),
    out: knobs.enumerator('filter_item_bits', 'FILTER_OUT'),
    kinds: Object.fromEntries(FILTER_KINDS.map((k) => [k, { in: kind(k, 'IN'), out: kind(k, 'OUT') }])) as FilterBits['kinds'],
  };
}
const MAP_OF: Readonly<Record<FilterKind, string>> = { pid: 'filter_pids', comm: 'filter_comms', uid: 'filter_uids', cgroup: 'filter_cgroups' };
/** The programs that keep the cgroup map up to date; loaded only with a cgroup filter. */
export const CGROUP_PROGRAMS = ['filter_cgroup_rmdir', 'filter_cgroup_mkdir'] as const;
/** Cgroups the map can hold (those named, their descendants, matching containers'). */
export const CGROUP_MAP_ENTRIES = 16384;
/** Places where containers can be that the places map can hold (the root, top-level cgroups, pods). */
export const PLACE_MAP_ENTRIES = 16384;
const COMM_LEN = 16;

/** The kernel keeps a comm's first 15 bytes (even mid-character), zero-padded: the map's key. */
function commKey(comm: string): Buffer {
  const key = Buffer.alloc(COMM_LEN);
  Buffer.from(comm, 'utf8').copy(key, 0, 0, COMM_LEN - 1);
  return key;
}

/** Each item's bits: in, out, or both. */
function itemBits<T>(lists: FilterLists<T>, key: (item: T) => string, bits: FilterBits): Map<string, { item: T; bits: number }> {
  const out = new Map<string, { item: T; bits: number }>();
  for (const [list, bit] of [[lists.include, bits.in], [lists.exclude, bits.out]] as const) {
    for (const item of list) {
      const k = key(item);
      const entry = out.get(k) ?? { item, bits: 0 };
      entry.bits |= bit;
      out.set(k, entry);
    }
  }
  return out;
}

function kindBits(filter: TaskFilter, bits: FilterBits): number {
  let kinds = 0;
  for (const kind of FILTER_KINDS) {
    if (filter[kind].include.length) kinds |= bits.kinds[kind].in;
    if (filter[kind].exclude.length) kinds |= bits.kinds[kind].out;
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
export function configureFilter(object: NativeBpfObject, knobs: Knobs, filter: TaskFilter | undefined): FilterBits {
  const bits = filterBits(knobs);
  const on = hasFilters(filter);
  knobs.set('filter_kinds', on ? kindBits(filter, bits) : 0);
  for (const kind of FILTER_KINDS) {
    const count = on ? filter[kind].include.length + filter[kind].exclude.length : 0;
    if (count > MAX_FILTER_ITEMS[kind]) throw new Error(`${kind}: ${count} items given in all, at most ${MAX_FILTER_ITEMS[kind]}`);
    const entries = kind === 'cgroup' ? (count ? CGROUP_MAP_ENTRIES : 1) : Math.max(1, count);
    object.setMapMaxEntries(MAP_OF[kind], entries);
  }
  const prefixes = on ? [...itemBits(filter.cgroup, (c) => ('containerPrefix' in c ? c.containerPrefix : ''), bits).entries()].filter(([k]) => k) : [];
  if (prefixes.length > knobs.length('filter_prefixes')) throw new Error(`cgroup: ${prefixes.length} container id prefixes, at most ${knobs.length('filter_prefixes')}`);
  knobs.set('filter_prefix_count', prefixes.length);
  // Each prefix's digits without a NUL: the kernel reads filter_prefix_lens' count of them.
  knobs.set('filter_prefixes', prefixes.map(([prefix]) => Buffer.from(prefix, 'latin1')));
  knobs.set('filter_prefix_lens', prefixes.map(([prefix]) => prefix.length));
  knobs.set('filter_prefix_bits', prefixes.map(([, entry]) => entry.bits));
  object.setMapMaxEntries('filter_cgroup_places', prefixes.length ? PLACE_MAP_ENTRIES : 1);
  const cgroups = on && filter.cgroup.include.length + filter.cgroup.exclude.length > 0;
  for (const program of CGROUP_PROGRAMS) object.setAutoload(program, cgroups);
  return bits;
}

/** Whether the cgroup programs were loaded (and must attach first). */
export function needsCgroupPrograms(filter: TaskFilter | undefined): filter is TaskFilter {
  return hasFilters(filter) && filter.cgroup.include.length + filter.cgroup.exclude.length > 0;
}

/** After load: the pid, uid and comm items into their maps. */
export function fillFilterMaps(object: NativeBpfObject, filter: TaskFilter | undefined, filterBits: FilterBits): void {
  if (!hasFilters(filter)) return;
  for (const { item, bits } of itemBits(filter.pid, String, filterBits).values()) object.updateMap('filter_pids', u32le(item), Buffer.of(bits));
  for (const { item, bits } of itemBits(filter.uid, String, filterBits).values()) object.updateMap('filter_uids', u32le(item), Buffer.of(bits));
  for (const [key, { bits }] of itemBits(filter.comm, (c) => commKey(c).toString('hex'), filterBits)) object.updateMap('filter_comms', Buffer.from(key, 'hex'), Buffer.of(bits));
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
export function fillCgroupMap(object: NativeBpfObject, filter: TaskFilter | undefined, filterBits: FilterBits, root = cgroupRoot()): number {
  if (!needsCgroupPrograms(filter)) return 0;
  const paths = new Map<string, number>();
  const prefixes: { prefix: string; bits: number }[] = [];
  for (const { item, bits } of itemBits(filter.cgroup, (c) => JSON.stringify(c), filterBits).values()) {
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
