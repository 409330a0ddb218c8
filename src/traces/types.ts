// What a trace is: the BPF object it loads, its record as data (read against
// the object's BTF), how programs that can't attach by their SEC() name
// attach, and which input keys it takes. Adding a trace = one folder under
// src/traces/ (its .bpf.c and index.ts) and one line in registry.ts.
import type { NativeBpfObject } from '../native/addon.js';
import type { RecordDeclaration } from '../records/declaration.js';
import type { Knobs } from '../records/knobs.js';
import type { TaskFilter } from '../task-filter/filter.js';

/**
 * A shared library uprobes go into, found at run time in the files running
 * processes map (src/inputs/shared-libraries.ts), not at a fixed path.
 */
export interface SharedLibrary {
  /** How messages name it: "C library". */
  name: string;
  /** Matches the path of one of its files as mapped ("/usr/lib/x86_64-linux-gnu/libc.so.6"). */
  file: RegExp;
}

/** A uprobe on a function of a shared library (a SEC("uprobe") or SEC("uretprobe") program). */
export interface LibraryUprobe {
  program: string;
  library: SharedLibrary;
  symbol: string;
  retprobe: boolean;
  /**
   * Processes to probe alone, when the input names some: their uprobes are
   * then installed in those processes only, so that no other process traps.
   */
  onlyPids?(settings: TraceSettings): readonly number[] | undefined;
}

/** A trace-specific input key, read from the [INPUT] section. */
export interface TraceKey {
  /** Lower-case key name as written in the config (e.g. "malloc_pid"). */
  name: string;
  description: string;
  /** Checks and converts the raw string; throws an Error with a message for the user. */
  parse(value: string): unknown;
  repeatable?: boolean;
  /** A repeatable key's items (lists flattened, each once) may number at most this: checked when the config is read. */
  maxItems?: number;
  /** The trace's own include list of this filter kind (malloc_pid): for this trace, in place of the input-wide key. */
  filter?: 'pid' | 'comm';
}

/** What a trace's configure() and attach see of its input. */
export interface TraceSettings {
  /** Values of this trace's own keys, by key name; repeatable keys give arrays. */
  keys: ReadonlyMap<string, unknown>;
  /** ebpf-forward's own pid, excluded in the kernel. */
  selfPid: number;
  /** The input's filters for this trace (bpf/task_filter.bpf.h); none when absent. */
  filter?: TaskFilter;
}

/** A user's BPF object's records: a struct of its BTF, sent as it is (BPF_Object, BPF_Record_Type). */
export interface StructAsIs {
  asIs: string;
  /** A u64 member holding bpf_ktime_get_ns(): the record's time (else the time it was read). */
  timeField?: string;
}

export interface TraceDefinition {
  /** The name used in `Trace` (e.g. "trace_signal"). */
  name: string;
  /** One line for --help and error messages. */
  summary: string;
  /** File name of the BPF object under bpf/.output/ (e.g. "signal.bpf.o"), built from the folder's .bpf.c; or an absolute path. */
  object: string;
  /** The kernel features it needs, named in the message when attach fails. */
  needs: string;
  /**
   * Its object also holds fexit programs for the same records, loaded in
   * place of the others where the kernel takes them (src/traces/attach-path.ts,
   * the `attach` key): what those need, named when they are asked for and
   * can't be had.
   */
  fentryNeeds?: string;
  /** Its records: structs of the object and the Fluent fields, in key order. */
  record: RecordDeclaration | StructAsIs;
  /**
   * Every program attaches by its SEC() name (return and exit hooks first,
   * so that a call whose entry is seen also has its end seen), except these.
   */
  uprobes?: readonly LibraryUprobe[];
  /** Programs whose hook some kernels lack: the trace runs without them. */
  optional?: readonly string[];
  keys?: TraceKey[];
  /** Sets `const volatile` knobs before load, from their BTF types (self_tgid is set for every trace). */
  configure?(knobs: Knobs, settings: TraceSettings): void;
}
