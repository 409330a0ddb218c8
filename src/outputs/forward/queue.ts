// What the output holds until it is sent: a batch per tag still filling,
// sealed chunks oldest first (in memory, or on disk once spooled), and the
// memory they take against mem_buf_limit.
import { Batcher, BufferPool, Chunk, MemoryBudget } from './buffer.js';

export interface QueueLimits {
  memBufLimit: number;
  /** Share of mem_buf_limit from which the output is full (inputs wait). */
  fullShare: number;
  /** A batch is sealed at this size. */
  chunkMaxBytes: number;
  /** Free batch buffers kept for reuse. */
  pooledBuffers: number;
}

export class ChunkQueue {
  readonly budget: MemoryBudget;
  readonly chunkMaxBytes: number;
  /** Sealed chunks, oldest first. */
  readonly chunks: Chunk[] = [];
  private readonly pool: BufferPool;
  private readonly batcher: Batcher;
  private seq = 0;

  constructor(limits: QueueLimits) {
    this.budget = new MemoryBudget(limits.memBufLimit, limits.memBufLimit * limits.fullShare);
    this.chunkMaxBytes = limits.chunkMaxBytes;
    this.pool = new BufferPool(limits.chunkMaxBytes, limits.pooledBuffers);
    this.batcher = new Batcher(this.pool);
  }

  /**
   * Copies entries into the tag's batch, sealing the batch first if they do
   * not fit; returns the batch's size so far. The caller has checked the
   * budget; `release` is called once the records are safe or dropped.
   */
  add(tag: string, entries: Buffer, records: number, release?: () => void): number {
    this.budget.add(entries.length);
    if (!this.batcher.fits(tag, entries.length)) this.seal(tag);
    return this.batcher.add(tag, entries, records, release);
  }

  /** Makes the tag's batch a chunk, last in the queue. */
  seal(tag: string): void {
    const batch = this.batcher.take(tag);
    if (!batch) return;
    const chunk = new Chunk(this.seq++, undefined, batch.tag, batch.records, batch.entries.length, Date.now(), batch.entries, undefined, batch.buffer);
    chunk.releases = batch.releases;
    this.chunks.push(chunk);
  }

  /** Whether a batch is filling (records not sealed in a chunk yet). */
  get holdsBatches(): boolean {
    return this.batcher.filling;
  }

  sealAll(): void {
    for (const tag of this.batcher.tags()) this.seal(tag);
  }

  /** A chunk a previous run left in the spool: sent before the others. */
  restore(spooled: { id: string; tag: string; records: number; bytes: number; createdAt: number; file: string }): void {
    this.chunks.push(new Chunk(this.seq++, spooled.id, spooled.tag, spooled.records, spooled.bytes, spooled.createdAt, undefined, spooled.file));
  }

  /** Takes a chunk out (delivered or dropped): its memory freed, its holders told. The caller removes its file. */
  remove(chunk: Chunk): void {
    chunk.done = true;
    const at = this.chunks.indexOf(chunk);
    if (at >= 0) this.chunks.splice(at, 1);
    if (chunk.entries) this.freeEntries(chunk);
    this.releaseHolds(chunk);
  }

  /** Frees a chunk's bytes in memory (delivered, dropped, or on disk now): its budget, its buffer back to the pool. */
  freeEntries(chunk: Chunk): void {
    this.budget.release(chunk.bytes);
    chunk.entries = undefined;
    if (chunk.buffer) this.pool.give(chunk.buffer);
    chunk.buffer = undefined;
  }

  /** The records are safe (or dropped): whoever held them may let go. */
  releaseHolds(chunk: Chunk): void {
    for (const release of chunk.releases.splice(0)) release();
  }
}
