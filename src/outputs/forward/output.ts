// The forward output: chunks in, batches out to one or several receivers.
// Its parts, each owning one job:
//   queue.ts     batches per tag, sealed chunks oldest first, mem_buf_limit
//   delivery.ts  sending the chunks due, a few at a time, acks
//   retry.ts     when a failed chunk is tried again, until Retry_Limit
//   spill.ts     with storage.path: to disk above half of mem_buf_limit, back when due
//   reconnect.ts with batches waiting on an unreachable receiver: noticing it is back
//   shutdown.ts  the lifecycle, and close(): deliver within Grace, then spool or drop
//   waiting.ts   flush() and close() waiting for the output to change
//   socket-loan.ts the connection's socket lent to ring readers (low rates)
// Here: write() (never blocks, never throws), Flush, what becomes of a chunk
// after an attempt, and the counters.
import { getSystemErrorName } from 'node:util';
import { MalformedChunkError, type EventChunk } from '../../chunk.js';
import type { KeyValues } from '../../config/model.js';
import type { Logger } from '../../log.js';
import type { Output, OutputContext, OutputCounters, SocketLease } from '../types.js';
import { Chunk } from './buffer.js';
import { ForwardCounters, type DropReason } from './counters.js';
import { Sender } from './delivery.js';
import { ConnectError, ConnectionLostError, type ForwardError } from './errors.js';
import { ChunkQueue } from './queue.js';
import { ReconnectProbe } from './reconnect.js';
import { Backoff, DEFAULT_SCHEDULER_BASE_SECONDS, DEFAULT_SCHEDULER_CAP_SECONDS, RetryPolicy, serviceSeconds } from './retry.js';
import { readForwardSettings, type ForwardSettings, type NodeSettings } from './settings.js';
import { OutputLifecycle } from './lifecycle.js';
import { shutDown } from './shutdown.js';
import { Spiller } from './spill.js';
import { SocketLoan, type ReturnedBatch } from './socket-loan.js';
import { Spool } from './spool.js';
import { storageFolderName } from '../../storage/folder.js';
import { integerTimeEntries } from './time-as-integer.js';
import { Upstream, endpointOf, readUpstreamFile } from './upstream.js';
import { Changes } from './waiting.js';

/**
 * Share of mem_buf_limit held at which the output is full: inputs stop
 * reading (the ebpf input leaves records in the kernel's ring buffer, where
 * overflow is counted as lost) instead of records being dropped here. Above
 * the spill threshold, so that a spool gets to take chunks first.
 */
const FULL_SHARE = 0.75;
/** A batch is sealed at this size even before Flush (Fluent Bit's chunks are about 2 MB)... */
const CHUNK_MAX_BYTES = 2 * 1024 * 1024;
/** ...or at this share of mem_buf_limit, so that a small limit still holds several chunks. */
const CHUNK_SHARE_OF_LIMIT = 1 / 8;
/** Free batch buffers kept for reuse: about what is in flight at once. */
const POOLED_BUFFERS = 6;
/** Default of storage.backlog.mem_limit: memory for chunks read back from disk. */
const DEFAULT_BACKLOG_BYTES = 5_000_000;

export class ForwardOutput implements Output {
  private readonly log: Logger;
  private readonly settings: ForwardSettings;
  private readonly stats = new ForwardCounters();
  private readonly lifecycle = new OutputLifecycle();
  private readonly changes = new Changes();
  private readonly queue: ChunkQueue;
  private readonly upstream: Upstream;
  private readonly sender: Sender;
  private readonly retries: RetryPolicy;
  private readonly spiller: Spiller | undefined;
  private readonly reconnect: ReconnectProbe;
  private flushTimer: NodeJS.Timeout | undefined;
  private flushStopped = false;
  private closing: Promise<void> | undefined;
  /** The last failure's message: each cause is logged once as an error, then at debug while it lasts. */
  private lastFailure: string | undefined;
  private warnedFull = false;
  private warnedInvalid = false;
  /** Whether the connection's socket may be lent to readers (socket-loan.ts): nothing this output does is skipped then. */
  private readonly lendable: boolean;
  private loan: SocketLoan | undefined;

