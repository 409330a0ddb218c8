// A trace's uprobes on a shared library (the C library, libssl), put in the
// library files processes really map: found now, machine-wide or in the
// processes a pid filter names.
import type { NativeBpfObject, NativeError } from '../native/addon.js';
import type { LibraryUprobe, SharedLibrary, TraceDefinition, TraceSettings } from '../traces/types.js';
import { findLibraries } from './shared-libraries.js';
import { explain, TraceStartError } from './start-errors.js';

/**
 * Attaches the trace's uprobes, return probes first (a call whose entry is
 * seen then has its end seen too), to every
 * file of their library that processes map (pid -1: every process that
 * maps it, now or later), or with a pid list to the files those processes
 * map, for them alone. A file without the function (another version of
 * the library) is skipped with a warning; a uprobe that attaches nowhere
 * stops the trace (or, if optional, is a warning).
 */
export function attachLibraryUprobes(
  object: NativeBpfObject,
  trace: TraceDefinition,
  settings: TraceSettings,
  uprobes: readonly LibraryUprobe[],
  optional: ReadonlySet<string>,
  onWarning: (message: string) => void,
): void {
  // An entry probe and its return probe miss the same things: say each once.
  const warned = new Set<string>();
  const warn = (message: string) => {
    if (!warned.has(message)) onWarning(message);
    warned.add(message);
  };
  // Each library looked up once per pid list: a whole-machine scan reads every process's maps.
  const lookups = new Map<string, { path: string; pid: number }[]>();
  const targetsOf = (library: SharedLibrary, pids: readonly number[] | undefined) => {
    const key = `${library.name}\0${pids?.join(',') ?? ''}`;
    let targets = lookups.get(key);
    if (!targets) {
      if (pids?.length) {
        const without: number[] = [];
        targets = pids.flatMap((pid) => {
          const files = findLibraries(library, [pid]);
          if (files.length === 0) without.push(pid);
          return files.map((f) => ({ path: f.path, pid }));
        });
        if (without.length && targets.length) warn(`${trace.name}: no ${library.name} in process${without.length > 1 ? 'es' : ''} ${without.join(', ')} (not running, or not using it): not traced there`);
      } else {
        targets = findLibraries(library).map((f) => ({ path: f.path, pid: -1 }));
      }
      lookups.set(key, targets);
    }
    return targets;
  };
  const fail = (u: LibraryUprobe, failure: TraceStartError) => {
    if (!optional.has(u.program)) throw failure;
    warn(failure.message);
  };
  for (const u of [...uprobes].sort((a, b) => Number(b.retprobe) - Number(a.retprobe))) {
    const pids = u.onlyPids?.(settings);
    const targets = targetsOf(u.library, pids);
    if (targets.length === 0) {
      const where = pids?.length ? `process${pids.length > 1 ? 'es' : ''} ${pids.join(', ')}` : "any running process, nor in the dynamic linker's cache";
      fail(u, new TraceStartError(trace.name, `${trace.name}: no ${u.library.name} to put uprobes in: none is mapped by ${where}`));
      continue;
    }
    const lacking: string[] = [];
    for (const { path, pid } of targets) {
      const hook = `${u.retprobe ? 'uretprobe' : 'uprobe'} on ${u.symbol} in ${path}${pid > 0 ? ` for pid ${pid}` : ''}`;
      try {
        object.attachUprobe(u.program, path, u.symbol, u.retprobe, pid);
      } catch (err) {
        const native = err as NativeError;
        if (native.code === 'ENOENT' && /could not find|failed to find|not found/i.test(native.message)) {
          lacking.push(path);
          continue;
        }
        fail(u, explain(trace, { what: `attaching ${u.program}`, hook, optional: optional.has(u.program) }, native));
      }
    }
    if (lacking.length === targets.length) {
      fail(u, new TraceStartError(trace.name, `${trace.name}: no ${u.library.name} here has ${u.symbol} (${lacking.join(', ')})`));
    } else if (lacking.length) {
      warn(`${trace.name}: ${lacking.join(', ')} ${lacking.length > 1 ? 'have' : 'has'} no ${u.symbol}: not traced there`);
    }
  }
}
