// One `[INPUT] Name ebpf` section: its traces running in the kernel, their
// events tagged and routed, and their kernel-side losses reported.
import { ConfigError, type InputSettings, type ServiceSettings } from '../config/model.js';
import type { EventChunk } from '../chunk.js';
import { processRuntimeMetadata } from '../containers/runtime-metadata.js';
import type { Logger } from '../log.js';
import type { SocketLease } from '../outputs/types.js';
import { storageFolderName } from '../storage/folder.js';
import { fileStamp, identityText } from '../settings-identity.js';
import { taskFilterFor } from '../task-filter/keys.js';
import { InputJournal } from './journal.js';
import { TraceStartError } from './start-errors.js';
import type { TraceCounters } from './trace-counters.js';
import { ebpfInputSettings } from './ebpf-input-settings.js';
import { TraceSession } from './trace-session.js';
import { sessionIdentity, type SessionCallbacks, type TraceSessionOptions } from './session-options.js';

/**
 * How often losses are checked while records come (on the reader's own
 * wake-ups: a timer of its own would wake a low rate once more a second),
 * and the least time between two warnings. A timer of LOSS_WARN_EVERY_MS
 * checks while reading waits and once after records stop. Idle, nothing is
 * checked: the kernel loses records only when they come (and the last check
 * saw any since).
 */
const LOSS_CHECK_MS = 1000;
const LOSS_WARN_EVERY_MS = 5000;

/** "trace_bind attached by fentry": a trace with two sets of programs says which it runs. */
function attachedLine(session: TraceSession): string {
  return `${session.name} attached${session.attachedBy ? ` by ${session.attachedBy}` : ''}`;
}

/** Adds a note to a message's first line (libbpf's lines may follow it). */
function withNote(message: string, note: string): string {
  const end = message.indexOf('\n');
  return end < 0 ? `${message} ${note}` : `${message.slice(0, end)} ${note}${message.slice(end)}`;
}

/**
 * What makes two [INPUT]s the same running input, for a reload: instance,
 * tag, traces (a BPF_Object's file as it is on disk), every key, and the
 * [SERVICE] keys its journal reads (storage.type filesystem). Two settings
 * with the same identity keep one TraceSession running.
 */
export function inputIdentity(settings: InputSettings, service: ServiceSettings): string {
  const journal = ebpfInputSettings(settings.values).journaled
    ? ['storage.path', 'storage.sync', 'storage.checksum', 'flush'].map((k) => service.values.get(k))
    : [];
  return identityText({
    instance: settings.instance,
    tag: settings.tag,
    traces: settings.traces.map((t) => [t.trace.name, t.trace.object.startsWith('/') ? fileStamp(t.trace.object) : '']),
    values: settings.values, // identityText sorts a Map's entries by key
    journal,
  });
}

export interface EbpfInputOptions {
  settings: InputSettings;
  /** [SERVICE]: storage.path and Flush for storage.type filesystem. */
  service?: ServiceSettings;
  log: Logger;
  emit(tag: string, chunk: EventChunk): void;
  /** Undefined while the outputs of the tag take more, else when they will (see TraceSessionOptions.whenAccepting). */
  whenAccepting?(tag: string): Promise<void> | undefined;
  /** A socket the tag's batches may be written to without JS (see TraceSessionOptions.lendSocket). */
  lendSocket?(tag: string): SocketLease | undefined;
}

export class EbpfInput {
  private readonly sessions: TraceSession[] = [];
  /** Sessions load() took over from the inputs a reload replaces, and from which. */
  private readonly adopted: { session: TraceSession; from: EbpfInput }[] = [];
  private readonly failed: TraceStartError[] = [];
  private lossTimer: NodeJS.Timeout | undefined;
  /** Records came since the last loss check (else the checks stop until some come). */
  private recordsCame = false;
  /** Records the sessions' readers had written to lent sockets at the last loss check. */
  private sentSeen = 0;
  /** When losses were last looked at on a batch's arrival. */
  private lastLossCheck = 0;
  private stopped = false;
  /** storage.type filesystem: records on disk before they are routed. */
  private journal: InputJournal | undefined;
  private rollTimer: NodeJS.Timeout | undefined;
  private lostReported = new Map<string, number>();
  private pausesReported = new Map<string, number>();
  private lastLossWarning = 0;
  /** Ends this input's use of the runtimes' sockets (container_runtime_metadata). */
  private releaseRuntimes: (() => void) | undefined;

