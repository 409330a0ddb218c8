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
  /** Before load: whether a program is loaded (one left out can't be attached). */
  setAutoload(program: string, load: boolean): void;
  /** After load: sets one entry of a map; key and value must be the map's sizes. */
  updateMap(map: string, key: Buffer, value: Buffer): void;
  programs(): ProgramInfo[];
  /** How CO-RE relocations are made ("CO-RE against N types (K KB) of the kernel's BTF", or the whole BTF and why); "" without any. */
  coreBtf(): string;
  /** A copy of the program's instructions as libbpf holds them: after load, relocated. */
  instructions(program: string): Buffer;
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
  /** Records handed to JS (with a record program: entries). */
  records: number;
  /** Samples lost to a failed allocation in the reader itself. */
  dropped: number;
  /** Deadline reads that found records (records that waited for no wake-up). */
  deadlineReads: number;
  /** With a record program: records it found malformed (too short, a read past their end), not sent. */
  malformed: number;
  /** With a record program: records of a kind it does not know (SWITCH with no case), not sent. */
  skipped: number;
  /** Bytes waiting in the ring buffer now (unread records with their 8-byte headers); 0 when unknown. */
  ringWaitingBytes: number;
  /** The ring buffer's size in bytes; 0 when its positions could not be mapped. */
  ringBytes: number;
  /** Records (entries) written to a lent socket (sendTo) instead of handed to JS, and their entries' bytes. */
  sentRecords: number;
  sentBytes: number;
}

export interface NativeRingReader {
  /** Consumes what is in the ring now, calling onBatch (paused or not); returns the record count. */
  drain(): number;
  /** Stops reading the ring (after the batch being handed out) until resume(). */
  pause(): void;
  resume(): void;
  close(): void;
  stats(): RingStats;
  /**
   * Writes each batch to `socket` as a Forward message (`prefix`: 0x92 or
   * 0x93 and the tag; then the entries as an array, or a bin when `packed`;
   * then {size} when `withSize`) instead of handing it to JS; null: to JS
   * again. A batch the socket can't take (closed) goes to JS, and so do the
   * next ones.
   */
  sendTo(socket: NativeForwardSocket | null, prefix?: Buffer, packed?: boolean, withSize?: boolean): void;
}

/** A batch a ForwardSocket kept unsent: [entries, count, minSec, minNsec, maxSec, maxNsec, cut, prefix]; cut: part of its message went out. */
export type KeptBatch = [Buffer, number, number, number, number, number, boolean, Buffer];

/** SocketStats: what went through a ForwardSocket. */
export interface SocketStats {
  /** Records ring readers handed it (not JS). */
  readerRecords: number;
  /** Records whose message the kernel has whole, and those messages' bytes. */
  sentRecords: number;
  sentBytes: number;
  /** Messages the socket could not take at once (finished as it drained). */
  keptMessages: number;
  /** The errno of the write that closed it; 0 if none. */
  error: number;
  open: boolean;
}

/** A forward connection's socket lent to ring readers (native/forward_socket.h). */
export interface NativeForwardSocket {
  /** A batch from JS, framed as RingReader.sendTo frames them: 'kept' = taken, finished as the socket drains; 'closed' = not written at all. */
  send(prefix: Buffer, packed: boolean, withSize: boolean, entries: Buffer, count: number, minSec: number, minNsec: number, maxSec: number, maxNsec: number): 'sent' | 'kept' | 'closed';
  /** Closes its fd; returns the batch of a message it still held (to send again), if any. */
  close(): KeptBatch | undefined;
  /** Takes no new message; true if closed now, false if it first finishes the one it holds (then onEnd(0)). */
  release(): boolean;
  busy(): boolean;
  stats(): SocketStats;
}

/**
 * One batch from a ring read with a record program: `count` Forward entries
 * (src/chunk.ts) in the first `bytes` bytes of `entries`, and the earliest and
 * latest entry time. The Buffer is reused for the next batch: copy out what is
 * kept after the call.
 */
export type EntryBatchHandler = (entries: Buffer, count: number, bytes: number, minSec: number, minNsec: number, maxSec: number, maxNsec: number) => void;

/** What encoding a batch of records gives (RecordProgram.encode, and test/support/js-encoder.ts). */
export interface EncodedBatch {
  /** The entries back to back (a Buffer of exactly their bytes). */
  entries: Buffer;
  /** Entries written. */
  count: number;
  /** Records shorter than their MIN_LEN or with a read past their end: nothing of them is written. */
  malformed: number;
  /** Records a SWITCH had no case (and no default) for. */
  skipped: number;
  /** Earliest and latest entry time (0s when there are no entries). */
  minSec: number;
  minNsec: number;
  maxSec: number;
  maxNsec: number;
}

