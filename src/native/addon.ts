// Typed access to the N-API addon (native/). Arguments are checked here, in
// TypeScript, before they reach C++ (which trusts them).
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the package's built artefacts live (works from src/ and dist/). */
export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface ProgramInfo {
  name: string;
  section: string;
}

export interface NativeBpfObject {
  setGlobal(name: string, value: Buffer): void;
  setMapMaxEntries(map: string, entries: number): void;
  programs(): ProgramInfo[];
  load(): void;
  attach(program: string): void;
  attachUprobe(program: string, binaryPath: string, functionName: string, retprobe: boolean, pid: number): void;
  perCpuSum(map: string, key: number): bigint;
  /** Destroys the links only: nothing new arrives, the ring can still be drained. */
  detach(): void;
  close(): void;
}

export interface RingStats {
  wakeups: number;
  batches: number;
  records: number;
  /** Samples lost to a failed allocation in the reader itself. */
  dropped: number;
  /** Deadline reads that found records (records that waited for no wake-up). */
  deadlineReads: number;
}

export interface NativeRingReader {
  /** Consumes what is in the ring now, calling onBatch (paused or not); returns the record count. */
  drain(): number;
  /** Stops reading the ring (after the batch being handed out) until resume(). */
  pause(): void;
  resume(): void;
  close(): void;
  stats(): RingStats;
}

/**
 * One batch from a ring: `count` records in the first `bytes` bytes, at
 * 8-aligned offsets, each [u32 len][u32 0][bytes]. The Buffer is reused for
 * the next batch: copy out what is kept after the call.
 */
export type BatchHandler = (batch: Buffer, count: number, bytes: number) => void;

interface Addon {
  BpfObject: new (path: string) => NativeBpfObject;
  RingReader: new (object: NativeBpfObject, map: string, onBatch: BatchHandler, maxBatchBytes: number, deadlineMs?: number) => NativeRingReader;
  clockOffset(): bigint;
  ensureTracefs(): 'present' | 'mounted';
  releaseTracefs(): void;
  setLibbpfDebug(on: boolean): void;
  versions(): { libbpf: string; possibleCpus: number };
}

/** Errors thrown by the addon carry the errno. */
export interface NativeError extends Error {
  errno?: number;
  code?: string;
}

let loaded: Addon | undefined;

export class AddonMissingError extends Error {}

export function addon(): Addon {
  if (loaded) return loaded;
  const path = join(packageRoot, 'build', 'Release', 'ebpf_forward.node');
  if (!existsSync(path)) {
    throw new AddonMissingError(`the native addon is not built (${path}); run: npm ci (or node scripts/build.mjs)`);
  }
  loaded = createRequire(import.meta.url)(path) as Addon;
  return loaded;
}

export function openBpfObject(path: string): NativeBpfObject {
  if (typeof path !== 'string' || path.length === 0) throw new TypeError('BPF object path must be a non-empty string');
  return new (addon().BpfObject)(path);
}

/**
 * Reads a ring buffer map in batches. deadlineMs > 0: the ring is read again
 * that long after every read that found records (for records the BPF side
 * let wait without a wake-up, see bpf/common.bpf.h).
 */
export function openRingReader(object: NativeBpfObject, map: string, onBatch: BatchHandler, maxBatchBytes: number, deadlineMs = 0): NativeRingReader {
  if (typeof map !== 'string' || map.length === 0) throw new TypeError('ring buffer map name must be a non-empty string');
  if (typeof onBatch !== 'function') throw new TypeError('onBatch must be a function');
  if (!Number.isInteger(maxBatchBytes) || maxBatchBytes < 4096) throw new RangeError('maxBatchBytes must be an integer >= 4096');
  if (!Number.isInteger(deadlineMs) || deadlineMs < 0) throw new RangeError('deadlineMs must be an integer >= 0');
  return new (addon().RingReader)(object, map, onBatch, maxBatchBytes, deadlineMs);
}