  constructor(
    values: KeyValues,
    private readonly context: OutputContext,
  ) {
    const settings = readForwardSettings(values);
    this.settings = settings;
    this.log = context.log;
    this.queue = new ChunkQueue({
      memBufLimit: settings.memBufLimit,
      fullShare: FULL_SHARE,
      chunkMaxBytes: Math.max(1024, Math.min(CHUNK_MAX_BYTES, Math.floor(settings.memBufLimit * CHUNK_SHARE_OF_LIMIT))),
      pooledBuffers: POOLED_BUFFERS,
    });

    const endpoints: { name: string; node: NodeSettings }[] = settings.upstream
      ? readUpstreamFile(settings.upstream, context.configDir, values, (f, line, m) => context.log.warn(`${f}${line > 0 ? `:${line}` : ''}: ${m}`)).nodes.map((n) => ({ name: n.name, node: n.settings }))
      : [{ name: `${settings.host}:${settings.port}`, node: settings }];
    for (const { name, node } of endpoints) {
      if (node.tls.enabled && !node.tls.verify) {
        this.log.warn(`${name}: tls.verify off: the receiver's certificate is not checked, so anyone on the way can pose as it and read every record (command lines included); give its CA in tls.ca_file instead`);
      }
    }
    this.upstream = new Upstream(
      endpoints.map(({ name, node }) => endpointOf(name, node, context.configDir)),
      { connectTimeoutMs: settings.connectTimeoutMs, log: this.log },
    );

    const service = context.service;
    this.retries = new RetryPolicy(
      settings.retryLimit,
      new Backoff(
        serviceSeconds(service.values.get('scheduler.base'), DEFAULT_SCHEDULER_BASE_SECONDS),
        serviceSeconds(service.values.get('scheduler.cap'), DEFAULT_SCHEDULER_CAP_SECONDS),
      ),
    );
    if (service.storagePath) {
      const backlog = service.values.get('storage.backlog.mem_limit');
      this.spiller = new Spiller({
        spool: new Spool({
          root: service.storagePath,
          name: storageFolderName(context.instance),
          limitBytes: settings.storageLimit,
          sync: service.values.get('storage.sync') === 'full',
          checksum: service.values.get('storage.checksum') === true,
          log: this.log,
        }),
        queue: this.queue,
        stats: this.stats,
        changes: this.changes,
        log: this.log,
        backlogLimit: typeof backlog === 'number' && backlog > 0 ? backlog : DEFAULT_BACKLOG_BYTES,
        drop: (chunk, reason, why) => this.drop(chunk, reason, why),
      });
    }
    this.reconnect = new ReconnectProbe({
      upstream: this.upstream,
      log: this.log,
      waiting: () => this.lifecycle.sending && this.queue.chunks.some((c) => c.waitsForReceiver),
      reachable: () => this.receiverBack(),
    });
    this.lendable = !settings.upstream && !settings.requireAck && settings.mode !== 'compressed' && !settings.timeAsInteger && !this.spiller && !settings.tls.enabled;
    this.sender = new Sender({
      settings,
      socketLent: () => this.loan !== undefined,
      upstream: this.upstream,
      queue: this.queue,
      spiller: this.spiller,
      stats: this.stats,
      lifecycle: this.lifecycle,
      changes: this.changes,
      delivered: (chunk) => this.delivered(chunk),
      failed: (chunk, err) => this.failed(chunk, err),
    });
  }

  get instance(): string {
    return this.context.instance;
  }

  async start(): Promise<void> {
    // Chunk ids (for acks and the spool only) draw their random part, and
    // OpenSSL sets up its generator (~0.1 s of CPU), at start rather than
    // on the first delivery.
    if (this.settings.requireAck || this.spiller) Chunk.newId();
    await this.spiller?.restore();
    this.lifecycle.state = 'running';
    // Chunks restored from the spool: Flush keeps pumping them (held back while memory is short).
    if (this.queue.chunks.length > 0) this.armFlush();
    this.sender.pump();
  }

  write(tag: string, chunk: EventChunk): void {
    const records = chunk.count;
    try {
      this.stats.records_in += records;
      if (records === 0) return;
      if (!this.lifecycle.takesRecords) {
        this.stats.drop('shutdown', records);
        return;
      }
      const outTag = this.settings.tag ?? tag;
      const entries = this.entriesOf(chunk);
      if (!entries) return;
      if (this.loan) {
        // Into the lent socket, behind what the readers wrote (a journaled
        // input's chunk waits to be released: through the queue).
        if (!chunk.retain && this.loan.send(outTag, entries, records, chunk.minTime, chunk.maxTime)) return;
        // Busy (a slow receiver), closed, or a journaled chunk: the queue
        // takes this and what follows, sent once the socket's message is out.
        this.releaseLoan();
      }
      const { budget } = this.queue;
      if (!budget.fits(entries.length)) {
        this.stats.drop('buffer_full', records);
        if (!this.warnedFull) {
          this.warnedFull = true;
          this.log.warn(`memory buffer full (mem_buf_limit ${budget.limit} bytes${this.spiller ? ', the spool is not keeping up' : ''}): dropping records until there is room (counted as buffer_full)`);
        }
        this.spiller?.maybeSpill();
        return;
      }
      // Warned again only once the buffer has really drained.
      if (budget.used < budget.limit / 2) this.warnedFull = false;
      // Sent at once when a connection slot is free and nothing waits (one
      // write per batch from the input, latency of a write); else batched
      // until a slot frees, Flush, or the chunk size.
      if (this.queue.add(outTag, entries, records, chunk.retain?.()) >= this.queue.chunkMaxBytes || this.sender.canSendNow()) {
        this.queue.seal(outTag);
        this.sender.pump();
      }
      // Flush is for records left filling a batch: a batch sent at once needs
      // no timer (its delivery's end pumps what waits; retries have theirs),
      // so a low rate is not woken a second time per Flush for nothing.
      if (this.queue.holdsBatches || this.spiller) this.armFlush();
      this.spiller?.maybeSpill();
    } catch (err) {
      this.stats.drop('internal_error', records);
      this.log.error(`cannot take ${records} records: ${(err as Error).stack ?? err}`);
    }
  }

