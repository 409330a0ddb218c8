// What a trace is: the BPF object it loads, how its programs attach, which
// input keys it takes, and how its ring-buffer records become Fluent records.
// Adding a trace = one folder under src/traces/ (plus its bpf/*.bpf.c) and
// one line in registry.ts.
import type { NativeBpfObject } from '../native/addon.js';
import type { EventHeader } from './header.js';

/** A Fluent record body. Key order is the order fields were set. */
export type TraceRecord = Record<string, string | number | bigint>;

export type AttachStep =
  /** Attach by the program's SEC() name (tracepoint/..., raw_tp/..., tp_btf/...). */
  | { program: string; kind: 'section'; optional?: boolean }
  /** A uprobe on a function of the C library, found at run time. */
  | {
      program: string;
      kind: 'uprobe-libc';
      symbol: string;
      retprobe: boolean;
      optional?: boolean;
      /**
       * Processes to probe alone, when the input names some: their uprobes are
       * then installed in those processes only, so that no other process traps.
       */
      onlyPids?(settings: TraceSettings): readonly number[] | undefined;
    };

/** A trace-specific input key, read from the [INPUT] section. */
export interface TraceKey {
  /** Lower-case key name as written in the config (e.g. "malloc_pid"). */
  name: string;
  description: string;
  /** Checks and converts the raw string; throws an Error with a message for the user. */
  parse(value: string): unknown;
  repeatable?: boolean;
}

/** What a trace's configure() and attach see of its input. */
export interface TraceSettings {
  /** Values of this trace's own keys, by key name; repeatable keys give arrays. */
  keys: ReadonlyMap<string, unknown>;
  /** ebpf-forward's own pid, excluded in the kernel. */
  selfPid: number;
}

export interface TraceDefinition {
  /** The name used in `Trace` (e.g. "trace_signal"). */
  name: string;
  /** One line for --help and error messages. */
  summary: string;
  /** File name of the BPF object under bpf/.output/ (e.g. "signal.bpf.o"). */
  object: string;
  /** The kernel features it needs, named in the message when attach fails. */
  needs: string;
  attach: AttachStep[];
  keys?: TraceKey[];
  /** Sets `const volatile` knobs before load (self_tgid is set for every trace). */
  configure?(object: NativeBpfObject, settings: TraceSettings): void;
  /**
   * Turns one ring-buffer record into a Fluent record, or null for a record
   * that is not an event of its own (kept for later, say). `data` holds the
   * record at [offset, offset + length); the header is already decoded.
   */
  decode(data: Buffer, offset: number, length: number, header: EventHeader): TraceRecord | null;
}

/** Attach steps for programs attached by their SEC() name, in this order. */
export function sectionSteps(programs: readonly string[], options: { optional?: boolean } = {}): AttachStep[] {
  return programs.map((program) => ({ program, kind: 'section', ...options }));
}
