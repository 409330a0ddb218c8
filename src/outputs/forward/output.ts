// The forward output: chunks in, batches out to one or several receivers.
//
//   write()  takes a chunk's entries as they are (Time_as_Integer: with their
//            heads rewritten, once) into the tag's open batch, against
//            mem_buf_limit; never blocks, never throws.
//   Flush    seals open batches into chunks (also when one reaches its size
//            threshold) and delivers ready chunks, oldest first, a few at a
//            time, one socket write each.
//   failure  (connect, handshake, lost connection, missing ack) the chunk
//            waits a backoff and is tried again, until Retry_Limit.
//   spool    with storage.path, chunks go to disk when memory passes half of
//            mem_buf_limit and at close, and come back when they are due.
//   close    delivers within the grace period, then spools (or drops, counted)
//            what is left.
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import type { EventChunk } from '../../chunk.js';
import type { KeyValues } from '../../config/model.js';
import type { Logger } from '../../log.js';
import { MalformedChunkError } from '../chunk-decoder.js';
import type { Output, OutputContext, OutputCounters } from '../types.js';
import { Batcher, BufferPool, Chunk, MemoryBudget } from './buffer.js';
import { ForwardCounters, type DropReason } from './counters.js';
import { ForwardError } from './errors.js';
import { encodeForwardMessage, encodePackedForwardMessage, messageBytes, type MessageParts } from './framing.js';
import type { TransportOptions } from './protocol.js';
import { Backoff, DEFAULT_SCHEDULER_BASE_SECONDS, DEFAULT_SCHEDULER_CAP_SECONDS, serviceSeconds } from './retry.js';
import { readForwardSettings, type ForwardSettings } from './settings.js';
import { Spool, spoolFolderName } from './spool.js';
import { integerTimeEntries } from './time-as-integer.js';
import { Upstream, endpointOf, readUpstreamFile } from './upstream.js';

const gzip = promisify(gzipCallback);

/** Chunks being delivered at once (pipelined on the connections). */
const MAX_IN_FLIGHT = 4;
/**
 * Share of mem_buf_limit held at which the output says it is full: inputs
 * stop reading (the ebpf input leaves records in the kernel's ring buffer,
 * where overflow is counted as lost) instead of records being dropped here.
 * Above the spill threshold, so that a spool gets to take chunks first.
 */
const FULL_SHARE = 0.75;
/** A batch is sealed at this size even before Flush (Fluent Bit's chunks are about 2 MB)... */
const CHUNK_MAX_BYTES = 2 * 1024 * 1024;
/** ...or at this share of mem_buf_limit, so that a small limit still holds several chunks. */
const CHUNK_SHARE_OF_LIMIT = 1 / 8;
/** With a spool, chunks go to disk above this share of mem_buf_limit, down to the next. */
const SPILL_ABOVE = 0.5;
const SPILL_DOWN_TO = 0.25;
const SPILL_FILES_AT_ONCE = 4;
/** Free batch buffers kept for reuse (each chunkMaxBytes): about what is in flight at once. */
const POOLED_BUFFERS = MAX_IN_FLIGHT + 2;
/** During the grace period a failed chunk is tried again this soon (the grace is short). */
const GRACE_RETRY_MS = 250;
/** Part of the grace kept for writing undelivered chunks to the spool. */
const SPOOL_SHARE_OF_GRACE = 0.1;
const SPOOL_RESERVE_MAX_MS = 1000;
/** Default of storage.backlog.mem_limit: memory for chunks read back from disk. */
const DEFAULT_BACKLOG_BYTES = 5_000_000;

export class ForwardOutput implements Output {
  private readonly log: Logger;
  private readonly pool: BufferPool;
  private readonly batcher: Batcher;
  private readonly budget: MemoryBudget;
  private readonly stats = new ForwardCounters();
  private readonly upstream: Upstream;
  private readonly spool: Spool | undefined;
  private readonly backoff: Backoff;
  private readonly chunkMaxBytes: number;
  private readonly backlogLimit: number;
  /** Sealed chunks, oldest first. */
  private readonly queue: Chunk[] = [];
  private seq = 0;
  private inFlight = 0;
  /** Bytes of spooled chunks read back into memory for sending. */
  private backlogBytes = 0;
  private flushTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryAt = Infinity;
  private spilling: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  /** Set at close: no new records; failed chunks come back instead of being rescheduled. */
  private refusing = false;
  private stopped = false;
  private graceMode = false;
  private lastFailure: string | undefined;
  private warnedFull = false;
  private warnedInvalid = false;
  private readonly waiters: (() => void)[] = [];
  /** Spool files being deleted (awaited at close, or a delivered chunk would be sent again next start). */
  private readonly removals = new Set<Promise<void>>();

