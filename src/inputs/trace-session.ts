// One trace running in the kernel: its record program compiled from the
// object's BTF, its BPF object opened, configured, loaded and attached, and
// its ring buffer read in batches, each encoded natively into a chunk of
// Forward entries.
import { existsSync } from 'node:fs';
import { basename, isAbsolute, join, resolve } from 'node:path';
import type { EventChunk } from '../chunk.js';
import { openBpfObject, openRecordProgram, openRingReader, packageRoot, type NativeBpfObject, type NativeError, type NativeRecordProgram, type NativeRingReader, type RingStats } from '../native/addon.js';
import { BPF_MAP_TYPE_RINGBUF, Btf, BtfError } from '../records/btf.js';
import { compileStruct } from '../records/compile-struct.js';
import { compileTrace } from '../records/compile.js';
import { RecordLayoutError } from '../records/program-builder.js';
import type { RecordProgram } from '../records/program.js';
import { taskFilterFor } from '../task-filter/keys.js';
import { hasFilters } from '../task-filter/filter.js';
import type { TraceDefinition, TraceSettings } from '../traces/types.js';
import { pathOfSection, type AttachChoice, type AttachPath } from '../traces/attach-path.js';
import { CGROUP_PROGRAMS, configureFilter, fillCgroupMap, fillFilterMaps, needsCgroupPrograms, objectHasFilters, type FilterBits } from '../task-filter/kernel.js';
import { Knobs } from '../records/knobs.js';
import { attachLibraryUprobes } from './library-uprobes.js';
import { explain, hookOf, TraceStartError, type FailedStep } from './start-errors.js';
import { fileStamp, identityText } from '../settings-identity.js';
import { BpfObjectFileError, openBpfObjectFile, type CheckedBpfObjectFile } from '../config/bpf-object-file.js';

/** Where the built BPF objects are; EBPF_FORWARD_BPF_DIR overrides it (packagers, tests). */
export const bpfObjectDir = process.env.EBPF_FORWARD_BPF_DIR || join(packageRoot, 'bpf', '.output');

/**
 * Wake-up batching (bpf/common.bpf.h): records wait in the ring for a read
 * at most this long (the input's wakeup_ms) unless it fills past a quarter;
 * the reader reads every wakeup_ms while records come, and the kernel wakes
 * it only for records that come after a quiet spell. Fewer wake-ups cost
 * less CPU: at 1,000 records/s, each wake-up costs far more than its records.
 */
const DEFAULT_WAKEUP_MS = 80;
/**
 * Largest batch handed to JS at once. Smaller batches keep fewer records
 * alive at a time (a 1 MB batch is ~14,000 records, objects that outlive
 * V8's young generation and grow the heap); the reads per second stay the same.
 */
const MAX_BATCH_BYTES = 256 * 1024;

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
  /** Told of an optional attach step that failed (the trace still runs). */
  onWarning?(message: string): void;
  /** Told what only debugging needs: why a trace's fentry programs were not used, with `attach auto`. */
  onDebug?(message: string): void;
}

/** Where a session's records and news go: what a reload hands over. */
export type SessionCallbacks = Pick<TraceSessionOptions, 'onChunk' | 'whenAccepting' | 'onWarning' | 'onDebug'>;

/**
 * Traces whose fentry programs this kernel refused, with `attach auto`, and
 * why: later sessions of the process (a reload) go straight to the
 * tracepoints, without loading the object twice.
 */
const fentryRefused = new Map<string, string>();

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

/** Whether a section's hook is where a call ends (attached first: a call whose entry is seen then has its end seen too). */
function isReturnHook(section: string): boolean {
  return /^(?:tracepoint|tp)\/syscalls\/sys_exit_|^(?:kretprobe|uretprobe|fexit)(?:\/|$)/.test(section);
}

/** The record program of a trace, from its object's BTF (the layout is never written in TypeScript). */
function compileRecordProgram(trace: TraceDefinition, btf: Btf, file: string, options: Pick<TraceSessionOptions, 'sequenceKey' | 'containerMetadata' | 'runtimeMetadata' | 'kubernetesAnnotations'>): RecordProgram {
  const record = trace.record;
  if ('asIs' in record) return compileStruct(btf, record.asIs, { object: file, timeField: record.timeField });
  const { sequenceKey, containerMetadata, runtimeMetadata, kubernetesAnnotations } = options;
  return compileTrace(record, btf, { trace: trace.name, object: trace.object, sequenceKey, containerMetadata, runtimeMetadata, kubernetesAnnotations });
}

