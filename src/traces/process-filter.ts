// Narrowing a trace to some processes, in the kernel: the `<prefix>_pid`
// and `<prefix>_comm` input keys, written into the filter knobs of
// bpf/process_filter.bpf.h before load. With a pid list a uprobe trace's
// uprobes are also installed in those processes only (onlyPids).
import type { NativeBpfObject } from '../native/addon.js';
import type { TraceKey, TraceSettings } from './types.js';

// Sizes of the filter arrays in bpf/process_filter.bpf.h (and malloc.bpf.c, sched.bpf.c).
export const MAX_FILTER_PIDS = 64;
export const MAX_FILTER_COMMS = 16;
const COMM_LEN = 16;

/** Splits "1, 2 3" into its items. */
function listItems(value: string): string[] {
  return value.split(/[\s,]+/).filter((s) => s.length > 0);
}

/** A repeatable key's values, flattened: [[1, 2], [3]] -> [1, 2, 3]. */
function flat<T>(value: unknown): T[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value.flat(2) : [value]) as T[];
}

/** The `<prefix>_pid` and `<prefix>_comm` keys ("malloc_pid", "malloc_comm"). */
export function processFilterKeys(prefix: string): TraceKey[] {
  const pidKey = `${prefix}_pid`;
  const commKey = `${prefix}_comm`;
  return [
    {
      name: pidKey,
      maxItems: MAX_FILTER_PIDS,
      description: `only these processes (thread-group ids), checked in the kernel: a list separated by commas or spaces, the key may repeat; at most ${MAX_FILTER_PIDS} in all`,
      repeatable: true,
      parse(value) {
        const items = listItems(value);
        if (items.length === 0) throw new Error(`${pidKey} needs at least one pid`);
        return items.map((item) => {
          if (!/^\d+$/.test(item) || Number(item) < 1 || Number(item) > 0x3fffffff) {
            throw new Error(`${pidKey}: '${item}' is not a pid (a whole number from 1 to ${0x3fffffff})`);
          }
          return Number(item);
        });
      },
    },
    {
      name: commKey,
      maxItems: MAX_FILTER_COMMS,
      description: `only processes with this command name (the kernel keeps its first 15 bytes, so longer names are cut there), checked in the kernel: a list separated by commas, the key may repeat; at most ${MAX_FILTER_COMMS} in all`,
      repeatable: true,
      parse(value) {
        const items = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
        if (items.length === 0) throw new Error(`${commKey} needs at least one command name`);
        return items;
      },
    },
  ];
}

/** The pids the `<prefix>_pid` key names, once each; undefined when it is not set. */
export function filteredPids(prefix: string): (settings: TraceSettings) => readonly number[] | undefined {
  return (settings) => {
    const pids = [...new Set(flat<number>(settings.keys.get(`${prefix}_pid`)))];
    return pids.length ? pids : undefined;
  };
}

/** A trace's configure(): writes the `<prefix>_pid` / `<prefix>_comm` filters into the program's knobs. */
export function configureProcessFilter(prefix: string): (object: NativeBpfObject, settings: TraceSettings) => void {
  return (object, settings) => {
    const pids = filteredPids(prefix)(settings) ?? [];
    const comms = [...new Set(flat<string>(settings.keys.get(`${prefix}_comm`)))];
    if (pids.length > MAX_FILTER_PIDS) throw new Error(`${prefix}_pid: ${pids.length} pids given, at most ${MAX_FILTER_PIDS}`);
    if (comms.length > MAX_FILTER_COMMS) throw new Error(`${prefix}_comm: ${comms.length} names given, at most ${MAX_FILTER_COMMS}`);
    const u32 = (n: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(n);
      return b;
    };
    const pidArray = Buffer.alloc(4 * MAX_FILTER_PIDS);
    pids.forEach((pid, i) => pidArray.writeUInt32LE(pid, 4 * i));
    const commArray = Buffer.alloc(COMM_LEN * MAX_FILTER_COMMS);
    // The kernel keeps a comm's first 15 bytes (even mid-character): compare those.
    comms.forEach((comm, i) => Buffer.from(comm, 'utf8').copy(commArray, COMM_LEN * i, 0, COMM_LEN - 1));
    object.setGlobal('filter_pid_count', u32(pids.length));
    object.setGlobal('filter_pids', pidArray);
    object.setGlobal('filter_comm_count', u32(comms.length));
    object.setGlobal('filter_comms', commArray);
  };
}