  private readonly settings: ForwardSettings;

  constructor(
    values: KeyValues,
    private readonly context: OutputContext,
  ) {
    const settings = readForwardSettings(values);
    this.settings = settings;
    this.log = context.log;
    this.budget = new MemoryBudget(settings.memBufLimit);
    this.chunkMaxBytes = Math.max(1024, Math.min(CHUNK_MAX_BYTES, Math.floor(settings.memBufLimit * CHUNK_SHARE_OF_LIMIT)));
    this.pool = new BufferPool(this.chunkMaxBytes, POOLED_BUFFERS);
    this.batcher = new Batcher(this.pool);

    const endpoints = settings.upstream
      ? readUpstreamFile(settings.upstream, context.configDir, values).nodes.map((n) => endpointOf(n.name, n.settings, context.configDir))
      : [endpointOf(`${settings.host}:${settings.port}`, settings, context.configDir)];
    this.upstream = new Upstream(endpoints, { connectTimeoutMs: settings.connectTimeoutMs, log: this.log });

    const service = context.service;
    this.backoff = new Backoff(
      serviceSeconds(service.values.get('scheduler.base'), DEFAULT_SCHEDULER_BASE_SECONDS),
      serviceSeconds(service.values.get('scheduler.cap'), DEFAULT_SCHEDULER_CAP_SECONDS),
    );
    const backlog = service.values.get('storage.backlog.mem_limit');
    this.backlogLimit = typeof backlog === 'number' && backlog > 0 ? backlog : DEFAULT_BACKLOG_BYTES;
    if (service.storagePath) {
      this.spool = new Spool({
        dir: join(service.storagePath, spoolFolderName(context.instance)),
        limitBytes: settings.storageLimit,
        sync: service.values.get('storage.sync') === 'full',
        checksum: service.values.get('storage.checksum') === true,
        log: this.log,
      });
    }
  }

  get instance(): string {
    return this.context.instance;
  }

  async start(): Promise<void> {
    // Chunk ids draw their random part (and OpenSSL sets up its generator,
    // ~0.1 s of CPU) at start rather than on the first delivery.
    Chunk.newId();
    if (this.spool) {
      const found = await this.spool.open();
      for (const s of found) {
        this.queue.push(new Chunk(this.seq++, s.id, s.tag, s.records, s.bytes, s.createdAt, undefined, s.file));
        this.stats.records_restored += s.records;
      }
      if (found.length > 0) {
        this.log.info(`${this.stats.records_restored} records in ${found.length} chunks found in ${this.spool.dir}: sending them first`);
      }
    }
    this.flushTimer = setInterval(() => this.sealAndPump(), this.context.service.flushSeconds * 1000);
    this.flushTimer.unref();
    this.pump();
  }

  write(tag: string, chunk: EventChunk): void {
    const records = chunk.count;
    try {
      this.stats.records_in += records;
      if (records === 0) return;
      if (this.refusing) {
        this.stats.drop('shutdown', records);
        return;
      }
      const outTag = this.settings.tag ?? tag;
      const entries = this.entriesOf(chunk);
      if (!entries) return;
      if (!this.budget.fits(entries.length)) {
        this.stats.drop('buffer_full', records);
        if (!this.warnedFull) {
          this.warnedFull = true;
          this.log.warn(`memory buffer full (mem_buf_limit ${this.budget.limit} bytes${this.spool ? ', the spool is not keeping up' : ''}): dropping records until there is room (counted as buffer_full)`);
        }
        this.maybeSpill();
        return;
      }
      // Warned again only once the buffer has really drained.
      if (this.budget.used < this.budget.limit / 2) this.warnedFull = false;
      this.budget.add(entries.length);
      // Sent at once when a connection slot is free and nothing waits (one
      // write per batch from the input, latency of a write); else batched
      // until a slot frees, Flush, or the chunk size.
      if (!this.batcher.fits(outTag, entries.length)) this.seal(outTag);
      if (this.batcher.add(outTag, entries, records) >= this.chunkMaxBytes || this.canSendNow()) {
        this.seal(outTag);
        this.pump();
      }
      this.maybeSpill();
    } catch (err) {
      this.stats.drop('internal_error', records);
      this.log.error(`cannot take ${records} records: ${(err as Error).stack ?? err}`);
    }
  }