/** A validated record program (src/records/program.ts) in the addon. */
export interface NativeRecordProgram {
  /**
   * Encodes the first `count` records of `batch`, in the ring format (each
   * [u32 length][u32 0][bytes] at an 8-aligned offset). HEAD_KTIME adds
   * clockOffsetNs (realtime - monotonic) to the record's time; HEAD_NOW
   * writes nowNs (realtime). Throws a RangeError if a record runs past the batch.
   */
  encode(batch: Buffer, count: number, clockOffsetNs: bigint, nowNs: bigint): EncodedBatch;
}

/** The addon's RecordProgram, which trusts its arguments. */
interface AddonRecordProgram {
  encode(batch: Buffer, count: number, clockOffsetNs: bigint, nowNs: bigint): EncodedBatch;
}

interface Addon {
  BpfObject: new (path: string, shownAs?: string, wholeKernelBtf?: boolean) => NativeBpfObject;
  RingReader: new (
    object: NativeBpfObject,
    map: string,
    onBatch: EntryBatchHandler,
    maxBatchBytes: number,
    deadlineMs: number,
    program: AddonRecordProgram,
    wakeupClock?: string,
  ) => NativeRingReader;
  RecordProgram: new (code: Uint32Array, pool: Buffer) => AddonRecordProgram;
  ForwardSocket: new (fd: number, onEnd: (errno: number, kept: KeptBatch | undefined) => void) => NativeForwardSocket;
  readBtf(path: string): Buffer;
  ensureTracefs(): 'present' | 'mounted';
  releaseTracefs(): void;
  /**
   * In every thread of the process: bounding, permitted and effective
   * capabilities down to `caps`, inheritable and ambient cleared,
   * no_new_privs set. Throws if the calling thread's change fails; how the
   * others came out is in /proc/self/task/<tid>/status.
   */
  keepOnlyCapabilities(caps: number[], reloadable?: number[]): { threads: number; answered: number };
  /** This thread's effective set becomes `caps` (each must be permitted): a hot reload raises and lowers its loading capabilities. */
  setEffectiveCapabilities(caps: number[]): void;
  setLibbpfDebug(on: boolean): void;
  /** Throws (errno set) when the kernel refuses a minimal fexit program on that vmlinux function; quiet when it takes it or can't tell. */
  probeFexit(functionName: string): void;
  versions(): { libbpf: string; possibleCpus: number };
}

/** Errors thrown by the addon carry the errno. */
export interface NativeError extends Error {
  errno?: number;
  code?: string;
}

let loaded: Addon | undefined;

export class AddonMissingError extends Error {
  /** `reason` is what is wrong; the message adds what to do. */
  constructor(readonly reason: string, hint: string) {
    super(`${reason}; ${hint}`);
  }
}

/**
 * The addon files tried, in order: the one built from source here (by the
 * install when the prebuilt one can't load, or by scripts/build.mjs), then the
 * package's prebuilt one (N-API, so one build serves every Node >= 20).
 */
