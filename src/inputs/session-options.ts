// What a trace session is given: its trace and settings, the ring's sizes,
// the record program's options and where its records go; and what of that
// decides its programs and records (its identity, which a reload compares).
import { isAbsolute, join } from 'node:path';
import type { EventChunk } from '../chunk.js';
import type { SocketLease } from '../outputs/types.js';
import { packageRoot } from '../native/addon.js';
import { fileStamp, identityText } from '../settings-identity.js';
import type { TraceDefinition, TraceSettings } from '../traces/types.js';

/** Where the built BPF objects are; EBPF_FORWARD_BPF_DIR overrides it (packagers, tests). */
export const bpfObjectDir = process.env.EBPF_FORWARD_BPF_DIR || join(packageRoot, 'bpf', '.output');

/**
 * Wake-up batching (bpf/common.bpf.h): records wait in the ring for a read
 * at most this long (the input's wakeup_ms) unless it fills past a quarter;
 * the reader reads every wakeup_ms while records come, and the kernel wakes
 * it only for records that come after a quiet spell. Fewer wake-ups cost
 * less CPU: at 1,000 records/s, each wake-up costs far more than its records.
 */
export const DEFAULT_WAKEUP_MS = 90;
/**
 * Largest batch handed to JS at once. Smaller batches keep fewer records
 * alive at a time (a 1 MB batch is ~14,000 records, objects that outlive
 * V8's young generation and grow the heap); the reads per second stay the same.
 */
export const MAX_BATCH_BYTES = 256 * 1024;

export interface TraceSessionOptions {
  trace: TraceDefinition;
  settings: TraceSettings;
  ringbufMapName: string;
  /** Ring buffer size in bytes: a power of two, at least one page. */
  ringbufBytes: number;
  /** Largest batch handed from the ring to JS, in bytes. */
  maxBatchBytes?: number;
  /** The longest a record waits in the ring before it is read, in ms (the input's wakeup_ms; DEFAULT_WAKEUP_MS). */
  wakeupMs?: number;
  /** Adds each record's sequence number under this key (the input's sequence_key). */
  sequenceKey?: string;
  /** Whether records end with cgroup_id, container_id and mntns_id (the input's container_metadata; default true). */
  containerMetadata?: boolean;
  /** Whether they end with what the container's runtime says of it (container_runtime_metadata; default true), with the pod's annotations (kubernetes_annotations). */
  runtimeMetadata?: boolean;
  kubernetesAnnotations?: boolean;
  onChunk(chunk: EventChunk): void;
  /**
   * Undefined while the outputs take more; else a promise that resolves once
   * they have room. Until then the ring is not read: records wait in it, and
   * what does not fit there is lost and counted by the kernel (`lost`), not
   * dropped in memory.
   */
  whenAccepting?(): Promise<void> | undefined;
  /**
   * The socket of the one output the records go to, when it lends one now:
   * the ring reader then writes batches there itself, never entering JS
   * (asked again after each batch that came through JS).
   */
  lendSocket?(): SocketLease | undefined;
  /** Told of an optional attach step that failed (the trace still runs). */
  onWarning?(message: string): void;
  /** Told what only debugging needs: why a trace's fentry programs were not used, with `attach auto`. */
  onDebug?(message: string): void;
}

/** Where a session's records and news go: what a reload hands over. */
export type SessionCallbacks = Pick<TraceSessionOptions, 'onChunk' | 'whenAccepting' | 'lendSocket' | 'onWarning' | 'onDebug'>;

/**
 * What decides a session's programs and records: the trace (its object as it
 * is on disk), its keys and filters, the ring, and the record program's
 * options; not where its records go.
 */
export function sessionIdentity(options: TraceSessionOptions): string {
  const { trace, settings } = options;
  return identityText({
    trace: trace.name,
    object: isAbsolute(trace.object) ? fileStamp(trace.object) : trace.object,
    keys: settings.keys,
    filter: settings.filter ?? null,
    ring: [options.ringbufMapName, options.ringbufBytes, options.maxBatchBytes ?? null, options.wakeupMs ?? DEFAULT_WAKEUP_MS],
    records: [options.sequenceKey ?? null, options.containerMetadata ?? true, options.runtimeMetadata ?? true, options.kubernetesAnnotations ?? false],
  });
}