  full(): boolean {
    return this.budget.used >= this.budget.limit * FULL_SHARE;
  }

  /** A delivery could start now: a slot is free and every queued chunk is being sent (none waits a retry, the spool or a slot). */
  private canSendNow(): boolean {
    return !this.stopped && this.inFlight < MAX_IN_FLIGHT && this.queue.length === this.inFlight;
  }

  async flush(): Promise<void> {
    if (this.stopped) return;
    this.sealAndPump();
    const started = new Map(this.queue.map((c) => [c, c.attempts]));
    // Every chunk there now has had its attempt (or waits a backoff): "written, acked or given up".
    await this.waitUntil(
      () => [...started].every(([c, attempts]) => c.done || (c.state !== 'sending' && (c.attempts > attempts || c.nextAttemptAt > Date.now()))) || this.stopped,
      Infinity,
    );
  }

  close(graceMs: number): Promise<void> {
    this.closing ??= this.shutDown(graceMs);
    return this.closing;
  }

  counters(): OutputCounters {
    return this.stats.snapshot({
      connection: this.upstream.state(),
      buffer_bytes: this.budget.used,
      buffer_bytes_peak: this.budget.peak,
      ...(this.spool ? { spool_bytes: this.spool.used } : {}),
    });
  }

  /** Per receiver, for tests and diagnostics. */
  nodes(): { name: string; connected: boolean; failures: number }[] {
    return this.upstream.nodeStates();
  }

  // --- taking records -------------------------------------------------------

  /**
   * The entries to batch: the chunk's own bytes (never written to: other
   * outputs may hold them too), or with Time_as_Integer a rewritten copy; a
   * chunk that rewrite cannot read is dropped and counted.
   */
  private entriesOf(chunk: EventChunk): Buffer | undefined {
    if (!this.settings.timeAsInteger) return chunk.entries;
    try {
      return integerTimeEntries(chunk);
    } catch (err) {
      if (!(err instanceof MalformedChunkError)) throw err;
      this.stats.drop('invalid_record', chunk.count);
      if (!this.warnedInvalid) {
        this.warnedInvalid = true;
        this.log.warn(`dropped a chunk of ${chunk.count} records that cannot be read (${err.message}); further ones are counted as invalid_record`);
      }
      return undefined;
    }
  }

  private seal(tag: string): void {
    const batch = this.batcher.take(tag);
    if (!batch) return;
    this.queue.push(new Chunk(this.seq++, Chunk.newId(), batch.tag, batch.records, batch.entries.length, Date.now(), batch.entries, undefined, batch.buffer));
  }

  private sealAndPump(): void {
    for (const tag of this.batcher.tags()) this.seal(tag);
    this.pump();
  }

  // --- delivering -----------------------------------------------------------

  /** Starts delivery of the chunks that are due, oldest first, within the in-flight limit. */
  private pump(): void {
    if (this.stopped) return;
    const now = Date.now();
    let next = Infinity;
    for (const chunk of this.queue) {
      if (chunk.state !== 'ready') continue;
      if (chunk.nextAttemptAt > now) {
        next = Math.min(next, chunk.nextAttemptAt);
        continue;
      }
      if (this.inFlight >= MAX_IN_FLIGHT) break;
      // A spooled chunk comes back only when memory allows; younger ones wait behind it.
      if (!chunk.entries && !this.canReadBack(chunk)) break;
      this.startDelivery(chunk);
    }
    this.armRetryTimer(next);
  }

  private canReadBack(chunk: Chunk): boolean {
    if (!this.budget.fits(chunk.bytes)) return false;
    // One chunk at a time even if larger than the backlog limit, or it could never be sent.
    return this.backlogBytes === 0 || this.backlogBytes + chunk.bytes <= this.backlogLimit;
  }

  private armRetryTimer(at: number): void {
    if (at === this.retryAt) return;
    clearTimeout(this.retryTimer);
    this.retryAt = at;
    if (at === Infinity) return;
    this.retryTimer = setTimeout(() => {
      this.retryAt = Infinity;
      this.pump();
    }, Math.max(0, at - Date.now()));
    this.retryTimer.unref();
  }

  private startDelivery(chunk: Chunk): void {
    chunk.state = 'sending';
    chunk.attempts++;
    this.inFlight++;
    void this.deliver(chunk).finally(() => {
      this.inFlight--;
      this.notify();
      // What came in while every slot was busy goes out now, not at Flush.
      if (this.canSendNow()) this.sealAndPump();
      else this.pump();
    });
  }