export class TraceSession {
  private object: NativeBpfObject | undefined;
  private reader: NativeRingReader | undefined;
  /** Whether the object counts what its ring could not take (a per-CPU `lost` map; a user's object may have none). */
  private countsLosses = true;
  private lostCount = 0;
  /** Whether the object has the input's filters (bpf/task_filter.bpf.h), with their per-CPU `filtered` count. */
  private countsFiltered = false;
  /** The filter bits of the loaded object (bpf/task_filter.bpf.h), when it has the filters. */
  private filterBits: FilterBits | undefined;
  private filteredCount = 0;
  private lastRingStats: RingStats | undefined;
  /** Reading waits for the outputs to have room. */
  private waitingForRoom = false;
  private stopping = false;
  /** Times reading stopped because the outputs were full. */
  pauses = 0;
  /** Records encoded and handed on. */
  received = 0;
  /** Bytes of the Forward entries handed on. */
  receivedBytes = 0;

  /** The options' settings, with the filters resolved: without settings.filter, the trace's own filter keys (malloc_pid...) alone. */
  private readonly settings: TraceSettings;

  /**
   * What a reload compares: two sessions of the same identity would load the
   * same programs and make the same records. Taken once, as the session
   * loads: its object's stamp is the file it loaded, so that an object
   * rebuilt in place since is not taken for the running one.
   */
  readonly identity: string;

  private constructor(private options: TraceSessionOptions) {
    const { trace, settings } = options;
    this.settings = { ...settings, filter: settings.filter ?? taskFilterFor(trace, settings.keys) };
    this.identity = sessionIdentity(options);
  }

  /**
   * Hands the running session to another input (a reload that changed the
   * input around it): its records go where `to` says from the next batch on;
   * nothing is detached, so no event is missed or seen twice.
   */
  rebind(to: SessionCallbacks): void {
    this.options = { ...this.options, ...to };
  }

  /** Opens, loads and attaches the trace; on failure nothing stays attached. */
  static start(options: TraceSessionOptions): TraceSession {
    const session = TraceSession.load(options);
    try {
      session.attach();
    } catch (err) {
      session.close();
      throw err;
    }
    return session;
  }

  /**
   * Opens and loads the trace and its ring reader, attaching none of its
   * programs: it records nothing until attach(). A reload loads first, so
   * that the input it replaces is detached for as short as attaching takes.
   */
  static load(options: TraceSessionOptions): TraceSession {
    const session = new TraceSession(options);
    try {
      session.openByChosenPath();
    } catch (err) {
      session.close();
      throw err;
    }
    return session;
  }

  /** What load() left to do: the programs' attach. */
  private attachPrograms: (() => void) | undefined;

  /** Attaches the programs load() loaded (once); on failure the caller closes the session. */
  attach(): void {
    const attach = this.attachPrograms;
    this.attachPrograms = undefined;
    try {
      attach?.();
    } catch (err) {
      if (!(err instanceof TraceStartError) || this.attachedBy !== 'fentry') throw err;
      if (!this.fentryChosenAuto) throw this.askedForFentry(err);
      // attach auto: fexit programs that loaded but would not attach give way to the tracepoints.
      this.refuseFentry(err.message);
      this.object?.detach();
      this.unload();
      this.open('tracepoint', false);
      const again = this.attachPrograms as (() => void) | undefined;
      this.attachPrograms = undefined;
      again?.();
    }
  }

  /**
   * Which of the trace's two sets of programs is loaded (src/traces/attach-path.ts):
   * undefined for a trace that has one set.
   */
  attachedBy: AttachPath | undefined;
  /** The fentry programs were loaded by `attach auto`: the tracepoints stand by. */
  private fentryChosenAuto = false;

