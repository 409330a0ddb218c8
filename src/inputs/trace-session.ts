// One trace running in the kernel: its record program compiled from the
// object's BTF, its BPF object opened, configured, loaded and attached, and
// its ring buffer read in batches, each encoded natively into a chunk of
// Forward entries.
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { EventChunk } from '../chunk.js';
import { addon, openBpfObject, openRecordProgram, openRingReader, type NativeBpfObject, type NativeError, type NativeRecordProgram, type NativeRingReader, type RingStats } from '../native/addon.js';
import { taskFilterFor } from '../task-filter/keys.js';
import type { TraceDefinition, TraceSettings } from '../traces/types.js';
import { kernelFunctionOf, pathOfSection, type AttachChoice, type AttachPath } from '../traces/attach-path.js';
import { CGROUP_PROGRAMS, type FilterBits } from '../task-filter/kernel.js';
import { applyFilters, attachTracePrograms } from './attach.js';
import { checkRingMap, configureObject, recordProgramOf } from './object-setup.js';
import { bpfObjectDir, DEFAULT_WAKEUP_MS, MAX_BATCH_BYTES, sessionIdentity, type SessionCallbacks, type TraceSessionOptions } from './session-options.js';
import { explain, hookOf, TraceStartError, type FailedStep } from './start-errors.js';
import { BpfObjectFileError, openBpfObjectFile, type CheckedBpfObjectFile } from '../config/bpf-object-file.js';

/**
 * Traces whose fentry programs this kernel refused, with `attach auto`, and
 * why: later sessions of the process (a reload) go straight to the
 * tracepoints, without loading the object twice.
 */
const fentryRefused = new Map<string, string>();


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
    // Its batches through JS again, where the new callbacks lend it a socket or not.
    this.reader?.sendTo(null);
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
    const { btf, program } = recordProgramOf(trace, source, file, this.options);
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
    checkRingMap(trace, btf, file, this.options.ringbufMapName);
    step('configuring', () => {
      this.filterBits = configureObject(object, btf, file, trace, settings, this.options);
      this.countsFiltered = this.filterBits !== undefined;
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
    // attach auto: the kernel asked first, with a minimal fexit program on the
    // first one's function; a refusal of the trace's own would cost a
    // verifier log of up to 16 MB.
    const firstFexit = path === 'fentry' && !forced ? programs.find((p) => pathOfSection(p.section) === 'fentry') : undefined;
    const fexitTarget = firstFexit && kernelFunctionOf(firstFexit.section);
    if (fexitTarget) step({ what: `loading ${firstFexit.name}`, hook: hookOf(firstFexit.section) }, () => addon().probeFexit(fexitTarget));
    step({ what: 'loading', sections }, () => object.load());
    const coreBtf = object.coreBtf();
    if (coreBtf) this.options.onDebug?.(`${trace.name}: ${coreBtf}`);
    if (this.countsFiltered) applyFilters(object, trace, this.settings.filter, this.filterBits!, sections);
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
    attachTracePrograms(object, trace, this.settings, programs, (message) => this.options.onWarning?.(message));
    try {
      this.lost();
    } catch {
      this.countsLosses = false;
      this.options.onWarning?.(`${trace.name}: its BPF object has no per-CPU 'lost' map, so records its ring buffer could not take are not counted`);
    }
  }

  private onBatch(entries: Buffer, count: number, bytes: number, minSec: number, minNsec: number, maxSec: number, maxNsec: number): void {
    // The output's socket, if it lends one now (it does while it holds
    // nothing): this batch and the next ones go there, the next ones
    // without coming through JS.
    const lease = this.stopping || this.waitingForRoom ? undefined : this.options.lendSocket?.();
    if (lease) this.reader?.sendTo(lease.socket, lease.prefix, lease.packed, lease.withSize);
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
    if (this.stopping || this.waitingForRoom || lease) return;
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