  private async deliver(chunk: Chunk): Promise<void> {
    let readBack = 0;
    try {
      // Connect first: while receivers are down, spooled chunks stay on disk.
      const connection = await this.upstream.acquire();
      let entries = chunk.entries;
      if (!entries) {
        // Memory may have filled while connecting: try later, no failure counted.
        if (!this.canReadBack(chunk)) {
          chunk.state = 'ready';
          return;
        }
        readBack = chunk.bytes;
        this.budget.add(readBack);
        this.backlogBytes += readBack;
        entries = await this.spool!.read(chunk.file!);
      }
      const message = await this.frame(chunk, entries);
      const ack = this.settings.requireAck ? connection.expectAck(chunk.id) : undefined;
      await connection.write(message);
      if (chunk.written) this.stats.records_retried += chunk.records;
      else this.stats.records_sent += chunk.records;
      chunk.written = true;
      this.stats.bytes_sent += messageBytes(message);
      if (ack) {
        ack.startTimer(this.settings.ackTimeoutMs);
        await ack.done;
        this.stats.records_acked += chunk.records;
      }
      this.delivered(chunk);
    } catch (err) {
      this.failed(chunk, err instanceof ForwardError ? err : new ForwardError(`${chunk.file ?? 'chunk'}: ${(err as Error).message}`));
    } finally {
      if (readBack) {
        this.budget.release(readBack);
        this.backlogBytes -= readBack;
      }
    }
  }

  /** The message for a chunk in the configured mode. */
  private async frame(chunk: Chunk, entries: Buffer): Promise<MessageParts> {
    const { mode, sendOptions, requireAck } = this.settings;
    const options: TransportOptions | undefined = sendOptions
      ? { chunk: requireAck ? chunk.id : undefined, size: chunk.records, compressed: mode === 'compressed' ? 'gzip' : undefined }
      : undefined;
    if (mode === 'forward') return encodeForwardMessage(chunk.tag, entries, chunk.records, options);
    return encodePackedForwardMessage(chunk.tag, mode === 'compressed' ? await gzip(entries) : entries, options);
  }

  private delivered(chunk: Chunk): void {
    this.remove(chunk);
    if (this.lastFailure !== undefined) {
      this.lastFailure = undefined;
      this.log.info('delivering again');
    }
  }

  private failed(chunk: Chunk, err: ForwardError): void {
    chunk.state = 'ready';
    chunk.retries++;
    // The same cause is logged once as an error, then at debug while it lasts.
    if (err.logged) {
      this.log.debug(err.message);
    } else if (err.message !== this.lastFailure) {
      this.lastFailure = err.message;
      this.log.error(err.message);
    } else {
      this.log.debug(err.message);
    }
    if (this.stopped) return; // close() spools or drops it
    const limit = this.settings.retryLimit;
    if (limit !== 'unlimited' && chunk.retries > limit) {
      this.drop(chunk, 'retry_limit', `after ${chunk.retries} failed attempts (Retry_Limit ${limit})`);
      return;
    }
    const wait = this.graceMode ? GRACE_RETRY_MS : this.backoff.delayMs(chunk.retries);
    chunk.nextAttemptAt = Date.now() + wait;
    this.log.debug(`chunk of ${chunk.records} records (${chunk.tag}) retried in ${(wait / 1000).toFixed(1)}s (retry ${chunk.retries})`);
  }

  private drop(chunk: Chunk, reason: DropReason, why: string): void {
    this.remove(chunk);
    this.stats.drop(reason, chunk.records);
    this.log.warn(`dropped ${chunk.records} records of ${chunk.tag} ${why} (counted as ${reason})`);
  }

  /** Forgets a chunk: its memory, its spool file. */
  private remove(chunk: Chunk): void {
    chunk.done = true;
    const at = this.queue.indexOf(chunk);
    if (at >= 0) this.queue.splice(at, 1);
    if (chunk.entries) this.letGoOfEntries(chunk);
    if (chunk.file) {
      const file = chunk.file;
      chunk.file = undefined;
      const removal = this.spool!.remove(file).finally(() => this.removals.delete(removal));
      this.removals.add(removal);
    }
    this.notify();
  }

  /** Frees a chunk's bytes in memory (delivered, dropped or on disk now): its budget, its buffer back to the pool. */
  private letGoOfEntries(chunk: Chunk): void {
    this.budget.release(chunk.bytes);
    chunk.entries = undefined;
    if (chunk.buffer) this.pool.give(chunk.buffer);
    chunk.buffer = undefined;
  }

