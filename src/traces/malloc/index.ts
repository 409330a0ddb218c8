// trace_malloc: malloc, free, calloc and realloc calls of the C library,
// narrowed in the kernel by pid and/or comm.
import type { NativeBpfObject } from '../../native/addon.js';
import type { FieldDeclaration, RecordShape } from '../../records/declaration.js';
import type { LibcUprobe, TraceDefinition, TraceKey, TraceSettings } from '../types.js';

/** `operation` values (the record header's kind), Fluent Bit's numbering. */
export const MallocOperation = { malloc: 0, free: 1, calloc: 2, realloc: 3 } as const;

// Sizes of the filter arrays in malloc.bpf.c.
export const MAX_FILTER_PIDS = 64;
export const MAX_FILTER_COMMS = 16;
const COMM_LEN = 16;

// struct malloc_event in malloc.bpf.c; the header's kind is the operation.
const mallocFields = [
  { key: 'operation', type: 'int', from: { copy: 'hdr.kind' }, doc: '0 malloc, 1 free, 2 calloc, 3 realloc' },
  { key: 'address', type: 'uint64', from: { copy: 'address' }, doc: 'pointer returned (malloc/calloc/realloc) or passed (free)' },
  { key: 'size', type: 'uint64', from: { copy: 'size' }, doc: 'bytes asked for (calloc: nmemb*size; free: 0)' },
] as const satisfies readonly FieldDeclaration[];
const mallocShape: RecordShape = { struct: 'malloc_event', eventType: 'malloc', fields: mallocFields };
const reallocShape: RecordShape = {
  ...mallocShape,
  fields: [...mallocFields, { key: 'old_address', type: 'uint64', from: { copy: 'old_address' }, doc: 'further field, realloc only: the pointer passed in' }],
};

/** Splits "1, 2 3" into its items. */
function listItems(value: string): string[] {
  return value.split(/[\s,]+/).filter((s) => s.length > 0);
}

const pidKey: TraceKey = {
  name: 'malloc_pid',
  description: `only these processes (thread-group ids), checked in the kernel: a list separated by commas or spaces, the key may repeat; at most ${MAX_FILTER_PIDS} in all`,
  repeatable: true,
  parse(value) {
    const items = listItems(value);
    if (items.length === 0) throw new Error('malloc_pid needs at least one pid');
    return items.map((item) => {
      if (!/^\d+$/.test(item) || Number(item) < 1 || Number(item) > 0x3fffffff) {
        throw new Error(`malloc_pid: '${item}' is not a pid (a whole number from 1 to ${0x3fffffff})`);
      }
      return Number(item);
    });
  },
};

const commKey: TraceKey = {
  name: 'malloc_comm',
  description: `only processes with this command name (the kernel keeps its first 15 bytes, so longer names are cut there), checked in the kernel: a list separated by commas, the key may repeat; at most ${MAX_FILTER_COMMS} in all`,
  repeatable: true,
  parse(value) {
    const items = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    if (items.length === 0) throw new Error('malloc_comm needs at least one command name');
    return items;
  },
};

/** A repeatable key's values, flattened: [[1, 2], [3]] -> [1, 2, 3]. */
function flat<T>(value: unknown): T[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value.flat(2) : [value]) as T[];
}

/** With malloc_pid, only those processes get the uprobes (others never trap). */
function filterPids(settings: TraceSettings): readonly number[] | undefined {
  const pids = [...new Set(flat<number>(settings.keys.get('malloc_pid')))];
  return pids.length ? pids : undefined;
}

/** Writes the malloc_pid / malloc_comm filters into the program's knobs. */
function configureMalloc(object: NativeBpfObject, settings: TraceSettings): void {
  const pids = [...new Set(flat<number>(settings.keys.get('malloc_pid')))];
  const comms = [...new Set(flat<string>(settings.keys.get('malloc_comm')))];
  if (pids.length > MAX_FILTER_PIDS) throw new Error(`malloc_pid: ${pids.length} pids given, at most ${MAX_FILTER_PIDS}`);
  if (comms.length > MAX_FILTER_COMMS) throw new Error(`malloc_comm: ${comms.length} names given, at most ${MAX_FILTER_COMMS}`);
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
}

export const trace_malloc: TraceDefinition = {
  name: 'trace_malloc',
  summary: 'C library heap calls: malloc (operation 0), free (1), calloc (2), realloc (3) with address and size',
  object: 'malloc.bpf.o',
  needs: 'uprobes on the C library (CONFIG_UPROBE_EVENTS) and BPF task storage (Linux 5.11+)',
  record: {
    by: 'hdr.kind',
    cases: {
      [MallocOperation.malloc]: mallocShape,
      [MallocOperation.free]: mallocShape,
      [MallocOperation.calloc]: mallocShape,
      [MallocOperation.realloc]: reallocShape,
    },
    otherwise: mallocShape,
  },
  libcUprobes: (
    [
      ['malloc_return', 'malloc', true],
      ['calloc_return', 'calloc', true],
      ['realloc_return', 'realloc', true],
      ['malloc_entry', 'malloc', false],
      ['calloc_entry', 'calloc', false],
      ['realloc_entry', 'realloc', false],
      ['free_entry', 'free', false],
    ] as const
  ).map(([program, symbol, retprobe]): LibcUprobe => ({ program, symbol, retprobe, onlyPids: filterPids })),
  keys: [pidKey, commKey],
  configure: configureMalloc,
};
