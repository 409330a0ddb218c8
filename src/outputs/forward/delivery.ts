// Sending chunks: the ones due, oldest first, a few at a time (pipelined on
// the connections), each framed in the configured mode and written in one
// socket write, then acked if acks are asked for. A spooled chunk is read
// back only once a connection is there, and only when memory allows.
import { promisify } from 'node:util';
import { zlibModule } from '../../builtins-on-use.js';
import type { Chunk } from './buffer.js';
import type { ForwardConnection } from './connection.js';
import type { ForwardCounters } from './counters.js';
import { ForwardError } from './errors.js';
import { encodeForwardMessage, encodePackedForwardMessage, messageBytes, type MessageParts } from './framing.js';
import type { TransportOptions } from './protocol.js';
import type { ChunkQueue } from './queue.js';
import { DueTimer } from './retry.js';
import type { ForwardSettings } from './settings.js';
import type { OutputLifecycle } from './lifecycle.js';
import type { Spiller } from './spill.js';
import type { Upstream } from './upstream.js';
import type { Changes } from './waiting.js';

let gzipPromised: ((data: Buffer) => Promise<Buffer>) | undefined;
const gzip = (data: Buffer) => (gzipPromised ??= promisify(zlibModule().gzip))(data);

/** Chunks being delivered at once. */
const MAX_IN_FLIGHT = 4;

export interface SenderParts {
  settings: ForwardSettings;
  upstream: Upstream;
  queue: ChunkQueue;
  spiller: Spiller | undefined;
  stats: ForwardCounters;
  lifecycle: OutputLifecycle;
  changes: Changes;
  /** The connection's socket is lent to ring readers (socket-loan.ts): nothing may be written to it here until it is back. */
  socketLent(): boolean;
  /** A chunk got through (written, and acked if asked). */
  delivered(chunk: Chunk): void;
  /** An attempt failed: the chunk waits a retry or is given up. */
  failed(chunk: Chunk, err: ForwardError): void;
}

export class Sender {
  inFlight = 0;
  /** The connection of the last delivery: with one receiver, the next batch's if it is still open. */
  private connection: ForwardConnection | undefined;
  private readonly due = new DueTimer(() => this.pump());

  constructor(private readonly parts: SenderParts) {}

  /** A delivery could start now: a slot is free and every queued chunk is being sent (none waits a retry, the spool or a slot). */
  canSendNow(): boolean {
    const { lifecycle, queue } = this.parts;
    return lifecycle.sending && !this.parts.socketLent() && this.inFlight < MAX_IN_FLIGHT && queue.chunks.length === this.inFlight;
  }

  /** The connection, when it is open and nothing is being delivered. */
  idleConnection(): ForwardConnection | undefined {
    const connection = this.connection;
    return this.inFlight === 0 && connection && connection.idle ? connection : undefined;
  }

  /** Starts delivery of the chunks that are due, oldest first, within the in-flight limit. */
  pump(): void {
    const { lifecycle, queue, spiller } = this.parts;
    if (!lifecycle.sending || this.parts.socketLent()) return;
    const now = Date.now();
    let next = Infinity;
    for (const chunk of queue.chunks) {
      if (chunk.state !== 'ready') continue;
      if (chunk.nextAttemptAt > now) {
        next = Math.min(next, chunk.nextAttemptAt);
        continue;
      }
      if (this.inFlight >= MAX_IN_FLIGHT) break;
      // A spooled chunk comes back only when memory allows; younger ones wait behind it.
      if (!chunk.entries && !spiller!.canReadBack(chunk)) break;
      this.start(chunk);
    }
    this.due.arm(next);
  }

  /** The grace is over: no more attempts; what awaits a write or an ack fails now. */
  tearDown(): void {
    this.due.cancel();
    this.parts.upstream.close();
  }