  constructor(private readonly options: EbpfInputOptions) {}

  get instance(): string {
    return this.options.settings.instance;
  }

  /**
   * Starts every trace. A trace that can't start is logged and skipped, or,
   * with `Trace_Error exit`, stops the input (everything detached) and throws.
   * A trace running with the same programs in one of `runningElsewhere` (a
   * refused reload's inputs) is taken over as it runs instead.
   */
  start(runningElsewhere: readonly EbpfInput[] = []): void {
    this.open(false, runningElsewhere);
  }

  /**
   * A reload's first half: every trace opened and loaded, none attached (it
   * records nothing yet); attach() is the second. A trace that fails stops
   * the input and throws, whatever Trace_Error says.
   */
  load(runningElsewhere: readonly EbpfInput[] = []): void {
    this.open(true, runningElsewhere);
  }

  /**
   * Takes back what load() took from other inputs and stops the rest: a
   * reload refused before its switch leaves every running trace as it was.
   */
  undoLoad(): void {
    for (const { session, from } of this.adopted) {
      this.sessions.splice(this.sessions.indexOf(session), 1);
      from.sessions.push(session);
      session.rebind(from.sessionCallbacks());
    }
    this.adopted.length = 0;
    this.stop();
  }

  /** Gives up a running session of this identity to another input (see load()). */
  private lend(identity: string): TraceSession | undefined {
    const at = this.sessions.findIndex((s) => s.identity === identity);
    return at < 0 ? undefined : this.sessions.splice(at, 1)[0];
  }

  /**
   * Attaches what load() loaded; a trace that can't attach stops what this
   * input loaded and throws. What it took over keeps running (for the
   * inputs a refused reload restarts to take back; stop() ends it).
   */
  attach(): void {
    const adopted = new Set(this.adopted.map((a) => a.session));
    for (const session of this.sessions) {
      if (adopted.has(session)) continue;
      try {
        session.attach();
        this.options.log.info(attachedLine(session));
      } catch (err) {
        for (const own of this.sessions.filter((s) => !adopted.has(s))) {
          try {
            own.stop();
          } finally {
            own.close();
          }
        }
        this.sessions.splice(0, this.sessions.length, ...this.sessions.filter((s) => adopted.has(s)));
        if (!(err instanceof TraceStartError)) throw err;
        const selection = this.options.settings.traces.find((t) => t.trace.name === err.trace) ?? this.options.settings;
        throw new TraceStartError(err.trace, withNote(ConfigError.at(selection, err.message).message, '(the reload is refused)'), err.errno);
      }
    }
  }

  /** Where this input's sessions send records and news (the journal first, with storage.type filesystem). */
  private sessionCallbacks(): SessionCallbacks {
    const { settings, log, emit } = this.options;
    const tag = settings.tag;
    const journal = this.journal;
    return {
      onChunk: journal
        ? (chunk) => {
            this.recordsArrived();
            journal.keep(chunk, (kept) => emit(tag, kept));
          }
        : (chunk) => {
            this.recordsArrived();
            emit(tag, chunk);
          },
      whenAccepting: this.options.whenAccepting && (() => this.options.whenAccepting!(tag)),
      // A journal keeps every chunk: they all go through it.
      lendSocket: journal || !this.options.lendSocket ? undefined : () => this.options.lendSocket!(tag),
      onWarning: (message) => log.warn(message),
      onDebug: (message) => log.debug(message),
    };
  }

