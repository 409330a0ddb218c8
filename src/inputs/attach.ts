// Attaching a loaded trace: the filters' items first (and the programs that
// follow cgroups), then the trace's programs, return hooks before entry
// hooks, then its uprobes on shared libraries.
import type { NativeBpfObject, NativeError } from '../native/addon.js';
import type { TaskFilter } from '../task-filter/filter.js';
import { CGROUP_PROGRAMS, fillCgroupMap, fillFilterMaps, needsCgroupPrograms, type FilterBits } from '../task-filter/kernel.js';
import type { TraceDefinition, TraceSettings } from '../traces/types.js';
import { attachLibraryUprobes } from './library-uprobes.js';
import { explain, hookOf, type FailedStep } from './start-errors.js';

/** Whether a section's hook is where a call ends (attached first: a call whose entry is seen then has its end seen too). */
function isReturnHook(section: string): boolean {
  return /^(?:tracepoint|tp)\/syscalls\/sys_exit_|^(?:kretprobe|uretprobe|fexit)(?:\/|$)/.test(section);
}

/**
 * The filters' items, after load and before the trace's own programs
 * attach: pids, uids and comms; with a cgroup filter the programs that
 * follow cgroups made and removed first, then the tree as it is.
 */
export function applyFilters(object: NativeBpfObject, trace: TraceDefinition, filter: TaskFilter | undefined, bits: FilterBits, sections: ReadonlyMap<string, string>): void {
  const fail = (step: FailedStep, err: unknown): never => {
    throw explain(trace, step, err as NativeError);
  };
  try {
    fillFilterMaps(object, filter, bits);
  } catch (err) {
    fail({ what: 'writing its filters' }, err);
  }
  if (!needsCgroupPrograms(filter)) return;
  for (const name of CGROUP_PROGRAMS) {
    try {
      object.attach(name);
    } catch (err) {
      fail({ what: `attaching ${name} (for the cgroup filter)`, hook: hookOf(sections.get(name) ?? name) }, err);
    }
  }
  try {
    fillCgroupMap(object, filter, bits);
  } catch (err) {
    fail({ what: 'writing the cgroups of its cgroup filter' }, err);
  }
}

/** Attaches the trace's programs (an optional one that fails is a warning), then its uprobes. */
export function attachTracePrograms(
  object: NativeBpfObject,
  trace: TraceDefinition,
  settings: TraceSettings,
  programs: ReturnType<NativeBpfObject['programs']>,
  onWarning: (message: string) => void,
): void {
  const uprobes = new Map((trace.uprobes ?? []).map((u) => [u.program, u]));
  const optional = new Set(trace.optional ?? []);
  const filterPrograms = new Set<string>(CGROUP_PROGRAMS);
  const bySection = programs.filter((p) => !uprobes.has(p.name) && !filterPrograms.has(p.name));
  const ordered = [...bySection.filter((p) => isReturnHook(p.section)), ...bySection.filter((p) => !isReturnHook(p.section))];
  for (const p of ordered) {
    const failed: FailedStep = { what: `attaching ${p.name}`, optional: optional.has(p.name), hook: hookOf(p.section) };
    try {
      object.attach(p.name);
    } catch (err) {
      const failure = explain(trace, failed, err as NativeError);
      if (!failed.optional) throw failure;
      onWarning(failure.message);
    }
  }
  attachLibraryUprobes(object, trace, settings, [...uprobes.values()], optional, onWarning);
}