  /**
   * Opens and loads the programs the `attach` key asks for: by itself, those
   * only, and a failure is the trace's; `auto` (the default) tries the
   * fexit programs first and falls back to the tracepoints quietly (a debug
   * line says why), reporting only the tracepoints' failure.
   */
  private openByChosenPath(): void {
    const { trace } = this.options;
    if (trace.fentryNeeds === undefined) return this.open(undefined, false);
    const choice = (this.settings.keys.get('attach') as AttachChoice | undefined) ?? 'auto';
    if (choice !== 'auto') {
      try {
        return this.open(choice, true);
      } catch (err) {
        throw choice === 'fentry' ? this.askedForFentry(err) : err;
      }
    }
    if (!fentryRefused.has(trace.name)) {
      try {
        return this.open('fentry', false);
      } catch (err) {
        if (!(err instanceof TraceStartError)) throw err;
        this.refuseFentry(err.message);
        this.unload();
      }
    }
    this.open('tracepoint', false);
  }

  /** A failure of the fentry programs the user asked for: the key named first, and the way out last. */
  private askedForFentry(err: unknown): unknown {
    if (!(err instanceof TraceStartError) || err.message.startsWith(`${err.trace}: attach fentry: `)) return err;
    const [first, ...rest] = err.message.split('\n');
    const message = `${err.trace}: attach fentry: ${first!.replace(`${err.trace}: `, '')}; \`attach auto\` uses the syscall tracepoints where fentry can't be had`;
    return new TraceStartError(err.trace, [message, ...rest].join('\n'), err.errno);
  }

  private refuseFentry(why: string): void {
    const { trace } = this.options;
    fentryRefused.set(trace.name, why);
    this.options.onDebug?.(`${trace.name}: attach auto: not by fentry (${why.replace(`${trace.name}: `, '')}): by the syscall tracepoints`);
  }

  /** Closes what open() made, for another try: the session itself goes on. */
  private unload(): void {
    this.reader?.close();
    this.reader = undefined;
    this.object?.close();
    this.object = undefined;
    this.closeUsersObject();
    this.countsFiltered = false;
    this.attachPrograms = undefined;
    this.attachedBy = undefined;
    this.fentryChosenAuto = false;
  }

  /** A user's object, opened and checked (src/config/bpf-object-file.ts) while open() reads it. */
  private usersObject: CheckedBpfObjectFile | undefined;

  private openUsersObject(file: string): string {
    try {
      this.usersObject = openBpfObjectFile(file);
    } catch (err) {
      if (err instanceof BpfObjectFileError) throw new TraceStartError(this.options.trace.name, `${this.options.trace.name}: BPF_Object ${file}: ${err.message}`);
      throw err;
    }
    return this.usersObject.path;
  }

  private closeUsersObject(): void {
    this.usersObject?.close();
    this.usersObject = undefined;
  }