  private open(loadOnly: boolean, runningElsewhere: readonly EbpfInput[] = []): void {
    const { settings, log } = this.options;
    // A reload takes all or nothing, whatever Trace_Error says.
    const typed = ebpfInputSettings(settings.values);
    const onFailure = loadOnly ? 'exit' : typed.traceError;
    this.journal = this.openJournal();
    const { containerMetadata, runtimeMetadata, kubernetesAnnotations } = typed;
    if (runtimeMetadata) this.releaseRuntimes = processRuntimeMetadata().acquire(typed.runtimeSockets, log);
    const callbacks = this.sessionCallbacks();
    for (const selection of settings.traces) {
      const trace = selection.trace;
      const keys = new Map<string, unknown>();
      for (const key of trace.keys ?? []) if (settings.values.has(key.name)) keys.set(key.name, settings.values.get(key.name));
      const options: TraceSessionOptions = {
        trace,
        settings: { keys, selfPid: process.pid, filter: taskFilterFor(trace, settings.values) },
        ringbufMapName: typed.ringbufMapName,
        ringbufBytes: typed.ringbufBytes,
        wakeupMs: typed.wakeupMs,
        sequenceKey: typed.sequenceKey,
        containerMetadata,
        runtimeMetadata,
        kubernetesAnnotations,
        ...callbacks,
      };
      // A reload: the same trace, with the same programs and records, running
      // in an input this one replaces, is taken over as it runs (not detached).
      const identity = runningElsewhere.length ? sessionIdentity(options) : undefined;
      const from = identity === undefined ? undefined : runningElsewhere.find((i) => i.sessions.some((s) => s.identity === identity));
      const running = from?.lend(identity!);
      if (from && running) {
        running.rebind(callbacks);
        this.sessions.push(running);
        this.adopted.push({ session: running, from });
        log.info(`${trace.name} kept running (taken over from ${from.instance})`);
        continue;
      }
      try {
        const session = (loadOnly ? TraceSession.load : TraceSession.start)(options);
        this.sessions.push(session);
        if (!loadOnly) log.info(attachedLine(session));
      } catch (err) {
        if (!(err instanceof TraceStartError)) throw err;
        // Named at its Trace line, as config errors are.
        const located = new TraceStartError(err.trace, ConfigError.at(selection, err.message).message, err.errno);
        this.failed.push(located);
        if (onFailure === 'exit') {
          this.stop();
          const note = loadOnly ? '(the reload is refused)' : '(Trace_Error exit: stopping)';
          throw new TraceStartError(err.trace, withNote(located.message, note), err.errno);
        }
        log.error(withNote(located.message, '(Trace_Error continue: the other traces keep running)'));
      }
    }
    this.watchLosses();
  }

  /** A batch came: losses checked if LOSS_CHECK_MS passed since the last look, the backstop timer running. */
  private recordsArrived(): void {
    const now = Date.now();
    if (now - this.lastLossCheck >= LOSS_CHECK_MS) {
      this.lastLossCheck = now;
      this.checkLosses();
    }
    this.recordsCame || this.watchLosses();
  }

  /**
   * Records came: losses are checked every LOSS_WARN_EVERY_MS too (reading
   * may wait for the outputs, records may stop) until a check finds that
   * none came since the last and no trace waits for the outputs (an idle
   * process then has no timer of this input to wake it).
   */
  private watchLosses(): void {
    this.recordsCame = true;
    if (this.lossTimer || this.stopped) return;
    this.lossTimer = setInterval(() => {
      this.checkLosses();
      // Records written to a lent socket never come through JS: they count as records that came.
      const sent = this.sessions.reduce((n, s) => n + (s.ringStats()?.sentRecords ?? 0), 0);
      if (sent !== this.sentSeen) this.recordsCame = true;
      this.sentSeen = sent;
      if (!this.recordsCame && !this.sessions.some((s) => s.paused)) {
        clearInterval(this.lossTimer);
        this.lossTimer = undefined;
      }
      this.recordsCame = false;
    }, LOSS_WARN_EVERY_MS);
    this.lossTimer.unref();
  }

