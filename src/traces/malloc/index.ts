// trace_malloc: malloc, free, calloc and realloc calls of the C library,
// narrowed in the kernel by the input's filters (and malloc_pid, malloc_comm).
import type { FieldDeclaration, RecordShape } from '../../records/declaration.js';
import { includedPids, processFilterKeys } from '../../task-filter/keys.js';
import type { LibraryUprobe, SharedLibrary, TraceDefinition } from '../types.js';

// struct malloc_event in malloc.h; the header's kind is the operation (enum malloc_op).
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

const FILTER = 'malloc';

/** The C library: glibc's libc.so.6 (or an old libc-2.x.so) and musl's. */
export const C_LIBRARY: SharedLibrary = {
  name: 'C library',
  file: /\/(libc\.so\.6|libc-[\d.]+\.so|ld-musl-[^/]+\.so\.1|libc\.musl-[^/]+\.so\.1)$/,
};

export const trace_malloc: TraceDefinition = {
  name: 'trace_malloc',
  summary: 'C library heap calls: malloc (operation 0), free (1), calloc (2), realloc (3) with address and size',
  object: 'malloc.bpf.o',
  needs: 'uprobes on the C library (CONFIG_UPROBE_EVENTS) and BPF task storage (Linux 5.11+)',
  record: {
    by: 'hdr.kind',
    kinds: 'malloc_op',
    cases: {
      OP_MALLOC: mallocShape,
      OP_FREE: mallocShape,
      OP_CALLOC: mallocShape,
      OP_REALLOC: reallocShape,
    },
    otherwise: mallocShape,
  },
  uprobes: (
    [
      ['malloc_return', 'malloc', true],
      ['calloc_return', 'calloc', true],
      ['realloc_return', 'realloc', true],
      ['malloc_entry', 'malloc', false],
      ['calloc_entry', 'calloc', false],
      ['realloc_entry', 'realloc', false],
      ['free_entry', 'free', false],
    ] as const
  ).map(([program, symbol, retprobe]): LibraryUprobe => ({ program, library: C_LIBRARY, symbol, retprobe, onlyPids: includedPids })),
  // malloc_pid and malloc_comm: the input's pid and comm filters, for this trace alone.
  keys: processFilterKeys(FILTER),
};
