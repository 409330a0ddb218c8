// One trace running in the kernel: its BPF object opened, configured, loaded
// and attached, and its ring buffer read in batches into Fluent events.
import { join } from 'node:path';
import type { FluentEvent } from '../event.js';
import { openBpfObject, openRingReader, packageRoot, type NativeBpfObject, type NativeError, type NativeRingReader, type RingStats } from '../native/addon.js';
import type { TraceDefinition, TraceSettings } from '../traces/types.js';
import { BatchDecoder } from './batch-decoder.js';
import { MonotonicClock } from './clock.js';
import { findLibcPaths } from './libc.js';

/** Where the built BPF objects are; EBPF_FORWARD_BPF_DIR overrides it (packagers, tests). */
export const bpfObjectDir = process.env.EBPF_FORWARD_BPF_DIR || join(packageRoot, 'bpf', '.output');

/**
 * Wake-up batching (bpf/common.bpf.h): a record wakes the reader only if the
 * last wake-up is this old or the ring fills past a quarter; the reader reads
 * again this long (+1 ms for libuv's millisecond timers) after every read that
 * found records, so no record waits longer. Under load this turns one wake-up
 * per few records into a few hundred per second.
 */
const WAKEUP_DELAY_MS = 5;

export interface TraceSessionOptions {
  trace: TraceDefinition;
  settings: TraceSettings;
  ringbufMapName: string;
  /** Ring buffer size in bytes: a power of two, at least one page. */
  ringbufBytes: number;
  /** Largest batch handed from the ring to JS, in bytes. */
  maxBatchBytes?: number;
  onEvents(events: FluentEvent[]): void;
  /** Told of an optional attach step that failed (the trace still runs). */
  onWarning?(message: string): void;
}

/** A trace that could not start; the message names the trace and what the kernel lacks. */
export class TraceStartError extends Error {
  constructor(
    readonly trace: string,
    message: string,
    readonly errno?: number,
  ) {
    super(message);
    this.name = 'TraceStartError';
  }
}

function explain(trace: TraceDefinition, step: string, err: NativeError): TraceStartError {
  const first = err.message.split('\n')[0] ?? err.message;
  let hint = '';
  if (err.code === 'EPERM' || err.code === 'EACCES') hint = 'permission denied: run as root (or with CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN)';
  else if (err.code === 'ENOENT') hint = `this kernel lacks a hook it needs: ${trace.needs}`;
  else if (err.code === 'EINVAL' || err.code === 'ENOTSUP') hint = `this kernel can't run it: it needs ${trace.needs}`;
  const detail = err.message.split('\n').slice(1).filter((l) => !l.includes('-- BEGIN') && !l.includes('-- END')).slice(-3);
  const text = `${trace.name}: ${step} failed: ${first}${hint ? ` — ${hint}` : ''}${detail.length ? `\n  ${detail.join('\n  ')}` : ''}`;
  return new TraceStartError(trace.name, text, err.errno);
}

function u64(value: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(value));
  return b;
}

export class TraceSession {
  private object: NativeBpfObject | undefined;
  private reader: NativeRingReader | undefined;
  private readonly decoder: BatchDecoder;
  private lostCount = 0;
  private lastRingStats: RingStats | undefined;
  /** Records decoded and handed on. */
  received = 0;

  private constructor(private readonly options: TraceSessionOptions) {
    this.decoder = new BatchDecoder(options.trace, new MonotonicClock());
  }

  /** Opens, loads and attaches the trace; on failure nothing stays attached. */
  static start(options: TraceSessionOptions): TraceSession {
    const session = new TraceSession(options);
    try {
      session.open();
    } catch (err) {
      session.close();
      throw err;
    }
    return session;
  }

  private open(): void {
    const { trace, settings } = this.options;
    const step = (what: string, fn: () => void) => {
      try {
        fn();
      } catch (err) {
        if (err instanceof TraceStartError) throw err;
        throw explain(trace, what, err as NativeError);
      }
    };
    step('opening its BPF object', () => {
      this.object = openBpfObject(join(bpfObjectDir, trace.object));
    });
    const object = this.object!;
    step('configuring', () => {
      const self = Buffer.alloc(4);
      self.writeUInt32LE(settings.selfPid);
      object.setGlobal('self_tgid', self);
      object.setMapMaxEntries(this.options.ringbufMapName, this.options.ringbufBytes);
      object.setGlobal('wakeup_delay_ns', u64(WAKEUP_DELAY_MS * 1_000_000));
      object.setGlobal('wakeup_bytes', u64(Math.floor(this.options.ringbufBytes / 4)));
      trace.configure?.(object, settings);
    });
    step('loading', () => object.load());
    for (const attach of trace.attach) {
      try {
        if (attach.kind === 'section') {
          object.attach(attach.program);
        } else {
          const paths = findLibcPaths();
          if (paths.length === 0) throw Object.assign(new Error('no C library found in any running process'), { code: 'ENOENT' });
          for (const path of paths) object.attachUprobe(attach.program, path, attach.symbol, attach.retprobe, -1);
        }
      } catch (err) {
        const failure = explain(trace, `attaching ${attach.program}`, err as NativeError);
        if (!attach.optional) throw failure;
        this.options.onWarning?.(failure.message);
      }
    }
    step('opening its ring buffer', () => {
      this.reader = openRingReader(object, this.options.ringbufMapName, (batch, count) => this.onBatch(batch, count), this.options.maxBatchBytes ?? 1 << 20, WAKEUP_DELAY_MS + 1);
    });
  }

  private onBatch(batch: Buffer, count: number): void {
    const events = this.decoder.decode(batch, count);
    this.received += events.length;
    if (events.length > 0) this.options.onEvents(events);
  }

  get name(): string {
    return this.options.trace.name;
  }

  /** Records the kernel could not put in the ring buffer (it was full). */
  lost(): number {
    // After close the last count read stands.
    if (this.object) this.lostCount = Number(this.object.perCpuSum('lost', 0));
    return this.lostCount;
  }

  /** Records that were too short to be decoded: a bug, counted rather than hidden. */
  malformed(): number {
    return this.decoder.malformed;
  }

  /** The ring reader's counters (the last ones once closed). */
  ringStats(): RingStats | undefined {
    if (this.reader) this.lastRingStats = this.reader.stats();
    return this.lastRingStats;
  }

  /** Records read from the ring but lost in the reader (no memory for the batch). */
  readerDropped(): number {
    return this.ringStats()?.dropped ?? 0;
  }

  /** Detaches the programs, then hands on whatever is left in the ring. */
  stop(): void {
    this.object?.detach();
    this.reader?.drain();
  }

  /** Detaches everything. Idempotent. */
  close(): void {
    try {
      this.lost();
    } catch {
      // not loaded: nothing was counted
    }
    this.ringStats();
    this.reader?.close();
    this.reader = undefined;
    this.object?.close();
    this.object = undefined;
  }
}