  /**
   * storage.type filesystem: the journal opened (a folder that can't be used
   * stops the start, StorageError), closed at every Flush, and what a killed
   * run left replayed in the background.
   */
  private openJournal(): InputJournal | undefined {
    const { settings, service, log, emit, whenAccepting } = this.options;
    if (!ebpfInputSettings(settings.values).journaled) return undefined;
    // The config loader refuses storage.type filesystem without storage.path, at its line.
    if (!service?.storagePath) throw new Error(`${settings.instance}: storage.type filesystem without storage.path`);
    const journal = InputJournal.open({
      root: service.storagePath,
      name: storageFolderName(settings.instance),
      tag: settings.tag,
      sync: service.values.get('storage.sync') === 'full',
      checksum: service.values.get('storage.checksum') === true,
      log,
    });
    this.journal = journal;
    this.rollTimer = setInterval(() => journal.roll(), service.flushSeconds * 1000);
    this.rollTimer.unref();
    journal.replay(emit, whenAccepting).catch((err: Error) => log.error(`storage: replaying ${journal.dir}: ${err.message}`));
    return journal;
  }

  /** storage.type filesystem: records handed on unjournaled (storage.path refused them); undefined without a journal. */
  get unjournaled(): number | undefined {
    return this.journal?.unjournaled;
  }

  /** Names of the traces running. */
  running(): string[] {
    return this.sessions.map((s) => s.name);
  }

  failures(): TraceStartError[] {
    return [...this.failed];
  }

  /** Warns (at most every few seconds) of records lost in the kernel since the last warning. */
  checkLosses(force = false): void {
    const now = Date.now();
    if (!force && now - this.lastLossWarning < LOSS_WARN_EVERY_MS) return;
    const news: string[] = [];
    let outputsFull = false;
    for (const s of this.sessions) {
      const lost = s.lost();
      const before = this.lostReported.get(s.name) ?? 0;
      if (lost > before) {
        news.push(`${s.name} lost ${lost - before} records (total ${lost})`);
        // Reading stopped for full outputs since the last warning (or still is): they are the bottleneck.
        if (s.paused || s.pauses > (this.pausesReported.get(s.name) ?? 0)) outputsFull = true;
      }
      this.lostReported.set(s.name, lost);
      this.pausesReported.set(s.name, s.pauses);
    }
    if (news.length === 0) return;
    this.lastLossWarning = now;
    const hint = outputsFull ? 'the outputs were full (not delivering fast enough), so reading waited' : 'raise ringbuf_size to keep up';
    this.options.log.warn(`ring buffer full: ${news.join(', ')}; ${hint}`);
  }

  counters(): TraceCounters[] {
    return this.sessions.map((s) => {
      // One read of the reader's counters for all of its figures.
      const ring = s.ringStats();
      return {
        trace: s.name,
        // Handed on: to JS, or written to a lent socket by the reader.
        records: s.received + (ring?.sentRecords ?? 0),
        bytes: s.receivedBytes + (ring?.sentBytes ?? 0),
        direct: ring?.sentRecords ?? 0,
        ringFill: s.ringFill(ring),
        lost: s.lost(),
        malformed: ring?.malformed ?? 0,
        skipped: ring?.skipped ?? 0,
        dropped: ring?.dropped ?? 0,
        lossesCounted: s.lossesCounted,
        filtered: s.filtered(),
        filtersCounted: s.filtersCounted,
        wakeups: (ring?.wakeups ?? 0) + (ring?.deadlineReads ?? 0),
        batches: ring?.batches ?? 0,
      };
    });
  }

  /** Detaches every trace, hands on what is left in the rings, frees everything. */
  stop(): void {
    this.stopped = true;
    if (this.lossTimer) clearInterval(this.lossTimer);
    this.lossTimer = undefined;
    for (const s of this.sessions) {
      try {
        s.stop();
      } finally {
        s.close();
      }
    }
    clearInterval(this.rollTimer);
    this.releaseRuntimes?.();
    this.releaseRuntimes = undefined;
    const journal = this.journal?.stopped ? undefined : this.journal;
    journal?.stop();
    this.checkLosses(true);
    if (journal?.unjournaled) this.options.log.warn(`${this.instance}: ${journal.unjournaled} records went to the outputs unjournaled (storage.path refused them): a crash would have lost them`);
  }
}