export function addonCandidates(): string[] {
  return [
    join(packageRoot, 'build', 'Release', 'ebpf_forward.node'),
    join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`, 'ebpf_forward.node'),
  ];
}

export function addon(): Addon {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const failures: string[] = [];
  for (const path of addonCandidates()) {
    if (!existsSync(path)) continue;
    try {
      loaded = require(path) as Addon;
      return loaded;
    } catch (err) {
      // dlopen's reason, e.g. "libbpf.so.1: cannot open shared object file".
      failures.push(`${path}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  if (failures.length > 0) {
    throw new AddonMissingError(`the native addon can't load (${failures.join('; ')})`,
      'install libbpf1 (apt-get install libbpf1), or build the addon from source: npm rebuild [-g] ebpf-forward (needs g++, make, python3)');
  }
  throw new AddonMissingError(`the native addon is not built (${addonCandidates()[0]})`, 'run: npm ci (or node scripts/build.mjs)');
}

/**
 * Opens (does not load) a BPF object; `shownAs` names it where `path` is
 * another name of it (/proc/self/fd/N). Its CO-RE relocations are made
 * against an extract of the kernel's BTF (native/kernel_btf.h), or with
 * `wholeKernelBtf` against libbpf's read of all of it.
 */
export function openBpfObject(path: string, shownAs?: string, options: { wholeKernelBtf?: boolean } = {}): NativeBpfObject {
  if (typeof path !== 'string' || path.length === 0) throw new TypeError('BPF object path must be a non-empty string');
  return new (addon().BpfObject)(path, shownAs, options.wholeKernelBtf === true);
}

/**
 * Reads a ring buffer map in batches, each record encoded by `program` as a
 * Forward entry as it is read. deadlineMs > 0: the ring is read again that
 * long after every read that found records (for records the BPF side let wait
 * without a wake-up, see bpf/common.bpf.h). maxBatchBytes bounds the entry
 * bytes of a batch.
 */
export function openRingReader(
  object: NativeBpfObject,
  map: string,
  onBatch: EntryBatchHandler,
  maxBatchBytes: number,
  deadlineMs: number,
  program: NativeRecordProgram,
  /** The object's wake-up clock global (last_wakeup_ns, bpf/common.bpf.h), which the reader sets so that the kernel leaves the records its deadline reads take. */
  wakeupClock?: string,
): NativeRingReader {
  if (typeof map !== 'string' || map.length === 0) throw new TypeError('ring buffer map name must be a non-empty string');
  if (typeof onBatch !== 'function') throw new TypeError('onBatch must be a function');
  if (!Number.isInteger(maxBatchBytes) || maxBatchBytes < 4096) throw new RangeError('maxBatchBytes must be an integer >= 4096');
  if (!Number.isInteger(deadlineMs) || deadlineMs < 0) throw new RangeError('deadlineMs must be an integer >= 0');
  if (!(program instanceof CheckedRecordProgram)) throw new TypeError('program must come from openRecordProgram()');
  if (wakeupClock !== undefined && typeof wakeupClock !== 'string') throw new TypeError('wakeupClock must be a global\'s name');
  return wakeupClock === undefined
    ? new (addon().RingReader)(object, map, onBatch, maxBatchBytes, deadlineMs, program.handle)
    : new (addon().RingReader)(object, map, onBatch, maxBatchBytes, deadlineMs, program.handle, wakeupClock);
}

/**
 * Lends a connected TCP socket's fd (dup'd: the number stays valid until
 * close()) to ring readers. onEnd: a held message's write failed (errno), with
 * its batch to send again, or after release() the held message is out
 * (errno 0); the socket is closed then.
 */
export function openForwardSocket(fd: number, onEnd: (errno: number, kept: KeptBatch | undefined) => void): NativeForwardSocket {
  if (!Number.isInteger(fd) || fd < 0) throw new RangeError('fd must be an open file descriptor');
  if (typeof onEnd !== 'function') throw new TypeError('onEnd must be a function');
  return new (addon().ForwardSocket)(fd, onEnd);
}

const I64_MIN = -(1n << 63n);
const U64_LIMIT = 1n << 64n;

/** The addon's RecordProgram with encode()'s arguments checked first. */
class CheckedRecordProgram implements NativeRecordProgram {
  constructor(readonly handle: AddonRecordProgram) {}

  encode(batch: Buffer, count: number, clockOffsetNs: bigint, nowNs: bigint): EncodedBatch {
    if (!Buffer.isBuffer(batch)) throw new TypeError('batch must be a Buffer');
    if (!Number.isInteger(count) || count < 0 || count > 0xffffffff) throw new RangeError('count must be an integer from 0 to 2^32-1');
    if (typeof clockOffsetNs !== 'bigint' || clockOffsetNs < I64_MIN || clockOffsetNs >= -I64_MIN) throw new RangeError('clockOffsetNs must be a bigint in the int64 range');
    if (typeof nowNs !== 'bigint' || nowNs < 0n || nowNs >= U64_LIMIT) throw new RangeError('nowNs must be a bigint in the uint64 range');
    return this.handle.encode(batch, count, clockOffsetNs, nowNs);
  }
}

/**
 * A record program (src/records/program.ts) validated and made ready to run
 * natively. Throws an Error naming the first problem (an unknown opcode, a
 * jump to no instruction start, a pool range outside the pool, a path that
 * does not reach END...).
 */
export function openRecordProgram(code: Uint32Array, pool: Buffer): NativeRecordProgram {
  if (!(code instanceof Uint32Array)) throw new TypeError('record program code must be a Uint32Array');
  if (!Buffer.isBuffer(pool)) throw new TypeError('record program pool must be a Buffer');
  return new CheckedRecordProgram(new (addon().RecordProgram)(code, pool));
}

/**
 * The raw BTF of an ELF BPF object (its .BTF section as libbpf reads it:
 * header, types, strings). Throws with .code ENOENT for a missing file, and
 * with .code ENODATA ("has no BTF (build it with clang -g)") for an object
 * without BTF.
 */
export function readBtf(path: string): Buffer {
  if (typeof path !== 'string' || path.length === 0) throw new TypeError('BPF object path must be a non-empty string');
  return addon().readBtf(path);
}