  private start(chunk: Chunk): void {
    chunk.state = 'sending';
    chunk.attempts++;
    this.inFlight++;
    if (this.sendAtOnce(chunk)) return;
    void this.deliver(chunk).finally(() => this.ended());
  }

  /** A delivery ended (got through or not). */
  private ended(): void {
    this.inFlight--;
    this.parts.changes.changed();
    // What came in while every slot was busy goes out now, not at Flush.
    if (this.canSendNow()) this.parts.queue.sealAll();
    this.pump();
  }

  /**
   * The path of a batch at low rates, without a promise: one receiver,
   * connected and idle, no acks, no gzip, the entries in memory: framed and
   * written now, settled in the write's callback. False when any of that does
   * not hold (deliver() then).
   */
  private sendAtOnce(chunk: Chunk): boolean {
    const { settings, stats } = this.parts;
    const connection = this.connection;
    const entries = chunk.entries;
    if (!connection || connection.closed || settings.upstream || settings.requireAck || settings.mode === 'compressed' || !entries) return false;
    const message = this.frameNow(chunk, entries);
    return connection.writeIfIdle(message, (err) => {
      if (err) {
        this.parts.failed(chunk, err);
      } else {
        this.wrote(chunk, message);
        this.parts.delivered(chunk);
      }
      this.ended();
    });
  }

  /** The kernel has a chunk's message: counted. */
  private wrote(chunk: Chunk, message: MessageParts): void {
    const { stats } = this.parts;
    if (chunk.written) stats.records_retried += chunk.records;
    else stats.records_sent += chunk.records;
    chunk.written = true;
    stats.bytes_sent += messageBytes(message);
  }

  private async deliver(chunk: Chunk): Promise<void> {
    const { settings, upstream, spiller, stats } = this.parts;
    let readBack = false;
    try {
      // Connect first: while receivers are down, spooled chunks stay on disk.
      const connection = await upstream.acquire();
      this.connection = connection;
      let entries = chunk.entries;
      if (!entries) {
        // Memory may have filled while connecting: try later, no failure counted.
        if (!spiller!.canReadBack(chunk)) {
          chunk.state = 'ready';
          return;
        }
        readBack = true;
        entries = await spiller!.readBack(chunk);
        if (!entries) {
          readBack = false; // damaged: dropped, its memory given back
          return;
        }
      }
      const message = await this.frame(chunk, entries);
      const ack = settings.requireAck ? connection.expectAck(chunk.id) : undefined;
      await connection.write(message);
      this.wrote(chunk, message);
      if (ack) {
        ack.startTimer(settings.ackTimeoutMs);
        await ack.done;
        stats.records_acked += chunk.records;
      }
      this.parts.delivered(chunk);
    } catch (err) {
      this.parts.failed(chunk, err instanceof ForwardError ? err : new ForwardError(`${chunk.file ?? 'chunk'}: ${(err as Error).message}`));
    } finally {
      if (readBack) spiller!.doneReading(chunk);
    }
  }

  /** The message for a chunk in the configured mode. */
  private async frame(chunk: Chunk, entries: Buffer): Promise<MessageParts> {
    if (this.parts.settings.mode !== 'compressed') return this.frameNow(chunk, entries);
    return encodePackedForwardMessage(chunk.tag, await gzip(entries), this.transportOptions(chunk));
  }

  /** The message for a chunk in an uncompressed mode. */
  private frameNow(chunk: Chunk, entries: Buffer): MessageParts {
    const options = this.transportOptions(chunk);
    if (this.parts.settings.mode === 'forward') return encodeForwardMessage(chunk.tag, entries, chunk.records, options);
    return encodePackedForwardMessage(chunk.tag, entries, options);
  }

  private transportOptions(chunk: Chunk): TransportOptions | undefined {
    const { mode, sendOptions, requireAck } = this.parts.settings;
    return sendOptions ? { chunk: requireAck ? chunk.id : undefined, size: chunk.records, compressed: mode === 'compressed' ? 'gzip' : undefined } : undefined;
  }
}
