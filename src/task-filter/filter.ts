// What a task filter is: for each kind (pid, comm, uid, cgroup), the items
// a task must match (include) and must not (exclude). The input's keys make
// one (keys.ts); the kernel checks it at every trace's entry points
// (bpf/task_filter.bpf.h), written there by kernel.ts.

export const FILTER_KINDS = ['pid', 'comm', 'uid', 'cgroup'] as const;
export type FilterKind = (typeof FILTER_KINDS)[number];

/** A cgroup item: a cgroup v2 path (that cgroup and its descendants), or a container id prefix. */
export type CgroupItem = { path: string } | { containerPrefix: string };

export interface FilterLists<T> {
  include: readonly T[];
  exclude: readonly T[];
}

/** What one trace's filters are: the input's, with the trace's own include keys in place of the input's. */
export interface TaskFilter {
  pid: FilterLists<number>;
  comm: FilterLists<string>;
  uid: FilterLists<number>;
  cgroup: FilterLists<CgroupItem>;
}

/** Items of a kind in all (include and exclude): the kernel's maps and arrays are sized for these. */
export const MAX_FILTER_ITEMS: Readonly<Record<FilterKind, number>> = { pid: 1024, comm: 256, uid: 256, cgroup: 16 };

/** Whether a filter has any item. */
export function hasFilters(filter: TaskFilter | undefined): filter is TaskFilter {
  return !!filter && FILTER_KINDS.some((k) => filter[k].include.length + filter[k].exclude.length > 0);
}