  /**
   * The connection's socket for ring readers to write `tag`'s batches to
   * (socket-loan.ts), when this output can lend it: lendable settings,
   * running, connected, nothing queued or being written.
   */
  lendSocket(tag: string): SocketLease | undefined {
    if (!this.lendable || this.lifecycle.state !== 'running') return undefined;
    if (this.loan?.releasing) return undefined;
    if (!this.loan) {
      if (this.queue.chunks.length > 0 || this.queue.holdsBatches) return undefined;
      const connection = this.sender.idleConnection();
      const fd = connection?.fd;
      if (!connection || fd === undefined) return undefined;
      const loan = SocketLoan.open(connection, fd, this.stats, this.settings.mode, this.settings.sendOptions, (errno, kept) => (errno === 0 ? this.loanReleased(loan) : this.loanFailed(loan, errno, kept)));
      this.loan = loan;
      this.log.debug(`${connection.endpoint.name}: socket lent to the inputs' ring readers`);
      connection.onClose(() => {
        if (this.loan === loan) this.endLoan();
      });
    }
    return this.loan.lease(this.settings.tag ?? tag);
  }

  recallSocket(): void {
    this.releaseLoan();
  }

  whenRoom(): Promise<void> | undefined {
    return this.queue.budget.whenRoom();
  }

  async flush(): Promise<void> {
    if (!this.lifecycle.sending) return;
    this.sealAndPump();
    const started = new Map(this.queue.chunks.map((c) => [c, c.attempts]));
    // Every chunk there now has had its attempt (or waits a backoff): "written, acked or given up".
    await this.changes.until(
      () => !this.lifecycle.sending || [...started].every(([c, attempts]) => c.done || (c.state !== 'sending' && (c.attempts > attempts || c.nextAttemptAt > Date.now()))),
    );
  }

  close(graceMs: number): Promise<void> {
    this.endLoan();
    this.closing ??= shutDown(
      {
        lifecycle: this.lifecycle,
        queue: this.queue,
        sender: this.sender,
        spiller: this.spiller,
        changes: this.changes,
        stats: this.stats,
        log: this.log,
        stopFlushing: () => {
          clearTimeout(this.flushTimer);
          this.flushTimer = undefined;
          this.flushStopped = true;
          this.reconnect.stop();
        },
        dropAll: (chunks, reason, why) => this.dropAll(chunks, reason, why),
      },
      graceMs,
    );
    return this.closing;
  }

  counters(): OutputCounters {
    this.loan?.collect();
    const { budget } = this.queue;
    return this.stats.snapshot({
      connection: this.upstream.state(),
      buffer_bytes: budget.used,
      buffer_bytes_peak: budget.peak,
      ...(this.spiller ? { spool_bytes: this.spiller.spool.used } : {}),
    });
  }

  /** Per receiver, for tests and diagnostics. */
  nodes(): { name: string; connected: boolean; failures: number }[] {
    return this.upstream.nodeStates();
  }

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

  /** Readers write to JS again; a batch the socket still held is queued, first. */
  private endLoan(): void {
    const loan = this.loan;
    if (!loan) return;
    this.loan = undefined;
    const kept = loan.close();
    if (kept) this.takeBack(loan, kept);
  }

  /** The socket takes no new message; the queue is sent once its held one is out (at once if none). */
  private releaseLoan(): void {
    const loan = this.loan;
    if (!loan || loan.releasing) return;
    if (loan.release()) this.loanReleased(loan);
  }

  /** The released socket is closed, its last message out: the queue goes now. */
  private loanReleased(loan: SocketLoan): void {
    if (this.loan === loan) this.loan = undefined;
    loan.close();
    this.sealAndPump();
  }