  /**
   * Opens, configures and loads the object. With a path (a trace with two
   * sets of programs), the other set is left out; `forced`: the user asked
   * for that path, which the object must have.
   */
  private open(path: AttachPath | undefined, forced: boolean): void {
    let trace = this.traceOn(path);
    const settings = this.settings;
    const step = (what: string | FailedStep, fn: () => void) => {
      try {
        fn();
      } catch (err) {
        if (err instanceof TraceStartError) throw err;
        throw explain(trace, typeof what === 'string' ? { what } : what, err as NativeError);
      }
    };
    const file = resolve(bpfObjectDir, trace.object);
    if (!existsSync(file)) throw explain(trace, { what: 'opening its BPF object', file }, Object.assign(new Error(file), { code: 'ENOENT' }));
    // A user's object is kernel code from the user's files: read through the descriptor it was checked on.
    const source = isAbsolute(trace.object) ? this.openUsersObject(file) : file;
    // The record layout first: a mismatch is a start error naming both sides, before anything loads.
    let program: RecordProgram;
    let btf: Btf;
    try {
      btf = Btf.ofObject(source, file);
      program = compileRecordProgram(trace, btf, file, this.options);
    } catch (err) {
      if (err instanceof RecordLayoutError || err instanceof BtfError) throw new TraceStartError(trace.name, err.message.startsWith(trace.name) ? err.message : `${trace.name}: ${err.message}`);
      throw err;
    }
    // The ring reader holds on to it as long as it reads.
    let encoder: NativeRecordProgram | undefined;
    step('preparing its record encoder', () => {
      encoder = openRecordProgram(program.code, program.pool);
    });
    step({ what: 'opening its BPF object', file }, () => {
      this.object = openBpfObject(source, file);
    });
    this.closeUsersObject(); // libbpf has read it
    const object = this.object!;
    const globals = btf.globals();
    // The ring buffer first: a wrong ringbuf_map_name must not resize another map.
    const ringName = this.options.ringbufMapName;
    const ring = btf.maps().find((m) => m.name === ringName);
    if (!ring || (ring.type !== undefined && ring.type !== BPF_MAP_TYPE_RINGBUF)) {
      const rings = btf.maps().filter((m) => m.type === BPF_MAP_TYPE_RINGBUF).map((m) => m.name);
      throw new TraceStartError(
        trace.name,
        `${trace.name}: ringbuf_map_name ${ringName}: ${file} has ${ring ? 'a map of that name that is not a ring buffer' : 'no map of that name'} (its ring buffers: ${rings.join(', ') || 'none'})`,
      );
    }
    step('configuring', () => {
      const knobs = new Knobs(object, btf, basename(file));
      // A user's object may lack ebpf-forward's own knobs: set those it has.
      knobs.setIfPresent('self_tgid', settings.selfPid);
      object.setMapMaxEntries(this.options.ringbufMapName, this.options.ringbufBytes);
      knobs.setIfPresent('wakeup_delay_ns', (this.options.wakeupMs ?? DEFAULT_WAKEUP_MS) * 1_000_000);
      knobs.setIfPresent('wakeup_bytes', Math.floor(this.options.ringbufBytes / 4));
      if (objectHasFilters(globals)) {
        this.filterBits = configureFilter(object, knobs, settings.filter);
        this.countsFiltered = true;
      } else if (hasFilters(settings.filter)) {
        throw new TraceStartError(trace.name, `${trace.name}: its BPF object ${file} has no filters (bpf/task_filter.bpf.h), so the input's pid, comm, uid and cgroup keys can't apply to it: put it in an [INPUT] of its own without them`);
      }
      trace.configure?.(knobs, settings);
    });
    const allPrograms = object.programs();
    if (path === 'fentry' && !allPrograms.some((p) => pathOfSection(p.section) === 'fentry')) {
      if (forced) throw new TraceStartError(trace.name, `${trace.name}: attach fentry: its BPF object ${file} has no fentry/fexit programs`);
      path = 'tracepoint';
      trace = this.traceOn(path);
    }
    // Programs of the other set are not loaded; the filter's own programs are the filter's to choose.
    const filterPrograms = new Set<string>(CGROUP_PROGRAMS);
    const programs = allPrograms.filter((p) => !path || filterPrograms.has(p.name) || pathOfSection(p.section) === path);
    if (path) step('configuring', () => {
      for (const p of allPrograms) if (!programs.includes(p)) object.setAutoload(p.name, false);
    });
    const sections = new Map(programs.map((p) => [p.name, p.section]));
    step({ what: 'loading', sections }, () => object.load());
    if (this.countsFiltered) this.applyFilters(object, sections);
    step('opening its ring buffer', () => {
      this.reader = openRingReader(
        object,
        this.options.ringbufMapName,
        (entries, count, bytes, minSec, minNsec, maxSec, maxNsec) => this.onBatch(entries, count, bytes, minSec, minNsec, maxSec, maxNsec),
        this.options.maxBatchBytes ?? MAX_BATCH_BYTES,
        this.options.wakeupMs ?? DEFAULT_WAKEUP_MS,
        encoder!,
        globals.has('last_wakeup_ns') ? 'last_wakeup_ns' : undefined,
      );
    });
    this.attachedBy = path;
    this.fentryChosenAuto = path === 'fentry' && !forced;
    this.attachPrograms = () => this.attachLoaded(trace, object, programs);
  }

  /** The trace as messages name it on a path: on the fentry path it needs what its fexit programs need. */
  private traceOn(path: AttachPath | undefined): TraceDefinition {
    const { trace } = this.options;
    if (path !== 'fentry') return trace;
    return { ...trace, needs: trace.fentryNeeds! };
  }