  // --- spooling ---------------------------------------------------------------

  private maybeSpill(): void {
    if (this.spool && !this.spilling && this.budget.used > this.budget.limit * SPILL_ABOVE) {
      this.spilling = this.spill().finally(() => {
        this.spilling = undefined;
        this.notify();
      });
    }
  }

  /** Moves chunks from memory to disk, newest first (the oldest are sent next), a few files at a time. */
  private async spill(): Promise<void> {
    while (this.budget.used > this.budget.limit * SPILL_DOWN_TO) {
      // Batches filled while the last files were written are taken too.
      for (const tag of this.batcher.tags()) this.seal(tag);
      const victims: Chunk[] = [];
      for (let i = this.queue.length - 1; i >= 0 && victims.length < SPILL_FILES_AT_ONCE; i--) {
        const c = this.queue[i]!;
        if (c.state === 'ready' && c.entries && !c.file) victims.push(c);
      }
      if (victims.length === 0) break;
      const written = await Promise.all(victims.map((c) => this.persist(c)));
      if (written.includes(false)) break;
    }
  }

  /** Writes a chunk to the spool and frees its memory; false if the disk failed us. */
  private async persist(chunk: Chunk): Promise<boolean> {
    const spool = this.spool!;
    chunk.state = 'spilling';
    try {
      const data = spool.encode({ id: chunk.id, tag: chunk.tag, records: chunk.records, createdAt: chunk.createdAt }, chunk.entries!);
      // storage.total_limit_size: the oldest spooled chunks make room, as in Fluent Bit.
      while (!spool.reserve(data.length)) {
        const oldest = this.queue.find((c) => c !== chunk && c.state === 'ready' && c.file && !c.entries);
        const limit = `storage.total_limit_size ${spool.options.limitBytes} bytes reached`;
        if (!oldest) {
          this.drop(chunk, 'storage_full', `(${limit})`);
          return true;
        }
        this.drop(oldest, 'storage_full', `(${limit}; oldest first)`);
      }
      chunk.file = await spool.write(chunk.createdAt, data);
      this.letGoOfEntries(chunk);
      this.stats.records_spooled += chunk.records;
      return true;
    } catch (err) {
      this.log.error(`cannot write to the spool in ${spool.dir}: ${(err as Error).message}; keeping the chunk in memory`);
      return false;
    } finally {
      chunk.state = 'ready';
    }
  }

  // --- closing ----------------------------------------------------------------

  private async shutDown(graceMs: number): Promise<void> {
    this.refusing = true;
    clearInterval(this.flushTimer);
    for (const tag of this.batcher.tags()) this.seal(tag);
    const reserve = this.spool ? Math.min(SPOOL_RESERVE_MAX_MS, graceMs * SPOOL_SHARE_OF_GRACE) : 0;
    const deadline = Date.now() + graceMs - reserve;
    // Within the grace every chunk is due now and failures are retried soon.
    this.graceMode = true;
    const now = Date.now();
    for (const chunk of this.queue) chunk.nextAttemptAt = Math.min(chunk.nextAttemptAt, now);
    this.pump();
    await this.waitUntil(() => this.queue.length === 0, deadline);

    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.upstream.close(); // what still awaits a write or an ack fails now
    await this.waitUntil(() => this.inFlight === 0 && !this.spilling, Infinity);

    const left = this.queue.filter((c) => c.entries);
    if (this.spool) {
      for (const chunk of left) await this.persist(chunk);
      const stillInMemory = this.queue.filter((c) => c.entries);
      for (const chunk of stillInMemory) this.drop(chunk, 'shutdown', '(the spool could not take them)');
      const onDisk = this.queue.filter((c) => c.file).reduce((n, c) => n + c.records, 0);
      if (onDisk > 0) this.log.info(`${onDisk} undelivered records kept in ${this.spool.dir} for the next start`);
    } else {
      for (const chunk of left) this.drop(chunk, 'shutdown', 'undelivered within the grace period (set storage.path to keep them)');
    }
    await Promise.all(this.removals);
    this.log.info(this.stats.summary(this.budget.peak, this.budget.limit, this.spool?.used));
  }

  // --- waiting ----------------------------------------------------------------

  private notify(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Resolves when cond() holds (checked at every change) or at the deadline. */
  private async waitUntil(cond: () => boolean, deadline: number): Promise<boolean> {
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }
}