  /** A write of the lent socket failed: the connection goes, the batch it held is sent again. */
  private loanFailed(loan: SocketLoan, errno: number, kept: ReturnedBatch | undefined): void {
    if (this.loan === loan) this.loan = undefined;
    loan.close();
    loan.connection.destroy(new ConnectionLostError(`${loan.connection.endpoint.name}: write failed: ${getSystemErrorName(-errno)}`));
    if (kept) this.takeBack(loan, kept);
  }

  /** A batch the lent socket did not get out whole: queued (counted in already) to go on another attempt. */
  private takeBack(loan: SocketLoan, kept: ReturnedBatch): void {
    // The receiver holds part of a message: only a new connection makes sense of what follows.
    if (kept.cut) loan.connection.destroy(new ConnectionLostError(`${loan.connection.endpoint.name}: closed with a message cut short (it is sent again)`));
    this.queue.add(kept.tag, kept.entries, kept.count);
    this.queue.seal(kept.tag);
    if (this.lifecycle.sending) this.armFlush();
    this.sender.pump();
  }

  private sealAndPump(): void {
    this.queue.sealAll();
    this.sender.pump();
  }

  /**
   * Flush: every Flush seconds while the output holds records (a batch
   * filling, chunks waiting); with nothing held there is no timer, so an
   * idle process sleeps. write() arms it, so a record still waits at most
   * Flush.
   */
  private armFlush(): void {
    if (this.flushTimer || this.flushStopped || this.lifecycle.state !== 'running') return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.sealAndPump();
      if (this.queue.chunks.length > 0 || this.queue.holdsBatches) this.armFlush();
    }, this.context.service.flushSeconds * 1000);
    this.flushTimer.unref();
  }

  private delivered(chunk: Chunk): void {
    this.forget(chunk);
    if (this.lastFailure !== undefined) {
      this.lastFailure = undefined;
      this.log.info('delivering again');
    }
    if (this.queue.chunks.some((c) => c.waitsForReceiver)) this.receiverBack();
  }

  /** A receiver answers again: batches that waited for one are due now, their retries unspent. */
  private receiverBack(): void {
    this.reconnect.reset();
    const now = Date.now();
    let due = 0;
    for (const chunk of this.queue.chunks) {
      if (!chunk.waitsForReceiver) continue;
      chunk.waitsForReceiver = false;
      if (chunk.state === 'ready' && chunk.nextAttemptAt > now) {
        chunk.nextAttemptAt = now;
        due++;
      }
    }
    if (due > 0) this.log.debug(`a receiver answers again: ${due} waiting batches are due now`);
    this.sender.pump();
  }

  private failed(chunk: Chunk, err: ForwardError): void {
    chunk.state = 'ready';
    // Attempts made during a stop are extra (RetryPolicy.waitMs).
    if (!this.lifecycle.draining) chunk.retries++;
    this.stats.errors++;
    if (err.logged) {
      this.log.debug(err.message);
    } else if (err.message !== this.lastFailure) {
      this.lastFailure = err.message;
      this.log.error(err.message);
    } else {
      this.log.debug(err.message);
    }
    if (this.lifecycle.state === 'tearingDown') return; // close() spools or drops it
    chunk.waitsForReceiver = err instanceof ConnectError;
    if (chunk.waitsForReceiver && !this.lifecycle.draining) this.reconnect.arm();
    const wait = this.retries.waitMs(chunk.retries, this.lifecycle.draining);
    if (wait === undefined) {
      this.stats.retries_failed++;
      this.drop(chunk, 'retry_limit', `after ${chunk.retries} failed attempts (Retry_Limit ${this.retries.limit})`);
      return;
    }
    this.stats.retries++;
    chunk.nextAttemptAt = Date.now() + wait;
    this.log.debug(`chunk of ${chunk.records} records (${chunk.tag}) retried in ${(wait / 1000).toFixed(1)}s (retry ${chunk.retries})`);
  }

  private drop(chunk: Chunk, reason: DropReason, why: string): void {
    this.forget(chunk);
    this.stats.drop(reason, chunk.records);
    this.log.warn(`dropped ${chunk.records} records of ${chunk.tag} ${why} (counted as ${reason})`);
  }

  /** Drops chunks for one reason, with one log line for them all (at close). */
  private dropAll(chunks: Chunk[], reason: DropReason, why: string): void {
    if (chunks.length === 0) return;
    let records = 0;
    for (const chunk of chunks) {
      this.forget(chunk);
      this.stats.drop(reason, chunk.records);
      records += chunk.records;
    }
    const tags = [...new Set(chunks.map((c) => c.tag))].join(', ');
    this.log.warn(`dropped ${records} records of ${tags} ${why} (counted as ${reason})`);
  }

  /** A chunk done with (delivered or dropped): out of the queue, out of memory, off the disk. */
  private forget(chunk: Chunk): void {
    this.queue.remove(chunk);
    this.spiller?.forget(chunk);
    this.changes.changed();
  }
}
