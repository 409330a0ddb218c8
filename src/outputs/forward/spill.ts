// Spilling, with storage.path: chunks go to the spool when memory passes
// half of mem_buf_limit (newest first: the oldest are sent next), down to a
// quarter, and come back one by one when they are due, within
// storage.backlog.mem_limit. Over storage.total_limit_size the oldest
// spooled chunks make room, as in Fluent Bit.
import type { Logger } from '../../log.js';
import { ChunkFileError } from '../../storage/chunk-file.js';
import { fsErrorText } from '../../storage/folder.js';
import type { Chunk } from './buffer.js';
import type { DropReason, ForwardCounters } from './counters.js';
import type { ChunkQueue } from './queue.js';
import type { Spool } from './spool.js';
import type { Changes } from './waiting.js';

/** Chunks go to disk above this share of mem_buf_limit, down to the next. */
const SPILL_ABOVE = 0.5;
const SPILL_DOWN_TO = 0.25;
const SPILL_FILES_AT_ONCE = 4;

export interface SpillerParts {
  spool: Spool;
  queue: ChunkQueue;
  stats: ForwardCounters;
  changes: Changes;
  log: Logger;
  /** storage.backlog.mem_limit: memory for chunks read back. */
  backlogLimit: number;
  /** Gives a chunk up, counted. */
  drop(chunk: Chunk, reason: DropReason, why: string): void;
}

/** Writes must go through this long after the last failure for the spool to be said to work again. */
const WRITES_AGAIN_AFTER_MS = 30_000;

export class Spiller {
  /** Bytes of spooled chunks read back into memory for sending. */
  private backlogBytes = 0;
  private spilling: Promise<void> | undefined;
  /** The write error of the failure going on, logged once as an error (then at debug while it lasts). */
  private writeFailure: string | undefined;
  /** When a write last failed (ms since the epoch). */
  private lastFailureAt = 0;
  /** Spool files being deleted (awaited at close, or a delivered chunk would be sent again next start). */
  private readonly removals = new Set<Promise<void>>();

  constructor(private readonly parts: SpillerParts) {}

  get spool(): Spool {
    return this.parts.spool;
  }

  get busy(): boolean {
    return this.spilling !== undefined;
  }

  /** Opens the spool and queues what a previous run left, first. */
  async restore(): Promise<void> {
    const { spool, queue, stats, log } = this.parts;
    const found = await spool.open();
    for (const spooled of found) {
      queue.restore(spooled);
      stats.records_restored += spooled.records;
    }
    if (found.length > 0) log.info(`${stats.records_restored} records in ${found.length} chunks found in ${spool.dir}: sending them first`);
  }

  maybeSpill(): void {
    const { budget } = this.parts.queue;
    if (this.spilling || budget.used <= budget.limit * SPILL_ABOVE) return;
    this.spilling = this.spill().finally(() => {
      this.spilling = undefined;
      this.parts.changes.changed();
    });
  }

  /** Resolves when no spill is under way. */
  async idle(): Promise<void> {
    await this.spilling;
  }

  /** Moves chunks from memory to disk, a few files at a time. */
  private async spill(): Promise<void> {
    const { queue } = this.parts;
    while (queue.budget.used > queue.budget.limit * SPILL_DOWN_TO) {
      // Batches filled while the last files were written are taken too.
      queue.sealAll();
      const victims: Chunk[] = [];
      for (let i = queue.chunks.length - 1; i >= 0 && victims.length < SPILL_FILES_AT_ONCE; i--) {
        const c = queue.chunks[i]!;
        if (c.state === 'ready' && c.entries && !c.file) victims.push(c);
      }
      if (victims.length === 0) break;
      const written = await Promise.all(victims.map((c) => this.persist(c)));
      if (written.includes(false)) break;
    }
  }

  /** Writes a chunk to the spool and frees its memory; false if the disk failed us. */
  async persist(chunk: Chunk): Promise<boolean> {
    const { spool, queue, stats, log } = this.parts;
    chunk.state = 'spilling';
    try {
      const contents = spool.fileParts({ id: chunk.id, tag: chunk.tag, records: chunk.records, createdAt: chunk.createdAt }, chunk.entries!);
      while (!spool.reserve(contents.bytes)) {
        const oldest = queue.chunks.find((c) => c !== chunk && c.state === 'ready' && c.file && !c.entries);
        const limit = `storage.total_limit_size ${spool.options.limitBytes} bytes reached`;
        if (!oldest) {
          this.parts.drop(chunk, 'storage_full', `(${limit})`);
          return true;
        }
        this.parts.drop(oldest, 'storage_full', `(${limit}; oldest first)`);
      }
      chunk.file = await spool.write(chunk.createdAt, contents);
      queue.freeEntries(chunk);
      queue.releaseHolds(chunk);
      stats.records_spooled += chunk.records;
      // A disk about full takes some files and refuses others: the failure
      // is over only once writes have gone through for a while, or its two
      // lines would come again and again.
      if (this.writeFailure !== undefined && Date.now() - this.lastFailureAt >= WRITES_AGAIN_AFTER_MS) {
        this.writeFailure = undefined;
        log.info(`writing to the spool in ${spool.dir} again`);
      }
      return true;
    } catch (err) {
      const failure = `cannot write to the spool in ${spool.dir} (${fsErrorText(err)}): keeping chunks in memory while it lasts`;
      if (failure !== this.writeFailure) log.error(failure);
      else log.debug(failure);
      this.writeFailure = failure;
      this.lastFailureAt = Date.now();
      return false;
    } finally {
      chunk.state = 'ready';
    }
  }

  /** Whether a spooled chunk may come back into memory now. */
  canReadBack(chunk: Chunk): boolean {
    if (!this.parts.queue.budget.fits(chunk.bytes)) return false;
    // One chunk at a time even if larger than the backlog limit, or it could never be sent.
    return this.backlogBytes === 0 || this.backlogBytes + chunk.bytes <= this.parts.backlogLimit;
  }

  /**
   * A spooled chunk's entries, read back against the budget (give them back
   * with doneReading, whatever happens); undefined when the file is damaged:
   * it is then set aside and the chunk dropped, counted as invalid_record,
   * its memory already given back.
   */
  async readBack(chunk: Chunk): Promise<Buffer | undefined> {
    const { queue, spool } = this.parts;
    queue.budget.add(chunk.bytes);
    this.backlogBytes += chunk.bytes;
    try {
      const frame = await spool.read(chunk.file!);
      if (frame.records !== chunk.records || frame.entries.length !== chunk.bytes) throw new ChunkFileError(`${chunk.file} changed since it was listed`);
      return frame.entries;
    } catch (err) {
      if (!(err instanceof ChunkFileError)) throw err;
      this.doneReading(chunk);
      const file = chunk.file!;
      chunk.file = undefined;
      await spool.setAside(file, err.message);
      this.parts.drop(chunk, 'invalid_record', '(its spool file could not be read back)');
      return undefined;
    }
  }

  doneReading(chunk: Chunk): void {
    this.parts.queue.budget.release(chunk.bytes);
    this.backlogBytes -= chunk.bytes;
  }

  /** Deletes a chunk's file (delivered or dropped). */
  forget(chunk: Chunk): void {
    if (!chunk.file) return;
    const file = chunk.file;
    chunk.file = undefined;
    const removal = this.parts.spool.remove(file).finally(() => this.removals.delete(removal));
    this.removals.add(removal);
  }

  /** Resolves once every deletion is done. */
  async removed(): Promise<void> {
    await Promise.all(this.removals);
  }
}