  private attachLoaded(trace: TraceDefinition, object: NativeBpfObject, programs: ReturnType<NativeBpfObject['programs']>): void {
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
        this.options.onWarning?.(failure.message);
      }
    }
    attachLibraryUprobes(object, this.options.trace, this.settings, [...uprobes.values()], optional, (message) => this.options.onWarning?.(message));
    try {
      this.lost();
    } catch {
      this.countsLosses = false;
      this.options.onWarning?.(`${trace.name}: its BPF object has no per-CPU 'lost' map, so records its ring buffer could not take are not counted`);
    }
  }

  /**
   * The filters' items, after load and before the trace's own programs
   * attach: pids, uids and comms; with a cgroup filter the programs that
   * follow cgroups made and removed first, then the tree as it is.
   */
  private applyFilters(object: NativeBpfObject, sections: ReadonlyMap<string, string>): void {
    const { trace } = this.options;
    const settings = this.settings;
    const fail = (step: FailedStep, err: unknown): never => {
      throw explain(trace, step, err as NativeError);
    };
    try {
      fillFilterMaps(object, settings.filter, this.filterBits!);
    } catch (err) {
      fail({ what: 'writing its filters' }, err);
    }
    if (!needsCgroupPrograms(settings.filter)) return;
    for (const name of CGROUP_PROGRAMS) {
      try {
        object.attach(name);
      } catch (err) {
        fail({ what: `attaching ${name} (for the cgroup filter)`, hook: hookOf(sections.get(name) ?? name) }, err);
      }
    }
    try {
      fillCgroupMap(object, settings.filter, this.filterBits!);
    } catch (err) {
      fail({ what: 'writing the cgroups of its cgroup filter' }, err);
    }
  }

  private onBatch(entries: Buffer, count: number, bytes: number, minSec: number, minNsec: number, maxSec: number, maxNsec: number): void {
    if (count > 0) {
      this.received += count;
      this.receivedBytes += bytes;
      // The reader's own buffer, reused for the next batch: outputs copy what they keep.
      const chunk: EventChunk = {
        entries: entries.subarray(0, bytes),
        count,
        minTime: { sec: minSec, nsec: minNsec },
        maxTime: { sec: maxSec, nsec: maxNsec },
      };
      this.options.onChunk(chunk);
    }
    if (this.stopping || this.waitingForRoom) return;
    const room = this.options.whenAccepting?.();
    if (room) this.pauseUntil(room);
  }

  /** Stops reading until the outputs have room (they say when). */
  private pauseUntil(room: Promise<void>): void {
    this.reader?.pause();
    this.pauses++;
    this.waitingForRoom = true;
    void room.then(() => {
      this.waitingForRoom = false;
      if (!this.stopping) this.reader?.resume();
    });
  }

  get name(): string {
    return this.options.trace.name;
  }

  /** Reading waits for the outputs to have room. */
  get paused(): boolean {
    return this.waitingForRoom;
  }

  /** Records the kernel could not put in the ring buffer (it was full). */
  lost(): number {
    // After close the last count read stands.
    if (this.object && this.countsLosses) this.lostCount = Number(this.object.perCpuSum('lost', 0));
    return this.lostCount;
  }

  /** Events the input's filters left out in the kernel (0 for an object without them). */
  filtered(): number {
    if (this.object && this.countsFiltered) this.filteredCount = Number(this.object.perCpuSum('filtered', 0));
    return this.filteredCount;
  }

  /** Whether filtered() counts anything (false for a user's object without the filters). */
  get filtersCounted(): boolean {
    return this.countsFiltered;
  }

  /** Whether lost() counts anything (false for a user's object without a `lost` map). */
  get lossesCounted(): boolean {
    return this.countsLosses;
  }

  /** Records too short for their struct, or read past their end: a bug, counted rather than hidden. */
  malformed(): number {
    return this.ringStats()?.malformed ?? 0;
  }

  /** The ring reader's counters (the last ones once closed). */
  ringStats(): RingStats | undefined {
    if (this.reader) this.lastRingStats = this.reader.stats();
    return this.lastRingStats;
  }

  /** How full the ring buffer is now (0 to 1), from stats just read; undefined when closed or unknown. */
  ringFill(stats = this.ringStats()): number | undefined {
    return this.reader && stats && stats.ringBytes > 0 ? Math.min(1, stats.ringWaitingBytes / stats.ringBytes) : undefined;
  }

  /** Detaches the programs, then hands on whatever is left in the ring (full outputs or not). */
  stop(): void {
    this.stopping = true;
    this.object?.detach();
    this.reader?.drain();
  }

  /** Detaches everything. Idempotent. */
  close(): void {
    this.stopping = true;
    try {
      this.lost();
      this.filtered();
    } catch {
      // not loaded: nothing was counted
    }
    this.ringStats();
    this.reader?.close();
    this.reader = undefined;
    this.object?.close();
    this.object = undefined;
    this.closeUsersObject();
  }
}
